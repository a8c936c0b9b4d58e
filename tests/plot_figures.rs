//! Figures: files are written in the requested format, with the pixels where the layout
//! puts them; bad input is an error, not a panic.

use std::path::PathBuf;

use archc::plot::{self, ImageRow, Series};

/// Output directory: `$ARCHC_FIGURE_DIR` keeps the figures for inspection, else a temp dir.
fn out_dir() -> (Option<tempfile::TempDir>, PathBuf) {
    match std::env::var("ARCHC_FIGURE_DIR") {
        Ok(d) => {
            std::fs::create_dir_all(&d).unwrap();
            (None, PathBuf::from(d))
        }
        Err(_) => {
            let t = tempfile::tempdir().unwrap();
            let p = t.path().to_path_buf();
            (Some(t), p)
        }
    }
}

fn decode_png(path: &std::path::Path) -> (u32, u32, Vec<u8>, png::ColorType) {
    let decoder = png::Decoder::new(std::fs::File::open(path).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf, info.color_type)
}

#[test]
fn line_chart_png_and_svg() {
    let (_t, dir) = out_dir();
    let series = vec![
        Series {
            name: "train".into(),
            points: (1..=20).map(|e| (e as f64, 0.5 / e as f64)).collect(),
        },
        Series {
            name: "validation".into(),
            points: (1..=20)
                .map(|e| (e as f64, 0.6 / e as f64 + 0.01))
                .collect(),
        },
    ];
    let png_path = dir.join("curves.png");
    plot::line_chart(&png_path, "Learning curves", "epoch", "error", &series).unwrap();
    let (w, h, _, _) = decode_png(&png_path);
    assert_eq!((w, h), (900, 600));
    let svg_path = dir.join("curves.svg");
    plot::line_chart(&svg_path, "Learning curves", "epoch", "error", &series).unwrap();
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    assert!(svg.starts_with("<svg"));
    assert!(svg.contains("Learning curves") && svg.contains("validation"));
    // No temporary files left behind.
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".curves"))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn categorical_sweep_chart() {
    let (_t, dir) = out_dir();
    let spec = plot::ChartSpec {
        title: "Error vs filter size".into(),
        x_label: "filter size".into(),
        y_label: "test error (%)".into(),
        x_categories: Some(vec!["3×3".into(), "5×5".into(), "7×7".into(), "9×9".into()]),
        y_range: None,
        log_y: false,
    };
    let s = vec![Series {
        name: "test".into(),
        points: vec![(0.0, 1.2), (1.0, 0.9), (2.0, 1.0), (3.0, 1.3)],
    }];
    let p = dir.join("sweep.svg");
    plot::line_chart_with(&p, &spec, &s).unwrap();
    let svg = std::fs::read_to_string(&p).unwrap();
    for c in ["3×3", "5×5", "7×7", "9×9"] {
        assert!(svg.contains(c), "category {c} missing from the x axis");
    }
}

#[test]
fn image_grid_puts_pixels_where_the_layout_says() {
    let (_t, dir) = out_dir();
    // 4×4 grey image with distinct values; tiles are scaled by 84 / 4 = 21, the first tile
    // starts at (pad 6, title 44).
    let img: Vec<f32> = (0..16).map(|i| i as f32 / 15.0).collect();
    let p = dir.join("grid.png");
    // Three columns (3 × (84 + 6) + 6 = 276 px) are wider than the minimum width, so the grid
    // is not shifted to centre it.
    let caps: Vec<String> = vec!["a".into(), "b".into(), "c".into()];
    plot::image_grid(&p, "grid", &[1, 4, 4], &[&img, &img, &img], &caps, 3).unwrap();
    let (w, _h, buf, ct) = decode_png(&p);
    let channels = match ct {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        other => panic!("unexpected colour type {other:?}"),
    };
    for (y, x) in [(0usize, 0usize), (1, 2), (3, 3), (2, 1)] {
        let (px, py) = (6 + x * 21 + 10, 44 + y * 21 + 10);
        let o = (py * w as usize + px) * channels;
        let want = (img[y * 4 + x] * 255.0).round() as u8;
        assert_eq!(&buf[o..o + 3], &[want, want, want], "pixel ({y},{x})");
    }
}

