//! Convolution as im2col + GEMM, parallel over the batch.
//!
//! Per sample n the column matrix `col[K, P]` (K = C_in·KH·KW rows in the weight's
//! `[C_in, KH, KW]` order, P = OH·OW columns) turns the convolution into
//! `Y_n[C_out, P] = W[C_out, K] · col`; backward-input is `col2im(Wᵀ · dY_n)` and
//! backward-weights is `dW += dY_n · colᵀ`. With a large batch each rayon task owns
//! whole samples and runs single-threaded GEMMs on cache-resident buffers; with a
//! batch too small to feed every thread the samples run in turn and each GEMM is split.
use super::gemm::{self, sgemm, View};
use super::threads::{accumulate, with_scratch};
use super::ConvGeom;
use rayon::prelude::*;
use std::cell::Cell;

thread_local! {
    /// Per-thread column buffer, reused across calls.
    static COL: Cell<Vec<f32>> = const { Cell::new(Vec::new()) };
}

/// Runs `f` with this thread's column buffer of at least `len` floats (contents unspecified).
pub(super) fn with_col<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    with_scratch(&COL, len, f)
}

struct Dims {
    k: usize,
    p: usize,
    in_sz: usize,
    out_sz: usize,
    /// 1×1 kernel, stride 1, no padding: `col` is the input itself.
    identity: bool,
}

fn dims(g: &ConvGeom) -> Dims {
    let k = g.in_channels * g.kernel[0] * g.kernel[1];
    let p = g.out_h() * g.out_w();
    Dims {
        k,
        p,
        in_sz: g.in_channels * g.in_h * g.in_w,
        out_sz: g.out_channels * p,
        identity: g.kernel == [1, 1] && g.stride == [1, 1] && g.padding == [0, 0],
    }
}

/// A convolution's weight matrix as the left operand of its per-sample GEMMs. Packed
/// once per call when the samples run one per thread (single-threaded GEMMs) and the
/// packed kernel is available: otherwise every sample, and every row chunk of it,
/// re-packs the same weights (9 % of an `svhn` step, whose 7×7 layer has a 512×785
/// weight matrix and 256 columns per sample).
struct Weights<'a> {
    /// Rows and columns of the operand.
    m: usize,
    k: usize,
    operand: Operand<'a>,
}

enum Operand<'a> {
    Plain(View<'a>),
    Packed(Vec<f32>),
}

impl<'a> Weights<'a> {
    /// The m×k operand `w`, packed when `per_sample`.
    fn new(m: usize, k: usize, w: View<'a>, per_sample: bool) -> Self {
        let operand = if per_sample && gemm::packed_available() {
            let mut packed = vec![0.0; gemm::packed_a_len(m, k)];
            gemm::pack_a(m, k, w, &mut packed);
            Operand::Packed(packed)
        } else {
            Operand::Plain(w)
        };
        Weights { m, k, operand }
    }

    /// dst[m×n] (row stride `dst_rs`) = W·rhs (+ dst if `accumulate`), rhs k×n; `par`
    /// splits a plain GEMM over threads.
    fn mul(
        &self,
        n: usize,
        rhs: View,
        dst: &mut [f32],
        dst_rs: usize,
        accumulate: bool,
        par: bool,
    ) {
        let (m, k) = (self.m, self.k);
        match &self.operand {
            Operand::Packed(pa) => gemm::packed_lhs(m, k, n, pa, rhs, dst, dst_rs, accumulate),
            Operand::Plain(w) => sgemm(m, k, n, *w, rhs, dst, dst_rs, accumulate, par),
        }
    }
}

/// Whether to run samples on separate threads (else: one after another, GEMMs split).
fn batch_parallel(g: &ConvGeom) -> bool {
    let t = rayon::current_num_threads();
    t > 1 && g.batch >= 2 * t
}

/// For output coordinate o along one axis and tap offset `kk`, the input index is
/// `o·s + kk − pad`; returns the range of o whose input index lies in `0..len`.
fn valid_range(out: usize, len: usize, s: usize, kk: usize, pad: usize) -> (usize, usize) {
    // o·s + kk ≥ pad  ⇔  o ≥ ceil((pad − kk)/s)
    let lo = if kk >= pad { 0 } else { (pad - kk).div_ceil(s) };
    // o·s + kk − pad ≤ len − 1  ⇔  o ≤ (len − 1 + pad − kk)/s
    let hi = if len + pad > kk {
        ((len - 1 + pad - kk) / s + 1).min(out)
    } else {
        0
    };
    (lo.min(out), hi.max(lo.min(out)))
}

