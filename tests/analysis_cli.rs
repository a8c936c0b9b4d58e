//! The run-directory commands end to end on a synthetic run written here.

use archc::cli::analysis::{run, AnalysisCommand, FiltersArgs, ReconArgs, RunArgs};
use safetensors::tensor::TensorView;
use safetensors::Dtype;

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn run_args(dir: &std::path::Path) -> RunArgs {
    RunArgs {
        run_dir: dir.to_path_buf(),
        out: None,
        format: "png".into(),
        top: 5,
    }
}

#[test]
fn confusion_filters_recon_curves_on_a_synthetic_run() {
    // `$ARCHC_FIGURE_DIR` keeps the figures for inspection.
    let t = tempfile::tempdir().unwrap();
    let kept = std::env::var("ARCHC_FIGURE_DIR")
        .ok()
        .map(std::path::PathBuf::from);
    if let Some(k) = &kept {
        std::fs::create_dir_all(k).unwrap();
    }
    let dir = kept.as_deref().unwrap_or(t.path());
    // 3 classes; class 2 is predicted as 1 three times.
    std::fs::write(
        dir.join("predictions.json"),
        r#"{"split": "test", "classes": ["a", "b", "c"], "labels": [0,0,1,1,2,2,2,2,2], "predictions": [0,0,1,1,1,1,1,2,0]}"#,
    )
    .unwrap();
    run(AnalysisCommand::Confusion(run_args(dir))).unwrap();
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("confusion.json")).unwrap())
            .unwrap();
    assert_eq!(j["confusion"]["counts"][2], serde_json::json!([1, 3, 1]));
    assert_eq!(j["most_confused"][0]["true_name"], "c");
    assert_eq!(j["most_confused"][0]["predicted_name"], "b");
    assert!((j["most_confused"][0]["rate"].as_f64().unwrap() - 0.6).abs() < 1e-12);
    assert!((j["error_rate"].as_f64().unwrap() - 4.0 / 9.0).abs() < 1e-12);
    assert!(dir.join("confusion.png").is_file());

    let w: Vec<f32> = (0..8 * 25).map(|i| (i as f32 * 0.37).sin()).collect();
    let wb = f32_bytes(&w);
    safetensors::serialize_to_file(
        vec![(
            "layers.0.weight",
            TensorView::new(Dtype::F32, vec![8, 1, 5, 5], &wb).unwrap(),
        )],
        &None,
        &dir.join("best.safetensors"),
    )
    .unwrap();
    run(AnalysisCommand::Filters(FiltersArgs {
        run_dir: dir.to_path_buf(),
        checkpoint: "best.safetensors".into(),
        out: None,
        format: "svg".into(),
        data: None,
        n: 0,
        seed: 0,
        maps: 16,
    }))
    .unwrap();
    assert!(std::fs::read_to_string(dir.join("filters.svg"))
        .unwrap()
        .starts_with("<svg"));

    // Dense autoencoder as the engine writes it: image-shaped inputs, flat outputs.
    let x: Vec<f32> = (0..3 * 784).map(|i| (i % 784) as f32 / 783.0).collect();
    let y: Vec<f32> = x.iter().map(|v| v * 0.5).collect();
    let (xb, yb) = (f32_bytes(&x), f32_bytes(&y));
    safetensors::serialize_to_file(
        vec![
            (
                "test.inputs",
                TensorView::new(Dtype::F32, vec![3, 1, 28, 28], &xb).unwrap(),
            ),
            (
                "test.noisy",
                TensorView::new(Dtype::F32, vec![3, 1, 28, 28], &yb).unwrap(),
            ),
            (
                "test.outputs",
                TensorView::new(Dtype::F32, vec![3, 784], &yb).unwrap(),
            ),
        ],
        &None,
        &dir.join("reconstructions.safetensors"),
    )
    .unwrap();
    run(AnalysisCommand::Recon(ReconArgs {
        run_dir: dir.to_path_buf(),
        count: 3,
        out: None,
        format: "png".into(),
    }))
    .unwrap();
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("reconstructions.json")).unwrap())
            .unwrap();
    let want: f64 = x
        .iter()
        .zip(&y)
        .map(|(a, b)| ((a - b) as f64).powi(2))
        .sum::<f64>()
        / 3.0;
    assert!((j["test"]["sse_per_example"].as_f64().unwrap() - want).abs() < 1e-6 * want);

    std::fs::write(
        dir.join("metrics.json"),
        r#"{"model": "C×P×F×F", "dataset": "mnist", "epochs": [
            {"epoch": 1, "lr": 0.1, "train_loss": 0.9, "train_error": 0.2, "val_error": 0.22, "test_error": 0.21, "seconds": 2},
            {"epoch": 2, "lr": 0.1, "train_loss": 0.5, "train_error": 0.1, "val_error": 0.13, "test_error": 0.12, "seconds": 2}]}"#,
    )
    .unwrap();
    run(AnalysisCommand::Curves(run_args(dir))).unwrap();
    assert!(dir.join("errors.png").is_file() && dir.join("loss.png").is_file());

    // Missing files are errors, not panics.
    let empty = tempfile::tempdir().unwrap();
    assert!(run(AnalysisCommand::Confusion(run_args(empty.path()))).is_err());
    assert!(run(AnalysisCommand::Curves(run_args(empty.path()))).is_err());
}

