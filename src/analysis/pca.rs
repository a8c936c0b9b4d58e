//! Exact PCA: eigen-decomposition (faer) of the covariance of the training split.
//!
//! The covariance is the population one, Σ = XcᵀXc / n, accumulated in f64, so on the
//! fitting data the mean summed squared reconstruction error per example with d'
//! components equals the sum of the discarded eigenvalues.

use rayon::prelude::*;

use super::linalg::matmul_atb_f64;
use crate::kernels::matmul;

/// A fitted PCA: mean, principal directions (rows, by decreasing variance) and all
/// eigenvalues of the covariance (decreasing).
#[derive(Debug, Clone)]
pub struct Pca {
    pub dim: usize,
    pub mean: Vec<f32>,
    /// `[n_components, dim]` row-major, orthonormal rows.
    pub components: Vec<f32>,
    pub n_components: usize,
    pub eigenvalues: Vec<f64>,
}

/// Rows per block when streaming over examples.
const ROW_BLOCK: usize = 1024;

/// Fits on `x` (`n × dim`), keeping the `max_components` leading directions.
pub fn fit(x: &[f32], dim: usize, max_components: usize) -> miette::Result<Pca> {
    if dim == 0 || !x.len().is_multiple_of(dim) || x.is_empty() {
        return Err(miette::miette!(
            "PCA: {} values do not form rows of {dim}",
            x.len()
        ));
    }
    let n = x.len() / dim;
    if max_components == 0 || max_components > dim {
        return Err(miette::miette!(
            "PCA: {max_components} components requested for dimension {dim}"
        ));
    }
    let mut mean = vec![0f64; dim];
    for r in x.chunks(dim) {
        for (m, v) in mean.iter_mut().zip(r) {
            *m += *v as f64;
        }
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);
    let cov = x
        .par_chunks(ROW_BLOCK * dim)
        .fold(
            || vec![0f64; dim * dim],
            |mut acc, block| {
                let rows = block.len() / dim;
                let centred: Vec<f64> = block
                    .iter()
                    .enumerate()
                    .map(|(i, &v)| v as f64 - mean[i % dim])
                    .collect();
                matmul_atb_f64(dim, rows, dim, &centred, &centred, &mut acc, true);
                acc
            },
        )
        .reduce(
            || vec![0f64; dim * dim],
            |mut a, b| {
                a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
                a
            },
        );
    let m = faer::Mat::<f64>::from_fn(dim, dim, |i, j| cov[i * dim + j] / n as f64);
    let evd = m.selfadjoint_eigendecomposition(faer::Side::Lower);
    let s = evd.s().column_vector();
    let u = evd.u();
    // faer returns eigenvalues in increasing order; we want decreasing.
    let mut order: Vec<usize> = (0..dim).collect();
    order.sort_by(|&a, &b| s.read(b).total_cmp(&s.read(a)));
    let eigenvalues: Vec<f64> = order.iter().map(|&i| s.read(i).max(0.0)).collect();
    let mut components = vec![0f32; max_components * dim];
    for (c, &col) in order.iter().take(max_components).enumerate() {
        // Sign convention: the largest-magnitude entry is positive (deterministic output).
        let mut pivot = 0;
        for i in 0..dim {
            if u.read(i, col).abs() > u.read(pivot, col).abs() {
                pivot = i;
            }
        }
        let sign = if u.read(pivot, col) < 0.0 { -1.0 } else { 1.0 };
        for i in 0..dim {
            components[c * dim + i] = (sign * u.read(i, col)) as f32;
        }
    }
    Ok(Pca {
        dim,
        mean: mean.iter().map(|&v| v as f32).collect(),
        components,
        n_components: max_components,
        eigenvalues,
    })
}

impl Pca {
    /// Codes `n × d` of `x` on the `d` leading components.
    pub fn encode(&self, x: &[f32], d: usize) -> Vec<f32> {
        assert!(d <= self.n_components && x.len().is_multiple_of(self.dim));
        let n = x.len() / self.dim;
        let mut codes = vec![0f32; n * d];
        let v = &self.components[..d * self.dim];
        codes
            .par_chunks_mut(ROW_BLOCK * d.max(1))
            .zip(x.par_chunks(ROW_BLOCK * self.dim))
            .for_each(|(c, xb)| {
                let rows = xb.len() / self.dim;
                let centred: Vec<f32> = xb
                    .iter()
                    .enumerate()
                    .map(|(i, &v)| v - self.mean[i % self.dim])
                    .collect();
                matmul(rows, self.dim, d, &centred, false, v, true, c, false);
            });
        codes
    }

    /// Reconstructions `n × dim` from codes `n × d`.
    pub fn decode(&self, codes: &[f32], d: usize) -> Vec<f32> {
        assert!(d <= self.n_components && d > 0 && codes.len().is_multiple_of(d));
        let n = codes.len() / d;
        let mut out = vec![0f32; n * self.dim];
        let v = &self.components[..d * self.dim];
        out.par_chunks_mut(ROW_BLOCK * self.dim)
            .zip(codes.par_chunks(ROW_BLOCK * d))
            .for_each(|(o, c)| {
                let rows = c.len() / d;
                matmul(rows, d, self.dim, c, false, v, false, o, false);
                for (i, v) in o.iter_mut().enumerate() {
                    *v += self.mean[i % self.dim];
                }
            });
        out
    }
}

/// Reconstruction errors, in the units autoencoder losses use.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct ReconError {
    /// Mean over examples and pixels of (x − r)².
    pub mse_per_pixel: f64,
    /// Mean over examples of Σ_pixels (x − r)².
    pub sse_per_example: f64,
    /// Mean over examples and pixels of −[x log r + (1 − x) log(1 − r)], r clamped to [ε, 1 − ε].
    pub bce_per_pixel: f64,
    /// Mean over examples of the summed binary cross-entropy.
    pub bce_per_example: f64,
}

/// Clamp for the binary cross-entropy (reconstructions may leave [0, 1]).
pub const BCE_EPS: f64 = 1e-7;

pub fn reconstruction_error(x: &[f32], r: &[f32], dim: usize) -> ReconError {
    assert_eq!(x.len(), r.len());
    let n = (x.len() / dim.max(1)).max(1);
    let (sse, bce) = x
        .par_chunks(dim)
        .zip(r.par_chunks(dim))
        .map(|(a, b)| {
            let mut sse = 0f64;
            let mut bce = 0f64;
            for (&xv, &rv) in a.iter().zip(b) {
                let (xv, rv) = (xv as f64, rv as f64);
                sse += (xv - rv) * (xv - rv);
                let rc = rv.clamp(BCE_EPS, 1.0 - BCE_EPS);
                bce -= xv * rc.ln() + (1.0 - xv) * (1.0 - rc).ln();
            }
            (sse, bce)
        })
        .reduce(|| (0.0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1));
    ReconError {
        mse_per_pixel: sse / (n * dim) as f64,
        sse_per_example: sse / n as f64,
        bce_per_pixel: bce / (n * dim) as f64,
        bce_per_example: bce / n as f64,
    }
}
