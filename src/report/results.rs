//! Reading result files defensively: a missing file is "not run yet", a malformed one a
//! warning; never a panic.

use std::path::Path;

use serde_json::Value;

pub use crate::analysis::io::{EpochMetrics, Metrics};

/// What reading a result file gave.
#[derive(Debug, Clone, PartialEq)]
pub enum Read<T> {
    Missing,
    Malformed(String),
    Ok(T),
}

pub fn read_metrics(path: &Path) -> Read<Metrics> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Read::Missing,
        Err(e) => return Read::Malformed(e.to_string()),
    };
    match serde_json::from_str::<Metrics>(&text) {
        Ok(m) if m.epochs.is_empty() => Read::Malformed("no epochs recorded".into()),
        Ok(m) => Read::Ok(m),
        Err(e) => Read::Malformed(e.to_string()),
    }
}

pub fn read_json(path: &Path) -> Read<Value> {
    match std::fs::read_to_string(path) {
        Ok(t) => match serde_json::from_str(&t) {
            Ok(v) => Read::Ok(v),
            Err(e) => Read::Malformed(e.to_string()),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Read::Missing,
        Err(e) => Read::Malformed(e.to_string()),
    }
}

/// What the best epoch was chosen by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Criterion {
    ValError,
    ValNoisyLoss,
    ValLoss,
    TrainLoss,
}

impl Criterion {
    pub fn describe(self) -> &'static str {
        match self {
            Criterion::ValError => "validation error",
            Criterion::ValNoisyLoss => "validation loss from noisy inputs (denoising)",
            Criterion::ValLoss => "validation loss",
            Criterion::TrainLoss => "training loss (no validation values)",
        }
    }
}

/// The numbers of one run that the tables show.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSummary {
    /// Classifier (has error values) or autoencoder (losses only).
    pub classifier: bool,
    pub epochs: usize,
    /// Index into `Metrics::epochs` of the best epoch.
    pub best: usize,
    pub criterion: Criterion,
    pub final_index: usize,
    pub mean_seconds: Option<f64>,
}

/// The first epoch with the smallest validation error (classifiers) or validation loss
/// (autoencoders); the test values are read there, never chosen on them.
pub fn summarize(m: &Metrics) -> Option<RunSummary> {
    if m.epochs.is_empty() {
        return None;
    }
    let classifier = m
        .epochs
        .iter()
        .any(|e| e.val_error.is_some() || e.test_error.is_some() || e.train_error.is_some());
    let pick = |f: &dyn Fn(&EpochMetrics) -> Option<f64>| -> Option<usize> {
        let mut best: Option<(usize, f64)> = None;
        for (i, e) in m.epochs.iter().enumerate() {
            if let Some(v) = f(e).filter(|v| v.is_finite()) {
                if best.is_none_or(|(_, b)| v < b) {
                    best = Some((i, v));
                }
            }
        }
        best.map(|(i, _)| i)
    };
    let (best, criterion) = if let Some(i) = classifier.then(|| pick(&|e| e.val_error)).flatten() {
        (i, Criterion::ValError)
    } else if let Some(i) = pick(&|e| e.val_noisy_loss) {
        (i, Criterion::ValNoisyLoss)
    } else if let Some(i) = pick(&|e| e.val_loss) {
        (i, Criterion::ValLoss)
    } else {
        (
            pick(&|e| e.train_loss).unwrap_or(m.epochs.len() - 1),
            Criterion::TrainLoss,
        )
    };
    let secs: Vec<f64> = m.epochs.iter().filter_map(|e| e.seconds).collect();
    Some(RunSummary {
        classifier,
        epochs: m.epochs.len(),
        best,
        criterion,
        final_index: m.epochs.len() - 1,
        mean_seconds: (!secs.is_empty()).then(|| secs.iter().sum::<f64>() / secs.len() as f64),
    })
}

/// Numbers as the report prints them: readable, never rounded to zero.
pub fn fmt_num(x: f64) -> String {
    if !x.is_finite() {
        return x.to_string();
    }
    if x.fract() == 0.0 && x.abs() < 1e15 {
        return format!("{}", x as i64);
    }
    let a = x.abs();
    if a < 1e-3 {
        format!("{x:.3e}")
    } else if a < 1000.0 {
        format!("{x:.4}")
    } else {
        format!("{x:.1}")
    }
}

/// An error rate as a percentage with two decimals: 0.1234 → "12.34%".
pub fn fmt_pct(x: Option<f64>) -> String {
    x.map(|v| format!("{:.2}%", 100.0 * v))
        .unwrap_or_else(|| "–".into())
}

pub fn fmt_opt(x: Option<f64>, digits: usize) -> String {
    x.map(|v| format!("{v:.digits$}"))
        .unwrap_or_else(|| "–".into())
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::Null => Some("–".into()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.as_f64().map(fmt_num).unwrap_or_else(|| n.to_string())),
        Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

/// A cell for any value: scalars as text, short scalar arrays joined, the rest summarised.
fn cell(v: &Value) -> String {
    if let Some(s) = scalar(v) {
        return s;
    }
    match v {
        Value::Array(a) if a.len() <= 16 && a.iter().all(|x| scalar(x).is_some()) => {
            a.iter().filter_map(scalar).collect::<Vec<_>>().join(", ")
        }
        Value::Array(a) => format!("[{} values]", a.len()),
        Value::Object(o) => format!("{{{} fields}}", o.len()),
        _ => String::new(),
    }
}

/// Flattens nested objects into `a.b` keys; arrays stay values.
fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, Value)>) {
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, x, out);
            }
        }
        _ => out.push((prefix.to_string(), v.clone())),
    }
}

