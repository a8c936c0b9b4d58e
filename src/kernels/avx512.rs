//! A packed single-threaded f32 GEMM with an AVX-512 micro-kernel.
//!
//! Why our own: the `gemm` crate (0.18) enables its AVX-512 kernels only with its
//! `nightly` feature, so on stable it runs AVX2 (8 lanes) — half of what these Xeons
//! can do. Stable Rust has the AVX-512 intrinsics, so this is the classic BLIS loop
//! nest (pack a KC×NC block of B and an MC×KC block of A, sweep MR×NR register tiles)
//! with a 14×32 tile: 28 zmm accumulators, two B loads and fourteen broadcasts per step
//! (14 rows measured ~5-10% faster than 12 on the conv shapes).
//! Also the 2×2 max-pool rows, which the baseline (SSE2) build cannot vectorise.
#![cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;
use std::cell::Cell;

const MR: usize = 14;
const NR: usize = super::TILE_N;
/// Depth of one packed block: a 14×KC A panel plus a KC×32 B panel (≈ 46 KB) stay in L1.
const KC: usize = 256;
/// Rows of A packed at once (≈ 150 KB, L2-resident).
const MC: usize = 140;
/// Columns of B packed at once (≈ 1 MB).
const NC: usize = 1024;

thread_local! {
    static PACK_A: Cell<Vec<f32>> = const { Cell::new(Vec::new()) };
    static PACK_B: Cell<Vec<f32>> = const { Cell::new(Vec::new()) };
}

/// Whether to use this kernel: the CPU has AVX-512F and `ARCHC_NO_AVX512` is unset
/// (the switch lets benchmarks compare against the `gemm` crate).
pub(crate) fn available() -> bool {
    static USE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *USE.get_or_init(|| {
        is_x86_feature_detected!("avx512f") && std::env::var_os("ARCHC_NO_AVX512").is_none()
    })
}

/// A strided read-only matrix by raw pointer: element (i, j) at `ptr + i·rs + j·cs`.
#[derive(Clone, Copy)]
pub(crate) struct Mat {
    pub ptr: *const f32,
    pub rs: usize,
    pub cs: usize,
}

// SAFETY: a read-only view; the owner of `gemm`'s arguments keeps the data alive.
unsafe impl Send for Mat {}
unsafe impl Sync for Mat {}

/// C[m×n] (row stride `c_rs`, unit column stride) = A·B (+ C if `accumulate`).
///
/// # Safety
/// The caller guarantees every index the strides reach is in bounds, that `c` does not
/// alias `a` or `b`, and that AVX-512F is available.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn gemm(
    m: usize,
    k: usize,
    n: usize,
    a: Mat,
    b: Mat,
    c: *mut f32,
    c_rs: usize,
    accumulate: bool,
) {
    blocked(m, k, n, Lhs::Plain(a), Rhs::Plain(b), c, c_rs, accumulate);
}

/// Rows of A as `pack_a_all` lays them out: each MC-row block padded to whole row tiles.
pub(crate) fn packed_rows(m: usize) -> usize {
    (0..m)
        .step_by(MC)
        .map(|ic| MC.min(m - ic).div_ceil(MR) * MR)
        .sum()
}

/// Packs all of A (m×k) for `gemm_packed`: for each depth block `(pc, kc)` of
/// `even_blocks(k, KC, 16)`, at `pc · packed_rows(m)`, the row blocks of MC rows (block
/// `ic` at `ic · kc` further), each laid out as `pack_a` lays it (panels `[p][MR]`).
/// `out` holds at least `packed_rows(m) · k` floats.
///
/// # Safety
/// Every index of A's m×k view is in bounds, and AVX-512F is available.
pub(crate) unsafe fn pack_a_all(m: usize, k: usize, a: Mat, out: &mut [f32]) {
    let rows = packed_rows(m);
    assert!(out.len() >= rows * k, "pack_a_all: out too short");
    for (pc, kc) in even_blocks(k, KC, 16) {
        for ic in (0..m).step_by(MC) {
            let mc = MC.min(m - ic);
            pack_a(mc, kc, a, ic, pc, &mut out[pc * rows + ic * kc..]);
        }
    }
}

/// C[m×n] (row stride `c_rs`) = A·B (+ C if `accumulate`) on pre-packed operands:
/// `pa` as `pack_a_all` writes it, `pb` as NR-column panels `[n / NR][k][NR]` (panel
/// `j` holds columns `j·NR..`, row p at `(j·k + p)·NR`; lanes past n are never stored
/// to C, whatever they hold). Nothing is packed here.
///
/// # Safety
/// `pa` holds `packed_rows(m)·k` floats, `pb` `n.div_ceil(NR)·k·NR`, every C index the
/// strides reach is in bounds and does not alias them, and AVX-512F is available.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn gemm_packed(
    m: usize,
    k: usize,
    n: usize,
    pa: *const f32,
    pb: *const f32,
    c: *mut f32,
    c_rs: usize,
    accumulate: bool,
) {
    blocked(
        m,
        k,
        n,
        Lhs::Packed(pa),
        Rhs::Packed(pb),
        c,
        c_rs,
        accumulate,
    );
}

