//! OpenRouter: one key for many models, paid from prepaid credits. `GET /api/v1/key` reports
//! the key's optional credit limit (resetting daily, weekly, monthly or never), its usage per
//! period and whether the account is on the free tier. Errors carry the HTTP status as a number
//! in `error.code`, also when they arrive inside an HTTP 200 body or stream.

use super::wire::{self, number, shape};
use super::{
    AuthStyle, Facts, Models, Provider, Region, Shows, ToolPaths, UsageContext, UsageError,
};
use crate::providers::snapshot::{Snapshot, Unit, Window, WindowKind};
use crate::providers::throttle::{Cause, Classification};
use crate::providers::wire::{error_message, retry_after_header, retry_after_in_text};
use http::HeaderMap;
use jiff::Timestamp;
use jiff::civil::Weekday;
use serde_json::Value;

pub struct OpenRouter;

const REGIONS: &[Region] = &[Region {
    name: "global",
    api_base: "https://openrouter.ai/api/v1",
    usage_url: "https://openrouter.ai/api/v1/key",
}];

const FACTS: Facts = Facts {
    regions: REGIONS,
    auth: AuthStyle::Bearer,
    name: "OpenRouter",
    short_name: "OpenRouter",
    key_hint: "An OpenRouter key (starts with sk-or-) from openrouter.ai/keys",
    key_prefixes: &["sk-or-"],
    key_variables: &["OPENROUTER_API_KEY"],
    more_hosts: &[],
    tool_paths: ToolPaths {
        openai: Some("/api/v1"),
        anthropic: None,
        responses: false,
    },
    models: Models {
        model: "moonshotai/kimi-k2",
        small_model: None,
        context_window: 131_072,
        max_output_tokens: 16_384,
    },
    sibling: None,
    zero_doubt: None,
    shows: &[Shows::Windows],
};

impl Provider for OpenRouter {
    fn facts(&self) -> &'static Facts {
        &FACTS
    }

    fn parse_usage(&self, body: &[u8], context: &UsageContext) -> Result<Snapshot, UsageError> {
        let json = wire::json_object(body, "OpenRouter key")?;
        let Some(data) = json.get("data").filter(|d| d.is_object()) else {
            if json.get("error").is_some() {
                let refusal = classify_error(200, &HeaderMap::new(), body, context.now);
                return Err(UsageError::Refused(refusal));
            }
            return Err(shape("the key response has no data object"));
        };
        let free = data.get("is_free_tier") == Some(&Value::Bool(true));
        Ok(Snapshot {
            plan: Some(if free { "free tier" } else { "pay as you go" }.into()),
            windows: credit_window(data, context.now)?.into_iter().collect(),
            ..Snapshot::default()
        })
    }

    fn classify(
        &self,
        status: u16,
        headers: &HeaderMap,
        body: &[u8],
        now: Timestamp,
    ) -> Classification {
        classify_error(status, headers, body, now)
    }
}

/// The key's credit limit as a USD window; none for an unlimited key (`limit: null`).
fn credit_window(data: &Value, now: Timestamp) -> Result<Option<Window>, UsageError> {
    let Some(limit) = wire::opt_number(data, "limit", || "data.limit".into())? else {
        return Ok(None);
    };
    let (kind, usage_key) = match data.get("limit_reset").and_then(Value::as_str) {
        Some("daily") => (WindowKind::Daily, "usage_daily"),
        Some("weekly") => (WindowKind::Weekly, "usage_weekly"),
        Some("monthly") => (WindowKind::Monthly, "usage_monthly"),
        // A limit that never resets covers all usage.
        None => (WindowKind::Balance, "usage"),
        // An unknown period: derive what was used from what remains.
        Some(_) => (WindowKind::Balance, ""),
    };
    let used = data.get(usage_key).and_then(number);
    let remaining = data.get("limit_remaining").and_then(number);
    Ok(Some(
        Window::new(kind, Unit::Usd)
            .counts(used, Some(limit), remaining)
            .resets_at(next_reset(kind, now)),
    ))
}

