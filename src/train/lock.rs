//! One writer per run folder: `run.lock` holds the writer's pid, host and start time. A
//! second process gets an error naming the holder; a lock whose process is dead (same
//! host) is taken over with a warning.

use std::io::Write;
use std::path::{Path, PathBuf};

use miette::{miette, Result};
use serde::{Deserialize, Serialize};

use super::run_dir;

/// Who holds a run's lock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Holder {
    pub pid: u32,
    pub host: String,
    pub started: String,
}

/// A held lock; dropping it removes the file.
#[derive(Debug)]
pub struct RunLock {
    path: PathBuf,
}

pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates on success.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "unknown".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// Whether process `pid` exists on this machine.
pub fn alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 only checks for the process's existence.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

impl RunLock {
    /// Takes `dir`'s lock or says who has it.
    pub fn acquire(dir: &Path) -> Result<RunLock> {
        let path = dir.join(run_dir::LOCK);
        let me = Holder {
            pid: std::process::id(),
            host: hostname(),
            started: run_dir::now_utc(),
        };
        for _ in 0..3 {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    let text = serde_json::to_string(&me).unwrap_or_default();
                    f.write_all(text.as_bytes())
                        .and_then(|_| f.sync_all())
                        .map_err(|e| miette!("cannot write {}: {e}", path.display()))?;
                    return Ok(RunLock { path });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let text = std::fs::read_to_string(&path).unwrap_or_default();
                    let Ok(h) = serde_json::from_str::<Holder>(&text) else {
                        // Being written this instant, or garbage: look again shortly.
                        std::thread::sleep(std::time::Duration::from_millis(200));
                        if std::fs::read_to_string(&path).ok().as_deref() == Some(&text) {
                            eprintln!(
                                "warning: {} is unreadable ({:?}); taking the run over",
                                path.display(),
                                text
                            );
                            let _ = std::fs::remove_file(&path);
                        }
                        continue;
                    };
                    if h.host == me.host && !alive(h.pid) {
                        eprintln!(
                            "warning: taking over the stale lock {} of process {} (started {}), which is gone",
                            path.display(),
                            h.pid,
                            h.started
                        );
                        let _ = std::fs::remove_file(&path);
                        continue;
                    }
                    return Err(miette!(
                        code = "archc::run_locked",
                        help = format!(
                            "wait for it to finish; if that process is gone, delete {}",
                            path.display()
                        ),
                        "{} is being written by process {} on {} since {}",
                        dir.display(),
                        h.pid,
                        h.host,
                        h.started
                    ));
                }
                Err(e) => return Err(miette!("cannot create {}: {e}", path.display())),
            }
        }
        Err(miette!(
            "cannot take the lock {}: it keeps changing",
            path.display()
        ))
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
