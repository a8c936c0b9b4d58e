//! Locating `../shared/data` for the real-data tests: required when `CI=true`, otherwise a
//! missing folder skips the test with a SKIPPED line that `cargo test` does not swallow.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};

/// The shared data root holding `sub` (e.g. `mnist`): `../shared/data` from the crate root
/// (CI, main checkout) or `../../shared/data` (a worktree under /work/wt).
pub fn shared_data(sub: &str, test: &str) -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for rel in ["../shared/data", "../../shared/data"] {
        let p = root.join(rel);
        if p.join(sub).is_dir() {
            return Some(p);
        }
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("../shared/data/{sub} is missing (required when CI=true)");
    }
    skipped(test, &format!("../shared/data/{sub} not found"));
    None
}

/// Says loudly that `test` did not check anything. Written to the process's stderr directly:
/// the test harness captures `eprintln!` of passing tests, so a skip would be invisible.
pub fn skipped(test: &str, why: &str) {
    let line = format!("\nSKIPPED {test}: {why} (with CI=true this fails instead)\n");
    let _ = std::io::stderr().write_all(line.as_bytes());
}
