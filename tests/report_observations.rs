//! Observations quote numbers the report re-checks against the current results: a quote
//! that still holds is printed, a changed or missing one is flagged, and an item with
//! results but no observation is marked.

use archc::report::observations::{self, agrees, parse, Source};

fn metrics(test_loss_best: f64) -> String {
    serde_json::json!({
        "model": "ae[d'=2]",
        "epochs": [
            {"epoch": 1, "val_loss": 0.30, "test_loss": 0.31},
            {"epoch": 2, "val_loss": 0.20, "test_loss": test_loss_best},
            {"epoch": 3, "val_loss": 0.25, "test_loss": 0.18},
        ],
        "reconstruction": {"epoch": 2, "test": {"mse_per_pixel": 0.0123, "bce_per_image": 80.5, "bce_per_pixel": 0.1}},
    })
    .to_string()
}

#[test]
fn quotes_parse_and_compare_at_the_written_precision() {
    let q = parse(
        "BCE {{metric:ae[d'=2]:best.test_loss=0.193}} and {{json:runs/a/k.json:rows.1.acc=0.97}}.",
    )
    .unwrap();
    assert_eq!(q.len(), 2);
    assert_eq!(q[0].source, Source::Metric("ae[d'=2]".into()));
    assert_eq!(q[0].path, "best.test_loss");
    assert_eq!(q[1].source, Source::Json("runs/a/k.json".into()));
    assert!(agrees("0.193", 0.19301));
    assert!(!agrees("0.193", 0.1937));
    assert!(agrees("17", 17.4));
    assert!(!agrees("17", 17.6));
    assert!(parse("{{metric:x:best.a=abc}}").is_err());
    assert!(parse("{{nope:x:a=1}}").is_err());
    assert!(parse("{{metric:x:a=1").is_err());
}

#[test]
fn report_section_flags_changed_numbers_and_missing_observations() {
    let root = tempfile::tempdir().unwrap();
    let runs = root.path().join("runs");
    // The folder name differs from the model name: runs are found by metrics.json's model.
    let run = runs.join("ae_d2");
    std::fs::create_dir_all(&run).unwrap();
    std::fs::write(run.join("metrics.json"), metrics(0.1925)).unwrap();
    std::fs::create_dir_all(runs.join("analysis/x")).unwrap();
    std::fs::write(
        runs.join("analysis/x/knn.json"),
        r#"{"rows": [{"acc": 0.5}, {"acc": 0.9671}]}"#,
    )
    .unwrap();

    // No observation yet, results exist: marked, with a warning.
    let (s, w) = observations::section("3.1a", &runs, true);
    assert!(s.contains("Not written yet"), "{s}");
    assert_eq!(w.len(), 1);
    // No results and no observation: nothing.
    assert_eq!(
        observations::section("3.1a", &runs, false),
        (String::new(), vec![])
    );

    let obs = root.path().join("observations");
    std::fs::create_dir_all(&obs).unwrap();
    std::fs::write(
        obs.join("3.1a.md"),
        "Best-epoch test BCE {{metric:ae[d'=2]:best.test_loss=0.1925}} (MSE {{metric:ae[d'=2]:reconstruction.test.mse_per_pixel=0.0123}}), kNN {{json:runs/analysis/x/knn.json:rows.1.acc=0.967}}.",
    )
    .unwrap();
    let (s, w) = observations::section("3.1a", &runs, true);
    assert!(w.is_empty(), "{w:?}");
    assert!(
        s.contains("Best-epoch test BCE 0.1925 (MSE 0.0123), kNN 0.967."),
        "{s}"
    );

    // A rerun changes the best epoch's test loss: the quote is flagged with the new value.
    std::fs::write(run.join("metrics.json"), metrics(0.2040)).unwrap();
    let (s, w) = observations::section("3.1a", &runs, true);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(s.contains("0.1925 ⚠ **changed: now 0.204**"), "{s}");
    // The best epoch is read as the report chooses it (lowest validation loss: epoch 2),
    // not the last epoch (0.18).
    assert!(!s.contains("now 0.18"), "{s}");

    // A result that disappeared is flagged as unchecked.
    std::fs::remove_file(runs.join("analysis/x/knn.json")).unwrap();
    let (s, w) = observations::section("3.1a", &runs, true);
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(s.contains("unchecked"), "{s}");
}
