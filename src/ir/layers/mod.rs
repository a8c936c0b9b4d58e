//! Every layer kind, one file per letter of the notation. Each file answers the same
//! questions: which annotations the letter accepts (and their defaults), how a written
//! layer becomes a [`LayerKind`] and its notation text, the shape rule with parameter
//! count and multiply-adds, and the [`ParamLayout`].
//!
//! This module holds the letter table and the only dispatch matches over `LayerKind`
//! in `ir`, all exhaustive: a new kind makes the compiler list every place it needs.
//! Downstream, `lower::forward` and `lower::backward` hold one match each.

mod activation;
mod batch_norm;
mod conv;
mod dense;
mod dropout;
mod noise;
mod pool;
mod upsample;

use super::params::ParamLayout;
use super::shape::{prod, same_padding, Counts, LayerProblem, ShapeProblem};
use super::{names, Activation, Init, Layer, LayerKind, Noise, PoolKind};
use miette::SourceSpan;

/// How the number written right after a letter (`C64`, `D0.25`) is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Main {
    /// A whole number ≥ 1, named for diagnostics.
    Count(&'static str),
    /// A dropout rate in [0, 1).
    Rate,
    /// The letter takes no number.
    None,
}

/// How a bare number inside `[…]` is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bare {
    /// One or two numbers (`3` or `3x5`), named for diagnostics; stored as `kernel`.
    Pair(&'static str),
    /// A dropout rate.
    Rate,
    None,
}

/// How a letter is written: what may follow it and what its `[…]` may hold.
pub struct Syntax {
    /// Keys accepted as `key=value`.
    pub keys: &'static [&'static str],
    /// Bare words accepted inside `[…]` besides activation and initialiser names.
    pub words: &'static [&'static str],
    /// Whether an activation name (`relu`, …) is accepted.
    pub activations: bool,
    /// Whether an initialiser name (`he_normal`, …) is accepted.
    pub inits: bool,
    pub main: Main,
    pub bare: Bare,
    /// Whether `@kernel` and `/stride` may follow the number.
    pub window: bool,
}

impl Syntax {
    /// A letter that takes nothing; rows override what their letter accepts.
    pub const NONE: Syntax = Syntax {
        keys: &[],
        words: &[],
        activations: false,
        inits: false,
        main: Main::None,
        bare: Bare::None,
        window: false,
    };

    /// Every bare word the letter accepts: its own, then activations, then initialisers.
    pub fn words(&self) -> Vec<&'static str> {
        let mut w = self.words.to_vec();
        if self.activations {
            w.extend(names::all(names::ACTIVATIONS));
        }
        if self.inits {
            w.extend(names::all(names::INITS));
        }
        w
    }
}

/// One row of the letter table.
pub struct Letter {
    pub letter: char,
    /// What the letter is, for the "layer letters" help.
    pub name: &'static str,
    pub syntax: Syntax,
    pub construct: Construct,
}

/// Builds the layer kind and its canonical notation from the folded annotations and
/// the input shape.
pub type Construct = fn(&Annotations, &[usize]) -> Result<(LayerKind, String), LayerProblem>;

/// The notation's letters, in the order the help lists them.
pub const LETTERS: &[Letter] = &[
    conv::LETTER,
    pool::LETTER,
    dense::LETTER,
    upsample::LETTER,
    dropout::LETTER,
    batch_norm::LETTER,
    activation::LETTER,
    noise::LETTER,
];

/// The table row of a letter.
pub fn letter(c: char) -> Option<&'static Letter> {
    LETTERS.iter().find(|l| l.letter == c)
}

/// "layer letters: C convolution, P pooling, …"
pub fn letter_help() -> String {
    let list: Vec<String> = LETTERS
        .iter()
        .map(|l| format!("{} {}", l.letter, l.name))
        .collect();
    format!("layer letters: {}", list.join(", "))
}

/// Pending padding: resolved against the input size once it is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pad {
    Valid,
    Same,
    N(usize),
}

/// The annotations of one written layer, after defaults, sweep parameters and the
/// number after the letter; each layer file reads the fields it accepts.
#[derive(Debug, Default, Clone)]
pub struct Annotations {
    /// The number after the letter when [`Main::Count`].
    pub count: Option<usize>,
    pub kernel: Option<[usize; 2]>,
    pub stride: Option<[usize; 2]>,
    /// The padding with its text for the notation (`same`, `valid`, `pad=1`).
    pub pad: Option<(Pad, String)>,
    pub act: Option<Activation>,
    pub init: Option<Init>,
    pub wd: Option<f32>,
    /// `dropout=`: a Dropout layer after this one.
    pub dropout: Option<f32>,
    pub pool: Option<PoolKind>,
    pub noise: Option<String>,
    pub keep: Option<f32>,
    pub sigma: Option<f32>,
    pub clip: bool,
    pub momentum: Option<f32>,
    pub eps: Option<f32>,
    pub rate: Option<f32>,
    /// Filters (C) or units (F) given as `filters=`/`units=`, e.g. in `defaults`.
    pub size: Option<usize>,
}

