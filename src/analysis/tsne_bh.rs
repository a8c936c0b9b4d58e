//! Barnes-Hut t-SNE (van der Maaten 2014) to 2-D, for tens of thousands of points.
//!
//! Two approximations make an iteration O(n log n) instead of the exact O(n²):
//! - Sparse input affinities: each point's conditional distribution is calibrated over its
//!   k = min(n − 1, ⌊3·perplexity + 1⌋) nearest neighbours only (as scikit-learn's
//!   `barnes_hut`), then symmetrised, so the attractive forces cost O(n·k).
//! - Repulsive forces from a quadtree of the embedding: a cell whose width is below
//!   θ × its distance to the point acts as one body at its centre of mass (θ = 0: every
//!   pair is summed, which is the exact gradient up to rounding).
//!
//! The optimiser, its schedule and the random start are those of the exact
//! [`super::tsne::embed`], so the two methods start from the same points for one seed.
//! Sums over points are taken in a fixed order, so a seed gives the same map on any
//! number of threads.

use rand::SeedableRng;
use rand_distr::{Distribution, Normal};
use rayon::prelude::*;

use super::knn;
use super::tsne::{self, Embedding, TsneParams};

/// Which t-SNE the CLI runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Method {
    /// Exact up to [`AUTO_EXACT_MAX`] points, Barnes-Hut above.
    #[default]
    Auto,
    Exact,
    BarnesHut,
}

/// Largest point count `Method::Auto` embeds exactly.
pub const AUTO_EXACT_MAX: usize = 1000;

impl Method {
    /// `Exact` or `BarnesHut` for `n` points.
    pub fn resolve(self, n: usize) -> Method {
        match self {
            Method::Auto if n <= AUTO_EXACT_MAX => Method::Exact,
            Method::Auto => Method::BarnesHut,
            m => m,
        }
    }
}

/// Neighbours per point for a perplexity (scikit-learn's rule), at most n − 1.
pub fn neighbour_count(n: usize, perplexity: f64) -> usize {
    ((3.0 * perplexity + 1.0) as usize).min(n.saturating_sub(1))
}

/// Symmetric joint affinities p_ij in compressed-row form (Σ p_ij = 1, p_ii absent):
/// row i holds columns `cols[row_start[i]..row_start[i + 1]]`, increasing.
#[derive(Debug, Clone, PartialEq)]
pub struct SparseAffinities {
    pub n: usize,
    pub row_start: Vec<usize>,
    pub cols: Vec<u32>,
    pub vals: Vec<f64>,
}

/// P(j|i) over the given neighbour distances at precision β (shifted by the minimum for
/// stability), and its entropy in nats.
fn neighbour_distribution(d: &[f64], beta: f64, out: &mut [f64]) -> f64 {
    let min = d.iter().copied().fold(f64::INFINITY, f64::min);
    let mut sum = 0.0;
    for (o, &dj) in out.iter_mut().zip(d) {
        *o = (-(dj - min) * beta).exp();
        sum += *o;
    }
    let mut h = 0.0;
    for o in out.iter_mut() {
        *o /= sum;
        if *o > 0.0 {
            h -= *o * o.ln();
        }
    }
    h
}