/// C[m×n] (row stride `c_rs`) = A·B (+ C if `accumulate`) with A pre-packed (as
/// `pack_a_all` writes it) and B a plain strided matrix, packed here block by block:
/// for a left operand used against many right ones (a convolution's weights against
/// each sample's columns), which `gemm` would re-pack every time.
///
/// # Safety
/// `pa` holds `packed_rows(m)·k` floats, every index of B's k×n view and of C the
/// strides reach is in bounds, C aliases neither operand, and AVX-512F is available.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn gemm_packed_a(
    m: usize,
    k: usize,
    n: usize,
    pa: *const f32,
    b: Mat,
    c: *mut f32,
    c_rs: usize,
    accumulate: bool,
) {
    blocked(m, k, n, Lhs::Packed(pa), Rhs::Plain(b), c, c_rs, accumulate);
}

/// The left operand of `blocked`: a plain matrix (packed block by block there) or all
/// of it packed already by `pack_a_all`.
#[derive(Clone, Copy)]
enum Lhs {
    Plain(Mat),
    Packed(*const f32),
}

/// The right operand of `blocked`: a plain matrix (packed block by block there) or
/// NR-column panels `[n / NR][k][NR]` packed already.
#[derive(Clone, Copy)]
enum Rhs {
    Plain(Mat),
    Packed(*const f32),
}

/// The one loop nest behind `gemm`, `gemm_packed` and `gemm_packed_a` (BLIS order):
/// NC columns of B, then KC-deep blocks (B's block packed here unless it came packed),
/// then MC rows of A (likewise), then the NR-column panels and the row tiles, each one
/// micro-kernel call. C's sums run over the depth blocks in order whatever the operands'
/// form, so the three give the same bits.
///
/// # Safety
/// As the three callers: every index the operands' strides (or packed lengths) and C's
/// reach is in bounds, C aliases neither operand, and AVX-512F is available.
#[allow(clippy::too_many_arguments)]
unsafe fn blocked(
    m: usize,
    k: usize,
    n: usize,
    a: Lhs,
    b: Rhs,
    c: *mut f32,
    c_rs: usize,
    accumulate: bool,
) {
    let rows = packed_rows(m);
    let mut pa_buf = PACK_A.with(|c| c.take());
    let mut pb_buf = PACK_B.with(|c| c.take());
    let pa = match a {
        Lhs::Plain(_) => aligned(&mut pa_buf, MC.div_ceil(MR) * MR * KC),
        Lhs::Packed(_) => &mut [],
    };
    let pb = match b {
        Rhs::Plain(_) => aligned(&mut pb_buf, NC.div_ceil(NR) * NR * KC),
        Rhs::Packed(_) => &mut [],
    };
    for jc in (0..n).step_by(NC) {
        let nc = NC.min(n - jc);
        // Near-equal depth blocks in multiples of 16 (the transposing packers' step):
        // 784 = 3 × 208 + 160 rather than 3 × 256 + 16, whose last pass would reload and
        // store all of C for 16 steps of work.
        for (pc, kc) in even_blocks(k, KC, 16) {
            let load_c = accumulate || pc > 0;
            if let Rhs::Plain(b) = b {
                pack_b(kc, nc, b, pc, jc, pb);
            }
            for ic in (0..m).step_by(MC) {
                let mc = MC.min(m - ic);
                let ablock = match a {
                    Lhs::Plain(a) => {
                        pack_a(mc, kc, a, ic, pc, pa);
                        pa.as_ptr()
                    }
                    Lhs::Packed(p) => p.add(pc * rows + ic * kc),
                };
                for jr in (0..nc).step_by(NR) {
                    let nr = NR.min(nc - jr);
                    let bp = match b {
                        Rhs::Plain(_) => pb.as_ptr().add(jr * kc),
                        Rhs::Packed(p) => p.add(((jc + jr) / NR * k + pc) * NR),
                    };
                    for (t, (ir, mr)) in row_tiles(mc).enumerate() {
                        let ap = ablock.add(t * MR * kc);
                        let cp = c.add((ic + ir) * c_rs + jc + jr);
                        micro_for(mr)(kc, ap, bp, cp, c_rs, nr, load_c);
                    }
                }
            }
        }
    }
    PACK_A.with(|c| c.set(pa_buf));
    PACK_B.with(|c| c.set(pb_buf));
}

/// A cache-line-aligned window of `len` floats inside `buf` (grown as needed), so the
/// micro-kernel's 64-byte loads never straddle two lines.
fn aligned(buf: &mut Vec<f32>, len: usize) -> &mut [f32] {
    buf.resize(len + 16, 0.0);
    let skip = buf.as_ptr().align_offset(64).min(16);
    &mut buf[skip..skip + len]
}

/// The row tiles `(first row, rows)` of a block of `mc` rows: as few as MR allows, with
/// heights differing by at most one, so that 128 rows cost 128 rows of FMAs (8 × 13 + 2 × 12)
/// rather than 140 (9 × 14 + a 14-row tile holding 2).
fn row_tiles(mc: usize) -> impl Iterator<Item = (usize, usize)> {
    let tiles = mc.div_ceil(MR);
    let (base, extra) = (mc / tiles.max(1), mc % tiles.max(1));
    (0..tiles).map(move |t| (t * base + t.min(extra), base + usize::from(t < extra)))
}

