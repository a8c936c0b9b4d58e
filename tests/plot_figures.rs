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
    plot::scatter_by_class(&dir.join("scatter.png"), "Codes", &pts, &labels, &names).unwrap();

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
    assert!(
        plot::scatter_by_class(&dir.join("s.png"), "t", &[(0.0, 0.0)], &[3], &["a".into()])
            .is_err()
    );
}
