//! Live traffic per account and per tool, as the local proxy sees it: requests in flight and
//! waiting in Redline's queue now, the recent peak, requests, errors and cancellations, queue
//! wait, time to first token, output speed, tokens, and every refusal with its cause.
//!
//! The proxy holds a [`RequestGuard`] for each request; dropping it (the client went away, the
//! task was cancelled) takes the request out of flight at once. Every change bumps a counter
//! on a `watch` channel so the status can be rebuilt.
//!
//! Figures over time are kept in minute buckets (`series`): the last hour of counts and
//! timings, 25 hours of tokens (for "today" and the last 5 hours), and a month of answered
//! requests per hour (to doubt a provider that reports 0 % used). Memory stays bounded however
//! busy the proxy is. After a restart the daemon seeds them from the history
//! ([`Traffic::remember`]).

use crate::keys::account_id::AccountId;
use crate::providers::snapshot::Window;
use crate::proxy::series::{Clock, HOUR_MS, Histogram, MINUTE_MS, Merged, Series};
use crate::status::health::ThrottleEvent;
use crate::status::model::{Counts, Percentiles, TokenTotals, ToolTraffic};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::task::Poll;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// How far back "peak in flight" looks.
pub const PEAK_WINDOW: Duration = Duration::from_secs(5 * 60);
/// How many refusals are kept per account.
const KEEP_THROTTLES: usize = 1000;
/// Minute buckets of requests and timings: the last hour.
const RECENT_MINUTES: usize = 60;
/// Minute buckets of tokens: the longest local day (25 hours, when the clocks go back).
const TOKEN_MINUTES: usize = 25 * 60;
/// Hour buckets of answered requests: the longest quota window Redline judges (a month).
const ANSWERED_HOURS: usize = 32 * 24;

/// Tokens one answer used, from the provider's usage fields (final SSE chunk or JSON body).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenUsage {
    pub input: u64,
    pub output: u64,
}

impl TokenUsage {
    fn add(&mut self, other: TokenUsage) {
        self.input = self.input.saturating_add(other.input);
        self.output = self.output.saturating_add(other.output);
    }

    pub fn is_zero(&self) -> bool {
        self.input == 0 && self.output == 0
    }
}

/// What happened in one minute, for one account or one tool.
#[derive(Clone, Debug, Default)]
struct Minute {
    /// Requests that finished.
    requests: u64,
    /// Of them, answered with a status of 400 or more, or broken off (not cancelled).
    errors: u64,
    /// Of them, given up by the client first (499).
    cancelled: u64,
    latency_ms: Histogram,
    /// The waits of requests that left Redline's queue in this minute (0 for one that went
    /// straight through).
    queue_wait_ms: Histogram,
    first_token_ms: Histogram,
    tokens_per_s: Histogram,
}

/// The books one account, or one tool of an account, keeps.
#[derive(Clone, Debug)]
struct Book {
    in_flight: u64,
    queued: u64,
    recent: Series<Minute>,
    tokens: Series<TokenUsage>,
}

impl Default for Book {
    fn default() -> Self {
        Book {
            in_flight: 0,
            queued: 0,
            recent: Series::new(MINUTE_MS, RECENT_MINUTES),
            tokens: Series::new(MINUTE_MS, TOKEN_MINUTES),
        }
    }
}

/// One finished request, at `at` on the traffic's clock.
#[derive(Clone, Copy, Debug)]
struct Finish {
    at: i64,
    status: u16,
    latency: Duration,
    first_byte: Option<Duration>,
    tokens: Option<TokenUsage>,
    tokens_per_s: Option<f64>,
}

impl Book {
    fn finish(&mut self, f: &Finish) {
        let minute = self.recent.at(f.at);
        minute.requests += 1;
        if f.status == CLIENT_CLOSED {
            minute.cancelled += 1;
        } else if f.status >= 400 {
            minute.errors += 1;
        }
        minute.latency_ms.record(millis(f.latency));
        if let Some(first) = f.first_byte {
            minute.first_token_ms.record(millis(first));
        }
        if let Some(speed) = f.tokens_per_s {
            minute.tokens_per_s.record(speed);
        }
        if let Some(tokens) = f.tokens.filter(|t| !t.is_zero()) {
            self.tokens.at(f.at).add(tokens);
        }
    }

    fn waited(&mut self, at: i64, wait: Duration) {
        self.recent.at(at).queue_wait_ms.record(millis(wait));
    }

