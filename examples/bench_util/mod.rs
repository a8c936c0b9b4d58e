//! Set-up shared by the kernel benchmarks (`kernel_bench`, `winograd_bench`).
#![allow(dead_code)]

/// `len` cheap deterministic values in [-1, 1) (xorshift from `seed`); their exact
/// distribution does not matter to a timing.
pub fn data(len: usize, seed: u32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(2654435761).max(1);
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s as f32 / u32::MAX as f32) * 2.0 - 1.0
        })
        .collect()
}

/// The median of `v` (the upper one of an even count).
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}
