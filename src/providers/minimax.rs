//! MiniMax coding plan (`api.minimax.io`, CN `api.minimaxi.com`): a subscription with a number of
//! prompts per rolling window for each model. The least documented provider Redline knows: the
//! usage shape is observed, not published, and the meaning of one count is disputed, so the
//! parser prefers the percentage field.

use super::wire::{self, field, integer, shape};
use super::{AuthStyle, Provider, ProviderId, Region, UsageContext, UsageError};
use crate::providers::snapshot::{Snapshot, Unit, Window, WindowKind};
use crate::providers::throttle::{Cause, Classification};
use crate::providers::wire::{error_message, retry_after_header, retry_after_in_text};
use http::HeaderMap;
use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

pub struct MiniMax;

const REGIONS: &[Region] = &[
    Region {
        name: "global",
        api_base: "https://api.minimax.io/v1",
        usage_url: "https://platform.minimax.io/v1/api/openplatform/coding_plan/remains",
    },
    Region {
        name: "cn",
        api_base: "https://api.minimaxi.com/v1",
        usage_url: "https://www.minimaxi.com/v1/api/openplatform/coding_plan/remains",
    },
];

impl Provider for MiniMax {
    fn id(&self) -> ProviderId {
        ProviderId::Minimax
    }

    fn regions(&self) -> &'static [Region] {
        REGIONS
    }

    fn auth_style(&self) -> AuthStyle {
        AuthStyle::Bearer
    }

    fn parse_usage(&self, body: &[u8], context: &UsageContext) -> Result<Snapshot, UsageError> {
        parse_usage(body, context.now)
    }

    fn classify(
        &self,
        status: u16,
        headers: &HeaderMap,
        body: &[u8],
        now: Timestamp,
    ) -> Classification {
        classify(status, headers, body, now)
    }
}

/// `{"model_remains":[{...}],"base_resp":{"status_code":0,"status_msg":"success"}}`.
fn parse_usage(body: &[u8], now: Timestamp) -> Result<Snapshot, UsageError> {
    let json = wire::json_object(body, "MiniMax usage")?;
    if status_code(&json).is_some_and(|code| code != 0) {
        return Err(UsageError::Refused(classify(
            200,
            &HeaderMap::new(),
            body,
            now,
        )));
    }

    let entries = field(&json, "model_remains")
        .and_then(Value::as_array)
        .ok_or_else(|| shape("model_remains is missing or not a list"))?;
    if entries.is_empty() {
        return Err(shape("model_remains lists no model windows"));
    }
    let windows = entries
        .iter()
        .map(|entry| model_window(entry, now))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Snapshot {
        windows,
        ..Snapshot::default()
    })
}

fn model_window(entry: &Value, now: Timestamp) -> Result<Window, UsageError> {
    if !entry.is_object() {
        return Err(shape("a model_remains entry is not an object"));
    }
    let start = opt_number(entry, "start_time")?;
    let end = opt_number(entry, "end_time")?;
    // Without both ends the length is unknown; MiniMax's coding plan counts prompts per 5 hours.
    let kind = match (start, end) {
        (Some(start), Some(end)) if end > start => kind_for_span(end - start),
        _ => WindowKind::FiveHour,
    };
    let resets_at = match (end, opt_number(entry, "remains_time")?) {
        (Some(end_ms), _) => Some(
            Timestamp::from_millisecond(end_ms as i64)
                .map_err(|_| shape("a model_remains entry's end_time is out of range"))?,
        ),
        (None, Some(wait_ms)) => Some(
            now.checked_add(SignedDuration::from_millis(wait_ms.max(0.0) as i64))
                .map_err(|_| shape("a model_remains entry's remains_time is out of range"))?,
        ),
        (None, None) => None,
    };

    let window = if let Some(left) = opt_number(entry, "current_interval_remaining_percent")? {
        Window::percent(kind, 100.0 - left)
    } else {
        // Sources disagree whether `current_interval_usage_count` is the count used or the count
        // left; it is read as used here, and only when the percentage is missing.
        let total = opt_number(entry, "current_interval_total_count")?;
        let used = opt_number(entry, "current_interval_usage_count")?;
        match (total, used) {
            (Some(total), Some(used)) => {
                Window::new(kind, Unit::Requests).counts(Some(used), Some(total), None)
            }
            _ => {
                return Err(shape(
                    "a model_remains entry has neither current_interval_remaining_percent \
                     nor current_interval_total_count and current_interval_usage_count",
                ));
            }
        }
    };
    let window = window.resets_at(resets_at);
    Ok(match field(entry, "model_name").and_then(Value::as_str) {
        Some(model) if !model.trim().is_empty() => window.scope(model.trim()),
        _ => window,
    })
}

