//! Health: from snapshots, throttles and thresholds to a level and the reasons for it. Pure
//! functions; every view renders their result and never judges health itself.
//!
//! - ok: every window below warn, no recent throttles, key valid.
//! - warn: a window at or above warn, in-flight at or above 80 % of the concurrency ceiling (the
//!   lower of Redline's cap and the provider's limit), or a throttle in the last 10 minutes.
//! - critical: a window at or above critical or exhausted, throttling now (3+ refusals in the
//!   last 2 minutes, or any quota-exhausted refusal in the last 10), or the key rejected.
//! - unknown: no data yet, the provider cannot be reached, or its usage figure is doubtful (0 %
//!   used while Redline forwarded answered requests inside the window: [`doubtful_window`]).
//!
//! Levels rise at once and fall only after a quiet period ([`settle`]).

use crate::durations::time_until;
use crate::providers::ProviderId;
use crate::providers::snapshot::{Snapshot, Unit, Window, WindowKind};
use crate::providers::throttle::Cause;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Ok,
    Warn,
    Critical,
    /// Nothing judged yet: also what a status from an older engine, without a level on its
    /// windows, reads as.
    #[default]
    Unknown,
}

impl Level {
    pub const ALL: [Level; 4] = [Level::Ok, Level::Warn, Level::Critical, Level::Unknown];

    /// Ordering for "the worst of": ok < unknown < warn < critical.
    pub fn severity(self) -> u8 {
        match self {
            Level::Ok => 0,
            Level::Unknown => 1,
            Level::Warn => 2,
            Level::Critical => 3,
        }
    }

    pub fn worst(self, other: Level) -> Level {
        if other.severity() > self.severity() {
            other
        } else {
            self
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Warn => "warn",
            Level::Critical => "critical",
            Level::Unknown => "unknown",
        }
    }
}

/// Percent-used thresholds as fractions.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Thresholds {
    pub warn: f64,
    pub critical: f64,
}

impl From<&crate::config::Thresholds> for Thresholds {
    fn from(t: &crate::config::Thresholds) -> Self {
        Thresholds {
            warn: t.warn as f64 / 100.0,
            critical: t.critical as f64 / 100.0,
        }
    }
}

pub const IN_FLIGHT_WARN_RATIO: f64 = 0.8;
pub const RECENT_THROTTLE: SignedDuration = SignedDuration::from_mins(10);
pub const THROTTLING_NOW: SignedDuration = SignedDuration::from_mins(2);
pub const THROTTLING_NOW_COUNT: usize = 3;
/// How long a level must have been lower before the shown level falls.
pub const QUIET_PERIOD: SignedDuration = SignedDuration::from_mins(3);

/// One refusal a user's request got (seen by the proxy) or a key check got.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ThrottleEvent {
    pub at: Timestamp,
    pub cause: Cause,
    pub status: u16,
    pub retry_after_s: Option<f64>,
    pub message: String,
    pub advice: String,
    /// The most requests the proxy had in flight to the provider on this account while the
    /// refused one was on its way, itself included; `None` for Redline's own refusals and key
    /// checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_flight: Option<u64>,
}

/// Where the concurrency limit shown for an account comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitSource {
    /// The provider's usage answer says it.
    Provider,
    /// The account's tier in the settings (Moonshot).
    Tier,
    /// The plan's published limit, since the answer no longer says it.
    Assumed,
    /// A concurrency refusal with fewer requests in flight than the assumed limit proved it lower.
    Observed,
}

/// How long a refusal's proof of a lower limit holds: the plan may change, and another machine
/// using the key can make a refusal look like proof.
pub const LIMIT_PROOF_HOLDS: SignedDuration = SignedDuration::from_hours(1);

/// The concurrency limit of an account and where it comes from: the provider's figure, else
/// the tier's. An assumed figure is lowered by a concurrency refusal of the last hour that came
/// with fewer requests in flight: the provider cannot have had more of them than Redline had
/// sent and not seen answered while the refused one was on its way, itself included, so its
/// limit is at most one less (never below 1).
pub fn concurrency_limit(
    reported: Option<u64>,
    assumed: bool,
    tier: Option<u64>,
    throttles: &[ThrottleEvent],
    now: Timestamp,
) -> Option<(u64, LimitSource)> {
    let Some(limit) = reported else {
        return tier.map(|limit| (limit, LimitSource::Tier));
    };
    if !assumed {
        return Some((limit, LimitSource::Provider));
    }
    let proven = throttles
        .iter()
        .filter(|t| t.cause == Cause::Concurrency && now.duration_since(t.at) < LIMIT_PROOF_HOLDS)
        .filter_map(|t| t.in_flight)
        .map(|n| n.saturating_sub(1).max(1))
        .min();
    match proven {
        Some(proven) if proven < limit => Some((proven, LimitSource::Observed)),
        _ => Some((limit, LimitSource::Assumed)),
    }
}

