//! Barnes-Hut t-SNE against the exact method: gradient, sparse affinities, quadtree sums,
//! final KL on clustered data, reproducibility.

// `..Default::default()` in `TsneParams` literals keeps these tests compiling when the
// parameters gain fields.
#![allow(clippy::needless_update)]

use archc::analysis::tsne;
use archc::analysis::tsne_bh::{self, Method, QuadTree, SparseAffinities};
use rand::SeedableRng;
use rand_distr::{Distribution, Normal, Uniform};

fn gaussian(n: usize, sd: f64, seed: u64) -> Vec<f64> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let z = Normal::new(0.0, sd).unwrap();
    (0..n).map(|_| z.sample(&mut rng)).collect()
}

fn points2(n: usize, sd: f64, seed: u64) -> Vec<[f64; 2]> {
    gaussian(2 * n, sd, seed)
        .chunks(2)
        .map(|c| [c[0], c[1]])
        .collect()
}

/// `k` clusters of `per` points in `dim` dimensions, centres 20 apart on different axes.
fn clusters(per: usize, k: usize, dim: usize, seed: u64) -> (Vec<f32>, Vec<usize>) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let z = Normal::new(0.0f32, 1.0).unwrap();
    let mut x = Vec::new();
    let mut lab = Vec::new();
    for c in 0..k {
        for _ in 0..per {
            for i in 0..dim {
                x.push(if i == c { 20.0 } else { 0.0 } + z.sample(&mut rng));
            }
            lab.push(c);
        }
    }
    (x, lab)
}

fn dense(p: &SparseAffinities) -> Vec<f64> {
    let n = p.n;
    let mut d = vec![0f64; n * n];
    for i in 0..n {
        for e in p.row_start[i]..p.row_start[i + 1] {
            d[i * n + p.cols[e] as usize] = p.vals[e];
        }
    }
    d
}

/// The exact gradient 4 Σ_j (ex·p_ij − q_ij) w_ij (y_i − y_j) and Z, pair by pair.
fn exact_gradient(p: &[f64], y: &[[f64; 2]], ex: f64) -> (Vec<[f64; 2]>, f64) {
    let n = y.len();
    let w = |i: usize, j: usize| {
        let (a, b) = (y[i][0] - y[j][0], y[i][1] - y[j][1]);
        1.0 / (1.0 + a * a + b * b)
    };
    let mut z = 0.0;
    for i in 0..n {
        for j in 0..n {
            if i != j {
                z += w(i, j);
            }
        }
    }
    let g = (0..n)
        .map(|i| {
            let mut g = [0.0; 2];
            for j in (0..n).filter(|&j| j != i) {
                let m = (ex * p[i * n + j] - w(i, j) / z) * w(i, j);
                g[0] += 4.0 * m * (y[i][0] - y[j][0]);
                g[1] += 4.0 * m * (y[i][1] - y[j][1]);
            }
            g
        })
        .collect();
    (g, z)
}

/// ‖a − b‖ / ‖b‖ over all coordinates.
fn relative_error(a: &[[f64; 2]], b: &[[f64; 2]]) -> f64 {
    let (mut num, mut den) = (0.0, 0.0);
    for (u, v) in a.iter().zip(b) {
        for c in 0..2 {
            num += (u[c] - v[c]).powi(2);
            den += v[c].powi(2);
        }
    }
    (num / den).sqrt()
}

