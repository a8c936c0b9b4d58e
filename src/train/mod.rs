//! The training loop, evaluation, results and resume.
//!
//! Read top to bottom: [`train`] runs the epochs of one model on a loaded dataset;
//! each epoch shuffles with a ChaCha stream keyed by (seed, epoch), runs one
//! [`TrainGraph`] step per batch, evaluates validation and test with an inference
//! graph, and writes metrics and checkpoints atomically. Everything random is keyed by
//! (seed, epoch) or (seed, layer, iteration), so a resumed run only needs the weights,
//! optimizer slots and counters to end where an uninterrupted run would.
//!
//! Conventions: cross-entropy loss is the mean over examples; BCE and MSE are the mean
//! over every output element (Keras). Reported losses include the L2 penalty (Keras
//! does the same). `error` is 1 − top-1 accuracy for classifiers; autoencoders report
//! `null` errors (their loss is the reconstruction error). Training loss and error are
//! running means over the epoch's batches in training mode (dropout on, corrupted
//! inputs), as Keras reports them; validation and test use inference mode on clean
//! inputs.

//!
//! The run directory's files are defined in [`run_dir`].

pub mod checkpoint;
pub mod evaluate;
pub mod interrupt;
pub mod lock;
pub mod network;
pub mod run_dir;

use std::path::{Path, PathBuf};
use std::time::Instant;

use miette::{miette, IntoDiagnostic, Result, WrapErr};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::data::{self, Dataset, Examples};
use crate::ir::{layers, Loss, Model, Noise, Optimizer, Schedule, Target};
use crate::lower::{self, ops, ForwardGraph, TrainGraph, Weights};
pub use network::Network;
pub use run_dir::{EpochMetrics, Metrics, Provenance, ResumeState, RunRecord};

#[derive(Debug, Clone)]
pub struct Options {
    pub out_dir: PathBuf,
    /// Overrides the spec's epoch count.
    pub epochs: Option<usize>,
    /// Continue the run in `out_dir` (a missing or empty folder starts afresh).
    pub resume: bool,
    /// Delete a run already in `out_dir` and start again.
    pub force: bool,
    pub progress: bool,
    /// Spec source copied into the run directory.
    pub spec_source: Option<(String, String)>,
    /// Print per-epoch lines.
    pub verbose: bool,
    /// Write predictions / reconstructions / codes at the end (off for pre-training stages).
    pub final_outputs: bool,
    /// The `--limit N` the data was cut to: recorded, and `--resume` refuses another.
    pub limit: Option<usize>,
    /// The command line: recorded, and shown in the hint after an interruption.
    pub command: Vec<String>,
    /// The dataset's provenance as checked by content; `None`: not checked (unverified).
    pub provenance: Option<Provenance>,
}

impl Options {
    pub fn quiet(out_dir: &Path) -> Options {
        Options {
            out_dir: out_dir.to_path_buf(),
            epochs: None,
            resume: false,
            force: false,
            progress: false,
            spec_source: None,
            verbose: false,
            final_outputs: true,
            limit: None,
            command: Vec::new(),
            provenance: None,
        }
    }
}

/// Base learning rate of an optimizer.
pub fn base_lr(opt: &Optimizer) -> f32 {
    match *opt {
        Optimizer::Sgd { lr, .. }
        | Optimizer::RmsProp { lr, .. }
        | Optimizer::Adagrad { lr, .. }
        | Optimizer::Adadelta { lr, .. }
        | Optimizer::Adam { lr, .. } => lr,
    }
}

/// Learning rate for 0-based `epoch` of `epochs`.
pub fn schedule_lr(lr0: f32, schedule: &Schedule, epoch: usize, epochs: usize) -> f32 {
    match *schedule {
        Schedule::Constant => lr0,
        Schedule::Step {
            factor,
            every,
            floor,
        } => (lr0 * factor.powi((epoch / every.max(1)) as i32)).max(floor),
        Schedule::Cosine { min } => {
            let t = epoch as f32 / (epochs.max(2) - 1) as f32;
            min + 0.5 * (lr0 - min) * (1.0 + (std::f32::consts::PI * t).cos())
        }
    }
}

/// A ChaCha stream for one purpose and epoch, derived from the spec's seed.
fn stream(seed: u64, purpose: u64, epoch: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream((purpose << 32) | epoch as u64);
    rng
}

/// Examples per batch in evaluation and inference passes.
const EVAL_BATCH: usize = 256;

const SHUFFLE: u64 = 1;
const AUGMENT: u64 = 2;
const NOISE: u64 = 3;

