//! Each optimizer's first steps, run as luminal update nodes, against the Keras 2
//! update rules written out here on scalars.

mod engine_util;

use archc::ir::{Activation, Loss, Optimizer};
use archc::lower::{TrainGraph, Weights};
use engine_util::*;

/// Model: y = w₁x₁ + w₂x₂ + b, loss (y − t)², one example per step.
/// Returns the parameters `[w₁, w₂, b]` after each of the steps.
fn run_graph(opt: Optimizer, lr: f32, steps: &[([f32; 2], f32)]) -> Vec<Vec<f32>> {
    let m = model(
        &[2],
        &[dense(1, Activation::Linear)],
        Loss::MeanSquaredError,
    );
    let mut g = TrainGraph::build(&m, Some(&opt)).unwrap();
    let w = Weights {
        params: vec![vec![0.5, -0.3, 0.1]],
        running: vec![vec![]],
    };
    let slots = archc::lower::init_slots(&opt, &w);
    g.set_weights(w, Some(slots));
    let mut out = Vec::new();
    for (it, (x, t)) in steps.iter().enumerate() {
        g.step(x.to_vec(), vec![*t], lr, it as u64);
        let (w, s) = g.take_weights();
        out.push(w.params[0].clone());
        g.set_weights(w, Some(s));
    }
    out
}

/// The same updates on scalars (f64), per keras/optimizers.py (Keras 2.x).
fn run_scalar(opt: Optimizer, lr: f64, steps: &[([f32; 2], f32)]) -> Vec<Vec<f32>> {
    let mut p = [0.5f64, -0.3, 0.1];
    let mut s1 = [0.0f64; 3];
    let mut s2 = [0.0f64; 3];
    let mut out = Vec::new();
    for (it, (x, t)) in steps.iter().enumerate() {
        let y = p[0] * x[0] as f64 + p[1] * x[1] as f64 + p[2];
        let e = 2.0 * (y - *t as f64);
        let g = [e * x[0] as f64, e * x[1] as f64, e];
        for k in 0..3 {
            match opt {
                Optimizer::Sgd {
                    momentum, nesterov, ..
                } => {
                    let mu = momentum as f64;
                    let v = mu * s1[k] - lr * g[k];
                    s1[k] = v;
                    p[k] += if nesterov { mu * v - lr * g[k] } else { v };
                }
                Optimizer::RmsProp {
                    rho,
                    epsilon,
                    decay,
                    ..
                } => {
                    let lr_t = lr / (1.0 + decay as f64 * it as f64);
                    s1[k] = rho as f64 * s1[k] + (1.0 - rho as f64) * g[k] * g[k];
                    p[k] -= lr_t * g[k] / (s1[k].sqrt() + epsilon as f64);
                }
                Optimizer::Adagrad { epsilon, .. } => {
                    s1[k] += g[k] * g[k];
                    p[k] -= lr * g[k] / (s1[k].sqrt() + epsilon as f64);
                }
                Optimizer::Adadelta { rho, epsilon, .. } => {
                    let (rho, eps) = (rho as f64, epsilon as f64);
                    s1[k] = rho * s1[k] + (1.0 - rho) * g[k] * g[k];
                    let upd = g[k] * (s2[k] + eps).sqrt() / (s1[k] + eps).sqrt();
                    p[k] -= lr * upd;
                    s2[k] = rho * s2[k] + (1.0 - rho) * upd * upd;
                }
                Optimizer::Adam {
                    beta1,
                    beta2,
                    epsilon,
                    ..
                } => {
                    let (b1, b2) = (beta1 as f64, beta2 as f64);
                    let t = (it + 1) as f64;
                    let lr_t = lr * (1.0 - b2.powf(t)).sqrt() / (1.0 - b1.powf(t));
                    s1[k] = b1 * s1[k] + (1.0 - b1) * g[k];
                    s2[k] = b2 * s2[k] + (1.0 - b2) * g[k] * g[k];
                    p[k] -= lr_t * s1[k] / (s2[k].sqrt() + epsilon as f64);
                }
            }
        }
        out.push(p.iter().map(|&v| v as f32).collect());
    }
    out
}

fn check(opt: Optimizer, lr: f32) {
    let steps = [
        ([1.0, 2.0], 0.5),
        ([-0.5, 0.3], 1.0),
        ([0.2, -1.0], -0.7),
        ([0.9, 0.1], 0.0),
    ];
    let a = run_graph(opt, lr, &steps);
    let b = run_scalar(opt, lr as f64, &steps);
    for (s, (x, y)) in a.iter().zip(&b).enumerate() {
        for (u, v) in x.iter().zip(y) {
            assert!(
                (u - v).abs() <= 1e-5 + 1e-4 * v.abs(),
                "{opt:?} step {s}: graph {x:?} vs formula {y:?}"
            );
        }
    }
    // The parameters moved.
    assert!(a[3] != vec![0.5, -0.3, 0.1]);
}

#[test]
fn sgd_plain_momentum_nesterov() {
    for (momentum, nesterov) in [(0.0, false), (0.9, false), (0.9, true)] {
        check(
            Optimizer::Sgd {
                lr: 0.05,
                momentum,
                nesterov,
            },
            0.05,
        );
    }
}

#[test]
fn rmsprop_with_time_decay() {
    check(
        Optimizer::RmsProp {
            lr: 0.01,
            rho: 0.9,
            epsilon: 1e-7,
            decay: 0.1,
        },
        0.01,
    );
}

#[test]
fn adagrad() {
    check(
        Optimizer::Adagrad {
            lr: 0.1,
            epsilon: 1e-7,
        },
        0.1,
    );
}

#[test]
fn adadelta() {
    check(
        Optimizer::Adadelta {
            lr: 1.0,
            rho: 0.95,
            epsilon: 1e-6,
        },
        1.0,
    );
}

#[test]
fn adam() {
    check(
        Optimizer::Adam {
            lr: 0.01,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-7,
        },
        0.01,
    );
}
