//! Observations: what a person concluded from an item's runs, written after them in
//! `observations/<id>.md` (beside the runs folder), shown by the report under the item.
//!
//! An observation quotes the numbers it relies on as references the report re-checks
//! against the current results, so that a rerun that changes a number cannot leave a stale
//! sentence unnoticed:
//!
//! - `{{metric:MODEL:PATH=VALUE}}`: `PATH` in the `metrics.json` of the run of model
//!   `MODEL` (found by the model name it records, whatever its folder is called); `best.X`
//!   and `final.X` read field `X` of the best epoch (as the report chooses it) or the last;
//!   e.g. `{{metric:cifar_base:best.test_error=0.2512}}`,
//!   `{{metric:mnist_ae_basic[d'=32]:reconstruction.test.mse_per_pixel=0.0123}}`.
//! - `{{json:FILE:PATH=VALUE}}`: `PATH` in a JSON result file (`runs/…` paths follow the
//!   report's runs folder); array elements by index, e.g.
//!   `{{json:runs/analysis/3.1c/raw/knn.json:accuracy=0.967}}`.
//!
//! The report prints the quoted value; when the current value, rounded to the decimals the
//! observation wrote, differs from it (or is missing), the number is flagged with the
//! current value and the item gets a warning. An item whose runs exist but which has no
//! observation is marked as such.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::results::{self, Read};

/// One `{{…}}` reference of an observation.
#[derive(Debug, Clone, PartialEq)]
pub struct Quote {
    /// The reference as written, braces included.
    pub text: String,
    pub source: Source,
    pub path: String,
    /// The value as written (its decimals set the comparison's precision).
    pub quoted: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    Metric(String),
    Json(String),
}

/// The result of re-checking one quote.
#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    Same,
    Changed(f64),
    Missing(String),
}

/// Every `{{metric:…}}` / `{{json:…}}` reference in `text`; malformed ones are errors.
pub fn parse(text: &str) -> Result<Vec<Quote>, String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("{{") {
        let after = &rest[i + 2..];
        let j = after
            .find("}}")
            .ok_or_else(|| format!("unclosed `{{{{` in `{}`", &rest[i..rest.len().min(i + 40)]))?;
        let inner = &after[..j];
        let full = format!("{{{{{inner}}}}}");
        let (kind, body) = inner
            .split_once(':')
            .ok_or_else(|| format!("`{full}`: expected metric:… or json:…"))?;
        // The path and value are after the last `:`; the model or file before it may hold `:`.
        let (what, pv) = body
            .rsplit_once(':')
            .ok_or_else(|| format!("`{full}`: expected {kind}:NAME:PATH=VALUE"))?;
        let (path, quoted) = pv
            .split_once('=')
            .ok_or_else(|| format!("`{full}`: expected PATH=VALUE"))?;
        let quoted = quoted.trim().to_string();
        if quoted.parse::<f64>().is_err() {
            return Err(format!(
                "`{full}`: the quoted value `{quoted}` is not a number"
            ));
        }
        let source = match kind.trim() {
            "metric" => Source::Metric(what.trim().to_string()),
            "json" => Source::Json(what.trim().to_string()),
            k => return Err(format!("`{full}`: unknown source `{k}` (metric, json)")),
        };
        out.push(Quote {
            text: full,
            source,
            path: path.trim().to_string(),
            quoted,
        });
        rest = &after[j + 2..];
    }
    Ok(out)
}

/// Decimals written in a number (`0.2512` → 4, `17` → 0, `1.5e-3` → compared exactly).
fn decimals(s: &str) -> Option<usize> {
    if s.contains(['e', 'E']) {
        return None;
    }
    Some(s.split_once('.').map_or(0, |(_, d)| d.len()))
}

/// Whether `current` reads as `quoted` at the quoted precision.
pub fn agrees(quoted: &str, current: f64) -> bool {
    let Ok(q) = quoted.parse::<f64>() else {
        return false;
    };
    match decimals(quoted) {
        Some(d) => format!("{current:.d$}").parse::<f64>().ok() == Some(q),
        None => (q - current).abs() <= 1e-12 * q.abs().max(1.0),
    }
}

