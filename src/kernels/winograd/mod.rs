//! 3×3 and 5×5 stride-1 convolutions by Winograd F(2×2, 3×3) and F(2×2, 5×5): forward,
//! input gradient and weight gradient, parallel over groups of images like the im2col
//! path. The blocking, the layouts and the GEMMs below serve both; each algorithm's
//! transforms implement `Transform` (F(2×2, 3×3) in this file, F(2×2, 5×5) in `f2x5`).
//! The rest of this comment is about F(2×2, 3×3); F(2×2, 5×5) works the same way with
//! 6×6 input tiles and 36 GEMMs.
//!
//! Each output 2×2 tile y = Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A comes from a 4×4 input tile d; over
//! channels the element-wise product becomes 16 independent GEMMs
//! `M[ξ][C_out, T] = U[ξ][C_out, C_in] · V[ξ][C_in, T]` over a block of T tiles:
//! 16 multiplies per tile and channel pair instead of 36 (2.25× fewer flops). The
//! transforms only add, subtract and halve (exact in f32 but for the final rounding of
//! each sum), so the result differs from im2col's by float rounding alone.
//!
//! - The input gradient is the same forward correlation of dy, padded by 2 − p, with the
//!   weights flipped in space and transposed in channels.
//! - The weight gradient is the transpose of the forward map (F(3×3, 2×2)):
//!   `dw = Σ_tiles Gᵀ[(A dy Aᵀ) ⊙ (Bᵀ d B)]G`, i.e. 16 GEMMs
//!   `M[ξ][C_out, C_in] += DY[ξ][C_out, T] · V[ξ][C_in, T]ᵀ` and one transform at the end.
//!
//! Tiles are processed in blocks of whole tile rows whose transformed input and output
//! stay near L2 size. With AVX-512 each transform handles 16 tiles of a tile row per
//! step in registers (`avx512::winograd_*_row`); the transformed tiles go out through an
//! L1 staging buffer, one ξ plane at a time in contiguous runs, and the 16 planes lie an
//! odd number of cache lines apart (`xi_stride`): written a line per plane in turn at a
//! power-of-two distance, the stores ran at half speed (docs/performance.md). Without
//! AVX-512 the scalar bodies (`*_transform_body`, the reference for the vector ones' bits)
//! run along contiguous rows (columns de-interleaved into even/odd halves first), so the
//! compiler vectorises them.
use super::gemm::{self, sgemm, View, PANEL};
use super::threads::{accumulate, with_scratch};
use super::wide::wide;
use super::ConvGeom;
use f2x5::F2x5;
use rayon::prelude::*;
use std::cell::Cell;
use std::ops::Range;

mod f2x5;

thread_local! {
    /// Per-thread transform-domain buffers, reused across calls.
    static BUF: Cell<Vec<f32>> = const { Cell::new(Vec::new()) };
}

fn with_buf<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    with_scratch(&BUF, len, f)
}

/// Whether this module computes `g`: a 3×3 or 5×5 kernel (r×r), stride 1, padding
/// ≤ r − 1 on each axis (the input gradient pads by r − 1 − p), channels on both sides
/// and a non-empty output.
pub fn supports(g: &ConvGeom) -> bool {
    let r = g.kernel[0];
    (r == 3 || r == 5)
        && g.kernel[1] == r
        && g.in_channels > 0
        && g.out_channels > 0
        && g.stride == [1, 1]
        && g.padding[0] < r
        && g.padding[1] < r
        && g.in_h + 2 * g.padding[0] >= r
        && g.in_w + 2 * g.padding[1] >= r
}

/// One Winograd algorithm F(2×2, r×r): its transforms, written for the blocking,
/// layouts and GEMMs that `forward_plan` and `backward_weights` share.
trait Transform {
    /// Kernel side r.
    const R: usize;
    /// ξ planes: (r + 1)², one GEMM each.
    const XI: usize = (Self::R + 1) * (Self::R + 1);
    /// Scratch floats the transforms need for blocks of `block_rows` tile rows of `tw`
    /// tiles.
    fn scratch_len(tw: usize, block_rows: usize) -> usize;
    /// U[ξ][o, i] = (G g Gᵀ)[ξ] for every r×r filter g = w[o, i].
    fn filters(w: &[f32], outs: usize, ins: usize) -> Vec<f32>;
    /// V[ξ][c, t] = (Bᵀ d B)[ξ] for the tiles of tile rows `rows`, laid out as `layout`.
    fn input(
        p: &Plan,
        x: &[f32],
        rows: Range<usize>,
        layout: VLayout,
        v: &mut [f32],
        scratch: &mut [f32],
    );
    /// y tiles = Aᵀ M A (+ bias, then ReLU if `relu`) for tile rows `rows`.
    #[allow(clippy::too_many_arguments)]
    fn output(
        p: &Plan,
        m: &[f32],
        rows: Range<usize>,
        bias: Option<&[f32]>,
        relu: bool,
        y: &mut [f32],
        scratch: &mut [f32],
    );
    /// DY[ξ][k, t] = (A dy Aᵀ)[ξ] for the 2×2 output tiles of tile rows `rows`.
    fn grad(p: &Plan, dy: &[f32], rows: Range<usize>, d: &mut [f32], scratch: &mut [f32]);
    /// dw = Gᵀ M G for every filter, M[ξ][o, i] summed over all tiles (`kc` = o·i).
    fn weights(m: &[f32], kc: usize, dw: &mut [f32]);
}

/// F(2×2, 3×3), the transforms of this file.
struct F2x3;