/// `len` split into as few blocks of at most `max` as possible, all but the last of one
/// size that is a multiple of `align` (`max` is one too): `(start, size)` each.
fn even_blocks(len: usize, max: usize, align: usize) -> impl Iterator<Item = (usize, usize)> {
    let blocks = len.div_ceil(max).max(1);
    let size = len.div_ceil(blocks).next_multiple_of(align).min(max);
    (0..len).step_by(size).map(move |s| (s, size.min(len - s)))
}

/// Packs rows ic..ic+mc, depth pc..pc+kc of A into panels `[panel][p][MR]`, one per row
/// tile of `row_tiles(mc)`, zero-padding each panel's rows past its height.
#[target_feature(enable = "avx512f")]
unsafe fn pack_a(mc: usize, kc: usize, a: Mat, ic: usize, pc: usize, out: &mut [f32]) {
    for (panel, (ir, mr)) in row_tiles(mc).enumerate() {
        let dst = &mut out[panel * MR * kc..(panel + 1) * MR * kc];
        let base = a.ptr.add((ic + ir) * a.rs + pc * a.cs);
        if a.rs == 1 {
            // Columns of A are contiguous: copy MR at a time.
            for p in 0..kc {
                let src = base.add(p * a.cs);
                let d = &mut dst[p * MR..(p + 1) * MR];
                for (i, v) in d.iter_mut().enumerate() {
                    *v = if i < mr { *src.add(i) } else { 0.0 };
                }
            }
        } else if a.cs == 1 {
            // Rows of A are contiguous: transpose 16-deep blocks through registers.
            let full = kc - kc % 16;
            for p0 in (0..full).step_by(16) {
                transpose16(
                    base.add(p0),
                    a.rs,
                    mr,
                    dst.as_mut_ptr().add(p0 * MR),
                    MR,
                    MR,
                );
            }
            for i in 0..MR {
                for p in full..kc {
                    dst[p * MR + i] = if i < mr { *base.add(i * a.rs + p) } else { 0.0 };
                }
            }
        } else {
            for i in 0..MR {
                if i < mr {
                    let src = base.add(i * a.rs);
                    for p in 0..kc {
                        dst[p * MR + i] = *src.add(p * a.cs);
                    }
                } else {
                    for p in 0..kc {
                        dst[p * MR + i] = 0.0;
                    }
                }
            }
        }
    }
}

/// Packs depth pc..pc+kc, columns jc..jc+nc of B into NR-column panels `[panel][p][NR]`,
/// zero-padding the last panel.
#[target_feature(enable = "avx512f")]
unsafe fn pack_b(kc: usize, nc: usize, b: Mat, pc: usize, jc: usize, out: &mut [f32]) {
    for (panel, jr) in (0..nc).step_by(NR).enumerate() {
        let nr = NR.min(nc - jr);
        let dst = &mut out[panel * NR * kc..(panel + 1) * NR * kc];
        let base = b.ptr.add(pc * b.rs + (jc + jr) * b.cs);
        if b.cs == 1 {
            // Two masked register moves per row rather than a memcpy call per 128 bytes
            // (whole MLP steps measured no faster: the time here is B's read from L3).
            // Masked lanes are neither read nor kept, so a short last panel reads
            // nothing past its row and pads with zeros.
            let (m0, m1) = (lanes(nr), lanes(nr.saturating_sub(16)));
            let d = dst.as_mut_ptr();
            for p in 0..kc {
                let src = base.add(p * b.rs);
                _mm512_storeu_ps(d.add(p * NR), _mm512_maskz_loadu_ps(m0, src));
                let hi = _mm512_maskz_loadu_ps(m1, src.wrapping_add(16));
                _mm512_storeu_ps(d.add(p * NR + 16), hi);
            }
        } else if b.rs == 1 {
            // Columns of B are contiguous (B is a transposed row-major matrix): move
            // 16×16 blocks through registers instead of 32 scalar stores per row.
            let full = kc - kc % 16;
            for p0 in (0..full).step_by(16) {
                for j0 in [0, 16] {
                    let rows = nr.saturating_sub(j0).min(16);
                    let d = dst.as_mut_ptr().add(p0 * NR + j0);
                    transpose16(base.wrapping_add(j0 * b.cs + p0), b.cs, rows, d, NR, 16);
                }
            }
            for j in 0..NR {
                for p in full..kc {
                    dst[p * NR + j] = if j < nr { *base.add(j * b.cs + p) } else { 0.0 };
                }
            }
        } else {
            for j in 0..NR {
                if j < nr {
                    let src = base.add(j * b.cs);
                    for p in 0..kc {
                        dst[p * NR + j] = *src.add(p * b.rs);
                    }
                } else {
                    for p in 0..kc {
                        dst[p * NR + j] = 0.0;
                    }
                }
            }
        }
    }
}

