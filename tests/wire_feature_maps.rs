//! `archc filters` draws the first convolution's feature maps on training images: a run
//! directory written by hand (spec copy, metrics.json, a checkpoint with known 1×1
//! kernels) on a synthetic MNIST folder, checked against relu(w·x + b) computed here.

use archc::cli::analysis::{run, AnalysisCommand, FiltersArgs};
use archc::lower::Weights;
use archc::train::checkpoint;
use std::path::Path;

/// MNIST IDX files: pixel j of example i is (7i + j) % 256, label i % 10.
fn write_mnist(dir: &Path, n_train: usize, n_test: usize) {
    let images = |n: usize| {
        let mut b = vec![0, 0, 8, 3];
        for d in [n, 28, 28] {
            b.extend((d as u32).to_be_bytes());
        }
        for i in 0..n {
            b.extend((0..784).map(|j| ((7 * i + j) % 256) as u8));
        }
        b
    };
    let labels = |n: usize| {
        let mut b = vec![0, 0, 8, 1];
        b.extend((n as u32).to_be_bytes());
        b.extend((0..n).map(|i| (i % 10) as u8));
        b
    };
    std::fs::write(dir.join("train-images-idx3-ubyte"), images(n_train)).unwrap();
    std::fs::write(dir.join("train-labels-idx1-ubyte"), labels(n_train)).unwrap();
    std::fs::write(dir.join("t10k-images-idx3-ubyte"), images(n_test)).unwrap();
    std::fs::write(dir.join("t10k-labels-idx1-ubyte"), labels(n_test)).unwrap();
}

const SPEC: &str = "input 1x28x28
net = C2@1x1[relu] × P2 × F10[softmax]
train {
  dataset mnist split=30/10
}
";

#[test]
fn feature_maps_are_relu_of_the_known_kernels_on_the_chosen_images() {
    let t = tempfile::tempdir().unwrap();
    let data = t.path().join("mnist");
    std::fs::create_dir_all(&data).unwrap();
    write_mnist(&data, 40, 10);
    let run_dir = t.path().join("run");
    std::fs::create_dir_all(&run_dir).unwrap();
    std::fs::write(run_dir.join("fm.arch"), SPEC).unwrap();
    let spec = archc::ir::compile("fm", SPEC).unwrap();
    let model = &spec.models[0];
    std::fs::write(
        run_dir.join("metrics.json"),
        format!(
            r#"{{"model": "{}", "dataset": "mnist", "params": 0, "epochs": []}}"#,
            model.name
        ),
    )
    .unwrap();
    // Filter 0: relu(2x − 0.5); filter 1: relu(0.3 − x).
    let mut w = Weights::init(model, 0);
    w.params[0] = vec![2.0, -1.0, -0.5, 0.3];
    checkpoint::save_weights(&run_dir.join("best.safetensors"), model, &w).unwrap();

    run(AnalysisCommand::Filters(FiltersArgs {
        run_dir: run_dir.clone(),
        checkpoint: "best.safetensors".into(),
        out: None,
        format: "png".into(),
        data: Some(t.path().to_path_buf()),
        n: 3,
        seed: 5,
        maps: 16,
    }))
    .unwrap();
    assert!(run_dir.join("filters.png").is_file());
    assert!(run_dir.join("feature_maps.png").is_file());
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("feature_maps.json")).unwrap())
            .unwrap();
    assert_eq!(j["layer"], 0);
    assert_eq!(j["shape"], serde_json::json!([3, 2, 28, 28]));
    let idx: Vec<usize> = j["indices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    assert_eq!(idx.len(), 3);
    assert!(idx.iter().all(|&i| i < 30), "training split only: {idx:?}");
    assert!(idx.windows(2).all(|p| p[0] < p[1]), "distinct: {idx:?}");
    let t2 = checkpoint::load(&run_dir.join("feature_maps.safetensors")).unwrap();
    let maps = &t2["maps"];
    let mut want = Vec::new();
    for &i in &idx {
        let x: Vec<f32> = (0..784)
            .map(|j| ((7 * i + j) % 256) as f32 / 255.0)
            .collect();
        want.extend(x.iter().map(|v| (2.0 * v - 0.5).max(0.0)));
        want.extend(x.iter().map(|v| (0.3 - v).max(0.0)));
    }
    assert_eq!(maps.len(), want.len());
    for (k, (a, b)) in maps.iter().zip(&want).enumerate() {
        assert!((a - b).abs() < 1e-5, "map value {k}: {a} vs {b}");
    }
    // The summary statistics agree with the maps.
    let zero0 = j["images"][0]["zero_fraction"].as_f64().unwrap();
    let counted = want[..1568].iter().filter(|&&v| v == 0.0).count() as f64 / 1568.0;
    assert!((zero0 - counted).abs() < 1e-12);
    assert_eq!(j["images"][1]["label"], idx[1] % 10);

    // A run directory without its spec copy is a clear error.
    std::fs::remove_file(run_dir.join("fm.arch")).unwrap();
    let e = run(AnalysisCommand::Filters(FiltersArgs {
        run_dir: run_dir.clone(),
        checkpoint: "best.safetensors".into(),
        out: None,
        format: "png".into(),
        data: Some(t.path().to_path_buf()),
        n: 3,
        seed: 5,
        maps: 16,
    }))
    .unwrap_err();
    assert!(format!("{e:?}").contains("spec"), "{e:?}");
}
