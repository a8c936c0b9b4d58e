//! archc's custom luminal operators.
//!
//! Every tensor that flows between these ops is a contiguous flat `Vec<f32>`; each op
//! carries its per-example geometry as fields and derives the batch size at run time
//! from its input length, so one graph serves full and partial batches. Heavy work
//! calls `crate::kernels`; elementwise work is plain loops. Every op but
//! [`Op::FusedUpdate`] and [`Op::ConvReluMaxPool`] has exactly one output (luminal 0.2.0 runs multi-output nodes,
//! but its bookkeeping of consumers per output is only safe when each output has one
//! consumer, so those ops' outputs are read by one [`Op::Pick`] node each): a layer's
//! weight and bias gradients travel together as one flat `[dw; db]` vector, which is
//! also how parameters are stored (`[w; b]`, BatchNorm `[gamma; beta]`).
//!
//! Inputs are documented per variant in the order they are wired in `lower`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use luminal::op::{InputTensor, Operator};
use luminal::prelude::{ShapeTracker, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::buffers;
use crate::ir::{Activation, Loss, Optimizer, PoolKind};
use crate::kernels::{self, wide, ConvGeom, PoolGeom};

/// Index of the learning rate in the per-step hyper-parameter tensor.
pub const HYPER_LR: usize = 0;
/// Index of the global iteration counter (steps done before this one).
pub const HYPER_ITER: usize = 1;
/// Length of the hyper-parameter tensor.
pub const HYPER_LEN: usize = 2;

pub use super::optim::{opt_slots, replaced_input, update, update_fused, OptOut};

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
    /// (x, dz, params) → [dz·Wᵀ, [xᵀ·dz; Σₙ dz]]: a layer's two backward products side
    /// by side, one core each, rather than each split over both cores in turn. Two
    /// independent single-threaded GEMMs ran 15–20 % faster than one split over both
    /// cores on 128-row products (`examples/gemm_shapes`); whole MLP steps gained 4–8 %.
    /// Both products have the same multiply-adds, so the cores finish together. Same bits
    /// as the two ops. Made by `passes::PairDenseBack`; outputs read through [`Op::Pick`].
    DenseBack { inputs: usize, units: usize },
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
    /// (a, dy) → ∂L/∂z for a = relu(z) followed by max pooling: the ReLU mask folded
    /// into the pooling gradient (a window's winner passes its gradient exactly when
    /// the window's maximum is positive). 2×2/2 windows are written over `a`'s buffer
    /// in one pass. Made by `passes::FuseReluPoolBack`.
    MaxPoolReluBack { geom: PoolGeom },
    /// (x, params) → max_pool(relu(conv(x, w) + b)) as output 0 and, as output 1, per
    /// pooled cell which of its window's cells won (`kernels::POOL_ARG_NONE` when
    /// ReLU zeroed it): the convolution's full-size output is never written. For
    /// layers with few input taps (`kernels::conv_relu_max_pool_forward`); made by
    /// `passes::FuseConvPool`, outputs read through [`Op::Pick`].
    ConvReluMaxPool { geom: ConvGeom, pool: PoolGeom },
    /// (winner codes, dy) → ∂L/∂z of [`Op::ConvReluMaxPool`]'s convolution output.
    MaxPoolArgBack { pool: PoolGeom },
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
    /// Plain form of [`Op::Loss`] for cross-entropy and BCE: (probabilities, target) →
    /// [loss], the network's softmax/sigmoid output taken as is.
    /// `passes::FuseSoftmaxLoss` replaces it with the stable form on logits.
    ProbLoss { loss: Loss, row: usize },
    /// (probabilities, target) → ∂loss/∂probabilities, followed by the activation's
    /// `ActBack` in the plain form.
    ProbLossGrad { loss: Loss, row: usize },
    /// (loss, params₁, …) → loss + Σ λᵢ·Σ wᵢ² over the first `len` entries of each.
    Penalty { terms: Vec<(f32, usize)> },
    /// (grad, params) → grad + 2λ·w on the first `len` entries (L2 weight decay).
    DecayGrad { lambda: f32, len: usize },
    /// One output of an optimizer update; inputs per `optim::update`.
    Update { opt: Optimizer, out: OptOut },
    /// (w, g, slot₀, …, hyper) → w', slot₀', … as outputs 0, 1, …: one parameter
    /// vector's whole update in one pass (`optim::update_fused`), written over the old
    /// buffers when they are handed over. Made by `passes::FuseUpdate`; its outputs
    /// reach the graph through [`Op::Pick`] nodes.
    FusedUpdate { opt: Optimizer },
    /// Output `index` of a multi-output node → the same tensor, moved (no copy when
    /// this is its only consumer). Lets a fused node's outputs keep the ids of the
    /// nodes they replace.
    Pick { index: u8 },
}

fn vec_of<'a>(t: &'a InputTensor<'a>) -> &'a [f32] {
    luminal::op::get_vec_from_tensor(t)
}

