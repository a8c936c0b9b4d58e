//! Compiler passes over a lowered graph (luminal's `Compiler` trait).
//!
//! The lowering in `lower` emits the plain form, one node per mathematical step:
//! `Conv`/`Dense` without activation followed by an `Act` node, `ActBack` before the
//! backward ops, optimizer updates that write fresh buffers. These passes recognise
//! subgraphs of that form and swap in fused ops, which compute the same values with
//! fewer passes over memory:
//!
//! - [`FuseSoftmaxLoss`]: softmax + cross-entropy (sigmoid + binary cross-entropy)
//!   on probabilities, and the activation's backward, → the loss and its gradient
//!   computed from the logits in one stable step ((softmax − onehot)/n).
//! - [`FuseActivation`]: `Act(Conv|Dense[linear])` → `Conv|Dense[act]` (activation
//!   applied in place on the op's fresh output; dense bias + ReLU in one pass).
//! - [`FuseReluPoolBack`]: `ActBack[relu](a, PoolBack[max](a, dy))` → one
//!   `MaxPoolReluBack(a, dy)`: one pass instead of two over the full-size gradient,
//!   written over the activation's buffer when that is its last use.
//! - [`FuseConvPool`]: `Pool[max 2×2/2](Conv[relu](x, p))` on a layer with few input
//!   taps (the first layer) and its `MaxPoolReluBack` → `ConvReluMaxPool` (pooled
//!   values and winner codes, never the full-size convolution output) and
//!   `MaxPoolArgBack`. `ARCHC_NO_CONV_POOL=1` turns this pass off.
//! - [`PairDenseBack`]: a dense layer's `DenseBackInput(dz, p)` and
//!   `DenseParamGrad(x, dz)` → one `DenseBack(x, dz, p)` that runs the two products
//!   side by side, one core each. `ARCHC_NO_PAIR_DENSE=1` turns this pass off.
//! - [`FuseUpdate`]: a parameter vector's optimizer nodes (one per output: weights,
//!   each slot, every one re-reading the gradient and slots) → one `FusedUpdate` that
//!   updates weights and slots in one pass, its outputs passed on by `Pick` nodes at
//!   the old nodes' ids. `ARCHC_NO_FUSED_UPDATE=1` turns this pass off.
//! - [`InPlaceUpdate`]: each optimizer node becomes the last consumer of the values it
//!   replaces (weights, slots), so luminal hands it those buffers owned and the update
//!   is written in place: no parameter-sized allocation or copy per step.
//!
//! Node ids outside the graph stay valid: a fused node keeps the id of the node whose
//! output it computes, and only nodes nobody outside refers to are removed.

use luminal::prelude::petgraph::visit::EdgeRef;
use luminal::prelude::petgraph::Direction;
use luminal::prelude::{Compiler, Dependency, Graph, NodeIndex, ToIdsMut};

use super::graph::node;
use super::ops::{opt_slots, replaced_input, Op, OptOut};
use crate::ir::{Activation, Loss, PoolKind};

/// All passes, in the order `TrainGraph::build` runs them.
pub type Optimise = (
    FuseSoftmaxLoss,
    FuseActivation,
    FuseReluPoolBack,
    FuseConvPool,
    PairDenseBack,
    FuseUpdate,
    InPlaceUpdate,
);

/// Our op at `n`, if it is one.
fn op(cx: &Graph, n: NodeIndex) -> Option<&Op> {
    cx.graph.node_weight(n)?.as_any().downcast_ref::<Op>()
}

/// Data sources of `n` in input order.
fn sources(cx: &Graph, n: NodeIndex) -> Vec<NodeIndex> {
    cx.get_sources(n).into_iter().map(|(s, _, _)| s).collect()
}

/// Nodes consuming `n`'s output through data edges (one entry per edge).
fn consumers(cx: &Graph, n: NodeIndex) -> Vec<NodeIndex> {
    cx.graph
        .edges_directed(n, Direction::Outgoing)
        .filter(|e| !e.weight().is_schedule())
        .map(|e| e.target())
        .collect()
}

