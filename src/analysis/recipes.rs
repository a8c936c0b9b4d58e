//! The analysis experiments behind `archc knn|pca|tsne|confusion|filters|recon|curves`:
//! each validates its options, creates its output folder, loads what it needs, computes,
//! and writes its numbers as JSON next to its figures. The CLI only parses arguments
//! into these option structs.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::json;

use crate::analysis::{confusion, io, knn, pca, tsne, tsne_bh};
use crate::ir::{DatasetName, Split};
use crate::plot::{self, ChartSpec, ImageRow, Series};

#[derive(Debug, Clone)]
pub struct DataOptions {
    /// Dataset: mnist, cifar10 or svhn.
    pub dataset: Option<DatasetName>,
    /// Folder holding the datasets (default: $ARCHC_DATA, then the user cache).
    pub data: Option<PathBuf>,
    /// Training examples taken from the training file (default 55000 MNIST, 45000 CIFAR-10).
    pub train_size: Option<usize>,
}

#[derive(Debug, Clone)]
pub struct KnnOptions {
    pub data: DataOptions,
    /// Use an autoencoder's codes (train split as references, test split as queries).
    pub codes: Option<PathBuf>,
    pub k: usize,
    /// Classify only the first N test examples.
    pub limit_queries: Option<usize>,
    /// Dot-product kernel: auto (sparse for mostly-zero inputs), dense or sparse.
    pub kernel: knn::Kernel,
    /// Tie rule for classes with equally many votes: `nearer` (smaller summed distance) or
    /// `smallest-label` (scikit-learn's rule, reproduces its predictions).
    pub vote_ties: knn::VoteTies,
    pub out: PathBuf,
}

#[derive(Debug, Clone)]
pub struct PcaOptions {
    pub data: DataOptions,
    /// Code sizes d'.
    pub dims: Vec<usize>,
    pub k: usize,
    /// Classify only the first N test examples with kNN.
    pub limit_queries: Option<usize>,
    pub out: PathBuf,
    /// Figure format: png or svg.
    pub format: String,
}

#[derive(Debug, Clone)]
pub struct TsneOptions {
    pub data: DataOptions,
    /// Embed an autoencoder's test codes instead of a dataset's test pixels.
    pub codes: Option<PathBuf>,
    /// Reduce pixels to this many PCA dimensions first (0 = no reduction).
    pub pca_dims: usize,
    /// Points embedded: a seeded random subsample of the test split.
    pub n: usize,
    pub perplexity: f64,
    pub iterations: usize,
    pub seed: u64,
    /// Exact, Barnes-Hut, or chosen by the number of points.
    pub method: tsne_bh::Method,
    /// Barnes-Hut accuracy (ignored by the exact method).
    pub theta: f64,
    pub out: PathBuf,
    pub format: String,
}

#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Run directory written by `archc train`.
    pub run_dir: PathBuf,
    /// Output folder (default: the run directory).
    pub out: Option<PathBuf>,
    pub format: String,
    /// Pairs listed (confusion).
    pub top: usize,
}

#[derive(Debug, Clone)]
pub struct FiltersOptions {
    pub run_dir: PathBuf,
    /// Checkpoint file inside the run directory.
    pub checkpoint: String,
    pub out: Option<PathBuf>,
    pub format: String,
    /// Folder holding the datasets, for the feature maps (default: $ARCHC_DATA, then the user cache).
    pub data: Option<PathBuf>,
    /// Training images whose first-layer feature maps are drawn (0: filters only).
    pub n: usize,
    /// Seed of the choice of training images.
    pub seed: u64,
    /// Feature maps drawn per image (the first ones); all are saved.
    pub maps: usize,
}

#[derive(Debug, Clone)]
pub struct ReconOptions {
    pub run_dir: PathBuf,
    /// Examples shown.
    pub count: usize,
    pub out: Option<PathBuf>,
    pub format: String,
}

fn load(d: &DataOptions) -> miette::Result<crate::data::Dataset> {
    let name = d
        .dataset
        .ok_or_else(|| miette::miette!("give --dataset (or --codes)"))?;
    crate::data::load(
        name,
        Split {
            train: d.train_size.unwrap_or(name.default_split().train),
            ..name.default_split()
        },
        d.data.as_deref(),
    )
}

/// Short dataset name for titles, flagging approximate data.
fn dataset_label(ds: &crate::data::Dataset) -> String {
    let base = match ds.name {
        DatasetName::Mnist => "MNIST",
        DatasetName::Cifar10 => "CIFAR-10",
        DatasetName::Svhn => "SVHN",
    };
    if ds.provenance.contains("JPEG-approximate") {
        format!("{base} (JPEG-approximate)")
    } else {
        base.to_string()
    }
}