/// `kernels::matmul` or `kernels::matmul_serial`.
type Matmul = fn(usize, usize, usize, &[f32], bool, &[f32], bool, &mut [f32], bool);

/// A dense layer's dz·Wᵀ (`params` holds [W; b]).
fn dense_back_input(
    inputs: usize,
    units: usize,
    dz: &[f32],
    params: &[f32],
    mm: Matmul,
) -> Vec<f32> {
    let n = dz.len() / units;
    let mut dx = buffers::take(n * inputs);
    let w = &params[..inputs * units];
    mm(n, units, inputs, dz, false, w, true, &mut dx, false);
    dx
}

/// A dense layer's [xᵀ·dz; Σₙ dz].
fn dense_param_grad(inputs: usize, units: usize, xs: &[f32], dz: &[f32], mm: Matmul) -> Vec<f32> {
    let n = dz.len() / units;
    let nw = inputs * units;
    // Pooled, not zeroed: the product overwrites dw; only db is summed into.
    let mut g = buffers::take(nw + units);
    let (dw, db) = g.split_at_mut(nw);
    mm(inputs, n, units, xs, true, dz, false, dw, false);
    db.fill(0.0);
    for r in dz.chunks(units) {
        db.iter_mut().zip(r).for_each(|(d, v)| *d += v);
    }
    g
}

fn out(v: Vec<f32>) -> Vec<Tensor> {
    vec![Tensor::new(v)]
}

/// Takes an input's buffer to write the output into: free when this op is the input's
/// last consumer (luminal hands it over owned), a copy otherwise.
fn into_vec(t: InputTensor) -> Vec<f32> {
    match t {
        InputTensor::Owned(mut t) => std::mem::take(luminal::op::get_vec_from_tensor_owned(&mut t)),
        InputTensor::Borrowed(t) => {
            let src = t
                .data
                .as_any()
                .downcast_ref::<Vec<f32>>()
                .expect("archc tensors are Vec<f32>");
            let mut v = buffers::take(src.len());
            v.copy_from_slice(src);
            v
        }
    }
}

/// Hands an input this op received owned (its last consumer) back to the buffer pool.
fn recycle(t: InputTensor) {
    if let InputTensor::Owned(mut t) = t {
        if let Some(v) = t.data.as_any_mut().downcast_mut::<Vec<f32>>() {
            buffers::give(std::mem::take(v));
        }
    }
}

/// Elements per parallel chunk; smaller tensors run on the calling thread.
const CHUNK: usize = 1 << 15;

/// buf[i] = f(i, buf[i]), in parallel over chunks for large buffers.
fn par_map(buf: &mut [f32], f: impl Fn(usize, f32) -> f32 + Sync) {
    if buf.len() <= 2 * CHUNK {
        buf.iter_mut().enumerate().for_each(|(i, v)| *v = f(i, *v));
    } else {
        buf.par_chunks_mut(CHUNK).enumerate().for_each(|(c, ch)| {
            for (j, v) in ch.iter_mut().enumerate() {
                *v = f(c * CHUNK + j, *v);
            }
        });
    }
}

/// d[i] = f(d[i], a[i]) in parallel chunks. Zipped slices rather than indexing, so
/// the loop has no bounds checks and vectorises (the optimizer updates are
/// memory-bound passes over every parameter). Callers pass `move` closures (see
/// `wide!`) so that the loop does not reload their scalars per element.
pub(super) fn zip1(d: &mut [f32], a: &[f32], f: impl Fn(f32, f32) -> f32 + Sync) {
    assert_eq!(d.len(), a.len(), "update operand length");
    d.par_chunks_mut(CHUNK)
        .zip(a.par_chunks(CHUNK))
        .for_each(|(d, a)| wide!({ d.iter_mut().zip(a).for_each(|(d, &a)| *d = f(*d, a)) }));
}

/// f(&mut w[i], g[i], &mut s[i]) in parallel chunks (fused optimizer updates).
pub(super) fn fused1(
    w: &mut [f32],
    g: &[f32],
    s: &mut [f32],
    f: impl Fn(&mut f32, f32, &mut f32) + Sync,
) {
    assert!(
        w.len() == g.len() && w.len() == s.len(),
        "update operand length"
    );
    w.par_chunks_mut(CHUNK)
        .zip(g.par_chunks(CHUNK).zip(s.par_chunks_mut(CHUNK)))
        .for_each(|(w, (g, s))| {
            wide!({
                for ((w, &g), s) in w.iter_mut().zip(g).zip(s) {
                    f(w, g, s);
                }
            })
        });
}

