//! IR → luminal graphs.
//!
//! A [`TrainGraph`] holds forward pass, loss, generated backward pass and optimizer
//! update as nodes of one luminal `Graph`; `step` runs it once per batch. Parameters
//! (one flat `[w; b]` vector per layer), BatchNorm running statistics and optimizer
//! slots are kept graph inputs: after each `execute()` the nodes computing their next
//! values are moved back into those inputs, and every other retrieved output is taken
//! out of the graph so the next step recomputes it (`execute()` skips nodes whose
//! output is already stored).
//!
//! A [`ForwardGraph`] is an inference graph up to some layer (whole network, encoder,
//! feature maps). Graphs share parameters by moving the [`Weights`] between them.

pub mod ops;
pub mod passes;

use luminal::prelude::{Graph, NodeIndex, ShapeTracker, Tensor};
use miette::{miette, Result};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal, Uniform};

use crate::ir::{Activation, Init, LayerKind, Loss, Model, Optimizer};
use crate::kernels::{ConvGeom, PoolGeom};
use ops::{Op, OptOut};

/// Parameters and running statistics of a model, per layer (empty when a layer has none).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Weights {
    /// `[w; b]` (conv w `[co, ci, kh, kw]`, dense w `[in, units]`), BatchNorm `[γ; β]`.
    pub params: Vec<Vec<f32>>,
    /// BatchNorm `[running_mean; running_var]`.
    pub running: Vec<Vec<f32>>,
}

/// Optimizer slots per layer: `slots[layer][k]` has the layer's parameter length.
pub type Slots = Vec<Vec<Vec<f32>>>;

/// Number of weight entries (the part weight decay applies to) and of bias entries.
pub fn param_split(kind: &LayerKind, input_shape: &[usize]) -> Option<(usize, usize)> {
    let fan_in: usize = input_shape.iter().product();
    match *kind {
        LayerKind::Dense { units, .. } => Some((fan_in * units, units)),
        LayerKind::Conv {
            filters, kernel, ..
        } => Some((filters * input_shape[0] * kernel[0] * kernel[1], filters)),
        LayerKind::BatchNorm { .. } => Some((input_shape[0], input_shape[0])),
        _ => None,
    }
}

fn weight_decay(kind: &LayerKind) -> f32 {
    match *kind {
        LayerKind::Dense { weight_decay, .. } | LayerKind::Conv { weight_decay, .. } => {
            weight_decay
        }
        _ => 0.0,
    }
}

impl Weights {
    /// Fresh parameters: weights per the layer's `init`, biases zero, BatchNorm γ = 1,
    /// β = 0, running mean 0 and variance 1. Deterministic in `seed`.
    pub fn init(model: &Model, seed: u64) -> Weights {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut w = Weights::default();
        for layer in &model.layers {
            let (mut p, mut r) = (Vec::new(), Vec::new());
            match layer.kind {
                LayerKind::Dense { units, init, .. } => {
                    let fan_in: usize = layer.input_shape.iter().product();
                    p = draw(init, fan_in, units, fan_in * units, &mut rng);
                    p.resize(fan_in * units + units, 0.0);
                }
                LayerKind::Conv {
                    filters,
                    kernel,
                    init,
                    ..
                } => {
                    let area = kernel[0] * kernel[1];
                    let ci = layer.input_shape[0];
                    let n = filters * ci * area;
                    p = draw(init, ci * area, filters * area, n, &mut rng);
                    p.resize(n + filters, 0.0);
                }
                LayerKind::BatchNorm { .. } => {
                    let c = layer.input_shape[0];
                    p = [vec![1.0; c], vec![0.0; c]].concat();
                    r = [vec![0.0; c], vec![1.0; c]].concat();
                }
                _ => {}
            }
            w.params.push(p);
            w.running.push(r);
        }
        w
    }

    pub fn count(&self) -> usize {
        self.params.iter().map(Vec::len).sum()
    }
}

