//! Gradient checks: the generated backward pass against central finite differences
//! of the forward graph's loss, per layer kind, activation and loss.

mod engine_util;

use archc::ir::{Activation, LayerKind, Loss, Model, PoolKind};
use archc::lower::{TrainGraph, Weights};
use engine_util::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const ITER: u64 = 3;

fn loss_at(g: &mut TrainGraph, w: &Weights, x: &[f32], t: &[f32]) -> f64 {
    g.set_weights(w.clone(), None);
    let l = g.step(x.to_vec(), t.to_vec(), 0.0, ITER).loss;
    g.clear_outputs();
    g.take_weights();
    l as f64
}

/// Relative error of two vectors: ‖a − b‖ / (‖a‖ + ‖b‖).
fn rel(a: &[f64], b: &[f64]) -> f64 {
    let d: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y).powi(2))
        .sum::<f64>()
        .sqrt();
    let n: f64 =
        a.iter().map(|x| x * x).sum::<f64>().sqrt() + b.iter().map(|x| x * x).sum::<f64>().sqrt();
    if n == 0.0 {
        0.0
    } else {
        d / n
    }
}

/// Checks every parameter gradient (up to `max_per_layer` sampled entries per layer)
/// and the input gradient against central differences with step `eps`.
fn check(model: &Model, n: usize, eps: f32, tol: f64) {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut w = Weights::init(model, 5);
    // Non-trivial biases / BatchNorm shifts so their gradients are exercised.
    for p in w.params.iter_mut() {
        for v in p.iter_mut() {
            if *v == 0.0 {
                *v = rng.gen_range(-0.3..0.3);
            } else if *v == 1.0 {
                *v = rng.gen_range(0.5..1.5);
            }
        }
    }
    let d: usize = model.input_shape.iter().product();
    let out: usize = model.output_shape().iter().product();
    let x: Vec<f32> = (0..n * d).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let t: Vec<f32> = match model.train.loss {
        Loss::CrossEntropy => (0..n).map(|_| rng.gen_range(0..out) as f32).collect(),
        _ => (0..n * out).map(|_| rng.gen_range(0.0..1.0)).collect(),
    };
    let mut g = TrainGraph::build(model, None).unwrap();
    g.set_weights(w.clone(), None);
    g.step(x.clone(), t.clone(), 0.0, ITER);
    let (grads, dx) = g.take_grads();
    g.clear_outputs();
    g.take_weights();

    let mut checked = 0;
    for (li, grad) in grads.iter().enumerate() {
        let Some(grad) = grad else { continue };
        assert_eq!(grad.len(), w.params[li].len(), "layer {li} gradient length");
        let step = (grad.len() / 40).max(1);
        let (mut fd, mut an) = (Vec::new(), Vec::new());
        for j in (0..grad.len()).step_by(step) {
            let mut wp = w.clone();
            wp.params[li][j] += eps;
            let lp = loss_at(&mut g, &wp, &x, &t);
            wp.params[li][j] -= 2.0 * eps;
            let lm = loss_at(&mut g, &wp, &x, &t);
            fd.push((lp - lm) / (2.0 * eps as f64));
            an.push(grad[j] as f64);
        }
        let r = rel(&fd, &an);
        assert!(
            r < tol,
            "layer {li} ({}) params: rel err {r}\nfd {fd:?}\nan {an:?}",
            model.layers[li].notation
        );
        checked += 1;
    }
    let dx = dx.expect("input gradient");
    let step = (dx.len() / 40).max(1);
    let (mut fd, mut an) = (Vec::new(), Vec::new());
    for j in (0..dx.len()).step_by(step) {
        let mut xp = x.clone();
        xp[j] += eps;
        let lp = loss_at(&mut g, &w, &xp, &t);
        xp[j] -= 2.0 * eps;
        let lm = loss_at(&mut g, &w, &xp, &t);
        fd.push((lp - lm) / (2.0 * eps as f64));
        an.push(dx[j] as f64);
    }
    let r = rel(&fd, &an);
    assert!(r < tol, "input gradient: rel err {r}\nfd {fd:?}\nan {an:?}");
    assert!(
        an.iter().any(|v| v.abs() > 1e-6),
        "input gradient is all zero"
    );
    // Every layer with parameters had its gradient checked: a layer whose gradient the
    // graph does not produce cannot slip through the `continue` above.
    let with_params: Vec<usize> = (0..model.layers.len())
        .filter(|&i| model.layers[i].params > 0)
        .collect();
    for &i in &with_params {
        assert!(
            grads.get(i).is_some_and(|g| g.is_some()),
            "layer {i} ({}) has {} parameters but no gradient",
            model.layers[i].notation,
            model.layers[i].params
        );
    }
    assert_eq!(checked, with_params.len(), "parameter tensors checked");
    assert!(checked > 0, "no parameter gradient checked");
}

