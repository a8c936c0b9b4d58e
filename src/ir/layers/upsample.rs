//! `U`: nearest-neighbour upsampling by an integer factor.

use super::{Annotations, Bare, Letter, Main, Syntax};
use crate::ir::shape::{image, prod, Counts, LayerProblem, ShapeProblem};
use crate::ir::LayerKind;

pub const LETTER: Letter = Letter {
    letter: 'U',
    name: "upsampling",
    syntax: Syntax {
        keys: &["factor"],
        main: Main::Count("upsampling factor"),
        bare: Bare::Pair("upsampling factor"),
        ..Syntax::NONE
    },
    construct,
};

/// Default factor 2×2.
fn construct(a: &Annotations, _input: &[usize]) -> Result<(LayerKind, String), LayerProblem> {
    let factor = match a.count {
        Some(n) => [n, n],
        None => a.kernel.unwrap_or([2, 2]),
    };
    Ok((
        LayerKind::Upsample { factor },
        format!("U{}x{}", factor[0], factor[1]),
    ))
}

pub fn infer(factor: [usize; 2], input: &[usize]) -> Result<Counts, ShapeProblem> {
    let [c, h, w] = image(input, "upsampling")?;
    Ok(Counts {
        output: vec![c, prod(&[h, factor[0]])?, prod(&[w, factor[1]])?],
        params: 0,
        mult_adds: 0,
    })
}
