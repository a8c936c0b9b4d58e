//! Autoencoders against PCA at the same code size d' (items 3.1e, 3.1g, 3.1i): one table of
//! test reconstruction error (MSE per pixel, BCE per image: the units of
//! [`pca::reconstruction_error`]) and kNN accuracy on the codes, and two figures (each
//! against d', one line for PCA and one per autoencoder family).
//!
//! An autoencoder's row comes from its run folder: `metrics.json`'s `reconstruction`
//! record (whole test split, best epoch) and kNN on `codes.safetensors` (the same best
//! epoch's codes: training codes as references, test codes as queries). Runs are found by
//! the model name recorded in `metrics.json`, not by folder name. A family is the model's
//! spec name plus its sweep parameters other than `d'` (e.g. `mnist_ae_deep_sweep L=3`);
//! d' is the width of its codes.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{io, knn, pca};
use crate::data::Dataset;

/// One (method, d') point.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// `PCA` or an autoencoder family.
    pub method: String,
    /// The trained model (`None` for PCA).
    pub model: Option<String>,
    pub dims: usize,
    pub mse_per_pixel: Option<f64>,
    pub bce_per_image: Option<f64>,
    pub knn_accuracy: Option<f64>,
    /// Epoch whose weights were measured (autoencoders).
    pub epoch: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    pub dataset: String,
    pub k: usize,
    pub knn_queries: usize,
    pub rows: Vec<Row>,
    /// Runs that were found but could not be measured, with why.
    pub skipped: Vec<String>,
}

/// What to compare.
#[derive(Debug, Clone)]
pub struct Options {
    pub runs: PathBuf,
    /// Spec names of the autoencoder families (`mnist_ae_basic`, …).
    pub families: Vec<String>,
    /// PCA code sizes; the d' of the autoencoders found are added.
    pub pca_dims: Vec<usize>,
    pub k: usize,
    /// Use only the first `n` test examples as kNN queries (quick runs).
    pub limit_queries: Option<usize>,
}

/// The family of a model name `spec[p=v,…]` if `spec` is one of `families`: the spec name
/// followed by its parameters other than `d'`.
pub fn family_of(model: &str, families: &[String]) -> Option<String> {
    let (base, params) = match model.split_once('[') {
        Some((b, rest)) => (b, rest.trim_end_matches(']')),
        None => (model, ""),
    };
    if !families.iter().any(|f| f == base) {
        return None;
    }
    let rest: Vec<&str> = params
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty() && !p.starts_with("d'="))
        .collect();
    Some(if rest.is_empty() {
        base.to_string()
    } else {
        format!("{base} {}", rest.join(" "))
    })
}

/// Run folders (any depth 1 under `runs`) with a `metrics.json` naming a model of
/// `families`, sorted by model name.
fn find_runs(runs: &Path, families: &[String]) -> Vec<(String, String, PathBuf)> {
    let mut found = Vec::new();
    let Ok(dir) = std::fs::read_dir(runs) else {
        return found;
    };
    for e in dir.flatten() {
        let path = e.path();
        let Ok(m) = io::read_metrics(&path.join("metrics.json")) else {
            continue;
        };
        let Some(model) = m.model.clone() else {
            continue;
        };
        if let Some(fam) = family_of(&model, families) {
            found.push((fam, model, path));
        }
    }
    found.sort_by(|a, b| (&a.0, a.1.len(), &a.1).cmp(&(&b.0, b.1.len(), &b.1)));
    found
}

fn knn_accuracy(
    train: &[f32],
    train_labels: &[u8],
    dim: usize,
    test: &[f32],
    test_labels: &[u8],
    k: usize,
) -> miette::Result<f64> {
    let p = knn::predict(train, train_labels, dim, test, k)?;
    Ok(knn::accuracy(&p, test_labels))
}

/// The whole comparison on `data` (its training split fits PCA, its test split is measured).
pub fn compare(data: &Dataset, o: &Options) -> miette::Result<Comparison> {
    let nq = o.limit_queries.unwrap_or(usize::MAX).min(data.test.len());
    let mut rows = Vec::new();
    let mut skipped = Vec::new();
    let mut dims: BTreeSet<usize> = o.pca_dims.iter().copied().collect();
    for (family, model, path) in find_runs(&o.runs, &o.families) {
        let metrics = io::read_metrics(&path.join("metrics.json"))?;
        let codes = match io::read_codes(&path.join("codes.safetensors")) {
            Ok(c) => c,
            Err(e) => {
                skipped.push(format!("{model}: {e}"));
                continue;
            }
        };
        let (Some(tr), Some(te)) = (codes.train, codes.test) else {
            skipped.push(format!(
                "{model}: codes.safetensors lacks train or test codes"
            ));
            continue;
        };
        let n = nq.min(te.labels.len());
        let acc = knn_accuracy(
            &tr.codes,
            &tr.labels,
            tr.dim,
            &te.codes[..n * te.dim],
            &te.labels[..n],
            o.k,
        )?;
        let rec = metrics.reconstruction;
        if rec.is_none() {
            skipped.push(format!(
                "{model}: metrics.json has no `reconstruction` record (trained before it existed): reconstruction error left out"
            ));
        }
        dims.insert(tr.dim);
        rows.push(Row {
            method: family,
            model: Some(model),
            dims: tr.dim,
            mse_per_pixel: rec.map(|r| r.test.mse_per_pixel),
            bce_per_image: rec.map(|r| r.test.bce_per_image),
            knn_accuracy: Some(acc),
            epoch: rec.map(|r| r.epoch),
        });
    }
    let d = data.train.example_size();
    let dims: Vec<usize> = dims.into_iter().filter(|&x| x > 0 && x < d).collect();
    if let Some(&max_d) = dims.last() {
        let model = pca::fit(&data.train.images, d, max_d)?;
        for &k in &dims {
            let tr = model.encode(&data.train.images, k);
            let te = model.encode(&data.test.images, k);
            let err = pca::reconstruction_error(&data.test.images, &model.decode(&te, k), d);
            let acc = knn_accuracy(
                &tr,
                &data.train.labels,
                k,
                &te[..nq * k],
                &data.test.labels[..nq],
                o.k,
            )?;
            rows.push(Row {
                method: "PCA".into(),
                model: None,
                dims: k,
                mse_per_pixel: Some(err.mse_per_pixel),
                bce_per_image: Some(err.bce_per_example),
                knn_accuracy: Some(acc),
                epoch: None,
            });
        }
    }
    Ok(Comparison {
        dataset: data.provenance.clone(),
        k: o.k,
        knn_queries: nq,
        rows,
        skipped,
    })
}

