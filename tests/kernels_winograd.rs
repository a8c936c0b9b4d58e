//! Winograd F(2×2, 3×3) and F(2×2, 5×5) convolutions (forward, input and weight
//! gradients) against the naive reference over `kernels_util::winograd_geometries`
//! (odd sizes, paddings 0–2 and 0–4,
//! channel counts off multiples of 16, single images and batches, both thread paths).
mod kernels_util;
use archc::kernels::{self, reference, ConvAlgo, ConvGeom, ConvPass};
use kernels_util::{
    assert_close, check_forward_relu, check_winograd_backward_input,
    check_winograd_backward_weights, check_winograd_forward, conv3x3, random, rng,
    winograd_geometries,
};

fn geom(batch: usize, cin: usize, h: usize, w: usize, cout: usize, p: [usize; 2]) -> ConvGeom {
    conv3x3(batch, cin, h, w, cout, p)
}

fn lens(g: &ConvGeom) -> (usize, usize, usize) {
    (
        g.batch * g.in_channels * g.in_h * g.in_w,
        g.out_channels * g.in_channels * 9,
        g.batch * g.out_channels * g.out_h() * g.out_w(),
    )
}

/// Where the CPU has AVX-512 these run the packed-operand path (packed filters, the
/// transformed input written as GEMM panels); `kernels_matmul_fallback` runs the same
/// geometries on the plain path.
#[test]
fn winograd_forward_matches_reference() {
    eprintln!("GEMM backend: {}", kernels::gemm_backend());
    let mut r = rng(20);
    for g in winograd_geometries() {
        check_winograd_forward(&mut r, &g);
    }
}

#[test]
fn winograd_backward_input_matches_reference() {
    let mut r = rng(21);
    for g in winograd_geometries() {
        check_winograd_backward_input(&mut r, &g);
    }
}

#[test]
fn winograd_backward_weights_matches_reference() {
    let mut r = rng(22);
    for g in winograd_geometries() {
        check_winograd_backward_weights(&mut r, &g);
    }
}

/// The chooser sends the CIFAR inner layers (C_in + C_out ≥ 128), 3×3 and 5×5, to
/// Winograd in all three passes (unless switched off), keeps the 32-channel layers of
/// `svhn_improved`, strided and 3-channel first layers on im2col (and 7×7 off Winograd), and the public
/// entry points follow it and match the reference.
#[test]
fn conv_dispatch_picks_winograd_for_cifar_layers() {
    let off = std::env::var_os("ARCHC_NO_WINOGRAD").is_some();
    let inner = geom(2, 64, 16, 16, 128, [1, 1]);
    let want = if off {
        ConvAlgo::Im2col
    } else {
        ConvAlgo::Winograd
    };
    let passes = [
        ConvPass::Forward,
        ConvPass::BackwardInput,
        ConvPass::BackwardWeights,
    ];
    let small = geom(2, 64, 16, 16, 64, [1, 1]);
    let five = ConvGeom {
        kernel: [5, 5],
        padding: [2, 2],
        ..inner
    };
    for pass in passes {
        assert_eq!(kernels::conv_algo(&inner, pass), want, "{pass:?}");
        assert_eq!(kernels::conv_algo(&small, pass), want, "{pass:?}");
        assert_eq!(kernels::conv_algo(&five, pass), want, "{pass:?}");
        for g in [
            geom(2, 32, 32, 32, 32, [1, 1]),
            geom(2, 32, 16, 16, 64, [1, 1]),
        ] {
            assert_eq!(kernels::conv_algo(&g, pass), ConvAlgo::Im2col, "{g:?}");
        }
    }
    let first = geom(2, 3, 32, 32, 64, [1, 1]);
    let strided = ConvGeom {
        stride: [2, 2],
        ..inner
    };
    let seven = ConvGeom {
        kernel: [7, 7],
        padding: [3, 3],
        ..inner
    };
    let first_five = ConvGeom {
        kernel: [5, 5],
        padding: [2, 2],
        ..first
    };
    // The 7×7 layer goes to FFT instead (`kernels_fft`), unless that is switched off.
    assert_ne!(
        kernels::conv_algo(&seven, ConvPass::Forward),
        ConvAlgo::Winograd
    );
    for g in [first, strided, first_five] {
        assert_eq!(
            kernels::conv_algo(&g, ConvPass::Forward),
            ConvAlgo::Im2col,
            "{g:?}"
        );
    }
    let mut r = rng(23);
    let (isz, wsz, osz) = lens(&inner);
    let (x, w, b) = (
        random(&mut r, isz),
        random(&mut r, wsz),
        random(&mut r, 128),
    );
    let mut got = vec![f32::NAN; osz];
    let mut want = vec![0.0; osz];
    kernels::conv2d_forward(&inner, &x, &w, &b, &mut got);
    reference::conv2d_forward(&inner, &x, &w, &b, &mut want);
    assert_close(&got, &want, 64 * 9 + 1, "dispatched forward");
}

/// The fused ReLU: `conv2d_forward_relu` equals max(0, ·) of `conv2d_forward` on the
/// chooser's Winograd layers (ReLU applied as the tiles are written) and on an im2col
/// layer (a pass after), with some outputs negative in each.
#[test]
fn conv_forward_relu_is_relu_of_the_convolution() {
    let mut r = rng(23);
    let im2col = ConvGeom {
        kernel: [5, 5],
        padding: [2, 2],
        ..geom(2, 3, 9, 7, 4, [1, 1])
    };
    for g in [
        geom(2, 64, 16, 16, 128, [1, 1]),
        geom(3, 80, 7, 9, 48, [0, 0]),
        im2col,
    ] {
        check_forward_relu(&mut r, &g);
    }
}
