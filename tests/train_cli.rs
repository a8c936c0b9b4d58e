//! `archc train` end to end on a tiny synthetic MNIST: the run folder, its records, exit
//! codes of the refusals, `--resume`, Ctrl-C, `archc runs`, completions, and dataset
//! provenance decided by content.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use archc::train::run_dir;

fn write_mnist(dir: &Path, n_train: usize, n_test: usize) {
    std::fs::create_dir_all(dir).unwrap();
    let images = |n: usize| {
        let mut b = vec![0, 0, 8, 3];
        for d in [n, 28, 28] {
            b.extend((d as u32).to_be_bytes());
        }
        // Class c lights row c: learnable, and not the official bytes.
        b.extend((0..n * 784).map(|i| {
            if (i % 784) / 28 == (i / 784) % 10 {
                250
            } else {
                (i % 7) as u8
            }
        }));
        b
    };
    let labels = |n: usize| {
        let mut b = vec![0, 0, 8, 1];
        b.extend((n as u32).to_be_bytes());
        b.extend((0..n).map(|i| (i % 10) as u8));
        b
    };
    std::fs::write(dir.join("train-images-idx3-ubyte"), images(n_train)).unwrap();
    std::fs::write(dir.join("train-labels-idx1-ubyte"), labels(n_train)).unwrap();
    std::fs::write(dir.join("t10k-images-idx3-ubyte"), images(n_test)).unwrap();
    std::fs::write(dir.join("t10k-labels-idx1-ubyte"), labels(n_test)).unwrap();
}

const SPEC: &str = "net = F8[relu] × F10[softmax]
train {
  dataset mnist split=100/20
  optimizer sgd lr=0.1
  epochs 2
  batch 10
  seed 1
}
";

struct Fixture {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    spec: PathBuf,
    out: PathBuf,
}

fn fixture(spec: &str) -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    write_mnist(&root.join("mnist"), 120, 30);
    let spec_path = root.join("t.arch");
    std::fs::write(&spec_path, spec).unwrap();
    let out = root.join("runs");
    Fixture {
        _tmp: tmp,
        spec: spec_path,
        out,
        root,
    }
}

fn archc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_archc"))
        .args(args)
        .env("ARCHC_OFFLINE", "1")
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned() + &String::from_utf8_lossy(&o.stdout)
}

impl Fixture {
    fn train(&self, extra: &[&str]) -> Output {
        let (spec, data, out) = (
            self.spec.to_str().unwrap(),
            self.root.to_str().unwrap(),
            self.out.to_str().unwrap(),
        );
        let mut a = vec!["train", spec, "--data", data, "--out", out];
        a.extend_from_slice(extra);
        archc(&a)
    }
}

