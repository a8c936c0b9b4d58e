//! FFT convolutions (forward with and without the fused ReLU, input and weight gradients)
//! against the naive reference over `kernels_util::fft_geometries` (odd sizes, square
//! and oblong kernels from 1×1 to 7×7, paddings from 0 to kernel − 1, partial channel
//! and image blocks), and the chooser's pick for `svhn`. `kernels_matmul_fallback` runs
//! the same geometries on the non-AVX-512 product.
mod kernels_util;
use archc::kernels::{self, ConvAlgo, ConvGeom, ConvPass};
use kernels_util::{
    check_backward_input_using, check_backward_weights_using, check_forward_using, fft_geometries,
    random, rng,
};

fn geom(
    batch: usize,
    cin: usize,
    h: usize,
    w: usize,
    cout: usize,
    kernel: [usize; 2],
    padding: [usize; 2],
) -> ConvGeom {
    ConvGeom {
        batch,
        in_channels: cin,
        in_h: h,
        in_w: w,
        out_channels: cout,
        kernel,
        stride: [1, 1],
        padding,
    }
}

fn lens(g: &ConvGeom) -> (usize, usize, usize) {
    (
        g.batch * g.in_channels * g.in_h * g.in_w,
        g.out_channels * g.in_channels * g.kernel[0] * g.kernel[1],
        g.batch * g.out_channels * g.out_h() * g.out_w(),
    )
}

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
    let mut r = rng(43);
    let g = geom(2, 16, 16, 16, 64, [7, 7], [3, 3]);
    let (nx, nw, ny) = lens(&g);
    let (x, w, b) = (
        random(&mut r, nx),
        random(&mut r, nw),
        random(&mut r, g.out_channels),
    );
    let mut plain = vec![0.0; ny];
    kernels::conv2d_forward_using(ConvAlgo::Fft, &g, &x, &w, &b, &mut plain);
    let mut fused = vec![f32::NAN; ny];
    kernels::conv2d_forward_relu(&g, &x, &w, &b, &mut fused);
    let negative = plain.iter().filter(|v| **v < 0.0).count();
    assert!(
        negative > ny / 10,
        "too few negative outputs to test the ReLU"
    );
    for (i, (p, f)) in plain.iter().zip(&fused).enumerate() {
        assert_eq!(p.max(0.0), *f, "output {i}");
    }
}