/// Key limits reset at 00:00 UTC: the next day, the next Monday, or the 1st of next month.
fn next_reset(kind: WindowKind, now: Timestamp) -> Option<Timestamp> {
    let today = wire::utc_date(now);
    let day = match kind {
        WindowKind::Daily => today.tomorrow().ok()?,
        WindowKind::Weekly => today.nth_weekday(1, Weekday::Monday).ok()?,
        WindowKind::Monthly => return wire::start_of_next_month(now),
        _ => return None,
    };
    wire::utc_midnight(day)
}

fn classify_error(status: u16, headers: &HeaderMap, body: &[u8], now: Timestamp) -> Classification {
    if let Some(page) = wire::html_error_page("OpenRouter", status, headers, body, now) {
        return page;
    }
    let json = wire::error_json(body);
    let error = json.as_ref().and_then(|v| v.get("error"));
    let message = wire::error_text(json.as_ref(), "/message")
        .map(str::to_owned)
        .unwrap_or_else(|| error_message(body));
    // Errors after generation started come with HTTP 200; the real status is `error.code`.
    let code = error
        .and_then(|e| number(e.get("code")?))
        .filter(|n| (100.0..600.0).contains(n))
        .map(|n| n as u16);
    let status = match code {
        Some(code) if (200..300).contains(&status) => code,
        _ => status,
    };
    let lower = message.to_ascii_lowercase();
    let wait = retry_after_header(headers, now).or_else(|| retry_after_in_text(&message));

    match status {
        429 if lower.contains("per day") || lower.contains("per-day") => {
            Classification::new(Cause::QuotaExhausted, &message)
                .with_retry_after(wait)
                .with_advice(
                    "The daily free-model request limit is used up, so retrying today will not \
                     help: wait for the daily reset or add credits to raise it.",
                )
        }
        429 if lower.contains("upstream") => Classification::new(Cause::Overloaded, &message)
            .with_retry_after(wait)
            .with_advice(
                "The model's upstream provider is rate-limiting OpenRouter as a whole; this is \
                 not your quota. Retry shortly or pick another provider or model.",
            ),
        429 => Classification::new(Cause::Rpm, &message).with_retry_after(wait),
        402 | 403 if lower.contains("key limit") => Classification::new(Cause::SpendCap, &message)
            .with_advice(
                "This key's credit limit is reached, so retrying will not help: raise the key's \
                 limit in OpenRouter's key settings or wait for it to reset.",
            ),
        402 => Classification::new(Cause::QuotaExhausted, &message).with_advice(
            "OpenRouter credits are used up or too low for this request, so retrying will not \
             help: add credits (or lower max_tokens).",
        ),
        401 => Classification::new(Cause::AuthInvalid, &message),
        403 => Classification::new(Cause::ClientRejected, &message)
            .with_advice(moderation_advice(error)),
        408 => Classification::new(Cause::Other, &message).with_retry_after(wait),
        500.. => Classification::new(Cause::Overloaded, &message).with_retry_after(wait),
        // An error inside a 2xx body without a status: the stream broke after it began.
        200..=299 => Classification::new(Cause::Other, &message)
            .with_retry_after(wait)
            .with_advice(
                "The model's provider failed after the response had started; retry the request.",
            ),
        _ => Classification::new(Cause::Other, &message).retryable(false),
    }
}

