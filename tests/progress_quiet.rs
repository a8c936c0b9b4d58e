//! Progress bars are for terminals: with stderr piped (a log file, CI), the long-running
//! commands print plain lines only, no carriage returns, no ANSI escapes, no bar glyphs.

use std::path::Path;
use std::process::{Command, Output, Stdio};

/// A tiny MNIST folder whose pixels vary with the example and its class (3 classes).
fn write_mnist(dir: &Path, n_train: usize, n_test: usize) {
    std::fs::create_dir_all(dir).unwrap();
    let images = |n: usize, salt: usize| {
        let mut b = vec![0, 0, 8, 3];
        for d in [n, 28, 28] {
            b.extend((d as u32).to_be_bytes());
        }
        for i in 0..n {
            let class = i % 3;
            b.extend((0..784).map(|p| ((p * (class + 1) * 7 + i * 13 + salt) % 256) as u8));
        }
        b
    };
    let labels = |n: usize| {
        let mut b = vec![0, 0, 8, 1];
        b.extend((n as u32).to_be_bytes());
        b.extend((0..n).map(|i| (i % 3) as u8));
        b
    };
    std::fs::write(dir.join("train-images-idx3-ubyte"), images(n_train, 0)).unwrap();
    std::fs::write(dir.join("train-labels-idx1-ubyte"), labels(n_train)).unwrap();
    std::fs::write(dir.join("t10k-images-idx3-ubyte"), images(n_test, 5)).unwrap();
    std::fs::write(dir.join("t10k-labels-idx1-ubyte"), labels(n_test)).unwrap();
}

/// Runs archc with stdout and stderr piped, as a shell redirect or CI would.
fn archc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_archc"))
        .args(args)
        .env("ARCHC_OFFLINE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

/// What a redrawn progress bar leaves in a log: what is found, if any.
fn terminal_drawing(text: &str) -> Option<&'static str> {
    [
        ("\r", "carriage return"),
        ("\x1b", "ANSI escape"),
        ("=>", "bar body `=>`"),
        ("█", "bar glyph █"),
        ("░", "bar glyph ░"),
        ("eta ", "eta field"),
    ]
    .into_iter()
    .find(|(needle, _)| text.contains(needle))
    .map(|(_, what)| what)
}

fn assert_quiet(what: &str, o: &Output) {
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert_eq!(o.status.code(), Some(0), "{what} failed:\n{err}\n{out}");
    for (stream, text) in [("stderr", &err), ("stdout", &out)] {
        if let Some(found) = terminal_drawing(text) {
            panic!("{what}: {stream} holds a {found} off-terminal:\n{text:?}");
        }
    }
}

#[test]
fn train_knn_and_tsne_draw_no_progress_bars_into_a_pipe() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    // knn and tsne keep 5000 training examples for validation.
    write_mnist(&root.join("mnist"), 5200, 60);
    let data = root.to_str().unwrap();
    let spec = root.join("t.arch");
    std::fs::write(
        &spec,
        "net = F16[relu] × F10[softmax]\ntrain {\n  dataset mnist split=120/30\n  optimizer sgd lr=0.1\n  epochs 3\n  batch 10\n  seed 1\n}\n",
    )
    .unwrap();
    let runs = root.join("runs");
    let o = archc(&[
        "train",
        spec.to_str().unwrap(),
        "--data",
        data,
        "--out",
        runs.to_str().unwrap(),
        "--threads",
        "1",
    ]);
    assert_quiet("archc train", &o);
    // The run really trained (so its progress bar had something to draw).
    assert!(runs.join("t/metrics.json").is_file());

    let knn_out = root.join("knn");
    let o = archc(&[
        "knn",
        "--dataset",
        "mnist",
        "--data",
        data,
        "--train-size",
        "200",
        "--k",
        "3",
        "--out",
        knn_out.to_str().unwrap(),
    ]);
    assert_quiet("archc knn", &o);

    let tsne_out = root.join("tsne");
    let o = archc(&[
        "tsne",
        "--dataset",
        "mnist",
        "--data",
        data,
        "--train-size",
        "200",
        "--n",
        "50",
        "--perplexity",
        "5",
        "--iterations",
        "300",
        "--pca-dims",
        "10",
        "--out",
        tsne_out.to_str().unwrap(),
    ]);
    assert_quiet("archc tsne", &o);
    assert!(tsne_out.join("tsne.json").is_file());
}
