//! `GET /metrics`: Prometheus / OpenMetrics text for the local port (token required, like every
//! route). Counters of requests and refusals are kept as they happen (Redline is a
//! [`TrafficObserver`]); gauges are read from the status at scrape time, so an account that is
//! removed disappears from the next scrape.
//!
//! | metric | labels | what |
//! |---|---|---|
//! | `redline_in_flight` | account | requests in flight through the proxy now |
//! | `redline_in_flight_peak` | account | highest in flight in the last 5 minutes |
//! | `redline_queued` | account | requests waiting in Redline's queue now |
//! | `redline_requests_total` | account, client, status | proxied requests finished |
//! | `redline_tokens_total` | account, client, direction | tokens the provider reported (`input`, `output`) |
//! | `redline_queue_wait_seconds` | account | histogram: time requests spent in Redline's queue |
//! | `redline_first_token_seconds` | account | histogram: from sending a request on to its first byte back |
//! | `redline_throttles_total` | account, cause | refusals, by cause |
//! | `redline_window_used_ratio` | account, window | share of a quota window used (0-1) |
//! | `redline_window_reset_seconds` | account, window | seconds until the window resets |
//! | `redline_poll_error` | account | 1 when the last usage poll failed |
//! | `redline_history_dropped_rows_total` | | history rows lost (writer behind or failing) |
//! | `redline_process_resident_memory_bytes` | | Redline's resident memory (Linux) |
//! | `redline_connections_open` | | connections open to the local port now |
//! | `redline_connections_refused_total` | | connections closed or turned away at the cap (`proxy.max_connections`) |
//! | `redline_shared_in_flight` | account, machine, scope | leases on the shared cap: `here` (this machine) or `group` (all machines) |
//! | `redline_shared_queued` | account, machine, scope | requests waiting for a lease on the shared cap, `here` or in the `group` |
//! | `redline_shared_machines` | account, machine | Redline instances using the shared cap now |
//! | `redline_shared_available` | account, machine | 1 while the shared cap is in force, 0 while the server is out of reach |

use crate::history::store::StoreStats;
use crate::keys::account_id::AccountId;
use crate::proxy::traffic::{FinishedRequest, TrafficObserver};
use crate::serve::listener::ConnectionFigures;
use crate::status::health::ThrottleEvent;
use crate::status::model::Status;
use jiff::Timestamp;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

/// The content type of [`Metrics::render`].
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    account: String,
    client: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    account: String,
    client: String,
    /// `input` or `output`.
    direction: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ThrottleLabels {
    account: String,
    cause: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AccountLabels {
    account: String,
}

/// A shared cap's figures as one machine sees them. `machine` tells the machines apart when
/// one Prometheus gathers them all (`sum by (account) (…{scope="here"})` is the group).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SharedLabels {
    account: String,
    machine: String,
    /// `here` or `group`.
    scope: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MachineLabels {
    account: String,
    machine: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WindowLabels {
    account: String,
    window: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;

type Histograms = Family<AccountLabels, Histogram, fn() -> Histogram>;

/// Seconds in Redline's queue: most requests go straight through, a few wait up to
/// `queue_max_wait_s` (60 s by default).
const QUEUE_WAIT_BUCKETS: [f64; 13] = [
    0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0, 60.0,
];
/// Seconds to the first byte: a fraction of a second for a short answer, minutes for a model
/// that thinks long.
const FIRST_TOKEN_BUCKETS: [f64; 13] = [
    0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 20.0, 30.0, 60.0, 120.0,
];

fn queue_wait_histogram() -> Histogram {
    Histogram::new(QUEUE_WAIT_BUCKETS)
}

fn first_token_histogram() -> Histogram {
    Histogram::new(FIRST_TOKEN_BUCKETS)
}

/// The counters and histograms that live as long as the process. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Metrics {
    requests: Family<RequestLabels, Counter>,
    tokens: Family<TokenLabels, Counter>,
    throttles: Family<ThrottleLabels, Counter>,
    queue_wait: Histograms,
    first_token: Histograms,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            requests: Family::default(),
            tokens: Family::default(),
            throttles: Family::default(),
            queue_wait: Family::new_with_constructor(queue_wait_histogram),
            first_token: Family::new_with_constructor(first_token_histogram),
        }
    }
}

