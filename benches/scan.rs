//! What the daemon's background scans cost (benches/README.md, `scan`): one agent scan of the
//! whole process table, one footprint reading, and one key scan of the fixture tool configs
//! (files only; the keyring reads are not included). Medians of fixed counts; no load.

use redline::tools::agents::Scanner;
use redline::tools::key_scan;
use std::path::Path;
use std::time::{Duration, Instant};

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn measure(count: usize, mut work: impl FnMut()) -> (Duration, Duration) {
    work(); // warm-up: the first agent scan reads every process for the first time
    let samples: Vec<Duration> = (0..count)
        .map(|_| {
            let start = Instant::now();
            work();
            start.elapsed()
        })
        .collect();
    let max = *samples.iter().max().unwrap();
    (median(samples), max)
}

fn main() {
    // `cargo bench` passes --bench; nothing else is accepted.
    let mut scanner = Scanner::new();
    let mut processes = 0;
    let agents = measure(50, || processes = scanner.agents().len());
    let footprint = measure(200, || {
        scanner.footprint();
    });
    let home = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/key_scan/home");
    let no_env = |_: &str| None;
    let keys = measure(200, || {
        key_scan::scan(&home, &no_env);
    });
    let processes_on_machine = std::fs::read_dir("/proc")
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .bytes()
                        .all(|b| b.is_ascii_digit())
                })
                .count()
        })
        .unwrap_or(0);
    println!("| scan | runs | median | max |");
    println!("| --- | --- | --- | --- |");
    println!(
        "| agents ({processes_on_machine} processes, {processes} agents) | 50 | {:.2?} | {:.2?} |",
        agents.0, agents.1
    );
    println!(
        "| own footprint | 200 | {:.2?} | {:.2?} |",
        footprint.0, footprint.1
    );
    println!(
        "| key scan, 7 fixture files | 200 | {:.2?} | {:.2?} |",
        keys.0, keys.1
    );
}
