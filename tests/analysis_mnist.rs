//! Real MNIST: both kNN kernels agree with a naive f64 loop on a sample of test queries,
//! and PCA's error on the training split equals the discarded eigenvalues.

mod real_data;

use std::path::PathBuf;

use archc::analysis::{knn, pca};
use archc::ir::{DatasetName, Split};

fn data_dir() -> Option<PathBuf> {
    real_data::shared_data("mnist", "knn_and_pca_on_real_mnist")
}

#[test]
fn knn_and_pca_on_real_mnist() {
    let Some(dir) = data_dir() else { return };
    let split = Split {
        train: 55000,
        validation: 5000,
    };
    let ds = archc::data::load(DatasetName::Mnist, split, Some(&dir)).unwrap();
    let dim = 784;
    // A training subset keeps the naive loop cheap; queries spread over the test set.
    let n = 20000;
    let train = &ds.train.images[..n * dim];
    let labels = &ds.train.labels[..n];
    let picks: Vec<usize> = (0..40).map(|i| i * 250 + 7).collect();
    let queries: Vec<f32> = picks
        .iter()
        .flat_map(|&i| ds.test.images[i * dim..(i + 1) * dim].to_vec())
        .collect();
    let sparse =
        knn::neighbours_with(train, labels, dim, &queries, 10, knn::Kernel::Sparse).unwrap();
    let dense = knn::neighbours_with(train, labels, dim, &queries, 10, knn::Kernel::Dense).unwrap();
    for (qi, q) in queries.chunks(dim).enumerate() {
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
        for (kernel, got) in [("sparse", &sparse[qi]), ("dense", &dense[qi])] {
            for (r, nb) in got.iter().enumerate() {
                // f32 rounding may swap neighbours whose distances differ by less than
                // 1e-3; the distance at each rank must match the exact one.
                assert!(
                    (nb.distance as f64 - d[r].0).abs() < 1e-3 * (1.0 + d[r].0),
                    "{kernel}, query {qi}, rank {r}: {} vs {}",
                    nb.distance,
                    d[r].0
                );
            }
        }
        assert_eq!(
            knn::vote(&sparse[qi], labels),
            knn::vote(&dense[qi], labels),
            "query {qi}"
        );
    }

    let p = pca::fit(train, dim, 16).unwrap();
    let codes = p.encode(train, 16);
    let err = pca::reconstruction_error(train, &p.decode(&codes, 16), dim);
    let discarded: f64 = p.eigenvalues[16..].iter().sum();
    assert!(
        (err.sse_per_example - discarded).abs() < 1e-3 * discarded,
        "{} vs {discarded}",
        err.sse_per_example
    );
}