/// Replaces the op and inputs of `n` (its outgoing edges stay).
fn rewire(cx: &mut Graph, n: NodeIndex, new: Op, inputs: &[NodeIndex]) {
    let inputs: Vec<(NodeIndex, u8)> = inputs.iter().map(|&i| (i, 0)).collect();
    rewire_outputs(cx, n, new, &inputs);
}

/// [`rewire`] with inputs given as (node, output index).
fn rewire_outputs(cx: &mut Graph, n: NodeIndex, new: Op, inputs: &[(NodeIndex, u8)]) {
    let old: Vec<_> = cx
        .graph
        .edges_directed(n, Direction::Incoming)
        .map(|e| e.id())
        .collect();
    for e in old {
        cx.graph.remove_edge(e);
    }
    for (k, &(src, output)) in inputs.iter().enumerate() {
        cx.graph.add_edge(
            src,
            n,
            Dependency::Data {
                input_order: k as u8,
                output_order: output,
                shape: luminal::prelude::ShapeTracker::new(&[]),
            },
        );
    }
    *cx.graph.node_weight_mut(n).unwrap() = Box::new(new);
}

/// A node whose only consumer is the node being fused into it, and that nobody
/// outside the graph reads: safe to remove.
fn private(cx: &Graph, n: NodeIndex) -> bool {
    consumers(cx, n).len() == 1 && !cx.no_delete.contains(&n) && !cx.to_retrieve.contains(&n)
}

/// `ProbLoss(Act[s](z), t)`, `ActBack[s](Act[s](z), ProbLossGrad(Act[s](z), t))` →
/// `Loss(z, t)`, `LossGrad(z, t)` for s = softmax with cross-entropy or s = sigmoid
/// with binary cross-entropy. The loss and gradient nodes keep their ids.
#[derive(Debug, Default)]
pub struct FuseSoftmaxLoss;

impl Compiler for FuseSoftmaxLoss {
    fn compile<T: ToIdsMut>(&self, cx: &mut Graph, _: T) {
        let nodes: Vec<NodeIndex> = cx.graph.node_indices().collect();
        for s in nodes {
            let Some(&Op::Act { act, .. }) = op(cx, s) else {
                continue;
            };
            let [z] = sources(cx, s)[..] else { continue };
            let (mut value, mut grad, mut back) = (None, None, None);
            let mut other = false;
            for c in consumers(cx, s) {
                match op(cx, c) {
                    Some(&Op::ProbLoss { loss, row }) => value = Some((c, loss, row)),
                    Some(&Op::ProbLossGrad { .. }) => grad = Some(c),
                    Some(&Op::ActBack { act: a, .. }) if a == act => back = Some(c),
                    _ => other = true,
                }
            }
            let (Some((l, loss, row)), Some(g), Some(b), false) = (value, grad, back, other) else {
                continue;
            };
            let pair = matches!(
                (act, loss),
                (Activation::Softmax, Loss::CrossEntropy)
                    | (Activation::Sigmoid, Loss::BinaryCrossEntropy)
            );
            // The gradient must reach the activation's backward and nothing else.
            if !pair || consumers(cx, g) != [b] || sources(cx, b) != [s, g] || !private(cx, g) {
                continue;
            }
            let t = sources(cx, l)[1];
            rewire(cx, l, Op::Loss { loss, row }, &[z, t]);
            rewire(cx, b, Op::LossGrad { loss, row }, &[z, t]);
            cx.graph.remove_node(g);
            if consumers(cx, s).is_empty() && !cx.no_delete.contains(&s) {
                cx.graph.remove_node(s);
            }
        }
    }
}

/// `Act[a](Conv|Dense[linear](x, p))` → `Conv|Dense[a](x, p)` at the `Act` node's id.
#[derive(Debug, Default)]
pub struct FuseActivation;