#[inline]
/// dst[r·dst_rs + c] = src[c·src_rs + r] for a 16×16 block (rows of src are contiguous);
/// source rows from `rows` on are taken as zero and never read; only the first `cols`
/// floats of each destination row are written.
///
/// # Safety
/// Source rows `0..rows` (16 floats each) and all 16 destination rows (`cols` floats
/// each) are in bounds, and AVX-512F is available.
#[target_feature(enable = "avx512f")]
pub(crate) unsafe fn transpose16(
    src: *const f32,
    src_rs: usize,
    rows: usize,
    dst: *mut f32,
    dst_rs: usize,
    cols: usize,
) {
    // Masked loads keep the loop branch-free, so the 16 rows stay in registers;
    // masked-off rows are never read, whatever their address.
    let mut r: [__m512; 16] = [_mm512_setzero_ps(); 16];
    for (i, v) in r.iter_mut().enumerate() {
        let k: __mmask16 = if i < rows { 0xffff } else { 0 };
        *v = _mm512_maskz_loadu_ps(k, src.wrapping_add(i * src_rs));
    }
    // Stage 1: interleave pairs of rows at 32-bit granularity.
    let mut t = [_mm512_setzero_ps(); 16];
    for i in 0..8 {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    // Stage 2: 64-bit granularity, rows i and i+2 within each group of four.
    for g in 0..4 {
        let b = 4 * g;
        r[b] = _mm512_shuffle_ps::<0x44>(t[b], t[b + 2]);
        r[b + 1] = _mm512_shuffle_ps::<0xEE>(t[b], t[b + 2]);
        r[b + 2] = _mm512_shuffle_ps::<0x44>(t[b + 1], t[b + 3]);
        r[b + 3] = _mm512_shuffle_ps::<0xEE>(t[b + 1], t[b + 3]);
    }
    // Stage 3 and 4: 128-bit lanes across groups.
    for i in 0..4 {
        t[i] = _mm512_shuffle_f32x4::<0x88>(r[i], r[i + 4]);
        t[i + 4] = _mm512_shuffle_f32x4::<0xDD>(r[i], r[i + 4]);
        t[i + 8] = _mm512_shuffle_f32x4::<0x88>(r[i + 8], r[i + 12]);
        t[i + 12] = _mm512_shuffle_f32x4::<0xDD>(r[i + 8], r[i + 12]);
    }
    for i in 0..4 {
        r[i] = _mm512_shuffle_f32x4::<0x88>(t[i], t[i + 8]);
        r[i + 4] = _mm512_shuffle_f32x4::<0x88>(t[i + 4], t[i + 12]);
        r[i + 8] = _mm512_shuffle_f32x4::<0xDD>(t[i], t[i + 8]);
        r[i + 12] = _mm512_shuffle_f32x4::<0xDD>(t[i + 4], t[i + 12]);
    }
    if cols == 16 {
        for (i, v) in r.iter().enumerate() {
            _mm512_storeu_ps(dst.add(i * dst_rs), *v);
        }
    } else {
        // Partial rows (A panels are 14 wide, 56 bytes apart): whole 16-byte pieces
        // rarely straddle a cache line, unlike masked 64-byte stores, which are slow there.
        for (i, v) in r.iter().enumerate() {
            let d = dst.add(i * dst_rs);
            let lanes4 = [
                _mm512_extractf32x4_ps::<0>(*v),
                _mm512_extractf32x4_ps::<1>(*v),
                _mm512_extractf32x4_ps::<2>(*v),
                _mm512_extractf32x4_ps::<3>(*v),
            ];
            for (q, x) in lanes4.iter().enumerate().take(cols / 4) {
                _mm_storeu_ps(d.add(4 * q), *x);
            }
            if !cols.is_multiple_of(4) {
                let tail = lanes(cols) & !lanes(cols - cols % 4);
                _mm512_mask_storeu_ps(d, tail, *v);
            }
        }
    }
}

/// The micro-kernel for a tile of `mr` (1..=MR) rows.
fn micro_for(mr: usize) -> Micro {
    macro_rules! by_rows {
        ($($r:literal)*) => {
            match mr {
                $($r => micro::<$r> as Micro,)*
                _ => unreachable!("row tile of {mr} rows"),
            }
        };
    }
    by_rows!(1 2 3 4 5 6 7 8 9 10 11 12 13 14)
}

type Micro = unsafe fn(usize, *const f32, *const f32, *mut f32, usize, usize, bool);

/// C[R×nr] (+)= packed A panel (R of its MR rows) · packed B panel over depth kc.
/// R is a constant so that a short tile issues only its own rows' FMAs.
#[target_feature(enable = "avx512f")]
unsafe fn micro<const R: usize>(
    kc: usize,
    a: *const f32,
    b: *const f32,
    c: *mut f32,
    c_rs: usize,
    nr: usize,
    load_c: bool,
) {
    let mut acc = [[_mm512_setzero_ps(); 2]; R];
    for p in 0..kc {
        let b0 = _mm512_loadu_ps(b.add(p * NR));
        let b1 = _mm512_loadu_ps(b.add(p * NR + 16));
        let ap = a.add(p * MR);
        for (i, row) in acc.iter_mut().enumerate() {
            let ai = _mm512_set1_ps(*ap.add(i));
            row[0] = _mm512_fmadd_ps(ai, b0, row[0]);
            row[1] = _mm512_fmadd_ps(ai, b1, row[1]);
        }
    }
    let m0: __mmask16 = if nr >= 16 { 0xffff } else { (1u16 << nr) - 1 };
    let m1: __mmask16 = if nr >= 32 {
        0xffff
    } else if nr > 16 {
        (1u16 << (nr - 16)) - 1
    } else {
        0
    };
    for (i, row) in acc.iter().enumerate() {
        let p0 = c.add(i * c_rs);
        // Masked lanes are never touched, so the address may point past the row.
        let p1 = p0.wrapping_add(16);
        let (mut x0, mut x1) = (row[0], row[1]);
        if load_c {
            x0 = _mm512_add_ps(x0, _mm512_maskz_loadu_ps(m0, p0));
            x1 = _mm512_add_ps(x1, _mm512_maskz_loadu_ps(m1, p1));
        }
        _mm512_mask_storeu_ps(p0, m0, x0);
        _mm512_mask_storeu_ps(p1, m1, x1);
    }
}

/// Mask of the first `n` (≤ 16) lanes.
#[inline]
fn lanes(n: usize) -> __mmask16 {
    if n >= 16 {
        0xffff
    } else {
        (1u16 << n) - 1
    }
}

/// Even and odd lanes of the 32 floats at `p` (only the first `n` ≤ 32 are read).
#[target_feature(enable = "avx512f")]
unsafe fn deinterleave(p: *const f32, n: usize) -> (__m512, __m512) {
    let lo = _mm512_maskz_loadu_ps(lanes(n), p);
    let hi = _mm512_maskz_loadu_ps(lanes(n.saturating_sub(16)), p.wrapping_add(16));
    let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    let odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    (
        _mm512_permutex2var_ps(lo, even, hi),
        _mm512_permutex2var_ps(lo, odd, hi),
    )
}

/// Stores the interleaving of `even` and `odd` (first `n` ≤ 32 floats) at `p`.
#[target_feature(enable = "avx512f")]
unsafe fn interleave(p: *mut f32, n: usize, even: __m512, odd: __m512) {
    let lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    let hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    _mm512_mask_storeu_ps(p, lanes(n), _mm512_permutex2var_ps(even, lo, odd));
    let q = p.wrapping_add(16);
    _mm512_mask_storeu_ps(
        q,
        lanes(n.saturating_sub(16)),
        _mm512_permutex2var_ps(even, hi, odd),
    );
}

/// Splits the left-padded version of `row` into its even and odd columns:
/// e[k] = row[2k − pad], o[k] = row[2k + 1 − pad], zero outside the row (the
/// Winograd transforms' first step), 16 columns of each per step.
///
/// # Safety
/// AVX-512F is available.
#[target_feature(enable = "avx512f")]
pub(crate) unsafe fn deinterleave_padded(row: &[f32], pad: usize, e: &mut [f32], o: &mut [f32]) {
    let len = e.len().min(o.len());
    let w = row.len() as isize;
    let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    let odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    // Lanes i of the 16 floats from row index s that lie inside the row.
    let inside = |s: isize| -> __mmask16 {
        let lo = (-s).clamp(0, 16);
        let hi = (w - s).clamp(0, 16);
        if hi <= lo {
            0
        } else {
            lanes(hi as usize) & !lanes(lo as usize)
        }
    };
    for k0 in (0..len).step_by(16) {
        let s = 2 * k0 as isize - pad as isize;
        // Masked-off lanes are never read, so the addresses may lie outside the row.
        let p = row.as_ptr().wrapping_offset(s);
        let lo = _mm512_maskz_loadu_ps(inside(s), p);
        let hi = _mm512_maskz_loadu_ps(inside(s + 16), p.wrapping_add(16));
        let m = lanes(len - k0);
        _mm512_mask_storeu_ps(
            e.as_mut_ptr().add(k0),
            m,
            _mm512_permutex2var_ps(lo, even, hi),
        );
        _mm512_mask_storeu_ps(
            o.as_mut_ptr().add(k0),
            m,
            _mm512_permutex2var_ps(lo, odd, hi),
        );
    }
}

/// The Winograd F(2×2, 3×3) input transform V = Bᵀ d B of tiles `txs` of one tile row
/// of one channel, 16 tiles per step, all in registers: `rows[a]` is input row
/// 2·ty + a − ph (None in the padding), `pad` the left padding. The 16 values of tile tx
/// go to `out[ξ·xi_stride + tx − txs.start]`.
/// Bᵀ = [[1, 0, −1, 0], [0, 1, 1, 0], [0, −1, 1, 0], [0, 1, 0, −1]].
///
/// # Safety
/// AVX-512F is available. (Stores are bounds-checked against `out`.)
#[target_feature(enable = "avx512f")]
pub(crate) unsafe fn winograd_input_row(
    rows: [Option<&[f32]>; 4],
    pad: usize,
    txs: std::ops::Range<usize>,
    out: &mut [f32],
    xi_stride: usize,
) {
    let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    let odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    assert!(
        txs.is_empty() || 15 * xi_stride + txs.len() <= out.len(),
        "winograd_input_row: out too short"
    );
    let rows = InputRows::new(rows);
    for tx0 in txs.clone().step_by(16) {
        let n = (txs.end - tx0).min(16);
        // Padded columns 2·tx0 + 2i (e), + 1 (o), + 2 (e1), + 3 (o1) for the i-th tile:
        // e[a] holds input row a's.
        let s = 2 * tx0 as isize - pad as isize;
        let z = _mm512_setzero_ps();
        let (mut e, mut o, mut e1, mut o1) = ([z; 4], [z; 4], [z; 4], [z; 4]);
        for a in 0..4 {
            let (l0, l1) = (rows.load(a, s), rows.load(a, s + 16));
            let (l2, l3) = (rows.load(a, s + 2), rows.load(a, s + 18));
            e[a] = _mm512_permutex2var_ps(l0, even, l1);
            o[a] = _mm512_permutex2var_ps(l0, odd, l1);
            e1[a] = _mm512_permutex2var_ps(l2, even, l3);
            o1[a] = _mm512_permutex2var_ps(l2, odd, l3);
        }
        let dst = out.as_mut_ptr().add(tx0 - txs.start);
        store_input_tiles([e, o, e1, o1], dst, xi_stride, lanes(n));
    }
}

/// `winograd_input_row` for two whole tile rows of `tw` ≤ 8 tiles at once (`first` and
/// `second`, each as `rows` there), one in the low lanes and one above: at 16×16 a row
/// has 8 tiles, and one row per step left half of every vector empty. Tile tx of
/// `second` goes to `out[ξ·xi_stride + tw + tx]`.
///
/// # Safety
/// AVX-512F is available. (Stores are bounds-checked against `out`.)
#[target_feature(enable = "avx512f")]
pub(crate) unsafe fn winograd_input_row_pair(
    first: [Option<&[f32]>; 4],
    second: [Option<&[f32]>; 4],
    pad: usize,
    tw: usize,
    out: &mut [f32],
    xi_stride: usize,
) {
    assert!(
        (1..=8).contains(&tw),
        "winograd_input_row_pair: {tw} tiles per row"
    );
    assert!(
        15 * xi_stride + 2 * tw <= out.len(),
        "winograd_input_row_pair: out too short"
    );
    // Lane i < tw takes lane 2i (+ 1 for odd) of the first row's load, lane tw + i lane 2i
    // of the second's (index 16 + 2i of the pair).
    let mut idx = [0i32; 16];
    for (i, v) in idx.iter_mut().enumerate().take(2 * tw) {
        *v = if i < tw {
            2 * i as i32
        } else {
            16 + 2 * (i - tw) as i32
        };
    }
    let even = _mm512_loadu_si512(idx.as_ptr().cast());
    let odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    let (first, second) = (InputRows::new(first), InputRows::new(second));
    assert_eq!(
        first.w, second.w,
        "winograd_input_row_pair: rows of different lengths"
    );
    let s = -(pad as isize);
    let z = _mm512_setzero_ps();
    let (mut e, mut o, mut e1, mut o1) = ([z; 4], [z; 4], [z; 4], [z; 4]);
    for a in 0..4 {
        let (l0, l1) = (first.load(a, s), second.load(a, s));
        let (l2, l3) = (first.load(a, s + 2), second.load(a, s + 2));
        e[a] = _mm512_permutex2var_ps(l0, even, l1);
        o[a] = _mm512_permutex2var_ps(l0, odd, l1);
        e1[a] = _mm512_permutex2var_ps(l2, even, l3);
        o1[a] = _mm512_permutex2var_ps(l2, odd, l3);
    }
    store_input_tiles([e, o, e1, o1], out.as_mut_ptr(), xi_stride, lanes(2 * tw));
}

/// The four input rows of a tile row, for 16-lane loads that read zeros outside the row.
/// The rows present all have one length; a row in the padding loads as zeros under an
/// all-off mask, so the callers' loops stay branch-free and in registers.
struct InputRows {
    present: [__mmask16; 4],
    base: [*const f32; 4],
    w: isize,
}

impl InputRows {
    fn new(rows: [Option<&[f32]>; 4]) -> InputRows {
        let w = rows.iter().flatten().map(|r| r.len()).next().unwrap_or(0);
        assert!(
            rows.iter().flatten().all(|r| r.len() == w),
            "winograd input rows of different lengths"
        );
        InputRows {
            present: rows.map(|r| if r.is_some() { 0xffff } else { 0 }),
            base: rows.map(|r| r.map_or(std::ptr::null(), |r| r.as_ptr())),
            w: w as isize,
        }
    }

    /// Columns s..s + 16 of row a, zero outside it.
    #[target_feature(enable = "avx512f")]
    unsafe fn load(&self, a: usize, s: isize) -> __m512 {
        let lo = (-s).clamp(0, 16);
        let hi = (self.w - s).clamp(0, 16);
        let inside = if hi <= lo {
            0
        } else {
            lanes(hi as usize) & !lanes(lo as usize)
        };
        // Masked-off lanes are never read, whatever their address (null included).
        _mm512_maskz_loadu_ps(inside & self.present[a], self.base[a].wrapping_offset(s))
    }
}

/// V = Bᵀ d B of 16 tiles from their padded columns 2i, 2i + 1, 2i + 2, 2i + 3 (`cols`:
/// e, o, e1, o1, each per input row), lanes `mask` of ξ stored at `dst + ξ·xi_stride`.
#[target_feature(enable = "avx512f")]
unsafe fn store_input_tiles(
    cols: [[__m512; 4]; 4],
    dst: *mut f32,
    xi_stride: usize,
    mask: __mmask16,
) {
    // Bᵀ down the rows: t0 = d0 − d2, t1 = d1 + d2, t2 = d2 − d1, t3 = d1 − d3.
    let rows_bt = |d: [__m512; 4]| {
        [
            _mm512_sub_ps(d[0], d[2]),
            _mm512_add_ps(d[1], d[2]),
            _mm512_sub_ps(d[2], d[1]),
            _mm512_sub_ps(d[1], d[3]),
        ]
    };
    let [e, o, e1, o1] = cols.map(rows_bt);
    // B along the columns (e, o, e1, o1) of each row a.
    for a in 0..4 {
        let v = [
            _mm512_sub_ps(e[a], e1[a]),
            _mm512_add_ps(o[a], e1[a]),
            _mm512_sub_ps(e1[a], o[a]),
            _mm512_sub_ps(o[a], o1[a]),
        ];
        for (b, x) in v.iter().enumerate() {
            _mm512_mask_storeu_ps(dst.add((4 * a + b) * xi_stride), mask, *x);
        }
    }
}

/// The Winograd F(2×2, 3×3) output transform y = Aᵀ M A + bias (then max(0, ·) if
/// `relu`) of one tile row of `tw`
/// tiles of one output channel, 16 tiles per step: M[ξ] of tile tx is at
/// `m[ξ·plane + tx]`; `top` and `bottom` are output rows 2·ty and 2·ty + 1 (None past
/// the output), `2·tw − 1` or `2·tw` wide. Aᵀ = [[1, 1, 1, 0], [0, 1, −1, −1]]; the
/// sums are taken in the order of `winograd::output_transform_body`, so the bits agree.
///
/// # Safety
/// AVX-512F is available. (Loads and stores are bounds-checked.)
#[target_feature(enable = "avx512f")]
pub(crate) unsafe fn winograd_output_row(
    m: &[f32],
    plane: usize,
    tw: usize,
    bias: f32,
    relu: bool,
    top: &mut [f32],
    mut bottom: Option<&mut [f32]>,
) {
    let ow = top.len();
    assert!(
        tw > 0 && 15 * plane + tw <= m.len(),
        "winograd_output_row: m too short"
    );
    assert!(
        ow <= 2 * tw && ow + 1 >= 2 * tw,
        "winograd_output_row: row width"
    );
    assert!(
        bottom.as_ref().is_none_or(|b| b.len() == ow),
        "winograd_output_row: rows of different widths"
    );
    let b = _mm512_set1_ps(bias);
    let z = _mm512_setzero_ps();
    for tx0 in (0..tw).step_by(16) {
        let n = (tw - tx0).min(16);
        let load = |xi: usize| _mm512_maskz_loadu_ps(lanes(n), m.as_ptr().add(xi * plane + tx0));
        // Aᵀ down the rows: s0[c] = m0c + m1c + m2c, s1[c] = m1c − m2c − m3c.
        let (mut s0, mut s1) = ([z; 4], [z; 4]);
        for c in 0..4 {
            let (m0, m1, m2, m3) = (load(c), load(4 + c), load(8 + c), load(12 + c));
            s0[c] = _mm512_add_ps(_mm512_add_ps(m0, m1), m2);
            s1[c] = _mm512_sub_ps(_mm512_sub_ps(m1, m2), m3);
        }
        // A along the columns: even output column c0 + c1 + c2, odd c1 − c2 − c3.
        let cols = |s: [__m512; 4]| {
            let even = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(s[0], s[1]), s[2]), b);
            let odd = _mm512_add_ps(_mm512_sub_ps(_mm512_sub_ps(s[1], s[2]), s[3]), b);
            if relu {
                // max(NaN, 0) is 0 here (the second operand), as `f32::max` has it.
                (_mm512_max_ps(even, z), _mm512_max_ps(odd, z))
            } else {
                (even, odd)
            }
        };
        let width = (ow - 2 * tx0).min(32);
        let (even, odd) = cols(s0);
        interleave(top.as_mut_ptr().add(2 * tx0), width, even, odd);
        if let Some(bottom) = bottom.as_deref_mut() {
            let (even, odd) = cols(s1);
            interleave(bottom.as_mut_ptr().add(2 * tx0), width, even, odd);
        }
    }
}

