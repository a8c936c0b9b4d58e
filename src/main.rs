use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // Die quietly on a closed pipe (`archc data info mnist | head`) like other Unix
    // tools, instead of panicking inside println!.
    // SAFETY: called before any other thread exists; SIG_DFL is a valid disposition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    match archc::cli::run(archc::cli::Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if let Some(i) = e.downcast_ref::<archc::train::interrupt::Interrupted>() {
                // Unwrapped, so the command can be copied whole.
                eprintln!("{i}\nresume with: {}", i.resume);
                // 128 + SIGINT, as shells report a process ended by Ctrl-C.
                return ExitCode::from(130);
            }
            eprintln!("Error: {e:?}");
            ExitCode::FAILURE
        }
    }
}
