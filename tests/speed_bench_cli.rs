//! `archc bench` as a user runs it: JSON keys present, numbers positive and consistent.

use std::process::Command;

fn bench_json(spec: &str, extra: &[&str]) -> Vec<serde_json::Value> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tiny.arch");
    std::fs::write(&path, spec).expect("write spec");
    let out = Command::new(env!("CARGO_BIN_EXE_archc"))
        .args([
            "bench",
            path.to_str().unwrap(),
            "--batch",
            "8",
            "--seconds",
            "0.2",
        ])
        .args(["--format", "json"])
        .args(extra)
        .output()
        .expect("run archc");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect()
}

fn num(v: &serde_json::Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("missing numeric key {key} in {v}"))
}

const CONV: &str = "defaults C[3x3 same relu]
net = C4 × P2 × F10[softmax]
train {
  dataset cifar10
  loss cross_entropy
  optimizer adam lr=1e-3
  batch 8
}";

#[test]
fn bench_json_reports_consistent_positive_numbers() {
    let objs = bench_json(CONV, &[]);
    assert_eq!(objs.len(), 1, "one model → one object");
    let v = &objs[0];
    assert_eq!(v["batch"].as_u64(), Some(8));
    assert!(v["model"].is_string());
    for key in [
        "train_images_per_second",
        "infer_images_per_second",
        "gflops",
        "peak_rss_mb",
        "step_ms",
    ] {
        assert!(num(v, key) > 0.0, "{key} should be positive: {v}");
    }
    // images/s × seconds per step = images per step.
    let per_step = num(v, "train_images_per_second") * num(v, "step_ms") / 1e3;
    assert!((per_step - 8.0).abs() < 0.01, "{per_step} images per step");
    // Hand count: conv 3·3·3·4 MACs at 32·32 outputs; dense 4·16·16·10.
    let conv = 27 * 4 * 32 * 32;
    let dense = 4 * 16 * 16 * 10;
    assert_eq!(v["mult_adds_per_image"].as_u64(), Some(conv + dense));
    // 2 flops × (forward + backward-weights for both, backward-input for the dense).
    assert_eq!(
        v["train_flops_per_image"].as_u64(),
        Some(2 * (2 * conv + 3 * dense))
    );
    let gflops = num(v, "train_images_per_second") * (2 * (2 * conv + 3 * dense)) as f64 / 1e9;
    assert!((num(v, "gflops") - gflops).abs() <= 1e-9 * gflops.max(1.0));
    // The percentage of peak is the achieved rate over the measured FMA-loop peak.
    if let Some(peak) = v["machine_peak_gflops"].as_f64() {
        assert!(peak > 0.0, "{v}");
        let pct = 100.0 * num(v, "gflops") / peak;
        assert!(
            (num(v, "percent_of_peak") - pct).abs() <= 1e-9 * pct.max(1.0),
            "{v}"
        );
    } else {
        assert!(
            v["percent_of_peak"].is_null(),
            "no peak, no percentage: {v}"
        );
    }
}

#[test]
fn bench_selects_a_model_and_runs_autoencoders() {
    let spec = "defaults F[relu]
encoder = F16 × F2[linear]
decoder = mirror
train {
  dataset mnist
  loss binary_cross_entropy
  optimizer sgd lr=0.1
}";
    let objs = bench_json(spec, &["--sgd"]);
    assert_eq!(objs.len(), 1);
    assert!(num(&objs[0], "train_images_per_second") > 0.0);
    assert_eq!(objs[0]["optimizer"].as_str(), Some("sgd"));
}

#[test]
fn bench_rejects_an_unknown_model_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tiny.arch");
    std::fs::write(&path, CONV).expect("write spec");
    let out = Command::new(env!("CARGO_BIN_EXE_archc"))
        .args(["bench", path.to_str().unwrap(), "--model", "nope"])
        .output()
        .expect("run archc");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no model named"), "{err}");
}
