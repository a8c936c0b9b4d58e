//! The transforms of Winograd F(2×2, 5×5): each 2×2 output tile comes from a 6×6 input
//! tile, so the products over channels become 36 GEMMs, 9 multiplies per output and
//! channel pair instead of 25 (2.8× fewer flops).
//!
//! The matrices are Toom-Cook's at the points 0, 1, −1, 2, −2 and ∞, as printed by
//! `python3 scripts/winograd_matrices.py 2 5 0,1,-1,2,-2`. Bᵀ and Aᵀ hold small integers,
//! so the input and output transforms round only their sums; G holds sixths and
//! twenty-fourths, rounded once per filter.
//!
//! Every step is a loop over contiguous slices that the compiler vectorises: each input
//! row is split into its even and odd columns (`deinterleave`), so that column b of tile
//! tx, 2·tx + b, is element tx + b/2 of one of the two halves, and the steps down the
//! rows run over all the tiles of an image's tile rows in the block at once.
#[cfg(target_arch = "x86_64")]
use super::super::wide_available;
use super::{deinterleave, xi_stride, zero_panel_tails, Plan, Transform, VLayout, PANEL};
use std::ops::Range;

/// Input tile side α = m + r − 1.
const A: usize = 6;

/// Aᵀ (2×6): output i of a tile is Σ_j AT[i][j]·M[j]. `at_rows` and `a_rows` spell its
/// rows out, `bt_rows` those of Bᵀ; the tests check them against these matrices.
#[cfg(test)]
const AT: [[f32; A]; 2] = [[1., 1., 1., 1., 1., 0.], [0., 1., -1., 2., -2., 1.]];

/// G (6×5): the filter transform, U = G g Gᵀ.
const G: [[f32; 5]; A] = [
    [1. / 4., 0., 0., 0., 0.],
    [-1. / 6., -1. / 6., -1. / 6., -1. / 6., -1. / 6.],
    [-1. / 6., 1. / 6., -1. / 6., 1. / 6., -1. / 6.],
    [1. / 24., 1. / 12., 1. / 6., 1. / 3., 2. / 3.],
    [1. / 24., -1. / 12., 1. / 6., -1. / 3., 2. / 3.],
    [0., 0., 0., 0., 1.],
];

/// Bᵀ (6×6): the input transform, V = Bᵀ d B.
#[cfg(test)]
const BT: [[f32; A]; A] = [
    [4., 0., -5., 0., 1., 0.],
    [0., -4., -4., 1., 1., 0.],
    [0., 4., -4., -1., 1., 0.],
    [0., -2., -1., 2., 1., 0.],
    [0., 2., -1., -2., 1., 0.],
    [0., 4., 0., -5., 0., 1.],
];

// The three kernels below take each slice as a parameter of its own: references are
// `noalias` as parameters (and stay so when inlined), not inside an array, and without
// that LLVM left the loops scalar (it cannot prove twelve slices apart at run time).