/// f(&mut w[i], g[i], &mut s[i], &mut t[i]), as [`fused1`].
pub(super) fn fused2(
    w: &mut [f32],
    g: &[f32],
    s: &mut [f32],
    t: &mut [f32],
    f: impl Fn(&mut f32, f32, &mut f32, &mut f32) + Sync,
) {
    assert!(
        w.len() == g.len() && w.len() == s.len() && w.len() == t.len(),
        "update operand length"
    );
    w.par_chunks_mut(CHUNK)
        .zip(
            g.par_chunks(CHUNK)
                .zip(s.par_chunks_mut(CHUNK).zip(t.par_chunks_mut(CHUNK))),
        )
        .for_each(|(w, (g, (s, t)))| {
            wide!({
                for (((w, &g), s), t) in w.iter_mut().zip(g).zip(s).zip(t) {
                    f(w, g, s, t);
                }
            })
        });
}

/// d[i] = f(d[i], a[i], b[i]), as [`zip1`].
pub(super) fn zip2(d: &mut [f32], a: &[f32], b: &[f32], f: impl Fn(f32, f32, f32) -> f32 + Sync) {
    assert!(
        d.len() == a.len() && d.len() == b.len(),
        "update operand length"
    );
    d.par_chunks_mut(CHUNK)
        .zip(a.par_chunks(CHUNK).zip(b.par_chunks(CHUNK)))
        .for_each(|(d, (a, b))| {
            wide!({
                for ((d, &a), &b) in d.iter_mut().zip(a).zip(b) {
                    *d = f(*d, a, b);
                }
            })
        });
}

/// d[i] = f(d[i], a[i], b[i], c[i]), as [`zip1`].
pub(super) fn zip3(
    d: &mut [f32],
    a: &[f32],
    b: &[f32],
    c: &[f32],
    f: impl Fn(f32, f32, f32, f32) -> f32 + Sync,
) {
    assert!(
        d.len() == a.len() && d.len() == b.len() && d.len() == c.len(),
        "update operand length"
    );
    d.par_chunks_mut(CHUNK)
        .zip(
            a.par_chunks(CHUNK)
                .zip(b.par_chunks(CHUNK).zip(c.par_chunks(CHUNK))),
        )
        .for_each(|(d, (a, (b, c)))| {
            wide!({
                for (((d, &a), &b), &c) in d.iter_mut().zip(a).zip(b).zip(c) {
                    *d = f(*d, a, b, c);
                }
            })
        });
}

