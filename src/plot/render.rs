//! Backend-generic drawing code behind the public plot functions.

use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::Series;

type DrawResult = Result<(), String>;

/// The embedded font (DejaVu Sans, Bitstream Vera licence, see `assets/`).
static FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";

/// Tableau-10 colours: distinguishable, colour-blind-friendlier than pure hues.
pub const TAB10: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

pub fn colour(i: usize) -> RGBColor {
    if i < TAB10.len() {
        TAB10[i]
    } else {
        let c = Palette99::pick(i).to_rgba();
        RGBColor(c.0, c.1, c.2)
    }
}

fn register_font() -> miette::Result<()> {
    static ONCE: Once = Once::new();
    let mut ok = true;
    ONCE.call_once(|| {
        ok = plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).is_ok();
    });
    if ok {
        Ok(())
    } else {
        Err(miette::miette!(
            "the embedded DejaVuSans.ttf could not be parsed"
        ))
    }
}

fn e<E: std::fmt::Display>(err: E) -> String {
    err.to_string()
}

/// Options of a line chart beyond title and axis labels.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChartSpec {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    /// Categorical x axis: the x value of a point is the index of its category.
    pub x_categories: Option<Vec<String>>,
    /// Fixed y range instead of the data's range (plus a margin).
    pub y_range: Option<(f64, f64)>,
    /// Logarithmic y axis (every value must be positive): error curves that span
    /// 1 % to 90 % stay readable at both ends.
    pub log_y: bool,
}

/// One labelled row of an image-rows figure.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageRow {
    pub label: String,
    pub images: Vec<Vec<f32>>,
}

pub enum Format {
    Png,
    Svg,
}

/// Validates the extension, registers the font and returns a temporary sibling path
/// (same extension, so the PNG encoder picks the right format).
pub fn prepare(path: &Path) -> miette::Result<(PathBuf, Format)> {
    register_font()?;
    let ext = path
        .extension()
        .and_then(|s| s.to_str())
        .map(|s| s.to_ascii_lowercase());
    let format = match ext.as_deref() {
        Some("png") => Format::Png,
        Some("svg") => Format::Svg,
        _ => {
            return Err(miette::miette!(
                "figure path {} must end in .png or .svg",
                path.display()
            ))
        }
    };
    let tmp = crate::atomic::temp_beside(path)
        .map_err(|e| miette::miette!("cannot write {}: {e}", path.display()))?;
    Ok((tmp, format))
}

pub fn finish(path: &Path, tmp: &Path, result: DrawResult) -> miette::Result<()> {
    match result {
        Ok(()) => crate::atomic::commit(tmp, path)
            .map_err(|err| miette::miette!("cannot write {}: {err}", path.display())),
        Err(msg) => {
            let _ = std::fs::remove_file(tmp);
            Err(miette::miette!("drawing {} failed: {msg}", path.display()))
        }
    }
}

/// Draws with `$body` (an expression using the drawing area `$root`) on the backend
/// chosen by the extension, then renames the finished file into place.
macro_rules! write_figure {
    ($path:expr, $size:expr, |$root:ident| $body:expr) => {{
        let path: &std::path::Path = $path;
        let size: (u32, u32) = $size;
        let (tmp, format) = $crate::plot::render::prepare(path)?;
        let result: Result<(), String> = match format {
            $crate::plot::render::Format::Png => {
                use plotters::prelude::IntoDrawingArea;
                let $root = plotters::prelude::BitMapBackend::new(&tmp, size).into_drawing_area();
                let r = $body;
                r.and_then(|_| $root.present().map_err(|e| e.to_string()))
            }
            $crate::plot::render::Format::Svg => {
                use plotters::prelude::IntoDrawingArea;
                let $root = plotters::prelude::SVGBackend::new(&tmp, size).into_drawing_area();
                let r = $body;
                r.and_then(|_| $root.present().map_err(|e| e.to_string()))
            }
        };
        $crate::plot::render::finish(path, &tmp, result)
    }};
}
pub(crate) use write_figure;