/// Precision of one row by bisection so that the entropy is log(perplexity), as the exact
/// `tsne::calibrate` does over all points; fills `out` with the distribution.
fn calibrate_row(d: &[f64], target: f64, out: &mut [f64]) {
    let (mut lo, mut hi, mut beta) = (0.0f64, f64::INFINITY, 1.0f64);
    for _ in 0..200 {
        let h = neighbour_distribution(d, beta, out);
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
    neighbour_distribution(d, beta, out);
}

/// The `k` nearest other points of every point (nearest first) with squared distances.
pub fn nearest_neighbours(x: &[f32], dim: usize, k: usize) -> miette::Result<Vec<Vec<(u32, f64)>>> {
    let n = x.len() / dim;
    // Ask for one more than k: the point itself is normally among them (at distance 0).
    let no_labels = vec![0u8; n];
    let nb = knn::neighbours(x, &no_labels, dim, x, (k + 1).min(n))?;
    Ok(nb
        .into_iter()
        .enumerate()
        .map(|(i, row)| {
            row.into_iter()
                .filter(|b| b.index as usize != i)
                .take(k)
                .map(|b| (b.index, b.distance as f64))
                .collect()
        })
        .collect())
}

/// Sparse P of `x` (`n × dim`): calibrated over `neighbour_count` neighbours, symmetrised
/// as (P(j|i) + P(i|j)) / 2n.
pub fn sparse_affinities(
    x: &[f32],
    dim: usize,
    perplexity: f64,
) -> miette::Result<SparseAffinities> {
    let n = x.len() / dim;
    let k = neighbour_count(n, perplexity);
    let nb = nearest_neighbours(x, dim, k)?;
    let target = perplexity.ln();
    let cond: Vec<Vec<f64>> = nb
        .par_iter()
        .map(|row| {
            let d: Vec<f64> = row.iter().map(|&(_, d)| d).collect();
            let mut p = vec![0f64; d.len()];
            calibrate_row(&d, target, &mut p);
            p
        })
        .collect();
    // Both directions of every neighbour pair, gathered per row, then merged.
    let mut count = vec![0usize; n + 1];
    for (i, row) in nb.iter().enumerate() {
        count[i + 1] += row.len();
        for &(j, _) in row {
            count[j as usize + 1] += 1;
        }
    }
    for i in 0..n {
        count[i + 1] += count[i];
    }
    let mut fill = count.clone();
    let mut pairs = vec![(0u32, 0f64); count[n]];
    for (i, (row, p)) in nb.iter().zip(&cond).enumerate() {
        for (&(j, _), &v) in row.iter().zip(p) {
            pairs[fill[i]] = (j, v);
            fill[i] += 1;
            pairs[fill[j as usize]] = (i as u32, v);
            fill[j as usize] += 1;
        }
    }
    let total = 2.0 * n as f64;
    let mut row_start = Vec::with_capacity(n + 1);
    let mut cols = Vec::with_capacity(count[n]);
    let mut vals = Vec::with_capacity(count[n]);
    row_start.push(0);
    for i in 0..n {
        let row = &mut pairs[count[i]..count[i + 1]];
        row.sort_by_key(|&(j, _)| j);
        for &(j, v) in row.iter() {
            if cols.len() > *row_start.last().unwrap() && *cols.last().unwrap() == j {
                *vals.last_mut().unwrap() += v / total;
            } else {
                cols.push(j);
                vals.push(v / total);
            }
        }
        row_start.push(cols.len());
    }
    Ok(SparseAffinities {
        n,
        row_start,
        cols,
        vals,
    })
}

/// One cell of the quadtree: a square box, the points inside it and their centre of mass.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Node {
    /// Centre of the box and half its side.
    pub centre: [f64; 2],
    pub half: f64,
    /// Mean of the points inside.
    pub mass_centre: [f64; 2],
    pub count: u32,
    /// Index of the first of four consecutive children; 0 for a leaf (the root is 0).
    pub first_child: u32,
    /// The points inside are `QuadTree::order[start..end]`.
    pub start: u32,
    pub end: u32,
}

/// Quadtree of 2-D points; children split their parent's box at its centre, points with
/// a coordinate equal to the centre go to the upper half.
#[derive(Debug, Clone)]
pub struct QuadTree {
    pub nodes: Vec<Node>,
    /// Point indices, grouped so that every node's points are contiguous.
    pub order: Vec<u32>,
}

/// Most points a leaf holds (their forces are summed point by point).
const LEAF_POINTS: usize = 4;
/// Depth past which a cell is not split (a guard against near-duplicate points).
const MAX_DEPTH: usize = 48;

