//! MiniMax coding plan (`api.minimax.io`, CN `api.minimaxi.com`): a subscription with a number of
//! prompts per rolling window for each model. The least documented provider Redline knows: the
//! usage shape is observed, not published, and the meaning of one count is disputed, so the
//! parser prefers the percentage field.

use super::wire::{self, field, integer, shape};
use super::{
    AuthStyle, Facts, Models, Provider, Region, Shows, ToolPaths, UsageContext, UsageError,
};
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
        usage_url: "https://api.minimax.io/v1/token_plan/remains",
    },
    Region {
        name: "cn",
        api_base: "https://api.minimaxi.com/v1",
        usage_url: "https://api.minimaxi.com/v1/token_plan/remains",
    },
];

/// The coding plan's route, which still answers with the same body where the Token Plan's
/// route is not there.
const LEGACY_USAGE_PATH: &str = "/v1/api/openplatform/coding_plan/remains";

const FACTS: Facts = Facts {
    regions: REGIONS,
    auth: AuthStyle::Bearer,
    name: "MiniMax",
    short_name: "MiniMax",
    key_hint: "A MiniMax key from the MiniMax platform → API keys",
    // `sk-cp-` are Token Plan keys, `sk-api-` pay as you go.
    key_prefixes: &["sk-cp-", "sk-api-"],
    key_variables: &["MINIMAX_API_KEY"],
    more_hosts: &["api.minimax.chat"],
    tool_paths: ToolPaths {
        openai: Some("/v1"),
        anthropic: Some("/anthropic"),
        responses: false,
    },
    models: Models {
        model: "MiniMax-M2",
        small_model: None,
        context_window: 204_800,
        max_output_tokens: 32_768,
    },
    sibling: None,
    zero_doubt: None,
    shows: &[Shows::Windows],
};

impl Provider for MiniMax {
    fn facts(&self) -> &'static Facts {
        &FACTS
    }

    fn parse_usage(&self, body: &[u8], context: &UsageContext) -> Result<Snapshot, UsageError> {
        parse_usage(body, context)
    }

    fn legacy_usage_path(&self) -> Option<&'static str> {
        Some(LEGACY_USAGE_PATH)
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
fn parse_usage(body: &[u8], context: &UsageContext) -> Result<Snapshot, UsageError> {
    let now = context.now;
    let json = wire::json_object(body, "MiniMax usage")?;
    match status_code(&json) {
        Some(0) | None => {}
        Some(WRONG_REGION) => {
            let message = error_message(body);
            let other = REGIONS
                .iter()
                .find(|r| r.name != context.region.name)
                .unwrap_or(&REGIONS[0]);
            return Err(UsageError::Refused(
                Classification::new(Cause::AuthInvalid, &message).with_advice(format!(
                    "This key belongs to MiniMax's {} region, not the {} one: add it again with \
                     `--base-url {}`.",
                    other.name, context.region.name, other.api_base
                )),
            ));
        }
        Some(_) => {
            return Err(UsageError::Refused(classify(
                200,
                &HeaderMap::new(),
                body,
                now,
            )));
        }
    }

    let entries = field(&json, "model_remains")
        .and_then(Value::as_array)
        .ok_or_else(|| shape("model_remains is missing or not a list"))?;
    if entries.is_empty() {
        return Err(shape("model_remains lists no model windows"));
    }
    let mut windows = Vec::new();
    for entry in entries {
        windows.extend(model_windows(entry, now)?);
    }
    if windows.is_empty() {
        return Err(shape(
            "model_remains has only unlimited buckets, no window Redline can show",
        ));
    }
    Ok(Snapshot {
        windows,
        ..Snapshot::default()
    })
}

/// `base_resp.status_code` for a key of the other region (minimax.io vs minimaxi.com).
const WRONG_REGION: i64 = 2049;

/// `status` / `current_weekly_status` 3: no limit on this bucket or window.
const UNLIMITED: i64 = 3;

/// A bucket's windows: its interval (5 hours, from its span) and, on the Token Plan, its week;
/// none for an unlimited bucket.
fn model_windows(entry: &Value, now: Timestamp) -> Result<Vec<Window>, UsageError> {
    if !entry.is_object() {
        return Err(shape("a model_remains entry is not an object"));
    }
    if field(entry, "status").and_then(integer) == Some(UNLIMITED) {
        return Ok(Vec::new());
    }
    let scope = field(entry, "model_name")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|model| !model.is_empty());
    let mut windows = vec![interval_window(entry, now)?];
    let weekly_unlimited =
        field(entry, "current_weekly_status").and_then(integer) == Some(UNLIMITED);
    if !weekly_unlimited && let Some(left) = opt_number(entry, "current_weekly_remaining_percent")?
    {
        let resets_at = ends_at(entry, "weekly_end_time", "weekly_remains_time", now)?;
        windows.push(Window::percent(WindowKind::Weekly, 100.0 - left).resets_at(resets_at));
    }
    Ok(windows
        .into_iter()
        .map(|window| match scope {
            Some(model) => window.scope(model),
            None => window,
        })
        .collect())
}

