//! `archc item` (run one MISSION item's commands) and `archc report` (write the report).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use miette::{miette, Result};

use crate::report::{self, item_outputs, CommandLine, Item, Manifest};
use crate::train::run_dir;

#[derive(Debug, clap::Args)]
pub struct ItemArgs {
    /// Item id from MISSION.md, e.g. 1c or 3.1e.
    #[arg(required_unless_present = "list")]
    pub id: Option<String>,
    /// List the item ids and titles.
    #[arg(long)]
    pub list: bool,
    /// Print the commands instead of running them.
    #[arg(long)]
    pub dry_run: bool,
    /// Dataset folder, passed to the commands that read data.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Override the epochs of every `archc train` command (quick trials).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Pass `--limit N` to every `archc train` command: the first N examples of each
    /// split (quick trials; results are not comparable with full runs).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Rerun `archc train` commands from scratch (`--force`: their runs are deleted
    /// first), finished or not; without it unfinished runs are resumed.
    #[arg(long)]
    pub force: bool,
    /// Manifest file (default: the `experiments.toml` built into archc).
    #[arg(long)]
    pub manifest: Option<PathBuf>,
    /// Print one independent `archc train SPEC --model NAME` command per model (for a
    /// Slurm array or GNU parallel) instead of running anything.
    #[arg(long, conflicts_with_all = ["dry_run", "quick"])]
    pub jobs: bool,
    /// Run every command at a tiny size (1 epoch, 200 examples) into `runs-quick/`: checks
    /// that the item's pipeline works, without touching `runs/`.
    #[arg(long)]
    pub quick: bool,
}

/// Runs folder of `archc item --quick`.
pub const QUICK_RUNS: &str = "runs-quick";

impl ItemArgs {
    fn runs_dir(&self) -> &'static str {
        if self.quick {
            QUICK_RUNS
        } else {
            "runs"
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// Folder of the run directories (where `runs/…` paths of the manifest point; default
    /// `runs`, which may not exist yet; a folder given explicitly must exist).
    #[arg(long)]
    pub runs: Option<PathBuf>,
    /// Output folder: README.md, figures/ and report.html (self-contained).
    #[arg(long, default_value = "report")]
    pub out: PathBuf,
    /// Manifest file (default: the `experiments.toml` built into archc).
    #[arg(long)]
    pub manifest: Option<PathBuf>,
}

pub fn report(args: ReportArgs) -> Result<()> {
    let manifest = Manifest::load(args.manifest.as_deref())?;
    // A mistyped --runs would otherwise give a report of items "not run yet".
    if let Some(r) = args.runs.as_ref().filter(|r| !r.is_dir()) {
        return Err(miette::miette!(
            help = "give the --out folder of `archc train`",
            "run folder {} does not exist",
            r.display()
        ));
    }
    crate::atomic::prepare_dir(&args.out)?;
    let opts = report::Options {
        runs: args.runs.unwrap_or_else(|| PathBuf::from("runs")),
        out: args.out,
    };
    let s = report::generate(&manifest, &opts)?;
    for w in &s.warnings {
        eprintln!("warning: {w}");
    }
    println!(
        "{} and {}: {} items, {} runs found ({} not run yet, {} still training), {} result folders/files found ({} not yet), {} figures, {} items kept from the previous report",
        opts.out.join("README.md").display(),
        report::HTML,
        s.items,
        s.runs_found,
        s.runs_missing,
        s.runs_training,
        s.results_found,
        s.results_missing,
        s.figures,
        s.kept
    );
    Ok(())
}

/// Subcommands that take `--data DIR`.
fn takes_data(args: &[String]) -> bool {
    matches!(
        args.first().map(String::as_str),
        Some("train" | "knn" | "pca" | "tsne" | "data" | "filters" | "ae-vs-pca")
    )
}

/// The arguments actually run: the manifest's plus `--data` / `--epochs` where they apply.
pub fn effective_args(
    c: &CommandLine,
    data: Option<&Path>,
    epochs: Option<usize>,
    limit: Option<usize>,
) -> Vec<String> {
    let mut a = c.args.clone();
    if let Some(d) = data.filter(|_| takes_data(&a)) {
        a.push("--data".into());
        a.push(d.display().to_string());
    }
    let train = a.first().map(String::as_str) == Some("train");
    for (flag, v) in [("--epochs", epochs), ("--limit", limit)] {
        if let Some(n) = v.filter(|_| train) {
            a.push(flag.into());
            a.push(n.to_string());
        }
    }
    a
}

/// Folders the command will write into: `--out DIR` (or a file's parent) and `> FILE`'s parent.
fn prepare_outputs(args: &[String]) -> Result<()> {
    if let Some(i) = args.iter().position(|a| a == "--out") {
        if let Some(v) = args.get(i + 1) {
            let p = Path::new(v);
            let dir = if p.extension().is_some() {
                p.parent().unwrap_or(Path::new("."))
            } else {
                p
            };
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| miette!("cannot create {}: {e}", dir.display()))?;
            }
        }
    }
    Ok(())
}