fn figure(out: &Path, stem: &str, format: &str) -> miette::Result<PathBuf> {
    match format {
        "png" | "svg" => Ok(out.join(format!("{stem}.{format}"))),
        _ => Err(miette::miette!(
            "--format must be png or svg, not '{format}'"
        )),
    }
}

fn digit_names(n: usize) -> Vec<String> {
    (0..n).map(|i| i.to_string()).collect()
}

/// A progress bar on stderr with ETA, hidden when stderr is not a terminal (logs, pipes).
fn progress_bar(len: usize, what: &str) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg} eta {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(what.to_string());
    bar
}

/// Runs kNN and returns (accuracy, seconds, predictions).
#[allow(clippy::too_many_arguments)] // the data slices plus the three kNN settings
fn timed_knn(
    train: &[f32],
    labels: &[u8],
    dim: usize,
    queries: &[f32],
    query_labels: &[u8],
    k: usize,
    kernel: knn::Kernel,
    ties: knn::VoteTies,
) -> miette::Result<(f64, f64, Vec<u8>)> {
    let t = Instant::now();
    // Queries are independent: classifying them in chunks gives the same predictions
    // and lets the bar move.
    let n = queries.len() / dim.max(1);
    let chunk = n.div_ceil(50).max(1);
    let bar = progress_bar(n, "kNN queries");
    let mut pred = Vec::with_capacity(n);
    for q in queries.chunks(chunk * dim.max(1)) {
        pred.extend(knn::predict_with(train, labels, dim, q, k, kernel, ties)?);
        bar.inc((q.len() / dim.max(1)) as u64);
    }
    bar.finish_and_clear();
    let secs = t.elapsed().as_secs_f64();
    Ok((knn::accuracy(&pred, query_labels), secs, pred))
}

/// `--limit-queries N`: N ≥ 1 (0 would classify nothing and report a meaningless accuracy).
fn check_limit_queries(lim: Option<usize>) -> miette::Result<()> {
    if lim == Some(0) {
        return Err(miette::miette!(
            help = "leave it out to classify every test example",
            "--limit-queries must be at least 1"
        ));
    }
    Ok(())
}

/// `--out` of the commands that default to the run directory.
fn prepare_out(out: &Option<PathBuf>) -> miette::Result<()> {
    match out {
        Some(o) => crate::atomic::prepare_dir(o),
        None => Ok(()),
    }
}

fn limit(n: usize, lim: Option<usize>) -> usize {
    lim.map_or(n, |l| l.min(n))
}

pub fn run_knn(a: KnnOptions) -> miette::Result<()> {
    check_limit_queries(a.limit_queries)?;
    crate::atomic::prepare_dir(&a.out)?;
    let (train, labels, dim, queries, qlabels, source, provenance) = if let Some(p) = &a.codes {
        let c = io::read_codes(p)?;
        let tr = c
            .train
            .ok_or_else(|| miette::miette!("{} has no train.codes", p.display()))?;
        let te = c
            .test
            .ok_or_else(|| miette::miette!("{} has no test.codes", p.display()))?;
        if tr.dim != te.dim {
            return Err(miette::miette!(
                "train codes have {} dims, test codes {}",
                tr.dim,
                te.dim
            ));
        }
        (
            tr.codes,
            tr.labels,
            tr.dim,
            te.codes,
            te.labels,
            p.display().to_string(),
            String::new(),
        )
    } else {
        let ds = load(&a.data)?;
        let dim = ds.train.example_size();
        let label = dataset_label(&ds);
        (
            ds.train.images,
            ds.train.labels,
            dim,
            ds.test.images,
            ds.test.labels,
            format!("{label} pixels"),
            ds.provenance,
        )
    };
    let nq = limit(qlabels.len(), a.limit_queries);
    let (acc, secs, predictions) = timed_knn(
        &train,
        &labels,
        dim,
        &queries[..nq * dim],
        &qlabels[..nq],
        a.k,
        a.kernel,
        a.vote_ties,
    )?;
    let result = json!({
        "source": source,
        "provenance": provenance,
        "k": a.k,
        "train_size": labels.len(),
        "queries": nq,
        "dim": dim,
        "accuracy": acc,
        "error": 1.0 - acc,
        "seconds": secs,
        "ms_per_query": secs * 1e3 / nq.max(1) as f64,
        "threads": rayon::current_num_threads(),
        "kernel": format!("{:?}", a.kernel),
        "tie_rules": match a.vote_ties {
            knn::VoteTies::Nearer => "equal distances: lower training index first; equal votes: smaller summed distance, then smaller label",
            knn::VoteTies::SmallestLabel => "equal distances: lower training index first; equal votes: smaller label (scikit-learn)",
        },
    });
    io::write_json(&a.out.join("knn.json"), &result)?;
    io::write_json(
        &a.out.join("knn_predictions.json"),
        &json!({ "labels": &qlabels[..nq], "predictions": predictions }),
    )?;
    println!(
        "kNN k={} on {source}: accuracy {:.4} (error {:.2}%) over {nq} queries, train {}; {:.2} s ({:.3} ms/query)",
        a.k,
        acc,
        100.0 * (1.0 - acc),
        labels.len(),
        secs,
        secs * 1e3 / nq.max(1) as f64
    );
    Ok(())
}

