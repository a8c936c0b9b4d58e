//! Safe strided f32 GEMM entry point: our AVX-512 kernel when the CPU has it, else the
//! `gemm` crate (AVX2 on stable). Checks every extent before handing out raw pointers.

/// A read-only strided matrix view: element (i, j) lives at `data[i * rs + j * cs]`.
#[derive(Clone, Copy)]
pub(crate) struct View<'a> {
    pub data: &'a [f32],
    pub rs: usize,
    pub cs: usize,
}

impl<'a> View<'a> {
    /// Row-major `[rows, cols]`, or its transpose when `t` (stored `[cols, rows]`).
    pub fn row_major(data: &'a [f32], cols_stored: usize, t: bool) -> Self {
        if t {
            View {
                data,
                rs: 1,
                cs: cols_stored,
            }
        } else {
            View {
                data,
                rs: cols_stored,
                cs: 1,
            }
        }
    }

    /// The transpose: the same data with the strides swapped.
    pub fn t(self) -> Self {
        View {
            data: self.data,
            rs: self.cs,
            cs: self.rs,
        }
    }

    /// Highest index touched by a `rows × cols` view, plus one.
    fn extent(&self, rows: usize, cols: usize) -> usize {
        if rows == 0 || cols == 0 {
            0
        } else {
            (rows - 1) * self.rs + (cols - 1) * self.cs + 1
        }
    }
}

/// The destination pointer, shared by threads that write disjoint blocks.
struct DstPtr(*mut f32);
// SAFETY: only used for disjoint writes while the `&mut` it came from is held.
unsafe impl Sync for DstPtr {}

/// Whether a product of this size is worth splitting over rayon's threads.
/// Below ~1 MFLOP the fork/join costs more than it saves.
pub(crate) fn parallel_worthwhile(m: usize, k: usize, n: usize) -> bool {
    m * k * n >= 1 << 19 && rayon::current_num_threads() > 1
}

/// Checks C's extent (m, n ≥ 1) and handles k = 0, where A·B is zero: C is cleared
/// unless accumulating. True when nothing is left to compute.
fn check_dst_or_empty_product(
    m: usize,
    k: usize,
    n: usize,
    dst: &mut [f32],
    dst_rs: usize,
    accumulate: bool,
) -> bool {
    assert!(n <= dst_rs || m == 1, "gemm: dst rows overlap");
    assert!((m - 1) * dst_rs + n <= dst.len(), "gemm: dst too short");
    if k == 0 && !accumulate {
        for row in dst.chunks_mut(dst_rs).take(m) {
            row[..n].fill(0.0);
        }
    }
    k == 0
}

/// dst[m×n] (row-major, row stride `dst_rs`) = lhs·rhs (+ dst if `accumulate`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn sgemm(
    m: usize,
    k: usize,
    n: usize,
    lhs: View,
    rhs: View,
    dst: &mut [f32],
    dst_rs: usize,
    accumulate: bool,
    parallel: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(lhs.extent(m, k) <= lhs.data.len(), "gemm: lhs too short");
    assert!(rhs.extent(k, n) <= rhs.data.len(), "gemm: rhs too short");
    if check_dst_or_empty_product(m, k, n, dst, dst_rs, accumulate) {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if super::avx512::available() && skinny(m, n) {
        transposed(m, k, n, lhs, rhs, dst, dst_rs, accumulate, parallel);
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if super::avx512::available() {
        use super::avx512::Mat;
        let a = Mat {
            ptr: lhs.data.as_ptr(),
            rs: lhs.rs,
            cs: lhs.cs,
        };
        let b = Mat {
            ptr: rhs.data.as_ptr(),
            rs: rhs.rs,
            cs: rhs.cs,
        };
        let c = DstPtr(dst.as_mut_ptr());
        let threads = rayon::current_num_threads();
        if !(parallel && parallel_worthwhile(m, k, n)) {
            // SAFETY: extents checked above; `dst` is exclusively borrowed.
            unsafe { super::avx512::gemm(m, k, n, a, b, c.0, dst_rs, accumulate) };
            return;
        }
        // Split the longer side of C into one block per thread; blocks are disjoint.
        let split_rows = m >= n;
        let len = if split_rows { m } else { n };
        let step = len.div_ceil(threads).next_multiple_of(32);
        let blocks: Vec<usize> = (0..len).step_by(step).collect();
        use rayon::prelude::*;
        blocks.into_par_iter().for_each(|s| {
            let e = (s + step).min(len);
            let c = &c;
            // SAFETY: each block writes its own rows or columns of C, inside its extent.
            unsafe {
                if split_rows {
                    let a = Mat {
                        ptr: a.ptr.add(s * a.rs),
                        ..a
                    };
                    super::avx512::gemm(e - s, k, n, a, b, c.0.add(s * dst_rs), dst_rs, accumulate)
                } else {
                    let b = Mat {
                        ptr: b.ptr.add(s * b.cs),
                        ..b
                    };
                    super::avx512::gemm(m, k, e - s, a, b, c.0.add(s), dst_rs, accumulate)
                }
            }
        });
        return;
    }
    let par = if parallel && parallel_worthwhile(m, k, n) {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the asserts above keep every index the strides reach inside the slices;
    // `dst` is borrowed mutably, so it cannot alias `lhs` or `rhs`.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            dst_rs as isize,
            accumulate,
            lhs.data.as_ptr(),
            lhs.cs as isize,
            lhs.rs as isize,
            rhs.data.as_ptr(),
            rhs.cs as isize,
            rhs.rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            par,
        )
    }
}

