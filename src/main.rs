//! The `redline` command line.

mod cli;

use clap::Parser;
use std::process::ExitCode;

// One worker thread. `redline daemon` serves the proxy, and with a worker per core the tasks
// of one request (the client's connection, the upstream connection) land on different
// threads and hand each other every step: a futex wake and a context switch each time. The
// benchmark (benches/README.md) measured that as 2 to 5 times the CPU per request at
// concurrency 1 once a load had spread the connections over both threads, and no gain in
// throughput; one thread serves over 10,000 proxied requests a second, far beyond what LLM
// tools send. Blocking work (the keyring) still goes to tokio's blocking pool.
#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
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
