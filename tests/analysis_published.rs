//! The README's published kNN and PCA numbers on real MNIST (train 55000, test 10000,
//! k = 10), recomputed: the test reads the README's table, so a change to either the code
//! or the published numbers fails here. PCA is also checked against an independent power
//! iteration on the covariance.

mod real_data;

use archc::analysis::{knn, pca};
use archc::ir::{DatasetName, Split};

/// Rows of the README table under "**kNN and PCA on MNIST**": (method, d', cells).
fn readme_rows() -> Vec<(String, usize, Vec<String>)> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let start = readme
        .find("**kNN and PCA on MNIST**")
        .expect("README has the kNN and PCA on MNIST table");
    let rows: Vec<(String, usize, Vec<String>)> = readme[start..]
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .map(|l| {
            let cells: Vec<String> = l
                .trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_string())
                .collect();
            let d = cells[1].parse().expect("d' column");
            (cells[0].clone(), d, cells)
        })
        .collect();
    assert!(rows.len() >= 3, "README table rows: {rows:?}");
    rows
}

#[test]
fn readme_knn_accuracy_and_pca_errors_on_mnist() {
    let rows = readme_rows();
    let Some(dir) = real_data::shared_data("mnist", "readme_knn_accuracy_and_pca_errors_on_mnist")
    else {
        return;
    };
    let split = Split {
        train: 55000,
        validation: 5000,
    };
    let ds = archc::data::load(DatasetName::Mnist, split, Some(&dir)).expect("MNIST loads");
    let dim = 784;
    let (train, test) = (&ds.train.images, &ds.test.images);
    assert_eq!((train.len() / dim, test.len() / dim), (55000, 10000));

    // Raw pixels: all 10000 test queries (about 3.5 s on two cores).
    let raw = rows
        .iter()
        .find(|r| r.0 == "raw pixels")
        .expect("raw pixels row");
    let pred = knn::predict(train, &ds.train.labels, dim, test, 10).unwrap();
    let acc = knn::accuracy(&pred, &ds.test.labels);
    assert_eq!(format!("{acc:.4}"), raw.2[4], "raw-pixel kNN accuracy");

    // PCA fitted on the training split; errors of the test reconstructions, to the
    // README's digits (its kNN-on-codes column is left to `archc pca`: 5 more kNN runs).
    let pca_rows: Vec<_> = rows.iter().filter(|r| r.0 == "PCA").collect();
    assert!(!pca_rows.is_empty());
    let max_d = pca_rows.iter().map(|r| r.1).max().unwrap();
    let p = pca::fit(train, dim, max_d).unwrap();
    for (_, d, cells) in pca_rows {
        let recon = p.decode(&p.encode(test, *d), *d);
        let e = pca::reconstruction_error(test, &recon, dim);
        assert_eq!(
            format!("{:.5}", e.mse_per_pixel),
            cells[2],
            "d'={d} MSE/pixel"
        );
        assert_eq!(
            format!("{:.2}", e.bce_per_example),
            cells[3],
            "d'={d} BCE/image"
        );
    }
}

#[test]
fn pca_matches_power_iteration_on_real_mnist() {
    let Some(dir) = real_data::shared_data("mnist", "pca_matches_power_iteration_on_real_mnist")
    else {
        return;
    };
    let split = Split {
        train: 55000,
        validation: 5000,
    };
    let ds = archc::data::load(DatasetName::Mnist, split, Some(&dir)).expect("MNIST loads");
    let dim = 784;
    let n = 3000;
    let x = &ds.train.images[..n * dim];
    let p = pca::fit(x, dim, 3).unwrap();
    // Centred data in f64; C·v = Xcᵀ(Xc·v)/n without forming C.
    let mut mean = vec![0f64; dim];
    for r in x.chunks(dim) {
        for (m, &v) in mean.iter_mut().zip(r) {
            *m += v as f64 / n as f64;
        }
    }
    let xc: Vec<f64> = x
        .iter()
        .enumerate()
        .map(|(i, &v)| v as f64 - mean[i % dim])
        .collect();
    let cov_times = |v: &[f64]| {
        let mut out = vec![0f64; dim];
        for r in xc.chunks(dim) {
            let s: f64 = r.iter().zip(v).map(|(a, b)| a * b).sum();
            for (o, a) in out.iter_mut().zip(r) {
                *o += s * a / n as f64;
            }
        }
        out
    };
    let norm = |v: &mut Vec<f64>| {
        let l = v.iter().map(|a| a * a).sum::<f64>().sqrt();
        v.iter_mut().for_each(|a| *a /= l);
    };
    // Power iteration with deflation against the vectors found so far.
    let mut found: Vec<Vec<f64>> = Vec::new();
    for c in 0..3 {
        let mut v: Vec<f64> = (0..dim)
            .map(|i| ((i * 7919 + c) % 101) as f64 - 50.0)
            .collect();
        let mut lambda = 0.0;
        for _ in 0..150 {
            for u in &found {
                let s: f64 = u.iter().zip(&v).map(|(a, b)| a * b).sum();
                v.iter_mut().zip(u).for_each(|(a, b)| *a -= s * b);
            }
            norm(&mut v);
            let w = cov_times(&v);
            lambda = w.iter().zip(&v).map(|(a, b)| a * b).sum();
            v = w;
        }
        for u in &found {
            let s: f64 = u.iter().zip(&v).map(|(a, b)| a * b).sum();
            v.iter_mut().zip(u).for_each(|(a, b)| *a -= s * b);
        }
        norm(&mut v);
        let got = p.eigenvalues[c];
        assert!(
            (got - lambda).abs() < 1e-4 * lambda,
            "eigenvalue {c}: pca {got}, power iteration {lambda}"
        );
        let comp = &p.components[c * dim..(c + 1) * dim];
        let cos: f64 = comp.iter().zip(&v).map(|(&a, b)| a as f64 * b).sum();
        assert!(cos.abs() > 0.9999, "component {c}: |cos| = {}", cos.abs());
        found.push(v);
    }
    // The trace identity: all eigenvalues sum to the total variance.
    let total: f64 = xc.iter().map(|a| a * a).sum::<f64>() / n as f64;
    let sum: f64 = p.eigenvalues.iter().sum();
    assert!((sum - total).abs() < 1e-6 * total, "{sum} vs {total}");
}