/// The transform DY = A dy Aᵀ of the weight gradient (F(3×3, 2×2)) for tiles `txs` of
/// one tile row of one output channel, 16 tiles per step: `rows` are dy rows 2·ty and
/// 2·ty + 1 (None past the output; columns past the row's end count as zero). The 16
/// values of tile tx go to `out[ξ·xi_stride + tx − txs.start]`, ξ = 4a + b for row a and
/// column b of A = [[1, 0], [1, 1], [1, −1], [0, −1]]; the sums are taken in the order
/// of `winograd::grad_transform_body`, so the bits agree.
///
/// # Safety
/// AVX-512F is available. (Stores are bounds-checked against `out`.)
#[target_feature(enable = "avx512f")]
pub(crate) unsafe fn winograd_grad_row(
    rows: [Option<&[f32]>; 2],
    txs: std::ops::Range<usize>,
    out: &mut [f32],
    xi_stride: usize,
) {
    assert!(
        txs.is_empty() || 15 * xi_stride + txs.len() <= out.len(),
        "winograd_grad_row: out too short"
    );
    let z = _mm512_setzero_ps();
    // −x as the scalar code has it (0 − x would turn −0 into +0): flip the sign bit.
    let neg = |x: __m512| {
        let sign = _mm512_set1_epi32(i32::MIN);
        _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(x), sign))
    };
    for tx0 in txs.clone().step_by(16) {
        let n = (txs.end - tx0).min(16);
        // Even and odd columns 2·tx0 + 2i and + 1 of each row.
        let (mut e, mut o) = ([z; 2], [z; 2]);
        for (i, row) in rows.iter().enumerate() {
            let Some(row) = row else { continue };
            let cols = row.len().saturating_sub(2 * tx0).min(2 * n);
            (e[i], o[i]) = deinterleave(row.as_ptr().wrapping_add(2 * tx0), cols);
        }
        // A down the rows (v0 = d0, v1 = d0 + d1, v2 = d0 − d1, v3 = −d1), then along
        // the columns the same with (even, odd) for (d0, d1).
        let vert =
            |d0: __m512, d1: __m512| [d0, _mm512_add_ps(d0, d1), _mm512_sub_ps(d0, d1), neg(d1)];
        let (ve, vo) = (vert(e[0], e[1]), vert(o[0], o[1]));
        let dst = out.as_mut_ptr().add(tx0 - txs.start);
        for a in 0..4 {
            for (b, x) in vert(ve[a], vo[a]).iter().enumerate() {
                _mm512_mask_storeu_ps(dst.add((4 * a + b) * xi_stride), lanes(n), *x);
            }
        }
    }
}