/// The rows of Bᵀ over six slices: out[i][t] = Σ_a BT[i][a]·d[a][t], in one pass.
#[inline(always)]
fn bt_rows(d: [&[f32]; A], out: [&mut [f32]; A]) {
    let [o0, o1, o2, o3, o4, o5] = out;
    let [d0, d1, d2, d3, d4, d5] = d;
    bt_rows_apart(d0, d1, d2, d3, d4, d5, o0, o1, o2, o3, o4, o5)
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn bt_rows_apart(
    d0: &[f32],
    d1: &[f32],
    d2: &[f32],
    d3: &[f32],
    d4: &[f32],
    d5: &[f32],
    o0: &mut [f32],
    o1: &mut [f32],
    o2: &mut [f32],
    o3: &mut [f32],
    o4: &mut [f32],
    o5: &mut [f32],
) {
    let n = o0.len();
    let (o1, o2, o3, o4, o5) = (
        &mut o1[..n],
        &mut o2[..n],
        &mut o3[..n],
        &mut o4[..n],
        &mut o5[..n],
    );
    let (d0, d1, d2, d3, d4, d5) = (&d0[..n], &d1[..n], &d2[..n], &d3[..n], &d4[..n], &d5[..n]);
    for t in 0..n {
        let (a0, a1, a2, a3, a4, a5) = (d0[t], d1[t], d2[t], d3[t], d4[t], d5[t]);
        o0[t] = 4.0 * a0 - 5.0 * a2 + a4;
        o1[t] = -4.0 * a1 - 4.0 * a2 + a3 + a4;
        o2[t] = 4.0 * a1 - 4.0 * a2 - a3 + a4;
        o3[t] = -2.0 * a1 - a2 + 2.0 * a3 + a4;
        o4[t] = 2.0 * a1 - a2 - 2.0 * a3 + a4;
        o5[t] = 4.0 * a1 - 5.0 * a3 + a5;
    }
}

/// The rows of Aᵀ over six slices: out[i][t] = Σ_a AT[i][a]·m[a][t].
#[inline(always)]
fn at_rows(m: [&[f32]; A], out: [&mut [f32]; 2]) {
    let [o0, o1] = out;
    let [m0, m1, m2, m3, m4, m5] = m;
    at_rows_apart(m0, m1, m2, m3, m4, m5, o0, o1)
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn at_rows_apart(
    m0: &[f32],
    m1: &[f32],
    m2: &[f32],
    m3: &[f32],
    m4: &[f32],
    m5: &[f32],
    o0: &mut [f32],
    o1: &mut [f32],
) {
    let n = o0.len();
    let o1 = &mut o1[..n];
    let (m0, m1, m2, m3, m4, m5) = (&m0[..n], &m1[..n], &m2[..n], &m3[..n], &m4[..n], &m5[..n]);
    for t in 0..n {
        o0[t] = m0[t] + m1[t] + m2[t] + m3[t] + m4[t];
        o1[t] = m1[t] - m2[t] + 2.0 * m3[t] - 2.0 * m4[t] + m5[t];
    }
}

/// The columns of Aᵀ (the rows of A) over two slices: out[a][t] = Σ_i AT[i][a]·g[i][t].
#[inline(always)]
fn a_rows(g: [&[f32]; 2], out: [&mut [f32]; A]) {
    let [o0, o1, o2, o3, o4, o5] = out;
    a_rows_apart(g[0], g[1], o0, o1, o2, o3, o4, o5)
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn a_rows_apart(
    g0: &[f32],
    g1: &[f32],
    o0: &mut [f32],
    o1: &mut [f32],
    o2: &mut [f32],
    o3: &mut [f32],
    o4: &mut [f32],
    o5: &mut [f32],
) {
    let n = o0.len();
    let (o1, o2, o3, o4, o5) = (
        &mut o1[..n],
        &mut o2[..n],
        &mut o3[..n],
        &mut o4[..n],
        &mut o5[..n],
    );
    let (g0, g1) = (&g0[..n], &g1[..n]);
    for t in 0..n {
        let (e, o) = (g0[t], g1[t]);
        o0[t] = e;
        o1[t] = e + o;
        o2[t] = e - o;
        o3[t] = e + 2.0 * o;
        o4[t] = e - 2.0 * o;
        o5[t] = o;
    }
}

// The helpers below spell their arrays out: `std::array::from_fn` and `<[T; N]>::map`
// stayed out of line in the AVX-512 bodies (7 % of a step in a perf profile).

/// [f(0), …, f(5)].
#[inline(always)]
fn six<T>(f: impl Fn(usize) -> T) -> [T; A] {
    [f(0), f(1), f(2), f(3), f(4), f(5)]
}

/// [f(0), f(1)].
#[inline(always)]
fn two<T>(f: impl Fn(usize) -> T) -> [T; 2] {
    [f(0), f(1)]
}

/// The `len` floats at `start` of what is left of a buffer (`rest`, which begins at
/// `pos` of the buffer; `start ≥ pos`), leaving what follows them.
#[inline(always)]
fn take_at<'a>(
    rest: &mut &'a mut [f32],
    pos: &mut usize,
    start: usize,
    len: usize,
) -> &'a mut [f32] {
    let tail = std::mem::take(rest);
    let (slice, tail) = tail[start - *pos..].split_at_mut(len);
    (*rest, *pos) = (tail, start + len);
    slice
}

/// `len` floats of `buf` at each of six increasing `starts`, `len` or more apart, all
/// mutable at once.
#[inline(always)]
fn six_mut(buf: &mut [f32], starts: [usize; A], len: usize) -> [&mut [f32]; A] {
    let (mut rest, mut pos) = (buf, 0);
    let [s0, s1, s2, s3, s4, s5] = starts;
    [
        take_at(&mut rest, &mut pos, s0, len),
        take_at(&mut rest, &mut pos, s1, len),
        take_at(&mut rest, &mut pos, s2, len),
        take_at(&mut rest, &mut pos, s3, len),
        take_at(&mut rest, &mut pos, s4, len),
        take_at(&mut rest, &mut pos, s5, len),
    ]
}

/// `six_mut` for two slices.
#[inline(always)]
fn two_mut(buf: &mut [f32], starts: [usize; 2], len: usize) -> [&mut [f32]; 2] {
    let (mut rest, mut pos) = (buf, 0);
    [
        take_at(&mut rest, &mut pos, starts[0], len),
        take_at(&mut rest, &mut pos, starts[1], len),
    ]
}

/// The tile rows of `rows` (global tile row r = image·th + ty) split by image:
/// (image, its tile rows, block-local index of the first tile).
fn image_segments(
    p: &Plan,
    rows: Range<usize>,
) -> impl Iterator<Item = (usize, Range<usize>, usize)> {
    let (th, tw, start) = (p.th, p.tw, rows.start);
    let mut r = rows.start;
    std::iter::from_fn(move || {
        if r >= rows.end {
            return None;
        }
        let (n, ty) = (r / th, r % th);
        let len = (th - ty).min(rows.end - r);
        let segment = (n, ty..ty + len, (r - start) * tw);
        r += len;
        Some(segment)
    })
}

/// `Transform::input`. Per channel and image: B along each padded input row ρ once (a
/// row serves three tile rows), into U[ρ mod 2][j][ρ / 2][tx]; then Bᵀ down the rows,
/// where row a of tile row ty is ρ = 2·ty + a, i.e. the rows of one parity are one
/// contiguous run over all the segment's tiles, written straight into V.
#[inline(always)]
fn input_body(
    p: &Plan,
    x: &[f32],
    rows: Range<usize>,
    layout: VLayout,
    v: &mut [f32],
    scratch: &mut [f32],
) {
    let tw = p.tw;
    let ct = rows.len() * tw;
    let len = tw + 2;
    let (e, rest) = scratch.split_at_mut(len);
    let (o, rest) = rest.split_at_mut(len);
    let span = (rows.len() + 2) * tw;
    let u = &mut rest[..12 * span];
    let per_xi = layout.per_xi(p.cin, ct);
    for c in 0..p.cin {
        for (n, tys, t0) in image_segments(p, rows.clone()) {
            let plane = &x[(n * p.cin + c) * p.h * p.w..][..p.h * p.w];
            let run = tys.len() * tw;
            for k in 0..tys.len() + 2 {
                for parity in 0..2 {
                    let iy = (2 * (tys.start + k) + parity) as isize - p.ph as isize;
                    let row = (iy >= 0 && (iy as usize) < p.h)
                        .then(|| &plane[iy as usize * p.w..][..p.w]);
                    deinterleave(row, p.pw, e, o);
                    // Column b of tile tx is element tx + b/2 of the even or odd half.
                    let cols = [&e[..], &o[..], &e[1..], &o[1..], &e[2..], &o[2..]];
                    let at = |j: usize| (parity * A + j) * span + k * tw;
                    bt_rows(cols, six_mut(u, six(at), tw));
                }
            }
            let u = &*u;
            for j in 0..A {
                let row_a = |a: usize| &u[((a % 2) * A + j) * span + (a / 2) * tw..][..run];
                // The segment's tiles t0.. of channel c: one run (rows) or a run per
                // panel.
                let (mut t, mut done) = (t0, 0);
                while done < run {
                    let (at, part) = match layout {
                        VLayout::Rows => (c * ct + t, run),
                        VLayout::Panels => {
                            let lane = t % PANEL;
                            let at = ((t / PANEL) * p.cin + c) * PANEL + lane;
                            (at, (PANEL - lane).min(run - done))
                        }
                    };
                    let src = six(|a| &row_a(a)[done..][..part]);
                    let dst = six(|i| (i * A + j) * per_xi + at);
                    bt_rows(src, six_mut(v, dst, part));
                    (t, done) = (t + part, done + part);
                }
            }
        }
    }
    zero_panel_tails(A * A, p.cin, ct, layout, v);
}

/// `Transform::output`: Aᵀ down the rows, then along the columns, over all the tiles
/// of an image's tile rows at once; the two output columns of a tile are interleaved
/// as they are written.
#[inline(always)]
fn output_body(
    p: &Plan,
    m: &[f32],
    rows: Range<usize>,
    bias: Option<&[f32]>,
    relu: bool,
    y: &mut [f32],
    scratch: &mut [f32],
) {
    let tw = p.tw;
    let ct = rows.len() * tw;
    let plane = xi_stride(p.cout * ct);
    let act = |v: f32| if relu { v.max(0.0) } else { v };
    let (s, rest) = scratch.split_at_mut(12 * ct);
    let cols = &mut rest[..4 * ct];
    for k in 0..p.cout {
        let b = bias.map_or(0.0, |b| b[k]);
        for (n, tys, t0) in image_segments(p, rows.clone()) {
            let run = tys.len() * tw;
            // Aᵀ down the rows: s[i][j] = Σ_a AT[i][a]·M[a][j].
            for j in 0..A {
                let src = six(|a| &m[(a * A + j) * plane + k * ct + t0..][..run]);
                at_rows(src, two_mut(s, [j * run, (A + j) * run], run));
            }
            // Aᵀ along the columns: cols[i][q] = Σ_j AT[q][j]·s[i][j], the output
            // cells (2·ty + i, 2·tx + q).
            for i in 0..2 {
                let src = six(|j| &s[(i * A + j) * run..][..run]);
                at_rows(src, two_mut(cols, [2 * i * run, (2 * i + 1) * run], run));
            }
            for (l, ty) in tys.enumerate() {
                for i in 0..2 {
                    let oy = 2 * ty + i;
                    if oy >= p.oh {
                        continue;
                    }
                    let even = &cols[(i * 2) * run + l * tw..][..tw];
                    let odd = &cols[(i * 2 + 1) * run + l * tw..][..tw];
                    let yrow = &mut y[((n * p.cout + k) * p.oh + oy) * p.ow..][..p.ow];
                    let mut pairs = yrow.chunks_exact_mut(2);
                    for (tx, pair) in (&mut pairs).enumerate() {
                        pair[0] = act(even[tx] + b);
                        pair[1] = act(odd[tx] + b);
                    }
                    if let [last] = pairs.into_remainder() {
                        *last = act(even[tw - 1] + b);
                    }
                }
            }
        }
    }
}

/// `Transform::grad`: A along the columns of dy (split into even and odd halves), then
/// down the rows, over all the tiles of an image's tile rows at once.
#[inline(always)]
fn grad_body(p: &Plan, dy: &[f32], rows: Range<usize>, d: &mut [f32], scratch: &mut [f32]) {
    let tw = p.tw;
    let ct = rows.len() * tw;
    let d_plane = xi_stride(p.cout * ct);
    let (halves, rest) = scratch.split_at_mut(4 * ct);
    let wcols = &mut rest[..12 * ct];
    for k in 0..p.cout {
        for (n, tys, t0) in image_segments(p, rows.clone()) {
            let run = tys.len() * tw;
            let plane = &dy[(n * p.cout + k) * p.oh * p.ow..][..p.oh * p.ow];
            // halves[i][q]: dy[2·ty + i][2·tx + q] over the segment's tiles.
            for (l, ty) in tys.clone().enumerate() {
                for i in 0..2 {
                    let oy = 2 * ty + i;
                    let row = (oy < p.oh).then(|| &plane[oy * p.ow..][..p.ow]);
                    let (e, rest) = halves[(i * 2) * run + l * tw..].split_at_mut(run);
                    deinterleave(row, 0, &mut e[..tw], &mut rest[..tw]);
                }
            }
            // A along the columns: w[i][b] = Σ_q AT[q][b]·dy[i][q].
            for i in 0..2 {
                let src = two(|q| &halves[(2 * i + q) * run..][..run]);
                let dst = six(|b| (i * A + b) * run);
                a_rows(src, six_mut(wcols, dst, run));
            }
            // A down the rows: DY[a][b] = Σ_i AT[i][a]·w[i][b].
            let at = k * ct + t0;
            for b in 0..A {
                let src = two(|i| &wcols[(i * A + b) * run..][..run]);
                let dst = six(|a| (a * A + b) * d_plane + at);
                a_rows(src, six_mut(d, dst, run));
            }
        }
    }
}

/// F(2×2, 5×5).
pub(super) struct F2x5;

/// The transform bodies compiled a second time with AVX-512 enabled (the crate's
/// baseline is SSE2), run where the CPU has it: the same arithmetic, 16 lanes. (`wide!`
/// left these bodies out of line, in their baseline copy: too large to inline.)
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::*;

    #[target_feature(enable = "avx512f,avx512vl,avx512bw,avx512dq,avx2,fma,bmi2")]
    pub(super) unsafe fn input(
        p: &Plan,
        x: &[f32],
        rows: Range<usize>,
        layout: VLayout,
        v: &mut [f32],
        scratch: &mut [f32],
    ) {
        input_body(p, x, rows, layout, v, scratch)
    }

    #[target_feature(enable = "avx512f,avx512vl,avx512bw,avx512dq,avx2,fma,bmi2")]
    pub(super) unsafe fn output(
        p: &Plan,
        m: &[f32],
        rows: Range<usize>,
        bias: Option<&[f32]>,
        relu: bool,
        y: &mut [f32],
        scratch: &mut [f32],
    ) {
        output_body(p, m, rows, bias, relu, y, scratch)
    }

    #[target_feature(enable = "avx512f,avx512vl,avx512bw,avx512dq,avx2,fma,bmi2")]
    pub(super) unsafe fn grad(
        p: &Plan,
        dy: &[f32],
        rows: Range<usize>,
        d: &mut [f32],
        scratch: &mut [f32],
    ) {
        grad_body(p, dy, rows, d, scratch)
    }
}

