//! OpenAI Codex on a ChatGPT plan (Plus, Pro, Business …), used with the ChatGPT login token
//! Codex keeps after `codex login`. The plan's windows are percentages: a short one (5 hours)
//! and a weekly one, or only a weekly one on some plans. They come two ways, both read here:
//! the usage endpoint Codex's own `/status` reads (`GET /backend-api/wham/usage`), and the
//! `x-codex-*` headers on every answer of the Responses API that Codex traffic carries through
//! the proxy. A window is named by its length (`limit_window_seconds`, `-window-minutes`),
//! never by its position: "primary" is the weekly window on a weekly-only plan.

use super::wire::{self, field, header_number, number, shape};
use super::{
    AuthStyle, Facts, Models, Provider, ProviderId, Region, Shows, ToolPaths, UsageContext,
    UsageError,
};
use crate::providers::snapshot::{Balance, Snapshot, Window, WindowKind};
use crate::providers::throttle::{Cause, Classification};
use crate::providers::wire::{error_message, retry_after_header};
use http::HeaderMap;
use jiff::Timestamp;
use serde_json::Value;
use std::time::Duration;

pub struct Codex;

const REGIONS: &[Region] = &[Region {
    name: "global",
    api_base: "https://chatgpt.com/backend-api/codex",
    usage_url: "https://chatgpt.com/backend-api/wham/usage",
}];

const LOGIN_ADVICE: &str = "The ChatGPT login token expired or was revoked: log in again with \
     `codex login` and store the new access token with `redline keys rotate`.";

const USED_UP_ADVICE: &str = "The ChatGPT plan's Codex limit is used up, so retrying will not \
     help: wait for the reset, use Codex credits, or switch to an API key.";

const FACTS: Facts = Facts {
    regions: REGIONS,
    auth: AuthStyle::Bearer,
    name: "OpenAI Codex (ChatGPT plan)",
    short_name: "Codex",
    key_hint: "The ChatGPT access token Codex stores after `codex login` (tokens.access_token \
               in ~/.codex/auth.json)",
    // The token is a JWT (`eyJ…`), which says nothing about the product.
    key_prefixes: &[],
    key_variables: &[],
    more_hosts: &[],
    // The Codex backend speaks only the Responses API; Codex itself is pointed at it by its
    // ChatGPT login, so Redline offers no tool route of its own here.
    tool_paths: ToolPaths {
        openai: None,
        anthropic: None,
        responses: false,
    },
    models: Models {
        model: "gpt-5-codex",
        small_model: None,
        context_window: 400_000,
        max_output_tokens: 128_000,
    },
    sibling: Some(ProviderId::Openai),
    zero_doubt: None,
    shows: &[Shows::Windows, Shows::Balance, Shows::Headers],
};

impl Provider for Codex {
    fn facts(&self) -> &'static Facts {
        &FACTS
    }

    /// The usage endpoint is the one ChatGPT's own pages use; poll it gently.
    fn min_poll_interval(&self) -> Duration {
        Duration::from_secs(60)
    }

    fn parse_usage(&self, body: &[u8], context: &UsageContext) -> Result<Snapshot, UsageError> {
        let json = wire::json_object(body, "Codex usage")?;
        let limits = field(&json, "rate_limit");
        let windows = ["primary_window", "secondary_window"]
            .into_iter()
            .filter_map(|key| field(limits?, key))
            .map(|entry| body_window(entry, context.now))
            .collect::<Result<Vec<_>, _>>()?;
        let balances = credits(field(&json, "credits"))?;
        if windows.is_empty() && balances.is_none() {
            return Err(shape(
                "the Codex usage response has no rate_limit window and no credits",
            ));
        }
        Ok(Snapshot {
            plan: json
                .get("plan_type")
                .and_then(Value::as_str)
                .map(str::to_owned),
            windows,
            balances: balances.into_iter().collect(),
            ..Snapshot::default()
        })
    }

    fn header_windows(&self, headers: &HeaderMap, now: Timestamp) -> Vec<Window> {
        ["primary", "secondary"]
            .into_iter()
            .filter_map(|slot| header_window(headers, slot, now))
            .collect()
    }

    fn classify(
        &self,
        status: u16,
        headers: &HeaderMap,
        body: &[u8],
        now: Timestamp,
    ) -> Classification {
        if let Some(page) = wire::html_error_page("Codex", status, headers, body, now) {
            return page;
        }
        let message = error_message(body);
        let json = wire::error_json(body);
        let kind = wire::error_text(json.as_ref(), "/type")
            .or_else(|| wire::error_text(json.as_ref(), "/code"))
            .unwrap_or("");
        let wait = retry_after_header(headers, now);
        if kind == "usage_limit_reached" {
            let reset = json
                .as_ref()
                .and_then(|json| json.get("error"))
                .and_then(|error| stated_reset(error, "resets_at", "resets_in_seconds", now));
            return used_up(&message, reset, now, wait);
        }
        if kind == "usage_not_included" {
            return Classification::new(Cause::ClientRejected, &message).with_advice(
                "This ChatGPT plan does not include Codex: upgrade the plan or use an API key.",
            );
        }
        match status {
            429 => {
                let full = self
                    .header_windows(headers, now)
                    .into_iter()
                    .filter(|w| w.used.is_some_and(|used| used >= 100.0))
                    .filter_map(|w| w.resets_at)
                    .max();
                match full {
                    Some(reset) => used_up(&message, Some(reset), now, wait),
                    None => Classification::new(Cause::Rpm, &message).with_retry_after(wait),
                }
            }
            401 => Classification::new(Cause::AuthInvalid, &message).with_advice(LOGIN_ADVICE),
            403 => Classification::new(Cause::ClientRejected, &message),
            500.. => Classification::new(Cause::Overloaded, &message).with_retry_after(wait),
            _ => Classification::new(Cause::Other, &message).retryable(false),
        }
    }
}

