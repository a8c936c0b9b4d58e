//! Convolution + ReLU + 2×2/2 max pooling in one pass, for layers with few input taps
//! (K = C_in·KH·KW, 27 for a 3×3 layer on RGB): such a layer's GEMM is cheap and its
//! full-resolution output is the largest tensor of the network, so writing it,
//! pooling it and reading it again in the backward pass dominate. Here each task
//! computes a band of output rows of one sample into a cache-resident scratch (im2col
//! and GEMM, bias riding in the GEMM as in `conv::forward`), then writes only the pooled
//! values and, per pooled cell, which of its four cells won (`ARG_NONE` when the
//! window's maximum is ≤ 0, where ReLU passes no gradient). The backward pass routes
//! each pooled gradient to its winner from those codes alone.
use super::conv::{im2col_rows, with_col};
use super::gemm::{sgemm, View};
use super::{ConvGeom, PoolGeom};
use rayon::prelude::*;

/// Winner code of a window whose maximum is ≤ 0: no gradient passes.
pub const ARG_NONE: f32 = 4.0;

/// Output rows per task: an even number whose scratch (`out_channels` × rows × OW)
/// stays near 256 KB.
fn band_rows(g: &ConvGeom, kb: usize) -> usize {
    const BUDGET: usize = 1 << 16; // floats
    let per_row = (g.out_channels.max(kb) * g.out_w()).max(1);
    (BUDGET / per_row).max(2) & !1
}

/// Whether [`forward`] computes conv `g` followed by pooling `p`: 2×2 windows, stride
/// 2, no padding, over the convolution's whole output.
pub fn supports(g: &ConvGeom, p: &PoolGeom) -> bool {
    p.size == [2, 2]
        && p.stride == [2, 2]
        && p.padding == [0, 0]
        && p.channels == g.out_channels
        && p.in_h == g.out_h()
        && p.in_w == g.out_w()
}

/// y[N, C_out, OH/2, OW/2] = maxpool(relu(conv(x, w) + bias)) and the winner codes
/// `arg` (same shape): 2·dy + dx of the window's first maximal cell in row-major
/// order, or [`ARG_NONE`]. A trailing odd row or column of the convolution is never
/// computed (pooling drops it).
pub fn forward(
    g: &ConvGeom,
    p: &PoolGeom,
    x: &[f32],
    w: &[f32],
    bias: &[f32],
    y: &mut [f32],
    arg: &mut [f32],
) {
    assert!(supports(g, p), "conv_pool: unsupported geometry");
    let k = g.in_channels * g.kernel[0] * g.kernel[1];
    let in_sz = g.in_channels * g.in_h * g.in_w;
    let (ow, ph, pw) = (g.out_w(), p.out_h(), p.out_w());
    let out_sz = g.out_channels * ph * pw;
    assert_eq!(x.len(), g.batch * in_sz, "conv_pool: input length");
    assert_eq!(w.len(), g.out_channels * k, "conv_pool: weight length");
    assert_eq!(bias.len(), g.out_channels, "conv_pool: bias length");
    assert_eq!(y.len(), g.batch * out_sz, "conv_pool: output length");
    assert_eq!(arg.len(), y.len(), "conv_pool: winner length");
    if y.is_empty() {
        return;
    }
    let kb = k + 1;
    let mut wb = vec![0.0f32; g.out_channels * kb];
    for ((dst, src), b) in wb.chunks_exact_mut(kb).zip(w.chunks_exact(k)).zip(bias) {
        dst[..k].copy_from_slice(src);
        dst[k] = *b;
    }
    let wbv = View::row_major(&wb, kb, false);
    let band = band_rows(g, kb);
    // One task per sample; within it, bands of output rows through the scratch.
    y.par_chunks_mut(out_sz)
        .zip(arg.par_chunks_mut(out_sz))
        .zip(x.par_chunks(in_sz))
        .for_each(|((yn, an), xn)| {
            for r0 in (0..2 * ph).step_by(band) {
                let rows = r0..(r0 + band).min(2 * ph);
                let pc = rows.len() * ow;
                with_col(kb * pc + g.out_channels * pc, |buf| {
                    let (col, z) = buf.split_at_mut(kb * pc);
                    im2col_rows(g, xn, rows.clone(), &mut col[..k * pc]);
                    col[k * pc..].fill(1.0);
                    let cv = View::row_major(col, pc, false);
                    sgemm(g.out_channels, kb, pc, wbv, cv, z, pc, false, false);
                    for (c, zc) in z.chunks_exact(pc).enumerate() {
                        for py in 0..rows.len() / 2 {
                            let top = &zc[2 * py * ow..][..ow];
                            let bottom = &zc[(2 * py + 1) * ow..][..ow];
                            let at = (c * ph + r0 / 2 + py) * pw;
                            pool_row(top, bottom, &mut yn[at..at + pw], &mut an[at..at + pw]);
                        }
                    }
                });
            }
        });
}