/// Whether C (m×n) is so narrow that the kernel's 32-column tiles would mostly multiply
/// padding (a 10-class output layer fills 10 of 32 lanes) while its transpose fills
/// whole tiles: then Cᵀ = Bᵀ·Aᵀ is computed instead.
fn skinny(m: usize, n: usize) -> bool {
    n < super::TILE_N * 3 / 4 && m >= super::TILE_N
}

/// `sgemm` for a `skinny` C: Cᵀ (n×m) = Bᵀ·Aᵀ — the same views with strides swapped —
/// into a scratch buffer, then added or copied into C.
#[allow(clippy::too_many_arguments)]
fn transposed(
    m: usize,
    k: usize,
    n: usize,
    lhs: View,
    rhs: View,
    dst: &mut [f32],
    dst_rs: usize,
    accumulate: bool,
    parallel: bool,
) {
    // Reused per thread: svhn's F20 weight gradient needs 2.6 MB each step. The product
    // overwrites it (accumulate = false), so it is never cleared.
    let mut ct = CT_SCRATCH.with(|c| c.take());
    ct.resize(n * m, 0.0);
    sgemm(n, k, m, rhs.t(), lhs.t(), &mut ct, m, false, parallel);
    for (i, row) in dst.chunks_mut(dst_rs).take(m).enumerate() {
        for (j, c) in row[..n].iter_mut().enumerate() {
            let v = ct[j * m + i];
            *c = if accumulate { *c + v } else { v };
        }
    }
    CT_SCRATCH.with(|c| c.set(ct));
}

thread_local! {
    /// Cᵀ of `transposed`.
    static CT_SCRATCH: std::cell::Cell<Vec<f32>> = const { std::cell::Cell::new(Vec::new()) };
}

/// Whether `packed` and `pack_a` can be used: our AVX-512 kernel is in use. Without it
/// (no AVX-512F, or `ARCHC_NO_AVX512` set) callers keep to `sgemm` on plain views.
pub(crate) fn packed_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        super::avx512::available()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Floats `pack_a` writes for an m×k left operand.
pub(crate) fn packed_a_len(m: usize, k: usize) -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        super::avx512::packed_rows(m) * k
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (m, k);
        unreachable!("packed GEMM without AVX-512")
    }
}

/// Column width of the right operand's panels in `packed` (the kernel's register tile).
pub(crate) const PANEL: usize = 32;
#[cfg(target_arch = "x86_64")]
const _: () = assert!(PANEL == super::TILE_N);

/// Floats of a k×n right operand in `packed`'s panel layout: `[n / PANEL][k][PANEL]`.
pub(crate) fn packed_b_len(k: usize, n: usize) -> usize {
    n.div_ceil(PANEL) * k * PANEL
}

/// Packs the m×k left operand `a` once, for any number of `packed` products
/// (`out`: at least `packed_a_len(m, k)` floats). Needs `packed_available()`.
pub(crate) fn pack_a(m: usize, k: usize, a: View, out: &mut [f32]) {
    assert!(packed_available(), "gemm: packed path without AVX-512");
    assert!(a.extent(m, k) <= a.data.len(), "gemm: lhs too short");
    assert!(
        out.len() >= packed_a_len(m, k),
        "gemm: packed lhs too short"
    );
    #[cfg(target_arch = "x86_64")]
    {
        let a = super::avx512::Mat {
            ptr: a.data.as_ptr(),
            rs: a.rs,
            cs: a.cs,
        };
        // SAFETY: the view's extent was checked; AVX-512F is available.
        unsafe { super::avx512::pack_a_all(m, k, a, out) }
    }
}

