//! The optimizer protocol in one place: how many slots each optimizer keeps, the order
//! in which an update node takes its inputs, and the update math (Keras 2.x).

use luminal::prelude::{Graph, NodeIndex};

use super::graph::{load, node};
use super::ops::{fused1, fused2, zip1, zip2, zip3, Op, HYPER_ITER, HYPER_LR};
use super::{Slots, Weights};
use crate::ir::Optimizer;

/// Which value an optimizer node produces (its inputs are listed in [`update`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptOut {
    /// The updated parameters.
    Weights,
    /// The updated optimizer slot `k` (momentum, accumulator, …).
    Slot(usize),
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
                vec![vec![0.0; p.len()]; opt_slots(opt)]
            }
        })
        .collect()
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
/// Wiring (graph inputs, in order), always starting with w, g and ending with hyper:
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
///
/// The output overwrites the value it replaces (w, or the slot being updated), whose
/// position in that list is [`replaced_input`]: `ins` is the list without hyper, with
/// an empty slice at that position, and `dst` holds the replaced value on entry.
pub fn update(
    opt: &Optimizer,
    which: OptOut,
    ins: &[&[f32]],
    hyper: &[f32],
    mut dst: Vec<f32>,
) -> Vec<f32> {
    let (lr, iters) = (hyper[HYPER_LR], hyper[HYPER_ITER]);
    let empty: &[f32] = &[];
    let at = |k: usize| ins.get(k).copied().unwrap_or(empty);
    let (g, s1, s2) = (at(1), at(2), at(3));
    let d = &mut dst;
    match (*opt, which) {
        (Optimizer::Sgd { .. }, OptOut::Weights) if ins.len() == 2 => {
            zip1(d, g, move |w, g| rule::sgd(w, g, lr))
        }
        (Optimizer::Sgd { momentum, .. }, OptOut::Slot(0)) => {
            zip1(d, g, move |v, g| rule::velocity(v, g, momentum, lr))
        }
        (
            Optimizer::Sgd {
                momentum, nesterov, ..
            },
            OptOut::Weights,
        ) => {
            if nesterov {
                zip2(d, g, s1, move |w, g, v| {
                    rule::nesterov(w, g, v, momentum, lr)
                })
            } else {
                zip1(d, s1, rule::momentum)
            }
        }
        (Optimizer::RmsProp { rho, .. }, OptOut::Slot(0))
        | (Optimizer::Adadelta { rho, .. }, OptOut::Slot(0)) => {
            zip1(d, g, move |a, g| rule::mean_square(a, g, rho))
        }
        (Optimizer::RmsProp { epsilon, decay, .. }, OptOut::Weights) => {
            let lr_t = rule::time_decay(lr, decay, iters);
            zip2(d, g, s1, move |w, g, a| {
                rule::scaled(w, g, a, lr_t, epsilon)
            })
        }
        (Optimizer::Adagrad { .. }, OptOut::Slot(0)) => zip1(d, g, rule::square_sum),
        (Optimizer::Adagrad { epsilon, .. }, OptOut::Weights) => {
            zip2(d, g, s1, move |w, g, a| rule::scaled(w, g, a, lr, epsilon))
        }
        (Optimizer::Adadelta { epsilon, .. }, OptOut::Weights) => {
            zip3(d, g, s1, s2, move |w, g, a, dd| {
                rule::adadelta_weights(w, g, a, dd, lr, epsilon)
            })
        }
        (Optimizer::Adadelta { rho, epsilon, .. }, OptOut::Slot(1)) => {
            zip2(d, g, s1, move |dv, g, a| {
                rule::adadelta_delta(dv, g, a, rho, epsilon)
            })
        }
        (Optimizer::Adam { beta1, .. }, OptOut::Slot(0)) => {
            zip1(d, g, move |m, g| rule::first_moment(m, g, beta1))
        }
        (Optimizer::Adam { beta2, .. }, OptOut::Slot(1)) => {
            zip1(d, g, move |v, g| rule::second_moment(v, g, beta2))
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
            let lr_t = rule::adam_rate(lr, iters, beta1, beta2);
            zip2(d, s1, s2, move |w, m, v| {
                rule::adam_weights(w, m, v, lr_t, epsilon)
            })
        }
        (opt, which) => unreachable!("optimizer {opt:?} has no output {which:?}"),
    }
    dst
}

