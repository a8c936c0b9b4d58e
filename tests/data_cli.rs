//! `archc data info|show` end to end on a synthetic MNIST folder.

use std::path::Path;
use std::process::Command;

fn write_mnist(dir: &Path, n_train: usize, n_test: usize) {
    let images = |n: usize| {
        let mut b = vec![0, 0, 8, 3];
        for d in [n, 28, 28] {
            b.extend((d as u32).to_be_bytes());
        }
        b.extend((0..n * 784).map(|i| (i % 256) as u8));
        b
    };
    // Label of example i: i % 3 (classes 0, 1, 2 only).
    let labels = |n: usize| {
        let mut b = vec![0, 0, 8, 1];
        b.extend((n as u32).to_be_bytes());
        b.extend((0..n).map(|i| (i % 3) as u8));
        b
    };
    std::fs::write(dir.join("train-images-idx3-ubyte"), images(n_train)).unwrap();
    std::fs::write(dir.join("train-labels-idx1-ubyte"), labels(n_train)).unwrap();
    std::fs::write(dir.join("t10k-images-idx3-ubyte"), images(n_test)).unwrap();
    std::fs::write(dir.join("t10k-labels-idx1-ubyte"), labels(n_test)).unwrap();
}

fn archc(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_archc"))
        .args(args)
        .env("ARCHC_OFFLINE", "1")
        .output()
        .unwrap()
}

#[test]
fn info_json_reports_split_sizes_and_class_counts() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("mnist");
    std::fs::create_dir(&dir).unwrap();
    // 60001 images: not the official size, so no official checksum applies.
    write_mnist(&dir, 60001, 7);
    let out = archc(&[
        "data",
        "info",
        "mnist",
        "--data",
        tmp.path().to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["train"]["size"], 55000);
    assert_eq!(v["validation"]["size"], 5000);
    assert_eq!(v["test"]["size"], 7);
    assert_eq!(v["image_shape"], serde_json::json!([1, 28, 28]));
    // 55000 = 3·18333 + 1 → class 0 gets the extra one; validation = examples 55001..60001.
    assert_eq!(
        v["train"]["per_class"],
        serde_json::json!([18334, 18333, 18333, 0, 0, 0, 0, 0, 0, 0])
    );
    let va: Vec<u64> = (55001..60001).fold(vec![0; 10], |mut c, i| {
        c[i % 3] += 1;
        c
    });
    assert_eq!(v["validation"]["per_class"], serde_json::json!(va));
    assert_eq!(
        v["test"]["per_class"],
        serde_json::json!([3, 2, 2, 0, 0, 0, 0, 0, 0, 0])
    );
}

#[test]
fn missing_dataset_and_bad_name_are_clean_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let out = archc(&[
        "data",
        "info",
        "svhn",
        "--data",
        tmp.path().to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("train_32x32.mat") && !err.contains("panicked"),
        "{err}"
    );
    let out = archc(&["data", "info", "imagenet"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("unknown dataset"),
        "{err}"
    );
}

#[test]
fn show_writes_a_png_grid() {
    let tmp = tempfile::tempdir().unwrap();
    write_mnist(tmp.path(), 60001, 10);
    let png = tmp.path().join("grid.png");
    let out = archc(&[
        "data",
        "show",
        "mnist",
        "--data",
        tmp.path().to_str().unwrap(),
        "--split",
        "test",
        "--n",
        "5",
        "--out",
        png.to_str().unwrap(),
        "--seed",
        "3",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
}
