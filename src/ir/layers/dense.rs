//! `F`: fully connected; flattens its input. Weights `[in, units]` (Keras layout), bias `[units]`.

use super::{missing, weights_text, Annotations, Letter, Main, Syntax};
use crate::ir::params::{Fill, ParamLayout, Store};
use crate::ir::shape::{fmt_shape, problem, prod, Counts, LayerProblem, ShapeProblem};
use crate::ir::{Activation, Init, LayerKind};

pub const LETTER: Letter = Letter {
    letter: 'F',
    name: "dense",
    syntax: Syntax {
        keys: &["units", "act", "init", "wd", "dropout"],
        activations: true,
        inits: true,
        main: Main::Count("unit count"),
        ..Syntax::NONE
    },
    construct,
};

/// Defaults: linear, Glorot uniform, no decay.
fn construct(a: &Annotations, _input: &[usize]) -> Result<(LayerKind, String), LayerProblem> {
    let units = a
        .count
        .or(a.size)
        .ok_or_else(|| missing('F', "a unit count", "`F512[relu]`"))?;
    let activation = a.act.unwrap_or(Activation::Linear);
    let init = a.init.unwrap_or(Init::GlorotUniform);
    let weight_decay = a.wd.unwrap_or(0.0);
    let kind = super::dense(units, activation, init, weight_decay);
    Ok((kind, notation(units, activation, init, weight_decay)))
}

/// `F512 relu`, with init and weight decay when not the defaults.
pub fn notation(units: usize, activation: Activation, init: Init, weight_decay: f32) -> String {
    format!("F{units}{}", weights_text(activation, init, weight_decay))
}

pub fn infer(units: usize, input: &[usize]) -> Result<Counts, ShapeProblem> {
    let elements = prod(input)?;
    if elements == 0 {
        return Err(problem(
            "empty_flatten",
            format!("cannot flatten an empty input {}", fmt_shape(input)),
            "an earlier layer shrank the image to nothing".into(),
        ));
    }
    Ok(Counts {
        output: vec![units],
        params: prod(&[elements + 1, units])?,
        mult_adds: prod(&[elements, units])? as u64,
    })
}

/// `[w; b]`, fans in and units.
pub fn layout(units: usize, init: Init, weight_decay: f32, input: &[usize]) -> ParamLayout {
    let fan_in: usize = input.iter().product();
    ParamLayout::default()
        .piece(
            "weight",
            vec![fan_in, units],
            Store::Params,
            Fill::Draw {
                init,
                fan_in,
                fan_out: units,
            },
            true,
        )
        .piece("bias", vec![units], Store::Params, Fill::Const(0.0), false)
        .with_weight_decay(weight_decay)
}
