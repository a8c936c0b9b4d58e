//! `A`: a standalone activation.

use super::{identity, missing, Annotations, Letter, Syntax};
use crate::ir::shape::{Counts, LayerProblem, ShapeProblem};
use crate::ir::{names, LayerKind};

pub const LETTER: Letter = Letter {
    letter: 'A',
    name: "activation",
    syntax: Syntax {
        keys: &["act"],
        activations: true,
        ..Syntax::NONE
    },
    construct,
};

/// No default activation.
fn construct(a: &Annotations, _input: &[usize]) -> Result<(LayerKind, String), LayerProblem> {
    let act = a
        .act
        .ok_or_else(|| missing('A', "an activation", "`A[relu]`"))?;
    Ok((
        LayerKind::Activation(act),
        format!("A {}", names::activation_name(act)),
    ))
}

pub fn infer(input: &[usize]) -> Result<Counts, ShapeProblem> {
    Ok(identity(input))
}