/// Every output of one parameter vector's update in one pass over memory: `w` and
/// `slots` (as [`init_slots`] lays them out) hold the old values on entry and the new
/// ones on return. Each element goes through the same [`rule`] functions in the same
/// order as the per-output nodes of [`update`], so the results are bit-identical.
pub fn update_fused(
    opt: &Optimizer,
    hyper: &[f32],
    w: &mut [f32],
    g: &[f32],
    slots: &mut [Vec<f32>],
) {
    let (lr, iters) = (hyper[HYPER_LR], hyper[HYPER_ITER]);
    match (*opt, slots) {
        (Optimizer::Sgd { .. }, []) => zip1(w, g, move |w, g| rule::sgd(w, g, lr)),
        (
            Optimizer::Sgd {
                momentum, nesterov, ..
            },
            [v],
        ) => {
            if nesterov {
                fused1(w, g, v, move |w, g, v| {
                    *v = rule::velocity(*v, g, momentum, lr);
                    *w = rule::nesterov(*w, g, *v, momentum, lr);
                })
            } else {
                fused1(w, g, v, move |w, g, v| {
                    *v = rule::velocity(*v, g, momentum, lr);
                    *w = rule::momentum(*w, *v);
                })
            }
        }
        (
            Optimizer::RmsProp {
                rho,
                epsilon,
                decay,
                ..
            },
            [a],
        ) => {
            let lr_t = rule::time_decay(lr, decay, iters);
            fused1(w, g, a, move |w, g, a| {
                *a = rule::mean_square(*a, g, rho);
                *w = rule::scaled(*w, g, *a, lr_t, epsilon);
            })
        }
        (Optimizer::Adagrad { epsilon, .. }, [a]) => fused1(w, g, a, move |w, g, a| {
            *a = rule::square_sum(*a, g);
            *w = rule::scaled(*w, g, *a, lr, epsilon);
        }),
        (Optimizer::Adadelta { rho, epsilon, .. }, [a, d]) => {
            fused2(w, g, a, d, move |w, g, a, d| {
                *a = rule::mean_square(*a, g, rho);
                *w = rule::adadelta_weights(*w, g, *a, *d, lr, epsilon);
                *d = rule::adadelta_delta(*d, g, *a, rho, epsilon);
            })
        }
        (
            Optimizer::Adam {
                beta1,
                beta2,
                epsilon,
                ..
            },
            [m, v],
        ) => {
            let lr_t = rule::adam_rate(lr, iters, beta1, beta2);
            fused2(w, g, m, v, move |w, g, m, v| {
                *m = rule::first_moment(*m, g, beta1);
                *v = rule::second_moment(*v, g, beta2);
                *w = rule::adam_weights(*w, *m, *v, lr_t, epsilon);
            })
        }
        (opt, slots) => unreachable!("optimizer {opt:?} with {} slots", slots.len()),
    }
}