/// One row of 2×2 windows over rows `top`, `bottom` of relu's input: the pooled
/// relu output and the winner code (first maximal cell, row-major; `ARG_NONE` when
/// the maximum is ≤ 0).
fn pool_row(top: &[f32], bottom: &[f32], y: &mut [f32], arg: &mut [f32]) {
    for (((t, b), yv), av) in top
        .chunks_exact(2)
        .zip(bottom.chunks_exact(2))
        .zip(y.iter_mut())
        .zip(arg.iter_mut())
    {
        // Branch-free, as in the fused ReLU/pool gradient, so it vectorises.
        let t_right = t[1] > t[0];
        let tmax = if t_right { t[1] } else { t[0] };
        let b_right = b[1] > b[0];
        let bmax = if b_right { b[1] } else { b[0] };
        let lower = bmax > tmax;
        let m = if lower { bmax } else { tmax };
        let code = 2.0 * f32::from(u8::from(lower))
            + if lower {
                f32::from(u8::from(b_right))
            } else {
                f32::from(u8::from(t_right))
            };
        let pos = m > 0.0;
        *yv = if pos { m } else { 0.0 };
        *av = if pos { code } else { ARG_NONE };
    }
}

/// dz[N, C, H, W] (the convolution's output, before ReLU) from the pooled gradient dy
/// and the winner codes of [`forward`]: each window's winner gets dy, every other cell
/// (and a trailing odd row or column) 0. Overwrites dz.
pub fn backward(p: &PoolGeom, arg: &[f32], dy: &[f32], dz: &mut [f32]) {
    let (h, w, ph, pw) = (p.in_h, p.in_w, p.out_h(), p.out_w());
    assert_eq!(arg.len(), dy.len(), "conv_pool: winner length");
    assert_eq!(
        dz.len() / (h * w).max(1),
        dy.len() / (ph * pw).max(1),
        "conv_pool: gradient length"
    );
    if h * w == 0 || ph * pw == 0 {
        dz.fill(0.0);
        return;
    }
    dz.par_chunks_mut(h * w)
        .zip(dy.par_chunks(ph * pw).zip(arg.par_chunks(ph * pw)))
        .with_min_len(16)
        .for_each(|(zp, (dp, ap))| {
            for py in 0..ph {
                let (top, bottom) = zp[2 * py * w..(2 * py + 2) * w].split_at_mut(w);
                for px in 0..pw {
                    let (d, a) = (dp[py * pw + px], ap[py * pw + px]);
                    let pick = |code: f32| if a == code { d } else { 0.0 };
                    top[2 * px] = pick(0.0);
                    top[2 * px + 1] = pick(1.0);
                    bottom[2 * px] = pick(2.0);
                    bottom[2 * px + 1] = pick(3.0);
                }
                top[2 * pw..].fill(0.0);
                bottom[2 * pw..].fill(0.0);
            }
            zp[2 * ph * w..].fill(0.0);
        });
}