impl Transform for F2x3 {
    const R: usize = 3;
    fn scratch_len(tw: usize, _block_rows: usize) -> usize {
        scratch_len(tw)
    }
    fn filters(w: &[f32], outs: usize, ins: usize) -> Vec<f32> {
        filter_transform(w, outs, ins)
    }
    fn input(
        p: &Plan,
        x: &[f32],
        rows: Range<usize>,
        layout: VLayout,
        v: &mut [f32],
        scratch: &mut [f32],
    ) {
        input_transform(p, x, rows, layout, v, scratch)
    }
    fn output(
        p: &Plan,
        m: &[f32],
        rows: Range<usize>,
        bias: Option<&[f32]>,
        relu: bool,
        y: &mut [f32],
        scratch: &mut [f32],
    ) {
        output_transform(p, m, rows, bias, relu, y, scratch)
    }
    fn grad(p: &Plan, dy: &[f32], rows: Range<usize>, d: &mut [f32], scratch: &mut [f32]) {
        grad_transform(p, dy, rows, d, scratch)
    }
    fn weights(acc: &[f32], kc: usize, dw: &mut [f32]) {
        weights_from_transform(acc, kc, dw)
    }
}

/// One forward correlation x[n, cin, h, w] → y[n, cout, oh, ow] with an r×r kernel, in
/// 2×2 output tiles.
#[derive(Clone, Copy, Debug)]
struct Plan {
    /// Kernel side.
    r: usize,
    batch: usize,
    cin: usize,
    cout: usize,
    h: usize,
    w: usize,
    ph: usize,
    pw: usize,
    oh: usize,
    ow: usize,
    /// Tile rows and columns per image.
    th: usize,
    tw: usize,
}

impl Plan {
    #[allow(clippy::too_many_arguments)]
    fn new(
        r: usize,
        batch: usize,
        cin: usize,
        h: usize,
        w: usize,
        cout: usize,
        ph: usize,
        pw: usize,
    ) -> Plan {
        let (oh, ow) = (h + 2 * ph + 1 - r, w + 2 * pw + 1 - r);
        Plan {
            r,
            batch,
            cin,
            cout,
            h,
            w,
            ph,
            pw,
            oh,
            ow,
            th: oh.div_ceil(2),
            tw: ow.div_ceil(2),
        }
    }

    fn of(g: &ConvGeom) -> Plan {
        assert!(supports(g), "winograd: unsupported geometry {g:?}");
        Plan::new(
            g.kernel[0],
            g.batch,
            g.in_channels,
            g.in_h,
            g.in_w,
            g.out_channels,
            g.padding[0],
            g.padding[1],
        )
    }

    fn in_sz(&self) -> usize {
        self.cin * self.h * self.w
    }

    fn out_sz(&self) -> usize {
        self.cout * self.oh * self.ow
    }

    /// (images per rayon task, tile rows per block, whether tasks run in parallel).
    /// A block aims at `target` tiles: its XI·(C_in + C_out)·T transformed floats
    /// then stay near 2 MB, the L2 of one core here.
    fn blocking(&self) -> (usize, usize, bool) {
        let planes = (self.r + 1) * (self.r + 1);
        let target = block_tiles(planes * (self.cin + self.cout));
        let threads = rayon::current_num_threads();
        let parallel = threads > 1 && self.batch >= 2 * threads;
        let per_img = (self.th * self.tw).max(1);
        let most = if parallel {
            self.batch / (2 * threads)
        } else {
            self.batch
        };
        let imgs = (target / per_img).clamp(1, most.max(1));
        (imgs, (target / self.tw.max(1)).max(1), parallel)
    }
}

/// Tiles per block for `floats` transformed floats per tile, XI·(C_in + C_out)
/// (`ARCHC_WINOGRAD_TILES` overrides, for tuning).
fn block_tiles(floats: usize) -> usize {
    static FORCED: std::sync::OnceLock<Option<usize>> = std::sync::OnceLock::new();
    let forced = *FORCED.get_or_init(|| {
        std::env::var("ARCHC_WINOGRAD_TILES")
            .ok()
            .and_then(|s| s.parse().ok())
    });
    forced.unwrap_or_else(|| ((1 << 19) / floats.max(1)).clamp(64, 1024))
}

/// U[ξ][o, i] = (G g Gᵀ)[ξ] for every 3×3 filter g = w[o, i] (w is [outs, ins, 3, 3]).
fn filter_transform(w: &[f32], outs: usize, ins: usize) -> Vec<f32> {
    let mut u = vec![0.0f32; 16 * outs * ins];
    for (oi, g) in w.chunks_exact(9).enumerate() {
        // G = [[1, 0, 0], [½, ½, ½], [½, −½, ½], [0, 0, 1]]: rows first, then columns.
        let mut gg = [[0.0f32; 3]; 4];
        for c in 0..3 {
            let (a, b, d) = (g[c], g[3 + c], g[6 + c]);
            gg[0][c] = a;
            gg[1][c] = 0.5 * (a + b + d);
            gg[2][c] = 0.5 * (a - b + d);
            gg[3][c] = d;
        }
        for (r, row) in gg.iter().enumerate() {
            let [a, b, d] = *row;
            let vals = [a, 0.5 * (a + b + d), 0.5 * (a - b + d), d];
            for (c, v) in vals.into_iter().enumerate() {
                u[(r * 4 + c) * outs * ins + oi] = v;
            }
        }
    }
    u
}

/// Splits `row` (one input row, or None for a row in the padding) into the even and odd
/// columns of its left-padded version: e[k] = row[2k − pad], o[k] = row[2k + 1 − pad],
/// zero outside the row.
#[inline(always)]
fn deinterleave(row: Option<&[f32]>, pad: usize, e: &mut [f32], o: &mut [f32]) {
    let Some(row) = row else {
        e.fill(0.0);
        o.fill(0.0);
        return;
    };
    assert_eq!(e.len(), o.len());
    #[cfg(target_arch = "x86_64")]
    if super::avx512::available() {
        // SAFETY: `available` checked that the CPU has AVX-512F.
        unsafe { super::avx512::deinterleave_padded(row, pad, e, o) };
        return;
    }
    deinterleave_scalar(row, pad, e, o)
}

