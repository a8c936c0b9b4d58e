use clap::Parser;

fn main() -> miette::Result<()> {
    // Die quietly on a closed pipe (`archc data info mnist | head`) like other Unix
    // tools, instead of panicking inside println!.
    // SAFETY: called before any other thread exists; SIG_DFL is a valid disposition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    archc::cli::run(archc::cli::Cli::parse())
}
