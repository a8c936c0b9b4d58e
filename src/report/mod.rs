//! The generated report (`archc report`): for every item of the manifest, its text, specs,
//! shape tables, figures, result tables and the command for anything not run yet.
//! Every number comes from a result file; nothing is invented.

pub mod html;
pub mod kept;
pub mod manifest;
pub mod observations;
pub mod results;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use miette::{miette, IntoDiagnostic, Result};

pub use manifest::{split_command, CommandLine, Item, Manifest};
use results::{
    fmt_opt, fmt_pct, json_to_markdown, md_row, md_rule, read_json, read_metrics, summarize,
    Metrics, Read, RunSummary,
};

/// Files of a run directory that are not shown as generic JSON tables.
const RUN_FILES_SKIPPED: [&str; 3] = ["metrics.json", "state.json", "predictions.json"];

#[derive(Debug, Clone)]
pub struct Options {
    /// Where `runs/…` paths of the manifest point.
    pub runs: PathBuf,
    /// Output folder: `README.md` and `figures/`.
    pub out: PathBuf,
}

/// What a generated report contains, for the command's closing line and tests.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    pub items: usize,
    pub runs_found: usize,
    pub runs_missing: usize,
    /// Runs begun but not finished (their record has no `finished` time): listed with
    /// their progress and the command that resumes them, never shown as results.
    pub runs_training: usize,
    pub results_found: usize,
    pub results_missing: usize,
    pub figures: usize,
    /// Items whose results were kept from the previous report (see [`kept`]).
    pub kept: usize,
    pub warnings: Vec<String>,
}

/// A manifest path: `runs/…` is relative to the runs folder, anything else to the
/// working directory.
pub fn resolve(runs: &Path, p: &str) -> PathBuf {
    match p.strip_prefix("runs/") {
        Some(rest) => runs.join(rest),
        None if p == "runs" => runs.to_path_buf(),
        None => PathBuf::from(p),
    }
}

/// Output state of an item's commands, judged from the files they write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outputs {
    pub expected: usize,
    pub present: usize,
    /// What is missing, e.g. `runs/cifar_deep/metrics.json`.
    pub missing: Vec<String>,
    /// Of the missing, runs begun but not finished.
    pub training: usize,
}

impl Outputs {
    pub fn complete(&self) -> bool {
        self.present == self.expected
    }
}

/// Which of the files an item's commands produce exist: every trained model's
/// `metrics.json`, every `results` path, every `> FILE`.
pub fn item_outputs(item: &Item, runs: &Path) -> Outputs {
    let mut wanted: Vec<PathBuf> = Vec::new();
    let mut unfinished: Vec<PathBuf> = Vec::new();
    for spec in item.trained_specs() {
        match crate::ir::load(&spec) {
            Ok(s) => {
                for m in &s.models {
                    let dir = runs.join(crate::train::run_dir::folder_name(&m.name));
                    if dir.join("metrics.json").is_file() && !run_finished(&dir) {
                        unfinished.push(dir.join("metrics.json"));
                    }
                    wanted.push(dir.join("metrics.json"));
                }
            }
            // The command would fail too; count the spec itself as missing output.
            Err(_) => wanted.push(runs.join(format!("{}.invalid-spec", spec.display()))),
        }
    }
    wanted.extend(item.results.iter().map(|r| resolve(runs, r)));
    for c in item.command_lines() {
        if let Some(f) = &c.stdout {
            let p = resolve(runs, f);
            if !wanted.contains(&p) {
                wanted.push(p);
            }
        }
    }
    let missing: Vec<String> = wanted
        .iter()
        .filter(|p| !p.exists() || unfinished.contains(p))
        .map(|p| {
            let note = if unfinished.contains(p) {
                " (run unfinished)"
            } else {
                ""
            };
            format!("{}{note}", p.display())
        })
        .collect();
    Outputs {
        training: unfinished.len(),
        expected: wanted.len(),
        present: wanted.len() - missing.len(),
        missing,
    }
}

/// Whether the run in `dir` counts as a result: its record says it finished (a run
/// stopped half-way is not one, so that it never replaces a kept complete result);
/// runs made before run records existed count as finished.
fn run_finished(dir: &Path) -> bool {
    match crate::train::run_dir::read_record(dir) {
        Ok(Some(record)) => record.finished.is_some(),
        Ok(None) => true,
        Err(_) => false,
    }
}

