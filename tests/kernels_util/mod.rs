//! Shared helpers for the kernel tests: seeded random data and an f32-sum tolerance.
#![allow(dead_code)]
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

pub fn random(rng: &mut ChaCha8Rng, len: usize) -> Vec<f32> {
    (0..len).map(|_| rng.gen_range(-1.0f32..1.0)).collect()
}

/// Asserts `got ≈ want` elementwise. `terms` is how many products each value sums:
/// f32 rounding grows with it, so the tolerance is relative to the typical magnitude
/// of such a sum (√terms for inputs in [-1, 1]) as well as to the value itself.
pub fn assert_close(got: &[f32], want: &[f32], terms: usize, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let scale = (terms.max(1) as f32).sqrt();
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let tol = 1e-4 * (w.abs() + scale);
        assert!(
            (g - w).abs() <= tol,
            "{what}: index {i}: got {g}, want {w} (tol {tol})"
        );
    }
}

/// Checks `kernels::matmul` against the naive reference on every shape `(m, k, n)`,
/// with each operand plain or transposed and with and without accumulation. `start`
/// gives the output's starting contents (its length, whether the product accumulates);
/// `what` names the kernel in failure messages.
pub fn check_matmul_against_reference(
    r: &mut ChaCha8Rng,
    shapes: &[(usize, usize, usize)],
    what: &str,
    start: impl Fn(&mut ChaCha8Rng, usize, bool) -> Vec<f32>,
) {
    use archc::kernels::{matmul, reference};
    for &(m, k, n) in shapes {
        for a_t in [false, true] {
            for b_t in [false, true] {
                for acc in [false, true] {
                    let a = random(r, m * k);
                    let b = random(r, k * n);
                    let c0 = start(r, m * n, acc);
                    let (mut got, mut want) = (c0.clone(), c0);
                    matmul(m, k, n, &a, a_t, &b, b_t, &mut got, acc);
                    reference::matmul(m, k, n, &a, a_t, &b, b_t, &mut want, acc);
                    let what = format!("{what} {m}x{k}x{n} a_t={a_t} b_t={b_t} acc={acc}");
                    assert_close(&got, &want, k + 1, &what);
                }
            }
        }
    }
}
