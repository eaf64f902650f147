//! Claude subscription (Pro/Max) used through Claude Code's OAuth login token. The OAuth usage
//! endpoint reports the 5-hour and weekly windows as percentages; model traffic carries the same
//! numbers in the `anthropic-ratelimit-unified-*` headers. Refusals come from the Anthropic API,
//! so the classifier is Anthropic's with subscription-specific advice.

use super::wire::{self, header_number, header_text, number, shape};
use super::{
    AuthStyle, Facts, Provider, ProviderId, Region, Shows, UsageContext, UsageError, anthropic,
};
use crate::providers::snapshot::{Snapshot, Window, WindowKind};
use crate::providers::throttle::{Cause, Classification};
use http::HeaderMap;
use jiff::Timestamp;
use serde_json::Value;
use std::time::Duration;

pub struct Claude;

const REGIONS: &[Region] = &[Region {
    name: "global",
    api_base: "https://api.anthropic.com",
    usage_url: "https://api.anthropic.com/api/oauth/usage",
}];

const LOGIN_ADVICE: &str = "The Claude Code login token expired or was revoked: log in again \
     with `claude` and store the new token with `redline keys rotate`.";

const POLL_ADVICE: &str = "Claude's usage endpoint limited Redline's own polling; Redline backs \
     off by itself and your subscription quota is not affected.";

const FACTS: Facts = Facts {
    regions: REGIONS,
    auth: AuthStyle::Bearer,
    name: "Claude subscription",
    short_name: "Claude",
    key_hint: "A Claude subscription token (starts with sk-ant-oat) from `claude setup-token`",
    key_prefixes: &["sk-ant-oat"],
    key_variables: &[],
    more_hosts: &[],
    tool_paths: anthropic::TOOL_PATHS,
    models: anthropic::MODELS,
    sibling: Some(ProviderId::Anthropic),
    zero_doubt: None,
    shows: &[Shows::Windows, Shows::Headers],
};

