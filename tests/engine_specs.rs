//! Every experiment spec in `specs/` lowers to a training graph, and one step on a
//! tiny random batch runs with consistent shapes and a finite loss.

use archc::ir::{Loss, Target};
use archc::lower::{init_slots, ForwardGraph, TrainGraph, Weights};
use rand::{Rng, SeedableRng};

#[test]
fn every_spec_lowers_and_steps() {
    let mut specs: Vec<_> = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/specs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "arch"))
        .collect();
    specs.sort();
    assert!(!specs.is_empty());
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    for path in specs {
        let spec = archc::ir::load(&path).unwrap();
        for (k, model) in spec.models.iter().enumerate() {
            let opt = model.train.optimizer;
            let mut g = TrainGraph::build(model, Some(&opt))
                .unwrap_or_else(|e| panic!("{}: {e:?}", model.name));
            let f = ForwardGraph::build(model, model.layers.len(), false);
            assert!(f.is_ok(), "{}", model.name);
            // One step for the first model of each spec (the rest differ in numbers).
            if k > 0 {
                continue;
            }
            let n = 2;
            let d: usize = model.input_shape.iter().product();
            let out: usize = model.output_shape().iter().product();
            let x: Vec<f32> = (0..n * d).map(|_| rng.gen()).collect();
            let t: Vec<f32> = match (model.train.target, model.train.loss) {
                (Target::Input, _) => x.clone(),
                (_, Loss::CrossEntropy) => vec![0.0, (out - 1) as f32],
                _ => (0..n * out).map(|_| rng.gen()).collect(),
            };
            let w = Weights::init(model, 1);
            let slots = init_slots(&opt, &w);
            g.set_weights(w, Some(slots));
            let s = g.step(x, t, 1e-3, 0);
            assert!(s.loss.is_finite(), "{}: loss {}", model.name, s.loss);
            assert_eq!(s.output.len(), n * out, "{}", model.name);
        }
    }
}
