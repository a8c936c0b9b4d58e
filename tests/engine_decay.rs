//! L2 weight decay: the penalty and its gradient reach the weights of conv and dense
//! layers and nothing else (not biases, not BatchNorm's γ and β), checked against
//! λ·Σw² and 2λ·w computed here from the known `[w; b]` layout.

mod engine_util;

use archc::ir::{Activation, Init, LayerKind, Loss};
use archc::lower::{TrainGraph, Weights};
use engine_util::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Loss and parameter gradients of one gradient-only step.
fn loss_and_grads(
    kinds: &[LayerKind],
    w: &Weights,
    x: &[f32],
    t: &[f32],
) -> (f64, Vec<Option<Vec<f32>>>) {
    let m = model(&[2, 5, 5], kinds, Loss::CrossEntropy);
    let mut g = TrainGraph::build(&m, None).expect("graph");
    g.set_weights(w.clone(), None);
    let loss = g.step(x.to_vec(), t.to_vec(), 0.0, 0).loss as f64;
    let (grads, _) = g.take_grads();
    (loss, grads)
}

#[test]
fn decay_applies_to_conv_and_dense_weights_only() {
    let (lc, ld) = (0.03f32, 0.05f32);
    let with_decay = |lc: f32, ld: f32| {
        vec![
            LayerKind::Conv {
                filters: 3,
                kernel: [3, 3],
                stride: [1, 1],
                padding: [1, 1],
                activation: Activation::Relu,
                init: Init::GlorotUniform,
                weight_decay: lc,
            },
            LayerKind::BatchNorm {
                momentum: 0.9,
                epsilon: 1e-3,
            },
            LayerKind::Dense {
                units: 4,
                activation: Activation::Softmax,
                init: Init::GlorotUniform,
                weight_decay: ld,
            },
        ]
    };
    let decayed = with_decay(lc, ld);
    let plain = with_decay(0.0, 0.0);
    let m = model(&[2, 5, 5], &decayed, Loss::CrossEntropy);
    let mut w = Weights::init(&m, 11);
    // Non-zero biases and BatchNorm parameters, so decaying them would show.
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    for p in &mut w.params {
        for v in p.iter_mut() {
            *v += rng.gen_range(-0.5..0.5);
        }
    }
    let batch = 3;
    let x: Vec<f32> = (0..batch * 50).map(|_| rng.gen_range(0.0..1.0)).collect();
    let t: Vec<f32> = (0..batch).map(|i| (i % 4) as f32).collect();
    let (l1, g1) = loss_and_grads(&decayed, &w, &x, &t);
    let (l0, g0) = loss_and_grads(&plain, &w, &x, &t);

    // Conv weights are the first 3·2·3·3 entries, dense weights the first 75·4.
    let n_weights = [3 * 2 * 9, 0, 75 * 4];
    let lambdas = [lc, 0.0, ld];
    let penalty: f64 = (0..3)
        .map(|i| {
            let s: f64 = w.params[i][..n_weights[i]]
                .iter()
                .map(|v| (*v as f64).powi(2))
                .sum();
            lambdas[i] as f64 * s
        })
        .sum();
    assert!(penalty > 0.01, "penalty {penalty} too small to test");
    assert!(
        ((l1 - l0) - penalty).abs() < 1e-4 * penalty.max(1.0),
        "loss with decay − without = {}, want λ·Σw² = {penalty}",
        l1 - l0
    );
    for i in 0..3 {
        let (a, b) = (g1[i].as_ref().unwrap(), g0[i].as_ref().unwrap());
        for (k, (ga, gb)) in a.iter().zip(b).enumerate() {
            let want = if k < n_weights[i] {
                2.0 * lambdas[i] * w.params[i][k]
            } else {
                0.0
            };
            assert!(
                ((ga - gb) - want).abs() < 1e-5,
                "layer {i} entry {k}: gradient difference {} but 2λw = {want}",
                ga - gb
            );
        }
    }
}