/// Applies an activation in place; softmax works per `row`.
pub fn act_forward(act: Activation, row: usize, y: &mut [f32]) {
    match act {
        Activation::Linear => {}
        Activation::Relu => kernels::relu_inplace(y),
        Activation::Sigmoid => {
            if y.len() <= 2 * CHUNK {
                sigmoid_slice(y)
            } else {
                y.par_chunks_mut(CHUNK).for_each(sigmoid_slice)
            }
        }
        Activation::Tanh => par_map(y, |_, v| v.tanh()),
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

/// dz = da ⊙ act'(z), written in terms of the output a = act(z); `d` holds da on
/// entry and dz on return.
pub fn act_backward(act: Activation, row: usize, a: &[f32], d: &mut [f32]) {
    match act {
        Activation::Linear => {}
        Activation::Relu => kernels::relu_backward_inplace(a, d),
        Activation::Sigmoid => zip1(d, a, move |g, a| g * a * (1.0 - a)),
        Activation::Tanh => zip1(d, a, move |g, a| g * (1.0 - a * a)),
        Activation::Softmax => {
            for (d, a) in d.chunks_mut(row).zip(a.chunks(row)) {
                let dot: f32 = a.iter().zip(d.iter()).map(|(a, g)| a * g).sum();
                for (g, &a) in d.iter_mut().zip(a) {
                    *g = a * (*g - dot);
                }
            }
        }
    }
}

/// σ over a slice with a branch-free exp (Cephes `expf`: range reduction by ln 2 and
/// a degree-5 polynomial, about 2 ulp), so the loop vectorises where libm's `expf`
/// runs one value per call.
fn sigmoid_slice(y: &mut [f32]) {
    wide!({
        for v in y.iter_mut() {
            *v = 1.0 / (1.0 + exp_approx(-*v));
        }
    })
}

/// e^x, branch-free: about 1e-38 below x = −87.3, +∞ from x = 88.7 on (where the scale
/// 2ⁿ overflows; e^x itself does from 88.72), and NaN stays NaN, so that a diverged run
/// still shows as one.
#[inline(always)]
pub fn exp_approx(input: f32) -> f32 {
    // NaN goes through the arithmetic as 0 (the truncation below must not see it) and
    // is put back at the end; both are selects, which vectorise.
    let x = if input.is_nan() {
        0.0
    } else {
        input.clamp(-87.3, 88.7)
    };
    let t = x * std::f32::consts::LOG2_E + 0.5;
    // floor(t) without a libm call: truncate, then step down for negative non-integers.
    // SAFETY: x is finite and clamped, so t lies in (−126, 129), where truncation to i32
    // is exact; the unchecked form vectorises, where `as` (saturating) does not.
    let ti: i32 = unsafe { t.to_int_unchecked() };
    let n = ti - i32::from((ti as f32) > t);
    let nf = n as f32;
    let r = x - nf * 0.693_359_4 + nf * 2.121_944_4e-4;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 1.666_666_5e-1)
        * r
        + 0.5;
    let e = p * r * r + r + 1.0;
    let y = e * f32::from_bits(((n + 127) as u32) << 23);
    if input.is_nan() {
        input
    } else {
        y
    }
}

/// ln(1 + u) for u in [0, 1], branch-free so that loops over it vectorise: with
/// s = u / (2 + u) ∈ [0, ⅓], ln(1 + u) = 2·atanh(s) = 2s·Σ s²ᵏ/(2k + 1); eight terms
/// leave a relative error below 2·10⁻⁸ (the next term is s¹⁶/17 ≤ 3⁻¹⁶/17), and small u
/// lose nothing to the rounding of 1 + u.
#[inline(always)]
pub fn ln_1p_unit(u: f32) -> f32 {
    let s = u / (2.0 + u);
    let q = s * s;
    let series = 1.0
        + q * (1.0 / 3.0
            + q * (1.0 / 5.0
                + q * (1.0 / 7.0
                    + q * (1.0 / 9.0 + q * (1.0 / 11.0 + q * (1.0 / 13.0 + q * (1.0 / 15.0)))))));
    2.0 * s * series
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
    let m = x.len() / channels;
    let sums = per_channel(x, x, channels, spatial, |a, _| {
        a.iter().fold((0.0, 0.0), |(s, q), &v| {
            let v = v as f64;
            (s + v, q + v * v)
        })
    });
    let mean: Vec<f64> = sums.iter().map(|(s, _)| s / m as f64).collect();
    let var = sums
        .iter()
        .zip(&mean)
        .map(|((_, q), mu)| (q / m as f64 - mu * mu).max(0.0) as f32)
        .collect();
    (mean.iter().map(|&v| v as f32).collect(), var, m)
}

/// Sums `f(a_plane, b_plane)` per channel over the `[n, channels, spatial]` planes of
/// two equally shaped tensors, planes in parallel.
fn per_channel(
    a: &[f32],
    b: &[f32],
    channels: usize,
    spatial: usize,
    f: impl Fn(&[f32], &[f32]) -> (f64, f64) + Sync,
) -> Vec<(f64, f64)> {
    let planes: Vec<(f64, f64)> = a
        .par_chunks(spatial)
        .zip(b.par_chunks(spatial))
        .map(|(a, b)| f(a, b))
        .collect();
    let mut out = vec![(0.0, 0.0); channels];
    for (i, (s, q)) in planes.into_iter().enumerate() {
        out[i % channels].0 += s;
        out[i % channels].1 += q;
    }
    out
}

/// out_plane = f(channel, x_plane, out_plane) over `[n, channels, spatial]` planes.
fn per_plane(
    x: &[f32],
    out: &mut [f32],
    channels: usize,
    spatial: usize,
    f: impl Fn(usize, &[f32], &mut [f32]) + Sync,
) {
    out.par_chunks_mut(spatial)
        .zip(x.par_chunks(spatial))
        .enumerate()
        .for_each(|(i, (o, x))| f(i % channels, x, o));
}

/// Optional per-op wall-clock accounting for profiling (`enable_profile`).
static PROFILE_ON: AtomicBool = AtomicBool::new(false);
static PROFILE: Mutex<Vec<(String, f64, usize)>> = Mutex::new(Vec::new());

/// Starts accumulating time per op kind (for the step-time example and benchmarks).
pub fn enable_profile(on: bool) {
    PROFILE_ON.store(on, Ordering::Relaxed);
}

/// (op kind, total seconds, calls) since the last call, most expensive first.
pub fn take_profile() -> Vec<(String, f64, usize)> {
    let mut p = std::mem::take(&mut *PROFILE.lock().unwrap_or_else(|e| e.into_inner()));
    p.sort_by(|a, b| b.1.total_cmp(&a.1));
    p
}

impl Op {
    /// The name the profile reports this op under: its kind, and for GEMM-backed ops
    /// the layer shape (conv layers differ a lot in GEMM efficiency).
    pub fn profile_name(&self) -> String {
        let d = format!("{self:?}");
        let name = d.split([' ', '{', '(']).next().unwrap_or("").to_string();
        match self {
            Op::Update { out, .. } => format!("Update::{out:?}"),
            Op::Conv { geom: g, .. }
            | Op::ConvReluMaxPool { geom: g, .. }
            | Op::ConvBackInput { geom: g }
            | Op::ConvParamGrad { geom: g } => format!(
                "{name} {}→{} {}x{} k{}",
                g.in_channels, g.out_channels, g.in_h, g.in_w, g.kernel[0]
            ),
            Op::Dense { inputs, units, .. }
            | Op::DenseBackInput { inputs, units }
            | Op::DenseParamGrad { inputs, units }
            | Op::DenseBack { inputs, units } => format!("{name} {inputs}→{units}"),
            _ => name,
        }
    }
}

impl Operator for Op {
    fn process(&mut self, inp: Vec<(InputTensor, ShapeTracker)>) -> Vec<Tensor> {
        let mut inp = inp;
        if !PROFILE_ON.load(Ordering::Relaxed) {
            let out = self.run(&mut inp);
            inp.into_iter().for_each(|t| recycle(t.0));
            return out;
        }
        let start = std::time::Instant::now();
        let out = self.run(&mut inp);
        inp.into_iter().for_each(|t| recycle(t.0));
        let dt = start.elapsed().as_secs_f64();
        let name = self.profile_name();
        let mut p = PROFILE.lock().unwrap_or_else(|e| e.into_inner());
        match p.iter_mut().find(|e| e.0 == name) {
            Some(e) => {
                e.1 += dt;
                e.2 += 1;
            }
            None => p.push((name, dt, 1)),
        }
        out
    }
}

impl Op {
    /// Computes the outputs; inputs it leaves in `inp` go back to the buffer pool.
    fn run(&mut self, inp: &mut Vec<(InputTensor, ShapeTracker)>) -> Vec<Tensor> {
        let x = |i: usize| vec_of(&inp[i].0);
        match self {
            Op::Dense { inputs, units, act } => {
                let (xs, p) = (x(0), x(1));
                let n = xs.len() / *inputs;
                let (w, b) = p.split_at(*inputs * *units);
                // The bias rows go in first and the product accumulates onto them: the
                // GEMM reads C anyway, so the bias costs no pass of its own.
                let mut y = buffers::take(n * *units);
                y.chunks_mut(*units).for_each(|r| r.copy_from_slice(b));
                kernels::matmul(n, *inputs, *units, xs, false, w, false, &mut y, true);
                act_forward(*act, *units, &mut y);
                out(y)
            }
            Op::DenseBackInput { inputs, units } => out(dense_back_input(
                *inputs,
                *units,
                x(0),
                x(1),
                kernels::matmul,
            )),
            Op::DenseParamGrad { inputs, units } => out(dense_param_grad(
                *inputs,
                *units,
                x(0),
                x(1),
                kernels::matmul,
            )),
            Op::DenseBack { inputs, units } => {
                let (xs, dz, p) = (x(0), x(1), x(2));
                let (dx, g) = rayon::join(
                    || dense_back_input(*inputs, *units, dz, p, kernels::matmul_serial),
                    || dense_param_grad(*inputs, *units, xs, dz, kernels::matmul_serial),
                );
                vec![Tensor::new(dx), Tensor::new(g)]
            }
            Op::Conv { geom, act } => {
                let (xs, p) = (x(0), x(1));
                let g = with_batch_conv(geom, xs.len());
                let nw = g.out_channels * g.in_channels * g.kernel[0] * g.kernel[1];
                let per = g.out_channels * g.out_h() * g.out_w();
                let mut y = buffers::take(g.batch * per);
                let (w, b) = p.split_at(nw);
                // One call over the whole batch, then the activation in one pass (a ReLU
                // goes into the Winograd output transform instead): on this machine
                // (480 MB L3) that beats sub-batches that stay in L2.
                if *act == Activation::Relu {
                    kernels::conv2d_forward_relu(&g, xs, w, b, &mut y);
                } else {
                    kernels::conv2d_forward(&g, xs, w, b, &mut y);
                    act_forward(*act, per, &mut y);
                }
                out(y)
            }
            Op::ConvBackInput { geom } => {
                let (dz, p) = (x(0), x(1));
                let per = geom.out_channels * geom.out_h() * geom.out_w();
                let mut g = *geom;
                g.batch = dz.len() / per;
                let nw = g.out_channels * g.in_channels * g.kernel[0] * g.kernel[1];
                let mut dx = buffers::take(g.batch * g.in_channels * g.in_h * g.in_w);
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
                let mut y = buffers::take(g.batch * g.channels * g.out_h() * g.out_w());
                match kind {
                    PoolKind::Max => kernels::max_pool_forward(&g, xs, &mut y),
                    PoolKind::Avg => kernels::avg_pool_forward(&g, xs, &mut y),
                }
                out(y)
            }
            Op::PoolBack { geom, kind } => {
                let (xs, dy) = (x(0), x(1));
                let g = with_batch_pool(geom, xs.len());
                let mut dx = buffers::take(xs.len());
                match kind {
                    PoolKind::Max => kernels::max_pool_backward(&g, xs, dy, &mut dx),
                    PoolKind::Avg => kernels::avg_pool_backward(&g, dy, &mut dx),
                }
                out(dx)
            }
            Op::MaxPoolReluBack { geom } => {
                let (a, dy) = (x(0), x(1));
                let g = with_batch_pool(geom, a.len());
                if g.size == [2, 2] && g.stride == [2, 2] && g.padding == [0, 0] {
                    let mut it = std::mem::take(inp).into_iter();
                    let mut a = into_vec(it.next().unwrap().0);
                    let dy = it.next().unwrap().0;
                    kernels::max_pool_relu_backward_inplace(&g, &mut a, vec_of(&dy));
                    recycle(dy);
                    return out(a);
                }
                let mut dx = buffers::take(a.len());
                kernels::max_pool_backward(&g, a, dy, &mut dx);
                kernels::relu_backward_inplace(a, &mut dx);
                out(dx)
            }
            Op::ConvReluMaxPool { geom, pool } => {
                let (xs, p) = (x(0), x(1));
                let g = with_batch_conv(geom, xs.len());
                let nw = g.out_channels * g.in_channels * g.kernel[0] * g.kernel[1];
                let pg = PoolGeom {
                    batch: g.batch,
                    ..*pool
                };
                let n_out = g.batch * pg.channels * pg.out_h() * pg.out_w();
                let (mut y, mut arg) = (buffers::take(n_out), buffers::take(n_out));
                let (w, b) = p.split_at(nw);
                kernels::conv_relu_max_pool_forward(&g, &pg, xs, w, b, &mut y, &mut arg);
                vec![Tensor::new(y), Tensor::new(arg)]
            }
            Op::MaxPoolArgBack { pool } => {
                let (arg, dy) = (x(0), x(1));
                let per = pool.channels * pool.out_h() * pool.out_w();
                let n = dy.len() / per.max(1);
                let mut dz = buffers::take(n * pool.channels * pool.in_h * pool.in_w);
                kernels::conv_relu_max_pool_backward(pool, arg, dy, &mut dz);
                out(dz)
            }
            Op::Upsample { shape, factor } => {
                let xs = x(0);
                let [_, h, w] = *shape;
                let [fy, fx] = *factor;
                let (oh, ow) = (h * fy, w * fx);
                let planes = xs.len() / (h * w);
                let mut y = buffers::take(planes * oh * ow);
                kernels::upsample_nearest_forward(planes, h, w, *factor, xs, &mut y);
                out(y)
            }
            Op::UpsampleBack { shape, factor } => {
                let dy = x(0);
                let [_, h, w] = *shape;
                let [fy, fx] = *factor;
                let (oh, ow) = (h * fy, w * fx);
                let planes = dy.len() / (oh * ow);
                let mut dx = buffers::take(planes * h * w);
                kernels::upsample_nearest_backward(planes, h, w, *factor, dy, &mut dx);
                out(dx)
            }
            Op::Act { act, row } => {
                let mut y = into_vec(std::mem::take(inp).into_iter().next().unwrap().0);
                act_forward(*act, *row, &mut y);
                out(y)
            }
            Op::ActBack { act, row } => {
                let mut it = std::mem::take(inp).into_iter();
                let a = it.next().unwrap().0;
                let mut d = into_vec(it.next().unwrap().0);
                act_backward(*act, *row, vec_of(&a), &mut d);
                recycle(a);
                out(d)
            }
            Op::DropoutMask { rate, seed, layer } => {
                let (xs, hyper) = (x(0), x(1));
                let mut rng = ChaCha8Rng::seed_from_u64(*seed);
                rng.set_stream(((*layer as u64) << 40) ^ hyper[HYPER_ITER] as u64);
                let (rate, scale) = (*rate, 1.0 / (1.0 - *rate));
                let mut mask = buffers::take(xs.len());
                // Element i takes the stream's 32-bit word i, dropped when `gen::<f32>()`
                // of it, (w >> 8)·2⁻²⁴, is below the rate, i.e. when w >> 8 < ⌈rate·2²⁴⌉
                // (exact: the scaling is by a power of two). Chunks seek to their first word
                // and draw their words in bulk, in parallel: the same mask as one
                // sequential pass of `gen::<f32>()`, several times faster.
                let below = (rate * 16_777_216.0).ceil() as u32;
                mask.par_chunks_mut(CHUNK).enumerate().for_each(|(c, ch)| {
                    let mut rng = rng.clone();
                    rng.set_word_pos((c * CHUNK) as u128);
                    let mut words = [0u32; 1024];
                    for part in ch.chunks_mut(words.len()) {
                        let w = &mut words[..part.len()];
                        rng.fill(w);
                        wide!({
                            for (v, &w) in part.iter_mut().zip(w.iter()) {
                                *v = if w >> 8 < below { 0.0 } else { scale };
                            }
                        })
                    }
                });
                out(mask)
            }
            Op::Mul => {
                let mut it = std::mem::take(inp).into_iter();
                let mut a = into_vec(it.next().unwrap().0);
                let bt = it.next().unwrap().0;
                let b = vec_of(&bt);
                zip1(&mut a, b, move |a, b| a * b);
                recycle(bt);
                out(a)
            }
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
                // Per channel Σ dy and Σ dy·x̂; with dx̂ = dy·γ:
                // dx = (1/√(var+ε))·(dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂)).
                let (mean, inv2) = (&mean, &inv);
                let mut s1 = vec![0.0f64; c];
                let mut s2 = vec![0.0f64; c];
                let planes: Vec<(f64, f64)> = dy
                    .par_chunks(*spatial)
                    .zip(xs.par_chunks(*spatial))
                    .enumerate()
                    .map(|(i, (d, xp))| {
                        let ch = i % c;
                        d.iter().zip(xp).fold((0.0, 0.0), |(a, b), (&g, &v)| {
                            let xh = ((v - mean[ch]) * inv2[ch]) as f64;
                            (a + g as f64, b + g as f64 * xh)
                        })
                    })
                    .collect();
                for (i, (a, b)) in planes.into_iter().enumerate() {
                    s1[i % c] += a;
                    s2[i % c] += b;
                }
                let mf = m as f64;
                let mut dx = buffers::take(xs.len());
                dx.par_chunks_mut(*spatial)
                    .zip(xs.par_chunks(*spatial).zip(dy.par_chunks(*spatial)))
                    .enumerate()
                    .for_each(|(i, (o, (xp, d)))| {
                        let ch = i % c;
                        let (m1, m2) = ((s1[ch] / mf) as f32, (s2[ch] / mf) as f32);
                        let k = inv2[ch] * p[ch];
                        for ((o, &v), &g) in o.iter_mut().zip(xp).zip(d) {
                            let xh = (v - mean[ch]) * inv2[ch];
                            *o = k * (g - m1 - xh * m2);
                        }
                    });
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
                let inv: Vec<f32> = var.iter().map(|v| 1.0 / (v + *eps).sqrt()).collect();
                let planes: Vec<(f64, f64)> = dy
                    .par_chunks(*spatial)
                    .zip(xs.par_chunks(*spatial))
                    .enumerate()
                    .map(|(i, (d, xp))| {
                        let ch = i % c;
                        d.iter().zip(xp).fold((0.0, 0.0), |(a, b), (&g, &v)| {
                            let xh = ((v - mean[ch]) * inv[ch]) as f64;
                            (a + g as f64 * xh, b + g as f64)
                        })
                    })
                    .collect();
                let mut g = vec![0.0f32; 2 * c];
                for (i, (a, b)) in planes.into_iter().enumerate() {
                    g[i % c] += a as f32;
                    g[c + i % c] += b as f32;
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
            Op::ProbLoss { loss, row } => out(vec![prob_loss_value(*loss, *row, x(0), x(1))]),
            Op::ProbLossGrad { loss, row } => out(prob_loss_grad(*loss, *row, x(0), x(1))),
            Op::Penalty { terms } => {
                let mut l = x(0)[0] as f64;
                for (k, (lambda, len)) in terms.iter().enumerate() {
                    let w = &x(k + 1)[..*len];
                    l += *lambda as f64 * w.iter().map(|v| (*v as f64) * (*v as f64)).sum::<f64>();
                }
                out(vec![l as f32])
            }
            Op::DecayGrad { lambda, len } => {
                let mut it = std::mem::take(inp).into_iter();
                let mut g = into_vec(it.next().unwrap().0);
                let w = it.next().unwrap().0;
                let w = vec_of(&w);
                let two_l = 2.0 * *lambda;
                zip1(&mut g[..*len], &w[..*len], move |g, w| g + two_l * w);
                out(g)
            }
            Op::Update { opt, out: which } => {
                // The output is written into the buffer of the value it replaces: free
                // when `passes::InPlaceUpdate` made this node its last consumer.
                let replaced = replaced_input(opt, *which);
                let mut ts: Vec<InputTensor> =
                    std::mem::take(inp).into_iter().map(|t| t.0).collect();
                let hyper = ts.pop().expect("update has a hyper input");
                let dst = into_vec(ts.remove(replaced));
                let mut ins: Vec<&[f32]> = ts.iter().map(|t| vec_of(t)).collect();
                ins.insert(replaced, &[]);
                out(update(opt, *which, &ins, vec_of(&hyper), dst))
            }
            Op::FusedUpdate { opt } => {
                // Weights and slots are written in place when handed over (see
                // `passes::InPlaceUpdate`), copied otherwise.
                let mut ts = std::mem::take(inp).into_iter().map(|t| t.0);
                let mut w = into_vec(ts.next().expect("update has weights"));
                let g = ts.next().expect("update has a gradient");
                let mut rest: Vec<InputTensor> = ts.collect();
                let hyper = rest.pop().expect("update has a hyper input");
                let mut slots: Vec<Vec<f32>> = rest.into_iter().map(into_vec).collect();
                update_fused(opt, vec_of(&hyper), &mut w, vec_of(&g), &mut slots);
                std::iter::once(w).chain(slots).map(Tensor::new).collect()
            }
            Op::Pick { .. } => vec![std::mem::take(inp)
                .into_iter()
                .next()
                .expect("pick has an input")
                .0
                .cloned()],
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
    let mut y = buffers::take(x.len());
    per_plane(x, &mut y, channels, spatial, |c, x, y| {
        let (mu, k, b) = (mean[c], scale[c], p[channels + c]);
        for (y, &v) in y.iter_mut().zip(x) {
            *y = (v - mu) * k + b;
        }
    });
    y
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
            s = par_sum(y, t, move |z, t| {
                z.max(0.0) - z * t + ln_1p_unit(exp_approx(-z.abs()))
            });
            (s / y.len() as f64) as f32
        }
        Loss::MeanSquaredError => {
            s = par_sum(y, t, move |a, b| (a - b) * (a - b));
            (s / y.len() as f64) as f32
        }
    }
}

/// Gradient of [`loss_value`] with respect to its first argument.
pub fn loss_grad(loss: Loss, row: usize, y: &[f32], t: &[f32]) -> Vec<f32> {
    // Every branch below writes every element.
    let mut g = buffers::take(y.len());
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
            zip2(&mut g, y, t, move |_, z, t| {
                (1.0 / (1.0 + exp_approx(-z)) - t) / n
            });
        }
        Loss::MeanSquaredError => {
            let n = y.len() as f32;
            zip2(&mut g, y, t, move |_, a, b| 2.0 * (a - b) / n);
        }
    }
    g
}