fn draw(init: Init, fan_in: usize, fan_out: usize, n: usize, rng: &mut ChaCha8Rng) -> Vec<f32> {
    match init {
        Init::GlorotUniform => {
            let l = (6.0 / (fan_in + fan_out) as f32).sqrt();
            let d = Uniform::new_inclusive(-l, l);
            (0..n).map(|_| d.sample(rng)).collect()
        }
        Init::HeUniform => {
            let l = (6.0 / fan_in as f32).sqrt();
            let d = Uniform::new_inclusive(-l, l);
            (0..n).map(|_| d.sample(rng)).collect()
        }
        Init::HeNormal => {
            let d = Normal::new(0.0, (2.0 / fan_in as f32).sqrt()).expect("finite std");
            (0..n).map(|_| d.sample(rng)).collect()
        }
    }
}

/// Fresh (zero) optimizer slots for `weights`.
pub fn init_slots(opt: &Optimizer, weights: &Weights) -> Slots {
    weights
        .params
        .iter()
        .map(|p| {
            if p.is_empty() {
                Vec::new()
            } else {
                vec![vec![0.0; p.len()]; ops::opt_slots(opt)]
            }
        })
        .collect()
}

/// Activations of a conv net at batch 128 are tens of MB; glibc serves blocks above
/// its mmap threshold (at most 32 MB) with fresh mappings, so every step would pay
/// page faults to zero them again. Raising the threshold keeps them in the heap.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            extern "C" {
                fn mallopt(param: i32, value: i32) -> i32;
            }
            const M_TRIM_THRESHOLD: i32 = -1;
            const M_MMAP_THRESHOLD: i32 = -3;
            // SAFETY: mallopt only changes allocator tuning parameters.
            unsafe {
                mallopt(M_MMAP_THRESHOLD, 1 << 30);
                mallopt(M_TRIM_THRESHOLD, 1 << 30);
            }
        });
    }
}

/// A flat `Vec<f32>` tracker: our ops ignore shapes, so edges carry a rank-0 tracker.
fn flat() -> ShapeTracker {
    ShapeTracker::new(&[])
}

fn load(cx: &mut Graph, name: &str) -> NodeIndex {
    cx.named_tensor::<()>(name).id
}

fn node(cx: &mut Graph, op: Op, inputs: &[NodeIndex]) -> NodeIndex {
    let mut b = cx.add_op(op);
    for &i in inputs {
        b = b.input(i, 0, flat());
    }
    b.finish()
}

fn take(cx: &mut Graph, id: NodeIndex) -> Vec<f32> {
    let t = cx
        .get_tensor(id, 0)
        .expect("graph output was not computed (was it kept?)");
    let mut t = t;
    std::mem::take(
        t.data
            .as_any_mut()
            .downcast_mut::<Vec<f32>>()
            .expect("archc tensors are Vec<f32>"),
    )
}

/// How the last layer's activation relates to the loss.
fn fused_activation(model: &Model) -> Result<Option<Activation>> {
    let last = model
        .layers
        .last()
        .ok_or_else(|| miette!("model has no layers"))?;
    let act = match last.kind {
        LayerKind::Dense { activation, .. } | LayerKind::Conv { activation, .. } => {
            Some(activation)
        }
        LayerKind::Activation(a) => Some(a),
        _ => None,
    };
    match (model.train.loss, act) {
        (Loss::CrossEntropy, Some(Activation::Softmax)) => Ok(Some(Activation::Softmax)),
        (Loss::BinaryCrossEntropy, Some(Activation::Sigmoid)) => Ok(Some(Activation::Sigmoid)),
        (Loss::MeanSquaredError, _) => Ok(None),
        (loss, act) => Err(miette!(
            help = "end the network with a softmax layer for cross-entropy, a sigmoid layer for binary cross-entropy",
            "loss {loss:?} needs a matching output activation, but the last layer `{}` has {}",
            last.notation,
            act.map(|a| format!("{a:?}")).unwrap_or_else(|| "no activation".into())
        )),
    }
}

