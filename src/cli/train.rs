//! `archc train`.
use std::path::PathBuf;

use miette::{miette, IntoDiagnostic};

use crate::data::{Dataset, Examples};
use crate::train::{self, Options};

#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// The spec file (`specs/*.arch`).
    pub spec: PathBuf,
    /// Root of the run directories: each model writes `<out>/<model name>/`.
    #[arg(long, default_value = "runs")]
    pub out: PathBuf,
    /// Override the spec's number of epochs.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Use only the first N examples of each split (quick runs).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Dataset root (else `$ARCHC_DATA`, else the per-user cache).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Continue an interrupted run from its last checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// Train only the model with this name (see `archc summary`).
    #[arg(long)]
    pub model: Option<String>,
}

fn limit(ex: &mut Examples, n: usize) {
    let n = n.min(ex.len());
    ex.images.truncate(n * ex.example_size());
    ex.labels.truncate(n);
}

pub fn run(args: TrainArgs) -> miette::Result<()> {
    let spec = crate::ir::load(&args.spec)?;
    let source = std::fs::read_to_string(&args.spec).into_diagnostic()?;
    let file_name = args
        .spec
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| "spec.arch".into());
    let models: Vec<_> = spec
        .models
        .iter()
        .filter(|m| args.model.as_ref().is_none_or(|n| &m.name == n))
        .collect();
    if models.is_empty() {
        let names: Vec<&str> = spec.models.iter().map(|m| m.name.as_str()).collect();
        return Err(miette!(
            help = format!("models in this spec: {}", names.join(", ")),
            "no model named {:?} in {}",
            args.model.unwrap_or_default(),
            args.spec.display()
        ));
    }
    for model in &models {
        crate::memory::refuse_if_too_large(model)?;
    }
    crate::atomic::prepare_dir(&args.out)?;
    let mut loaded: Vec<((crate::ir::DatasetName, crate::ir::Split), Dataset)> = Vec::new();
    for model in models {
        let key = (model.train.dataset, model.train.split);
        let data = match loaded.iter().find(|(k, _)| *k == key) {
            Some((_, d)) => d,
            None => {
                let mut d = crate::data::load(key.0, key.1, args.data.as_deref())?;
                if let Some(n) = args.limit {
                    limit(&mut d.train, n);
                    limit(&mut d.validation, n);
                    limit(&mut d.test, n);
                }
                loaded.push((key, d));
                &loaded.last().unwrap().1
            }
        };
        let out_dir = args.out.join(&model.name);
        println!(
            "training {} ({} parameters) on {}: {} train / {} validation / {} test → {}",
            model.name,
            model.total_params(),
            data.provenance,
            data.train.len(),
            data.validation.len(),
            data.test.len(),
            out_dir.display()
        );
        let opts = Options {
            out_dir,
            epochs: args.epochs,
            resume: args.resume,
            progress: true,
            spec_source: Some((file_name.clone(), source.clone())),
            verbose: true,
            final_outputs: true,
        };
        let m = train::train(model, data, &opts)?;
        if let Some(last) = m.epochs.last() {
            println!(
                "{}: final test loss {} error {}",
                model.name,
                last.test_loss
                    .map(|v| format!("{v:.4}"))
                    .unwrap_or("-".into()),
                last.test_error
                    .map(|v| format!("{v:.4}"))
                    .unwrap_or("-".into())
            );
        }
    }
    Ok(())
}
