//! SVHN cropped digits (MATLAB v5 `.mat`).

use std::path::{Path, PathBuf};

use super::source::DataError;
use super::Examples;

pub fn has_files(dir: &Path) -> bool {
    dir.join("train_32x32.mat").is_file() && dir.join("test_32x32.mat").is_file()
}

pub fn read(dir: &Path) -> Result<(Examples, Examples, Vec<PathBuf>), DataError> {
    Err(DataError::Io {
        file: dir.to_path_buf(),
        detail: "SVHN reader not built yet".into(),
    })
}
