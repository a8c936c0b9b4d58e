//! The forward pass: one match over layer kinds, each emitting its ops. This is the
//! seam where an op is chosen for a layer; how an op runs is `ops` (CPU kernels today).

use luminal::prelude::{Graph, NodeIndex};
use miette::{miette, Result};

use super::graph::{load, node};
use super::ops::Op;
use crate::ir::{Activation, Layer, LayerKind, Model};
use crate::kernels::{ConvGeom, PoolGeom};

/// Nodes of one forward pass.
pub(super) struct Forward {
    pub input: NodeIndex,
    pub params: Vec<Option<NodeIndex>>,
    pub running: Vec<Option<NodeIndex>>,
    /// Input node of each layer and its output node.
    pub inputs: Vec<NodeIndex>,
    pub outputs: Vec<NodeIndex>,
    /// Each layer's value before its activation (its output when it has none).
    pub pre_act: Vec<NodeIndex>,
    pub masks: Vec<Option<NodeIndex>>,
}

#[derive(Clone, Copy, PartialEq)]
pub(super) enum Mode {
    Train { hyper: NodeIndex },
    Eval,
}

/// Emits layers `0..upto` in `mode`. `linear_last`: drop the final activation
/// (the caller wants logits). Activations are separate `Act` nodes (plain form).
pub(super) fn forward(
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
        let layout = layer.layout();
        let p = layout
            .has_params()
            .then(|| load(cx, &format!("layers.{i}")));
        let r = (layout.running_len() > 0).then(|| load(cx, &format!("layers.{i}.running")));
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

pub(super) fn image(shape: &[usize]) -> Result<[usize; 3]> {
    match *shape {
        [c, h, w] => Ok([c, h, w]),
        _ => Err(miette!("expected an image input [C, H, W], got {shape:?}")),
    }
}

pub(super) fn conv_geom(kind: &LayerKind, shape: &[usize]) -> Result<ConvGeom> {
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

pub(super) fn pool_geom(kind: &LayerKind, shape: &[usize]) -> Result<PoolGeom> {
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

/// BatchNorm running statistics follow the training batches: (running input, node
/// computing its next value) per BatchNorm layer.
pub(super) fn running_updates(
    cx: &mut Graph,
    model: &Model,
    f: &Forward,
) -> Vec<(NodeIndex, NodeIndex)> {
    let mut carry = Vec::new();
    for (i, layer) in model.layers.iter().enumerate() {
        if let LayerKind::BatchNorm { momentum, .. } = layer.kind {
            let op = Op::BatchNormRunning {
                channels: layer.input_shape[0],
                spatial: layer.input_shape[1..].iter().product(),
                momentum,
            };
            let r = f.running[i].expect("a BatchNorm layer has running statistics");
            let next = node(cx, op, &[f.inputs[i], r]);
            carry.push((r, next));
        }
    }
    carry
}

/// The GEMM-backed ops a layer lowers to (forward, backward to the input, parameter
/// gradient), as the profile names them; empty for layers without matrix products.
pub fn gemm_ops(layer: &Layer) -> Vec<Op> {
    let shape = &layer.input_shape;
    match layer.kind {
        LayerKind::Conv { .. } => {
            let Ok(geom) = conv_geom(&layer.kind, shape) else {
                return Vec::new();
            };
            vec![
                Op::Conv {
                    geom,
                    act: Activation::Linear,
                },
                Op::ConvBackInput { geom },
                Op::ConvParamGrad { geom },
            ]
        }
        LayerKind::Dense { units, .. } => {
            let inputs = shape.iter().product();
            vec![
                Op::Dense {
                    inputs,
                    units,
                    act: Activation::Linear,
                },
                Op::DenseBackInput { inputs, units },
                Op::DenseParamGrad { inputs, units },
            ]
        }
        LayerKind::Pool { .. }
        | LayerKind::Upsample { .. }
        | LayerKind::Dropout { .. }
        | LayerKind::BatchNorm { .. }
        | LayerKind::Activation(_)
        | LayerKind::Noise(_) => Vec::new(),
    }
}