#[test]
fn knn_and_tsne_on_autoencoder_codes() {
    use archc::analysis::knn::Kernel;
    use archc::cli::analysis::{DataArgs, KnnArgs, TsneArgs};
    let t = tempfile::tempdir().unwrap();
    let dir = t.path();
    // Two classes at ±5 on the first axis with small deterministic jitter; the test
    // split's last 10 codes are labelled against their cluster, so accuracy is 90/100.
    let make = |n: usize, flip_last: usize| -> (Vec<f32>, Vec<u8>) {
        let mut codes = Vec::new();
        let mut labels = Vec::new();
        for i in 0..n {
            let c = (i % 2) as u8;
            let centre = if c == 0 { -5.0 } else { 5.0 };
            codes.extend([
                centre + ((i * 7) % 11) as f32 * 0.05,
                ((i * 3) % 5) as f32 * 0.1,
                0.0,
            ]);
            labels.push(if i >= n - flip_last { 1 - c } else { c });
        }
        (codes, labels)
    };
    let (trc, trl) = make(200, 0);
    let (tec, tel) = make(100, 10);
    let (trb, teb) = (f32_bytes(&trc), f32_bytes(&tec));
    let p = dir.join("codes.safetensors");
    safetensors::serialize_to_file(
        vec![
            (
                "train.codes",
                TensorView::new(Dtype::F32, vec![200, 3], &trb).unwrap(),
            ),
            (
                "train.labels",
                TensorView::new(Dtype::U8, vec![200], &trl).unwrap(),
            ),
            (
                "test.codes",
                TensorView::new(Dtype::F32, vec![100, 3], &teb).unwrap(),
            ),
            (
                "test.labels",
                TensorView::new(Dtype::U8, vec![100], &tel).unwrap(),
            ),
        ],
        &None,
        &p,
    )
    .unwrap();
    let data = DataArgs {
        dataset: None,
        data: None,
        train_size: None,
    };
    run(AnalysisCommand::Knn(KnnArgs {
        data: data.clone(),
        codes: Some(p.clone()),
        k: 5,
        limit_queries: None,
        kernel: Kernel::Auto,
        vote_ties: archc::analysis::knn::VoteTies::Nearer,
        out: dir.join("knn"),
    }))
    .unwrap();
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("knn/knn.json")).unwrap()).unwrap();
    assert!((j["accuracy"].as_f64().unwrap() - 0.9).abs() < 1e-12);
    assert_eq!(j["queries"], 100);

    use archc::analysis::tsne_bh::Method;
    for (method, name) in [(Method::Auto, "exact"), (Method::BarnesHut, "barnes-hut")] {
        run(AnalysisCommand::Tsne(TsneArgs {
            data: data.clone(),
            codes: Some(p.clone()),
            pca_dims: 0,
            n: 80,
            perplexity: 10.0,
            iterations: 300,
            seed: 3,
            method,
            theta: 0.5,
            out: dir.join(name),
            format: "png".into(),
        }))
        .unwrap();
        let j: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join(name).join("tsne.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(j["points"].as_array().unwrap().len(), 80);
        // 80 points are few enough for `auto` to pick the exact method.
        assert_eq!(j["method"], name);
        // The map's 10-NN leave-one-out accuracy, recomputed by a naive loop.
        let pts: Vec<[f64; 2]> = j["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| [p[0].as_f64().unwrap(), p[1].as_f64().unwrap()])
            .collect();
        let labels: Vec<u64> = j["labels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_u64().unwrap())
            .collect();
        let mut right = 0;
        for i in 0..pts.len() {
            let mut d: Vec<(f64, usize)> = (0..pts.len())
                .filter(|&m| m != i)
                .map(|m| {
                    let (dx, dy) = (pts[i][0] - pts[m][0], pts[i][1] - pts[m][1]);
                    (dx * dx + dy * dy, m)
                })
                .collect();
            d.sort_by(|a, b| a.partial_cmp(b).unwrap());
            let mut votes = std::collections::BTreeMap::<u64, (usize, f64)>::new();
            for &(dist, m) in &d[..10] {
                let v = votes.entry(labels[m]).or_default();
                v.0 += 1;
                v.1 += dist.sqrt();
            }
            // Most votes, then the nearer class in sum, then the smaller label.
            let best = votes
                .iter()
                .min_by(|a, b| {
                    b.1 .0
                        .cmp(&a.1 .0)
                        .then(a.1 .1.partial_cmp(&b.1 .1).unwrap())
                })
                .map(|(l, _)| *l)
                .unwrap();
            right += usize::from(best == labels[i]);
        }
        let expected = right as f64 / pts.len() as f64;
        let got = j["map_knn_accuracy"].as_f64().unwrap();
        assert!((got - expected).abs() < 1e-12, "{got} vs naive {expected}");
        let input = j["input_knn_accuracy"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&input));
        assert!(dir.join(name).join("tsne.png").is_file());
    }
}
