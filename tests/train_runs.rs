//! Run directories as the library writes them: resume (pre-training stages, conv nets,
//! cosine schedules, leftover temporaries, corrupt checkpoints), refusal to overwrite,
//! `--force`, run records, locks, determinism.

#[path = "engine_util/mod.rs"]
mod engine_util;

use std::path::Path;

use archc::data::Dataset;
use archc::ir::{Activation, Loss, Model, PoolKind, Pretrain, Target};
use archc::train::{self, lock, run_dir, Options, RunRecord};
use engine_util::*;

fn compile(src: &str) -> Model {
    archc::ir::compile("t", src).unwrap().models.remove(0)
}

/// A classifier with two hidden layers pre-trained greedily (1 epoch per stage).
fn pretrained_mlp() -> Model {
    let mut m = model(
        &[6],
        &[
            dense(8, Activation::Sigmoid),
            dense(5, Activation::Sigmoid),
            dense(3, Activation::Softmax),
        ],
        Loss::CrossEntropy,
    );
    m.train.target = Target::Labels;
    m.train.batch = 16;
    m.train.epochs = 2;
    m.train.pretrain = Some(Pretrain {
        epochs: 2,
        noise: None,
        loss: Loss::BinaryCrossEntropy,
    });
    m
}

fn bytes(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn resume_opts(dir: &Path) -> Options {
    let mut o = Options::quiet(dir);
    o.resume = true;
    o
}

#[test]
fn resume_on_an_empty_folder_pretrains() {
    // The background runner resumes folders that may not exist yet; issue 14: with
    // per-epoch printing on, such a resume used to skip pre-training.
    let data = separable(6, 3, [120, 30, 30], 1);
    let m = pretrained_mlp();
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let straight = train::train(&m, &data, &Options::quiet(a.path())).unwrap();
    let mut opts = resume_opts(&b.path().join("new"));
    opts.verbose = true;
    let resumed = train::train(&m, &data, &opts).unwrap();
    assert!(resumed.pretrain_test_error.is_some(), "{resumed:?}");
    assert_eq!(resumed.pretrain_test_error, straight.pretrain_test_error);
    assert!(b
        .path()
        .join("new/pretrain_layer0/final.safetensors")
        .exists());
    assert!(
        bytes(&a.path().join("final.safetensors"))
            == bytes(&b.path().join("new/final.safetensors")),
        "final weights differ"
    );
}

#[test]
fn a_crash_during_pretraining_resumes_the_stages() {
    let data = separable(6, 3, [120, 30, 30], 2);
    let m = pretrained_mlp();
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let straight = train::train(&m, &data, &Options::quiet(a.path())).unwrap();
    train::train(&m, &data, &Options::quiet(b.path())).unwrap();
    // As if killed during the read-out: the layer stages are done, the read-out and the
    // fine-tuning have no checkpoint.
    let b = b.path();
    for f in [
        "state.safetensors",
        "metrics.json",
        "final.safetensors",
        "best.safetensors",
    ] {
        std::fs::remove_file(b.join(f)).unwrap();
    }
    std::fs::remove_dir_all(b.join("pretrain_readout")).unwrap();
    let stage = b.join("pretrain_layer0/metrics.json");
    let stage_before = bytes(&stage);
    let mut opts = resume_opts(b);
    opts.verbose = true;
    let resumed = train::train(&m, &data, &opts).unwrap();
    // The finished stage was reloaded, not trained again (its timings are unchanged).
    assert_eq!(bytes(&stage), stage_before);
    assert_eq!(resumed.pretrain_test_error, straight.pretrain_test_error);
    assert!(resumed.pretrain_test_error.is_some());
    assert!(
        bytes(&a.path().join("final.safetensors")) == bytes(&b.join("final.safetensors")),
        "final weights differ"
    );
}

/// A small conv net with a cosine schedule on 1×6×6 images. The spec gives the training
/// section (an MNIST spec must take 1×28×28 inputs); the net is rebuilt for 1×6×6.
fn conv_model(epochs: usize) -> (Model, Dataset) {
    let spec = compile(&format!(
        "input 1x28x28
net = C3@3x3[relu] × P2 × F10[softmax]
train {{
  dataset mnist split=60/20
  optimizer sgd lr=0.3 momentum=0.9
  schedule cosine min=0.01
  epochs {epochs}
  batch 8
  seed 3
}}
"
    ));
    let mut m = model(
        &[1, 6, 6],
        &[
            conv(3, 3, 1, 0, Activation::Relu),
            pool(PoolKind::Max, 2, 2, 0),
            dense(10, Activation::Softmax),
        ],
        Loss::CrossEntropy,
    );
    m.name = spec.name;
    m.train = spec.train;
    let mut data = separable(36, 10, [60, 20, 20], 5);
    for ex in [&mut data.train, &mut data.validation, &mut data.test] {
        ex.shape = vec![1, 6, 6];
    }
    (m, data)
}

#[test]
fn conv_net_with_cosine_schedule_resumes_past_a_leftover_temporary() {
    let (m, data) = conv_model(3);
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let straight = train::train(&m, &data, &Options::quiet(a.path())).unwrap();
    // As if stopped after epoch 1: a 1-epoch run (the cosine rate of epoch 0 is lr0
    // whatever the epochs asked), resumed for 3.
    let mut one = Options::quiet(b.path());
    one.epochs = Some(1);
    let part = train::train(&m, &data, &one).unwrap();
    assert_eq!(part.epochs.len(), 1);
    // A killed writer's temporary beside the checkpoint.
    let tmp = b.path().join(".state.safetensors.99999.tmp.safetensors");
    std::fs::write(&tmp, b"partial").unwrap();
    let mut again = resume_opts(b.path());
    again.epochs = Some(3);
    let resumed = train::train(&m, &data, &again).unwrap();
    assert!(!tmp.exists(), "the leftover temporary was not removed");
    // Epoch 1 came from the 1-epoch run, whose cosine rate at epoch 0 is lr0 either way.
    assert_eq!(straight.epochs[0].lr, resumed.epochs[0].lr);
    assert_eq!(straight.epochs[1].lr, resumed.epochs[1].lr);
    assert!(straight.epochs[2].lr.unwrap() < straight.epochs[1].lr.unwrap());
    assert!(
        bytes(&a.path().join("final.safetensors")) == bytes(&b.path().join("final.safetensors")),
        "resumed conv net differs from the uninterrupted run"
    );
}

#[test]
fn two_conv_runs_with_the_same_seed_are_bit_identical() {
    let (m, data) = conv_model(2);
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    train::train(&m, &data, &Options::quiet(a.path())).unwrap();
    train::train(&m, &data, &Options::quiet(b.path())).unwrap();
    // (state.safetensors also holds the epochs' wall-clock times.)
    for f in ["final.safetensors", "best.safetensors", "predictions.json"] {
        assert!(
            bytes(&a.path().join(f)) == bytes(&b.path().join(f)),
            "{f} differs"
        );
    }
    let strip = |d: &Path| {
        let mut m = run_dir::read_metrics(&d.join("metrics.json")).unwrap();
        m.epochs.iter_mut().for_each(|e| e.seconds = None);
        m
    };
    assert_eq!(strip(a.path()), strip(b.path()));
}

#[test]
fn a_corrupt_checkpoint_is_a_clear_error_and_nothing_is_overwritten() {
    let (m, data) = conv_model(2);
    let dir = tempfile::tempdir().unwrap();
    let mut one = Options::quiet(dir.path());
    one.epochs = Some(1);
    train::train(&m, &data, &one).unwrap();
    let state = dir.path().join("state.safetensors");
    let mut b = bytes(&state);
    b.truncate(b.len() / 2);
    std::fs::write(&state, &b).unwrap();
    let before: Vec<(String, Vec<u8>)> = ["metrics.json", "final.safetensors", "run.json"]
        .iter()
        .map(|f| (f.to_string(), bytes(&dir.path().join(f))))
        .collect();
    let err = train::train(&m, &data, &resume_opts(dir.path())).unwrap_err();
    let text = format!("{err:?}");
    assert!(text.contains("state.safetensors"), "{text}");
    assert!(text.contains("nothing was changed"), "{text}");
    assert!(bytes(&state) == b, "state.safetensors was rewritten");
    for (f, old) in before {
        assert!(bytes(&dir.path().join(&f)) == old, "{f} was rewritten");
    }
}

#[test]
fn an_existing_run_is_refused_without_resume_or_force() {
    let (m, data) = conv_model(1);
    let dir = tempfile::tempdir().unwrap();
    train::train(&m, &data, &Options::quiet(dir.path())).unwrap();
    let metrics_before = bytes(&dir.path().join("metrics.json"));
    let err = format!(
        "{:?}",
        train::train(&m, &data, &Options::quiet(dir.path())).unwrap_err()
    );
    assert!(err.contains("--resume") && err.contains("--force"), "{err}");
    assert!(err.contains("finished, 1 of 1 epochs"), "{err}");
    assert_eq!(bytes(&dir.path().join("metrics.json")), metrics_before);

    // --force clears the old run's derived files.
    let stale = dir.path().join("confusion.png");
    std::fs::write(&stale, b"old figure").unwrap();
    std::fs::create_dir_all(dir.path().join("pretrain_layer0")).unwrap();
    let mut force = Options::quiet(dir.path());
    force.force = true;
    train::train(&m, &data, &force).unwrap();
    assert!(!stale.exists(), "--force left a stale figure");
    assert!(!dir.path().join("pretrain_layer0").exists());
    assert!(dir.path().join("metrics.json").exists());
}

fn record(dir: &Path) -> RunRecord {
    run_dir::read_record(dir).unwrap().expect("run.json")
}

#[test]
fn resume_refuses_another_spec_or_limit_and_keeps_the_spec_copy() {
    let (m, data) = conv_model(2);
    let dir = tempfile::tempdir().unwrap();
    let mut first = Options::quiet(dir.path());
    first.epochs = Some(1);
    first.limit = Some(60);
    first.spec_source = Some(("t.arch".into(), "spec one".into()));
    train::train(&m, &data, &first).unwrap();

    let mut other_limit = first.clone();
    other_limit.resume = true;
    other_limit.epochs = None;
    other_limit.limit = None;
    let err = format!("{:?}", train::train(&m, &data, &other_limit).unwrap_err());
    assert!(
        err.contains("--limit 60") && err.contains("no --limit"),
        "{err}"
    );

    let mut other_spec = first.clone();
    other_spec.resume = true;
    other_spec.spec_source = Some(("t.arch".into(), "spec two".into()));
    let err = format!("{:?}", train::train(&m, &data, &other_spec).unwrap_err());
    assert!(err.contains("different spec"), "{err}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("t.arch")).unwrap(),
        "spec one"
    );
    assert_eq!(record(dir.path()).epochs, 1);

    // The same spec and limit resume; the record keeps its start and notes the resume.
    let mut same = first.clone();
    same.resume = true;
    same.epochs = Some(2);
    let started = record(dir.path()).started;
    let m2 = train::train(&m, &data, &same).unwrap();
    assert_eq!(m2.epochs.len(), 2);
    let r = record(dir.path());
    assert_eq!(r.started, started);
    assert_eq!(r.resumed.len(), 1);
    assert_eq!(r.epochs, 2);
    assert!(r.finished.is_some());

    // Resuming the finished run again trains nothing and leaves its record as it was.
    let before = bytes(&dir.path().join("run.json"));
    let m3 = train::train(&m, &data, &same).unwrap();
    assert_eq!(m3.epochs, m2.epochs);
    assert_eq!(bytes(&dir.path().join("run.json")), before);
}

#[test]
fn runs_without_a_record_still_resume() {
    let (m, data) = conv_model(2);
    let dir = tempfile::tempdir().unwrap();
    let mut one = Options::quiet(dir.path());
    one.epochs = Some(1);
    train::train(&m, &data, &one).unwrap();
    std::fs::remove_file(dir.path().join("run.json")).unwrap();
    let mut again = resume_opts(dir.path());
    again.limit = Some(5);
    let m2 = train::train(&m, &data, &again).unwrap();
    assert_eq!(m2.epochs.len(), 2);
}

#[test]
fn the_run_record_says_how_the_run_was_made() {
    let (m, data) = conv_model(2);
    let dir = tempfile::tempdir().unwrap();
    let mut o = Options::quiet(dir.path());
    o.limit = Some(60);
    o.command = vec!["archc".into(), "train".into(), "t.arch".into()];
    o.spec_source = Some(("t.arch".into(), "text".into()));
    o.provenance = Some(run_dir::Provenance::Exact);
    train::train(&m, &data, &o).unwrap();
    let r = record(dir.path());
    assert_eq!(r.model, m.name);
    assert_eq!(r.limit, Some(60));
    assert!(r.is_limited());
    assert_eq!(r.epochs, 2);
    assert_eq!(r.command, o.command);
    assert_eq!(r.spec, "t.arch");
    // md5("text"), from `printf text | md5sum`.
    assert_eq!(r.spec_md5, "1cb251ec0d568de6a929b520c4aed8d1");
    assert_eq!(r.dataset.provenance, run_dir::Provenance::Exact);
    assert_eq!(r.dataset.examples, [60, 20, 20]);
    assert_eq!(r.archc_version, env!("CARGO_PKG_VERSION"));
    assert!(!r.git_commit.is_empty());
    assert!(r.threads >= 1);
    let iso = |s: &str| s.len() == 20 && s.ends_with('Z') && s.as_bytes()[10] == b'T';
    assert!(iso(&r.started), "{}", r.started);
    assert!(r.finished.as_deref().is_some_and(iso), "{:?}", r.finished);
    assert!(r.finished.as_deref().unwrap() >= r.started.as_str());
}

#[test]
fn zero_epochs_is_an_error() {
    let (m, data) = conv_model(1);
    let dir = tempfile::tempdir().unwrap();
    let mut o = Options::quiet(dir.path());
    o.epochs = Some(0);
    let err = format!("{:?}", train::train(&m, &data, &o).unwrap_err());
    assert!(err.contains("0 epochs"), "{err}");
    assert!(!dir.path().join("metrics.json").exists());
}

#[test]
fn a_live_lock_refuses_and_a_stale_one_is_taken_over() {
    let (m, data) = conv_model(1);
    let dir = tempfile::tempdir().unwrap();
    // Held by this (live) process, as if another run of it were writing.
    let held = lock::RunLock::acquire(dir.path()).unwrap();
    let err = format!(
        "{:?}",
        train::train(&m, &data, &Options::quiet(dir.path())).unwrap_err()
    );
    assert!(
        err.contains(&format!("process {}", std::process::id())),
        "{err}"
    );
    assert!(err.contains(&lock::hostname()), "{err}");
    drop(held);
    assert!(!dir.path().join("run.lock").exists());

    // A lock left by a process that is gone.
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    assert!(!lock::alive(dead));
    let holder = lock::Holder {
        pid: dead,
        host: lock::hostname(),
        started: "2026-01-01T00:00:00Z".into(),
    };
    std::fs::write(
        dir.path().join("run.lock"),
        serde_json::to_string(&holder).unwrap(),
    )
    .unwrap();
    train::train(&m, &data, &Options::quiet(dir.path())).unwrap();
    assert!(!dir.path().join("run.lock").exists(), "lock not released");
}
