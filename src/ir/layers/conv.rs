//! `C`: 2-D convolution, weights `[filters, in_channels, kh, kw]`, bias `[filters]`.

use super::{
    missing, resolve_pad, stride_text, weights_text, Annotations, Bare, Letter, Main, Syntax,
};
use crate::ir::params::{Fill, ParamLayout, Store};
use crate::ir::shape::{image, prod, slide, Counts, LayerProblem, ShapeProblem};
use crate::ir::{Activation, Init, LayerKind};

pub const LETTER: Letter = Letter {
    letter: 'C',
    name: "convolution",
    syntax: Syntax {
        keys: &[
            "filters", "kernel", "stride", "pad", "act", "init", "wd", "dropout",
        ],
        words: &["same", "valid"],
        activations: true,
        inits: true,
        main: Main::Count("filter count"),
        bare: Bare::Pair("kernel size"),
        window: true,
    },
    construct,
};

/// Defaults: stride 1, `valid` padding (as Keras), linear, Glorot uniform, no decay.
fn construct(a: &Annotations, input: &[usize]) -> Result<(LayerKind, String), LayerProblem> {
    let filters = a
        .count
        .or(a.size)
        .ok_or_else(|| missing('C', "a filter count", "`C64@3x3`"))?;
    let kernel = a.kernel.ok_or_else(|| {
        missing(
            'C',
            "a kernel size",
            &format!("`C{filters}@3x3` or `C{filters}[3x3]`, or `defaults C[3x3]`"),
        )
    })?;
    let stride = a.stride.unwrap_or([1, 1]);
    let (pad, pad_text) = a.pad_or_valid();
    let padding = resolve_pad(pad, input, kernel, stride)?;
    let activation = a.act.unwrap_or(Activation::Linear);
    let init = a.init.unwrap_or(Init::GlorotUniform);
    let weight_decay = a.wd.unwrap_or(0.0);
    let notation = format!(
        "C{filters}@{}x{}/{} {pad_text}{}",
        kernel[0],
        kernel[1],
        stride_text(stride),
        weights_text(activation, init, weight_decay)
    );
    let kind = LayerKind::Conv {
        filters,
        kernel,
        stride,
        padding,
        activation,
        init,
        weight_decay,
    };
    Ok((kind, notation))
}

pub fn infer(
    filters: usize,
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
    input: &[usize],
) -> Result<Counts, ShapeProblem> {
    let img = image(input, "convolution")?;
    let [oh, ow] = slide("convolution", img, kernel, stride, padding)?;
    let fan_in = prod(&[kernel[0], kernel[1], img[0]])?;
    Ok(Counts {
        output: vec![filters, oh, ow],
        params: prod(&[fan_in + 1, filters])?,
        mult_adds: prod(&[fan_in, filters, oh, ow])? as u64,
    })
}

/// `[w; b]`; fans as Keras counts them: in·kh·kw and filters·kh·kw.
pub fn layout(
    filters: usize,
    kernel: [usize; 2],
    init: Init,
    weight_decay: f32,
    input: &[usize],
) -> ParamLayout {
    let area = kernel[0] * kernel[1];
    let ci = input[0];
    ParamLayout::default()
        .piece(
            "weight",
            vec![filters, ci, kernel[0], kernel[1]],
            Store::Params,
            Fill::Draw {
                init,
                fan_in: ci * area,
                fan_out: filters * area,
            },
            true,
        )
        .piece(
            "bias",
            vec![filters],
            Store::Params,
            Fill::Const(0.0),
            false,
        )
        .with_weight_decay(weight_decay)
}
