//! kNN against a naive loop with exact (integer-valued) data, including the tie rules.

use archc::analysis::knn::{self, Kernel};
use rand::{Rng, SeedableRng};

/// Naive reference: all distances in f64, sort by (distance, index), vote with the
/// documented tie rules written out independently.
fn naive(train: &[f32], labels: &[u8], dim: usize, q: &[f32], k: usize) -> (Vec<(f64, usize)>, u8) {
    let mut d: Vec<(f64, usize)> = train
        .chunks(dim)
        .enumerate()
        .map(|(i, x)| {
            (
                x.iter().zip(q).map(|(a, b)| ((a - b) as f64).powi(2)).sum(),
                i,
            )
        })
        .collect();
    d.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    d.truncate(k);
    let mut best: Option<(usize, f64, u8)> = None; // (count, summed distance, label)
    for label in 0..=255u8 {
        let count = d.iter().filter(|(_, i)| labels[*i] == label).count();
        if count == 0 {
            continue;
        }
        let sum: f64 = d
            .iter()
            .filter(|(_, i)| labels[*i] == label)
            .map(|x| x.0)
            .sum();
        let better = match best {
            None => true,
            Some((c, s, _)) => count > c || (count == c && sum < s),
        };
        if better {
            best = Some((count, sum, label));
        }
    }
    (d, best.unwrap().2)
}

fn integer_data(rng: &mut impl Rng, n: usize, dim: usize, levels: u32) -> Vec<f32> {
    (0..n * dim)
        .map(|_| rng.gen_range(0..levels) as f32)
        .collect()
}

#[test]
fn matches_naive_loop_with_many_ties() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    // Few levels and low dimension: many equal distances and equal votes. More than one
    // training block (2048) and query block (128) to exercise the blocking.
    let (n, dim, nq) = (5000, 3, 300);
    let train = integer_data(&mut rng, n, dim, 4);
    let labels: Vec<u8> = (0..n).map(|_| rng.gen_range(0..4)).collect();
    let queries = integer_data(&mut rng, nq, dim, 4);
    for (k, kernel) in [
        (1, Kernel::Dense),
        (4, Kernel::Sparse),
        (10, Kernel::Dense),
        (10, Kernel::Sparse),
    ] {
        let nb = knn::neighbours_with(&train, &labels, dim, &queries, k, kernel).unwrap();
        let pred = knn::predict_with(
            &train,
            &labels,
            dim,
            &queries,
            k,
            kernel,
            knn::VoteTies::Nearer,
        )
        .unwrap();
        for (qi, q) in queries.chunks(dim).enumerate() {
            let (want, want_label) = naive(&train, &labels, dim, q, k);
            let got: Vec<(f64, usize)> = nb[qi]
                .iter()
                .map(|x| (x.distance as f64, x.index as usize))
                .collect();
            assert_eq!(got, want, "query {qi}, k = {k}, {kernel:?}");
            assert_eq!(pred[qi], want_label, "query {qi}, k = {k}, {kernel:?}");
        }
    }
}

#[test]
fn matches_naive_loop_in_higher_dimension() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let (n, dim, nq) = (3000, 50, 200);
    let train = integer_data(&mut rng, n, dim, 16);
    let labels: Vec<u8> = (0..n).map(|_| rng.gen_range(0..10)).collect();
    let queries = integer_data(&mut rng, nq, dim, 16);
    let pred = knn::predict(&train, &labels, dim, &queries, 10).unwrap();
    for (qi, q) in queries.chunks(dim).enumerate() {
        assert_eq!(pred[qi], naive(&train, &labels, dim, q, 10).1, "query {qi}");
    }
}

#[test]
fn sparse_queries_match_naive_loop_with_both_kernels() {
    // MNIST-like: most values zero, so `Auto` takes the sparse kernel; a training size that
    // is not a multiple of any block size.
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    let (n, dim, nq) = (2500, 64, 150);
    let sparse = |rng: &mut rand_chacha::ChaCha8Rng, len: usize| -> Vec<f32> {
        (0..len)
            .map(|_| {
                if rng.gen_bool(0.2) {
                    rng.gen_range(1..8) as f32
                } else {
                    0.0
                }
            })
            .collect()
    };
    let train = sparse(&mut rng, n * dim);
    let labels: Vec<u8> = (0..n).map(|_| rng.gen_range(0..10)).collect();
    let queries = sparse(&mut rng, nq * dim);
    for kernel in [Kernel::Auto, Kernel::Sparse, Kernel::Dense] {
        let nb = knn::neighbours_with(&train, &labels, dim, &queries, 10, kernel).unwrap();
        for (qi, q) in queries.chunks(dim).enumerate() {
            let (want, want_label) = naive(&train, &labels, dim, q, 10);
            let got: Vec<(f64, usize)> = nb[qi]
                .iter()
                .map(|x| (x.distance as f64, x.index as usize))
                .collect();
            assert_eq!(got, want, "query {qi}, {kernel:?}");
            assert_eq!(knn::vote(&nb[qi], &labels), want_label);
        }
    }
}

