//! How much memory training a model takes, estimated from the IR before anything is
//! allocated, and the refusal of models that cannot fit in this machine.
//!
//! The factors were measured (peak RSS of `archc train`, see the README's "Training
//! memory"): every parameter lives in the weights, their gradients and the updated
//! weights (3 copies); every optimizer slot likewise in its old value, its update and
//! one temporary (3 copies per slot); activations take about one float per layer
//! output per example of the batch; the dataset is held whole as `f32`.

use crate::ir::{DatasetName, Model, Optimizer};
use serde::Serialize;

const FLOAT: u64 = 4;
/// Copies of the parameters during a training step (weights, gradients, updated weights).
pub const PARAM_COPIES: u64 = 3;
/// Copies of each optimizer slot during a step (old value, new value, one temporary).
pub const SLOT_COPIES: u64 = 3;

/// An estimate of training memory, in bytes, by what holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Estimate {
    /// Weights, weight gradients and updated weights.
    pub parameters: u64,
    /// Optimizer state (momentum, RMS, Adam moments).
    pub optimizer: u64,
    /// Layer outputs and their gradients for one batch.
    pub activations: u64,
    /// The batch size the activations are for.
    pub batch: usize,
    /// The whole dataset as `f32` (training, validation and test images).
    pub data: u64,
    pub total: u64,
}

/// Optimizer slots per parameter (the same count `lower` allocates).
pub fn optimizer_slots(opt: &Optimizer) -> u64 {
    match opt {
        Optimizer::Sgd { momentum, .. } => u64::from(*momentum != 0.0),
        Optimizer::RmsProp { .. } | Optimizer::Adagrad { .. } => 1,
        Optimizer::Adadelta { .. } | Optimizer::Adam { .. } => 2,
    }
}

/// Floats of the dataset's images as the loaders hold them (all splits, `f32`).
pub fn dataset_floats(d: DatasetName) -> u64 {
    match d {
        DatasetName::Mnist => 70_000 * 784,
        DatasetName::Cifar10 => 60_000 * 3072,
        DatasetName::Svhn => (73_257 + 26_032) * 3072,
    }
}

/// Estimate the memory of training `model` at its batch size.
pub fn estimate(model: &Model) -> Estimate {
    let params = model.total_params() as u64;
    let batch = model.train.batch.max(1);
    let per_example: u64 = model.input_shape.iter().product::<usize>() as u64
        + model
            .layers
            .iter()
            .map(|l| l.output_shape.iter().product::<usize>() as u64)
            .sum::<u64>();
    // Saturating: a model of absurd size must still get a (huge) estimate, not a panic.
    let parameters = params.saturating_mul(PARAM_COPIES * FLOAT);
    let optimizer =
        params.saturating_mul(optimizer_slots(&model.train.optimizer) * SLOT_COPIES * FLOAT);
    let activations = per_example.saturating_mul(batch as u64 * FLOAT);
    let data = dataset_floats(model.train.dataset) * FLOAT;
    Estimate {
        parameters,
        optimizer,
        activations,
        batch,
        data,
        total: parameters
            .saturating_add(optimizer)
            .saturating_add(activations)
            .saturating_add(data),
    }
}

/// Bytes in decimal units: 1.2 GB, 340 MB, 12 kB.
pub fn fmt_bytes(b: u64) -> String {
    let units = [(1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "kB")];
    for (size, unit) in units {
        let v = b as f64 / size;
        if v >= 1.0 {
            return if v >= 100.0 {
                format!("{v:.0} {unit}")
            } else {
                format!("{v:.1} {unit}")
            };
        }
    }
    format!("{b} B")
}

impl Estimate {
    /// One line for `archc summary`.
    pub fn line(&self) -> String {
        format!(
            "training memory ≈ {}: parameters {} (weights, gradients, update), optimizer {}, activations {} at batch {}, data {}",
            fmt_bytes(self.total),
            fmt_bytes(self.parameters),
            fmt_bytes(self.optimizer),
            fmt_bytes(self.activations),
            self.batch,
            fmt_bytes(self.data)
        )
    }
}

/// `MemAvailable` and `MemTotal` of `/proc/meminfo`, in bytes (None where unreadable).
pub fn machine_memory() -> Option<(u64, u64)> {
    parse_meminfo(&std::fs::read_to_string("/proc/meminfo").ok()?)
}

/// (available, total) bytes from the text of `/proc/meminfo`.
pub fn parse_meminfo(text: &str) -> Option<(u64, u64)> {
    let field = |name: &str| -> Option<u64> {
        let line = text.lines().find(|l| l.starts_with(name))?;
        let kb: u64 = line[name.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kb * 1024)
    };
    Some((field("MemAvailable:")?, field("MemTotal:")?))
}

/// Environment variable that skips [`refuse_if_too_large`] (the estimate can be wrong).
pub const SKIP_VAR: &str = "ARCHC_SKIP_MEMORY_CHECK";

/// An error, before anything is allocated, when training `model` needs more memory
/// than this machine has available.
pub fn refuse_if_too_large(model: &Model) -> miette::Result<()> {
    if std::env::var_os(SKIP_VAR).is_some() {
        return Ok(());
    }
    let Some((available, total)) = machine_memory() else {
        return Ok(());
    };
    let e = estimate(model);
    if e.total <= available {
        return Ok(());
    }
    Err(miette::miette!(
        code = "archc::too_large",
        help = format!(
            "use fewer or smaller layers or a smaller batch (`archc summary` shows the estimate); {SKIP_VAR}=1 tries anyway"
        ),
        "{} needs about {} to train, more than this machine's {} available ({} total)\n{}",
        model.name,
        fmt_bytes(e.total),
        fmt_bytes(available),
        fmt_bytes(total),
        e.line()
    ))
}