impl Provider for Claude {
    fn facts(&self) -> &'static Facts {
        &FACTS
    }

    /// The OAuth usage endpoint rate-limits frequent pollers (429 with `retry-after: 0`).
    fn min_poll_interval(&self) -> Duration {
        Duration::from_secs(120)
    }

    fn extra_headers(&self) -> &'static [(&'static str, &'static str)] {
        &[("anthropic-beta", "oauth-2025-04-20")]
    }

    fn parse_usage(&self, body: &[u8], _context: &UsageContext) -> Result<Snapshot, UsageError> {
        let json = wire::json_object(body, "Claude usage")?;
        let mut windows: Vec<Window> = [
            usage_window(&json, "five_hour", WindowKind::FiveHour),
            usage_window(&json, "seven_day", WindowKind::Weekly),
        ]
        .into_iter()
        .flatten()
        .collect();
        if windows.is_empty() {
            return Err(shape(
                "the usage response has no five_hour or seven_day utilization",
            ));
        }
        for (key, scope) in [("seven_day_opus", "opus"), ("seven_day_sonnet", "sonnet")] {
            if let Some(window) = usage_window(&json, key, WindowKind::Weekly) {
                windows.push(window.scope(scope));
            }
        }
        Ok(Snapshot {
            plan: json.get("plan").and_then(Value::as_str).map(str::to_owned),
            windows,
            ..Snapshot::default()
        })
    }

    fn header_windows(&self, headers: &HeaderMap, _now: Timestamp) -> Vec<Window> {
        [
            unified_window(headers, "5h", WindowKind::FiveHour),
            unified_window(headers, "7d", WindowKind::Weekly),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    fn classify(
        &self,
        status: u16,
        headers: &HeaderMap,
        body: &[u8],
        now: Timestamp,
    ) -> Classification {
        let classification = anthropic::classify_error(status, headers, body, now);
        let unified_status = header_text(headers, "anthropic-ratelimit-unified-status");
        match classification.cause {
            Cause::AuthInvalid => classification.with_advice(LOGIN_ADVICE),
            _ if status == 429 && unified_status == Some("rejected") => {
                subscription_used_up(self.header_windows(headers, now), &classification, now)
            }
            // Model traffic always carries the unified headers; the usage endpoint does not.
            Cause::Rpm if status == 429 && !carries_unified_headers(headers) => {
                classification.with_advice(POLL_ADVICE)
            }
            _ => classification,
        }
    }
}

/// `{"utilization": 21.0, "resets_at": "…"}` under `key`; null or unusable entries are skipped.
fn usage_window(json: &Value, key: &str, kind: WindowKind) -> Option<Window> {
    let entry = json.get(key)?;
    let percent = number(entry.get("utilization")?)?;
    let resets_at = entry
        .get("resets_at")
        .and_then(Value::as_str)
        .and_then(|text| text.parse::<Timestamp>().ok());
    Some(Window::percent(kind, percent).resets_at(resets_at))
}

/// `anthropic-ratelimit-unified-{period}-utilization` (a 0-1 fraction) and `-reset` (epoch s).
fn unified_window(headers: &HeaderMap, period: &str, kind: WindowKind) -> Option<Window> {
    let value = |field: &str| {
        header_number(
            headers,
            &format!("anthropic-ratelimit-unified-{period}-{field}"),
        )
    };
    // Rounded so that 0.21 shows as 21 %, not 21.000000000000004 %.
    let percent = (value("utilization")? * 100.0 * 1e6).round() / 1e6;
    if !percent.is_finite() {
        return None;
    }
    let resets_at = value("reset").and_then(|secs| Timestamp::from_second(secs as i64).ok());
    Some(Window::percent(kind, percent).resets_at(resets_at))
}

/// A 429 whose unified status is `rejected`: the 5-hour or weekly allowance is used up. The
/// wait is until the latest reset among the full windows, else the provider's retry-after.
fn subscription_used_up(
    windows: Vec<Window>,
    classification: &Classification,
    now: Timestamp,
) -> Classification {
    let full: Vec<&Window> = windows
        .iter()
        .filter(|w| w.used.is_some_and(|used| used >= 100.0))
        .collect();
    let which = match full.iter().map(|w| w.kind).collect::<Vec<_>>()[..] {
        [WindowKind::FiveHour] => "5-hour limit",
        [WindowKind::Weekly] | [_, WindowKind::Weekly] => "weekly limit",
        _ => "5-hour or weekly limit",
    };
    let reset = full.iter().filter_map(|w| w.resets_at).max();
    let wait = reset
        .map(|at| Duration::try_from(at.duration_since(now)).unwrap_or(Duration::ZERO))
        .or(classification.retry_after);
    Classification::new(Cause::QuotaExhausted, &classification.message)
        .with_retry_after(wait)
        .with_advice(format!(
            "The Claude subscription's {which} is used up, so retrying will not help: wait for \
             the reset or switch to an API key."
        ))
}

fn carries_unified_headers(headers: &HeaderMap) -> bool {
    headers
        .keys()
        .any(|name| name.as_str().starts_with("anthropic-ratelimit-unified-"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::snapshot::Unit;
    use wire::header_map as headers;

    const NOW: &str = "2026-08-02T05:00:00Z";

    fn now() -> Timestamp {
        NOW.parse().unwrap()
    }

    fn at(text: &str) -> Option<Timestamp> {
        Some(text.parse().unwrap())
    }

    fn context() -> UsageContext {
        UsageContext {
            now: now(),
            region: &REGIONS[0],
        }
    }

    fn parse(body: &str) -> Result<Snapshot, UsageError> {
        Claude.parse_usage(body.as_bytes(), &context())
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

    const USAGE: &str = r#"{"five_hour":{"utilization":21.0,"resets_at":"2026-08-02T07:20:00.628697+00:00"},"seven_day":{"utilization":54.0,"resets_at":"2026-08-06T03:00:00.123456+00:00"},"seven_day_opus":null,"seven_day_sonnet":null,"extra_usage":{"is_enabled":false,"monthly_limit":null,"used_credits":null,"utilization":null}}"#;

    #[test]
    fn identity_regions_auth_and_beta_header() {
        let region = Claude.regions()[0];
        assert_eq!(region.name, "global");
        assert_eq!(region.api_base, "https://api.anthropic.com");
        assert_eq!(
            region.usage_url,
            "https://api.anthropic.com/api/oauth/usage"
        );
        assert_eq!(Claude.auth_style(), AuthStyle::Bearer);
        assert_eq!(
            Claude.extra_headers(),
            &[("anthropic-beta", "oauth-2025-04-20")]
        );
    }

    #[test]
    fn five_hour_and_weekly_windows() {
        let snapshot = parse(USAGE).unwrap();
        assert_eq!(
            snapshot.windows,
            vec![
                percent(
                    WindowKind::FiveHour,
                    21.0,
                    at("2026-08-02T07:20:00.628697Z")
                ),
                percent(WindowKind::Weekly, 54.0, at("2026-08-06T03:00:00.123456Z")),
            ]
        );
        assert_eq!(snapshot.plan, None);
        assert_eq!(snapshot.concurrency_limit, None);
        assert!(snapshot.balances.is_empty());
    }

    #[test]
    fn model_windows_plan_and_newer_keys() {
        let body = r#"{
            "five_hour":{"utilization":"3.5","resets_at":null},
            "seven_day":{"utilization":80,"resets_at":"2026-08-06T03:00:00+02:00"},
            "seven_day_opus":{"utilization":100.0,"resets_at":"2026-08-06T01:00:00+00:00"},
            "seven_day_sonnet":{"utilization":12.5},
            "extra_usage":{"is_enabled":true},
            "plan":"max_20x",
            "limits":[{"kind":"five_hour","utilization":3.5}],
            "spend":{"amount":0}
        }"#;
        let snapshot = parse(body).unwrap();
        assert_eq!(snapshot.plan.as_deref(), Some("max_20x"));
        assert_eq!(
            snapshot.windows,
            vec![
                percent(WindowKind::FiveHour, 3.5, None),
                percent(WindowKind::Weekly, 80.0, at("2026-08-06T01:00:00Z")),
                percent(WindowKind::Weekly, 100.0, at("2026-08-06T01:00:00Z")).scope("opus"),
                percent(WindowKind::Weekly, 12.5, None).scope("sonnet"),
            ]
        );
        // A plan that is not a string is ignored.
        let body = r#"{"five_hour":{"utilization":1},"plan":{"name":"pro"}}"#;
        assert_eq!(parse(body).unwrap().plan, None);
    }

    #[test]
    fn only_one_of_the_main_windows_is_enough() {
        let snapshot = parse(r#"{"five_hour":null,"seven_day":{"utilization":9}}"#).unwrap();
        assert_eq!(
            snapshot.windows,
            vec![percent(WindowKind::Weekly, 9.0, None)]
        );
    }

    #[test]
    fn shape_errors() {
        for body in [
            r#"{"five_hour":null,"seven_day":null,"seven_day_opus":{"utilization":5}}"#,
            r#"{"five_hour":{"utilization":null},"seven_day":{"utilization":"lots"}}"#,
            r#"{"extra_usage":{"is_enabled":false}}"#,
            r#"{"type":"error","error":{"type":"rate_limit_error","message":"Rate limited"}}"#,
            r#"{"five_hour":{"utiliz"#,
            "<!DOCTYPE html><html>private</html>",
            "[]",
            "",
        ] {
            match parse(body) {
                Err(UsageError::Shape(why)) => assert!(!why.contains("private"), "{why}"),
                other => panic!("{body}: {other:?}"),
            }
        }
        assert!(matches!(
            Claude.parse_usage(b"\xff\x00", &context()),
            Err(UsageError::Shape(_))
        ));
    }

    #[test]
    fn unified_headers_become_windows() {
        let h = headers(&[
            ("anthropic-ratelimit-unified-status", "allowed"),
            ("anthropic-ratelimit-unified-5h-utilization", "0.21"),
            ("anthropic-ratelimit-unified-5h-reset", "1785655200"),
            ("anthropic-ratelimit-unified-7d-utilization", "0.5"),
            ("anthropic-ratelimit-unified-7d-reset", "1786000000"),
        ]);
        assert_eq!(
            Claude.header_windows(&h, now()),
            vec![
                percent(WindowKind::FiveHour, 21.0, at("2026-08-02T07:20:00Z")),
                percent(WindowKind::Weekly, 50.0, at("2026-08-06T07:06:40Z")),
            ]
        );
    }

    #[test]
    fn missing_or_garbled_unified_headers() {
        assert!(Claude.header_windows(&HeaderMap::new(), now()).is_empty());
        let h = headers(&[
            ("anthropic-ratelimit-unified-5h-utilization", "high"),
            ("anthropic-ratelimit-unified-5h-reset", "1785655200"),
            ("anthropic-ratelimit-unified-7d-utilization", "0.25"),
            ("anthropic-ratelimit-unified-7d-reset", "tuesday"),
        ]);
        assert_eq!(
            Claude.header_windows(&h, now()),
            vec![percent(WindowKind::Weekly, 25.0, None)]
        );
    }

    #[test]
    fn expired_login_token() {
        let body = r#"{"type":"error","error":{"type":"authentication_error","message":"OAuth token has expired. Please obtain a new token or refresh your existing token."},"request_id":"req_1"}"#;
        let c = Claude.classify(401, &HeaderMap::new(), body.as_bytes(), now());
        assert_eq!(c.cause, Cause::AuthInvalid);
        assert!(!c.retryable);
        assert_eq!(c.advice, LOGIN_ADVICE);
        assert!(c.advice.contains("`claude`") && c.advice.contains("redline keys rotate"));
        assert!(c.message.starts_with("OAuth token has expired"));
    }

    #[test]
    fn usage_endpoint_429_is_redlines_own_polling() {
        let body = r#"{"type":"error","error":{"type":"rate_limit_error","message":"Rate limited. Please try again later."}}"#;
        let c = Claude.classify(
            429,
            &headers(&[("retry-after", "0")]),
            body.as_bytes(),
            now(),
        );
        assert_eq!(c.cause, Cause::Rpm);
        assert!(c.retryable);
        assert_eq!(c.retry_after, Some(Duration::ZERO));
        assert_eq!(c.advice, POLL_ADVICE);

        let c = Claude.classify(429, &headers(&[("retry-after", "0")]), b"", now());
        assert_eq!((c.cause, c.advice.as_str()), (Cause::Rpm, POLL_ADVICE));
    }

    #[test]
    fn model_traffic_429_keeps_the_rate_advice() {
        let body = r#"{"type":"error","error":{"type":"rate_limit_error","message":"This request would exceed the rate limit for your organization of 50 requests per minute."}}"#;
        let h = headers(&[
            ("anthropic-ratelimit-unified-status", "allowed"),
            ("anthropic-ratelimit-unified-5h-utilization", "0.4"),
            ("retry-after", "4"),
        ]);
        let c = Claude.classify(429, &h, body.as_bytes(), now());
        assert_eq!((c.cause, c.limit), (Cause::Rpm, Some(50)));
        assert_eq!(c.retry_after, Some(Duration::from_secs(4)));
        assert!(
            c.advice.contains("Requests-per-minute limit 50"),
            "{}",
            c.advice
        );
    }

    #[test]
    fn rejected_unified_status_is_the_subscription_used_up() {
        let body = r#"{"type":"error","error":{"type":"rate_limit_error","message":"This request would exceed your account's rate limit. Please try again later."}}"#;
        let h = headers(&[
            ("anthropic-ratelimit-unified-status", "rejected"),
            ("anthropic-ratelimit-unified-5h-utilization", "1.0"),
            ("anthropic-ratelimit-unified-5h-reset", "1785655200"),
            ("anthropic-ratelimit-unified-7d-utilization", "0.6"),
            ("anthropic-ratelimit-unified-7d-reset", "1786000000"),
        ]);
        let c = Claude.classify(429, &h, body.as_bytes(), now());
        assert_eq!(c.cause, Cause::QuotaExhausted);
        assert!(!c.retryable);
        // 05:00Z -> 07:20Z.
        assert_eq!(c.retry_after, Some(Duration::from_secs(8400)));
        assert!(c.advice.contains("5-hour limit"), "{}", c.advice);
        assert!(c.advice.contains("wait for the reset"), "{}", c.advice);

        // The weekly allowance used up: wait for the weekly reset.
        let h = headers(&[
            ("anthropic-ratelimit-unified-status", "rejected"),
            ("anthropic-ratelimit-unified-5h-utilization", "1"),
            ("anthropic-ratelimit-unified-5h-reset", "1785655200"),
            ("anthropic-ratelimit-unified-7d-utilization", "1"),
            ("anthropic-ratelimit-unified-7d-reset", "1786000000"),
        ]);
        let c = Claude.classify(429, &h, body.as_bytes(), now());
        assert!(c.advice.contains("weekly limit"), "{}", c.advice);
        assert_eq!(c.retry_after, Some(Duration::from_secs(353_200)));

        // Without utilization headers, the provider's retry-after is all there is.
        let h = headers(&[
            ("anthropic-ratelimit-unified-status", "rejected"),
            ("retry-after", "600"),
        ]);
        let c = Claude.classify(429, &h, body.as_bytes(), now());
        assert_eq!(c.cause, Cause::QuotaExhausted);
        assert_eq!(c.retry_after, Some(Duration::from_secs(600)));
        assert!(c.advice.contains("5-hour or weekly limit"), "{}", c.advice);
    }

    #[test]
    fn other_refusals_follow_anthropic() {
        let overloaded =
            br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
        let c = Claude.classify(529, &HeaderMap::new(), overloaded, now());
        assert_eq!(c.cause, Cause::Overloaded);
        assert!(c.retryable);

        let forbidden = br#"{"type":"error","error":{"type":"permission_error","message":"This credential is only authorized for use with Claude Code and cannot be used for other API requests."}}"#;
        let c = Claude.classify(403, &HeaderMap::new(), forbidden, now());
        assert_eq!(c.cause, Cause::ClientRejected);

        let page = b"<!doctype html><html><body>Bad gateway</body></html>";
        let c = Claude.classify(502, &HeaderMap::new(), page, now());
        assert_eq!(c.cause, Cause::Overloaded);
        assert!(c.message.contains("HTML error page"));

        let stream = b"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";
        let c = Claude.classify(200, &HeaderMap::new(), stream, now());
        assert_eq!(c.cause, Cause::Overloaded);
    }

    #[test]
    fn never_panics_on_odd_bytes() {
        let h = headers(&[
            ("anthropic-ratelimit-unified-status", "rejected"),
            ("anthropic-ratelimit-unified-5h-utilization", "1e308"),
            ("anthropic-ratelimit-unified-5h-reset", "1e300"),
        ]);
        for body in [&b""[..], b"\xff", b"{\"error\":null}", b"data: {"] {
            for status in [200, 401, 403, 429, 500, 529] {
                let c = Claude.classify(status, &h, body, now());
                assert!(!c.advice.is_empty());
            }
            let _ = Claude.parse_usage(body, &context());
        }
    }
}
