//! The `redline` command line.

mod cli;

use clap::{CommandFactory, FromArgMatches};
use std::process::ExitCode;

/// `redline --version`: the workspace's version and the commit it was built from (build.rs).
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("REDLINE_GIT_COMMIT"),
    ")"
);

// Multi-threaded: `redline daemon` serves the proxy, and one thread would cap its throughput.
#[tokio::main]
async fn main() -> ExitCode {
    let matches = cli::Cli::command().version(VERSION).get_matches();
    let args = cli::Cli::from_arg_matches(&matches)
        .unwrap_or_else(|err| err.format(&mut cli::Cli::command()).exit());
    match cli::run(args).await {
        Ok(code) => code,
        Err(err) => {
            eprintln!("redline: error: {err}");
            ExitCode::FAILURE
        }
    }
}
