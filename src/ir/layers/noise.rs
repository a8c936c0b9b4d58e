//! `N`: training-time input corruption (denoising); identity at evaluation.

use super::{identity, missing, Annotations, Letter, Syntax};
use crate::ir::shape::{Counts, LayerProblem, ShapeProblem};
use crate::ir::{LayerKind, Noise};

pub const LETTER: Letter = Letter {
    letter: 'N',
    name: "input noise",
    syntax: Syntax {
        keys: &["keep", "sigma"],
        words: &["mask", "gaussian", "clip"],
        ..Syntax::NONE
    },
    construct,
};

/// No defaults: the kind and its strength are always written.
fn construct(a: &Annotations, _input: &[usize]) -> Result<(LayerKind, String), LayerProblem> {
    let noise = match a.noise.as_deref() {
        Some("mask") => Noise::Mask {
            keep: a
                .keep
                .ok_or_else(|| missing('N', "the keep probability", "`N[mask keep=0.75]`"))?,
        },
        Some(_) => Noise::Gaussian {
            sigma: a
                .sigma
                .ok_or_else(|| missing('N', "sigma", "`N[gaussian sigma=0.3]`"))?,
            clip: a.clip,
        },
        None => {
            return Err(missing(
                'N',
                "a noise kind",
                "`N[mask keep=0.75]` or `N[gaussian sigma=0.3]`",
            ))
        }
    };
    Ok((LayerKind::Noise(noise), notation(&noise)))
}

pub fn notation(n: &Noise) -> String {
    match n {
        Noise::Mask { keep } => format!("N mask keep={keep}"),
        Noise::Gaussian { sigma, clip } => format!(
            "N gaussian sigma={sigma}{}",
            if *clip { " clip" } else { "" }
        ),
    }
}

pub fn infer(input: &[usize]) -> Result<Counts, ShapeProblem> {
    Ok(identity(input))
}
