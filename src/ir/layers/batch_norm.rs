//! `B`: batch normalisation over channels (images) or features (flat), with learned
//! scale γ and shift β, and running mean and variance for evaluation.

use super::{Annotations, Letter, Syntax};
use crate::ir::params::{Fill, ParamLayout, Store};
use crate::ir::shape::{prod, Counts, LayerProblem, ShapeProblem};
use crate::ir::LayerKind;

pub const LETTER: Letter = Letter {
    letter: 'B',
    name: "batch norm",
    syntax: Syntax {
        keys: &["momentum", "eps"],
        ..Syntax::NONE
    },
    construct,
};

/// Keras defaults: momentum 0.99, epsilon 1e-3.
fn construct(a: &Annotations, _input: &[usize]) -> Result<(LayerKind, String), LayerProblem> {
    let momentum = a.momentum.unwrap_or(0.99);
    let epsilon = a.eps.unwrap_or(1e-3);
    Ok((LayerKind::BatchNorm { momentum, epsilon }, "B".to_string()))
}

/// Scale and shift per channel (images) or per feature (flat); at inference one
/// multiply-add per element.
pub fn infer(input: &[usize]) -> Result<Counts, ShapeProblem> {
    Ok(Counts {
        output: input.to_vec(),
        params: prod(&[2, input[0]])?,
        mult_adds: prod(input)? as u64,
    })
}

/// `[γ; β]` trainable (γ = 1, β = 0), `[mean; var]` running (0 and 1).
pub fn layout(input: &[usize]) -> ParamLayout {
    let c = input[0];
    ParamLayout::default()
        .piece("gamma", vec![c], Store::Params, Fill::Const(1.0), false)
        .piece("beta", vec![c], Store::Params, Fill::Const(0.0), false)
        .piece(
            "running_mean",
            vec![c],
            Store::Running,
            Fill::Const(0.0),
            false,
        )
        .piece(
            "running_var",
            vec![c],
            Store::Running,
            Fill::Const(1.0),
            false,
        )
}