    /// The figures as of `now`, "today" beginning at `midnight` (both on the traffic's clock).
    fn figures(&mut self, now: i64, midnight: i64) -> BookFigures {
        self.recent.forget(now);
        self.tokens.forget(now);
        let this_minute = now.div_euclid(MINUTE_MS) * MINUTE_MS;
        // This minute and the 4 (59, 299) before it.
        let last = |minutes: i64| this_minute - (minutes - 1) * MINUTE_MS;
        let mut figures = BookFigures::default();
        let mut latency = Merged::default();
        let mut queue_wait = Merged::default();
        let mut first_token = Merged::default();
        let mut speed = Merged::default();
        for (start, m) in self.recent.since(last(60)) {
            let (requests, errors, cancelled) = (
                &mut figures.requests,
                &mut figures.errors,
                &mut figures.cancelled,
            );
            requests.last_hour += m.requests;
            errors.last_hour += m.errors;
            cancelled.last_hour += m.cancelled;
            if start >= last(5) {
                requests.last_5m += m.requests;
                errors.last_5m += m.errors;
                cancelled.last_5m += m.cancelled;
            }
            latency.add(&m.latency_ms);
            queue_wait.add(&m.queue_wait_ms);
            first_token.add(&m.first_token_ms);
            speed.add(&m.tokens_per_s);
        }
        for (start, tokens) in self.tokens.since(last(300).min(midnight)) {
            if start >= last(300) {
                figures.tokens.last_5h.add(*tokens);
            }
            if start >= midnight {
                figures.tokens.today.add(*tokens);
            }
        }
        figures.latency_ms_p50 = latency.percentile(0.5);
        figures.queue_wait_ms = Percentiles {
            p50: queue_wait.percentile(0.5),
            p95: queue_wait.percentile(0.95),
        };
        figures.first_token_ms_p50 = first_token.percentile(0.5);
        figures.output_tokens_per_s_p50 = speed.percentile(0.5);
        figures
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
struct BookFigures {
    requests: Counts,
    errors: Counts,
    cancelled: Counts,
    latency_ms_p50: Option<f64>,
    queue_wait_ms: Percentiles,
    tokens: TokenTotals,
    first_token_ms_p50: Option<f64>,
    output_tokens_per_s_p50: Option<f64>,
}

/// Answered requests (status below 400) in one hour, with the first and the last, so a count
/// between two times is exact at whole hours and never more than the truth in between.
#[derive(Clone, Copy, Debug)]
struct Answered {
    count: u64,
    first: i64,
    last: i64,
}

impl Default for Answered {
    fn default() -> Self {
        Answered {
            count: 0,
            first: i64::MAX,
            last: i64::MIN,
        }
    }
}

impl Answered {
    fn add(&mut self, count: u64, first: i64, last: i64) {
        self.count += count;
        self.first = self.first.min(first);
        self.last = self.last.max(last);
    }

    /// How many of these fell between `from` and `to`, at least: all of them when the first
    /// and the last did, one when either did, else none.
    fn between(&self, from: i64, to: i64) -> u64 {
        let inside = |t: i64| (from..=to).contains(&t);
        match (inside(self.first), inside(self.last)) {
            _ if self.count == 0 => 0,
            (true, true) => self.count,
            (true, false) | (false, true) => 1,
            (false, false) => 0,
        }
    }
}

/// Requests answered (status below 400) between `from` and `to`, at least.
fn answered_between(hours: &Series<Answered>, from: i64, to: i64) -> u64 {
    hours
        .since(from.div_euclid(HOUR_MS) * HOUR_MS)
        .take_while(|(start, _)| *start <= to)
        .map(|(_, a)| a.between(from, to))
        .sum()
}

/// One tool's books within an account.
#[derive(Clone, Debug, Default)]
struct ToolBook {
    /// Requests begun since the daemon started.
    requests: u64,
    throttles: u64,
    book: Book,
}

#[derive(Default)]
struct AccountTraffic {
    /// In flight and queued (the count Redline's queue reports) for the whole account.
    book: Book,
    /// In-flight levels per second, for the 5-minute peak.
    levels: VecDeque<LevelSecond>,
    /// Request starts per second, for requests per minute.
    starts: VecDeque<(Instant, u64)>,
    by_status: BTreeMap<u16, u64>,
    /// Tokens since the daemon started.
    tokens: TokenUsage,
    tools: BTreeMap<String, ToolBook>,
    answered: Option<Series<Answered>>,
    /// Each refusal with the tool that received it.
    throttles: VecDeque<(String, ThrottleEvent)>,
    windows: Vec<Window>,
}

impl AccountTraffic {
    /// The tool's books; looked up before inserting, so a known tool costs no allocation.
    fn tool(&mut self, client: &str) -> &mut ToolBook {
        if !self.tools.contains_key(client) {
            self.tools.insert(client.to_owned(), ToolBook::default());
        }
        self.tools.get_mut(client).expect("just inserted")
    }

    fn finish(&mut self, client: &str, f: &Finish) {
        self.book.finish(f);
        self.tool(client).book.finish(f);
        if f.status < 400 {
            self.answered_hours().at(f.at).add(1, f.at, f.at);
        }
    }

    fn waited(&mut self, client: &str, at: i64, wait: Duration) {
        self.book.waited(at, wait);
        self.tool(client).book.waited(at, wait);
    }

    fn answered_hours(&mut self) -> &mut Series<Answered> {
        self.answered
            .get_or_insert_with(|| Series::new(HOUR_MS, ANSWERED_HOURS))
    }

    fn figures(&mut self, now: Instant, at: i64, midnight: i64) -> TrafficFigures {
        forget_old(self, now);
        let peak = peak(&self.levels, now).max(self.book.in_flight);
        let own = self.book.figures(at, midnight);
        let tools = self
            .tools
            .iter_mut()
            .filter_map(|(name, tool)| {
                let f = tool.book.figures(at, midnight);
                let idle = tool.book.in_flight == 0
                    && tool.book.queued == 0
                    && f.requests.last_hour == 0
                    && f.tokens.last_5h.is_zero()
                    && f.tokens.today.is_zero()
                    && f.queue_wait_ms.p50.is_none();
                (!idle).then(|| ToolTraffic {
                    tool: name.clone(),
                    in_flight: tool.book.in_flight,
                    queued: tool.book.queued,
                    requests: f.requests,
                    errors: f.errors,
                    cancelled: f.cancelled,
                    tokens: f.tokens,
                    first_token_ms_p50: f.first_token_ms_p50,
                    output_tokens_per_s_p50: f.output_tokens_per_s_p50,
                })
            })
            .collect();
        TrafficFigures {
            in_flight: self.book.in_flight,
            peak,
            queued: self.book.queued,
            requests: own.requests,
            errors: own.errors,
            cancelled: own.cancelled,
            queue_wait_ms: own.queue_wait_ms,
            tokens: own.tokens,
            first_token_ms_p50: own.first_token_ms_p50,
            output_tokens_per_s_p50: own.output_tokens_per_s_p50,
            tools,
        }
    }
}

/// One second of in-flight history: its highest level and the level it ended at. Seconds,
/// not events, so a busy proxy keeps 300 entries, not one per request.
struct LevelSecond {
    start: Instant,
    max: u64,
    last: u64,
}

const SECOND: Duration = Duration::from_secs(1);

fn record_level(levels: &mut VecDeque<LevelSecond>, now: Instant, level: u64) {
    match levels.back_mut() {
        Some(second) if now.duration_since(second.start) < SECOND => {
            second.max = second.max.max(level);
            second.last = level;
        }
        _ => levels.push_back(LevelSecond {
            start: now,
            max: level,
            last: level,
        }),
    }
}

fn record_start(starts: &mut VecDeque<(Instant, u64)>, now: Instant) {
    match starts.back_mut() {
        Some((start, count)) if now.duration_since(*start) < SECOND => *count += 1,
        _ => starts.push_back((now, 1)),
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ClientTraffic {
    pub requests: u64,
    pub in_flight: u64,
    pub throttles: u64,
}

/// An account's traffic in the proxy's own terms (the tests and the dashboard's older views).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct TrafficSummary {
    pub in_flight: u64,
    pub peak: u64,
    pub queued: u64,
    pub requests_per_minute: u64,
    /// Answers by status since the daemon started.
    pub by_status: BTreeMap<u16, u64>,
    /// Medians over the last hour.
    pub latency_p50_ms: Option<f64>,
    pub first_token_p50_ms: Option<f64>,
    pub output_tokens_per_s_p50: Option<f64>,
    /// Tokens since the daemon started.
    pub tokens: TokenUsage,
    pub clients: BTreeMap<String, ClientTraffic>,
    /// Windows read from the rate-limit headers of the latest answers (OpenAI, Anthropic).
    pub windows: Vec<Window>,
}

/// An account's traffic as the status shows it (`accounts[].traffic`, less the cap and the
/// limit, which the status builder adds from the config and the provider).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TrafficFigures {
    pub in_flight: u64,
    /// Highest in flight in the last 5 minutes.
    pub peak: u64,
    /// Waiting in Redline's queue now.
    pub queued: u64,
    pub requests: Counts,
    pub errors: Counts,
    pub cancelled: Counts,
    /// Over the last hour, every request that went through the queue (0 when it did not wait).
    pub queue_wait_ms: Percentiles,
    pub tokens: TokenTotals,
    /// Over the last hour, from sending the request on to its first byte back.
    pub first_token_ms_p50: Option<f64>,
    pub output_tokens_per_s_p50: Option<f64>,
    /// The tools with something to show, by name.
    pub tools: Vec<ToolTraffic>,
}

/// One finished request as the history and the metrics keep it: never a body or a key.
#[derive(Clone, Debug, PartialEq)]
pub struct FinishedRequest<'a> {
    pub account: &'a AccountId,
    pub client: &'a str,
    pub status: u16,
    /// From its arrival at Redline to its end: what the client waited, queue included.
    pub latency: Duration,
    /// Of that, the time spent in Redline's queue before it was sent on.
    pub queue_wait: Duration,
    /// From sending it on to the first byte of the answer (queue wait not included).
    pub first_byte: Option<Duration>,
    pub tokens: Option<TokenUsage>,
}

/// Told of every finished request, refusal and queue wait, after the books here are
/// updated; keeps `traffic` free of storage (the daemon plugs in the history store and the
/// metrics). Called on the proxy's path, so an observer must not block.
pub trait TrafficObserver: Send + Sync {
    fn request_finished(&self, request: &FinishedRequest<'_>);
    fn throttled(&self, account: &AccountId, client: &str, event: &ThrottleEvent);
    /// A request left Redline's queue after `waited` (sent on, turned away, or given up by
    /// its client); `waited` is zero when it went straight through.
    fn queue_waited(&self, _account: &AccountId, _client: &str, _waited: Duration) {}
}

/// What the history remembers of the traffic before a restart, to seed the figures with.
/// Times are milliseconds since the Unix epoch.
#[derive(Clone, Debug, PartialEq)]
pub enum Remembered {
    /// One request of the last hour, counted again as it finished.
    Request {
        account: AccountId,
        client: String,
        finished_ms: i64,
        status: u16,
        latency: Duration,
        queue_wait: Option<Duration>,
        first_byte: Option<Duration>,
        tokens: Option<TokenUsage>,
    },
    /// The tokens of one tool in one minute (for the 5-hour and today figures).
    Tokens {
        account: AccountId,
        client: String,
        minute_ms: i64,
        tokens: TokenUsage,
    },
    /// Requests answered in one hour, the first and the last (for doubting a provider's
    /// usage figures).
    Answered {
        account: AccountId,
        count: u64,
        first_ms: i64,
        last_ms: i64,
    },
}

/// All accounts' traffic. Shared (`Arc`) between the proxy and the status builder.
pub struct Traffic {
    accounts: Mutex<HashMap<AccountId, AccountTraffic>>,
    changes: watch::Sender<u64>,
    /// The shared limits' figures per account (`shared.redis_url`), as last published.
    shared: Mutex<HashMap<AccountId, crate::status::model::SharedStatus>>,
    observer: OnceLock<Arc<dyn TrafficObserver>>,
    clock: Clock,
}

impl Traffic {
    pub fn new() -> Arc<Traffic> {
        let now = Instant::now();
        Traffic::with_clock(Clock::aligned(now, Timestamp::now().as_millisecond()))
    }

