//! Times one training step (forward + backward + update, one luminal `execute()`) at
//! batch 128 (or the given batch) for the 784×1000×1000×10 sigmoid MLP and the 1b CIFAR net.
//! Run by hand: `cargo run --release --example engine_step_time [steps] [batch]`.

use std::time::Instant;

use archc::lower::{init_slots, TrainGraph, Weights};
use rand::{Rng, SeedableRng};

const MLP: &str = "net = F1000[sigmoid] × F1000[sigmoid] × F10[softmax]
train {
  dataset mnist split=55000/5000
  loss cross_entropy
  optimizer sgd lr=0.1
  epochs 1
  batch 128
  seed 1
}";

const CIFAR: &str = "defaults C[3x3 same relu] F[relu]
net = C64 × P2 × C64 × P2 × F512 × F10[softmax]
train {
  dataset cifar10 split=45000/5000
  loss cross_entropy
  optimizer sgd lr=1e-3
  epochs 1
  batch 128
  seed 1
}";

fn main() -> miette::Result<()> {
    let steps: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let batch: usize = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(128);
    for (name, src) in [
        ("mlp 784x1000x1000x10 sigmoid", MLP),
        ("cifar 1b C64 P2 C64 P2 F512 F10", CIFAR),
    ] {
        let spec = archc::ir::compile("bench", src)?;
        let model = &spec.models[0];
        let d: usize = model.input_shape.iter().product();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let x: Vec<f32> = (0..batch * d).map(|_| rng.gen()).collect();
        let t: Vec<f32> = (0..batch).map(|_| rng.gen_range(0..10) as f32).collect();
        let (x, t) = (x, t);
        let w = Weights::init(model, 1);
        let mut g = TrainGraph::build(model, Some(&model.train.optimizer))?;
        let slots = init_slots(&model.train.optimizer, &w);
        g.set_weights(w, Some(slots));
        let mut times = Vec::new();
        archc::lower::ops::enable_profile(true);
        for it in 0..steps + 1 {
            let start = Instant::now();
            let s = g.step(x.clone(), t.clone(), 0.01, it as u64);
            times.push(start.elapsed().as_secs_f64());
            if it == 0 {
                archc::lower::ops::take_profile();
            }
            assert!(s.loss.is_finite());
        }
        // The first step allocates and warms caches: report the rest.
        let rest = &times[1..];
        let mean = rest.iter().sum::<f64>() / rest.len() as f64;
        let min = rest.iter().cloned().fold(f64::INFINITY, f64::min);
        let flops = 6.0 * model.total_mult_adds() as f64 * batch as f64;
        println!(
            "{name}: batch {batch}, {} steps: mean {:.1} ms, min {:.1} ms ({:.1} GFLOP/s at 3×2×mult-adds)",
            rest.len(),
            mean * 1e3,
            min * 1e3,
            flops / min / 1e9
        );
        for (op, secs, calls) in archc::lower::ops::take_profile() {
            println!(
                "    {op:<22} {:>8.2} ms/step ({} calls/step)",
                secs * 1e3 / rest.len() as f64,
                calls / rest.len()
            );
        }
    }
    Ok(())
}
