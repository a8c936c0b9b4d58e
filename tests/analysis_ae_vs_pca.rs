//! `analysis::ae_vs_pca`: runs found by the model name in metrics.json, grouped into
//! families without d', kNN on their codes against a brute-force count, PCA rows at every
//! d', and the table and figures written.

#[path = "engine_util/mod.rs"]
mod engine_util;

use archc::analysis::ae_vs_pca::{self, family_of, Options};
use archc::train::checkpoint::{self, Entry};
use engine_util::*;

/// Brute-force kNN accuracy (ties in the vote: nearer in sum, as archc's default, do not
/// occur with these random codes at k = 1).
fn nearest_accuracy(train: &[f32], tl: &[u8], test: &[f32], ql: &[u8], d: usize) -> f64 {
    let mut right = 0;
    for (q, &l) in test.chunks(d).zip(ql) {
        let best = train
            .chunks(d)
            .enumerate()
            .map(|(i, t)| {
                (
                    t.iter().zip(q).map(|(a, b)| (a - b).powi(2)).sum::<f32>(),
                    i,
                )
            })
            .min_by(|a, b| a.0.total_cmp(&b.0))
            .unwrap()
            .1;
        right += usize::from(tl[best] == l);
    }
    right as f64 / ql.len() as f64
}

fn fake_run(
    dir: &std::path::Path,
    folder: &str,
    model: &str,
    d: usize,
    seed: u64,
    rec: f64,
) -> (Vec<f32>, Vec<f32>) {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let p = dir.join(folder);
    std::fs::create_dir_all(&p).unwrap();
    let (ntr, nte) = (60, 25);
    let tr: Vec<f32> = (0..ntr * d).map(|_| rng.gen()).collect();
    let te: Vec<f32> = (0..nte * d).map(|_| rng.gen()).collect();
    let trl: Vec<u8> = (0..ntr).map(|i| (i % 3) as u8).collect();
    let tel: Vec<u8> = (0..nte).map(|i| (i % 3) as u8).collect();
    checkpoint::save(
        &p.join("codes.safetensors"),
        vec![
            ("train.codes".into(), Entry::F32(vec![ntr, d], tr.clone())),
            ("train.labels".into(), Entry::U8(vec![ntr], trl)),
            ("test.codes".into(), Entry::F32(vec![nte, d], te.clone())),
            ("test.labels".into(), Entry::U8(vec![nte], tel)),
        ],
    )
    .unwrap();
    let metrics = serde_json::json!({
        "model": model,
        "epochs": [{"epoch": 1, "val_loss": 0.2}],
        "reconstruction": {"epoch": 1, "test": {"mse_per_pixel": rec, "bce_per_image": 100.0 * rec, "bce_per_pixel": rec}},
    });
    std::fs::write(p.join("metrics.json"), metrics.to_string()).unwrap();
    (tr, te)
}

#[test]
fn families_leave_out_d_prime_only() {
    let fams = vec![
        "mnist_ae_basic".to_string(),
        "mnist_ae_deep_sweep".to_string(),
    ];
    assert_eq!(
        family_of("mnist_ae_basic[d'=8]", &fams).as_deref(),
        Some("mnist_ae_basic")
    );
    assert_eq!(
        family_of("mnist_ae_deep_sweep[L=3,d'=16]", &fams).as_deref(),
        Some("mnist_ae_deep_sweep L=3")
    );
    assert_eq!(family_of("mnist_ae_basic_relu[d'=8]", &fams), None);
    assert_eq!(family_of("mnist_dae_mask[keep=0.5]", &fams), None);
}

