//! MISSION 3.3b "error before fine-tuning": after greedy pre-training the output layer is
//! trained alone on the frozen pre-trained features, and `pretrain_test_error` is the
//! network's test error then.

#[path = "engine_util/mod.rs"]
mod engine_util;

use archc::ir::{Activation, Loss, Pretrain, Target};
use archc::lower::Weights;
use archc::train::{self, checkpoint, Network, Options};
use engine_util::*;

#[test]
fn error_before_fine_tuning_is_a_trained_read_out_of_frozen_features() {
    // 4 classes (chance error 0.75), linearly separable from the inputs.
    let data = separable(12, 4, [600, 100, 300], 11);
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
        epochs: 5,
        noise: None,
        loss: Loss::BinaryCrossEntropy,
    });
    let dir = tempfile::tempdir().unwrap();
    let metrics = train::train(&m, &data, &Options::quiet(dir.path())).unwrap();
    let before = metrics.pretrain_test_error.expect("recorded");
    println!(
        "error before fine-tuning {before}, after 1 epoch of fine-tuning {:?}",
        metrics.epochs[0].test_error
    );
    assert!(before < 0.5, "read-out test error {before}, chance is 0.75");

    // The read-out run trained only the output layer, for the pre-training's epochs.
    let ro = dir.path().join("pretrain_readout");
    let sm: train::Metrics =
        serde_json::from_str(&std::fs::read_to_string(ro.join("metrics.json")).unwrap()).unwrap();
    assert_eq!(sm.epochs.len(), 5);
    assert_eq!(sm.params, 16 * 4 + 4);

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
    let t = checkpoint::load(&ro.join("final.safetensors")).unwrap();
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
    // It is also the read-out run's own last test error.
    assert!((sm.epochs[4].test_error.unwrap() - want).abs() < 1e-12);
}
