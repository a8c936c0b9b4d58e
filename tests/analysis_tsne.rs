//! t-SNE: perplexity calibration and preservation of well-separated clusters.

use archc::analysis::tsne;
use rand::SeedableRng;
use rand_distr::{Distribution, Normal};

fn clusters(per: usize, k: usize, dim: usize, seed: u64) -> (Vec<f32>, Vec<usize>) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let z = Normal::new(0.0f32, 1.0).unwrap();
    let mut x = Vec::new();
    let mut lab = Vec::new();
    for c in 0..k {
        for _ in 0..per {
            for i in 0..dim {
                // Centres 20 apart on different axes; unit spread.
                let centre = if i == c { 20.0 } else { 0.0 };
                x.push(centre + z.sample(&mut rng));
            }
            lab.push(c);
        }
    }
    (x, lab)
}

#[test]
fn calibration_hits_target_entropy() {
    let (x, _) = clusters(60, 3, 5, 3);
    let n = 180;
    let d = tsne::squared_distances(&x, 5);
    // Distances against a direct computation.
    for (i, j) in [(0, 1), (5, 100), (179, 3)] {
        let want: f64 = (0..5)
            .map(|c| ((x[i * 5 + c] - x[j * 5 + c]) as f64).powi(2))
            .sum();
        assert!((d[i * n + j] - want).abs() < 1e-3 * want.max(1.0));
    }
    for perp in [5.0, 20.0] {
        let (p, betas) = tsne::calibrate(&d, n, perp);
        for i in 0..n {
            let row = &p[i * n..(i + 1) * n];
            assert_eq!(row[i], 0.0);
            let sum: f64 = row.iter().sum();
            assert!((sum - 1.0).abs() < 1e-9);
            let h: f64 = row.iter().filter(|&&v| v > 0.0).map(|&v| -v * v.ln()).sum();
            assert!(
                (h.exp() - perp).abs() < 1e-3 * perp,
                "row {i}: perplexity {}",
                h.exp()
            );
            // The row really is a Gaussian kernel at the returned precision.
            let w: Vec<f64> = (0..n)
                .map(|j| {
                    if j == i {
                        0.0
                    } else {
                        (-betas[i] * d[i * n + j]).exp()
                    }
                })
                .collect();
            let ws: f64 = w.iter().sum();
            for j in [0, 7, 90] {
                assert!((row[j] - w[j] / ws).abs() < 1e-9);
            }
        }
    }
}

#[test]
fn separated_clusters_stay_separated() {
    let (x, lab) = clusters(80, 3, 10, 5);
    let params = tsne::TsneParams {
        perplexity: 20.0,
        iterations: 500,
        seed: 1,
    };
    let e = tsne::embed(&x, 10, &params).unwrap();
    let n = lab.len();
    // Every point's nearest 2-D neighbour is in its own cluster, and each cluster's
    // diameter is smaller than the distance between any two cluster centres.
    for i in 0..n {
        let (mut best, mut bd) = (usize::MAX, f64::INFINITY);
        for j in 0..n {
            if j != i {
                let dd = (e.points[i][0] - e.points[j][0]).powi(2)
                    + (e.points[i][1] - e.points[j][1]).powi(2);
                if dd < bd {
                    bd = dd;
                    best = j;
                }
            }
        }
        assert_eq!(lab[best], lab[i], "point {i}");
    }
    let centre = |c: usize| {
        let pts: Vec<&[f64; 2]> = e
            .points
            .iter()
            .zip(&lab)
            .filter(|(_, &l)| l == c)
            .map(|(p, _)| p)
            .collect();
        let m = pts.len() as f64;
        [
            pts.iter().map(|p| p[0]).sum::<f64>() / m,
            pts.iter().map(|p| p[1]).sum::<f64>() / m,
        ]
    };
    let radius = |c: usize, m: [f64; 2]| {
        e.points
            .iter()
            .zip(&lab)
            .filter(|(_, &l)| l == c)
            .map(|(p, _)| ((p[0] - m[0]).powi(2) + (p[1] - m[1]).powi(2)).sqrt())
            .fold(0.0, f64::max)
    };
    let cs: Vec<[f64; 2]> = (0..3).map(centre).collect();
    for a in 0..3 {
        for b in a + 1..3 {
            let dist = ((cs[a][0] - cs[b][0]).powi(2) + (cs[a][1] - cs[b][1]).powi(2)).sqrt();
            assert!(
                dist > radius(a, cs[a]) + radius(b, cs[b]),
                "clusters {a} and {b} overlap"
            );
        }
    }
    assert!(e.kl_divergence.is_finite() && e.kl_divergence >= 0.0);
}

#[test]
fn too_few_points_is_an_error() {
    assert!(tsne::embed(&[0.0; 20], 2, &tsne::TsneParams::default()).is_err());
}

#[test]
fn progress_sees_every_iteration_and_the_final_kl() {
    use archc::analysis::tsne::{embed, embed_with_progress, TsneParams, KL_EVERY};
    use std::sync::Mutex;
    // Two tight clusters of 20 points in 3-D.
    let x: Vec<f32> = (0..40)
        .flat_map(|i| {
            let c = if i < 20 { 0.0 } else { 10.0 };
            [c + (i % 5) as f32 * 0.1, c + (i % 7) as f32 * 0.1, c]
        })
        .collect();
    let params = TsneParams {
        perplexity: 5.0,
        iterations: 120,
        seed: 1,
    };
    let seen = Mutex::new(Vec::new());
    let emb = embed_with_progress(&x, 3, &params, &|done, kl| {
        seen.lock().unwrap().push((done, kl))
    })
    .expect("embed");
    let seen = seen.into_inner().unwrap();
    let done: Vec<usize> = seen.iter().map(|s| s.0).collect();
    assert_eq!(done, (1..=120).collect::<Vec<_>>());
    let with_kl: Vec<usize> = seen.iter().filter(|s| s.1.is_some()).map(|s| s.0).collect();
    assert_eq!(with_kl, [KL_EVERY, 2 * KL_EVERY, 120]);
    assert_eq!(seen.last().unwrap().1, Some(emb.kl_divergence));
    // Reporting changes nothing: the plain embedding is the same.
    assert_eq!(embed(&x, 3, &params).expect("embed").points, emb.points);
}