pub fn run_pca(mut a: PcaOptions) -> miette::Result<()> {
    check_limit_queries(a.limit_queries)?;
    // Each code size once, smallest first: the tables and the x axis read in order.
    a.dims.sort_unstable();
    a.dims.dedup();
    if a.dims.is_empty() {
        return Err(miette::miette!("--dims needs at least one code size"));
    }
    figure(&a.out, "pca", &a.format)?;
    crate::atomic::prepare_dir(&a.out)?;
    let ds = load(&a.data)?;
    let dim = ds.train.example_size();
    let max_d = a.dims.iter().copied().max().unwrap_or(0).max(2);
    if a.dims.contains(&0) || max_d > dim {
        return Err(miette::miette!("--dims must lie in 1..={dim}"));
    }
    let t = Instant::now();
    let spinner = progress_bar(1, "PCA fit");
    spinner.enable_steady_tick(std::time::Duration::from_millis(200));
    let model = pca::fit(&ds.train.images, dim, max_d)?;
    spinner.finish_and_clear();
    let fit_secs = t.elapsed().as_secs_f64();
    println!(
        "PCA fit on {} training examples: {fit_secs:.2} s",
        ds.train.len()
    );
    let nq = limit(ds.test.len(), a.limit_queries);
    let total_var: f64 = model.eigenvalues.iter().sum();
    let mut rows = Vec::new();
    let mut recon_rows = vec![ImageRow {
        label: "original".into(),
        images: ds
            .test
            .images
            .chunks(dim)
            .take(10)
            .map(|c| c.to_vec())
            .collect(),
    }];
    let mut errs = Vec::new();
    for &d in &a.dims {
        let t = Instant::now();
        let tr_codes = model.encode(&ds.train.images, d);
        let te_codes = model.encode(&ds.test.images, d);
        let te_recon = model.decode(&te_codes, d);
        let tr_recon = model.decode(&tr_codes, d);
        let code_secs = t.elapsed().as_secs_f64();
        let test_err = pca::reconstruction_error(&ds.test.images, &te_recon, dim);
        let train_err = pca::reconstruction_error(&ds.train.images, &tr_recon, dim);
        let (acc, knn_secs, _) = timed_knn(
            &tr_codes,
            &ds.train.labels,
            d,
            &te_codes[..nq * d],
            &ds.test.labels[..nq],
            a.k,
            knn::Kernel::Auto,
            knn::VoteTies::Nearer,
        )?;
        let discarded: f64 = model.eigenvalues[d..].iter().sum();
        println!(
            "d'={d:>3}: test MSE/pixel {:.5}, SSE/image {:.3}, BCE/image {:.2}; kNN(k={}) accuracy {:.4}; codes {code_secs:.2} s, kNN {knn_secs:.2} s",
            test_err.mse_per_pixel, test_err.sse_per_example, test_err.bce_per_example, a.k, acc
        );
        errs.push((d, test_err, acc));
        recon_rows.push(ImageRow {
            label: format!("d' = {d}"),
            images: te_recon
                .chunks(dim)
                .take(10)
                .map(|c| c.iter().map(|v| v.clamp(0.0, 1.0)).collect())
                .collect(),
        });
        rows.push(json!({
            "dims": d,
            "test": test_err,
            "train": train_err,
            "train_sse_expected_from_eigenvalues": discarded,
            "explained_variance": 1.0 - discarded / total_var,
            "knn_k": a.k,
            "knn_queries": nq,
            "knn_accuracy": acc,
            "knn_error": 1.0 - acc,
            "knn_seconds": knn_secs,
            "encode_decode_seconds": code_secs,
        }));
    }
    // The 2-D scatter whether or not 2 is among the dimensions measured.
    {
        let te_codes = model.encode(&ds.test.images, 2);
        let pts: Vec<(f64, f64)> = te_codes
            .chunks(2)
            .map(|c| (c[0] as f64, c[1] as f64))
            .collect();
        plot::scatter_by_class(
            &figure(&a.out, "pca2d_test", &a.format)?,
            &format!("PCA, 2 components, {} test set", dataset_label(&ds)),
            ("component 1", "component 2"),
            &pts,
            &ds.test.labels,
            &ds.classes,
        )?;
    }
    if ds.test.shape.len() == 3 {
        plot::image_rows(
            &figure(&a.out, "pca_reconstructions", &a.format)?,
            "PCA reconstructions of test images",
            &ds.test.shape,
            &recon_rows,
        )?;
    }
    let cats: Vec<String> = errs.iter().map(|e| e.0.to_string()).collect();
    let spec = |title: &str, y: &str| ChartSpec {
        title: title.into(),
        x_label: "code size d'".into(),
        y_label: y.into(),
        x_categories: Some(cats.clone()),
        y_range: None,
        log_y: false,
    };
    plot::line_chart_with(
        &figure(&a.out, "pca_error_vs_dims", &a.format)?,
        &spec(
            "PCA test reconstruction error",
            "mean squared error per pixel",
        ),
        &[Series {
            name: "test MSE".into(),
            points: errs
                .iter()
                .enumerate()
                .map(|(i, e)| (i as f64, e.1.mse_per_pixel))
                .collect(),
        }],
    )?;
    plot::line_chart_with(
        &figure(&a.out, "pca_knn_vs_dims", &a.format)?,
        &spec(&format!("kNN (k = {}) on PCA codes", a.k), "test error (%)"),
        &[Series {
            name: "kNN test error".into(),
            points: errs
                .iter()
                .enumerate()
                .map(|(i, e)| (i as f64, 100.0 * (1.0 - e.2)))
                .collect(),
        }],
    )?;
    io::write_json(
        &a.out.join("pca.json"),
        &json!({
            "dataset": dataset_label(&ds),
            "provenance": ds.provenance,
            "train_size": ds.train.len(),
            "test_size": ds.test.len(),
            "fit_seconds": fit_secs,
            "bce_clamp": pca::BCE_EPS,
            "leading_eigenvalues": &model.eigenvalues[..max_d],
            "total_variance": total_var,
            "results": rows,
        }),
    )?;
    Ok(())
}

