//! The loss at the end of the forward pass, the L2 weight-decay penalty, and the
//! gradients they send back.

use luminal::prelude::{Graph, NodeIndex};
use miette::{miette, Result};

use super::forward::Forward;
use super::graph::node;
use super::ops::Op;
use crate::ir::{Activation, Loss, Model};

/// The loss nodes of a training graph.
pub(super) struct LossNodes {
    /// Loss including the L2 penalty.
    pub loss: NodeIndex,
    /// Network output before the fused activation (logits), or the output for MSE.
    pub output: NodeIndex,
    /// ∂loss/∂(network output): where the backward pass starts.
    pub grad: NodeIndex,
}

/// How the last layer's activation relates to the loss.
pub(super) fn fused_activation(model: &Model) -> Result<Option<Activation>> {
    let last = model
        .layers
        .last()
        .ok_or_else(|| miette!("model has no layers"))?;
    let act = last.activation();
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

/// Wires the loss on the forward pass `f`, the penalty λ·Σw² of each decayed layer,
/// and the loss gradient. Plain form: the output activation stays a node and the loss
/// reads its probabilities; `passes::FuseSoftmaxLoss` turns that into the loss on logits.
pub(super) fn wire(
    cx: &mut Graph,
    model: &Model,
    f: &Forward,
    fused: Option<Activation>,
    target: NodeIndex,
) -> LossNodes {
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
    let mut loss = node(cx, loss_op, &[loss_in, target]);
    let decayed: Vec<(usize, f32, usize)> = model
        .layers
        .iter()
        .enumerate()
        .filter_map(|(i, l)| {
            let (lambda, nw) = l.layout().decay()?;
            Some((i, lambda, nw))
        })
        .collect();
    if !decayed.is_empty() {
        let mut ins = vec![loss];
        ins.extend(decayed.iter().map(|&(i, _, _)| f.params[i].unwrap()));
        let terms = decayed.iter().map(|&(_, l, n)| (l, n)).collect();
        loss = node(cx, Op::Penalty { terms }, &ins);
    }
    let grad = node(cx, grad_op, &[loss_in, target]);
    LossNodes { loss, output, grad }
}

/// L2 weight decay: λ·Σw² in the loss adds 2λ·w to the decayed part of each gradient.
pub(super) fn decay_grads(
    cx: &mut Graph,
    model: &Model,
    f: &Forward,
    grads: &mut [Option<NodeIndex>],
) {
    for (i, layer) in model.layers.iter().enumerate() {
        if let (Some(g), Some((lambda, len))) = (grads[i], layer.layout().decay()) {
            grads[i] = Some(node(
                cx,
                Op::DecayGrad { lambda, len },
                &[g, f.params[i].expect("decayed layers have parameters")],
            ));
        }
    }
}