fn json(p: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

#[test]
fn train_writes_the_run_folder_and_refuses_to_overwrite_it() {
    let f = fixture(SPEC);
    let o = f.train(&["--epochs", "2", "--limit", "50", "--threads", "1"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let run = f.out.join("t");
    assert_eq!(std::fs::read_to_string(run.join("t.arch")).unwrap(), SPEC);

    let m = json(&run.join("metrics.json"));
    assert_eq!(m["model"], "t");
    assert_eq!(m["params"], 784 * 8 + 8 + 8 * 10 + 10);
    let epochs = m["epochs"].as_array().unwrap();
    assert_eq!(epochs.len(), 2);
    for (i, e) in epochs.iter().enumerate() {
        assert_eq!(e["epoch"], i + 1);
        for k in [
            "lr",
            "train_loss",
            "train_error",
            "val_loss",
            "val_error",
            "test_loss",
            "test_error",
            "seconds",
        ] {
            assert!(e[k].is_number(), "epoch {i} field {k}: {e}");
        }
        let err = e["test_error"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&err));
    }

    let r = json(&run.join("run.json"));
    assert_eq!(r["limit"], 50);
    assert_eq!(r["epochs"], 2);
    assert_eq!(r["model"], "t");
    assert_eq!(r["threads"], 1);
    assert_eq!(r["dataset"]["examples"], serde_json::json!([50, 20, 30]));
    assert_eq!(r["dataset"]["provenance"], "unverified");
    let cmd: Vec<String> = serde_json::from_value(r["command"].clone()).unwrap();
    assert!(cmd.windows(2).any(|w| w == ["--limit", "50"]), "{cmd:?}");
    assert!(r["finished"].is_string());

    // curves.png is a real PNG of the chart's size.
    let png = png::Decoder::new(std::fs::File::open(run.join("curves.png")).unwrap());
    let info = png.read_info().unwrap();
    assert_eq!((info.info().width, info.info().height), (900, 600));

    // Again into the finished run: refused, naming both ways out; nothing rewritten.
    let before = std::fs::read(run.join("metrics.json")).unwrap();
    let o = f.train(&["--epochs", "2", "--limit", "50"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("--resume") && t.contains("--force"), "{t}");
    assert!(t.contains("already holds a run"), "{t}");
    assert_eq!(std::fs::read(run.join("metrics.json")).unwrap(), before);

    // --resume with another --limit names the difference.
    let o = f.train(&["--resume", "--limit", "40"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("--limit 50"), "{}", text(&o));

    // --resume and --force together are a usage error.
    let o = f.train(&["--resume", "--force"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));

    // --epochs 0.
    let o = f.train(&["--epochs", "0"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("nothing to train"), "{}", text(&o));

    // Resuming for more epochs continues the run.
    let o = f.train(&["--resume", "--limit", "50", "--epochs", "3"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let m = json(&run.join("metrics.json"));
    assert_eq!(m["epochs"].as_array().unwrap().len(), 3);
    assert_eq!(&m["epochs"][0], &epochs[0], "epoch 1 was retrained");

    // `archc runs` lists it.
    let o = archc(&["runs", f.out.to_str().unwrap(), "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let rows: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 1, "{rows}");
    let row = &rows[0];
    assert_eq!(row["folder"], "t");
    assert_eq!(row["epochs_done"], 3);
    assert_eq!(row["epochs_asked"], 3);
    assert_eq!(row["limit"], 50);
    assert_eq!(row["finished"], true);
    // The best epoch is the one with the lowest validation error.
    let best = m["epochs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["val_error"].as_f64().unwrap())
        .fold(f64::INFINITY, f64::min);
    assert_eq!(row["best_val_error"].as_f64().unwrap(), best);
    let o = archc(&["runs", f.out.to_str().unwrap()]);
    assert!(text(&o).contains("limited to 50"), "{}", text(&o));
    assert!(text(&o).contains("3/3"), "{}", text(&o));

    // The report marks the limited run.
    std::fs::write(
        f.root.join("m.toml"),
        "[[item]]\nid = \"x\"\ntitle = \"X\"\ncommands = [\"archc train t.arch\"]\n",
    )
    .unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_archc"))
        .current_dir(&f.root)
        .args([
            "report",
            "--runs",
            "runs",
            "--out",
            "rep",
            "--manifest",
            "m.toml",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let md = std::fs::read_to_string(f.root.join("rep/README.md")).unwrap();
    assert!(md.contains("t (--limit 50: not a result)"), "{md}");
}

#[test]
fn resume_on_a_missing_folder_starts_afresh_and_force_clears() {
    let f = fixture(SPEC);
    let o = f.train(&["--resume", "--epochs", "1"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("starting afresh"), "{}", text(&o));
    let run = f.out.join("t");
    std::fs::write(run.join("confusion.json"), "{}").unwrap();
    let o = f.train(&["--force", "--epochs", "1"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(!run.join("confusion.json").exists());
    assert!(run.join("curves.png").exists());
}

#[test]
fn sweep_runs_get_folders_that_need_no_quoting() {
    let f = fixture(&SPEC.replace("net = F8[relu]", "sweep d in {2, 3}\nnet = F$d[relu]"));
    let o = f.train(&["--epochs", "1"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let mut names: Vec<String> = std::fs::read_dir(&f.out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["t_d2", "t_d3"]);
    // The record keeps the display name.
    assert_eq!(json(&f.out.join("t_d2/run.json"))["model"], "t[d=2]");
}

#[test]
fn ctrl_c_stops_cleanly_and_says_how_to_resume() {
    let f = fixture(SPEC);
    let child = Command::new(env!("CARGO_BIN_EXE_archc"))
        .args([
            "train",
            f.spec.to_str().unwrap(),
            "--data",
            f.root.to_str().unwrap(),
            "--out",
            f.out.to_str().unwrap(),
            "--epochs",
            "100000",
        ])
        .env("ARCHC_OFFLINE", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let run = f.out.join("t");
    let t0 = std::time::Instant::now();
    while !run.join("metrics.json").exists() {
        assert!(t0.elapsed().as_secs() < 120, "no epoch finished in 120 s");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // SAFETY: sending SIGINT to our own child.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGINT);
    }
    let o = child.wait_with_output().unwrap();
    let t = text(&o);
    assert_eq!(o.status.code(), Some(130), "{t}");
    assert!(t.contains("resume with:"), "{t}");
    assert!(t.contains("--epochs 100000 --resume"), "{t}");
    assert!(!run.join("run.lock").exists(), "lock left behind");
    // The checkpoint and the metrics agree on the epochs done.
    let done = json(&run.join("state.json"))["epochs_done"]
        .as_u64()
        .unwrap();
    assert_eq!(
        json(&run.join("metrics.json"))["epochs"]
            .as_array()
            .unwrap()
            .len() as u64,
        done
    );
    let more = (done + 1).to_string();
    let o = f.train(&["--resume", "--epochs", &more]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains(&format!("after epoch {done}")),
        "{}",
        text(&o)
    );
}

#[test]
fn completions_and_threads() {
    let o = archc(&["completions", "bash"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(s.contains("_archc") && s.contains("runs"), "{s}");
    let o = archc(&["--threads", "0", "runs", "."]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
}

fn shared_data(name: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data")
        .join(name);
    if p.is_dir() {
        return Some(p);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{} is missing (required when CI=true)", p.display());
    }
    eprintln!("note: {} not found, skipping", p.display());
    None
}

#[test]
fn provenance_is_decided_by_content_not_by_folder_name() {
    use archc::data::provenance::{identify, Provenance};
    use archc::ir::DatasetName;
    // A folder named like the approximate copy, holding other bytes.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cifar10-jpeg-approx");
    std::fs::create_dir_all(&dir).unwrap();
    let files: Vec<PathBuf> = ["data_batch_1.bin", "test_batch.bin"]
        .iter()
        .map(|n| {
            let p = dir.join(n);
            std::fs::write(&p, vec![3u8; 3073]).unwrap();
            p
        })
        .collect();
    assert_eq!(
        identify(DatasetName::Cifar10, &files),
        Provenance::Unverified
    );
    let mnist = tmp.path().join("mnist");
    write_mnist(&mnist, 5, 5);
    let files: Vec<PathBuf> = std::fs::read_dir(&mnist)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(identify(DatasetName::Mnist, &files), Provenance::Unverified);

    if let Some(real) = shared_data("cifar10-jpeg-approx") {
        let d = archc::data::load(
            DatasetName::Cifar10,
            archc::ir::Split {
                train: 45000,
                validation: 5000,
            },
            Some(&real),
        )
        .unwrap();
        assert_eq!(
            identify(DatasetName::Cifar10, &d.sources),
            Provenance::JpegApproximate
        );
        assert!(
            d.provenance.contains("JPEG-approximate"),
            "{}",
            d.provenance
        );
    }
    if let Some(real) = shared_data("mnist") {
        let files: Vec<PathBuf> = std::fs::read_dir(&real)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(identify(DatasetName::Mnist, &files), Provenance::Exact);
    }
}

#[test]
fn folder_name_of_every_spec_model_is_shell_safe() {
    for e in std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("specs")).unwrap() {
        let p = e.unwrap().path();
        let spec = archc::ir::load(&p).unwrap();
        for m in &spec.models {
            let f = run_dir::folder_name(&m.name);
            assert!(
                f.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c)),
                "{} → {f}",
                m.name
            );
        }
    }
}
