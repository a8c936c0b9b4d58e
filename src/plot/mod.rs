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
