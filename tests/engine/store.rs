//! The history store on a real SQLite file: rows round-trip into the series the dashboard
//! draws, old schemas are upgraded in place, newer ones refused, old rows thinned and pruned,
//! and a writer that cannot keep up drops and counts rows instead of blocking.

use redline::history::store::{
    self, FlightRow, MIGRATIONS, RequestRow, Row, Store, ThrottleRow, UsageRow, maintain,
    open_for_writing, schema_version,
};
use redline::history::{Range, query};
use rusqlite::Connection;
use std::path::Path;

const HOUR: i64 = 3600 * 1000;
const DAY: i64 = 24 * HOUR;

fn usage(at_ms: i64, window: &str, ratio: f64) -> Row {
    Row::Usage(UsageRow {
        at_ms,
        account: "kimi-main".into(),
        window: window.into(),
        used: Some(ratio * 100.0),
        limit: Some(100.0),
        used_ratio: Some(ratio),
        resets_at_ms: Some(at_ms + 5 * HOUR),
    })
}

fn request(at_ms: i64, status: u16) -> Row {
    Row::Request(RequestRow {
        at_ms,
        account: "kimi-main".into(),
        client: "Claude Code".into(),
        status,
        latency_ms: 812.5,
        first_byte_ms: Some(120.0),
        input_tokens: Some(40),
        output_tokens: Some(300),
        queue_wait_ms: Some(15.0),
    })
}

fn throttle(at_ms: i64, cause: &str) -> Row {
    Row::Throttle(ThrottleRow {
        at_ms,
        account: "kimi-main".into(),
        client: "Kimi CLI".into(),
        cause: cause.into(),
        status: 429,
        retry_after_s: Some(2.0),
    })
}

fn flight(at_ms: i64, in_flight: u64) -> Row {
    Row::Flight(FlightRow {
        at_ms,
        account: "kimi-main".into(),
        in_flight,
        peak: in_flight,
    })
}

