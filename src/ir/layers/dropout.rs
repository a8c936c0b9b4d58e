//! `D`: inverted dropout: at training time zero with probability `rate`, scale the rest by 1/(1-rate).

use super::{identity, missing, Annotations, Bare, Letter, Main, Syntax};
use crate::ir::shape::{Counts, LayerProblem, ShapeProblem};
use crate::ir::LayerKind;

pub const LETTER: Letter = Letter {
    letter: 'D',
    name: "dropout",
    syntax: Syntax {
        keys: &["rate"],
        main: Main::Rate,
        bare: Bare::Rate,
        ..Syntax::NONE
    },
    construct,
};

/// No default rate.
fn construct(a: &Annotations, _input: &[usize]) -> Result<(LayerKind, String), LayerProblem> {
    let rate = a.rate.ok_or_else(|| missing('D', "a rate", "`D0.25`"))?;
    Ok(super::dropout(rate))
}

pub fn notation(rate: f32) -> String {
    format!("D{rate}")
}

pub fn infer(input: &[usize]) -> Result<Counts, ShapeProblem> {
    Ok(identity(input))
}
