//! `P`: max or average pooling over `size` windows with `stride`, no padding unless given.

use super::{resolve_pad, stride_text, Annotations, Bare, Letter, Main, Syntax};
use crate::ir::shape::{image, prod, slide, Counts, LayerProblem, ShapeProblem};
use crate::ir::{names, LayerKind, PoolKind};

pub const LETTER: Letter = Letter {
    letter: 'P',
    name: "pooling",
    syntax: Syntax {
        keys: &["size", "stride", "pad"],
        words: &["max", "avg", "same", "valid"],
        main: Main::Count("pool size"),
        bare: Bare::Pair("kernel size"),
        window: true,
        ..Syntax::NONE
    },
    construct,
};

/// Defaults: 2×2, stride = size, max, `valid`.
fn construct(a: &Annotations, input: &[usize]) -> Result<(LayerKind, String), LayerProblem> {
    let size = match a.count {
        Some(n) => [n, n],
        None => a.kernel.unwrap_or([2, 2]),
    };
    let stride = a.stride.unwrap_or(size);
    let kind = a.pool.unwrap_or(PoolKind::Max);
    let (pad, pad_text) = a.pad_or_valid();
    let padding = resolve_pad(pad, input, size, stride)?;
    let pad_note = if pad_text == "valid" {
        String::new()
    } else {
        format!(" {pad_text}")
    };
    let notation = format!(
        "P{}x{}/{} {}{pad_note}",
        size[0],
        size[1],
        stride_text(stride),
        names::pool_name(kind)
    );
    let kind = LayerKind::Pool {
        kind,
        size,
        stride,
        padding,
    };
    Ok((kind, notation))
}

pub fn infer(
    kind: PoolKind,
    size: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
    input: &[usize],
) -> Result<Counts, ShapeProblem> {
    let img = image(input, "pooling")?;
    let [oh, ow] = slide("pooling", img, size, stride, padding)?;
    // Average pooling adds every window element; max pooling only compares.
    let per_output = match kind {
        PoolKind::Avg => prod(&size)?,
        PoolKind::Max => 0,
    };
    Ok(Counts {
        output: vec![img[0], oh, ow],
        params: 0,
        mult_adds: prod(&[per_output, img[0], oh, ow])? as u64,
    })
}
