//! FFT convolutions (forward with and without the fused ReLU, input and weight gradients)
//! against the naive reference over `kernels_util::fft_geometries` (odd sizes, square
//! and oblong kernels from 1×1 to 7×7, paddings from 0 to kernel − 1, partial channel
//! and image blocks), and the chooser's pick for `svhn`. `kernels_matmul_fallback` runs
//! the same geometries on the non-AVX-512 product.
mod kernels_util;
use archc::kernels::{self, ConvAlgo, ConvPass};
use kernels_util::{
    check_backward_input_using, check_backward_weights_using, check_forward_relu,
    check_forward_using, conv_geom as geom, fft_geometries, rng,
};

#[test]
fn fft_forward_matches_reference() {
    let mut r = rng(40);
    for g in fft_geometries() {
        assert!(kernels::fft_supports(&g), "{g:?}");
        check_forward_using(&mut r, &g, ConvAlgo::Fft);
    }
}

#[test]
fn fft_backward_input_matches_reference() {
    let mut r = rng(41);
    for g in fft_geometries() {
        check_backward_input_using(&mut r, &g, ConvAlgo::Fft);
    }
}

#[test]
fn fft_backward_weights_matches_reference() {
    let mut r = rng(42);
    for g in fft_geometries() {
        check_backward_weights_using(&mut r, &g, ConvAlgo::Fft);
    }
}

/// The chooser sends `svhn`'s 16→512 7×7 layer, and the 16→512 5×5 one of
/// `svhn_kernels`, to FFT in all three passes (unless switched off), keeps the 3→16 5×5
/// first layer, where the transforms would cost more than the direct products, and the
/// 16→512 3×3 one (1.5× fewer multiply-adds) on im2col; the fused ReLU on an FFT layer
/// is the ReLU of its convolution.
#[test]
fn chooser_picks_fft_for_the_svhn_seven_by_seven_layer() {
    let seven = geom(2, 16, 16, 16, 512, [7, 7], [3, 3]);
    let five = geom(2, 16, 16, 16, 512, [5, 5], [2, 2]);
    let three = geom(2, 16, 16, 16, 512, [3, 3], [1, 1]);
    let first = geom(2, 3, 32, 32, 16, [5, 5], [2, 2]);
    let want = if std::env::var_os("ARCHC_NO_FFT").is_some() {
        ConvAlgo::Im2col
    } else {
        ConvAlgo::Fft
    };
    for pass in [
        ConvPass::Forward,
        ConvPass::BackwardInput,
        ConvPass::BackwardWeights,
    ] {
        assert_eq!(kernels::conv_algo(&seven, pass), want, "{pass:?}");
        assert_eq!(kernels::conv_algo(&five, pass), want, "{pass:?}");
        for g in [three, first] {
            assert_eq!(kernels::conv_algo(&g, pass), ConvAlgo::Im2col, "{g:?}");
        }
    }
    check_forward_relu(&mut rng(43), &geom(2, 16, 16, 16, 64, [7, 7], [3, 3]));
}
