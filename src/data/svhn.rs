//! SVHN cropped digits: `train_32x32.mat`, `test_32x32.mat`, `extra_32x32.mat` (MATLAB v5).
//!
//! `X` is H×W×C×N uint8 (32×32×3×N), column-major as MATLAB stores it, so within one
//! example each colour plane is stored column by column; we transpose to row-major
//! `[C, H, W]`. `y` is N×1 (double, or any numeric type) with 1..10, 10 meaning the digit 0;
//! we map it to 0..9. Files are read as a stream of chunks, so `extra` (531131 images,
//! 1.6 GB of pixels) never has to be in memory at once.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::mat::{self, MatFile};
use super::source::{self, DataError};
use super::{bytes_to_unit, Examples};
use crate::ir::DatasetName;

pub const TRAIN: &str = "train_32x32.mat";
pub const TEST: &str = "test_32x32.mat";
pub const EXTRA: &str = "extra_32x32.mat";

pub fn has_files(dir: &Path) -> bool {
    dir.join(TRAIN).is_file() && dir.join(TEST).is_file()
}

/// A stream of example chunks read from one SVHN `.mat` file.
pub struct Chunks {
    path: PathBuf,
    reader: Box<dyn Read + Send>,
    labels: Vec<u8>,
    /// `[C, H, W]` of one example.
    shape: Vec<usize>,
    chunk: usize,
    next: usize,
    failed: bool,
    official: bool,
}

impl Chunks {
    /// Total number of examples in the file.
    pub fn total(&self) -> usize {
        self.labels.len()
    }
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }
    /// Whether the file matched an official file's size and md5.
    pub fn official(&self) -> bool {
        self.official
    }
}

/// MATLAB's column-major H×W×C example → row-major `[C, H, W]`.
fn transpose_example(src: &[u8], dst: &mut [u8], h: usize, w: usize, c: usize) {
    for k in 0..c {
        for j in 0..w {
            let col = &src[k * h * w + j * h..k * h * w + (j + 1) * h];
            for (i, &v) in col.iter().enumerate() {
                dst[k * h * w + i * w + j] = v;
            }
        }
    }
}

impl Iterator for Chunks {
    type Item = Result<Examples, DataError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.next >= self.labels.len() {
            return None;
        }
        let n = self.chunk.min(self.labels.len() - self.next);
        let (c, h, w) = (self.shape[0], self.shape[1], self.shape[2]);
        let size = c * h * w;
        let mut raw = vec![0u8; n * size];
        if let Err(e) = self.reader.read_exact(&mut raw) {
            self.failed = true;
            return Some(Err(DataError::Format {
                file: self.path.clone(),
                format: "MATLAB v5 .mat".into(),
                detail: format!(
                    "reading images {}..{} of X: {e} (truncated or corrupted file?)",
                    self.next,
                    self.next + n
                ),
            }));
        }
        let mut pixels = vec![0u8; n * size];
        use rayon::prelude::*;
        pixels
            .par_chunks_mut(size)
            .zip(raw.par_chunks(size))
            .for_each(|(d, s)| transpose_example(s, d, h, w, c));
        let labels = self.labels[self.next..self.next + n].to_vec();
        self.next += n;
        Some(Ok(Examples {
            images: bytes_to_unit(&pixels),
            labels,
            shape: self.shape.clone(),
        }))
    }
}