/// A 403 is OpenRouter's moderation refusing the input; name the flagged categories, never the
/// flagged text itself.
fn moderation_advice(error: Option<&Value>) -> String {
    let reasons: Vec<&str> = error
        .and_then(|e| e.pointer("/metadata/reasons")?.as_array())
        .map(|list| list.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let reasons = if reasons.is_empty() {
        String::new()
    } else {
        format!(" ({})", reasons.join(", "))
    };
    format!(
        "The key is fine but OpenRouter refused this request{reasons}: moderation flagged it or \
         the model is blocked for this account; rephrase it or pick another model."
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A Wednesday.
    const NOW: &str = "2026-11-25T12:00:00Z";

    fn now() -> Timestamp {
        NOW.parse().unwrap()
    }

    fn at(text: &str) -> Option<Timestamp> {
        Some(text.parse().unwrap())
    }

    fn context_at(now: &str) -> UsageContext {
        UsageContext {
            now: now.parse().unwrap(),
            region: &REGIONS[0],
        }
    }

    fn parse(body: &str) -> Result<Snapshot, UsageError> {
        OpenRouter.parse_usage(body.as_bytes(), &context_at(NOW))
    }

    fn classify(status: u16, pairs: &[(&'static str, &str)], body: &str) -> Classification {
        OpenRouter.classify(status, &wire::header_map(pairs), body.as_bytes(), now())
    }

    fn usd(kind: WindowKind, used: f64, limit: f64, remaining: f64) -> Window {
        Window {
            kind,
            scope: None,
            used: Some(used),
            limit: Some(limit),
            remaining: Some(remaining),
            unit: Unit::Usd,
            resets_at: None,
            note: None,
        }
    }

    const KEY: &str = r#"{"data":{"label":"sk-or-v1-au7...890","limit":100,"limit_remaining":74.5,"limit_reset":"monthly","usage":25.5,"usage_daily":25.5,"usage_weekly":25.5,"usage_monthly":25.5,"is_free_tier":false,"rate_limit":{"requests":1000,"interval":"1h"}}}"#;

    #[test]
    fn identity_regions_and_auth() {
        let region = OpenRouter.regions()[0];
        assert_eq!(region.name, "global");
        assert_eq!(region.api_base, "https://openrouter.ai/api/v1");
        assert_eq!(region.usage_url, "https://openrouter.ai/api/v1/key");
        assert_eq!(OpenRouter.auth_style(), AuthStyle::Bearer);
        assert!(OpenRouter.extra_headers().is_empty());
    }

    #[test]
    fn monthly_key_limit() {
        let snapshot = parse(KEY).unwrap();
        assert_eq!(snapshot.plan.as_deref(), Some("pay as you go"));
        assert_eq!(
            snapshot.windows,
            vec![usd(WindowKind::Monthly, 25.5, 100.0, 74.5).resets_at(at("2026-12-01T00:00:00Z"))]
        );
        assert_eq!(snapshot.concurrency_limit, None);
        assert!(snapshot.balances.is_empty());
    }

    #[test]
    fn the_2026_answer_ignores_the_deprecated_rate_limit_and_reads_the_daily_limit() {
        let body = include_str!("../../tests/fixtures/providers/openrouter/key-2026.json");
        let snapshot = parse(body).unwrap();
        assert_eq!(snapshot.windows.len(), 1, "{:?}", snapshot.windows);
        let daily = &snapshot.windows[0];
        assert_eq!((daily.kind, daily.unit), (WindowKind::Daily, Unit::Usd));
        assert_eq!(
            (daily.used, daily.limit, daily.remaining),
            (Some(0.0000018), Some(30.0), Some(29.9999982))
        );
        assert_eq!(daily.resets_at, at("2026-11-26T00:00:00Z"));
        // No rate window from `rate_limit` (-1 requests), and no balance guessed.
        assert!(snapshot.windows.iter().all(|w| w.kind != WindowKind::Rpm));
        assert!(snapshot.balances.is_empty());
    }

    #[test]
    fn weekly_and_daily_limits_use_their_own_usage() {
        let body = r#"{"data":{"limit":"20","limit_remaining":"12.25","limit_reset":"weekly","usage":"40","usage_daily":"1","usage_weekly":"7.75","usage_monthly":"30","is_free_tier":true}}"#;
        let snapshot = parse(body).unwrap();
        assert_eq!(snapshot.plan.as_deref(), Some("free tier"));
        assert_eq!(
            snapshot.windows,
            vec![usd(WindowKind::Weekly, 7.75, 20.0, 12.25).resets_at(at("2026-11-30T00:00:00Z"))]
        );

        let body = r#"{"data":{"limit":5,"limit_remaining":4,"limit_reset":"daily","usage":40,"usage_daily":1,"is_free_tier":false}}"#;
        assert_eq!(
            parse(body).unwrap().windows,
            vec![usd(WindowKind::Daily, 1.0, 5.0, 4.0).resets_at(at("2026-11-26T00:00:00Z"))]
        );
    }

    #[test]
    fn resets_at_the_edges_of_days_weeks_and_years() {
        let body = |reset: &str| {
            format!(r#"{{"data":{{"limit":10,"limit_remaining":10,"limit_reset":"{reset}"}}}}"#)
        };
        let cases = [
            // On a Monday at midnight the next weekly reset is a week away.
            ("weekly", "2026-11-30T00:00:00Z", "2026-12-07T00:00:00Z"),
            ("weekly", "2026-11-29T23:59:59Z", "2026-11-30T00:00:00Z"),
            ("monthly", "2026-12-31T23:00:00Z", "2027-01-01T00:00:00Z"),
            ("daily", "2026-12-31T23:00:00Z", "2027-01-01T00:00:00Z"),
            ("monthly", "2028-02-28T10:00:00Z", "2028-03-01T00:00:00Z"),
        ];
        for (reset, now, expected) in cases {
            let snapshot = OpenRouter
                .parse_usage(body(reset).as_bytes(), &context_at(now))
                .unwrap();
            assert_eq!(snapshot.windows[0].resets_at, at(expected), "{reset} {now}");
            assert_eq!(snapshot.windows[0].used, Some(0.0));
        }
    }

    #[test]
    fn limits_without_a_known_period_are_a_balance() {
        let body = r#"{"data":{"limit":50,"limit_remaining":30,"limit_reset":null,"usage":20,"usage_monthly":3,"is_free_tier":false}}"#;
        assert_eq!(
            parse(body).unwrap().windows,
            vec![usd(WindowKind::Balance, 20.0, 50.0, 30.0)]
        );
        let body =
            r#"{"data":{"limit":50,"limit_remaining":30,"limit_reset":"yearly","usage":99}}"#;
        assert_eq!(
            parse(body).unwrap().windows,
            vec![usd(WindowKind::Balance, 20.0, 50.0, 30.0)]
        );
    }

    #[test]
    fn unlimited_keys_have_no_window() {
        let body = r#"{"data":{"label":"sk-or-v1-abc","limit":null,"limit_remaining":null,"limit_reset":null,"usage":0.42,"usage_daily":0,"usage_weekly":0.1,"usage_monthly":0.42,"is_free_tier":false,"rate_limit":{"requests":1000,"interval":"1h"}}}"#;
        let snapshot = parse(body).unwrap();
        assert!(snapshot.windows.is_empty());
        assert_eq!(snapshot.plan.as_deref(), Some("pay as you go"));
        assert!(parse(r#"{"data":{}}"#).unwrap().windows.is_empty());
    }

    #[test]
    fn shape_errors_never_echo_the_body() {
        for body in [
            r#"{"data":{"limit":"a lot","limit_remaining":1}}"#,
            r#"{"data":{"limit":[100]}}"#,
            r#"{"data":null}"#,
            r#"{"data":"private"}"#,
            r#"{"result":{"limit":1}}"#,
            r#"{"data":{"limit":100,"limit_rem"#,
            "<!DOCTYPE html><html>private</html>",
            "",
        ] {
            match parse(body) {
                Err(UsageError::Shape(why)) => assert!(!why.contains("private"), "{why}"),
                other => panic!("{body}: {other:?}"),
            }
        }
    }

    #[test]
    fn an_error_inside_a_200_key_response_is_a_refusal() {
        let body = r#"{"error":{"code":401,"message":"No auth credentials found"}}"#;
        match parse(body) {
            Err(UsageError::Refused(c)) => {
                assert_eq!(c.cause, Cause::AuthInvalid);
                assert_eq!(c.message, "No auth credentials found");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rate_limits_are_rpm() {
        let body = r#"{"error":{"code":429,"message":"Rate limit exceeded: free-models-per-min. ","metadata":{"headers":{"X-RateLimit-Limit":"20","X-RateLimit-Remaining":"0"}}}}"#;
        let c = classify(429, &[("retry-after", "15")], body);
        assert_eq!(c.cause, Cause::Rpm);
        assert!(c.retryable);
        assert_eq!(c.retry_after, Some(Duration::from_secs(15)));
        assert_eq!(c.limit, None);
        assert!(c.advice.contains("Requests-per-minute"), "{}", c.advice);
        assert_eq!(c.message, "Rate limit exceeded: free-models-per-min.");

        let c = classify(
            429,
            &[],
            r#"{"error":{"code":429,"message":"Too Many Requests"}}"#,
        );
        assert_eq!((c.cause, c.retry_after), (Cause::Rpm, None));
    }

    #[test]
    fn free_model_daily_limits_are_quota_for_the_day() {
        for message in [
            "Rate limit exceeded: free-models-per-day. Add 10 credits to unlock 1000 free model requests per day",
            "You have used your 50 free model requests per day",
        ] {
            let body =
                serde_json::json!({"error": {"code": 429, "message": message, "metadata": {}}});
            let c = classify(429, &[], &body.to_string());
            assert_eq!(c.cause, Cause::QuotaExhausted, "{message}");
            assert!(!c.retryable);
            assert!(c.advice.contains("daily"), "{}", c.advice);
            assert!(c.advice.contains("add credits"), "{}", c.advice);
        }
    }

    #[test]
    fn upstream_rate_limits_are_not_the_users_quota() {
        let body = r#"{"error":{"code":429,"message":"google/gemini-2.0-flash-exp:free is temporarily rate-limited upstream. Please retry shortly.","metadata":{"provider_name":"Google","raw":"quota exceeded"}}}"#;
        let c = classify(429, &[], body);
        assert_eq!(c.cause, Cause::Overloaded);
        assert!(c.retryable);
        assert!(c.advice.contains("not your quota"), "{}", c.advice);
    }

    #[test]
    fn credits_and_key_limits() {
        let c = classify(
            402,
            &[],
            r#"{"error":{"code":402,"message":"Insufficient credits. Add more using https://openrouter.ai/credits"}}"#,
        );
        assert_eq!(c.cause, Cause::QuotaExhausted);
        assert!(!c.retryable);
        assert!(c.advice.contains("add credits"), "{}", c.advice);

        let c = classify(
            403,
            &[],
            r#"{"error":{"code":403,"message":"Key limit exceeded (monthly limit). Manage it using https://openrouter.ai/settings/keys"}}"#,
        );
        assert_eq!(c.cause, Cause::SpendCap);
        assert!(!c.retryable);
        assert!(c.advice.contains("key's limit"), "{}", c.advice);
    }

    #[test]
    fn auth_and_moderation() {
        let c = classify(
            401,
            &[],
            r#"{"error":{"code":401,"message":"User not found."}}"#,
        );
        assert_eq!(c.cause, Cause::AuthInvalid);
        assert!(!c.retryable);

        let body = r#"{"error":{"code":403,"message":"openai/gpt-4o requires moderation on OpenAI. Your input was flagged for \"harassment\".","metadata":{"reasons":["harassment","violence"],"flagged_input":"something private","provider_name":"OpenAI","model_slug":"openai/gpt-4o"}}}"#;
        let c = classify(403, &[], body);
        assert_eq!(c.cause, Cause::ClientRejected);
        assert!(!c.retryable);
        assert!(c.advice.contains("(harassment, violence)"), "{}", c.advice);
        assert!(c.advice.contains("moderation"), "{}", c.advice);
        assert!(!c.advice.contains("private") && !c.message.contains("private"));

        let c = classify(403, &[], r#"{"error":{"code":403,"message":"Forbidden"}}"#);
        assert!(
            c.advice
                .starts_with("The key is fine but OpenRouter refused this request:")
        );
    }

    #[test]
    fn provider_failures_are_overloaded() {
        for (status, message) in [
            (502, "Provider returned error"),
            (
                503,
                "No allowed providers are available for the selected model.",
            ),
            (500, "Internal Server Error"),
        ] {
            let body = serde_json::json!({"error": {"code": status, "message": message}});
            let c = classify(status, &[], &body.to_string());
            assert_eq!(c.cause, Cause::Overloaded, "{status}");
            assert!(c.retryable);
            assert_eq!(c.message, message);
        }
        let c = classify(408, &[], r#"{"error":{"code":408,"message":"Timed out"}}"#);
        assert_eq!(c.cause, Cause::Other);
        assert!(c.retryable);
        let c = classify(
            400,
            &[],
            r#"{"error":{"code":400,"message":"Invalid model"}}"#,
        );
        assert_eq!(c.cause, Cause::Other);
        assert!(!c.retryable);
    }

    #[test]
    fn errors_inside_http_200_use_the_body_code() {
        let c = classify(
            200,
            &[],
            r#"{"error":{"code":402,"message":"Insufficient credits"}}"#,
        );
        assert_eq!(c.cause, Cause::QuotaExhausted);
        let c = classify(
            200,
            &[],
            r#"{"error":{"code":"429","message":"Rate limit exceeded"}}"#,
        );
        assert_eq!(c.cause, Cause::Rpm);
        let c = classify(
            200,
            &[],
            r#"{"error":{"code":502,"message":"Provider returned error"}}"#,
        );
        assert_eq!(c.cause, Cause::Overloaded);

        // In a stream, the error is one `data:` chunk among others.
        let stream = concat!(
            ": OPENROUTER PROCESSING\n\n",
            "data: {\"id\":\"gen-1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\n\n",
            "data: {\"id\":\"gen-1\",\"error\":{\"code\":503,\"message\":\"Provider disconnected\"},\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\"},\"finish_reason\":\"error\"}]}\n\n",
            "data: [DONE]\n\n",
        );
        let c = classify(200, &[], stream);
        assert_eq!(c.cause, Cause::Overloaded);
        assert_eq!(c.message, "Provider disconnected");

        // A code that is not a status, inside a 200 stream: the stream broke; try again.
        let c = classify(
            200,
            &[],
            "data: {\"error\":{\"code\":\"server_error\",\"message\":\"Provider disconnected unexpectedly\"}}\n\n",
        );
        assert_eq!(c.cause, Cause::Other);
        assert!(c.retryable);
        assert!(c.advice.contains("retry"), "{}", c.advice);

        // A non-2xx status wins over the body's code.
        let c = classify(401, &[], r#"{"error":{"code":429,"message":"x"}}"#);
        assert_eq!(c.cause, Cause::AuthInvalid);
    }

    #[test]
    fn html_gateway_pages() {
        let page = "<!DOCTYPE html><html><body>Cloudflare 524</body></html>";
        let c = classify(524, &[], page);
        assert_eq!(c.cause, Cause::Overloaded);
        assert_eq!(
            c.message,
            "OpenRouter or a gateway returned an HTML error page (HTTP 524)"
        );
    }

    #[test]
    fn never_panics_on_odd_bytes() {
        for body in [
            &b""[..],
            b"\xff\xfe",
            b"data: {",
            b"{\"error\":{\"code\":1e999}}",
            b"{\"error\":{\"code\":-1,\"message\":5,\"metadata\":{\"reasons\":\"x\"}}}",
            b"{\"error\":{\"code\":4294967296}}",
            b"{\"error\":[]}",
        ] {
            for status in [200, 401, 402, 403, 429, 502, 999] {
                let c = OpenRouter.classify(status, &HeaderMap::new(), body, now());
                assert!(!c.advice.is_empty());
            }
            let _ = OpenRouter.parse_usage(body, &context_at(NOW));
        }
    }
}
