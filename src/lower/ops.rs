//! archc's custom luminal operators.
//!
//! Every tensor that flows between these ops is a contiguous flat `Vec<f32>`; each op
//! carries its per-example geometry as fields and derives the batch size at run time
//! from its input length, so one graph serves full and partial batches. Heavy work
//! calls `crate::kernels`; elementwise work is plain loops. Every op has exactly one
//! output (multi-output ops need pass-through nodes in luminal 0.2.0): a layer's
//! weight and bias gradients travel together as one flat `[dw; db]` vector, which is
//! also how parameters are stored (`[w; b]`, BatchNorm `[gamma; beta]`).
//!
//! Inputs are documented per variant in the order they are wired in `lower`.

use luminal::op::{InputTensor, Operator};
use luminal::prelude::{ShapeTracker, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::ir::{Activation, Loss, Optimizer, PoolKind};
use crate::kernels::{self, ConvGeom, PoolGeom};

/// Index of the learning rate in the per-step hyper-parameter tensor.
pub const HYPER_LR: usize = 0;
/// Index of the global iteration counter (steps done before this one).
pub const HYPER_ITER: usize = 1;
/// Length of the hyper-parameter tensor.
pub const HYPER_LEN: usize = 2;

/// Which value an optimizer node produces (its inputs are listed in `lower::add_update`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptOut {
    /// The updated parameters.
    Weights,
    /// The updated optimizer slot `k` (momentum, accumulator, …).
    Slot(usize),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// (x, params) → act(x·W + b); W is `[inputs, units]`.
    Dense {
        inputs: usize,
        units: usize,
        act: Activation,
    },
    /// (dz, params) → dz·Wᵀ.
    DenseBackInput { inputs: usize, units: usize },
    /// (x, dz) → [xᵀ·dz; Σₙ dz].
    DenseParamGrad { inputs: usize, units: usize },
    /// (x, params) → act(conv(x, w) + b); `geom.batch` is set per call.
    Conv { geom: ConvGeom, act: Activation },
    /// (dz, params) → ∂L/∂x.
    ConvBackInput { geom: ConvGeom },
    /// (x, dz) → [∂L/∂w; ∂L/∂b].
    ConvParamGrad { geom: ConvGeom },
    /// x → pool(x).
    Pool { geom: PoolGeom, kind: PoolKind },
    /// (x, dy) → ∂L/∂x.
    PoolBack { geom: PoolGeom, kind: PoolKind },
    /// x → nearest-neighbour upsampling of `[c, h, w]` images by `factor`.
    Upsample {
        shape: [usize; 3],
        factor: [usize; 2],
    },
    /// dy → ∂L/∂x (sum over each source pixel's copies).
    UpsampleBack {
        shape: [usize; 3],
        factor: [usize; 2],
    },
    /// x → act(x); `row` is the softmax group size (one example's features).
    Act { act: Activation, row: usize },
    /// (a, da) → ∂L/∂z given the activation's output a = act(z).
    ActBack { act: Activation, row: usize },
    /// (x, hyper) → dropout mask, 0 or 1/(1−rate), drawn from a ChaCha stream keyed by
    /// (seed, layer, iteration): the same step always draws the same mask (gradient
    /// checks, resume) and no RNG state needs saving.
    DropoutMask { rate: f32, seed: u64, layer: usize },
    /// (a, b) → a ⊙ b.
    Mul,
    /// (x, params) → γ·x̂ + β with batch statistics; per example `[channels, spatial]`.
    BatchNormTrain {
        channels: usize,
        spatial: usize,
        eps: f32,
    },
    /// (x, params, dy) → ∂L/∂x through the batch statistics.
    BatchNormBack {
        channels: usize,
        spatial: usize,
        eps: f32,
    },
    /// (x, dy) → [∂L/∂γ; ∂L/∂β].
    BatchNormParamGrad {
        channels: usize,
        spatial: usize,
        eps: f32,
    },
    /// (x, running) → [mean; var] updated as momentum·old + (1−momentum)·batch
    /// (Keras convention; the batch variance is the unbiased one, as in TF).
    BatchNormRunning {
        channels: usize,
        spatial: usize,
        momentum: f32,
    },
    /// (x, params, running) → γ·(x − mean)/√(var + ε) + β with running statistics.
    BatchNormEval {
        channels: usize,
        spatial: usize,
        eps: f32,
    },
    /// (output, target) → [loss]. `row` is one example's output size.
    /// Cross-entropy takes logits and integer labels (as f32); BCE takes logits and
    /// targets in [0, 1]; MSE takes outputs and targets. BCE and MSE are means over
    /// every element (Keras convention); cross-entropy is the mean over examples.
    Loss { loss: Loss, row: usize },
    /// (output, target) → ∂loss/∂output (logits for cross-entropy and BCE).
    LossGrad { loss: Loss, row: usize },
    /// (loss, params₁, …) → loss + Σ λᵢ·Σ wᵢ² over the first `len` entries of each.
    Penalty { terms: Vec<(f32, usize)> },
    /// (grad, params) → grad + 2λ·w on the first `len` entries (L2 weight decay).
    DecayGrad { lambda: f32, len: usize },
    /// One output of an optimizer update; inputs per `lower::add_update`.
    Update { opt: Optimizer, out: OptOut },
}

