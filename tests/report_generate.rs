//! The report generator on a synthetic runs folder with known numbers.

use std::path::Path;
use std::process::Command;

use archc::report::results::{summarize, Criterion, Metrics};
use archc::report::{generate, Manifest, Options};

const MANIFEST: &str = r#"
[[item]]
id = "c"
title = "classifier"
text = "Some explanation."
specs = ["specs/cifar_base.arch"]
commands = ["archc train specs/cifar_base.arch"]
at_epoch = 1

[[item]]
id = "two"
title = "two classifiers"
runs = ["specs/cifar_base.arch", "specs/cifar_rmsprop.arch"]

[[item]]
id = "ae"
title = "autoencoders"
commands = ["archc train specs/mnist_ae_basic.arch"]

[[item]]
id = "k"
title = "analysis"
commands = [
  "archc knn --dataset mnist --out runs/analysis/k",
  "archc knn --dataset mnist --out runs/analysis/none",
]
results = ["runs/analysis/k", "runs/analysis/none"]
"#;

fn epoch(e: usize, val_err: f64, test_err: f64, val_loss: f64) -> String {
    format!(
        r#"{{"epoch": {e}, "lr": 0.001, "train_loss": {}, "train_error": {}, "val_loss": {val_loss}, "val_error": {val_err}, "test_loss": 0.9, "test_error": {test_err}, "seconds": {}}}"#,
        1.5 - 0.1 * e as f64,
        0.6 - 0.1 * e as f64,
        10.0 * e as f64
    )
}

fn ae_epoch(e: usize, val_loss: f64, test_loss: f64) -> String {
    format!(
        r#"{{"epoch": {e}, "lr": 0.001, "train_loss": 0.3, "train_error": null, "val_loss": {val_loss}, "val_error": null, "test_loss": {test_loss}, "test_error": null, "seconds": 2.0}}"#
    )
}

fn write(p: &Path, text: &str) {
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(p, text).expect("write");
}

/// The table row (Markdown line) that mentions `needle`.
/// `generate` with the test manifest from `runs` into `out`: its stats and README.md.
fn gen_report(runs: &Path, out: &Path) -> (archc::report::Stats, String) {
    let m = Manifest::parse(MANIFEST).expect("manifest");
    let opts = Options {
        runs: runs.to_path_buf(),
        out: out.to_path_buf(),
    };
    let stats = generate(&m, &opts).expect("report");
    let md = std::fs::read_to_string(out.join("README.md")).expect("README.md");
    (stats, md)
}

/// A `cifar_base` run record of 25 planned epochs; `finished` is `""` for a run still
/// training, else `, "finished": "…"`.
fn cifar_base_record(finished: &str) -> String {
    format!(
        r#"{{"model": "cifar_base", "spec": "cifar_base.arch", "spec_md5": "",
        "command": ["archc"], "epochs": 25, "limit": null,
        "dataset": {{"name": "cifar10", "provenance": "jpeg-approximate", "description": "CIFAR-10",
                    "sources": [], "examples": [45000, 5000, 10000]}},
        "archc_version": "0.1.0", "git_commit": "unknown", "threads": 2,
        "started": "2026-12-06T20:00:00Z"{finished}}}"#
    )
}

fn row<'a>(md: &'a str, needle: &str) -> &'a str {
    md.lines()
        .find(|l| l.starts_with('|') && l.contains(needle))
        .unwrap_or_else(|| panic!("no table row with {needle} in\n{md}"))
}

fn cells(row: &str) -> Vec<String> {
    row.trim_matches('|')
        .split(" | ")
        .map(|c| c.trim().to_string())
        .collect()
}

