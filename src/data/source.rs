//! Where dataset files come from: locating folders, reading (gzip or raw), checksums,
//! the manifest of official sources, and verified atomic downloads.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use md5::{Digest, Md5};
use serde::Deserialize;

use crate::ir::DatasetName;

/// Every way reading a dataset can fail; each names the file and what was expected/found.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum DataError {
    #[error("{dataset} not found: looked in {looked}")]
    #[diagnostic(code(archc::data::missing), help("{help}"))]
    Missing {
        dataset: String,
        looked: String,
        help: String,
    },
    #[error("{file}: checksum mismatch: expected {expected}, found {found}")]
    #[diagnostic(
        code(archc::data::checksum),
        help("the file is corrupted or not the official one; delete it and download it again")
    )]
    Checksum {
        file: PathBuf,
        expected: String,
        found: String,
    },
    #[error("{file}: truncated or wrong size: expected {expected}, found {found}")]
    #[diagnostic(
        code(archc::data::size),
        help(
            "the file is incomplete (interrupted download or copy?); delete it and fetch it again"
        )
    )]
    Size {
        file: PathBuf,
        expected: String,
        found: String,
    },
    #[error("{file}: not a valid {format} file: {detail}")]
    #[diagnostic(code(archc::data::format))]
    Format {
        file: PathBuf,
        format: String,
        detail: String,
    },
    #[error("{file}: {detail}")]
    #[diagnostic(code(archc::data::io))]
    Io { file: PathBuf, detail: String },
    #[error("{dataset} in {dir} is incomplete: missing {missing}")]
    #[diagnostic(
        code(archc::data::incomplete),
        help("the folder holds {present} of the dataset's files; put the missing ones next to them (raw or .gz); nothing was downloaded")
    )]
    Incomplete {
        dataset: String,
        dir: PathBuf,
        missing: String,
        present: String,
    },
}

pub fn io_err(file: &Path, e: impl std::fmt::Display) -> DataError {
    DataError::Io {
        file: file.to_path_buf(),
        detail: e.to_string(),
    }
}

/// One file of the manifest (`data/manifest.json`).
#[derive(Debug, Clone, Deserialize)]
pub struct ManifestFile {
    pub name: String,
    pub urls: Vec<String>,
    pub size: u64,
    pub md5: String,
    #[serde(default)]
    pub uncompressed_size: Option<u64>,
    #[serde(default)]
    pub uncompressed_md5: Option<String>,
    /// Not needed by `load` (e.g. SVHN `extra`).
    #[serde(default)]
    pub optional: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ManifestDataset {
    /// Folder name under a data root (and in the cache).
    pub folder: String,
    pub files: Vec<ManifestFile>,
}

#[derive(Debug, Clone, Deserialize)]
struct Manifest {
    datasets: std::collections::BTreeMap<String, ManifestDataset>,
}

const MANIFEST: &str = include_str!("../../data/manifest.json");

pub fn dataset_key(name: DatasetName) -> &'static str {
    crate::ir::names::dataset_name(name)
}

/// The manifest entry of a dataset (embedded at compile time, so always present).
pub fn manifest(name: DatasetName) -> ManifestDataset {
    let m: Manifest = serde_json::from_str(MANIFEST).expect("data/manifest.json is valid JSON");
    m.datasets[dataset_key(name)].clone()
}

/// Folder names recognised under a data root, best first (exact copies before approximations).
pub fn folder_names(name: DatasetName) -> &'static [&'static str] {
    match name {
        DatasetName::Mnist => &["mnist", "MNIST"],
        DatasetName::Cifar10 => &[
            "cifar10",
            "cifar-10",
            "cifar-10-batches-bin",
            "cifar10/cifar-10-batches-bin",
            "cifar10-jpeg-approx",
        ],
        DatasetName::Svhn => &["svhn", "SVHN"],
    }
}