pub fn check_series(spec: &ChartSpec, series: &[Series]) -> miette::Result<()> {
    check_axis_labels(
        &format!("line chart '{}'", spec.title),
        &spec.x_label,
        &spec.y_label,
    )?;
    if series.iter().all(|s| s.points.is_empty()) {
        return Err(miette::miette!("line chart '{}': no points", spec.title));
    }
    for s in series {
        if s.points
            .iter()
            .any(|p| !p.0.is_finite() || !p.1.is_finite())
        {
            return Err(miette::miette!(
                "line chart '{}': series '{}' has non-finite values",
                spec.title,
                s.name
            ));
        }
    }
    if let Some((lo, hi)) = spec.y_range {
        if lo.partial_cmp(&hi) != Some(std::cmp::Ordering::Less) {
            return Err(miette::miette!("line chart: empty y range {lo}..{hi}"));
        }
        if spec.log_y && lo <= 0.0 {
            return Err(miette::miette!(
                "line chart '{}': a log y axis needs a positive range, not {lo}..{hi}",
                spec.title
            ));
        }
    }
    if spec.log_y {
        if let Some(s) = series.iter().find(|s| s.points.iter().any(|p| p.1 <= 0.0)) {
            return Err(miette::miette!(
                "line chart '{}': series '{}' has values ≤ 0, which a log y axis cannot show",
                spec.title,
                s.name
            ));
        }
    }
    Ok(())
}

pub fn check_images(shape: &[usize], images: &[&[f32]]) -> miette::Result<()> {
    if shape.len() != 3 || !(shape[0] == 1 || shape[0] == 3) || shape[1] == 0 || shape[2] == 0 {
        return Err(miette::miette!(
            "image shape {shape:?} must be [C, H, W] with C = 1 or 3"
        ));
    }
    if images.is_empty() {
        return Err(miette::miette!("no images to draw"));
    }
    let size: usize = shape.iter().product();
    if let Some((i, img)) = images.iter().enumerate().find(|(_, x)| x.len() != size) {
        return Err(miette::miette!(
            "image {i} has {} values, shape {shape:?} needs {size}",
            img.len()
        ));
    }
    Ok(())
}

/// Range of `values` with a 5% margin; a single value gets a ±1 (or ±5%) window.
fn padded(lo: f64, hi: f64) -> (f64, f64) {
    if hi > lo {
        let m = 0.05 * (hi - lo);
        (lo - m, hi + m)
    } else {
        let m = if lo.abs() > 0.0 { 0.05 * lo.abs() } else { 1.0 };
        (lo - m, hi + m)
    }
}

pub fn line_chart<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    spec: &ChartSpec,
    series: &[Series],
) -> DrawResult {
    root.fill(&WHITE).map_err(e)?;
    let points: Vec<(f64, f64)> = series
        .iter()
        .flat_map(|s| s.points.iter().copied())
        .collect();
    let (mut xlo, mut xhi, mut ylo, mut yhi) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in &points {
        xlo = xlo.min(x);
        xhi = xhi.max(x);
        ylo = ylo.min(y);
        yhi = yhi.max(y);
    }
    // Integer x values (epochs, sizes) get integer ticks only.
    let integer_x = points.iter().all(|p| p.0.fract() == 0.0);
    let (xr, n_x_labels) = match &spec.x_categories {
        Some(c) => ((-0.5, c.len().max(1) as f64 - 0.5), c.len().max(1)),
        None if integer_x => (padded(xlo, xhi), ((xhi - xlo) as usize + 1).min(10)),
        None => (padded(xlo, xhi), 10),
    };
    let cats = spec.x_categories.clone();
    let fmt_x = move |x: &f64| -> String {
        match &cats {
            Some(c) => {
                let i = x.round();
                if (x - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < c.len() {
                    c[i as usize].clone()
                } else {
                    String::new()
                }
            }
            None if integer_x && x.fract() != 0.0 => String::new(),
            None => format_number(*x),
        }
    };
    let labels = (spec.x_label.as_str(), spec.y_label.as_str());
    if spec.log_y {
        // The same 5 % margins as a linear axis, taken in log space.
        let (lo, hi) = spec.y_range.unwrap_or_else(|| {
            let (l, h) = padded(ylo.ln(), yhi.ln());
            (l.exp(), h.exp())
        });
        let log_points: Vec<(f64, f64)> = points.iter().map(|&(x, y)| (x, y.ln())).collect();
        let legend = emptiest_corner(&log_points, xr, (lo.ln(), hi.ln()));
        let mut chart = chart_builder(root, &spec.title)
            .build_cartesian_2d(xr.0..xr.1, (lo..hi).log_scale())
            .map_err(e)?;
        draw_axes(&mut chart, labels, n_x_labels, &fmt_x)?;
        draw_lines(&mut chart, series, legend)
    } else {
        let yr = spec.y_range.unwrap_or_else(|| padded(ylo, yhi));
        let legend = emptiest_corner(&points, xr, yr);
        let mut chart = cartesian(root, &spec.title, xr, yr)?;
        draw_axes(&mut chart, labels, n_x_labels, &fmt_x)?;
        draw_lines(&mut chart, series, legend)
    }
}

/// Corner of a chart for its legend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Corner {
    UpperRight,
    LowerRight,
    UpperLeft,
    LowerLeft,
}

