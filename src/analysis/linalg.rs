//! The one product the f32 kernels (`crate::kernels::matmul`) do not offer: an f64
//! `aᵀ·b` for the PCA covariance, accumulated in f64 so its eigenvalues stay exact sums.

use gemm::Parallelism;

/// `c[m×n] (+)= aᵀ · b` where `a` is stored `[k, m]` and `b` is `[k, n]`, both row-major,
/// in f64; `accumulate` adds to `c` instead of overwriting. Single-threaded: callers
/// parallelise over blocks.
pub fn matmul_atb_f64(
    m: usize,
    k: usize,
    n: usize,
    a: &[f64],
    b: &[f64],
    c: &mut [f64],
    accumulate: bool,
) {
    assert!(a.len() >= m * k && b.len() >= n * k && c.len() >= m * n);
    if m == 0 || n == 0 {
        return;
    }
    // SAFETY: the slices hold the k×m, k×n and m×n strided views asserted above, and `c`
    // does not alias `a` or `b` (distinct borrows).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.as_ptr(),
            m as isize,
            1,
            b.as_ptr(),
            1,
            n as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            Parallelism::None,
        )
    }
}