/// Quota used up until `reset` (else the provider's retry-after).
fn used_up(
    message: &str,
    reset: Option<Timestamp>,
    now: Timestamp,
    wait: Option<Duration>,
) -> Classification {
    let until_reset =
        reset.map(|at| Duration::try_from(at.duration_since(now)).unwrap_or(Duration::ZERO));
    Classification::new(Cause::QuotaExhausted, message)
        .with_retry_after(until_reset.filter(|w| *w <= wire::MAX_WAIT).or(wait))
        .with_advice(USED_UP_ADVICE)
}

/// `{"used_percent":12,"limit_window_seconds":18000,"reset_after_seconds":…,"reset_at":…}`.
fn body_window(entry: &Value, now: Timestamp) -> Result<Window, UsageError> {
    let used = field(entry, "used_percent")
        .and_then(number)
        .ok_or_else(|| shape("a Codex rate_limit window has no used_percent number"))?;
    let minutes = field(entry, "limit_window_seconds")
        .and_then(number)
        .map(|seconds| seconds / 60.0);
    let reset = stated_reset(entry, "reset_at", "reset_after_seconds", now);
    Ok(window(used, minutes, reset))
}

/// `x-codex-{slot}-used-percent`, `-window-minutes`, `-reset-at` (epoch s), `-reset-after-seconds`.
fn header_window(headers: &HeaderMap, slot: &str, now: Timestamp) -> Option<Window> {
    let value = |name: &str| header_number(headers, &format!("x-codex-{slot}-{name}"));
    let used = value("used-percent")?;
    let reset = value("reset-at")
        .and_then(epoch_seconds)
        .or_else(|| after_seconds(value("reset-after-seconds")?, now));
    Some(window(used, value("window-minutes"), reset))
}

/// The reset an entry states: the absolute `at_key` (epoch seconds) wins over `after_key`
/// (seconds from now), which drifts with the time the answer took.
fn stated_reset(entry: &Value, at_key: &str, after_key: &str, now: Timestamp) -> Option<Timestamp> {
    field(entry, at_key)
        .and_then(number)
        .and_then(epoch_seconds)
        .or_else(|| after_seconds(field(entry, after_key).and_then(number)?, now))
}

fn epoch_seconds(seconds: f64) -> Option<Timestamp> {
    (seconds > 0.0)
        .then(|| Timestamp::from_second(seconds as i64).ok())
        .flatten()
}

fn after_seconds(seconds: f64, now: Timestamp) -> Option<Timestamp> {
    let wait = Duration::try_from_secs_f64(seconds).ok()?;
    now.checked_add(wait).ok()
}

