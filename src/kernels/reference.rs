//! Naive, obviously-correct kernels: the oracle for the fast ones.
use super::{ConvGeom, PoolGeom};

#[allow(clippy::too_many_arguments)]
pub fn matmul(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    a_t: bool,
    b: &[f32],
    b_t: bool,
    c: &mut [f32],
    accumulate: bool,
) {
    for i in 0..m {
        for j in 0..n {
            let mut s = 0.0f32;
            for p in 0..k {
                let av = if a_t { a[p * m + i] } else { a[i * k + p] };
                let bv = if b_t { b[j * k + p] } else { b[p * n + j] };
                s += av * bv;
            }
            c[i * n + j] = if accumulate { c[i * n + j] + s } else { s };
        }
    }
}

/// Input index of output cell (oy, ox) and kernel tap (ky, kx), or None in the padding.
fn tap(g: &ConvGeom, oy: usize, ox: usize, ky: usize, kx: usize) -> Option<(usize, usize)> {
    let iy = (oy * g.stride[0] + ky) as isize - g.padding[0] as isize;
    let ix = (ox * g.stride[1] + kx) as isize - g.padding[1] as isize;
    (iy >= 0 && ix >= 0 && (iy as usize) < g.in_h && (ix as usize) < g.in_w)
        .then_some((iy as usize, ix as usize))
}

pub fn conv2d_forward(g: &ConvGeom, x: &[f32], w: &[f32], bias: &[f32], y: &mut [f32]) {
    let (oh, ow) = (g.out_h(), g.out_w());
    let [kh, kw] = g.kernel;
    for n in 0..g.batch {
        for co in 0..g.out_channels {
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut s = bias[co];
                    for ci in 0..g.in_channels {
                        for ky in 0..kh {
                            for kx in 0..kw {
                                if let Some((iy, ix)) = tap(g, oy, ox, ky, kx) {
                                    s += x[((n * g.in_channels + ci) * g.in_h + iy) * g.in_w + ix]
                                        * w[((co * g.in_channels + ci) * kh + ky) * kw + kx];
                                }
                            }
                        }
                    }
                    y[((n * g.out_channels + co) * oh + oy) * ow + ox] = s;
                }
            }
        }
    }
}