impl Transform for F2x5 {
    const R: usize = 5;

    fn scratch_len(tw: usize, block_rows: usize) -> usize {
        // Input: 12 rows of (block_rows + 2)·tw and a row's two halves.
        // Output and weight gradient: 16 runs of block_rows·tw.
        16 * (block_rows + 2) * tw + 2 * (tw + 2)
    }

    fn filters(w: &[f32], outs: usize, ins: usize) -> Vec<f32> {
        let kc = outs * ins;
        let mut u = vec![0.0f32; A * A * kc];
        for (oi, g) in w.chunks_exact(25).enumerate() {
            // G g: 6×5, then (G g) Gᵀ: 6×6.
            let mut gg = [[0.0f32; 5]; A];
            for (a, row) in gg.iter_mut().enumerate() {
                for (q, v) in row.iter_mut().enumerate() {
                    *v = (0..5).map(|p| G[a][p] * g[p * 5 + q]).sum();
                }
            }
            for (a, row) in gg.iter().enumerate() {
                for b in 0..A {
                    u[(a * A + b) * kc + oi] = (0..5).map(|q| row[q] * G[b][q]).sum();
                }
            }
        }
        u
    }

    fn input(
        p: &Plan,
        x: &[f32],
        rows: Range<usize>,
        layout: VLayout,
        v: &mut [f32],
        scratch: &mut [f32],
    ) {
        #[cfg(target_arch = "x86_64")]
        if wide_available() {
            // SAFETY: `wide_available` checked the CPU features.
            return unsafe { avx512::input(p, x, rows, layout, v, scratch) };
        }
        input_body(p, x, rows, layout, v, scratch)
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
        #[cfg(target_arch = "x86_64")]
        if wide_available() {
            // SAFETY: `wide_available` checked the CPU features.
            return unsafe { avx512::output(p, m, rows, bias, relu, y, scratch) };
        }
        output_body(p, m, rows, bias, relu, y, scratch)
    }