impl Annotations {
    fn pad_or_valid(&self) -> (Pad, String) {
        self.pad.clone().unwrap_or((Pad::Valid, "valid".into()))
    }
}

/// "C needs a kernel size", with an example.
fn missing(letter: char, what: &str, example: &str) -> LayerProblem {
    LayerProblem {
        code: "missing_annotation",
        message: format!("{letter} needs {what}"),
        label: "incomplete layer",
        help: format!("write e.g. {example}"),
    }
}

/// ` relu init=he_normal wd=0.001`: the activation, and init and weight decay when not default.
fn weights_text(act: Activation, init: Init, wd: f32) -> String {
    let mut s = format!(" {}", names::activation_name(act));
    if init != Init::GlorotUniform {
        s += &format!(" init={}", names::init_name(init));
    }
    if wd > 0.0 {
        s += &format!(" wd={wd}");
    }
    s
}

fn stride_text(s: [usize; 2]) -> String {
    if s[0] == s[1] {
        s[0].to_string()
    } else {
        format!("{}x{}", s[0], s[1])
    }
}

/// Zero padding per side for `pad` on `input` (see [`same_padding`]).
fn resolve_pad(
    pad: Pad,
    input: &[usize],
    k: [usize; 2],
    s: [usize; 2],
) -> Result<[usize; 2], LayerProblem> {
    Ok(match pad {
        Pad::Valid => [0, 0],
        Pad::N(n) => [n, n],
        Pad::Same => {
            let [_, h, w] = input else {
                // Not an image: the shape rule reports it.
                return Ok([0, 0]);
            };
            match (same_padding(*h, k[0], s[0]), same_padding(*w, k[1], s[1])) {
                (Some(a), Some(b)) => [a, b],
                _ => return Err(LayerProblem {
                    code: "asymmetric_same",
                    message: format!("`same` padding for a {}×{} window with stride {}×{} on {h}×{w} needs uneven padding", k[0], k[1], s[0], s[1]),
                    label: "no symmetric padding",
                    help: "archc pads symmetrically: use an odd kernel, or give the padding explicitly with `pad=N`".into(),
                }),
            }
        }
    })
}

/// Output shape unchanged, no parameters and no multiply-adds.
fn identity(input: &[usize]) -> Counts {
    Counts {
        output: input.to_vec(),
        params: 0,
        mult_adds: 0,
    }
}

// ---------------------------------------------------------------------------
// Constructors for layers that are not written in a spec (mirrored decoders,
// pre-training stages, `dropout=`).

/// A dense layer.
pub fn dense(units: usize, activation: Activation, init: Init, weight_decay: f32) -> LayerKind {
    LayerKind::Dense {
        units,
        activation,
        init,
        weight_decay,
    }
}

pub use dense::notation as dense_notation;

/// An inverted-dropout layer with its notation.
pub fn dropout(rate: f32) -> (LayerKind, String) {
    (LayerKind::Dropout { rate }, dropout::notation(rate))
}

impl Layer {
    /// A layer of `kind` on `input`, with its shape, parameter count and multiply-adds
    /// from the kind's shape rule.
    pub fn new(
        kind: LayerKind,
        notation: String,
        span: SourceSpan,
        label: Option<String>,
        input: &[usize],
    ) -> Result<Layer, ShapeProblem> {
        let c = infer(&kind, input)?;
        Ok(Layer {
            kind,
            notation,
            span,
            label,
            input_shape: input.to_vec(),
            output_shape: c.output,
            params: c.params,
            mult_adds: c.mult_adds,
        })
    }

    /// The layer's parameter layout.
    pub fn layout(&self) -> ParamLayout {
        layout(&self.kind, &self.input_shape)
    }

    /// The letter this layer is written with.
    pub fn letter(&self) -> char {
        letter_of(&self.kind)
    }

    /// The layer's own activation (conv, dense, standalone activation).
    pub fn activation(&self) -> Option<Activation> {
        activation_of(&self.kind)
    }
}

/// Whether a kind is a convolution (the layer whose filters and feature maps are shown).
pub fn is_conv(kind: &LayerKind) -> bool {
    letter_of(kind) == conv::LETTER.letter
}

/// Whether a kind is a standalone activation layer.
pub fn is_activation(kind: &LayerKind) -> bool {
    letter_of(kind) == activation::LETTER.letter
}

