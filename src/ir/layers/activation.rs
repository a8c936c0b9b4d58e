//! `A`: a standalone activation.

use super::{identity, missing, Annotations, Bare, Letter, Main};
use crate::ir::shape::{Counts, LayerProblem, ShapeProblem};
use crate::ir::{names, LayerKind};

pub const LETTER: Letter = Letter {
    letter: 'A',
    name: "activation",
    keys: &["act"],
    words: &[],
    activations: true,
    inits: false,
    main: Main::None,
    bare: Bare::None,
    window: false,
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