#[test]
fn gradient_matches_the_exact_one() {
    let n = 300;
    let x: Vec<f32> = gaussian(n * 6, 1.0, 1).iter().map(|&v| v as f32).collect();
    let p = tsne_bh::sparse_affinities(&x, 6, 10.0).unwrap();
    let pd = dense(&p);
    // A spread-out layout, so that far cells exist, with a clump to make the tree deep.
    let mut y = points2(n, 5.0, 2);
    for (i, q) in points2(30, 0.01, 3).into_iter().enumerate() {
        y[i] = [q[0] + 1.0, q[1] - 2.0];
    }
    for ex in [1.0, 12.0] {
        let (want, want_z) = exact_gradient(&pd, &y, ex);
        let g0 = tsne_bh::gradient(&p, &y, 0.0, ex);
        let e0 = relative_error(&g0.grad, &want);
        assert!(e0 < 1e-12, "theta 0: relative error {e0:e}");
        assert!((g0.z - want_z).abs() < 1e-12 * want_z);
        let g5 = tsne_bh::gradient(&p, &y, 0.5, ex);
        let e5 = relative_error(&g5.grad, &want);
        eprintln!("exaggeration {ex}: relative gradient error {e0:e} at theta 0, {e5:e} at 0.5");
        // Close, and really approximated (cells were summarised).
        assert!(e5 < 2e-2 && e5 > 1e-9, "theta 0.5: relative error {e5:e}");
        assert!((g5.z - want_z).abs() < 1e-2 * want_z);
    }
}

#[test]
fn sparse_affinities_are_exact_ones_restricted_to_neighbours() {
    let n = 150;
    let dim = 4;
    let perp = 8.0;
    let x: Vec<f32> = gaussian(n * dim, 1.0, 7)
        .iter()
        .map(|&v| v as f32)
        .collect();
    let p = tsne_bh::sparse_affinities(&x, dim, perp).unwrap();
    let k = tsne_bh::neighbour_count(n, perp);
    assert_eq!(k, 25);
    // Neighbours by sorting the exact distances; others at infinite distance.
    let d = tsne::squared_distances(&x, dim);
    let mut masked = vec![f64::INFINITY; n * n];
    let mut is_nb = vec![false; n * n];
    for i in 0..n {
        let mut js: Vec<usize> = (0..n).filter(|&j| j != i).collect();
        js.sort_by(|&a, &b| d[i * n + a].total_cmp(&d[i * n + b]));
        for &j in &js[..k] {
            masked[i * n + j] = d[i * n + j];
            is_nb[i * n + j] = true;
        }
    }
    let (cond, _) = tsne::calibrate(&masked, n, perp);
    let pd = dense(&p);
    let mut total = 0.0;
    for i in 0..n {
        let cols = &p.cols[p.row_start[i]..p.row_start[i + 1]];
        assert!(cols.windows(2).all(|w| w[0] < w[1]), "row {i} not sorted");
        for j in 0..n {
            let want = (cond[i * n + j] + cond[j * n + i]) / (2.0 * n as f64);
            let got = pd[i * n + j];
            assert!(
                (got - want).abs() < 1e-4 * want.max(1e-3 / n as f64),
                "p[{i},{j}] = {got:e}, want {want:e}"
            );
            // Stored exactly where i and j are neighbours one way or the other.
            let stored = cols.binary_search(&(j as u32)).is_ok();
            assert_eq!(stored, is_nb[i * n + j] || is_nb[j * n + i], "({i}, {j})");
            total += got;
        }
    }
    assert!((total - 1.0).abs() < 1e-12);
}

