//! The run directory: its file names and the types of its JSON files, the one definition
//! that `archc train` writes and the analysis commands, the report and `archc runs` read.
//!
//! `<out>/<folder>/` where `<folder>` is [`folder_name`] of the model's name, every file
//! written atomically:
//! - `<spec>.arch`: a copy of the spec;
//! - [`RECORD`] `run.json`: how the run was made ([`RunRecord`]: command line, `--limit`,
//!   epochs asked, dataset and its provenance checked by content, archc's version and
//!   commit, threads, start / end times);
//! - [`METRICS`] `metrics.json`: what it measured ([`Metrics`], one [`EpochMetrics`] per
//!   epoch);
//! - [`FINAL`], [`BEST`] (lowest validation loss): weights;
//! - [`STATE`]: weights, optimizer slots and, in its header, [`ResumeState`] and the
//!   metrics: the single commit point `--resume` reads; [`STATE_JSON`] is a readable copy;
//! - [`CURVES`], [`PREDICTIONS`] (classifiers), [`RECONSTRUCTIONS`] and [`CODES`]
//!   (autoencoders);
//! - [`LOCK`] while a process writes the run;
//! - `pretrain_layer{i}/`, `pretrain_readout/`: the runs of the greedy pre-training stages.

use std::path::Path;

use serde::{Deserialize, Serialize};

pub use crate::data::provenance::Provenance;

pub const RECORD: &str = "run.json";
pub const METRICS: &str = "metrics.json";
pub const STATE: &str = "state.safetensors";
pub const STATE_JSON: &str = "state.json";
pub const FINAL: &str = "final.safetensors";
pub const BEST: &str = "best.safetensors";
pub const CURVES: &str = "curves.png";
pub const PREDICTIONS: &str = "predictions.json";
pub const RECONSTRUCTIONS: &str = "reconstructions.safetensors";
pub const CODES: &str = "codes.safetensors";
pub const LOCK: &str = "run.lock";
pub const PRETRAIN_READOUT: &str = "pretrain_readout";

/// Folder of greedy pre-training stage `i` (the hidden layer's index).
pub fn pretrain_layer(i: usize) -> String {
    format!("pretrain_layer{i}")
}

/// The run folder's name for a model: the name with the sweep point's brackets, quotes and
/// `=` taken out, so no shell needs quoting (`mnist_ae_basic[d'=32]` → `mnist_ae_basic_d32`,
/// `m[L=2,d'=4]` → `m_L2_d4`). Letters, digits, `_`, `-`, `.` are kept; `[`, `,`, spaces
/// and `/` become `_`; everything else is dropped.
pub fn folder_name(model: &str) -> String {
    let mut s = String::with_capacity(model.len());
    for c in model.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
            s.push(c);
        } else if matches!(c, '[' | ',' | ' ' | '/') && !s.ends_with('_') {
            s.push('_');
        }
    }
    let s = s.trim_end_matches('_').trim_start_matches('.').to_string();
    if s.is_empty() {
        "model".into()
    } else {
        s
    }
}

/// One epoch of `metrics.json`. Fields are optional for reading (autoencoders have no
/// errors; splits may be empty); `archc train` always writes `lr`, `train_loss`, `seconds`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    pub epoch: usize,
    #[serde(default)]
    pub lr: Option<f32>,
    #[serde(default)]
    pub train_loss: Option<f64>,
    #[serde(default)]
    pub train_error: Option<f64>,
    #[serde(default)]
    pub val_loss: Option<f64>,
    #[serde(default)]
    pub val_error: Option<f64>,
    #[serde(default)]
    pub test_loss: Option<f64>,
    #[serde(default)]
    pub test_error: Option<f64>,
    #[serde(default)]
    pub seconds: Option<f64>,
    /// Denoising models: losses from corrupted inputs, see [`super::evaluate`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_noisy_loss: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_noisy_loss: Option<f64>,
}

/// `metrics.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    #[serde(default)]
    pub model: Option<String>,
    /// The dataset's provenance line, e.g. "MNIST (md5-verified official files, …)".
    #[serde(default)]
    pub dataset: Option<String>,
    #[serde(default)]
    pub params: Option<u64>,
    pub epochs: Vec<EpochMetrics>,
    /// Greedy layer-wise pre-training (item 3.3b "error before fine-tuning"): test error
    /// of the network after unsupervised pre-training of its hidden layers plus training
    /// of the output layer alone on their frozen features, before any supervised change
    /// to the hidden layers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pretrain_test_error: Option<f64>,
    /// Autoencoders: test reconstruction errors in PCA's units, see [`super::evaluate`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconstruction: Option<super::evaluate::Reconstruction>,
}

impl Metrics {
    /// The epoch with the lowest validation error (else validation loss, else training
    /// loss): what "best validation result" means in `archc runs`.
    pub fn best(&self) -> Option<&EpochMetrics> {
        let key = |e: &EpochMetrics| e.val_error.or(e.val_loss).or(e.train_loss);
        self.epochs
            .iter()
            .filter(|e| key(e).is_some_and(f64::is_finite))
            .min_by(|a, b| key(a).unwrap().total_cmp(&key(b).unwrap()))
    }
}