impl QuadTree {
    pub fn build(y: &[[f64; 2]]) -> QuadTree {
        let n = y.len();
        let (mut lo, mut hi) = ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]);
        for p in y {
            for c in 0..2 {
                lo[c] = lo[c].min(p[c]);
                hi[c] = hi[c].max(p[c]);
            }
        }
        if n == 0 {
            (lo, hi) = ([0.0; 2], [0.0; 2]);
        }
        let centre = [(lo[0] + hi[0]) / 2.0, (lo[1] + hi[1]) / 2.0];
        // A small margin keeps the largest points strictly inside the root box.
        let half = ((hi[0] - lo[0]).max(hi[1] - lo[1]) / 2.0) * (1.0 + 1e-6) + 1e-12;
        let mut tree = QuadTree {
            nodes: Vec::with_capacity(2 * n / LEAF_POINTS + 8),
            order: (0..n as u32).collect(),
        };
        tree.nodes
            .push(Self::node(y, &tree.order, centre, half, 0, n));
        let mut scratch = vec![0u32; n];
        let mut stack = vec![(0usize, 0usize)];
        while let Some((ni, depth)) = stack.pop() {
            let nd = tree.nodes[ni];
            let (s, e) = (nd.start as usize, nd.end as usize);
            if e - s <= LEAF_POINTS || depth >= MAX_DEPTH {
                continue;
            }
            let p0 = y[tree.order[s] as usize];
            if tree.order[s..e].iter().all(|&i| y[i as usize] == p0) {
                continue; // duplicates: no split separates them
            }
            // Counting sort of the node's points into the four quadrants.
            let quadrant = |i: u32| {
                let p = y[i as usize];
                (p[0] >= nd.centre[0]) as usize + 2 * (p[1] >= nd.centre[1]) as usize
            };
            let mut bounds = [0usize; 5];
            for &i in &tree.order[s..e] {
                bounds[quadrant(i) + 1] += 1;
            }
            for q in 0..4 {
                bounds[q + 1] += bounds[q];
            }
            let mut fill = bounds;
            for &i in &tree.order[s..e] {
                let q = quadrant(i);
                scratch[s + fill[q]] = i;
                fill[q] += 1;
            }
            tree.order[s..e].copy_from_slice(&scratch[s..e]);
            let first = tree.nodes.len();
            tree.nodes[ni].first_child = first as u32;
            let h = nd.half / 2.0;
            for q in 0..4 {
                let c = [
                    nd.centre[0] + if q & 1 == 1 { h } else { -h },
                    nd.centre[1] + if q & 2 == 2 { h } else { -h },
                ];
                let child = Self::node(y, &tree.order, c, h, s + bounds[q], s + bounds[q + 1]);
                tree.nodes.push(child);
                stack.push((first + q, depth + 1));
            }
        }
        tree
    }

    fn node(
        y: &[[f64; 2]],
        order: &[u32],
        centre: [f64; 2],
        half: f64,
        s: usize,
        e: usize,
    ) -> Node {
        let mut m = [0.0; 2];
        for &i in &order[s..e] {
            m[0] += y[i as usize][0];
            m[1] += y[i as usize][1];
        }
        let c = (e - s).max(1) as f64;
        Node {
            centre,
            half,
            mass_centre: [m[0] / c, m[1] / c],
            count: (e - s) as u32,
            first_child: 0,
            start: s as u32,
            end: e as u32,
        }
    }

    /// Σ_{j≠i} w_ij and Σ_{j≠i} w_ij² (y_i − y_j) with w = 1 / (1 + ‖y_i − y_j‖²), cells
    /// narrower than θ × distance taken as one body at their centre of mass.
    fn repulsion(
        &self,
        y: &[[f64; 2]],
        i: usize,
        theta2: f64,
        stack: &mut Vec<u32>,
    ) -> (f64, [f64; 2]) {
        let yi = y[i];
        let (mut z, mut fx, mut fy) = (0.0, 0.0, 0.0);
        stack.clear();
        stack.push(0);
        while let Some(ni) = stack.pop() {
            let nd = &self.nodes[ni as usize];
            let (dx, dy) = (yi[0] - nd.mass_centre[0], yi[1] - nd.mass_centre[1]);
            let d2 = dx * dx + dy * dy;
            let width = 2.0 * nd.half;
            // A cell around y_i itself is never one body (it can pass the test only for
            // θ ≥ 1/√2, since y_i is then within √2 · width of the centre of mass).
            let around_i = || {
                (yi[0] - nd.centre[0]).abs() <= nd.half && (yi[1] - nd.centre[1]).abs() <= nd.half
            };
            if width * width < theta2 * d2 && (theta2 < 0.5 || !around_i()) {
                let w = 1.0 / (1.0 + d2);
                let cw = nd.count as f64 * w;
                z += cw;
                fx += cw * w * dx;
                fy += cw * w * dy;
            } else if nd.first_child == 0 {
                for &j in &self.order[nd.start as usize..nd.end as usize] {
                    if j as usize == i {
                        continue;
                    }
                    let yj = y[j as usize];
                    let (dx, dy) = (yi[0] - yj[0], yi[1] - yj[1]);
                    let w = 1.0 / (1.0 + dx * dx + dy * dy);
                    z += w;
                    fx += w * w * dx;
                    fy += w * w * dy;
                }
            } else {
                for q in nd.first_child..nd.first_child + 4 {
                    if self.nodes[q as usize].count > 0 {
                        stack.push(q);
                    }
                }
            }
        }
        (z, [fx, fy])
    }
}

/// The t-SNE gradient at `y` and the normaliser Z = Σ_{i≠j} 1 / (1 + ‖y_i − y_j‖²).
#[derive(Debug, Clone)]
pub struct Gradient {
    pub grad: Vec<[f64; 2]>,
    pub z: f64,
}

/// ∂KL/∂y_i = 4 [exaggeration · Σ_j p_ij w_ij (y_i − y_j) − Σ_j w_ij² (y_i − y_j) / Z],
/// the repulsive part by Barnes-Hut at `theta`.
pub fn gradient(p: &SparseAffinities, y: &[[f64; 2]], theta: f64, exaggeration: f64) -> Gradient {
    let tree = QuadTree::build(y);
    let mut grad = vec![[0f64; 2]; y.len()];
    let z = gradient_into(p, y, &tree, theta, exaggeration, &mut grad);
    Gradient { grad, z }
}

/// Work per rayon task: a few hundred points amortise the scheduling.
const POINTS_PER_TASK: usize = 256;