#[test]
fn quadtree_cells_hold_the_sums_of_their_points() {
    let mut y = points2(2000, 3.0, 11);
    // Exact duplicates and a tight clump exercise the depth limit.
    for i in 0..12 {
        y[100 + i] = y[99];
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(4);
    let u = Uniform::new(0.0, 1e-9);
    for i in 0..20 {
        y[500 + i] = [7.0 + u.sample(&mut rng), -1.0 + u.sample(&mut rng)];
    }
    let t = QuadTree::build(&y);
    let mut order = t.order.clone();
    order.sort_unstable();
    assert_eq!(order, (0..y.len() as u32).collect::<Vec<_>>());
    assert_eq!(t.nodes[0].count as usize, y.len());
    let mut leaves_total = 0;
    for nd in &t.nodes {
        // Brute force: the points inside the node's box.
        let inside: Vec<&[f64; 2]> = y
            .iter()
            .filter(|p| {
                (p[0] - nd.centre[0]).abs() <= nd.half && (p[1] - nd.centre[1]).abs() <= nd.half
            })
            .collect();
        assert_eq!(inside.len(), nd.count as usize);
        if !inside.is_empty() {
            for c in 0..2 {
                let m = inside.iter().map(|p| p[c]).sum::<f64>() / inside.len() as f64;
                assert!(
                    (m - nd.mass_centre[c]).abs() <= 1e-12 * (1.0 + m.abs()),
                    "centre of mass {c}: {} vs {m}",
                    nd.mass_centre[c]
                );
            }
        }
        if nd.first_child != 0 {
            let kids = &t.nodes[nd.first_child as usize..nd.first_child as usize + 4];
            assert_eq!(kids.iter().map(|k| k.count).sum::<u32>(), nd.count);
            for k in kids {
                assert_eq!(k.half, nd.half / 2.0);
            }
        } else {
            leaves_total += nd.count as usize;
        }
    }
    assert_eq!(leaves_total, y.len());
}

#[test]
fn final_kl_is_comparable_to_the_exact_method() {
    let (x, lab) = clusters(100, 4, 10, 5);
    let params = tsne::TsneParams {
        perplexity: 15.0,
        iterations: 500,
        seed: 1,
        ..Default::default()
    };
    let exact = tsne::embed(&x, 10, &params).unwrap();
    let bh = tsne_bh::embed(&x, 10, &params, 0.5).unwrap();
    let (ke, kb) = (exact.kl_divergence, bh.kl_divergence);
    eprintln!("final KL: exact {ke:.4}, Barnes-Hut {kb:.4}");
    assert!(
        kb > 0.0 && (kb - ke).abs() < 0.15 * ke,
        "KL: Barnes-Hut {kb}, exact {ke}"
    );
    // Every point's nearest 2-D neighbour is in its own cluster.
    let n = lab.len();
    for i in 0..n {
        let near = (0..n)
            .filter(|&j| j != i)
            .min_by(|&a, &b| {
                let d = |j: usize| {
                    (bh.points[i][0] - bh.points[j][0]).powi(2)
                        + (bh.points[i][1] - bh.points[j][1]).powi(2)
                };
                d(a).total_cmp(&d(b))
            })
            .unwrap();
        assert_eq!(lab[near], lab[i], "point {i}");
    }
}

#[test]
fn a_seed_gives_the_same_map_on_any_number_of_threads() {
    let (x, _) = clusters(60, 3, 6, 9);
    let params = |seed| tsne::TsneParams {
        perplexity: 10.0,
        iterations: 200,
        seed,
        ..Default::default()
    };
    let a = tsne_bh::embed(&x, 6, &params(3), 0.5).unwrap();
    let one_thread = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let b = one_thread.install(|| tsne_bh::embed(&x, 6, &params(3), 0.5).unwrap());
    assert_eq!(a.points, b.points);
    assert_eq!(a.kl_divergence, b.kl_divergence);
    let c = tsne_bh::embed(&x, 6, &params(4), 0.5).unwrap();
    assert_ne!(a.points, c.points);
}

#[test]
fn bad_input_is_an_error_and_auto_picks_by_size() {
    let x: Vec<f32> = gaussian(200 * 3, 1.0, 1)
        .iter()
        .map(|&v| v as f32)
        .collect();
    let p = tsne::TsneParams {
        perplexity: 5.0,
        iterations: 10,
        ..Default::default()
    };
    assert!(tsne_bh::embed(&x, 3, &p, -0.5).is_err());
    assert!(tsne_bh::embed(&x, 3, &p, f64::NAN).is_err());
    assert!(tsne_bh::embed(&x[..30], 3, &p, 0.5).is_err());
    assert!(tsne_bh::embed(&x[..31], 3, &p, 0.5).is_err());
    let mut bad = x.clone();
    bad[7] = f32::NAN;
    assert!(tsne_bh::embed(&bad, 3, &p, 0.5).is_err());
    assert!(tsne_bh::embed(&x, 3, &p, 0.5).is_ok());
    assert_eq!(Method::Auto.resolve(tsne_bh::AUTO_EXACT_MAX), Method::Exact);
    assert_eq!(
        Method::Auto.resolve(tsne_bh::AUTO_EXACT_MAX + 1),
        Method::BarnesHut
    );
    assert_eq!(Method::Exact.resolve(1 << 20), Method::Exact);
}
