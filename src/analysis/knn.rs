//! Exact k-nearest-neighbour classification under the Euclidean distance.
//!
//! Squared distances are computed block-wise as matrix products,
//! ‖q − x‖² = ‖q‖² − 2 q·x + ‖x‖², over blocks of queries (in parallel with rayon) and
//! blocks of training vectors, feeding a streaming top-k per query.
//!
//! Tie rules (deterministic, independent of the blocking):
//! - equal distances: the lower training index is the nearer neighbour;
//! - equal votes ([`VoteTies::Nearer`], the default): the class whose tied neighbours have
//!   the smaller summed distance wins, then the smaller label; [`VoteTies::SmallestLabel`]
//!   gives the smaller label, as scikit-learn's `KNeighborsClassifier` does, and so
//!   reproduces its predictions.
//!
//! Two kernels compute the dot products: a dense one (blocked GEMM, `kernels::matmul`) and a
//! sparse one for mostly-zero queries such as MNIST pixels (about 19% non-zero): each query's
//! non-zero pixels scale rows of a transposed training block, `q·X_bᵀ = Σ_p q_p X_b[:, p]`,
//! which does about a fifth of the arithmetic. `Kernel::Auto` picks by the queries' density.
//!
//! Ranking uses ‖x‖² − 2 q·x (‖q‖² is the same for every candidate of a query), so "equal
//! distance" means equal in that computed f32 value.

use rayon::prelude::*;

use crate::kernels::matmul;

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

/// How the query·training dot products are computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// Sparse when at most 40% of the query values are non-zero and the CPU has AVX2+FMA.
    Auto,
    Dense,
    /// Sparse even for dense queries (falls back to plain loops without AVX2+FMA).
    Sparse,
}

/// Streaming top-k of one query: (score, index) sorted ascending, at most k entries.
/// Candidates must arrive in increasing index order: a strict `<` against the current
/// k-th keeps the lower index on equal scores.
#[inline]
fn offer(top: &mut Vec<(f32, u32)>, k: usize, s: f32, index: u32) {
    if top.len() == k && s >= top[k - 1].0 {
        return;
    }
    let pos = top.partition_point(|&(d, _)| d <= s);
    top.insert(pos, (s, index));
    top.truncate(k);
}

fn finish(best: Vec<Vec<(f32, u32)>>, q_norms: Vec<f32>) -> Vec<Vec<Neighbour>> {
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
}

fn has_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The k nearest training vectors of every query, nearest first (ties: lower index first).
pub fn neighbours(
    train: &[f32],
    labels: &[u8],
    dim: usize,
    queries: &[f32],
    k: usize,
) -> miette::Result<Vec<Vec<Neighbour>>> {
    neighbours_with(train, labels, dim, queries, k, Kernel::Auto)
}

/// `neighbours` with a chosen kernel.
pub fn neighbours_with(
    train: &[f32],
    labels: &[u8],
    dim: usize,
    queries: &[f32],
    k: usize,
    kernel: Kernel,
) -> miette::Result<Vec<Vec<Neighbour>>> {
    check(train, labels, dim, queries, k)?;
    let sparse = match kernel {
        Kernel::Dense => false,
        Kernel::Sparse => true,
        Kernel::Auto => {
            let nz = queries.par_iter().filter(|&&v| v != 0.0).count();
            has_fma() && (nz as f64) <= 0.4 * queries.len() as f64
        }
    };
    Ok(if sparse {
        neighbours_sparse(train, dim, queries, k)
    } else {
        neighbours_dense(train, dim, queries, k)
    })
}

