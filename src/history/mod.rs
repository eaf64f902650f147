//! History: this file is what goes in and what `/api/v1/history` answers; `store` is the
//! SQLite database underneath it.
//!
//! The history as the engine feeds and reads it. Fed: every finished request and refusal (the
//! store is a [`TrafficObserver`]) and, from the status, each window's usage and the requests in
//! flight. Read: what `GET /api/v1/history?account=ID&range=day|week` answers, the series the
//! dashboard's charts draw: usage of each window over time, throttles per hour by cause, and
//! requests and in-flight per bucket (5 minutes for a day, an hour for a week).

pub mod store;

use crate::history::store::{FlightRow, RequestRow, Row, Store, StoreStats, ThrottleRow, UsageRow};
use crate::keys::account_id::AccountId;
use crate::proxy::traffic::{FinishedRequest, TrafficObserver};
use crate::serve::metrics::window_key;
use crate::status::health::ThrottleEvent;
use crate::status::model::Status;
use jiff::Timestamp;
use rusqlite::{Connection, params};
use serde::Serialize;
use std::collections::BTreeMap;

impl TrafficObserver for Store {
    fn request_finished(&self, r: &FinishedRequest<'_>) {
        self.record(Row::Request(RequestRow {
            at_ms: crate::history::store::now_ms(),
            account: r.account.to_string(),
            client: r.client.to_owned(),
            status: r.status,
            latency_ms: r.latency.as_secs_f64() * 1000.0,
            first_byte_ms: r.first_byte.map(|d| d.as_secs_f64() * 1000.0),
            input_tokens: r.tokens.map(|t| t.input),
            output_tokens: r.tokens.map(|t| t.output),
        }));
    }

    fn throttled(&self, account: &AccountId, client: &str, event: &ThrottleEvent) {
        let cause = serde_json::to_value(event.cause)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_else(|| "other".to_owned());
        self.record(Row::Throttle(ThrottleRow {
            at_ms: event.at.as_millisecond(),
            account: account.to_string(),
            client: client.to_owned(),
            cause,
            status: event.status,
            retry_after_s: event.retry_after_s,
        }));
    }
}

