//! Command-line interface: one module per subcommand, each with `Args` and `run`.

use clap::{Parser, Subcommand};

pub mod ae_vs_pca;
pub mod analysis;
pub mod bench;
pub mod data;
pub mod front;
pub mod jobs;
pub mod report;
pub mod runs;
pub mod train;

#[derive(Debug, Parser)]
#[command(
    name = "archc",
    version,
    about = "Compile and train networks written in the C×P×F notation"
)]
pub struct Cli {
    /// Worker threads of the compute pool (default: one per core).
    #[arg(long, global = true)]
    pub threads: Option<usize>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the shape and parameter table of every model in a spec.
    Summary(front::SummaryArgs),
    /// Validate a spec; exit status 0 when it is valid.
    Check(front::CheckArgs),
    /// Train every model of a spec.
    Train(train::TrainArgs),
    /// Measure training and inference throughput on random data.
    Bench(bench::BenchArgs),
    /// Dataset information and sample images.
    #[command(subcommand)]
    Data(data::DataCommand),
    /// Analysis of datasets, codes and trained networks.
    #[command(flatten)]
    Analysis(analysis::AnalysisCommand),
    /// Autoencoders against PCA at the same code size: table and figures (3.1e, 3.1g).
    AeVsPca(ae_vs_pca::AeVsPcaArgs),
    /// Run the commands of one MISSION item (`--list` lists them).
    Item(report::ItemArgs),
    /// Write the report (README.md with tables and figures) of every item.
    Report(report::ReportArgs),
    /// List the runs of a folder: epochs done of asked, best validation result, limited,
    /// finished.
    Runs(runs::RunsArgs),
    /// Print a shell completion script (`archc completions bash > /etc/bash_completion.d/archc`).
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
}

pub fn run(cli: Cli) -> miette::Result<()> {
    if cli.threads == Some(0) {
        return Err(miette::miette!("--threads 0: give 1 or more threads"));
    }
    // The calling thread is worker 0 of the pool, so that a training step, run on it,
    // forks its products to the other workers directly (`kernels::with_warm_pool`)
    // instead of handing each to the pool from outside and sleeping until it is done.
    let mut pool = rayon::ThreadPoolBuilder::new().use_current_thread();
    if let Some(n) = cli.threads {
        pool = pool.num_threads(n);
    }
    pool.build_global()
        .map_err(|e| miette::miette!("cannot set up the compute threads: {e}"))?;
    match cli.command {
        Command::Summary(a) => front::summary(a),
        Command::Check(a) => front::check(a),
        Command::Train(a) => train::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Data(c) => data::run(c),
        Command::Analysis(c) => analysis::run(c),
        Command::AeVsPca(a) => ae_vs_pca::run(a),
        Command::Item(a) => report::item(a),
        Command::Report(a) => report::report(a),
        Command::Runs(a) => runs::run(a),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(shell, &mut Cli::command(), "archc", &mut std::io::stdout());
            Ok(())
        }
    }
}