/// Nodes of one forward pass.
struct Forward {
    input: NodeIndex,
    params: Vec<Option<NodeIndex>>,
    running: Vec<Option<NodeIndex>>,
    /// Input node of each layer and its output node.
    inputs: Vec<NodeIndex>,
    outputs: Vec<NodeIndex>,
    /// Each layer's value before its activation (its output when it has none).
    pre_act: Vec<NodeIndex>,
    masks: Vec<Option<NodeIndex>>,
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Train { hyper: NodeIndex },
    Eval,
}

/// Emits layers `0..upto` in `mode`. `linear_last`: drop the final activation
/// (the caller wants logits). Activations are separate `Act` nodes (plain form).
fn forward(
    cx: &mut Graph,
    model: &Model,
    upto: usize,
    mode: Mode,
    linear_last: bool,
) -> Result<Forward> {
    let input = load(cx, "input");
    let mut f = Forward {
        input,
        params: Vec::new(),
        running: Vec::new(),
        inputs: Vec::new(),
        outputs: Vec::new(),
        pre_act: Vec::new(),
        masks: Vec::new(),
    };
    let mut x = input;
    for (i, layer) in model.layers[..upto].iter().enumerate() {
        let last = linear_last && i + 1 == model.layers.len();
        let act_of = |a: Activation| if last { Activation::Linear } else { a };
        let shape = &layer.input_shape;
        let p = param_split(&layer.kind, shape).map(|_| load(cx, &format!("layers.{i}")));
        let r = matches!(layer.kind, LayerKind::BatchNorm { .. })
            .then(|| load(cx, &format!("layers.{i}.running")));
        let mut mask = None;
        let mut z = None;
        let y = match layer.kind {
            LayerKind::Dense {
                units, activation, ..
            } => {
                let op = Op::Dense {
                    inputs: shape.iter().product(),
                    units,
                    act: Activation::Linear,
                };
                let zd = *z.insert(node(cx, op, &[x, p.unwrap()]));
                activate(cx, zd, act_of(activation), units)
            }
            LayerKind::Conv { activation, .. } => {
                let op = Op::Conv {
                    geom: conv_geom(&layer.kind, shape)?,
                    act: Activation::Linear,
                };
                let zc = *z.insert(node(cx, op, &[x, p.unwrap()]));
                activate(
                    cx,
                    zc,
                    act_of(activation),
                    layer.output_shape.iter().product(),
                )
            }
            LayerKind::Pool { kind, .. } => {
                let op = Op::Pool {
                    geom: pool_geom(&layer.kind, shape)?,
                    kind,
                };
                node(cx, op, &[x])
            }
            LayerKind::Upsample { factor } => {
                let op = Op::Upsample {
                    shape: image(shape)?,
                    factor,
                };
                node(cx, op, &[x])
            }
            LayerKind::Dropout { rate } => match mode {
                Mode::Train { hyper } if rate > 0.0 => {
                    let op = Op::DropoutMask {
                        rate,
                        seed: model.train.seed,
                        layer: i,
                    };
                    let m = node(cx, op, &[x, hyper]);
                    mask = Some(m);
                    node(cx, Op::Mul, &[x, m])
                }
                _ => x,
            },
            LayerKind::BatchNorm { epsilon, .. } => {
                let channels = shape[0];
                let spatial = shape[1..].iter().product();
                match mode {
                    Mode::Train { .. } => {
                        let op = Op::BatchNormTrain {
                            channels,
                            spatial,
                            eps: epsilon,
                        };
                        node(cx, op, &[x, p.unwrap()])
                    }
                    Mode::Eval => {
                        let op = Op::BatchNormEval {
                            channels,
                            spatial,
                            eps: epsilon,
                        };
                        node(cx, op, &[x, p.unwrap(), r.unwrap()])
                    }
                }
            }
            LayerKind::Activation(a) => {
                z = Some(x);
                if act_of(a) == Activation::Linear {
                    x
                } else {
                    let op = Op::Act {
                        act: a,
                        row: layer.output_shape.iter().product(),
                    };
                    node(cx, op, &[x])
                }
            }
            // Corruption is applied to the input batch on the host (training only).
            LayerKind::Noise(_) => x,
        };
        f.params.push(p);
        f.running.push(r);
        f.inputs.push(x);
        f.outputs.push(y);
        f.pre_act.push(z.unwrap_or(y));
        f.masks.push(mask);
        x = y;
    }
    Ok(f)
}