fn lookup<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = v;
    for part in path.split('.') {
        cur = match cur {
            Value::Array(a) => a.get(part.parse::<usize>().ok()?)?,
            Value::Object(o) => o.get(part)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// Run folders by the model name their `metrics.json` records.
pub fn runs_by_model(runs: &Path) -> BTreeMap<String, PathBuf> {
    let mut m = BTreeMap::new();
    let Ok(dir) = std::fs::read_dir(runs) else {
        return m;
    };
    for e in dir.flatten() {
        let p = e.path();
        if let Read::Ok(metrics) = results::read_metrics(&p.join("metrics.json")) {
            if let Some(name) = metrics.model {
                m.insert(name, p);
            }
        }
    }
    m
}

/// The current value a quote refers to.
pub fn current(
    q: &Quote,
    runs: &Path,
    by_model: &BTreeMap<String, PathBuf>,
) -> Result<f64, String> {
    let (v, path): (Value, String) = match &q.source {
        Source::Metric(model) => {
            let dir = by_model
                .get(model)
                .ok_or_else(|| format!("no run of `{model}` under {}", runs.display()))?;
            let file = dir.join("metrics.json");
            let m = match results::read_metrics(&file) {
                Read::Ok(m) => m,
                _ => return Err(format!("cannot read {}", file.display())),
            };
            let json = serde_json::to_value(&m).map_err(|e| e.to_string())?;
            let s = results::summarize(&m).ok_or("no epochs")?;
            if let Some(rest) = q.path.strip_prefix("best.") {
                (json["epochs"][s.best].clone(), rest.to_string())
            } else if let Some(rest) = q.path.strip_prefix("final.") {
                (json["epochs"][s.final_index].clone(), rest.to_string())
            } else {
                (json, q.path.clone())
            }
        }
        Source::Json(file) => {
            let f = super::resolve(runs, file);
            match results::read_json(&f) {
                Read::Ok(v) => (v, q.path.clone()),
                _ => return Err(format!("cannot read {}", f.display())),
            }
        }
    };
    lookup(&v, &path)
        .and_then(Value::as_f64)
        .ok_or_else(|| format!("no number at `{}`", q.path))
}

pub fn check(q: &Quote, runs: &Path, by_model: &BTreeMap<String, PathBuf>) -> Check {
    match current(q, runs, by_model) {
        Ok(v) if agrees(&q.quoted, v) => Check::Same,
        Ok(v) => Check::Changed(v),
        Err(e) => Check::Missing(e),
    }
}

/// Where an item's observation lives: `observations/<id>.md` beside the runs folder.
pub fn file(runs: &Path, id: &str) -> PathBuf {
    runs.parent()
        .unwrap_or(Path::new(""))
        .join("observations")
        .join(format!("{id}.md"))
}

/// The report's "Observations" section of an item and the warnings it raises.
/// `has_runs`: some of the item's outputs exist.
pub fn section(id: &str, runs: &Path, has_runs: bool) -> (String, Vec<String>) {
    let path = file(runs, id);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(_) if has_runs => {
            return (
                format!(
                    "\n### Observations\n\n**Not written yet**: this item's results exist but `{}` does not.\n",
                    path.display()
                ),
                vec![format!("item {id}: results exist but no observations ({})", path.display())],
            );
        }
        Err(_) => return (String::new(), Vec::new()),
    };
    let quotes = match parse(&text) {
        Ok(q) => q,
        Err(e) => {
            let w = format!("{}: {e}", path.display());
            return (
                format!("\n### Observations\n\n{text}\n\n> **warning:** {w}\n"),
                vec![w],
            );
        }
    };
    let by_model = runs_by_model(runs);
    let mut out = text.clone();
    let mut warnings = Vec::new();
    for q in &quotes {
        let shown = match check(q, runs, &by_model) {
            Check::Same => q.quoted.clone(),
            Check::Changed(v) => {
                warnings.push(format!(
                    "item {id}: the observation quotes {} = {} but the results now give {v}",
                    q.path, q.quoted
                ));
                format!("{} ⚠ **changed: now {v}**", q.quoted)
            }
            Check::Missing(e) => {
                warnings.push(format!(
                    "item {id}: quoted {} = {} cannot be checked: {e}",
                    q.path, q.quoted
                ));
                format!("{} ⚠ **unchecked: {e}**", q.quoted)
            }
        };
        out = out.replacen(&q.text, &shown, 1);
    }
    let mut s = format!("\n### Observations\n\n{}\n", out.trim());
    if !warnings.is_empty() {
        s += &format!(
            "\n> **warning:** {} quoted number(s) no longer match the results; revise `{}`.\n",
            warnings.len(),
            path.display()
        );
    }
    (s, warnings)
}