use Activation::*;

#[test]
fn dense_each_activation_cross_entropy() {
    for act in [Linear, Relu, Sigmoid, Tanh] {
        let m = model(
            &[6],
            &[dense(5, act), dense(4, Softmax)],
            Loss::CrossEntropy,
        );
        check(&m, 3, 1e-2, 1e-2);
    }
}

#[test]
fn standalone_activations_with_mse() {
    for act in [Relu, Sigmoid, Tanh, Softmax] {
        let m = model(
            &[5],
            &[
                dense(4, Linear),
                LayerKind::Activation(act),
                dense(3, Linear),
            ],
            Loss::MeanSquaredError,
        );
        check(&m, 3, 1e-2, 1e-2);
    }
}

#[test]
fn binary_cross_entropy_sigmoid_output() {
    let m = model(
        &[6],
        &[dense(4, Tanh), dense(6, Sigmoid)],
        Loss::BinaryCrossEntropy,
    );
    check(&m, 3, 1e-2, 1e-2);
}

#[test]
fn mse_through_sigmoid_output() {
    let m = model(
        &[6],
        &[dense(4, Relu), dense(6, Sigmoid)],
        Loss::MeanSquaredError,
    );
    check(&m, 3, 1e-2, 1e-2);
}

#[test]
fn conv_stride_and_padding() {
    for (k, s, p) in [(3, 1, 1), (3, 2, 1), (2, 2, 0), (3, 1, 0)] {
        let m = model(
            &[2, 6, 6],
            &[conv(3, k, s, p, Tanh), dense(3, Softmax)],
            Loss::CrossEntropy,
        );
        check(&m, 2, 1e-2, 1e-2);
    }
}

#[test]
fn pooling_max_and_avg() {
    for (kind, size, stride, pad) in [
        (PoolKind::Max, 2, 2, 0),
        (PoolKind::Max, 3, 2, 1),
        (PoolKind::Avg, 2, 2, 0),
        (PoolKind::Avg, 3, 2, 1),
    ] {
        let m = model(
            &[2, 6, 6],
            &[
                conv(3, 3, 1, 1, Tanh),
                pool(kind, size, stride, pad),
                dense(3, Softmax),
            ],
            Loss::CrossEntropy,
        );
        check(&m, 2, 1e-3, 2e-2);
    }
}

#[test]
fn upsample_in_a_convolutional_autoencoder() {
    let m = model(
        &[1, 4, 4],
        &[
            conv(2, 3, 1, 1, Relu),
            pool(PoolKind::Max, 2, 2, 0),
            LayerKind::Upsample { factor: [2, 2] },
            conv(1, 3, 1, 1, Sigmoid),
        ],
        Loss::BinaryCrossEntropy,
    );
    check(&m, 2, 1e-3, 2e-2);
}

#[test]
fn dropout_with_fixed_mask() {
    let m = model(
        &[6],
        &[
            dense(8, Tanh),
            LayerKind::Dropout { rate: 0.5 },
            dense(3, Softmax),
        ],
        Loss::CrossEntropy,
    );
    check(&m, 4, 1e-2, 1e-2);
}

