//! `Status`: the one value every view renders (CLI, tray, dashboard, Waybar), built from the
//! config and what was observed of each account. Its JSON is a stable contract (docs/architecture.md,
//! "Status JSON"); the words for it are in `render`.

use crate::config::{Account, Config};
use crate::keys::account_id::AccountId;
use crate::keys::age_days;
use crate::providers::snapshot::{Balance, Snapshot, Unit, Window, WindowKind};
use crate::providers::throttle::Cause;
use crate::providers::{ProviderId, provider};
use crate::proxy::traffic::{TokenUsage, Traffic, TrafficFigures};
use crate::status::health::{
    self, AnsweredInWindow, Inputs, Level, LimitSource, PollProblem, Reason, Shown, ThrottleEvent,
};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What is known of one account's provider and traffic.
#[derive(Clone, Debug, Default)]
pub struct Observed {
    pub snapshot: Option<Snapshot>,
    pub problem: Option<PollProblem>,
    pub updated_at: Option<Timestamp>,
    pub throttles: Vec<ThrottleEvent>,
    pub in_flight: Option<u64>,
    pub peak: Option<u64>,
    /// Requests waiting in Redline's queue; known once the proxy has seen traffic.
    pub queued: Option<u64>,
    /// Windows from the rate-limit headers of proxied answers.
    pub header_windows: Vec<Window>,
    /// The proxy's figures; `None` when the status is not the running engine's.
    pub traffic: Option<TrafficFigures>,
    /// Requests the proxy had answered inside each polled window by the poll.
    pub answered: Vec<AnsweredInWindow>,
    /// The shared limits' figures, when the account's cap is shared with other machines.
    pub shared: Option<SharedStatus>,
}

/// An account's cap shared with other machines (`shared.redis_url`): this machine's figures
/// and the whole group's side by side.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedStatus {
    /// This machine's name (the `machine` metric label).
    pub machine: String,
    /// `shared` (the group's cap in force) or `unavailable` (the server is out of reach: this
    /// machine's cap alone).
    pub state: String,
    pub here_in_flight: u64,
    pub here_queued: u64,
    /// The group's figures as last read from the server (`null` before the first reading).
    pub group_in_flight: Option<u64>,
    pub group_queued: Option<u64>,
    /// Redline instances using the account now.
    pub machines: Option<u64>,
    /// Why the server is out of reach, while it is (never a password).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

