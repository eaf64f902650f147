//! Live traffic per account, as the local proxy sees it: requests in flight now and their
//! recent peak, requests per minute, answers by status, latency, time to first token, output
//! speed, tokens, which tools sent what, and every refusal with its cause.
//!
//! The proxy holds a [`RequestGuard`] for each request; dropping it (the client went away, the
//! task was cancelled) takes the request out of flight at once. Every change bumps a counter
//! on a `watch` channel so the status can be rebuilt.

use crate::keys::account_id::AccountId;
use crate::providers::snapshot::Window;
use crate::status::health::ThrottleEvent;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// How far back "peak in flight" looks.
pub const PEAK_WINDOW: Duration = Duration::from_secs(5 * 60);
/// How many latency samples and refusals are kept per account.
const KEEP_SAMPLES: usize = 500;
const KEEP_THROTTLES: usize = 1000;

/// Tokens one answer used, from the provider's usage fields (final SSE chunk or JSON body).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TokenUsage {
    pub input: u64,
    pub output: u64,
}

#[derive(Default)]
struct AccountTraffic {
    in_flight: u64,
    queued: u64,
    /// In-flight levels per second, for the 5-minute peak.
    levels: VecDeque<LevelSecond>,
    /// Request starts per second, for requests per minute.
    starts: VecDeque<(Instant, u64)>,
    by_status: BTreeMap<u16, u64>,
    latency_ms: VecDeque<f64>,
    first_token_ms: VecDeque<f64>,
    tokens_per_s: VecDeque<f64>,
    tokens: TokenUsage,
    clients: BTreeMap<String, ClientTraffic>,
    /// Each refusal with the tool that received it.
    throttles: VecDeque<(String, ThrottleEvent)>,
    windows: Vec<Window>,
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

/// What the status and the dashboard show of an account's traffic.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct TrafficSummary {
    pub in_flight: u64,
    pub peak: u64,
    pub queued: u64,
    pub requests_per_minute: u64,
    pub by_status: BTreeMap<u16, u64>,
    pub latency_p50_ms: Option<f64>,
    pub first_token_p50_ms: Option<f64>,
    pub output_tokens_per_s_p50: Option<f64>,
    pub tokens: TokenUsage,
    pub clients: BTreeMap<String, ClientTraffic>,
    /// Windows read from the rate-limit headers of the latest answers (OpenAI, Anthropic).
    pub windows: Vec<Window>,
}

/// One finished request as the history and the metrics keep it: never a body or a key.
#[derive(Clone, Debug, PartialEq)]
pub struct FinishedRequest<'a> {
    pub account: &'a AccountId,
    pub client: &'a str,
    pub status: u16,
    pub latency: Duration,
    pub first_byte: Option<Duration>,
    pub tokens: Option<TokenUsage>,
}

/// Told of every finished request and refusal, after the books here are updated; keeps
/// `traffic` free of storage (the daemon plugs in the history store and the metrics).
/// Called on the proxy's path, so an observer must not block.
pub trait TrafficObserver: Send + Sync {
    fn request_finished(&self, request: &FinishedRequest<'_>);
    fn throttled(&self, account: &AccountId, client: &str, event: &ThrottleEvent);
}

/// All accounts' traffic. Shared (`Arc`) between the proxy and the status builder.
pub struct Traffic {
    accounts: Mutex<HashMap<AccountId, AccountTraffic>>,
    changes: watch::Sender<u64>,
    observer: OnceLock<Arc<dyn TrafficObserver>>,
}

impl Traffic {
    pub fn new() -> Arc<Traffic> {
        Arc::new(Traffic {
            accounts: Mutex::new(HashMap::new()),
            changes: watch::channel(0).0,
            observer: OnceLock::new(),
        })
    }

    /// Sets the one observer (the first call wins; later ones are ignored and return false).
    pub fn set_observer(&self, observer: Arc<dyn TrafficObserver>) -> bool {
        self.observer.set(observer).is_ok()
    }

    /// Wakes on every change.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// A request to `account` from `client` goes in flight until the guard is finished or
    /// dropped.
    pub fn begin(self: &Arc<Self>, account: &AccountId, client: &str) -> RequestGuard {
        let now = Instant::now();
        self.change(account, |t| {
            t.in_flight += 1;
            record_level(&mut t.levels, now, t.in_flight);
            record_start(&mut t.starts, now);
            // Looked up before inserting, so a known client costs no allocation.
            let c = match t.clients.get_mut(client) {
                Some(c) => c,
                None => t.clients.entry(client.to_owned()).or_default(),
            };
            c.requests += 1;
            c.in_flight += 1;
        });
        RequestGuard {
            traffic: self.clone(),
            account: account.clone(),
            client: client.to_owned(),
            started: now,
            first_byte: None,
            done: false,
        }
    }

    /// Requests waiting in Redline's queue for a free slot under the concurrency cap.
    pub fn set_queued(&self, account: &AccountId, queued: u64) {
        self.change(account, |t| t.queued = queued);
    }

