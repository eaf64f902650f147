//! The history store (benches/README.md, `store`): what `Store::record` costs the proxy's
//! path, how many rows per second the writer commits, and how big a month of requests gets.
//! Run with `cargo bench --bench store`; writes nothing outside a temp dir.

use redline::history::store::{self, RequestRow, Row, Store, UsageRow};
use std::time::Instant;

/// Rows per measurement; under the channel's capacity so `record` never drops.
const BATCH: usize = store::CHANNEL_CAPACITY / 2;
const ROUNDS: usize = 40;

fn request(i: usize, now: i64) -> Row {
    Row::Request(RequestRow {
        at_ms: now + i as i64,
        account: "kimi-main".into(),
        client: "Claude Code".into(),
        status: 200,
        latency_ms: 812.5,
        first_byte_ms: Some(120.0),
        input_tokens: Some(4000),
        output_tokens: Some(300),
        queue_wait_ms: Some(0.0),
    })
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("history.sqlite3");
    let store = Store::open(&path, 30).expect("the store opens");
    let now = store::now_ms();

    // record(): the cost on the proxy's path, rows built beforehand.
    let mut record_ns = Vec::new();
    let mut commit_rows_per_s = Vec::new();
    for round in 0..ROUNDS {
        let rows: Vec<Row> = (0..BATCH)
            .map(|i| request(round * BATCH + i, now))
            .collect();
        let started = Instant::now();
        for row in rows {
            store.record(row);
        }
        let queued = started.elapsed();
        store.sync();
        let committed = started.elapsed();
        record_ns.push(queued.as_nanos() as f64 / BATCH as f64);
        commit_rows_per_s.push(BATCH as f64 / committed.as_secs_f64());
    }
    let stats = store.stats();
    assert_eq!(stats.dropped_rows, 0, "{stats:?}");
    store.close();
    let requests = (ROUNDS * BATCH) as f64;
    let bytes = std::fs::metadata(&path).expect("the file exists").len() as f64;

    // A month of usage samples for one account with three windows, one a minute, then thinned.
    let store = Store::open(&dir.path().join("usage.sqlite3"), 30).expect("the store opens");
    let minutes = 30 * 24 * 60;
    for minute in 0..minutes {
        for window in ["five_hour", "weekly", "monthly"] {
            store.record(Row::Usage(UsageRow {
                at_ms: now - (minutes - minute) as i64 * 60_000,
                account: "kimi-main".into(),
                window: window.into(),
                used: Some(42.0),
                limit: Some(100.0),
                used_ratio: Some(0.42),
                resets_at_ms: Some(now),
            }));
            if minute % 2048 == 0 {
                store.sync();
            }
        }
    }
    store.sync();
    store.close();
    let connection = store::open_for_writing(&dir.path().join("usage.sqlite3")).expect("reopens");
    let started = Instant::now();
    store::maintain(&connection, now, 30 * 24 * 3600 * 1000).expect("maintenance runs");
    let maintain_ms = started.elapsed().as_secs_f64() * 1000.0;
    let left: i64 = connection
        .query_row("SELECT COUNT(*) FROM usage", [], |r| r.get(0))
        .expect("counts");

    println!("| measure | result |");
    println!("| --- | --- |");
    println!(
        "| `Store::record`, per row (median of {ROUNDS} batches of {BATCH}) | {:.0} ns |",
        median(record_ns)
    );
    println!(
        "| rows committed per second (median batch, queue to COMMIT) | {:.0} |",
        median(commit_rows_per_s)
    );
    println!(
        "| file size per request row ({:.0} rows) | {:.0} bytes |",
        requests,
        bytes / requests
    );
    println!(
        "| 30 days of per-minute usage, 3 windows ({}) thinned to | {left} rows in {maintain_ms:.0} ms |",
        minutes * 3
    );
}