/// out[j] = max(r0[2j], r0[2j+1], r1[2j], r1[2j+1]).
#[target_feature(enable = "avx512f")]
pub(crate) unsafe fn max2x2_row(r0: &[f32], r1: &[f32], out: &mut [f32]) {
    let n = out.len();
    assert!(r0.len() >= 2 * n && r1.len() >= 2 * n);
    for j in (0..n).step_by(16) {
        let m = (n - j).min(16);
        let (a0, a1) = deinterleave(r0.as_ptr().add(2 * j), 2 * m);
        let (c0, c1) = deinterleave(r1.as_ptr().add(2 * j), 2 * m);
        let v = _mm512_max_ps(_mm512_max_ps(a0, a1), _mm512_max_ps(c0, c1));
        _mm512_mask_storeu_ps(out.as_mut_ptr().add(j), lanes(m), v);
    }
}

/// `max2x2_row_backward` through the ReLU before the pooling, in place: `top` and
/// `bottom` hold the ReLU's output (≥ 0) on entry and the gradient on return; dy[j]
/// goes to the first maximal cell of window j only when that maximum is > 0.
#[target_feature(enable = "avx512f")]
pub(crate) unsafe fn max2x2_relu_row_backward_inplace(
    top: &mut [f32],
    bottom: &mut [f32],
    dy: &[f32],
) {
    let n = dy.len();
    assert!(top.len() >= 2 * n && bottom.len() >= 2 * n);
    for j in (0..n).step_by(16) {
        let m = (n - j).min(16);
        let (a0, a1) = deinterleave(top.as_ptr().add(2 * j), 2 * m);
        let (c0, c1) = deinterleave(bottom.as_ptr().add(2 * j), 2 * m);
        let mx = _mm512_max_ps(_mm512_max_ps(a0, a1), _mm512_max_ps(c0, c1));
        let positive = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(mx, _mm512_setzero_ps());
        let d = _mm512_maskz_loadu_ps(lanes(m) & positive, dy.as_ptr().add(j));
        let k0 = _mm512_cmp_ps_mask::<_CMP_EQ_OQ>(a0, mx);
        let k1 = _mm512_cmp_ps_mask::<_CMP_EQ_OQ>(a1, mx) & !k0;
        let k2 = _mm512_cmp_ps_mask::<_CMP_EQ_OQ>(c0, mx) & !(k0 | k1);
        let k3 = !(k0 | k1 | k2);
        let z = |k| _mm512_maskz_mov_ps(k, d);
        interleave(top.as_mut_ptr().add(2 * j), 2 * m, z(k0), z(k1));
        interleave(bottom.as_mut_ptr().add(2 * j), 2 * m, z(k2), z(k3));
    }
}