/// The input corruption a model trains with: `TrainConfig::noise` or a leading
/// `Noise` layer (a `Noise` layer elsewhere is rejected).
pub fn input_noise(model: &Model) -> Result<Option<Noise>> {
    for (i, l) in model.layers.iter().enumerate() {
        if let Some(n) = layers::noise_of(&l.kind) {
            if i != 0 {
                return Err(miette!(
                    help = "put the noise layer first: it corrupts the network's input",
                    "layer {i} `{}`: noise is only supported on the input",
                    l.notation
                ));
            }
            return Ok(Some(n));
        }
    }
    Ok(model.train.noise)
}

/// Targets for a batch: labels (cross-entropy), one-hot labels, or the clean inputs.
fn targets(model: &Model, ex: &Examples, idx: &[usize], clean: &[f32], classes: usize) -> Vec<f32> {
    match (model.train.target, model.train.loss) {
        (Target::Input, _) => clean.to_vec(),
        (Target::Labels, Loss::CrossEntropy) => idx.iter().map(|&i| ex.labels[i] as f32).collect(),
        (Target::Labels, _) => {
            let mut t = vec![0.0; idx.len() * classes];
            for (r, &i) in idx.iter().enumerate() {
                t[r * classes + ex.labels[i] as usize] = 1.0;
            }
            t
        }
    }
}

/// One training batch exactly as the loop feeds it to the training graph.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// Indices into the training split.
    pub indices: Vec<usize>,
    /// Augmented, then corrupted inputs (what the network sees).
    pub inputs: Vec<f32>,
    /// Targets from the augmented but uncorrupted inputs: class indices (cross-entropy),
    /// one-hot rows, or the clean inputs (autoencoders, denoising).
    pub targets: Vec<f32>,
}

/// The training batches of one epoch, in order: the split shuffled by the (seed, epoch)
/// stream, then per batch augmentation (`train.augment`), targets, and input noise
/// (`noise`, see [`input_noise`]), each drawing from its own (seed, epoch) stream. Being
/// the training loop's only source of inputs, it is also where tests observe them.
pub struct Batches<'a> {
    model: &'a Model,
    ex: &'a Examples,
    noise: Option<Noise>,
    order: Vec<usize>,
    next: usize,
    aug_rng: ChaCha8Rng,
    noise_rng: ChaCha8Rng,
}

impl<'a> Batches<'a> {
    pub fn new(model: &'a Model, ex: &'a Examples, noise: Option<Noise>, epoch: usize) -> Self {
        let seed = model.train.seed;
        let mut order: Vec<usize> = (0..ex.len()).collect();
        order.shuffle(&mut stream(seed, SHUFFLE, epoch));
        Batches {
            model,
            ex,
            noise,
            order,
            next: 0,
            aug_rng: stream(seed, AUGMENT, epoch),
            noise_rng: stream(seed, NOISE, epoch),
        }
    }
}

impl Iterator for Batches<'_> {
    type Item = Batch;
    fn next(&mut self) -> Option<Batch> {
        if self.next >= self.order.len() {
            return None;
        }
        let end = (self.next + self.model.train.batch.max(1)).min(self.order.len());
        let idx = self.order[self.next..end].to_vec();
        self.next = end;
        let mut x = gather(self.ex, &idx);
        if let Some(aug) = &self.model.train.augment {
            data::augment_batch(aug, &self.ex.shape, &mut x, &mut self.aug_rng);
        }
        let classes = self.model.output_shape().iter().product();
        let t = targets(self.model, self.ex, &idx, &x, classes);
        if let Some(nz) = &self.noise {
            data::apply_noise(nz, &mut x, &mut self.noise_rng);
        }
        Some(Batch {
            indices: idx,
            inputs: x,
            targets: t,
        })
    }
}

fn gather(ex: &Examples, idx: &[usize]) -> Vec<f32> {
    let d = ex.example_size();
    let mut v = Vec::with_capacity(idx.len() * d);
    for &i in idx {
        v.extend_from_slice(&ex.images[i * d..(i + 1) * d]);
    }
    v
}

/// Number of top-1 mistakes in a batch of logits/outputs.
fn mistakes(outputs: &[f32], row: usize, labels: impl Iterator<Item = u8>) -> usize {
    outputs
        .chunks(row)
        .zip(labels)
        .filter(|(o, l)| argmax(o) != *l as usize)
        .count()
}

pub fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

/// λ·Σw² over the model's decayed weights.
fn penalty(model: &Model, w: &Weights) -> f64 {
    let mut s = 0.0;
    for (l, p) in model.layers.iter().zip(&w.params) {
        if let Some((lambda, n)) = l.layout().decay() {
            s += lambda as f64 * p[..n].iter().map(|v| (*v as f64).powi(2)).sum::<f64>();
        }
    }
    s
}