/// The plain form of an activation: its own node (`passes::FuseActivation` folds it
/// into the producing conv/dense). `row` is one example's size (the softmax group).
fn activate(cx: &mut Graph, z: NodeIndex, act: Activation, row: usize) -> NodeIndex {
    if act == Activation::Linear {
        z
    } else {
        node(cx, Op::Act { act, row }, &[z])
    }
}

fn image(shape: &[usize]) -> Result<[usize; 3]> {
    match *shape {
        [c, h, w] => Ok([c, h, w]),
        _ => Err(miette!("expected an image input [C, H, W], got {shape:?}")),
    }
}

fn conv_geom(kind: &LayerKind, shape: &[usize]) -> Result<ConvGeom> {
    let [c, h, w] = image(shape)?;
    let LayerKind::Conv {
        filters,
        kernel,
        stride,
        padding,
        ..
    } = *kind
    else {
        unreachable!()
    };
    Ok(ConvGeom {
        batch: 0,
        in_channels: c,
        in_h: h,
        in_w: w,
        out_channels: filters,
        kernel,
        stride,
        padding,
    })
}

fn pool_geom(kind: &LayerKind, shape: &[usize]) -> Result<PoolGeom> {
    let [c, h, w] = image(shape)?;
    let LayerKind::Pool {
        size,
        stride,
        padding,
        ..
    } = *kind
    else {
        unreachable!()
    };
    Ok(PoolGeom {
        batch: 0,
        channels: c,
        in_h: h,
        in_w: w,
        size,
        stride,
        padding,
    })
}

/// Activation of a layer.
fn layer_act(kind: &LayerKind) -> Activation {
    match *kind {
        LayerKind::Dense { activation, .. } | LayerKind::Conv { activation, .. } => activation,
        LayerKind::Activation(a) => a,
        _ => Activation::Linear,
    }
}

/// Forward + loss + backward (+ optimizer update) for one model.
pub struct TrainGraph {
    pub cx: Box<Graph>,
    pub input: NodeIndex,
    /// Labels as f32 (cross-entropy) or target values (BCE, MSE).
    pub target: NodeIndex,
    /// `[lr, iteration]`, see `ops::HYPER_*`.
    pub hyper: NodeIndex,
    pub params: Vec<Option<NodeIndex>>,
    pub running: Vec<Option<NodeIndex>>,
    pub slots: Vec<Vec<NodeIndex>>,
    /// Loss including the L2 penalty.
    pub loss: NodeIndex,
    /// Network output before the fused activation (logits), or the output for MSE.
    pub output: NodeIndex,
    /// ∂loss/∂params per layer (kept only without an optimizer, for gradient checks).
    pub grads: Vec<Option<NodeIndex>>,
    /// ∂loss/∂input (only without an optimizer).
    pub input_grad: Option<NodeIndex>,
    /// (graph input, node computing its next value), moved back after each step.
    carry: Vec<(NodeIndex, NodeIndex)>,
    /// Nodes whose outputs are read after each step.
    kept: Vec<NodeIndex>,
    pub output_size: usize,
}

/// Everything one training step reports.
pub struct StepOut {
    pub loss: f32,
    pub output: Vec<f32>,
}

impl TrainGraph {
    /// Builds the training graph and compiles it with [`passes::Optimise`]. Without
    /// `optimizer` it computes gradients only (kept for inspection): that is how the
    /// gradient checks drive it.
    pub fn build(model: &Model, optimizer: Option<&Optimizer>) -> Result<TrainGraph> {
        Self::build_with(model, optimizer, true)
    }

    /// The plain lowering, without the fusing passes (the reference the passes must match).
    pub fn build_plain(model: &Model, optimizer: Option<&Optimizer>) -> Result<TrainGraph> {
        Self::build_with(model, optimizer, false)
    }