    /// With figures counted on `clock` (tests give it a fixed origin).
    fn with_clock(clock: Clock) -> Arc<Traffic> {
        Arc::new(Traffic {
            accounts: Mutex::new(HashMap::new()),
            changes: watch::channel(0).0,
            shared: Mutex::default(),
            observer: OnceLock::new(),
            clock,
        })
    }

    /// Sets the one observer (the first call wins; later ones are ignored and return false).
    pub fn set_observer(&self, observer: Arc<dyn TrafficObserver>) -> bool {
        self.observer.set(observer).is_ok()
    }

    /// Publishes `account`'s shared-limit figures (`None`: not shared); wakes the
    /// subscribers when they changed.
    pub fn set_shared(
        &self,
        account: &AccountId,
        figures: Option<crate::status::model::SharedStatus>,
    ) {
        let mut shared = self.shared.lock().unwrap_or_else(PoisonError::into_inner);
        let changed = match figures {
            Some(figures) => shared.insert(account.clone(), figures.clone()) != Some(figures),
            None => shared.remove(account).is_some(),
        };
        drop(shared);
        if changed {
            self.changes.send_modify(|n| *n = n.wrapping_add(1));
        }
    }

    pub fn shared(&self, account: &AccountId) -> Option<crate::status::model::SharedStatus> {
        let shared = self.shared.lock().unwrap_or_else(PoisonError::into_inner);
        shared.get(account).cloned()
    }

    /// Wakes on every change.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// A request to `account` from `client` goes in flight until the guard is finished or
    /// dropped; it arrived just now.
    pub fn begin(self: &Arc<Self>, account: &AccountId, client: &str) -> RequestGuard {
        self.begin_at(account, client, Instant::now())
    }

    /// A request that arrived at `arrived` and is sent on now, after waiting in the queue
    /// since then: the wait is recorded, and its latency will count from its arrival.
    pub fn begin_at(
        self: &Arc<Self>,
        account: &AccountId,
        client: &str,
        arrived: Instant,
    ) -> RequestGuard {
        let now = Instant::now();
        let waited = now.saturating_duration_since(arrived);
        let at = self.clock.ms(now);
        self.change(account, |t| {
            t.book.in_flight += 1;
            record_level(&mut t.levels, now, t.book.in_flight);
            record_start(&mut t.starts, now);
            t.waited(client, at, waited);
            let tool = t.tool(client);
            tool.requests += 1;
            tool.book.in_flight += 1;
        });
        if let Some(observer) = self.observer.get() {
            observer.queue_waited(account, client, waited);
        }
        RequestGuard {
            traffic: self.clone(),
            account: account.clone(),
            client: client.to_owned(),
            arrived,
            sent: now,
            first_byte: None,
            done: false,
        }
    }

    /// Waits for Redline's queue to answer (`admission`, the queue's `admit`) for a request
    /// that arrived at `arrived`, counting it as queued for its tool while it waits. An
    /// admitted request's wait is recorded when it begins ([`Traffic::begin_at`]); one turned
    /// away, or whose client gives up waiting (this future dropped), is recorded here.
    pub async fn wait_in_queue<S, E>(
        &self,
        account: &AccountId,
        client: &str,
        arrived: Instant,
        admission: impl Future<Output = Result<S, E>>,
    ) -> Result<S, E> {
        let mut admission = std::pin::pin!(admission);
        // Most requests are let through at once: no place in line to keep for them.
        if let Poll::Ready(answer) = futures_util::poll!(admission.as_mut()) {
            if answer.is_err() {
                self.left_queue(account, client, arrived, false);
            }
            return answer;
        }
        let mut place = QueuePlace::join(self, account, client, arrived);
        let answer = admission.await;
        place.admitted = answer.is_ok();
        answer
    }