fn vec_of<'a>(t: &'a InputTensor<'a>) -> &'a [f32] {
    luminal::op::get_vec_from_tensor(t)
}

fn out(v: Vec<f32>) -> Vec<Tensor> {
    vec![Tensor::new(v)]
}

/// Applies an activation in place; softmax works per `row`.
pub fn act_forward(act: Activation, row: usize, y: &mut [f32]) {
    match act {
        Activation::Linear => {}
        Activation::Relu => y.iter_mut().for_each(|v| *v = v.max(0.0)),
        Activation::Sigmoid => y.iter_mut().for_each(|v| *v = sigmoid(*v)),
        Activation::Tanh => y.iter_mut().for_each(|v| *v = v.tanh()),
        Activation::Softmax => {
            for r in y.chunks_mut(row) {
                let m = r.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let mut s = 0.0;
                for v in r.iter_mut() {
                    *v = (*v - m).exp();
                    s += *v;
                }
                r.iter_mut().for_each(|v| *v /= s);
            }
        }
    }
}

/// dz = da ⊙ act'(z), written in terms of the output a = act(z).
pub fn act_backward(act: Activation, row: usize, a: &[f32], da: &[f32], dz: &mut [f32]) {
    let each = |dz: &mut [f32], f: &dyn Fn(f32, f32) -> f32| {
        for ((d, &a), &g) in dz.iter_mut().zip(a).zip(da) {
            *d = f(a, g);
        }
    };
    match act {
        Activation::Linear => dz.copy_from_slice(da),
        Activation::Relu => each(dz, &|a, g| if a > 0.0 { g } else { 0.0 }),
        Activation::Sigmoid => each(dz, &|a, g| g * a * (1.0 - a)),
        Activation::Tanh => each(dz, &|a, g| g * (1.0 - a * a)),
        Activation::Softmax => {
            for ((dz, a), da) in dz.chunks_mut(row).zip(a.chunks(row)).zip(da.chunks(row)) {
                let dot: f32 = a.iter().zip(da).map(|(a, g)| a * g).sum();
                for ((d, &a), &g) in dz.iter_mut().zip(a).zip(da) {
                    *d = a * (g - dot);
                }
            }
        }
    }
}

