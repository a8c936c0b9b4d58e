//! `archc runs [DIR]`: the run folders under DIR, each with epochs done of asked, best
//! validation result, limited or not, finished or not.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::train::run_dir::{self, Metrics, ResumeState};

#[derive(Debug, clap::Args)]
pub struct RunsArgs {
    /// Folder of the run directories.
    #[arg(default_value = "runs")]
    pub dir: PathBuf,
    /// `table` or `json`.
    #[arg(long, default_value = "table", value_parser = ["table", "json"])]
    pub format: String,
}

/// One run as listed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunRow {
    pub folder: String,
    pub model: Option<String>,
    pub epochs_done: usize,
    /// From the run record; `None` for runs made before records existed.
    pub epochs_asked: Option<usize>,
    pub best_epoch: Option<usize>,
    pub best_val_error: Option<f64>,
    pub best_val_loss: Option<f64>,
    /// `--limit N` of the run (`None`: full data, or unknown without a record).
    pub limit: Option<usize>,
    /// `None`: unknown (no record).
    pub finished: Option<bool>,
    pub has_record: bool,
}

/// Reads one run folder (a folder that holds a run).
pub fn read_row(dir: &Path) -> RunRow {
    let metrics: Option<Metrics> = run_dir::read_metrics(&dir.join(run_dir::METRICS)).ok();
    let record = run_dir::read_record(dir).ok().flatten();
    let state_done = std::fs::read_to_string(dir.join(run_dir::STATE_JSON))
        .ok()
        .and_then(|t| serde_json::from_str::<ResumeState>(&t).ok())
        .map(|s| s.epochs_done);
    let epochs_done = metrics
        .as_ref()
        .map(|m| m.epochs.len())
        .or(state_done)
        .unwrap_or(0);
    let best = metrics.as_ref().and_then(|m| m.best().cloned());
    RunRow {
        folder: dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        model: record
            .as_ref()
            .map(|r| r.model.clone())
            .or_else(|| metrics.as_ref().and_then(|m| m.model.clone())),
        epochs_done,
        epochs_asked: record.as_ref().map(|r| r.epochs),
        best_epoch: best.as_ref().map(|b| b.epoch),
        best_val_error: best.as_ref().and_then(|b| b.val_error),
        best_val_loss: best.as_ref().and_then(|b| b.val_loss),
        limit: record.as_ref().and_then(|r| r.limit),
        finished: record
            .as_ref()
            .map(|r| r.finished.is_some() && epochs_done >= r.epochs),
        has_record: record.is_some(),
    }
}

/// The runs directly under `dir`, sorted by folder name.
pub fn list(dir: &Path) -> miette::Result<Vec<RunRow>> {
    let rd = std::fs::read_dir(dir)
        .map_err(|e| miette::miette!("cannot list {}: {e}", dir.display()))?;
    let mut dirs: Vec<PathBuf> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir() && run_dir::holds_run(p))
        .collect();
    dirs.sort();
    Ok(dirs.iter().map(|d| read_row(d)).collect())
}

pub fn run(a: RunsArgs) -> miette::Result<()> {
    let rows = list(&a.dir)?;
    if a.format == "json" {
        let text = serde_json::to_string_pretty(&rows).map_err(|e| miette::miette!("{e}"))?;
        println!("{text}");
        return Ok(());
    }
    if rows.is_empty() {
        println!("no runs in {}", a.dir.display());
        return Ok(());
    }
    let table: Vec<[String; 5]> = rows
        .iter()
        .map(|r| {
            let asked = r.epochs_asked.map_or("?".into(), |n| n.to_string());
            let best = match (r.best_val_error, r.best_val_loss, r.best_epoch) {
                (Some(e), _, Some(ep)) => format!("error {:.2}% (epoch {ep})", 100.0 * e),
                (None, Some(l), Some(ep)) => format!("loss {l:.4} (epoch {ep})"),
                _ => "-".into(),
            };
            let limited = match (r.has_record, r.limit) {
                (_, Some(n)) => format!("limited to {n}"),
                (true, None) => "no".into(),
                (false, None) => "unknown".into(),
            };
            let finished = match r.finished {
                Some(true) => "yes",
                Some(false) => "no",
                None => "unknown",
            };
            [
                r.folder.clone(),
                format!("{}/{asked}", r.epochs_done),
                best,
                limited,
                finished.into(),
            ]
        })
        .collect();
    let head = ["run", "epochs", "best validation", "limited", "finished"];
    let w: Vec<usize> = (0..5)
        .map(|i| {
            table
                .iter()
                .map(|r| r[i].chars().count())
                .chain([head[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |c: [&str; 5]| {
        let cells: Vec<String> = c.iter().zip(&w).map(|(s, w)| format!("{s:<w$}")).collect();
        println!("{}", cells.join("  ").trim_end());
    };
    line(head);
    for r in &table {
        line([&r[0], &r[1], &r[2], &r[3], &r[4]]);
    }
    Ok(())
}
