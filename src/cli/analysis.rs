//! `archc knn|pca|tsne|confusion|filters|recon|curves|units`: argument parsing only; the
//! experiments are `analysis::recipes`. Each writes its numbers as JSON next to its
//! figures in `--out DIR`.

use std::path::PathBuf;

use crate::analysis::{knn, recipes, tsne_bh};
use crate::ir::DatasetName;

#[derive(Debug, clap::Subcommand)]
pub enum AnalysisCommand {
    /// k-nearest-neighbour classification of raw pixels or autoencoder codes.
    Knn(KnnArgs),
    /// PCA codes: reconstruction errors and kNN accuracy per code size, 2-D scatter.
    Pca(PcaArgs),
    /// t-SNE map of codes or pixels, coloured by class.
    Tsne(TsneArgs),
    /// Confusion matrix heatmap and most-confused class pairs of a trained run.
    Confusion(RunArgs),
    /// First convolution layer's filters of a trained run, as an image grid.
    Filters(FiltersArgs),
    /// Originals vs reconstructions (and noisy inputs) of a trained autoencoder.
    Recon(ReconArgs),
    /// Learning curves (error and loss per epoch) of a trained run.
    Curves(RunArgs),
    /// Code-unit activity of an autoencoder run: per unit mean and spread over the test
    /// codes, and how many units are constant (saturated or dead).
    Units(UnitsArgs),
}

#[derive(Debug, clap::Args)]
pub struct UnitsArgs {
    /// Run directory of an autoencoder (`codes.safetensors`).
    pub run_dir: PathBuf,
    /// A unit is constant when its standard deviation over the test codes is below this.
    #[arg(long, default_value_t = 0.01)]
    pub tol: f64,
    /// Output folder for `units.json` (default: the run directory).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Clone, clap::Args)]
pub struct DataArgs {
    /// Dataset: mnist, cifar10 or svhn.
    #[arg(long, value_parser = parse_dataset)]
    pub dataset: Option<DatasetName>,
    /// Folder holding the datasets (default: $ARCHC_DATA, then the user cache).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Training examples taken from the training file (default 55000 MNIST, 45000 CIFAR-10).
    #[arg(long)]
    pub train_size: Option<usize>,
}

#[derive(Debug, clap::Args)]
pub struct KnnArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Use an autoencoder's codes (train split as references, test split as queries).
    #[arg(long)]
    pub codes: Option<PathBuf>,
    #[arg(long, default_value_t = 10)]
    pub k: usize,
    /// Classify only the first N test examples.
    #[arg(long)]
    pub limit_queries: Option<usize>,
    /// Dot-product kernel: auto (sparse for mostly-zero inputs), dense or sparse.
    #[arg(long, default_value = "auto", value_parser = parse_kernel)]
    pub kernel: knn::Kernel,
    /// Tie rule for classes with equally many votes: `nearer` (smaller summed distance) or
    /// `smallest-label` (scikit-learn's rule, reproduces its predictions).
    #[arg(long, value_enum, default_value_t)]
    pub vote_ties: knn::VoteTies,
    #[arg(long, default_value = "results/knn")]
    pub out: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct PcaArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Code sizes d'.
    #[arg(long, value_delimiter = ',', default_value = "2,4,8,16,32")]
    pub dims: Vec<usize>,
    #[arg(long, default_value_t = 10)]
    pub k: usize,
    /// Classify only the first N test examples with kNN.
    #[arg(long)]
    pub limit_queries: Option<usize>,
    #[arg(long, default_value = "results/pca")]
    pub out: PathBuf,
    /// Figure format: png or svg.
    #[arg(long, default_value = "png")]
    pub format: String,
}

#[derive(Debug, clap::Args)]
pub struct TsneArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Embed an autoencoder's test codes instead of a dataset's test pixels.
    #[arg(long)]
    pub codes: Option<PathBuf>,
    /// Reduce pixels to this many PCA dimensions first (0 = no reduction).
    #[arg(long, default_value_t = 50)]
    pub pca_dims: usize,
    /// Points embedded: a seeded random subsample of the test split.
    #[arg(long, default_value_t = 2000)]
    pub n: usize,
    #[arg(long, default_value_t = 30.0)]
    pub perplexity: f64,
    #[arg(long, default_value_t = 1000)]
    pub iterations: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// exact (O(n²) per iteration), barnes-hut (sparse neighbour affinities and a
    /// quadtree, O(n log n)) or auto (exact up to 1000 points).
    #[arg(long, value_enum, default_value_t)]
    pub method: tsne_bh::Method,
    /// Barnes-Hut accuracy: a cell narrower than theta × its distance acts as one body.
    #[arg(long, default_value_t = 0.5)]
    pub theta: f64,
    #[arg(long, default_value = "results/tsne")]
    pub out: PathBuf,
    #[arg(long, default_value = "png")]
    pub format: String,
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Run directory written by `archc train`.
    pub run_dir: PathBuf,
    /// Output folder (default: the run directory).
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[arg(long, default_value = "png")]
    pub format: String,
    /// Pairs listed (confusion).
    #[arg(long, default_value_t = 10)]
    pub top: usize,
}

