use clap::Parser;

fn main() -> miette::Result<()> {
    archc::cli::run(archc::cli::Cli::parse())
}