    fn build_with(
        model: &Model,
        optimizer: Option<&Optimizer>,
        optimise: bool,
    ) -> Result<TrainGraph> {
        let fused = fused_activation(model)?;
        tune_allocator();
        let mut cx = Box::new(Graph::new());
        let hyper = load(&mut cx, "hyper");
        let target = load(&mut cx, "target");
        let n_layers = model.layers.len();
        // Plain form: the output activation stays a node and the loss reads its
        // probabilities; `passes::FuseSoftmaxLoss` turns that into the loss on logits.
        let f = forward(&mut cx, model, n_layers, Mode::Train { hyper }, false)?;
        let output_size: usize = model.output_shape().iter().product();
        let probs = *f.outputs.last().unwrap_or(&f.input);
        let output = match fused {
            Some(_) => *f.pre_act.last().unwrap_or(&f.input),
            None => probs,
        };
        let loss_kind = model.train.loss;
        let row = output_size;
        let (loss_op, grad_op, loss_in) = match fused {
            Some(_) => (
                Op::ProbLoss {
                    loss: loss_kind,
                    row,
                },
                Op::ProbLossGrad {
                    loss: loss_kind,
                    row,
                },
                probs,
            ),
            None => (
                Op::Loss {
                    loss: loss_kind,
                    row,
                },
                Op::LossGrad {
                    loss: loss_kind,
                    row,
                },
                output,
            ),
        };
        let mut loss = node(&mut cx, loss_op, &[loss_in, target]);
        let decayed: Vec<(usize, f32, usize)> = model
            .layers
            .iter()
            .enumerate()
            .filter_map(|(i, l)| {
                let lambda = weight_decay(&l.kind);
                let (nw, _) = param_split(&l.kind, &l.input_shape)?;
                (lambda > 0.0).then_some((i, lambda, nw))
            })
            .collect();
        if !decayed.is_empty() {
            let mut ins = vec![loss];
            ins.extend(decayed.iter().map(|&(i, _, _)| f.params[i].unwrap()));
            let terms = decayed.iter().map(|&(_, l, n)| (l, n)).collect();
            loss = node(&mut cx, Op::Penalty { terms }, &ins);
        }

        // Backward: one match over layer kinds, from the loss back to the input.
        let mut d = node(&mut cx, grad_op, &[loss_in, target]);
        let mut grads: Vec<Option<NodeIndex>> = vec![None; n_layers];
        let want_input_grad = optimizer.is_none();
        // The first layer whose input gradient is needed: skip work below the last
        // parameterised layer when nothing uses it.
        let first_needed = if want_input_grad {
            0
        } else {
            model
                .layers
                .iter()
                .position(|l| param_split(&l.kind, &l.input_shape).is_some())
                .map(|p| p + 1)
                .unwrap_or(n_layers)
        };
        for (i, layer) in model.layers.iter().enumerate().rev() {
            let (x, a) = (f.inputs[i], f.outputs[i]);
            let shape = &layer.input_shape;
            let need_dx = i >= first_needed;
            let act = layer_act(&layer.kind);
            let act_back = |cx: &mut Graph, d: NodeIndex| {
                if act == Activation::Linear {
                    d
                } else {
                    let row = layer.output_shape.iter().product();
                    node(cx, Op::ActBack { act, row }, &[a, d])
                }
            };
            d = match layer.kind {
                LayerKind::Dense { units, .. } => {
                    let dz = act_back(&mut cx, d);
                    let inputs = shape.iter().product();
                    grads[i] = Some(node(
                        &mut cx,
                        Op::DenseParamGrad { inputs, units },
                        &[x, dz],
                    ));
                    if !need_dx {
                        break;
                    }
                    let op = Op::DenseBackInput { inputs, units };
                    node(&mut cx, op, &[dz, f.params[i].unwrap()])
                }
                LayerKind::Conv { .. } => {
                    let dz = act_back(&mut cx, d);
                    let geom = conv_geom(&layer.kind, shape)?;
                    grads[i] = Some(node(&mut cx, Op::ConvParamGrad { geom }, &[x, dz]));
                    if !need_dx {
                        break;
                    }
                    node(
                        &mut cx,
                        Op::ConvBackInput { geom },
                        &[dz, f.params[i].unwrap()],
                    )
                }
                LayerKind::Pool { kind, .. } => {
                    let geom = pool_geom(&layer.kind, shape)?;
                    node(&mut cx, Op::PoolBack { geom, kind }, &[x, d])
                }
                LayerKind::Upsample { factor } => {
                    let op = Op::UpsampleBack {
                        shape: image(shape)?,
                        factor,
                    };
                    node(&mut cx, op, &[d])
                }
                LayerKind::Dropout { .. } => match f.masks[i] {
                    Some(m) => node(&mut cx, Op::Mul, &[d, m]),
                    None => d,
                },
                LayerKind::BatchNorm { epsilon, .. } => {
                    let channels = shape[0];
                    let spatial = shape[1..].iter().product();
                    let eps = epsilon;
                    let op = Op::BatchNormParamGrad {
                        channels,
                        spatial,
                        eps,
                    };
                    grads[i] = Some(node(&mut cx, op, &[x, d]));
                    if !need_dx {
                        break;
                    }
                    let op = Op::BatchNormBack {
                        channels,
                        spatial,
                        eps,
                    };
                    node(&mut cx, op, &[x, f.params[i].unwrap(), d])
                }
                LayerKind::Activation(_) => act_back(&mut cx, d),
                LayerKind::Noise(_) => d,
            };
        }
        let input_grad = want_input_grad.then_some(d);
        // L2 weight decay: λ·Σw² in the loss adds 2λ·w to the weight gradient.
        for (i, layer) in model.layers.iter().enumerate() {
            let lambda = weight_decay(&layer.kind);
            if let (Some(g), true) = (grads[i], lambda > 0.0) {
                let (len, _) = param_split(&layer.kind, &layer.input_shape).unwrap();
                grads[i] = Some(node(
                    &mut cx,
                    Op::DecayGrad { lambda, len },
                    &[g, f.params[i].unwrap()],
                ));
            }
        }

        let mut carry = Vec::new();
        let mut kept = vec![loss, output];
        // BatchNorm running statistics follow the training batches.
        for (i, layer) in model.layers.iter().enumerate() {
            if let LayerKind::BatchNorm { momentum, .. } = layer.kind {
                let op = Op::BatchNormRunning {
                    channels: layer.input_shape[0],
                    spatial: layer.input_shape[1..].iter().product(),
                    momentum,
                };
                let r = f.running[i].unwrap();
                let next = node(&mut cx, op, &[f.inputs[i], r]);
                carry.push((r, next));
            }
        }
        let mut slots = vec![Vec::new(); n_layers];
        match optimizer {
            None => kept.extend(grads.iter().flatten().copied().chain(input_grad)),
            Some(opt) => {
                for i in 0..n_layers {
                    let (Some(p), Some(g)) = (f.params[i], grads[i]) else {
                        continue;
                    };
                    let s: Vec<NodeIndex> = (0..ops::opt_slots(opt))
                        .map(|k| load(&mut cx, &format!("layers.{i}.slot{k}")))
                        .collect();
                    carry.extend(add_update(&mut cx, opt, p, g, &s, hyper));
                    slots[i] = s;
                }
            }
        }
        for &(a, b) in &carry {
            cx.no_delete.insert(a);
            kept.push(b);
        }
        for p in f.params.iter().flatten() {
            cx.no_delete.insert(*p);
        }
        for &k in &kept {
            cx.no_delete.insert(k);
        }
        if optimise {
            cx.compile(<passes::Optimise>::default(), ());
        }
        Ok(TrainGraph {
            cx,
            input: f.input,
            target,
            hyper,
            params: f.params,
            running: f.running,
            slots,
            loss,
            output,
            grads,
            input_grad,
            carry,
            kept,
            output_size,
        })
    }