/// The window kind for a span in milliseconds, with a little slack for rounded ends.
fn kind_for_span(span_ms: f64) -> WindowKind {
    const HOUR_MS: f64 = 3_600_000.0;
    const SLACK: f64 = 1.1;
    let hours = span_ms / HOUR_MS;
    if hours <= 5.0 * SLACK {
        WindowKind::FiveHour
    } else if hours <= 24.0 * SLACK {
        WindowKind::Daily
    } else if hours <= 7.0 * 24.0 * SLACK {
        WindowKind::Weekly
    } else {
        WindowKind::Monthly
    }
}

fn classify(status: u16, headers: &HeaderMap, body: &[u8], now: Timestamp) -> Classification {
    if let Some(page) = wire::html_error_page("MiniMax", status, headers, body, now) {
        return page;
    }
    let message = error_message(body);
    let retry_after = retry_after_header(headers, now).or_else(|| retry_after_in_text(&message));
    let code = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|json| status_code(&json));
    // `base_resp.status_code` values from MiniMax's public error-code table; the mapping is
    // best-effort (1039 is not in that table but is reported as the token-rate limit).
    let cause = match (code, status) {
        (Some(1004), _) => Cause::AuthInvalid,
        (Some(1008), _) => {
            return Classification::new(Cause::QuotaExhausted, &message).with_advice(
                "MiniMax reports insufficient balance; retrying will not help. \
                 Top up the account or wait for the plan's window to reset.",
            );
        }
        (Some(1002), _) => Cause::Rpm,
        (Some(1039), _) => Cause::Tpm,
        // Request timeout, internal error, downstream service error.
        (Some(1001 | 1024 | 1033), _) => Cause::Overloaded,
        (_, 401) => Cause::AuthInvalid,
        (_, 429) => Cause::Rpm,
        (_, 500..=599) => Cause::Overloaded,
        _ => Cause::Other,
    };
    Classification::new(cause, &message).with_retry_after(retry_after)
}

/// `base_resp.status_code`, 0 on success.
fn status_code(json: &Value) -> Option<i64> {
    json.pointer("/base_resp/status_code").and_then(integer)
}

