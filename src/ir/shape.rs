//! The arithmetic the layers' shape rules share: sliding windows, `same` padding,
//! overflow-checked products. Each layer's own rule lives in `ir::layers`.
//!
//! Shapes exclude the batch: images are `[C, H, W]`, flat tensors `[D]`.
//! Parameter counts are the trainable ones (Keras also lists BatchNorm's moving mean
//! and variance, 2·channels non-trainable numbers; we do not count those).

/// What a layer does to one example.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counts {
    pub output: Vec<usize>,
    pub params: usize,
    pub mult_adds: u64,
}

/// Why a layer cannot be built or cannot take its input; the builder adds the span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerProblem {
    pub code: &'static str,
    pub message: String,
    /// What the diagnostic's label says at the layer.
    pub label: &'static str,
    pub help: String,
}

/// A problem with the layer's input shape.
pub type ShapeProblem = LayerProblem;

pub(crate) fn problem(code: &'static str, message: String, help: String) -> ShapeProblem {
    LayerProblem {
        code,
        message,
        label: "this layer",
        help,
    }
}

/// Symmetric zero padding that gives "same" output size `ceil(in / stride)`, as Keras does.
/// Keras pads `total = max((out-1)·s + k - in, 0)` and puts the odd pixel at the bottom/right;
/// we only pad symmetrically: when `total` is even that is Keras's padding, otherwise an odd
/// kernel with `(k-1)/2` on each side gives the same output size (with the window grid shifted
/// by half a pixel). `None` for an even kernel with odd `total`: no symmetric padding fits.
pub fn same_padding(input: usize, kernel: usize, stride: usize) -> Option<usize> {
    let out = input.div_ceil(stride);
    let total = (out - 1)
        .checked_mul(stride)?
        .checked_add(kernel)?
        .saturating_sub(input);
    if total.is_multiple_of(2) {
        Some(total / 2)
    } else if !kernel.is_multiple_of(2) {
        Some((kernel - 1) / 2)
    } else {
        None
    }
}

/// Output length of a sliding window: `floor((in + 2p - k) / s) + 1`, `None` if the window does not fit.
pub(crate) fn window(input: usize, kernel: usize, stride: usize, pad: usize) -> Option<usize> {
    let padded = pad.checked_mul(2)?.checked_add(input)?;
    (padded >= kernel && stride > 0).then(|| (padded - kernel) / stride + 1)
}

/// Number of elements of a shape, `None` on overflow.
pub fn elements(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |a, &b| a.checked_mul(b))
}

/// Product that reports overflow instead of wrapping (absurd sizes are a user error).
pub(crate) fn prod(xs: &[usize]) -> Result<usize, ShapeProblem> {
    xs.iter()
        .try_fold(1usize, |a, &b| a.checked_mul(b))
        .ok_or_else(|| {
            problem(
                "too_large",
                "this layer's sizes overflow 64-bit counts".into(),
                "use realistic filter, unit and input sizes".into(),
            )
        })
}

pub fn fmt_shape(s: &[usize]) -> String {
    s.iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("×")
}

pub(crate) fn image(input: &[usize], what: &str) -> Result<[usize; 3], ShapeProblem> {
    match *input {
        [c, h, w] => Ok([c, h, w]),
        _ => Err(problem(
            "needs_image",
            format!("{what} needs an image input C×H×W, but gets {}", fmt_shape(input)),
            "a flat vector cannot be un-flattened: move this layer before the first F, or declare the input as an image, e.g. `input 1x28x28`".into(),
        )),
    }
}

pub(crate) fn slide(
    what: &str,
    [_, h, w]: [usize; 3],
    k: [usize; 2],
    s: [usize; 2],
    p: [usize; 2],
) -> Result<[usize; 2], ShapeProblem> {
    match (window(h, k[0], s[0], p[0]), window(w, k[1], s[1], p[1])) {
        (Some(oh), Some(ow)) => Ok([oh, ow]),
        _ => Err(problem(
            "kernel_too_large",
            format!(
                "{what} window {}×{} is larger than its input {}×{} (padded by {}×{})",
                k[0], k[1], h, w, p[0], p[1]
            ),
            "use a smaller kernel, `same` padding, or remove a pooling layer before this one"
                .into(),
        )),
    }
}