    /// Moves weights (and optimizer slots) into the graph.
    pub fn set_weights(&mut self, w: Weights, slots: Option<Slots>) {
        set_weights(&mut self.cx, &self.params, &self.running, w);
        if let Some(slots) = slots {
            for (ids, vals) in self.slots.iter().zip(slots) {
                for (&id, v) in ids.iter().zip(vals) {
                    self.cx.set_tensor(id, 0, Tensor::new(v));
                }
            }
        }
    }

    /// Moves weights and optimizer slots out of the graph.
    pub fn take_weights(&mut self) -> (Weights, Slots) {
        let w = take_weights(&mut self.cx, &self.params, &self.running);
        let slots = self
            .slots
            .iter()
            .map(|ids| ids.iter().map(|&id| take(&mut self.cx, id)).collect())
            .collect();
        (w, slots)
    }

    /// Runs one step on a batch: forward, loss, backward and (if built with one) the
    /// optimizer update, whose results replace the weights.
    pub fn step(&mut self, input: Vec<f32>, target: Vec<f32>, lr: f32, iteration: u64) -> StepOut {
        let mut hyper = vec![0.0; ops::HYPER_LEN];
        hyper[ops::HYPER_LR] = lr;
        hyper[ops::HYPER_ITER] = iteration as f32;
        self.cx.set_tensor(self.input, 0, Tensor::new(input));
        self.cx.set_tensor(self.target, 0, Tensor::new(target));
        self.cx.set_tensor(self.hyper, 0, Tensor::new(hyper));
        self.cx.execute();
        for &(dst, src) in &self.carry {
            let t = self.cx.get_tensor(src, 0).expect("update was computed");
            self.cx.set_tensor(dst, 0, t);
        }
        let loss = take(&mut self.cx, self.loss)[0];
        let output = take(&mut self.cx, self.output);
        StepOut { loss, output }
    }

