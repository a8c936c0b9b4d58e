//! The buffer pool (`archc::lower::buffers`) recycles the big activation buffers across
//! training steps, and training is bit-identical with it off: every op that takes a
//! pooled buffer (holding the previous step's values) must overwrite all of it.
//! One test only: the pool is process-wide state.

use archc::lower::buffers;
use archc::lower::{init_slots, TrainGraph, Weights};
use rand::{Rng, SeedableRng};

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Losses, outputs and final weights (as bits) of `steps` steps, and the pool's
/// (hits, misses) during each step.
#[allow(clippy::type_complexity)]
fn train(src: &str, steps: usize, batch: usize) -> (Vec<Vec<u32>>, Vec<(usize, usize)>) {
    let spec = archc::ir::compile("t", src).expect("spec compiles");
    let model = &spec.models[0];
    let opt = model.train.optimizer;
    let w = Weights::init(model, 11);
    let mut g = TrainGraph::build(model, Some(&opt)).unwrap();
    g.set_weights(w.clone(), Some(init_slots(&opt, &w)));
    let d: usize = model.input_shape.iter().product();
    let classes: usize = model.output_shape().iter().product();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    let (mut res, mut per_step) = (Vec::new(), Vec::new());
    for it in 0..steps {
        let x: Vec<f32> = (0..batch * d).map(|_| rng.gen::<f32>() - 0.3).collect();
        let t: Vec<f32> = if model.train.target == archc::ir::Target::Input {
            x.iter().map(|v| v.clamp(0.0, 1.0)).collect()
        } else {
            (0..batch)
                .map(|_| rng.gen_range(0..classes) as f32)
                .collect()
        };
        let before = buffers::stats();
        let s = g.step(x, t, 0.05, it as u64);
        let after = buffers::stats();
        per_step.push((after.0 - before.0, after.1 - before.1));
        res.push(bits(&[s.loss]));
        res.push(bits(&s.output));
    }
    let (wa, _) = g.take_weights();
    assert!(wa.params.iter().zip(&w.params).any(|(a, b)| a != b));
    res.extend(wa.params.iter().map(|p| bits(p)));
    (res, per_step)
}

/// Trains `src` with the pool off and on: bit-identical results, and every step after
/// the first takes all its big buffers from the pool.
fn check(src: &str, batch: usize) {
    let steps = 4;
    buffers::set_enabled(false);
    let (off, off_stats) = train(src, steps, batch);
    assert!(off_stats.iter().all(|&s| s == (0, 0)), "{off_stats:?}");
    buffers::set_enabled(true);
    let (on, on_stats) = train(src, steps, batch);
    eprintln!("pool (hits, misses) per step: {on_stats:?}");
    assert_eq!(off.len(), on.len());
    for (i, (a, b)) in off.iter().zip(&on).enumerate() {
        assert!(a == b, "result {i} differs with the buffer pool on");
    }
    let (hits0, misses0) = on_stats[0];
    assert!(misses0 > 0, "{on_stats:?}");
    for &(hits, misses) in &on_stats[1..] {
        assert_eq!((hits, misses), (hits0 + misses0, 0), "{on_stats:?}");
    }
}

#[test]
fn pool_recycles_buffers_and_changes_no_bit() {
    // Conv outputs of 8 × (16 or 8) × 32 × 32 floats are at or above the pooling
    // threshold; the 16 → 16 conv runs by Winograd, the 16 → 8 one by im2col, stacked
    // convs pass their gradients through ReLU and conv input gradients.
    check(
        "defaults C[3x3 same relu] F[relu]
net = C16 × C16 × C8 × P2 × D0.25 × F12 × F10[softmax]
train {
  dataset cifar10
  loss cross_entropy
  optimizer adam lr=1e-2
  batch 8
}",
        8,
    );
    // Batch 32 of 1 × 28 × 28: the first conv + pool runs fused (pooled values, winner
    // codes and their gradient are pooled buffers), the decoder upsamples.
    check(
        "input 1x28x28
defaults C[3x3 same relu]
encoder = C16 × P2 × C8 × P2
decoder = C8 × U2 × C16 × U2 × C1[sigmoid]
train {
  dataset mnist
  loss binary_cross_entropy
  optimizer adam lr=1e-3
  batch 32
}",
        32,
    );
}
