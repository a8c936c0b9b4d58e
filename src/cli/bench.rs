//! `archc bench`.
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    pub spec: PathBuf,
}

pub fn run(args: BenchArgs) -> miette::Result<()> {
    Err(miette::miette!(
        "bench of {} is not built in this tree yet",
        args.spec.display()
    ))
}
