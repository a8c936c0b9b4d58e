//! Fast convolution forward/backward against the naive reference over many geometries.
mod kernels_util;
use archc::kernels::{self, reference, ConvGeom};
use kernels_util::{assert_close, random, rng};

#[allow(clippy::too_many_arguments)]
fn geom(
    batch: usize,
    cin: usize,
    h: usize,
    w: usize,
    cout: usize,
    k: [usize; 2],
    s: [usize; 2],
    p: [usize; 2],
) -> ConvGeom {
    ConvGeom {
        batch,
        in_channels: cin,
        in_h: h,
        in_w: w,
        out_channels: cout,
        kernel: k,
        stride: s,
        padding: p,
    }
}

fn geometries() -> Vec<ConvGeom> {
    vec![
        geom(1, 1, 5, 5, 1, [3, 3], [1, 1], [0, 0]),
        geom(2, 3, 8, 8, 4, [3, 3], [1, 1], [1, 1]),
        geom(5, 3, 7, 9, 6, [3, 3], [2, 2], [1, 1]),
        geom(4, 2, 11, 6, 3, [2, 3], [1, 2], [0, 1]),
        geom(3, 4, 9, 9, 5, [5, 5], [1, 1], [2, 2]),
        geom(1, 4, 9, 9, 5, [5, 5], [1, 1], [2, 2]),
        geom(6, 8, 6, 6, 8, [1, 1], [1, 1], [0, 0]),
        geom(1, 8, 6, 6, 8, [1, 1], [1, 1], [0, 0]),
        geom(4, 3, 6, 7, 2, [1, 1], [2, 2], [1, 1]),
        geom(3, 1, 28, 28, 16, [3, 3], [1, 1], [1, 1]),
        geom(4, 5, 10, 10, 7, [7, 7], [1, 1], [3, 3]),
        geom(4, 2, 5, 5, 3, [5, 1], [3, 1], [2, 0]),
        geom(8, 16, 12, 12, 24, [3, 3], [2, 1], [0, 2]),
        geom(1, 64, 8, 8, 32, [3, 3], [1, 1], [1, 1]),
        geom(5, 32, 7, 7, 6, [1, 1], [2, 2], [0, 0]),
        // Column matrices over the 1 MB budget: processed in chunks of output rows.
        geom(2, 64, 24, 24, 3, [3, 3], [1, 1], [1, 1]),
        geom(4, 128, 35, 35, 3, [3, 3], [2, 2], [1, 1]),
        geom(1, 40, 30, 31, 33, [5, 3], [1, 1], [2, 1]),
        geom(4, 16, 9, 9, 20, [2, 2], [1, 1], [1, 1]),
        // Weights pre-packed over several row blocks (150 > 140 output channels) and
        // depth blocks (K = 785 with the bias column); backward-input's Wᵀ is 784×150.
        geom(4, 16, 9, 9, 150, [7, 7], [1, 1], [3, 3]),
    ]
}

#[test]
fn conv_forward_matches_reference() {
    let mut r = rng(10);
    for g in geometries() {
        let osz = g.batch * g.out_channels * g.out_h() * g.out_w();
        let x = random(&mut r, g.batch * g.in_channels * g.in_h * g.in_w);
        let w = random(
            &mut r,
            g.out_channels * g.in_channels * g.kernel[0] * g.kernel[1],
        );
        let b = random(&mut r, g.out_channels);
        let mut got = vec![f32::NAN; osz];
        let mut want = vec![0.0; osz];
        kernels::conv2d_forward(&g, &x, &w, &b, &mut got);
        reference::conv2d_forward(&g, &x, &w, &b, &mut want);
        let terms = g.in_channels * g.kernel[0] * g.kernel[1] + 1;
        assert_close(&got, &want, terms, &format!("forward {g:?}"));
    }
}

#[test]
fn conv_backward_input_matches_reference() {
    let mut r = rng(11);
    for g in geometries() {
        let isz = g.batch * g.in_channels * g.in_h * g.in_w;
        let dy = random(&mut r, g.batch * g.out_channels * g.out_h() * g.out_w());
        let w = random(
            &mut r,
            g.out_channels * g.in_channels * g.kernel[0] * g.kernel[1],
        );
        let mut got = vec![f32::NAN; isz];
        let mut want = vec![0.0; isz];
        kernels::conv2d_backward_input(&g, &dy, &w, &mut got);
        reference::conv2d_backward_input(&g, &dy, &w, &mut want);
        let terms = g.out_channels * g.kernel[0] * g.kernel[1];
        assert_close(&got, &want, terms, &format!("backward input {g:?}"));
    }
}

#[test]
fn conv_backward_weights_matches_reference() {
    let mut r = rng(12);
    for g in geometries() {
        let x = random(&mut r, g.batch * g.in_channels * g.in_h * g.in_w);
        let dy = random(&mut r, g.batch * g.out_channels * g.out_h() * g.out_w());
        let wsz = g.out_channels * g.in_channels * g.kernel[0] * g.kernel[1];
        let (mut got_w, mut got_b) = (vec![f32::NAN; wsz], vec![f32::NAN; g.out_channels]);
        let (mut want_w, mut want_b) = (vec![0.0; wsz], vec![0.0; g.out_channels]);
        kernels::conv2d_backward_weights(&g, &x, &dy, &mut got_w, &mut got_b);
        reference::conv2d_backward_weights(&g, &x, &dy, &mut want_w, &mut want_b);
        let terms = g.batch * g.out_h() * g.out_w();
        assert_close(&got_w, &want_w, terms, &format!("dW {g:?}"));
        assert_close(&got_b, &want_b, terms, &format!("dbias {g:?}"));
    }
}

/// ⟨conv(x), dy⟩ = ⟨x, conv_backward_input(dy)⟩: the adjoint identity, independent of
/// the reference, on a shape big enough to take the batch-parallel path.
#[test]
fn conv_backward_input_is_adjoint_of_forward() {
    let mut r = rng(13);
    let g = geom(16, 6, 13, 13, 10, [3, 3], [2, 2], [1, 1]);
    let x = random(&mut r, g.batch * g.in_channels * g.in_h * g.in_w);
    let w = random(&mut r, g.out_channels * g.in_channels * 9);
    let dy = random(&mut r, g.batch * g.out_channels * g.out_h() * g.out_w());
    let mut y = vec![0.0; dy.len()];
    kernels::conv2d_forward(&g, &x, &w, &vec![0.0; g.out_channels], &mut y);
    let mut dx = vec![0.0; x.len()];
    kernels::conv2d_backward_input(&g, &dy, &w, &mut dx);
    let lhs: f64 = y
        .iter()
        .zip(&dy)
        .map(|(a, b)| (*a as f64) * (*b as f64))
        .sum();
    let rhs: f64 = x
        .iter()
        .zip(&dx)
        .map(|(a, b)| (*a as f64) * (*b as f64))
        .sum();
    assert!(
        (lhs - rhs).abs() <= 1e-3 * lhs.abs().max(1.0),
        "{lhs} vs {rhs}"
    );
}