/// Loss and error of `model` with weights in `eval` on a whole split.
fn evaluate(model: &Model, eval: &mut ForwardGraph, ex: &Examples, pen: f64) -> (f64, Option<f64>) {
    if ex.is_empty() {
        return (f64::NAN, None);
    }
    let n = ex.len();
    // Inference results do not depend on the batch size: use large batches.
    let batch = model.train.batch.max(EVAL_BATCH);
    let row = eval.output_size;
    let classes = row;
    let (mut loss, mut wrong) = (0.0f64, 0usize);
    for start in (0..n).step_by(batch) {
        let idx: Vec<usize> = (start..(start + batch).min(n)).collect();
        let x = gather(ex, &idx);
        let t = targets(model, ex, &idx, &x, classes);
        let out = eval.run(x);
        let l = ops::loss_value(model.train.loss, row, &out, &t) as f64;
        loss += l * idx.len() as f64;
        if model.train.target == Target::Labels {
            wrong += mistakes(&out, row, idx.iter().map(|&i| ex.labels[i]));
        }
    }
    let err = (model.train.target == Target::Labels).then(|| wrong as f64 / n as f64);
    (loss / n as f64 + pen, err)
}

fn opt_f64(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

/// The dataset must fit the model: example size and, for classifiers, label range.
fn check_data(model: &Model, data: &Dataset) -> Result<()> {
    let want: usize = model.input_shape.iter().product();
    let have = data.train.example_size();
    if want != have {
        return Err(miette!(
            help = "check the spec's dataset against the network's input",
            "model {} takes inputs of {:?} ({want} values) but {} examples are {:?} ({have})",
            model.name,
            model.input_shape,
            data.provenance,
            data.train.shape
        ));
    }
    let outputs: usize = model.output_shape().iter().product();
    if model.train.target == Target::Labels {
        let max = [&data.train, &data.validation, &data.test]
            .iter()
            .flat_map(|e| e.labels.iter())
            .copied()
            .max()
            .unwrap_or(0) as usize;
        if max >= outputs {
            return Err(miette!(
                help = "the last layer needs one unit per class",
                "model {} has {outputs} outputs but {} has label {max}",
                model.name,
                data.provenance
            ));
        }
    } else if outputs != want {
        return Err(miette!(
            "autoencoder {} outputs {outputs} values per example but its input has {want}",
            model.name
        ));
    }
    Ok(())
}

/// Trains `model` on `data`, writing the run directory; returns the metrics.
///
/// A folder that already holds a run is only continued with `resume` or replaced with
/// `force`; `resume` on a missing or empty folder starts afresh (pre-training included),
/// and refuses a run made from another spec or with another `--limit`. A lock file keeps
/// two processes from writing the same run.
pub fn train(model: &Model, data: &Dataset, opts: &Options) -> Result<Metrics> {
    let out = &opts.out_dir;
    let epochs = opts.epochs.unwrap_or(model.train.epochs);
    if epochs == 0 {
        return Err(miette!(
            code = "archc::zero_epochs",
            help = "give --epochs 1 or more (or leave it out for the spec's count)",
            "{}: 0 epochs is nothing to train",
            model.name
        ));
    }
    std::fs::create_dir_all(out)
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot create the run folder {}", out.display()))?;
    let _lock = lock::RunLock::acquire(out)?;
    remove_temporaries(out);
    let has_run = run_dir::holds_run(out);
    if has_run && !opts.resume && !opts.force {
        return Err(miette!(
            code = "archc::run_exists",
            help = "add --resume to continue it, or --force to delete it and start again",
            "{} already holds a run of {} ({})",
            out.display(),
            model.name,
            describe_run(out)
        ));
    }
    if has_run && opts.force && !opts.resume {
        clear_run(out)?;
    }
    check_data(model, data)?;
    let noise = input_noise(model)?;
    let mut record = new_record(model, data, opts, epochs);
    let resuming = opts.resume && has_run;
    let mut previous = None;
    if resuming {
        match run_dir::read_record(out) {
            Ok(Some(old)) => {
                same_run(&old, &record, out)?;
                previous = Some(old);
            }
            Ok(None) => eprintln!(
                "warning: {} has no {} (made before run records): resuming without checking its spec and --limit",
                out.display(),
                run_dir::RECORD
            ),
            Err(e) => {
                return Err(miette!(
                    help = "fix or delete the file, or start again with --force",
                    "cannot check the run to resume: {e}"
                ))
            }
        }
    }
    let noisy = evaluate::NoisySplits::new(model, data, noise);
    let cfg = &model.train;
    let opt = cfg.optimizer;
    let mut weights = Weights::init(model, cfg.seed);
    let mut metrics = Metrics {
        epochs: Vec::new(),
        model: Some(model.name.clone()),
        dataset: Some(data.provenance.clone()),
        params: Some(weights.count() as u64),
        pretrain_test_error: None,
        reconstruction: None,
    };
    let mut state = ResumeState {
        epochs_done: 0,
        iteration: 0,
        best_val_loss: None,
    };
    let mut slots = lower::init_slots(&opt, &weights);

    // Read the checkpoint before writing anything: a corrupt one leaves the run untouched.
    let state_file = out.join(run_dir::STATE);
    let restored = opts.resume && state_file.exists();
    if restored {
        let (w, s, meta) =
            checkpoint::load_state(&state_file, model, &slots).wrap_err_with(|| {
                format!(
                    "cannot resume from {}; nothing was changed (--force starts again)",
                    state_file.display()
                )
            })?;
        let field = |k: &str| {
            meta.get(k)
                .ok_or_else(|| miette!("{} has no `{k}` record", state_file.display()))
        };
        state = serde_json::from_str(field("state")?)
            .map_err(|e| miette!("{}: {e}", state_file.display()))?;
        metrics = serde_json::from_str(field("metrics")?)
            .map_err(|e| miette!("{}: {e}", state_file.display()))?;
        (weights, slots) = (w, s);
    }
    if let Some(old) = previous {
        if restored && state.epochs_done >= epochs && old.finished.is_some() {
            // Nothing left to train: the record keeps the commit, command and finish
            // time of the run that made it, and gains no resume.
            record = old;
        } else {
            record.command = old.command;
            record.started = old.started;
            record.resumed = old.resumed;
            record.resumed.push(run_dir::now_utc());
        }
    }
    if let Some((name, text)) = &opts.spec_source {
        crate::atomic::write_bytes(&out.join(name), text.as_bytes())?;
    }
    write_json(&out.join(run_dir::RECORD), &record)?;
    if restored {
        if opts.verbose {
            println!(
                "resuming {} after epoch {} (step {})",
                model.name, state.epochs_done, state.iteration
            );
        }
    } else {
        if opts.resume && opts.verbose {
            let what = if has_run {
                "no finished epoch to resume"
            } else {
                "nothing to resume"
            };
            println!("{what} in {}: starting afresh", out.display());
        }
        if let Some(pre) = cfg.pretrain {
            // Each stage is a run of its own, resumed like this one.
            weights = pretrain(model, data, weights, &pre, opts)?;
            // The read-out only measures the features: fine-tuning starts, as without it,
            // from the pre-trained hidden layers and the freshly initialised output layer.
            let measured = readout(model, data, weights.clone(), &pre, opts)?;
            let mut eval = ForwardGraph::build(model, model.layers.len(), true)?;
            eval.set_weights(measured);
            let (_, err) = evaluate(model, &mut eval, &data.test, 0.0);
            metrics.pretrain_test_error = err;
            if opts.verbose {
                println!(
                    "after pre-training and {} epochs of output-layer training: test error {} (before fine-tuning)",
                    pre.epochs,
                    fmt_opt(err)
                );
            }
        }
    }

    let mut graph = TrainGraph::build(model, Some(&opt))?;
    let mut eval = ForwardGraph::build(model, model.layers.len(), true)?;
    let lr0 = base_lr(&opt);
    let classes = graph.output_size;
    let n = data.train.len();
    if n == 0 {
        return Err(miette!(
            "the training split of {} is empty",
            data.provenance
        ));
    }
    let batch = cfg.batch.max(1);
    for epoch in state.epochs_done..epochs {
        let started = Instant::now();
        let lr = schedule_lr(lr0, &cfg.schedule, epoch, epochs);
        graph.set_weights(weights, Some(slots));
        let bar = progress_bar(opts.progress, n.div_ceil(batch), epoch + 1, epochs);
        let (mut loss_sum, mut wrong) = (0.0f64, 0usize);
        for b in Batches::new(model, &data.train, noise, epoch) {
            let (idx, x, t) = (&b.indices, b.inputs, b.targets);
            let s = graph.step(x, t, lr, state.iteration);
            state.iteration += 1;
            if !s.loss.is_finite() {
                bar.finish_and_clear();
                return Err(miette!(
                    help = "lower the learning rate; the last good checkpoint is final.safetensors",
                    "{}: loss became {} at epoch {} step {}; stopping",
                    model.name,
                    s.loss,
                    epoch + 1,
                    state.iteration
                ));
            }
            loss_sum += s.loss as f64 * idx.len() as f64;
            if cfg.target == Target::Labels {
                wrong += mistakes(
                    &s.output,
                    classes,
                    idx.iter().map(|&i| data.train.labels[i]),
                );
            }
            bar.inc(1);
            if interrupt::requested() {
                // The epoch is dropped: the checkpoint of the last whole one stands.
                bar.finish_and_clear();
                return Err(interrupt::Interrupted {
                    run: out.clone(),
                    epochs_done: state.epochs_done,
                    resume: interrupt::resume_command(&opts.command),
                }
                .into());
            }
        }
        bar.finish_and_clear();
        let (w, sl) = graph.take_weights();
        let pen = penalty(model, &w);
        eval.set_weights(w);
        let (val_loss, val_error) = evaluate(model, &mut eval, &data.validation, pen);
        let (test_loss, test_error) = evaluate(model, &mut eval, &data.test, pen);
        let (val_noisy_loss, test_noisy_loss) = noisy
            .as_ref()
            .map_or((None, None), |s| s.losses(model, &mut eval, data, pen));
        weights = eval.take_weights();
        slots = sl;
        let m = EpochMetrics {
            epoch: epoch + 1,
            lr: Some(lr),
            train_loss: Some(loss_sum / n as f64),
            train_error: (cfg.target == Target::Labels).then(|| wrong as f64 / n as f64),
            val_loss: opt_f64(val_loss),
            val_error,
            test_loss: opt_f64(test_loss),
            test_error,
            seconds: Some(started.elapsed().as_secs_f64()),
            val_noisy_loss,
            test_noisy_loss,
        };
        if opts.verbose {
            print_epoch(&m, epochs);
        }
        let key = evaluate::selection_loss(&m);
        if state.best_val_loss.is_none_or(|b| key < b) {
            state.best_val_loss = Some(key);
            checkpoint::save_weights(&out.join(run_dir::BEST), model, &weights)?;
        }
        metrics.epochs.push(m);
        state.epochs_done = epoch + 1;
        checkpoint::save_weights(&out.join(run_dir::FINAL), model, &weights)?;
        // The commit point of this epoch for --resume; the JSON files are for people.
        let meta = [
            ("state", serde_json::to_string(&state)),
            ("metrics", serde_json::to_string(&metrics)),
        ]
        .into_iter()
        .map(|(k, v)| v.map(|v| (k.to_string(), v)))
        .collect::<std::result::Result<_, _>>()
        .into_diagnostic()?;
        checkpoint::save_state(&state_file, model, &weights, &slots, meta)?;
        write_json(&out.join(run_dir::METRICS), &metrics)?;
        write_json(&out.join(run_dir::STATE_JSON), &state)?;
    }
    if opts.final_outputs {
        let outputs_from = evaluate::output_weights(model, out, &weights)?;
        finish_outputs(model, data, &outputs_from, out)?;
        evaluate::record_reconstruction(model, data, noise, out, &mut metrics)?;
    }
    if record.finished.is_none() {
        record.finished = Some(run_dir::now_utc());
        write_json(&out.join(run_dir::RECORD), &record)?;
    }
    Ok(metrics)
}

pub use crate::atomic::write_json;

fn progress_bar(show: bool, len: usize, epoch: usize, epochs: usize) -> indicatif::ProgressBar {
    if !show {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len as u64);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "epoch {msg} [{bar:30}] {pos}/{len} batches {per_sec} eta {eta}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(format!("{epoch}/{epochs}"));
    bar
}

fn fmt_opt(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.4}")).unwrap_or_else(|| "-".into())
}