/// `deinterleave` of a row, one pair at a time.
#[inline(always)]
fn deinterleave_scalar(row: &[f32], pad: usize, e: &mut [f32], o: &mut [f32]) {
    let len = e.len();
    // row[2q] lands at padded column 2q + pad (k = q + k0 of `first`), row[2q + 1] at
    // 2q + 1 + pad (k = q + k1 of `second`).
    let (k0, k1) = (pad / 2, pad.div_ceil(2));
    let (first, second) = if pad.is_multiple_of(2) {
        (e, o)
    } else {
        (o, e)
    };
    let pairs = (row.len() / 2).min(len - k0).min(len - k1);
    for ((a, b), pair) in first[k0..k0 + pairs]
        .iter_mut()
        .zip(second[k1..k1 + pairs].iter_mut())
        .zip(row.chunks_exact(2))
    {
        *a = pair[0];
        *b = pair[1];
    }
    first[..k0].fill(0.0);
    second[..k1].fill(0.0);
    let mut end0 = k0 + pairs;
    if row.len() % 2 == 1 && pairs == row.len() / 2 && end0 < len {
        first[end0] = row[row.len() - 1];
        end0 += 1;
    }
    first[end0..].fill(0.0);
    second[k1 + pairs..].fill(0.0);
}

/// Where the input transform writes V[ξ][c, t] for a block of `ct` tiles.
#[derive(Clone, Copy, PartialEq, Eq)]
enum VLayout {
    /// Row-major `[16][C_in][ct]`: a plain GEMM operand (either side, any transpose).
    Rows,
    /// `[16][ct / PANEL][C_in][PANEL]`, ct rounded up to whole panels (lanes past ct
    /// zero): the right operand of `gemm::packed` as it stands, never re-packed.
    Panels,
}

impl VLayout {
    /// Floats per ξ of a block of `ct` tiles and `cin` channels.
    fn per_xi(self, cin: usize, ct: usize) -> usize {
        xi_stride(match self {
            VLayout::Rows => cin * ct,
            VLayout::Panels => gemm::packed_b_len(cin, ct),
        })
    }
}

/// Distance in floats between the 16 ξ planes of `len` floats each: rounded up to an
/// odd number of 64-byte lines, so that the transforms' 16 streams (one per ξ) fall in
/// 16 different L1 sets. At a power-of-two distance (64 → 64 channels × 256 tiles:
/// 64 KB) all 16 share one set, and every store missed L1.
fn xi_stride(len: usize) -> usize {
    let lines = len.div_ceil(16);
    16 * (lines | 1)
}

/// Scratch floats the transforms need for tile rows of `tw` tiles.
fn scratch_len(tw: usize) -> usize {
    12 * (tw + 1)
}

/// Writes `vals` as V[ξ][c, t0..t0 + vals.len()] of a block of `ct` tiles.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn store_tiles(
    layout: VLayout,
    v: &mut [f32],
    cin: usize,
    ct: usize,
    xi: usize,
    c: usize,
    t0: usize,
    vals: &[f32],
) {
    let base = xi * layout.per_xi(cin, ct);
    match layout {
        VLayout::Rows => v[base + c * ct + t0..][..vals.len()].copy_from_slice(vals),
        VLayout::Panels => {
            let (mut t, mut rest) = (t0, vals);
            while !rest.is_empty() {
                let lane = t % PANEL;
                let run = (PANEL - lane).min(rest.len());
                let at = base + ((t / PANEL) * cin + c) * PANEL + lane;
                v[at..at + run].copy_from_slice(&rest[..run]);
                t += run;
                rest = &rest[run..];
            }
        }
    }
}

/// V[ξ][c, t] = (Bᵀ d B)[ξ] for the tiles of tile rows `rows` of the images in `x`
/// (global tile row r = image·th + ty; block-local tile t = (r − rows.start)·tw + tx),
/// laid out as `layout` says. Bᵀ = [[1, 0, −1, 0], [0, 1, 1, 0], [0, −1, 1, 0], [0, 1, 0, −1]].
#[inline(always)]
fn input_transform_body(
    p: &Plan,
    x: &[f32],
    rows: std::ops::Range<usize>,
    layout: VLayout,
    v: &mut [f32],
    scratch: &mut [f32],
) {
    let tw = p.tw;
    let ct = rows.len() * tw;
    let len = tw + 1;
    let (e, rest) = scratch[..scratch_len(tw)].split_at_mut(4 * len);
    let (o, cols) = rest.split_at_mut(4 * len);
    let cols = &mut cols[..4 * tw];
    for c in 0..p.cin {
        for r in rows.clone() {
            let (n, ty) = (r / p.th, r % p.th);
            let plane = &x[(n * p.cin + c) * p.h * p.w..][..p.h * p.w];
            for a in 0..4 {
                let iy = (2 * ty + a) as isize - p.ph as isize;
                let row =
                    (iy >= 0 && (iy as usize) < p.h).then(|| &plane[iy as usize * p.w..][..p.w]);
                deinterleave(
                    row,
                    p.pw,
                    &mut e[a * len..][..len],
                    &mut o[a * len..][..len],
                );
            }
            // Bᵀ along the rows, in place: t0 = d0 − d2, t1 = d1 + d2, t2 = d2 − d1, t3 = d1 − d3.
            for buf in [&mut *e, &mut *o] {
                let (d01, d23) = buf.split_at_mut(2 * len);
                let (d0, d1) = d01.split_at_mut(len);
                let (d2, d3) = d23.split_at_mut(len);
                for k in 0..len {
                    let (a, b, c2, d) = (d0[k], d1[k], d2[k], d3[k]);
                    d0[k] = a - c2;
                    d1[k] = b + c2;
                    d2[k] = c2 - b;
                    d3[k] = b - d;
                }
            }
            // B along the columns: columns 2tx..2tx+3 are e[tx], o[tx], e[tx+1], o[tx+1].
            let t0 = (r - rows.start) * tw;
            for a in 0..4 {
                let (ea, oa) = (&e[a * len..][..len], &o[a * len..][..len]);
                {
                    let (c0, c123) = cols.split_at_mut(tw);
                    let (c1, c23) = c123.split_at_mut(tw);
                    let (c2, c3) = c23.split_at_mut(tw);
                    for tx in 0..tw {
                        c0[tx] = ea[tx] - ea[tx + 1];
                        c1[tx] = oa[tx] + ea[tx + 1];
                        c2[tx] = ea[tx + 1] - oa[tx];
                        c3[tx] = oa[tx] - oa[tx + 1];
                    }
                }
                for (b, vals) in cols.chunks_exact(tw).enumerate() {
                    store_tiles(layout, v, p.cin, ct, a * 4 + b, c, t0, vals);
                }
            }
        }
    }
    zero_panel_tails(16, p.cin, ct, layout, v);
}