    /// A request left the queue: the tool's place is given up (when it had one) and, unless it
    /// goes on to [`Traffic::begin_at`], its wait recorded.
    fn left_queue(&self, account: &AccountId, client: &str, arrived: Instant, queued: bool) {
        let now = Instant::now();
        let waited = now.saturating_duration_since(arrived);
        let at = self.clock.ms(now);
        self.change(account, |t| {
            t.waited(client, at, waited);
            if queued {
                let tool = t.tool(client);
                tool.book.queued = tool.book.queued.saturating_sub(1);
            }
        });
        if let Some(observer) = self.observer.get() {
            observer.queue_waited(account, client, waited);
        }
    }

    /// The most requests in flight on `account` at any moment since `since` (to the second,
    /// rounded up), for a request that arrived then and is in flight now; `None` when the kept
    /// levels (five minutes) may not reach back that far.
    pub fn peak_since(&self, account: &AccountId, since: Instant) -> Option<u64> {
        if Instant::now().duration_since(since) > PEAK_WINDOW {
            return None;
        }
        let accounts = self.lock();
        let t = accounts.get(account)?;
        let peak = t
            .levels
            .iter()
            .filter(|second| second.start + SECOND > since)
            .map(|second| second.max)
            .max()
            .unwrap_or(0);
        Some(peak.max(t.book.in_flight))
    }

    /// Requests waiting in Redline's queue for a free slot under the concurrency cap.
    pub fn set_queued(&self, account: &AccountId, queued: u64) {
        self.change(account, |t| t.book.queued = queued);
    }

    /// A refusal (from the provider, or Redline's own queue timing out).
    pub fn record_throttle(&self, account: &AccountId, client: &str, event: ThrottleEvent) {
        if let Some(observer) = self.observer.get() {
            observer.throttled(account, client, &event);
        }
        self.change(account, |t| {
            t.tool(client).throttles += 1;
            push_bounded(&mut t.throttles, (client.to_owned(), event), KEEP_THROTTLES);
        });
    }

    /// Windows from an answer's rate-limit headers; each replaces the one of its kind and scope.
    pub fn record_windows(&self, account: &AccountId, windows: Vec<Window>) {
        if windows.is_empty() {
            return;
        }
        self.change(account, |t| {
            for window in windows {
                t.windows
                    .retain(|w| (w.kind, &w.scope) != (window.kind, &window.scope));
                t.windows.push(window);
            }
        });
    }

    /// The refusals kept for `account`, oldest first.
    pub fn throttles(&self, account: &AccountId) -> Vec<ThrottleEvent> {
        self.lock()
            .get(account)
            .map(|t| t.throttles.iter().map(|(_, e)| e.clone()).collect())
            .unwrap_or_default()
    }

    /// The refusals kept for `account` with the tool each went to, oldest first.
    pub fn throttles_by_tool(&self, account: &AccountId) -> Vec<(String, ThrottleEvent)> {
        self.lock()
            .get(account)
            .map(|t| t.throttles.iter().cloned().collect())
            .unwrap_or_default()
    }

    pub fn summary(&self, account: &AccountId) -> TrafficSummary {
        let now = Instant::now();
        let at = self.clock.ms(now);
        let mut accounts = self.lock();
        let Some(t) = accounts.get_mut(account) else {
            return TrafficSummary::default();
        };
        forget_old(t, now);
        let own = t.book.figures(at, at);
        TrafficSummary {
            in_flight: t.book.in_flight,
            peak: peak(&t.levels, now).max(t.book.in_flight),
            queued: t.book.queued,
            requests_per_minute: t.starts.iter().map(|(_, count)| count).sum(),
            by_status: t.by_status.clone(),
            latency_p50_ms: own.latency_ms_p50,
            first_token_p50_ms: own.first_token_ms_p50,
            output_tokens_per_s_p50: own.output_tokens_per_s_p50,
            tokens: t.tokens,
            clients: t
                .tools
                .iter()
                .map(|(name, tool)| {
                    let counts = ClientTraffic {
                        requests: tool.requests,
                        in_flight: tool.book.in_flight,
                        throttles: tool.throttles,
                    };
                    (name.clone(), counts)
                })
                .collect(),
            windows: t.windows.clone(),
        }
    }

    /// The account's figures now, "today" being the local calendar day.
    pub fn figures(&self, account: &AccountId) -> TrafficFigures {
        self.figures_at(account, Instant::now(), since_local_midnight())
    }

    /// The account's figures at `now`, today having begun `since_midnight` before it.
    pub fn figures_at(
        &self,
        account: &AccountId,
        now: Instant,
        since_midnight: Duration,
    ) -> TrafficFigures {
        let at = self.clock.ms(now);
        // On a whole minute (the clock's origin is on one), whatever the rounding.
        let midnight =
            (at - millis_i64(since_midnight) + MINUTE_MS / 2).div_euclid(MINUTE_MS) * MINUTE_MS;
        self.lock()
            .get_mut(account)
            .map(|t| t.figures(now, at, midnight))
            .unwrap_or_default()
    }

    /// Requests to `account` answered (status below 400) between `from` and `to` on the wall
    /// clock, at least (see [`Answered::between`]).
    pub fn answered_between(&self, account: &AccountId, from: Timestamp, to: Timestamp) -> u64 {
        self.answered_between_at(account, from, to, Instant::now(), Timestamp::now())
    }

    /// [`Traffic::answered_between`] with the monotonic clock at `now` when the wall clock
    /// reads `wall`.
    fn answered_between_at(
        &self,
        account: &AccountId,
        from: Timestamp,
        to: Timestamp,
        now: Instant,
        wall: Timestamp,
    ) -> u64 {
        let now = self.clock.ms(now);
        let at = |t: Timestamp| now - (wall.as_millisecond() - t.as_millisecond());
        self.lock()
            .get(account)
            .and_then(|t| t.answered.as_ref())
            .map_or(0, |hours| answered_between(hours, at(from), at(to)))
    }

