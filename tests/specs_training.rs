//! The training sections of every spec in specs/ (optimizer and learning rate, schedule,
//! epochs, batch, loss, split, seed, augmentation, noise, pre-training), per model, in one
//! snapshot: a changed hyper-parameter is a visible diff to review.

use std::collections::BTreeMap;

#[test]
fn training_sections_of_all_specs() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("specs");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("specs/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "arch"))
        .collect();
    files.sort();
    assert!(files.len() >= 20, "{} specs", files.len());
    let mut all = BTreeMap::new();
    for f in &files {
        let spec = archc::ir::load(f).unwrap_or_else(|e| panic!("{}: {e:?}", f.display()));
        let models: BTreeMap<String, serde_json::Value> = spec
            .models
            .iter()
            .map(|m| {
                let v = serde_json::to_value(&m.train).expect("train config serialises");
                (m.name.clone(), as_f32(v))
            })
            .collect();
        assert!(!models.is_empty(), "{}", f.display());
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        all.insert(name, models);
    }
    insta::assert_json_snapshot!("training_sections", all);
}

/// Hyper-parameters are f32: print 0.001, not 0.0010000000474974513.
fn as_f32(v: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Number(n) if n.is_f64() => {
            let short: f64 = (n.as_f64().unwrap() as f32).to_string().parse().unwrap();
            serde_json::json!(short)
        }
        Value::Array(a) => Value::Array(a.into_iter().map(as_f32).collect()),
        Value::Object(o) => Value::Object(o.into_iter().map(|(k, v)| (k, as_f32(v))).collect()),
        other => other,
    }
}