fn print_epoch(m: &EpochMetrics, epochs: usize) {
    println!(
        "epoch {:>3}/{epochs}  lr {:.2e}  train loss {} err {}  val loss {} err {}  test loss {} err {}  {:.1}s",
        m.epoch,
        m.lr.unwrap_or(f32::NAN),
        fmt_opt(m.train_loss),
        fmt_opt(m.train_error),
        fmt_opt(m.val_loss),
        fmt_opt(m.val_error),
        fmt_opt(m.test_loss),
        fmt_opt(m.test_error),
        m.seconds.unwrap_or(0.0)
    );
}

/// `predictions.json` for classifiers; reconstructions and codes for autoencoders.
fn finish_outputs(model: &Model, data: &Dataset, weights: &Weights, out: &Path) -> Result<()> {
    use checkpoint::Entry;
    let net = Network::new(model.clone(), weights.clone());
    let test = &data.test;
    if model.train.target == Target::Labels {
        let p = net.predict(&test.images, test.len());
        let row = p.len() / test.len().max(1);
        let preds: Vec<usize> = p.chunks(row.max(1)).map(argmax).collect();
        let preds = run_dir::Predictions {
            split: "test".into(),
            classes: data.classes.clone(),
            labels: test.labels.clone(),
            predictions: preds.into_iter().map(|p| p as u8).collect(),
        };
        return write_json(&out.join(run_dir::PREDICTIONS), &preds);
    }
    let k = test.len().min(32);
    let d = test.example_size();
    let mut shape = vec![k];
    shape.extend(&test.shape);
    let inputs = test.images[..k * d].to_vec();
    let mut entries = vec![(
        "test.inputs".to_string(),
        Entry::F32(shape.clone(), inputs.clone()),
    )];
    let mut fed = inputs;
    if let Some(nz) = input_noise(model)? {
        data::apply_noise(
            &nz,
            &mut fed,
            &mut stream(model.train.seed, NOISE, usize::MAX >> 32),
        );
        entries.push(("test.noisy".into(), Entry::F32(shape.clone(), fed.clone())));
    }
    let outs = net.predict(&fed, k);
    let mut oshape = vec![k];
    oshape.extend(model.output_shape());
    entries.push(("test.outputs".into(), Entry::F32(oshape, outs)));
    checkpoint::save(&out.join(run_dir::RECONSTRUCTIONS), entries)?;
    if model.code_layer.is_some() {
        let mut entries = Vec::new();
        for (name, ex) in [
            ("train", &data.train),
            ("validation", &data.validation),
            ("test", &data.test),
        ] {
            let codes = net.encode(&ex.images, ex.len())?;
            let dim = codes.len() / ex.len().max(1);
            entries.push((
                format!("{name}.codes"),
                Entry::F32(vec![ex.len(), dim], codes),
            ));
            entries.push((
                format!("{name}.labels"),
                Entry::U8(vec![ex.len()], ex.labels.clone()),
            ));
        }
        checkpoint::save(&out.join(run_dir::CODES), entries)?;
    }
    Ok(())
}

