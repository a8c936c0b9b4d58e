//! Shape rule, parameter count and multiply-adds of every layer kind, in one place.
//!
//! Shapes exclude the batch: images are `[C, H, W]`, flat tensors `[D]`.
//! Parameter counts are the trainable ones (Keras also lists BatchNorm's moving mean
//! and variance, 2·channels non-trainable numbers; we do not count those).

use super::{LayerKind, PoolKind};

/// What a layer does to one example.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counts {
    pub output: Vec<usize>,
    pub params: usize,
    pub mult_adds: u64,
}

/// Why a layer cannot take its input; the builder adds the span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShapeProblem {
    pub code: &'static str,
    pub message: String,
    pub help: String,
}

fn problem(code: &'static str, message: String, help: String) -> ShapeProblem {
    ShapeProblem {
        code,
        message,
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
fn window(input: usize, kernel: usize, stride: usize, pad: usize) -> Option<usize> {
    let padded = pad.checked_mul(2)?.checked_add(input)?;
    (padded >= kernel && stride > 0).then(|| (padded - kernel) / stride + 1)
}

/// Number of elements of a shape, `None` on overflow.
pub fn elements(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |a, &b| a.checked_mul(b))
}

/// Product that reports overflow instead of wrapping (absurd sizes are a user error).
fn prod(xs: &[usize]) -> Result<usize, ShapeProblem> {
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

fn fmt_shape(s: &[usize]) -> String {
    s.iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("×")
}

fn image(input: &[usize], what: &str) -> Result<[usize; 3], ShapeProblem> {
    match *input {
        [c, h, w] => Ok([c, h, w]),
        _ => Err(problem(
            "needs_image",
            format!("{what} needs an image input C×H×W, but gets {}", fmt_shape(input)),
            "a flat vector cannot be un-flattened: move this layer before the first F, or declare the input as an image, e.g. `input 1x28x28`".into(),
        )),
    }
}

fn slide(
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

/// The shape rule, trainable parameters and forward multiply-adds of `kind` on `input`.
pub fn infer(kind: &LayerKind, input: &[usize]) -> Result<Counts, ShapeProblem> {
    let elements = prod(input)?;
    let same = |params: usize, mult_adds: u64| Counts {
        output: input.to_vec(),
        params,
        mult_adds,
    };
    Ok(match *kind {
        LayerKind::Conv {
            filters,
            kernel,
            stride,
            padding,
            ..
        } => {
            let img = image(input, "convolution")?;
            let [oh, ow] = slide("convolution", img, kernel, stride, padding)?;
            let fan_in = prod(&[kernel[0], kernel[1], img[0]])?;
            Counts {
                output: vec![filters, oh, ow],
                params: prod(&[fan_in + 1, filters])?,
                mult_adds: prod(&[fan_in, filters, oh, ow])? as u64,
            }
        }
        LayerKind::Pool {
            kind,
            size,
            stride,
            padding,
        } => {
            let img = image(input, "pooling")?;
            let [oh, ow] = slide("pooling", img, size, stride, padding)?;
            // Average pooling adds every window element; max pooling only compares.
            let per_output = match kind {
                PoolKind::Avg => prod(&size)?,
                PoolKind::Max => 0,
            };
            Counts {
                output: vec![img[0], oh, ow],
                params: 0,
                mult_adds: prod(&[per_output, img[0], oh, ow])? as u64,
            }
        }
        LayerKind::Dense { units, .. } => {
            if elements == 0 {
                return Err(problem(
                    "empty_flatten",
                    format!("cannot flatten an empty input {}", fmt_shape(input)),
                    "an earlier layer shrank the image to nothing".into(),
                ));
            }
            Counts {
                output: vec![units],
                params: prod(&[elements + 1, units])?,
                mult_adds: prod(&[elements, units])? as u64,
            }
        }
        LayerKind::Upsample { factor } => {
            let [c, h, w] = image(input, "upsampling")?;
            Counts {
                output: vec![c, prod(&[h, factor[0]])?, prod(&[w, factor[1]])?],
                params: 0,
                mult_adds: 0,
            }
        }
        LayerKind::BatchNorm { .. } => {
            // Scale and shift per channel (images) or per feature (flat); at inference
            // one multiply-add per element.
            same(prod(&[2, input[0]])?, elements as u64)
        }
        LayerKind::Dropout { .. } | LayerKind::Activation(_) | LayerKind::Noise(_) => same(0, 0),
    })
}
