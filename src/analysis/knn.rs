//! Exact k-nearest-neighbour classification under the Euclidean distance.
//!
//! Squared distances are computed block-wise as matrix products,
//! ‖q − x‖² = ‖q‖² − 2 q·x + ‖x‖², over blocks of queries (in parallel with rayon) and
//! blocks of training vectors, feeding a streaming top-k per query.
//!
//! Tie rules (deterministic, independent of the blocking):
//! - equal distances: the lower training index is the nearer neighbour;
//! - equal votes: the class whose tied neighbours have the smaller summed distance wins,
//!   then the smaller label.
//!
//! Ranking uses ‖x‖² − 2 q·x (‖q‖² is the same for every candidate of a query), so "equal
//! distance" means equal in that computed f32 value.

use rayon::prelude::*;

use super::linalg::matmul_abt;

/// Queries per parallel work item and training vectors per matrix product.
const QUERY_BLOCK: usize = 128;
const TRAIN_BLOCK: usize = 2048;

/// One neighbour: squared Euclidean distance and training index.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Neighbour {
    pub distance: f32,
    pub index: u32,
}

/// Checks shapes and returns the number of training vectors and queries.
fn check(
    train: &[f32],
    labels: &[u8],
    dim: usize,
    queries: &[f32],
    k: usize,
) -> miette::Result<(usize, usize)> {
    if dim == 0 {
        return Err(miette::miette!("kNN: vectors have dimension 0"));
    }
    if !train.len().is_multiple_of(dim) || !queries.len().is_multiple_of(dim) {
        return Err(miette::miette!(
            "kNN: data lengths {} and {} are not multiples of the dimension {dim}",
            train.len(),
            queries.len()
        ));
    }
    let n = train.len() / dim;
    if labels.len() != n {
        return Err(miette::miette!(
            "kNN: {n} training vectors but {} labels",
            labels.len()
        ));
    }
    if k == 0 || k > n {
        return Err(miette::miette!(
            "kNN: k = {k} must be between 1 and the {n} training vectors"
        ));
    }
    if n > u32::MAX as usize {
        return Err(miette::miette!("kNN: too many training vectors"));
    }
    Ok((n, queries.len() / dim))
}

fn squared_norms(x: &[f32], dim: usize) -> Vec<f32> {
    x.par_chunks(dim)
        .map(|r| r.iter().map(|v| v * v).sum())
        .collect()
}

/// The k nearest training vectors of every query, nearest first (ties: lower index first).
pub fn neighbours(
    train: &[f32],
    labels: &[u8],
    dim: usize,
    queries: &[f32],
    k: usize,
) -> miette::Result<Vec<Vec<Neighbour>>> {
    let (n, _) = check(train, labels, dim, queries, k)?;
    let x_norms = squared_norms(train, dim);
    let blocks: Vec<Vec<Vec<Neighbour>>> = queries
        .par_chunks(QUERY_BLOCK * dim)
        .map(|qb| {
            let m = qb.len() / dim;
            let q_norms: Vec<f32> = qb
                .chunks(dim)
                .map(|r| r.iter().map(|v| v * v).sum())
                .collect();
            // Per query: (score, index) sorted ascending, score = ‖x‖² − 2 q·x.
            let mut best: Vec<Vec<(f32, u32)>> = vec![Vec::with_capacity(k + 1); m];
            let mut g = vec![0f32; m * TRAIN_BLOCK];
            for start in (0..n).step_by(TRAIN_BLOCK) {
                let t = TRAIN_BLOCK.min(n - start);
                matmul_abt(
                    m,
                    dim,
                    t,
                    qb,
                    &train[start * dim..(start + t) * dim],
                    &mut g[..m * t],
                );
                for (qi, top) in best.iter_mut().enumerate() {
                    let row = &g[qi * t..(qi + 1) * t];
                    for (j, &dot) in row.iter().enumerate() {
                        let s = x_norms[start + j] - 2.0 * dot;
                        // Candidates arrive in increasing index order, so a strict `<`
                        // keeps the lower index on equal scores.
                        if top.len() == k && s >= top[k - 1].0 {
                            continue;
                        }
                        let pos = top.partition_point(|&(d, _)| d <= s);
                        top.insert(pos, (s, (start + j) as u32));
                        top.truncate(k);
                    }
                }
            }
            best.into_iter()
                .zip(q_norms)
                .map(|(top, qn)| {
                    top.into_iter()
                        .map(|(s, i)| Neighbour {
                            distance: (s + qn).max(0.0),
                            index: i,
                        })
                        .collect()
                })
                .collect()
        })
        .collect();
    Ok(blocks.into_iter().flatten().collect())
}

/// Majority vote among neighbours (ties: smaller summed distance, then smaller label).
pub fn vote(neighbours: &[Neighbour], labels: &[u8]) -> u8 {
    let mut count = [0u32; 256];
    let mut sum = [0f64; 256];
    for nb in neighbours {
        let l = labels[nb.index as usize] as usize;
        count[l] += 1;
        sum[l] += nb.distance as f64;
    }
    let mut best = 0usize;
    for l in 1..256 {
        let better = count[l] > count[best]
            || (count[l] == count[best] && count[l] > 0 && sum[l] < sum[best]);
        if better {
            best = l;
        }
    }
    best as u8
}

/// Predicted label of every query.
pub fn predict(
    train: &[f32],
    labels: &[u8],
    dim: usize,
    queries: &[f32],
    k: usize,
) -> miette::Result<Vec<u8>> {
    let nb = neighbours(train, labels, dim, queries, k)?;
    Ok(nb.par_iter().map(|n| vote(n, labels)).collect())
}

/// Fraction of predictions equal to the labels.
pub fn accuracy(predictions: &[u8], labels: &[u8]) -> f64 {
    if labels.is_empty() {
        return 0.0;
    }
    let right = predictions
        .iter()
        .zip(labels)
        .filter(|(p, l)| p == l)
        .count();
    right as f64 / labels.len() as f64
}
