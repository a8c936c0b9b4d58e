//! `archc train`.
use std::path::{Path, PathBuf};

use miette::{miette, IntoDiagnostic};

use crate::data::{Dataset, Examples};
use crate::plot::Series;
use crate::train::{self, run_dir, EpochMetrics, Options};

#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// The spec file (`specs/*.arch`).
    pub spec: PathBuf,
    /// Root of the run directories: each model writes `<out>/<folder>/`, the folder being
    /// the model's name without brackets, quotes or `=` (`mnist_ae_basic_d32`).
    #[arg(long, default_value = "runs")]
    pub out: PathBuf,
    /// Override the spec's number of epochs (1 or more).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Use only the first N examples of each split (quick runs; recorded in run.json,
    /// and such runs never count as results).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Dataset root (else `$ARCHC_DATA`, else the per-user cache).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Continue the run in the folder from its last finished epoch (a missing or empty
    /// folder starts afresh). Refuses a run made from another spec or `--limit`.
    #[arg(long, conflicts_with = "force")]
    pub resume: bool,
    /// Delete the run already in the folder (weights, metrics, figures, analysis files)
    /// and start again.
    #[arg(long)]
    pub force: bool,
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
    if args.epochs == Some(0) {
        return Err(miette!(
            code = "archc::zero_epochs",
            help = "give --epochs 1 or more, or leave it out for the spec's count",
            "--epochs 0: nothing to train"
        ));
    }
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
    train::interrupt::install();
    let command: Vec<String> = std::env::args().collect();
    let mut loaded: Vec<(
        (crate::ir::DatasetName, crate::ir::Split),
        Dataset,
        train::Provenance,
    )> = Vec::new();
    for model in models {
        let key = (model.train.dataset, model.train.split);
        let (data, provenance) = match loaded.iter().position(|(k, _, _)| *k == key) {
            Some(i) => (&loaded[i].1, loaded[i].2),
            None => {
                // A --limit run is not a result: a small (e.g. synthetic) file may shrink
                // the split instead of refusing.
                let fit = crate::data::SplitFit::for_limited(args.limit.is_some());
                let mut d = crate::data::load_with(key.0, key.1, args.data.as_deref(), fit)?;
                if let Some(n) = args.limit {
                    limit(&mut d.train, n);
                    limit(&mut d.validation, n);
                    limit(&mut d.test, n);
                }
                let p = crate::data::provenance::identify(d.name, &d.sources);
                loaded.push((key, d, p));
                let last = loaded.last().unwrap();
                (&last.1, last.2)
            }
        };
        let out_dir = args.out.join(run_dir::folder_name(&model.name));
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
            out_dir: out_dir.clone(),
            epochs: args.epochs,
            resume: args.resume,
            force: args.force,
            progress: true,
            spec_source: Some((file_name.clone(), source.clone())),
            verbose: true,
            final_outputs: true,
            limit: args.limit,
            command: command.clone(),
            provenance: Some(provenance),
        };
        let m = train::train(model, data, &opts)?;
        draw_run_curves(&out_dir);
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

/// `curves.png` of a run and of its pre-training stages; a failure is a warning (the run's
/// results stand without the figure).
pub fn draw_run_curves(dir: &Path) {
    let mut dirs = vec![dir.to_path_buf()];
    if let Ok(rd) = std::fs::read_dir(dir) {
        let mut stages: Vec<PathBuf> = rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.is_dir()
                    && p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("pretrain_"))
            })
            .collect();
        stages.sort();
        dirs.extend(stages);
    }
    for d in dirs {
        if let Err(e) = draw_curves(&d) {
            eprintln!(
                "warning: could not draw {}: {e}",
                d.join(run_dir::CURVES).display()
            );
        }
    }
}

/// `curves.png` from a run's `metrics.json`: error per epoch for classifiers (runs with
/// error values), loss for autoencoders.
pub fn draw_curves(dir: &Path) -> miette::Result<()> {
    let metrics = run_dir::read_metrics(&dir.join(run_dir::METRICS))?;
    let classifier = metrics.epochs.iter().any(|e| e.train_error.is_some());
    let pick = |f: &dyn Fn(&EpochMetrics) -> Option<f64>, name: &str| Series {
        name: name.into(),
        points: metrics
            .epochs
            .iter()
            .filter_map(|m| f(m).map(|v| (m.epoch as f64, v)))
            .collect(),
    };
    let series: Vec<Series> = if classifier {
        vec![
            pick(&|m| m.train_error, "train"),
            pick(&|m| m.val_error, "validation"),
            pick(&|m| m.test_error, "test"),
        ]
    } else {
        vec![
            pick(&|m| m.train_loss, "train"),
            pick(&|m| m.val_loss, "validation"),
            pick(&|m| m.test_loss, "test"),
        ]
    };
    let series: Vec<Series> = series
        .into_iter()
        .filter(|s| !s.points.is_empty())
        .collect();
    let y = if classifier {
        "error rate (fraction misclassified)"
    } else {
        "loss"
    };
    let title = metrics
        .model
        .clone()
        .unwrap_or_else(|| dir.display().to_string());
    crate::plot::line_chart(&dir.join(run_dir::CURVES), &title, "epoch", y, &series)
}