    /// Seeds the figures with what the history remembers from before a restart, `wall_ms`
    /// being the wall clock now.
    pub fn remember(&self, remembered: impl IntoIterator<Item = Remembered>, wall_ms: i64) {
        let now = self.clock.ms(Instant::now());
        let at = |ms: i64| now - (wall_ms - ms);
        let mut accounts = self.lock();
        for item in remembered {
            match item {
                Remembered::Request {
                    account,
                    client,
                    finished_ms,
                    status,
                    latency,
                    queue_wait,
                    first_byte,
                    tokens,
                } => {
                    let finished = at(finished_ms);
                    let streaming = first_byte.map(|first| {
                        latency.saturating_sub(queue_wait.unwrap_or_default() + first)
                    });
                    let finish = Finish {
                        at: finished,
                        status,
                        latency,
                        first_byte,
                        tokens,
                        tokens_per_s: tokens_per_s(tokens, streaming),
                    };
                    let t = accounts.entry(account).or_default();
                    t.finish(&client, &finish);
                    if let Some(wait) = queue_wait {
                        let left_queue = finished - millis_i64(latency.saturating_sub(wait));
                        t.waited(&client, left_queue, wait);
                    }
                }
                Remembered::Tokens {
                    account,
                    client,
                    minute_ms,
                    tokens,
                } => {
                    // The middle of the minute: clear of rounding at its edges.
                    let minute = at(minute_ms + MINUTE_MS / 2);
                    let t = accounts.entry(account).or_default();
                    t.book.tokens.at(minute).add(tokens);
                    t.tool(&client).book.tokens.at(minute).add(tokens);
                }
                Remembered::Answered {
                    account,
                    count,
                    first_ms,
                    last_ms,
                } => {
                    let t = accounts.entry(account).or_default();
                    let (first, last) = (at(first_ms), at(last_ms));
                    t.answered_hours().at(first).add(count, first, last);
                }
            }
        }
        drop(accounts);
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<AccountId, AccountTraffic>> {
        self.accounts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn change(&self, account: &AccountId, update: impl FnOnce(&mut AccountTraffic)) {
        update(self.lock().entry(account.clone()).or_default());
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }
}

/// How long ago the local calendar day began (the system's time zone).
fn since_local_midnight() -> Duration {
    let now = jiff::ZonedDateTime::now();
    now.start_of_day()
        .ok()
        .and_then(|midnight| Duration::try_from(now.duration_since(&midnight)).ok())
        .unwrap_or_default()
}

/// A request's place in line for its tool; leaving it (admitted, turned away, or its client
/// gone) updates the tool's queued count, and records the wait unless it was admitted.
struct QueuePlace<'a> {
    traffic: &'a Traffic,
    account: &'a AccountId,
    client: &'a str,
    arrived: Instant,
    admitted: bool,
}

impl<'a> QueuePlace<'a> {
    fn join(
        traffic: &'a Traffic,
        account: &'a AccountId,
        client: &'a str,
        arrived: Instant,
    ) -> QueuePlace<'a> {
        traffic.change(account, |t| t.tool(client).book.queued += 1);
        QueuePlace {
            traffic,
            account,
            client,
            arrived,
            admitted: false,
        }
    }
}

impl Drop for QueuePlace<'_> {
    fn drop(&mut self) {
        if self.admitted {
            self.traffic.change(self.account, |t| {
                let tool = t.tool(self.client);
                tool.book.queued = tool.book.queued.saturating_sub(1);
            });
        } else {
            self.traffic
                .left_queue(self.account, self.client, self.arrived, true);
        }
    }
}

fn forget_old(t: &mut AccountTraffic, now: Instant) {
    while t
        .starts
        .front()
        .is_some_and(|(s, _)| now.duration_since(*s) > Duration::from_secs(60))
    {
        t.starts.pop_front();
    }
    // Keep the newest second before the window: its last level still held when the window began.
    while t
        .levels
        .get(1)
        .is_some_and(|second| now.duration_since(second.start) > PEAK_WINDOW)
    {
        t.levels.pop_front();
    }
}

/// The highest in-flight level of the last five minutes.
fn peak(levels: &VecDeque<LevelSecond>, now: Instant) -> u64 {
    levels
        .iter()
        .map(|s| {
            if now.duration_since(s.start) > PEAK_WINDOW {
                s.last
            } else {
                s.max
            }
        })
        .max()
        .unwrap_or(0)
}

fn push_bounded<T>(queue: &mut VecDeque<T>, item: T, keep: usize) {
    if queue.len() == keep {
        queue.pop_front();
    }
    queue.push_back(item);
}

/// Output tokens per second of streaming, when there were output tokens and time to stream
/// them.
fn tokens_per_s(tokens: Option<TokenUsage>, streaming: Option<Duration>) -> Option<f64> {
    let output = tokens?.output;
    let span = streaming.filter(|d| !d.is_zero())?;
    (output > 0).then(|| output as f64 / span.as_secs_f64())
}

/// One request in flight. Finish it with [`RequestGuard::finish`]; dropping it unfinished
/// counts as a cancelled request (status 499, as nginx logs a client that went away).
pub struct RequestGuard {
    traffic: Arc<Traffic>,
    account: AccountId,
    client: String,
    /// When the request reached Redline.
    arrived: Instant,
    /// When it was sent on (after the queue).
    sent: Instant,
    first_byte: Option<Instant>,
    done: bool,
}

pub const CLIENT_CLOSED: u16 = 499;

impl RequestGuard {
    /// The first byte of the answer reached the client.
    pub fn first_byte(&mut self) {
        self.first_byte.get_or_insert_with(Instant::now);
    }

    /// The answer ended with `status`, having used `tokens` when the provider said.
    pub fn finish(mut self, status: u16, tokens: Option<TokenUsage>) {
        self.done = true;
        self.close(status, tokens);
    }