/// Copies figures into `out/figures/` once each and returns their links.
struct Figures {
    out: PathBuf,
    runs: PathBuf,
    copied: BTreeMap<PathBuf, String>,
}

impl Figures {
    fn link(&mut self, src: &Path) -> Result<String> {
        if let Some(l) = self.copied.get(src) {
            return Ok(l.clone());
        }
        let rel = src.strip_prefix(&self.runs).unwrap_or(src);
        let name: String = rel
            .to_string_lossy()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._-".contains(c) {
                    c
                } else if c == '/' || c == '\\' {
                    '~'
                } else {
                    '_'
                }
            })
            .collect();
        let bytes = std::fs::read(src).map_err(|e| miette!("{}: {e}", src.display()))?;
        crate::atomic::write_bytes(&self.out.join("figures").join(&name), &bytes)?;
        let link = format!("figures/{name}");
        self.copied.insert(src.to_path_buf(), link.clone());
        Ok(link)
    }
}

fn is_figure(p: &Path) -> bool {
    matches!(
        p.extension().and_then(|e| e.to_str()),
        Some("png" | "svg" | "jpg")
    )
}

fn is_json(p: &Path) -> bool {
    p.extension().and_then(|e| e.to_str()) == Some("json")
}

fn sorted_entries(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    v.sort();
    v
}

struct Gen<'a> {
    opts: &'a Options,
    figures: Figures,
    stats: Stats,
    md: String,
    previous: kept::Previous,
    /// Contents cell of each kept item, by anchor.
    kept_status: BTreeMap<String, String>,
}