/// A percentage window of `minutes`: 300 is the 5-hour window, 10080 the week, 1440 a day,
/// about 30 days a month. Any other length keeps the nearest kind and says its real length
/// in the scope and note; without a length, the window is not guessed at.
fn window(used: f64, minutes: Option<f64>, reset: Option<Timestamp>) -> Window {
    let percent = |kind| Window::percent(kind, used).resets_at(reset);
    let Some(minutes) = minutes.filter(|m| *m > 0.0) else {
        let mut window = percent(WindowKind::FiveHour).scope("length not sent");
        window.note = Some("Codex did not say how long this window is".to_owned());
        return window;
    };
    let named = [
        (300.0, WindowKind::FiveHour),
        (1440.0, WindowKind::Daily),
        (10080.0, WindowKind::Weekly),
        (43200.0, WindowKind::Monthly),
        (44640.0, WindowKind::Monthly),
    ];
    // Codex has been seen to round a window down by a minute (299, 10079).
    if let Some((_, kind)) = named.iter().find(|(m, _)| (minutes - m).abs() <= 1.0) {
        return percent(*kind);
    }
    let nearest = named
        .iter()
        .min_by(|a, b| {
            let distance = |m: f64| (minutes.ln() - m.ln()).abs();
            distance(a.0).total_cmp(&distance(b.0))
        })
        .map(|(_, kind)| *kind)
        .unwrap_or(WindowKind::FiveHour);
    let length = window_length(minutes);
    let mut window = percent(nearest).scope(format!("{length} window"));
    window.note = Some(format!(
        "Codex reported a window of {minutes:.0} minutes, which is none of the 5-hour, daily, \
         weekly or monthly windows"
    ));
    window
}

/// `90 min`, `3 h`, `2 d`.
fn window_length(minutes: f64) -> String {
    if minutes < 120.0 {
        format!("{minutes:.0} min")
    } else if minutes < 2880.0 {
        format!("{:.0} h", minutes / 60.0)
    } else {
        format!("{:.0} d", minutes / 1440.0)
    }
}

