//! Winograd F(2×2, 3×3) convolutions (forward, input and weight gradients) against the
//! naive reference, over odd sizes, paddings 0–2, channel counts off multiples of 16,
//! single images and batches on both the parallel and the sequential path.
mod kernels_util;
use archc::kernels::{self, reference, ConvAlgo, ConvGeom, ConvPass};
use kernels_util::{assert_close, random, rng};

fn geom(batch: usize, cin: usize, h: usize, w: usize, cout: usize, p: [usize; 2]) -> ConvGeom {
    ConvGeom {
        batch,
        in_channels: cin,
        in_h: h,
        in_w: w,
        out_channels: cout,
        kernel: [3, 3],
        stride: [1, 1],
        padding: p,
    }
}

fn geometries() -> Vec<ConvGeom> {
    vec![
        // Smallest cases: one output cell, one tile, a half tile.
        geom(1, 1, 3, 3, 1, [0, 0]),
        geom(1, 1, 5, 5, 1, [0, 0]),
        geom(2, 1, 1, 1, 2, [1, 1]),
        geom(3, 4, 1, 2, 5, [1, 1]),
        // Odd and even sizes, "valid" and "same", channels off multiples of 16.
        geom(2, 3, 8, 8, 4, [1, 1]),
        geom(3, 5, 7, 9, 6, [1, 1]),
        geom(2, 17, 11, 6, 19, [0, 0]),
        geom(1, 20, 13, 13, 33, [1, 1]),
        geom(5, 16, 4, 5, 3, [0, 1]),
        geom(4, 2, 5, 6, 3, [2, 2]),
        geom(3, 7, 9, 10, 5, [2, 0]),
        // Batches large enough for the parallel path, several images per task.
        geom(12, 6, 6, 6, 9, [1, 1]),
        geom(8, 24, 16, 16, 40, [1, 1]),
        geom(9, 33, 15, 17, 31, [0, 0]),
        // One tall image: several blocks of tile rows, GEMMs split over threads.
        geom(1, 64, 70, 40, 64, [1, 1]),
    ]
}

fn lens(g: &ConvGeom) -> (usize, usize, usize) {
    (
        g.batch * g.in_channels * g.in_h * g.in_w,
        g.out_channels * g.in_channels * 9,
        g.batch * g.out_channels * g.out_h() * g.out_w(),
    )
}

// Tolerances: `assert_close` allows 1e-4 of (|value| + √terms). The transforms only
// add, subtract and halve, so each transformed value is a sum of ≤ 16 (input) or 9
// (filter) inputs and the GEMM sums C terms of those: the rounding error stays within a
// small multiple of the direct sum's (≈ 1e-7·√terms per value for inputs in [−1, 1]),
// far inside the bound, which a wrong tap or a missed edge (errors of order 1) breaks.

#[test]
fn winograd_forward_matches_reference() {
    let mut r = rng(20);
    for g in geometries() {
        assert!(kernels::winograd_supports(&g), "{g:?}");
        let (isz, wsz, osz) = lens(&g);
        let (x, w, b) = (
            random(&mut r, isz),
            random(&mut r, wsz),
            random(&mut r, g.out_channels),
        );
        let mut got = vec![f32::NAN; osz];
        let mut want = vec![0.0; osz];
        kernels::conv2d_forward_using(ConvAlgo::Winograd, &g, &x, &w, &b, &mut got);
        reference::conv2d_forward(&g, &x, &w, &b, &mut want);
        assert_close(
            &got,
            &want,
            g.in_channels * 9 + 1,
            &format!("forward {g:?}"),
        );
    }
}

#[test]
fn winograd_backward_input_matches_reference() {
    let mut r = rng(21);
    for g in geometries() {
        let (isz, wsz, osz) = lens(&g);
        let (dy, w) = (random(&mut r, osz), random(&mut r, wsz));
        let mut got = vec![f32::NAN; isz];
        let mut want = vec![0.0; isz];
        kernels::conv2d_backward_input_using(ConvAlgo::Winograd, &g, &dy, &w, &mut got);
        reference::conv2d_backward_input(&g, &dy, &w, &mut want);
        assert_close(
            &got,
            &want,
            g.out_channels * 9,
            &format!("backward input {g:?}"),
        );
    }
}

#[test]
fn winograd_backward_weights_matches_reference() {
    let mut r = rng(22);
    for g in geometries() {
        let (isz, wsz, osz) = lens(&g);
        let (x, dy) = (random(&mut r, isz), random(&mut r, osz));
        let (mut got_w, mut got_b) = (vec![f32::NAN; wsz], vec![f32::NAN; g.out_channels]);
        let (mut want_w, mut want_b) = (vec![0.0; wsz], vec![0.0; g.out_channels]);
        kernels::conv2d_backward_weights_using(
            ConvAlgo::Winograd,
            &g,
            &x,
            &dy,
            &mut got_w,
            &mut got_b,
        );
        reference::conv2d_backward_weights(&g, &x, &dy, &mut want_w, &mut want_b);
        let terms = g.batch * g.out_h() * g.out_w();
        assert_close(&got_w, &want_w, terms, &format!("dW {g:?}"));
        assert_close(&got_b, &want_b, terms, &format!("dbias {g:?}"));
    }
}

/// The chooser sends the CIFAR inner layers to Winograd (unless switched off; the
/// weight gradient only from 192 channels), keeps strided, non-3×3 and 3-channel first
/// layers on im2col, and the public entry points follow it and match the reference.
#[test]
fn conv_dispatch_picks_winograd_for_cifar_layers() {
    let off = std::env::var_os("ARCHC_NO_WINOGRAD").is_some();
    let inner = geom(2, 64, 16, 16, 128, [1, 1]);
    let want = if off {
        ConvAlgo::Im2col
    } else {
        ConvAlgo::Winograd
    };
    for pass in [
        ConvPass::Forward,
        ConvPass::BackwardInput,
        ConvPass::BackwardWeights,
    ] {
        assert_eq!(kernels::conv_algo(&inner, pass), want, "{pass:?}");
    }
    let small = geom(2, 64, 16, 16, 64, [1, 1]);
    assert_eq!(
        kernels::conv_algo(&small, ConvPass::BackwardWeights),
        ConvAlgo::Im2col
    );
    assert_eq!(kernels::conv_algo(&small, ConvPass::Forward), want);
    let first = geom(2, 3, 32, 32, 64, [1, 1]);
    let strided = ConvGeom {
        stride: [2, 2],
        ..inner
    };
    let five = ConvGeom {
        kernel: [5, 5],
        padding: [2, 2],
        ..inner
    };
    for g in [first, strided, five] {
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