    /// A refusal (from the provider, or Redline's own queue timing out).
    pub fn record_throttle(&self, account: &AccountId, client: &str, event: ThrottleEvent) {
        if let Some(observer) = self.observer.get() {
            observer.throttled(account, client, &event);
        }
        self.change(account, |t| {
            t.clients.entry(client.to_owned()).or_default().throttles += 1;
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
        let mut accounts = self.lock();
        let Some(t) = accounts.get_mut(account) else {
            return TrafficSummary::default();
        };
        forget_old(t, now);
        TrafficSummary {
            in_flight: t.in_flight,
            peak: peak(&t.levels, now).max(t.in_flight),
            queued: t.queued,
            requests_per_minute: t.starts.iter().map(|(_, count)| count).sum(),
            by_status: t.by_status.clone(),
            latency_p50_ms: median(&t.latency_ms),
            first_token_p50_ms: median(&t.first_token_ms),
            output_tokens_per_s_p50: median(&t.tokens_per_s),
            tokens: t.tokens,
            clients: t.clients.clone(),
            windows: t.windows.clone(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<AccountId, AccountTraffic>> {
        self.accounts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn change(&self, account: &AccountId, update: impl FnOnce(&mut AccountTraffic)) {
        update(self.lock().entry(account.clone()).or_default());
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
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

fn median(samples: &VecDeque<f64>) -> Option<f64> {
    if samples.is_empty() {
        return None;
    }
    let mut sorted: Vec<f64> = samples.iter().copied().collect();
    sorted.sort_by(f64::total_cmp);
    Some(sorted[sorted.len() / 2])
}

/// One request in flight. Finish it with [`RequestGuard::finish`]; dropping it unfinished
/// counts as a cancelled request (status 499, as nginx logs a client that went away).
pub struct RequestGuard {
    traffic: Arc<Traffic>,
    account: AccountId,
    client: String,
    started: Instant,
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
        let (started, first_byte, client) = (self.started, self.first_byte, &self.client);
        self.traffic.change(&self.account, |t| {
            t.in_flight = t.in_flight.saturating_sub(1);
            record_level(&mut t.levels, now, t.in_flight);
            if let Some(c) = t.clients.get_mut(client) {
                c.in_flight = c.in_flight.saturating_sub(1);
            }
            *t.by_status.entry(status).or_default() += 1;
            push_bounded(&mut t.latency_ms, millis(now - started), KEEP_SAMPLES);
            if let Some(first) = first_byte {
                push_bounded(&mut t.first_token_ms, millis(first - started), KEEP_SAMPLES);
            }
            if let Some(tokens) = tokens {
                t.tokens.input += tokens.input;
                t.tokens.output += tokens.output;
                let streaming = first_byte.map(|first| now - first).filter(|d| !d.is_zero());
                if let Some(span) = streaming
                    && tokens.output > 0
                {
                    push_bounded(
                        &mut t.tokens_per_s,
                        tokens.output as f64 / span.as_secs_f64(),
                        KEEP_SAMPLES,
                    );
                }
            }
        });
        if let Some(observer) = self.traffic.observer.get() {
            observer.request_finished(&FinishedRequest {
                account: &self.account,
                client: &self.client,
                status,
                latency: now - started,
                first_byte: first_byte.map(|first| first - started),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::throttle::Cause;

    fn id() -> AccountId {
        "kimi-main".parse().unwrap()
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
            guard.finish(
                200,
                Some(TokenUsage {
                    input: 10,
                    output: 20,
                }),
            );
        }
        let summary = traffic.summary(&id());
        assert_eq!((summary.in_flight, summary.peak), (0, 5));
        assert_eq!(summary.by_status[&200], 5);
        assert_eq!(
            summary.tokens,
            TokenUsage {
                input: 50,
                output: 100
            }
        );

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
    }

    #[tokio::test(start_paused = true)]
    async fn latency_first_token_and_speed() {
        let traffic = Traffic::new();
        let mut guard = traffic.begin(&id(), "Kimi CLI");
        tokio::time::advance(Duration::from_millis(400)).await;
        guard.first_byte();
        tokio::time::advance(Duration::from_secs(2)).await;
        guard.finish(
            200,
            Some(TokenUsage {
                input: 5,
                output: 200,
            }),
        );
        let summary = traffic.summary(&id());
        assert_eq!(summary.first_token_p50_ms, Some(400.0));
        assert_eq!(summary.latency_p50_ms, Some(2400.0));
        assert_eq!(summary.output_tokens_per_s_p50, Some(100.0));
    }

    #[derive(Default)]
    struct Seen(Mutex<Vec<String>>);

    impl TrafficObserver for Seen {
        fn request_finished(&self, r: &FinishedRequest<'_>) {
            let line = format!("{} {} {} {:?}", r.account, r.client, r.status, r.latency);
            self.0.lock().unwrap().push(line);
        }
        fn throttled(&self, account: &AccountId, client: &str, event: &ThrottleEvent) {
            let line = format!("{account} {client} {:?}", event.cause);
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
        };
        traffic.record_throttle(&id(), "curl", event);
        assert_eq!(
            *seen.0.lock().unwrap(),
            [
                "kimi-main curl 200 250ms",
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
