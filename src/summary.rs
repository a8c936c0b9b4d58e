//! Shape and parameter tables of compiled models, as text and as JSON.

use crate::ir::{shape::fmt_shape, Model, Spec};
use serde_json::{json, Value};

/// Thousands separators: 2141514 → "2,141,514".
fn grouped(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Short layer ids: `C1`, `P1`, `C2`, … numbered per letter.
fn layer_ids(model: &Model) -> Vec<String> {
    let mut counts = std::collections::HashMap::new();
    model
        .layers
        .iter()
        .map(|l| {
            let letter = l.letter();
            let n = counts.entry(letter).or_insert(0);
            *n += 1;
            format!("{letter}{n}")
        })
        .collect()
}

/// The compact table: layer, notation, output shape, parameters, multiply-adds per image.
pub fn table(model: &Model) -> String {
    let ids = layer_ids(model);
    let mut rows: Vec<[String; 5]> = vec![[
        "layer".into(),
        "notation".into(),
        "output".into(),
        "params".into(),
        "mult-adds".into(),
    ]];
    rows.push([
        "input".into(),
        String::new(),
        fmt_shape(&model.input_shape),
        String::new(),
        String::new(),
    ]);
    for (i, (l, id)) in model.layers.iter().zip(&ids).enumerate() {
        let mut name = id.clone();
        if let Some(label) = &l.label {
            name += &format!(" ({label})");
        } else if model.code_layer == Some(i) {
            name += " (code)";
        }
        rows.push([
            name,
            l.notation.clone(),
            fmt_shape(&l.output_shape),
            grouped(l.params as u64),
            grouped(l.mult_adds),
        ]);
    }
    rows.push([
        "total".into(),
        String::new(),
        String::new(),
        grouped(model.total_params() as u64),
        grouped(model.total_mult_adds()),
    ]);
    let mut widths = [0usize; 5];
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = format!("{}\n", model.name);
    for (i, r) in rows.iter().enumerate() {
        if i == rows.len() - 1 || i == 1 {
            let rule: usize = widths.iter().sum::<usize>() + 2 * (widths.len() - 1);
            out += &"─".repeat(rule);
            out.push('\n');
        }
        let mut line = String::new();
        for (j, (c, w)) in r.iter().zip(widths).enumerate() {
            let pad = w - c.chars().count();
            if j >= 3 {
                line += &" ".repeat(pad);
                line += c;
            } else {
                line += c;
                line += &" ".repeat(pad);
            }
            if j + 1 < r.len() {
                line += "  ";
            }
        }
        out += line.trim_end();
        out.push('\n');
    }
    out
}

/// `{"models": [{"name", "layers": [{"layer", "notation", "label", "output_shape", "params", "mult_adds"}], "total_params",
/// "training_memory": {"parameters", "optimizer", "activations", "batch", "data", "total"}}]}` (bytes).
pub fn json(spec: &Spec) -> Value {
    let models: Vec<Value> = spec
        .models
        .iter()
        .map(|m| {
            let ids = layer_ids(m);
            let layers: Vec<Value> = m
                .layers
                .iter()
                .zip(ids)
                .map(|(l, id)| {
                    json!({
                        "layer": id,
                        "notation": l.notation,
                        "label": l.label,
                        "output_shape": l.output_shape,
                        "params": l.params,
                        "mult_adds": l.mult_adds,
                    })
                })
                .collect();
            json!({
                "name": m.name,
                "layers": layers,
                "total_params": m.total_params(),
                "training_memory": crate::memory::estimate(m),
            })
        })
        .collect();
    json!({ "models": models })
}