/// The corner whose quarter of the plot (40 % of each axis from that corner) holds the
/// fewest data points, upper right on a tie: there the legend hides the least. Ranges are
/// in plot coordinates (a log axis passes logarithms).
pub fn emptiest_corner(points: &[(f64, f64)], xr: (f64, f64), yr: (f64, f64)) -> Corner {
    let frac = |v: f64, r: (f64, f64)| {
        if r.1 > r.0 {
            (v - r.0) / (r.1 - r.0)
        } else {
            0.5
        }
    };
    let corners = [
        Corner::UpperRight,
        Corner::LowerRight,
        Corner::UpperLeft,
        Corner::LowerLeft,
    ];
    let count = |c: Corner| {
        points
            .iter()
            .filter(|&&(x, y)| {
                let (fx, fy) = (frac(x, xr), frac(y, yr));
                let right = fx >= 0.6;
                let left = fx <= 0.4;
                let top = fy >= 0.6;
                let bottom = fy <= 0.4;
                match c {
                    Corner::UpperRight => right && top,
                    Corner::LowerRight => right && bottom,
                    Corner::UpperLeft => left && top,
                    Corner::LowerLeft => left && bottom,
                }
            })
            .count()
    };
    // min_by_key keeps the first of equal counts: upper right wins ties.
    corners.into_iter().min_by_key(|&c| count(c)).unwrap()
}

/// The series of a line chart (points marked where there are few) and their legend, in the
/// corner where it covers the fewest points.
fn draw_lines<'a, DB: DrawingBackend + 'a, Y: Ranged<ValueType = f64>>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<RangedCoordf64, Y>>,
    series: &[Series],
    legend: Corner,
) -> DrawResult {
    for (i, s) in series.iter().enumerate() {
        let c = colour(i);
        let style = ShapeStyle::from(&c).stroke_width(2);
        chart
            .draw_series(LineSeries::new(s.points.iter().copied(), style))
            .map_err(e)?
            .label(s.name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
        if s.points.len() <= 40 {
            chart
                .draw_series(s.points.iter().map(|&p| Circle::new(p, 3, c.filled())))
                .map_err(e)?;
        }
    }
    if series.iter().any(|s| !s.name.is_empty()) {
        chart
            .configure_series_labels()
            .position(match legend {
                Corner::UpperRight => SeriesLabelPosition::UpperRight,
                Corner::LowerRight => SeriesLabelPosition::LowerRight,
                Corner::UpperLeft => SeriesLabelPosition::UpperLeft,
                Corner::LowerLeft => SeriesLabelPosition::LowerLeft,
            })
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font((FAMILY, 15))
            .draw()
            .map_err(e)?;
    }
    Ok(())
}

type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// The plotting area of a line chart or scatter plot: title, margins and room for tick
/// labels and axis descriptions.
fn cartesian<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    title: &str,
    (x0, x1): (f64, f64),
    (y0, y1): (f64, f64),
) -> Result<Chart<'a, DB>, String> {
    chart_builder(area, title)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(e)
}

fn chart_builder<'a, 'b, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    title: &str,
) -> ChartBuilder<'a, 'b, DB> {
    let mut b = ChartBuilder::on(area);
    b.caption(title, (FAMILY, 24))
        .margin(15)
        .x_label_area_size(50)
        .y_label_area_size(75);
    b
}