pub fn conv2d_backward_input(g: &ConvGeom, dy: &[f32], w: &[f32], dx: &mut [f32]) {
    let (oh, ow) = (g.out_h(), g.out_w());
    let [kh, kw] = g.kernel;
    dx.iter_mut().for_each(|v| *v = 0.0);
    for n in 0..g.batch {
        for co in 0..g.out_channels {
            for oy in 0..oh {
                for ox in 0..ow {
                    let d = dy[((n * g.out_channels + co) * oh + oy) * ow + ox];
                    for ci in 0..g.in_channels {
                        for ky in 0..kh {
                            for kx in 0..kw {
                                if let Some((iy, ix)) = tap(g, oy, ox, ky, kx) {
                                    dx[((n * g.in_channels + ci) * g.in_h + iy) * g.in_w + ix] +=
                                        d * w[((co * g.in_channels + ci) * kh + ky) * kw + kx];
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

pub fn conv2d_backward_weights(
    g: &ConvGeom,
    x: &[f32],
    dy: &[f32],
    dw: &mut [f32],
    dbias: &mut [f32],
) {
    let (oh, ow) = (g.out_h(), g.out_w());
    let [kh, kw] = g.kernel;
    dw.iter_mut().for_each(|v| *v = 0.0);
    dbias.iter_mut().for_each(|v| *v = 0.0);
    for n in 0..g.batch {
        for co in 0..g.out_channels {
            for oy in 0..oh {
                for ox in 0..ow {
                    let d = dy[((n * g.out_channels + co) * oh + oy) * ow + ox];
                    dbias[co] += d;
                    for ci in 0..g.in_channels {
                        for ky in 0..kh {
                            for kx in 0..kw {
                                if let Some((iy, ix)) = tap(g, oy, ox, ky, kx) {
                                    dw[((co * g.in_channels + ci) * kh + ky) * kw + kx] += d * x
                                        [((n * g.in_channels + ci) * g.in_h + iy) * g.in_w + ix];
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Calls `f(out_index, in_indices_of_window)` for every pooling window.
fn windows(g: &PoolGeom, mut f: impl FnMut(usize, &[usize])) {
    let (oh, ow) = (g.out_h(), g.out_w());
    let mut cells = Vec::with_capacity(g.size[0] * g.size[1]);
    for plane in 0..g.batch * g.channels {
        for oy in 0..oh {
            for ox in 0..ow {
                cells.clear();
                for ky in 0..g.size[0] {
                    for kx in 0..g.size[1] {
                        let iy = (oy * g.stride[0] + ky) as isize - g.padding[0] as isize;
                        let ix = (ox * g.stride[1] + kx) as isize - g.padding[1] as isize;
                        if iy >= 0 && ix >= 0 && (iy as usize) < g.in_h && (ix as usize) < g.in_w {
                            cells.push((plane * g.in_h + iy as usize) * g.in_w + ix as usize);
                        }
                    }
                }
                f((plane * oh + oy) * ow + ox, &cells);
            }
        }
    }
}

pub fn max_pool_forward(g: &PoolGeom, x: &[f32], y: &mut [f32]) {
    windows(g, |o, cells| {
        y[o] = cells
            .iter()
            .map(|&i| x[i])
            .fold(f32::NEG_INFINITY, f32::max);
    });
}

pub fn max_pool_backward(g: &PoolGeom, x: &[f32], dy: &[f32], dx: &mut [f32]) {
    dx.iter_mut().for_each(|v| *v = 0.0);
    windows(g, |o, cells| {
        let mut best = cells[0];
        for &i in cells {
            if x[i] > x[best] {
                best = i;
            }
        }
        dx[best] += dy[o];
    });
}

pub fn avg_pool_forward(g: &PoolGeom, x: &[f32], y: &mut [f32]) {
    windows(g, |o, cells| {
        y[o] = cells.iter().map(|&i| x[i]).sum::<f32>() / cells.len() as f32;
    });
}

pub fn avg_pool_backward(g: &PoolGeom, dy: &[f32], dx: &mut [f32]) {
    dx.iter_mut().for_each(|v| *v = 0.0);
    windows(g, |o, cells| {
        let share = dy[o] / cells.len() as f32;
        for &i in cells {
            dx[i] += share;
        }
    });
}

/// Nearest-neighbour upsampling of `planes` planes [in_h, in_w] by `factor`.
pub fn upsample_nearest_forward(
    planes: usize,
    in_h: usize,
    in_w: usize,
    factor: [usize; 2],
    x: &[f32],
    y: &mut [f32],
) {
    let (oh, ow) = (in_h * factor[0], in_w * factor[1]);
    for p in 0..planes {
        for oy in 0..oh {
            for ox in 0..ow {
                y[(p * oh + oy) * ow + ox] = x[(p * in_h + oy / factor[0]) * in_w + ox / factor[1]];
            }
        }
    }
}

/// dx = sum of dy over each input cell's factor[0]×factor[1] copies (overwrites dx).
pub fn upsample_nearest_backward(
    planes: usize,
    in_h: usize,
    in_w: usize,
    factor: [usize; 2],
    dy: &[f32],
    dx: &mut [f32],
) {
    let (oh, ow) = (in_h * factor[0], in_w * factor[1]);
    dx.iter_mut().for_each(|v| *v = 0.0);
    for p in 0..planes {
        for oy in 0..oh {
            for ox in 0..ow {
                dx[(p * in_h + oy / factor[0]) * in_w + ox / factor[1]] +=
                    dy[(p * oh + oy) * ow + ox];
            }
        }
    }
}

/// Mean binary cross-entropy of logits `z` against targets `t`, in f64 with libm:
/// max(z, 0) − z·t + ln(1 + e^−|z|), the stable form of −t·ln σ(z) − (1 − t)·ln(1 − σ(z)).
pub fn bce_with_logits_mean(z: &[f32], t: &[f32]) -> f64 {
    assert_eq!(z.len(), t.len(), "bce: lengths");
    let sum: f64 = z
        .iter()
        .zip(t)
        .map(|(&z, &t)| {
            let (z, t) = (z as f64, t as f64);
            z.max(0.0) - z * t + (-z.abs()).exp().ln_1p()
        })
        .sum();
    sum / z.len() as f64
}