/// Zeroes the last panel's lanes past ct in each of the `planes` ξ planes: never stored
/// to the output, but zero keeps stale buffer contents (denormals, NaN) out of the
/// arithmetic.
fn zero_panel_tails(planes: usize, cin: usize, ct: usize, layout: VLayout, v: &mut [f32]) {
    if layout == VLayout::Panels && !ct.is_multiple_of(PANEL) {
        let (last, lane) = (ct / PANEL, ct % PANEL);
        let per_xi = layout.per_xi(cin, ct);
        for xi in 0..planes {
            for c in 0..cin {
                let at = xi * per_xi + (last * cin + c) * PANEL;
                v[at + lane..at + PANEL].fill(0.0);
            }
        }
    }
}

/// y tiles = Aᵀ M A (+ bias) for tile rows `rows`; Aᵀ = [[1, 1, 1, 0], [0, 1, −1, −1]].
#[inline(always)]
fn output_transform_body(
    p: &Plan,
    m: &[f32],
    rows: std::ops::Range<usize>,
    bias: Option<&[f32]>,
    relu: bool,
    y: &mut [f32],
    scratch: &mut [f32],
) {
    let tw = p.tw;
    let ct = rows.len() * tw;
    let plane = xi_stride(p.cout * ct);
    let act = |v: f32| if relu { v.max(0.0) } else { v };
    let s = &mut scratch[..8 * tw];
    for k in 0..p.cout {
        let b = bias.map_or(0.0, |b| b[k]);
        for r in rows.clone() {
            let (n, ty) = (r / p.th, r % p.th);
            let t0 = (r - rows.start) * tw;
            let at = |a: usize, c: usize| &m[(a * 4 + c) * plane + k * ct + t0..][..tw];
            // Aᵀ along the rows: s[i][c] for output row i of the tile and column c of M.
            for c in 0..4 {
                let (m0, m1, m2, m3) = (at(0, c), at(1, c), at(2, c), at(3, c));
                let (s0, s1) = s.split_at_mut(4 * tw);
                let (s0, s1) = (&mut s0[c * tw..][..tw], &mut s1[c * tw..][..tw]);
                for tx in 0..tw {
                    s0[tx] = m0[tx] + m1[tx] + m2[tx];
                    s1[tx] = m1[tx] - m2[tx] - m3[tx];
                }
            }
            for i in 0..2 {
                let oy = 2 * ty + i;
                if oy >= p.oh {
                    continue;
                }
                let si = &s[i * 4 * tw..][..4 * tw];
                let (c0, c1, c2, c3) = (
                    &si[..tw],
                    &si[tw..2 * tw],
                    &si[2 * tw..3 * tw],
                    &si[3 * tw..],
                );
                let yrow = &mut y[((n * p.cout + k) * p.oh + oy) * p.ow..][..p.ow];
                let mut pairs = yrow.chunks_exact_mut(2);
                for (tx, pair) in (&mut pairs).enumerate() {
                    pair[0] = act(c0[tx] + c1[tx] + c2[tx] + b);
                    pair[1] = act(c1[tx] - c2[tx] - c3[tx] + b);
                }
                if let [last] = pairs.into_remainder() {
                    let tx = tw - 1;
                    *last = act(c0[tx] + c1[tx] + c2[tx] + b);
                }
            }
        }
    }
}

/// DY[ξ][k, t] = (A dy Aᵀ)[ξ] for the 2×2 output tiles of tile rows `rows` (zero beyond
/// the output); A = [[1, 0], [1, 1], [1, −1], [0, −1]].
#[inline(always)]
fn grad_transform_body(
    p: &Plan,
    dy: &[f32],
    rows: std::ops::Range<usize>,
    d: &mut [f32],
    scratch: &mut [f32],
) {
    let tw = p.tw;
    let ct = rows.len() * tw;
    let d_plane = xi_stride(p.cout * ct);
    let (e, o) = scratch[..4 * tw].split_at_mut(2 * tw);
    for k in 0..p.cout {
        for r in rows.clone() {
            let (n, ty) = (r / p.th, r % p.th);
            let plane = &dy[(n * p.cout + k) * p.oh * p.ow..][..p.oh * p.ow];
            for i in 0..2 {
                let oy = 2 * ty + i;
                let row = (oy < p.oh).then(|| &plane[oy * p.ow..][..p.ow]);
                deinterleave(row, 0, &mut e[i * tw..][..tw], &mut o[i * tw..][..tw]);
            }
            let at = k * ct + (r - rows.start) * tw;
            let (e0, e1) = e.split_at(tw);
            let (o0, o1) = o.split_at(tw);
            // A along the rows: v0 = d0, v1 = d0 + d1, v2 = d0 − d1, v3 = −d1; then along
            // the columns the same with (even, odd) for (d0, d1). One loop per row of A,
            // each with its own combination, so that every loop vectorises.
            for (a, quad) in d.chunks_mut(4 * d_plane).take(4).enumerate() {
                let (q0, q123) = quad.split_at_mut(d_plane);
                let (q1, q23) = q123.split_at_mut(d_plane);
                let (q2, q3) = q23.split_at_mut(d_plane);
                let out = [
                    &mut q0[at..at + tw],
                    &mut q1[at..at + tw],
                    &mut q2[at..at + tw],
                    &mut q3[at..at + tw],
                ];
                let src = (e0, e1, o0, o1);
                match a {
                    0 => grad_columns(|x0, _| x0, src, out),
                    1 => grad_columns(|x0, x1| x0 + x1, src, out),
                    2 => grad_columns(|x0, x1| x0 - x1, src, out),
                    _ => grad_columns(|_, x1| -x1, src, out),
                }
            }
        }
    }
}