/// Why the last poll failed, as health needs it.
#[derive(Clone, Debug, PartialEq)]
pub enum PollProblem {
    KeyRejected(String),
    /// Unreachable, unreadable, or refused for a reason other than the key.
    NoData(String),
}

/// Everything health looks at for one account.
#[derive(Clone, Debug, Default)]
pub struct Inputs<'a> {
    pub snapshot: Option<&'a Snapshot>,
    pub problem: Option<&'a PollProblem>,
    pub throttles: &'a [ThrottleEvent],
    pub in_flight: Option<u64>,
    /// From the provider's answer, or from the account's tier.
    pub concurrency_limit: Option<u64>,
    /// Redline's concurrency cap in force for the account.
    pub concurrency_cap: Option<u64>,
    /// Requests waiting in Redline's queue now.
    pub queued: Option<u64>,
    pub key_age_days: Option<i64>,
    pub rotation_reminder_days: u64,
    /// Whose usage figures these are (for the words of a doubtful window).
    pub provider: Option<ProviderId>,
    /// Requests the proxy had answered inside each polled window when it was polled.
    pub answered: &'a [AnsweredInWindow],
    /// The account's cap is shared with other machines, but the server is out of reach: why.
    pub shared_unavailable: Option<&'a str>,
}

/// Requests Redline forwarded and the provider answered (status below 400) inside one polled
/// window, from its start to the poll.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnsweredInWindow {
    pub kind: WindowKind,
    pub scope: Option<String>,
    pub requests: u64,
}