#[test]
fn hand_made_ties() {
    // Training points on a line; query at 0. Points 1 and 2 are both at distance 1.
    let train = [1.0f32, -1.0, 1.0, 3.0];
    let labels = [0u8, 1, 2, 1];
    // k = 1: distance tie between index 0 (label 0) and index 1 → lower index wins.
    assert_eq!(
        knn::predict(&train, &labels, 1, &[0.0], 1).unwrap(),
        vec![0]
    );
    // k = 3: one vote each for 0, 1, 2 (distances 1, 1, 1) → all sums equal → smaller label.
    assert_eq!(
        knn::predict(&train, &labels, 1, &[0.0], 3).unwrap(),
        vec![0]
    );
    // Query at 1.5: neighbours idx0 (0.25, label 0), idx2 (0.25, label 2), idx3 (2.25, label 1),
    // k = 2 → one vote each, equal sums → label 0.
    assert_eq!(
        knn::predict(&train, &labels, 1, &[1.5], 2).unwrap(),
        vec![0]
    );
    // Query at 2.5, k = 2: idx3 (0.25, label 1), then idx0 and idx2 tie at 2.25 → idx0
    // (label 0). Labels 1 and 0 have one vote each; label 1's sum is smaller → 1.
    assert_eq!(
        knn::predict(&train, &labels, 1, &[2.5], 2).unwrap(),
        vec![1]
    );
}

#[test]
fn accuracy_and_bad_input() {
    assert_eq!(knn::accuracy(&[1, 2, 3, 4], &[1, 2, 0, 4]), 0.75);
    assert!(knn::predict(&[0.0; 6], &[0, 1], 3, &[0.0; 3], 3).is_err());
    assert!(knn::predict(&[0.0; 6], &[0], 3, &[0.0; 3], 1).is_err());
    assert!(knn::predict(&[0.0; 6], &[0, 1], 3, &[0.0; 4], 1).is_err());
    assert!(knn::predict(&[0.0; 6], &[0, 1], 3, &[0.0; 3], 0).is_err());
}

#[test]
fn vote_tie_rules_differ_only_on_tied_votes() {
    // Query at 0: label 1 at distance 0.5, label 0 at distance 2 → one vote each.
    let train = [0.5f32, 2.0, 10.0];
    let labels = [1u8, 0, 0];
    let run = |k, ties| {
        knn::predict_with(&train, &labels, 1, &[0.0], k, knn::Kernel::Dense, ties).unwrap()
    };
    // Tied votes: the nearer class wins by default, the smaller label with scikit-learn's rule.
    assert_eq!(run(2, knn::VoteTies::Nearer), vec![1]);
    assert_eq!(run(2, knn::VoteTies::SmallestLabel), vec![0]);
    // A clear majority (two votes for 0 against one for 1) is the same under both rules.
    assert_eq!(run(3, knn::VoteTies::Nearer), vec![0]);
    assert_eq!(run(3, knn::VoteTies::SmallestLabel), vec![0]);
}

#[test]
fn leave_one_out_accuracy_classifies_each_point_by_the_others() {
    // 1-D points; nearest other point (k = 1), worked out by hand:
    // 0→1 ✓, 1→0 ✓, 10→11 ✓, 11→10 (tie with 12, lower index first) ✓, 12→11 ✗, 30→12 ✗.
    let x = [0.0f32, 1.0, 10.0, 11.0, 12.0, 30.0];
    let labels = [0u8, 0, 1, 1, 0, 1];
    let acc = knn::leave_one_out_accuracy(&x, &labels, 1, 1).unwrap();
    assert!((acc - 4.0 / 6.0).abs() < 1e-12, "{acc}");
    // k = 3: 12 sees 11, 10, 1 → labels 1, 1, 0 → 1 ✗;
    // 30 sees 12, 11, 10 → labels 0, 1, 1 → 1 ✓; 0 sees 1, 10, 11 → 0, 1, 1 → 1 ✗;
    // 1 sees 0, 10, 11 → 1 ✗; 10 sees 11, 12, 1 → 1, 0, 0 → 0 ✗; 11 sees 10, 12, 1 → 1, 0, 0 → 0 ✗.
    let acc3 = knn::leave_one_out_accuracy(&x, &labels, 1, 3).unwrap();
    assert!((acc3 - 1.0 / 6.0).abs() < 1e-12, "{acc3}");
    // k must leave at least one other point.
    assert!(knn::leave_one_out_accuracy(&x, &labels, 1, 6).is_err());
    assert!(knn::leave_one_out_accuracy(&x, &labels, 1, 0).is_err());
}
