//! Inference graphs (`train::Network`) against direct computations with the
//! reference kernels, and greedy pre-training on a synthetic set.

mod engine_util;

use archc::ir::{Activation, LayerKind, Loss, PoolKind, Pretrain, Target};
use archc::kernels::{reference, ConvGeom, PoolGeom};
use archc::lower::Weights;
use archc::train::{self, Network, Options};
use engine_util::*;
use rand::{Rng, SeedableRng};

#[test]
fn layer_outputs_match_reference_kernels() {
    let bn = LayerKind::BatchNorm {
        momentum: 0.9,
        epsilon: 1e-3,
    };
    let m = model(
        &[2, 6, 6],
        &[
            conv(3, 3, 1, 1, Activation::Relu),
            bn,
            pool(PoolKind::Max, 2, 2, 0),
            LayerKind::Dropout { rate: 0.5 },
            dense(4, Activation::Softmax),
        ],
        Loss::CrossEntropy,
    );
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let mut w = Weights::init(&m, 1);
    for v in w.params.iter_mut().chain(w.running.iter_mut()).flatten() {
        *v += rng.gen_range(0.0..0.5);
    }
    let n = 3;
    let x: Vec<f32> = (0..n * 72).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let net = Network::new(m.clone(), w.clone());

    // Conv + ReLU.
    let g = ConvGeom {
        batch: n,
        in_channels: 2,
        in_h: 6,
        in_w: 6,
        out_channels: 3,
        kernel: [3, 3],
        stride: [1, 1],
        padding: [1, 1],
    };
    let nw = 3 * 2 * 9;
    let mut y = vec![0.0; n * 3 * 36];
    reference::conv2d_forward(&g, &x, &w.params[0][..nw], &w.params[0][nw..], &mut y);
    y.iter_mut().for_each(|v| *v = v.max(0.0));
    assert_close(&net.layer_output(0, &x, n), &y);
    // BatchNorm at inference uses the running statistics.
    let (gamma, beta) = w.params[1].split_at(3);
    let (mean, var) = w.running[1].split_at(3);
    for (i, v) in y.iter_mut().enumerate() {
        let c = (i / 36) % 3;
        *v = gamma[c] * (*v - mean[c]) / (var[c] + 1e-3).sqrt() + beta[c];
    }
    assert_close(&net.layer_output(1, &x, n), &y);
    let pg = PoolGeom {
        batch: n,
        channels: 3,
        in_h: 6,
        in_w: 6,
        size: [2, 2],
        stride: [2, 2],
        padding: [0, 0],
    };
    let mut p = vec![0.0; n * 27];
    reference::max_pool_forward(&pg, &y, &mut p);
    assert_close(&net.layer_output(2, &x, n), &p);
    // Dropout is the identity at inference.
    assert_close(&net.layer_output(3, &x, n), &p);
    // Dense + softmax.
    let mut z = vec![0.0; n * 4];
    reference::matmul(
        n,
        27,
        4,
        &p,
        false,
        &w.params[4][..108],
        false,
        &mut z,
        false,
    );
    for r in z.chunks_mut(4) {
        r.iter_mut()
            .zip(&w.params[4][108..])
            .for_each(|(v, b)| *v += b);
        let s: f32 = r.iter().map(|v| v.exp()).sum();
        r.iter_mut().for_each(|v| *v = v.exp() / s);
    }
    assert_close(&net.predict(&x, n), &z);
    // The network keeps its weights across queries.
    assert_eq!(net.weights(), w);
}

fn assert_close(a: &[f32], b: &[f32]) {
    assert_eq!(a.len(), b.len());
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= 1e-4 + 1e-4 * y.abs(), "[{i}] {x} vs {y}");
    }
}

#[test]
fn encode_returns_the_code_layer() {
    let m = {
        let mut m = model(
            &[5],
            &[
                dense(3, Activation::Tanh),
                dense(2, Activation::Linear),
                dense(5, Activation::Sigmoid),
            ],
            Loss::BinaryCrossEntropy,
        );
        m.code_layer = Some(1);
        m
    };
    let w = Weights::init(&m, 2);
    let net = Network::new(m.clone(), w);
    let x: Vec<f32> = (0..10).map(|i| i as f32 / 10.0).collect();
    assert_eq!(net.encode(&x, 2).unwrap(), net.layer_output(1, &x, 2));
    let mut no_code = m;
    no_code.code_layer = None;
    let net = Network::new(no_code.clone(), Weights::init(&no_code, 2));
    assert!(net.encode(&x, 2).is_err());
}

#[test]
fn checkpoint_round_trip_through_network_load() {
    let m = model(
        &[1, 4, 4],
        &[
            conv(2, 3, 1, 1, Activation::Relu),
            LayerKind::BatchNorm {
                momentum: 0.9,
                epsilon: 1e-3,
            },
            dense(3, Activation::Softmax),
        ],
        Loss::CrossEntropy,
    );
    let w = Weights::init(&m, 4);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.safetensors");
    train::checkpoint::save_weights(&path, &m, &w).unwrap();
    let net = Network::load(&m, &path).unwrap();
    assert_eq!(net.weights(), w);
    let names = train::checkpoint::load(&path).unwrap();
    let mut keys: Vec<_> = names.keys().cloned().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "layers.0.bias",
            "layers.0.weight",
            "layers.1.beta",
            "layers.1.gamma",
            "layers.1.running_mean",
            "layers.1.running_var",
            "layers.2.bias",
            "layers.2.weight"
        ]
    );
    // A checkpoint of another model is a clear error, not a panic.
    let other = model(
        &[1, 4, 4],
        &[dense(3, Activation::Softmax)],
        Loss::CrossEntropy,
    );
    let err = Network::load(&other, &path).err().unwrap();
    assert!(format!("{err}").contains("layers.0"), "{err}");
}

#[test]
fn greedy_pretraining_then_fine_tuning() {
    let data = separable(10, 3, [300, 50, 50], 9);
    let mut m = model(
        &[10],
        &[
            dense(8, Activation::Sigmoid),
            dense(6, Activation::Sigmoid),
            dense(3, Activation::Softmax),
        ],
        Loss::CrossEntropy,
    );
    m.train.target = Target::Labels;
    m.train.batch = 16;
    m.train.epochs = 3;
    m.train.pretrain = Some(Pretrain {
        epochs: 2,
        noise: None,
        loss: Loss::BinaryCrossEntropy,
    });
    let dir = tempfile::tempdir().unwrap();
    let metrics = train::train(&m, &data, &Options::quiet(dir.path())).unwrap();
    assert!(metrics.pretrain_test_error.is_some());
    assert_eq!(metrics.epochs.len(), 3);
    // Each hidden layer was trained as an autoencoder whose loss fell.
    for i in [0, 1] {
        let sub = dir.path().join(format!("pretrain_layer{i}"));
        let text = std::fs::read_to_string(sub.join("metrics.json")).unwrap();
        let sm: train::Metrics = serde_json::from_str(&text).unwrap();
        assert_eq!(sm.epochs.len(), 2);
        assert!(
            sm.epochs[1].train_loss.unwrap() < sm.epochs[0].train_loss.unwrap(),
            "layer {i}: {sm:?}"
        );
    }
}
