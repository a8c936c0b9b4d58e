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
    }))
    .unwrap();
    assert!(std::fs::read_to_string(dir.join("filters.svg"))
        .unwrap()
        .starts_with("<svg"));

    // Dense autoencoder: flattened 784-vectors, with noisy inputs.
    let x: Vec<f32> = (0..3 * 784).map(|i| (i % 784) as f32 / 783.0).collect();
    let y: Vec<f32> = x.iter().map(|v| v * 0.5).collect();
    let (xb, yb) = (f32_bytes(&x), f32_bytes(&y));
    safetensors::serialize_to_file(
        vec![
            (
                "test.inputs",
                TensorView::new(Dtype::F32, vec![3, 784], &xb).unwrap(),
            ),
            (
                "test.noisy",
                TensorView::new(Dtype::F32, vec![3, 784], &yb).unwrap(),
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
