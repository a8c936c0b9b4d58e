//! Datasets: files on disk → scaled tensors, splits, augmentation and input noise.
//!
//! One module per job: `source` (finding, reading, verifying and downloading files),
//! `mnist` / `cifar` / `svhn` (+ `mat`, the MATLAB v5 reader) for the formats,
//! `augment` and `noise` for training-time transforms.

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::ir::{Augment, DatasetName, Noise, Split};

pub mod augment;
pub mod cifar;
pub mod mat;
pub mod mnist;
pub mod noise;
pub mod provenance;
pub mod source;
pub mod svhn;

pub use source::DataError;

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
    /// The pixels of example `i`.
    pub fn image(&self, i: usize) -> &[f32] {
        let s = self.example_size();
        &self.images[i * s..(i + 1) * s]
    }
    /// Examples `range` as a new block.
    pub fn slice(&self, range: std::ops::Range<usize>) -> Examples {
        let s = self.example_size();
        Examples {
            images: self.images[range.start * s..range.end * s].to_vec(),
            labels: self.labels[range].to_vec(),
            shape: self.shape.clone(),
        }
    }
    /// How many examples of each class `0..classes`.
    pub fn class_counts(&self, classes: usize) -> Vec<usize> {
        let mut c = vec![0; classes];
        for &l in &self.labels {
            if (l as usize) < classes {
                c[l as usize] += 1;
            }
        }
        c
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

/// Parses a dataset name as written on the command line.
pub fn parse_name(s: &str) -> miette::Result<DatasetName> {
    let names = crate::ir::names::DATASETS;
    match s.to_ascii_lowercase().replace(['-', '_'], "").as_str() {
        "cifar" => Ok(DatasetName::Cifar10),
        other => crate::ir::names::lookup(names, other).ok_or_else(|| {
            miette::miette!(
                help = format!(
                    "known datasets: {}",
                    crate::ir::names::all(names).join(", ")
                ),
                "unknown dataset '{s}'"
            )
        }),
    }
}

/// Pixel bytes → f32 in [0, 1] (x / 255), in parallel.
pub fn bytes_to_unit(bytes: &[u8]) -> Vec<f32> {
    let lut: [f32; 256] = std::array::from_fn(|i| i as f32 / 255.0);
    let mut out = vec![0f32; bytes.len()];
    out.par_chunks_mut(1 << 16)
        .zip(bytes.par_chunks(1 << 16))
        .for_each(|(o, b)| o.iter_mut().zip(b).for_each(|(o, &b)| *o = lut[b as usize]));
    out
}

/// Finds the folder of `name` (see [`load`]); downloads it into the first root when absent.
pub fn locate(name: DatasetName, data_dir: Option<&Path>) -> miette::Result<PathBuf> {
    let roots = source::roots(data_dir);
    let has = |d: &Path| match name {
        DatasetName::Mnist => mnist::has_files(d),
        DatasetName::Cifar10 => cifar::has_files(d),
        DatasetName::Svhn => svhn::has_files(d),
    };
    match source::find_folder(name, &roots, has) {
        Ok(d) => Ok(d),
        Err(looked) => {
            if let Some(e) = incomplete(name, &looked) {
                return Err(e.into());
            }
            Ok(source::download(name, roots.first(), &looked)?)
        }
    }
}

/// The files `name` needs in its folder (each raw or `.gz`).
fn required_files(name: DatasetName) -> Vec<&'static str> {
    match name {
        DatasetName::Mnist => mnist::FILES.to_vec(),
        DatasetName::Cifar10 => cifar::TRAIN_FILES
            .iter()
            .copied()
            .chain([cifar::TEST_FILE])
            .collect(),
        DatasetName::Svhn => vec![svhn::TRAIN, svhn::TEST],
    }
}

/// The first looked-at folder holding some but not all of `name`'s files, as an error
/// naming the missing ones: downloading the whole dataset again would hide the problem.
fn incomplete(name: DatasetName, looked: &[PathBuf]) -> Option<source::DataError> {
    let files = required_files(name);
    looked.iter().find_map(|dir| {
        let (present, missing): (Vec<&str>, Vec<&str>) = files
            .iter()
            .partition(|f| source::find_file(dir, f).is_some());
        (!present.is_empty()).then(|| source::DataError::Incomplete {
            dataset: source::dataset_key(name).into(),
            dir: dir.clone(),
            missing: missing.join(", "),
            present: format!("{} of {}", present.len(), files.len()),
        })
    })
}