    fn grad(p: &Plan, dy: &[f32], rows: Range<usize>, d: &mut [f32], scratch: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if wide_available() {
            // SAFETY: `wide_available` checked the CPU features.
            return unsafe { avx512::grad(p, dy, rows, d, scratch) };
        }
        grad_body(p, dy, rows, d, scratch)
    }

    fn weights(m: &[f32], kc: usize, dw: &mut [f32]) {
        // dw = Gᵀ M G for each filter i: (Gᵀ M) is 5×6, then 5×5.
        for (i, out) in dw.chunks_exact_mut(25).enumerate() {
            let mut gm = [[0.0f32; A]; 5];
            for (p, row) in gm.iter_mut().enumerate() {
                for (b, v) in row.iter_mut().enumerate() {
                    *v = (0..A).map(|a| G[a][p] * m[(a * A + b) * kc + i]).sum();
                }
            }
            for (p, row) in gm.iter().enumerate() {
                for q in 0..5 {
                    out[p * 5 + q] = (0..A).map(|b| row[b] * G[b][q]).sum();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(len: usize, seed: u64) -> Vec<f32> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..len)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
            })
            .collect()
    }

    /// The three transforms, on a block of tile rows that starts inside one image and
    /// ends inside a third, against the matrices applied tile by tile in f64.
    #[test]
    fn transforms_match_the_matrices_tile_by_tile() {
        // 3 images of 7×9, padding (2, 3): 4 tile rows of 6 tiles (output 7×11).
        let p = Plan::new(5, 3, 2, 7, 9, 2, 2, 3);
        assert_eq!((p.th, p.tw, p.oh, p.ow), (4, 6, 7, 11));
        let rows = 2..11;
        let ct = rows.len() * p.tw;
        let mut scratch = vec![f32::NAN; F2x5::scratch_len(p.tw, rows.len())];
        let bt = |i: usize, a: usize| f64::from(BT[i][a]);
        let at = |i: usize, a: usize| f64::from(AT[i][a]);
        let tiles = || rows.clone().flat_map(|r| (0..p.tw).map(move |tx| (r, tx)));
        let close = |got: f32, want: f64, what: &str| {
            assert!(
                (f64::from(got) - want).abs() <= 1e-5 * (1.0 + want.abs()),
                "{what}: {got} vs {want}"
            );
        };
        // Input: V[ξ][c, t] = (Bᵀ d B)[ξ] of the 6×6 tile d of x (zero outside).
        let x = values(p.batch * p.in_sz(), 1);
        let plane = xi_stride(p.cin * ct);
        let mut v = vec![f32::NAN; A * A * plane];
        F2x5::input(&p, &x, rows.clone(), VLayout::Rows, &mut v, &mut scratch);
        for (t, (r, tx)) in tiles().enumerate() {
            let (n, ty) = (r / p.th, r % p.th);
            for c in 0..p.cin {
                let d = |a: usize, b: usize| {
                    let (iy, ix) = ((2 * ty + a) as isize - 2, (2 * tx + b) as isize - 3);
                    let inside = (0..7).contains(&iy) && (0..9).contains(&ix);
                    if inside {
                        f64::from(x[((n * p.cin + c) * 7 + iy as usize) * 9 + ix as usize])
                    } else {
                        0.0
                    }
                };
                for i in 0..A {
                    for j in 0..A {
                        let want: f64 = (0..A)
                            .flat_map(|a| (0..A).map(move |b| (a, b)))
                            .map(|(a, b)| bt(i, a) * d(a, b) * bt(j, b))
                            .sum();
                        close(v[(i * A + j) * plane + c * ct + t], want, "input");
                    }
                }
            }
        }
        // Output: y tile = Aᵀ M A + bias, written only for the block's tile rows.
        let m_plane = xi_stride(p.cout * ct);
        let m = values(A * A * m_plane, 2);
        let bias = [0.25f32, -0.5];
        let mut y = vec![f32::NAN; p.batch * p.out_sz()];
        F2x5::output(
            &p,
            &m,
            rows.clone(),
            Some(&bias),
            false,
            &mut y,
            &mut scratch,
        );
        let written = y.iter().filter(|v| !v.is_nan()).count();
        // Rows 2..11: image 0 tile rows 2–3, image 1 all 4, image 2 rows 0–2: output
        // rows 4–6 (3), 0–6 (7), 0–5 (6), of 11 cells per channel.
        assert_eq!(written, (3 + 7 + 6) * 11 * p.cout);
        for (t, (r, tx)) in tiles().enumerate() {
            let (n, ty) = (r / p.th, r % p.th);
            for k in 0..p.cout {
                for (i, q) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                    let (oy, ox) = (2 * ty + i, 2 * tx + q);
                    if oy >= p.oh || ox >= p.ow {
                        continue;
                    }
                    let want: f64 = (0..A)
                        .flat_map(|a| (0..A).map(move |b| (a, b)))
                        .map(|(a, b)| {
                            at(i, a) * f64::from(m[(a * A + b) * m_plane + k * ct + t]) * at(q, b)
                        })
                        .sum::<f64>()
                        + f64::from(bias[k]);
                    close(
                        y[((n * p.cout + k) * p.oh + oy) * p.ow + ox],
                        want,
                        "output",
                    );
                }
            }
        }
        // Weight gradient: DY[ξ][k, t] = (A dy Aᵀ)[ξ] of the 2×2 dy tile (zero outside).
        let dy = values(p.batch * p.out_sz(), 3);
        let mut dd = vec![f32::NAN; A * A * m_plane];
        F2x5::grad(&p, &dy, rows.clone(), &mut dd, &mut scratch);
        for (t, (r, tx)) in tiles().enumerate() {
            let (n, ty) = (r / p.th, r % p.th);
            for k in 0..p.cout {
                let g = |i: usize, q: usize| {
                    let (oy, ox) = (2 * ty + i, 2 * tx + q);
                    if oy < p.oh && ox < p.ow {
                        f64::from(dy[((n * p.cout + k) * p.oh + oy) * p.ow + ox])
                    } else {
                        0.0
                    }
                };
                for a in 0..A {
                    for b in 0..A {
                        let want: f64 = [(0, 0), (0, 1), (1, 0), (1, 1)]
                            .into_iter()
                            .map(|(i, q)| at(i, a) * g(i, q) * at(q, b))
                            .sum();
                        close(dd[(a * A + b) * m_plane + k * ct + t], want, "grad");
                    }
                }
            }
        }
    }

    /// The matrices compute F(2, 5) in one dimension: Aᵀ[(G g) ⊙ (Bᵀ d)] is the
    /// correlation y[i] = Σ_k d[i + k]·g[k], for each of the 5 basis filters and 6 basis
    /// inputs (so for every input, by linearity), in f64 from the f32 entries.
    #[test]
    fn matrices_compute_the_correlation() {
        for k0 in 0..5 {
            for l0 in 0..A {
                let g: Vec<f64> = (0..5).map(|k| f64::from(u8::from(k == k0))).collect();
                let d: Vec<f64> = (0..A).map(|l| f64::from(u8::from(l == l0))).collect();
                let gu: Vec<f64> = (0..A)
                    .map(|j| (0..5).map(|k| f64::from(G[j][k]) * g[k]).sum())
                    .collect();
                let bd: Vec<f64> = (0..A)
                    .map(|j| (0..A).map(|l| f64::from(BT[j][l]) * d[l]).sum())
                    .collect();
                for i in 0..2 {
                    let got: f64 = (0..A).map(|j| f64::from(AT[i][j]) * gu[j] * bd[j]).sum();
                    let want: f64 = (0..5).map(|k| d[i + k] * g[k]).sum();
                    assert!(
                        (got - want).abs() < 1e-6,
                        "k {k0}, l {l0}, i {i}: {got} vs {want}"
                    );
                }
            }
        }
    }
}