/// One row `vert` of A applied to the even and odd columns of a pair of dy rows, then A
/// along the columns into the four outputs.
#[inline(always)]
fn grad_columns(
    vert: impl Fn(f32, f32) -> f32,
    (e0, e1, o0, o1): (&[f32], &[f32], &[f32], &[f32]),
    [d0, d1, d2, d3]: [&mut [f32]; 4],
) {
    let tw = d0.len();
    let (e0, e1, o0, o1) = (&e0[..tw], &e1[..tw], &o0[..tw], &o1[..tw]);
    let (d1, d2, d3) = (&mut d1[..tw], &mut d2[..tw], &mut d3[..tw]);
    for tx in 0..tw {
        let (ve, vo) = (vert(e0[tx], e1[tx]), vert(o0[tx], o1[tx]));
        d0[tx] = ve;
        d1[tx] = ve + vo;
        d2[tx] = ve - vo;
        d3[tx] = -vo;
    }
}

/// `input_transform_body`, with each tile row transformed in AVX-512 registers
/// (`avx512::winograd_input_row`, 16 tiles at a time) where the CPU has it.
///
/// The tiles go first into a staging buffer that stays in L1, then out to V one ξ plane
/// at a time in contiguous runs of 1 KB. Written straight to V, the 16 planes took one
/// line each per call, interleaved: that store pattern ran at half the rate of
/// sequential runs, and the transform took longer than its GEMMs.
fn input_transform(
    p: &Plan,
    x: &[f32],
    rows: std::ops::Range<usize>,
    layout: VLayout,
    v: &mut [f32],
    scratch: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    if super::avx512::available() {
        let ct = rows.len() * p.tw;
        let per_xi = layout.per_xi(p.cin, ct);
        let mut stage = [0.0f32; 16 * STAGE];
        match layout {
            VLayout::Rows => staged_rows(p.cin, ct, per_xi, v, |c, tiles, stage| {
                stage_tiles(p, x, rows.start, c, tiles, stage, STAGE)
            }),
            // V[ξ][panel][c][lane]: per panel, groups of STAGE / PANEL channels, whose
            // rows of the panel lie one after another.
            VLayout::Panels => {
                let group = STAGE / PANEL;
                for t0 in (0..ct).step_by(PANEL) {
                    let len = PANEL.min(ct - t0);
                    for c0 in (0..p.cin).step_by(group) {
                        let cs = group.min(p.cin - c0);
                        for c in c0..c0 + cs {
                            let at = (c - c0) * PANEL;
                            let tiles = t0..t0 + len;
                            stage_tiles(p, x, rows.start, c, tiles, &mut stage[at..], STAGE);
                            // Lanes past ct stay zero: never stored to the output, but
                            // zero keeps stale values (denormals, NaN) out of the GEMM.
                            for xi in 0..16 {
                                stage[xi * STAGE + at + len..][..PANEL - len].fill(0.0);
                            }
                        }
                        let at = (t0 / PANEL * p.cin + c0) * PANEL;
                        for xi in 0..16 {
                            v[xi * per_xi + at..][..cs * PANEL]
                                .copy_from_slice(&stage[xi * STAGE..][..cs * PANEL]);
                        }
                    }
                }
            }
        }
        return;
    }
    input_transform_body(p, x, rows, layout, v, scratch)
}

/// Writes `[16][channels][ct]` data (planes `plane` floats apart) through a staging
/// buffer in L1: `fill(c, tiles, stage)` puts ξ of tile t of channel c at
/// `stage[ξ · STAGE + t − tiles.start]`, and each ξ's run then goes out contiguously.
#[cfg(target_arch = "x86_64")]
fn staged_rows(
    channels: usize,
    ct: usize,
    plane: usize,
    out: &mut [f32],
    mut fill: impl FnMut(usize, std::ops::Range<usize>, &mut [f32]),
) {
    let mut stage = [0.0f32; 16 * STAGE];
    for c in 0..channels {
        for t0 in (0..ct).step_by(STAGE) {
            let len = STAGE.min(ct - t0);
            fill(c, t0..t0 + len, &mut stage);
            for xi in 0..16 {
                out[xi * plane + c * ct + t0..][..len].copy_from_slice(&stage[xi * STAGE..][..len]);
            }
        }
    }
}

/// Tiles per ξ in `input_transform`'s staging buffer: 16 · 256 floats = 16 KB, in L1.
#[cfg(target_arch = "x86_64")]
const STAGE: usize = 256;

/// Transforms block tiles `tiles` (block-local, the block starting at global tile row
/// `row0`) of channel `c` into `out[ξ · xi_stride + t − tiles.start]`.
#[cfg(target_arch = "x86_64")]
fn stage_tiles(
    p: &Plan,
    x: &[f32],
    row0: usize,
    c: usize,
    tiles: std::ops::Range<usize>,
    out: &mut [f32],
    xi_stride: usize,
) {
    // The four input rows of global tile row r.
    let rows_of = |r: usize| {
        let (n, ty) = (r / p.th, r % p.th);
        let plane = &x[(n * p.cin + c) * p.h * p.w..][..p.h * p.w];
        let row = |a: usize| {
            let iy = (2 * ty + a) as isize - p.ph as isize;
            (iy >= 0 && (iy as usize) < p.h).then(|| &plane[iy as usize * p.w..][..p.w])
        };
        [row(0), row(1), row(2), row(3)]
    };
    let mut t = tiles.start;
    while t < tiles.end {
        let (r, tx) = (row0 + t / p.tw, t % p.tw);
        let at = t - tiles.start;
        // SAFETY (both calls): `input_transform` calls this only where AVX-512F is
        // available.
        if p.tw <= 8 && tx == 0 && tiles.end - t >= 2 * p.tw {
            let (first, second) = (rows_of(r), rows_of(r + 1));
            unsafe {
                super::avx512::winograd_input_row_pair(
                    first,
                    second,
                    p.pw,
                    p.tw,
                    &mut out[at..],
                    xi_stride,
                )
            };
            t += 2 * p.tw;
        } else {
            let txs = tx..p.tw.min(tx + tiles.end - t);
            t += txs.len();
            unsafe {
                super::avx512::winograd_input_row(rows_of(r), p.pw, txs, &mut out[at..], xi_stride)
            };
        }
    }
}

