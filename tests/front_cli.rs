//! `archc summary` and `archc check` as a user runs them.

use std::process::Command;

fn archc(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_archc"))
        .args(args)
        .output()
        .expect("run archc")
}

#[test]
fn check_accepts_a_good_spec() {
    let out = archc(&["check", "specs/svhn.arch"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn check_rejects_a_mistake_with_a_pointed_diagnostic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.arch");
    std::fs::write(
        &path,
        "net = C64@9x9 × P2 × P2 × P2 × P2 × C64@3x3 × F10[softmax]\ntrain {\n  dataset cifar10\n}\n",
    )
    .expect("write");
    let out = archc(&["check", path.to_str().expect("utf-8 path")]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("kernel_too_large"), "{err}");
    // 32 → 24 (9×9 valid) → 12 → 6 → 3 → 1: the 3×3 convolution no longer fits.
    assert!(err.contains("larger than its input 1×1"), "{err}");
    assert!(err.contains("C64@3x3"), "{err}");
}

#[test]
fn summary_json_totals_match_keras() {
    for (spec, total) in [
        ("specs/cifar_base.arch", 2_141_514u64),
        ("specs/svhn.arch", 1_058_726),
        ("specs/mnist_mlp.arch", 785 * 1000 + 1001 * 1000 + 1001 * 10),
    ] {
        let out = archc(&["summary", "--format", "json", spec]);
        assert!(out.status.success());
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        assert_eq!(
            v["models"][0]["total_params"].as_u64(),
            Some(total),
            "{spec}"
        );
    }
}

#[test]
fn summary_text_has_one_table_per_model() {
    let out = archc(&["summary", "specs/mnist_ae_basic.arch"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.matches("total").count(), 6, "{text}"); // d' = 2, 4, 8, 16, 32, 64
                                                            // d' = 64: (784+1)·64 + (64+1)·784 = 50240 + 50960.
    assert!(text.contains("101,200"), "{text}");
}

#[test]
fn check_reports_every_independent_mistake_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.arch");
    std::fs::write(
        &path,
        "net = C32@3x3[rleu] × P2 × F10[softmax]\ntrain {\n  dataset cifar100\n  optimizer sgd lr=0.1 momentun=0.9\n}\n",
    )
    .expect("write");
    let out = archc(&["check", path.to_str().expect("utf-8 path")]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("the spec has 3 problems"), "{err}");
    let at = |what: &str| {
        err.find(what)
            .unwrap_or_else(|| panic!("no `{what}` in\n{err}"))
    };
    // Listed in the order they appear in the spec.
    assert!(at("unknown annotation `rleu`") < at("unknown dataset `cifar100`"));
    assert!(at("unknown dataset `cifar100`") < at("unknown option `momentun`"));
}
