//! Shared helpers for the kernel tests: seeded random data and an f32-sum tolerance.
#![allow(dead_code)]
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

pub fn random(rng: &mut ChaCha8Rng, len: usize) -> Vec<f32> {
    (0..len).map(|_| rng.gen_range(-1.0f32..1.0)).collect()
}

/// Asserts `got ≈ want` elementwise. `terms` is how many products each value sums:
/// f32 rounding grows with it, so the tolerance is relative to the typical magnitude
/// of such a sum (√terms for inputs in [-1, 1]) as well as to the value itself.
pub fn assert_close(got: &[f32], want: &[f32], terms: usize, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let scale = (terms.max(1) as f32).sqrt();
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let tol = 1e-4 * (w.abs() + scale);
        assert!(
            (g - w).abs() <= tol,
            "{what}: index {i}: got {g}, want {w} (tol {tol})"
        );
    }
}

/// Checks `kernels::matmul` against the naive reference on every shape `(m, k, n)`,
/// with each operand plain or transposed and with and without accumulation. `start`
/// gives the output's starting contents (its length, whether the product accumulates);
/// `what` names the kernel in failure messages.
pub fn check_matmul_against_reference(
    r: &mut ChaCha8Rng,
    shapes: &[(usize, usize, usize)],
    what: &str,
    start: impl Fn(&mut ChaCha8Rng, usize, bool) -> Vec<f32>,
) {
    use archc::kernels::{matmul, reference};
    for &(m, k, n) in shapes {
        for a_t in [false, true] {
            for b_t in [false, true] {
                for acc in [false, true] {
                    let a = random(r, m * k);
                    let b = random(r, k * n);
                    let c0 = start(r, m * n, acc);
                    let (mut got, mut want) = (c0.clone(), c0);
                    matmul(m, k, n, &a, a_t, &b, b_t, &mut got, acc);
                    reference::matmul(m, k, n, &a, a_t, &b, b_t, &mut want, acc);
                    let what = format!("{what} {m}x{k}x{n} a_t={a_t} b_t={b_t} acc={acc}");
                    assert_close(&got, &want, k + 1, &what);
                }
            }
        }
    }
}

/// A 3×3 stride-1 convolution geometry.
pub fn conv3x3(
    batch: usize,
    cin: usize,
    h: usize,
    w: usize,
    cout: usize,
    padding: [usize; 2],
) -> archc::kernels::ConvGeom {
    archc::kernels::ConvGeom {
        batch,
        in_channels: cin,
        in_h: h,
        in_w: w,
        out_channels: cout,
        kernel: [3, 3],
        stride: [1, 1],
        padding,
    }
}

/// Geometries for the Winograd kernels: odd sizes, paddings 0–2, channel counts off
/// multiples of 16, single images and batches on the parallel and sequential paths,
/// tile rows that cross the GEMM's 32-column panels, and products with more rows than
/// one 140-row block and deeper than one 256-deep block of the packed GEMM.
pub fn winograd_geometries() -> Vec<archc::kernels::ConvGeom> {
    let g = conv3x3;
    vec![
        // Smallest cases: one output cell, one tile, a half tile.
        g(1, 1, 3, 3, 1, [0, 0]),
        g(1, 1, 5, 5, 1, [0, 0]),
        g(2, 1, 1, 1, 2, [1, 1]),
        g(3, 4, 1, 2, 5, [1, 1]),
        // Odd and even sizes, "valid" and "same", channels off multiples of 16.
        g(2, 3, 8, 8, 4, [1, 1]),
        g(3, 5, 7, 9, 6, [1, 1]),
        g(2, 17, 11, 6, 19, [0, 0]),
        g(1, 20, 13, 13, 33, [1, 1]),
        g(5, 16, 4, 5, 3, [0, 1]),
        g(4, 2, 5, 6, 3, [2, 2]),
        g(3, 7, 9, 10, 5, [2, 0]),
        g(2, 9, 6, 7, 11, [0, 2]),
        // Rows of 17–18 tiles: runs of tiles split across 32-column panels.
        g(2, 5, 33, 35, 7, [1, 1]),
        g(1, 3, 34, 36, 2, [2, 1]),
        // Batches large enough for the parallel path, several images per task.
        g(12, 6, 6, 6, 9, [1, 1]),
        g(8, 24, 16, 16, 40, [1, 1]),
        g(9, 33, 15, 17, 31, [0, 0]),
        // Small batches whose 16 products are spread over the threads.
        g(3, 32, 20, 21, 48, [1, 1]),
        g(1, 48, 17, 16, 40, [0, 1]),
        // One tall image: several blocks of tile rows.
        g(1, 64, 70, 40, 64, [1, 1]),
        // Over 140 rows and 256 deep (forward), and the transpose (input gradient).
        g(2, 300, 5, 7, 150, [1, 1]),
        // 5×5 kernels (F(2×2, 5×5)): one cell, paddings 0–4, odd sizes, rows that
        // cross panels, the parallel path, several blocks of tile rows.
        conv5x5(1, 1, 5, 5, 1, [0, 0]),
        conv5x5(2, 3, 1, 2, 4, [2, 2]),
        conv5x5(3, 5, 7, 9, 6, [2, 2]),
        conv5x5(2, 17, 11, 6, 19, [0, 0]),
        conv5x5(4, 2, 5, 6, 3, [4, 4]),
        conv5x5(3, 7, 9, 10, 5, [3, 1]),
        conv5x5(2, 5, 33, 35, 7, [2, 2]),
        conv5x5(8, 24, 16, 16, 40, [2, 2]),
        conv5x5(1, 64, 40, 34, 64, [2, 2]),
    ]
}