/// Greedy layer-wise pre-training (items 3.3b–d): each hidden dense layer in turn is
/// the encoder of a one-hidden-layer autoencoder (with a fresh decoder) trained on the
/// previous layer's codes; its trained weights replace the layer's.
fn pretrain(
    model: &Model,
    data: &Dataset,
    mut weights: Weights,
    pre: &crate::ir::Pretrain,
    opts: &Options,
) -> Result<Weights> {
    use crate::ir::{Activation, Init, Layer};
    let stage_problem = |i: usize, p: crate::ir::shape::LayerProblem| {
        miette!("pre-training stage of layer {i}: {}", p.message)
    };
    let hidden: Vec<usize> = model
        .layers
        .iter()
        .enumerate()
        .filter(|(i, l)| layers::is_dense(&l.kind) && i + 1 < model.layers.len())
        .map(|(i, _)| i)
        .collect();
    for &i in &hidden {
        let layer = &model.layers[i];
        let d_in: usize = layer.input_shape.iter().product();
        // Codes of the previous layers for every split.
        let mut enc = ForwardGraph::build(model, i, false)?;
        enc.set_weights(weights);
        let sub_data = codes_dataset(&mut enc, data, d_in, &format!("codes of layer {i}"));
        weights = enc.take_weights();
        let decoder_act = match pre.loss {
            Loss::BinaryCrossEntropy => Activation::Sigmoid,
            _ => Activation::Linear,
        };
        // The stage: this layer on the flattened codes, and a dense decoder back to them.
        let enc_layer = Layer::new(
            layer.kind,
            layer.notation.clone(),
            layer.span,
            layer.label.clone(),
            &[d_in],
        )
        .map_err(|p| stage_problem(i, p))?;
        let decoder_init = Init::GlorotUniform;
        let decoder = Layer::new(
            layers::dense(d_in, decoder_act, decoder_init, 0.0),
            format!(
                "{} (pre-training decoder)",
                layers::dense_notation(d_in, decoder_act, decoder_init, 0.0)
            ),
            layer.span,
            None,
            &layer.output_shape,
        )
        .map_err(|p| stage_problem(i, p))?;
        let mut train_cfg = model.train.clone();
        train_cfg.target = Target::Input;
        train_cfg.loss = pre.loss;
        train_cfg.noise = pre.noise;
        train_cfg.pretrain = None;
        train_cfg.augment = None;
        train_cfg.epochs = pre.epochs;
        train_cfg.seed = model.train.seed.wrapping_add(1 + i as u64);
        let sub = Model {
            name: format!("{}[pretrain layer {i}]", model.name),
            sweep_point: model.sweep_point.clone(),
            input_shape: vec![d_in],
            layers: vec![enc_layer, decoder],
            code_layer: Some(0),
            train: train_cfg,
        };
        let sub_opts = stage_options(opts, &run_dir::pretrain_layer(i));
        if opts.verbose {
            println!("pre-training layer {i} `{}`", layer.notation);
        }
        train(&sub, &sub_data, &sub_opts)?;
        let trained = checkpoint::load_weights(&sub_opts.out_dir.join(run_dir::FINAL), &sub)?;
        weights.params[i] = trained.params[0].clone();
    }
    Ok(weights)
}

