//! MNIST in the IDX format (gzip or raw).

use std::path::{Path, PathBuf};

use super::source::{self, DataError};
use super::{bytes_to_unit, Examples};
use crate::ir::DatasetName;

pub const FILES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

pub fn has_files(dir: &Path) -> bool {
    FILES.iter().all(|f| source::find_file(dir, f).is_some())
}

/// Parses an IDX file: returns the dimensions and the payload, checking the magic
/// (unsigned bytes, `ndim` dimensions) and that the length matches the header exactly.
pub fn parse_idx<'a>(
    file: &Path,
    bytes: &'a [u8],
    ndim: usize,
) -> Result<(Vec<usize>, &'a [u8]), DataError> {
    let bad = |detail: String| DataError::Format {
        file: file.to_path_buf(),
        format: "IDX".into(),
        detail,
    };
    if bytes.len() < 4 + 4 * ndim {
        return Err(DataError::Size {
            file: file.to_path_buf(),
            expected: format!("at least {} bytes of IDX header", 4 + 4 * ndim),
            found: format!("{} bytes", bytes.len()),
        });
    }
    let magic = [0u8, 0, 0x08, ndim as u8];
    if bytes[..4] != magic {
        return Err(bad(format!(
            "magic {:02x?}, expected {:02x?} (unsigned bytes, {ndim} dimensions)",
            &bytes[..4],
            magic
        )));
    }
    let dims: Vec<usize> = (0..ndim)
        .map(|i| u32::from_be_bytes(bytes[4 + 4 * i..8 + 4 * i].try_into().unwrap()) as usize)
        .collect();
    let header = 4 + 4 * ndim;
    let expected = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .and_then(|n| n.checked_add(header))
        .ok_or_else(|| bad(format!("dimensions {dims:?} are absurd")))?;
    if bytes.len() != expected {
        return Err(DataError::Size {
            file: file.to_path_buf(),
            expected: format!("{expected} bytes (header says {dims:?})"),
            found: format!("{} bytes", bytes.len()),
        });
    }
    Ok((dims, &bytes[header..]))
}

/// Reads one IDX file; when its uncompressed length is the official one, its md5 must be
/// too. Returns whether it was verified as the official file.
fn read_checked(dir: &Path, name: &str) -> Result<(PathBuf, Vec<u8>, bool), DataError> {
    let path = source::find_file(dir, name).ok_or_else(|| DataError::Io {
        file: dir.join(name),
        detail: "file not found".into(),
    })?;
    let bytes = source::read_maybe_gz(&path)?;
    let m = source::manifest(DatasetName::Mnist);
    let mut verified = false;
    if let Some(f) = m
        .files
        .iter()
        .find(|f| f.name.trim_end_matches(".gz") == name)
    {
        if let (Some(size), Some(md5)) = (f.uncompressed_size, &f.uncompressed_md5) {
            if bytes.len() as u64 == size {
                source::verify_bytes(&path, &bytes, size, md5)?;
                verified = true;
            }
        }
    }
    Ok((path, bytes, verified))
}

fn read_pair(
    dir: &Path,
    images: &str,
    labels: &str,
) -> Result<(Examples, Vec<PathBuf>, bool), DataError> {
    let (ip, ib, v1) = read_checked(dir, images)?;
    let (lp, lb, v2) = read_checked(dir, labels)?;
    let (idims, pixels) = parse_idx(&ip, &ib, 3)?;
    let (ldims, labs) = parse_idx(&lp, &lb, 1)?;
    if idims[0] != ldims[0] {
        return Err(DataError::Format {
            file: lp.clone(),
            format: "IDX".into(),
            detail: format!(
                "{} labels but {} has {} images",
                ldims[0],
                ip.display(),
                idims[0]
            ),
        });
    }
    if let Some(i) = labs.iter().position(|&l| l > 9) {
        return Err(DataError::Format {
            file: lp.clone(),
            format: "IDX".into(),
            detail: format!("label {} at index {i} is not a digit 0..9", labs[i]),
        });
    }
    let ex = Examples {
        images: bytes_to_unit(pixels),
        labels: labs.to_vec(),
        shape: vec![1, idims[1], idims[2]],
    };
    Ok((ex, vec![ip, lp], v1 && v2))
}

/// Reads the full training and test files from `dir`; the flag says whether all four files
/// matched the official checksums.
pub fn read(dir: &Path) -> Result<(Examples, Examples, Vec<PathBuf>, bool), DataError> {
    let (train, test) = rayon::join(
        || read_pair(dir, FILES[0], FILES[1]),
        || read_pair(dir, FILES[2], FILES[3]),
    );
    let (train, mut sources, v1) = train?;
    let (test, s2, v2) = test?;
    sources.extend(s2);
    Ok((train, test, sources, v1 && v2))
}
