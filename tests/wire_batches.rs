//! Input noise and augmentation go through the training loop: `train::Batches` builds
//! every batch the loop feeds to the graph; these tests check what it feeds (corrupted
//! inputs, clean targets; reproducible augmentation) and that the loop's reported
//! training loss is the loss on exactly those batches.

#[path = "engine_util/mod.rs"]
mod engine_util;

use archc::data::Examples;
use archc::ir::{Activation, Augment, Loss, Noise, Optimizer};
use archc::lower::Weights;
use archc::train::{self, Batches, Network, Options};
use engine_util::*;

fn dae() -> archc::ir::Model {
    let mut m = model(
        &[16],
        &[
            dense(4, Activation::Sigmoid),
            dense(16, Activation::Sigmoid),
        ],
        Loss::BinaryCrossEntropy,
    );
    m.code_layer = Some(0);
    m.train.noise = Some(Noise::Mask { keep: 0.75 });
    m.train.batch = 8;
    m
}

#[test]
fn masking_noise_corrupts_inputs_and_leaves_targets_clean() {
    let m = dae();
    let data = low_rank_images(16, [300, 0, 0], 4);
    let ex = &data.train;
    let noise = train::input_noise(&m).unwrap();
    let (mut zeros, mut total) = (0usize, 0usize);
    let mut seen = vec![0usize; ex.len()];
    for b in Batches::new(&m, ex, noise, 0) {
        assert!(b.indices.len() <= 8);
        for (r, &i) in b.indices.iter().enumerate() {
            seen[i] += 1;
            let clean = ex.image(i);
            let x = &b.inputs[r * 16..(r + 1) * 16];
            // Targets are the clean inputs.
            assert_eq!(&b.targets[r * 16..(r + 1) * 16], clean);
            for (v, c) in x.iter().zip(clean) {
                assert!(*c > 0.0, "the synthetic pixels are positive");
                // Each pixel is either kept unchanged or zeroed.
                assert!(*v == *c || *v == 0.0, "{v} vs clean {c}");
                zeros += usize::from(*v == 0.0);
            }
            total += 16;
        }
    }
    assert!(seen.iter().all(|&k| k == 1), "each example once per epoch");
    // 4800 Bernoulli(0.25) draws: standard deviation 0.006.
    let frac = zeros as f64 / total as f64;
    assert!(
        (frac - 0.25).abs() < 0.025,
        "zero fraction {frac}, want 1 − keep = 0.25"
    );
    // Same epoch → the same corruption; next epoch → another one.
    let a: Vec<_> = Batches::new(&m, ex, noise, 3).collect();
    let b: Vec<_> = Batches::new(&m, ex, noise, 3).collect();
    let c: Vec<_> = Batches::new(&m, ex, noise, 4).collect();
    assert_eq!(a, b);
    assert_ne!(a[0].inputs, c[0].inputs);
}

/// Mean BCE over every output element, computed here.
fn bce(p: &[f32], t: &[f32]) -> f64 {
    let eps = 1e-7f64;
    p.iter()
        .zip(t)
        .map(|(&p, &t)| {
            let p = (p as f64).clamp(eps, 1.0 - eps);
            -(t as f64 * p.ln() + (1.0 - t as f64) * (1.0 - p).ln())
        })
        .sum::<f64>()
        / p.len() as f64
}

#[test]
fn the_loop_trains_on_the_corrupted_batches() {
    // With lr = 0 the weights stay at their initial values, so the epoch's reported
    // training loss must be the loss of those weights on Batches' (noisy input, clean
    // target) pairs, and not the loss on clean inputs.
    let mut m = dae();
    m.train.optimizer = Optimizer::Sgd {
        lr: 0.0,
        momentum: 0.0,
        nesterov: false,
    };
    let data = low_rank_images(16, [120, 0, 0], 5);
    let dir = tempfile::tempdir().unwrap();
    let mut opts = Options::quiet(dir.path());
    opts.final_outputs = false;
    let metrics = train::train(&m, &data, &opts).unwrap();
    let reported = metrics.epochs[0].train_loss.unwrap();

    let net = Network::new(m.clone(), Weights::init(&m, m.train.seed));
    let noise = train::input_noise(&m).unwrap();
    let (mut noisy, mut clean, mut n) = (0.0f64, 0.0f64, 0usize);
    for b in Batches::new(&m, &data.train, noise, 0) {
        let k = b.indices.len();
        noisy += bce(&net.predict(&b.inputs, k), &b.targets) * k as f64;
        clean += bce(&net.predict(&b.targets, k), &b.targets) * k as f64;
        n += k;
    }
    let (noisy, clean) = (noisy / n as f64, clean / n as f64);
    assert!(
        (reported - noisy).abs() < 1e-4 * noisy,
        "reported {reported}, on the noisy batches {noisy}"
    );
    assert!(
        (reported - clean).abs() > 1e-3 * clean,
        "reported {reported} is the clean-input loss {clean}"
    );
}

#[test]
fn augmentation_changes_inputs_reproducibly() {
    // A classifier on 1×8×8 images with shifts and flips.
    let mut m = model(
        &[1, 8, 8],
        &[dense(10, Activation::Softmax)],
        Loss::CrossEntropy,
    );
    m.train.batch = 5;
    m.train.augment = Some(Augment {
        shift: 0.25,
        hflip: true,
        vflip: false,
        rotate: 0.0,
    });
    let sep = separable(64, 10, [40, 0, 0], 2);
    let ex = Examples {
        shape: vec![1, 8, 8],
        ..sep.train
    };
    let epoch = |e: usize| -> Vec<train::Batch> { Batches::new(&m, &ex, None, e).collect() };
    let (a, b, c) = (epoch(0), epoch(0), epoch(1));
    assert_eq!(a, b, "same seed and epoch: same batches");
    // Per example: the augmented image, by epoch.
    let by_example = |bs: &[train::Batch]| {
        let mut v = vec![Vec::new(); ex.len()];
        for b in bs {
            for (r, &i) in b.indices.iter().enumerate() {
                v[i] = b.inputs[r * 64..(r + 1) * 64].to_vec();
                // Targets are the labels, untouched by augmentation.
                assert_eq!(b.targets[r], ex.labels[i] as f32);
            }
        }
        v
    };
    let (xa, xc) = (by_example(&a), by_example(&c));
    let changed = (0..ex.len()).filter(|&i| xa[i] != ex.image(i)).count();
    let differ = (0..ex.len()).filter(|&i| xa[i] != xc[i]).count();
    // Identity needs no shift in either axis and no flip: (1/5)·(1/5)·(1/2) per image
    // (shift ∈ {−2, …, 2} pixels), so nearly all of the 40 change.
    assert!(
        changed >= 30,
        "{changed} of 40 images changed by augmentation"
    );
    assert!(
        differ >= 30,
        "{differ} of 40 images augmented differently in epoch 2"
    );
    // Without augmentation the loop feeds the images unchanged.
    let mut plain = m.clone();
    plain.train.augment = None;
    for b in Batches::new(&plain, &ex, None, 0) {
        for (r, &i) in b.indices.iter().enumerate() {
            assert_eq!(&b.inputs[r * 64..(r + 1) * 64], ex.image(i));
        }
    }
}
