//! The history database (`history.sqlite3` in the data directory): usage of each window over
//! time, in-flight samples, throttle events and one row per proxied request (time, account,
//! client, status, latency, tokens: never a body, a header or a key).
//!
//! Writes never block the proxy: [`Store::record`] puts a row on a bounded channel and returns.
//! One writer thread owns the connection; once a row arrives it lets more gather for 100 ms
//! (less when [`Store::sync`] asks), then commits them all in one transaction (or a few).
//! When the channel is full (the disk cannot keep up) the row is dropped and counted
//! ([`StoreStats::dropped_rows`]), so a slow disk costs history, never a request.
//!
//! WAL mode with `synchronous = NORMAL`: a committed transaction survives the process being
//! killed (it is in the WAL once `COMMIT` returns); only an OS crash or power cut may lose the
//! last transactions, never corrupt the file.
//!
//! As rows age they are thinned: usage and in-flight samples keep full resolution for a day,
//! then one row per hour (the highest). Everything older than the retention is deleted.

use crate::error::Error;
use rusqlite::{Connection, OpenFlags, Transaction, params};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

pub const FILE_NAME: &str = "history.sqlite3";

/// Rows waiting for the writer; beyond this they are dropped and counted.
pub const CHANNEL_CAPACITY: usize = 8192;
/// Most rows in one transaction.
const BATCH_MAX: usize = 1024;
/// How long the writer lets rows gather after the first one arrives, so that under load a
/// transaction carries many rows. While it waits it is not parked on the channel, so the
/// proxy's `try_send` wakes no thread: measured (benches/README.md), a transaction and a
/// thread wake-up per proxied request cost about a fifth of the daemon's CPU at 32 clients.
const GATHER: Duration = Duration::from_millis(100);
/// How often old rows are thinned and pruned while running.
const MAINTENANCE_EVERY: Duration = Duration::from_secs(3600);
/// Usage and in-flight samples younger than this keep full resolution.
pub const FULL_RESOLUTION_MS: i64 = 24 * 3600 * 1000;
const HOUR_MS: i64 = 3600 * 1000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// The schema, one step per version; `PRAGMA user_version` says how many have been applied.
/// Never edit a step that has shipped: add one.
pub const MIGRATIONS: &[&str] = &[
    // 1: usage windows, throttles, requests.
    "CREATE TABLE usage (
        id INTEGER PRIMARY KEY,
        at_ms INTEGER NOT NULL,
        account TEXT NOT NULL,
        window TEXT NOT NULL,
        used REAL,
        window_limit REAL,
        used_ratio REAL,
        resets_at_ms INTEGER
    );
    CREATE INDEX usage_by_account ON usage (account, at_ms);
    CREATE TABLE throttles (
        id INTEGER PRIMARY KEY,
        at_ms INTEGER NOT NULL,
        account TEXT NOT NULL,
        client TEXT NOT NULL,
        cause TEXT NOT NULL,
        status INTEGER NOT NULL,
        retry_after_s REAL
    );
    CREATE INDEX throttles_by_account ON throttles (account, at_ms);
    CREATE TABLE requests (
        id INTEGER PRIMARY KEY,
        at_ms INTEGER NOT NULL,
        account TEXT NOT NULL,
        client TEXT NOT NULL,
        status INTEGER NOT NULL,
        latency_ms REAL NOT NULL,
        first_byte_ms REAL
    );
    CREATE INDEX requests_by_account ON requests (account, at_ms);",
    // 2: tokens per request, and in-flight samples.
    "ALTER TABLE requests ADD COLUMN input_tokens INTEGER;
    ALTER TABLE requests ADD COLUMN output_tokens INTEGER;
    CREATE TABLE flight (
        id INTEGER PRIMARY KEY,
        at_ms INTEGER NOT NULL,
        account TEXT NOT NULL,
        in_flight INTEGER NOT NULL,
        peak INTEGER NOT NULL
    );
    CREATE INDEX flight_by_account ON flight (account, at_ms);",
    // 3: the time each request waited in Redline's queue (latency includes it from now on).
    "ALTER TABLE requests ADD COLUMN queue_wait_ms REAL;",
];

/// The schema version this build writes.
pub fn schema_version() -> i64 {
    MIGRATIONS.len() as i64
}

/// One window's usage at one moment. `window` is the kind, with `:scope` when there is one
/// (`five_hour`, `weekly:opus`).
#[derive(Clone, Debug, PartialEq)]
pub struct UsageRow {
    pub at_ms: i64,
    pub account: String,
    pub window: String,
    pub used: Option<f64>,
    pub limit: Option<f64>,
    pub used_ratio: Option<f64>,
    pub resets_at_ms: Option<i64>,
}

