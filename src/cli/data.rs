//! `archc data info|show`.

use std::path::PathBuf;

use rand::seq::index::sample;
use rand::SeedableRng;
use serde::Serialize;

use crate::data::{self, Dataset, Examples};

/// Most images `data show` draws in one grid (more would make an unreadable, huge PNG).
const MAX_SHOW: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SplitName {
    Train,
    Validation,
    Test,
}

#[derive(Debug, clap::Subcommand)]
pub enum DataCommand {
    /// Sizes, classes and per-class counts of a dataset.
    Info {
        /// mnist, cifar10 or svhn.
        dataset: String,
        /// A folder holding one folder per dataset, or the dataset's own folder
        /// (default: $ARCHC_DATA, else the per-user cache).
        #[arg(long)]
        data: Option<PathBuf>,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Writes a PNG grid of random images with their labels.
    Show {
        dataset: String,
        #[arg(long)]
        data: Option<PathBuf>,
        #[arg(long, value_enum, default_value = "train")]
        split: SplitName,
        /// Number of images (1 to 100).
        #[arg(long, default_value_t = 5)]
        n: usize,
        /// Output PNG (default: <dataset>-<split>.png).
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
}

#[derive(Debug, Serialize)]
struct SplitInfo {
    size: usize,
    per_class: Vec<usize>,
}

#[derive(Debug, Serialize)]
struct Info {
    dataset: String,
    provenance: String,
    image_shape: Vec<usize>,
    classes: Vec<String>,
    train: SplitInfo,
    validation: SplitInfo,
    test: SplitInfo,
    load_seconds: f64,
    sources: Vec<PathBuf>,
}

fn split_info(e: &Examples, k: usize) -> SplitInfo {
    SplitInfo {
        size: e.len(),
        per_class: e.class_counts(k),
    }
}

fn load(dataset: &str, data: Option<&std::path::Path>) -> miette::Result<(Dataset, f64)> {
    let name = data::parse_name(dataset)?;
    let t = std::time::Instant::now();
    // Describing files, not training on them: a smaller file than the default split shows
    // what it holds instead of refusing.
    let ds = data::load_with(name, name.default_split(), data, data::SplitFit::Shrink)?;
    Ok((ds, t.elapsed().as_secs_f64()))
}

pub fn run(cmd: DataCommand) -> miette::Result<()> {
    match cmd {
        DataCommand::Info {
            dataset,
            data,
            format,
        } => {
            let (ds, secs) = load(&dataset, data.as_deref())?;
            let k = ds.classes.len();
            let info = Info {
                dataset: dataset.to_lowercase(),
                provenance: ds.provenance.clone(),
                image_shape: ds.train.shape.clone(),
                classes: ds.classes.clone(),
                train: split_info(&ds.train, k),
                validation: split_info(&ds.validation, k),
                test: split_info(&ds.test, k),
                load_seconds: secs,
                sources: ds.sources.clone(),
            };
            match format {
                Format::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&info).map_err(|e| miette::miette!("{e}"))?
                ),
                Format::Text => print_info(&info),
            }
            Ok(())
        }
        DataCommand::Show {
            dataset,
            data,
            split,
            n,
            out,
            seed,
        } => {
            if n == 0 || n > MAX_SHOW {
                return Err(miette::miette!(
                    "--n must lie in 1..={MAX_SHOW} (a grid of {n} images)"
                ));
            }
            let split_name = match split {
                SplitName::Train => "train",
                SplitName::Validation => "validation",
                SplitName::Test => "test",
            };
            let out = out.unwrap_or_else(|| {
                PathBuf::from(format!("{}-{split_name}.png", dataset.to_lowercase()))
            });
            crate::atomic::prepare_file_dir(&out)?;
            let (ds, _) = load(&dataset, data.as_deref())?;
            let (ex, split_name) = match split {
                SplitName::Train => (&ds.train, "train"),
                SplitName::Validation => (&ds.validation, "validation"),
                SplitName::Test => (&ds.test, "test"),
            };
            if ex.is_empty() || n == 0 {
                return Err(miette::miette!(
                    "nothing to show: {n} images requested from a split of {}",
                    ex.len()
                ));
            }
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let idx = sample(&mut rng, ex.len(), n.min(ex.len())).into_vec();
            let images: Vec<&[f32]> = idx.iter().map(|&i| ex.image(i)).collect();
            let captions: Vec<String> = idx
                .iter()
                .map(|&i| {
                    let l = ex.labels[i] as usize;
                    // Class only: longer captions overlap under 32-pixel images; the
                    // indices are printed instead.
                    ds.classes.get(l).cloned().unwrap_or_else(|| l.to_string())
                })
                .collect();
            let short = match ds.name {
                crate::ir::DatasetName::Mnist => "MNIST",
                crate::ir::DatasetName::Cifar10 if ds.provenance.contains("JPEG") => {
                    "CIFAR-10 (JPEG-approx.)"
                }
                crate::ir::DatasetName::Cifar10 => "CIFAR-10",
                crate::ir::DatasetName::Svhn => "SVHN",
            };
            let title = format!("{short} {split_name} (seed {seed})");
            crate::plot::image_grid(
                &out,
                &title,
                &ex.shape,
                &images,
                &captions,
                idx.len().min(5),
            )?;
            println!("wrote {} ({split_name} indices {idx:?})", out.display());
            Ok(())
        }
    }
}

fn print_info(i: &Info) {
    println!("{}", i.provenance);
    println!("image shape [C, H, W]: {:?}", i.image_shape);
    println!("load time: {:.2} s", i.load_seconds);
    println!(
        "sizes: train {}, validation {}, test {}",
        i.train.size, i.validation.size, i.test.size
    );
    println!(
        "{:>3}  {:<12} {:>8} {:>10} {:>8}",
        "id", "class", "train", "validation", "test"
    );
    for (c, name) in i.classes.iter().enumerate() {
        println!(
            "{:>3}  {:<12} {:>8} {:>10} {:>8}",
            c, name, i.train.per_class[c], i.validation.per_class[c], i.test.per_class[c]
        );
    }
    println!("files:");
    for s in &i.sources {
        println!("  {}", s.display());
    }
}