pub fn sigmoid(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// Per-channel batch mean and biased variance of `[n, channels, spatial]` data.
fn batch_stats(x: &[f32], channels: usize, spatial: usize) -> (Vec<f32>, Vec<f32>, usize) {
    let n = x.len() / (channels * spatial);
    let m = n * spatial;
    let mut mean = vec![0.0f64; channels];
    let mut sq = vec![0.0f64; channels];
    for (i, &v) in x.iter().enumerate() {
        let c = (i / spatial) % channels;
        mean[c] += v as f64;
        sq[c] += (v as f64) * (v as f64);
    }
    let mean: Vec<f64> = mean.iter().map(|s| s / m as f64).collect();
    let var = sq
        .iter()
        .zip(&mean)
        .map(|(s, mu)| (s / m as f64 - mu * mu).max(0.0) as f32)
        .collect();
    (mean.iter().map(|&v| v as f32).collect(), var, m)
}

impl Operator for Op {
    fn process(&mut self, inp: Vec<(InputTensor, ShapeTracker)>) -> Vec<Tensor> {
        let x = |i: usize| vec_of(&inp[i].0);
        match self {
            Op::Dense { inputs, units, act } => {
                let (xs, p) = (x(0), x(1));
                let n = xs.len() / *inputs;
                let (w, b) = p.split_at(*inputs * *units);
                let mut y = vec![0.0; n * *units];
                kernels::matmul(n, *inputs, *units, xs, false, w, false, &mut y, false);
                for r in y.chunks_mut(*units) {
                    r.iter_mut().zip(b).for_each(|(v, b)| *v += b);
                }
                act_forward(*act, *units, &mut y);
                out(y)
            }
            Op::DenseBackInput { inputs, units } => {
                let (dz, p) = (x(0), x(1));
                let n = dz.len() / *units;
                let mut dx = vec![0.0; n * *inputs];
                let w = &p[..*inputs * *units];
                kernels::matmul(n, *units, *inputs, dz, false, w, true, &mut dx, false);
                out(dx)
            }
            Op::DenseParamGrad { inputs, units } => {
                let (xs, dz) = (x(0), x(1));
                let n = dz.len() / *units;
                let nw = *inputs * *units;
                let mut g = vec![0.0; nw + *units];
                let (dw, db) = g.split_at_mut(nw);
                kernels::matmul(*inputs, n, *units, xs, true, dz, false, dw, false);
                for r in dz.chunks(*units) {
                    db.iter_mut().zip(r).for_each(|(d, v)| *d += v);
                }
                out(g)
            }
            Op::Conv { geom, act } => {
                let (xs, p) = (x(0), x(1));
                let g = with_batch_conv(geom, xs.len());
                let nw = g.out_channels * g.in_channels * g.kernel[0] * g.kernel[1];
                let mut y = vec![0.0; g.batch * g.out_channels * g.out_h() * g.out_w()];
                kernels::conv2d_forward(&g, xs, &p[..nw], &p[nw..], &mut y);
                act_forward(*act, g.out_channels * g.out_h() * g.out_w(), &mut y);
                out(y)
            }
            Op::ConvBackInput { geom } => {
                let (dz, p) = (x(0), x(1));
                let per = geom.out_channels * geom.out_h() * geom.out_w();
                let mut g = *geom;
                g.batch = dz.len() / per;
                let nw = g.out_channels * g.in_channels * g.kernel[0] * g.kernel[1];
                let mut dx = vec![0.0; g.batch * g.in_channels * g.in_h * g.in_w];
                kernels::conv2d_backward_input(&g, dz, &p[..nw], &mut dx);
                out(dx)
            }
            Op::ConvParamGrad { geom } => {
                let (xs, dz) = (x(0), x(1));
                let g = with_batch_conv(geom, xs.len());
                let nw = g.out_channels * g.in_channels * g.kernel[0] * g.kernel[1];
                let mut grad = vec![0.0; nw + g.out_channels];
                let (dw, db) = grad.split_at_mut(nw);
                kernels::conv2d_backward_weights(&g, xs, dz, dw, db);
                out(grad)
            }
            Op::Pool { geom, kind } => {
                let xs = x(0);
                let g = with_batch_pool(geom, xs.len());
                let mut y = vec![0.0; g.batch * g.channels * g.out_h() * g.out_w()];
                match kind {
                    PoolKind::Max => kernels::max_pool_forward(&g, xs, &mut y),
                    PoolKind::Avg => kernels::avg_pool_forward(&g, xs, &mut y),
                }
                out(y)
            }
            Op::PoolBack { geom, kind } => {
                let (xs, dy) = (x(0), x(1));
                let g = with_batch_pool(geom, xs.len());
                let mut dx = vec![0.0; xs.len()];
                match kind {
                    PoolKind::Max => kernels::max_pool_backward(&g, xs, dy, &mut dx),
                    PoolKind::Avg => kernels::avg_pool_backward(&g, dy, &mut dx),
                }
                out(dx)
            }
            Op::Upsample { shape, factor } => {
                let xs = x(0);
                let [c, h, w] = *shape;
                let [fy, fx] = *factor;
                let (oh, ow) = (h * fy, w * fx);
                let planes = xs.len() / (h * w);
                let mut y = vec![0.0; planes * oh * ow];
                for p in 0..planes {
                    for oy in 0..oh {
                        for ox in 0..ow {
                            y[(p * oh + oy) * ow + ox] = xs[(p * h + oy / fy) * w + ox / fx];
                        }
                    }
                }
                let _ = c;
                out(y)
            }
            Op::UpsampleBack { shape, factor } => {
                let dy = x(0);
                let [_, h, w] = *shape;
                let [fy, fx] = *factor;
                let (oh, ow) = (h * fy, w * fx);
                let planes = dy.len() / (oh * ow);
                let mut dx = vec![0.0; planes * h * w];
                for p in 0..planes {
                    for oy in 0..oh {
                        for ox in 0..ow {
                            dx[(p * h + oy / fy) * w + ox / fx] += dy[(p * oh + oy) * ow + ox];
                        }
                    }
                }
                out(dx)
            }
            Op::Act { act, row } => {
                let mut y = inp.into_iter().next().unwrap().0.cloned();
                let v = luminal::op::get_vec_from_tensor_owned(&mut y);
                act_forward(*act, *row, v);
                vec![y]
            }
            Op::ActBack { act, row } => {
                let (a, da) = (x(0), x(1));
                let mut dz = vec![0.0; a.len()];
                act_backward(*act, *row, a, da, &mut dz);
                out(dz)
            }
            Op::DropoutMask { rate, seed, layer } => {
                let (xs, hyper) = (x(0), x(1));
                let mut rng = ChaCha8Rng::seed_from_u64(*seed);
                rng.set_stream(((*layer as u64) << 40) ^ hyper[HYPER_ITER] as u64);
                let scale = 1.0 / (1.0 - *rate);
                let mask = (0..xs.len())
                    .map(|_| if rng.gen::<f32>() < *rate { 0.0 } else { scale })
                    .collect();
                out(mask)
            }
            Op::Mul => out(x(0).iter().zip(x(1)).map(|(a, b)| a * b).collect()),
            Op::BatchNormTrain {
                channels,
                spatial,
                eps,
            } => {
                let (xs, p) = (x(0), x(1));
                let (mean, var, _) = batch_stats(xs, *channels, *spatial);
                out(bn_apply(xs, p, &mean, &var, *channels, *spatial, *eps))
            }
            Op::BatchNormEval {
                channels,
                spatial,
                eps,
            } => {
                let (xs, p, r) = (x(0), x(1), x(2));
                let (mean, var) = r.split_at(*channels);
                out(bn_apply(xs, p, mean, var, *channels, *spatial, *eps))
            }
            Op::BatchNormBack {
                channels,
                spatial,
                eps,
            } => {
                let (xs, p, dy) = (x(0), x(1), x(2));
                let c = *channels;
                let (mean, var, m) = batch_stats(xs, c, *spatial);
                let inv: Vec<f32> = var.iter().map(|v| 1.0 / (v + *eps).sqrt()).collect();
                // Σ dx̂ and Σ dx̂·x̂ per channel, with dx̂ = dy·γ.
                let mut s1 = vec![0.0f32; c];
                let mut s2 = vec![0.0f32; c];
                for (i, (&xv, &g)) in xs.iter().zip(dy).enumerate() {
                    let ch = (i / *spatial) % c;
                    let xh = (xv - mean[ch]) * inv[ch];
                    s1[ch] += g * p[ch];
                    s2[ch] += g * p[ch] * xh;
                }
                let mf = m as f32;
                let dx = xs
                    .iter()
                    .zip(dy)
                    .enumerate()
                    .map(|(i, (&xv, &g))| {
                        let ch = (i / *spatial) % c;
                        let xh = (xv - mean[ch]) * inv[ch];
                        inv[ch] / mf * (mf * g * p[ch] - s1[ch] - xh * s2[ch])
                    })
                    .collect();
                out(dx)
            }
            Op::BatchNormParamGrad {
                channels,
                spatial,
                eps,
            } => {
                let (xs, dy) = (x(0), x(1));
                let c = *channels;
                let (mean, var, _) = batch_stats(xs, c, *spatial);
                let mut g = vec![0.0f32; 2 * c];
                for (i, (&xv, &d)) in xs.iter().zip(dy).enumerate() {
                    let ch = (i / *spatial) % c;
                    g[ch] += d * (xv - mean[ch]) / (var[ch] + *eps).sqrt();
                    g[c + ch] += d;
                }
                out(g)
            }
            Op::BatchNormRunning {
                channels,
                spatial,
                momentum,
            } => {
                let (xs, r) = (x(0), x(1));
                let c = *channels;
                let (mean, var, m) = batch_stats(xs, c, *spatial);
                let unbiased = if m > 1 {
                    m as f32 / (m - 1) as f32
                } else {
                    1.0
                };
                let mo = *momentum;
                let mut nr = r.to_vec();
                for ch in 0..c {
                    nr[ch] = mo * r[ch] + (1.0 - mo) * mean[ch];
                    nr[c + ch] = mo * r[c + ch] + (1.0 - mo) * var[ch] * unbiased;
                }
                out(nr)
            }
            Op::Loss { loss, row } => out(vec![loss_value(*loss, *row, x(0), x(1))]),
            Op::LossGrad { loss, row } => out(loss_grad(*loss, *row, x(0), x(1))),
            Op::Penalty { terms } => {
                let mut l = x(0)[0] as f64;
                for (k, (lambda, len)) in terms.iter().enumerate() {
                    let w = &x(k + 1)[..*len];
                    l += *lambda as f64 * w.iter().map(|v| (*v as f64) * (*v as f64)).sum::<f64>();
                }
                out(vec![l as f32])
            }
            Op::DecayGrad { lambda, len } => {
                let (g, w) = (x(0), x(1));
                let mut g = g.to_vec();
                g[..*len]
                    .iter_mut()
                    .zip(w)
                    .for_each(|(g, w)| *g += 2.0 * *lambda * w);
                out(g)
            }
            Op::Update { opt, out: which } => {
                let ins: Vec<&[f32]> = (0..inp.len()).map(x).collect();
                out(update(opt, *which, &ins))
            }
        }
    }
}

fn with_batch_conv(geom: &ConvGeom, len: usize) -> ConvGeom {
    let mut g = *geom;
    g.batch = len / (g.in_channels * g.in_h * g.in_w);
    g
}

fn with_batch_pool(geom: &PoolGeom, len: usize) -> PoolGeom {
    let mut g = *geom;
    g.batch = len / (g.channels * g.in_h * g.in_w);
    g
}

fn bn_apply(
    x: &[f32],
    p: &[f32],
    mean: &[f32],
    var: &[f32],
    channels: usize,
    spatial: usize,
    eps: f32,
) -> Vec<f32> {
    let scale: Vec<f32> = (0..channels)
        .map(|c| p[c] / (var[c] + eps).sqrt())
        .collect();
    x.iter()
        .enumerate()
        .map(|(i, &v)| {
            let c = (i / spatial) % channels;
            (v - mean[c]) * scale[c] + p[channels + c]
        })
        .collect()
}

/// Stable log-softmax of one row, written into `out`.
fn log_softmax(z: &[f32], out: &mut [f32]) {
    let m = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let lse = m + z.iter().map(|v| (v - m).exp()).sum::<f32>().ln();
    out.iter_mut().zip(z).for_each(|(o, v)| *o = v - lse);
}

/// The loss as documented on [`Op::Loss`].
pub fn loss_value(loss: Loss, row: usize, y: &[f32], t: &[f32]) -> f32 {
    let mut s = 0.0f64;
    match loss {
        Loss::CrossEntropy => {
            let mut ls = vec![0.0; row];
            for (z, &label) in y.chunks(row).zip(t) {
                log_softmax(z, &mut ls);
                s -= ls[label as usize] as f64;
            }
            (s / t.len() as f64) as f32
        }
        Loss::BinaryCrossEntropy => {
            // max(z,0) − z·t + log(1 + e^−|z|) = −t·log σ(z) − (1−t)·log(1−σ(z)).
            for (&z, &t) in y.iter().zip(t) {
                s += (z.max(0.0) - z * t + (-z.abs()).exp().ln_1p()) as f64;
            }
            (s / y.len() as f64) as f32
        }
        Loss::MeanSquaredError => {
            for (&a, &b) in y.iter().zip(t) {
                s += ((a - b) as f64).powi(2);
            }
            (s / y.len() as f64) as f32
        }
    }
}

/// Gradient of [`loss_value`] with respect to its first argument.
pub fn loss_grad(loss: Loss, row: usize, y: &[f32], t: &[f32]) -> Vec<f32> {
    let mut g = vec![0.0; y.len()];
    match loss {
        Loss::CrossEntropy => {
            let n = t.len() as f32;
            for ((gz, z), &label) in g.chunks_mut(row).zip(y.chunks(row)).zip(t) {
                log_softmax(z, gz);
                gz.iter_mut().for_each(|v| *v = v.exp() / n);
                gz[label as usize] -= 1.0 / n;
            }
        }
        Loss::BinaryCrossEntropy => {
            let n = y.len() as f32;
            for ((g, &z), &t) in g.iter_mut().zip(y).zip(t) {
                *g = (sigmoid(z) - t) / n;
            }
        }
        Loss::MeanSquaredError => {
            let n = y.len() as f32;
            for ((g, &a), &b) in g.iter_mut().zip(y).zip(t) {
                *g = 2.0 * (a - b) / n;
            }
        }
    }
    g
}

/// Number of state slots each optimizer keeps per parameter vector.
pub fn opt_slots(opt: &Optimizer) -> usize {
    match opt {
        Optimizer::Sgd { momentum, .. } => usize::from(*momentum != 0.0),
        Optimizer::RmsProp { .. } | Optimizer::Adagrad { .. } => 1,
        Optimizer::Adadelta { .. } | Optimizer::Adam { .. } => 2,
    }
}

/// One optimizer output, following Keras 2.x `keras/optimizers.py` (`get_updates`).
/// Inputs (`ins`), always starting with w, g and ending with hyper:
/// - SGD, no momentum:     Weights (w, g, hyper)
/// - SGD, momentum μ:      Slot0 v' = μv − lr·g (w, g, v, hyper);
///   Weights w + v' or, Nesterov, w + μv' − lr·g (w, g, v', hyper)
/// - RMSprop:  Slot0 a' = ρa + (1−ρ)g² (w, g, a, hyper);
///   Weights w − lr_t·g/(√a' + ε), lr_t = lr/(1 + decay·iterations) (w, g, a', hyper)
/// - Adagrad:  Slot0 a' = a + g² ; Weights w − lr·g/(√a' + ε) (same wiring as RMSprop)
/// - Adadelta: Slot0 a' = ρa + (1−ρ)g² (w, g, a, hyper);
///   Δ = g·√(d + ε)/√(a' + ε); Weights w − lr·Δ (w, g, a', d, hyper);
///   Slot1 d' = ρd + (1−ρ)Δ² (w, g, a', d, hyper)
/// - Adam:     t = iterations + 1; Slot0 m' = β₁m + (1−β₁)g (w, g, m, hyper);
///   Slot1 v' = β₂v + (1−β₂)g² (w, g, v, hyper);
///   Weights w − lr·√(1−β₂ᵗ)/(1−β₁ᵗ)·m'/(√v' + ε) (w, g, m', v', hyper)
pub fn update(opt: &Optimizer, which: OptOut, ins: &[&[f32]]) -> Vec<f32> {
    let hyper = ins[ins.len() - 1];
    let (lr, iters) = (hyper[HYPER_LR], hyper[HYPER_ITER]);
    let (w, g) = (ins[0], ins[1]);
    let map2 = |a: &[f32], b: &[f32], f: &dyn Fn(f32, f32) -> f32| -> Vec<f32> {
        a.iter().zip(b).map(|(&a, &b)| f(a, b)).collect()
    };
    let map3 = |a: &[f32], b: &[f32], c: &[f32], f: &dyn Fn(f32, f32, f32) -> f32| -> Vec<f32> {
        a.iter()
            .zip(b)
            .zip(c)
            .map(|((&a, &b), &c)| f(a, b, c))
            .collect()
    };
    match (*opt, which) {
        (Optimizer::Sgd { .. }, OptOut::Weights) if ins.len() == 3 => {
            map2(w, g, &|w, g| w - lr * g)
        }
        (Optimizer::Sgd { momentum, .. }, OptOut::Slot(0)) => {
            map2(ins[2], g, &|v, g| momentum * v - lr * g)
        }
        (
            Optimizer::Sgd {
                momentum, nesterov, ..
            },
            OptOut::Weights,
        ) => {
            if nesterov {
                map3(w, g, ins[2], &|w, g, v| w + momentum * v - lr * g)
            } else {
                map2(w, ins[2], &|w, v| w + v)
            }
        }
        (Optimizer::RmsProp { rho, .. }, OptOut::Slot(0)) => {
            map2(ins[2], g, &|a, g| rho * a + (1.0 - rho) * g * g)
        }
        (Optimizer::RmsProp { epsilon, decay, .. }, OptOut::Weights) => {
            let lr_t = lr / (1.0 + decay * iters);
            map3(w, g, ins[2], &|w, g, a| w - lr_t * g / (a.sqrt() + epsilon))
        }
        (Optimizer::Adagrad { .. }, OptOut::Slot(0)) => map2(ins[2], g, &|a, g| a + g * g),
        (Optimizer::Adagrad { epsilon, .. }, OptOut::Weights) => {
            map3(w, g, ins[2], &|w, g, a| w - lr * g / (a.sqrt() + epsilon))
        }
        (Optimizer::Adadelta { rho, .. }, OptOut::Slot(0)) => {
            map2(ins[2], g, &|a, g| rho * a + (1.0 - rho) * g * g)
        }
        (Optimizer::Adadelta { epsilon, .. }, OptOut::Weights) => {
            let (a, d) = (ins[2], ins[3]);
            (0..w.len())
                .map(|i| w[i] - lr * g[i] * (d[i] + epsilon).sqrt() / (a[i] + epsilon).sqrt())
                .collect()
        }
        (Optimizer::Adadelta { rho, epsilon, .. }, OptOut::Slot(1)) => {
            let (a, d) = (ins[2], ins[3]);
            (0..w.len())
                .map(|i| {
                    let step = g[i] * (d[i] + epsilon).sqrt() / (a[i] + epsilon).sqrt();
                    rho * d[i] + (1.0 - rho) * step * step
                })
                .collect()
        }
        (Optimizer::Adam { beta1, .. }, OptOut::Slot(0)) => {
            map2(ins[2], g, &|m, g| beta1 * m + (1.0 - beta1) * g)
        }
        (Optimizer::Adam { beta2, .. }, OptOut::Slot(1)) => {
            map2(ins[2], g, &|v, g| beta2 * v + (1.0 - beta2) * g * g)
        }
        (
            Optimizer::Adam {
                beta1,
                beta2,
                epsilon,
                ..
            },
            OptOut::Weights,
        ) => {
            let t = iters + 1.0;
            let lr_t = lr * (1.0 - beta2.powf(t)).sqrt() / (1.0 - beta1.powf(t));
            let (m, v) = (ins[2], ins[3]);
            (0..w.len())
                .map(|i| w[i] - lr_t * m[i] / (v[i].sqrt() + epsilon))
                .collect()
        }
        (opt, which) => unreachable!("optimizer {opt:?} has no output {which:?}"),
    }
}