impl TrafficObserver for Metrics {
    fn request_finished(&self, request: &FinishedRequest<'_>) {
        let account = request.account.to_string();
        if let Some(tokens) = request.tokens {
            for (direction, count) in [("input", tokens.input), ("output", tokens.output)] {
                self.tokens
                    .get_or_create(&TokenLabels {
                        account: account.clone(),
                        client: request.client.to_owned(),
                        direction,
                    })
                    .inc_by(count);
            }
        }
        if let Some(first) = request.first_byte {
            self.first_token
                .get_or_create(&AccountLabels {
                    account: account.clone(),
                })
                .observe(first.as_secs_f64());
        }
        self.requests
            .get_or_create(&RequestLabels {
                account,
                client: request.client.to_owned(),
                status: request.status.to_string(),
            })
            .inc();
    }

    fn queue_waited(&self, account: &AccountId, _client: &str, waited: Duration) {
        self.queue_wait
            .get_or_create(&AccountLabels {
                account: account.to_string(),
            })
            .observe(waited.as_secs_f64());
    }

    fn throttled(&self, account: &AccountId, _client: &str, event: &ThrottleEvent) {
        self.throttles
            .get_or_create(&ThrottleLabels {
                account: account.to_string(),
                cause: cause_name(event),
            })
            .inc();
    }
}

fn cause_name(event: &ThrottleEvent) -> String {
    serde_json::to_value(event.cause)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "other".to_owned())
}

