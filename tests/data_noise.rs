//! Input noise: empirical keep fraction and moments against the definitions.

use archc::data::apply_noise;
use archc::ir::Noise;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

#[test]
fn mask_keeps_the_keep_fraction_and_leaves_kept_values_alone() {
    let n = 200_000;
    for keep in [0.1f32, 0.5, 0.75, 0.95] {
        let orig: Vec<f32> = (0..n).map(|i| 0.1 + (i % 9) as f32 * 0.1).collect(); // never 0
        let mut x = orig.clone();
        apply_noise(
            &Noise::Mask { keep },
            &mut x,
            &mut ChaCha8Rng::seed_from_u64(1),
        );
        let kept = x.iter().zip(&orig).filter(|(a, b)| a == b).count();
        let zeroed = x.iter().filter(|&&a| a == 0.0).count();
        assert_eq!(kept + zeroed, n, "every value is either kept or zeroed");
        let frac = kept as f64 / n as f64;
        // Binomial standard error sqrt(p(1-p)/n) ≤ 0.0012; allow 5 of them.
        let se = (keep as f64 * (1.0 - keep as f64) / n as f64).sqrt();
        assert!(
            (frac - keep as f64).abs() < 5.0 * se,
            "keep {keep}: kept {frac}"
        );
    }
}

#[test]
fn gaussian_adds_zero_mean_noise_of_variance_sigma_squared() {
    let n = 200_000;
    let sigma = 0.3f32;
    let orig: Vec<f32> = (0..n).map(|i| (i % 7) as f32 / 7.0).collect();
    let mut x = orig.clone();
    apply_noise(
        &Noise::Gaussian { sigma, clip: false },
        &mut x,
        &mut ChaCha8Rng::seed_from_u64(2),
    );
    let d: Vec<f64> = x.iter().zip(&orig).map(|(a, b)| (a - b) as f64).collect();
    let mean = d.iter().sum::<f64>() / n as f64;
    let var = d.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    let s2 = (sigma * sigma) as f64;
    // SE of the mean σ/√n ≈ 0.00067; SE of the variance σ²·√(2/n) ≈ 0.00028.
    assert!(mean.abs() < 0.004, "mean {mean}");
    assert!((var - s2).abs() < 0.0015, "variance {var} vs {s2}");
    // Additive, not multiplicative: zeros get noise too.
    assert!(x.iter().zip(&orig).any(|(a, &b)| b == 0.0 && *a != 0.0));
}

#[test]
fn gaussian_clip_stays_in_unit_interval() {
    let mut x: Vec<f32> = (0..10_000).map(|i| (i % 2) as f32).collect();
    apply_noise(
        &Noise::Gaussian {
            sigma: 0.5,
            clip: true,
        },
        &mut x,
        &mut ChaCha8Rng::seed_from_u64(3),
    );
    assert!(x.iter().all(|v| (0.0..=1.0).contains(v)));
    // About half of the noise on 0s is negative → clipped to exactly 0.
    let zeros = x.iter().step_by(2).filter(|&&v| v == 0.0).count();
    assert!((zeros as f64 / 5000.0 - 0.5).abs() < 0.05, "{zeros}");
}

#[test]
fn noise_is_reproducible_from_the_seed() {
    let base: Vec<f32> = (0..1000).map(|i| i as f32 / 1000.0).collect();
    for noise in [
        Noise::Mask { keep: 0.6 },
        Noise::Gaussian {
            sigma: 0.2,
            clip: true,
        },
    ] {
        let (mut a, mut b, mut c) = (base.clone(), base.clone(), base.clone());
        apply_noise(&noise, &mut a, &mut ChaCha8Rng::seed_from_u64(9));
        apply_noise(&noise, &mut b, &mut ChaCha8Rng::seed_from_u64(9));
        apply_noise(&noise, &mut c, &mut ChaCha8Rng::seed_from_u64(10));
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}