/// Neighbours of the leave-one-out k-NN accuracy reported for a t-SNE map.
const MAP_KNN_K: usize = 10;

pub fn run_tsne(a: TsneOptions) -> miette::Result<()> {
    use rand::seq::SliceRandom;
    use rand::SeedableRng;
    if !(a.perplexity.is_finite() && a.perplexity > 0.0) {
        return Err(miette::miette!(
            help = "typical values are 5 to 50 (default 30)",
            "--perplexity must be a positive number, not {}",
            a.perplexity
        ));
    }
    if a.iterations == 0 {
        return Err(miette::miette!("--iterations must be at least 1"));
    }
    if a.n < 2 {
        return Err(miette::miette!(
            "--n must be at least 2 points, not {}",
            a.n
        ));
    }
    figure(&a.out, "tsne", &a.format)?;
    crate::atomic::prepare_dir(&a.out)?;
    let (x, labels, dim, classes, what) = if let Some(p) = &a.codes {
        let c = io::read_codes(p)?;
        let te = c
            .test
            .ok_or_else(|| miette::miette!("{} has no test.codes", p.display()))?;
        let n = te.labels.iter().map(|&l| l as usize + 1).max().unwrap_or(0);
        (
            te.codes,
            te.labels,
            te.dim,
            digit_names(n.max(10)),
            // The run's folder names the model; the whole path would overflow the title.
            match p.parent().and_then(|d| d.file_name()) {
                Some(run) => format!("codes of {}", run.to_string_lossy()),
                None => format!("codes of {}", p.display()),
            },
        )
    } else {
        let ds = load(&a.data)?;
        let dim = ds.train.example_size();
        let label = dataset_label(&ds);
        if a.pca_dims > 0 && a.pca_dims < dim {
            let model = pca::fit(&ds.train.images, dim, a.pca_dims)?;
            let codes = model.encode(&ds.test.images, a.pca_dims);
            (
                codes,
                ds.test.labels,
                a.pca_dims,
                ds.classes,
                format!("{label} test pixels, PCA to {}", a.pca_dims),
            )
        } else {
            (
                ds.test.images,
                ds.test.labels,
                dim,
                ds.classes,
                format!("{label} test pixels"),
            )
        }
    };
    let mut idx: Vec<usize> = (0..labels.len()).collect();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(a.seed);
    idx.shuffle(&mut rng);
    idx.truncate(a.n.min(labels.len()));
    idx.sort_unstable();
    let sub: Vec<f32> = idx
        .iter()
        .flat_map(|&i| x[i * dim..(i + 1) * dim].iter().copied())
        .collect();
    let sub_labels: Vec<u8> = idx.iter().map(|&i| labels[i]).collect();
    let t = Instant::now();
    let params = tsne::TsneParams {
        perplexity: a.perplexity,
        iterations: a.iterations,
        seed: a.seed,
    };
    let method = a.method.resolve(idx.len());
    let method_name = match method {
        tsne_bh::Method::BarnesHut => "barnes-hut",
        _ => "exact",
    };
    let bar = progress_bar(a.iterations, "t-SNE iterations");
    let emb = if method == tsne_bh::Method::BarnesHut {
        bar.set_message("Barnes-Hut");
        tsne_bh::embed(&sub, dim, &params, a.theta)?
    } else {
        tsne::embed_with_progress(&sub, dim, &params, &|done, kl| {
            bar.set_position(done as u64);
            if let Some(kl) = kl {
                bar.set_message(format!("KL {kl:.3}"));
            }
        })?
    };
    bar.finish_and_clear();
    let secs = t.elapsed().as_secs_f64();
    let pts: Vec<(f64, f64)> = emb.points.iter().map(|p| (p[0], p[1])).collect();
    // How well the map separates the classes, beside how well the input does: 10-NN
    // leave-one-out accuracy of the same points in 2-D and in the input space.
    let map_xy: Vec<f32> = emb
        .points
        .iter()
        .flat_map(|p| [p[0] as f32, p[1] as f32])
        .collect();
    let k = MAP_KNN_K.min(idx.len() - 1);
    let map_knn = knn::leave_one_out_accuracy(&map_xy, &sub_labels, 2, k)?;
    let input_knn = knn::leave_one_out_accuracy(&sub, &sub_labels, dim, k)?;
    plot::scatter_by_class(
        &figure(&a.out, "tsne", &a.format)?,
        &format!("t-SNE of {} points ({what})", idx.len()),
        ("t-SNE 1", "t-SNE 2"),
        &pts,
        &sub_labels,
        &classes,
    )?;
    io::write_json(
        &a.out.join("tsne.json"),
        &json!({
            "input": what,
            "n": idx.len(),
            "perplexity": a.perplexity,
            "iterations": a.iterations,
            "seed": a.seed,
            "method": method_name,
            "theta": (method == tsne_bh::Method::BarnesHut).then_some(a.theta),
            "kl_divergence": emb.kl_divergence,
            "seconds": secs,
            "knn_k": k,
            "map_knn_accuracy": map_knn,
            "input_knn_accuracy": input_knn,
            "indices": idx,
            "labels": sub_labels,
            "points": emb.points,
        }),
    )?;
    println!(
        "t-SNE ({method_name}) of {} points ({what}): KL {:.3}, {secs:.1} s; \
         {k}-NN leave-one-out accuracy {:.4} on the map, {:.4} in the input space",
        idx.len(),
        emb.kl_divergence,
        map_knn,
        input_knn
    );
    Ok(())
}