/// Optimizer of the read-out: Adam with Keras's defaults. Fitting a softmax layer on fixed
/// features is a convex problem Adam solves reliably whatever the features' scale, while
/// the spec's optimizer is tuned for the whole network (plain SGD with η = 1 on 1000
/// features in [0, 1] overshoots: on `mnist_mlp_pretrain` with 5000 training examples its
/// read-out test error jumped between 0.59 and 0.90 over 10 epochs).
pub const READOUT_OPTIMIZER: Optimizer = Optimizer::Adam {
    lr: 1e-3,
    beta1: 0.9,
    beta2: 0.999,
    epsilon: 1e-7,
};

/// The read-out after greedy pre-training: trains the output layer alone (the last dense
/// layer and whatever follows it) with the model's loss and targets, the
/// [`READOUT_OPTIMIZER`] and a constant rate, for `pre.epochs` epochs on the frozen
/// features entering it, and returns the weights with that layer replaced by its
/// best-by-validation version. The network's error then measures the pre-trained features
/// with a supervised linear read-out, which is what "the error before fine-tuning" means
/// (an untrained output layer would only give chance). Classifiers only; other models
/// come back unchanged.
fn readout(
    model: &Model,
    data: &Dataset,
    mut weights: Weights,
    pre: &crate::ir::Pretrain,
    opts: &Options,
) -> Result<Weights> {
    // Autoencoders have no read-out: their error is the reconstruction loss.
    let found = model.layers.iter().rposition(|l| layers::is_dense(&l.kind));
    let Some(o) = found.filter(|_| model.train.target == Target::Labels) else {
        return Ok(weights);
    };
    let d_in: usize = model.layers[o].input_shape.iter().product();
    let mut enc = ForwardGraph::build(model, o, false)?;
    enc.set_weights(weights);
    let sub_data = codes_dataset(
        &mut enc,
        data,
        d_in,
        &format!("features entering layer {o}"),
    );
    weights = enc.take_weights();
    let mut layers = model.layers[o..].to_vec();
    layers[0].input_shape = vec![d_in];
    let mut train_cfg = model.train.clone();
    train_cfg.noise = None;
    train_cfg.pretrain = None;
    train_cfg.augment = None;
    train_cfg.epochs = pre.epochs;
    train_cfg.optimizer = READOUT_OPTIMIZER;
    train_cfg.schedule = Schedule::Constant;
    train_cfg.seed = model.train.seed.wrapping_add(1 + o as u64);
    let sub = Model {
        name: format!("{}[pretrain read-out]", model.name),
        sweep_point: model.sweep_point.clone(),
        input_shape: vec![d_in],
        layers,
        code_layer: None,
        train: train_cfg,
    };
    let sub_opts = stage_options(opts, run_dir::PRETRAIN_READOUT);
    if opts.verbose {
        println!(
            "training the output layer `{}` on the frozen pre-trained features",
            model.layers[o].notation
        );
    }
    train(&sub, &sub_data, &sub_opts)?;
    let trained = checkpoint::load_weights(&sub_opts.out_dir.join(run_dir::BEST), &sub)?;
    for (k, p) in trained.params.into_iter().enumerate() {
        weights.params[o + k] = p;
    }
    for (k, r) in trained.running.into_iter().enumerate() {
        weights.running[o + k] = r;
    }
    Ok(weights)
}