/// Σ f(a[i], b[i]), accumulated in f64, over parallel chunks. Each block of values
/// is mapped first (a loop that vectorises) and then added into eight running sums
/// (element i into sum i mod 8): a single sum is a chain of dependent adds the
/// compiler may not reorder, so it would run one element at a time.
fn par_sum(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32 + Sync) -> f64 {
    assert_eq!(a.len(), b.len(), "par_sum operand length");
    a.par_chunks(CHUNK)
        .zip(b.par_chunks(CHUNK))
        .map(|(a, b)| {
            wide!({
                let mut values = [0.0f32; 256];
                let mut lanes = [0.0f64; 8];
                for (a, b) in a.chunks(values.len()).zip(b.chunks(values.len())) {
                    let v = &mut values[..a.len()];
                    for ((v, &x), &y) in v.iter_mut().zip(a).zip(b) {
                        *v = f(x, y);
                    }
                    let v8 = v.chunks_exact(8);
                    lanes[0] += v8.remainder().iter().map(|&x| f64::from(x)).sum::<f64>();
                    for c in v8 {
                        for j in 0..8 {
                            lanes[j] += f64::from(c[j]);
                        }
                    }
                }
                lanes.iter().sum::<f64>()
            })
        })
        .sum()
}

/// log p, kept finite when p underflows to 0.
fn ln_p(p: f32) -> f32 {
    p.max(f32::MIN_POSITIVE).ln()
}