pub fn run_confusion(a: RunOptions) -> miette::Result<()> {
    prepare_out(&a.out)?;
    let preds = a.run_dir.join("predictions.json");
    if !preds.exists() && a.run_dir.join("reconstructions.safetensors").exists() {
        return Err(miette::miette!(
            help = format!(
                "an autoencoder has no classes to confuse: try `archc recon {0}`, or `archc knn --codes {0}/codes.safetensors` to classify its codes",
                a.run_dir.display()
            ),
            "{} is an autoencoder run: it holds reconstructions, not class predictions",
            a.run_dir.display()
        ));
    }
    let p = io::read_predictions(&preds)?;
    let c = confusion::confusion(&p.classes, &p.labels, &p.predictions)?;
    let out = a.out.clone().unwrap_or_else(|| a.run_dir.clone());
    let pairs = c.most_confused(a.top);
    let title = format!(
        "{}: confusion matrix ({} split, error {:.2}%)",
        run_title(&a.run_dir),
        p.split,
        100.0 * c.error_rate()
    );
    plot::heatmap(
        &figure(&out, "confusion", &a.format)?,
        &title,
        "predicted class",
        "true class",
        &c.counts,
        &c.classes,
    )?;
    io::write_json(
        &out.join("confusion.json"),
        &json!({ "title": title, "split": p.split, "error_rate": c.error_rate(), "confusion": c, "most_confused": pairs }),
    )?;
    println!(
        "{:<12} {:<12} {:>6} {:>8}",
        "true", "predicted", "count", "rate"
    );
    for q in &pairs {
        println!(
            "{:<12} {:<12} {:>6} {:>7.2}%",
            q.true_name,
            q.predicted_name,
            q.count,
            100.0 * q.rate
        );
    }
    Ok(())
}

