//! Records the git commit archc is built from (`ARCHC_GIT_COMMIT`, read by
//! `train::run_dir::build_info` for run records); outside a git checkout it stays unset
//! and runs say "unknown".

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if let Some(commit) = git(&["rev-parse", "HEAD"]) {
        // The commit only: uncommitted changes are not tracked (that would rebuild on
        // every `git add`).
        println!("cargo:rustc-env=ARCHC_GIT_COMMIT={commit}");
        // Rebuild when HEAD moves (a commit, a checkout).
        for p in ["HEAD", "logs/HEAD"] {
            if let Some(path) = git(&["rev-parse", "--git-path", p]) {
                println!("cargo:rerun-if-changed={path}");
            }
        }
    }
}