#[test]
fn report_tables_hold_the_numbers_and_the_best_validation_epoch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let runs = dir.path().join("myruns");
    // Validation error is lowest at epoch 2; test error is lowest at epoch 3, which
    // must not be chosen.
    write(
        &runs.join("cifar_base/metrics.json"),
        &format!(
            r#"{{"model": "cifar_base", "dataset": "CIFAR-10 (synthetic test pixels)", "params": 2141514, "epochs": [{}, {}, {}]}}"#,
            epoch(1, 0.5, 0.52, 1.2),
            epoch(2, 0.3, 0.31, 0.8),
            epoch(3, 0.35, 0.29, 0.9)
        ),
    );
    write(&runs.join("cifar_base/curves.png"), "not really a png");
    write(
        &runs.join("cifar_rmsprop/metrics.json"),
        &format!(
            r#"{{"model": "cifar_rmsprop", "dataset": "CIFAR-10 (synthetic test pixels)", "params": 2141514, "epochs": [{}, {}]}}"#,
            epoch(1, 0.45, 0.47, 1.1),
            epoch(2, 0.4, 0.41, 1.0)
        ),
    );
    // Autoencoders: d'=2 finished (best validation loss at epoch 2), d'=8 malformed,
    // d'=32 and d'=64 not run.
    write(
        &runs.join("mnist_ae_basic_d2/metrics.json"),
        &format!(
            r#"{{"model": "mnist_ae_basic[d'=2]", "dataset": "MNIST", "params": 3138, "epochs": [{}, {}, {}]}}"#,
            ae_epoch(1, 0.25, 0.26),
            ae_epoch(2, 0.1875, 0.1925),
            ae_epoch(3, 0.2, 0.18)
        ),
    );
    write(
        &runs.join("mnist_ae_basic_d8/metrics.json"),
        "{\"epochs\": [",
    );
    write(
        &runs.join("analysis/k/knn.json"),
        r#"{"accuracy": 0.9691, "error": 0.0309, "ms_per_query": 1.25, "k": 10, "per_class": [1, 2, 3]}"#,
    );

    write(
        &runs.join("analysis/k/confusion.json"),
        r#"{"split": "test", "confusion": {"classes": ["cat", "dog"], "counts": [[5, 1], [2, 7]]},
            "most_confused": [{"true_name": "dog", "predicted_name": "cat", "count": 2, "rate": 0.2222}]}"#,
    );
    let out = dir.path().join("rep");
    let m = Manifest::parse(MANIFEST).expect("manifest");
    let stats = generate(
        &m,
        &Options {
            runs: runs.clone(),
            out: out.clone(),
        },
    )
    .expect("report");
    let md = std::fs::read_to_string(out.join("README.md")).expect("README.md");

    // Classifier summary: best epoch 2 by validation, test at that epoch, final test,
    // the epoch-1 columns, mean seconds (10 + 20 + 30) / 3.
    let r = cells(row(&md, "`cifar_base`"));
    assert_eq!(
        r,
        [
            "`cifar_base`",
            "2141514",
            "3/25",
            "2",
            "30.00%",
            "31.00%",
            "29.00%",
            "50.00%",
            "52.00%",
            "20.0"
        ],
        "{md}"
    );
    // Per-epoch table marks epoch 2.
    let e2 = cells(row(&md, "| 2 | 1.000e-3 |"));
    assert_eq!(e2.last().map(String::as_str), Some("◀"), "{md}");
    let e3 = cells(row(&md, "| 3 | 1.000e-3 |"));
    assert_ne!(e3.last().map(String::as_str), Some("◀"), "{md}");
    assert!(md.contains("CIFAR-10 (synthetic test pixels)"));
    assert!(md.contains("Some explanation."));
    // Spec source and the shape table of 1b.
    assert!(md.contains("net = C64 × P2 × C64 × P2 × F512 × F10[softmax]"));
    assert!(md.contains("2,141,514"));

    // Autoencoder: code 2 of 784 inputs → compression 1 − 2/784 = 99.74 %, ratio 392;
    // best validation loss at epoch 2 (0.1875), test loss there 0.1925, final 0.1800; no
    // reconstruction record in this metrics.json.
    // Epochs: 3 run of the spec's planned budget.
    let planned = archc::ir::load(Path::new("specs/mnist_ae_basic.arch"))
        .expect("spec")
        .models[0]
        .train
        .epochs;
    let r = cells(row(&md, "`mnist_ae_basic[d'=2]`"));
    assert_eq!(
        r,
        [
            "`mnist_ae_basic[d'=2]`",
            "3138",
            "2",
            "99.7 % (784/2 = 392.00×)",
            &format!("3/{planned}"),
            "2",
            "0.1875",
            "0.1925",
            "0.1800",
            "–",
            "–",
            "2.0"
        ],
        "{md}"
    );
    assert!(md.contains("is malformed"), "{md}");
    assert!(
        md.contains(
            "`mnist_ae_basic[d'=32]` — `archc train specs/mnist_ae_basic.arch --model \"mnist_ae_basic[d'=32]\"`"
        ),
        "{md}"
    );
    // cifar_base counts in items c and two.
    assert_eq!(stats.runs_found, 4);
    assert_eq!(stats.runs_missing, 5); // mnist_ae_basic sweeps six d' values
    let r = cells(row(&md, "`cifar_rmsprop`"));
    assert_eq!(&r[3..7], ["2", "40.00%", "41.00%", "41.00%"], "{md}");
    // Comparison figure of the two validation curves: linked, and both curves drawn in
    // their series colours (the first two of the tab10 palette), not only a legend.
    assert!(md.contains("](figures/two-val_error.png)"), "{md}");
    let (w, h, rgb) = decode_rgb(&out.join("figures/two-val_error.png"));
    assert!(w > 200 && h > 200, "{w}×{h}");
    for (name, colour) in [
        ("cifar_base", [31, 119, 180]),
        ("cifar_rmsprop", [255, 127, 14]),
    ] {
        let n = rgb.chunks(3).filter(|p| *p == colour).count();
        assert!(
            n > 200,
            "{name}: only {n} pixels of its curve colour {colour:?}"
        );
    }

    // Analysis JSON as a key/value table; the missing folder names its command.
    assert_eq!(cells(row(&md, "`accuracy`")), ["`accuracy`", "0.9691"]);
    assert_eq!(cells(row(&md, "`per_class`")), ["`per_class`", "1, 2, 3"]);
    // A confusion matrix prints with its class names; the pair list as a table.
    assert_eq!(cells(row(&md, "| **cat** |")), ["**cat**", "5", "1"]);
    assert_eq!(cells(row(&md, "| **dog** |")), ["**dog**", "2", "7"]);
    // serde_json orders keys alphabetically: count, predicted_name, rate, true_name.
    assert_eq!(
        cells(row(&md, "| 2 | cat |")),
        ["2", "cat", "0.2222", "dog"]
    );
    assert!(md.contains(
        "**`runs/analysis/none`**: not run yet — `archc knn --dataset mnist --out runs/analysis/none`"
    ));
    assert_eq!((stats.results_found, stats.results_missing), (1, 1));

    // The figure is copied next to the report and linked relatively.
    assert!(stats.figures >= 1);
    let link = "figures/cifar_base~curves.png";
    assert!(md.contains(&format!("]({link})")), "{md}");
    assert_eq!(
        std::fs::read_to_string(out.join(link)).expect("copied"),
        "not really a png"
    );
    // Nothing temporary is left behind.
    let figs = std::fs::read_dir(out.join("figures")).expect("figures");
    for e in std::fs::read_dir(&out).expect("out").chain(figs) {
        let name = e.expect("entry").file_name();
        assert!(!name.to_string_lossy().contains(".tmp-"), "{name:?}");
    }
}