/// The per-user cache root: `$XDG_CACHE_HOME/archc`, else `~/.cache/archc`.
pub fn cache_root() -> Option<PathBuf> {
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME").filter(|x| !x.is_empty()) {
        return Some(PathBuf::from(x).join("archc"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache").join("archc"))
}

/// The data roots to search, in order: the explicit `--data`, else `$ARCHC_DATA`, else the cache.
pub fn roots(data_dir: Option<&Path>) -> Vec<PathBuf> {
    if let Some(d) = data_dir {
        return vec![d.to_path_buf()];
    }
    if let Some(x) = std::env::var_os("ARCHC_DATA").filter(|x| !x.is_empty()) {
        return vec![PathBuf::from(x)];
    }
    cache_root().into_iter().collect()
}

/// Finds the folder holding `name`'s files: `root` itself when `has_files(root)`, else one
/// of the recognised sub-folders. Returns every place looked at when nothing matches.
pub fn find_folder(
    name: DatasetName,
    roots: &[PathBuf],
    has_files: impl Fn(&Path) -> bool,
) -> Result<PathBuf, Vec<PathBuf>> {
    let mut looked = Vec::new();
    for root in roots {
        if has_files(root) {
            return Ok(root.clone());
        }
        looked.push(root.clone());
        for sub in folder_names(name) {
            let p = root.join(sub);
            if has_files(&p) {
                return Ok(p);
            }
            looked.push(p);
        }
    }
    Err(looked)
}

/// `dir/name` or `dir/name.gz`, whichever exists (raw first). `name` has no `.gz`.
pub fn find_file(dir: &Path, name: &str) -> Option<PathBuf> {
    let raw = dir.join(name);
    if raw.is_file() {
        return Some(raw);
    }
    let gz = dir.join(format!("{name}.gz"));
    gz.is_file().then_some(gz)
}

/// Reads a whole file, transparently gunzipping it when it starts with the gzip magic.
/// A truncated gzip stream is an error naming the file, never a short result.
pub fn read_maybe_gz(path: &Path) -> Result<Vec<u8>, DataError> {
    let raw = std::fs::read(path).map_err(|e| io_err(path, e))?;
    if raw.len() >= 2 && raw[0] == 0x1f && raw[1] == 0x8b {
        let mut out = Vec::with_capacity(raw.len() * 4);
        flate2::read::MultiGzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| DataError::Format {
                file: path.to_path_buf(),
                format: "gzip".into(),
                detail: format!(
                    "{e} after {} uncompressed bytes (compressed file is {} bytes; truncated or corrupted?)",
                    out.len(),
                    raw.len()
                ),
            })?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

pub fn md5_hex(bytes: &[u8]) -> String {
    hex(&Md5::digest(bytes))
}

fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks `bytes` (read from `file`) against an expected size and md5.
pub fn verify_bytes(file: &Path, bytes: &[u8], size: u64, md5: &str) -> Result<(), DataError> {
    let found = md5_hex(bytes);
    if bytes.len() as u64 != size || found != md5 {
        return Err(DataError::Checksum {
            file: file.to_path_buf(),
            expected: format!("{size} bytes with md5 {md5}"),
            found: format!("{} bytes with md5 {found}", bytes.len()),
        });
    }
    Ok(())
}

/// md5 and length of a file on disk, streamed.
pub fn md5_file(path: &Path) -> Result<(u64, String), DataError> {
    let mut f = File::open(path).map_err(|e| io_err(path, e))?;
    let mut h = Md5::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf).map_err(|e| io_err(path, e))?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        n += k as u64;
    }
    Ok((n, hex(&h.finalize())))
}

/// Checks a file on disk against the manifest's size and md5.
pub fn verify_file(path: &Path, size: u64, md5: &str) -> Result<(), DataError> {
    let (n, found) = md5_file(path)?;
    if n != size || found != md5 {
        let kind = if n < size { "truncated? " } else { "" };
        return Err(DataError::Checksum {
            file: path.to_path_buf(),
            expected: format!("{size} bytes with md5 {md5}"),
            found: format!("{kind}{n} bytes with md5 {found}"),
        });
    }
    Ok(())
}

/// Writes `dest` atomically: the bytes go to a temporary file in the same directory, which
/// is renamed over `dest` only once `write` has succeeded (so readers never see a partial file).
pub fn write_atomic(
    dest: &Path,
    write: impl FnOnce(&mut File) -> Result<(), DataError>,
) -> Result<(), DataError> {
    let tmp = crate::atomic::temp_beside(dest).map_err(|e| io_err(dest, e))?;
    let result = (|| {
        let mut f = File::create(&tmp).map_err(|e| io_err(&tmp, e))?;
        write(&mut f)?;
        f.flush().map_err(|e| io_err(&tmp, e))?;
        f.sync_all().map_err(|e| io_err(&tmp, e))?;
        drop(f);
        crate::atomic::commit(&tmp, dest).map_err(|e| io_err(dest, e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Copies `reader` into `dest` atomically, checking size and md5 before the rename, so a
/// bad or interrupted transfer leaves nothing at `dest`.
pub fn save_verified(
    mut reader: impl Read,
    dest: &Path,
    size: u64,
    md5: &str,
    progress: &indicatif::ProgressBar,
) -> Result<(), DataError> {
    write_atomic(dest, |f| {
        let mut h = Md5::new();
        let mut buf = vec![0u8; 1 << 16];
        let mut n = 0u64;
        loop {
            let k = reader.read(&mut buf).map_err(|e| io_err(dest, e))?;
            if k == 0 {
                break;
            }
            h.update(&buf[..k]);
            f.write_all(&buf[..k]).map_err(|e| io_err(dest, e))?;
            n += k as u64;
            progress.inc(k as u64);
        }
        let found = hex(&h.finalize());
        if n != size || found != md5 {
            return Err(DataError::Checksum {
                file: dest.to_path_buf(),
                expected: format!("{size} bytes with md5 {md5}"),
                found: format!("{n} bytes with md5 {found}"),
            });
        }
        Ok(())
    })
}

/// The error for a dataset that is neither on disk nor downloadable: it lists exactly which
/// files to put where.
pub fn missing(
    name: DatasetName,
    looked: &[PathBuf],
    root: Option<&Path>,
    download: Option<String>,
) -> DataError {
    let m = manifest(name);
    let target = root
        .map(|r| r.join(&m.folder))
        .unwrap_or_else(|| PathBuf::from(&m.folder));
    let files: Vec<String> = m
        .files
        .iter()
        .map(|f| {
            format!(
                "  {}{} ({} bytes, md5 {}) from {}",
                f.name,
                if f.optional { " [optional]" } else { "" },
                f.size,
                f.md5,
                f.urls.join(" or ")
            )
        })
        .collect();
    let extra = match name {
        DatasetName::Cifar10 => {
            "\n(the extracted batch files data_batch_1..5.bin and test_batch.bin, raw or .gz, work too)"
        }
        DatasetName::Mnist => "\n(raw IDX files without .gz work too)",
        DatasetName::Svhn => "",
    };
    let dl = download
        .map(|d| format!("download failed: {d}\n"))
        .unwrap_or_default();
    DataError::Missing {
        dataset: dataset_key(name).into(),
        looked: looked
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
        help: format!(
            "{dl}put these files in {} (or pass --data DIR / set ARCHC_DATA to a folder holding {}/):\n{}{extra}",
            target.display(),
            m.folder,
            files.join("\n")
        ),
    }
}

/// Downloads a missing dataset into `root/<folder>` (each file verified against the
/// manifest's size and md5, written atomically), returning the folder. Without network (or
/// with `ARCHC_OFFLINE=1`) the error lists exactly which files to put where.
pub fn download(
    name: DatasetName,
    root: Option<&PathBuf>,
    looked: &[PathBuf],
) -> Result<PathBuf, DataError> {
    if std::env::var("ARCHC_OFFLINE").is_ok_and(|v| !v.is_empty() && v != "0") {
        let why = "downloads are disabled (ARCHC_OFFLINE is set)";
        return Err(missing(
            name,
            looked,
            root.map(|r| r.as_path()),
            Some(why.into()),
        ));
    }
    let Some(root) = root else {
        let why = "no data folder: pass --data, set ARCHC_DATA or HOME";
        return Err(missing(name, looked, None, Some(why.into())));
    };
    let m = manifest(name);
    let dir = root.join(&m.folder);
    fetch_missing(&m.files, &dir)
        .map_err(|e| missing(name, looked, Some(root), Some(e.to_string())))?;
    Ok(dir)
}

/// Fetches each required file of `files` into `dir` unless it is already there with the
/// right size and md5, so an interrupted download resumes with the files it still lacks.
pub fn fetch_missing(files: &[ManifestFile], dir: &Path) -> Result<(), DataError> {
    for f in files.iter().filter(|f| !f.optional) {
        let dest = dir.join(&f.name);
        if dest.is_file() && verify_file(&dest, f.size, &f.md5).is_ok() {
            continue;
        }
        fetch(f, &dest)?;
    }
    Ok(())
}

/// Fetches one manifest file, trying its URLs in order, with a progress bar.
pub fn fetch(f: &ManifestFile, dest: &Path) -> Result<(), DataError> {
    let mut errors = Vec::new();
    for url in &f.urls {
        let pb = indicatif::ProgressBar::new(f.size);
        pb.set_style(
            indicatif::ProgressStyle::with_template(
                "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        pb.set_message(f.name.clone());
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(std::time::Duration::from_secs(15))
            .timeout_read(std::time::Duration::from_secs(60))
            .build();
        match agent.get(url).call() {
            Err(e) => errors.push(e.to_string()),
            Ok(resp) => match save_verified(resp.into_reader(), dest, f.size, &f.md5, &pb) {
                Ok(()) => {
                    pb.finish();
                    return Ok(());
                }
                Err(e) => {
                    pb.abandon();
                    errors.push(format!("{url}: {e}"));
                }
            },
        }
    }
    Err(io_err(dest, errors.join("; ")))
}
