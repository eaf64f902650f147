//! The `redline` command line.

mod cli;

use clap::Parser;
use std::process::ExitCode;

// Multi-threaded: `redline daemon` serves the proxy, and one thread would cap its throughput.
#[tokio::main]
async fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args).await {
        Ok(code) => code,
        Err(err) => {
            eprintln!("redline: error: {err}");
            ExitCode::FAILURE
        }
    }
}