/// A 5×5 stride-1 convolution geometry.
pub fn conv5x5(
    batch: usize,
    cin: usize,
    h: usize,
    w: usize,
    cout: usize,
    padding: [usize; 2],
) -> archc::kernels::ConvGeom {
    conv_geom(batch, cin, h, w, cout, [5, 5], padding)
}

/// A stride-1 convolution geometry with any kernel.
pub fn conv_geom(
    batch: usize,
    cin: usize,
    h: usize,
    w: usize,
    cout: usize,
    kernel: [usize; 2],
    padding: [usize; 2],
) -> archc::kernels::ConvGeom {
    archc::kernels::ConvGeom {
        kernel,
        ..conv3x3(batch, cin, h, w, cout, padding)
    }
}

fn conv_lens(g: &archc::kernels::ConvGeom) -> (usize, usize, usize) {
    (
        g.batch * g.in_channels * g.in_h * g.in_w,
        g.out_channels * g.in_channels * g.kernel[0] * g.kernel[1],
        g.batch * g.out_channels * g.out_h() * g.out_w(),
    )
}

// Tolerances: `assert_close` allows 1e-4 of (|value| + √terms). The transforms only
// add, subtract and halve, so each transformed value is a sum of ≤ 16 (input) or 9
// (filter) inputs and the GEMM sums C terms of those: the rounding error stays within a
// small multiple of the direct sum's (≈ 1e-7·√terms per value for inputs in [−1, 1]),
// far inside the bound, which a wrong tap or a missed edge (errors of order 1) breaks.
// The FFT path's DFT matrices hold cos and sin rounded to f32 and each transform stage
// sums ≤ 2n terms of them, so its error is again a small multiple of the direct sum's.
// Outputs start as NaN, so a value never written fails.

/// `conv2d_forward_relu` against max(0, ·) of `conv2d_forward` on `g`, whatever
/// algorithm the chooser gives it, with enough negative outputs for the test to bite.
pub fn check_forward_relu(r: &mut ChaCha8Rng, g: &archc::kernels::ConvGeom) {
    use archc::kernels;
    let (nx, nw, ny) = conv_lens(g);
    let (x, w, b) = (random(r, nx), random(r, nw), random(r, g.out_channels));
    let mut plain = vec![0.0; ny];
    kernels::conv2d_forward(g, &x, &w, &b, &mut plain);
    let mut fused = vec![f32::NAN; ny];
    kernels::conv2d_forward_relu(g, &x, &w, &b, &mut fused);
    let negative = plain.iter().filter(|v| **v < 0.0).count();
    assert!(
        negative > ny / 10,
        "too few negative outputs to test the ReLU"
    );
    for (i, (p, f)) in plain.iter().zip(&fused).enumerate() {
        assert_eq!(p.max(0.0), *f, "output {i} of {g:?}");
    }
}

/// Winograd forward of `g` against the naive reference.
pub fn check_winograd_forward(r: &mut ChaCha8Rng, g: &archc::kernels::ConvGeom) {
    assert!(archc::kernels::winograd_supports(g), "{g:?}");
    check_forward_using(r, g, archc::kernels::ConvAlgo::Winograd)
}

/// Winograd input gradient of `g` against the naive reference.
pub fn check_winograd_backward_input(r: &mut ChaCha8Rng, g: &archc::kernels::ConvGeom) {
    check_backward_input_using(r, g, archc::kernels::ConvAlgo::Winograd)
}

/// Winograd weight and bias gradients of `g` against the naive reference.
pub fn check_winograd_backward_weights(r: &mut ChaCha8Rng, g: &archc::kernels::ConvGeom) {
    check_backward_weights_using(r, g, archc::kernels::ConvAlgo::Winograd)
}

/// The forward convolution of `g` by `algo` against the naive reference.
pub fn check_forward_using(
    r: &mut ChaCha8Rng,
    g: &archc::kernels::ConvGeom,
    algo: archc::kernels::ConvAlgo,
) {
    use archc::kernels::{self, reference};
    let (isz, wsz, osz) = conv_lens(g);
    let (x, w, b) = (random(r, isz), random(r, wsz), random(r, g.out_channels));
    let mut got = vec![f32::NAN; osz];
    let mut want = vec![0.0; osz];
    kernels::conv2d_forward_using(algo, g, &x, &w, &b, &mut got);
    reference::conv2d_forward(g, &x, &w, &b, &mut want);
    let terms = g.in_channels * g.kernel[0] * g.kernel[1] + 1;
    assert_close(&got, &want, terms, &format!("{algo:?} forward {g:?}"));
}