/// `output_transform_body`, 16 tiles at a time in AVX-512 registers
/// (`avx512::winograd_output_row`) where the CPU has it.
fn output_transform(
    p: &Plan,
    m: &[f32],
    rows: std::ops::Range<usize>,
    bias: Option<&[f32]>,
    relu: bool,
    y: &mut [f32],
    scratch: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    if super::avx512::available() {
        let ct = rows.len() * p.tw;
        let plane = xi_stride(p.cout * ct);
        for k in 0..p.cout {
            let b = bias.map_or(0.0, |b| b[k]);
            for r in rows.clone() {
                let (n, ty) = (r / p.th, r % p.th);
                let t0 = (r - rows.start) * p.tw;
                let out = &mut y[((n * p.cout + k) * p.oh + 2 * ty) * p.ow..];
                let (top, rest) = out.split_at_mut(p.ow);
                let bottom = (2 * ty + 1 < p.oh).then(|| &mut rest[..p.ow]);
                // SAFETY: `available` checked that the CPU has AVX-512F.
                unsafe {
                    super::avx512::winograd_output_row(
                        &m[k * ct + t0..],
                        plane,
                        p.tw,
                        b,
                        relu,
                        top,
                        bottom,
                    )
                };
            }
        }
        return;
    }
    wide!({ output_transform_body(p, m, rows, bias, relu, y, scratch) })
}

/// `grad_transform_body`, 16 tiles at a time in AVX-512 registers
/// (`avx512::winograd_grad_row`, staged like the input transform) where the CPU has it.
fn grad_transform(
    p: &Plan,
    dy: &[f32],
    rows: std::ops::Range<usize>,
    d: &mut [f32],
    scratch: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    if super::avx512::available() {
        let ct = rows.len() * p.tw;
        let plane = xi_stride(p.cout * ct);
        staged_rows(p.cout, ct, plane, d, |k, tiles, stage| {
            let mut t = tiles.start;
            while t < tiles.end {
                let (r, tx) = (rows.start + t / p.tw, t % p.tw);
                let txs = tx..p.tw.min(tx + tiles.end - t);
                let (n, ty) = (r / p.th, r % p.th);
                let out = &dy[(n * p.cout + k) * p.oh * p.ow..][..p.oh * p.ow];
                let row =
                    |i: usize| (2 * ty + i < p.oh).then(|| &out[(2 * ty + i) * p.ow..][..p.ow]);
                let at = t - tiles.start;
                t += txs.len();
                // SAFETY: `available` checked that the CPU has AVX-512F.
                unsafe {
                    super::avx512::winograd_grad_row([row(0), row(1)], txs, &mut stage[at..], STAGE)
                };
            }
        });
        return;
    }
    wide!({ grad_transform_body(p, dy, rows, d, scratch) })
}

/// The transformed filters U[ξ][C_out, C_in] as the XI GEMMs take them: packed once per
/// call for `gemm::packed` where that is available, else row-major for `sgemm`.
struct Filters {
    data: Vec<f32>,
    /// Floats per ξ.
    stride: usize,
    packed: bool,
}

impl Filters {
    /// Transforms (and packs) the filters w[outs, ins, r, r].
    fn new<T: Transform>(w: &[f32], outs: usize, ins: usize) -> Filters {
        let u = T::filters(w, outs, ins);
        let plain = outs * ins;
        if !gemm::packed_available() {
            return Filters {
                data: u,
                stride: plain,
                packed: false,
            };
        }
        let stride = gemm::packed_a_len(outs, ins);
        let mut data = vec![0.0f32; T::XI * stride];
        for (src, dst) in u.chunks_exact(plain).zip(data.chunks_exact_mut(stride)) {
            gemm::pack_a(outs, ins, View::row_major(src, ins, false), dst);
        }
        Filters {
            data,
            stride,
            packed: true,
        }
    }

    fn xi(&self, xi: usize) -> &[f32] {
        &self.data[xi * self.stride..][..self.stride]
    }
}

/// y = correlation of x with the transformed filters `u` (+ bias), for plan `p`.
/// `relu`: y = max(0, ·), applied as the tiles are written (one pass over y less).
fn forward_plan<T: Transform>(
    p: &Plan,
    x: &[f32],
    u: &Filters,
    bias: Option<&[f32]>,
    relu: bool,
    y: &mut [f32],
) {
    if y.is_empty() {
        return;
    }
    let (imgs, block_rows, parallel) = p.blocking();
    let layout = if u.packed {
        VLayout::Panels
    } else {
        VLayout::Rows
    };
    let max_ct = block_rows * p.tw;
    let scratch_len = T::scratch_len(p.tw, block_rows);
    let buf_len = T::XI * (layout.per_xi(p.cin, max_ct) + xi_stride(p.cout * max_ct)) + scratch_len;
    let task = |xg: &[f32], yg: &mut [f32], par_gemm: bool| {
        let total_rows = (xg.len() / p.in_sz().max(1)) * p.th;
        with_buf(buf_len, |buf| {
            for r0 in (0..total_rows).step_by(block_rows) {
                let rows = r0..(r0 + block_rows).min(total_rows);
                let ct = rows.len() * p.tw;
                let per_xi = layout.per_xi(p.cin, ct);
                let (v, rest) = buf.split_at_mut(T::XI * per_xi);
                let m_plane = xi_stride(p.cout * ct);
                let (m, rest) = rest.split_at_mut(T::XI * m_plane);
                let skip = rest.len() - scratch_len;
                let scratch = &mut rest[skip..];
                T::input(p, xg, rows.clone(), layout, v, scratch);
                let v = &*v;
                let product = |xi: usize, mx: &mut [f32]| {
                    let vx = &v[xi * per_xi..][..per_xi];
                    if u.packed {
                        gemm::packed(p.cout, p.cin, ct, u.xi(xi), vx, mx, ct, false);
                    } else {
                        let uv = View::row_major(u.xi(xi), p.cin, false);
                        let vv = View::row_major(vx, ct, false);
                        sgemm(p.cout, p.cin, ct, uv, vv, mx, ct, false, par_gemm);
                    }
                };
                // Sequential tasks (small batches) spread the XI products over the
                // threads; the unpacked GEMM splits each product itself.
                if u.packed && par_gemm && gemm::parallel_worthwhile(T::XI * p.cout, p.cin, ct) {
                    m.par_chunks_mut(m_plane)
                        .enumerate()
                        .for_each(|(xi, mx)| product(xi, mx));
                } else {
                    for (xi, mx) in m.chunks_mut(m_plane).enumerate() {
                        product(xi, mx);
                    }
                }
                T::output(p, m, rows, bias, relu, yg, scratch);
            }
        })
    };
    let (in_g, out_g) = (imgs * p.in_sz(), imgs * p.out_sz());
    if parallel {
        y.par_chunks_mut(out_g)
            .zip(x.par_chunks(in_g))
            .for_each(|(yg, xg)| task(xg, yg, false));
    } else {
        for (yg, xg) in y.chunks_mut(out_g).zip(x.chunks(in_g)) {
            task(xg, yg, true);
        }
    }
}

