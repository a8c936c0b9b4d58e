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
//! - [`InPlaceUpdate`]: each optimizer node becomes the last consumer of the value it
//!   replaces (weights or slot), so luminal hands it that buffer owned and the update
//!   is written in place: no parameter-sized allocation or copy per step.
//!
//! Node ids outside the graph stay valid: a fused node keeps the id of the node whose
//! output it computes, and only nodes nobody outside refers to are removed.

use luminal::prelude::petgraph::visit::EdgeRef;
use luminal::prelude::petgraph::Direction;
use luminal::prelude::{Compiler, Dependency, Graph, NodeIndex, ToIdsMut};

use super::ops::{replaced_input, Op};
use crate::ir::{Activation, Loss, PoolKind};

/// All passes, in the order `TrainGraph::build` runs them.
pub type Optimise = (
    FuseSoftmaxLoss,
    FuseActivation,
    FuseReluPoolBack,
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
    let old: Vec<_> = cx
        .graph
        .edges_directed(n, Direction::Incoming)
        .map(|e| e.id())
        .collect();
    for e in old {
        cx.graph.remove_edge(e);
    }
    for (k, &src) in inputs.iter().enumerate() {
        cx.graph.add_edge(
            src,
            n,
            Dependency::Data {
                input_order: k as u8,
                output_order: 0,
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

/// Makes every `Update` node the last consumer of the weights or slot it replaces
/// (schedule edges from the other consumers) and lets that buffer be handed over
/// (removes it from `no_delete`: the step moves the new value back in afterwards).
/// Skipped for a node when the ordering would form a cycle.
#[derive(Debug, Default)]
pub struct InPlaceUpdate;

impl Compiler for InPlaceUpdate {
    fn compile<T: ToIdsMut>(&self, cx: &mut Graph, _: T) {
        use luminal::prelude::petgraph::algo::has_path_connecting;
        let nodes: Vec<NodeIndex> = cx.graph.node_indices().collect();
        for u in nodes {
            let Some(&Op::Update { opt, out }) = op(cx, u) else {
                continue;
            };
            let srcs = sources(cx, u);
            let r = srcs[replaced_input(&opt, out)];
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
            let others: Vec<NodeIndex> = consumers(cx, r).into_iter().filter(|&c| c != u).collect();
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
