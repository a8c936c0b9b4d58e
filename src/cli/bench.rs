//! `archc bench`: training and inference throughput of a spec's models on random data.
use std::io::IsTerminal;
use std::path::PathBuf;

use miette::miette;

use crate::bench::{bench_model, table, BenchConfig};
use crate::ir::Optimizer;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// An aligned table.
    Text,
    /// One JSON object per model, one per line: `{"model", "batch",
    /// "train_images_per_second", "infer_images_per_second", "gflops", "peak_rss_mb", "machine_peak_gflops", "percent_of_peak", …}`.
    Json,
}

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// The spec file (`specs/*.arch`).
    pub spec: PathBuf,
    /// Measure only this model of the spec (its name as `archc summary` prints it).
    #[arg(long)]
    pub model: Option<String>,
    /// Examples per step.
    #[arg(long, default_value_t = 128)]
    pub batch: usize,
    /// Timed seconds of training steps, and again of inference, after 3 warm-up steps.
    #[arg(long, default_value_t = 5.0)]
    pub seconds: f64,
    /// Train with plain SGD instead of the spec's optimizer (as the PyTorch reference does).
    #[arg(long)]
    pub sgd: bool,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Print time per op kind of the timed training steps to stderr.
    #[arg(long)]
    pub profile: bool,
}

pub fn run(args: BenchArgs) -> miette::Result<()> {
    if args.batch == 0 {
        return Err(miette!(help = "use --batch 1 or more", "batch size 0"));
    }
    if !(args.seconds.is_finite() && args.seconds >= 0.0) {
        return Err(miette!(
            help = "give a duration in seconds, e.g. --seconds 5",
            "invalid --seconds {}",
            args.seconds
        ));
    }
    let spec = crate::ir::load(&args.spec)?;
    let models: Vec<_> = match &args.model {
        None => spec.models.iter().collect(),
        Some(name) => {
            let m: Vec<_> = spec.models.iter().filter(|m| &m.name == name).collect();
            if m.is_empty() {
                let names: Vec<&str> = spec.models.iter().map(|m| m.name.as_str()).collect();
                return Err(miette!(
                    help = format!("models of this spec: {}", names.join(", ")),
                    "no model named `{name}` in {}",
                    args.spec.display()
                ));
            }
            m
        }
    };
    let cfg = BenchConfig {
        batch: args.batch,
        seconds: args.seconds,
        optimizer: args.sgd.then_some(Optimizer::Sgd {
            lr: 1e-3,
            momentum: 0.0,
            nesterov: false,
        }),
        profile: args.profile,
        ..BenchConfig::default()
    };
    let bar = if std::io::stderr().is_terminal() {
        indicatif::ProgressBar::new_spinner()
    } else {
        indicatif::ProgressBar::hidden()
    };
    let mut results = Vec::new();
    for model in models {
        bar.set_message(format!("{}: building", model.name));
        let r = bench_model(model, &cfg, |msg| {
            bar.set_message(msg);
            bar.tick();
        })?;
        if args.profile {
            bar.suspend(|| {
                eprintln!("{} per training step:", r.model);
                for t in &r.profile {
                    let gf = t
                        .gflops
                        .map(|g| format!("{g:>7.1} GFLOP/s"))
                        .unwrap_or_default();
                    eprintln!(
                        "    {:<36} {:>8.2} ms ({} calls) {gf}",
                        t.op, t.ms_per_step, t.calls_per_step
                    );
                }
            });
        }
        if args.format == Format::Json {
            println!(
                "{}",
                serde_json::to_string(&r).expect("bench results always serialise")
            );
        }
        results.push(r);
    }
    bar.finish_and_clear();
    if args.format == Format::Text {
        print!("{}", table(&results));
    }
    Ok(())
}