fn check_lens(g: &ConvGeom, x: usize, w: usize, y: usize) {
    let (oh, ow) = (g.out_h(), g.out_w());
    assert_eq!(
        x,
        g.batch * g.in_channels * g.in_h * g.in_w,
        "conv: input length"
    );
    let taps = g.kernel[0] * g.kernel[1];
    assert_eq!(
        w,
        g.out_channels * g.in_channels * taps,
        "conv: weight length"
    );
    assert_eq!(y, g.batch * g.out_channels * oh * ow, "conv: output length");
}

/// y = conv(x, w) + bias, then max(0, ·) if `relu`.
pub fn forward(g: &ConvGeom, x: &[f32], w: &[f32], bias: &[f32], relu: bool, y: &mut [f32]) {
    match g.kernel[0] {
        3 => forward_with::<F2x3>(g, x, w, bias, relu, y),
        _ => forward_with::<F2x5>(g, x, w, bias, relu, y),
    }
}

/// dx = ∂L/∂x given dy (overwrites dx).
pub fn backward_input(g: &ConvGeom, dy: &[f32], w: &[f32], dx: &mut [f32]) {
    match g.kernel[0] {
        3 => backward_input_with::<F2x3>(g, dy, w, dx),
        _ => backward_input_with::<F2x5>(g, dy, w, dx),
    }
}

/// dw, dbias = ∂L/∂w, ∂L/∂bias summed over the batch (overwrites both).
pub fn backward_weights(g: &ConvGeom, x: &[f32], dy: &[f32], dw: &mut [f32], dbias: &mut [f32]) {
    match g.kernel[0] {
        3 => backward_weights_with::<F2x3>(g, x, dy, dw, dbias),
        _ => backward_weights_with::<F2x5>(g, x, dy, dw, dbias),
    }
}

fn forward_with<T: Transform>(
    g: &ConvGeom,
    x: &[f32],
    w: &[f32],
    bias: &[f32],
    relu: bool,
    y: &mut [f32],
) {
    let p = Plan::of(g);
    check_lens(g, x.len(), w.len(), y.len());
    assert_eq!(bias.len(), g.out_channels, "conv: bias length");
    let u = Filters::new::<T>(w, p.cout, p.cin);
    forward_plan::<T>(&p, x, &u, Some(bias), relu, y)
}

fn backward_input_with<T: Transform>(g: &ConvGeom, dy: &[f32], w: &[f32], dx: &mut [f32]) {
    let p = Plan::of(g);
    check_lens(g, dx.len(), w.len(), dy.len());
    // dx = correlation of dy (padded by r − 1 − p) with w'[ci, co] = w[co, ci] rotated 180°.
    let (cin, cout, taps) = (p.cin, p.cout, p.r * p.r);
    let mut flipped = vec![0.0f32; w.len()];
    for co in 0..cout {
        for ci in 0..cin {
            let src = &w[(co * cin + ci) * taps..][..taps];
            let dst = &mut flipped[(ci * cout + co) * taps..][..taps];
            for (d, s) in dst.iter_mut().zip(src.iter().rev()) {
                *d = *s;
            }
        }
    }
    let (bh, bw) = (p.r - 1 - p.ph, p.r - 1 - p.pw);
    let back = Plan::new(p.r, p.batch, cout, p.oh, p.ow, cin, bh, bw);
    debug_assert_eq!((back.oh, back.ow), (p.h, p.w));
    let u = Filters::new::<T>(&flipped, cin, cout);
    forward_plan::<T>(&back, dy, &u, None, false, dx)
}

