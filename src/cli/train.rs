//! `archc train`.
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    pub spec: PathBuf,
}

pub fn run(args: TrainArgs) -> miette::Result<()> {
    Err(miette::miette!(
        "training {} is not built in this tree yet",
        args.spec.display()
    ))
}