/// Grid, tick labels and the axis descriptions (what each axis measures) of a chart.
fn draw_axes<DB, Y>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<RangedCoordf64, Y>>,
    (x_label, y_label): (&str, &str),
    n_x_labels: usize,
    fmt_x: &dyn Fn(&f64) -> String,
) -> DrawResult
where
    DB: DrawingBackend,
    Y: Ranged<ValueType = f64> + plotters::coord::ranged1d::ValueFormatter<f64>,
{
    let fmt_y = |y: &f64| format_number(*y);
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .x_labels(n_x_labels)
        .y_labels(10)
        .x_label_formatter(fmt_x)
        .y_label_formatter(&fmt_y)
        .axis_desc_style((FAMILY, 18))
        .label_style((FAMILY, 14))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(e)
}

/// Every chart says what its axes measure: a blank description is an error.
pub fn check_axis_labels(what: &str, x_label: &str, y_label: &str) -> miette::Result<()> {
    if x_label.trim().is_empty() || y_label.trim().is_empty() {
        return Err(miette::miette!(
            "{what}: both axes need a description (x: {x_label:?}, y: {y_label:?})"
        ));
    }
    Ok(())
}

/// Short, readable tick labels: no float noise like 0.30000000000000004.
pub fn format_number(x: f64) -> String {
    if x == 0.0 {
        return "0".into();
    }
    let a = x.abs();
    if !(1e-3..1e5).contains(&a) {
        return format!("{x:.1e}");
    }
    let s = format!("{x:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

/// Pixel geometry of an image grid.
pub struct GridLayout {
    pub scale: u32,
    pub cell_w: u32,
    pub cell_h: u32,
    pub columns: usize,
    pub rows: usize,
    pub caption_h: u32,
    pub label_w: u32,
    pub title_h: u32,
    pub pad: u32,
    /// Lower bound on the width, so the title fits.
    pub min_w: u32,
}

impl GridLayout {
    pub fn new(shape: &[usize], n: usize, columns: usize, captions: bool, label_w: usize) -> Self {
        let (h, w) = (shape[1] as u32, shape[2] as u32);
        // Scale small images up so a tile is roughly 60–100 px, never below 1×.
        let scale = (84 / h.max(w)).max(1);
        let columns = columns.min(n.max(1));
        let rows = n.div_ceil(columns);
        let caption_h = if captions { 18 } else { 0 };
        Self {
            scale,
            cell_w: w * scale,
            cell_h: h * scale,
            columns,
            rows,
            caption_h,
            label_w: label_w as u32,
            title_h: 44,
            pad: 6,
            min_w: 240,
        }
    }
    /// Makes room under the title for a line of column labels.
    pub fn with_header(mut self, header: bool) -> Self {
        if header {
            self.title_h += HEADER_H;
        }
        self
    }
    /// Widens the figure so a 22-px title fits (about 12 px per character).
    pub fn fit_title(mut self, title: &str) -> Self {
        self.min_w = self.min_w.max(title.chars().count() as u32 * 12 + 40);
        self
    }
    pub fn size(&self) -> (u32, u32) {
        let w = self.label_w + self.columns as u32 * (self.cell_w + self.pad) + self.pad;
        let h =
            self.title_h + self.rows as u32 * (self.cell_h + self.caption_h + self.pad) + self.pad;
        (w.max(self.min_w), h)
    }
    fn origin(&self, row: usize, col: usize) -> (i32, i32) {
        // Centre the grid when the title made the figure wider than the grid.
        let content = self.label_w + self.columns as u32 * (self.cell_w + self.pad) + self.pad;
        let shift = (self.size().0 - content) / 2;
        let x = shift + self.label_w + self.pad + col as u32 * (self.cell_w + self.pad);
        let y = self.title_h + row as u32 * (self.cell_h + self.caption_h + self.pad);
        (x as i32, y as i32)
    }
}

/// Height of the column-label line of an image-rows figure.
const HEADER_H: u32 = 20;

fn to_byte(v: f32) -> u8 {
    (v.clamp(0.0, 1.0) * 255.0).round() as u8
}

fn draw_image<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    layout: &GridLayout,
    (x0, y0): (i32, i32),
    shape: &[usize],
    img: &[f32],
) -> DrawResult {
    let (c, h, w) = (shape[0], shape[1], shape[2]);
    let s = layout.scale as i32;
    let pixel = |p: usize| {
        if c == 3 {
            RGBColor(
                to_byte(img[p]),
                to_byte(img[h * w + p]),
                to_byte(img[2 * h * w + p]),
            )
        } else {
            let g = to_byte(img[p]);
            RGBColor(g, g, g)
        }
    };
    for y in 0..h {
        // One rectangle per horizontal run of equal colour keeps SVGs small (MNIST
        // backgrounds are long black runs).
        let mut x = 0;
        while x < w {
            let colour = pixel(y * w + x);
            let mut end = x + 1;
            while end < w && pixel(y * w + end) == colour {
                end += 1;
            }
            let (px, py) = (x0 + x as i32 * s, y0 + y as i32 * s);
            let px_end = x0 + end as i32 * s;
            root.draw(&Rectangle::new(
                [(px, py), (px_end, py + s)],
                colour.filled(),
            ))
            .map_err(e)?;
            x = end;
        }
    }
    // A thin frame so black-background images stand apart.
    root.draw(&Rectangle::new(
        [(x0 - 1, y0 - 1), (x0 + w as i32 * s, y0 + h as i32 * s)],
        RGBColor(180, 180, 180).stroke_width(1),
    ))
    .map_err(e)?;
    Ok(())
}

fn draw_title<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, title: &str) -> DrawResult {
    let (w, _) = root.dim_in_pixel();
    let style = TextStyle::from((FAMILY, 22).into_font())
        .color(&BLACK)
        .pos(Pos::new(HPos::Center, VPos::Center));
    root.draw(&Text::new(title.to_string(), (w as i32 / 2, 22), style))
        .map_err(e)
}

