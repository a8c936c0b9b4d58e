//! MISSION 3.3b "error before fine-tuning": after greedy pre-training the output layer is
//! trained alone on the frozen pre-trained features, and `pretrain_test_error` is the
//! network's test error then.

#[path = "engine_util/mod.rs"]
mod engine_util;

use archc::ir::{Activation, Loss, Pretrain, Target};
use archc::lower::Weights;
use archc::train::{self, checkpoint, Network, Options};
use engine_util::*;
use rand::{Rng, SeedableRng};

/// Example i has class i % k: its prototype (each pixel 0.1 or 0.9) plus uniform noise of
/// ±0.2 per pixel.
fn blobs(d: usize, k: usize, n: [usize; 3], seed: u64) -> archc::data::Dataset {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let protos: Vec<f32> = (0..k * d)
        .map(|_| if rng.gen::<bool>() { 0.9 } else { 0.1 })
        .collect();
    let mut split = |n: usize| {
        let labels: Vec<u8> = (0..n).map(|i| (i % k) as u8).collect();
        let images = labels
            .iter()
            .flat_map(|&c| protos[c as usize * d..(c as usize + 1) * d].to_vec())
            .map(|p| (p + rng.gen_range(-0.2..0.2f32)).clamp(0.0, 1.0))
            .collect();
        archc::data::Examples {
            images,
            labels,
            shape: vec![d],
        }
    };
    let (train, validation, test) = (split(n[0]), split(n[1]), split(n[2]));
    archc::data::Dataset {
        name: archc::ir::DatasetName::Mnist,
        classes: (0..k).map(|c| c.to_string()).collect(),
        train,
        validation,
        test,
        sources: vec![],
        provenance: "synthetic blobs".into(),
    }
}

#[test]
fn error_before_fine_tuning_is_a_trained_read_out_of_frozen_features() {
    // 4 balanced classes (chance error 0.75): noisy copies of 4 prototypes.
    let data = blobs(12, 4, [2000, 200, 400], 11);
    let mut m = model(
        &[12],
        &[
            dense(16, Activation::Sigmoid),
            dense(16, Activation::Sigmoid),
            dense(4, Activation::Softmax),
        ],
        Loss::CrossEntropy,
    );
    m.train.target = Target::Labels;
    m.train.batch = 16;
    m.train.epochs = 1;
    m.train.optimizer = archc::ir::Optimizer::Sgd {
        lr: 0.5,
        momentum: 0.0,
        nesterov: false,
    };
    m.train.pretrain = Some(Pretrain {
        epochs: 10,
        noise: None,
        loss: Loss::BinaryCrossEntropy,
    });
    let dir = tempfile::tempdir().unwrap();
    let metrics = train::train(&m, &data, &Options::quiet(dir.path())).unwrap();
    let before = metrics.pretrain_test_error.expect("recorded");

    // Chance is the majority class's complement.
    let mut counts = [0usize; 4];
    data.test
        .labels
        .iter()
        .for_each(|&l| counts[l as usize] += 1);
    let majority = 1.0 - *counts.iter().max().unwrap() as f64 / data.test.len() as f64;
    assert!(majority >= 0.7, "balanced classes: {counts:?}");
    println!(
        "error before fine-tuning {before}, after 1 epoch of fine-tuning {:?}",
        metrics.epochs[0].test_error
    );
    assert!(
        before < 0.3,
        "read-out test error {before}, chance {majority}"
    );

    // The read-out run trained only the output layer, for the pre-training's epochs.
    let ro = dir.path().join("pretrain_readout");
    let sm: train::Metrics =
        serde_json::from_str(&std::fs::read_to_string(ro.join("metrics.json")).unwrap()).unwrap();
    assert_eq!(sm.epochs.len(), 10);
    assert_eq!(sm.params, Some(16 * 4 + 4));

    // Recompute the error before fine-tuning independently: the pre-trained hidden
    // layers (from the stage runs) and the read-out layer, assembled by hand.
    let mut w = Weights::init(&m, 0);
    for i in [0, 1] {
        let t = checkpoint::load(
            &dir.path()
                .join(format!("pretrain_layer{i}/final.safetensors")),
        )
        .unwrap();
        w.params[i] = [t["layers.0.weight"].clone(), t["layers.0.bias"].clone()].concat();
    }
    // The read-out layer: its best epoch by validation loss.
    let t = checkpoint::load(&ro.join("best.safetensors")).unwrap();
    w.params[2] = [t["layers.0.weight"].clone(), t["layers.0.bias"].clone()].concat();
    let net = Network::new(m.clone(), w);
    let test = &data.test;
    let p = net.predict(&test.images, test.len());
    let wrong = p
        .chunks(4)
        .zip(&test.labels)
        .filter(|(o, &l)| train::argmax(o) != l as usize)
        .count();
    let want = wrong as f64 / test.len() as f64;
    assert!(
        (before - want).abs() < 1e-12,
        "{before} vs recomputed {want}"
    );
    // It is also the read-out run's own test error at its best validation loss.
    let best = sm
        .epochs
        .iter()
        .min_by(|a, b| a.val_loss.unwrap().total_cmp(&b.val_loss.unwrap()))
        .unwrap();
    assert!((best.test_error.unwrap() - want).abs() < 1e-12);

    // Fine-tuning does not start from the read-out: with η = 0 (the read-out has its own
    // optimizer) the network ends with the freshly initialised output layer.
    m.train.optimizer = archc::ir::Optimizer::Sgd {
        lr: 0.0,
        momentum: 0.0,
        nesterov: false,
    };
    let dir2 = tempfile::tempdir().unwrap();
    let m2 = train::train(&m, &data, &Options::quiet(dir2.path())).unwrap();
    // η = 0 also stalls pre-training: the read-out of the untrained hidden layers is worse.
    let untrained = m2.pretrain_test_error.unwrap();
    println!("read-out of untrained hidden layers: test error {untrained}");
    assert!(untrained > before + 0.2, "{untrained} vs {before}");
    let fine = checkpoint::load(&dir2.path().join("final.safetensors")).unwrap();
    let init = Weights::init(&m, m.train.seed);
    assert_eq!(fine["layers.2.weight"], init.params[2][..16 * 4]);
    let ro2 = checkpoint::load(&dir2.path().join("pretrain_readout/best.safetensors")).unwrap();
    assert_ne!(fine["layers.2.weight"], ro2["layers.0.weight"]);
}