/// Opens an SVHN `.mat` file as a stream of chunks of at most `chunk` examples. A file of
/// an official file's exact size must have its official md5.
pub fn stream(path: &Path, chunk: usize) -> Result<Chunks, DataError> {
    let bad = |detail: String| DataError::Format {
        file: path.to_path_buf(),
        format: "SVHN .mat".into(),
        detail,
    };
    let official = verify_if_official(path)?;
    let m = MatFile::open(path)?;
    let x = m.var("X").ok_or_else(|| bad("no variable 'X'".into()))?;
    let y = m.var("y").ok_or_else(|| bad("no variable 'y'".into()))?;
    if x.class != mat::MX_UINT8 || x.data_type != mat::MI_UINT8 || x.complex {
        return Err(bad(format!(
            "'X' must be real uint8 (class {}, stored as type {}); found class {}, type {}",
            mat::MX_UINT8,
            mat::MI_UINT8,
            x.class,
            x.data_type
        )));
    }
    // MATLAB drops trailing singleton dimensions: a single image is H×W×C.
    let (h, w, c, n) = match x.dims[..] {
        [h, w, c, n] => (h, w, c, n),
        [h, w, c] => (h, w, c, 1),
        _ => {
            return Err(bad(format!(
                "'X' has dimensions {:?}, expected H×W×C×N",
                x.dims
            )))
        }
    };
    if y.numel() != n || y.dims.iter().filter(|&&d| d != 1).count() > 1 {
        return Err(bad(format!(
            "'y' has dimensions {:?} but 'X' holds {n} images (expected {n}×1)",
            y.dims
        )));
    }
    let ys = m.read_f64(y)?;
    let mut labels = Vec::with_capacity(n);
    for (i, &v) in ys.iter().enumerate() {
        if v.fract() != 0.0 || !(1.0..=10.0).contains(&v) {
            return Err(bad(format!(
                "y[{i}] = {v}, expected an integer label 1..10"
            )));
        }
        labels.push((v as u8) % 10); // 10 is the digit 0
    }
    let reader = m.open_data(x)?;
    Ok(Chunks {
        path: path.to_path_buf(),
        reader,
        labels,
        shape: vec![c, h, w],
        chunk: chunk.max(1),
        next: 0,
        failed: false,
        official,
    })
}

fn verify_if_official(path: &Path) -> Result<bool, DataError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let len = std::fs::metadata(path)
        .map_err(|e| source::io_err(path, e))?
        .len();
    let m = source::manifest(DatasetName::Svhn);
    if let Some(f) = m.files.iter().find(|f| f.name == name) {
        if len == f.size {
            source::verify_file(path, f.size, &f.md5)?;
            return Ok(true);
        }
    }
    Ok(false)
}

/// Reads a whole SVHN `.mat` file into memory.
pub fn read_file(path: &Path) -> Result<Examples, DataError> {
    read_file_checked(path).map(|(e, _)| e)
}

/// Like [`read_file`], also saying whether the file was the md5-verified official one.
pub fn read_file_checked(path: &Path) -> Result<(Examples, bool), DataError> {
    let chunks = stream(path, 16384)?;
    let official = chunks.official;
    let shape = chunks.shape.clone();
    let total = chunks.total();
    let mut out = Examples {
        images: Vec::with_capacity(total * shape.iter().product::<usize>()),
        labels: Vec::with_capacity(total),
        shape,
    };
    for c in chunks {
        let c = c?;
        out.images.extend_from_slice(&c.images);
        out.labels.extend_from_slice(&c.labels);
    }
    Ok((out, official))
}

/// Reads the training and test files from `dir`; the flag says whether both were the
/// md5-verified official files.
pub fn read(dir: &Path) -> Result<(Examples, Examples, Vec<PathBuf>, bool), DataError> {
    let (tp, sp) = (dir.join(TRAIN), dir.join(TEST));
    let (train, test) = rayon::join(|| read_file_checked(&tp), || read_file_checked(&sp));
    let ((train, o1), (test, o2)) = (train?, test?);
    Ok((train, test, vec![tp, sp], o1 && o2))
}

/// Streams `extra_32x32.mat` (item 2i) from the SVHN folder found like [`super::load`] does.
pub fn extra_chunks(data_dir: Option<&Path>, chunk: usize) -> miette::Result<Chunks> {
    let dir = super::locate(DatasetName::Svhn, data_dir)?;
    let p = dir.join(EXTRA);
    if !p.is_file() {
        let m = source::manifest(DatasetName::Svhn);
        let f = m
            .files
            .iter()
            .find(|f| f.name == EXTRA)
            .expect("manifest lists extra");
        return Err(miette::miette!(
            help = format!(
                "download {} ({} bytes, md5 {}) from {} into {}",
                f.name,
                f.size,
                f.md5,
                f.urls.join(" or "),
                dir.display()
            ),
            "{} not found",
            p.display()
        ));
    }
    Ok(stream(&p, chunk)?)
}