fn neighbours_dense(train: &[f32], dim: usize, queries: &[f32], k: usize) -> Vec<Vec<Neighbour>> {
    let n = train.len() / dim;
    let x_norms = squared_norms(train, dim);
    let blocks: Vec<Vec<Vec<Neighbour>>> = queries
        .par_chunks(QUERY_BLOCK * dim)
        .map(|qb| {
            let m = qb.len() / dim;
            let q_norms: Vec<f32> = qb
                .chunks(dim)
                .map(|r| r.iter().map(|v| v * v).sum())
                .collect();
            let mut best: Vec<Vec<(f32, u32)>> = vec![Vec::with_capacity(k + 1); m];
            let mut g = vec![0f32; m * TRAIN_BLOCK];
            for start in (0..n).step_by(TRAIN_BLOCK) {
                let t = TRAIN_BLOCK.min(n - start);
                matmul(
                    m,
                    dim,
                    t,
                    qb,
                    false,
                    &train[start * dim..(start + t) * dim],
                    true,
                    &mut g[..m * t],
                    false,
                );
                for (qi, top) in best.iter_mut().enumerate() {
                    let row = &g[qi * t..(qi + 1) * t];
                    for (j, &dot) in row.iter().enumerate() {
                        offer(top, k, x_norms[start + j] - 2.0 * dot, (start + j) as u32);
                    }
                }
            }
            finish(best, q_norms)
        })
        .collect();
    blocks.into_iter().flatten().collect()
}

/// Training vectors per transposed block of the sparse kernel (the accumulator row).
const SPARSE_BLOCK: usize = 256;
/// Queries per parallel work item of the sparse kernel.
const SPARSE_QUERIES: usize = 64;

fn neighbours_sparse(train: &[f32], dim: usize, queries: &[f32], k: usize) -> Vec<Vec<Neighbour>> {
    let n = train.len() / dim;
    let x_norms = squared_norms(train, dim);
    // Training set transposed block-wise: block b holds X[bT .. bT + T]ᵀ as [dim][T],
    // zero-padded past n.
    let n_blocks = n.div_ceil(SPARSE_BLOCK);
    let mut xt = vec![0f32; n_blocks * dim * SPARSE_BLOCK];
    xt.par_chunks_mut(dim * SPARSE_BLOCK)
        .enumerate()
        .for_each(|(b, blk)| {
            for j in 0..SPARSE_BLOCK.min(n - b * SPARSE_BLOCK) {
                let row = &train[(b * SPARSE_BLOCK + j) * dim..][..dim];
                for (p, &v) in row.iter().enumerate() {
                    blk[p * SPARSE_BLOCK + j] = v;
                }
            }
        });
    let blocks: Vec<Vec<Vec<Neighbour>>> = queries
        .par_chunks(SPARSE_QUERIES * dim)
        .map(|qb| {
            let m = qb.len() / dim;
            let q_norms: Vec<f32> = qb
                .chunks(dim)
                .map(|r| r.iter().map(|v| v * v).sum())
                .collect();
            // Each query as (pixel, value) lists of its non-zeros.
            let nz: Vec<(Vec<u32>, Vec<f32>)> = qb
                .chunks(dim)
                .map(|q| {
                    let idx: Vec<u32> = (0..dim as u32).filter(|&p| q[p as usize] != 0.0).collect();
                    let val = idx.iter().map(|&p| q[p as usize]).collect();
                    (idx, val)
                })
                .collect();
            let mut best: Vec<Vec<(f32, u32)>> = vec![Vec::with_capacity(k + 1); m];
            let mut dots = [0f32; SPARSE_BLOCK];
            for b in 0..n_blocks {
                let blk = &xt[b * dim * SPARSE_BLOCK..(b + 1) * dim * SPARSE_BLOCK];
                let base = b * SPARSE_BLOCK;
                let valid = SPARSE_BLOCK.min(n - base);
                for (qi, top) in best.iter_mut().enumerate() {
                    sparse_dots(blk, &nz[qi].0, &nz[qi].1, &mut dots);
                    for (j, &dot) in dots[..valid].iter().enumerate() {
                        offer(top, k, x_norms[base + j] - 2.0 * dot, (base + j) as u32);
                    }
                }
            }
            finish(best, q_norms)
        })
        .collect();
    blocks.into_iter().flatten().collect()
}

/// dots[j] = Σ_p val_p · blk[idx_p][j] over one transposed training block.
fn sparse_dots(blk: &[f32], idx: &[u32], val: &[f32], dots: &mut [f32; SPARSE_BLOCK]) {
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("fma") {
            // SAFETY: the CPU supports the enabled features (checked just above).
            unsafe { sparse_dots_avx512(blk, idx, val, dots) };
            return;
        }
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            // SAFETY: as above.
            unsafe { sparse_dots_avx2(blk, idx, val, dots) };
            return;
        }
    }
    sparse_dots_plain(blk, idx, val, dots)
}