/// `{"has_credits":true,"unlimited":false,"balance":"12.50"}`: the credits left as a balance.
/// Unlimited credits and a plan without credits show none.
fn credits(credits: Option<&Value>) -> Result<Option<Balance>, UsageError> {
    let Some(credits) = credits else {
        return Ok(None);
    };
    if !credits.is_object() {
        return Err(shape("the Codex usage response's credits is not an object"));
    }
    if credits.get("unlimited") == Some(&Value::Bool(true)) {
        return Ok(None);
    }
    let amount = wire::opt_number(credits, "balance", || "credits.balance".to_owned())?;
    Ok(amount.map(|amount| Balance {
        kind: "credits".to_owned(),
        amount,
        currency: "credits".to_owned(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::snapshot::Unit;
    use wire::header_map as headers;

    /// Two hours before the 5-hour reset of the capture below (2025-11-18T14:26:45Z).
    const NOW: i64 = 1_763_476_005;
    const USAGE: &str = include_str!("../../tests/fixtures/providers/codex/wham-usage.json");
    const WEEKLY_ONLY: &str =
        include_str!("../../tests/fixtures/providers/codex/wham-usage-weekly-only.json");
    const USED_UP: &str =
        include_str!("../../tests/fixtures/providers/codex/usage-limit-reached-429.json");
    const EXPIRED: &str =
        include_str!("../../tests/fixtures/providers/codex/token-expired-401.json");
    const HEADERS: &str = include_str!("../../tests/fixtures/providers/codex/headers.txt");

    fn now() -> Timestamp {
        Timestamp::from_second(NOW).unwrap()
    }

    fn at(seconds: i64) -> Option<Timestamp> {
        Some(Timestamp::from_second(seconds).unwrap())
    }

    fn parse(body: &str) -> Result<Snapshot, UsageError> {
        let context = UsageContext {
            now: now(),
            region: &REGIONS[0],
        };
        Codex.parse_usage(body.as_bytes(), &context)
    }

    fn percent(kind: WindowKind, used: f64, resets_at: Option<Timestamp>) -> Window {
        Window {
            kind,
            scope: None,
            used: Some(used),
            limit: Some(100.0),
            remaining: Some(100.0 - used),
            unit: Unit::Percent,
            resets_at,
            note: None,
        }
    }

    /// `name: value` lines, as a capture lists them.
    fn fixture_headers(text: &str) -> HeaderMap {
        let mut map = HeaderMap::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let (name, value) = line.split_once(':').unwrap();
            map.insert(
                http::HeaderName::try_from(name.trim()).unwrap(),
                value.trim().parse().unwrap(),
            );
        }
        map
    }

    #[test]
    fn identity_regions_and_auth() {
        let region = Codex.regions()[0];
        assert_eq!(region.api_base, "https://chatgpt.com/backend-api/codex");
        assert_eq!(
            region.usage_url,
            "https://chatgpt.com/backend-api/wham/usage"
        );
        assert_eq!(Codex.auth_style(), AuthStyle::Bearer);
        assert_eq!(Codex.min_poll_interval(), Duration::from_secs(60));
    }

    #[test]
    fn usage_windows_are_named_by_their_length_with_the_absolute_reset() {
        let snapshot = parse(USAGE).unwrap();
        assert_eq!(snapshot.plan.as_deref(), Some("plus"));
        assert_eq!(
            snapshot.windows,
            vec![
                percent(WindowKind::FiveHour, 7.0, at(1_763_483_205)),
                percent(WindowKind::Weekly, 77.0, at(1_763_606_387)),
            ]
        );
        assert_eq!(
            snapshot.balances,
            vec![Balance {
                kind: "credits".into(),
                amount: 0.0,
                currency: "credits".into()
            }]
        );
    }

    #[test]
    fn a_weekly_only_plan_has_its_week_in_the_primary_slot() {
        let snapshot = parse(WEEKLY_ONLY).unwrap();
        assert_eq!(snapshot.plan.as_deref(), Some("free"));
        assert_eq!(
            snapshot.windows,
            vec![percent(WindowKind::Weekly, 100.0, at(1_764_100_000))]
        );
        assert_eq!(snapshot.balances[0].amount, 12.5);
    }

    #[test]
    fn reset_after_seconds_is_used_only_without_reset_at() {
        let body = r#"{"plan_type":"pro","rate_limit":{"primary_window":{"used_percent":"12.5","limit_window_seconds":17940,"reset_after_seconds":3600}},"credits":{"has_credits":true,"unlimited":true,"balance":null}}"#;
        let snapshot = parse(body).unwrap();
        let expected = now().checked_add(Duration::from_secs(3600)).ok();
        assert_eq!(
            snapshot.windows,
            vec![percent(WindowKind::FiveHour, 12.5, expected)]
        );
        assert!(
            snapshot.balances.is_empty(),
            "unlimited credits are no balance"
        );
    }

    #[test]
    fn an_unknown_window_length_says_so() {
        let body = r#"{"rate_limit":{"primary_window":{"used_percent":30,"limit_window_seconds":3600,"reset_at":1763483205}}}"#;
        let window = &parse(body).unwrap().windows[0];
        assert_eq!(window.kind, WindowKind::FiveHour);
        assert_eq!(window.scope.as_deref(), Some("60 min window"));
        assert_eq!(window.used, Some(30.0));
        assert!(window.note.as_deref().unwrap().contains("60 minutes"));
        let body = r#"{"rate_limit":{"primary_window":{"used_percent":30,"limit_window_seconds":259200}}}"#;
        let window = &parse(body).unwrap().windows[0];
        assert_eq!(
            (window.kind, window.scope.as_deref()),
            (WindowKind::Weekly, Some("3 d window"))
        );
    }

    #[test]
    fn shape_errors() {
        for body in [
            r#"{"plan_type":"plus","rate_limit":null,"credits":null}"#,
            r#"{"plan_type":"plus","rate_limit":{"primary_window":{"limit_window_seconds":18000}}}"#,
            r#"{"rate_limit":{"primary_window":{"used_percent":"lots"}}}"#,
            r#"{"credits":{"has_credits":true,"unlimited":false,"balance":"a lot"}}"#,
            r#"{"credits":"none"}"#,
            "[]",
            "<html>private</html>",
        ] {
            match parse(body) {
                Err(UsageError::Shape(why)) => assert!(!why.contains("private"), "{why}"),
                other => panic!("{body}: {other:?}"),
            }
        }
        wire::assert_truncations_are_shape_errors(&Codex, USAGE.trim(), now());
    }

    #[test]
    fn proxied_headers_become_windows_by_length() {
        let h = fixture_headers(HEADERS);
        assert_eq!(
            Codex.header_windows(&h, now()),
            vec![
                percent(WindowKind::FiveHour, 7.0, at(1_763_483_205)),
                percent(WindowKind::Weekly, 77.0, at(1_763_606_387)),
            ]
        );
    }

    #[test]
    fn a_weekly_only_header_set_and_reset_after() {
        let h = headers(&[
            ("x-codex-primary-used-percent", "55"),
            ("x-codex-primary-window-minutes", "10080"),
            ("x-codex-primary-reset-after-seconds", "600"),
        ]);
        let expected = now().checked_add(Duration::from_secs(600)).ok();
        assert_eq!(
            Codex.header_windows(&h, now()),
            vec![percent(WindowKind::Weekly, 55.0, expected)]
        );
        // reset-at wins over reset-after-seconds.
        let h = headers(&[
            ("x-codex-primary-used-percent", "55"),
            ("x-codex-primary-window-minutes", "10080"),
            ("x-codex-primary-reset-after-seconds", "600"),
            ("x-codex-primary-reset-at", "1763606387"),
        ]);
        assert_eq!(
            Codex.header_windows(&h, now())[0].resets_at,
            at(1_763_606_387)
        );
        // No length: kept, but marked as not known.
        let h = headers(&[("x-codex-secondary-used-percent", "5")]);
        let windows = Codex.header_windows(&h, now());
        assert_eq!(windows[0].scope.as_deref(), Some("length not sent"));
        assert!(Codex.header_windows(&HeaderMap::new(), now()).is_empty());
        let garbled = headers(&[("x-codex-primary-used-percent", "most")]);
        assert!(Codex.header_windows(&garbled, now()).is_empty());
    }

    #[test]
    fn usage_limit_reached_waits_until_the_stated_reset() {
        let c = Codex.classify(429, &HeaderMap::new(), USED_UP.as_bytes(), now());
        assert_eq!(c.cause, Cause::QuotaExhausted);
        assert!(!c.retryable);
        assert_eq!(c.retry_after, Some(Duration::from_secs(7_200)));
        assert_eq!(c.advice, USED_UP_ADVICE);
        assert_eq!(c.message, "The usage limit has been reached");
    }

    #[test]
    fn a_429_with_a_full_window_in_the_headers_is_used_up() {
        let h = headers(&[
            ("x-codex-primary-used-percent", "100"),
            ("x-codex-primary-window-minutes", "300"),
            ("x-codex-primary-reset-at", "1763483205"),
            ("retry-after", "5"),
        ]);
        let c = Codex.classify(
            429,
            &h,
            br#"{"error":{"message":"Too many requests"}}"#,
            now(),
        );
        assert_eq!(c.cause, Cause::QuotaExhausted);
        assert_eq!(c.retry_after, Some(Duration::from_secs(7_200)));
        let c = Codex.classify(
            429,
            &headers(&[("retry-after", "5")]),
            br#"{"error":{"message":"Too many requests"}}"#,
            now(),
        );
        assert_eq!(c.cause, Cause::Rpm);
        assert_eq!(c.retry_after, Some(Duration::from_secs(5)));
    }

    #[test]
    fn an_expired_login_and_a_plan_without_codex() {
        let c = Codex.classify(401, &HeaderMap::new(), EXPIRED.as_bytes(), now());
        assert_eq!(c.cause, Cause::AuthInvalid);
        assert_eq!(c.advice, LOGIN_ADVICE);
        assert!(
            c.message
                .starts_with("Provided authentication token is expired")
        );
        let body = r#"{"error":{"type":"usage_not_included","message":"To use Codex with your ChatGPT plan, upgrade to Plus."}}"#;
        let c = Codex.classify(403, &HeaderMap::new(), body.as_bytes(), now());
        assert_eq!(c.cause, Cause::ClientRejected);
        assert!(!c.retryable);
        assert!(c.advice.contains("does not include Codex"));
    }

    #[test]
    fn server_errors_and_gateway_pages() {
        let c = Codex.classify(
            502,
            &HeaderMap::new(),
            b"<html><body>bad</body></html>",
            now(),
        );
        assert_eq!(c.cause, Cause::Overloaded);
        let c = Codex.classify(500, &HeaderMap::new(), b"{}", now());
        assert_eq!((c.cause, c.retryable), (Cause::Overloaded, true));
        let c = Codex.classify(400, &HeaderMap::new(), b"{}", now());
        assert_eq!((c.cause, c.retryable), (Cause::Other, false));
    }
}