fn run_one(exe: &Path, c: &CommandLine, args: &[String]) -> Result<()> {
    let shown = CommandLine {
        args: args.to_vec(),
        stdout: c.stdout.clone(),
    }
    .display();
    println!("$ {shown}");
    let _ = std::io::stdout().flush();
    prepare_outputs(args)?;
    let mut cmd = Command::new(exe);
    cmd.args(args);
    let status = if let Some(file) = &c.stdout {
        // Stream the output and keep it for the file, written once the command succeeds.
        cmd.stdout(Stdio::piped());
        let mut child = cmd
            .spawn()
            .map_err(|e| miette!("cannot start {}: {e}", exe.display()))?;
        let mut kept = Vec::new();
        if let Some(out) = child.stdout.take() {
            let mut r = BufReader::new(out);
            let mut line = Vec::new();
            let stdout = std::io::stdout();
            while r.read_until(b'\n', &mut line).map_err(|e| miette!("{e}"))? > 0 {
                let _ = stdout.lock().write_all(&line);
                kept.extend_from_slice(&line);
                line.clear();
            }
        }
        let status = child.wait().map_err(|e| miette!("{e}"))?;
        if status.success() {
            crate::atomic::write_bytes(Path::new(file), &kept)?;
        }
        status
    } else {
        cmd.status()
            .map_err(|e| miette!("cannot start {}: {e}", exe.display()))?
    };
    if !status.success() {
        return Err(miette!(
            help = "fix the cause and rerun the item; finished commands' outputs are kept",
            "`{shown}` failed ({status})"
        ));
    }
    Ok(())
}

/// The models of `archc train SPEC` with their run folders under `runs`; `None` for
/// other commands.
fn train_runs(args: &[String], runs: &str) -> Option<Vec<(crate::ir::Model, PathBuf)>> {
    if args.first().map(String::as_str) != Some("train") {
        return None;
    }
    let s = crate::ir::load(Path::new(args.get(1)?)).ok()?;
    Some(
        s.models
            .into_iter()
            .map(|m| {
                let dir = Path::new(runs).join(run_dir::folder_name(&m.name));
                (m, dir)
            })
            .collect(),
    )
}

/// The `--limit` a run folder was made with (a run without a record counts as full
/// data); `None` when the folder holds no run.
fn run_limit(dir: &Path) -> Option<Option<usize>> {
    if !run_dir::holds_run(dir) {
        return None;
    }
    Some(
        run_dir::read_record(dir)
            .ok()
            .flatten()
            .and_then(|r| r.limit),
    )
}

/// True when `archc train SPEC` has nothing left to do: every model of the spec has a
/// `metrics.json` with all its epochs (the spec's, or `--epochs`), made with the same
/// `--limit` as asked now (a limited run is never the result of a full item).
fn train_finished(
    args: &[String],
    epochs: Option<usize>,
    limit: Option<usize>,
    runs: &str,
) -> bool {
    let Some(runs) = train_runs(args, runs) else {
        return false;
    };
    runs.iter().all(|(model, dir)| {
        let p = dir.join(run_dir::METRICS);
        let done = match crate::report::results::read_metrics(&p) {
            crate::report::results::Read::Ok(m) => {
                m.epochs.len() >= epochs.unwrap_or(model.train.epochs)
            }
            _ => false,
        };
        done && run_limit(dir) == Some(limit)
    })
}

