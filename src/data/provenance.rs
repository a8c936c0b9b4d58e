//! What a dataset's files are, decided by their content (md5 of the uncompressed bytes)
//! against known files, never by folder or file names: a renamed folder of
//! JPEG-approximate CIFAR-10 must not pass for the real one.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::source;
use crate::ir::DatasetName;

/// Where a dataset's pixels come from, as far as its files' content tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Provenance {
    /// Every file matched the official md5.
    Exact,
    /// The CIFAR-10 batch files re-encoded through JPEG that this project's machines
    /// hold (labels exact, pixels approximate).
    JpegApproximate,
    /// Files matching neither (test fixtures, other copies), or none checked.
    Unverified,
}

impl Provenance {
    pub fn describe(self) -> &'static str {
        match self {
            Provenance::Exact => "md5-verified official files",
            Provenance::JpegApproximate => "JPEG-approximate pixels",
            Provenance::Unverified => "unverified files",
        }
    }
}

/// md5 of the uncompressed `data_batch_{1..5}.bin`, `test_batch.bin` of the
/// JPEG-approximate CIFAR-10 copy (`shared/data/cifar10-jpeg-approx`, 30,730,000 bytes each).
pub const CIFAR_JPEG_APPROX_MD5: [(&str, &str); 6] = [
    ("data_batch_1.bin", "5a5142663b2c457eb7edf61944cf14cd"),
    ("data_batch_2.bin", "a03813b579934887e19fffa24f57e096"),
    ("data_batch_3.bin", "9338b8beb58f9f053aa7e7f6d2ca26a1"),
    ("data_batch_4.bin", "5d6a4b059305fb3437429da7d5355351"),
    ("data_batch_5.bin", "b543e7acd6f6cab339de5ace5ae323ae"),
    ("test_batch.bin", "11e2161f06e495577766fe4411c65d23"),
];

/// md5 of a file's uncompressed content (`None` when it cannot be read).
fn content_md5(path: &Path) -> Option<String> {
    source::read_maybe_gz(path)
        .ok()
        .map(|b| source::md5_hex(&b))
}

/// The md5s of every file are in `known` (and there is at least one file).
fn all_known(sources: &[PathBuf], known: &[String]) -> bool {
    !sources.is_empty()
        && sources
            .iter()
            .all(|p| content_md5(p).is_some_and(|m| known.contains(&m)))
}

fn identify_uncached(name: DatasetName, sources: &[PathBuf]) -> Provenance {
    let m = source::manifest(name);
    // Official files: the md5 of the uncompressed bytes where the manifest has one (the
    // gzip of a re-compressed copy differs), else of the published file.
    let official: Vec<String> = m
        .files
        .iter()
        .flat_map(|f| [Some(f.md5.clone()), f.uncompressed_md5.clone()])
        .flatten()
        .collect();
    let official_hit = |p: &PathBuf| {
        // A published file is checked as is (the CIFAR tarball), else uncompressed.
        source::md5_file(p).is_ok_and(|(_, m)| official.contains(&m))
            || content_md5(p).is_some_and(|m| official.contains(&m))
    };
    if !sources.is_empty() && sources.iter().all(official_hit) {
        return Provenance::Exact;
    }
    let approx: Vec<String> = CIFAR_JPEG_APPROX_MD5
        .iter()
        .map(|(_, m)| m.to_string())
        .collect();
    if name == DatasetName::Cifar10 && all_known(sources, &approx) {
        return Provenance::JpegApproximate;
    }
    Provenance::Unverified
}

/// [`Provenance`] of the files `sources` of dataset `name`. Hashing CIFAR-10 takes about a
/// second, so results are kept per file list for the life of the process.
pub fn identify(name: DatasetName, sources: &[PathBuf]) -> Provenance {
    static SEEN: Mutex<Option<HashMap<Vec<PathBuf>, Provenance>>> = Mutex::new(None);
    if let Some(p) = SEEN
        .lock()
        .ok()
        .and_then(|g| g.as_ref().and_then(|m| m.get(sources).copied()))
    {
        return p;
    }
    let p = identify_uncached(name, sources);
    if let Ok(mut g) = SEEN.lock() {
        g.get_or_insert_with(HashMap::new)
            .insert(sources.to_vec(), p);
    }
    p
}