/// The answered requests counted for `window` (0 when none were counted).
pub fn answered_in(window: &Window, answered: &[AnsweredInWindow]) -> u64 {
    answered
        .iter()
        .find(|a| a.kind == window.kind && a.scope == window.scope)
        .map_or(0, |a| a.requests)
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reason {
    pub level: Level,
    /// Stable identifier: `window_critical`, `throttling_now`, `key_rejected`, ...
    pub code: String,
    pub message: String,
}

fn reason(level: Level, code: &str, message: String) -> Reason {
    Reason {
        level,
        code: code.to_owned(),
        message,
    }
}

/// The level of a share used against the thresholds: critical at or above `critical` or used
/// up, warn at or above `warn`, ok below; unknown when the share is not known.
pub fn usage_level(used_ratio: Option<f64>, used_up: bool, thresholds: Thresholds) -> Level {
    match used_ratio {
        None => Level::Unknown,
        Some(_) if used_up => Level::Critical,
        Some(ratio) if ratio >= thresholds.critical => Level::Critical,
        Some(ratio) if ratio >= thresholds.warn => Level::Warn,
        Some(_) => Level::Ok,
    }
}

/// The level of one quota or rate window (see [`usage_level`]).
pub fn window_level(window: &Window, thresholds: Thresholds) -> Level {
    usage_level(window.used_ratio(), is_used_up(window), thresholds)
}

fn is_used_up(window: &Window) -> bool {
    window.remaining.is_some_and(|r| r <= 0.0)
}

/// What in-flight requests are judged against: the lower of Redline's cap and the provider's
/// limit, whichever are known. With a cap at or below the limit it is the cap, since requests
/// beyond it wait in Redline's queue; a cap above the limit leaves the provider's limit to hit.
pub fn concurrency_ceiling(cap: Option<u64>, limit: Option<u64>) -> Option<u64> {
    match (cap.filter(|c| *c > 0), limit.filter(|l| *l > 0)) {
        (Some(cap), Some(limit)) => Some(cap.min(limit)),
        (cap, limit) => cap.or(limit),
    }
}

/// The level of the requests in flight against the concurrency ceiling: warn from
/// [`IN_FLIGHT_WARN_RATIO`] of the limit (at or over the limit too: refusals, when they come,
/// make the account critical), ok below; unknown without both numbers.
pub fn concurrency_level(in_flight: Option<u64>, limit: Option<u64>) -> Level {
    match (in_flight, limit) {
        (Some(in_flight), Some(limit)) if limit > 0 => {
            if in_flight as f64 >= IN_FLIGHT_WARN_RATIO * limit as f64 {
                Level::Warn
            } else {
                Level::Ok
            }
        }
        _ => Level::Unknown,
    }
}

/// The `no_data` message before any poll has answered (a failed poll gives its own message).
pub const NO_DATA_YET: &str = "No data yet.";

/// The level of one account and every reason for it, worst first.
pub fn assess(inputs: &Inputs, thresholds: Thresholds, now: Timestamp) -> (Level, Vec<Reason>) {
    let mut reasons = Vec::new();
    match inputs.problem {
        Some(PollProblem::KeyRejected(text)) => reasons.push(reason(
            Level::Critical,
            "key_rejected",
            format!("Key rejected: {text}"),
        )),
        Some(PollProblem::NoData(text)) => {
            reasons.push(reason(Level::Unknown, "no_data", text.clone()))
        }
        None if inputs.snapshot.is_none() => {
            reasons.push(reason(Level::Unknown, "no_data", NO_DATA_YET.into()))
        }
        None => {}
    }
    if let Some(snapshot) = inputs.snapshot {
        reasons.extend(
            snapshot
                .windows
                .iter()
                .filter_map(|w| window_reason(w, thresholds, now)),
        );
        for balance in snapshot
            .balances
            .iter()
            .filter(|b| b.amount <= 0.0 && is_spendable(&b.kind))
        {
            reasons.push(reason(
                Level::Critical,
                "balance_empty",
                format!(
                    "{} balance is {:.2} {}: top up to keep going.",
                    balance.kind, balance.amount, balance.currency
                ),
            ));
        }
    }
    // In flight is seen by the proxy, not polled: it counts even before a poll has answered.
    let ceiling = concurrency_ceiling(inputs.concurrency_cap, inputs.concurrency_limit);
    if let (Some(ceiling), Some(in_flight)) = (ceiling, inputs.in_flight)
        && concurrency_level(Some(in_flight), Some(ceiling)) == Level::Warn
    {
        reasons.push(concurrency_reason(in_flight, ceiling, inputs));
    }
    if let (Some(snapshot), Some(provider)) = (inputs.snapshot, inputs.provider) {
        for window in &snapshot.windows {
            let answered = answered_in(window, inputs.answered);
            if let Some(doubt) = doubtful_window(window, provider, answered) {
                reasons.push(reason(Level::Unknown, "window_doubtful", doubt));
            }
        }
    }
    if let Some(snapshot) = inputs.snapshot {
        for window in &snapshot.windows {
            if let Some(note) = &window.note {
                let text = format!(
                    "{} window: {note}",
                    window.kind.label_with(window.scope.as_deref())
                );
                reasons.push(reason(Level::Ok, "figures_disagree", text));
            }
        }
    }
    if let Some(why) = inputs.shared_unavailable {
        reasons.push(reason(
            Level::Warn,
            "shared_unavailable",
            format!("{} ({why})", crate::shared::UNAVAILABLE),
        ));
    }
    reasons.extend(throttle_reason(inputs.throttles, now));
    if let Some(age) = inputs.key_age_days
        && inputs.rotation_reminder_days > 0
        && age >= inputs.rotation_reminder_days as i64
    {
        reasons.push(reason(
            Level::Ok,
            "key_old",
            format!("Key is {age} days old: consider rotating it."),
        ));
    }
    reasons.sort_by_key(|r| std::cmp::Reverse(r.level.severity()));
    let level = reasons
        .iter()
        .fold(Level::Ok, |level, r| level.worst(r.level));
    (level, reasons)
}

/// `2 of 2 requests in flight: at Redline's concurrency cap, 4 waiting in its queue.`
fn concurrency_reason(in_flight: u64, ceiling: u64, inputs: &Inputs) -> Reason {
    let cap_binds = inputs
        .concurrency_cap
        .is_some_and(|cap| cap > 0 && cap == ceiling);
    let whose = if cap_binds {
        "Redline's concurrency cap"
    } else {
        "the concurrency limit"
    };
    let near = if in_flight >= ceiling { "at" } else { "near" };
    let waiting = match inputs.queued {
        Some(queued) if queued > 0 => format!(", {queued} waiting in Redline's queue"),
        _ => String::new(),
    };
    reason(
        Level::Warn,
        "concurrency_high",
        format!("{in_flight} of {ceiling} requests in flight: {near} {whose}{waiting}."),
    )
}

/// How long a quota window lasts, at least (a month is 28 days, so that a window's start
/// reckoned from its reset never falls before the real one); `None` for rate windows, which
/// answers' own headers report, and balances.
pub fn window_span(kind: WindowKind) -> Option<SignedDuration> {
    match kind {
        WindowKind::FiveHour => Some(SignedDuration::from_hours(5)),
        WindowKind::Daily => Some(SignedDuration::from_hours(24)),
        WindowKind::Weekly => Some(SignedDuration::from_hours(7 * 24)),
        WindowKind::Monthly => Some(SignedDuration::from_hours(28 * 24)),
        WindowKind::Rpm | WindowKind::Tpm | WindowKind::Tpd | WindowKind::Balance => None,
    }
}

/// Where a polled window began: its reset minus its span, or, without a reset, one span before
/// the poll. `None` for windows Redline does not judge this way ([`window_span`]).
pub fn window_start(window: &Window, polled_at: Timestamp) -> Option<Timestamp> {
    let span = window_span(window.kind)?;
    window.resets_at.unwrap_or(polled_at).checked_sub(span).ok()
}

/// Answered requests it takes to doubt a 0 that is a rounded share (whole percent, cents):
/// a few small requests may truly round to 0.
pub const DOUBT_ROUNDED_AFTER: u64 = 10;

/// Whether a provider's 0 % for `window` is doubtful, and why: the proxy forwarded `answered`
/// requests inside it (answered, not refused) before it was polled. Counted windows (requests,
/// tokens) are doubted from one request; shares rounded to whole percent or cents from
/// [`DOUBT_ROUNDED_AFTER`].
pub fn doubtful_window(window: &Window, provider: ProviderId, answered: u64) -> Option<String> {
    window_span(window.kind)?;
    let reports_zero = window.used == Some(0.0) || window.used_ratio() == Some(0.0);
    let needed = match window.unit {
        Unit::Requests | Unit::Tokens | Unit::Credits => 1,
        Unit::Percent | Unit::Usd | Unit::Cny => DOUBT_ROUNDED_AFTER,
    };
    if !reports_zero || answered < needed {
        return None;
    }
    let name = window.kind.label_with(window.scope.as_deref());
    let requests = if answered == 1 { "request" } else { "requests" };
    let why = provider
        .facts()
        .zero_doubt
        .unwrap_or("the figure may lag behind, or not count this key's use");
    Some(format!(
        "{name} window: {} reports 0 % used, but Redline forwarded {answered} {requests} in this \
         window; {why}.",
        provider.facts().short_name
    ))
}

/// Prepaid money that blocks requests when empty (not vouchers or granted credit alone).
fn is_spendable(kind: &str) -> bool {
    matches!(kind, "available" | "total")
}

fn window_reason(window: &Window, thresholds: Thresholds, now: Timestamp) -> Option<Reason> {
    let ratio = window.used_ratio()?;
    let exhausted = is_used_up(window);
    let level = window_level(window, thresholds);
    if !matches!(level, Level::Warn | Level::Critical) {
        return None;
    }
    let name = window.kind.label_with(window.scope.as_deref());
    let reset = time_until(window.resets_at, now)
        .map(|left| format!(", resets in {left}"))
        .unwrap_or_default();
    let (code, what) = if exhausted {
        ("window_exhausted", "used up".to_owned())
    } else {
        (
            if level == Level::Critical {
                "window_critical"
            } else {
                "window_warn"
            },
            format!("{:.0}% used", ratio * 100.0),
        )
    };
    Some(reason(level, code, format!("{name} window {what}{reset}.")))
}

fn throttle_reason(throttles: &[ThrottleEvent], now: Timestamp) -> Option<Reason> {
    let within = |e: &&ThrottleEvent, span: SignedDuration| now.duration_since(e.at) <= span;
    let last = throttles
        .iter()
        .filter(|e| within(e, RECENT_THROTTLE))
        .max_by_key(|e| e.at)?;
    let burst = throttles
        .iter()
        .filter(|e| within(e, THROTTLING_NOW))
        .count();
    let decisive = throttles
        .iter()
        .filter(|e| within(e, RECENT_THROTTLE))
        .find(|e| {
            matches!(
                e.cause,
                Cause::QuotaExhausted | Cause::SpendCap | Cause::AuthInvalid
            )
        });
    let level = if decisive.is_some() || burst >= THROTTLING_NOW_COUNT {
        Level::Critical
    } else {
        Level::Warn
    };
    let event = decisive.unwrap_or(last);
    let code = if level == Level::Critical {
        "throttling_now"
    } else {
        "throttled_recently"
    };
    let count = if burst > 1 {
        format!(" ({burst} in the last 2 minutes)")
    } else {
        String::new()
    };
    Some(reason(
        level,
        code,
        format!(
            "Throttled: {}{count}. {}",
            event.cause.describe(),
            event.advice
        ),
    ))
}

/// The level shown, with hysteresis: it rises at once, and an amber or red level falls only
/// after the computed level has stayed lower for [`QUIET_PERIOD`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shown {
    pub level: Level,
    /// Last time the computed level was at or above the shown one.
    pub held_at: Timestamp,
}