/// The input gradient of `g` by `algo` against the naive reference.
pub fn check_backward_input_using(
    r: &mut ChaCha8Rng,
    g: &archc::kernels::ConvGeom,
    algo: archc::kernels::ConvAlgo,
) {
    use archc::kernels::{self, reference};
    let (isz, wsz, osz) = conv_lens(g);
    let (dy, w) = (random(r, osz), random(r, wsz));
    let mut got = vec![f32::NAN; isz];
    let mut want = vec![0.0; isz];
    kernels::conv2d_backward_input_using(algo, g, &dy, &w, &mut got);
    reference::conv2d_backward_input(g, &dy, &w, &mut want);
    let terms = g.out_channels * g.kernel[0] * g.kernel[1];
    assert_close(
        &got,
        &want,
        terms,
        &format!("{algo:?} backward input {g:?}"),
    );
}

/// The weight and bias gradients of `g` by `algo` against the naive reference.
pub fn check_backward_weights_using(
    r: &mut ChaCha8Rng,
    g: &archc::kernels::ConvGeom,
    algo: archc::kernels::ConvAlgo,
) {
    use archc::kernels::{self, reference};
    let (isz, wsz, osz) = conv_lens(g);
    let (x, dy) = (random(r, isz), random(r, osz));
    let (mut got_w, mut got_b) = (vec![f32::NAN; wsz], vec![f32::NAN; g.out_channels]);
    let (mut want_w, mut want_b) = (vec![0.0; wsz], vec![0.0; g.out_channels]);
    kernels::conv2d_backward_weights_using(algo, g, &x, &dy, &mut got_w, &mut got_b);
    reference::conv2d_backward_weights(g, &x, &dy, &mut want_w, &mut want_b);
    let terms = g.batch * g.out_h() * g.out_w();
    assert_close(&got_w, &want_w, terms, &format!("{algo:?} dW {g:?}"));
    assert_close(&got_b, &want_b, terms, &format!("{algo:?} dbias {g:?}"));
}

/// Stride-1 geometries for the FFT convolutions: odd sizes, square and oblong kernels
/// from 1×1 to 7×7, paddings from 0 to kernel − 1, channel counts across the
/// 28-channel blocks and image counts across the 32-image blocks.
pub fn fft_geometries() -> Vec<archc::kernels::ConvGeom> {
    let geom = conv_geom;
    vec![
        // svhn's layer, smaller: "same" 7×7.
        geom(3, 16, 16, 16, 40, [7, 7], [3, 3]),
        // Oblong kernel and image, unequal paddings, one channel in.
        geom(2, 1, 9, 13, 5, [3, 5], [1, 0]),
        // Valid (no padding) 7×7 on an odd image; 29 = one channel past a block.
        geom(5, 3, 11, 10, 29, [7, 7], [0, 0]),
        // 1×1, and the largest padding (kernel − 1) of an even kernel.
        geom(2, 4, 5, 6, 3, [1, 1], [0, 0]),
        geom(2, 5, 7, 8, 6, [4, 4], [3, 3]),
        // 37 images: several image blocks, the last one partial; 57 channels: three
        // channel blocks, the last of one channel.
        geom(37, 2, 6, 6, 57, [5, 3], [2, 1]),
        // A single image, the kernel as large as the padded input.
        geom(1, 3, 4, 5, 2, [6, 7], [1, 1]),
        // 140 images: blocks of 32 on up to 2 threads (16 or more on up to 4), whose
        // outputs go out 16 images at a time through register transposes, rows of 19
        // (one full run of 16 columns and one of 3), and a last block of 12 done apart.
        geom(140, 2, 5, 19, 3, [3, 4], [1, 2]),
    ]
}

/// `kernels::max_pool_relu_backward_inplace` against the two reference steps it
/// replaces: reference max-pool backward, then the ReLU mask. ReLU outputs rounded to
/// quarters hold many exact zeros and ties, which exercise the "first maximal cell"
/// order and the windows whose maximum is 0 (no gradient).
pub fn check_max_pool_relu_backward(r: &mut ChaCha8Rng, g: &archc::kernels::PoolGeom) {
    let x = random(r, g.batch * g.channels * g.in_h * g.in_w);
    let a: Vec<f32> = x.iter().map(|v| (v * 4.0).round().max(0.0) / 4.0).collect();
    let dy = random(r, g.batch * g.channels * g.out_h() * g.out_w());
    let mut want = vec![0.0; a.len()];
    archc::kernels::reference::max_pool_backward(g, &a, &dy, &mut want);
    for (w, &v) in want.iter_mut().zip(&a) {
        if v <= 0.0 {
            *w = 0.0;
        }
    }
    let mut got = a.clone();
    archc::kernels::max_pool_relu_backward_inplace(g, &mut got, &dy);
    assert_eq!(got, want, "max relu backward {g:?}");
}
