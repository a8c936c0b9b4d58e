//! Figures (plotters): PNG and SVG, chosen by the extension of the output path.
//!
//! Text uses DejaVu Sans, embedded from `assets/` (licence in `assets/DejaVuSans-LICENSE.txt`)
//! and registered with plotters' `ab_glyph` font registry on first use, so no system font
//! lookup happens. Files are written to a temporary sibling and renamed into place.

pub(crate) mod render;

use render::write_figure;

use std::path::Path;

pub use render::{emptiest_corner, ChartSpec, Corner, ImageRow};

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
    let spec = ChartSpec {
        title: title.to_string(),
        x_label: x_label.to_string(),
        y_label: y_label.to_string(),
        ..ChartSpec::default()
    };
    line_chart_with(path, &spec, series)
}

/// Line chart with options: categorical x (point `i` of each series sits at category
/// `x_categories[i]`, the x value being the category index), fixed or log-scaled y.
pub fn line_chart_with(path: &Path, spec: &ChartSpec, series: &[Series]) -> miette::Result<()> {
    render::check_series(spec, series)?;
    write_figure!(path, (900, 600), |root| render::line_chart(
        &root, spec, series
    ))
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
    render::check_images(shape, images)?;
    if !captions.is_empty() && captions.len() != images.len() {
        return Err(miette::miette!(
            "image_grid: {} captions for {} images",
            captions.len(),
            images.len()
        ));
    }
    if columns == 0 {
        return Err(miette::miette!("image_grid: columns must be at least 1"));
    }
    let layout = render::GridLayout::new(shape, images.len(), columns, !captions.is_empty(), 0)
        .fit_title(title);
    write_figure!(path, layout.size(), |root| {
        render::image_grid(&root, &layout, title, shape, images, captions)
    })
}

/// Rows of images with a label at the left of each row, e.g. "noisy" / "reconstructed" /
/// "clean" for denoising autoencoders. Every image is `[C, H, W]` in [0, 1].
pub fn image_rows(
    path: &Path,
    title: &str,
    shape: &[usize],
    rows: &[ImageRow],
) -> miette::Result<()> {
    image_rows_with_header(path, title, shape, &[], rows)
}

/// [`image_rows`] with a label above each column (`column_labels[c]` over column `c`;
/// empty: no header line).
pub fn image_rows_with_header(
    path: &Path,
    title: &str,
    shape: &[usize],
    column_labels: &[String],
    rows: &[ImageRow],
) -> miette::Result<()> {
    let columns = rows.iter().map(|r| r.images.len()).max().unwrap_or(0);
    if rows.is_empty() || columns == 0 {
        return Err(miette::miette!("image_rows: nothing to draw"));
    }
    for r in rows {
        let imgs: Vec<&[f32]> = r.images.iter().map(|v| v.as_slice()).collect();
        render::check_images(shape, &imgs)?;
    }
    let label_width = rows
        .iter()
        .map(|r| r.label.chars().count())
        .max()
        .unwrap_or(0)
        * 9
        + 16;
    if column_labels.len() > columns {
        return Err(miette::miette!(
            "image_rows: {} column labels for {columns} columns",
            column_labels.len()
        ));
    }
    let layout = render::GridLayout::new(shape, rows.len() * columns, columns, false, label_width)
        .fit_title(title)
        .with_header(!column_labels.is_empty());
    write_figure!(path, layout.size(), |root| {
        render::image_rows(&root, &layout, title, shape, column_labels, rows)
    })
}

/// 2-D scatter plot coloured by class with a legend of class names; `axis_labels` say
/// what x and y are (e.g. "component 1", "component 2").
pub fn scatter_by_class(
    path: &Path,
    title: &str,
    axis_labels: (&str, &str),
    points: &[(f64, f64)],
    labels: &[u8],
    class_names: &[String],
) -> miette::Result<()> {
    render::check_axis_labels("scatter", axis_labels.0, axis_labels.1)?;
    if points.len() != labels.len() {
        return Err(miette::miette!(
            "scatter: {} points for {} labels",
            points.len(),
            labels.len()
        ));
    }
    if points.is_empty() {
        return Err(miette::miette!("scatter: no points"));
    }
    if let Some(&l) = labels.iter().find(|&&l| l as usize >= class_names.len()) {
        return Err(miette::miette!(
            "scatter: label {l} but only {} class names",
            class_names.len()
        ));
    }
    if points.iter().any(|p| !p.0.is_finite() || !p.1.is_finite()) {
        return Err(miette::miette!("scatter: non-finite coordinates"));
    }
    write_figure!(path, (900, 800), |root| {
        render::scatter(&root, title, axis_labels, points, labels, class_names)
    })
}

/// Heatmap of a square matrix (e.g. a confusion matrix, rows = true class, columns =
/// predicted class), each cell annotated with its value; colour follows `value / row sum`,
/// keyed by a colour bar at the right.
pub fn heatmap(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    counts: &[Vec<u64>],
    class_names: &[String],
) -> miette::Result<()> {
    let n = class_names.len();
    if counts.len() != n || counts.iter().any(|r| r.len() != n) || n == 0 {
        return Err(miette::miette!(
            "heatmap: matrix must be {n}×{n} for {n} class names"
        ));
    }
    let side = (70 * n as u32).clamp(400, 1400);
    // Width: class names at the left, the matrix, the "correct" column, the colour bar.
    write_figure!(path, (side + 240, side + 130), |root| {
        render::heatmap(&root, title, x_label, y_label, counts, class_names)
    })
}

