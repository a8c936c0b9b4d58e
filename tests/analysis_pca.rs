//! PCA against the eigen-decomposition identities.

use archc::analysis::pca;
use rand::SeedableRng;
use rand_distr::{Distribution, Normal};

/// n points in `dim` dimensions with very different variances along a rotated basis.
fn anisotropic(n: usize, dim: usize, seed: u64) -> Vec<f32> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let z = Normal::new(0.0f64, 1.0).unwrap();
    let mut out = Vec::with_capacity(n * dim);
    for _ in 0..n {
        let s: Vec<f64> = (0..dim)
            .map(|j| z.sample(&mut rng) * 3.0 / (1.0 + j as f64))
            .collect();
        // A fixed mixing: x_i = Σ_j s_j cos(0.3 (i+1)(j+1)) + offset (not orthogonal, so
        // the principal directions are not the axes).
        for i in 0..dim {
            let v: f64 = s
                .iter()
                .enumerate()
                .map(|(j, sj)| sj * (0.3 * ((i + 1) * (j + 1)) as f64).cos())
                .sum();
            out.push((v + 0.5 + 0.1 * i as f64) as f32);
        }
    }
    out
}

#[test]
fn components_are_orthonormal_and_eigenvalues_sorted() {
    let dim = 12;
    let x = anisotropic(2000, dim, 1);
    let p = pca::fit(&x, dim, dim).unwrap();
    for a in 0..dim {
        for b in 0..dim {
            let dot: f64 = (0..dim)
                .map(|i| p.components[a * dim + i] as f64 * p.components[b * dim + i] as f64)
                .sum();
            let want = if a == b { 1.0 } else { 0.0 };
            assert!((dot - want).abs() < 1e-5, "v{a}·v{b} = {dot}");
        }
    }
    assert!(p.eigenvalues.windows(2).all(|w| w[0] >= w[1]));
}

#[test]
fn reconstruction_error_is_sum_of_discarded_eigenvalues() {
    let dim = 12;
    let n = 3000;
    let x = anisotropic(n, dim, 2);
    let p = pca::fit(&x, dim, 8).unwrap();
    // Independent check of the eigenvalues: total variance = trace of the covariance.
    let mut mean = vec![0f64; dim];
    for r in x.chunks(dim) {
        for i in 0..dim {
            mean[i] += r[i] as f64 / n as f64;
        }
    }
    let trace: f64 = x
        .chunks(dim)
        .map(|r| {
            (0..dim)
                .map(|i| (r[i] as f64 - mean[i]).powi(2))
                .sum::<f64>()
        })
        .sum::<f64>()
        / n as f64;
    let total: f64 = p.eigenvalues.iter().sum();
    assert!((total - trace).abs() < 1e-6 * trace, "{total} vs {trace}");
    for d in [1, 3, 8] {
        let codes = p.encode(&x, d);
        let r = p.decode(&codes, d);
        let err = pca::reconstruction_error(&x, &r, dim);
        let discarded: f64 = p.eigenvalues[d..].iter().sum();
        assert!(
            (err.sse_per_example - discarded).abs() < 1e-4 * trace,
            "d = {d}: error {} vs discarded eigenvalues {discarded}",
            err.sse_per_example
        );
        // The variance of each code coordinate is its eigenvalue.
        for c in 0..d {
            let var: f64 = codes.chunks(d).map(|z| (z[c] as f64).powi(2)).sum::<f64>() / n as f64;
            assert!(
                (var - p.eigenvalues[c]).abs() < 1e-4 * trace,
                "component {c}"
            );
        }
    }
}

#[test]
fn reconstruction_error_units() {
    // Two 2-pixel examples, hand-computed.
    let x = [0.0f32, 1.0, 1.0, 0.5];
    let r = [0.5f32, 1.0, 0.5, 0.5];
    let e = pca::reconstruction_error(&x, &r, 2);
    assert!((e.sse_per_example - 0.25).abs() < 1e-12);
    assert!((e.mse_per_pixel - 0.125).abs() < 1e-12);
    // BCE: example 1: −ln 0.5 − ln(1 − ε→1) ≈ ln 2 + ε; example 2: −ln .5 − (.5 ln .5 + .5 ln .5).
    let ln2 = std::f64::consts::LN_2;
    let want = (ln2 + 2.0 * ln2) / 2.0;
    assert!(
        (e.bce_per_example - want).abs() < 1e-5,
        "{}",
        e.bce_per_example
    );
    assert!((e.bce_per_pixel - want / 2.0).abs() < 1e-5);
}

#[test]
fn bad_input_is_an_error() {
    assert!(pca::fit(&[0.0; 7], 3, 1).is_err());
    assert!(pca::fit(&[0.0; 6], 3, 4).is_err());
    assert!(pca::fit(&[0.0; 6], 3, 0).is_err());
}
