//! Pooling, parallel over (sample, channel) planes; max 2×2 stride 2 has its own loop.
use super::PoolGeom;
use rayon::prelude::*;

/// Planes per rayon task: enough work (~32K cells) to amortise the task.
fn planes_per_task(plane: usize) -> usize {
    (32 * 1024 / plane.max(1)).max(1)
}

fn is_2x2(g: &PoolGeom) -> bool {
    g.size == [2, 2] && g.stride == [2, 2] && g.padding == [0, 0]
}

/// Runs `f(x_plane, y_plane)` over every plane pair, in parallel when large.
fn planes<A: Sync, B: Send>(
    a: &[A],
    a_sz: usize,
    b: &mut [B],
    b_sz: usize,
    f: impl Fn(&[A], &mut [B]) + Sync,
) {
    if a_sz == 0 || b_sz == 0 {
        return;
    }
    let per = planes_per_task(a_sz.max(b_sz));
    b.par_chunks_mut(b_sz * per)
        .zip(a.par_chunks(a_sz * per))
        .for_each(|(bc, ac)| {
            for (bp, ap) in bc.chunks_mut(b_sz).zip(ac.chunks(a_sz)) {
                f(ap, bp)
            }
        });
}

/// In-bounds input index range along one axis for output o: `[lo, hi)`.
fn span(o: usize, s: usize, size: usize, pad: usize, len: usize) -> (usize, usize) {
    let start = o * s;
    let lo = start.saturating_sub(pad).min(len);
    let hi = (start + size).saturating_sub(pad).min(len);
    (lo, hi.max(lo))
}

/// Calls `f(out_index, y_range, x_range)` for each window of one plane.
fn each_window(g: &PoolGeom, mut f: impl FnMut(usize, (usize, usize), (usize, usize))) {
    let (oh, ow) = (g.out_h(), g.out_w());
    for oy in 0..oh {
        let ys = span(oy, g.stride[0], g.size[0], g.padding[0], g.in_h);
        for ox in 0..ow {
            let xs = span(ox, g.stride[1], g.size[1], g.padding[1], g.in_w);
            f(oy * ow + ox, ys, xs);
        }
    }
}

/// out[j] = max of the 2×2 window at columns 2j, 2j+1 of rows r0, r1.
fn max2x2_row(r0: &[f32], r1: &[f32], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if super::avx512::available() {
        // SAFETY: AVX-512F checked; the kernel asserts the slice lengths.
        return unsafe { super::avx512::max2x2_row(r0, r1, out) };
    }
    for ((o, a), b) in out
        .iter_mut()
        .zip(r0.chunks_exact(2))
        .zip(r1.chunks_exact(2))
    {
        *o = a[0].max(a[1]).max(b[0].max(b[1]));
    }
}

/// Routes dy[j] to the first maximal cell (row-major) of window j, zeros elsewhere.
fn max2x2_row_backward(r0: &[f32], r1: &[f32], dy: &[f32], t: &mut [f32], b: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if super::avx512::available() {
        // SAFETY: AVX-512F checked; the kernel asserts the slice lengths.
        return unsafe { super::avx512::max2x2_row_backward(r0, r1, dy, t, b) };
    }
    let windows = t.chunks_exact_mut(2).zip(b.chunks_exact_mut(2));
    let inputs = r0.chunks_exact(2).zip(r1.chunks_exact(2));
    for (((t, b), (a, c)), &d) in windows.zip(inputs).zip(dy) {
        // Branch-free "first maximal cell in row-major order", as the reference.
        let m = a[0].max(a[1]).max(c[0].max(c[1]));
        let e0 = a[0] == m;
        let e1 = !e0 && a[1] == m;
        let e2 = !(e0 || e1) && c[0] == m;
        let e3 = !(e0 || e1 || e2);
        t[0] = if e0 { d } else { 0.0 };
        t[1] = if e1 { d } else { 0.0 };
        b[0] = if e2 { d } else { 0.0 };
        b[1] = if e3 { d } else { 0.0 };
    }
}

/// [`max2x2_relu_row_backward`] one window at a time, branch-free so that it vectorises.
/// `conv_pool::pool_row` finds the winner the same way. Sharing it through a helper
/// returning the winner made this loop 1.3–1.5× slower (interleaved runs), so both spell
/// it out.
fn max2x2_relu_row_backward_scalar(top: &mut [f32], bottom: &mut [f32], dy: &[f32]) {
    for ((t, b), &d) in top
        .chunks_exact_mut(2)
        .zip(bottom.chunks_exact_mut(2))
        .zip(dy)
    {
        let t_right = t[1] > t[0];
        let tmax = if t_right { t[1] } else { t[0] };
        let b_right = b[1] > b[0];
        let bmax = if b_right { b[1] } else { b[0] };
        let lower = bmax > tmax;
        let m = if lower { bmax } else { tmax };
        let g = if m > 0.0 { d } else { 0.0 };
        let pick = |cond: bool| if cond { g } else { 0.0 };
        t[0] = pick(!lower && !t_right);
        t[1] = pick(!lower && t_right);
        b[0] = pick(lower && !b_right);
        b[1] = pick(lower && b_right);
    }
}

