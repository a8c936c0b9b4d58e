//! Figures (plotters): PNG and SVG.

use std::path::Path;

/// One named curve of (x, y) points.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// Line chart of several series (e.g. train/validation/test error per epoch).
/// The format follows the extension of `path` (`.png` or `.svg`).
pub fn line_chart(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
) -> miette::Result<()> {
    let _ = (path, title, x_label, y_label, series);
    Err(miette::miette!("plotting is not built in this tree yet"))
}

/// A grid of images (each `[C, H, W]` in [0, 1], C = 1 or 3) with a caption under each,
/// `columns` per row, written as PNG or SVG by the extension of `path`.
pub fn image_grid(
    path: &Path,
    title: &str,
    shape: &[usize],
    images: &[&[f32]],
    captions: &[String],
    columns: usize,
) -> miette::Result<()> {
    let _ = (path, title, shape, images, captions, columns);
    Err(miette::miette!("plotting is not built in this tree yet"))
}