/// The per-element update formulas (Keras 2.x), shared by [`update`] and
/// [`update_fused`] so that both round identically.
mod rule {
    #[inline(always)]
    pub fn sgd(w: f32, g: f32, lr: f32) -> f32 {
        w - lr * g
    }
    /// v' = μv − lr·g.
    #[inline(always)]
    pub fn velocity(v: f32, g: f32, momentum: f32, lr: f32) -> f32 {
        momentum * v - lr * g
    }
    /// w + v' (v' the new velocity).
    #[inline(always)]
    pub fn momentum(w: f32, v: f32) -> f32 {
        w + v
    }
    /// w + μv' − lr·g.
    #[inline(always)]
    pub fn nesterov(w: f32, g: f32, v: f32, momentum: f32, lr: f32) -> f32 {
        w + momentum * v - lr * g
    }
    /// ρa + (1−ρ)g² (RMSprop and Adadelta accumulators).
    #[inline(always)]
    pub fn mean_square(a: f32, g: f32, rho: f32) -> f32 {
        rho * a + (1.0 - rho) * g * g
    }
    /// a + g² (Adagrad).
    #[inline(always)]
    pub fn square_sum(a: f32, g: f32) -> f32 {
        a + g * g
    }
    /// lr / (1 + decay·iterations).
    pub fn time_decay(lr: f32, decay: f32, iters: f32) -> f32 {
        lr / (1.0 + decay * iters)
    }
    /// w − lr·g/(√a' + ε) (RMSprop, Adagrad).
    #[inline(always)]
    pub fn scaled(w: f32, g: f32, a: f32, lr: f32, epsilon: f32) -> f32 {
        w - lr * g / (a.sqrt() + epsilon)
    }
    /// w − lr·g·√(d + ε)/√(a' + ε).
    #[inline(always)]
    pub fn adadelta_weights(w: f32, g: f32, a: f32, d: f32, lr: f32, epsilon: f32) -> f32 {
        w - lr * g * (d + epsilon).sqrt() / (a + epsilon).sqrt()
    }
    /// ρd + (1−ρ)Δ², Δ = g·√(d + ε)/√(a' + ε).
    #[inline(always)]
    pub fn adadelta_delta(d: f32, g: f32, a: f32, rho: f32, epsilon: f32) -> f32 {
        let step = g * (d + epsilon).sqrt() / (a + epsilon).sqrt();
        rho * d + (1.0 - rho) * step * step
    }
    /// β₁m + (1−β₁)g.
    #[inline(always)]
    pub fn first_moment(m: f32, g: f32, beta1: f32) -> f32 {
        beta1 * m + (1.0 - beta1) * g
    }
    /// β₂v + (1−β₂)g².
    #[inline(always)]
    pub fn second_moment(v: f32, g: f32, beta2: f32) -> f32 {
        beta2 * v + (1.0 - beta2) * g * g
    }
    /// lr·√(1−β₂ᵗ)/(1−β₁ᵗ), t = iterations + 1.
    pub fn adam_rate(lr: f32, iters: f32, beta1: f32, beta2: f32) -> f32 {
        let t = iters + 1.0;
        lr * (1.0 - beta2.powf(t)).sqrt() / (1.0 - beta1.powf(t))
    }
    /// w − lr_t·m'/(√v' + ε).
    #[inline(always)]
    pub fn adam_weights(w: f32, m: f32, v: f32, lr_t: f32, epsilon: f32) -> f32 {
        w - lr_t * m / (v.sqrt() + epsilon)
    }
}

/// Position, in an update node's inputs, of the value its output replaces (see [`update`]).
pub fn replaced_input(opt: &Optimizer, which: OptOut) -> usize {
    match (opt, which) {
        (_, OptOut::Weights) => 0,
        (Optimizer::Adadelta { .. }, OptOut::Slot(1)) => 3,
        (_, OptOut::Slot(_)) => 2,
    }
}

/// Wires one parameter vector's optimizer update (see [`update`] for formulas and
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
        _ => unreachable!("slot count comes from opt_slots"),
    }
}

/// Layer `i`'s optimizer slots as graph inputs, and its update wired on parameters `p`
/// with gradient `g`: returns the slot inputs and the (input, next value) pairs to carry.
#[allow(clippy::type_complexity)]
pub(super) fn wire_layer(
    cx: &mut Graph,
    opt: &Optimizer,
    i: usize,
    p: NodeIndex,
    g: NodeIndex,
    hyper: NodeIndex,
) -> (Vec<NodeIndex>, Vec<(NodeIndex, NodeIndex)>) {
    let slots: Vec<NodeIndex> = (0..opt_slots(opt))
        .map(|k| load(cx, &format!("layers.{i}.slot{k}")))
        .collect();
    let carry = add_update(cx, opt, p, g, &slots, hyper);
    (slots, carry)
}