/// col[K, P] from one sample x[C_in, H, W].
pub(crate) fn im2col(g: &ConvGeom, x: &[f32], col: &mut [f32]) {
    im2col_rows(g, x, 0..g.out_h(), col)
}

/// col[K, rows·OW] for the output rows `rows` of one sample x[C_in, H, W].
pub(super) fn im2col_rows(g: &ConvGeom, x: &[f32], rows: std::ops::Range<usize>, col: &mut [f32]) {
    let (oh, ow) = (g.out_h(), g.out_w());
    let [kh, kw] = g.kernel;
    let [sh, sw] = g.stride;
    let [ph, pw] = g.padding;
    let (h, w) = (g.in_h, g.in_w);
    let (r0, r1) = (rows.start, rows.end);
    let p = (r1 - r0) * ow;
    for ci in 0..g.in_channels {
        let plane = &x[ci * h * w..(ci + 1) * h * w];
        for ky in 0..kh {
            let (lo, hi) = valid_range(oh, h, sh, ky, ph);
            let (oy_lo, oy_hi) = (lo.clamp(r0, r1), hi.clamp(r0, r1));
            for kx in 0..kw {
                let (ox_lo, ox_hi) = valid_range(ow, w, sw, kx, pw);
                let row = &mut col[((ci * kh + ky) * kw + kx) * p..][..p];
                row[..(oy_lo - r0) * ow].fill(0.0);
                row[(oy_hi - r0) * ow..].fill(0.0);
                for oy in oy_lo..oy_hi {
                    let iy = oy * sh + ky - ph;
                    let src = &plane[iy * w..(iy + 1) * w];
                    let dst = &mut row[(oy - r0) * ow..(oy - r0 + 1) * ow];
                    dst[..ox_lo].fill(0.0);
                    dst[ox_hi..].fill(0.0);
                    if ox_lo < ox_hi {
                        let ix0 = ox_lo * sw + kx - pw;
                        if sw == 1 {
                            dst[ox_lo..ox_hi].copy_from_slice(&src[ix0..ix0 + ox_hi - ox_lo]);
                        } else {
                            for (j, d) in dst[ox_lo..ox_hi].iter_mut().enumerate() {
                                *d = src[ix0 + j * sw];
                            }
                        }
                    }
                }
            }
        }
    }
}

/// dx[C_in, H, W] = Σ of col[K, P] scattered back to the input cells (overwrites dx).
pub(crate) fn col2im(g: &ConvGeom, col: &[f32], dx: &mut [f32]) {
    dx.fill(0.0);
    col2im_rows_add(g, col, 0..g.out_h(), dx)
}

/// dx += col[K, rows·OW] (output rows `rows`) scattered back to the input cells.
fn col2im_rows_add(g: &ConvGeom, col: &[f32], rows: std::ops::Range<usize>, dx: &mut [f32]) {
    let (oh, ow) = (g.out_h(), g.out_w());
    let [kh, kw] = g.kernel;
    let [sh, sw] = g.stride;
    let [ph, pw] = g.padding;
    let (h, w) = (g.in_h, g.in_w);
    let (r0, r1) = (rows.start, rows.end);
    let p = (r1 - r0) * ow;
    for ci in 0..g.in_channels {
        let plane = &mut dx[ci * h * w..(ci + 1) * h * w];
        for ky in 0..kh {
            let (lo, hi) = valid_range(oh, h, sh, ky, ph);
            let (oy_lo, oy_hi) = (lo.clamp(r0, r1), hi.clamp(r0, r1));
            for kx in 0..kw {
                let (ox_lo, ox_hi) = valid_range(ow, w, sw, kx, pw);
                if ox_lo >= ox_hi {
                    continue;
                }
                let row = &col[((ci * kh + ky) * kw + kx) * p..][..p];
                let ix0 = ox_lo * sw + kx - pw;
                for oy in oy_lo..oy_hi {
                    let iy = oy * sh + ky - ph;
                    let dst = &mut plane[iy * w..(iy + 1) * w];
                    let o = (oy - r0) * ow;
                    let src = &row[o + ox_lo..o + ox_hi];
                    if sw == 1 {
                        for (d, s) in dst[ix0..ix0 + src.len()].iter_mut().zip(src) {
                            *d += s;
                        }
                    } else {
                        for (j, s) in src.iter().enumerate() {
                            dst[ix0 + j * sw] += s;
                        }
                    }
                }
            }
        }
    }
}