/// A PNG's size and RGB pixels (alpha dropped).
fn decode_rgb(path: &Path) -> (u32, u32, Vec<u8>) {
    let decoder = png::Decoder::new(std::fs::File::open(path).expect("open PNG"));
    let mut reader = decoder.read_info().expect("PNG header");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("PNG frame");
    buf.truncate(info.buffer_size());
    let channels = match info.color_type {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        other => panic!("unexpected colour type {other:?}"),
    };
    let rgb = buf.chunks(channels).flat_map(|p| p[..3].to_vec()).collect();
    (info.width, info.height, rgb)
}

fn metrics(json: &str) -> Metrics {
    serde_json::from_str(json).expect("metrics")
}

#[test]
fn best_epoch_is_the_first_minimum_of_validation() {
    let m = metrics(&format!(
        r#"{{"epochs": [{}, {}, {}]}}"#,
        epoch(1, 0.3, 0.5, 1.0),
        epoch(2, 0.2, 0.5, 1.0),
        epoch(3, 0.2, 0.1, 0.5)
    ));
    let s = summarize(&m).expect("summary");
    assert_eq!(
        (s.best, s.criterion, s.classifier),
        (1, Criterion::ValError, true)
    );
    // Without validation errors a classifier falls back to validation loss.
    let m = metrics(
        r#"{"epochs": [{"epoch": 1, "train_error": 0.5, "val_loss": 2.0},
                       {"epoch": 2, "train_error": 0.4, "val_loss": 1.0},
                       {"epoch": 3, "train_error": 0.3, "val_loss": 1.5}]}"#,
    );
    let s = summarize(&m).expect("summary");
    assert_eq!((s.best, s.criterion), (1, Criterion::ValLoss));
    // NaN validation values never win.
    let m = metrics(
        r#"{"epochs": [{"epoch": 1, "train_loss": 1.0},
                       {"epoch": 2, "train_loss": 0.5}]}"#,
    );
    let s = summarize(&m).expect("summary");
    assert_eq!(
        (s.best, s.criterion, s.classifier),
        (1, Criterion::TrainLoss, false)
    );
}