/// Requests in flight at one moment, and the peak of the 5 minutes before it.
#[derive(Clone, Debug, PartialEq)]
pub struct FlightRow {
    pub at_ms: i64,
    pub account: String,
    pub in_flight: u64,
    pub peak: u64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ThrottleRow {
    pub at_ms: i64,
    pub account: String,
    pub client: String,
    /// The cause as the status JSON names it: `concurrency`, `rpm`, ...
    pub cause: String,
    pub status: u16,
    pub retry_after_s: Option<f64>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RequestRow {
    /// When the request finished.
    pub at_ms: i64,
    pub account: String,
    pub client: String,
    pub status: u16,
    /// From its arrival at Redline to its end, queue wait included (rows written before schema
    /// 3 counted from leaving the queue).
    pub latency_ms: f64,
    /// From sending it on to the first byte of the answer.
    pub first_byte_ms: Option<f64>,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    /// Time spent in Redline's queue (`None` in rows written before schema 3).
    pub queue_wait_ms: Option<f64>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Row {
    Usage(UsageRow),
    Flight(FlightRow),
    Throttle(ThrottleRow),
    Request(RequestRow),
}

enum Message {
    Row(Row),
    /// Answered once everything sent before it is committed.
    Sync(mpsc::Sender<()>),
}

/// What the writer has done, for the API, the metrics and the durability test.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct StoreStats {
    /// Rows committed since the daemon started.
    pub committed_rows: u64,
    /// The id of the newest committed request row (0 before the first): every request row up
    /// to it is on disk.
    pub last_request_id: i64,
    /// Rows dropped because the writer could not keep up, or could not write.
    pub dropped_rows: u64,
    /// Transactions that failed (disk full, file removed); their rows count as dropped.
    pub write_errors: u64,
}

#[derive(Default)]
struct Counters {
    committed_rows: AtomicU64,
    last_request_id: AtomicI64,
    dropped_rows: AtomicU64,
    write_errors: AtomicU64,
}

/// The history store. Cheap to clone; every clone feeds the same writer.
#[derive(Clone)]
pub struct Store {
    shared: Arc<Shared>,
}

struct Shared {
    path: PathBuf,
    sender: Mutex<Option<SyncSender<Message>>>,
    counters: Arc<Counters>,
    writer: Mutex<Option<JoinHandle<()>>>,
    /// The writer's thread, woken early from its gathering by `sync` and `close`.
    writer_thread: std::thread::Thread,
}

impl Store {
    /// Opens (creating or migrating) the database at `path`, prunes what is older than
    /// `retention_days`, and starts the writer thread.
    pub fn open(path: &Path, retention_days: u64) -> Result<Store, Error> {
        let connection = open_for_writing(path)?;
        let retention_ms = i64::try_from(retention_days)
            .unwrap_or(i64::MAX / DAY_MS)
            .saturating_mul(DAY_MS);
        maintain(&connection, now_ms(), retention_ms).map_err(|e| problem(path, &e))?;
        let (sender, receiver) = mpsc::sync_channel(CHANNEL_CAPACITY);
        let counters = Arc::new(Counters::default());
        let writer = Writer {
            connection,
            counters: counters.clone(),
            retention_ms,
        };
        let thread = std::thread::Builder::new()
            .name("redline-history".into())
            .spawn(move || writer.run(receiver))
            .map_err(|e| Error::Environment(format!("cannot start the history writer: {e}")))?;
        Ok(Store {
            shared: Arc::new(Shared {
                path: path.to_path_buf(),
                sender: Mutex::new(Some(sender)),
                counters,
                writer_thread: thread.thread().clone(),
                writer: Mutex::new(Some(thread)),
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// Queues a row; never blocks. A full queue or a closed store drops the row and counts it.
    pub fn record(&self, row: Row) {
        let sender = self.sender();
        let sent = match &sender {
            Some(sender) => match sender.try_send(Message::Row(row)) {
                Ok(()) => true,
                Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => false,
            },
            None => false,
        };
        if !sent {
            self.shared
                .counters
                .dropped_rows
                .fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Waits until every row recorded before this call is committed (or dropped). Blocks:
    /// for shutdown, the API and tests, never the proxy.
    pub fn sync(&self) {
        let Some(sender) = self.sender() else { return };
        let (done, wait) = mpsc::channel();
        if sender.send(Message::Sync(done)).is_ok() {
            self.shared.writer_thread.unpark();
            let _ = wait.recv();
        }
    }

    pub fn stats(&self) -> StoreStats {
        let c = &self.shared.counters;
        StoreStats {
            committed_rows: c.committed_rows.load(Ordering::Acquire),
            last_request_id: c.last_request_id.load(Ordering::Acquire),
            dropped_rows: c.dropped_rows.load(Ordering::Relaxed),
            write_errors: c.write_errors.load(Ordering::Relaxed),
        }
    }

    /// Commits what is queued and closes the database. Later rows are dropped and counted.
    pub fn close(&self) {
        // Dropping the last sender ends the writer once it has drained the queue.
        drop(
            self.shared
                .sender
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        self.shared.writer_thread.unpark();
        let writer = self
            .shared
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(writer) = writer {
            let _ = writer.join();
        }
    }

    /// A read-only connection for queries; WAL lets it read while the writer writes.
    pub fn reader(&self) -> Result<Connection, Error> {
        let path = &self.shared.path;
        let connection = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| problem(path, &e))?;
        connection
            .busy_timeout(Duration::from_secs(5))
            .map_err(|e| problem(path, &e))?;
        Ok(connection)
    }

    fn sender(&self) -> Option<SyncSender<Message>> {
        self.shared
            .sender
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

fn problem(path: &Path, error: &rusqlite::Error) -> Error {
    Error::Environment(format!(
        "the history database {} cannot be used: {error}. Move the file away to start a new history",
        path.display()
    ))
}

/// Opens the file in WAL mode and brings its schema up to date.
pub fn open_for_writing(path: &Path) -> Result<Connection, Error> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::Environment(format!("cannot create {}: {e}", dir.display())))?;
    }
    let mut connection = Connection::open(path).map_err(|e| problem(path, &e))?;
    let setup = || -> rusqlite::Result<()> {
        connection.busy_timeout(Duration::from_secs(5))?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", "NORMAL")?;
        Ok(())
    };
    setup().map_err(|e| problem(path, &e))?;
    migrate(&mut connection).map_err(|message| {
        Error::Environment(format!(
            "the history database {} cannot be used: {message}",
            path.display()
        ))
    })?;
    Ok(connection)
}

/// Applies the missing schema steps in one transaction each. A database from a newer Redline
/// is refused rather than guessed at.
pub fn migrate(connection: &mut Connection) -> Result<(), String> {
    let version: i64 = connection
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(|e| e.to_string())?;
    if version > schema_version() {
        return Err(format!(
            "it was written by a newer Redline (schema {version}, this one knows up to {}). \
             Upgrade Redline, or move the file away to start a new history",
            schema_version()
        ));
    }
    for (index, step) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let next = index as i64 + 1;
        let tx = connection.transaction().map_err(|e| e.to_string())?;
        tx.execute_batch(step)
            .and_then(|()| tx.pragma_update(None, "user_version", next))
            .and_then(|()| tx.commit())
            .map_err(|e| format!("upgrading it to schema {next} failed: {e}"))?;
    }
    Ok(())
}

/// Deletes what is older than the retention and thins usage and in-flight samples older than
/// a day to the highest row per hour.
pub fn maintain(connection: &Connection, now_ms: i64, retention_ms: i64) -> rusqlite::Result<()> {
    let oldest = now_ms.saturating_sub(retention_ms);
    let thin_before = now_ms - FULL_RESOLUTION_MS;
    for table in ["usage", "flight", "throttles", "requests"] {
        connection.execute(&format!("DELETE FROM {table} WHERE at_ms < ?1"), [oldest])?;
    }
    connection.execute(
        "DELETE FROM usage WHERE at_ms < ?1 AND id NOT IN (
            SELECT id FROM (
                SELECT id, ROW_NUMBER() OVER (
                    PARTITION BY account, window, at_ms / ?2
                    ORDER BY used_ratio DESC, at_ms DESC
                ) AS n FROM usage WHERE at_ms < ?1
            ) WHERE n = 1)",
        params![thin_before, HOUR_MS],
    )?;
    connection.execute(
        "DELETE FROM flight WHERE at_ms < ?1 AND id NOT IN (
            SELECT id FROM (
                SELECT id, ROW_NUMBER() OVER (
                    PARTITION BY account, at_ms / ?2
                    ORDER BY peak DESC, in_flight DESC, at_ms DESC
                ) AS n FROM flight WHERE at_ms < ?1
            ) WHERE n = 1)",
        params![thin_before, HOUR_MS],
    )?;
    Ok(())
}

pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

struct Writer {
    connection: Connection,
    counters: Arc<Counters>,
    retention_ms: i64,
}

impl Writer {
    fn run(mut self, receiver: Receiver<Message>) {
        let mut next_maintenance = std::time::Instant::now() + MAINTENANCE_EVERY;
        loop {
            let wait = next_maintenance.saturating_duration_since(std::time::Instant::now());
            let first = match receiver.recv_timeout(wait) {
                Ok(message) => message,
                Err(RecvTimeoutError::Timeout) => {
                    if let Err(e) = maintain(&self.connection, now_ms(), self.retention_ms) {
                        eprintln!("redline: pruning the history failed: {e}");
                    }
                    next_maintenance = std::time::Instant::now() + MAINTENANCE_EVERY;
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            };
            if matches!(first, Message::Row(_)) {
                // Woken early by `sync` or `close` (or spuriously: then the batch is smaller).
                std::thread::park_timeout(GATHER);
            }
            // Everything that gathered, in transactions of at most BATCH_MAX rows.
            let mut next = Some(first);
            while next.is_some() {
                let mut rows = Vec::new();
                let mut waiting = Vec::new();
                while let Some(message) = next {
                    match message {
                        Message::Row(row) => rows.push(row),
                        Message::Sync(done) => waiting.push(done),
                    }
                    next = receiver.try_recv().ok();
                    if rows.len() >= BATCH_MAX {
                        break;
                    }
                }
                self.commit(&rows);
                for done in waiting {
                    let _ = done.send(());
                }
            }
        }
        // Every sender is gone: the queue is drained. Fold the WAL back into the file.
        let _ = self
            .connection
            .pragma_update(None, "wal_checkpoint", "TRUNCATE");
    }

    fn commit(&mut self, rows: &[Row]) {
        if rows.is_empty() {
            return;
        }
        let written = self.connection.transaction().and_then(|tx| {
            let last_request = insert_all(&tx, rows)?;
            tx.commit()?;
            Ok(last_request)
        });
        let c = &self.counters;
        match written {
            Ok(last_request) => {
                if let Some(id) = last_request {
                    c.last_request_id.store(id, Ordering::Release);
                }
                c.committed_rows
                    .fetch_add(rows.len() as u64, Ordering::Release);
            }
            Err(e) => {
                if c.write_errors.fetch_add(1, Ordering::Relaxed) == 0 {
                    eprintln!("redline: writing the history failed: {e} (history is being lost)");
                }
                c.dropped_rows
                    .fetch_add(rows.len() as u64, Ordering::Relaxed);
            }
        }
    }
}

/// SQLite integers are signed.
fn int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Inserts every row; returns the id of the last request row.
fn insert_all(tx: &Transaction<'_>, rows: &[Row]) -> rusqlite::Result<Option<i64>> {
    let mut last_request = None;
    for row in rows {
        match row {
            Row::Usage(r) => {
                tx.prepare_cached(
                    "INSERT INTO usage (at_ms, account, window, used, window_limit, used_ratio, resets_at_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )?
                .execute(params![
                    r.at_ms,
                    r.account,
                    r.window,
                    r.used,
                    r.limit,
                    r.used_ratio,
                    r.resets_at_ms
                ])?;
            }
            Row::Flight(r) => {
                tx.prepare_cached(
                    "INSERT INTO flight (at_ms, account, in_flight, peak) VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![
                    r.at_ms,
                    r.account,
                    int(r.in_flight),
                    int(r.peak)
                ])?;
            }
            Row::Throttle(r) => {
                tx.prepare_cached(
                    "INSERT INTO throttles (at_ms, account, client, cause, status, retry_after_s)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?
                .execute(params![
                    r.at_ms,
                    r.account,
                    r.client,
                    r.cause,
                    r.status,
                    r.retry_after_s
                ])?;
            }
            Row::Request(r) => {
                tx.prepare_cached(
                    "INSERT INTO requests (at_ms, account, client, status, latency_ms, first_byte_ms, input_tokens, output_tokens, queue_wait_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )?
                .execute(params![
                    r.at_ms,
                    r.account,
                    r.client,
                    r.status,
                    r.latency_ms,
                    r.first_byte_ms,
                    r.input_tokens.map(int),
                    r.output_tokens.map(int),
                    r.queue_wait_ms
                ])?;
                last_request = Some(tx.last_insert_rowid());
            }
        }
    }
    Ok(last_request)
}
