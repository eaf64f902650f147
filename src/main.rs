//! The `redline` command line.

mod cli;

use clap::Parser;
use std::process::ExitCode;

// Multi-threaded: `redline daemon` serves the proxy, and one thread would cap its throughput.
#[tokio::main]
async fn main() -> ExitCode {
    let args = cli::Cli::parse();
    if !args.serves() {
        quiet_on_closed_pipe();
    }
    match cli::run(args).await {
        Ok(code) => code,
        Err(err) => {
            eprintln!("redline: error: {err}");
            ExitCode::FAILURE
        }
    }
}

/// A reader that goes away (`redline status --json | head`) ends the command quietly, as
/// with any Unix tool, rather than with a panic on the next write. Not for the daemon, whose
/// log may be a pipe that closes while it serves.
fn quiet_on_closed_pipe() {
    #[cfg(unix)]
    // SAFETY: at start-up, before any thread or handler exists; SIG_DFL is always valid.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
