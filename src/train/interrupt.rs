//! Ctrl-C (SIGINT): the first one asks the training loop to stop after the current batch,
//! dropping the unfinished epoch so the last checkpoint stays the commit point, and to say
//! how to resume; a second one kills the process at once (the default action).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigint(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
    // SAFETY: signal() is async-signal-safe; SIG_DFL is a valid disposition.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_DFL);
    }
}

/// Routes SIGINT to [`requested`] (done by `archc train`; the library leaves signals alone).
pub fn install() {
    // SAFETY: the handler only stores an atomic and restores the default disposition.
    unsafe {
        libc::signal(
            libc::SIGINT,
            on_sigint as extern "C" fn(libc::c_int) as libc::sighandler_t,
        );
    }
}

/// Whether a stop was asked for.
pub fn requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// Asks running training loops to stop as Ctrl-C does.
pub fn request() {
    STOP.store(true, Ordering::SeqCst);
}

/// Training stopped by Ctrl-C; `archc` exits with status 130 after printing it.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("interrupted: {} keeps its {epochs_done} finished epoch(s)", run.display())]
#[diagnostic(code(archc::interrupted), help("resume with: {resume}"))]
pub struct Interrupted {
    pub run: PathBuf,
    pub epochs_done: usize,
    /// The command that continues the run.
    pub resume: String,
}

/// `command` (argv) with `--resume` (and without `--force`), quoted for a POSIX shell.
pub fn resume_command(command: &[String]) -> String {
    let mut args: Vec<&str> = command
        .iter()
        .map(String::as_str)
        .filter(|a| *a != "--force")
        .collect();
    if args.is_empty() {
        args.push("archc train SPEC");
        args.push("--resume");
        return args.join(" ");
    }
    if !args.contains(&"--resume") {
        args.push("--resume");
    }
    args.iter()
        .map(|a| shell_quote(a))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `a` as one POSIX shell word.
pub fn shell_quote(a: &str) -> String {
    let plain = !a.is_empty()
        && a.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./=:,+@%".contains(c));
    if plain {
        a.to_string()
    } else {
        format!("'{}'", a.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resume_command_adds_resume_drops_force_and_quotes() {
        let argv: Vec<String> = [
            "archc", "train", "a b.arch", "--force", "--model", "m[d'=2]",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            resume_command(&argv),
            r#"archc train 'a b.arch' --model 'm[d'\''=2]' --resume"#
        );
    }
}