/// Backward of `max2x2_row`: dy[j] goes to the first maximal cell of window j in the
/// order r0[2j], r0[2j+1], r1[2j], r1[2j+1]; every other cell of t and b gets 0.
#[target_feature(enable = "avx512f")]
pub(crate) unsafe fn max2x2_row_backward(
    r0: &[f32],
    r1: &[f32],
    dy: &[f32],
    t: &mut [f32],
    b: &mut [f32],
) {
    let n = dy.len();
    assert!(r0.len() >= 2 * n && r1.len() >= 2 * n && t.len() >= 2 * n && b.len() >= 2 * n);
    for j in (0..n).step_by(16) {
        let m = (n - j).min(16);
        let (a0, a1) = deinterleave(r0.as_ptr().add(2 * j), 2 * m);
        let (c0, c1) = deinterleave(r1.as_ptr().add(2 * j), 2 * m);
        let mx = _mm512_max_ps(_mm512_max_ps(a0, a1), _mm512_max_ps(c0, c1));
        let d = _mm512_maskz_loadu_ps(lanes(m), dy.as_ptr().add(j));
        let k0 = _mm512_cmp_ps_mask::<_CMP_EQ_OQ>(a0, mx);
        let k1 = _mm512_cmp_ps_mask::<_CMP_EQ_OQ>(a1, mx) & !k0;
        let k2 = _mm512_cmp_ps_mask::<_CMP_EQ_OQ>(c0, mx) & !(k0 | k1);
        let k3 = !(k0 | k1 | k2);
        let z = |k| _mm512_maskz_mov_ps(k, d);
        interleave(t.as_mut_ptr().add(2 * j), 2 * m, z(k0), z(k1));
        interleave(b.as_mut_ptr().add(2 * j), 2 * m, z(k2), z(k3));
    }
}