/// One row of windows of [`max_relu_backward_inplace`]: `top`/`bottom` (2·dy.len()
/// cells each) hold the ReLU output on entry and the gradient on return.
fn max2x2_relu_row_backward(top: &mut [f32], bottom: &mut [f32], dy: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    if super::avx512::available() {
        // SAFETY: AVX-512F checked; the kernel asserts the slice lengths.
        return unsafe { super::avx512::max2x2_relu_row_backward_inplace(top, bottom, dy) };
    }
    max2x2_relu_row_backward_scalar(top, bottom, dy)
}

/// ∂L/∂z of a = relu(z) followed by 2×2/2 max pooling without padding, written over
/// `a`: each window's first maximal cell (row-major order, as [`max_backward`] picks
/// it) gets dy when that maximum is positive; every other cell, and rows/columns left
/// over by an odd size, get 0.
pub fn max_relu_backward_inplace(g: &PoolGeom, a: &mut [f32], dy: &[f32]) {
    assert!(is_2x2(g), "max_relu_backward: 2x2/2 windows only");
    check(g, a.len(), dy.len());
    let (h, w) = (g.in_h, g.in_w);
    let (oh, ow) = (g.out_h(), g.out_w());
    if h * w == 0 {
        return;
    }
    if oh * ow == 0 {
        a.fill(0.0);
        return;
    }
    a.par_chunks_mut(h * w)
        .zip(dy.par_chunks(oh * ow))
        .with_min_len(16)
        .for_each(|(ap, dp)| {
            for oy in 0..oh {
                let (top, bottom) = ap[2 * oy * w..(2 * oy + 2) * w].split_at_mut(w);
                let dyr = &dp[oy * ow..][..ow];
                max2x2_relu_row_backward(&mut top[..2 * ow], &mut bottom[..2 * ow], dyr);
                top[2 * ow..].fill(0.0);
                bottom[2 * ow..].fill(0.0);
            }
            ap[2 * oh * w..].fill(0.0);
        });
}

fn check(g: &PoolGeom, x: usize, y: usize) {
    let planes = g.batch * g.channels;
    assert_eq!(x, planes * g.in_h * g.in_w, "pool: input length");
    assert_eq!(y, planes * g.out_h() * g.out_w(), "pool: output length");
}

pub fn max_forward(g: &PoolGeom, x: &[f32], y: &mut [f32]) {
    check(g, x.len(), y.len());
    let (w, isz, osz) = (g.in_w, g.in_h * g.in_w, g.out_h() * g.out_w());
    if is_2x2(g) {
        let ow = g.out_w();
        planes(x, isz, y, osz, |xp, yp| {
            for (oy, yrow) in yp.chunks_exact_mut(ow).enumerate() {
                let r0 = &xp[2 * oy * w..][..2 * ow];
                let r1 = &xp[(2 * oy + 1) * w..][..2 * ow];
                max2x2_row(r0, r1, yrow);
            }
        });
        return;
    }
    planes(x, isz, y, osz, |xp, yp| {
        each_window(g, |o, (y0, y1), (x0, x1)| {
            let mut m = f32::NEG_INFINITY;
            for iy in y0..y1 {
                for &v in &xp[iy * w + x0..iy * w + x1] {
                    m = m.max(v);
                }
            }
            yp[o] = m;
        });
    });
}