/// [`Op::ProbLoss`]: the same means as [`loss_value`], on probabilities.
pub fn prob_loss_value(loss: Loss, row: usize, p: &[f32], t: &[f32]) -> f32 {
    let mut s = 0.0f64;
    match loss {
        Loss::CrossEntropy => {
            for (r, &label) in p.chunks(row).zip(t) {
                s -= ln_p(r[label as usize]) as f64;
            }
            (s / t.len() as f64) as f32
        }
        Loss::BinaryCrossEntropy => {
            for (&p, &t) in p.iter().zip(t) {
                s -= (t * ln_p(p) + (1.0 - t) * ln_p(1.0 - p)) as f64;
            }
            (s / p.len() as f64) as f32
        }
        Loss::MeanSquaredError => loss_value(loss, row, p, t),
    }
}

/// Gradient of [`prob_loss_value`] with respect to the probabilities.
pub fn prob_loss_grad(loss: Loss, row: usize, p: &[f32], t: &[f32]) -> Vec<f32> {
    let mut g = vec![0.0; p.len()];
    match loss {
        Loss::CrossEntropy => {
            let n = t.len() as f32;
            for ((gr, r), &label) in g.chunks_mut(row).zip(p.chunks(row)).zip(t) {
                let l = label as usize;
                gr[l] = -1.0 / (n * r[l].max(f32::MIN_POSITIVE));
            }
        }
        Loss::BinaryCrossEntropy => {
            let n = p.len() as f32;
            for ((g, &p), &t) in g.iter_mut().zip(p).zip(t) {
                let q = (p * (1.0 - p)).max(f32::MIN_POSITIVE);
                *g = (p - t) / (q * n);
            }
        }
        Loss::MeanSquaredError => return loss_grad(loss, row, p, t),
    }
    g
}