impl Compiler for FuseActivation {
    fn compile<T: ToIdsMut>(&self, cx: &mut Graph, _: T) {
        let nodes: Vec<NodeIndex> = cx.graph.node_indices().collect();
        for n in nodes {
            let Some(&Op::Act { act, .. }) = op(cx, n) else {
                continue;
            };
            let [z] = sources(cx, n)[..] else { continue };
            if !private(cx, z) {
                continue;
            }
            let fused = match op(cx, z) {
                Some(Op::Conv {
                    geom,
                    act: Activation::Linear,
                }) => Op::Conv { geom: *geom, act },
                Some(&Op::Dense {
                    inputs,
                    units,
                    act: Activation::Linear,
                }) => Op::Dense { inputs, units, act },
                _ => continue,
            };
            let ins = sources(cx, z);
            rewire(cx, n, fused, &ins);
            cx.graph.remove_node(z);
        }
    }
}

/// `ActBack[relu](a, PoolBack[max](a, dy))` → `MaxPoolReluBack(a, dy)`.
#[derive(Debug, Default)]
pub struct FuseReluPoolBack;

impl Compiler for FuseReluPoolBack {
    fn compile<T: ToIdsMut>(&self, cx: &mut Graph, _: T) {
        let nodes: Vec<NodeIndex> = cx.graph.node_indices().collect();
        for n in nodes {
            let Some(Op::ActBack {
                act: Activation::Relu,
                ..
            }) = op(cx, n)
            else {
                continue;
            };
            let [a, d] = sources(cx, n)[..] else { continue };
            let Some(&Op::PoolBack {
                geom,
                kind: PoolKind::Max,
            }) = op(cx, d)
            else {
                continue;
            };
            let [pa, dy] = sources(cx, d)[..] else {
                continue;
            };
            if pa != a || !private(cx, d) {
                continue;
            }
            rewire(cx, n, Op::MaxPoolReluBack { geom }, &[a, dy]);
            cx.graph.remove_node(d);
        }
    }
}

/// Largest C_in·KH·KW [`FuseConvPool`] fuses: up to a 5×5 kernel on 4 channels. Wider
/// layers have GEMMs large enough that their output's round trip through memory
/// matters less, and run as Winograd when 3×3.
pub const CONV_POOL_MAX_TAPS: usize = 100;

/// `Pool[max](a)` and `MaxPoolReluBack(a, dy)` on `a = Conv[relu](x, p)`, where those
/// are `a`'s only consumers, the pooling is 2×2/2 without padding and the layer has at
/// most [`CONV_POOL_MAX_TAPS`] input taps → `ConvReluMaxPool(x, p)`, whose pooled
/// output the pool node passes on and whose winner codes the conv node passes on (both
/// become `Pick`s and keep their ids), and `MaxPoolArgBack(codes, dy)` at the gradient
/// node's id.
#[derive(Debug)]
pub struct FuseConvPool {
    /// Leave the graph as it is (the default when the environment variable
    /// `ARCHC_NO_CONV_POOL` is set).
    pub skip: bool,
}

impl Default for FuseConvPool {
    fn default() -> Self {
        FuseConvPool {
            skip: std::env::var_os("ARCHC_NO_CONV_POOL").is_some(),
        }
    }
}

