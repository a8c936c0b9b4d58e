//! `archc ae-vs-pca`: autoencoders against PCA at the same code size (items 3.1e, 3.1g,
//! 3.1i); the work is in [`crate::analysis::ae_vs_pca`].

use std::path::PathBuf;

use crate::analysis::ae_vs_pca;
use crate::data::Examples;
use crate::ir::DatasetName;

#[derive(Debug, clap::Args)]
pub struct AeVsPcaArgs {
    /// Folder holding the run folders (`archc train --out`).
    #[arg(long, default_value = "runs")]
    pub runs: PathBuf,
    /// Folder holding the datasets (default: $ARCHC_DATA, then the user cache).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Autoencoder spec names to compare (their sweeps over d' make the lines).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "mnist_ae_basic,mnist_ae_deep_sweep,mnist_ae_conv32"
    )]
    pub families: Vec<String>,
    /// PCA code sizes (the autoencoders' d' are added).
    #[arg(long, value_delimiter = ',', default_value = "2,4,8,16,32")]
    pub dims: Vec<usize>,
    /// Neighbours of the kNN classifier.
    #[arg(long, default_value_t = 10)]
    pub k: usize,
    /// Keep only the first N examples of each split (as `archc train --limit`).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Output folder.
    #[arg(long, default_value = "results/ae_vs_pca")]
    pub out: PathBuf,
    /// Figure format: png or svg.
    #[arg(long, default_value = "png")]
    pub format: String,
}

fn truncate(ex: &mut Examples, n: usize) {
    let n = n.min(ex.len());
    let d = ex.example_size();
    ex.images.truncate(n * d);
    ex.labels.truncate(n);
}

pub fn run(a: AeVsPcaArgs) -> miette::Result<()> {
    if a.format != "png" && a.format != "svg" {
        return Err(miette::miette!(
            "--format must be png or svg, not `{}`",
            a.format
        ));
    }
    let name = DatasetName::Mnist;
    let mut ds = crate::data::load(name, name.default_split(), a.data.as_deref())?;
    if let Some(n) = a.limit {
        truncate(&mut ds.train, n);
        truncate(&mut ds.validation, n);
        truncate(&mut ds.test, n);
    }
    let c = ae_vs_pca::compare(
        &ds,
        &ae_vs_pca::Options {
            runs: a.runs,
            families: a.families,
            pca_dims: a.dims,
            k: a.k,
            limit_queries: None,
        },
    )?;
    ae_vs_pca::write(&c, &a.out, &a.format)?;
    print!("{}", ae_vs_pca::markdown(&c));
    println!("written to {}", a.out.display());
    Ok(())
}
