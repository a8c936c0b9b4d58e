//! End-to-end training through luminal graphs: loss falls, autoencoders learn,
//! resume reproduces an uninterrupted run, divergence stops cleanly.

mod engine_util;

use archc::ir::{Activation, LayerKind, Loss, Optimizer, Schedule, Target};
use archc::train::{self, Metrics, Network, Options};
use engine_util::*;

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[test]
fn mlp_learns_a_separable_problem() {
    let data = separable(8, 3, [600, 100, 100], 1);
    let mut m = model(
        &[8],
        &[
            dense(16, Activation::Sigmoid),
            dense(3, Activation::Softmax),
        ],
        Loss::CrossEntropy,
    );
    m.train.optimizer = Optimizer::Sgd {
        lr: 0.5,
        momentum: 0.9,
        nesterov: false,
    };
    m.train.batch = 32;
    m.train.epochs = 8;
    let dir = tmp();
    let metrics = train::train(&m, &data, &Options::quiet(dir.path())).unwrap();
    let first = metrics.epochs[0].train_loss.unwrap();
    let last_loss = metrics.epochs.last().unwrap().train_loss.unwrap();
    let last = metrics.epochs.last().unwrap();
    assert!(last_loss < 0.5 * first, "loss {first} → {last_loss}");
    // Chance is 2/3 error; a separable problem should be nearly solved.
    assert!(last.test_error.unwrap() < 0.15, "{metrics:#?}");
    // The run directory has what the brief lists.
    for f in [
        "metrics.json",
        "final.safetensors",
        "best.safetensors",
        "state.json",
        "state.safetensors",
        "predictions.json",
    ] {
        assert!(dir.path().join(f).exists(), "{f} missing");
    }
    let json: Metrics =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("metrics.json")).unwrap())
            .unwrap();
    assert_eq!(json, metrics);
    assert_eq!(json.params, Some(8 * 16 + 16 + 16 * 3 + 3));
    // predictions.json agrees with the network loaded from the final checkpoint.
    let net = Network::load(&m, &dir.path().join("final.safetensors")).unwrap();
    let probs = net.predict(&data.test.images, data.test.len());
    let preds: Vec<usize> = probs.chunks(3).map(train::argmax).collect();
    let p: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("predictions.json")).unwrap(),
    )
    .unwrap();
    let file_preds: Vec<usize> = serde_json::from_value(p["predictions"].clone()).unwrap();
    assert_eq!(file_preds, preds);
    let wrong = preds
        .iter()
        .zip(&data.test.labels)
        .filter(|(p, l)| **p != **l as usize)
        .count();
    assert!((wrong as f64 / 100.0 - last.test_error.unwrap()).abs() < 1e-9);
    for row in probs.chunks(3) {
        assert!(
            (row.iter().sum::<f32>() - 1.0).abs() < 1e-5,
            "softmax rows sum to 1"
        );
    }
}

#[test]
fn autoencoder_reconstruction_error_falls() {
    let data = low_rank_images(12, [400, 50, 50], 2);
    let mut m = model(
        &[12],
        &[
            dense(8, Activation::Tanh),
            dense(2, Activation::Linear),
            dense(8, Activation::Tanh),
            dense(12, Activation::Sigmoid),
        ],
        Loss::BinaryCrossEntropy,
    );
    m.code_layer = Some(1);
    m.train.target = Target::Input;
    m.train.optimizer = Optimizer::Adam {
        lr: 0.01,
        beta1: 0.9,
        beta2: 0.999,
        epsilon: 1e-7,
    };
    m.train.batch = 16;
    m.train.epochs = 10;
    let dir = tmp();
    let metrics = train::train(&m, &data, &Options::quiet(dir.path())).unwrap();
    let (first, last) = (&metrics.epochs[0], metrics.epochs.last().unwrap());
    assert!(last.test_error.is_none());
    // BCE against soft targets has a floor (the targets' entropy); compare above it.
    let floor: f64 = data
        .test
        .images
        .iter()
        .map(|&t| {
            let t = t as f64;
            -(t * t.ln() + (1.0 - t) * (1.0 - t).ln())
        })
        .sum::<f64>()
        / data.test.images.len() as f64;
    let (a, b) = (
        first.test_loss.unwrap() - floor,
        last.test_loss.unwrap() - floor,
    );
    assert!(b < 0.5 * a, "excess test loss {a} → {b} (floor {floor})");
    let codes = archc::train::checkpoint::load(&dir.path().join("codes.safetensors")).unwrap();
    assert_eq!(codes["test.codes"].len(), 50 * 2);
    assert_eq!(codes["train.codes"].len(), 400 * 2);
    let rec =
        archc::train::checkpoint::load(&dir.path().join("reconstructions.safetensors")).unwrap();
    assert_eq!(rec["test.inputs"], data.test.images[..32 * 12].to_vec());
    assert_eq!(rec["test.outputs"].len(), 32 * 12);
}