/// Splits the output rows into chunks whose column matrix (`k_rows` × rows·OW floats)
/// stays within about 1 MB, so im2col's output is still in L2 when the GEMM packs it.
fn row_chunks(g: &ConvGeom, k_rows: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
    const BUDGET: usize = 1 << 18; // floats
    let oh = g.out_h();
    let per_row = (k_rows * g.out_w()).max(1);
    let chunks = (per_row * oh).div_ceil(BUDGET).clamp(1, oh.max(1));
    let rows = oh.div_ceil(chunks).max(1);
    (0..oh).step_by(rows).map(move |r| r..(r + rows).min(oh))
}

/// dbias[k] = Σ over images and cells of dy[n, k, ·] (`plane` cells per channel), one
/// channel per rayon task: each sum keeps its order, so the bits do not depend on the
/// threads (one thread reading all of dy, 17 MB for a 64-channel 32×32 layer at batch 64,
/// was slow). Shared by the Winograd and FFT weight gradients.
pub(crate) fn bias_grad_per_channel(dy: &[f32], plane: usize, dbias: &mut [f32]) {
    let channels = dbias.len();
    let batch = dy.len().checked_div(channels * plane).unwrap_or(0);
    dbias.par_iter_mut().enumerate().for_each(|(k, b)| {
        *b = (0..batch)
            .map(|n| sum(&dy[(n * channels + k) * plane..][..plane]))
            .sum();
    });
}

/// Sum in 16 independent lanes: a plain `iter().sum()` is one serial dependency chain.
pub(crate) fn sum(v: &[f32]) -> f32 {
    let mut acc = [0.0f32; 16];
    let chunks = v.chunks_exact(16);
    let tail: f32 = chunks.remainder().iter().sum();
    for c in chunks {
        for (a, x) in acc.iter_mut().zip(c) {
            *a += x;
        }
    }
    acc.iter().sum::<f32>() + tail
}

fn check_lens(g: &ConvGeom, d: &Dims, x: usize, w: usize, y: usize) {
    assert_eq!(x, g.batch * d.in_sz, "conv: input length");
    assert_eq!(w, g.out_channels * d.k, "conv: weight length");
    assert_eq!(y, g.batch * d.out_sz, "conv: output length");
}

pub fn forward(g: &ConvGeom, x: &[f32], w: &[f32], bias: &[f32], y: &mut [f32]) {
    let d = dims(g);
    check_lens(g, &d, x.len(), w.len(), y.len());
    assert_eq!(bias.len(), g.out_channels, "conv: bias length");
    if y.is_empty() {
        return;
    }
    // The bias rides along as an extra column of W against a row of ones under col:
    // Y = [W | b]·[col; 1], so the output is written once, by the GEMM.
    let kb = d.k + 1;
    let mut wb = vec![0.0f32; g.out_channels * kb];
    for ((dst, src), b) in wb.chunks_exact_mut(kb).zip(w.chunks_exact(d.k)).zip(bias) {
        dst[..d.k].copy_from_slice(src);
        dst[d.k] = *b;
    }
    let per_sample = batch_parallel(g);
    let lhs = if d.identity {
        Weights::new(
            g.out_channels,
            d.k,
            View::row_major(w, d.k, false),
            per_sample,
        )
    } else {
        Weights::new(
            g.out_channels,
            kb,
            View::row_major(&wb, kb, false),
            per_sample,
        )
    };
    let one = |xn: &[f32], yn: &mut [f32], par: bool| {
        if d.identity {
            for (row, b) in yn.chunks_exact_mut(d.p).zip(bias) {
                row.fill(*b);
            }
            let xv = View::row_major(xn, d.p, false);
            lhs.mul(d.p, xv, yn, d.p, true, par);
        } else {
            for rows in row_chunks(g, kb) {
                let pc = rows.len() * g.out_w();
                let y0 = rows.start * g.out_w();
                with_col(kb * pc, |col| {
                    im2col_rows(g, xn, rows, &mut col[..d.k * pc]);
                    col[d.k * pc..].fill(1.0);
                    let cv = View::row_major(col, pc, false);
                    lhs.mul(pc, cv, &mut yn[y0..], d.p, false, par);
                });
            }
        }
    };
    if per_sample {
        y.par_chunks_mut(d.out_sz)
            .zip(x.par_chunks(d.in_sz))
            .for_each(|(yn, xn)| one(xn, yn, false));
    } else {
        for (yn, xn) in y.chunks_mut(d.out_sz).zip(x.chunks(d.in_sz)) {
            one(xn, yn, true);
        }
    }
}