impl Gen<'_> {
    fn warn(&mut self, msg: String) {
        let _ = writeln!(self.md, "\n> **warning:** {msg}\n");
        self.stats.warnings.push(msg);
    }

    fn figure(&mut self, path: &Path, caption: &str) {
        match self.figures.link(path) {
            Ok(link) => {
                self.stats.figures += 1;
                let _ = writeln!(self.md, "\n![{caption}]({link})\n");
            }
            Err(e) => self.warn(format!("figure {} not copied: {e}", path.display())),
        }
    }

    fn json_file(&mut self, path: &Path, label: &str) {
        match read_json(path) {
            Read::Ok(v) => {
                let _ = writeln!(self.md, "\n`{label}`:\n\n{}", json_to_markdown(&v));
            }
            Read::Malformed(e) => self.warn(format!("{} is malformed: {e}", path.display())),
            Read::Missing => {}
        }
    }

    /// Every figure and JSON file of a folder (or one file).
    fn result_path(&mut self, item: &Item, p: &str) {
        let path = resolve(&self.opts.runs, p);
        if path.is_dir() {
            self.stats.results_found += 1;
            let _ = writeln!(self.md, "\n**`{p}`**\n");
            let entries = sorted_entries(&path);
            if !entries.iter().any(|e| is_json(e) || is_figure(e)) {
                let _ = writeln!(self.md, "(no JSON or figures in this folder)\n");
            }
            for e in entries {
                let name = e
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                if is_json(&e) {
                    self.json_file(&e, &name);
                } else if is_figure(&e) {
                    self.figure(&e, &format!("{p}/{name}"));
                }
            }
        } else if path.is_file() {
            self.stats.results_found += 1;
            if is_figure(&path) {
                self.figure(&path, p);
            } else {
                self.json_file(&path, p);
            }
        } else {
            self.stats.results_missing += 1;
            let cmd = item
                .command_writing(p)
                .map(str::to_string)
                .unwrap_or_else(|| format!("archc item {}", item.id));
            let _ = writeln!(self.md, "\n**`{p}`**: not run yet — `{cmd}`\n");
        }
    }

    fn spec_section(&mut self, spec: &Path) {
        let _ = writeln!(self.md, "\n### Spec `{}`\n", spec.display());
        match std::fs::read_to_string(spec) {
            Ok(src) => {
                let _ = writeln!(self.md, "```text\n{}\n```\n", src.trim_end());
            }
            Err(e) => {
                self.warn(format!("cannot read {}: {e}", spec.display()));
                return;
            }
        }
        match crate::ir::load(spec) {
            Ok(s) => {
                let tables: Vec<String> = s.models.iter().map(crate::summary::table).collect();
                let body = format!("```text\n{}\n```\n", tables.join("\n").trim_end());
                if s.models.len() > 1 {
                    let _ = writeln!(
                        self.md,
                        "<details><summary>Shape tables ({} models)</summary>\n\n{body}\n</details>\n",
                        s.models.len()
                    );
                } else {
                    let _ = writeln!(self.md, "Shape table:\n\n{body}");
                }
            }
            Err(e) => self.warn(format!("{} does not compile: {e}", spec.display())),
        }
    }

    fn runs_section(&mut self, item: &Item) {
        let specs = item.run_specs();
        if specs.is_empty() {
            return;
        }
        let _ = writeln!(self.md, "\n### Trained runs\n");
        let mut done: Vec<Run> = Vec::new();
        let mut missing: Vec<String> = Vec::new();
        let mut training: Vec<String> = Vec::new();
        for spec in &specs {
            let s = match crate::ir::load(spec) {
                Ok(s) => s,
                Err(e) => {
                    self.warn(format!("{} does not compile: {e}", spec.display()));
                    continue;
                }
            };
            let train_cmd = format!(
                "archc train {}",
                manifest::shell_quote(&spec.display().to_string())
            );
            for model in &s.models {
                let dir = self
                    .opts
                    .runs
                    .join(crate::train::run_dir::folder_name(&model.name));
                let path = dir.join("metrics.json");
                let cmd = if s.models.len() > 1 {
                    format!("{train_cmd} --model {}", manifest::shell_quote(&model.name))
                } else {
                    train_cmd.clone()
                };
                if path.is_file() && !run_finished(&dir) {
                    self.stats.runs_training += 1;
                    let done = match read_metrics(&path) {
                        Read::Ok(m) => m.epochs.len(),
                        _ => 0,
                    };
                    training.push(format!(
                        "`{}` — {done} of {} epochs done; `{cmd} --resume` continues it",
                        model.name, model.train.epochs
                    ));
                    continue;
                }
                match read_metrics(&path) {
                    Read::Missing => {
                        self.stats.runs_missing += 1;
                        missing.push(format!("`{}` — `{cmd}`", model.name));
                    }
                    Read::Malformed(e) => {
                        self.stats.runs_missing += 1;
                        self.warn(format!("{} is malformed: {e}", path.display()));
                        missing.push(format!("`{}` (malformed results) — `{cmd}`", model.name));
                    }
                    Read::Ok(m) => match summarize(&m) {
                        Some(sum) => {
                            self.stats.runs_found += 1;
                            let code = model.code_layer.map(|i| {
                                (
                                    model.layers[i].output_shape.iter().product::<usize>(),
                                    model.input_shape.iter().product::<usize>(),
                                )
                            });
                            done.push(Run {
                                name: crate::train::run_dir::label(&model.name, &dir),
                                dir,
                                metrics: m,
                                summary: sum,
                                ir_params: model.layers.iter().map(|l| l.params as u64).sum(),
                                planned_epochs: model.train.epochs,
                                code,
                            });
                        }
                        None => {
                            self.stats.runs_missing += 1;
                            missing.push(format!("`{}` — `{cmd}`", model.name));
                        }
                    },
                }
            }
        }
        let classifiers: Vec<&Run> = done.iter().filter(|r| r.summary.classifier).collect();
        let autoencoders: Vec<&Run> = done.iter().filter(|r| !r.summary.classifier).collect();
        if !classifiers.is_empty() {
            self.md += &classifier_table(&classifiers, item.at_epoch);
        }
        if !autoencoders.is_empty() {
            self.md += "\n";
            self.md += &autoencoder_table(&autoencoders);
        }
        let datasets = unique(done.iter().filter_map(|r| r.metrics.dataset.as_deref()));
        if !datasets.is_empty() {
            let _ = writeln!(self.md, "\nData: {}.", datasets.join("; "));
        }
        if !done.is_empty() {
            let c = unique(done.iter().map(|r| r.summary.criterion.describe()));
            let _ = writeln!(
                self.md,
                "\nBest epoch chosen by {}; test values are read at that epoch.",
                c.join(" / ")
            );
        }
        if !training.is_empty() {
            let _ = writeln!(
                self.md,
                "\nStill training (no results until the run finishes):\n"
            );
            for t in &training {
                let _ = writeln!(self.md, "- {t}");
            }
        }
        if !missing.is_empty() {
            let _ = writeln!(self.md, "\nNot run yet:\n");
            for m in &missing {
                let _ = writeln!(self.md, "- {m}");
            }
        }
        let many = done.len() > 1;
        if many {
            self.comparison_figures(item, &classifiers, &autoencoders);
        }
        for r in &done {
            let _ = writeln!(self.md, "\n#### `{}`\n", r.name);
            for f in sorted_entries(&r.dir) {
                if is_figure(&f) {
                    let cap = format!(
                        "{} {}",
                        r.name,
                        f.file_stem()
                            .map(|s| s.to_string_lossy())
                            .unwrap_or_default()
                    );
                    self.figure(&f, &cap);
                }
            }
            let table = epoch_table(r);
            if many {
                let _ = writeln!(
                    self.md,
                    "<details><summary>Per-epoch results ({} epochs)</summary>\n\n{table}\n</details>\n",
                    r.summary.epochs
                );
            } else {
                self.md += &table;
            }
            for f in sorted_entries(&r.dir) {
                let name = f
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                if is_json(&f) && !RUN_FILES_SKIPPED.contains(&name.as_str()) {
                    self.json_file(&f, &name);
                }
            }
        }
    }

    /// One validation curve per model, drawn next to the report (items comparing runs).
    fn comparison_figures(&mut self, item: &Item, classifiers: &[&Run], autoencoders: &[&Run]) {
        let stem: String = item
            .id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let error = |e: &results::EpochMetrics| e.val_error.map(|v| 100.0 * v);
        let loss = |e: &results::EpochMetrics| e.val_loss;
        let sets: [(&[&Run], &str, &str, EpochValue); 2] = [
            (classifiers, "val_error", "validation error (%)", &error),
            (autoencoders, "val_loss", "validation loss", &loss),
        ];
        for (runs, kind, y_label, value) in sets {
            if runs.len() < 2 {
                continue;
            }
            let series: Vec<crate::plot::Series> = runs
                .iter()
                .map(|r| crate::plot::Series {
                    name: r.name.clone(),
                    points: r
                        .metrics
                        .epochs
                        .iter()
                        .filter_map(|e| value(e).map(|v| (e.epoch as f64, v)))
                        .collect(),
                })
                .filter(|s| !s.points.is_empty())
                .collect();
            if series.len() < 2 {
                continue;
            }
            let name = format!("{stem}-{kind}.png");
            let dir = self.opts.out.join("figures");
            let title = format!("{}: {y_label} per epoch", item.id);
            // line_chart writes atomically itself.
            // Errors from ~1 % to ~90 % (a diverged run beside converged ones) flatten
            // every converged curve on a linear axis; a log axis keeps both readable.
            let (lo, hi) = series
                .iter()
                .flat_map(|s| s.points.iter().map(|p| p.1))
                .fold((f64::MAX, f64::MIN), |(l, h), v| (l.min(v), h.max(v)));
            let spec = crate::plot::ChartSpec {
                title: title.clone(),
                x_label: "epoch".into(),
                y_label: y_label.into(),
                log_y: kind == "val_error" && lo > 0.0 && hi > 10.0 * lo,
                ..Default::default()
            };
            let drawn = crate::plot::line_chart_with(&dir.join(&name), &spec, &series);
            match drawn {
                Ok(()) => {
                    self.stats.figures += 1;
                    let _ = writeln!(
                        self.md,
                        "
![{title}](figures/{name})
"
                    );
                }
                Err(e) => self.warn(format!("comparison figure {name} not drawn: {e}")),
            }
        }
    }

    fn item(&mut self, item: &Item) {
        // An explicit anchor: the contents link to it in Markdown viewers and report.html.
        let _ = writeln!(
            self.md,
            "\n<a id=\"{}\"></a>\n\n## {} — {}\n",
            anchor(&item.id),
            item.id,
            item.title
        );
        if !item.text.trim().is_empty() {
            let _ = writeln!(self.md, "{}\n", item.text.trim());
        }
        if !item.commands.is_empty() {
            let _ = writeln!(
                self.md,
                "Commands (all at once: `archc item {}`):\n\n```sh\n{}\n```",
                item.id,
                item.commands.join("\n")
            );
        }
        if !item.needs.is_empty() {
            let _ = writeln!(self.md, "\nUses the results of: {}.", item.needs.join(", "));
        }
        for spec in item.specs.clone() {
            self.spec_section(&spec);
        }
        if self.keep_previous(item) {
            return;
        }
        self.runs_section(item);
        if !item.results.is_empty() {
            let _ = writeln!(self.md, "\n### Results\n");
            for r in item.results.clone() {
                self.result_path(item, &r);
            }
        }
        let has_runs = item_outputs(item, &self.opts.runs).present > 0;
        let (obs, warnings) = observations::section(&item.id, &self.opts.runs, has_runs);
        self.md += &obs;
        self.stats.warnings.extend(warnings);
    }

    /// Keeps the previous report's results of an item when the runs folder holds fewer of
    /// them than that report showed; false (nothing written) otherwise.
    fn keep_previous(&mut self, item: &Item) -> bool {
        let id = anchor(&item.id);
        let Some((text, before)) = self.previous.results_of(&id) else {
            return false;
        };
        let o = item_outputs(item, &self.opts.runs);
        let here = match before {
            kept::Completeness::Outputs(_) => o.present,
            kept::Completeness::Runs(_) => self.finished_runs(item),
        };
        if here >= before.count() {
            return false;
        }
        let (text, what) = (text.to_string(), before);
        let (unit, total) = match what {
            kept::Completeness::Outputs(_) => ("result files", format!(" of {}", o.expected)),
            kept::Completeness::Runs(_) => ("finished runs", String::new()),
        };
        let _ = writeln!(
            self.md,
            "\n> **Kept from the previous report:** `{}` here holds {here}{total} of this \
             item's {unit}, the previous report {}, so its results and observations below are \
             as that report had them; `archc item {}` reruns it.",
            self.opts.runs.display(),
            what.count(),
            item.id
        );
        self.md += &text;
        self.md += "\n";
        for f in kept::missing_figures(&text, &self.opts.out) {
            self.warn(format!("{}: kept figure {f} is missing", item.id));
        }
        self.stats.kept += 1;
        if let kept::Completeness::Outputs(n) = what {
            self.kept_status.insert(id, format!("{n}/{}", o.expected));
        }
        true
    }

    /// Models of the item's tabulated specs with a finished run in the runs folder.
    fn finished_runs(&self, item: &Item) -> usize {
        item.run_specs()
            .iter()
            .filter_map(|spec| crate::ir::load(spec).ok())
            .flat_map(|s| s.models)
            .filter(|m| {
                let dir = self
                    .opts
                    .runs
                    .join(crate::train::run_dir::folder_name(&m.name));
                dir.join("metrics.json").is_file() && run_finished(&dir)
            })
            .count()
    }
}