#[test]
fn report_command_writes_readme_for_the_builtin_manifest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("report");
    std::fs::create_dir(dir.path().join("empty-runs")).expect("runs folder");
    let o = Command::new(env!("CARGO_BIN_EXE_archc"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["report", "--runs"])
        .arg(dir.path().join("empty-runs"))
        .arg("--out")
        .arg(&out)
        .output()
        .expect("run archc");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let md = std::fs::read_to_string(out.join("README.md")).expect("README.md");
    let m = Manifest::builtin().expect("manifest");
    for item in &m.items {
        assert!(
            md.contains(&format!("\n## {} — {}\n", item.id, item.title)),
            "no section for {}",
            item.id
        );
    }
    // Nothing has run: the 1c command is given, and no number is made up for it.
    assert!(md.contains("`cifar_base` — `archc train specs/cifar_base.arch`"));
    let numbers = md
        .lines()
        .filter(|l| l.starts_with('|') && l.contains('%'))
        .collect::<Vec<_>>();
    assert!(numbers.is_empty(), "numbers without results: {numbers:?}");
}

/// A report regenerated on a machine without the runs keeps the previous report's results
/// (and says so), keeps them again on the next regeneration without piling up notes; an
/// item is generated from the files here again once they are as complete as before, and
/// kept while they are fewer.
#[test]
fn report_without_runs_keeps_previous_results() {
    let dir = tempfile::tempdir().expect("tempdir");
    let runs = dir.path().join("runs");
    write(
        &runs.join("cifar_base/metrics.json"),
        &format!(
            r#"{{"model": "cifar_base", "dataset": "CIFAR-10", "params": 2141514, "epochs": [{}, {}]}}"#,
            epoch(1, 0.5, 0.5237, 1.2),
            epoch(2, 0.3, 0.3141, 0.8)
        ),
    );
    write(
        &runs.join("analysis/k/knn.json"),
        r#"{"accuracy": 0.9691, "error": 0.0309, "k": 10}"#,
    );
    write(
        &runs.join("analysis/none/knn.json"),
        r#"{"accuracy": 0.8123, "error": 0.1877, "k": 10}"#,
    );
    let out = dir.path().join("rep");
    let gen = |runs: &Path| gen_report(runs, &out);
    let (first, md1) = gen(&runs);
    assert_eq!(first.kept, 0);
    assert!(md1.contains("31.41"), "test error of epoch 2 in the table");
    assert!(md1.contains("0.9691"));

    // A fresh machine: no runs at all.
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).expect("mkdir");
    let (second, md2) = gen(&empty);
    // "c" (its run), "two" (cifar_base is one of its runs) and "k" (both results) had
    // outputs; "ae" had none and stays "not run yet".
    assert_eq!(second.kept, 3, "{md2}");
    assert_eq!(md2.matches("Kept from the previous report").count(), 3);
    assert!(md2.contains("31.41") && md2.contains("0.9691"));
    assert!(row(&md2, "[c](#item-c)").contains("1/1 (kept)"));
    assert!(row(&md2, "[k](#item-k)").contains("2/2 (kept)"));
    assert!(md2.contains("`k` reruns it") || md2.contains("archc item k` reruns it"));
    assert!(row(&md2, "[ae](#item-ae)").contains("0/"));
    assert!(!row(&md2, "[ae](#item-ae)").contains("kept"));
    // The item's explanation is regenerated, not copied twice.
    assert_eq!(md2.matches("Some explanation.").count(), 1);

    let (third, md3) = gen(&empty);
    assert_eq!(third.kept, 3);
    assert_eq!(md3, md2, "keeping is stable");

    // A run of cifar_base stopped half-way (its record has no `finished`): not a result,
    // so the complete one of the previous report stays.
    write(
        &empty.join("cifar_base/metrics.json"),
        &format!(
            r#"{{"model": "cifar_base", "dataset": "CIFAR-10", "params": 2141514, "epochs": [{}]}}"#,
            epoch(1, 0.9, 0.8642, 2.2)
        ),
    );
    write(&empty.join("cifar_base/run.json"), &cifar_base_record(""));
    let (partial, md_partial) = gen(&empty);
    assert_eq!(partial.kept, 3, "{md_partial}");
    assert!(md_partial.contains("31.41") && !md_partial.contains("86.42"));
    assert!(row(&md_partial, "[c](#item-c)").contains("kept"));
    std::fs::remove_file(empty.join("cifar_base/run.json")).expect("remove record");

    // A different run of cifar_base here: "c" and "two" are generated from it.
    write(
        &empty.join("cifar_base/metrics.json"),
        &format!(
            r#"{{"model": "cifar_base", "dataset": "CIFAR-10", "params": 2141514, "epochs": [{}]}}"#,
            epoch(1, 0.5, 0.2718, 1.2)
        ),
    );
    let (fourth, md4) = gen(&empty);
    assert_eq!(fourth.kept, 1, "only k is kept");
    assert!(md4.contains("27.18") && !md4.contains("31.41"));
    assert!(md4.contains("0.9691") && md4.contains("0.8123"));

    // One of k's two results here, with a different number: fewer than before, still kept.
    write(
        &empty.join("analysis/k/knn.json"),
        r#"{"accuracy": 0.5, "error": 0.5, "k": 10}"#,
    );
    let (fifth, md5) = gen(&empty);
    assert_eq!(fifth.kept, 1);
    assert!(md5.contains("holds 1 of 2 of this item's result files, the previous report 2"));
    assert!(md5.contains("0.9691") && !md5.contains("| 0.5 |"));
    // Both here: k is generated from them.
    write(
        &empty.join("analysis/none/knn.json"),
        r#"{"accuracy": 0.25, "error": 0.75, "k": 10}"#,
    );
    let (sixth, md6) = gen(&empty);
    assert_eq!(sixth.kept, 0);
    assert!(!md6.contains("0.9691") && md6.contains("0.25"));
}