    fn close(&mut self, status: u16, tokens: Option<TokenUsage>) {
        let now = Instant::now();
        let traffic = &self.traffic;
        let first_byte = self.first_byte.map(|first| first - self.sent);
        let finish = Finish {
            at: traffic.clock.ms(now),
            status,
            latency: now - self.arrived,
            first_byte,
            tokens,
            tokens_per_s: tokens_per_s(tokens, self.first_byte.map(|first| now - first)),
        };
        let client = &self.client;
        traffic.change(&self.account, |t| {
            t.book.in_flight = t.book.in_flight.saturating_sub(1);
            record_level(&mut t.levels, now, t.book.in_flight);
            let tool = t.tool(client);
            tool.book.in_flight = tool.book.in_flight.saturating_sub(1);
            *t.by_status.entry(status).or_default() += 1;
            if let Some(tokens) = tokens {
                t.tokens.add(tokens);
            }
            t.finish(client, &finish);
        });
        if let Some(observer) = traffic.observer.get() {
            observer.request_finished(&FinishedRequest {
                account: &self.account,
                client: &self.client,
                status,
                latency: finish.latency,
                queue_wait: self.sent - self.arrived,
                first_byte,
                tokens,
            });
        }
    }
}

impl Drop for RequestGuard {
    fn drop(&mut self) {
        if !self.done {
            self.done = true;
            self.close(CLIENT_CLOSED, None);
        }
    }
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn millis_i64(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::throttle::Cause;

    fn id() -> AccountId {
        "kimi-main".parse().unwrap()
    }

    const MINUTE: Duration = Duration::from_secs(60);

    fn tokens(input: u64, output: u64) -> Option<TokenUsage> {
        Some(TokenUsage { input, output })
    }

    /// Traffic whose clock starts on a whole minute now (the paused test clock).
    fn traffic_on_the_minute() -> (Arc<Traffic>, Instant) {
        let origin = Instant::now();
        (Traffic::with_clock(Clock::new(origin)), origin)
    }

    #[tokio::test(start_paused = true)]
    async fn in_flight_peak_and_rate() {
        let traffic = Traffic::new();
        let guards: Vec<_> = (0..5)
            .map(|_| traffic.begin(&id(), "Claude Code"))
            .collect();
        let summary = traffic.summary(&id());
        assert_eq!(
            (summary.in_flight, summary.peak, summary.requests_per_minute),
            (5, 5, 5)
        );
        assert_eq!(summary.clients["Claude Code"].in_flight, 5);
        for guard in guards {
            guard.finish(200, tokens(10, 20));
        }
        let summary = traffic.summary(&id());
        assert_eq!((summary.in_flight, summary.peak), (0, 5));
        assert_eq!(summary.by_status[&200], 5);
        assert_eq!(summary.tokens, tokens(50, 100).unwrap());

        tokio::time::advance(Duration::from_secs(61)).await;
        assert_eq!(traffic.summary(&id()).requests_per_minute, 0);
        assert_eq!(
            traffic.summary(&id()).peak,
            5,
            "the peak looks back five minutes"
        );
        tokio::time::advance(PEAK_WINDOW).await;
        assert_eq!(traffic.summary(&id()).peak, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn the_peak_while_a_request_is_on_its_way_counts_answers_that_finished_meanwhile() {
        let traffic = Traffic::new();
        let held: Vec<_> = (0..3).map(|_| traffic.begin(&id(), "curl")).collect();
        tokio::time::advance(Duration::from_secs(10)).await;
        let arrived = Instant::now();
        let refused = traffic.begin_at(&id(), "curl", arrived);
        tokio::time::advance(Duration::from_secs(3)).await;
        // The three held ones were answered before the refusal came back: four were in flight.
        for guard in held {
            guard.finish(200, None);
        }
        assert_eq!(traffic.peak_since(&id(), arrived), Some(4));
        refused.finish(429, None);
        // Levels older than the kept five minutes prove nothing.
        tokio::time::advance(PEAK_WINDOW).await;
        assert_eq!(traffic.peak_since(&id(), arrived), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_dropped_request_leaves_flight_at_once_as_cancelled() {
        let traffic = Traffic::new();
        let guard = traffic.begin(&id(), "openai-python");
        assert_eq!(traffic.summary(&id()).in_flight, 1);
        let changes = traffic.subscribe();
        drop(guard);
        assert!(changes.has_changed().unwrap());
        let summary = traffic.summary(&id());
        assert_eq!(summary.in_flight, 0);
        assert_eq!(summary.by_status[&CLIENT_CLOSED], 1);
        assert_eq!(summary.clients["openai-python"].in_flight, 0);
        let figures = traffic.figures(&id());
        assert_eq!(figures.cancelled.last_5m, 1);
        assert_eq!(figures.errors.last_5m, 0, "a hang-up is not an error");
    }

    #[tokio::test(start_paused = true)]
    async fn latency_first_token_and_speed() {
        let traffic = Traffic::new();
        let mut guard = traffic.begin(&id(), "Kimi CLI");
        tokio::time::advance(Duration::from_millis(400)).await;
        guard.first_byte();
        tokio::time::advance(Duration::from_secs(2)).await;
        guard.finish(200, tokens(5, 200));
        let summary = traffic.summary(&id());
        assert_eq!(summary.first_token_p50_ms, Some(400.0));
        assert_eq!(summary.latency_p50_ms, Some(2400.0));
        assert_eq!(summary.output_tokens_per_s_p50, Some(100.0));
        let figures = traffic.figures(&id());
        assert_eq!(figures.first_token_ms_p50, Some(400.0));
        assert_eq!(figures.output_tokens_per_s_p50, Some(100.0));
        assert_eq!(figures.tools[0].first_token_ms_p50, Some(400.0));
    }

    #[tokio::test(start_paused = true)]
    async fn latency_counts_from_arrival_and_the_queue_wait_apart() {
        let traffic = Traffic::new();
        let seen = Arc::new(Seen::default());
        traffic.set_observer(seen.clone());
        let arrived = Instant::now();
        tokio::time::advance(Duration::from_secs(6)).await;
        let mut guard = traffic.begin_at(&id(), "Claude Code", arrived);
        tokio::time::advance(Duration::from_millis(500)).await;
        guard.first_byte();
        tokio::time::advance(Duration::from_millis(2700)).await;
        guard.finish(200, tokens(10, 270));
        assert_eq!(
            *seen.0.lock().unwrap(),
            [
                "kimi-main Claude Code waited 6s",
                "kimi-main Claude Code 200 9.2s"
            ]
        );
        assert_eq!(
            *seen.1.lock().unwrap(),
            [(Duration::from_secs(6), Some(Duration::from_millis(500)))],
            "the queue wait apart, first byte from sending on"
        );
        let figures = traffic.figures(&id());
        assert_eq!(figures.queue_wait_ms.p50, Some(6000.0));
        assert_eq!(figures.queue_wait_ms.p95, Some(6000.0));
        assert_eq!(figures.first_token_ms_p50, Some(500.0));
        assert_eq!(figures.output_tokens_per_s_p50, Some(100.0));
        assert_eq!(traffic.summary(&id()).latency_p50_ms, Some(9200.0));
    }

    #[tokio::test(start_paused = true)]
    async fn requests_errors_and_cancellations_by_minute() {
        let (traffic, origin) = traffic_on_the_minute();
        for status in [200, 429, 502] {
            traffic.begin(&id(), "aider").finish(status, None);
        }
        drop(traffic.begin(&id(), "aider"));
        let at = |offset: Duration| traffic.figures_at(&id(), origin + offset, Duration::ZERO);
        let now = at(Duration::from_secs(30));
        assert_eq!(
            now.requests,
            Counts {
                last_5m: 4,
                last_hour: 4
            }
        );
        assert_eq!(
            now.errors,
            Counts {
                last_5m: 2,
                last_hour: 2
            }
        );
        assert_eq!(
            now.cancelled,
            Counts {
                last_5m: 1,
                last_hour: 1
            }
        );
        // "The last 5 minutes" are this minute and the four before it.
        let later = at(4 * MINUTE + Duration::from_secs(59));
        assert_eq!(later.requests.last_5m, 4);
        let later = at(5 * MINUTE);
        assert_eq!(
            later.requests,
            Counts {
                last_5m: 0,
                last_hour: 4
            }
        );
        let later = at(59 * MINUTE + Duration::from_secs(59));
        assert_eq!(later.requests.last_hour, 4);
        let gone = at(60 * MINUTE);
        assert_eq!(gone.requests, Counts::default());
        assert_eq!(gone.errors, Counts::default());
        assert_eq!(gone.queue_wait_ms, Percentiles::default());
        assert!(gone.tools.is_empty(), "an idle tool is not listed");
    }

    #[tokio::test(start_paused = true)]
    async fn tokens_for_the_last_five_hours_and_today() {
        let (traffic, origin) = traffic_on_the_minute();
        // One answer per hour, the first at the origin.
        for hour in 0..8 {
            traffic.begin(&id(), "Codex").finish(200, tokens(100, 10));
            if hour < 7 {
                tokio::time::advance(60 * MINUTE).await;
            }
        }
        let now = origin + 7 * 60 * MINUTE;
        // Today began 6 h 30 min ago (between the answers of hours 0 and 1).
        let figures = traffic.figures_at(&id(), now, 6 * 60 * MINUTE + 30 * MINUTE);
        assert_eq!(figures.tokens.last_5h, tokens(500, 50).unwrap());
        assert_eq!(figures.tokens.today, tokens(700, 70).unwrap());
        assert_eq!(figures.tools[0].tool, "Codex");
        assert_eq!(figures.tools[0].tokens, figures.tokens);
        // Past midnight, today starts afresh; 25 hours on, nothing is left.
        let after_midnight = traffic.figures_at(&id(), now + MINUTE, Duration::from_secs(30));
        assert_eq!(after_midnight.tokens.today, TokenUsage::default());
        let day_later = traffic.figures_at(&id(), now + 25 * 60 * MINUTE, 12 * 60 * MINUTE);
        assert_eq!(day_later.tokens, TokenTotals::default());
    }

    #[tokio::test(start_paused = true)]
    async fn tools_are_counted_apart() {
        let traffic = Traffic::new();
        let held = traffic.begin(&id(), "Claude Code");
        traffic
            .begin(&id(), "openai-python")
            .finish(500, tokens(1, 0));
        traffic
            .begin(&id(), "openai-python")
            .finish(200, tokens(3, 4));
        let figures = traffic.figures(&id());
        assert_eq!(figures.in_flight, 1);
        assert_eq!(figures.requests.last_5m, 2);
        let names: Vec<&str> = figures.tools.iter().map(|t| t.tool.as_str()).collect();
        assert_eq!(names, ["Claude Code", "openai-python"]);
        let (claude, python) = (&figures.tools[0], &figures.tools[1]);
        assert_eq!((claude.in_flight, claude.requests.last_5m), (1, 0));
        assert_eq!((python.in_flight, python.requests.last_5m), (0, 2));
        assert_eq!(python.errors.last_5m, 1);
        assert_eq!(python.tokens.today, tokens(4, 4).unwrap());
        drop(held);
    }

    #[tokio::test(start_paused = true)]
    async fn waiting_in_the_queue_counts_for_the_tool_and_records_the_wait() {
        let traffic = Traffic::new();
        let seen = Arc::new(Seen::default());
        traffic.set_observer(seen.clone());
        let (open, opened) = tokio::sync::oneshot::channel::<Result<(), ()>>();
        let waiter = {
            let traffic = traffic.clone();
            tokio::spawn(async move {
                let arrived = Instant::now();
                let admission = async { opened.await.unwrap() };
                let answer = traffic
                    .wait_in_queue(&id(), "aider", arrived, admission)
                    .await;
                answer.map(|()| traffic.begin_at(&id(), "aider", arrived))
            })
        };
        tokio::task::yield_now().await;
        assert_eq!(traffic.figures(&id()).tools[0].queued, 1);
        tokio::time::advance(Duration::from_secs(3)).await;
        open.send(Ok(())).unwrap();
        let guard = waiter.await.unwrap().unwrap();
        let figures = traffic.figures(&id());
        assert_eq!((figures.tools[0].queued, figures.in_flight), (0, 1));
        assert_eq!(figures.queue_wait_ms.p50, Some(3000.0));
        drop(guard);

        // Let through at once: no place in line, and a wait of nothing.
        let now = Instant::now();
        let account = id();
        let at_once = traffic.wait_in_queue(&account, "aider", now, async { Ok::<_, ()>(()) });
        assert_eq!(at_once.await, Ok(()));
        traffic.begin_at(&id(), "aider", now).finish(200, None);
        // Turned away after a wait, and a client that gave up waiting: both waits count.
        let refused = traffic.wait_in_queue(&account, "aider", Instant::now(), async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Err::<(), _>("timed out")
        });
        assert_eq!(refused.await, Err("timed out"));
        let gave_up = traffic.wait_in_queue(&account, "aider", Instant::now(), async {
            std::future::pending::<Result<(), ()>>().await
        });
        assert!(
            tokio::time::timeout(Duration::from_secs(10), gave_up)
                .await
                .is_err()
        );
        let figures = traffic.figures(&id());
        assert_eq!(figures.tools[0].queued, 0);
        let waits: Vec<String> = seen
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|line| line.contains("waited"))
            .cloned()
            .collect();
        assert_eq!(
            waits,
            [
                "kimi-main aider waited 3s",
                "kimi-main aider waited 0ns",
                "kimi-main aider waited 60s",
                "kimi-main aider waited 10s"
            ]
        );
        assert_eq!(figures.queue_wait_ms.p50, Some(3000.0));
        assert_eq!(figures.queue_wait_ms.p95, Some(60000.0));
    }

    #[tokio::test(start_paused = true)]
    async fn answered_requests_are_counted_between_two_times() {
        let (traffic, origin) = traffic_on_the_minute();
        let wall = Timestamp::now();
        let at = |offset: Duration| {
            wall + jiff::SignedDuration::try_from(offset).unwrap()
                - jiff::SignedDuration::try_from(Instant::now() - origin).unwrap()
        };
        // Two answered at 10 min, a refusal at 20 min, one answered at 90 min.
        tokio::time::advance(10 * MINUTE).await;
        traffic.begin(&id(), "x").finish(200, None);
        traffic.begin(&id(), "x").finish(200, None);
        tokio::time::advance(10 * MINUTE).await;
        traffic.begin(&id(), "x").finish(429, None);
        tokio::time::advance(70 * MINUTE).await;
        traffic.begin(&id(), "x").finish(200, None);
        let between =
            |from: Duration, to: Duration| traffic.answered_between(&id(), at(from), at(to));
        assert_eq!(between(Duration::ZERO, 100 * MINUTE), 3);
        assert_eq!(
            between(11 * MINUTE, 100 * MINUTE),
            1,
            "only the one at 90 min"
        );
        assert_eq!(between(Duration::ZERO, 80 * MINUTE), 2);
        assert_eq!(
            between(15 * MINUTE, 80 * MINUTE),
            0,
            "the refusal does not count"
        );
        assert_eq!(
            traffic.answered_between(
                &"other".parse().unwrap(),
                at(Duration::ZERO),
                at(100 * MINUTE)
            ),
            0
        );
    }

    #[test]
    fn answered_hours_never_count_more_than_the_truth() {
        let mut hour = Answered::default();
        assert_eq!(hour.between(0, 100), 0);
        hour.add(5, 10, 50);
        assert_eq!(hour.between(0, 100), 5);
        assert_eq!(hour.between(10, 50), 5);
        assert_eq!(
            hour.between(20, 100),
            1,
            "the last is inside, the first not"
        );
        assert_eq!(hour.between(0, 40), 1, "the first is inside, the last not");
        assert_eq!(hour.between(20, 40), 0, "maybe some, maybe none");
        assert_eq!(hour.between(60, 100), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn remembered_traffic_seeds_the_figures() {
        let (traffic, origin) = traffic_on_the_minute();
        let wall_ms = 1_800_000_000_000 - 1_800_000_000_000 % MINUTE_MS;
        let account = id();
        let remembered = vec![
            Remembered::Answered {
                account: account.clone(),
                count: 40,
                first_ms: wall_ms - 3 * HOUR_MS,
                last_ms: wall_ms - 3 * HOUR_MS + 20 * MINUTE_MS,
            },
            Remembered::Tokens {
                account: account.clone(),
                client: "Claude Code".into(),
                minute_ms: wall_ms - 3 * HOUR_MS,
                tokens: tokens(1000, 200).unwrap(),
            },
            Remembered::Request {
                account: account.clone(),
                client: "Claude Code".into(),
                finished_ms: wall_ms - 10 * MINUTE_MS,
                status: 200,
                latency: Duration::from_secs(5),
                queue_wait: Some(Duration::from_secs(2)),
                first_byte: Some(Duration::from_secs(1)),
                tokens: tokens(10, 20),
            },
            Remembered::Request {
                account: account.clone(),
                client: "aider".into(),
                finished_ms: wall_ms - 2 * MINUTE_MS,
                status: 503,
                latency: Duration::from_secs(1),
                queue_wait: None,
                first_byte: None,
                tokens: None,
            },
        ];
        let changes = traffic.subscribe();
        traffic.remember(remembered, wall_ms);
        assert!(changes.has_changed().unwrap());
        let figures = traffic.figures_at(&account, origin, 4 * 60 * MINUTE);
        assert_eq!(
            figures.requests,
            Counts {
                last_5m: 1,
                last_hour: 2
            }
        );
        assert_eq!(
            figures.errors,
            Counts {
                last_5m: 1,
                last_hour: 1
            }
        );
        assert_eq!(figures.tokens.last_5h, tokens(1010, 220).unwrap());
        assert_eq!(figures.tokens.today, tokens(1010, 220).unwrap());
        assert_eq!(figures.queue_wait_ms.p50, Some(2000.0));
        assert_eq!(figures.first_token_ms_p50, Some(1000.0));
        assert_eq!(figures.output_tokens_per_s_p50, Some(10.0));
        assert_eq!(figures.in_flight, 0);
        let names: Vec<&str> = figures.tools.iter().map(|t| t.tool.as_str()).collect();
        assert_eq!(names, ["Claude Code", "aider"]);
        let wall = Timestamp::from_millisecond(wall_ms).unwrap();
        let hours = |h: i64| jiff::SignedDuration::from_hours(h);
        assert_eq!(
            traffic.answered_between_at(&account, wall - hours(4), wall, origin, wall),
            41,
            "the hour's 40 and the answered request of 10 minutes ago"
        );
    }

    #[derive(Default)]
    struct Seen(Mutex<Vec<String>>, Mutex<Vec<(Duration, Option<Duration>)>>);

    impl TrafficObserver for Seen {
        fn request_finished(&self, r: &FinishedRequest<'_>) {
            let line = format!("{} {} {} {:?}", r.account, r.client, r.status, r.latency);
            self.0.lock().unwrap().push(line);
            self.1.lock().unwrap().push((r.queue_wait, r.first_byte));
        }
        fn throttled(&self, account: &AccountId, client: &str, event: &ThrottleEvent) {
            let line = format!("{account} {client} {:?}", event.cause);
            self.0.lock().unwrap().push(line);
        }
        fn queue_waited(&self, account: &AccountId, client: &str, waited: Duration) {
            let line = format!("{account} {client} waited {waited:?}");
            self.0.lock().unwrap().push(line);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_observer_hears_finished_requests_and_refusals() {
        let traffic = Traffic::new();
        let seen = Arc::new(Seen::default());
        assert!(traffic.set_observer(seen.clone()));
        assert!(!traffic.set_observer(Arc::new(Seen::default())));
        let guard = traffic.begin(&id(), "curl");
        tokio::time::advance(Duration::from_millis(250)).await;
        guard.finish(200, None);
        drop(traffic.begin(&id(), "aider"));
        let event = ThrottleEvent {
            at: jiff::Timestamp::now(),
            cause: Cause::Rpm,
            status: 429,
            retry_after_s: None,
            message: String::new(),
            advice: String::new(),
            in_flight: None,
        };
        traffic.record_throttle(&id(), "curl", event);
        assert_eq!(
            *seen.0.lock().unwrap(),
            [
                "kimi-main curl waited 0ns",
                "kimi-main curl 200 250ms",
                "kimi-main aider waited 0ns",
                "kimi-main aider 499 0ns",
                "kimi-main curl Rpm"
            ]
        );
    }

    #[test]
    fn throttles_are_kept_per_account_and_client() {
        let traffic = Traffic::new();
        let event = ThrottleEvent {
            at: jiff::Timestamp::now(),
            cause: Cause::Concurrency,
            status: 429,
            retry_after_s: None,
            message: "too many".into(),
            advice: "lower parallelism".into(),
            in_flight: None,
        };
        traffic.record_throttle(&id(), "Claude Code", event.clone());
        assert_eq!(traffic.throttles(&id()), vec![event.clone()]);
        assert_eq!(
            traffic.throttles_by_tool(&id()),
            vec![("Claude Code".to_owned(), event)]
        );
        assert_eq!(traffic.summary(&id()).clients["Claude Code"].throttles, 1);
        assert!(traffic.throttles(&"other".parse().unwrap()).is_empty());
    }

    #[test]
    fn header_windows_replace_their_kind() {
        use crate::providers::snapshot::{Unit, WindowKind};
        let traffic = Traffic::new();
        let rpm = |remaining| {
            Window::new(WindowKind::Rpm, Unit::Requests).counts(None, Some(100.0), Some(remaining))
        };
        traffic.record_windows(
            &id(),
            vec![rpm(90.0), Window::new(WindowKind::Tpm, Unit::Tokens)],
        );
        traffic.record_windows(&id(), vec![rpm(40.0)]);
        let windows = traffic.summary(&id()).windows;
        assert_eq!(windows.len(), 2);
        assert_eq!(
            windows
                .iter()
                .find(|w| w.kind == WindowKind::Rpm)
                .unwrap()
                .remaining,
            Some(40.0)
        );
    }
}