#[test]
fn batchnorm_flat_and_image() {
    let bn = LayerKind::BatchNorm {
        momentum: 0.9,
        epsilon: 1e-3,
    };
    let m = model(
        &[5],
        &[
            dense(4, Linear),
            bn,
            LayerKind::Activation(Tanh),
            dense(3, Softmax),
        ],
        Loss::CrossEntropy,
    );
    check(&m, 6, 1e-2, 2e-2);
    let m = model(
        &[2, 4, 4],
        &[
            conv(3, 3, 1, 1, Linear),
            bn,
            LayerKind::Activation(Tanh),
            dense(3, Softmax),
        ],
        Loss::CrossEntropy,
    );
    check(&m, 3, 1e-2, 2e-2);
}

#[test]
fn weight_decay_penalty() {
    let mut d = dense(4, Tanh);
    if let LayerKind::Dense { weight_decay, .. } = &mut d {
        *weight_decay = 0.05;
    }
    let mut c = conv(2, 3, 1, 1, Tanh);
    if let LayerKind::Conv { weight_decay, .. } = &mut c {
        *weight_decay = 0.02;
    }
    let m = model(&[1, 4, 4], &[c, d, dense(3, Softmax)], Loss::CrossEntropy);
    check(&m, 2, 1e-2, 1e-2);
}

#[test]
fn whole_small_network_c_p_f_f() {
    let m = model(
        &[3, 8, 8],
        &[
            conv(4, 3, 1, 1, Relu),
            pool(PoolKind::Max, 2, 2, 0),
            dense(6, Relu),
            dense(4, Softmax),
        ],
        Loss::CrossEntropy,
    );
    check(&m, 3, 1e-3, 2e-2);
}

#[test]
fn binary_cross_entropy_on_logits_matches_f64_reference() {
    // The loss runs on vectorisable exp and ln(1 + u) approximations; against libm in
    // f64 over logits from −100 to 100 (saturated, near 0, tiny) and soft targets.
    use archc::ir::Loss;
    use archc::lower::ops::{ln_1p_unit, loss_grad, loss_value};
    let mut z: Vec<f32> = (-400..=400).map(|i| i as f32 * 0.25).collect();
    z.extend([-1e-6, 1e-6, 1e-30, -30.0, 30.0, 88.0, -88.0, 17.3, -0.693]);
    let n = z.len();
    let t: Vec<f32> = (0..n).map(|i| [0.0, 1.0, 0.3, 0.87][i % 4]).collect();
    let want = archc::kernels::reference::bce_with_logits_mean(&z, &t);
    let got = loss_value(Loss::BinaryCrossEntropy, 1, &z, &t) as f64;
    assert!((got - want).abs() <= 1e-6 * want, "BCE {got} vs {want}");
    // Gradient: (σ(z) − t)/n, elementwise.
    let g = loss_grad(Loss::BinaryCrossEntropy, 1, &z, &t);
    for i in 0..n {
        let s = 1.0 / (1.0 + (-(z[i] as f64)).exp());
        let w = (s - t[i] as f64) / n as f64;
        assert!(
            (g[i] as f64 - w).abs() <= 1e-6 / n as f64,
            "grad {i}: {} vs {w}",
            g[i]
        );
    }
    // ln(1 + u) itself, relative error, including u near 0 where 1 + u rounds.
    for k in 0..=2000 {
        let u = if k < 1000 {
            k as f32 / 1000.0
        } else {
            10f32.powi(-(k - 1000) / 50)
        };
        let want = (u as f64).ln_1p();
        let got = ln_1p_unit(u) as f64;
        assert!(
            (got - want).abs() <= 5e-7 * want.max(1e-300),
            "ln_1p({u}) = {got}, want {want}"
        );
    }
}