pub fn run_filters(a: FiltersOptions) -> miette::Result<()> {
    prepare_out(&a.out)?;
    let path = a.run_dir.join(&a.checkpoint);
    let (w, shape, layer) = io::read_first_conv(&path)?;
    let out = a.out.clone().unwrap_or_else(|| a.run_dir.clone());
    plot::filters_figure(
        &figure(&out, "filters", &a.format)?,
        &format!(
            "First convolution (layer {layer}): {}×{} filters, each normalised",
            shape[2], shape[3]
        ),
        &w,
        &shape,
    )?;
    io::write_json(
        &out.join("filters.json"),
        &json!({ "checkpoint": path.display().to_string(), "layer": layer, "shape": shape }),
    )?;
    println!(
        "filters of layer {layer} {shape:?} drawn into {}",
        out.display()
    );
    if a.n > 0 {
        feature_maps(&a, &path, &out)?;
    }
    Ok(())
}

/// "model on dataset" for figure titles, from the run's `metrics.json` and spec copy;
/// as much of it as the run directory tells (its path when nothing).
fn run_title(run_dir: &Path) -> String {
    match run_model(run_dir) {
        Ok(m) => {
            let ds = match m.train.dataset {
                DatasetName::Mnist => "MNIST",
                DatasetName::Cifar10 => "CIFAR-10",
                DatasetName::Svhn => "SVHN",
            };
            format!("{} on {ds}", m.name)
        }
        Err(_) => io::read_metrics(&run_dir.join("metrics.json"))
            .ok()
            .and_then(|m| m.model)
            .unwrap_or_else(|| run_dir.display().to_string()),
    }
}