fn count(connection: &Connection, table: &str) -> i64 {
    connection
        .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

fn user_version(path: &Path) -> i64 {
    Connection::open(path)
        .unwrap()
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap()
}

#[test]
fn rows_round_trip_into_the_history_series() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.sqlite3");
    let store = Store::open(&path, 30).unwrap();
    let now = store::now_ms();
    // Five-minute buckets for a day: put everything well inside one bucket each.
    let base = now / (5 * 60 * 1000) * (5 * 60 * 1000) - HOUR;
    store.record(usage(base, "five_hour", 0.25));
    store.record(usage(base + 60_000, "five_hour", 0.5));
    store.record(usage(base, "weekly:opus", 0.1));
    store.record(request(base + 1000, 200));
    store.record(request(base + 2000, 200));
    store.record(request(base + 3000, 429));
    store.record(throttle(base + 3000, "concurrency"));
    store.record(throttle(base + 4000, "concurrency"));
    store.record(throttle(base + 5000, "rpm"));
    store.record(flight(base + 30_000, 7));
    store.record(flight(base + 40_000, 3));
    store.sync();
    let stats = store.stats();
    assert_eq!(stats.committed_rows, 11);
    assert_eq!(stats.dropped_rows, 0);
    assert_eq!(stats.last_request_id, 3);

    let history = query(
        &store.reader().unwrap(),
        "kimi-main",
        Range::Day,
        now,
        stats,
    )
    .unwrap();
    assert_eq!(history.bucket_s, 300);
    assert_eq!(history.requests.len(), 288, "every bucket of the day");
    let windows: Vec<&str> = history.windows.iter().map(|w| w.window.as_str()).collect();
    assert_eq!(windows, ["five_hour", "weekly:opus"]);
    let five_hour = &history.windows[0].points;
    assert_eq!(five_hour.len(), 2);
    assert_eq!(five_hour[1].used_ratio, Some(0.5));
    assert_eq!(five_hour[1].limit, Some(100.0));
    assert_eq!(
        five_hour[0].resets_at.unwrap().as_millisecond(),
        base + 5 * HOUR
    );

    let busy: Vec<_> = history.requests.iter().filter(|b| b.requests > 0).collect();
    assert_eq!(busy.len(), 1);
    assert_eq!((busy[0].requests, busy[0].errors), (3, 1));
    assert_eq!(busy[0].in_flight_max, Some(7));
    assert_eq!(busy[0].at.as_millisecond(), base);

    assert_eq!(history.throttles.len(), 1);
    assert_eq!(history.throttles[0].total, 3);
    assert_eq!(history.throttles[0].by_cause["concurrency"], 2);
    assert_eq!(history.throttles[0].by_cause["rpm"], 1);

    let other = query(&store.reader().unwrap(), "other", Range::Week, now, stats).unwrap();
    assert!(other.windows.is_empty() && other.throttles.is_empty());
    assert_eq!(other.requests.len(), 168);
    assert!(other.requests.iter().all(|b| b.requests == 0));

    store.close();
    store.record(request(now, 200));
    assert_eq!(
        store.stats().dropped_rows,
        1,
        "a closed store drops and counts"
    );
    let connection = Connection::open(&path).unwrap();
    assert_eq!(count(&connection, "requests"), 3);
    let tokens: (i64, i64) = connection
        .query_row(
            "SELECT input_tokens, output_tokens FROM requests WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(tokens, (40, 300));
    let mode: String = connection
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn an_older_schema_is_upgraded_in_place_and_keeps_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.sqlite3");
    {
        // A database as the first released schema left it.
        let connection = Connection::open(&path).unwrap();
        connection.execute_batch(MIGRATIONS[0]).unwrap();
        connection.pragma_update(None, "user_version", 1).unwrap();
        connection
            .execute(
                "INSERT INTO requests (at_ms, account, client, status, latency_ms) VALUES (?1, 'kimi-main', 'curl', 200, 50.0)",
                [store::now_ms() - HOUR],
            )
            .unwrap();
    }
    assert!(schema_version() > 1);
    let store = Store::open(&path, 30).unwrap();
    store.record(request(store::now_ms(), 201));
    store.record(flight(store::now_ms(), 2));
    store.sync();
    store.close();
    assert_eq!(user_version(&path), schema_version());
    let connection = Connection::open(&path).unwrap();
    let rows: Vec<(u16, Option<i64>)> = connection
        .prepare("SELECT status, output_tokens FROM requests ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rows, [(200, None), (201, Some(300))]);
    assert_eq!(count(&connection, "flight"), 1);
}

#[test]
fn a_newer_schema_is_refused_with_a_way_out() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.sqlite3");
    Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    let err = Store::open(&path, 30).err().unwrap().to_string();
    assert!(err.contains("newer Redline"), "{err}");
    assert!(err.contains("move the file away"), "{err}");
    assert_eq!(user_version(&path), 99, "the file is left alone");

    let not_sqlite = dir.path().join("garbage.sqlite3");
    std::fs::write(
        &not_sqlite,
        "this is not a database, just text ".repeat(200),
    )
    .unwrap();
    let err = Store::open(&not_sqlite, 30).err().unwrap().to_string();
    assert!(err.contains("cannot be used"), "{err}");
}

#[test]
fn old_rows_are_thinned_to_one_per_hour_then_pruned() {
    let dir = tempfile::tempdir().unwrap();
    let connection = open_for_writing(&dir.path().join("h.sqlite3")).unwrap();
    let now = 1_800_000_000_000_i64 / HOUR * HOUR;
    let insert_usage = |at: i64, ratio: f64| {
        connection
            .execute(
                "INSERT INTO usage (at_ms, account, window, used_ratio) VALUES (?1, 'a', 'five_hour', ?2)",
                rusqlite::params![at, ratio],
            )
            .unwrap();
    };
    let insert_flight = |at: i64, peak: i64| {
        connection
            .execute(
                "INSERT INTO flight (at_ms, account, in_flight, peak) VALUES (?1, 'a', ?2, ?2)",
                rusqlite::params![at, peak],
            )
            .unwrap();
    };
    // Two days old: one hour sampled every minute, peaking at 0.7 / 9.
    let old_hour = now - 2 * DAY;
    for minute in 0..60 {
        let ratio = if minute == 17 { 0.7 } else { 0.5 };
        insert_usage(old_hour + minute * 60_000, ratio);
        insert_flight(old_hour + minute * 60_000, if minute == 40 { 9 } else { 2 });
    }
    // A scoped window in the same old hour is thinned on its own.
    connection
        .execute(
            "INSERT INTO usage (at_ms, account, window, used_ratio) VALUES (?1, 'a', 'weekly:opus', 0.2)",
            [old_hour + 5 * 60_000],
        )
        .unwrap();
    // Recent: the last hour at full resolution.
    for minute in 0..60 {
        insert_usage(now - HOUR + minute * 60_000, 0.6);
    }
    // Beyond a 30-day retention.
    insert_usage(now - 31 * DAY, 0.9);
    insert_flight(now - 31 * DAY, 1);
    for table in ["requests", "throttles"] {
        let columns = if table == "requests" {
            "(at_ms, account, client, status, latency_ms) VALUES (?1, 'a', 'c', 200, 1.0)"
        } else {
            "(at_ms, account, client, cause, status) VALUES (?1, 'a', 'c', 'rpm', 429)"
        };
        for at in [now - 31 * DAY, now - 29 * DAY, now - 1000] {
            connection
                .execute(&format!("INSERT INTO {table} {columns}"), [at])
                .unwrap();
        }
    }

    maintain(&connection, now, 30 * DAY).unwrap();

    let old: Vec<(String, f64)> = connection
        .prepare("SELECT window, used_ratio FROM usage WHERE at_ms < ?1 ORDER BY window")
        .unwrap()
        .query_map([now - DAY], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        old,
        [
            ("five_hour".to_owned(), 0.7),
            ("weekly:opus".to_owned(), 0.2)
        ],
        "one row per window and hour, the highest"
    );
    let recent: i64 = connection
        .query_row(
            "SELECT COUNT(*) FROM usage WHERE at_ms >= ?1",
            [now - DAY],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(recent, 60, "the last day keeps full resolution");
    let peaks: Vec<i64> = connection
        .prepare("SELECT peak FROM flight")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(peaks, [9]);
    assert_eq!(
        count(&connection, "requests"),
        2,
        "only the 31-day-old row goes"
    );
    assert_eq!(count(&connection, "throttles"), 2);

    // Running it again changes nothing.
    maintain(&connection, now, 30 * DAY).unwrap();
    assert_eq!(count(&connection, "usage"), 62);
}

#[test]
fn opening_prunes_beyond_the_retention_setting() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.sqlite3");
    let store = Store::open(&path, 30).unwrap();
    let now = store::now_ms();
    store.record(request(now - 10 * DAY, 200));
    store.record(request(now - HOUR, 200));
    store.sync();
    store.close();
    // The user lowers history.retention_days to 7: the next start drops the 10-day-old row.
    Store::open(&path, 7).unwrap().close();
    let connection = Connection::open(&path).unwrap();
    assert_eq!(count(&connection, "requests"), 1);
}

#[test]
fn a_writer_that_cannot_keep_up_drops_and_counts_rows_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.sqlite3");
    let store = Store::open(&path, 30).unwrap();
    // Another connection holds the write lock, so the writer stalls on its first commit.
    let blocker = Connection::open(&path).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let sent = store::CHANNEL_CAPACITY + 4000;
    let now = store::now_ms();
    for i in 0..sent {
        store.record(request(now + i as i64, 200));
    }
    let dropped = store.stats().dropped_rows;
    // The queue holds CHANNEL_CAPACITY, the stalled writer at most one batch more.
    assert!(
        dropped as usize >= sent - store::CHANNEL_CAPACITY - 1024,
        "dropped {dropped} of {sent}"
    );
    blocker.execute_batch("COMMIT").unwrap();
    store.sync();
    let stats = store.stats();
    assert_eq!(
        stats.committed_rows + stats.dropped_rows,
        sent as u64,
        "every row is either committed or counted as dropped: {stats:?}"
    );
    store.close();
    let connection = Connection::open(&path).unwrap();
    assert_eq!(count(&connection, "requests") as u64, stats.committed_rows);
}