pub fn settle(previous: Option<Shown>, computed: Level, now: Timestamp) -> Shown {
    match previous {
        // Only a problem (amber, red) is held; "no data yet" gives way to data at once.
        Some(shown)
            if computed.severity() < shown.level.severity() && shown.level != Level::Unknown =>
        {
            if now.duration_since(shown.held_at) >= QUIET_PERIOD {
                Shown {
                    level: computed,
                    held_at: now,
                }
            } else {
                shown
            }
        }
        _ => Shown {
            level: computed,
            held_at: now,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::snapshot::{Balance, Unit, WindowKind};

    const T: Thresholds = Thresholds {
        warn: 0.8,
        critical: 0.95,
    };

    fn now() -> Timestamp {
        "2026-11-29T12:00:00Z".parse().unwrap()
    }

    fn snapshot(used_percent: f64) -> Snapshot {
        Snapshot {
            windows: vec![
                Window::new(WindowKind::FiveHour, Unit::Requests)
                    .counts(Some(used_percent), Some(100.0), None)
                    .resets_at(Some(now() + SignedDuration::from_mins(72))),
            ],
            concurrency_limit: Some(30),
            ..Snapshot::default()
        }
    }

    fn throttle(ago_s: i64, cause: Cause) -> ThrottleEvent {
        ThrottleEvent {
            at: now() - SignedDuration::from_secs(ago_s),
            cause,
            status: 429,
            retry_after_s: None,
            message: String::new(),
            advice: crate::providers::throttle::advice(cause, Some(30)),
            in_flight: None,
        }
    }

    fn level_of(inputs: &Inputs) -> (Level, Vec<String>) {
        let (level, reasons) = assess(inputs, T, now());
        (level, reasons.into_iter().map(|r| r.code).collect())
    }

    #[test]
    fn windows_set_the_level_by_threshold() {
        for (used, expected) in [
            (10.0, Level::Ok),
            (80.0, Level::Warn),
            (94.9, Level::Warn),
            (95.0, Level::Critical),
            (100.0, Level::Critical),
        ] {
            let s = snapshot(used);
            let (level, _) = level_of(&Inputs {
                snapshot: Some(&s),
                ..Inputs::default()
            });
            assert_eq!(level, expected, "{used}% used");
        }
        let s = snapshot(96.0);
        let (_, reasons) = assess(
            &Inputs {
                snapshot: Some(&s),
                ..Inputs::default()
            },
            T,
            now(),
        );
        assert_eq!(reasons[0].message, "5h window 96% used, resets in 1h 12m.");
        let s = snapshot(100.0);
        let (_, reasons) = assess(
            &Inputs {
                snapshot: Some(&s),
                ..Inputs::default()
            },
            T,
            now(),
        );
        assert_eq!(reasons[0].code, "window_exhausted");
    }

    #[test]
    fn a_shared_cap_out_of_reach_is_amber_and_never_hides_worse() {
        let calm = snapshot(10.0);
        let out_of_reach = Inputs {
            snapshot: Some(&calm),
            shared_unavailable: Some("cannot connect to redis.lan:6379: Connection refused"),
            ..Inputs::default()
        };
        assert_eq!(
            level_of(&out_of_reach),
            (Level::Warn, vec!["shared_unavailable".to_owned()])
        );
        let (_, reasons) = assess(&out_of_reach, T, now());
        assert_eq!(
            reasons[0].message,
            "shared limit unavailable, using this machine's cap \
             (cannot connect to redis.lan:6379: Connection refused)"
        );
        let full = snapshot(96.0);
        let (level, codes) = level_of(&Inputs {
            snapshot: Some(&full),
            ..out_of_reach
        });
        assert_eq!(level, Level::Critical);
        assert_eq!(codes, ["window_critical", "shared_unavailable"]);
    }

    #[test]
    fn a_window_level_follows_the_users_thresholds() {
        let window = |used: f64| {
            Window::new(WindowKind::Daily, Unit::Requests).counts(Some(used), Some(100.0), None)
        };
        let strict = Thresholds {
            warn: 0.5,
            critical: 0.6,
        };
        for (used, default, user) in [
            (40.0, Level::Ok, Level::Ok),
            (55.0, Level::Ok, Level::Warn),
            (70.0, Level::Ok, Level::Critical),
            (85.0, Level::Warn, Level::Critical),
            (95.0, Level::Critical, Level::Critical),
        ] {
            assert_eq!(window_level(&window(used), T), default, "{used}% at 80/95");
            assert_eq!(
                window_level(&window(used), strict),
                user,
                "{used}% at 50/60"
            );
        }
        // Used up is red whatever the thresholds; no limit known is no judgement.
        let used_up =
            Window::new(WindowKind::Balance, Unit::Usd).counts(Some(5.0), Some(5.0), None);
        let lenient = Thresholds {
            warn: 1.5,
            critical: 2.0,
        };
        assert_eq!(window_level(&used_up, lenient), Level::Critical);
        let no_limit = Window::new(WindowKind::Rpm, Unit::Requests).counts(Some(5.0), None, None);
        assert_eq!(window_level(&no_limit, T), Level::Unknown);
    }

    #[test]
    fn a_window_reason_and_its_level_agree() {
        let strict = Thresholds {
            warn: 0.5,
            critical: 0.6,
        };
        let s = snapshot(55.0);
        let (level, reasons) = assess(
            &Inputs {
                snapshot: Some(&s),
                ..Inputs::default()
            },
            strict,
            now(),
        );
        assert_eq!(level, window_level(&s.windows[0], strict));
        assert_eq!(
            (level, reasons[0].code.as_str()),
            (Level::Warn, "window_warn")
        );
    }

    #[test]
    fn the_concurrency_level_warns_near_at_and_over_the_limit() {
        assert_eq!(concurrency_level(Some(23), Some(30)), Level::Ok);
        assert_eq!(concurrency_level(Some(24), Some(30)), Level::Warn);
        assert_eq!(concurrency_level(Some(30), Some(30)), Level::Warn, "at");
        assert_eq!(concurrency_level(Some(41), Some(30)), Level::Warn, "over");
        assert_eq!(concurrency_level(None, Some(30)), Level::Unknown);
        assert_eq!(concurrency_level(Some(3), None), Level::Unknown);
        assert_eq!(concurrency_level(Some(3), Some(0)), Level::Unknown);
        // In flight is seen by the proxy: it warns before the first poll has answered too.
        let (level, codes) = level_of(&Inputs {
            in_flight: Some(30),
            concurrency_limit: Some(30),
            ..Inputs::default()
        });
        assert_eq!(level, Level::Warn);
        assert_eq!(codes, ["concurrency_high", "no_data"]);
    }

    #[test]
    fn in_flight_is_judged_against_the_lower_of_cap_and_limit() {
        assert_eq!(concurrency_ceiling(Some(2), Some(30)), Some(2));
        assert_eq!(concurrency_ceiling(Some(50), Some(30)), Some(30));
        assert_eq!(concurrency_ceiling(Some(2), None), Some(2));
        assert_eq!(concurrency_ceiling(None, Some(30)), Some(30));
        assert_eq!(concurrency_ceiling(Some(0), Some(0)), None);
        let s = snapshot(10.0);
        let inputs = Inputs {
            snapshot: Some(&s),
            in_flight: Some(2),
            concurrency_limit: Some(30),
            concurrency_cap: Some(2),
            queued: Some(4),
            ..Inputs::default()
        };
        let (level, reasons) = assess(&inputs, T, now());
        assert_eq!(level, Level::Warn);
        assert_eq!(
            reasons[0].message,
            "2 of 2 requests in flight: at Redline's concurrency cap, 4 waiting in Redline's queue."
        );
        // A cap above the provider's limit leaves the limit to hit.
        let over = Inputs {
            in_flight: Some(25),
            concurrency_cap: Some(50),
            queued: None,
            ..inputs
        };
        let (_, reasons) = assess(&over, T, now());
        assert_eq!(
            reasons[0].message,
            "25 of 30 requests in flight: near the concurrency limit."
        );
    }

    fn answered(kind: WindowKind, requests: u64) -> Vec<AnsweredInWindow> {
        vec![AnsweredInWindow {
            kind,
            scope: None,
            requests,
        }]
    }

    #[test]
    fn a_zero_beside_forwarded_requests_is_doubtful() {
        let zero = Window::new(WindowKind::FiveHour, Unit::Requests)
            .counts(Some(0.0), Some(1000.0), None)
            .resets_at(Some(now() + SignedDuration::from_hours(3)));
        let message = doubtful_window(&zero, ProviderId::KimiCode, 3).unwrap();
        assert_eq!(
            message,
            "5h window: Kimi reports 0 % used, but Redline forwarded 3 requests in this window; \
             its usage endpoint is known to answer 0 for some logins."
        );
        let one = doubtful_window(&zero, ProviderId::Zai, 1).unwrap();
        assert!(one.contains("forwarded 1 request in"), "{one}");
        assert!(one.contains("may lag behind"), "{one}");
        assert_eq!(doubtful_window(&zero, ProviderId::KimiCode, 0), None);
        // Some use reported: believed.
        let used =
            Window::new(WindowKind::FiveHour, Unit::Requests).counts(Some(1.0), Some(1000.0), None);
        assert_eq!(doubtful_window(&used, ProviderId::KimiCode, 50), None);
        // A rounded share may truly be 0 after a few requests.
        let share = Window::percent(WindowKind::Weekly, 0.0);
        assert_eq!(doubtful_window(&share, ProviderId::Claude, 9), None);
        assert!(doubtful_window(&share, ProviderId::Claude, DOUBT_ROUNDED_AFTER).is_some());
        // Rate windows and balances are not judged this way.
        let rpm = Window::new(WindowKind::Rpm, Unit::Requests).counts(Some(0.0), Some(60.0), None);
        assert_eq!(doubtful_window(&rpm, ProviderId::Openai, 100), None);
    }

    #[test]
    fn a_window_starts_one_span_before_its_reset_or_the_poll() {
        let reset = now() + SignedDuration::from_hours(3);
        let five = Window::percent(WindowKind::FiveHour, 0.0).resets_at(Some(reset));
        assert_eq!(
            window_start(&five, now()),
            Some(reset - SignedDuration::from_hours(5))
        );
        let weekly = Window::percent(WindowKind::Weekly, 0.0);
        assert_eq!(
            window_start(&weekly, now()),
            Some(now() - SignedDuration::from_hours(7 * 24))
        );
        let monthly = Window::percent(WindowKind::Monthly, 0.0).resets_at(Some(reset));
        assert_eq!(
            window_start(&monthly, now()),
            Some(reset - SignedDuration::from_hours(28 * 24)),
            "the shortest month: never reaching into the month before"
        );
        assert_eq!(
            window_start(&Window::percent(WindowKind::Tpm, 0.0), now()),
            None
        );
    }

    #[test]
    fn a_doubtful_window_makes_the_account_unknown_not_ok() {
        let mut s = snapshot(0.0);
        s.windows[0] = s.windows[0].clone().counts(Some(0.0), Some(100.0), None);
        let forwarded = answered(WindowKind::FiveHour, 12);
        let inputs = Inputs {
            snapshot: Some(&s),
            provider: Some(ProviderId::KimiCode),
            answered: &forwarded,
            ..Inputs::default()
        };
        let (level, reasons) = assess(&inputs, T, now());
        assert_eq!(level, Level::Unknown);
        assert_eq!(reasons[0].code, "window_doubtful");
        assert!(reasons[0].message.contains("forwarded 12 requests"));
        // Nothing forwarded: the 0 is believed.
        let none = Inputs {
            answered: &[],
            ..inputs
        };
        assert_eq!(assess(&none, T, now()).0, Level::Ok);
    }

    #[test]
    fn an_assumed_concurrency_limit_is_lowered_by_refusals_that_prove_it_smaller() {
        let refused_with = |in_flight, cause| ThrottleEvent {
            in_flight,
            ..throttle(10, cause)
        };
        let proofs = [
            refused_with(Some(9), Cause::Concurrency),
            refused_with(Some(4), Cause::Concurrency),
            // Not proof: another cause, Redline's own refusal (no count), or a count above.
            refused_with(Some(2), Cause::Rpm),
            refused_with(None, Cause::Concurrency),
            refused_with(Some(40), Cause::Concurrency),
        ];
        // Four in flight, the refused one included: at most three allowed.
        assert_eq!(
            concurrency_limit(Some(30), true, None, &proofs, now()),
            Some((3, LimitSource::Observed))
        );
        assert_eq!(
            concurrency_limit(Some(30), true, None, &proofs[2..], now()),
            Some((30, LimitSource::Assumed))
        );
        // The provider's own figure is never second-guessed; a lone refused request proves 1.
        assert_eq!(
            concurrency_limit(Some(30), false, None, &proofs, now()),
            Some((30, LimitSource::Provider))
        );
        let stale = [ThrottleEvent {
            in_flight: Some(4),
            ..throttle(3600, Cause::Concurrency)
        }];
        assert_eq!(
            concurrency_limit(Some(30), true, None, &stale, now()),
            Some((30, LimitSource::Assumed))
        );
        let alone = [refused_with(Some(1), Cause::Concurrency)];
        assert_eq!(
            concurrency_limit(Some(30), true, None, &alone, now()),
            Some((1, LimitSource::Observed))
        );
        assert_eq!(
            concurrency_limit(None, false, Some(50), &proofs, now()),
            Some((50, LimitSource::Tier))
        );
        assert_eq!(concurrency_limit(None, false, None, &proofs, now()), None);
    }

    #[test]
    fn a_window_whose_figures_disagree_says_so_without_changing_the_level() {
        let mut s = snapshot(50.0);
        s.windows[0].note = Some("Kimi reports two figures that disagree.".into());
        let inputs = Inputs {
            snapshot: Some(&s),
            ..Inputs::default()
        };
        let (level, reasons) = assess(&inputs, T, now());
        assert_eq!(level, Level::Ok);
        assert_eq!(reasons[0].code, "figures_disagree");
        assert_eq!(
            reasons[0].message,
            "5h window: Kimi reports two figures that disagree."
        );
    }

    #[test]
    fn no_data_and_unreachable_are_unknown_but_never_hide_worse() {
        assert_eq!(level_of(&Inputs::default()).0, Level::Unknown);
        let problem = PollProblem::NoData("cannot reach api.kimi.com".into());
        let (level, codes) = level_of(&Inputs {
            problem: Some(&problem),
            ..Inputs::default()
        });
        assert_eq!((level, codes), (Level::Unknown, vec!["no_data".to_owned()]));
        let s = snapshot(96.0);
        let stale = Inputs {
            snapshot: Some(&s),
            problem: Some(&problem),
            ..Inputs::default()
        };
        assert_eq!(level_of(&stale).0, Level::Critical);
    }

    #[test]
    fn a_rejected_key_is_critical() {
        let s = snapshot(10.0);
        let problem = PollProblem::KeyRejected("HTTP 401".into());
        let (level, codes) = level_of(&Inputs {
            snapshot: Some(&s),
            problem: Some(&problem),
            ..Inputs::default()
        });
        assert_eq!(
            (level, codes[0].as_str()),
            (Level::Critical, "key_rejected")
        );
    }

    #[test]
    fn the_seed_case_concurrency_throttling_with_quota_to_spare_is_red_and_says_why() {
        let s = snapshot(12.0);
        let throttles = [
            throttle(10, Cause::Concurrency),
            throttle(40, Cause::Concurrency),
            throttle(90, Cause::Concurrency),
        ];
        let inputs = Inputs {
            snapshot: Some(&s),
            throttles: &throttles,
            in_flight: Some(30),
            concurrency_limit: Some(30),
            ..Inputs::default()
        };
        let (level, reasons) = assess(&inputs, T, now());
        assert_eq!(level, Level::Critical);
        assert_eq!(reasons[0].code, "throttling_now");
        assert!(
            reasons[0]
                .message
                .contains("concurrency limit (3 in the last 2 minutes)"),
            "{}",
            reasons[0].message
        );
        assert!(
            reasons[0].message.contains("your quota is fine"),
            "{}",
            reasons[0].message
        );
        assert!(
            reasons
                .iter()
                .any(|r| r.code == "concurrency_high" && r.message.starts_with("30 of 30"))
        );
    }

    #[test]
    fn throttles_age_out() {
        let s = snapshot(10.0);
        let one_recent = [throttle(300, Cause::Rpm)];
        assert_eq!(
            level_of(&Inputs {
                snapshot: Some(&s),
                throttles: &one_recent,
                ..Inputs::default()
            })
            .0,
            Level::Warn
        );
        let old = [
            throttle(601, Cause::Rpm),
            throttle(700, Cause::QuotaExhausted),
        ];
        assert_eq!(
            level_of(&Inputs {
                snapshot: Some(&s),
                throttles: &old,
                ..Inputs::default()
            })
            .0,
            Level::Ok
        );
        let quota = [throttle(500, Cause::QuotaExhausted)];
        assert_eq!(
            level_of(&Inputs {
                snapshot: Some(&s),
                throttles: &quota,
                ..Inputs::default()
            })
            .0,
            Level::Critical
        );
        let spread = [
            throttle(10, Cause::Rpm),
            throttle(200, Cause::Rpm),
            throttle(400, Cause::Rpm),
        ];
        assert_eq!(
            level_of(&Inputs {
                snapshot: Some(&s),
                throttles: &spread,
                ..Inputs::default()
            })
            .0,
            Level::Warn
        );
    }

    #[test]
    fn in_flight_near_the_limit_warns() {
        let s = snapshot(10.0);
        assert_eq!(
            level_of(&Inputs {
                snapshot: Some(&s),
                in_flight: Some(23),
                concurrency_limit: Some(30),
                ..Inputs::default()
            })
            .0,
            Level::Ok
        );
        assert_eq!(
            level_of(&Inputs {
                snapshot: Some(&s),
                in_flight: Some(24),
                concurrency_limit: Some(30),
                ..Inputs::default()
            })
            .0,
            Level::Warn
        );
    }

    #[test]
    fn empty_balances_are_critical_and_old_keys_are_mentioned() {
        let s = Snapshot {
            balances: vec![Balance {
                kind: "total".into(),
                amount: 0.0,
                currency: "CNY".into(),
            }],
            ..Snapshot::default()
        };
        let (level, codes) = level_of(&Inputs {
            snapshot: Some(&s),
            key_age_days: Some(120),
            rotation_reminder_days: 90,
            ..Inputs::default()
        });
        assert_eq!(level, Level::Critical);
        assert_eq!(codes, ["balance_empty", "key_old"]);
    }

    #[test]
    fn levels_rise_at_once_and_fall_after_a_quiet_period() {
        let t0 = now();
        let at = |mins: i64| t0 + SignedDuration::from_mins(mins);
        let shown = settle(None, Level::Ok, t0);
        let shown = settle(Some(shown), Level::Critical, at(1));
        assert_eq!(shown.level, Level::Critical, "rises at once");
        let shown = settle(Some(shown), Level::Ok, at(2));
        assert_eq!(shown.level, Level::Critical, "holds");
        let shown = settle(Some(shown), Level::Warn, at(3));
        assert_eq!(
            shown.level,
            Level::Critical,
            "still within the quiet period"
        );
        let shown = settle(Some(shown), Level::Critical, at(3));
        let shown = settle(Some(shown), Level::Ok, at(5));
        assert_eq!(
            shown.level,
            Level::Critical,
            "a new peak restarts the quiet period"
        );
        let shown = settle(Some(shown), Level::Ok, at(6));
        assert_eq!(shown.level, Level::Ok, "falls after 3 quiet minutes");
        let waiting = settle(None, Level::Unknown, at(7));
        assert_eq!(
            settle(Some(waiting), Level::Ok, at(7)).level,
            Level::Ok,
            "first data shows at once"
        );
        let unreachable = settle(Some(shown), Level::Unknown, at(8));
        assert_eq!(unreachable.level, Level::Unknown, "rises from ok at once");
    }
}