pub fn image_grid<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    layout: &GridLayout,
    title: &str,
    shape: &[usize],
    images: &[&[f32]],
    captions: &[String],
) -> DrawResult {
    root.fill(&WHITE).map_err(e)?;
    draw_title(root, title)?;
    let font = (FAMILY, 13).into_font();
    for (i, img) in images.iter().enumerate() {
        let (x0, y0) = layout.origin(i / layout.columns, i % layout.columns);
        draw_image(root, layout, (x0, y0), shape, img)?;
        if let Some(cap) = captions.get(i) {
            let style = TextStyle::from(font.clone())
                .color(&BLACK)
                .pos(Pos::new(HPos::Center, VPos::Top));
            let pos = (x0 + layout.cell_w as i32 / 2, y0 + layout.cell_h as i32 + 2);
            root.draw(&Text::new(cap.clone(), pos, style)).map_err(e)?;
        }
    }
    Ok(())
}

pub fn image_rows<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    layout: &GridLayout,
    title: &str,
    shape: &[usize],
    column_labels: &[String],
    rows: &[ImageRow],
) -> DrawResult {
    root.fill(&WHITE).map_err(e)?;
    draw_title(root, title)?;
    let header = TextStyle::from((FAMILY, 13).into_font())
        .color(&BLACK)
        .pos(Pos::new(HPos::Center, VPos::Bottom));
    for (c, label) in column_labels.iter().enumerate() {
        let (x0, y0) = layout.origin(0, c);
        let pos = (x0 + layout.cell_w as i32 / 2, y0 - 4);
        root.draw(&Text::new(label.clone(), pos, header.clone()))
            .map_err(e)?;
    }
    for (r, row) in rows.iter().enumerate() {
        let (_, y0) = layout.origin(r, 0);
        let style = TextStyle::from((FAMILY, 15).into_font())
            .color(&BLACK)
            .pos(Pos::new(HPos::Right, VPos::Center));
        let (x0, _) = layout.origin(r, 0);
        let pos = (x0 - layout.pad as i32 - 4, y0 + layout.cell_h as i32 / 2);
        root.draw(&Text::new(row.label.clone(), pos, style))
            .map_err(e)?;
        for (c, img) in row.images.iter().enumerate() {
            draw_image(root, layout, layout.origin(r, c), shape, img)?;
        }
    }
    Ok(())
}