/// `data` with every split replaced by `enc`'s outputs (`d` values per example): the
/// dataset a greedy pre-training stage or the read-out trains on.
fn codes_dataset(enc: &mut ForwardGraph, data: &Dataset, d: usize, what: &str) -> Dataset {
    let mut codes = |ex: &Examples| Examples {
        images: enc.run_all(&ex.images, ex.len(), EVAL_BATCH),
        labels: ex.labels.clone(),
        shape: vec![d],
    };
    Dataset {
        name: data.name,
        classes: data.classes.clone(),
        train: codes(&data.train),
        validation: codes(&data.validation),
        test: codes(&data.test),
        sources: data.sources.clone(),
        provenance: format!("{} ({what})", data.provenance),
    }
}

/// Options of a pre-training stage's run in subfolder `name`: resumed when the model's
/// run is (a stage already finished only reloads its weights).
fn stage_options(opts: &Options, name: &str) -> Options {
    let mut sub = opts.clone();
    sub.out_dir = opts.out_dir.join(name);
    sub.epochs = None;
    sub.spec_source = None;
    sub.final_outputs = false;
    // The model's folder was cleared or checked already; a stage folder left by an
    // interrupted run is continued.
    sub.force = false;
    sub.resume = true;
    sub
}

/// The record of a run starting now.
fn new_record(model: &Model, data: &Dataset, opts: &Options, epochs: usize) -> RunRecord {
    let (archc_version, git_commit) = run_dir::build_info();
    let (spec, spec_md5) = match &opts.spec_source {
        Some((name, text)) => (name.clone(), data::source::md5_hex(text.as_bytes())),
        None => (String::new(), String::new()),
    };
    RunRecord {
        model: model.name.clone(),
        spec,
        spec_md5,
        command: opts.command.clone(),
        epochs,
        limit: opts.limit,
        dataset: run_dir::DatasetRecord {
            name: format!("{:?}", data.name).to_lowercase(),
            provenance: opts.provenance.unwrap_or(Provenance::Unverified),
            description: data.provenance.clone(),
            sources: data
                .sources
                .iter()
                .map(|p| p.display().to_string())
                .collect(),
            examples: [data.train.len(), data.validation.len(), data.test.len()],
        },
        archc_version,
        git_commit,
        threads: rayon::current_num_threads(),
        started: run_dir::now_utc(),
        resumed: Vec::new(),
        finished: None,
    }
}