#[test]
fn resume_matches_an_uninterrupted_run() {
    let data = separable(6, 3, [200, 40, 40], 3);
    let mut m = model(
        &[6],
        &[
            dense(10, Activation::Relu),
            LayerKind::Dropout { rate: 0.3 },
            LayerKind::BatchNorm {
                momentum: 0.9,
                epsilon: 1e-3,
            },
            dense(3, Activation::Softmax),
        ],
        Loss::CrossEntropy,
    );
    m.train.optimizer = Optimizer::Adam {
        lr: 0.01,
        beta1: 0.9,
        beta2: 0.999,
        epsilon: 1e-7,
    };
    m.train.schedule = Schedule::Step {
        factor: 0.5,
        every: 1,
        floor: 1e-5,
    };
    m.train.batch = 16;
    m.train.epochs = 2;
    let (a, b) = (tmp(), tmp());
    let straight = train::train(&m, &data, &Options::quiet(a.path())).unwrap();
    let mut first = Options::quiet(b.path());
    first.epochs = Some(1);
    let part = train::train(&m, &data, &first).unwrap();
    // As if killed right after the resume file was committed: the JSON copies are
    // not needed.
    std::fs::remove_file(b.path().join("metrics.json")).unwrap();
    std::fs::remove_file(b.path().join("state.json")).unwrap();
    let mut again = Options::quiet(b.path());
    again.resume = true;
    let resumed = train::train(&m, &data, &again).unwrap();
    // Epoch 1 came from the checkpoint, not from retraining (its timing is carried over).
    assert_eq!(resumed.epochs[0].seconds, part.epochs[0].seconds);
    assert_eq!(straight.epochs.len(), 2);
    assert_eq!(resumed.epochs.len(), 2);
    for (x, y) in straight.epochs.iter().zip(&resumed.epochs) {
        let strip = |e: &train::EpochMetrics| train::EpochMetrics {
            seconds: None,
            ..e.clone()
        };
        assert_eq!(strip(x), strip(y));
    }
    assert_eq!(straight.epochs[1].lr, Some(0.005));
    let wa = std::fs::read(a.path().join("final.safetensors")).unwrap();
    let wb = std::fs::read(b.path().join("final.safetensors")).unwrap();
    assert!(wa == wb, "final weights differ after resume");
}

#[test]
fn same_seed_same_numbers_different_seed_different() {
    let data = separable(6, 3, [100, 20, 20], 4);
    let mut m = model(
        &[6],
        &[dense(8, Activation::Tanh), dense(3, Activation::Softmax)],
        Loss::CrossEntropy,
    );
    m.train.epochs = 1;
    let run = |m: &archc::ir::Model| {
        let d = tmp();
        train::train(m, &data, &Options::quiet(d.path()))
            .unwrap()
            .epochs[0]
            .train_loss
            .unwrap()
    };
    assert_eq!(run(&m), run(&m));
    let mut m2 = m.clone();
    m2.train.seed = 8;
    assert_ne!(run(&m), run(&m2));
}

#[test]
fn divergence_stops_with_a_clear_error() {
    let data = low_rank_images(6, [64, 8, 8], 5);
    let mut m = model(
        &[6],
        &[dense(6, Activation::Linear), dense(6, Activation::Linear)],
        Loss::MeanSquaredError,
    );
    m.train.target = Target::Input;
    m.train.optimizer = Optimizer::Sgd {
        lr: 1e4,
        momentum: 0.0,
        nesterov: false,
    };
    m.train.epochs = 3;
    let dir = tmp();
    let err = train::train(&m, &data, &Options::quiet(dir.path())).unwrap_err();
    assert!(format!("{err}").contains("loss became"), "{err}");
}

#[test]
fn step_and_cosine_schedules() {
    let step = Schedule::Step {
        factor: 0.5,
        every: 10,
        floor: 1e-5,
    };
    assert_eq!(train::schedule_lr(0.1, &step, 9, 100), 0.1);
    assert_eq!(train::schedule_lr(0.1, &step, 10, 100), 0.05);
    assert_eq!(train::schedule_lr(0.1, &step, 25, 100), 0.025);
    assert_eq!(train::schedule_lr(1e-3, &step, 99, 100), 1e-5);
    let cos = Schedule::Cosine { min: 0.0 };
    assert_eq!(train::schedule_lr(0.1, &cos, 0, 5), 0.1);
    assert!((train::schedule_lr(0.1, &cos, 2, 5) - 0.05).abs() < 1e-7);
    assert!(train::schedule_lr(0.1, &cos, 4, 5).abs() < 1e-7);
}

#[test]
fn mismatched_data_is_an_error_not_a_panic() {
    let data = separable(6, 3, [20, 4, 4], 6);
    let m = model(&[7], &[dense(3, Activation::Softmax)], Loss::CrossEntropy);
    let dir = tmp();
    let err = train::train(&m, &data, &Options::quiet(dir.path())).unwrap_err();
    assert!(format!("{err}").contains("takes inputs"), "{err}");
    let m = model(&[6], &[dense(2, Activation::Softmax)], Loss::CrossEntropy);
    let err = train::train(&m, &data, &Options::quiet(dir.path())).unwrap_err();
    assert!(format!("{err}").contains("label 2"), "{err}");
}