/// The HTML id of an item's section: `item-` and the id with anything but letters,
/// digits, `-` and `_` replaced (`3.1a` → `item-3-1a`).
pub fn anchor(id: &str) -> String {
    let slug: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("item-{slug}")
}

/// Distinct values in first-seen order.
fn unique<'a>(it: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut v: Vec<&str> = Vec::new();
    for x in it {
        if !v.contains(&x) {
            v.push(x);
        }
    }
    v
}

/// Reads one number of an epoch (for a curve).
type EpochValue<'a> = &'a dyn Fn(&results::EpochMetrics) -> Option<f64>;

struct Run {
    name: String,
    dir: PathBuf,
    metrics: Metrics,
    summary: RunSummary,
    ir_params: u64,
    /// Epochs the spec asks for.
    planned_epochs: usize,
    /// (code size, input size) of an autoencoder.
    code: Option<(usize, usize)>,
}

impl Run {
    fn params(&self) -> String {
        let p = self.metrics.params.unwrap_or(self.ir_params);
        p.to_string()
    }
    /// Epochs run, as "done/planned" when the run stopped short of the spec.
    fn epochs(&self) -> String {
        if self.summary.epochs < self.planned_epochs {
            format!("{}/{}", self.summary.epochs, self.planned_epochs)
        } else {
            self.summary.epochs.to_string()
        }
    }
    fn best(&self) -> &results::EpochMetrics {
        &self.metrics.epochs[self.summary.best]
    }
    fn last(&self) -> &results::EpochMetrics {
        &self.metrics.epochs[self.summary.final_index]
    }
}