/// What one sample of the status adds to the history: each window's usage and each account's
/// requests in flight.
pub fn status_rows(status: &Status, at: Timestamp) -> Vec<Row> {
    let at_ms = at.as_millisecond();
    let mut rows = Vec::new();
    for account in &status.accounts {
        for window in &account.windows {
            rows.push(Row::Usage(UsageRow {
                at_ms,
                account: account.id.clone(),
                window: window_key(window.kind, window.scope.as_deref()),
                used: window.used,
                limit: window.limit,
                used_ratio: window.used_ratio,
                resets_at_ms: window.resets_at.map(|t| t.as_millisecond()),
            }));
        }
        if let Some(in_flight) = account.concurrency.in_flight {
            rows.push(Row::Flight(FlightRow {
                at_ms,
                account: account.id.clone(),
                in_flight,
                peak: account.concurrency.peak.unwrap_or(in_flight),
            }));
        }
    }
    rows
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Range {
    Day,
    Week,
}

impl Range {
    pub fn parse(text: &str) -> Result<Range, String> {
        match text {
            "day" => Ok(Range::Day),
            "week" => Ok(Range::Week),
            other => Err(format!("range must be day or week, not {other:?}")),
        }
    }

    fn span_ms(self) -> i64 {
        match self {
            Range::Day => 24 * HOUR_MS,
            Range::Week => 7 * 24 * HOUR_MS,
        }
    }

    /// The width of one point of the request and in-flight series.
    fn bucket_ms(self) -> i64 {
        match self {
            Range::Day => 5 * 60 * 1000,
            Range::Week => HOUR_MS,
        }
    }
}

const HOUR_MS: i64 = 3600 * 1000;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct History {
    pub account: String,
    pub range: Range,
    pub from: Timestamp,
    pub to: Timestamp,
    pub bucket_s: i64,
    /// One series per quota or rate window the account reported.
    pub windows: Vec<WindowSeries>,
    /// Hours with at least one refusal.
    pub throttles: Vec<ThrottleHour>,
    /// Every bucket of the range, oldest first, zero when nothing happened.
    pub requests: Vec<RequestBucket>,
    pub store: StoreStats,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WindowSeries {
    /// `five_hour`, or `weekly:opus` for a scoped window.
    pub window: String,
    pub points: Vec<UsagePoint>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UsagePoint {
    pub at: Timestamp,
    pub used_ratio: Option<f64>,
    pub used: Option<f64>,
    pub limit: Option<f64>,
    pub resets_at: Option<Timestamp>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ThrottleHour {
    pub at: Timestamp,
    pub total: u64,
    pub by_cause: BTreeMap<String, u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RequestBucket {
    pub at: Timestamp,
    pub requests: u64,
    /// Answers with a status of 400 or more (499: the client went away).
    pub errors: u64,
    /// Highest in-flight level sampled in the bucket; `None` when nothing was sampled.
    pub in_flight_max: Option<u64>,
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn timestamp(ms: i64) -> Timestamp {
    Timestamp::from_millisecond(ms).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// The history of `account` over `range` up to now, with the store's counters. Blocking (one
/// SQLite read): call it off the async runtime. Shared by the HTTP route and the desktop app.
pub fn read(store: &Store, account: &str, range: Range) -> Result<History, crate::Error> {
    let stats = store.stats();
    let reader = store.reader()?;
    query(
        &reader,
        account,
        range,
        crate::history::store::now_ms(),
        stats,
    )
    .map_err(|e| crate::Error::Environment(format!("reading the history failed: {e}")))
}

/// The history of `account` over `range` ending at `now_ms`.
pub fn query(
    connection: &Connection,
    account: &str,
    range: Range,
    now_ms: i64,
    store: StoreStats,
) -> rusqlite::Result<History> {
    let bucket = range.bucket_ms();
    // Whole buckets, so every point covers the same span.
    let to = (now_ms / bucket + 1) * bucket;
    let from = to - range.span_ms();

    let mut windows: BTreeMap<String, Vec<UsagePoint>> = BTreeMap::new();
    let mut statement = connection.prepare_cached(
        "SELECT window, at_ms, used_ratio, used, window_limit, resets_at_ms FROM usage
         WHERE account = ?1 AND at_ms >= ?2 AND at_ms < ?3 ORDER BY at_ms",
    )?;
    let rows = statement.query_map(params![account, from, to], |row| {
        Ok((
            row.get::<_, String>(0)?,
            UsagePoint {
                at: timestamp(row.get(1)?),
                used_ratio: row.get(2)?,
                used: row.get(3)?,
                limit: row.get(4)?,
                resets_at: row.get::<_, Option<i64>>(5)?.map(timestamp),
            },
        ))
    })?;
    for row in rows {
        let (window, point) = row?;
        windows.entry(window).or_default().push(point);
    }

    let mut throttles: BTreeMap<i64, ThrottleHour> = BTreeMap::new();
    let mut statement = connection.prepare_cached(
        "SELECT at_ms / ?4 * ?4 AS hour, cause, COUNT(*) FROM throttles
         WHERE account = ?1 AND at_ms >= ?2 AND at_ms < ?3 GROUP BY hour, cause",
    )?;
    let rows = statement.query_map(params![account, from, to, HOUR_MS], |row| {
        Ok((
            row.get::<_, i64>(0)?,
            row.get::<_, String>(1)?,
            count(row.get(2)?),
        ))
    })?;
    for row in rows {
        let (hour, cause, count) = row?;
        let entry = throttles.entry(hour).or_insert_with(|| ThrottleHour {
            at: timestamp(hour),
            total: 0,
            by_cause: BTreeMap::new(),
        });
        entry.total += count;
        *entry.by_cause.entry(cause).or_default() += count;
    }

    let buckets = ((to - from) / bucket) as usize;
    let mut requests: Vec<RequestBucket> = (0..buckets)
        .map(|i| RequestBucket {
            at: timestamp(from + i as i64 * bucket),
            requests: 0,
            errors: 0,
            in_flight_max: None,
        })
        .collect();
    let index = |at_ms: i64| usize::try_from((at_ms - from) / bucket).ok();
    let mut statement = connection.prepare_cached(
        "SELECT at_ms / ?4 * ?4 AS slot, COUNT(*), SUM(status >= 400) FROM requests
         WHERE account = ?1 AND at_ms >= ?2 AND at_ms < ?3 GROUP BY slot",
    )?;
    let rows = statement.query_map(params![account, from, to, bucket], |row| {
        Ok((
            row.get::<_, i64>(0)?,
            count(row.get(1)?),
            count(row.get(2)?),
        ))
    })?;
    for row in rows {
        let (slot, total, errors) = row?;
        if let Some(b) = index(slot).and_then(|i| requests.get_mut(i)) {
            b.requests = total;
            b.errors = errors;
        }
    }
    let mut statement = connection.prepare_cached(
        "SELECT at_ms / ?4 * ?4 AS slot, MAX(in_flight) FROM flight
         WHERE account = ?1 AND at_ms >= ?2 AND at_ms < ?3 GROUP BY slot",
    )?;
    let rows = statement.query_map(params![account, from, to, bucket], |row| {
        Ok((row.get::<_, i64>(0)?, count(row.get(1)?)))
    })?;
    for row in rows {
        let (slot, level) = row?;
        if let Some(b) = index(slot).and_then(|i| requests.get_mut(i)) {
            b.in_flight_max = Some(level);
        }
    }

    Ok(History {
        account: account.to_owned(),
        range,
        from: timestamp(from),
        to: timestamp(to),
        bucket_s: bucket / 1000,
        windows: windows
            .into_iter()
            .map(|(window, points)| WindowSeries { window, points })
            .collect(),
        throttles: throttles.into_values().collect(),
        requests,
        store,
    })
}
