//! `archc item ID --jobs` and `archc item ID --quick`: ways of running an item's commands
//! other than one after the other at full size.
//!
//! - `--jobs` prints one independent command per trained model (`archc train SPEC --model
//!   NAME`), one per line, for a Slurm array or GNU parallel; each writes only its own run
//!   folder. Once they are done, `archc item ID` runs the analysis commands (the finished
//!   trainings are skipped) and `archc report` merges everything.
//! - `--quick` runs every command at a tiny size into a separate runs folder: training for
//!   [`QUICK_EPOCHS`] epoch on the first [`QUICK_LIMIT`] examples of each split, analyses on
//!   as few examples; every `runs/…` path of the manifest is moved to the quick folder, so a
//!   quick run never touches real results. It checks that each item's pipeline still works
//!   end to end; its numbers mean nothing.

use crate::report::{CommandLine, Item};

/// Examples per split in `--quick` training and analyses.
pub const QUICK_LIMIT: usize = 200;
/// Epochs of `--quick` training.
pub const QUICK_EPOCHS: usize = 1;
/// Points of a `--quick` t-SNE map (more than 3 × the perplexity of 30).
pub const QUICK_TSNE: usize = 100;

/// `s` with a leading `runs/` (or exactly `runs`) moved to `dir`.
fn move_runs(s: &str, dir: &str) -> String {
    if s == "runs" {
        dir.to_string()
    } else if let Some(rest) = s.strip_prefix("runs/") {
        format!("{dir}/{rest}")
    } else {
        s.to_string()
    }
}

fn has(args: &[String], flag: &str) -> bool {
    args.iter().any(|a| a == flag)
}

/// A command line as `--quick` runs it, writing under `runs_dir` instead of `runs`.
pub fn quick(c: &CommandLine, runs_dir: &str) -> CommandLine {
    let mut a: Vec<String> = c.args.iter().map(|s| move_runs(s, runs_dir)).collect();
    let sub = a.first().cloned().unwrap_or_default();
    let add = |flag: &str, v: String, a: &mut Vec<String>| {
        if !has(a, flag) {
            a.push(flag.into());
            a.push(v);
        }
    };
    match sub.as_str() {
        "train" => {
            add("--out", runs_dir.into(), &mut a);
            add("--epochs", QUICK_EPOCHS.to_string(), &mut a);
            add("--limit", QUICK_LIMIT.to_string(), &mut a);
        }
        "ae-vs-pca" => {
            add("--runs", runs_dir.into(), &mut a);
            add("--limit", QUICK_LIMIT.to_string(), &mut a);
        }
        "knn" | "pca" => add("--limit-queries", QUICK_LIMIT.to_string(), &mut a),
        "tsne" => add("--n", QUICK_TSNE.to_string(), &mut a),
        _ => {}
    }
    CommandLine {
        args: a,
        stdout: c.stdout.as_deref().map(|s| move_runs(s, runs_dir)),
    }
}

/// One `archc train SPEC --model NAME …` line per model of the item's training commands,
/// with the command's other arguments (and `extra`, e.g. `--data DIR`) kept.
pub fn jobs(item: &Item, extra: &[String]) -> miette::Result<Vec<String>> {
    let mut out = Vec::new();
    for c in item.command_lines() {
        if c.args.first().map(String::as_str) != Some("train") {
            continue;
        }
        let spec = c
            .args
            .get(1)
            .ok_or_else(|| miette::miette!("item {}: `archc train` without a spec", item.id))?;
        let s = crate::ir::load(std::path::Path::new(spec))?;
        for m in &s.models {
            let mut a = c.args.clone();
            if !has(&a, "--model") {
                a.push("--model".into());
                a.push(m.name.clone());
            } else if out.contains(&display(&a, extra)) {
                // The manifest already picked one model: keep its line once.
                continue;
            }
            out.push(display(&a, extra));
        }
    }
    Ok(out)
}

fn display(args: &[String], extra: &[String]) -> String {
    let mut a = args.to_vec();
    a.extend(extra.iter().cloned());
    CommandLine {
        args: a,
        stdout: None,
    }
    .display()
}
