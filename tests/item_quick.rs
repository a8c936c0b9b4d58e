//! `archc item ID --quick` for every item of the built-in manifest: each item's commands run
//! at a tiny size (1 epoch, 200 examples) into `runs-quick/`, so that no item's pipeline can
//! break unnoticed. Needs the real MNIST and CIFAR-10 in `../shared/data` (fails when
//! missing with CI=true, says it skipped otherwise). SVHN is not on these machines: its items
//! (2a–2h) run on small synthetic MATLAB files written here (600 training and 300 test images
//! of 32×32×3), which a `--limit` run and `archc data` accept by shrinking the split.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

mod mat_writer;

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
    let svhn_root = work.path().join("synthetic");
    std::fs::create_dir_all(svhn_root.join("svhn")).unwrap();
    for (file, n) in [("train_32x32.mat", 600), ("test_32x32.mat", 300)] {
        let bytes = mat_writer::svhn_file(n, 32, 32, true, false, false, false);
        std::fs::write(svhn_root.join("svhn").join(file), bytes).unwrap();
    }
    let all = items();
    assert!(all.len() > 30, "{all:?}");
    let started = Instant::now();
    let mut svhn_items = 0;
    for id in &all {
        let t = Instant::now();
        let svhn = id.starts_with('2');
        svhn_items += usize::from(svhn);
        let out = Command::new(env!("CARGO_BIN_EXE_archc"))
            .args(["item", id, "--quick", "--data"])
            .arg(if svhn { &svhn_root } else { &data })
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
    assert!(svhn_items >= 8, "SVHN items 2a–2i expected in {all:?}");
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
