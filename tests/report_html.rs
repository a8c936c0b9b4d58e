//! The report's contents links and its self-contained HTML page (`report.html`), on a
//! synthetic runs folder with real figures; and, where headless Chromium is installed, a
//! screenshot of the page as a reader sees it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use archc::report::{anchor, generate, Manifest, Options};
use base64::Engine as _;

const MANIFEST: &str = r#"
[[item]]
id = "3.1k"
title = "kNN on the codes"
text = "A figure and a table."
commands = ["archc knn --dataset mnist --out runs/analysis/k"]
results = ["runs/analysis/k"]

[[item]]
id = "c"
title = "classifier"
specs = ["specs/cifar_base.arch"]
"#;

/// The confusion figure's darkest cells: the heatmap's full-rate shade.
const DARK_CELL: [u8; 3] = [8, 48, 107];

fn write(p: &Path, text: &str) {
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(p, text).expect("write");
}

/// A runs folder with a kNN result (JSON and a confusion heatmap drawn by archc) and one
/// classifier run; returns (temp dir, report folder).
fn report() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let runs = dir.path().join("myruns");
    let k = runs.join("analysis/k");
    write(
        &k.join("knn.json"),
        r#"{"accuracy": 0.9691, "error": 0.0309, "k": 10}"#,
    );
    let names: Vec<String> = ["cat", "dog", "ship"].map(String::from).to_vec();
    let counts = vec![vec![40, 1, 0], vec![2, 38, 0], vec![0, 0, 45]];
    archc::plot::heatmap(
        &k.join("confusion.png"),
        "Confusion",
        "predicted class",
        "true class",
        &counts,
        &names,
    )
    .expect("heatmap");
    write(
        &runs.join("cifar_base/metrics.json"),
        r#"{"model": "cifar_base", "params": 2141514, "epochs": [
            {"epoch": 1, "lr": 0.001, "train_loss": 1.4, "train_error": 0.5, "val_loss": 1.2, "val_error": 0.45, "test_loss": 1.2, "test_error": 0.46, "seconds": 10.0}]}"#,
    );
    let out = dir.path().join("rep");
    let m = Manifest::parse(MANIFEST).expect("manifest");
    let stats = generate(
        &m,
        &Options {
            runs,
            out: out.clone(),
        },
    )
    .expect("report");
    assert!(stats.figures >= 1, "{stats:?}");
    (dir, out)
}

/// Values of every `attr="…"` in an HTML text.
fn attr_values<'a>(html: &'a str, attr: &str) -> Vec<&'a str> {
    let key = format!(" {attr}=\"");
    html.match_indices(&key)
        .map(|(i, _)| {
            let rest = &html[i + key.len()..];
            &rest[..rest.find('"').expect("closing quote")]
        })
        .collect()
}

fn decode_png(bytes: &[u8]) -> (usize, usize, Vec<[u8; 3]>) {
    let mut reader = png::Decoder::new(bytes).read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("PNG frame");
    let channels = match info.color_type {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        other => panic!("unexpected colour type {other:?}"),
    };
    let px = buf[..info.buffer_size()]
        .chunks(channels)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    (info.width as usize, info.height as usize, px)
}

#[test]
fn markdown_report_starts_with_contents_linking_every_item() {
    let (_dir, out) = report();
    let md = std::fs::read_to_string(out.join("README.md")).expect("README.md");
    let contents = md.find("## Contents").expect("a contents section");
    let first_item = md.find("\n## 3.1k — ").expect("item section");
    assert!(contents < first_item);
    for (id, slug) in [("3.1k", "item-3-1k"), ("c", "item-c")] {
        assert_eq!(anchor(id), slug);
        let link = format!("[{id}](#{slug})");
        let link_at = md.find(&link).unwrap_or_else(|| panic!("no link {link}"));
        assert!(link_at < first_item, "{link} is not in the contents");
        // The target sits right before the item's heading.
        assert!(
            md.contains(&format!("<a id=\"{slug}\"></a>\n\n## {id} — ")),
            "no anchor {slug}"
        );
    }
}