    /// After a gradient-only step: takes ∂loss/∂params per layer and ∂loss/∂input.
    pub fn take_grads(&mut self) -> (Vec<Option<Vec<f32>>>, Option<Vec<f32>>) {
        let grads = self
            .grads
            .clone()
            .iter()
            .map(|g| g.map(|id| take(&mut self.cx, id)))
            .collect();
        let dx = self.input_grad.map(|id| take(&mut self.cx, id));
        (grads, dx)
    }

    /// Drops any outputs left in the graph (e.g. unread gradients).
    pub fn clear_outputs(&mut self) {
        let carried: Vec<NodeIndex> = self.carry.iter().map(|c| c.1).collect();
        for &k in self.kept.iter().filter(|k| !carried.contains(k)) {
            self.cx.get_tensor(k, 0);
        }
    }
}

/// Wires one parameter vector's optimizer update (see `ops::update` for formulas and
/// input order); returns the (input, next value) pairs to carry between steps.
fn add_update(
    cx: &mut Graph,
    opt: &Optimizer,
    p: NodeIndex,
    g: NodeIndex,
    slots: &[NodeIndex],
    hyper: NodeIndex,
) -> Vec<(NodeIndex, NodeIndex)> {
    let upd = |cx: &mut Graph, out: OptOut, ins: &[NodeIndex]| {
        node(cx, Op::Update { opt: *opt, out }, ins)
    };
    let slot = OptOut::Slot;
    match (opt, slots) {
        (_, []) => vec![(p, upd(cx, OptOut::Weights, &[p, g, hyper]))],
        (Optimizer::Sgd { .. }, &[v])
        | (Optimizer::RmsProp { .. }, &[v])
        | (Optimizer::Adagrad { .. }, &[v]) => {
            let v2 = upd(cx, slot(0), &[p, g, v, hyper]);
            let w2 = upd(cx, OptOut::Weights, &[p, g, v2, hyper]);
            vec![(v, v2), (p, w2)]
        }
        (Optimizer::Adadelta { .. }, &[a, d]) => {
            let a2 = upd(cx, slot(0), &[p, g, a, hyper]);
            let w2 = upd(cx, OptOut::Weights, &[p, g, a2, d, hyper]);
            let d2 = upd(cx, slot(1), &[p, g, a2, d, hyper]);
            vec![(a, a2), (d, d2), (p, w2)]
        }
        (Optimizer::Adam { .. }, &[m, v]) => {
            let m2 = upd(cx, slot(0), &[p, g, m, hyper]);
            let v2 = upd(cx, slot(1), &[p, g, v, hyper]);
            let w2 = upd(cx, OptOut::Weights, &[p, g, m2, v2, hyper]);
            vec![(m, m2), (v, v2), (p, w2)]
        }
        _ => unreachable!("slot count comes from ops::opt_slots"),
    }
}

