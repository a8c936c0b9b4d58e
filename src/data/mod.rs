//! Datasets: files on disk → scaled tensors, splits, augmentation and input noise.

use std::path::{Path, PathBuf};

use crate::ir::{Augment, DatasetName, Noise, Split};

/// A block of examples held in memory: `images` is `n × shape` floats in [0, 1].
#[derive(Debug, Clone, PartialEq)]
pub struct Examples {
    pub images: Vec<f32>,
    pub labels: Vec<u8>,
    /// One example's shape, channel-first: `[1, 28, 28]`, `[3, 32, 32]`.
    pub shape: Vec<usize>,
}

impl Examples {
    pub fn len(&self) -> usize {
        self.labels.len()
    }
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
    pub fn example_size(&self) -> usize {
        self.shape.iter().product()
    }
}

/// A loaded dataset split three ways, with the files it was read from.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub name: DatasetName,
    pub classes: Vec<String>,
    pub train: Examples,
    pub validation: Examples,
    pub test: Examples,
    /// The files read, so results can say what they were computed on.
    pub sources: Vec<PathBuf>,
    /// A caveat to print with every result, e.g. "CIFAR-10 (JPEG-approximate pixels)".
    pub provenance: String,
}

/// Loads `name` from `data_dir` (a root holding one folder per dataset, or the dataset's
/// own folder), else `$ARCHC_DATA`, else the per-user cache; splits per `split`.
pub fn load(name: DatasetName, split: Split, data_dir: Option<&Path>) -> miette::Result<Dataset> {
    let _ = (name, split, data_dir);
    Err(miette::miette!(
        "dataset loading is not built in this tree yet"
    ))
}

/// Applies random shifts/flips/rotations in place to a batch of `[C, H, W]` images.
pub fn augment_batch(aug: &Augment, shape: &[usize], images: &mut [f32], rng: &mut impl rand::Rng) {
    let _ = (aug, shape, images, rng);
}

/// Corrupts `x` in place per `noise`.
pub fn apply_noise(noise: &Noise, x: &mut [f32], rng: &mut impl rand::Rng) {
    let _ = (noise, x, rng);
}