/// The run's model: the spec copy in the run directory, and the model `metrics.json` names.
fn run_model(run_dir: &Path) -> miette::Result<crate::ir::Model> {
    let metrics = io::read_metrics(&run_dir.join("metrics.json"))?;
    let Some(name) = metrics.model else {
        return Err(miette::miette!(
            "{} does not name its model",
            run_dir.join("metrics.json").display()
        ));
    };
    let mut specs: Vec<PathBuf> = std::fs::read_dir(run_dir)
        .map_err(|e| miette::miette!("cannot read {}: {e}", run_dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "arch"))
        .collect();
    specs.sort();
    if specs.is_empty() {
        return Err(miette::miette!(
            help = "`archc train` copies the spec into the run directory",
            "{} holds no spec copy (*.arch)",
            run_dir.display()
        ));
    }
    for p in &specs {
        if let Some(m) = crate::ir::load(p)?
            .models
            .into_iter()
            .find(|m| m.name == name)
        {
            return Ok(m);
        }
    }
    Err(miette::miette!(
        "no model named {name:?} in {}",
        specs
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

/// `feature_maps.png` + `.json` + `.safetensors`: the first convolution's output (after its
/// activation, and after a standalone activation layer right behind it) on `a.n` training
/// images chosen with `a.seed`.
fn feature_maps(a: &FiltersOptions, checkpoint: &Path, out: &Path) -> miette::Result<()> {
    use crate::ir::layers::{is_activation, is_conv};
    use crate::train::checkpoint::Entry;
    use rand::seq::index::sample;
    use rand::SeedableRng;
    let model = run_model(&a.run_dir)?;
    let conv = model
        .layers
        .iter()
        .position(|l| is_conv(&l.kind))
        .ok_or_else(|| miette::miette!("model {} has no convolution layer", model.name))?;
    // A standalone activation right behind the convolution belongs to its feature maps.
    let layer = match model.layers.get(conv + 1) {
        Some(next) if is_activation(&next.kind) => conv + 1,
        _ => conv,
    };
    let net = crate::train::Network::load(&model, checkpoint)?;
    // The images only illustrate the maps; a --limit run (not a result, maybe made on a
    // small synthetic file) takes them from a split shrunk to the file as its training did.
    let limited = crate::train::run_dir::read_record(&a.run_dir)
        .ok()
        .flatten()
        .is_some_and(|r| r.is_limited());
    let fit = crate::data::SplitFit::for_limited(limited);
    let ds = crate::data::load_with(
        model.train.dataset,
        model.train.split,
        a.data.as_deref(),
        fit,
    )?;
    let per: usize = model.input_shape.iter().product();
    if ds.train.example_size() != per || ds.train.is_empty() {
        return Err(miette::miette!(
            "model {} takes {:?} inputs but {} training examples are {:?} ({} of them)",
            model.name,
            model.input_shape,
            ds.provenance,
            ds.train.shape,
            ds.train.len()
        ));
    }
    let n = a.n.min(ds.train.len());
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(a.seed);
    let mut idx = sample(&mut rng, ds.train.len(), n).into_vec();
    idx.sort_unstable();
    let x: Vec<f32> = idx
        .iter()
        .flat_map(|&i| ds.train.image(i).iter().copied())
        .collect();
    let labels: Vec<u8> = idx.iter().map(|&i| ds.train.labels[i]).collect();
    let maps = net.layer_output(layer, &x, n);
    let ms = &model.layers[layer].output_shape;
    let (c, h, w) = (ms[0], ms[1], ms[2]);
    let shown = a.maps.clamp(1, c);
    // The drawn subset: the first `shown` channels of each image.
    let sub: Vec<f32> = maps
        .chunks(c * h * w)
        .flat_map(|m| m[..shown * h * w].iter().copied())
        .collect();
    // Inputs in grey (channel mean) in the first column: the figure's rows share one shape.
    let ch = model.input_shape[0];
    let (h0, w0) = (model.input_shape[1], model.input_shape[2]);
    let grey: Vec<f32> = x
        .chunks(per)
        .flat_map(|img| {
            (0..h0 * w0)
                .map(move |p| (0..ch).map(|k| img[k * h0 * w0 + p]).sum::<f32>() / ch as f32)
        })
        .collect();
    plot::feature_maps_figure(
        &figure(out, "feature_maps", &a.format)?,
        &format!(
            "Layer {layer} feature maps ({shown} of {c}) on {} training images",
            dataset_label(&ds)
        ),
        &sub,
        &[n, shown, h, w],
        Some((&grey, &[n, 1, h0, w0])),
        &labels
            .iter()
            .zip(&idx)
            .map(|(&l, &i)| {
                let class = ds.classes.get(l as usize).map_or("?", String::as_str);
                format!("#{i} {class}")
            })
            .collect::<Vec<_>>(),
    )?;
    // Per image: mean activation and fraction of exact zeros (ReLU sparsity) over all maps;
    // the maps themselves are in the safetensors file.
    let stats: Vec<serde_json::Value> = maps
        .chunks(c * h * w)
        .zip(&idx)
        .map(|(m, &i)| {
            let label = ds.train.labels[i];
            let mean = m.iter().map(|&v| v as f64).sum::<f64>() / m.len() as f64;
            let zero = m.iter().filter(|&&v| v == 0.0).count() as f64 / m.len() as f64;
            let dead = m
                .chunks(h * w)
                .filter(|f| f.iter().all(|&v| v == 0.0))
                .count();
            json!({
                "index": i,
                "label": label,
                "class": ds.classes.get(label as usize),
                "mean_activation": mean,
                "zero_fraction": zero,
                "all_zero_maps": dead,
            })
        })
        .collect();
    let mut in_shape = vec![n];
    in_shape.extend(&model.input_shape);
    crate::train::checkpoint::save(
        &out.join("feature_maps.safetensors"),
        vec![
            ("inputs".into(), Entry::F32(in_shape, x)),
            ("maps".into(), Entry::F32(vec![n, c, h, w], maps)),
            ("labels".into(), Entry::U8(vec![n], labels)),
        ],
    )?;
    io::write_json(
        &out.join("feature_maps.json"),
        &json!({
            "checkpoint": checkpoint.display().to_string(),
            "model": model.name,
            "layer": layer,
            "notation": model.layers[layer].notation,
            "dataset": ds.provenance,
            "split": "train",
            "seed": a.seed,
            "indices": idx,
            "shape": [n, c, h, w],
            "shown_maps": shown,
            "images": stats,
        }),
    )?;
    println!(
        "feature maps of layer {layer} ({c}×{h}×{w}) on {n} training images drawn into {}",
        out.display()
    );
    Ok(())
}

pub fn run_recon(a: ReconOptions) -> miette::Result<()> {
    if a.count == 0 {
        return Err(miette::miette!("--count must be at least 1"));
    }
    prepare_out(&a.out)?;
    let r = io::read_reconstructions(&a.run_dir.join("reconstructions.safetensors"))?;
    let size: usize = r.shape.iter().product();
    let shape = if r.shape.len() == 3 {
        r.shape.clone()
    } else if r.shape.len() == 1 && (size as f64).sqrt().fract() == 0.0 {
        // Flattened square grey images (dense autoencoders).
        let s = (size as f64).sqrt() as usize;
        vec![1, s, s]
    } else {
        return Err(miette::miette!(
            "cannot draw examples of shape {:?} as images",
            r.shape
        ));
    };
    if a.count > r.n {
        eprintln!(
            "note: --count {} but {} holds {} test reconstructions: showing {}",
            a.count,
            a.run_dir.join("reconstructions.safetensors").display(),
            r.n,
            r.n
        );
    }
    let count = a.count.min(r.n);
    let take = |v: &[f32]| -> Vec<Vec<f32>> {
        v.chunks(size)
            .take(count)
            .map(|c| c.iter().map(|x| x.clamp(0.0, 1.0)).collect())
            .collect()
    };
    let mut rows = Vec::new();
    if let Some(noisy) = &r.noisy {
        rows.push(ImageRow {
            label: "noisy input".into(),
            images: take(noisy),
        });
        rows.push(ImageRow {
            label: "reconstructed".into(),
            images: take(&r.outputs),
        });
        rows.push(ImageRow {
            label: "clean".into(),
            images: take(&r.inputs),
        });
    } else {
        rows.push(ImageRow {
            label: "original".into(),
            images: take(&r.inputs),
        });
        rows.push(ImageRow {
            label: "reconstructed".into(),
            images: take(&r.outputs),
        });
    }
    let out = a.out.clone().unwrap_or_else(|| a.run_dir.clone());
    plot::image_rows(
        &figure(&out, "reconstructions", &a.format)?,
        "Test reconstructions",
        &shape,
        &rows,
    )?;
    let err = pca::reconstruction_error(&r.inputs, &r.outputs, size);
    io::write_json(
        &out.join("reconstructions.json"),
        &json!({ "n": r.n, "test": err }),
    )?;
    println!(
        "{} test reconstructions: MSE/pixel {:.5}, SSE/image {:.3}, BCE/image {:.2}",
        r.n, err.mse_per_pixel, err.sse_per_example, err.bce_per_example
    );
    Ok(())
}

pub fn run_curves(a: RunOptions) -> miette::Result<()> {
    prepare_out(&a.out)?;
    let m = io::read_metrics(&a.run_dir.join("metrics.json"))?;
    let out = a.out.clone().unwrap_or_else(|| a.run_dir.clone());
    let series = |name: &str, f: &dyn Fn(&io::EpochMetrics) -> Option<f64>, scale: f64| Series {
        name: name.into(),
        points: m
            .epochs
            .iter()
            .filter_map(|e| f(e).map(|v| (e.epoch as f64, scale * v)))
            .collect(),
    };
    let errors: Vec<Series> = [
        series("train", &|e| e.train_error, 100.0),
        series("validation", &|e| e.val_error, 100.0),
        series("test", &|e| e.test_error, 100.0),
    ]
    .into_iter()
    .filter(|s| !s.points.is_empty())
    .collect();
    let model = run_title(&a.run_dir);
    if !errors.is_empty() {
        plot::line_chart(
            &figure(&out, "errors", &a.format)?,
            &format!("Error per epoch: {model}"),
            "epoch",
            "error (%)",
            &errors,
        )?;
    }
    let losses: Vec<Series> = [
        series("train", &|e| e.train_loss, 1.0),
        series("validation", &|e| e.val_loss, 1.0),
        series("test", &|e| e.test_loss, 1.0),
    ]
    .into_iter()
    .filter(|s| !s.points.is_empty())
    .collect();
    if !losses.is_empty() {
        plot::line_chart(
            &figure(&out, "loss", &a.format)?,
            &format!("Loss per epoch: {model}"),
            "epoch",
            "loss",
            &losses,
        )?;
    }
    if errors.is_empty() {
        return Err(miette::miette!(
            "{} has no error values per epoch",
            a.run_dir.join("metrics.json").display()
        ));
    }
    println!(
        "learning curves of {} epochs drawn into {}",
        m.epochs.len(),
        out.display()
    );
    Ok(())
}
