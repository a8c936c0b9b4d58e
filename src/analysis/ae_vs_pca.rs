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
//!
//! Codes are large and stay out of git; each kNN accuracy measured on them is therefore
//! also written to the run folder as `code_knn.json` (a few bytes, committed with the
//! run's other small files). A run whose codes are gone gets its accuracy from there, as
//! long as that file was measured with the same k and queries on the run's current
//! `metrics.json` (its md5 is recorded): a study can train and measure some models in one
//! session and the rest in another, and the table still covers all of them.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

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
    /// Models whose kNN accuracy was read from their `code_knn.json` (codes gone).
    pub knn_from_record: Vec<String>,
}

/// File in a run folder that keeps the kNN accuracy measured on its codes.
pub const CODE_KNN_FILE: &str = "code_knn.json";

/// What `code_knn.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CodeKnn {
    pub k: usize,
    pub queries: usize,
    pub dims: usize,
    pub accuracy: f64,
    /// md5 of the run's `metrics.json` when measured: a retrained run invalidates it.
    pub metrics_md5: String,
}

/// The recorded accuracy of a run, if it matches the current metrics, k and queries.
fn recorded_knn(run: &Path, metrics_md5: &str, k: usize, queries: usize) -> Option<CodeKnn> {
    let text = std::fs::read_to_string(run.join(CODE_KNN_FILE)).ok()?;
    let r: CodeKnn = serde_json::from_str(&text).ok()?;
    (r.metrics_md5 == metrics_md5 && r.k == k && r.queries == queries).then_some(r)
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
/// An autoencoder run of one of the asked families, with its metrics read once.
struct FoundRun {
    family: String,
    model: String,
    path: PathBuf,
    metrics: io::Metrics,
    /// md5 of the `metrics.json` bytes, which a `code_knn.json` record must match.
    metrics_md5: String,
}

fn find_runs(runs: &Path, families: &[String]) -> Vec<FoundRun> {
    let mut found = Vec::new();
    let Ok(dir) = std::fs::read_dir(runs) else {
        return found;
    };
    for e in dir.flatten() {
        let path = e.path();
        let Ok(bytes) = std::fs::read(path.join("metrics.json")) else {
            continue;
        };
        let Ok(metrics) = serde_json::from_slice::<io::Metrics>(&bytes) else {
            continue;
        };
        let Some(model) = metrics.model.clone() else {
            continue;
        };
        if let Some(family) = family_of(&model, families) {
            found.push(FoundRun {
                family,
                model,
                path,
                metrics,
                metrics_md5: crate::data::source::md5_hex(&bytes),
            });
        }
    }
    found.sort_by(|a, b| {
        (&a.family, a.model.len(), &a.model).cmp(&(&b.family, b.model.len(), &b.model))
    });
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
    let mut knn_from_record = Vec::new();
    for run in find_runs(&o.runs, &o.families) {
        let FoundRun {
            family,
            model,
            path,
            metrics,
            metrics_md5,
        } = run;
        let measured = match io::read_codes(&path.join("codes.safetensors")) {
            Ok(codes) => {
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
                let record = CodeKnn {
                    k: o.k,
                    queries: n,
                    dims: tr.dim,
                    accuracy: acc,
                    metrics_md5,
                };
                crate::atomic::write_json(&path.join(CODE_KNN_FILE), &record)?;
                record
            }
            Err(e) => match recorded_knn(&path, &metrics_md5, o.k, nq) {
                Some(r) => {
                    knn_from_record.push(model.clone());
                    r
                }
                None => {
                    skipped.push(format!("{model}: {e}"));
                    continue;
                }
            },
        };
        let rec = metrics.reconstruction;
        if rec.is_none() {
            skipped.push(format!(
                "{model}: metrics.json has no `reconstruction` record (trained before it existed): reconstruction error left out"
            ));
        }
        dims.insert(measured.dims);
        rows.push(Row {
            method: family,
            model: Some(model),
            dims: measured.dims,
            mse_per_pixel: rec.map(|r| r.test.mse_per_pixel),
            bce_per_image: rec.map(|r| r.test.bce_per_image),
            knn_accuracy: Some(measured.accuracy),
            epoch: rec.map(|r| r.epoch),
        });
    }
    let d = data.train.example_size();
    let dims: Vec<usize> = dims.into_iter().filter(|&x| x > 0 && x < d).collect();
    // PCA rows first, ascending d', so that a row's index in the JSON does not move when
    // autoencoder runs are added (observations quote rows by index).
    let mut pca_rows = Vec::new();
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
            pca_rows.push(Row {
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
    pca_rows.extend(rows);
    Ok(Comparison {
        dataset: data.provenance.clone(),
        k: o.k,
        knn_queries: nq,
        rows: pca_rows,
        skipped,
        knn_from_record,
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
    if !c.knn_from_record.is_empty() {
        s += &format!(
            "\nNote: codes no longer here; kNN accuracy as measured on them earlier ({CODE_KNN_FILE}): {}\n",
            c.knn_from_record.join(", ")
        );
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
