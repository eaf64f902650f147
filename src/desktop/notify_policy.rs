//! Which desktop notifications to show, decided from the sequence of statuses: throttling
//! started (cause, retry time, advice) and ended, a window reaching the warn and critical
//! levels (once per window per reset; the engine judges each window's level against the
//! user's thresholds), a key rejected, a key due for rotation.
//!
//! Deduplicated with a cool-down per account and cause, held back while paused (the state
//! still follows the status, so resuming does not replay old news), and capped to a few per
//! minute in a storm; what a storm held back is summed up in one notification once it has
//! calmed down. Pure: the host feeds statuses and the clock, and shows what comes out.

use crate::desktop::tray_icon::throttling_now;
use crate::durations::{human_wait, time_until};
use crate::providers::throttle::Cause;
use crate::status::health::Level;
use crate::status::model::{AccountStatus, KeyHealth, KeyUseKind, Status, WindowStatus};
use crate::tools::connect::notice::{NoticeKind, ToolNotice};
use crate::tools::connect::service::fix_command;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

/// A throttling episode ends only after this long without throttling, so a flapping
/// account does not notify "started, ended, started".
pub const END_QUIET: SignedDuration = SignedDuration::from_secs(60);
/// The same account and cause notifies at most once in this long.
pub const COOL_DOWN: SignedDuration = SignedDuration::from_mins(10);
/// A rotation reminder repeats at most once a day.
pub const ROTATION_COOL_DOWN: SignedDuration = SignedDuration::from_hours(24);
/// At most this many notifications in any [`STORM_SPAN`].
pub const STORM_CAP: usize = 3;
pub const STORM_SPAN: SignedDuration = SignedDuration::from_secs(60);
/// A window counts as reset (its alerts may fire again) when its reset time has passed, or when
/// it is back at ok and its use fell this far below where it was at its first alert, so use
/// hovering around the warn threshold alerts once.
pub const RESET_MARGIN: f64 = 0.10;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Topic {
    ThrottlingStarted(Cause),
    ThrottlingEnded,
    WindowWarn(String),
    WindowCritical(String),
    KeyRejected,
    /// A tool still holds the key the last rotation replaced (named by where it keeps it).
    OldKeyInUse(String),
    /// A tool's config file stopped pointing at Redline, points at another Redline address,
    /// or holds a refused tool token (the engine's tool watch): `tool:kind`.
    ToolConfig(String),
    RotationDue,
    /// How many notifications the storm cap held back, once there is room again.
    HeldBack,
}

impl Topic {
    /// Lower is more important: kept first when a storm caps the rest.
    fn rank(&self) -> u8 {
        match self {
            Topic::KeyRejected => 0,
            Topic::OldKeyInUse(_) | Topic::ToolConfig(_) => 1,
            Topic::ThrottlingStarted(_) => 1,
            Topic::WindowCritical(_) => 2,
            Topic::WindowWarn(_) => 3,
            Topic::ThrottlingEnded => 4,
            Topic::RotationDue => 5,
            Topic::HeldBack => 6,
        }
    }