/// What `decoder = mirror` does with an encoder layer.
pub enum Mirror {
    /// Reversed in the decoder.
    Dense {
        units: usize,
        activation: Activation,
        init: Init,
        weight_decay: f32,
    },
    /// Left out of the decoder.
    Skip,
    /// Cannot be mirrored (changes the spatial layout).
    Reject,
}

// ---------------------------------------------------------------------------
// The dispatch matches.

/// The shape rule, trainable parameters and forward multiply-adds of `kind` on `input`.
pub fn infer(kind: &LayerKind, input: &[usize]) -> Result<Counts, ShapeProblem> {
    // Absurd input sizes are reported before any layer-specific rule.
    prod(input)?;
    match *kind {
        LayerKind::Conv {
            filters,
            kernel,
            stride,
            padding,
            ..
        } => conv::infer(filters, kernel, stride, padding, input),
        LayerKind::Pool {
            kind,
            size,
            stride,
            padding,
        } => pool::infer(kind, size, stride, padding, input),
        LayerKind::Dense { units, .. } => dense::infer(units, input),
        LayerKind::Upsample { factor } => upsample::infer(factor, input),
        LayerKind::Dropout { .. } => dropout::infer(input),
        LayerKind::BatchNorm { .. } => batch_norm::infer(input),
        LayerKind::Activation(_) => activation::infer(input),
        LayerKind::Noise(_) => noise::infer(input),
    }
}

/// The parameter layout of `kind` on `input` (empty for layers without parameters).
pub fn layout(kind: &LayerKind, input: &[usize]) -> ParamLayout {
    match *kind {
        LayerKind::Conv {
            filters,
            kernel,
            init,
            weight_decay,
            ..
        } => conv::layout(filters, kernel, init, weight_decay, input),
        LayerKind::Dense {
            units,
            init,
            weight_decay,
            ..
        } => dense::layout(units, init, weight_decay, input),
        LayerKind::BatchNorm { .. } => batch_norm::layout(input),
        LayerKind::Pool { .. }
        | LayerKind::Upsample { .. }
        | LayerKind::Dropout { .. }
        | LayerKind::Activation(_)
        | LayerKind::Noise(_) => ParamLayout::default(),
    }
}

/// The letter of a kind.
pub fn letter_of(kind: &LayerKind) -> char {
    let row = match kind {
        LayerKind::Conv { .. } => conv::LETTER,
        LayerKind::Pool { .. } => pool::LETTER,
        LayerKind::Dense { .. } => dense::LETTER,
        LayerKind::Upsample { .. } => upsample::LETTER,
        LayerKind::Dropout { .. } => dropout::LETTER,
        LayerKind::BatchNorm { .. } => batch_norm::LETTER,
        LayerKind::Activation(_) => activation::LETTER,
        LayerKind::Noise(_) => noise::LETTER,
    };
    row.letter
}

/// The activation a kind applies, if any.
pub fn activation_of(kind: &LayerKind) -> Option<Activation> {
    match *kind {
        LayerKind::Conv { activation, .. }
        | LayerKind::Dense { activation, .. }
        | LayerKind::Activation(activation) => Some(activation),
        LayerKind::Pool { .. }
        | LayerKind::Upsample { .. }
        | LayerKind::Dropout { .. }
        | LayerKind::BatchNorm { .. }
        | LayerKind::Noise(_) => None,
    }
}

/// The input corruption of a noise layer.
pub fn noise_of(kind: &LayerKind) -> Option<Noise> {
    match *kind {
        LayerKind::Noise(n) => Some(n),
        LayerKind::Conv { .. }
        | LayerKind::Pool { .. }
        | LayerKind::Dense { .. }
        | LayerKind::Upsample { .. }
        | LayerKind::Dropout { .. }
        | LayerKind::BatchNorm { .. }
        | LayerKind::Activation(_) => None,
    }
}

/// Whether a kind is a dense layer (the layers greedy pre-training trains one by one).
pub fn is_dense(kind: &LayerKind) -> bool {
    letter_of(kind) == dense::LETTER.letter
}

/// What `decoder = mirror` does with a layer of this kind.
pub fn mirror(kind: &LayerKind) -> Mirror {
    match *kind {
        LayerKind::Dense {
            units,
            activation,
            init,
            weight_decay,
        } => Mirror::Dense {
            units,
            activation,
            init,
            weight_decay,
        },
        LayerKind::Dropout { .. }
        | LayerKind::Noise(_)
        | LayerKind::BatchNorm { .. }
        | LayerKind::Activation(_) => Mirror::Skip,
        LayerKind::Conv { .. } | LayerKind::Pool { .. } | LayerKind::Upsample { .. } => {
            Mirror::Reject
        }
    }
}