/// A run still training, with no earlier report to keep: its item lists it with its
/// progress and the command that resumes it, and shows none of its numbers as results.
#[test]
fn run_still_training_is_listed_not_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let runs = dir.path().join("runs");
    write(
        &runs.join("cifar_base/metrics.json"),
        &format!(
            r#"{{"model": "cifar_base", "dataset": "CIFAR-10", "params": 2141514, "epochs": [{}, {}, {}]}}"#,
            epoch(1, 0.5, 0.5237, 1.2),
            epoch(2, 0.4, 0.4321, 1.0),
            epoch(3, 0.3, 0.3141, 0.8)
        ),
    );
    write(&runs.join("cifar_base/run.json"), &cifar_base_record(""));
    let out = dir.path().join("rep");
    let gen = || gen_report(&runs, &out);
    let (stats, md) = gen();
    // "c" and "two" both train cifar_base.
    assert_eq!(stats.runs_training, 2, "{md}");
    assert_eq!(stats.runs_found, 0, "{md}");
    assert!(
        md.contains(
            "`cifar_base` — 3 of 25 epochs done; `archc train specs/cifar_base.arch --resume` continues it"
        ),
        "{md}"
    );
    assert!(!md.contains("31.41") && !md.contains("52.37"), "{md}");
    assert!(
        row(&md, "[c](#item-c)").contains("0/1 (1 training)"),
        "{md}"
    );

    // Finished: the same files are now the item's result.
    write(
        &runs.join("cifar_base/run.json"),
        &cifar_base_record(r#", "finished": "2026-12-06T22:00:00Z""#),
    );
    let (stats, md) = gen();
    assert_eq!(stats.runs_training, 0, "{md}");
    assert!(md.contains("31.41"), "{md}");
    assert!(!md.contains("Still training"), "{md}");
    assert!(row(&md, "[c](#item-c)").contains("1/1"), "{md}");
}
