//! Exact t-SNE (van der Maaten & Hinton 2008) to 2-D, for a few thousand points.
//!
//! O(n²) per iteration, so it is meant for subsamples (2000–5000 points; the CLI samples
//! with a seed). Per-point precisions are calibrated by binary search so every conditional
//! distribution P(·|i) has entropy log(perplexity). Optimisation follows the reference
//! implementation: early exaggeration 12 for 250 iterations, momentum 0.5 then 0.8,
//! per-coordinate gains, learning rate max(n / 48, 50) (scikit-learn's "auto").

use rand::SeedableRng;
use rand_distr::{Distribution, Normal};
use rayon::prelude::*;

use crate::kernels::matmul;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TsneParams {
    pub perplexity: f64,
    pub iterations: usize,
    pub seed: u64,
}

impl Default for TsneParams {
    fn default() -> Self {
        Self {
            perplexity: 30.0,
            iterations: 1000,
            seed: 0,
        }
    }
}

/// Result: `n × 2` coordinates and the final KL(P‖Q).
#[derive(Debug, Clone)]
pub struct Embedding {
    pub points: Vec<[f64; 2]>,
    pub kl_divergence: f64,
}

/// Squared Euclidean distances `n × n` (f64), from a Gram matrix.
pub fn squared_distances(x: &[f32], dim: usize) -> Vec<f64> {
    let n = x.len() / dim;
    let mut g = vec![0f32; n * n];
    g.par_chunks_mut(n * 64)
        .zip(x.par_chunks(dim * 64))
        .for_each(|(gb, xb)| matmul(xb.len() / dim, dim, n, xb, false, x, true, gb, false));
    let norms: Vec<f64> = (0..n).map(|i| g[i * n + i] as f64).collect();
    let mut d = vec![0f64; n * n];
    d.par_chunks_mut(n).enumerate().for_each(|(i, row)| {
        for j in 0..n {
            row[j] = if i == j {
                0.0
            } else {
                (norms[i] + norms[j] - 2.0 * g[i * n + j] as f64).max(0.0)
            };
        }
    });
    d
}

/// Conditional distribution of one row at precision `beta` (j = i excluded), and its
/// entropy in nats. Distances are shifted by their minimum for stability.
fn row_distribution(d: &[f64], i: usize, beta: f64, out: &mut [f64]) -> f64 {
    let min = d
        .iter()
        .enumerate()
        .filter(|&(j, _)| j != i)
        .map(|(_, &v)| v)
        .fold(f64::INFINITY, f64::min);
    let mut sum = 0.0;
    for (j, (&dj, o)) in d.iter().zip(out.iter_mut()).enumerate() {
        *o = if j == i {
            0.0
        } else {
            (-(dj - min) * beta).exp()
        };
        sum += *o;
    }
    let mut h = 0.0;
    for (j, o) in out.iter_mut().enumerate() {
        *o /= sum;
        if j != i && *o > 0.0 {
            h -= *o * o.ln();
        }
    }
    h
}

/// Row-stochastic P(j|i) (`n × n`) with entropy log(perplexity) per row, by bisection on
/// the precision β = 1/(2σ²). Returns the matrix and the β of each row.
pub fn calibrate(d: &[f64], n: usize, perplexity: f64) -> (Vec<f64>, Vec<f64>) {
    let target = perplexity.ln();
    let mut p = vec![0f64; n * n];
    let betas: Vec<f64> = p
        .par_chunks_mut(n)
        .enumerate()
        .map(|(i, row)| {
            let drow = &d[i * n..(i + 1) * n];
            let (mut lo, mut hi, mut beta) = (0.0f64, f64::INFINITY, 1.0f64);
            for _ in 0..200 {
                let h = row_distribution(drow, i, beta, row);
                if (h - target).abs() < 1e-6 {
                    break;
                }
                // Entropy falls as β grows.
                if h > target {
                    lo = beta;
                    beta = if hi.is_finite() {
                        (beta + hi) / 2.0
                    } else {
                        beta * 2.0
                    };
                } else {
                    hi = beta;
                    beta = (beta + lo) / 2.0;
                }
            }
            row_distribution(drow, i, beta, row);
            beta
        })
        .collect();
    (p, betas)
}

/// Embeds `x` (`n × dim`) in 2-D.
pub fn embed(x: &[f32], dim: usize, params: &TsneParams) -> miette::Result<Embedding> {
    embed_with_progress(x, dim, params, &|_, _| {})
}

/// Iterations between two KL divergences passed to the progress callback.
pub const KL_EVERY: usize = 50;

