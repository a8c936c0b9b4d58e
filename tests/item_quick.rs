//! `archc item ID --quick` for every item of the built-in manifest: each item's commands run
//! at a tiny size (1 epoch, 200 examples) into `runs-quick/`, so that no item's pipeline can
//! break unnoticed. Needs the real MNIST and CIFAR-10 in `../shared/data` (fails when
//! missing with CI=true, says it skipped otherwise). The SVHN items (2a, 2c–2h) are left
//! out: the spec's split needs a training file of 73257 images, too large to synthesise here.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

fn data_dir() -> Option<PathBuf> {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
    if d.join("mnist").exists() && d.join("cifar10-jpeg-approx").exists() {
        return Some(d);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "CI=true but {} has no mnist/ and cifar10-jpeg-approx/",
            d.display()
        );
    }
    eprintln!(
        "SKIPPED: item_quick needs MNIST and CIFAR-10 under {}",
        d.display()
    );
    None
}

fn items() -> Vec<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_archc"))
        .args(["item", "--list"])
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(String::from))
        .collect()
}

#[test]
fn every_item_runs_in_quick_mode() {
    let Some(data) = data_dir() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    // The manifest's commands name `specs/…` relative to the working directory.
    #[cfg(unix)]
    std::os::unix::fs::symlink(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("specs"),
        work.path().join("specs"),
    )
    .unwrap();
    let svhn = ["2a", "2c", "2d", "2e", "2f", "2g", "2h"];
    let all = items();
    assert!(all.len() > 30, "{all:?}");
    let started = Instant::now();
    for id in all.iter().filter(|i| !svhn.contains(&i.as_str())) {
        let t = Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_archc"))
            .args(["item", id, "--quick", "--data"])
            .arg(&data)
            .current_dir(work.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "item {id} --quick failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!("item {id} --quick: {:.1} s", t.elapsed().as_secs_f64());
    }
    eprintln!("all quick items: {:.1} s", started.elapsed().as_secs_f64());
    // Everything went to runs-quick/, nothing to runs/.
    assert!(work.path().join("runs-quick").is_dir());
    assert!(!work.path().join("runs").exists());
    // The report reads the quick runs like real ones.
    let out = Command::new(env!("CARGO_BIN_EXE_archc"))
        .args(["report", "--runs", "runs-quick", "--out", "report-quick"])
        .current_dir(work.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