/// A model_remains entry's `key` as a number (`1500` or `"1500"`): `None` when absent, an error
/// when not a number.
fn opt_number(entry: &Value, key: &str) -> Result<Option<f64>, UsageError> {
    wire::opt_number(entry, key, || format!("a model_remains entry's {key}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn now() -> Timestamp {
        "2026-09-08T08:00:00Z".parse().unwrap()
    }

    fn ms(text: &str) -> i64 {
        text.parse::<Timestamp>().unwrap().as_millisecond()
    }

    fn at(text: &str) -> Option<Timestamp> {
        Some(text.parse().unwrap())
    }

    fn parse(body: &str) -> Result<Snapshot, UsageError> {
        let context = UsageContext {
            now: now(),
            region: &REGIONS[0],
        };
        MiniMax.parse_usage(body.as_bytes(), &context)
    }

    fn shape_error(body: &str) -> String {
        match parse(body) {
            Err(UsageError::Shape(text)) => text,
            other => panic!("expected a shape error, got {other:?}"),
        }
    }

    fn classify(status: u16, body: &str) -> Classification {
        MiniMax.classify(status, &HeaderMap::new(), body.as_bytes(), now())
    }

    fn entry(fields: &str) -> String {
        format!(
            r#"{{"model_remains":[{{{fields}}}],"base_resp":{{"status_code":0,"status_msg":"success"}}}}"#
        )
    }

    /// The observed shape, with a 5-hour window from 05:00 to 10:00 UTC.
    fn observed() -> String {
        entry(&format!(
            r#""model_name":"MiniMax-M2","start_time":{},"end_time":{},"remains_time":7200000,
               "current_interval_total_count":1500,"current_interval_usage_count":1200,
               "current_interval_remaining_percent":80"#,
            ms("2026-09-08T05:00:00Z"),
            ms("2026-09-08T10:00:00Z"),
        ))
    }

    #[test]
    fn observed_shape_prefers_the_remaining_percent() {
        let snapshot = parse(&observed()).unwrap();
        assert_eq!(snapshot.windows.len(), 1);
        let window = &snapshot.windows[0];
        assert_eq!(
            (window.kind, window.unit),
            (WindowKind::FiveHour, Unit::Percent)
        );
        assert_eq!(window.scope.as_deref(), Some("MiniMax-M2"));
        assert_eq!(
            (window.used, window.limit, window.remaining),
            (Some(20.0), Some(100.0), Some(80.0))
        );
        assert_eq!(window.resets_at, at("2026-09-08T10:00:00Z"));
        assert_eq!((snapshot.plan, snapshot.concurrency_limit), (None, None));
    }

    #[test]
    fn counts_without_the_percent_read_usage_count_as_used() {
        let body = entry(&format!(
            r#""model_name":"MiniMax-M2","start_time":"{}","end_time":"{}",
               "current_interval_total_count":"1500","current_interval_usage_count":"300","unknown":{{"a":1}}"#,
            ms("2026-09-08T05:00:00Z"),
            ms("2026-09-08T10:00:00Z"),
        ));
        let window = parse(&body).unwrap().windows.remove(0);
        assert_eq!(window.unit, Unit::Requests);
        assert_eq!(
            (window.used, window.limit, window.remaining),
            (Some(300.0), Some(1500.0), Some(1200.0))
        );
    }

    #[test]
    fn spans_map_to_window_kinds() {
        let cases = [
            (5 * 3600, WindowKind::FiveHour),
            (5 * 3600 + 60, WindowKind::FiveHour),
            (24 * 3600, WindowKind::Daily),
            (7 * 24 * 3600, WindowKind::Weekly),
            (30 * 24 * 3600, WindowKind::Monthly),
        ];
        for (span_secs, kind) in cases {
            let start = ms("2026-09-08T00:00:00Z");
            let body = entry(&format!(
                r#""start_time":{start},"end_time":{},"current_interval_remaining_percent":50"#,
                start + span_secs * 1000
            ));
            assert_eq!(parse(&body).unwrap().windows[0].kind, kind, "{span_secs}");
        }
    }

    #[test]
    fn without_end_time_the_reset_is_now_plus_remains_time() {
        let body = entry(
            r#""model_name":"m","remains_time":5400000,"current_interval_remaining_percent":"10""#,
        );
        let window = parse(&body).unwrap().windows.remove(0);
        assert_eq!(window.kind, WindowKind::FiveHour);
        assert_eq!(window.used, Some(90.0));
        assert_eq!(window.resets_at, at("2026-09-08T09:30:00Z"));

        let body = entry(r#""current_interval_remaining_percent":100"#);
        let window = parse(&body).unwrap().windows.remove(0);
        assert_eq!(
            (window.used, window.resets_at, window.scope),
            (Some(0.0), None, None)
        );
    }

    #[test]
    fn several_models_give_several_windows() {
        let body = r#"{"model_remains":[
            {"model_name":"a","current_interval_remaining_percent":90},
            {"model_name":"b","current_interval_remaining_percent":40}
        ],"base_resp":{"status_code":0,"status_msg":"success"}}"#;
        let snapshot = parse(body).unwrap();
        let scopes: Vec<_> = snapshot
            .windows
            .iter()
            .map(|w| w.scope.as_deref())
            .collect();
        assert_eq!(scopes, [Some("a"), Some("b")]);
        assert_eq!(snapshot.windows[1].used, Some(60.0));
    }

    #[test]
    fn refusals_inside_a_200_body() {
        let body = r#"{"model_remains":null,"base_resp":{"status_code":1004,"status_msg":"cookie is missing, log in again"}}"#;
        match parse(body) {
            Err(UsageError::Refused(c)) => {
                assert_eq!(c.cause, Cause::AuthInvalid);
                assert_eq!(c.message, "cookie is missing, log in again");
            }
            other => panic!("{other:?}"),
        }
        let body = r#"{"base_resp":{"status_code":"2013","status_msg":"invalid params"}}"#;
        match parse(body) {
            Err(UsageError::Refused(c)) => assert_eq!(c.cause, Cause::Other),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_truncation_of_the_documented_body_is_a_shape_error() {
        wire::assert_truncations_are_shape_errors(&MiniMax, &observed(), now());
    }

    #[test]
    fn shape_errors_name_what_is_missing() {
        assert!(
            shape_error(r#"{"base_resp":{"status_code":0}}"#).contains("model_remains is missing")
        );
        assert!(shape_error(r#"{"model_remains":[]}"#).contains("no model windows"));
        assert!(shape_error(r#"{"model_remains":[1]}"#).contains("not an object"));
        assert!(shape_error(&entry(r#""model_name":"m""#)).contains("neither"));
        assert!(
            shape_error(&entry(r#""current_interval_remaining_percent":"most""#))
                .contains("current_interval_remaining_percent is not a number")
        );
        assert!(
            shape_error(&entry(
                r#""end_time":1e300,"current_interval_remaining_percent":1"#
            ))
            .contains("end_time")
        );
        for body in [
            "",
            "{\"model_remains\":[",
            "<!doctype html>secret-ish",
            "true",
            "\u{0}",
        ] {
            assert!(!shape_error(body).contains("secret-ish"));
        }
    }

    #[test]
    fn base_resp_codes_name_the_cause() {
        let body = |code: i64| {
            format!(r#"{{"base_resp":{{"status_code":{code},"status_msg":"msg {code}"}}}}"#)
        };
        let c = classify(200, &body(1004));
        assert_eq!(c.cause, Cause::AuthInvalid);
        assert_eq!(c.message, "msg 1004");

        let c = classify(200, &body(1008));
        assert_eq!(c.cause, Cause::QuotaExhausted);
        assert!(!c.retryable);
        assert!(c.advice.contains("insufficient balance"), "{}", c.advice);

        let c = classify(200, &body(1002));
        assert_eq!(c.cause, Cause::Rpm);
        assert!(c.retryable);
        assert_eq!(classify(200, &body(1039)).cause, Cause::Tpm);
        assert_eq!(classify(200, &body(1024)).cause, Cause::Overloaded);
        assert_eq!(classify(200, &body(2013)).cause, Cause::Other);
    }

    #[test]
    fn http_statuses_without_a_code() {
        assert_eq!(
            classify(401, r#"{"error":"unauthorized"}"#).cause,
            Cause::AuthInvalid
        );
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", "5".parse().unwrap());
        let c = MiniMax.classify(
            429,
            &headers,
            br#"{"error":{"message":"rate limit"}}"#,
            now(),
        );
        assert_eq!(c.cause, Cause::Rpm);
        assert_eq!(c.retry_after, Some(Duration::from_secs(5)));
        assert!(c.advice.contains("Slow down") && !c.advice.contains("Retry"));
        assert_eq!(classify(500, "{}").cause, Cause::Overloaded);
        assert_eq!(classify(400, "{}").cause, Cause::Other);

        let c = classify(502, "<html><body>Bad Gateway</body></html>");
        assert_eq!(c.cause, Cause::Overloaded);
        assert!(c.message.contains("HTML error page") && c.message.contains("502"));
        let c = MiniMax.classify(400, &HeaderMap::new(), &[0xff, 0xfe, 0x00], now());
        assert_eq!(c.cause, Cause::Other);
    }

    #[test]
    fn two_regions_global_first_with_bearer_auth() {
        let names: Vec<_> = MiniMax.regions().iter().map(|r| r.name).collect();
        assert_eq!(names, ["global", "cn"]);
        assert_eq!(
            MiniMax.regions()[1].usage_url,
            "https://www.minimaxi.com/v1/api/openplatform/coding_plan/remains"
        );
        assert_eq!(MiniMax.auth_style(), AuthStyle::Bearer);
    }
}