#[test]
fn rows_scatter_heatmap_and_filters() {
    let (_t, dir) = out_dir();
    let img: Vec<f32> = (0..784).map(|i| (i % 28) as f32 / 27.0).collect();
    let rows = vec![
        ImageRow {
            label: "noisy".into(),
            images: vec![img.clone(); 6],
        },
        ImageRow {
            label: "reconstructed".into(),
            images: vec![img.clone(); 6],
        },
        ImageRow {
            label: "clean".into(),
            images: vec![img.clone(); 6],
        },
    ];
    plot::image_rows(&dir.join("rows.png"), "Denoising", &[1, 28, 28], &rows).unwrap();

    let names: Vec<String> = (0..10).map(|i| i.to_string()).collect();
    let mut pts = Vec::new();
    let mut labels = Vec::new();
    for c in 0..10u8 {
        for k in 0..50 {
            let a = c as f64 * 0.628 + k as f64 * 0.001;
            pts.push((
                a.cos() * 10.0 + (k % 7) as f64 * 0.1,
                a.sin() * 10.0 + (k % 5) as f64 * 0.1,
            ));
            labels.push(c);
        }
    }
    plot::scatter_by_class(
        &dir.join("scatter.png"),
        "Codes",
        ("code 1", "code 2"),
        &pts,
        &labels,
        &names,
    )
    .unwrap();

    let counts: Vec<Vec<u64>> = (0..10)
        .map(|i| {
            (0..10)
                .map(|j| {
                    if i == j {
                        950
                    } else {
                        ((i * 7 + j * 3) % 11) as u64
                    }
                })
                .collect()
        })
        .collect();
    plot::heatmap(
        &dir.join("confusion.png"),
        "Confusion",
        "predicted",
        "true",
        &counts,
        &names,
    )
    .unwrap();

    let w: Vec<f32> = (0..8 * 25)
        .map(|i| ((i * 37 % 17) as f32 - 8.0) / 8.0)
        .collect();
    plot::filters_figure(&dir.join("filters.png"), "Filters", &w, &[8, 1, 5, 5]).unwrap();
    let maps: Vec<f32> = (0..2 * 4 * 24 * 24).map(|i| (i % 24) as f32).collect();
    let inputs: Vec<f32> = vec![0.5; 2 * 784];
    plot::feature_maps_figure(
        &dir.join("maps.png"),
        "Feature maps",
        &maps,
        &[2, 4, 24, 24],
        Some((&inputs, &[2, 1, 28, 28])),
        &[],
    )
    .unwrap();
    for f in [
        "rows.png",
        "scatter.png",
        "confusion.png",
        "filters.png",
        "maps.png",
    ] {
        let (w, h, _, _) = decode_png(&dir.join(f));
        assert!(w > 100 && h > 100, "{f} is {w}×{h}");
    }
}

#[test]
fn normalise_each_scales_every_tile_to_unit_range() {
    let x = [1.0, 3.0, 2.0, -4.0, -4.0, 0.0, 7.0, 7.0, 7.0];
    let n = plot::normalise_each(&x, 3);
    assert_eq!(n, vec![0.0, 1.0, 0.5, 0.0, 0.0, 1.0, 0.5, 0.5, 0.5]);
}

#[test]
fn bad_input_is_an_error() {
    let (_t, dir) = out_dir();
    let s = [Series {
        name: "a".into(),
        points: vec![(0.0, 1.0)],
    }];
    assert!(plot::line_chart(&dir.join("x.jpg"), "t", "x", "y", &s).is_err());
    let nan = [Series {
        name: "a".into(),
        points: vec![(0.0, f64::NAN)],
    }];
    assert!(plot::line_chart(&dir.join("x.png"), "t", "x", "y", &nan).is_err());
    let short = vec![0.0f32; 10];
    assert!(plot::image_grid(&dir.join("g.png"), "t", &[1, 4, 4], &[&short], &[], 1).is_err());
    assert!(plot::image_grid(&dir.join("g.png"), "t", &[2, 4, 4], &[&short], &[], 1).is_err());
    assert!(plot::scatter_by_class(
        &dir.join("s.png"),
        "t",
        ("x", "y"),
        &[(0.0, 0.0)],
        &[3],
        &["a".into()]
    )
    .is_err());
}