/// `five_hour`, or `weekly:opus` for a scoped window; the same key the history uses.
pub fn window_key(kind: crate::providers::snapshot::WindowKind, scope: Option<&str>) -> String {
    let kind = serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    match scope {
        Some(scope) => format!("{kind}:{scope}"),
        None => kind,
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        Metrics::default()
    }

    /// The text a scrape gets: the counters plus gauges read from `status` at `now`, and the
    /// local port's `connections`.
    pub fn render(
        &self,
        status: &Status,
        history: Option<StoreStats>,
        connections: ConnectionFigures,
        now: Timestamp,
    ) -> String {
        let mut registry = Registry::default();
        registry.register(
            "redline_requests",
            "Requests finished through the proxy, by account, client and HTTP status (499: the client went away)",
            self.requests.clone(),
        );
        registry.register(
            "redline_tokens",
            "Tokens the provider reported for proxied answers, by account, client and direction (input, output)",
            self.tokens.clone(),
        );
        registry.register(
            "redline_throttles",
            "Refusals (429 and kin) by account and cause",
            self.throttles.clone(),
        );
        registry.register(
            "redline_queue_wait_seconds",
            "Time requests spent in Redline's queue under the concurrency cap (0 when they went straight through)",
            self.queue_wait.clone(),
        );
        registry.register(
            "redline_first_token_seconds",
            "Time from sending a request on to the first byte of its answer",
            self.first_token.clone(),
        );
        let in_flight = Family::<AccountLabels, Gauge>::default();
        let peak = Family::<AccountLabels, Gauge>::default();
        let queued = Family::<AccountLabels, Gauge>::default();
        let poll_error = Family::<AccountLabels, Gauge>::default();
        let used = Family::<WindowLabels, FloatGauge>::default();
        let reset = Family::<WindowLabels, FloatGauge>::default();
        let shared_in_flight = Family::<SharedLabels, Gauge>::default();
        let shared_queued = Family::<SharedLabels, Gauge>::default();
        let shared_machines = Family::<MachineLabels, Gauge>::default();
        let shared_available = Family::<MachineLabels, Gauge>::default();
        for account in &status.accounts {
            let labels = AccountLabels {
                account: account.id.clone(),
            };
            let level = |n: Option<u64>| i64::try_from(n.unwrap_or(0)).unwrap_or(i64::MAX);
            in_flight
                .get_or_create(&labels)
                .set(level(account.concurrency.in_flight));
            peak.get_or_create(&labels)
                .set(level(account.concurrency.peak));
            let waiting = account.traffic.as_ref().map(|t| t.figures.queued);
            queued
                .get_or_create(&labels)
                .set(level(waiting.or(account.concurrency.queued)));
            poll_error
                .get_or_create(&labels)
                .set(i64::from(last_poll_failed(account)));
            if let Some(shared) = &account.shared {
                let at = |scope| SharedLabels {
                    account: account.id.clone(),
                    machine: shared.machine.clone(),
                    scope,
                };
                let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
                shared_in_flight
                    .get_or_create(&at("here"))
                    .set(count(shared.here_in_flight));
                shared_queued
                    .get_or_create(&at("here"))
                    .set(count(shared.here_queued));
                // The group's figures only while they are read from the server.
                if let Some(n) = shared.group_in_flight {
                    shared_in_flight.get_or_create(&at("group")).set(count(n));
                }
                if let Some(n) = shared.group_queued {
                    shared_queued.get_or_create(&at("group")).set(count(n));
                }
                let machine = MachineLabels {
                    account: account.id.clone(),
                    machine: shared.machine.clone(),
                };
                if let Some(n) = shared.machines {
                    shared_machines.get_or_create(&machine).set(count(n));
                }
                shared_available
                    .get_or_create(&machine)
                    .set(i64::from(shared.state == "shared"));
            }
            for window in &account.windows {
                let labels = WindowLabels {
                    account: account.id.clone(),
                    window: window_key(window.kind, window.scope.as_deref()),
                };
                if let Some(ratio) = window.used_ratio {
                    used.get_or_create(&labels).set(ratio);
                }
                if let Some(resets_at) = window.resets_at {
                    let seconds = resets_at.duration_since(now).as_secs_f64().max(0.0);
                    reset.get_or_create(&labels).set(seconds);
                }
            }
        }
        registry.register(
            "redline_in_flight",
            "Requests in flight through the proxy now",
            in_flight,
        );
        registry.register(
            "redline_in_flight_peak",
            "Highest number of requests in flight in the last 5 minutes",
            peak,
        );
        registry.register(
            "redline_queued",
            "Requests waiting in Redline's queue under the concurrency cap now",
            queued,
        );
        registry.register(
            "redline_window_used_ratio",
            "Share of a quota or rate window used, 0 to 1",
            used,
        );
        registry.register(
            "redline_window_reset_seconds",
            "Seconds until a quota or rate window resets",
            reset,
        );
        registry.register(
            "redline_poll_error",
            "1 when the last usage poll of the account failed (key rejected, provider unreachable or unreadable)",
            poll_error,
        );
        registry.register(
            "redline_shared_in_flight",
            "Leases held on the cap shared with other machines (shared.redis_url): scope here (this machine) or group (all machines)",
            shared_in_flight,
        );
        registry.register(
            "redline_shared_queued",
            "Requests waiting for a lease on the shared cap: scope here (this machine) or group (all machines)",
            shared_queued,
        );
        registry.register(
            "redline_shared_machines",
            "Redline instances using the shared cap now",
            shared_machines,
        );
        registry.register(
            "redline_shared_available",
            "1 while the cap shared with other machines is in force, 0 while its server is out of reach (this machine's cap alone)",
            shared_available,
        );
        if let Some(stats) = history {
            registry.register(
                "redline_history_dropped_rows",
                "History rows lost because the writer fell behind or could not write",
                ConstCounter::new(stats.dropped_rows),
            );
        }
        registry.register(
            "redline_connections_open",
            "Connections open to the local port now",
            ConstGauge::new(i64::try_from(connections.open).unwrap_or(i64::MAX)),
        );
        registry.register(
            "redline_connections_refused",
            "Connections to the local port closed or turned away because proxy.max_connections were open",
            ConstCounter::new(connections.refused),
        );
        if let Some(rss) = resident_memory_bytes() {
            registry.register(
                "redline_process_resident_memory_bytes",
                "Resident memory of the Redline process",
                ConstGauge::new(i64::try_from(rss).unwrap_or(i64::MAX)),
            );
        }
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry)
            .expect("writing to a String cannot fail");
        text
    }
}

/// A failed poll shows as `key_rejected`, or `no_data` once a poll has answered with an error
/// (before the first answer the reason is "No data yet.").
fn last_poll_failed(account: &crate::status::model::AccountStatus) -> bool {
    account.reasons.iter().any(|r| {
        r.code == "key_rejected"
            || (r.code == "no_data" && r.message != crate::status::health::NO_DATA_YET)
    })
}

/// Resident set size from `/proc/self/status` (`VmRSS`); `None` where there is no procfs.
pub fn resident_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_vm_rss(&status)
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line
        .trim_start_matches("VmRSS:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resident_memory_comes_from_vm_rss() {
        let status = "Name:\tredline\nVmPeak:\t  9000 kB\nVmRSS:\t   5120 kB\nThreads:\t4\n";
        assert_eq!(parse_vm_rss(status), Some(5120 * 1024));
        assert_eq!(parse_vm_rss("Name:\tx\n"), None);
        assert_eq!(parse_vm_rss("VmRSS:\tlots kB\n"), None);
        if cfg!(target_os = "linux") {
            assert!(resident_memory_bytes().unwrap() > 1024 * 1024);
        }
    }
}