impl Compiler for FuseConvPool {
    fn compile<T: ToIdsMut>(&self, cx: &mut Graph, _: T) {
        if self.skip {
            return;
        }
        let nodes: Vec<NodeIndex> = cx.graph.node_indices().collect();
        for a in nodes {
            let Some(&Op::Conv {
                geom,
                act: Activation::Relu,
            }) = op(cx, a)
            else {
                continue;
            };
            let taps = geom.in_channels * geom.kernel[0] * geom.kernel[1];
            if taps > CONV_POOL_MAX_TAPS || cx.no_delete.contains(&a) || cx.to_retrieve.contains(&a)
            {
                continue;
            }
            let (mut pool, mut back, mut other) = (None, None, false);
            for c in consumers(cx, a) {
                match op(cx, c) {
                    Some(&Op::Pool {
                        geom: pg,
                        kind: PoolKind::Max,
                    }) if pool.is_none() => pool = Some((c, pg)),
                    Some(&Op::MaxPoolReluBack { geom: pg }) if back.is_none() => {
                        back = Some((c, pg))
                    }
                    _ => other = true,
                }
            }
            let (Some((pl, pg)), Some((bk, bg)), false) = (pool, back, other) else {
                continue;
            };
            let bsrc = sources(cx, bk);
            if pg != bg
                || bsrc.first() != Some(&a)
                || !crate::kernels::conv_relu_max_pool_supports(&geom, &pg)
            {
                continue;
            }
            let dy = bsrc[1];
            let ins = sources(cx, a);
            let fused = node(cx, Op::ConvReluMaxPool { geom, pool: pg }, &ins);
            rewire_outputs(cx, pl, Op::Pick { index: 0 }, &[(fused, 0)]);
            rewire_outputs(cx, a, Op::Pick { index: 1 }, &[(fused, 1)]);
            rewire(cx, bk, Op::MaxPoolArgBack { pool: pg }, &[a, dy]);
        }
    }
}

/// `DenseBackInput(dz, p)` and `DenseParamGrad(x, dz)` of one layer (same dz, same
/// sizes) → `DenseBack(x, dz, p)`; the two old nodes become `Pick`s of its outputs
/// (input gradient 0, parameter gradient 1), keeping their ids.
#[derive(Debug)]
pub struct PairDenseBack {
    /// Leave the graph as it is (the default when `ARCHC_NO_PAIR_DENSE` is set, to
    /// compare against the products split over the cores one after the other).
    pub skip: bool,
}

impl Default for PairDenseBack {
    fn default() -> Self {
        PairDenseBack {
            skip: std::env::var_os("ARCHC_NO_PAIR_DENSE").is_some(),
        }
    }
}

impl Compiler for PairDenseBack {
    fn compile<T: ToIdsMut>(&self, cx: &mut Graph, _: T) {
        if self.skip {
            return;
        }
        let nodes: Vec<NodeIndex> = cx.graph.node_indices().collect();
        for b in nodes {
            let Some(&Op::DenseBackInput { inputs, units }) = op(cx, b) else {
                continue;
            };
            let bsrc = sources(cx, b);
            let (dz, p) = (bsrc[0], bsrc[1]);
            let grad = consumers(cx, dz).into_iter().find(|&g| {
                op(cx, g) == Some(&Op::DenseParamGrad { inputs, units })
                    && sources(cx, g).get(1) == Some(&dz)
            });
            let Some(g) = grad else {
                continue;
            };
            let x = sources(cx, g)[0];
            let paired = node(cx, Op::DenseBack { inputs, units }, &[x, dz, p]);
            rewire_outputs(cx, b, Op::Pick { index: 0 }, &[(paired, 0)]);
            rewire_outputs(cx, g, Op::Pick { index: 1 }, &[(paired, 1)]);
        }
    }
}

/// The `Update` nodes of one parameter vector → one `FusedUpdate(w, g, slots…, hyper)`;
/// the old nodes become `Pick`s of its outputs (weights 0, slot k at k + 1), so the ids
/// the training step carries between steps stay valid. Plain SGD (one node) is left
/// alone.
#[derive(Debug)]
pub struct FuseUpdate {
    /// Leave the graph as it is (the default when the environment variable
    /// `ARCHC_NO_FUSED_UPDATE` is set, to compare against the per-output nodes).
    pub skip: bool,
}

impl Default for FuseUpdate {
    fn default() -> Self {
        FuseUpdate {
            skip: std::env::var_os("ARCHC_NO_FUSED_UPDATE").is_some(),
        }
    }
}

