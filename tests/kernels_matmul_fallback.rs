//! The non-AVX-512 matrix product (the `gemm` crate) against the naive reference. The
//! kernel choice is fixed per process at the first product, so this binary sets
//! `ARCHC_NO_AVX512` before any kernel runs; on an AVX-512 machine the other kernel tests
//! never reach this path.
mod kernels_util;
use archc::kernels::{self, reference, ConvAlgo, ConvGeom};
use kernels_util::{
    assert_close, check_backward_input_using, check_backward_weights_using, check_forward_using,
    check_matmul_against_reference, check_winograd_backward_input, check_winograd_backward_weights,
    check_winograd_forward, fft_geometries, random, rng, winograd_geometries,
};

/// Every test of this binary calls this first, before its first product.
fn use_fallback() {
    std::env::set_var("ARCHC_NO_AVX512", "1");
    assert_eq!(
        kernels::gemm_backend(),
        "gemm",
        "the fallback is not in use"
    );
}

#[test]
fn fallback_matmul_matches_reference_on_odd_shapes() {
    use_fallback();
    let mut r = rng(21);
    let shapes = [
        (1, 1, 1),
        (1, 7, 1),
        (3, 5, 2),
        (17, 33, 9),
        (5, 0, 4),
        (0, 3, 4),
        (31, 129, 65),
        (200, 150, 130),
        (13, 600, 45),
        (1, 300, 257),
    ];
    // Without accumulation every output must be written: start from NaN.
    check_matmul_against_reference(&mut r, &shapes, "fallback", |r, len, acc| {
        if acc {
            random(r, len)
        } else {
            vec![f32::NAN; len]
        }
    });
    assert_eq!(kernels::gemm_backend(), "gemm");
}

#[test]
fn fallback_convolution_matches_reference() {
    // Convolutions are im2col + matrix products: forward and both gradients.
    use_fallback();
    let mut r = rng(22);
    let g = ConvGeom {
        batch: 3,
        in_channels: 5,
        in_h: 9,
        in_w: 7,
        out_channels: 6,
        kernel: [3, 3],
        stride: [2, 1],
        padding: [1, 0],
    };
    let (oh, ow) = (g.out_h(), g.out_w());
    let x = random(&mut r, 3 * 5 * 9 * 7);
    let w = random(&mut r, 6 * 5 * 9);
    let bias = random(&mut r, 6);
    let (mut got, mut want) = (vec![f32::NAN; 3 * 6 * oh * ow], vec![0.0; 3 * 6 * oh * ow]);
    kernels::conv2d_forward(&g, &x, &w, &bias, &mut got);
    reference::conv2d_forward(&g, &x, &w, &bias, &mut want);
    assert_close(&got, &want, 46, "fallback conv forward");
    let dy = random(&mut r, got.len());
    let (mut got, mut want) = (vec![f32::NAN; x.len()], vec![0.0; x.len()]);
    kernels::conv2d_backward_input(&g, &dy, &w, &mut got);
    reference::conv2d_backward_input(&g, &dy, &w, &mut want);
    assert_close(&got, &want, 6 * 9, "fallback conv backward input");
}

/// Winograd without the packed GEMM (which needs AVX-512): filters and transformed input
/// stay row-major and go through the `gemm` crate, the rows are split pair by pair.
#[test]
fn fallback_winograd_matches_reference() {
    use_fallback();
    let mut r = rng(23);
    for g in winograd_geometries() {
        check_winograd_forward(&mut r, &g);
        check_winograd_backward_input(&mut r, &g);
        check_winograd_backward_weights(&mut r, &g);
    }
    assert_eq!(kernels::gemm_backend(), "gemm");
}

/// The FFT convolutions' transforms and products on the `gemm` crate's kernel.
#[test]
fn fallback_fft_matches_reference() {
    use_fallback();
    let mut r = rng(25);
    for g in fft_geometries() {
        check_forward_using(&mut r, &g, ConvAlgo::Fft);
        check_backward_input_using(&mut r, &g, ConvAlgo::Fft);
        check_backward_weights_using(&mut r, &g, ConvAlgo::Fft);
    }
    assert_eq!(kernels::gemm_backend(), "gemm");
}

/// The max-pool ReLU gradient's row kernel without AVX-512 (same availability switch).
#[test]
fn fallback_max_pool_relu_backward_matches_reference() {
    use_fallback();
    let mut r = rng(24);
    for (batch, channels, in_h, in_w) in [(2, 3, 8, 8), (3, 2, 7, 9), (2, 3, 5, 71)] {
        let g = archc::kernels::PoolGeom {
            batch,
            channels,
            in_h,
            in_w,
            size: [2, 2],
            stride: [2, 2],
            padding: [0, 0],
        };
        kernels_util::check_max_pool_relu_backward(&mut r, &g);
    }
}