/// Methods in table order: PCA first, then the families as found.
pub fn methods(c: &Comparison) -> Vec<String> {
    let mut m: Vec<String> = vec!["PCA".into()];
    for r in &c.rows {
        if !m.contains(&r.method) {
            m.push(r.method.clone());
        }
    }
    m
}

/// The d' values present, ascending.
pub fn all_dims(c: &Comparison) -> Vec<usize> {
    let s: BTreeSet<usize> = c.rows.iter().map(|r| r.dims).collect();
    s.into_iter().collect()
}

fn cell(v: Option<f64>, digits: usize) -> String {
    v.map(|v| format!("{v:.digits$}"))
        .unwrap_or_else(|| "–".into())
}

/// The joint table as Markdown: one row per d', for each method its MSE/pixel, BCE/image
/// and kNN accuracy.
pub fn markdown(c: &Comparison) -> String {
    let methods = methods(c);
    let mut s = format!(
        "Test reconstruction error (MSE per pixel / BCE per image) and kNN (k = {}, {} test queries) accuracy on the codes; {}.\n\n| d' |",
        c.k, c.knn_queries, c.dataset
    );
    for m in &methods {
        s += &format!(" {m} MSE/pixel | {m} BCE/image | {m} kNN acc. |");
    }
    s += "\n|---|";
    s += &"---:|".repeat(3 * methods.len());
    s += "\n";
    for d in all_dims(c) {
        s += &format!("| {d} |");
        for m in &methods {
            let r = c.rows.iter().find(|r| &r.method == m && r.dims == d);
            s += &format!(
                " {} | {} | {} |",
                cell(r.and_then(|r| r.mse_per_pixel), 5),
                cell(r.and_then(|r| r.bce_per_image), 2),
                cell(r.and_then(|r| r.knn_accuracy), 4)
            );
        }
        s += "\n";
    }
    for note in &c.skipped {
        s += &format!("\nNote: {note}\n");
    }
    s
}

/// One series per method of `value` against d' (as categories of [`all_dims`]).
pub fn series(c: &Comparison, value: impl Fn(&Row) -> Option<f64>) -> Vec<crate::plot::Series> {
    let dims = all_dims(c);
    methods(c)
        .into_iter()
        .map(|m| crate::plot::Series {
            points: c
                .rows
                .iter()
                .filter(|r| r.method == m)
                .filter_map(|r| {
                    let i = dims.iter().position(|&d| d == r.dims)?;
                    value(r).map(|v| (i as f64, v))
                })
                .collect(),
            name: m,
        })
        .filter(|s| !s.points.is_empty())
        .collect()
}

/// Writes `ae_vs_pca.json`, `ae_vs_pca.md`, `recon_error_vs_dims.<ext>` and
/// `knn_vs_dims.<ext>` into `out`.
pub fn write(c: &Comparison, out: &Path, ext: &str) -> miette::Result<()> {
    use crate::plot::{self, ChartSpec};
    std::fs::create_dir_all(out).map_err(|e| miette::miette!("{}: {e}", out.display()))?;
    io::write_json(&out.join("ae_vs_pca.json"), c)?;
    crate::atomic::write_bytes(&out.join("ae_vs_pca.md"), markdown(c).as_bytes())?;
    let cats: Vec<String> = all_dims(c).iter().map(|d| d.to_string()).collect();
    let spec = |title: &str, y: &str| ChartSpec {
        title: title.into(),
        x_label: "code size d'".into(),
        y_label: y.into(),
        x_categories: Some(cats.clone()),
        y_range: None,
        log_y: false,
    };
    let mse = series(c, |r| r.mse_per_pixel);
    if !mse.is_empty() {
        plot::line_chart_with(
            &out.join(format!("recon_error_vs_dims.{ext}")),
            &spec("Test reconstruction error", "mean squared error per pixel"),
            &mse,
        )?;
    }
    let acc = series(c, |r| r.knn_accuracy);
    if !acc.is_empty() {
        plot::line_chart_with(
            &out.join(format!("knn_vs_dims.{ext}")),
            &spec(
                &format!("kNN (k = {}) test accuracy on the codes", c.k),
                "accuracy",
            ),
            &acc,
        )?;
    }
    Ok(())
}