#[derive(Debug, clap::Args)]
pub struct FiltersArgs {
    pub run_dir: PathBuf,
    /// Checkpoint file inside the run directory.
    #[arg(long, default_value = "best.safetensors")]
    pub checkpoint: String,
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[arg(long, default_value = "png")]
    pub format: String,
    /// Folder holding the datasets, for the feature maps (default: $ARCHC_DATA, then the user cache).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Training images whose first-layer feature maps are drawn (0: filters only).
    #[arg(long, default_value_t = 4)]
    pub n: usize,
    /// Seed of the choice of training images.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Feature maps drawn per image (the first ones); all are saved.
    #[arg(long, default_value_t = 16)]
    pub maps: usize,
}

#[derive(Debug, clap::Args)]
pub struct ReconArgs {
    pub run_dir: PathBuf,
    /// Examples shown.
    #[arg(long, default_value_t = 10)]
    pub count: usize,
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[arg(long, default_value = "png")]
    pub format: String,
}

fn parse_kernel(s: &str) -> Result<knn::Kernel, String> {
    match s {
        "auto" => Ok(knn::Kernel::Auto),
        "dense" => Ok(knn::Kernel::Dense),
        "sparse" => Ok(knn::Kernel::Sparse),
        _ => Err(format!("unknown kernel '{s}' (auto, dense, sparse)")),
    }
}

fn parse_dataset(s: &str) -> Result<DatasetName, String> {
    let names = crate::ir::names::DATASETS;
    crate::ir::names::lookup(names, &s.to_ascii_lowercase().replace('-', "")).ok_or_else(|| {
        format!(
            "unknown dataset '{s}' ({})",
            crate::ir::names::all(names).join(", ")
        )
    })
}

impl From<DataArgs> for recipes::DataOptions {
    fn from(a: DataArgs) -> Self {
        recipes::DataOptions {
            dataset: a.dataset,
            data: a.data,
            train_size: a.train_size,
        }
    }
}

pub fn run(cmd: AnalysisCommand) -> miette::Result<()> {
    match cmd {
        AnalysisCommand::Knn(a) => recipes::run_knn(recipes::KnnOptions {
            data: a.data.into(),
            codes: a.codes,
            k: a.k,
            limit_queries: a.limit_queries,
            kernel: a.kernel,
            vote_ties: a.vote_ties,
            out: a.out,
        }),
        AnalysisCommand::Pca(a) => recipes::run_pca(recipes::PcaOptions {
            data: a.data.into(),
            dims: a.dims,
            k: a.k,
            limit_queries: a.limit_queries,
            out: a.out,
            format: a.format,
        }),
        AnalysisCommand::Tsne(a) => recipes::run_tsne(recipes::TsneOptions {
            data: a.data.into(),
            codes: a.codes,
            pca_dims: a.pca_dims,
            n: a.n,
            perplexity: a.perplexity,
            iterations: a.iterations,
            seed: a.seed,
            method: a.method,
            theta: a.theta,
            out: a.out,
            format: a.format,
        }),
        AnalysisCommand::Confusion(a) => recipes::run_confusion(a.into()),
        AnalysisCommand::Filters(a) => recipes::run_filters(recipes::FiltersOptions {
            run_dir: a.run_dir,
            checkpoint: a.checkpoint,
            out: a.out,
            format: a.format,
            data: a.data,
            n: a.n,
            seed: a.seed,
            maps: a.maps,
        }),
        AnalysisCommand::Recon(a) => recipes::run_recon(recipes::ReconOptions {
            run_dir: a.run_dir,
            count: a.count,
            out: a.out,
            format: a.format,
        }),
        AnalysisCommand::Curves(a) => recipes::run_curves(a.into()),
        AnalysisCommand::Units(a) => {
            crate::analysis::code_units::run(&a.run_dir, a.tol, a.out.as_deref())
        }
    }
}

impl From<RunArgs> for recipes::RunOptions {
    fn from(a: RunArgs) -> Self {
        recipes::RunOptions {
            run_dir: a.run_dir,
            out: a.out,
            format: a.format,
            top: a.top,
        }
    }
}