/// RGB pixels of a PNG (alpha dropped).
fn rgb_pixels(path: &std::path::Path) -> (usize, usize, Vec<[u8; 3]>) {
    let (w, h, buf, ct) = decode_png(path);
    let channels = match ct {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        other => panic!("unexpected colour type {other:?}"),
    };
    let px = buf.chunks(channels).map(|p| [p[0], p[1], p[2]]).collect();
    (w as usize, h as usize, px)
}

fn luminance(p: [u8; 3]) -> f64 {
    0.299 * p[0] as f64 + 0.587 * p[1] as f64 + 0.114 * p[2] as f64
}

/// Bounding box `(x0, y0, x1, y1)` (inclusive) of a 4-connected region.
type BoundingBox = (usize, usize, usize, usize);

/// The roughly square dark regions (luminance < 128) of at least `min_side`² pixels:
/// filled cells and tiles. Text, frames, grid lines and thin colour bars drop out, so the
/// count does not depend on titles or legends added around the panels.
fn dark_squares(w: usize, h: usize, px: &[[u8; 3]], min_side: usize) -> Vec<BoundingBox> {
    let dark: Vec<bool> = px.iter().map(|&p| luminance(p) < 128.0).collect();
    let mut seen = vec![false; w * h];
    let mut out = Vec::new();
    for start in 0..w * h {
        if !dark[start] || seen[start] {
            continue;
        }
        seen[start] = true;
        let mut stack = vec![start];
        let (mut x0, mut y0, mut x1, mut y1) = (w, h, 0, 0);
        while let Some(i) = stack.pop() {
            let (x, y) = (i % w, i / w);
            (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
            let mut push = |j: usize| {
                if dark[j] && !seen[j] {
                    seen[j] = true;
                    stack.push(j);
                }
            };
            if x > 0 {
                push(i - 1);
            }
            if x + 1 < w {
                push(i + 1);
            }
            if y > 0 {
                push(i - w);
            }
            if y + 1 < h {
                push(i + w);
            }
        }
        let (bw, bh) = (x1 - x0 + 1, y1 - y0 + 1);
        if bw >= min_side && bh >= min_side && bw * 5 <= bh * 6 && bh * 5 <= bw * 6 {
            out.push((x0, y0, x1, y1));
        }
    }
    out
}

/// Groups nearly equal coordinates (within `tol` pixels); returns the sorted group centres.
fn clusters(mut v: Vec<usize>, tol: usize) -> Vec<usize> {
    v.sort_unstable();
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for x in v {
        match groups.last_mut() {
            Some(g) if x - g[g.len() - 1] <= tol => g.push(x),
            _ => groups.push(vec![x]),
        }
    }
    groups
        .iter()
        .map(|g| g.iter().sum::<usize>() / g.len())
        .collect()
}

#[test]
fn confusion_cells_sit_at_true_row_and_predicted_column_and_darken_with_the_rate() {
    let (_t, dir) = out_dir();
    // One dominant cell (rate ≥ 0.75) per row and per column, in a permutation that is not
    // its own transpose; the other non-zero cells have rate 1/16 or 1/4.
    let counts: Vec<Vec<u64>> = vec![
        vec![0, 1, 15, 0],
        vec![16, 0, 0, 0],
        vec![1, 0, 0, 15],
        vec![0, 12, 4, 0],
    ];
    let names: Vec<String> = ["ant", "bee", "cat", "dog"].map(String::from).to_vec();
    let p = dir.join("confusion_cells.png");
    plot::heatmap(&p, "Confusion", "predicted", "true", &counts, &names).unwrap();
    let (w, h, px) = rgb_pixels(&p);
    let mut cells = dark_squares(w, h, &px, 20);
    assert_eq!(cells.len(), 4, "dark cells {cells:?}");
    // Rows top to bottom: the dark cell's column is the predicted class of that row.
    cells.sort_by_key(|c| c.1);
    let xs = clusters(cells.iter().map(|c| (c.0 + c.2) / 2).collect(), 3);
    assert_eq!(xs.len(), 4, "{cells:?}");
    let column = |x: usize| xs.iter().position(|&c| c.abs_diff(x) <= 3).unwrap();
    let order: Vec<usize> = cells.iter().map(|c| column((c.0 + c.2) / 2)).collect();
    assert_eq!(order, [2, 0, 3, 1], "predicted column of each true row");
    // Sample every cell away from its centre (where the count is written) and its border.
    let side = cells[0].2 - cells[0].0 + 1;
    let mut row_y = [0; 4];
    let mut col_x = [0; 4];
    for (i, c) in cells.iter().enumerate() {
        row_y[i] = (c.1 + c.3) / 2;
        col_x[order[i]] = (c.0 + c.2) / 2;
    }
    let at = |i: usize, j: usize| {
        let (x, y) = (col_x[j] - side * 3 / 10, row_y[i] - side * 3 / 10);
        px[y * w + x]
    };
    for (i, row) in counts.iter().enumerate() {
        for (j, &v) in row.iter().enumerate() {
            if v == 0 {
                assert_eq!(at(i, j), [255, 255, 255], "empty cell ({i},{j})");
            } else {
                assert_ne!(at(i, j), [255, 255, 255], "cell ({i},{j}) = {v} is blank");
            }
        }
    }
    // Darker with a higher rate: 1 < 15/16 < 3/4 < 1/4 < 1/16 < 0 in luminance.
    let lum = [(1, 0), (0, 2), (3, 1), (3, 2), (0, 1), (0, 0)].map(|(i, j)| luminance(at(i, j)));
    assert!(lum.windows(2).all(|p| p[0] < p[1]), "{lum:?}");
}

#[test]
fn filters_figure_draws_one_tile_per_filter_in_a_square_grid() {
    let (_t, dir) = out_dir();
    // 8 filters of 5×5: each has its maximum at row 0, column 1 and is otherwise low, so
    // after per-filter scaling a tile is dark with one white pixel near its top-left.
    let mut w = vec![0.0f32; 8 * 25];
    for f in 0..8 {
        for j in 0..25 {
            w[f * 25 + j] = -1.5 + 0.05 * ((j + f) % 4) as f32;
        }
        w[f * 25 + 1] = 1.0 + f as f32;
    }
    let p = dir.join("filters_tiles.png");
    plot::filters_figure(&p, "Filters", &w, &[8, 1, 5, 5]).unwrap();
    let (width, height, px) = rgb_pixels(&p);
    let tiles = dark_squares(width, height, &px, 20);
    assert_eq!(tiles.len(), 8, "tiles {tiles:?}");
    // ⌈√8⌉ = 3 columns: 3 + 3 + 2 tiles.
    let cols = clusters(tiles.iter().map(|t| t.0).collect(), 3);
    let rows = clusters(tiles.iter().map(|t| t.1).collect(), 3);
    assert_eq!((cols.len(), rows.len()), (3, 3), "{tiles:?}");
    for &(x0, y0, x1, y1) in &tiles {
        let s = (x1 - x0 + 1) / 5;
        assert_eq!(s, (y1 - y0 + 1) / 5, "tile is not square");
        // Filter pixel (row 0, column 1) is white; (row 1, column 0) is dark.
        let white = px[(y0 + s / 2) * width + x0 + s + s / 2];
        let dark = px[(y0 + s + s / 2) * width + x0 + s / 2];
        assert_eq!(white, [255, 255, 255], "tile at ({x0},{y0})");
        assert!(luminance(dark) < 40.0, "tile at ({x0},{y0}): {dark:?}");
    }
}

#[test]
fn confusion_colour_bar_shades_from_dark_at_the_top_to_white_at_the_bottom() {
    let (_t, dir) = out_dir();
    let counts: Vec<Vec<u64>> = vec![
        vec![0, 1, 15, 0],
        vec![16, 0, 0, 0],
        vec![1, 0, 0, 15],
        vec![0, 12, 4, 0],
    ];
    let names: Vec<String> = ["ant", "bee", "cat", "dog"].map(String::from).to_vec();
    let p = dir.join("confusion_bar.png");
    plot::heatmap(&p, "Confusion", "predicted", "true", &counts, &names).unwrap();
    let (w, h, px) = rgb_pixels(&p);
    let cells = dark_squares(w, h, &px, 20);
    assert_eq!(cells.len(), 4, "dark cells {cells:?}");
    let side = cells[0].2 - cells[0].0 + 1;
    let matrix_right = cells.iter().map(|c| c.2).max().unwrap();
    let matrix_top = cells.iter().map(|c| c.1).min().unwrap();
    // The strip: the longest vertical run of blue-tinted pixels (blue above red; white,
    // grey and black text are not). Cells are cut by grid lines and counts, so a run
    // through them is at most one cell tall.
    let tinted = |p: [u8; 3]| p[2] > p[0];
    let (mut best, mut best_x, mut best_y0) = (0, 0, 0);
    for x in 0..w {
        let mut run = 0;
        for y in 0..h {
            if tinted(px[y * w + x]) {
                run += 1;
                if run > best {
                    (best, best_x, best_y0) = (run, x, y + 1 - run);
                }
            } else {
                run = 0;
            }
        }
    }
    assert!(
        best >= 3 * side,
        "no colour bar: longest tinted run {best} px, cells are {side} px"
    );
    assert!(
        best_x > matrix_right,
        "the bar ({best_x}) overlaps the matrix"
    );
    assert!(
        best_y0.abs_diff(matrix_top) <= 3,
        "bar starts at {best_y0}, matrix at {matrix_top}"
    );
    let lum: Vec<f64> = (best_y0..best_y0 + best)
        .map(|y| luminance(px[y * w + best_x]))
        .collect();
    assert!(
        lum.windows(2).all(|p| p[0] <= p[1]),
        "the bar does not lighten steadily downwards: {lum:?}"
    );
    // Rate 1 at the top is the darkest cell shade; rate 0 at the bottom is (nearly) white.
    let darkest =
        luminance(px[((cells[1].1 + cells[1].3) / 2 - side * 3 / 10) * w + cells[1].0 + 2]);
    assert!(
        (lum[0] - darkest).abs() < 2.0,
        "top {} vs full-rate cell {darkest}",
        lum[0]
    );
    // The run ends on the palest tint; the bar's last row (rate 0) is white.
    assert!(lum[lum.len() - 1] > 235.0, "bottom {}", lum[lum.len() - 1]);
    assert_eq!(px[(best_y0 + best) * w + best_x], [255, 255, 255]);
    assert!(lum[0] < 60.0, "top {}", lum[0]);
}

/// The attributes and text of every `<tag …>` element of an SVG (plotters' own output:
/// attributes in double quotes, no `>` inside values).
fn svg_elements(svg: &str, tag: &str) -> Vec<(Vec<(String, String)>, String)> {
    let open = format!("<{tag} ");
    let mut out = Vec::new();
    let mut rest = svg;
    while let Some(i) = rest.find(&open) {
        rest = &rest[i + open.len()..];
        let end = rest.find('>').unwrap();
        let head = &rest[..end];
        let mut attrs = Vec::new();
        let mut h = head;
        while let Some(eq) = h.find("=\"") {
            let name = h[..eq].trim().to_string();
            let v_end = h[eq + 2..].find('"').unwrap();
            attrs.push((name, h[eq + 2..eq + 2 + v_end].to_string()));
            h = &h[eq + 2 + v_end + 1..];
        }
        let body = if head.ends_with('/') {
            String::new()
        } else {
            let close = rest.find(&format!("</{tag}>")).unwrap();
            rest[end + 1..close].trim().to_string()
        };
        out.push((attrs, body));
    }
    out
}

fn attr(attrs: &[(String, String)], name: &str) -> f64 {
    attrs
        .iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no {name} in {attrs:?}"))
        .1
        .parse()
        .unwrap()
}

#[test]
fn feature_map_columns_and_rows_are_labelled_over_their_tiles() {
    let (_t, dir) = out_dir();
    let (n, c, h, w) = (3usize, 4usize, 12usize, 12usize);
    let maps: Vec<f32> = (0..n * c * h * w).map(|i| (i % 13) as f32).collect();
    let inputs: Vec<f32> = (0..n * 16 * 16).map(|i| (i % 16) as f32 / 15.0).collect();
    let rows: Vec<String> = vec!["#4 cat".into(), "#9 dog".into(), "#17 ship".into()];
    let p = dir.join("maps_labelled.svg");
    plot::feature_maps_figure(
        &p,
        "Feature maps",
        &maps,
        &[n, c, h, w],
        Some((&inputs, &[n, 1, 16, 16])),
        &rows,
    )
    .unwrap();
    let svg = std::fs::read_to_string(&p).unwrap();
    // Tile frames: one grey outline per tile; their centres give the columns and rows.
    let frames: Vec<(f64, f64, f64, f64)> = svg_elements(&svg, "rect")
        .into_iter()
        .filter(|(a, _)| a.iter().any(|(k, v)| k == "stroke" && v == "#B4B4B4"))
        .map(|(a, _)| {
            (
                attr(&a, "x"),
                attr(&a, "y"),
                attr(&a, "width"),
                attr(&a, "height"),
            )
        })
        .collect();
    assert_eq!(frames.len(), n * (c + 1), "one frame per tile");
    let mut col_x: Vec<f64> = frames.iter().map(|f| f.0 + f.2 / 2.0).collect();
    col_x.sort_by(f64::total_cmp);
    col_x.dedup_by(|a, b| (*a - *b).abs() < 1.0);
    let mut row_y: Vec<(f64, f64)> = frames.iter().map(|f| (f.1, f.1 + f.3)).collect();
    row_y.sort_by(|a, b| a.0.total_cmp(&b.0));
    row_y.dedup_by(|a, b| (a.0 - b.0).abs() < 1.0);
    assert_eq!((col_x.len(), row_y.len()), (c + 1, n));
    let texts = svg_elements(&svg, "text");
    let find = |label: &str| {
        let (a, _) = texts
            .iter()
            .find(|(_, body)| body == label)
            .unwrap_or_else(|| panic!("no label {label:?} in the figure"));
        (attr(a, "x"), attr(a, "y"))
    };
    // Column headers: "input", then "ch 0" … over the matching column, above the first row.
    let headers: Vec<String> = std::iter::once("input".to_string())
        .chain((0..c).map(|k| format!("ch {k}")))
        .collect();
    for (k, label) in headers.iter().enumerate() {
        let (x, y) = find(label);
        assert!(
            (x - col_x[k]).abs() <= 1.5,
            "{label} at x {x}, column at {}",
            col_x[k]
        );
        assert!(
            y < row_y[0].0,
            "{label} at y {y} is not above the first row"
        );
    }
    // Row labels: left of the first column, within their row's height.
    for (i, label) in rows.iter().enumerate() {
        let (x, y) = find(label);
        assert!(x < col_x[0], "{label} at x {x}");
        assert!(
            row_y[i].0 <= y && y <= row_y[i].1,
            "{label} at y {y}, row {:?}",
            row_y[i]
        );
    }
    // A wrong number of row labels is an error, not a silently mislabelled figure.
    assert!(plot::feature_maps_figure(
        &dir.join("bad.svg"),
        "t",
        &maps,
        &[n, c, h, w],
        None,
        &rows[..2],
    )
    .is_err());
}

#[test]
fn scatter_and_line_charts_name_both_axes() {
    let (_t, dir) = out_dir();
    let names: Vec<String> = vec!["a".into(), "b".into()];
    let pts = [(0.0, 1.0), (1.0, 0.0), (2.0, 2.0)];
    let p = dir.join("scatter_axes.svg");
    plot::scatter_by_class(
        &p,
        "PCA",
        ("component 1", "component 2"),
        &pts,
        &[0, 1, 0],
        &names,
    )
    .unwrap();
    let texts: Vec<String> = svg_elements(&std::fs::read_to_string(&p).unwrap(), "text")
        .into_iter()
        .map(|(_, body)| body)
        .collect();
    for want in ["component 1", "component 2"] {
        assert!(texts.iter().any(|t| t == want), "{want} missing: {texts:?}");
    }
    let s = [Series {
        name: "test".into(),
        points: vec![(2.0, 0.1), (8.0, 0.05)],
    }];
    let q = dir.join("line_axes.svg");
    plot::line_chart(&q, "PCA", "code size d'", "MSE per pixel", &s).unwrap();
    let svg = std::fs::read_to_string(&q).unwrap();
    let texts: Vec<String> = svg_elements(&svg, "text")
        .into_iter()
        .map(|(_, b)| b)
        .collect();
    // The SVG backend escapes the apostrophe.
    for want in ["code size d&apos;", "MSE per pixel"] {
        assert!(texts.iter().any(|t| t == want), "{want} missing: {texts:?}");
    }
    // A chart without axis descriptions is refused.
    assert!(plot::line_chart(&dir.join("l.png"), "t", "", "y", &s).is_err());
    assert!(plot::line_chart(&dir.join("l.png"), "t", "x", " ", &s).is_err());
    assert!(
        plot::scatter_by_class(&dir.join("s.png"), "t", ("x", ""), &pts, &[0, 1, 0], &names)
            .is_err()
    );
}

/// The y pixel of each point of the first series of an SVG line chart: the first polyline
/// in the first series colour (axes and ticks are black).
fn polyline_ys(svg: &str) -> Vec<f64> {
    let lines = svg_elements(svg, "polyline");
    let value = |attrs: &[(String, String)], name: &str| {
        attrs.iter().find(|(n, _)| n == name).map(|a| a.1.clone())
    };
    let (attrs, _) = lines
        .iter()
        .find(|(a, _)| value(a, "stroke").as_deref() == Some("#1F77B4"))
        .expect("a polyline in the first series colour");
    let points = value(attrs, "points").unwrap();
    points
        .split_whitespace()
        .map(|p| p.split(',').nth(1).unwrap().parse().unwrap())
        .collect()
}

#[test]
fn log_y_puts_equal_ratios_at_equal_heights() {
    let (_t, dir) = out_dir();
    let series = vec![Series {
        name: "error".into(),
        points: vec![(1.0, 1.0), (2.0, 10.0), (3.0, 100.0)],
    }];
    let spec = |log_y| plot::ChartSpec {
        title: "log axis".into(),
        x_label: "epoch".into(),
        y_label: "error (%)".into(),
        log_y,
        ..Default::default()
    };
    let ys = |log_y, name: &str| {
        let p = dir.join(name);
        plot::line_chart_with(&p, &spec(log_y), &series).unwrap();
        polyline_ys(&std::fs::read_to_string(&p).unwrap())
    };
    // Log axis: 10 sits halfway between 1 and 100 (to a pixel of rounding).
    let log = ys(true, "log_y.svg");
    assert_eq!(log.len(), 3);
    assert!(log[0] > log[1] && log[1] > log[2], "{log:?}");
    let mid = (log[0] + log[2]) / 2.0;
    assert!((log[1] - mid).abs() <= 1.0, "{log:?}");
    // Linear axis: 10 is a tenth of the way up from 1 to 100, far from halfway.
    let lin = ys(false, "lin_y.svg");
    let frac = (lin[0] - lin[1]) / (lin[0] - lin[2]);
    assert!((frac - 9.0 / 99.0).abs() < 0.01, "{lin:?}");
    // Values ≤ 0 cannot sit on a log axis: an error, not a panic or a blank chart.
    let bad = vec![Series {
        name: "zero".into(),
        points: vec![(1.0, 0.0), (2.0, 1.0)],
    }];
    let err = plot::line_chart_with(&dir.join("bad_log.svg"), &spec(true), &bad).unwrap_err();
    assert!(err.to_string().contains("≤ 0"), "{err}");
}

#[test]
fn legend_goes_to_the_corner_with_fewest_points() {
    use archc::plot::{emptiest_corner, Corner};
    // Curves rising to the upper right (accuracy against d'): the upper right is taken,
    // the lower right is empty.
    let rising = [(0.0, 0.4), (1.0, 0.6), (2.0, 0.9), (3.0, 0.95), (4.0, 0.97)];
    assert_eq!(
        emptiest_corner(&rising, (0.0, 4.0), (0.4, 1.0)),
        Corner::LowerRight
    );
    // Falling curves (loss against epoch) leave the upper right empty.
    let falling = [(0.0, 1.0), (1.0, 0.5), (2.0, 0.3), (3.0, 0.2), (4.0, 0.15)];
    assert_eq!(
        emptiest_corner(&falling, (0.0, 4.0), (0.15, 1.0)),
        Corner::UpperRight
    );
    // Points in every corner but the upper left.
    let three = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0)];
    assert_eq!(
        emptiest_corner(&three, (0.0, 1.0), (0.0, 1.0)),
        Corner::UpperLeft
    );
}
