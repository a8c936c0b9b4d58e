//! Snapshot of the summary table of every spec in `specs/`.

#[test]
fn summary_tables_of_all_specs() {
    let mut paths: Vec<_> = std::fs::read_dir("specs")
        .expect("specs/ exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "arch"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 20, "expected one spec per experiment");
    for p in paths {
        let spec = archc::ir::load(&p).unwrap_or_else(|e| panic!("{}: {e:?}", p.display()));
        let tables: Vec<String> = spec.models.iter().map(archc::summary::table).collect();
        insta::assert_snapshot!(spec.name.clone(), tables.join("\n"));
    }
}
