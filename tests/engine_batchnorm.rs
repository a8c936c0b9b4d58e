//! BatchNorm in training: the batch statistics it normalises with and the running mean and
//! variance it carries from step to step, against a naive f64 computation; inference then
//! uses the running statistics the training steps produced.

mod engine_util;

use archc::ir::{Activation, LayerKind, Loss};
use archc::lower::{init_slots, TrainGraph, Weights};
use archc::train::Network;
use engine_util::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const MOMENTUM: f32 = 0.8;
const EPS: f32 = 1e-3;

/// Per-channel mean and biased variance of `x` `[n, c, spatial]`, in f64.
fn stats(x: &[f32], c: usize, spatial: usize) -> (Vec<f64>, Vec<f64>, usize) {
    let n = x.len() / (c * spatial);
    let m = n * spatial;
    let values = |ch: usize| {
        (0..n).flat_map(move |i| (0..spatial).map(move |s| x[(i * c + ch) * spatial + s] as f64))
    };
    let mean: Vec<f64> = (0..c)
        .map(|ch| values(ch).sum::<f64>() / m as f64)
        .collect();
    let var: Vec<f64> = (0..c)
        .map(|ch| values(ch).map(|v| (v - mean[ch]).powi(2)).sum::<f64>() / m as f64)
        .collect();
    (mean, var, m)
}

/// γ·(x − mean)/√(var + ε) + β per channel.
fn normalise(
    x: &[f32],
    c: usize,
    spatial: usize,
    gb: &[f32],
    mean: &[f64],
    var: &[f64],
) -> Vec<f64> {
    x.iter()
        .enumerate()
        .map(|(i, &v)| {
            let ch = (i / spatial) % c;
            gb[ch] as f64 * (v as f64 - mean[ch]) / (var[ch] + EPS as f64).sqrt()
                + gb[c + ch] as f64
        })
        .collect()
}

fn assert_close(got: &[f32], want: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g as f64 - w).abs() <= tol * (1.0 + w.abs()),
            "{what}[{i}]: {g} vs {w}"
        );
    }
}

/// BatchNorm then a linear dense layer (MSE), so the step's output is a plain function of
/// the normalised batch.
fn check(input: &[usize], n: usize) {
    let c = input[0];
    let spatial: usize = input[1..].iter().product();
    let d = c * spatial;
    let units = 3;
    let m = model(
        input,
        &[
            LayerKind::BatchNorm {
                momentum: MOMENTUM,
                epsilon: EPS,
            },
            dense(units, Activation::Linear),
        ],
        Loss::MeanSquaredError,
    );
    let mut rng = ChaCha8Rng::seed_from_u64(17);
    let mut w = Weights::init(&m, 2);
    // Non-default γ, β and running statistics, so each term of the update shows.
    for v in w.params[0].iter_mut() {
        *v = rng.gen_range(0.5..1.5);
    }
    for (i, v) in w.running[0].iter_mut().enumerate() {
        *v = if i < c {
            rng.gen_range(-1.0..1.0)
        } else {
            rng.gen_range(0.5..2.0)
        };
    }
    let opt = m.train.optimizer;
    let mut g = TrainGraph::build(&m, Some(&opt)).unwrap();
    g.set_weights(w.clone(), Some(init_slots(&opt, &w)));
    let mut running: Vec<f64> = w.running[0].iter().map(|&v| v as f64).collect();
    let mut last_x = Vec::new();
    for step in 0..3u64 {
        // Channels with different means and spreads.
        let x: Vec<f32> = (0..n * d)
            .map(|i| {
                let ch = (i / spatial) % c;
                ch as f32 * 0.7 - 0.5 + (1.0 + ch as f32) * rng.gen_range(-1.0f32..1.0)
            })
            .collect();
        let t: Vec<f32> = (0..n * units).map(|_| rng.gen_range(0.0..1.0)).collect();
        // The step's output uses the weights before its update.
        let (before, slots) = g.take_weights();
        g.set_weights(before.clone(), Some(slots));
        let out = g.step(x.clone(), t, 0.05, step).output;

        let (mean, var, count) = stats(&x, c, spatial);
        let y = normalise(&x, c, spatial, &before.params[0], &mean, &var);
        let dense_w = &before.params[1];
        let want: Vec<f64> = (0..n)
            .flat_map(|i| {
                let y = &y[i * d..(i + 1) * d];
                (0..units).map(move |u| {
                    (0..d)
                        .map(|k| y[k] * dense_w[k * units + u] as f64)
                        .sum::<f64>()
                        + dense_w[d * units + u] as f64
                })
            })
            .collect();
        assert_close(&out, &want, 1e-4, &format!("step {step} output"));

        // Running statistics: momentum·old + (1 − momentum)·batch, the batch variance
        // with Bessel's correction (Keras's moving variance).
        let mo = MOMENTUM as f64;
        for ch in 0..c {
            running[ch] = mo * running[ch] + (1.0 - mo) * mean[ch];
            let unbiased = var[ch] * count as f64 / (count - 1) as f64;
            running[c + ch] = mo * running[c + ch] + (1.0 - mo) * unbiased;
        }
        let (after, slots) = g.take_weights();
        assert_close(
            &after.running[0],
            &running,
            1e-5,
            &format!("step {step} running"),
        );
        g.set_weights(after, Some(slots));
        last_x = x;
    }

    // Inference normalises with the running statistics the steps left behind.
    let (trained, _) = g.take_weights();
    let (mean, var) = running.split_at(c);
    let want = normalise(&last_x, c, spatial, &trained.params[0], mean, var);
    let net = Network::new(m, trained);
    assert_close(&net.layer_output(0, &last_x, n), &want, 1e-4, "inference");
}

#[test]
fn batchnorm_running_statistics_on_images() {
    check(&[3, 4, 5], 6);
}

#[test]
fn batchnorm_running_statistics_on_flat_features() {
    check(&[5], 7);
}