impl Observed {
    /// Fills in what the proxy saw of account `id`: in flight, queued, refusals, rate-limit
    /// windows, the traffic figures, and the requests answered inside each polled window (to
    /// doubt a provider's 0 %).
    pub fn add_traffic(&mut self, traffic: &Traffic, id: &AccountId) {
        let summary = traffic.summary(id);
        let proxied =
            summary.requests_per_minute > 0 || summary.peak > 0 || !summary.by_status.is_empty();
        self.in_flight = proxied.then_some(summary.in_flight);
        self.peak = proxied.then_some(summary.peak);
        self.queued = (proxied || summary.queued > 0).then_some(summary.queued);
        self.throttles = traffic.throttles(id);
        self.header_windows = summary.windows;
        self.traffic = Some(traffic.figures(id));
        self.shared = traffic.shared(id);
        self.answered = match (&self.snapshot, self.updated_at) {
            (Some(snapshot), Some(polled_at)) => snapshot
                .windows
                .iter()
                .filter_map(|window| {
                    let start = health::window_start(window, polled_at)?;
                    Some(AnsweredInWindow {
                        kind: window.kind,
                        scope: window.scope.clone(),
                        requests: traffic.answered_between(id, start, polled_at),
                    })
                })
                .collect(),
            _ => Vec::new(),
        };
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Status {
    pub level: Level,
    pub generated_at: Timestamp,
    pub accounts: Vec<AccountStatus>,
    /// The built-in demo is running: the accounts are simulated.
    #[serde(default)]
    pub demo: bool,
    /// AI coding tools running on this machine now (empty when not scanned).
    #[serde(default)]
    pub agents: Vec<RunningAgent>,
    /// Redline's own footprint (absent when not measured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<ProcessFootprint>,
}

/// One running AI coding tool. `command` is the program (and script) name only, never the
/// arguments, which may hold a key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunningAgent {
    pub tool: String,
    pub pid: u32,
    pub command: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProcessFootprint {
    pub rss_bytes: u64,
    pub cpu_percent: f64,
}

/// A tool configuration (or environment variable) that holds one of an account's keys.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyUse {
    /// `OpenClaw`, `Claude Code`, `Shell`, ...
    pub tool: String,
    /// Where: `~/.openclaw/openclaw.json` or `$OPENAI_API_KEY`.
    pub source: String,
    pub key: KeyUseKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyUseKind {
    /// The key in use now.
    Current,
    /// The key replaced by the last rotation: the tool needs the new one (or the proxy).
    Previous,
    /// Redline's local token with a base URL naming this account: the tool goes through the
    /// proxy, so rotations need no change in it.
    Proxy,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AccountStatus {
    pub id: String,
    pub provider: ProviderId,
    pub label: Option<String>,
    pub level: Level,
    pub reasons: Vec<Reason>,
    pub plan: Option<String>,
    pub windows: Vec<WindowStatus>,
    pub balances: Vec<Balance>,
    pub concurrency: Concurrency,
    /// What the proxy saw (`null` when the status was not built by the running engine).
    #[serde(default)]
    pub traffic: Option<TrafficStatus>,
    /// The cap shared with other machines, when `shared.redis_url` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared: Option<SharedStatus>,
    pub throttles: Throttles,
    pub key: KeyStatus,
    /// When the provider last answered with usage data.
    pub updated_at: Option<Timestamp>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WindowStatus {
    pub kind: WindowKind,
    pub scope: Option<String>,
    pub used: Option<f64>,
    pub limit: Option<f64>,
    pub remaining: Option<f64>,
    pub unit: Unit,
    pub used_ratio: Option<f64>,
    pub resets_at: Option<Timestamp>,
    /// This window against the user's thresholds, so a view colours its bar without judging;
    /// `unknown` while the figure is doubtful.
    #[serde(default)]
    pub level: Level,
    /// Why the provider's figure is not to be trusted (0 % used while Redline forwarded
    /// answered requests inside the window), or `null`.
    #[serde(default)]
    pub doubtful: Option<String>,
    /// The provider's own caveat about the figure (its two figures disagree), or `null`.
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Concurrency {
    /// The provider's limit on requests in flight.
    pub limit: Option<u64>,
    /// Where `limit` comes from: `provider`, `tier`, `assumed` (the plan's published figure)
    /// or `observed` (a concurrency refusal proved the assumed one too high).
    #[serde(default)]
    pub limit_source: Option<LimitSource>,
    /// Redline's concurrency cap in force (`null`: none).
    #[serde(default)]
    pub cap: Option<u64>,
    /// Requests in flight now and the peak of the last 5 minutes; known only through the proxy.
    pub in_flight: Option<u64>,
    pub peak: Option<u64>,
    /// Requests waiting in Redline's queue now; known only through the proxy.
    #[serde(default)]
    pub queued: Option<u64>,
    /// In flight against the lower of the cap and the limit (`unknown` without either, or
    /// without in flight).
    #[serde(default)]
    pub level: Level,
}

/// Requests in the last 5 minutes (this minute and the 4 before it) and the last hour (this
/// minute and the 59 before it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub last_5m: u64,
    pub last_hour: u64,
}

/// Percentiles of the samples of the last hour; `null` without samples.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    pub p50: Option<f64>,
    pub p95: Option<f64>,
}

/// Tokens in the last 5 hours and in the local calendar day.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenTotals {
    pub last_5h: TokenUsage,
    pub today: TokenUsage,
}

/// One tool's share of an account's traffic (named from its User-Agent).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ToolTraffic {
    pub tool: String,
    pub in_flight: u64,
    pub queued: u64,
    pub requests: Counts,
    pub errors: Counts,
    pub cancelled: Counts,
    pub tokens: TokenTotals,
    pub first_token_ms_p50: Option<f64>,
    pub output_tokens_per_s_p50: Option<f64>,
}

/// What the proxy saw of one account (`accounts[].traffic`; docs/architecture.md, "Status
/// JSON").
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TrafficStatus {
    /// In flight, queued, requests, errors, queue wait, tokens, speed and tools, as `Traffic`
    /// counts them (the JSON has them at this level).
    #[serde(flatten)]
    pub figures: TrafficFigures,
    /// Redline's concurrency cap in force (`null`: none).
    pub cap: Option<u64>,
    /// The provider's concurrency limit (`null`: unknown).
    pub limit: Option<u64>,
}

impl TrafficStatus {
    pub fn new(figures: TrafficFigures, cap: Option<u64>, limit: Option<u64>) -> TrafficStatus {
        TrafficStatus {
            figures,
            cap,
            limit,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Throttles {
    /// Refusals in the last hour.
    pub recent: usize,
    pub by_cause: BTreeMap<Cause, usize>,
    pub last: Option<LastThrottle>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LastThrottle {
    pub cause: Cause,
    pub status: u16,
    pub at: Timestamp,
    pub retry_after_s: Option<f64>,
    pub message: String,
    pub advice: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyHealth {
    Ok,
    Rejected,
    Unknown,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KeyStatus {
    pub fingerprint: Option<String>,
    pub age_days: Option<i64>,
    pub health: KeyHealth,
    /// Which tools hold this key (absent: not scanned).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub used_by: Option<Vec<KeyUse>>,
}

const RECENT_HOUR: SignedDuration = SignedDuration::from_hours(1);

/// Builds the status of every configured account. `shown` carries each account's hysteresis
/// state between calls (empty for a one-shot status).
pub fn build(
    config: &Config,
    observed: &BTreeMap<AccountId, Observed>,
    shown: &mut BTreeMap<AccountId, Shown>,
    now: Timestamp,
) -> Status {
    let none = Observed::default();
    let accounts: Vec<AccountStatus> = config
        .accounts
        .iter()
        .map(|(id, account)| {
            let seen = observed.get(id).unwrap_or(&none);
            let mut status = account_status(id, account, seen, config, now);
            let settled = health::settle(shown.get(id).copied(), status.level, now);
            shown.insert(id.clone(), settled);
            status.level = settled.level;
            status
        })
        .collect();
    let level = if accounts.is_empty() {
        Level::Unknown
    } else {
        accounts
            .iter()
            .fold(Level::Ok, |level, a| level.worst(a.level))
    };
    Status {
        level,
        generated_at: now,
        accounts,
        demo: false,
        agents: Vec::new(),
        process: None,
    }
}

/// Fills in each account's `key.used_by` from a scan; accounts the scan did not cover keep
/// theirs.
pub fn attach_key_uses(status: &mut Status, uses: &BTreeMap<String, Vec<KeyUse>>) {
    for account in &mut status.accounts {
        if let Some(found) = uses.get(&account.id) {
            account.key.used_by = Some(found.clone());
        }
    }
}

fn account_status(
    id: &AccountId,
    account: &Account,
    seen: &Observed,
    config: &Config,
    now: Timestamp,
) -> AccountStatus {
    let key_age_days = account.key_since().map(|since| age_days(since, now));
    let limit = health::concurrency_limit(
        seen.snapshot.as_ref().and_then(|s| s.concurrency_limit),
        seen.snapshot
            .as_ref()
            .is_some_and(|s| s.concurrency_limit_assumed),
        account
            .tier
            .and_then(|tier| provider(account.provider).tier_concurrency(tier)),
        &seen.throttles,
        now,
    );
    let concurrency_limit = limit.map(|(limit, _)| limit);
    let cap = Some(account.concurrency_cap.resolve(concurrency_limit)).filter(|cap| *cap > 0);
    // Windows from the proxy's rate-limit headers count for health like polled ones.
    let mut snapshot = seen.snapshot.clone().unwrap_or_default();
    snapshot.add_missing_windows(seen.header_windows.iter().cloned());
    let inputs = Inputs {
        snapshot: seen.snapshot.is_some().then_some(&snapshot),
        problem: seen.problem.as_ref(),
        throttles: &seen.throttles,
        in_flight: seen.in_flight,
        concurrency_limit,
        concurrency_cap: cap,
        queued: seen.queued,
        key_age_days,
        rotation_reminder_days: config.notifications.rotation_reminder_days,
        provider: Some(account.provider),
        answered: &seen.answered,
        shared_unavailable: seen
            .shared
            .as_ref()
            .filter(|s| s.state == "unavailable")
            .map(|s| s.problem.as_deref().unwrap_or("no answer yet")),
    };
    let thresholds = (&config.thresholds).into();
    let (level, reasons) = health::assess(&inputs, thresholds, now);
    let key_health = match &seen.problem {
        Some(PollProblem::KeyRejected(_)) => KeyHealth::Rejected,
        _ if seen.snapshot.is_some() => KeyHealth::Ok,
        _ => KeyHealth::Unknown,
    };
    AccountStatus {
        id: id.to_string(),
        provider: account.provider,
        label: account.label.clone(),
        level,
        reasons,
        plan: snapshot.plan,
        windows: snapshot
            .windows
            .iter()
            .map(|w| {
                let answered = health::answered_in(w, &seen.answered);
                let doubtful = health::doubtful_window(w, account.provider, answered);
                WindowStatus {
                    kind: w.kind,
                    scope: w.scope.clone(),
                    used: w.used,
                    limit: w.limit,
                    remaining: w.remaining,
                    unit: w.unit,
                    used_ratio: w.used_ratio(),
                    resets_at: w.resets_at,
                    level: match doubtful {
                        Some(_) => Level::Unknown,
                        None => health::window_level(w, thresholds),
                    },
                    doubtful,
                    note: w.note.clone(),
                }
            })
            .collect(),
        balances: snapshot.balances,
        concurrency: Concurrency {
            limit: concurrency_limit,
            limit_source: limit.map(|(_, source)| source),
            cap,
            in_flight: seen.in_flight,
            peak: seen.peak,
            queued: seen.queued,
            level: health::concurrency_level(
                seen.in_flight,
                health::concurrency_ceiling(cap, concurrency_limit),
            ),
        },
        traffic: seen
            .traffic
            .clone()
            .map(|figures| TrafficStatus::new(figures, cap, concurrency_limit)),
        shared: seen.shared.clone(),
        throttles: throttle_summary(&seen.throttles, now),
        key: KeyStatus {
            fingerprint: account.fingerprint.clone(),
            age_days: key_age_days,
            health: key_health,
            used_by: None,
        },
        updated_at: seen.updated_at,
    }
}

fn throttle_summary(events: &[ThrottleEvent], now: Timestamp) -> Throttles {
    let recent: Vec<&ThrottleEvent> = events
        .iter()
        .filter(|e| now.duration_since(e.at) <= RECENT_HOUR)
        .collect();
    let mut by_cause = BTreeMap::new();
    for event in &recent {
        *by_cause.entry(event.cause).or_insert(0) += 1;
    }
    let last = events.iter().max_by_key(|e| e.at).map(|e| LastThrottle {
        cause: e.cause,
        status: e.status,
        at: e.at,
        retry_after_s: e.retry_after_s,
        message: e.message.clone(),
        advice: e.advice.clone(),
    });
    Throttles {
        recent: recent.len(),
        by_cause,
        last,
    }
}

impl AccountStatus {
    /// `Kimi Code (kimi-main)` or just the id.
    pub fn title(&self) -> String {
        match &self.label {
            Some(label) => format!("{label} ({})", self.id),
            None => format!("{} ({})", self.id, self.provider),
        }
    }

    /// The window closest to its limit.
    pub fn busiest_window(&self) -> Option<&WindowStatus> {
        self.windows
            .iter()
            .filter(|w| w.used_ratio.is_some())
            .max_by(|a, b| a.used_ratio.partial_cmp(&b.used_ratio).unwrap())
    }

    pub fn throttling_now(&self) -> bool {
        self.reasons.iter().any(|r| r.code == "throttling_now")
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::providers::snapshot::Window;
    use crate::status::render::{render_text, render_waybar};

    pub(crate) fn config_with(id: &str, provider: &str) -> Config {
        Config::parse(&format!("[accounts.{id}]\nprovider = \"{provider}\"\nlabel = \"Kimi Code\"\nfingerprint = \"sk-…1111\"\ncreated_at = \"2026-11-01T00:00:00Z\"\n")).unwrap()
    }

    pub(crate) fn now() -> Timestamp {
        "2026-11-29T12:00:00Z".parse().unwrap()
    }

    pub(crate) fn observed(used: f64) -> Observed {
        Observed {
            snapshot: Some(Snapshot {
                plan: Some("Standard".into()),
                windows: vec![
                    Window::new(WindowKind::FiveHour, Unit::Requests)
                        .counts(Some(used), Some(100.0), None)
                        .resets_at(Some(now() + SignedDuration::from_mins(72))),
                ],
                concurrency_limit: Some(30),
                balances: vec![],
                ..Snapshot::default()
            }),
            updated_at: Some(now()),
            ..Observed::default()
        }
    }

    #[test]
    fn status_json_has_the_documented_fields() {
        let config = config_with("kimi-main", "kimi-code");
        let id: AccountId = "kimi-main".parse().unwrap();
        let observed = BTreeMap::from([(id, observed(38.0))]);
        let status = build(&config, &observed, &mut BTreeMap::new(), now());
        let json = serde_json::to_value(&status).unwrap();
        assert_eq!(json["level"], "ok");
        let account = &json["accounts"][0];
        assert_eq!(account["id"], "kimi-main");
        assert_eq!(account["provider"], "kimi-code");
        assert_eq!(account["level"], "ok");
        assert!(account["reasons"].as_array().unwrap().is_empty());
        assert_eq!(account["windows"][0]["kind"], "five_hour");
        assert_eq!(account["windows"][0]["used"], 38.0);
        assert_eq!(account["windows"][0]["limit"], 100.0);
        assert_eq!(account["windows"][0]["used_ratio"], 0.38);
        assert_eq!(account["windows"][0]["resets_at"], "2026-11-29T13:12:00Z");
        assert_eq!(account["windows"][0]["level"], "ok");
        assert_eq!(account["concurrency"]["limit"], 30);
        assert!(account["concurrency"]["in_flight"].is_null());
        assert_eq!(account["concurrency"]["level"], "unknown");
        assert_eq!(account["throttles"]["recent"], 0);
        assert!(
            account["throttles"]["by_cause"]
                .as_object()
                .unwrap()
                .is_empty()
        );
        assert!(account["throttles"]["last"].is_null());
        assert_eq!(account["key"]["fingerprint"], "sk-…1111");
        assert_eq!(account["key"]["age_days"], 28);
        assert_eq!(account["key"]["health"], "ok");
    }

    #[test]
    fn traffic_cap_queue_and_doubt_in_the_status_json() {
        let mut config = config_with("kimi-main", "kimi-code");
        let id: AccountId = "kimi-main".parse().unwrap();
        config.accounts.get_mut(&id).unwrap().concurrency_cap =
            crate::config::ConcurrencyCap::Limit(2);
        let mut seen = observed(0.0);
        seen.in_flight = Some(2);
        seen.peak = Some(3);
        seen.queued = Some(4);
        seen.answered = vec![AnsweredInWindow {
            kind: WindowKind::FiveHour,
            scope: None,
            requests: 7,
        }];
        let tool = ToolTraffic {
            tool: "Claude Code".into(),
            in_flight: 2,
            queued: 4,
            ..ToolTraffic::default()
        };
        seen.traffic = Some(TrafficFigures {
            in_flight: 2,
            peak: 3,
            queued: 4,
            requests: Counts {
                last_5m: 40,
                last_hour: 300,
            },
            queue_wait_ms: Percentiles {
                p50: Some(120.0),
                p95: Some(900.0),
            },
            tokens: TokenTotals {
                last_5h: TokenUsage {
                    input: 10,
                    output: 20,
                },
                today: TokenUsage {
                    input: 30,
                    output: 40,
                },
            },
            first_token_ms_p50: Some(450.0),
            tools: vec![tool],
            ..TrafficFigures::default()
        });
        let status = build(
            &config,
            &BTreeMap::from([(id, seen)]),
            &mut BTreeMap::new(),
            now(),
        );
        let json = serde_json::to_value(&status).unwrap();
        let account = &json["accounts"][0];
        let concurrency = &account["concurrency"];
        assert_eq!(
            (
                &concurrency["cap"],
                &concurrency["limit"],
                &concurrency["queued"]
            ),
            (&2.into(), &30.into(), &4.into())
        );
        assert_eq!(concurrency["level"], "warn", "2 in flight at a cap of 2");
        let traffic = &account["traffic"];
        assert_eq!(
            (
                &traffic["in_flight"],
                &traffic["peak"],
                &traffic["cap"],
                &traffic["limit"]
            ),
            (&2.into(), &3.into(), &2.into(), &30.into())
        );
        assert_eq!(traffic["queued"], 4);
        assert_eq!(
            traffic["requests"],
            serde_json::json!({"last_5m": 40, "last_hour": 300})
        );
        assert_eq!(
            traffic["errors"],
            serde_json::json!({"last_5m": 0, "last_hour": 0})
        );
        assert_eq!(
            traffic["queue_wait_ms"],
            serde_json::json!({"p50": 120.0, "p95": 900.0})
        );
        assert_eq!(
            traffic["tokens"],
            serde_json::json!({"last_5h": {"input": 10, "output": 20}, "today": {"input": 30, "output": 40}})
        );
        assert_eq!(traffic["first_token_ms_p50"], 450.0);
        assert!(traffic["output_tokens_per_s_p50"].is_null());
        assert_eq!(traffic["tools"][0]["tool"], "Claude Code");
        assert_eq!(traffic["tools"][0]["queued"], 4);
        // 0 % used while 7 requests were answered: doubtful, not fine.
        let window = &account["windows"][0];
        assert_eq!(window["level"], "unknown");
        assert!(
            window["doubtful"]
                .as_str()
                .unwrap()
                .contains("Redline forwarded 7 requests"),
            "{window}"
        );
        assert!(
            status.accounts[0]
                .reasons
                .iter()
                .any(|r| r.code == "window_doubtful")
        );
        let text = crate::status::render::render_text(&status, now());
        assert!(
            text.contains("in flight 2 / cap 2 (provider limit 30), 4 queued"),
            "{text}"
        );
        assert!(
            text.contains("UNKNOWN: 5h window: Kimi reports 0 %"),
            "{text}"
        );
        let back: Status = serde_json::from_value(json).unwrap();
        assert_eq!(back, status);
    }

    #[test]
    fn a_status_without_proxy_figures_reads_with_none() {
        let config = config_with("kimi-main", "kimi-code");
        let id: AccountId = "kimi-main".parse().unwrap();
        let status = build(
            &config,
            &BTreeMap::from([(id, observed(10.0))]),
            &mut BTreeMap::new(),
            now(),
        );
        let mut json = serde_json::to_value(&status).unwrap();
        assert!(json["accounts"][0]["traffic"].is_null());
        assert!(json["accounts"][0]["windows"][0]["doubtful"].is_null());
        // An older engine's status, without the new fields.
        let old = &mut json["accounts"][0];
        old.as_object_mut().unwrap().remove("traffic");
        old["concurrency"].as_object_mut().unwrap().remove("cap");
        old["concurrency"].as_object_mut().unwrap().remove("queued");
        old["windows"][0]
            .as_object_mut()
            .unwrap()
            .remove("doubtful");
        let read: Status = serde_json::from_value(json).unwrap();
        assert_eq!(read, status);
    }

    #[test]
    fn throttles_are_summarised_by_cause() {
        let config = config_with("kimi-main", "kimi-code");
        let id: AccountId = "kimi-main".parse().unwrap();
        let mut seen = observed(10.0);
        let event = |ago_m: i64, cause| ThrottleEvent {
            at: now() - SignedDuration::from_mins(ago_m),
            cause,
            status: 429,
            retry_after_s: Some(3.0),
            message: "We're receiving too many requests at the moment".into(),
            advice: "Concurrency limit 30 reached; your quota is fine.".into(),
            in_flight: None,
        };
        seen.throttles = vec![
            event(1, Cause::Concurrency),
            event(1, Cause::Concurrency),
            event(0, Cause::Concurrency),
            event(90, Cause::Rpm),
        ];
        let status = build(
            &config,
            &BTreeMap::from([(id, seen)]),
            &mut BTreeMap::new(),
            now(),
        );
        let json = serde_json::to_value(&status).unwrap();
        let throttles = &json["accounts"][0]["throttles"];
        assert_eq!(throttles["recent"], 3);
        assert_eq!(throttles["by_cause"]["concurrency"], 3);
        assert!(throttles["by_cause"].get("rpm").is_none());
        assert_eq!(throttles["last"]["cause"], "concurrency");
        assert_eq!(throttles["last"]["retry_after_s"], 3.0);
        assert_eq!(json["level"], "critical");
        assert_eq!(render_waybar(&status, now())["text"], "429");
    }

    #[test]
    fn agents_footprint_and_key_uses_in_json_and_text() {
        let config = config_with("kimi-main", "kimi-code");
        let id: AccountId = "kimi-main".parse().unwrap();
        let mut status = build(
            &config,
            &BTreeMap::from([(id, observed(10.0))]),
            &mut BTreeMap::new(),
            now(),
        );
        let json = serde_json::to_value(&status).unwrap();
        assert_eq!(json["agents"], serde_json::json!([]));
        assert!(json.get("process").is_none());
        assert!(json["accounts"][0]["key"].get("used_by").is_none());

        status.agents = vec![RunningAgent {
            tool: "Claude Code".into(),
            pid: 123,
            command: "claude".into(),
        }];
        status.process = Some(ProcessFootprint {
            rss_bytes: 12 * 1024 * 1024,
            cpu_percent: 0.5,
        });
        let uses = vec![KeyUse {
            tool: "OpenClaw".into(),
            source: "~/.openclaw/openclaw.json".into(),
            key: KeyUseKind::Previous,
        }];
        attach_key_uses(
            &mut status,
            &BTreeMap::from([("kimi-main".to_owned(), uses)]),
        );
        let json = serde_json::to_value(&status).unwrap();
        assert_eq!(
            json["agents"][0],
            serde_json::json!({"tool": "Claude Code", "pid": 123, "command": "claude"})
        );
        assert_eq!(json["process"]["rss_bytes"], 12 * 1024 * 1024);
        assert_eq!(
            json["accounts"][0]["key"]["used_by"][0],
            serde_json::json!({"tool": "OpenClaw", "source": "~/.openclaw/openclaw.json", "key": "previous"})
        );
        let back: Status = serde_json::from_value(json).unwrap();
        assert_eq!(back, status);
        let text = crate::status::render::render_text(&status, now());
        assert!(
            text.contains("used by: OpenClaw (~/.openclaw/openclaw.json) OLD KEY"),
            "{text}"
        );
        assert!(
            text.contains("Agents running: Claude Code (pid 123)"),
            "{text}"
        );
        assert!(
            text.contains("Redline: 12.0 MiB resident, 0.5% CPU"),
            "{text}"
        );
    }

    #[test]
    fn windows_from_proxied_headers_count_for_health() {
        let config = config_with("oai", "openai");
        let id: AccountId = "oai".parse().unwrap();
        let rpm =
            Window::new(WindowKind::Rpm, Unit::Requests).counts(Some(96.0), Some(100.0), None);
        let seen = Observed {
            snapshot: Some(Snapshot::default()),
            header_windows: vec![rpm],
            ..Observed::default()
        };
        let status = build(
            &config,
            &BTreeMap::from([(id, seen)]),
            &mut BTreeMap::new(),
            now(),
        );
        assert_eq!(status.accounts[0].level, Level::Critical);
        assert_eq!(status.accounts[0].reasons[0].code, "window_critical");
        assert_eq!(status.accounts[0].windows[0].kind, WindowKind::Rpm);
    }

    #[test]
    fn windows_and_concurrency_carry_levels_by_the_users_thresholds() {
        let mut config = config_with("kimi-main", "kimi-code");
        config.thresholds.warn = 50;
        config.thresholds.critical = 60;
        let id: AccountId = "kimi-main".parse().unwrap();
        let mut seen = observed(55.0);
        seen.in_flight = Some(27);
        let status = build(
            &config,
            &BTreeMap::from([(id, seen)]),
            &mut BTreeMap::new(),
            now(),
        );
        let account = &status.accounts[0];
        assert_eq!(account.windows[0].level, Level::Warn, "55% against 50/60");
        assert_eq!(account.concurrency.level, Level::Warn, "27 of 30 in flight");
        // The card and its bars say the same.
        assert_eq!(account.level, Level::Warn);

        // A status from an engine without these fields reads them as unknown.
        let mut json = serde_json::to_value(&status).unwrap();
        let old = &mut json["accounts"][0];
        old["windows"][0].as_object_mut().unwrap().remove("level");
        old["concurrency"].as_object_mut().unwrap().remove("level");
        let read: Status = serde_json::from_value(json).unwrap();
        assert_eq!(read.accounts[0].windows[0].level, Level::Unknown);
        assert_eq!(read.accounts[0].concurrency.level, Level::Unknown);
    }

    #[test]
    fn a_moonshot_tier_gives_the_concurrency_limit() {
        let config = Config::parse("[accounts.moon]\nprovider = \"moonshot\"\ntier = 2\n").unwrap();
        let id: AccountId = "moon".parse().unwrap();
        let seen = Observed {
            snapshot: Some(Snapshot::default()),
            in_flight: Some(85),
            ..Observed::default()
        };
        let status = build(
            &config,
            &BTreeMap::from([(id, seen)]),
            &mut BTreeMap::new(),
            now(),
        );
        assert_eq!(status.accounts[0].concurrency.limit, Some(100));
        assert_eq!(status.accounts[0].reasons[0].code, "concurrency_high");
        let err =
            Config::parse("[accounts.moon]\nprovider = \"moonshot\"\ntier = 6\n").unwrap_err();
        assert!(err.message.contains("from 0 to 5"), "{}", err.message);
    }

    #[test]
    fn accounts_without_data_are_unknown_and_no_accounts_is_unknown() {
        let config = config_with("kimi-main", "kimi-code");
        let status = build(&config, &BTreeMap::new(), &mut BTreeMap::new(), now());
        assert_eq!(status.level, Level::Unknown);
        assert_eq!(status.accounts[0].key.health, KeyHealth::Unknown);
        let empty = build(
            &Config::default(),
            &BTreeMap::new(),
            &mut BTreeMap::new(),
            now(),
        );
        assert_eq!(empty.level, Level::Unknown);
        assert!(render_text(&empty, now()).starts_with("No keys yet"));
    }
}