/// Train = first `split.train`, validation = last `split.validation` of the training file.
/// Takes the full set by value so the training part is not copied.
pub fn split_train(
    mut full: Examples,
    split: Split,
    what: &str,
) -> miette::Result<(Examples, Examples)> {
    let n = full.len();
    if split.train + split.validation > n {
        return Err(miette::miette!(
            "{what}: the split asks for {} train + {} validation examples but the training file has {n}",
            split.train,
            split.validation
        ));
    }
    let validation = full.slice(n - split.validation..n);
    let s = full.example_size();
    full.images.truncate(split.train * s);
    full.images.shrink_to_fit();
    full.labels.truncate(split.train);
    Ok((full, validation))
}

/// Loads `name` from `data_dir` (a root holding one folder per dataset, or the dataset's
/// own folder), else `$ARCHC_DATA`, else the per-user cache; splits per `split`.
pub fn load(name: DatasetName, split: Split, data_dir: Option<&Path>) -> miette::Result<Dataset> {
    load_with(name, split, data_dir, SplitFit::Exact)
}

/// What to do when the training file holds fewer examples than the split asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SplitFit {
    /// Refuse (a result must use the spec's split).
    Exact,
    /// Shrink to the file, with a warning: the last tenth (at most the split's validation
    /// size) validates, the rest trains. For runs that are not results anyway (`--limit`,
    /// `archc item --quick` on small synthetic files) and for describing files (`data`).
    Shrink,
}

impl SplitFit {
    /// `Shrink` for runs that are not results (`--limit`), `Exact` otherwise.
    pub fn for_limited(limited: bool) -> SplitFit {
        if limited {
            SplitFit::Shrink
        } else {
            SplitFit::Exact
        }
    }
}

/// The split actually used for a training file of `n` examples (see [`SplitFit`]).
pub fn fit_split(split: Split, n: usize, fit: SplitFit) -> Split {
    if fit == SplitFit::Exact || split.train + split.validation <= n {
        return split;
    }
    let validation = split.validation.min(n / 10).max(1).min(n);
    Split {
        train: n - validation,
        validation,
    }
}

/// [`load`], with the choice of what a too-small training file does.
pub fn load_with(
    name: DatasetName,
    split: Split,
    data_dir: Option<&Path>,
    fit: SplitFit,
) -> miette::Result<Dataset> {
    let dir = locate(name, data_dir)?;
    let verified = |official: bool, what: &str| {
        if official {
            format!("{what} (md5-verified official files, {})", dir.display())
        } else {
            format!(
                "{what} (NOT the official files: sizes differ, {})",
                dir.display()
            )
        }
    };
    let (full, test, classes, sources, provenance) = match name {
        DatasetName::Mnist => {
            let (train, test, sources, official) = mnist::read(&dir)?;
            let classes = (0..10).map(|d| d.to_string()).collect();
            (train, test, classes, sources, verified(official, "MNIST"))
        }
        DatasetName::Cifar10 => {
            let (train, test, classes, sources) = cifar::read(&dir)?;
            // By content: the folder's name proves nothing.
            let approx =
                provenance::identify(name, &sources) == provenance::Provenance::JpegApproximate;
            let prov = if approx {
                format!("CIFAR-10 (JPEG-approximate pixels, {})", dir.display())
            } else {
                format!("CIFAR-10 ({})", dir.display())
            };
            (train, test, classes, sources, prov)
        }
        DatasetName::Svhn => {
            let (train, test, sources, official) = svhn::read(&dir)?;
            let classes = (0..10).map(|d| d.to_string()).collect();
            (train, test, classes, sources, verified(official, "SVHN"))
        }
    };
    let used = fit_split(split, full.len(), fit);
    if used != split {
        eprintln!(
            "warning: {provenance}: the training file holds {} examples, fewer than the split's \
             {} + {}; using {} + {} (not comparable with the spec's split)",
            full.len(),
            split.train,
            split.validation,
            used.train,
            used.validation
        );
    }
    let (train, validation) = split_train(full, used, &provenance)?;
    Ok(Dataset {
        name,
        classes,
        train,
        validation,
        test,
        sources,
        provenance,
    })
}

/// Applies random shifts/flips/rotations in place to a batch of `[C, H, W]` images.
/// See [`augment`] for the conventions (zero fill, bilinear rotation).
pub fn augment_batch(aug: &Augment, shape: &[usize], images: &mut [f32], rng: &mut impl rand::Rng) {
    augment::augment_batch(aug, shape, images, rng)
}

/// Corrupts `x` in place per `noise`.
pub fn apply_noise(noise: &Noise, x: &mut [f32], rng: &mut impl rand::Rng) {
    noise::apply_noise(noise, x, rng)
}