/// Scales each image (e.g. each filter) independently to [0, 1]: (x − min) / (max − min);
/// a constant image becomes 0.5 everywhere.
pub fn normalise_each(images: &[f32], size: usize) -> Vec<f32> {
    let mut out = images.to_vec();
    if size == 0 {
        return out;
    }
    for chunk in out.chunks_mut(size) {
        let lo = chunk.iter().copied().fold(f32::INFINITY, f32::min);
        let hi = chunk.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let span = hi - lo;
        for v in chunk.iter_mut() {
            *v = if span > 0.0 { (*v - lo) / span } else { 0.5 };
        }
    }
    out
}

/// First-layer filters `[C_out, C_in, KH, KW]` as an image grid, each filter normalised to
/// [0, 1] on its own. With C_in = 3 filters are drawn in colour, otherwise each input
/// channel of each filter is a separate grey tile.
pub fn filters_figure(
    path: &Path,
    title: &str,
    weights: &[f32],
    shape: &[usize],
) -> miette::Result<()> {
    if shape.len() != 4 || shape.iter().product::<usize>() != weights.len() || weights.is_empty() {
        return Err(miette::miette!(
            "filters: weight shape {shape:?} does not match {} values (want [C_out, C_in, KH, KW])",
            weights.len()
        ));
    }
    let (c_out, c_in, kh, kw) = (shape[0], shape[1], shape[2], shape[3]);
    let (tile_shape, per_tile) = if c_in == 3 {
        (vec![3, kh, kw], 3 * kh * kw)
    } else {
        (vec![1, kh, kw], kh * kw)
    };
    let norm = normalise_each(weights, per_tile);
    let tiles: Vec<&[f32]> = norm.chunks(per_tile).collect();
    let captions: Vec<String> = (0..tiles.len())
        .map(|i| {
            if c_in == 3 || c_in == 1 {
                format!("{i}")
            } else {
                format!("{}.{}", i / c_in, i % c_in)
            }
        })
        .collect();
    let columns = if c_in == 3 || c_in == 1 {
        (c_out as f64).sqrt().ceil() as usize
    } else {
        c_in
    };
    image_grid(path, title, &tile_shape, &tiles, &captions, columns.max(1))
}

/// Feature maps `[n_images, channels, H, W]` (e.g. first-layer outputs), one grid row per
/// input image, each map normalised on its own; `inputs` (`[n_images, C, H0, W0]`, same
/// order) are drawn in the first column when given. Columns are headed "input", "ch 0",
/// "ch 1", …; rows are labelled `row_labels[i]` ("image i" when not given).
pub fn feature_maps_figure(
    path: &Path,
    title: &str,
    maps: &[f32],
    shape: &[usize],
    inputs: Option<(&[f32], &[usize])>,
    row_labels: &[String],
) -> miette::Result<()> {
    if shape.len() != 4 || shape.iter().product::<usize>() != maps.len() || maps.is_empty() {
        return Err(miette::miette!(
            "feature maps: shape {shape:?} does not match {} values (want [N, C, H, W])",
            maps.len()
        ));
    }
    let (n, c, h, w) = (shape[0], shape[1], shape[2], shape[3]);
    if !row_labels.is_empty() && row_labels.len() != n {
        return Err(miette::miette!(
            "feature maps: {} row labels for {n} images",
            row_labels.len()
        ));
    }
    let norm = normalise_each(maps, h * w);
    let mut rows = Vec::with_capacity(n);
    for i in 0..n {
        let mut images = Vec::new();
        if let Some((x, xs)) = inputs {
            let per: usize = xs.iter().skip(1).product();
            if xs.len() != 4 || xs[0] != n || x.len() != n * per || xs[1] != 1 {
                return Err(miette::miette!(
                    "feature maps: inputs shape {xs:?} must be [{n}, 1, H, W] with matching data"
                ));
            }
            // Resample the input to the map size by nearest neighbour so the row is uniform.
            let (h0, w0) = (xs[2], xs[3]);
            let img = &x[i * per..(i + 1) * per];
            let mut r = vec![0.0; h * w];
            for y in 0..h {
                for xx in 0..w {
                    r[y * w + xx] = img[(y * h0 / h) * w0 + xx * w0 / w];
                }
            }
            images.push(r);
        }
        for ch in 0..c {
            let o = (i * c + ch) * h * w;
            images.push(norm[o..o + h * w].to_vec());
        }
        rows.push(ImageRow {
            label: row_labels
                .get(i)
                .cloned()
                .unwrap_or_else(|| format!("image {i}")),
            images,
        });
    }
    let header: Vec<String> = inputs
        .map(|_| "input".to_string())
        .into_iter()
        .chain((0..c).map(|ch| format!("ch {ch}")))
        .collect();
    image_rows_with_header(path, title, &[1, h, w], &header, &rows)
}
