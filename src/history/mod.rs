//! History: this file is what goes in and what `/api/v1/history` answers; `store` is the
//! SQLite database underneath it.
//!
//! The history as the engine feeds and reads it. Fed: every finished request and refusal (the
//! store is a [`TrafficObserver`]) and, from the status, each window's usage and the requests in
//! flight. Read: what `GET /api/v1/history?account=ID&range=day|week` answers, the series the
//! dashboard's charts draw: usage of each window over time, throttles per hour by cause, and
//! requests, errors, tokens, queue wait and in-flight per bucket (5 minutes for a day, an hour
//! for a week). At start the daemon also reads back the recent traffic ([`remembered`]) so that
//! a restart does not zero the live figures.

pub mod store;

use crate::history::store::{FlightRow, RequestRow, Row, Store, StoreStats, ThrottleRow, UsageRow};
use crate::keys::account_id::AccountId;
use crate::proxy::traffic::{FinishedRequest, Remembered, TokenUsage, TrafficObserver};
use crate::serve::metrics::window_key;
use crate::status::health::ThrottleEvent;
use crate::status::model::Status;
use jiff::Timestamp;
use rusqlite::{Connection, params};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

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
            queue_wait_ms: Some(r.queue_wait.as_secs_f64() * 1000.0),
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
    /// Tokens the provider reported for the requests that finished in the bucket.
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Mean and longest wait in Redline's queue of those requests (queue wait is recorded from
    /// schema 3 on); `None` without any.
    pub queue_wait_ms_mean: Option<f64>,
    pub queue_wait_ms_max: Option<f64>,
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
            input_tokens: 0,
            output_tokens: 0,
            queue_wait_ms_mean: None,
            queue_wait_ms_max: None,
            in_flight_max: None,
        })
        .collect();
    let index = |at_ms: i64| usize::try_from((at_ms - from) / bucket).ok();
    let mut statement = connection.prepare_cached(
        "SELECT at_ms / ?4 * ?4 AS slot, COUNT(*), SUM(status >= 400),
                TOTAL(input_tokens), TOTAL(output_tokens), AVG(queue_wait_ms), MAX(queue_wait_ms)
         FROM requests WHERE account = ?1 AND at_ms >= ?2 AND at_ms < ?3 GROUP BY slot",
    )?;
    let rows = statement.query_map(params![account, from, to, bucket], |row| {
        Ok((
            row.get::<_, i64>(0)?,
            RequestBucket {
                at: timestamp(0),
                requests: count(row.get(1)?),
                errors: count(row.get(2)?),
                input_tokens: row.get::<_, f64>(3)? as u64,
                output_tokens: row.get::<_, f64>(4)? as u64,
                queue_wait_ms_mean: row.get(5)?,
                queue_wait_ms_max: row.get(6)?,
                in_flight_max: None,
            },
        ))
    })?;
    for row in rows {
        let (slot, found) = row?;
        if let Some(b) = index(slot).and_then(|i| requests.get_mut(i)) {
            *b = RequestBucket { at: b.at, ..found };
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

/// How far back the live figures reach: an hour of requests, a day (25 hours, the longest) of
/// tokens, a month of answered requests.
const REMEMBER_REQUESTS_MS: i64 = HOUR_MS;
const REMEMBER_TOKENS_MS: i64 = 25 * HOUR_MS;
const REMEMBER_ANSWERED_MS: i64 = 32 * 24 * HOUR_MS;

/// What the history holds of `accounts`' traffic before `until_ms` (the daemon's start, so that
/// nothing it records itself is read back): the last hour's requests one by one, the tokens of
/// the 25 hours before that per tool and minute, and the requests answered in the month before
/// that per hour. Blocking (SQLite reads, using the index on account and time).
pub fn remembered(
    connection: &Connection,
    accounts: &[AccountId],
    until_ms: i64,
) -> rusqlite::Result<Vec<Remembered>> {
    let requests_from = until_ms - REMEMBER_REQUESTS_MS;
    let mut found = Vec::new();
    for account in accounts {
        let name = account.to_string();
        let mut statement = connection.prepare_cached(
            "SELECT at_ms / ?4 AS hour, COUNT(*), MIN(at_ms), MAX(at_ms) FROM requests
             WHERE account = ?1 AND at_ms >= ?2 AND at_ms < ?3 AND status < 400
             GROUP BY hour ORDER BY hour",
        )?;
        let rows = statement.query_map(
            params![
                name,
                until_ms - REMEMBER_ANSWERED_MS,
                requests_from,
                HOUR_MS
            ],
            |row| {
                Ok(Remembered::Answered {
                    account: account.clone(),
                    count: count(row.get(1)?),
                    first_ms: row.get(2)?,
                    last_ms: row.get(3)?,
                })
            },
        )?;
        for row in rows {
            found.push(row?);
        }
        let mut statement = connection.prepare_cached(
            "SELECT client, at_ms / 60000 * 60000 AS minute, TOTAL(input_tokens), TOTAL(output_tokens)
             FROM requests WHERE account = ?1 AND at_ms >= ?2 AND at_ms < ?3
             AND (input_tokens IS NOT NULL OR output_tokens IS NOT NULL)
             GROUP BY client, minute ORDER BY minute",
        )?;
        let rows = statement.query_map(
            params![name, until_ms - REMEMBER_TOKENS_MS, requests_from],
            |row| {
                Ok(Remembered::Tokens {
                    account: account.clone(),
                    client: row.get(0)?,
                    minute_ms: row.get(1)?,
                    tokens: TokenUsage {
                        input: row.get::<_, f64>(2)? as u64,
                        output: row.get::<_, f64>(3)? as u64,
                    },
                })
            },
        )?;
        for row in rows {
            found.push(row?);
        }
        let mut statement = connection.prepare_cached(
            "SELECT client, at_ms, status, latency_ms, queue_wait_ms, first_byte_ms,
                    input_tokens, output_tokens
             FROM requests WHERE account = ?1 AND at_ms >= ?2 AND at_ms < ?3 ORDER BY at_ms",
        )?;
        let ms = |value: Option<f64>| value.map(|ms| Duration::from_secs_f64(ms.max(0.0) / 1000.0));
        let rows = statement.query_map(params![name, requests_from, until_ms], |row| {
            let input: Option<i64> = row.get(6)?;
            let output: Option<i64> = row.get(7)?;
            Ok(Remembered::Request {
                account: account.clone(),
                client: row.get(0)?,
                finished_ms: row.get(1)?,
                status: row.get(2)?,
                latency: ms(row.get(3)?).unwrap_or_default(),
                queue_wait: ms(row.get(4)?),
                first_byte: ms(row.get(5)?),
                tokens: (input.is_some() || output.is_some()).then(|| TokenUsage {
                    input: input.map_or(0, count),
                    output: output.map_or(0, count),
                }),
            })
        })?;
        for row in rows {
            found.push(row?);
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::store::{RequestRow, migrate};

    fn insert(connection: &Connection, row: &RequestRow) {
        connection
            .execute(
                "INSERT INTO requests (at_ms, account, client, status, latency_ms, first_byte_ms,
                 input_tokens, output_tokens, queue_wait_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    row.at_ms,
                    row.account,
                    row.client,
                    row.status,
                    row.latency_ms,
                    row.first_byte_ms,
                    row.input_tokens.map(|n| n as i64),
                    row.output_tokens.map(|n| n as i64),
                    row.queue_wait_ms
                ],
            )
            .unwrap();
    }

    fn row(at_ms: i64, account: &str, status: u16, tokens: Option<(u64, u64)>) -> RequestRow {
        RequestRow {
            at_ms,
            account: account.into(),
            client: "Claude Code".into(),
            status,
            latency_ms: 3000.0,
            first_byte_ms: Some(400.0),
            input_tokens: tokens.map(|t| t.0),
            output_tokens: tokens.map(|t| t.1),
            queue_wait_ms: Some(1000.0),
        }
    }

    #[test]
    fn the_recent_traffic_is_read_back_by_its_age() {
        let mut connection = Connection::open_in_memory().unwrap();
        migrate(&mut connection).unwrap();
        let until = 1_800_000_000_000;
        let minutes = |m: i64| until - m * 60_000;
        let rows = [
            // A month ago and more: too old for anything.
            row(until - 40 * 24 * HOUR_MS, "kimi-main", 200, Some((1, 1))),
            // Three days ago: counted as answered only.
            row(until - 3 * 24 * HOUR_MS, "kimi-main", 200, Some((5, 5))),
            row(until - 3 * 24 * HOUR_MS + 10, "kimi-main", 200, None),
            row(until - 3 * 24 * HOUR_MS + 20, "kimi-main", 429, None),
            // Three hours ago: tokens (and answered).
            row(minutes(180), "kimi-main", 200, Some((100, 10))),
            row(minutes(180) + 5, "kimi-main", 200, Some((100, 10))),
            // Ten minutes ago: the request itself.
            row(minutes(10), "kimi-main", 503, None),
            // Another account, and this run's own rows, are not read.
            row(minutes(10), "other", 200, Some((7, 7))),
            row(until, "kimi-main", 200, Some((9, 9))),
        ];
        for r in &rows {
            insert(&connection, r);
        }
        let account: AccountId = "kimi-main".parse().unwrap();
        let found = remembered(&connection, std::slice::from_ref(&account), until).unwrap();
        let three_days = until - 3 * 24 * HOUR_MS;
        assert_eq!(
            found,
            [
                Remembered::Answered {
                    account: account.clone(),
                    count: 2,
                    first_ms: three_days,
                    last_ms: three_days + 10,
                },
                Remembered::Answered {
                    account: account.clone(),
                    count: 2,
                    first_ms: minutes(180),
                    last_ms: minutes(180) + 5,
                },
                Remembered::Tokens {
                    account: account.clone(),
                    client: "Claude Code".into(),
                    minute_ms: minutes(180) / 60_000 * 60_000,
                    tokens: TokenUsage {
                        input: 200,
                        output: 20
                    },
                },
                Remembered::Request {
                    account,
                    client: "Claude Code".into(),
                    finished_ms: minutes(10),
                    status: 503,
                    latency: Duration::from_secs(3),
                    queue_wait: Some(Duration::from_secs(1)),
                    first_byte: Some(Duration::from_millis(400)),
                    tokens: None,
                },
            ]
        );
    }
}