fn classifier_table(runs: &[&Run], at: Option<usize>) -> String {
    let pre = runs.iter().any(|r| r.metrics.pretrain_test_error.is_some());
    let mut head: Vec<String> = [
        "model",
        "params",
        "epochs",
        "best epoch",
        "val error (best)",
        "test error at best",
        "final test error",
    ]
    .map(String::from)
    .to_vec();
    if let Some(n) = at {
        head.push(format!("val error @ {n}"));
        head.push(format!("test error @ {n}"));
    }
    if pre {
        head.push("test error before fine-tuning".into());
    }
    head.push("s/epoch".into());
    let mut s = md_row(&head);
    s += &md_rule(head.len());
    for r in runs {
        let mut row = vec![
            format!("`{}`", r.name),
            r.params(),
            r.epochs(),
            r.best().epoch.to_string(),
            fmt_pct(r.best().val_error),
            fmt_pct(r.best().test_error),
            fmt_pct(r.last().test_error),
        ];
        if let Some(n) = at {
            let e = r.metrics.epochs.iter().find(|e| e.epoch == n);
            row.push(fmt_pct(e.and_then(|e| e.val_error)));
            row.push(fmt_pct(e.and_then(|e| e.test_error)));
        }
        if pre {
            row.push(fmt_pct(r.metrics.pretrain_test_error));
        }
        row.push(fmt_opt(r.summary.mean_seconds, 1));
        s += &md_row(&row);
    }
    s
}