fn interval_window(entry: &Value, now: Timestamp) -> Result<Window, UsageError> {
    let start = opt_number(entry, "start_time")?;
    let end = opt_number(entry, "end_time")?;
    // Without both ends the length is unknown; MiniMax's plans count per 5 hours.
    let kind = match (start, end) {
        (Some(start), Some(end)) if end > start => kind_for_span(end - start),
        _ => WindowKind::FiveHour,
    };
    let resets_at = ends_at(entry, "end_time", "remains_time", now)?;

    // The percentages mean what is *left*. The Token Plan zeroes the counts, so they are read
    // only without a percentage; sources disagree whether `current_interval_usage_count` is the
    // count used or left, and it is read as used.
    let window = if let Some(left) = opt_number(entry, "current_interval_remaining_percent")? {
        Window::percent(kind, 100.0 - left)
    } else {
        let total = opt_number(entry, "current_interval_total_count")?.filter(|t| *t > 0.0);
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
    Ok(window.resets_at(resets_at))
}

/// When a window ends: `end_key` in epoch ms, or `wait_key` ms from now.
fn ends_at(
    entry: &Value,
    end_key: &str,
    wait_key: &str,
    now: Timestamp,
) -> Result<Option<Timestamp>, UsageError> {
    if let Some(end_ms) = opt_number(entry, end_key)? {
        return Timestamp::from_millisecond(end_ms as i64)
            .map(Some)
            .map_err(|_| shape(format!("a model_remains entry's {end_key} is out of range")));
    }
    match opt_number(entry, wait_key)? {
        Some(wait_ms) => now
            .checked_add(SignedDuration::from_millis(wait_ms.max(0.0) as i64))
            .map(Some)
            .map_err(|_| {
                shape(format!(
                    "a model_remains entry's {wait_key} is out of range"
                ))
            }),
        None => Ok(None),
    }
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
        (Some(WRONG_REGION), _) => {
            return Classification::new(Cause::AuthInvalid, &message).with_advice(
                "This key belongs to MiniMax's other region (minimax.io and minimaxi.com keys \
                 do not cross): add it again with `--base-url https://api.minimax.io/v1` or \
                 `--base-url https://api.minimaxi.com/v1`, whichever it is not now.",
            );
        }
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

    const TOKEN_PLAN: &str = include_str!("../../tests/fixtures/providers/minimax/token-plan.json");
    const WRONG_REGION_BODY: &str =
        include_str!("../../tests/fixtures/providers/minimax/wrong-region-2049.json");

    #[test]
    fn the_token_plan_gives_interval_and_week_from_what_is_left_and_skips_unlimited_buckets() {
        let snapshot = parse(TOKEN_PLAN).unwrap();
        let windows: Vec<_> = snapshot
            .windows
            .iter()
            .map(|w| (w.kind, w.scope.as_deref(), w.unit, w.used, w.resets_at))
            .collect();
        assert_eq!(
            windows,
            [
                (
                    WindowKind::FiveHour,
                    Some("general"),
                    Unit::Percent,
                    Some(12.0),
                    Some(Timestamp::from_millisecond(1780516800000).unwrap())
                ),
                (
                    WindowKind::Weekly,
                    Some("general"),
                    Unit::Percent,
                    Some(18.0),
                    Some(Timestamp::from_millisecond(1780963200000).unwrap())
                ),
            ]
        );
        // Zeroed counts without a percentage are no window, and a bucket of only unlimited
        // windows gives none.
        assert!(
            shape_error(&entry(
                r#""model_name":"general","current_interval_total_count":0,"current_interval_usage_count":0"#
            ))
            .contains("neither")
        );
        assert!(
            shape_error(&entry(r#""model_name":"video","status":3"#)).contains("only unlimited")
        );
        let unlimited_week = parse(&entry(
            r#""current_interval_remaining_percent":50,"current_weekly_remaining_percent":100,
               "current_weekly_status":3"#,
        ))
        .unwrap();
        assert_eq!(unlimited_week.windows.len(), 1);
    }

    #[test]
    fn a_key_for_the_other_region_says_which_base_url_to_use() {
        let global = match parse(WRONG_REGION_BODY) {
            Err(UsageError::Refused(c)) => c,
            other => panic!("{other:?}"),
        };
        assert_eq!(global.cause, Cause::AuthInvalid);
        assert!(
            global.advice.contains("cn region") && global.advice.contains("api.minimaxi.com"),
            "{}",
            global.advice
        );
        let context = UsageContext {
            now: now(),
            region: &REGIONS[1],
        };
        let cn = match MiniMax.parse_usage(WRONG_REGION_BODY.as_bytes(), &context) {
            Err(UsageError::Refused(c)) => c,
            other => panic!("{other:?}"),
        };
        assert!(cn.advice.contains("global region") && cn.advice.contains("api.minimax.io"));
        let through_proxy = classify(200, WRONG_REGION_BODY);
        assert_eq!(through_proxy.cause, Cause::AuthInvalid);
        assert!(through_proxy.advice.contains("other region"));
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
            "https://api.minimaxi.com/v1/token_plan/remains"
        );
        assert_eq!(
            MiniMax.legacy_usage_path(),
            Some("/v1/api/openplatform/coding_plan/remains")
        );
        assert_eq!(MiniMax.auth_style(), AuthStyle::Bearer);
    }
}