pub fn scatter<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    axis_labels: (&str, &str),
    points: &[(f64, f64)],
    labels: &[u8],
    class_names: &[String],
) -> DrawResult {
    root.fill(&WHITE).map_err(e)?;
    let (mut xlo, mut xhi, mut ylo, mut yhi) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in points {
        xlo = xlo.min(x);
        xhi = xhi.max(x);
        ylo = ylo.min(y);
        yhi = yhi.max(y);
    }
    let (xlo, xhi) = padded(xlo, xhi);
    let (ylo, yhi) = padded(ylo, yhi);
    // Leave room at the right for the legend.
    let (plot, legend) = root.split_horizontally(root.dim_in_pixel().0 - 150);
    let mut chart = cartesian(&plot, title, (xlo, xhi), (ylo, yhi))?;
    let fmt = |v: &f64| format_number(*v);
    draw_axes(&mut chart, axis_labels, 10, &fmt)?;
    let radius = if points.len() > 3000 { 2 } else { 3 };
    for class in 0..class_names.len() {
        let c = colour(class);
        chart
            .draw_series(
                points
                    .iter()
                    .zip(labels)
                    .filter(|(_, &l)| l as usize == class)
                    .map(|(&p, _)| Circle::new(p, radius, c.mix(0.75).filled())),
            )
            .map_err(e)?;
    }
    // Legend: one coloured dot and name per class.
    for (class, name) in class_names.iter().enumerate() {
        let y = 70 + class as i32 * 24;
        legend
            .draw(&Circle::new((20, y), 6, colour(class).filled()))
            .map_err(e)?;
        let style = TextStyle::from((FAMILY, 15).into_font())
            .color(&BLACK)
            .pos(Pos::new(HPos::Left, VPos::Center));
        legend
            .draw(&Text::new(name.clone(), (34, y), style))
            .map_err(e)?;
    }
    Ok(())
}

pub fn heatmap<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    x_label: &str,
    y_label: &str,
    counts: &[Vec<u64>],
    class_names: &[String],
) -> DrawResult {
    root.fill(&WHITE).map_err(e)?;
    draw_title(root, title)?;
    let n = class_names.len();
    let (w, h) = root.dim_in_pixel();
    let (left, top) = (140i32, 90i32);
    // The right margin holds each row's rate of correct predictions (recall), then the
    // colour bar (strip and tick labels).
    let rates_w = 80i32;
    let cell = ((w as i32 - left - 20 - rates_w - COLOUR_BAR_W).min(h as i32 - top - 40)
        / n as i32)
        .max(8);
    let black = TextStyle::from((FAMILY, 13).into_font()).color(&BLACK);
    let centre = Pos::new(HPos::Center, VPos::Center);
    // Axis descriptions: predicted classes across the top, true classes down the side.
    root.draw(&Text::new(
        x_label.to_string(),
        (left + cell * n as i32 / 2, 52),
        TextStyle::from((FAMILY, 16).into_font()).pos(centre),
    ))
    .map_err(e)?;
    root.draw(&Text::new(
        y_label.to_string(),
        (10, top - 14),
        TextStyle::from((FAMILY, 16).into_font()).pos(Pos::new(HPos::Left, VPos::Center)),
    ))
    .map_err(e)?;
    // Column names shrink so the longest fits its cell (about 0.6 em per character).
    let longest = class_names
        .iter()
        .map(|c| c.chars().count())
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let col_size = (cell as f64 / (0.62 * longest)).clamp(8.0, 13.0);
    let col_style = TextStyle::from((FAMILY, col_size).into_font()).color(&BLACK);
    for (j, name) in class_names.iter().enumerate() {
        let x = left + j as i32 * cell + cell / 2;
        root.draw(&Text::new(
            name.clone(),
            (x, top - 10),
            col_style.pos(centre),
        ))
        .map_err(e)?;
        let y = top + j as i32 * cell + cell / 2;
        root.draw(&Text::new(
            name.clone(),
            (left - 8, y),
            black.pos(Pos::new(HPos::Right, VPos::Center)),
        ))
        .map_err(e)?;
    }
    let rates_x = left + n as i32 * cell + rates_w / 2;
    root.draw(&Text::new(
        "correct".to_string(),
        (rates_x, top - 10),
        black.pos(centre),
    ))
    .map_err(e)?;
    for (i, row) in counts.iter().enumerate() {
        let total: u64 = row.iter().sum();
        let right = row.get(i).copied().unwrap_or(0);
        let row_rate = if total > 0 {
            format!("{:.1}%", 100.0 * right as f64 / total as f64)
        } else {
            "–".to_string()
        };
        root.draw(&Text::new(
            row_rate,
            (rates_x, top + i as i32 * cell + cell / 2),
            black.pos(centre),
        ))
        .map_err(e)?;
        for (j, &v) in row.iter().enumerate() {
            let rate = if total > 0 {
                v as f64 / total as f64
            } else {
                0.0
            };
            let fill = rate_shade(rate);
            let t = rate.sqrt();
            let (x0, y0) = (left + j as i32 * cell, top + i as i32 * cell);
            root.draw(&Rectangle::new(
                [(x0, y0), (x0 + cell, y0 + cell)],
                fill.filled(),
            ))
            .map_err(e)?;
            root.draw(&Rectangle::new(
                [(x0, y0), (x0 + cell, y0 + cell)],
                RGBColor(220, 220, 220).stroke_width(1),
            ))
            .map_err(e)?;
            if cell >= 24 {
                let colour = if t > 0.55 { WHITE } else { BLACK };
                let style = TextStyle::from((FAMILY, (cell / 3).clamp(9, 15)).into_font())
                    .color(&colour)
                    .pos(centre);
                root.draw(&Text::new(
                    format!("{v}"),
                    (x0 + cell / 2, y0 + cell / 2),
                    style,
                ))
                .map_err(e)?;
            }
        }
    }
    let bar_x = left + n as i32 * cell + rates_w + 10;
    colour_bar(root, (bar_x, top), n as i32 * cell)
}