/// Autoencoder runs: losses at the best epoch, the reconstruction errors in PCA's units
/// (`metrics.json`'s `reconstruction`, whole test split, best weights) and, for denoising
/// models, the same from noisy inputs (the best epoch is then chosen by the noisy loss).
fn autoencoder_table(runs: &[&Run]) -> String {
    let noisy = runs
        .iter()
        .any(|r| r.metrics.epochs.iter().any(|e| e.val_noisy_loss.is_some()));
    let mut head: Vec<String> = [
        "model",
        "params",
        "code size",
        "compression 1 − d'/d",
        "epochs",
        "best epoch",
        "val loss (best)",
        "test loss at best",
        "final test loss",
        "test MSE/pixel",
        "test BCE/image",
    ]
    .map(String::from)
    .to_vec();
    if noisy {
        head.extend(
            [
                "noisy val loss (best)",
                "noisy test loss at best",
                "noisy test MSE/pixel",
                "noisy test BCE/image",
            ]
            .map(String::from),
        );
    }
    head.push("s/epoch".into());
    let mut s = md_row(&head);
    s += &md_rule(head.len());
    for r in runs {
        let (code, compression) = match r.code {
            Some((c, input)) if c > 0 => (
                c.to_string(),
                format!(
                    "{:.1} % ({input}/{c} = {:.2}×)",
                    100.0 * (1.0 - c as f64 / input as f64),
                    input as f64 / c as f64
                ),
            ),
            _ => ("–".into(), "–".into()),
        };
        let rec = r.metrics.reconstruction;
        let mut row = vec![
            format!("`{}`", r.name),
            r.params(),
            code,
            compression,
            r.epochs(),
            r.best().epoch.to_string(),
            fmt_opt(r.best().val_loss, 4),
            fmt_opt(r.best().test_loss, 4),
            fmt_opt(r.last().test_loss, 4),
            fmt_opt(rec.map(|x| x.test.mse_per_pixel), 5),
            fmt_opt(rec.map(|x| x.test.bce_per_image), 2),
        ];
        if noisy {
            let n = rec.and_then(|x| x.test_noisy);
            row.extend([
                fmt_opt(r.best().val_noisy_loss, 4),
                fmt_opt(r.best().test_noisy_loss, 4),
                fmt_opt(n.map(|x| x.mse_per_pixel), 5),
                fmt_opt(n.map(|x| x.bce_per_image), 2),
            ]);
        }
        row.push(fmt_opt(r.summary.mean_seconds, 1));
        s += &md_row(&row);
    }
    s
}