impl Compiler for FuseUpdate {
    fn compile<T: ToIdsMut>(&self, cx: &mut Graph, _: T) {
        if self.skip {
            return;
        }
        let nodes: Vec<NodeIndex> = cx.graph.node_indices().collect();
        for g in nodes {
            let updates: Vec<(NodeIndex, crate::ir::Optimizer, OptOut)> = consumers(cx, g)
                .into_iter()
                .filter_map(|u| match op(cx, u) {
                    Some(&Op::Update { opt, out }) => Some((u, opt, out)),
                    _ => None,
                })
                .collect();
            let Some(&(_, opt, _)) = updates.first() else {
                continue;
            };
            let k = opt_slots(&opt);
            if k == 0 || updates.len() != k + 1 || updates.iter().any(|u| u.1 != opt) {
                continue;
            }
            // outs[0]: the weights node, outs[j + 1]: slot j's node.
            let mut outs = vec![None; k + 1];
            for &(u, _, out) in &updates {
                let at = match out {
                    OptOut::Weights => 0,
                    OptOut::Slot(j) if j < k => j + 1,
                    OptOut::Slot(_) => continue,
                };
                outs[at] = Some(u);
            }
            let Some(outs) = outs.into_iter().collect::<Option<Vec<NodeIndex>>>() else {
                continue;
            };
            let srcs = sources(cx, outs[0]);
            let (w, hyper) = (srcs[0], *srcs.last().expect("update has inputs"));
            let mut ins = vec![w, g];
            let mut wired = true;
            for (j, &u) in outs[1..].iter().enumerate() {
                let s = sources(cx, u);
                wired &= s[0] == w && s[1] == g && s.last() == Some(&hyper);
                ins.push(s[replaced_input(&opt, OptOut::Slot(j))]);
            }
            if !wired || srcs[1] != g {
                continue;
            }
            ins.push(hyper);
            let fused = node(cx, Op::FusedUpdate { opt }, &ins);
            for (index, &u) in outs.iter().enumerate() {
                rewire_outputs(
                    cx,
                    u,
                    Op::Pick { index: index as u8 },
                    &[(fused, index as u8)],
                );
            }
        }
    }
}

/// Positions, in an optimizer node's inputs, of the values its outputs replace.
fn replaced_inputs(o: &Op, n_inputs: usize) -> Vec<usize> {
    match o {
        Op::Update { opt, out } => vec![replaced_input(opt, *out)],
        // (w, g, slots…, hyper): all but the gradient and hyper.
        Op::FusedUpdate { .. } => std::iter::once(0).chain(2..n_inputs - 1).collect(),
        _ => Vec::new(),
    }
}

/// Makes every `Update`/`FusedUpdate` node the last consumer of the weights or slots it
/// replaces (schedule edges from the other consumers) and lets those buffers be handed
/// over (removes them from `no_delete`: the step moves the new values back in
/// afterwards). Skipped for a value when the ordering would form a cycle.
#[derive(Debug, Default)]
pub struct InPlaceUpdate;

impl Compiler for InPlaceUpdate {
    fn compile<T: ToIdsMut>(&self, cx: &mut Graph, _: T) {
        use luminal::prelude::petgraph::algo::has_path_connecting;
        let nodes: Vec<NodeIndex> = cx.graph.node_indices().collect();
        for u in nodes {
            let srcs = sources(cx, u);
            let Some(replaced) = op(cx, u).map(|o| replaced_inputs(o, srcs.len())) else {
                continue;
            };
            for r in replaced.into_iter().map(|k| srcs[k]) {
                // Only graph inputs (weights, slots) are carried between steps.
                if cx
                    .graph
                    .edges_directed(r, Direction::Incoming)
                    .next()
                    .is_some()
                    || consumers(cx, r).iter().filter(|&&c| c == u).count() != 1
                {
                    continue;
                }
                let others: Vec<NodeIndex> =
                    consumers(cx, r).into_iter().filter(|&c| c != u).collect();
                if others
                    .iter()
                    .any(|&c| has_path_connecting(&cx.graph, u, c, None))
                {
                    continue;
                }
                for c in others {
                    cx.graph.add_edge(c, u, Dependency::Schedule);
                }
                cx.no_delete.remove(&r);
            }
        }
    }
}