pub fn backward_input(g: &ConvGeom, dy: &[f32], w: &[f32], dx: &mut [f32]) {
    let d = dims(g);
    check_lens(g, &d, dx.len(), w.len(), dy.len());
    if dx.is_empty() {
        return;
    }
    // Wᵀ[K, C_out] read through strides.
    let per_sample = batch_parallel(g);
    let wt = Weights::new(
        d.k,
        g.out_channels,
        View::row_major(w, d.k, true),
        per_sample,
    );
    let one = |dyn_: &[f32], dxn: &mut [f32], par: bool| {
        let dyv = View::row_major(dyn_, d.p, false);
        if d.identity {
            wt.mul(d.p, dyv, dxn, d.p, false, par);
        } else {
            dxn.fill(0.0);
            for rows in row_chunks(g, d.k) {
                let pc = rows.len() * g.out_w();
                let dyc = View {
                    data: &dyn_[rows.start * g.out_w()..],
                    rs: d.p,
                    cs: 1,
                };
                with_col(d.k * pc, |col| {
                    wt.mul(pc, dyc, col, pc, false, par);
                    col2im_rows_add(g, col, rows, dxn);
                });
            }
        }
    };
    if per_sample {
        dx.par_chunks_mut(d.in_sz)
            .zip(dy.par_chunks(d.out_sz))
            .for_each(|(dxn, dyn_)| one(dyn_, dxn, false));
    } else {
        for (dxn, dyn_) in dx.chunks_mut(d.in_sz).zip(dy.chunks(d.out_sz)) {
            one(dyn_, dxn, true);
        }
    }
}

pub fn backward_weights(g: &ConvGeom, x: &[f32], dy: &[f32], dw: &mut [f32], dbias: &mut [f32]) {
    let d = dims(g);
    check_lens(g, &d, x.len(), dw.len(), dy.len());
    assert_eq!(dbias.len(), g.out_channels, "conv: bias gradient length");
    if g.batch == 0 || d.p == 0 {
        dw.fill(0.0);
        dbias.fill(0.0);
        return;
    }
    // When K is not a multiple of the GEMM's 32-column tile, dbias rides along for
    // free as one more column of dW against a row of ones under col: the accumulator
    // is [C_out, K + 1] and its last column is Σ dY. Otherwise dbias is summed apart.
    let fold = !d.identity && !d.k.is_multiple_of(super::TILE_N);
    let kx = d.k + usize::from(fold);
    let acc_len = g.out_channels * kx + if fold { 0 } else { g.out_channels };
    // Adds sample n's contribution to acc = [dW (| dbias) ; dbias if not folded].
    let one = |n: usize, acc: &mut [f32], par: bool| {
        let xn = &x[n * d.in_sz..(n + 1) * d.in_sz];
        let dyn_ = &dy[n * d.out_sz..(n + 1) * d.out_sz];
        let (accw, accb) = acc.split_at_mut(g.out_channels * kx);
        if !fold {
            for (b, row) in accb.iter_mut().zip(dyn_.chunks_exact(d.p)) {
                *b += sum(row);
            }
        }
        let dyv = View::row_major(dyn_, d.p, false);
        if d.identity {
            let xt = View::row_major(xn, d.p, true);
            sgemm(g.out_channels, d.p, d.k, dyv, xt, accw, d.k, true, par);
        } else {
            for rows in row_chunks(g, kx) {
                let pc = rows.len() * g.out_w();
                let dyc = View {
                    data: &dyn_[rows.start * g.out_w()..],
                    rs: d.p,
                    cs: 1,
                };
                with_col(kx * pc, |col| {
                    im2col_rows(g, xn, rows, &mut col[..d.k * pc]);
                    col[d.k * pc..].fill(1.0);
                    let ct = View::row_major(col, pc, true);
                    sgemm(g.out_channels, pc, kx, dyc, ct, accw, kx, true, par);
                });
            }
        }
    };
    // Private accumulators per rayon job (work stealing balances the shared cores).
    let acc = accumulate(g.batch, acc_len, batch_parallel(g), 4, one);
    if fold {
        for ((w, b), row) in dw
            .chunks_exact_mut(d.k)
            .zip(dbias.iter_mut())
            .zip(acc.chunks_exact(kx))
        {
            w.copy_from_slice(&row[..d.k]);
            *b = row[d.k];
        }
    } else {
        let (aw, ab) = acc.split_at(g.out_channels * d.k);
        dw.copy_from_slice(aw);
        dbias.copy_from_slice(ab);
    }
}