fn epoch_table(r: &Run) -> String {
    let c = r.summary.classifier;
    let mut head = vec!["epoch", "lr", "train loss"];
    if c {
        head.push("train error");
    }
    head.push("val loss");
    if c {
        head.push("val error");
    }
    head.push("test loss");
    if c {
        head.push("test error");
    }
    head.extend(["seconds", "best"]);
    let head: Vec<String> = head.into_iter().map(String::from).collect();
    let mut s = md_row(&head);
    s += &md_rule(head.len());
    for (i, e) in r.metrics.epochs.iter().enumerate() {
        let mut row = vec![
            e.epoch.to_string(),
            e.lr.map(|v| format!("{v:.3e}"))
                .unwrap_or_else(|| "–".into()),
            fmt_opt(e.train_loss, 4),
        ];
        if c {
            row.push(fmt_pct(e.train_error));
        }
        row.push(fmt_opt(e.val_loss, 4));
        if c {
            row.push(fmt_pct(e.val_error));
        }
        row.push(fmt_opt(e.test_loss, 4));
        if c {
            row.push(fmt_pct(e.test_error));
        }
        row.push(fmt_opt(e.seconds, 1));
        row.push(if i == r.summary.best {
            "◀".into()
        } else {
            String::new()
        });
        s += &md_row(&row);
    }
    s
}

/// Builds the report text; writes figures into `opts.out/figures/` as it goes.
pub fn render(manifest: &Manifest, opts: &Options) -> Result<(String, Stats)> {
    let mut g = Gen {
        opts,
        figures: Figures {
            out: opts.out.clone(),
            runs: opts.runs.clone(),
            copied: BTreeMap::new(),
        },
        stats: Stats {
            items: manifest.items.len(),
            ..Stats::default()
        },
        md: String::new(),
        previous: kept::Previous::read(&opts.out.join("README.md")),
        kept_status: BTreeMap::new(),
    };
    for item in &manifest.items {
        g.item(item);
    }
    let mut head = String::from(
        "# archc report\n\nGenerated by `archc report` from `experiments.toml` and the result files \
         under the runs folder. Every number is read from a result file; for anything not run yet \
         the report gives the command that produces it. Each item runs with `archc item <id>`. \
         The same report as one self-contained page (figures inlined): `report.html`.\n\n\
         ## Contents\n\n",
    );
    head += &md_row(&["item".into(), "title".into(), "outputs".into()]);
    head += &md_rule(3);
    for item in &manifest.items {
        let o = item_outputs(item, &opts.runs);
        let status = if let Some(kept) = g.kept_status.get(&anchor(&item.id)) {
            format!("{kept} {}", kept::KEPT_MARK)
        } else if o.expected == 0 {
            if item.commands.is_empty() {
                "explanation".to_string()
            } else {
                "printed by the command".to_string()
            }
        } else if o.training > 0 {
            format!("{}/{} ({} training)", o.present, o.expected, o.training)
        } else {
            format!("{}/{}", o.present, o.expected)
        };
        let link = format!("[{}](#{})", item.id, anchor(&item.id));
        head += &md_row(&[link, item.title.clone(), status]);
    }
    if !g.stats.warnings.is_empty() {
        let _ = write!(head, "\n{} warning(s) below.\n", g.stats.warnings.len());
    }
    Ok((head + &g.md, g.stats))
}

/// Name of the self-contained HTML report written beside `README.md`.
pub const HTML: &str = "report.html";

/// Writes `opts.out/README.md` and `opts.out/report.html` (atomically) and the figures
/// README.md links (report.html holds its own copies).
pub fn generate(manifest: &Manifest, opts: &Options) -> Result<Stats> {
    std::fs::create_dir_all(&opts.out).into_diagnostic()?;
    let (md, mut stats) = render(manifest, opts)?;
    crate::atomic::write_bytes(&opts.out.join("README.md"), md.as_bytes())?;
    let (page, warnings) = html::page(&md, &opts.out, "archc report");
    crate::atomic::write_bytes(&opts.out.join(HTML), page.as_bytes())?;
    stats.warnings.extend(warnings);
    Ok(stats)
}