/// Writes the gradient into `grad` and returns Z.
fn gradient_into(
    p: &SparseAffinities,
    y: &[[f64; 2]],
    tree: &QuadTree,
    theta: f64,
    exaggeration: f64,
    grad: &mut [[f64; 2]],
) -> f64 {
    let theta2 = theta * theta;
    // Repulsive forces first (they need Z, which needs every point), Z summed in order.
    let mut zs = vec![0f64; y.len()];
    grad.par_chunks_mut(POINTS_PER_TASK)
        .zip(zs.par_chunks_mut(POINTS_PER_TASK))
        .enumerate()
        .for_each(|(b, (g, zb))| {
            let mut stack = Vec::with_capacity(256);
            for (o, (gi, zi)) in g.iter_mut().zip(zb.iter_mut()).enumerate() {
                let (z, f) = tree.repulsion(y, b * POINTS_PER_TASK + o, theta2, &mut stack);
                *zi = z;
                *gi = f;
            }
        });
    let z: f64 = zs.iter().sum();
    grad.par_chunks_mut(POINTS_PER_TASK)
        .enumerate()
        .for_each(|(b, g)| {
            for (o, gi) in g.iter_mut().enumerate() {
                let i = b * POINTS_PER_TASK + o;
                let yi = y[i];
                let (mut ax, mut ay) = (0.0, 0.0);
                for e in p.row_start[i]..p.row_start[i + 1] {
                    let yj = y[p.cols[e] as usize];
                    let (dx, dy) = (yi[0] - yj[0], yi[1] - yj[1]);
                    let m = p.vals[e] / (1.0 + dx * dx + dy * dy);
                    ax += m * dx;
                    ay += m * dy;
                }
                *gi = [
                    4.0 * (exaggeration * ax - gi[0] / z),
                    4.0 * (exaggeration * ay - gi[1] / z),
                ];
            }
        });
    z
}

/// KL(P‖Q) over the non-zero p_ij, with q_ij = w_ij / Z.
pub fn kl_divergence(p: &SparseAffinities, y: &[[f64; 2]], z: f64) -> f64 {
    let rows: Vec<f64> = (0..p.n)
        .into_par_iter()
        .map(|i| {
            let mut s = 0.0;
            for e in p.row_start[i]..p.row_start[i + 1] {
                let yj = y[p.cols[e] as usize];
                let (dx, dy) = (y[i][0] - yj[0], y[i][1] - yj[1]);
                let q = 1.0 / (1.0 + dx * dx + dy * dy) / z;
                let v = p.vals[e];
                if v > 0.0 {
                    s += v * (v / q.max(1e-300)).ln();
                }
            }
            s
        })
        .collect();
    rows.iter().sum()
}

/// Embeds `x` (`n × dim`) in 2-D with Barnes-Hut at `theta` (0.5 is the usual trade-off).
pub fn embed(x: &[f32], dim: usize, params: &TsneParams, theta: f64) -> miette::Result<Embedding> {
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
    if !(theta.is_finite() && theta >= 0.0) {
        return Err(miette::miette!(
            "t-SNE: Barnes-Hut theta must be a finite number ≥ 0, got {theta}"
        ));
    }
    if x.iter().any(|v| !v.is_finite()) {
        return Err(miette::miette!("t-SNE: the input holds non-finite values"));
    }
    let p = sparse_affinities(x, dim, params.perplexity)?;

    // The exact method's start: same generator, same draws.
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(params.seed);
    let normal = Normal::new(0.0, 1e-4).expect("valid normal");
    let mut y: Vec<[f64; 2]> = (0..n)
        .map(|_| [normal.sample(&mut rng), normal.sample(&mut rng)])
        .collect();
    let mut update = vec![[0f64; 2]; n];
    let mut gains = vec![[1f64; 2]; n];
    let mut grad = vec![[0f64; 2]; n];
    let lr = (n as f64 / 48.0).max(50.0);
    let exaggeration_iters = 250.min(params.iterations);
    let mut kl = 0.0;
    for it in 0..params.iterations {
        let exaggeration = if it < exaggeration_iters { 12.0 } else { 1.0 };
        let momentum = if it < exaggeration_iters { 0.5 } else { 0.8 };
        let tree = QuadTree::build(&y);
        let z = gradient_into(&p, &y, &tree, theta, exaggeration, &mut grad);
        if it + 1 == params.iterations {
            kl = kl_divergence(&p, &y, z);
        }
        tsne::descend(&mut y, &mut update, &mut gains, &grad, momentum, lr);
    }
    if y.iter().any(|p| !p[0].is_finite() || !p[1].is_finite()) {
        return Err(miette::miette!("t-SNE diverged (non-finite coordinates)"));
    }
    Ok(Embedding {
        points: y,
        kl_divergence: kl,
    })
}