/// `--resume` continues only the same run: same model, spec text and `--limit`.
fn same_run(old: &RunRecord, new: &RunRecord, out: &Path) -> Result<()> {
    let limit = |l: Option<usize>| l.map_or("no --limit".to_string(), |n| format!("--limit {n}"));
    let diff = if old.model != new.model {
        Some(format!(
            "it is a run of model {}, not {}",
            old.model, new.model
        ))
    } else if !old.spec_md5.is_empty() && !new.spec_md5.is_empty() && old.spec_md5 != new.spec_md5 {
        Some(format!(
            "it was made from a different spec: {} had md5 {}, the spec given now has md5 {} (the run's copy is {})",
            old.spec,
            old.spec_md5,
            new.spec_md5,
            out.join(&old.spec).display()
        ))
    } else if old.limit != new.limit {
        Some(format!(
            "it was made with {}, this command has {}",
            limit(old.limit),
            limit(new.limit)
        ))
    } else {
        None
    };
    match diff {
        Some(d) => Err(miette!(
            code = "archc::resume_mismatch",
            help = "resume with the run's own spec and options, or start again with --force",
            "cannot resume {}: {d}",
            out.display()
        )),
        None => Ok(()),
    }
}

/// "finished, 20 of 20 epochs" / "partial, 3 of 20 epochs" / "partial, no epoch yet".
fn describe_run(out: &Path) -> String {
    let done = run_dir::read_metrics(&out.join(run_dir::METRICS))
        .map(|m| m.epochs.len())
        .unwrap_or(0);
    match run_dir::read_record(out) {
        Ok(Some(r)) if r.finished.is_some() => format!("finished, {done} of {} epochs", r.epochs),
        Ok(Some(r)) => format!("partial, {done} of {} epochs", r.epochs),
        _ if done > 0 => format!("{done} epochs"),
        _ => "partial, no epoch yet".into(),
    }
}

/// `--force`: removes everything of the old run (weights, metrics, figures, analysis
/// results, stage folders) but the lock this process holds, so nothing stale sits beside
/// the new run's files.
fn clear_run(out: &Path) -> Result<()> {
    let entries = std::fs::read_dir(out)
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot list {}", out.display()))?;
    for e in entries.flatten() {
        if e.file_name() == run_dir::LOCK {
            continue;
        }
        let p = e.path();
        let r = if p.is_dir() {
            std::fs::remove_dir_all(&p)
        } else {
            std::fs::remove_file(&p)
        };
        r.into_diagnostic()
            .wrap_err_with(|| format!("--force: cannot remove {}", p.display()))?;
    }
    Ok(())
}

/// Deletes temporary files a killed writer left (`.NAME.PID.tmp…`, see `atomic`): the
/// lock guarantees no live writer owns them.
fn remove_temporaries(out: &Path) {
    let Ok(entries) = std::fs::read_dir(out) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') && name.contains(".tmp") && e.path().is_file() {
            let _ = std::fs::remove_file(e.path());
        }
    }
}
