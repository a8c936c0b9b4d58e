//! The generated backward pass: one match over layer kinds, from the loss gradient back
//! to the input, in the manner of candle's `backprop.rs`. Each parameterised layer
//! leaves its `[dw; db]` gradient in `grads`.

use luminal::prelude::{Graph, NodeIndex};
use miette::Result;

use super::forward::{conv_geom, image, pool_geom, Forward};
use super::graph::node;
use super::ops::Op;
use crate::ir::{Activation, LayerKind, Model};

/// ∂loss/∂params per layer and, when `want_input_grad`, ∂loss/∂input, from the gradient
/// `grad` at the network's output. Without the input gradient the pass stops below
/// the first parameterised layer.
pub(super) fn backward(
    cx: &mut Graph,
    model: &Model,
    f: &Forward,
    grad: NodeIndex,
    want_input_grad: bool,
) -> Result<(Vec<Option<NodeIndex>>, Option<NodeIndex>)> {
    let n_layers = model.layers.len();
    let mut d = grad;
    let mut grads: Vec<Option<NodeIndex>> = vec![None; n_layers];
    // The first layer whose input gradient is needed: skip work below the last
    // parameterised layer when nothing uses it.
    let first_needed = if want_input_grad {
        0
    } else {
        model
            .layers
            .iter()
            .position(|l| l.layout().has_params())
            .map(|p| p + 1)
            .unwrap_or(n_layers)
    };
    for (i, layer) in model.layers.iter().enumerate().rev() {
        let (x, a) = (f.inputs[i], f.outputs[i]);
        let shape = &layer.input_shape;
        let need_dx = i >= first_needed;
        let act = layer.activation().unwrap_or(Activation::Linear);
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
                let dz = act_back(cx, d);
                let inputs = shape.iter().product();
                grads[i] = Some(node(cx, Op::DenseParamGrad { inputs, units }, &[x, dz]));
                if !need_dx {
                    break;
                }
                let op = Op::DenseBackInput { inputs, units };
                node(cx, op, &[dz, f.params[i].unwrap()])
            }
            LayerKind::Conv { .. } => {
                let dz = act_back(cx, d);
                let geom = conv_geom(&layer.kind, shape)?;
                grads[i] = Some(node(cx, Op::ConvParamGrad { geom }, &[x, dz]));
                if !need_dx {
                    break;
                }
                node(cx, Op::ConvBackInput { geom }, &[dz, f.params[i].unwrap()])
            }
            LayerKind::Pool { kind, .. } => {
                let geom = pool_geom(&layer.kind, shape)?;
                node(cx, Op::PoolBack { geom, kind }, &[x, d])
            }
            LayerKind::Upsample { factor } => {
                let op = Op::UpsampleBack {
                    shape: image(shape)?,
                    factor,
                };
                node(cx, op, &[d])
            }
            LayerKind::Dropout { .. } => match f.masks[i] {
                Some(m) => node(cx, Op::Mul, &[d, m]),
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
                grads[i] = Some(node(cx, op, &[x, d]));
                if !need_dx {
                    break;
                }
                let op = Op::BatchNormBack {
                    channels,
                    spatial,
                    eps,
                };
                node(cx, op, &[x, f.params[i].unwrap(), d])
            }
            LayerKind::Activation(_) => act_back(cx, d),
            LayerKind::Noise(_) => d,
        };
    }
    Ok((grads, want_input_grad.then_some(d)))
}