pub fn max_backward(g: &PoolGeom, x: &[f32], dy: &[f32], dx: &mut [f32]) {
    check(g, x.len(), dy.len());
    assert_eq!(dx.len(), x.len(), "pool: input gradient length");
    let (w, isz, osz) = (g.in_w, g.in_h * g.in_w, g.out_h() * g.out_w());
    // Pair each dx plane with its x plane and dy plane by plane index.
    let xs: Vec<(&[f32], &[f32])> = if isz == 0 || osz == 0 {
        dx.fill(0.0);
        return;
    } else {
        x.chunks(isz).zip(dy.chunks(osz)).collect()
    };
    if is_2x2(g) {
        let (oh, ow) = (g.out_h(), g.out_w());
        planes(&xs, 1, dx, isz, |pair, dxp| {
            let (xp, dyp) = pair[0];
            // Rows/columns left over by an odd size receive nothing.
            dxp[2 * oh * w..].fill(0.0);
            for oy in 0..oh {
                let (top, bottom) = dxp[2 * oy * w..(2 * oy + 2) * w].split_at_mut(w);
                top[2 * ow..].fill(0.0);
                bottom[2 * ow..].fill(0.0);
                let r0 = &xp[2 * oy * w..][..2 * ow];
                let r1 = &xp[(2 * oy + 1) * w..][..2 * ow];
                let dyr = &dyp[oy * ow..][..ow];
                max2x2_row_backward(r0, r1, dyr, &mut top[..2 * ow], &mut bottom[..2 * ow]);
            }
        });
        return;
    }
    planes(&xs, 1, dx, isz, |pair, dxp| {
        let (xp, dyp) = pair[0];
        dxp.fill(0.0);
        each_window(g, |o, (y0, y1), (x0, x1)| {
            let mut best = None::<usize>;
            for iy in y0..y1 {
                for ix in x0..x1 {
                    let i = iy * w + ix;
                    if best.is_none_or(|b| xp[i] > xp[b]) {
                        best = Some(i);
                    }
                }
            }
            if let Some(b) = best {
                dxp[b] += dyp[o];
            }
        });
    });
}

pub fn avg_forward(g: &PoolGeom, x: &[f32], y: &mut [f32]) {
    check(g, x.len(), y.len());
    let (w, isz, osz) = (g.in_w, g.in_h * g.in_w, g.out_h() * g.out_w());
    planes(x, isz, y, osz, |xp, yp| {
        each_window(g, |o, (y0, y1), (x0, x1)| {
            let mut s = 0.0f32;
            for iy in y0..y1 {
                s += xp[iy * w + x0..iy * w + x1].iter().sum::<f32>();
            }
            yp[o] = s / ((y1 - y0) * (x1 - x0)) as f32;
        });
    });
}

pub fn avg_backward(g: &PoolGeom, dy: &[f32], dx: &mut [f32]) {
    check(g, dx.len(), dy.len());
    let (w, isz, osz) = (g.in_w, g.in_h * g.in_w, g.out_h() * g.out_w());
    if isz == 0 || osz == 0 {
        dx.fill(0.0);
        return;
    }
    planes(dy, osz, dx, isz, |dyp, dxp| {
        dxp.fill(0.0);
        each_window(g, |o, (y0, y1), (x0, x1)| {
            let share = dyp[o] / ((y1 - y0) * (x1 - x0)) as f32;
            for iy in y0..y1 {
                dxp[iy * w + x0..iy * w + x1]
                    .iter_mut()
                    .for_each(|v| *v += share);
            }
        });
    });
}

/// Nearest-neighbour upsampling, parallel over planes.
pub fn upsample_forward(
    planes: usize,
    h: usize,
    w: usize,
    f: [usize; 2],
    x: &[f32],
    y: &mut [f32],
) {
    let (isz, ow) = (h * w, w * f[1]);
    assert_eq!(x.len(), planes * isz, "upsample: input length");
    assert_eq!(y.len(), x.len() * f[0] * f[1], "upsample: output length");
    self::planes(x, isz, y, isz * f[0] * f[1], |xp, yp| {
        for (iy, xrow) in xp.chunks_exact(w).enumerate() {
            let first = &mut yp[iy * f[0] * ow..][..ow];
            for (o, &v) in first.chunks_exact_mut(f[1]).zip(xrow) {
                o.fill(v);
            }
            for r in 1..f[0] {
                let (done, rest) = yp[iy * f[0] * ow..].split_at_mut(r * ow);
                rest[..ow].copy_from_slice(&done[..ow]);
            }
        }
    });
}

/// Backward of `upsample_forward`: each input cell sums its copies' gradients.
pub fn upsample_backward(
    planes: usize,
    h: usize,
    w: usize,
    f: [usize; 2],
    dy: &[f32],
    dx: &mut [f32],
) {
    let (isz, ow) = (h * w, w * f[1]);
    assert_eq!(dx.len(), planes * isz, "upsample: input gradient length");
    assert_eq!(
        dy.len(),
        dx.len() * f[0] * f[1],
        "upsample: output gradient length"
    );
    self::planes(dy, isz * f[0] * f[1], dx, isz, |dyp, dxp| {
        for (iy, dxrow) in dxp.chunks_exact_mut(w).enumerate() {
            dxrow.fill(0.0);
            for r in 0..f[0] {
                let src = &dyp[(iy * f[0] + r) * ow..][..ow];
                for (d, s) in dxrow.iter_mut().zip(src.chunks_exact(f[1])) {
                    *d += s.iter().sum::<f32>();
                }
            }
        }
    });
}
