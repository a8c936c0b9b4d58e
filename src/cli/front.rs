//! `archc summary` and `archc check`.
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct SummaryArgs {
    pub spec: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    pub spec: PathBuf,
}

pub fn summary(args: SummaryArgs) -> miette::Result<()> {
    Err(miette::miette!(
        "summary of {} is not built in this tree yet",
        args.spec.display()
    ))
}

pub fn check(args: CheckArgs) -> miette::Result<()> {
    Err(miette::miette!(
        "check of {} is not built in this tree yet",
        args.spec.display()
    ))
}