/// Width of a heatmap's colour bar: margin, strip and tick labels.
const COLOUR_BAR_W: i32 = 80;

/// Shade of a cell whose row rate is `rate` ∈ [0, 1]: white → dark blue, on a square-root
/// ramp so that small confusions are visible.
fn rate_shade(rate: f64) -> RGBColor {
    let t = rate.clamp(0.0, 1.0).sqrt();
    let lerp = |a: f64, b: f64| (a + (b - a) * t).round() as u8;
    RGBColor(lerp(255.0, 8.0), lerp(255.0, 48.0), lerp(255.0, 107.0))
}

/// The key to the heatmap's shades: a vertical strip from rate 1 (top, darkest) to 0
/// (bottom, white), `height` pixels tall from `(x, top)`, ticked every 0.25.
fn colour_bar<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    (x, top): (i32, i32),
    height: i32,
) -> DrawResult {
    let strip_w = 18;
    let span = (height - 1).max(1);
    // One 1-px band per pixel row: the rate falls linearly with the height.
    for dy in 0..height {
        let rate = 1.0 - dy as f64 / span as f64;
        root.draw(&Rectangle::new(
            [(x, top + dy), (x + strip_w, top + dy + 1)],
            rate_shade(rate).filled(),
        ))
        .map_err(e)?;
    }
    root.draw(&Rectangle::new(
        [(x - 1, top - 1), (x + strip_w + 1, top + height)],
        RGBColor(120, 120, 120).stroke_width(1),
    ))
    .map_err(e)?;
    let label = TextStyle::from((FAMILY, 12).into_font())
        .color(&BLACK)
        .pos(Pos::new(HPos::Left, VPos::Center));
    for k in 0..=4 {
        let rate = 1.0 - k as f64 / 4.0;
        let y = top + (span as f64 * k as f64 / 4.0).round() as i32;
        root.draw(&PathElement::new(
            vec![(x + strip_w + 1, y), (x + strip_w + 5, y)],
            BLACK.stroke_width(1),
        ))
        .map_err(e)?;
        root.draw(&Text::new(
            format_number(rate),
            (x + strip_w + 8, y),
            label.clone(),
        ))
        .map_err(e)?;
    }
    root.draw(&Text::new(
        "row rate".to_string(),
        (x + strip_w / 2, top - 10),
        TextStyle::from((FAMILY, 12).into_font())
            .color(&BLACK)
            .pos(Pos::new(HPos::Center, VPos::Center)),
    ))
    .map_err(e)
}