/// [`embed`], calling `progress(iterations done, KL)` after every iteration; the KL
/// divergence KL(P‖Q) is computed every [`KL_EVERY`] iterations and at the last one
/// (`None` in between: it costs as much as a gradient).
pub fn embed_with_progress(
    x: &[f32],
    dim: usize,
    params: &TsneParams,
    progress: &(dyn Fn(usize, Option<f64>) + Sync),
) -> miette::Result<Embedding> {
    if dim == 0 || !x.len().is_multiple_of(dim) {
        return Err(miette::miette!(
            "t-SNE: {} values do not form rows of {dim}",
            x.len()
        ));
    }
    let n = x.len() / dim;
    if n < 4 || (n as f64) <= 3.0 * params.perplexity {
        return Err(miette::miette!(
            "t-SNE: {n} points are too few for perplexity {} (need more than 3 × perplexity)",
            params.perplexity
        ));
    }
    let d = squared_distances(x, dim);
    let (cond, _) = calibrate(&d, n, params.perplexity);
    drop(d);
    // Symmetrise: p_ij = (p_j|i + p_i|j) / 2n.
    let mut p = vec![0f64; n * n];
    p.par_chunks_mut(n).enumerate().for_each(|(i, row)| {
        for j in 0..n {
            row[j] = ((cond[i * n + j] + cond[j * n + i]) / (2.0 * n as f64)).max(1e-12);
        }
    });
    drop(cond);

    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(params.seed);
    let normal = Normal::new(0.0, 1e-4).expect("valid normal");
    let mut y: Vec<[f64; 2]> = (0..n)
        .map(|_| [normal.sample(&mut rng), normal.sample(&mut rng)])
        .collect();
    let mut update = vec![[0f64; 2]; n];
    let mut gains = vec![[1f64; 2]; n];
    let lr = (n as f64 / 48.0).max(50.0);
    let exaggeration_iters = 250.min(params.iterations);
    let mut kl = 0.0;
    for it in 0..params.iterations {
        let exaggeration = if it < exaggeration_iters { 12.0 } else { 1.0 };
        let momentum = if it < exaggeration_iters { 0.5 } else { 0.8 };
        // Z = Σ_{k≠l} 1 / (1 + ‖y_k − y_l‖²). Row sums in parallel, added in row order:
        // rayon's own sum splits adaptively, so its rounding (and, amplified over the
        // iterations, the map) would change from run to run.
        let z_rows: Vec<f64> = (0..n)
            .into_par_iter()
            .map(|i| {
                let yi = y[i];
                let mut s = 0.0;
                for (j, yj) in y.iter().enumerate() {
                    if j != i {
                        let (a, b) = (yi[0] - yj[0], yi[1] - yj[1]);
                        s += 1.0 / (1.0 + a * a + b * b);
                    }
                }
                s
            })
            .collect();
        let z: f64 = z_rows.iter().sum();
        let last = it + 1 == params.iterations;
        let with_kl = last || (it + 1).is_multiple_of(KL_EVERY);
        let (grad, kls): (Vec<[f64; 2]>, Vec<f64>) = (0..n)
            .into_par_iter()
            .map(|i| {
                let yi = y[i];
                let prow = &p[i * n..(i + 1) * n];
                let (mut gx, mut gy, mut klr) = (0.0, 0.0, 0.0);
                for (j, yj) in y.iter().enumerate() {
                    if j == i {
                        continue;
                    }
                    let (a, b) = (yi[0] - yj[0], yi[1] - yj[1]);
                    let num = 1.0 / (1.0 + a * a + b * b);
                    let q = num / z;
                    let m = (exaggeration * prow[j] - q) * num;
                    gx += m * a;
                    gy += m * b;
                    if with_kl {
                        klr += prow[j] * (prow[j] / q.max(1e-300)).ln();
                    }
                }
                ([4.0 * gx, 4.0 * gy], klr)
            })
            .unzip();
        if with_kl {
            kl = kls.iter().sum();
        }
        progress(it + 1, with_kl.then_some(kl));
        descend(&mut y, &mut update, &mut gains, &grad, momentum, lr);
    }
    if y.iter().any(|p| !p[0].is_finite() || !p[1].is_finite()) {
        return Err(miette::miette!("t-SNE diverged (non-finite coordinates)"));
    }
    Ok(Embedding {
        points: y,
        kl_divergence: kl,
    })
}

/// One step of the reference optimiser, shared by the exact and Barnes-Hut methods:
/// momentum with per-coordinate gains (+0.2 when the gradient changes sign against the
/// last update, ×0.8 otherwise, at least 0.01), then the embedding is re-centred.
pub(super) fn descend(
    y: &mut [[f64; 2]],
    update: &mut [[f64; 2]],
    gains: &mut [[f64; 2]],
    grad: &[[f64; 2]],
    momentum: f64,
    lr: f64,
) {
    for i in 0..y.len() {
        for c in 0..2 {
            let g = grad[i][c];
            gains[i][c] = if (g > 0.0) != (update[i][c] > 0.0) {
                gains[i][c] + 0.2
            } else {
                (gains[i][c] * 0.8).max(0.01)
            };
            update[i][c] = momentum * update[i][c] - lr * gains[i][c] * g;
            y[i][c] += update[i][c];
        }
    }
    let n = y.len() as f64;
    let (mx, my) = y.iter().fold((0.0, 0.0), |a, p| (a.0 + p[0], a.1 + p[1]));
    for p in y.iter_mut() {
        p[0] -= mx / n;
        p[1] -= my / n;
    }
}