/// `--resume` for a train command, so unfinished runs continue; `--force` where a run
/// was made with another `--limit` (or when the item is forced).
fn continue_flag(
    args: &[String],
    limit: Option<usize>,
    force: bool,
    runs: &str,
) -> Option<&'static str> {
    let runs = train_runs(args, runs)?;
    let other_limit = runs
        .iter()
        .any(|(_, dir)| run_limit(dir).is_some_and(|l| l != limit));
    Some(if force || other_limit {
        "--force"
    } else {
        "--resume"
    })
}

/// Items run (or printed) in this invocation, and the chain being resolved.
#[derive(Default)]
struct Progress {
    done: Vec<String>,
    visiting: Vec<String>,
}

/// Runs (or prints) `item` after the items it needs whose outputs are missing.
fn run_item(
    m: &Manifest,
    item: &Item,
    args: &ItemArgs,
    exe: &Path,
    progress: &mut Progress,
) -> Result<()> {
    if progress.done.contains(&item.id) {
        return Ok(());
    }
    let visiting = &mut progress.visiting;
    if visiting.contains(&item.id) {
        return Err(miette!(
            "items need each other in a cycle: {} → {}",
            visiting.join(" → "),
            item.id
        ));
    }
    visiting.push(item.id.clone());
    for n in &item.needs {
        if progress.done.contains(n) {
            continue;
        }
        let need = m
            .get(n)
            .ok_or_else(|| miette!("item {} needs unknown item {n}", item.id))?;
        let o = item_outputs(need, Path::new(args.runs_dir()));
        if !o.complete() {
            println!(
                "# item {} needs item {n}, {} of whose {} outputs are missing (e.g. {}); {} it first",
                item.id,
                o.missing.len(),
                o.expected,
                o.missing.first().map(String::as_str).unwrap_or("?"),
                if args.dry_run { "would run" } else { "running" }
            );
            run_item(m, need, args, exe, progress)?;
        }
    }
    println!("# item {}: {}", item.id, item.title);
    if item.commands.is_empty() {
        println!(
            "(no commands: this item is an explanation)\n{}",
            item.text.trim()
        );
    }
    for c in item.command_lines() {
        let c = if args.quick {
            super::jobs::quick(&c, QUICK_RUNS)
        } else {
            c
        };
        let epochs = args
            .epochs
            .or(args.quick.then_some(super::jobs::QUICK_EPOCHS));
        let limit = args
            .limit
            .or(args.quick.then_some(super::jobs::QUICK_LIMIT));
        let runs = args.runs_dir();
        let mut a = effective_args(&c, args.data.as_deref(), args.epochs, args.limit);
        let finished = train_finished(&a, epochs, limit, runs);
        if let Some(flag) = continue_flag(&a, limit, args.force, runs) {
            a.push(flag.into());
        }
        if !args.force && finished {
            println!(
                "# skipped, every model has finished (--force reruns): {}",
                c.display()
            );
        } else if args.dry_run {
            println!(
                "{}",
                CommandLine {
                    args: a,
                    stdout: c.stdout.clone()
                }
                .display()
            );
        } else {
            run_one(exe, &c, &a)?;
        }
    }
    progress.visiting.pop();
    progress.done.push(item.id.clone());
    Ok(())
}

pub fn item(args: ItemArgs) -> Result<()> {
    let m = Manifest::load(args.manifest.as_deref())?;
    if args.list {
        let w = m.items.iter().map(|i| i.id.len()).max().unwrap_or(0);
        for i in &m.items {
            println!("{:<w$}  {}", i.id, i.title);
        }
        return Ok(());
    }
    let id = args.id.clone().unwrap_or_default();
    let item = m.get(&id).ok_or_else(|| {
        let ids: Vec<&str> = m.items.iter().map(|i| i.id.as_str()).collect();
        miette!(
            code = "archc::unknown_item",
            help = format!("items: {}", ids.join(", ")),
            "no item `{id}`"
        )
    })?;
    if args.jobs {
        let extra: Vec<String> = args
            .data
            .iter()
            .flat_map(|d| ["--data".to_string(), d.display().to_string()])
            .collect();
        for line in super::jobs::jobs(item, &extra)? {
            println!("{line}");
        }
        eprintln!(
            "# then: `archc item {}` (skips the finished trainings, runs the analyses) and `archc report`",
            item.id
        );
        return Ok(());
    }
    let exe = std::env::current_exe()
        .map_err(|e| miette!("cannot find the archc executable to run the commands: {e}"))?;
    run_item(&m, item, &args, &exe, &mut Progress::default())
}