    /// What the cool-down is keyed on with the account: the cause, not its details.
    fn cool_down_key(&self) -> String {
        match self {
            Topic::ThrottlingStarted(cause) => format!("throttled:{}", cause.as_str()),
            Topic::ThrottlingEnded => "ended".into(),
            Topic::WindowWarn(w) => format!("warn:{w}"),
            Topic::WindowCritical(w) => format!("critical:{w}"),
            Topic::KeyRejected => "rejected".into(),
            Topic::OldKeyInUse(source) => format!("old_key:{source}"),
            Topic::ToolConfig(what) => format!("tool:{what}"),
            Topic::RotationDue => "rotation".into(),
            Topic::HeldBack => "held_back".into(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    pub account: String,
    pub topic: Topic,
    pub summary: String,
    pub body: String,
    pub urgent: bool,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PolicySettings {
    /// Whether notifications are on at all (`notifications.enabled`).
    pub enabled: bool,
}

/// What the policy remembers of one account.
#[derive(Clone, Debug, Default)]
struct AccountMemory {
    /// Set while a throttling episode lasts; the time it was last seen throttling.
    throttling_seen: Option<Timestamp>,
    /// Whether the start of the current episode was shown (only then is its end).
    start_shown: bool,
    key_rejected: bool,
    /// Per window, what this cycle of it has alerted.
    windows: BTreeMap<String, WindowMemory>,
    /// Where tools were last seen holding the replaced key.
    old_key_users: BTreeSet<String>,
}

#[derive(Clone, Debug)]
pub struct Policy {
    settings: PolicySettings,
    paused_until: Option<Timestamp>,
    accounts: BTreeMap<String, AccountMemory>,
    last_shown: BTreeMap<(String, String), Timestamp>,
    recent: VecDeque<Timestamp>,
    /// The summaries of the notifications the storm cap held back, oldest first.
    held_back: Vec<String>,
}

impl Policy {
    pub fn new(settings: PolicySettings) -> Self {
        Policy {
            settings,
            paused_until: None,
            accounts: BTreeMap::new(),
            last_shown: BTreeMap::new(),
            recent: VecDeque::new(),
            held_back: Vec::new(),
        }
    }

    pub fn set_settings(&mut self, settings: PolicySettings) {
        self.settings = settings;
    }

    /// Holds notifications back until `until` (`None` resumes them).
    pub fn pause_until(&mut self, until: Option<Timestamp>) {
        self.paused_until = until;
    }

    pub fn paused_until(&self, now: Timestamp) -> Option<Timestamp> {
        self.paused_until.filter(|until| *until > now)
    }

    /// Follows one status and returns the notifications to show now, most important first.
    pub fn observe(&mut self, status: &Status, now: Timestamp) -> Vec<Notice> {
        let mut candidates = Vec::new();
        for account in &status.accounts {
            let memory = self.accounts.entry(account.id.clone()).or_default();
            changes(memory, account, now, &mut candidates);
        }
        // Accounts that were removed are forgotten.
        self.accounts
            .retain(|id, _| status.accounts.iter().any(|a| &a.id == id));
        self.admit(candidates, now)
    }

    /// A notice of the engine's tool watch as a notification, held back, cooled down and
    /// capped like the others. A tool still holding an old key is the same news as the key
    /// scan's (same topic, same file), so only one of the two is shown.
    pub fn tool_notice(&mut self, notice: &ToolNotice, now: Timestamp) -> Vec<Notice> {
        let topic = match notice.kind {
            NoticeKind::OldKey => Topic::OldKeyInUse(notice.config_path.clone()),
            kind => Topic::ToolConfig(format!("{}:{kind:?}", notice.tool)),
        };
        let candidate = Notice {
            account: notice.account.clone(),
            topic,
            summary: notice.summary.clone(),
            body: notice.body.clone(),
            urgent: true,
        };
        self.admit(vec![candidate], now)
    }

    /// Of `candidates`, those to show now, most important first: none while paused or off,
    /// none in their cool-down, at most [`STORM_CAP`] a minute (with what that held back summed
    /// up once there is room).
    fn admit(&mut self, mut candidates: Vec<Notice>, now: Timestamp) -> Vec<Notice> {
        candidates.sort_by_key(|n| n.topic.rank());
        let held = !self.settings.enabled || self.paused_until(now).is_some();
        while self
            .recent
            .front()
            .is_some_and(|at| now.duration_since(*at) >= STORM_SPAN)
        {
            self.recent.pop_front();
        }
        let mut shown = Vec::new();
        for notice in candidates {
            let key = (notice.account.clone(), notice.topic.cool_down_key());
            let cool_down = match notice.topic {
                Topic::RotationDue => ROTATION_COOL_DOWN,
                _ => COOL_DOWN,
            };
            let cooling = self
                .last_shown
                .get(&key)
                .is_some_and(|at| now.duration_since(*at) < cool_down);
            let storm = self.recent.len() >= STORM_CAP;
            let show = !held && !cooling && !storm;
            if let Topic::ThrottlingStarted(_) = notice.topic
                && let Some(memory) = self.accounts.get_mut(&notice.account)
            {
                memory.start_shown = show;
            }
            if show {
                self.last_shown.insert(key, now);
                self.recent.push_back(now);
                shown.push(notice);
            } else if storm && !held && !cooling {
                self.held_back.push(notice.summary);
            }
        }
        if !self.held_back.is_empty() && self.recent.len() < STORM_CAP {
            self.recent.push_back(now);
            shown.push(held_back_notice(std::mem::take(&mut self.held_back)));
        }
        shown
    }
}

/// One notification for what a storm held back: how many, and the first few by name.
fn held_back_notice(summaries: Vec<String>) -> Notice {
    const NAMED: usize = 3;
    let mut body = summaries
        .iter()
        .take(NAMED)
        .map(|summary| format!("{summary}."))
        .collect::<Vec<_>>()
        .join(" ");
    if summaries.len() > NAMED {
        body.push_str(&format!(" And {} more.", summaries.len() - NAMED));
    }
    body.push_str(" The dashboard shows the current state of every account.");
    let count = summaries.len();
    Notice {
        account: String::new(),
        topic: Topic::HeldBack,
        summary: format!(
            "Redline: {count} more alert{} during a burst",
            if count == 1 { "" } else { "s" }
        ),
        body,
        urgent: false,
    }
}

/// The notifications one account's new status calls for, and the memory updated.
fn changes(
    memory: &mut AccountMemory,
    account: &AccountStatus,
    now: Timestamp,
    out: &mut Vec<Notice>,
) {
    let name = account.label.as_deref().unwrap_or(&account.id);
    let notice = |topic, summary: String, body: String, urgent| Notice {
        account: account.id.clone(),
        topic,
        summary,
        body,
        urgent,
    };

    // Throttling: starts at once, ends after a quiet period.
    if throttling_now(account) {
        if memory.throttling_seen.is_none() {
            let (cause, body) = throttle_details(account, now);
            out.push(notice(
                Topic::ThrottlingStarted(cause),
                format!("{name}: throttled — {}", cause.describe()),
                body,
                true,
            ));
        }
        memory.throttling_seen = Some(now);
    } else if let Some(seen) = memory.throttling_seen
        && now.duration_since(seen) >= END_QUIET
    {
        memory.throttling_seen = None;
        if std::mem::take(&mut memory.start_shown) {
            out.push(notice(
                Topic::ThrottlingEnded,
                format!("{name}: throttling ended"),
                "Requests are going through again.".into(),
                false,
            ));
        }
    }

    // Windows: warn and critical once per window per reset.
    for window in &account.windows {
        let Some(ratio) = window.used_ratio else {
            continue;
        };
        let key = window_key(window);
        let cycle = match memory.windows.get(&key) {
            Some(cycle) if !cycle.is_over(window, ratio, now) => *cycle,
            _ => WindowMemory::new(window.resets_at),
        };
        let stage = alert_stage(window.level);
        if stage > cycle.notified {
            let label = window.kind.label_with(window.scope.as_deref());
            let reset_text = time_until(window.resets_at, now)
                .map(|t| format!("Resets in {t}."))
                .unwrap_or_else(|| "No reset time is known.".into());
            let (topic, summary, body) = if stage == 2 {
                (
                    Topic::WindowCritical(key.clone()),
                    format!(
                        "{name}: {label} window {:.0}% used — nearly out",
                        ratio * 100.0
                    ),
                    format!("{reset_text} Slow down or switch accounts to avoid throttling."),
                )
            } else {
                (
                    Topic::WindowWarn(key.clone()),
                    format!("{name}: {label} window {:.0}% used", ratio * 100.0),
                    reset_text,
                )
            };
            out.push(notice(topic, summary, body, stage == 2));
        }
        let cycle = cycle.after(stage, ratio, window.resets_at);
        memory.windows.insert(key, cycle);
    }

    // A rejected key: once per rejection.
    let rejected = account.key.health == KeyHealth::Rejected;
    if rejected && !memory.key_rejected {
        let why = account
            .reasons
            .iter()
            .find(|r| r.code == "key_rejected")
            .map(|r| r.message.clone())
            .unwrap_or_else(|| "The provider refused the key.".into());
        out.push(notice(
            Topic::KeyRejected,
            format!("{name}: key rejected"),
            format!(
                "{why} Rotate it in the dashboard or with `redline keys rotate {}`.",
                account.id
            ),
            true,
        ));
    }
    memory.key_rejected = rejected;

    // After a rotation: each tool still holding the old key, once while it keeps holding it.
    let old_key_users: BTreeSet<String> = account
        .key
        .used_by
        .iter()
        .flatten()
        .filter(|found| found.key == KeyUseKind::Previous)
        .map(|found| {
            if !memory.old_key_users.contains(&found.source) {
                out.push(notice(
                    Topic::OldKeyInUse(found.source.clone()),
                    format!("{name}: {} still uses the old key", found.tool),
                    format!(
                        "Found in {}. Paste the new key there, or point the tool at Redline, so \
                         rotations need no change in it: {}.",
                        found.source,
                        fix_command(&found.tool, &account.id)
                    ),
                    true,
                ));
            }
            found.source.clone()
        })
        .collect();
    memory.old_key_users = old_key_users;

    // A key due for rotation (health reports it once older than `rotation_reminder_days`).
    if account.reasons.iter().any(|r| r.code == "key_old") && account.level != Level::Unknown {
        let age = account
            .key
            .age_days
            .map(|d| format!("{d} days old"))
            .unwrap_or_else(|| "old".into());
        out.push(notice(
            Topic::RotationDue,
            format!("{name}: key is {age}"),
            format!(
                "Consider rotating it: in the dashboard, or `redline keys rotate {}`.",
                account.id
            ),
            false,
        ));
    }
}

/// What one window's current cycle (from one reset to the next) has alerted.
#[derive(Clone, Copy, Debug)]
struct WindowMemory {
    /// The highest stage notified: 0 nothing, 1 warn, 2 critical.
    notified: u8,
    /// The use at the first alert of the cycle.
    first_alert_ratio: Option<f64>,
    /// When the cycle ends, as the provider said at its start.
    resets_at: Option<Timestamp>,
}

impl WindowMemory {
    fn new(resets_at: Option<Timestamp>) -> Self {
        WindowMemory {
            notified: 0,
            first_alert_ratio: None,
            resets_at,
        }
    }

    /// Whether the window has reset since: its reset time passed (counted once the provider
    /// reports the next one), or it is back at ok well below its first alert.
    fn is_over(&self, window: &WindowStatus, ratio: f64, now: Timestamp) -> bool {
        let reset_passed = self
            .resets_at
            .is_some_and(|at| now >= at && window.resets_at != Some(at));
        let fell_back = window.level == Level::Ok
            && self
                .first_alert_ratio
                .is_some_and(|first| ratio <= first - RESET_MARGIN);
        reset_passed || fell_back
    }

    /// The memory once this window's current `stage` has been dealt with (a reset time
    /// reported only now is taken).
    fn after(self, stage: u8, ratio: f64, resets_at: Option<Timestamp>) -> Self {
        WindowMemory {
            notified: self.notified.max(stage),
            first_alert_ratio: self.first_alert_ratio.or((stage > 0).then_some(ratio)),
            resets_at: self.resets_at.or(resets_at),
        }
    }
}

/// How far along a window's alerts its level is: 1 warn, 2 critical, else 0.
fn alert_stage(level: Level) -> u8 {
    match level {
        Level::Critical => 2,
        Level::Warn => 1,
        Level::Ok | Level::Unknown => 0,
    }
}

/// From this wait on, a notification says when the limit lifts by the clock.
const BACK_AT_FROM: Duration = Duration::from_secs(3600);

/// `14:10` in `zone`; with the date (`Dec 4 14:10`) when it is not within the next day.
fn clock_time(at: Timestamp, zone: &TimeZone) -> String {
    let zoned = at.to_zoned_datetime(zone.clone());
    let today = Timestamp::now().to_zoned_datetime(zone.clone()).date();
    if zoned.date() == today || zoned.date() == today.tomorrow().unwrap_or(today) {
        zoned.strftime("%H:%M").to_string()
    } else {
        zoned.strftime("%b %-d %H:%M").to_string()
    }
}

/// The cause of the current throttling and a body with the status, the time left before a
/// retry (said once, here: the advice names none) and the advice.
fn throttle_details(account: &AccountStatus, now: Timestamp) -> (Cause, String) {
    let Some(last) = &account.throttles.last else {
        return (Cause::Other, "The provider is refusing requests.".into());
    };
    let mut body = format!("HTTP {}.", last.status);
    let retry_at = last
        .retry_after_s
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| last.at + SignedDuration::from_secs_f64(s));
    let until =
        retry_at.and_then(|at| Some((at, Duration::try_from(at.duration_since(now)).ok()?)));
    match until {
        // A wait of hours is a drained window: the time it comes back says more than seconds.
        Some((at, wait)) if wait >= BACK_AT_FROM => {
            let clock = clock_time(at, &TimeZone::system());
            body.push_str(&format!(" Back at {clock} (in {}).", human_wait(wait)));
        }
        Some((_, wait)) if !wait.is_zero() => {
            let wait = human_wait(wait);
            if last.cause.retry_helps() {
                body.push_str(&format!(" Retry in {wait}."));
            } else {
                body.push_str(&format!(" The limit lifts in {wait}."));
            }
        }
        _ => {}
    }
    if !last.advice.is_empty() {
        body.push(' ');
        body.push_str(&last.advice);
    }
    (last.cause, body)
}

fn window_key(window: &WindowStatus) -> String {
    match &window.scope {
        Some(scope) => format!("{:?}:{scope}", window.kind),
        None => format!("{:?}", window.kind),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desktop::tray_icon::tests::{account, now, status};
    use serde_json::json;

    fn settings() -> PolicySettings {
        PolicySettings { enabled: true }
    }

    fn at(seconds: i64) -> Timestamp {
        now() + SignedDuration::from_secs(seconds)
    }

    /// Kimi at `used` %, throttled now (concurrency, retry 30 s) or not.
    fn kimi(used: f64, throttled: bool) -> Status {
        let reasons: &[(&str, &str)] = if throttled {
            &[("throttling_now", "Throttled: concurrency limit.")]
        } else {
            &[]
        };
        let mut a = account(
            "kimi",
            if throttled { "critical" } else { "ok" },
            Some(used),
            reasons,
        );
        a["throttles"] = json!({
            "recent": 4, "by_cause": {"concurrency": 4},
            "last": {"cause": "concurrency", "status": 429, "at": "2026-11-29T12:00:00Z",
                     "retry_after_s": 30.0, "message": "too many", "advice": "Run fewer agents at once."}
        });
        status("ok", vec![a])
    }

    fn topics(notices: &[Notice]) -> Vec<Topic> {
        notices.iter().map(|n| n.topic.clone()).collect()
    }

    #[test]
    fn throttling_start_names_cause_retry_and_advice_then_ends_after_quiet() {
        let mut policy = Policy::new(settings());
        assert!(policy.observe(&kimi(40.0, false), at(0)).is_empty());
        let started = policy.observe(&kimi(40.0, true), at(5));
        assert_eq!(
            topics(&started),
            [Topic::ThrottlingStarted(Cause::Concurrency)]
        );
        assert_eq!(
            started[0].summary,
            "Kimi Code: throttled — concurrency limit"
        );
        assert_eq!(
            started[0].body,
            "HTTP 429. Retry in 25s. Run fewer agents at once."
        );
        assert!(started[0].urgent);
        // Still throttled: nothing new. Calm, but not yet for the quiet period: nothing.
        assert!(policy.observe(&kimi(40.0, true), at(20)).is_empty());
        assert!(policy.observe(&kimi(40.0, false), at(30)).is_empty());
        let ended = policy.observe(&kimi(40.0, false), at(81));
        assert_eq!(topics(&ended), [Topic::ThrottlingEnded]);
        assert!(policy.observe(&kimi(40.0, false), at(200)).is_empty());
    }

    /// Kimi refusing with the classifier's own advice, `retry_after_s` after 12:00:00.
    fn kimi_refusing(cause: &str, retry_after_s: f64, advice: String) -> Status {
        let mut a = account(
            "kimi",
            "critical",
            Some(40.0),
            &[("throttling_now", "Throttled.")],
        );
        a["throttles"] = json!({
            "recent": 3, "by_cause": {cause: 3},
            "last": {"cause": cause, "status": 429, "at": "2026-11-29T12:00:00Z",
                     "retry_after_s": retry_after_s, "message": "too many", "advice": advice}
        });
        status("critical", vec![a])
    }

    #[test]
    fn a_concurrency_throttle_says_the_retry_time_once_in_whole_seconds() {
        let mut policy = Policy::new(settings());
        let advice = crate::providers::throttle::advice(Cause::Concurrency, Some(30));
        // Noticed 141 ms after a refusal that said "retry after 1 s": 859 ms are left.
        let shown = policy.observe(
            &kimi_refusing("concurrency", 1.0, advice),
            now() + SignedDuration::from_millis(141),
        );
        assert_eq!(
            topics(&shown),
            [Topic::ThrottlingStarted(Cause::Concurrency)]
        );
        assert_eq!(
            shown[0].body,
            "HTTP 429. Retry in 1s. Concurrency limit 30 reached; your quota is fine. \
             Lower parallel agents or enable Redline's queue."
        );
    }

    #[test]
    fn a_used_up_quota_says_when_it_lifts_not_to_retry() {
        let mut policy = Policy::new(settings());
        let advice = crate::providers::throttle::advice(Cause::QuotaExhausted, None);
        let shown = policy.observe(&kimi_refusing("quota_exhausted", 7500.0, advice), at(60));
        let back = clock_time(
            "2026-11-29T12:00:00Z".parse::<Timestamp>().unwrap() + SignedDuration::from_secs(7500),
            &TimeZone::system(),
        );
        assert_eq!(
            shown[0].body,
            format!(
                "HTTP 429. Back at {back} (in 2h 4m). Quota used up; retrying will not help. \
                 Wait for the window to reset, top up, or switch keys."
            )
        );
        // Shorter waits stay a countdown.
        let mut policy = Policy::new(settings());
        let advice = crate::providers::throttle::advice(Cause::QuotaExhausted, None);
        let shown = policy.observe(&kimi_refusing("quota_exhausted", 1800.0, advice), at(60));
        assert!(
            shown[0]
                .body
                .starts_with("HTTP 429. The limit lifts in 29m."),
            "{}",
            shown[0].body
        );
    }

    #[test]
    fn clock_times_are_local_and_carry_the_date_only_when_not_soon() {
        let zone = TimeZone::fixed(jiff::tz::offset(8));
        let soon = Timestamp::now() + SignedDuration::from_hours(2);
        let expected = soon
            .to_zoned_datetime(zone.clone())
            .strftime("%H:%M")
            .to_string();
        assert_eq!(clock_time(soon, &zone), expected);
        let later: Timestamp = "2031-01-05T06:10:00Z".parse().unwrap();
        assert_eq!(clock_time(later, &zone), "Jan 5 14:10");
    }

    #[test]
    fn flapping_throttling_is_one_episode_and_a_new_one_waits_for_the_cool_down() {
        let mut policy = Policy::new(settings());
        let mut shown = Vec::new();
        // On and off every 10 s for two minutes: one start, no end.
        for step in 0..12 {
            shown.extend(policy.observe(&kimi(40.0, step % 2 == 0), at(step * 10)));
        }
        assert_eq!(
            topics(&shown),
            [Topic::ThrottlingStarted(Cause::Concurrency)]
        );
        // It ends; a new episode inside the cool-down is not announced, nor is its end.
        assert_eq!(
            topics(&policy.observe(&kimi(40.0, false), at(200))),
            [Topic::ThrottlingEnded]
        );
        assert!(policy.observe(&kimi(40.0, true), at(300)).is_empty());
        assert!(policy.observe(&kimi(40.0, false), at(400)).is_empty());
        // After the cool-down it is news again.
        let again = policy.observe(&kimi(40.0, true), at(5 + 600 + 100));
        assert_eq!(
            topics(&again),
            [Topic::ThrottlingStarted(Cause::Concurrency)]
        );
    }

    #[test]
    fn windows_warn_then_critical_once_per_reset() {
        let mut policy = Policy::new(settings());
        assert!(policy.observe(&kimi(70.0, false), at(0)).is_empty());
        let warn = policy.observe(&kimi(81.0, false), at(10));
        assert_eq!(topics(&warn), [Topic::WindowWarn("FiveHour".into())]);
        assert_eq!(warn[0].summary, "Kimi Code: 5h window 81% used");
        assert_eq!(warn[0].body, "Resets in 1h 11m.");
        // Hovering around the threshold does not repeat it.
        for (i, used) in [79.0, 82.0, 78.0, 84.0].into_iter().enumerate() {
            assert!(
                policy
                    .observe(&kimi(used, false), at(20 + i as i64))
                    .is_empty()
            );
        }
        let critical = policy.observe(&kimi(96.0, false), at(30));
        assert_eq!(
            topics(&critical),
            [Topic::WindowCritical("FiveHour".into())]
        );
        assert!(critical[0].summary.ends_with("96% used — nearly out"));
        assert!(policy.observe(&kimi(99.0, false), at(40)).is_empty());
        // Falling back to amber after critical is not news.
        assert!(policy.observe(&kimi(85.0, false), at(50)).is_empty());
    }

    #[test]
    fn windows_alert_by_the_level_the_engine_gave_them_not_by_fixed_thresholds() {
        let mut policy = Policy::new(settings());
        // The user's thresholds are 90 and 99: at 85 % the engine says ok.
        let mut lenient = kimi(85.0, false);
        lenient.accounts[0].windows[0].level = Level::Ok;
        assert!(policy.observe(&lenient, at(0)).is_empty());
        // Theirs are 50 and 60: at 55 % the engine says warn, at 62 % critical.
        let mut strict = kimi(55.0, false);
        strict.accounts[0].windows[0].level = Level::Warn;
        assert_eq!(
            topics(&policy.observe(&strict, at(10))),
            [Topic::WindowWarn("FiveHour".into())]
        );
        let mut strict = kimi(62.0, false);
        strict.accounts[0].windows[0].level = Level::Critical;
        assert_eq!(
            topics(&policy.observe(&strict, at(20))),
            [Topic::WindowCritical("FiveHour".into())]
        );
    }

    #[test]
    fn a_window_alerts_again_after_its_reset() {
        let mut policy = Policy::new(settings());
        assert_eq!(policy.observe(&kimi(85.0, false), at(0)).len(), 1);
        // The reset time (13:12) passes: the window starts a new cycle.
        let after_reset = at(72 * 60 + 1);
        assert!(policy.observe(&kimi(10.0, false), after_reset).is_empty());
        let mut s = kimi(85.0, false);
        s.accounts[0].windows[0].resets_at = Some(at(6 * 3600));
        // Beyond the cool-down of the first warning too.
        assert_eq!(
            topics(&policy.observe(&s, after_reset + SignedDuration::from_mins(30))),
            [Topic::WindowWarn("FiveHour".into())]
        );
    }

    #[test]
    fn nothing_is_shown_while_paused_and_resuming_does_not_replay() {
        let mut policy = Policy::new(settings());
        policy.pause_until(Some(at(3600)));
        assert_eq!(policy.paused_until(at(0)), Some(at(3600)));
        assert!(policy.observe(&kimi(96.0, true), at(0)).is_empty());
        policy.pause_until(None);
        assert!(
            policy.observe(&kimi(96.0, true), at(10)).is_empty(),
            "old news"
        );
        // A pause that ran out holds nothing back.
        let mut policy = Policy::new(settings());
        policy.pause_until(Some(at(-1)));
        assert_eq!(policy.paused_until(at(0)), None);
        assert!(!policy.observe(&kimi(96.0, true), at(0)).is_empty());
        // And notifications switched off in the settings are never shown.
        let mut off = Policy::new(PolicySettings { enabled: false });
        assert!(off.observe(&kimi(96.0, true), at(0)).is_empty());
    }

    #[test]
    fn a_storm_is_capped_keeping_the_most_important() {
        let mut policy = Policy::new(settings());
        let accounts: Vec<_> = (0..6)
            .map(|i| {
                let mut a = account(&format!("k{i}"), "critical", Some(96.0), &[("throttling_now", "x")]);
                a["throttles"]["last"] = json!({"cause": "rpm", "status": 429, "at": "2026-11-29T12:00:00Z",
                    "retry_after_s": null, "message": "", "advice": ""});
                a
            })
            .collect();
        let shown = policy.observe(&status("critical", accounts), at(0));
        assert_eq!(shown.len(), STORM_CAP);
        assert!(
            shown
                .iter()
                .all(|n| n.topic == Topic::ThrottlingStarted(Cause::Rpm)),
            "{shown:?}"
        );
        assert_eq!(shown[0].body, "HTTP 429.");
        // The cap holds for the rest of the minute, then lifts.
        let mut one = kimi(40.0, false);
        one.accounts[0].id = "other".into();
        one.accounts[0].windows[0].used_ratio = Some(0.9);
        one.accounts[0].windows[0].level = Level::Warn;
        assert!(policy.observe(&one, at(30)).is_empty());
        let mut later = one.clone();
        later.accounts[0].windows[0].used_ratio = Some(0.96);
        later.accounts[0].windows[0].level = Level::Critical;
        let calm = policy.observe(&later, at(61));
        assert_eq!(calm.len(), 2, "{calm:?}");
        assert!(
            matches!(calm[0].topic, Topic::WindowCritical(_)),
            "{calm:?}"
        );
        // What the storm held back is summed up once: at 0 s six throttles and six critical
        // windows, three of them shown; at 30 s a warning.
        let summary = &calm[1];
        assert_eq!(summary.topic, Topic::HeldBack);
        assert_eq!(summary.summary, "Redline: 10 more alerts during a burst");
        assert!(summary.body.contains("throttled"), "{}", summary.body);
        assert!(summary.body.contains("And 7 more."), "{}", summary.body);
        assert!(
            policy.observe(&later, at(200)).is_empty(),
            "the summary is not repeated"
        );
    }

    #[test]
    fn a_rejected_key_notifies_once_until_it_recovers() {
        let mut policy = Policy::new(settings());
        let mut bad = account(
            "kimi",
            "critical",
            None,
            &[("key_rejected", "Key rejected: HTTP 401 invalid key")],
        );
        bad["key"]["health"] = json!("rejected");
        let bad = status("critical", vec![bad]);
        let shown = policy.observe(&bad, at(0));
        assert_eq!(topics(&shown), [Topic::KeyRejected]);
        assert!(
            shown[0]
                .body
                .starts_with("Key rejected: HTTP 401 invalid key Rotate it"),
            "{}",
            shown[0].body
        );
        assert!(policy.observe(&bad, at(10)).is_empty());
        assert!(policy.observe(&kimi(10.0, false), at(20)).is_empty());
        assert_eq!(
            topics(&policy.observe(&bad, at(20 + 601))),
            [Topic::KeyRejected]
        );
    }

    #[test]
    fn an_old_key_is_reminded_once_a_day() {
        let mut policy = Policy::new(settings());
        let mut old = account("kimi", "ok", Some(10.0), &[]);
        old["reasons"] =
            json!([{"level": "ok", "code": "key_old", "message": "Key is 120 days old"}]);
        old["key"]["age_days"] = json!(120);
        let old = status("ok", vec![old]);
        let shown = policy.observe(&old, at(0));
        assert_eq!(topics(&shown), [Topic::RotationDue]);
        assert_eq!(shown[0].summary, "Kimi Code: key is 120 days old");
        assert!(policy.observe(&old, at(3600)).is_empty());
        assert_eq!(policy.observe(&old, at(25 * 3600)).len(), 1);
    }

    #[test]
    fn a_tool_still_holding_the_old_key_is_named_once() {
        let mut policy = Policy::new(settings());
        let with_users = |kind: &str| {
            let mut kimi = account("kimi", "ok", Some(10.0), &[]);
            kimi["key"]["used_by"] = json!([
                {"tool": "OpenClaw", "source": "~/.openclaw/openclaw.json", "key": kind},
                {"tool": "Kimi CLI", "source": "~/.kimi/config.toml", "key": "current"}
            ]);
            status("ok", vec![kimi])
        };
        let shown = policy.observe(&with_users("previous"), at(0));
        assert_eq!(
            topics(&shown),
            [Topic::OldKeyInUse("~/.openclaw/openclaw.json".into())]
        );
        assert_eq!(
            shown[0].summary,
            "Kimi Code: OpenClaw still uses the old key"
        );
        assert!(
            shown[0].body.ends_with("`redline connect openclaw kimi`."),
            "{}",
            shown[0].body
        );
        // Still there: not again. Fixed, then back after the cool-down: again.
        assert!(policy.observe(&with_users("previous"), at(60)).is_empty());
        assert!(policy.observe(&with_users("proxy"), at(120)).is_empty());
        assert_eq!(
            policy.observe(&with_users("previous"), at(120 + 601)).len(),
            1
        );
    }

    fn tool_notice(kind: NoticeKind, path: &str) -> ToolNotice {
        ToolNotice {
            tool: "openclaw",
            name: "OpenClaw",
            kind,
            account: "kimi".into(),
            config_path: path.into(),
            summary: "OpenClaw no longer goes through Redline".into(),
            body: "… `redline connect openclaw kimi`.".into(),
            command: "redline connect openclaw kimi".into(),
        }
    }

    #[test]
    fn a_tool_notice_is_shown_unless_paused_and_once_in_the_cool_down() {
        let mut policy = Policy::new(settings());
        let left = tool_notice(NoticeKind::LeftRedline, "~/.openclaw/openclaw.json");
        let shown = policy.tool_notice(&left, at(0));
        assert_eq!(
            topics(&shown),
            [Topic::ToolConfig("openclaw:LeftRedline".into())]
        );
        assert_eq!(shown[0].summary, "OpenClaw no longer goes through Redline");
        assert!(shown[0].urgent);
        assert!(policy.tool_notice(&left, at(60)).is_empty(), "cooling down");
        // Another kind of news about the same tool is news.
        let elsewhere = tool_notice(NoticeKind::Elsewhere, "~/.openclaw/openclaw.json");
        assert_eq!(policy.tool_notice(&elsewhere, at(61)).len(), 1);
        policy.pause_until(Some(at(3600)));
        assert!(policy.tool_notice(&left, at(1000)).is_empty(), "paused");
    }

    #[test]
    fn an_old_key_named_by_the_key_scan_is_not_named_again_by_the_tool_watch() {
        let mut policy = Policy::new(settings());
        let mut kimi = account("kimi", "ok", Some(10.0), &[]);
        kimi["key"]["used_by"] = json!([
            {"tool": "OpenClaw", "source": "~/.openclaw/openclaw.json", "key": "previous"}
        ]);
        assert_eq!(policy.observe(&status("ok", vec![kimi]), at(0)).len(), 1);
        let old = tool_notice(NoticeKind::OldKey, "~/.openclaw/openclaw.json");
        assert!(policy.tool_notice(&old, at(5)).is_empty());
        // Another file is other news.
        let other = tool_notice(NoticeKind::OldKey, "~/.claude/settings.json");
        assert_eq!(policy.tool_notice(&other, at(6)).len(), 1);
    }
}
