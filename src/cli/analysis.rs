//! `archc knn|pca|tsne|confusion|filters`.

#[derive(Debug, clap::Subcommand)]
pub enum AnalysisCommand {
    /// k-nearest-neighbour classification.
    Knn { input: String },
}

pub fn run(cmd: AnalysisCommand) -> miette::Result<()> {
    Err(miette::miette!("{cmd:?} is not built in this tree yet"))
}