/// Counters for `--resume`, stored in `state.safetensors` (copied to `state.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResumeState {
    /// Epochs completed.
    pub epochs_done: usize,
    /// Optimizer steps completed.
    pub iteration: u64,
    pub best_val_loss: Option<f64>,
}

/// `predictions.json` (classifiers): the test split's labels and predicted classes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Predictions {
    pub split: String,
    pub classes: Vec<String>,
    pub labels: Vec<u8>,
    pub predictions: Vec<u8>,
}

/// The dataset a run trained on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetRecord {
    pub name: String,
    /// Decided by the files' md5, see [`crate::data::provenance`].
    pub provenance: Provenance,
    /// The provenance line printed with results.
    pub description: String,
    pub sources: Vec<String>,
    /// Examples used: train, validation, test (after `--limit`).
    pub examples: [usize; 3],
}

/// `run.json`: how a run was made. Written when the run starts, updated when it resumes
/// and when it ends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The model's display name (the folder name is [`folder_name`] of it).
    pub model: String,
    /// The spec file's name and the md5 of its text (empty for runs made by the library).
    pub spec: String,
    pub spec_md5: String,
    /// `archc`'s command line, as given.
    pub command: Vec<String>,
    /// Epochs asked (the spec's, or `--epochs`).
    pub epochs: usize,
    /// `--limit N`: only the first N examples of each split. Such runs are not results.
    pub limit: Option<usize>,
    pub dataset: DatasetRecord,
    pub archc_version: String,
    /// Git commit archc was built from ("unknown" outside a git checkout).
    pub git_commit: String,
    pub threads: usize,
    /// UTC, RFC 3339.
    pub started: String,
    /// When each `--resume` continued the run.
    #[serde(default)]
    pub resumed: Vec<String>,
    /// When the last epoch was written; `None` while unfinished.
    #[serde(default)]
    pub finished: Option<String>,
}

impl RunRecord {
    /// Whether the run stands for the spec's result (not shortened by `--limit`).
    pub fn is_limited(&self) -> bool {
        self.limit.is_some()
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> miette::Result<T> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| miette::miette!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| miette::miette!("{}: {e}", path.display()))
}

pub fn read_metrics(path: &Path) -> miette::Result<Metrics> {
    read_json(path)
}

pub fn read_predictions(path: &Path) -> miette::Result<Predictions> {
    read_json(path)
}

/// The run record of run folder `dir`; `Ok(None)` for runs made before records existed.
pub fn read_record(dir: &Path) -> miette::Result<Option<RunRecord>> {
    let p = dir.join(RECORD);
    if !p.exists() {
        return Ok(None);
    }
    read_json(&p).map(Some)
}

/// A model's name as the report shows its run in `dir`: marked when the run used
/// `--limit` (its numbers are not the spec's result).
pub fn label(model: &str, dir: &Path) -> String {
    match read_record(dir) {
        Ok(Some(RunRecord { limit: Some(n), .. })) => {
            format!("{model} (--limit {n}: not a result)")
        }
        _ => model.to_string(),
    }
}

/// Whether `dir` holds a run, finished or partial: any file `archc train` writes.
pub fn holds_run(dir: &Path) -> bool {
    [RECORD, METRICS, STATE, FINAL, BEST]
        .iter()
        .any(|f| dir.join(f).exists())
        || dir.join(PRETRAIN_READOUT).exists()
        || std::fs::read_dir(dir).is_ok_and(|rd| {
            rd.flatten().any(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with("pretrain_layer")
            })
        })
}

/// archc's version and the git commit it was built from.
pub fn build_info() -> (String, String) {
    (
        env!("CARGO_PKG_VERSION").to_string(),
        option_env!("ARCHC_GIT_COMMIT")
            .filter(|c| !c.is_empty())
            .unwrap_or("unknown")
            .to_string(),
    )
}

/// Now as UTC RFC 3339 (`2026-11-27T22:05:00Z`), without a time-zone database.
pub fn now_utc() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    format_utc(secs)
}

/// Seconds since the Unix epoch → RFC 3339 UTC (Howard Hinnant's civil-from-days).
pub fn format_utc(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_names_need_no_quoting() {
        assert_eq!(folder_name("mnist_ae_basic[d'=32]"), "mnist_ae_basic_d32");
        assert_eq!(
            folder_name("mnist_ae_deep_sweep[L=2,d'=4]"),
            "mnist_ae_deep_sweep_L2_d4"
        );
        assert_eq!(folder_name("cifar_deep"), "cifar_deep");
        assert_eq!(folder_name("../x"), "_x");
    }

    #[test]
    fn utc_dates() {
        // Independent values: `date -u -d @0`, `@951782400` (leap day 2000), `@1795817100`.
        assert_eq!(format_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_utc(1_795_817_100), "2026-11-27T22:05:00Z");
    }
}
