//! Builds `ir::Model` values by hand for the engine tests (shape rules inlined here so
//! the tests do not depend on the front end).
#![allow(dead_code)]

use archc::ir::*;

pub fn out_shape(kind: &LayerKind, s: &[usize]) -> Vec<usize> {
    let win = |n: usize, k: usize, st: usize, p: usize| (n + 2 * p - k) / st + 1;
    match *kind {
        LayerKind::Conv {
            filters,
            kernel,
            stride,
            padding,
            ..
        } => vec![
            filters,
            win(s[1], kernel[0], stride[0], padding[0]),
            win(s[2], kernel[1], stride[1], padding[1]),
        ],
        LayerKind::Pool {
            size,
            stride,
            padding,
            ..
        } => vec![
            s[0],
            win(s[1], size[0], stride[0], padding[0]),
            win(s[2], size[1], stride[1], padding[1]),
        ],
        LayerKind::Dense { units, .. } => vec![units],
        LayerKind::Upsample { factor } => vec![s[0], s[1] * factor[0], s[2] * factor[1]],
        _ => s.to_vec(),
    }
}

pub fn train_config(loss: Loss, target: Target) -> TrainConfig {
    TrainConfig {
        dataset: DatasetName::Mnist,
        split: Split {
            train: 0,
            validation: 0,
        },
        target,
        loss,
        optimizer: Optimizer::Sgd {
            lr: 0.1,
            momentum: 0.0,
            nesterov: false,
        },
        schedule: Schedule::Constant,
        epochs: 1,
        batch: 4,
        seed: 7,
        augment: None,
        noise: None,
        pretrain: None,
    }
}

/// A model from layer kinds, with shapes and parameter counts filled in.
pub fn model(input: &[usize], kinds: &[LayerKind], loss: Loss) -> Model {
    let mut shape = input.to_vec();
    let mut layers = Vec::new();
    for k in kinds {
        let out = out_shape(k, &shape);
        let params = archc::lower::param_split(k, &shape)
            .map(|(w, b)| w + b)
            .unwrap_or(0);
        layers.push(Layer {
            kind: *k,
            notation: format!("{k:?}"),
            span: (0, 0).into(),
            label: None,
            input_shape: shape.clone(),
            output_shape: out.clone(),
            params,
            mult_adds: 0,
        });
        shape = out;
    }
    let target = if loss == Loss::CrossEntropy {
        Target::Labels
    } else {
        Target::Input
    };
    Model {
        name: "test".into(),
        sweep_point: vec![],
        input_shape: input.to_vec(),
        layers,
        code_layer: None,
        train: train_config(loss, target),
    }
}

pub fn dense(units: usize, activation: Activation) -> LayerKind {
    LayerKind::Dense {
        units,
        activation,
        init: Init::GlorotUniform,
        weight_decay: 0.0,
    }
}

pub fn conv(
    filters: usize,
    k: usize,
    stride: usize,
    pad: usize,
    activation: Activation,
) -> LayerKind {
    LayerKind::Conv {
        filters,
        kernel: [k, k],
        stride: [stride, stride],
        padding: [pad, pad],
        activation,
        init: Init::GlorotUniform,
        weight_decay: 0.0,
    }
}

pub fn pool(kind: PoolKind, size: usize, stride: usize, pad: usize) -> LayerKind {
    LayerKind::Pool {
        kind,
        size: [size, size],
        stride: [stride, stride],
        padding: [pad, pad],
    }
}

use archc::data::{Dataset, Examples};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A linearly separable synthetic classification set: x ∈ [0,1]^d, label = argmax of
/// `classes` fixed random projections.
pub fn separable(d: usize, classes: usize, n: [usize; 3], seed: u64) -> Dataset {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let proj: Vec<f32> = (0..d * classes).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let mut split = |n: usize| {
        let images: Vec<f32> = (0..n * d).map(|_| rng.gen_range(0.0..1.0)).collect();
        let labels = images
            .chunks(d)
            .map(|x| {
                let s: Vec<f32> = (0..classes)
                    .map(|c| (0..d).map(|j| x[j] * proj[c * d + j]).sum())
                    .collect();
                archc::train::argmax(&s) as u8
            })
            .collect();
        Examples {
            images,
            labels,
            shape: vec![d],
        }
    };
    let (train, validation, test) = (split(n[0]), split(n[1]), split(n[2]));
    Dataset {
        name: DatasetName::Mnist,
        classes: (0..classes).map(|c| c.to_string()).collect(),
        train,
        validation,
        test,
        sources: vec![],
        provenance: "synthetic separable".into(),
    }
}

/// Images in [0, 1] generated from a 2-D latent: easy to auto-encode through 2 units.
pub fn low_rank_images(d: usize, n: [usize; 3], seed: u64) -> Dataset {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let basis: Vec<f32> = (0..2 * d).map(|_| rng.gen_range(-2.0..2.0)).collect();
    let mut split = |n: usize| {
        let mut images = Vec::with_capacity(n * d);
        let mut labels = Vec::with_capacity(n);
        for _ in 0..n {
            let z: [f32; 2] = [rng.gen_range(-1.0..1.0), rng.gen_range(-1.0..1.0)];
            for j in 0..d {
                let v = z[0] * basis[j] + z[1] * basis[d + j];
                images.push(1.0 / (1.0 + (-v).exp()));
            }
            labels.push(u8::from(z[0] > 0.0));
        }
        Examples {
            images,
            labels,
            shape: vec![d],
        }
    };
    let (train, validation, test) = (split(n[0]), split(n[1]), split(n[2]));
    Dataset {
        name: DatasetName::Mnist,
        classes: vec!["neg".into(), "pos".into()],
        train,
        validation,
        test,
        sources: vec![],
        provenance: "synthetic low-rank".into(),
    }
}
