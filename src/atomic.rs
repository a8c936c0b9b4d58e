//! Atomic file writes. Every result, checkpoint, figure and download is written to a
//! temporary file beside its destination and renamed over it only once complete, so a
//! reader — or a resumed run — never sees a partial file.

use std::io;
use std::path::{Path, PathBuf};

/// A fresh temporary path in `dest`'s folder (created if needed), hidden, tagged with the
/// process id, and keeping `dest`'s extension (plotters picks the image format from it).
pub fn temp_beside(dest: &Path) -> io::Result<PathBuf> {
    let dir = dest
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let ext = dest
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    Ok(dir.join(format!(".{name}.{}.tmp{ext}", std::process::id())))
}

/// Creates the output folder `dir` (and its parents) up front, so that a bad `--out`
/// fails before any work, with an error naming the path: the first ancestor that is a
/// file, or the folder that cannot be created or written.
pub fn prepare_dir(dir: &Path) -> miette::Result<()> {
    if let Some(file) = dir.ancestors().find(|a| a.is_file()) {
        return Err(miette::miette!(
            help = "give --out a folder path",
            "cannot use {} as output folder: {} is a file, not a folder",
            dir.display(),
            file.display()
        ));
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| miette::miette!("cannot create output folder {}: {e}", dir.display()))?;
    let probe = dir.join(format!(".archc-write-test.{}", std::process::id()));
    std::fs::write(&probe, b"")
        .map_err(|e| miette::miette!("cannot write into output folder {}: {e}", dir.display()))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// [`prepare_dir`] for the folder of an output file `path` (e.g. `--out grid.png`).
pub fn prepare_file_dir(path: &Path) -> miette::Result<()> {
    if path.is_dir() {
        return Err(miette::miette!(
            "cannot write {}: it is a folder; give a file name such as {}",
            path.display(),
            path.join("out.png").display()
        ));
    }
    match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(d) => prepare_dir(d),
        None => Ok(()),
    }
}

/// Moves a completely written `tmp` over `dest`; removes `tmp` if that fails.
pub fn commit(tmp: &Path, dest: &Path) -> io::Result<()> {
    std::fs::rename(tmp, dest).inspect_err(|_| {
        let _ = std::fs::remove_file(tmp);
    })
}

/// Writes `bytes` to `dest` atomically; errors name the destination.
pub fn write_bytes(dest: &Path, bytes: &[u8]) -> miette::Result<()> {
    let fail = |e: io::Error| miette::miette!("cannot write {}: {e}", dest.display());
    let tmp = temp_beside(dest).map_err(fail)?;
    if let Err(e) = std::fs::write(&tmp, bytes) {
        let _ = std::fs::remove_file(&tmp);
        return Err(fail(e));
    }
    commit(&tmp, dest).map_err(fail)
}

/// Writes `value` as pretty JSON (with a final newline) to `dest` atomically.
pub fn write_json<T: serde::Serialize + ?Sized>(dest: &Path, value: &T) -> miette::Result<()> {
    let mut text = serde_json::to_string_pretty(value)
        .map_err(|e| miette::miette!("cannot encode {}: {e}", dest.display()))?;
    text.push('\n');
    write_bytes(dest, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_whole_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("sub/metrics.json");
        write_bytes(&dest, b"first").unwrap();
        write_bytes(&dest, b"second").unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"second");
        let names: Vec<_> = std::fs::read_dir(dest.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("metrics.json")]);
    }

    #[test]
    fn temporary_keeps_the_extension() {
        let dir = tempfile::tempdir().unwrap();
        let tmp = temp_beside(&dir.path().join("curves.png")).unwrap();
        assert_eq!(tmp.extension().unwrap(), "png");
        assert_eq!(tmp.parent(), Some(dir.path()));
    }

    #[test]
    fn failed_write_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        // A directory where the file should go makes the rename fail.
        let dest = dir.path().join("taken");
        std::fs::create_dir_all(dest.join("inner")).unwrap();
        let err = write_bytes(&dest, b"x").unwrap_err().to_string();
        assert!(err.contains("taken"), "{err}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