#[test]
fn html_report_is_one_self_contained_page() {
    let (_dir, out) = report();
    let html = std::fs::read_to_string(out.join("report.html")).expect("report.html");
    assert!(html.starts_with("<!DOCTYPE html>"));
    // Contents links and their targets.
    let ids = attr_values(&html, "id");
    let hrefs = attr_values(&html, "href");
    for slug in ["item-3-1k", "item-c"] {
        assert!(ids.contains(&slug), "no id {slug} in {ids:?}");
        let target = format!("#{slug}");
        assert!(hrefs.contains(&target.as_str()), "no link to {slug}");
    }
    // Tables are rendered, not left as Markdown pipes.
    assert!(html.contains("<table>") && html.contains("<td>0.9691</td>"));
    // Every image is inlined and decodes to the very figure that README.md links.
    let srcs = attr_values(&html, "src");
    assert!(!srcs.is_empty(), "no images");
    let md = std::fs::read_to_string(out.join("README.md")).expect("README.md");
    let linked: Vec<&str> = md
        .match_indices("](figures/")
        .map(|(i, _)| {
            let rest = &md[i + 2..];
            &rest[..rest.find(')').expect("link end")]
        })
        .collect();
    assert_eq!(srcs.len(), linked.len(), "{linked:?}");
    for (src, file) in srcs.iter().zip(&linked) {
        let b64 = src
            .strip_prefix("data:image/png;base64,")
            .unwrap_or_else(|| panic!("not an inline PNG: {}", &src[..src.len().min(60)]));
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .expect("valid base64");
        assert_eq!(bytes, std::fs::read(out.join(file)).expect("figure file"));
        let (w, h, _) = decode_png(&bytes);
        assert!(w > 100 && h > 100, "{file}: {w}×{h}");
    }
    // No reference to a file: links are anchors or web addresses, no element loads
    // anything from disk (the page's text may still mention paths, e.g. of a missing
    // observations file), and the figures folder is not named.
    for h in &hrefs {
        assert!(h.starts_with('#') || h.starts_with("http"), "file link {h}");
    }
    for tag in ["<link", "<script", "<iframe", "url("] {
        assert!(!html.contains(tag), "the page loads something: {tag}");
    }
    assert!(
        !html.contains("figures/"),
        "the page names the figures folder"
    );
}

fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("ARCHC_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|d| ["chromium", "chromium-browser", "google-chrome"].map(|n| d.join(n)))
        .find(|p| p.is_file())
}

#[test]
fn chromium_shows_the_page_with_its_figure() {
    let Some(browser) = chromium() else {
        eprintln!("SKIPPED: chromium not found (apt-get install chromium, or set ARCHC_CHROMIUM)");
        return;
    };
    let (dir, out) = report();
    // The page must not need the figures folder.
    std::fs::remove_dir_all(out.join("figures")).expect("rm figures");
    let shot = std::env::var("ARCHC_FIGURE_DIR")
        .map(|d| {
            std::fs::create_dir_all(&d).expect("figure dir");
            PathBuf::from(d).join("report_screenshot.png")
        })
        .unwrap_or_else(|_| dir.path().join("shot.png"));
    let _ = std::fs::remove_file(&shot);
    let profile = dir.path().join("chromium-profile");
    let mut child = Command::new(&browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1200,2000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", out.join("report.html").display()))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start chromium");
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if start.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!("chromium did not finish in 120 s");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(status.success(), "chromium exited with {status}");
    let (w, h, px) = decode_png(&std::fs::read(&shot).expect("screenshot"));
    assert_eq!((w, h), (1200, 2000));
    let white = |p: &[u8; 3]| p.iter().all(|&c| c >= 250);
    let inked = px.iter().filter(|p| !white(p)).count() as f64 / px.len() as f64;
    assert!(
        inked > 0.02,
        "the page is nearly blank: {:.2}% ink",
        100.0 * inked
    );
    // The embedded heatmap's darkest cells (three on the diagonal) show up.
    let near = |p: &[u8; 3]| p.iter().zip(DARK_CELL).all(|(&a, b)| a.abs_diff(b) <= 6);
    let figure_pixels = px.iter().filter(|p| near(p)).count();
    assert!(
        figure_pixels > 1000,
        "only {figure_pixels} pixels of the figure's dark-cell colour"
    );
}
