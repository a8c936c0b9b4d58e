//! CIFAR-10, binary version: `data_batch_{1..5}.bin` + `test_batch.bin` (raw or .gz), or the
//! official `cifar-10-binary.tar.gz` holding them.
//!
//! Each record is 1 label byte then 3072 pixel bytes: 1024 red, 1024 green, 1024 blue, each
//! plane row-major — already the `[3, 32, 32]` channel-first layout we use.

use std::io::Read;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::source::{self, DataError};
use super::Examples;
use crate::ir::DatasetName;

pub const RECORD: usize = 1 + 3072;
pub const PER_BATCH: usize = 10000;
pub const TRAIN_FILES: [&str; 5] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
];
pub const TEST_FILE: &str = "test_batch.bin";
pub const TARBALL: &str = "cifar-10-binary.tar.gz";

pub const CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

pub fn has_batches(dir: &Path) -> bool {
    TRAIN_FILES
        .iter()
        .chain([TEST_FILE].iter())
        .all(|f| source::find_file(dir, f).is_some())
}

pub fn has_files(dir: &Path) -> bool {
    has_batches(dir) || dir.join(TARBALL).is_file()
}

/// Checks one batch file's bytes: exact length and labels in 0..9.
pub fn check_batch(file: &Path, bytes: &[u8]) -> Result<(), DataError> {
    if bytes.len() != RECORD * PER_BATCH {
        return Err(DataError::Size {
            file: file.to_path_buf(),
            expected: format!(
                "{} bytes ({PER_BATCH} records of {RECORD} bytes)",
                RECORD * PER_BATCH
            ),
            found: format!(
                "{} bytes ({} whole records)",
                bytes.len(),
                bytes.len() / RECORD
            ),
        });
    }
    if let Some(i) = bytes.chunks_exact(RECORD).position(|r| r[0] > 9) {
        return Err(DataError::Format {
            file: file.to_path_buf(),
            format: "CIFAR-10 binary batch".into(),
            detail: format!("record {i} has label {}, expected 0..9", bytes[i * RECORD]),
        });
    }
    Ok(())
}

/// Splits concatenated records into examples (pixels scaled to [0, 1] in one pass).
pub fn decode(records: &[&[u8]]) -> Examples {
    let recs: Vec<&[u8]> = records
        .iter()
        .flat_map(|r| r.chunks_exact(RECORD))
        .collect();
    let labels = recs.iter().map(|r| r[0]).collect();
    let lut: [f32; 256] = std::array::from_fn(|i| i as f32 / 255.0);
    let mut images = vec![0f32; recs.len() * 3072];
    images
        .par_chunks_mut(3072)
        .zip(recs.par_iter())
        .for_each(|(o, r)| {
            o.iter_mut()
                .zip(&r[1..])
                .for_each(|(o, &b)| *o = lut[b as usize])
        });
    Examples {
        images,
        labels,
        shape: vec![3, 32, 32],
    }
}

fn read_batches(dir: &Path) -> Result<Vec<(PathBuf, Vec<u8>)>, DataError> {
    TRAIN_FILES
        .par_iter()
        .chain([TEST_FILE].par_iter())
        .map(|name| {
            let path = source::find_file(dir, name).ok_or_else(|| DataError::Io {
                file: dir.join(name),
                detail: "file not found".into(),
            })?;
            let bytes = source::read_maybe_gz(&path)?;
            check_batch(&path, &bytes)?;
            Ok((path, bytes))
        })
        .collect()
}

/// Reads the batch files out of the official tarball, checking its md5 as it streams.
fn read_tarball(path: &Path) -> Result<Vec<(PathBuf, Vec<u8>)>, DataError> {
    let m = source::manifest(DatasetName::Cifar10);
    let official = m
        .files
        .iter()
        .find(|f| f.name == TARBALL)
        .expect("manifest lists the tarball");
    // A file of the official size must be the official file; other sizes (test fixtures,
    // repacks) are only checked structurally, member by member.
    let len = std::fs::metadata(path)
        .map_err(|e| source::io_err(path, e))?
        .len();
    if len == official.size {
        source::verify_file(path, official.size, &official.md5)?;
    }
    let fail = |e: std::io::Error| {
        DataError::Format {
        file: path.to_path_buf(),
        format: "gzip-compressed tar".into(),
        detail: format!(
            "{e}; the official archive is {} bytes with md5 {}, this file is {len} bytes (truncated or corrupted?)",
            official.size, official.md5
        ),
    }
    };
    let f = std::fs::File::open(path).map_err(|e| source::io_err(path, e))?;
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(std::io::BufReader::new(f)));
    let wanted: Vec<&str> = TRAIN_FILES
        .iter()
        .chain([TEST_FILE].iter())
        .copied()
        .collect();
    let mut found: Vec<Option<Vec<u8>>> = vec![None; wanted.len()];
    for entry in ar.entries().map_err(fail)? {
        let mut entry = entry.map_err(fail)?;
        let name = entry
            .path()
            .map_err(fail)?
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if let Some(i) = wanted.iter().position(|w| *w == name) {
            let mut buf = Vec::with_capacity(RECORD * PER_BATCH);
            entry.read_to_end(&mut buf).map_err(fail)?;
            found[i] = Some(buf);
        }
    }
    wanted
        .iter()
        .zip(found)
        .map(|(w, b)| {
            let member = path.join(w);
            let b = b.ok_or_else(|| DataError::Format {
                file: path.to_path_buf(),
                format: "CIFAR-10 tarball".into(),
                detail: format!("member {w} is missing"),
            })?;
            check_batch(&member, &b)?;
            Ok((member, b))
        })
        .collect()
}

/// Reads the full training (50000) and test (10000) sets from `dir`, with class names.
pub fn read(dir: &Path) -> Result<(Examples, Examples, Vec<String>, Vec<PathBuf>), DataError> {
    let from_tar = !has_batches(dir);
    let batches = if !from_tar {
        read_batches(dir)?
    } else {
        read_tarball(&dir.join(TARBALL))?
    };
    let (train_b, test_b) = batches.split_at(5);
    let (train, test) = rayon::join(
        || decode(&train_b.iter().map(|(_, b)| &b[..]).collect::<Vec<_>>()),
        || decode(&[&test_b[0].1[..]]),
    );
    let sources = if from_tar {
        vec![dir.join(TARBALL)]
    } else {
        batches.iter().map(|(p, _)| p.clone()).collect()
    };
    let classes =
        read_class_names(dir).unwrap_or_else(|| CLASSES.iter().map(|s| s.to_string()).collect());
    Ok((train, test, classes, sources))
}

/// `batches.meta.txt`: one class name per line (when present and sane).
fn read_class_names(dir: &Path) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(dir.join("batches.meta.txt")).ok()?;
    let names: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    (names.len() == 10).then_some(names)
}