fn backward_weights_with<T: Transform>(
    g: &ConvGeom,
    x: &[f32],
    dy: &[f32],
    dw: &mut [f32],
    dbias: &mut [f32],
) {
    let p = Plan::of(g);
    check_lens(g, x.len(), dw.len(), dy.len());
    assert_eq!(dbias.len(), g.out_channels, "conv: bias gradient length");
    let plane = p.oh * p.ow;
    super::conv::bias_grad_per_channel(dy, plane, dbias);
    let kc = p.cout * p.cin;
    let acc_len = T::XI * kc;
    if p.batch == 0 || plane == 0 || acc_len == 0 {
        dw.fill(0.0);
        return;
    }
    let (imgs, block_rows, parallel) = p.blocking();
    let max_ct = block_rows * p.tw;
    let scratch_len = T::scratch_len(p.tw, block_rows);
    let v_len = |ct: usize| T::XI * VLayout::Rows.per_xi(p.cin, ct);
    let buf_len = v_len(max_ct) + T::XI * xi_stride(p.cout * max_ct) + scratch_len;
    // Adds the images imgs·gi.. of group gi to acc[ξ][k, c].
    let task = |gi: usize, acc: &mut [f32], par_gemm: bool| {
        let n0 = gi * imgs;
        let n1 = (n0 + imgs).min(p.batch);
        let xg = &x[n0 * p.in_sz()..n1 * p.in_sz()];
        let dyg = &dy[n0 * p.out_sz()..n1 * p.out_sz()];
        let total_rows = (n1 - n0) * p.th;
        with_buf(buf_len, |buf| {
            for r0 in (0..total_rows).step_by(block_rows) {
                let rows = r0..(r0 + block_rows).min(total_rows);
                let ct = rows.len() * p.tw;
                let per_xi = VLayout::Rows.per_xi(p.cin, ct);
                let (v, rest) = buf.split_at_mut(v_len(ct));
                let d_plane = xi_stride(p.cout * ct);
                let (d, rest) = rest.split_at_mut(T::XI * d_plane);
                let skip = rest.len() - scratch_len;
                let scratch = &mut rest[skip..];
                T::input(&p, xg, rows.clone(), VLayout::Rows, v, scratch);
                T::grad(&p, dyg, rows, d, scratch);
                for xi in 0..T::XI {
                    let dv = View::row_major(&d[xi * d_plane..][..p.cout * ct], ct, false);
                    let vt = View::row_major(&v[xi * per_xi..][..p.cin * ct], ct, true);
                    let ax = &mut acc[xi * kc..][..kc];
                    sgemm(p.cout, ct, p.cin, dv, vt, ax, p.cin, true, par_gemm);
                }
            }
        })
    };
    let groups = p.batch.div_ceil(imgs);
    let acc = accumulate(groups, acc_len, parallel, 1, task);
    T::weights(&acc, kc, dw)
}

/// dw = Gᵀ M G with Gᵀ = [[1, ½, ½, 0], [0, ½, −½, 0], [0, ½, ½, 1]].
fn weights_from_transform(acc: &[f32], kc: usize, dw: &mut [f32]) {
    for (i, out) in dw.chunks_exact_mut(9).enumerate() {
        let m = |a: usize, b: usize| acc[(a * 4 + b) * kc + i];
        let mut rows = [[0.0f32; 4]; 3];
        for (b, _) in [(); 4].iter().enumerate() {
            let (m0, m1, m2, m3) = (m(0, b), m(1, b), m(2, b), m(3, b));
            rows[0][b] = m0 + 0.5 * (m1 + m2);
            rows[1][b] = 0.5 * (m1 - m2);
            rows[2][b] = 0.5 * (m1 + m2) + m3;
        }
        for (r, q) in rows.iter().enumerate() {
            out[r * 3] = q[0] + 0.5 * (q[1] + q[2]);
            out[r * 3 + 1] = 0.5 * (q[1] - q[2]);
            out[r * 3 + 2] = 0.5 * (q[1] + q[2]) + q[3];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic values of mixed signs and magnitudes (0.001 to 1000), whose sums
    /// round: a different order of summation changes their bits.
    fn values(len: usize, seed: u32) -> Vec<f32> {
        let mut s = seed.wrapping_mul(2_654_435_761) | 1;
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s >> 8) as f32 / (1 << 24) as f32
        };
        (0..len)
            .map(|_| (next() - 0.5) * 10f32.powf(6.0 * next() - 3.0))
            .collect()
    }

    /// The AVX-512 transforms (input, output and weight-gradient rows) take their
    /// sums in the scalar bodies' order: the same bits, on odd sizes, partial panels and
    /// staging spans that break mid-row.
    #[test]
    fn vector_transforms_give_the_scalar_bits() {
        if !gemm::packed_available() {
            return;
        }
        // (batch, cin, h, w, cout, pad): 17 tiles per row (panels and 16-tile steps
        // break mid-row), an odd output width, padding 0 and 2, over 256 tiles, rows of
        // ≤ 8 tiles (transformed two rows at a time).
        for (batch, cin, h, w, cout, pad) in [
            (2, 11, 33, 34, 5, 1),
            (1, 3, 9, 12, 17, 0),
            (3, 9, 14, 13, 2, 2),
            // 5 tile rows of 5 tiles: pairs of rows, one left over, panels mid-pair.
            (3, 5, 10, 10, 3, 1),
        ] {
            let p = Plan::new(3, batch, cin, h, w, cout, pad, pad);
            let x = values(p.batch * p.in_sz(), 1);
            let rows = 0..p.batch * p.th;
            let ct = rows.len() * p.tw;
            let mut scratch = vec![0.0; scratch_len(p.tw)];
            for layout in [VLayout::Rows, VLayout::Panels] {
                let len = 16 * layout.per_xi(p.cin, ct);
                let (mut fast, mut slow) = (vec![f32::NAN; len], vec![f32::NAN; len]);
                input_transform(&p, &x, rows.clone(), layout, &mut fast, &mut scratch);
                input_transform_body(&p, &x, rows.clone(), layout, &mut slow, &mut scratch);
                let same = fast
                    .iter()
                    .zip(&slow)
                    .all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(same, "input transform differs, plan {p:?}");
            }
            // The weight gradient's transform of dy (the output-sized input here).
            let dy = values(p.batch * p.out_sz(), 4);
            let len = 16 * xi_stride(p.cout * ct);
            let (mut fast, mut slow) = (vec![f32::NAN; len], vec![f32::NAN; len]);
            grad_transform(&p, &dy, rows.clone(), &mut fast, &mut scratch);
            grad_transform_body(&p, &dy, rows.clone(), &mut slow, &mut scratch);
            let same = fast
                .iter()
                .zip(&slow)
                .all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same, "grad transform differs, plan {p:?}");
            let m = values(16 * xi_stride(p.cout * ct), 2);
            let bias = values(p.cout, 3);
            for relu in [false, true] {
                let len = p.batch * p.out_sz();
                let (mut fast, mut slow) = (vec![0.0; len], vec![0.0; len]);
                let (r, b) = (rows.clone(), Some(&bias[..]));
                output_transform(&p, &m, r.clone(), b, relu, &mut fast, &mut scratch);
                output_transform_body(&p, &m, r, b, relu, &mut slow, &mut scratch);
                let same = fast
                    .iter()
                    .zip(&slow)
                    .all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(same, "output transform differs, plan {p:?}, relu {relu}");
            }
        }
    }
}
