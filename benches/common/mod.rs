//! Helpers the `proxy` and `shared` benchmarks both use (`mod common;` in each: a bench is
//! its own crate; a folder is not taken for a bench of its own, as `benches/common.rs` would be).

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// The daemon measured: `REDLINE_BENCH_BIN`, or the one cargo built with the bench's profile
/// (release settings).
pub fn redline_binary() -> PathBuf {
    match std::env::var_os("REDLINE_BENCH_BIN") {
        Some(path) => PathBuf::from(path),
        None => PathBuf::from(env!("CARGO_BIN_EXE_redline")),
    }
}

/// The `p` quantile (0–1) of sorted samples, by the nearest rank.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The 1, 5 and 15 minute load averages, as `/proc/loadavg` has them.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".into())
}

/// What a command prints (stdout, or stderr when stdout is empty), or "unknown".
pub fn command_line(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .map(|o| {
            let text = if o.stdout.is_empty() {
                o.stderr
            } else {
                o.stdout
            };
            String::from_utf8_lossy(&text).trim().to_owned()
        })
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "unknown".into())
}