fn set_weights(
    cx: &mut Graph,
    params: &[Option<NodeIndex>],
    running: &[Option<NodeIndex>],
    w: Weights,
) {
    for (id, v) in params.iter().zip(w.params) {
        if let Some(id) = id {
            cx.set_tensor(*id, 0, Tensor::new(v));
        }
    }
    for (id, v) in running.iter().zip(w.running) {
        if let Some(id) = id {
            cx.set_tensor(*id, 0, Tensor::new(v));
        }
    }
}

fn take_weights(
    cx: &mut Graph,
    params: &[Option<NodeIndex>],
    running: &[Option<NodeIndex>],
) -> Weights {
    let grab = |cx: &mut Graph, ids: &[Option<NodeIndex>]| {
        ids.iter()
            .map(|id| id.map(|id| take(cx, id)).unwrap_or_default())
            .collect()
    };
    Weights {
        params: grab(cx, params),
        running: grab(cx, running),
    }
}

/// Inference up to (excluding) layer `upto`: dropout off, BatchNorm on running stats.
pub struct ForwardGraph {
    pub cx: Box<Graph>,
    pub input: NodeIndex,
    pub params: Vec<Option<NodeIndex>>,
    pub running: Vec<Option<NodeIndex>>,
    pub output: NodeIndex,
    /// Floats per example of the output.
    pub output_size: usize,
    /// Number of layers this graph covers; weights beyond are kept aside.
    upto: usize,
    aside: Weights,
}

impl ForwardGraph {
    /// `logits`: leave the last layer's softmax/sigmoid off (as the loss sees it).
    pub fn build(model: &Model, upto: usize, logits: bool) -> Result<ForwardGraph> {
        tune_allocator();
        let mut cx = Box::new(Graph::new());
        let f = forward(&mut cx, model, upto, Mode::Eval, logits)?;
        let output = *f.outputs.last().unwrap_or(&f.input);
        cx.no_delete.insert(output);
        for id in f.params.iter().chain(&f.running).flatten() {
            cx.no_delete.insert(*id);
        }
        cx.compile(passes::FuseActivation, ());
        let output_size = if upto == 0 {
            model.input_shape.iter().product()
        } else {
            model.layers[upto - 1].output_shape.iter().product()
        };
        Ok(ForwardGraph {
            cx,
            input: f.input,
            params: f.params,
            running: f.running,
            output,
            output_size,
            upto,
            aside: Weights::default(),
        })
    }

    pub fn set_weights(&mut self, mut w: Weights) {
        self.aside = Weights {
            params: w.params.split_off(self.upto),
            running: w.running.split_off(self.upto),
        };
        set_weights(&mut self.cx, &self.params, &self.running, w);
    }

    pub fn take_weights(&mut self) -> Weights {
        let mut w = take_weights(&mut self.cx, &self.params, &self.running);
        let aside = std::mem::take(&mut self.aside);
        w.params.extend(aside.params);
        w.running.extend(aside.running);
        w
    }

    /// Runs the graph on one batch.
    pub fn run(&mut self, input: Vec<f32>) -> Vec<f32> {
        self.cx.set_tensor(self.input, 0, Tensor::new(input));
        self.cx.execute();
        take(&mut self.cx, self.output)
    }

    /// Runs `n` examples in batches of `batch`, concatenating the outputs.
    pub fn run_all(&mut self, inputs: &[f32], n: usize, batch: usize) -> Vec<f32> {
        let per = inputs.len() / n.max(1);
        let mut outs = Vec::with_capacity(n * self.output_size);
        for start in (0..n).step_by(batch.max(1)) {
            let end = (start + batch).min(n);
            outs.extend(self.run(inputs[start * per..end * per].to_vec()));
        }
        outs
    }
}
