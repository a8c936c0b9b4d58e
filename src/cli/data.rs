//! `archc data info|show`.

#[derive(Debug, clap::Subcommand)]
pub enum DataCommand {
    /// Sizes, classes and per-class counts of a dataset.
    Info { dataset: String },
}

pub fn run(cmd: DataCommand) -> miette::Result<()> {
    Err(miette::miette!("{cmd:?} is not built in this tree yet"))
}