#[test]
fn comparison_measures_every_run_and_pca_at_each_code_size() {
    let runs = tempfile::tempdir().unwrap();
    // Folder names are irrelevant: the model name in metrics.json counts.
    let (tr_a, te_a) = fake_run(runs.path(), "a", "mnist_ae_basic[d'=2]", 2, 1, 0.05);
    let (tr_b, te_b) = fake_run(
        runs.path(),
        "b_folder",
        "mnist_ae_deep_sweep[L=2,d'=3]",
        3,
        2,
        0.04,
    );
    fake_run(
        runs.path(),
        "c",
        "mnist_ae_deep_sweep[L=3,d'=3]",
        3,
        3,
        0.03,
    );
    fake_run(runs.path(), "other", "mnist_mlp", 3, 4, 0.5);
    let data = low_rank_images(6, [60, 10, 25], 3);
    let c = ae_vs_pca::compare(
        &data,
        &Options {
            runs: runs.path().to_path_buf(),
            families: vec!["mnist_ae_basic".into(), "mnist_ae_deep_sweep".into()],
            pca_dims: vec![1, 4],
            k: 1,
            limit_queries: None,
        },
    )
    .unwrap();
    let find = |m: &str, d: usize| {
        c.rows
            .iter()
            .find(|r| r.method == m && r.dims == d)
            .cloned()
    };
    let a = find("mnist_ae_basic", 2).expect("basic AE row");
    let labels = |n: usize| (0..n).map(|i| (i % 3) as u8).collect::<Vec<u8>>();
    let want = nearest_accuracy(&tr_a, &labels(60), &te_a, &labels(25), 2);
    assert!((a.knn_accuracy.unwrap() - want).abs() < 1e-12);
    assert_eq!(a.mse_per_pixel, Some(0.05));
    assert_eq!(a.bce_per_image, Some(5.0));
    let b = find("mnist_ae_deep_sweep L=2", 3).expect("deep L=2 row");
    let want = nearest_accuracy(&tr_b, &labels(60), &te_b, &labels(25), 3);
    assert!((b.knn_accuracy.unwrap() - want).abs() < 1e-12);
    assert!(find("mnist_ae_deep_sweep L=3", 3).is_some());
    // PCA at the asked sizes and at every autoencoder's d'; nothing from the classifier.
    for d in [1, 2, 3, 4] {
        let p = find("PCA", d).unwrap_or_else(|| panic!("no PCA row at d'={d}"));
        assert!(p.mse_per_pixel.unwrap() > 0.0);
    }
    assert_eq!(c.rows.len(), 3 + 4);
    // PCA rows come first, in ascending d' (observations quote rows by index).
    let order: Vec<(String, usize)> = c.rows.iter().map(|r| (r.method.clone(), r.dims)).collect();
    assert_eq!(
        order[..4],
        [1, 2, 3, 4].map(|d| ("PCA".to_string(), d)),
        "{order:?}"
    );
    // PCA's error falls as d' grows (more components, less residual).
    let pm: Vec<f64> = [1, 2, 3, 4]
        .iter()
        .map(|&d| find("PCA", d).unwrap().mse_per_pixel.unwrap())
        .collect();
    assert!(pm.windows(2).all(|w| w[1] <= w[0] + 1e-9), "{pm:?}");

    let out = tempfile::tempdir().unwrap();
    ae_vs_pca::write(&c, out.path(), "svg").unwrap();
    for f in [
        "ae_vs_pca.json",
        "ae_vs_pca.md",
        "recon_error_vs_dims.svg",
        "knn_vs_dims.svg",
    ] {
        assert!(out.path().join(f).exists(), "{f} missing");
    }
    let md = std::fs::read_to_string(out.path().join("ae_vs_pca.md")).unwrap();
    assert!(
        md.contains("| 3 |") && md.contains("mnist_ae_deep_sweep L=3 kNN acc."),
        "{md}"
    );
}

#[test]
fn knn_accuracy_outlives_the_codes_until_the_run_changes() {
    let runs = tempfile::tempdir().unwrap();
    let (tr, te) = fake_run(runs.path(), "a", "mnist_ae_basic[d'=2]", 2, 7, 0.05);
    fake_run(runs.path(), "b", "mnist_ae_basic[d'=3]", 3, 8, 0.04);
    let data = low_rank_images(6, [60, 10, 25], 3);
    let opts = |k| Options {
        runs: runs.path().to_path_buf(),
        families: vec!["mnist_ae_basic".into()],
        pca_dims: vec![],
        k,
        limit_queries: None,
    };
    let labels = |n: usize| (0..n).map(|i| (i % 3) as u8).collect::<Vec<u8>>();
    let want = nearest_accuracy(&tr, &labels(60), &te, &labels(25), 2);
    let first = ae_vs_pca::compare(&data, &opts(1)).unwrap();
    let row = |c: &ae_vs_pca::Comparison, d: usize| {
        c.rows
            .iter()
            .find(|r| r.method == "mnist_ae_basic" && r.dims == d)
            .cloned()
    };
    assert!((row(&first, 2).unwrap().knn_accuracy.unwrap() - want).abs() < 1e-12);
    assert!(first.knn_from_record.is_empty());
    assert!(runs
        .path()
        .join("a")
        .join(ae_vs_pca::CODE_KNN_FILE)
        .is_file());

    // Codes gone (a fresh clone): the row stays, from the record, and says so.
    std::fs::remove_file(runs.path().join("a/codes.safetensors")).unwrap();
    let second = ae_vs_pca::compare(&data, &opts(1)).unwrap();
    let a = row(&second, 2).expect("row kept from code_knn.json");
    assert!((a.knn_accuracy.unwrap() - want).abs() < 1e-12);
    assert_eq!(a.mse_per_pixel, Some(0.05));
    assert_eq!(
        second.knn_from_record,
        vec!["mnist_ae_basic[d'=2]".to_string()]
    );
    assert!(ae_vs_pca::markdown(&second).contains("code_knn.json"));
    assert!(
        row(&second, 3).is_some(),
        "the run with codes is measured as before"
    );

    // Another k was not measured: no row, and the reason is given.
    let other_k = ae_vs_pca::compare(&data, &opts(3)).unwrap();
    assert!(row(&other_k, 2).is_none());
    assert!(other_k.skipped.iter().any(|s| s.contains("d'=2")));

    // A retrained run (new metrics.json) invalidates the record.
    let m = runs.path().join("a/metrics.json");
    let text = std::fs::read_to_string(&m).unwrap().replace("0.2", "0.19");
    std::fs::write(&m, text).unwrap();
    let retrained = ae_vs_pca::compare(&data, &opts(1)).unwrap();
    assert!(row(&retrained, 2).is_none());
}