/// Portable loop (no fused multiply-add, which would be a slow libm call without FMA).
fn sparse_dots_plain(blk: &[f32], idx: &[u32], val: &[f32], dots: &mut [f32; SPARSE_BLOCK]) {
    let mut acc = [0f32; SPARSE_BLOCK];
    for (&p, &v) in idx.iter().zip(val) {
        let row = &blk[p as usize * SPARSE_BLOCK..][..SPARSE_BLOCK];
        for (a, r) in acc.iter_mut().zip(row) {
            *a += v * r;
        }
    }
    *dots = acc;
}

/// The loop with `mul_add`, compiled below with wide vectors and FMA enabled.
#[inline(always)]
fn sparse_dots_fma(blk: &[f32], idx: &[u32], val: &[f32], dots: &mut [f32; SPARSE_BLOCK]) {
    let mut acc = [0f32; SPARSE_BLOCK];
    for (&p, &v) in idx.iter().zip(val) {
        let row = &blk[p as usize * SPARSE_BLOCK..][..SPARSE_BLOCK];
        for (a, r) in acc.iter_mut().zip(row) {
            *a = v.mul_add(*r, *a);
        }
    }
    *dots = acc;
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn sparse_dots_avx512(
    blk: &[f32],
    idx: &[u32],
    val: &[f32],
    dots: &mut [f32; SPARSE_BLOCK],
) {
    sparse_dots_fma(blk, idx, val, dots)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn sparse_dots_avx2(blk: &[f32], idx: &[u32], val: &[f32], dots: &mut [f32; SPARSE_BLOCK]) {
    sparse_dots_fma(blk, idx, val, dots)
}

/// How a tie between classes with equally many votes is broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum VoteTies {
    /// The class whose tied neighbours are nearer in sum, then the smaller label.
    #[default]
    Nearer,
    /// The smaller label (scikit-learn's rule).
    SmallestLabel,
}

/// Majority vote among neighbours (ties: smaller summed distance, then smaller label).
pub fn vote(neighbours: &[Neighbour], labels: &[u8]) -> u8 {
    vote_with(neighbours, labels, VoteTies::Nearer)
}

/// Majority vote among neighbours with the given tie rule.
pub fn vote_with(neighbours: &[Neighbour], labels: &[u8], ties: VoteTies) -> u8 {
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
            || (ties == VoteTies::Nearer
                && count[l] == count[best]
                && count[l] > 0
                && sum[l] < sum[best]);
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
    predict_with(
        train,
        labels,
        dim,
        queries,
        k,
        Kernel::Auto,
        VoteTies::Nearer,
    )
}

/// `predict` with a chosen kernel and vote tie rule.
pub fn predict_with(
    train: &[f32],
    labels: &[u8],
    dim: usize,
    queries: &[f32],
    k: usize,
    kernel: Kernel,
    ties: VoteTies,
) -> miette::Result<Vec<u8>> {
    let nb = neighbours_with(train, labels, dim, queries, k, kernel)?;
    Ok(nb.par_iter().map(|n| vote_with(n, labels, ties)).collect())
}

/// Leave-one-out k-NN accuracy of a labelled set against itself: each vector is classified
/// by its `k` nearest *other* vectors. Used on t-SNE maps, where it measures in one number
/// how well the classes the eye sees are separated.
pub fn leave_one_out_accuracy(
    x: &[f32],
    labels: &[u8],
    dim: usize,
    k: usize,
) -> miette::Result<f64> {
    let n = labels.len();
    if n < 2 || k == 0 || k >= n {
        return Err(miette::miette!(
            "leave-one-out k-NN needs 1 ≤ k < n, got k = {k} for n = {n}"
        ));
    }
    let nb = neighbours(x, labels, dim, x, k + 1)?;
    let predictions: Vec<u8> = nb
        .into_par_iter()
        .enumerate()
        .map(|(i, mut list)| {
            // Drop the query itself; where duplicates tie with it at distance 0 and it is
            // not among the k + 1, drop the farthest instead.
            match list.iter().position(|m| m.index as usize == i) {
                Some(p) => {
                    list.remove(p);
                }
                None => {
                    list.pop();
                }
            }
            vote(&list, labels)
        })
        .collect();
    Ok(accuracy(&predictions, labels))
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