/// dst[m×n] (row stride `dst_rs`) = A·B (+ dst if `accumulate`), single-threaded, with A
/// packed by `pack_a` and B given in PANEL-column panels (`packed_b_len`; lanes past n
/// in the last panel may hold anything). Needs `packed_available()`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn packed(
    m: usize,
    k: usize,
    n: usize,
    pa: &[f32],
    pb: &[f32],
    dst: &mut [f32],
    dst_rs: usize,
    accumulate: bool,
) {
    assert!(packed_available(), "gemm: packed path without AVX-512");
    if m == 0 || n == 0 {
        return;
    }
    assert!(pa.len() >= packed_a_len(m, k), "gemm: packed lhs too short");
    assert!(pb.len() >= packed_b_len(k, n), "gemm: packed rhs too short");
    if check_dst_or_empty_product(m, k, n, dst, dst_rs, accumulate) {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    // SAFETY: operand lengths and C's extent were checked; `dst` is exclusively
    // borrowed, so it aliases neither operand; AVX-512F is available.
    unsafe {
        super::avx512::gemm_packed(
            m,
            k,
            n,
            pa.as_ptr(),
            pb.as_ptr(),
            dst.as_mut_ptr(),
            dst_rs,
            accumulate,
        )
    }
}

/// dst[m×n] (row stride `dst_rs`) = A·B (+ dst if `accumulate`), single-threaded, with A
/// packed by `pack_a` and B a plain view (packed here, unless it is a row-major k × PANEL
/// matrix, which already is one panel). Needs `packed_available()`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn packed_lhs(
    m: usize,
    k: usize,
    n: usize,
    pa: &[f32],
    rhs: View,
    dst: &mut [f32],
    dst_rs: usize,
    accumulate: bool,
) {
    assert!(packed_available(), "gemm: packed path without AVX-512");
    if m == 0 || n == 0 {
        return;
    }
    assert!(pa.len() >= packed_a_len(m, k), "gemm: packed lhs too short");
    assert!(rhs.extent(k, n) <= rhs.data.len(), "gemm: rhs too short");
    if n == PANEL && rhs.rs == PANEL && rhs.cs == 1 {
        return packed(m, k, n, pa, &rhs.data[..k * PANEL], dst, dst_rs, accumulate);
    }
    if check_dst_or_empty_product(m, k, n, dst, dst_rs, accumulate) {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the operands' extents and C's were checked; `dst` is exclusively
    // borrowed, so it aliases neither operand; AVX-512F is available.
    unsafe {
        let b = super::avx512::Mat {
            ptr: rhs.data.as_ptr(),
            rs: rhs.rs,
            cs: rhs.cs,
        };
        super::avx512::gemm_packed_a(
            m,
            k,
            n,
            pa.as_ptr(),
            b,
            dst.as_mut_ptr(),
            dst_rs,
            accumulate,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `sgemm`, `packed_lhs` and `packed` share one loop nest and differ only in where
    /// the packed panels come from, so they must agree bit for bit — on a product with
    /// more than one block of rows (MC = 140), depth (KC = 256) and columns (NC = 1024).
    #[test]
    fn packed_forms_give_the_same_bits() {
        if !packed_available() {
            return;
        }
        let (m, k, n) = (150, 600, 1100);
        let val = |i: usize, s: usize| ((i * s) % 97) as f32 / 97.0 - 0.5;
        let a: Vec<f32> = (0..m * k).map(|i| val(i, 31)).collect();
        let b: Vec<f32> = (0..k * n).map(|i| val(i, 17)).collect();
        let c0: Vec<f32> = (0..m * n).map(|i| val(i, 7)).collect();
        let mut pa = vec![0.0; packed_a_len(m, k)];
        pack_a(m, k, View::row_major(&a, k, false), &mut pa);
        let mut pb = vec![0.0; packed_b_len(k, n)];
        for j in 0..n {
            for p in 0..k {
                pb[((j / PANEL) * k + p) * PANEL + j % PANEL] = b[p * n + j];
            }
        }
        for accumulate in [false, true] {
            let mut plain = c0.clone();
            let (av, bv) = (View::row_major(&a, k, false), View::row_major(&b, n, false));
            sgemm(m, k, n, av, bv, &mut plain, n, accumulate, false);
            let mut lhs = c0.clone();
            packed_lhs(m, k, n, &pa, bv, &mut lhs, n, accumulate);
            let mut both = c0.clone();
            packed(m, k, n, &pa, &pb, &mut both, n, accumulate);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert!(
                bits(&plain) == bits(&lhs),
                "packed_lhs differs (acc {accumulate})"
            );
            assert!(
                bits(&plain) == bits(&both),
                "packed differs (acc {accumulate})"
            );
            let i = 149 * n + 1099;
            let want: f64 = (0..k)
                .map(|p| a[149 * k + p] as f64 * b[p * n + 1099] as f64)
                .sum::<f64>()
                + if accumulate { c0[i] as f64 } else { 0.0 };
            assert!(
                (plain[i] as f64 - want).abs() < 1e-3,
                "{} vs {want}",
                plain[i]
            );
        }
    }
}