fn is_object_array(v: &Value) -> bool {
    matches!(v, Value::Array(a) if !a.is_empty() && a.iter().all(Value::is_object))
}

/// Maximum rows of a table built from an array of objects.
const MAX_ROWS: usize = 50;

/// Markdown table of an array of flat(tened) objects: one column per key.
fn object_table(rows: &[Value]) -> String {
    let flat: Vec<Vec<(String, Value)>> = rows
        .iter()
        .map(|r| {
            let mut f = Vec::new();
            flatten("", r, &mut f);
            f
        })
        .collect();
    let mut cols: Vec<String> = Vec::new();
    for r in &flat {
        for (k, _) in r {
            if !cols.contains(k) {
                cols.push(k.clone());
            }
        }
    }
    let mut s = md_row(&cols);
    s += &md_rule(cols.len());
    for r in flat.iter().take(MAX_ROWS) {
        let cells: Vec<String> = cols
            .iter()
            .map(|c| {
                r.iter()
                    .find(|(k, _)| k == c)
                    .map(|(_, v)| cell(v))
                    .unwrap_or_default()
            })
            .collect();
        s += &md_row(&cells);
    }
    if flat.len() > MAX_ROWS {
        s += &format!("\n({} more rows)\n", flat.len() - MAX_ROWS);
    }
    s
}

/// A rectangular array of scalar rows (e.g. a confusion matrix), small enough to print.
fn is_matrix(v: &Value) -> bool {
    let Value::Array(rows) = v else { return false };
    let Some(Value::Array(first)) = rows.first() else {
        return false;
    };
    rows.len() <= 30
        && !first.is_empty()
        && first.len() <= 30
        && rows.iter().all(|r| {
            matches!(r, Value::Array(c) if c.len() == first.len() && c.iter().all(|x| scalar(x).is_some()))
        })
}

/// Matrix as a table; rows and columns named by `labels` when they fit (true class ×
/// predicted class for a confusion matrix), else numbered.
fn matrix_table(v: &Value, labels: Option<&Vec<Value>>) -> String {
    let rows = v.as_array().map(Vec::as_slice).unwrap_or(&[]);
    let cols = rows.first().and_then(Value::as_array).map_or(0, Vec::len);
    let name = |i: usize, n: usize| -> String {
        labels
            .filter(|l| l.len() == n)
            .and_then(|l| l[i].as_str().map(str::to_string))
            .unwrap_or_else(|| i.to_string())
    };
    let mut head = vec![String::new()];
    head.extend((0..cols).map(|j| name(j, cols)));
    let mut s = md_row(&head);
    s += &md_rule(cols + 1);
    for (i, r) in rows.iter().enumerate() {
        let mut cells = vec![format!("**{}**", name(i, rows.len()))];
        cells.extend(r.as_array().into_iter().flatten().map(cell));
        s += &md_row(&cells);
    }
    s
}

/// Any result JSON as Markdown: a key/value table of its scalars, and one table per
/// array of objects.
pub fn json_to_markdown(v: &Value) -> String {
    if is_object_array(v) {
        return object_table(v.as_array().map(Vec::as_slice).unwrap_or(&[]));
    }
    let mut flat = Vec::new();
    flatten("", v, &mut flat);
    let (matrices, flat): (Vec<_>, Vec<_>) = flat.into_iter().partition(|(_, x)| is_matrix(x));
    let (tables, scalars): (Vec<_>, Vec<_>) =
        flat.into_iter().partition(|(_, x)| is_object_array(x));
    let mut s = String::new();
    if !scalars.is_empty() {
        s += &md_row(&["key".to_string(), "value".to_string()]);
        s += &md_rule(2);
        for (k, x) in &scalars {
            let key = if k.is_empty() { "value" } else { k };
            s += &md_row(&[format!("`{key}`"), cell(x)]);
        }
    }
    for (k, x) in &matrices {
        // Labels: a `classes` list next to the matrix, or at the top level.
        let sibling = match k.rsplit_once('.') {
            Some((parent, _)) => format!("{parent}.classes"),
            None => "classes".to_string(),
        };
        let labels = scalars
            .iter()
            .find(|(n, _)| *n == sibling || n == "classes")
            .and_then(|(_, v)| v.as_array());
        s += &format!("\n`{k}`:\n\n");
        s += &matrix_table(x, labels);
    }
    for (k, x) in &tables {
        s += &format!("\n`{k}`:\n\n");
        s += &object_table(x.as_array().map(Vec::as_slice).unwrap_or(&[]));
    }
    s
}

/// Escapes what would break a Markdown table cell.
pub fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

pub fn md_row(cells: &[String]) -> String {
    let c: Vec<String> = cells.iter().map(|x| md_cell(x)).collect();
    format!("| {} |\n", c.join(" | "))
}

pub fn md_rule(n: usize) -> String {
    format!("|{}\n", "---|".repeat(n))
}
