//! Convolution + ReLU + 2×2 max pooling in one pass against the naive reference
//! (convolution, ReLU, max pooling and its gradient, each on its own), over many
//! shapes: odd sizes, strides, padding, 1–4 input channels, 3×3 and 5×5 kernels, and
//! images large enough to be computed in several bands of rows.
//! Inputs and weights are small integers, so every sum is exact in f32: the fused and
//! the reference convolution agree to the bit, and exact ties (which the winner rule
//! must break as the reference does, first maximal cell in row-major order) are common.
use archc::kernels::{self, reference, ConvGeom, PoolGeom, POOL_ARG_NONE};
use rand::{Rng, SeedableRng};

fn ints(rng: &mut rand_chacha::ChaCha8Rng, n: usize, lo: i32, hi: i32) -> Vec<f32> {
    (0..n).map(|_| rng.gen_range(lo..=hi) as f32).collect()
}

/// (batch, C_in, H, W, C_out, kernel, stride, padding)
type Shape = (usize, usize, usize, usize, usize, usize, usize, usize);

const SHAPES: [Shape; 14] = [
    (1, 1, 2, 2, 1, 1, 1, 0),
    (2, 3, 8, 8, 4, 3, 1, 1),
    (3, 3, 7, 9, 5, 3, 1, 1),
    (2, 1, 5, 5, 2, 3, 1, 0),
    (1, 3, 9, 7, 3, 5, 1, 2),
    (2, 2, 11, 13, 6, 3, 2, 1),
    (1, 4, 10, 6, 7, 5, 1, 2),
    (2, 3, 6, 6, 3, 5, 1, 0),
    (1, 3, 3, 3, 2, 3, 1, 1),
    (5, 1, 28, 28, 8, 3, 1, 1),
    (2, 3, 32, 32, 16, 3, 1, 1),
    (1, 3, 33, 31, 9, 5, 1, 2),
    // Wide and tall enough for several row bands per image.
    (2, 3, 97, 129, 64, 3, 1, 1),
    (1, 2, 131, 67, 40, 3, 1, 0),
];

#[test]
fn fused_conv_relu_pool_matches_the_reference_forward_and_backward() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(17);
    // Windows ReLU zeroed entirely, and windows with tied maxima.
    let (mut none, mut ties) = (0, 0);
    for &(n, cin, h, w, cout, k, s, p) in &SHAPES {
        let g = ConvGeom {
            batch: n,
            in_channels: cin,
            in_h: h,
            in_w: w,
            out_channels: cout,
            kernel: [k, k],
            stride: [s, s],
            padding: [p, p],
        };
        let (oh, ow) = (g.out_h(), g.out_w());
        let pg = PoolGeom {
            batch: n,
            channels: cout,
            in_h: oh,
            in_w: ow,
            size: [2, 2],
            stride: [2, 2],
            padding: [0, 0],
        };
        assert!(kernels::conv_relu_max_pool_supports(&g, &pg));
        let x = ints(&mut rng, n * cin * h * w, -3, 3);
        let wt = ints(&mut rng, cout * cin * k * k, -2, 2);
        let b = ints(&mut rng, cout, -2, 2);
        // Reference: conv, ReLU, pool, each on its own.
        let mut a = vec![0.0; n * cout * oh * ow];
        reference::conv2d_forward(&g, &x, &wt, &b, &mut a);
        a.iter_mut().for_each(|v| *v = v.max(0.0));
        let pooled = n * cout * pg.out_h() * pg.out_w();
        let mut want = vec![0.0; pooled];
        reference::max_pool_forward(&pg, &a, &mut want);
        let (mut y, mut arg) = (vec![f32::NAN; pooled], vec![f32::NAN; pooled]);
        kernels::conv_relu_max_pool_forward(&g, &pg, &x, &wt, &b, &mut y, &mut arg);
        let shape = (n, cin, h, w, cout, k, s, p);
        assert_eq!(y, want, "forward {shape:?}");
        assert!(arg
            .iter()
            .all(|&c| [0.0, 1.0, 2.0, 3.0, POOL_ARG_NONE].contains(&c)));
        none += arg.iter().filter(|&&c| c == POOL_ARG_NONE).count();
        // Windows whose positive maximum is reached by two or more cells.
        for (c, plane) in a.chunks(oh * ow).enumerate() {
            for (py, px) in (0..oh / 2).flat_map(|py| (0..ow / 2).map(move |px| (py, px))) {
                let at = |dy: usize, dx: usize| plane[(2 * py + dy) * ow + 2 * px + dx];
                let cells = [at(0, 0), at(0, 1), at(1, 0), at(1, 1)];
                let m = y[(c * (oh / 2) + py) * (ow / 2) + px];
                ties += usize::from(m > 0.0 && cells.iter().filter(|&&v| v == m).count() > 1);
            }
        }
        // Gradient: the reference pool gradient, masked where ReLU was off.
        let dy: Vec<f32> = (0..pooled).map(|_| rng.gen::<f32>() - 0.5).collect();
        let mut dwant = vec![0.0; a.len()];
        reference::max_pool_backward(&pg, &a, &dy, &mut dwant);
        for (d, &v) in dwant.iter_mut().zip(&a) {
            if v <= 0.0 {
                *d = 0.0;
            }
        }
        let mut dz = vec![f32::NAN; a.len()];
        kernels::conv_relu_max_pool_backward(&pg, &arg, &dy, &mut dz);
        assert_eq!(dz, dwant, "backward {shape:?}");
    }
    assert!(
        none > 100 && ties > 100,
        "the fixtures cover both: {none}, {ties}"
    );
}

#[test]
fn fused_conv_relu_pool_matches_the_separate_kernels_on_real_valued_data() {
    // Random reals: rounding may differ from the separate im2col convolution only in
    // the last bits.
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    let g = ConvGeom {
        batch: 3,
        in_channels: 3,
        in_h: 32,
        in_w: 32,
        out_channels: 64,
        kernel: [3, 3],
        stride: [1, 1],
        padding: [1, 1],
    };
    let pg = PoolGeom {
        batch: 3,
        channels: 64,
        in_h: 32,
        in_w: 32,
        size: [2, 2],
        stride: [2, 2],
        padding: [0, 0],
    };
    let x: Vec<f32> = (0..3 * 3 * 32 * 32)
        .map(|_| rng.gen::<f32>() - 0.5)
        .collect();
    let wt: Vec<f32> = (0..64 * 27).map(|_| rng.gen::<f32>() - 0.5).collect();
    let b: Vec<f32> = (0..64).map(|_| rng.gen::<f32>() * 0.2 - 0.1).collect();
    let mut a = vec![0.0; 3 * 64 * 32 * 32];
    kernels::conv2d_forward(&g, &x, &wt, &b, &mut a);
    a.iter_mut().for_each(|v| *v = v.max(0.0));
    let mut want = vec![0.0; 3 * 64 * 16 * 16];
    kernels::max_pool_forward(&pg, &a, &mut want);
    let (mut y, mut arg) = (vec![0.0; want.len()], vec![0.0; want.len()]);
    kernels::conv_relu_max_pool_forward(&g, &pg, &x, &wt, &b, &mut y, &mut arg);
    for (i, (p, q)) in y.iter().zip(&want).enumerate() {
        assert!((p - q).abs() <= 1e-5 * (1.0 + q.abs()), "{i}: {p} vs {q}");
    }
}
