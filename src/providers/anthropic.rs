//! Anthropic API keys (pay as you go, `x-api-key`). There is no usage endpoint for API keys, so
//! Redline polls the cheap authenticated `GET /v1/models` and reads the
//! `anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-*` headers. The error
//! classifier is shared with the Claude subscription, which talks to the same API.

use super::wire::{self, header_number, header_text};
use super::{
    AuthStyle, Facts, Models, Provider, ProviderId, Region, Shows, ToolPaths, UsageContext,
    UsageError,
};
use crate::providers::snapshot::{Snapshot, Unit, Window, WindowKind};
use crate::providers::throttle::{Cause, Classification};
use crate::providers::wire::{error_message, retry_after_header, retry_after_in_text};
use http::HeaderMap;
use jiff::Timestamp;
use std::time::Duration;

pub struct Anthropic;

const REGIONS: &[Region] = &[Region {
    name: "global",
    api_base: "https://api.anthropic.com",
    usage_url: "https://api.anthropic.com/v1/models",
}];

/// Header infix, window kind, unit and scope of each rate-limit header family.
const HEADER_WINDOWS: [(&str, WindowKind, Unit, Option<&str>); 4] = [
    ("requests", WindowKind::Rpm, Unit::Requests, None),
    ("tokens", WindowKind::Tpm, Unit::Tokens, None),
    ("input-tokens", WindowKind::Tpm, Unit::Tokens, Some("input")),
    (
        "output-tokens",
        WindowKind::Tpm,
        Unit::Tokens,
        Some("output"),
    ),
];

/// The API style and models Anthropic's own products offer tools (the subscription too).
pub(super) const TOOL_PATHS: ToolPaths = ToolPaths {
    openai: None,
    anthropic: Some(""),
    responses: false,
};

pub(super) const MODELS: Models = Models {
    model: "claude-sonnet-4-5",
    small_model: Some("claude-haiku-4-5"),
    context_window: 200_000,
    max_output_tokens: 64_000,
};

const FACTS: Facts = Facts {
    regions: REGIONS,
    auth: AuthStyle::XApiKey,
    name: "Anthropic API",
    short_name: "Anthropic",
    key_hint: "An Anthropic API key (starts with sk-ant-api) from console.anthropic.com",
    key_prefixes: &["sk-ant-"],
    key_variables: &["ANTHROPIC_API_KEY"],
    more_hosts: &[],
    tool_paths: TOOL_PATHS,
    models: MODELS,
    sibling: Some(ProviderId::Claude),
    zero_doubt: None,
    shows: &[Shows::Headers],
};

impl Provider for Anthropic {
    fn facts(&self) -> &'static Facts {
        &FACTS
    }

    fn extra_headers(&self) -> &'static [(&'static str, &'static str)] {
        &[("anthropic-version", "2023-06-01")]
    }

    /// The models list carries no quota; any JSON object proves the key works.
    fn parse_usage(&self, body: &[u8], _context: &UsageContext) -> Result<Snapshot, UsageError> {
        wire::json_object(body, "Anthropic models").map(|_| Snapshot::default())
    }

    fn header_windows(&self, headers: &HeaderMap, _now: Timestamp) -> Vec<Window> {
        HEADER_WINDOWS
            .iter()
            .filter_map(|&(infix, kind, unit, scope)| {
                let window = header_window(headers, infix, kind, unit)?;
                Some(match scope {
                    Some(scope) => window.scope(scope),
                    None => window,
                })
            })
            .collect()
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

/// One window from `anthropic-ratelimit-{infix}-*`; omitted unless limit and remaining parse.
fn header_window(headers: &HeaderMap, infix: &str, kind: WindowKind, unit: Unit) -> Option<Window> {
    let name = |field: &str| format!("anthropic-ratelimit-{infix}-{field}");
    let limit = header_number(headers, &name("limit"))?;
    let remaining = header_number(headers, &name("remaining"))?;
    let resets_at =
        header_text(headers, &name("reset")).and_then(|text| text.parse::<Timestamp>().ok());
    Some(
        Window::new(kind, unit)
            .counts(None, Some(limit), Some(remaining))
            .resets_at(resets_at),
    )
}

/// Classifies an Anthropic API refusal: `{"type":"error","error":{"type":…,"message":…}}`, also
/// when it arrives as a mid-stream `event: error` block inside an HTTP 200 stream.
pub(super) fn classify_error(
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    now: Timestamp,
) -> Classification {
    if let Some(page) = wire::html_error_page("Anthropic", status, headers, body, now) {
        return page;
    }
    let json = wire::error_json(body);
    let text = |pointer| wire::error_text(json.as_ref(), pointer);
    let message = text("/message")
        .map(str::to_owned)
        .unwrap_or_else(|| error_message(body));
    let kind = text("/type").unwrap_or_else(|| type_for_status(status));
    let wait = retry_after_header(headers, now).or_else(|| retry_after_in_text(&message));

    if text("/details/error_code") == Some("enforced_spend_limit_reached") {
        return spend_cap(&message, now);
    }
    // Anthropic reports an empty balance as a 400 invalid_request_error in practice.
    if kind == "billing_error"
        || message
            .to_ascii_lowercase()
            .contains("credit balance is too low")
    {
        return Classification::new(Cause::QuotaExhausted, &message).with_advice(
            "The credit balance is used up, so retrying will not help: add credits in the \
             Anthropic console (Plans & Billing).",
        );
    }
    match kind {
        "rate_limit_error" => rate_limit(&message).with_retry_after(wait),
        "overloaded_error" => {
            Classification::new(Cause::Overloaded, &message).with_retry_after(wait)
        }
        "authentication_error" => Classification::new(Cause::AuthInvalid, &message),
        "permission_error" => Classification::new(Cause::ClientRejected, &message).with_advice(
            "The key is valid but Anthropic does not allow it this request (model, feature or \
             region); check the organization's access in the console.",
        ),
        "api_error" | "timeout_error" => Classification::new(Cause::Other, &message)
            .with_retry_after(wait)
            .retryable(true)
            .with_advice(
                "Anthropic failed on its side (internal error or timeout); this is not your \
                 quota. Retry shortly.",
            ),
        // invalid_request_error, not_found_error, request_too_large: the same request fails again.
        _ => Classification::new(Cause::Other, &message).retryable(false),
    }
}

/// The error type Anthropic uses for a status, for bodies that lack one.
fn type_for_status(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        429 => "rate_limit_error",
        500 => "api_error",
        502..=504 | 529 => "overloaded_error",
        _ => "",
    }
}

/// Which rate a `rate_limit_error` is about, from the message's words.
fn rate_limit(message: &str) -> Classification {
    const PHRASES: [(&str, Cause); 4] = [
        ("output tokens per minute", Cause::Tpm),
        ("input tokens per minute", Cause::Tpm),
        ("tokens per minute", Cause::Tpm),
        ("requests per minute", Cause::Rpm),
    ];
    let lower = message.to_ascii_lowercase();
    let found = PHRASES.iter().find(|(phrase, _)| lower.contains(phrase));
    let (cause, limit) = match found {
        Some(&(phrase, cause)) => (cause, number_before(&lower, phrase)),
        None if lower.contains("concurrent") => (Cause::Concurrency, None),
        // "Number of request tokens has exceeded your per-minute rate limit"
        None if lower.contains("tokens") => (Cause::Tpm, None),
        None => (Cause::Rpm, None),
    };
    Classification::new(cause, message).with_limit(limit)
}

/// A spend cap lifts on the 1st of next month at 00:00 UTC; Anthropic sends no retry-after.
fn spend_cap(message: &str, now: Timestamp) -> Classification {
    let wait = wire::start_of_next_month(now)
        .map(|at| Duration::try_from(at.duration_since(now)).unwrap_or(Duration::ZERO));
    Classification::new(Cause::SpendCap, message)
        .with_retry_after(wait)
        .retryable(false)
        .with_advice(
            "The monthly spend limit is reached, so retrying will not help: it resets on the 1st \
             of next month at 00:00 UTC, or raise it in the Anthropic console.",
        )
}

/// The whole number just before `phrase` in `lower`: "of 50,000 input tokens per minute".
fn number_before(lower: &str, phrase: &str) -> Option<u64> {
    let before = lower[..lower.find(phrase)?].trim_end();
    let start = before
        .trim_end_matches(|c: char| c.is_ascii_digit() || c == ',')
        .len();
    before[start..].replace(',', "").parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use wire::header_map as headers;

    const NOW: &str = "2026-11-29T12:00:00Z";

    fn now() -> Timestamp {
        NOW.parse().unwrap()
    }

    fn context() -> UsageContext {
        UsageContext {
            now: now(),
            region: &REGIONS[0],
        }
    }

    fn classify(status: u16, pairs: &[(&'static str, &str)], body: &str) -> Classification {
        Anthropic.classify(status, &headers(pairs), body.as_bytes(), now())
    }

    fn error_body(kind: &str, message: &str) -> String {
        serde_json::json!({
            "type": "error",
            "error": {"type": kind, "message": message},
            "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy",
        })
        .to_string()
    }

    const SPEND_CAP: &str = r#"{"type":"error","error":{"type":"rate_limit_error","message":"You have reached your specified API usage limits. You will regain access on 2026-12-01 at 00:00 UTC.","details":{"error_code":"enforced_spend_limit_reached"}},"request_id":"req_011"}"#;

    #[test]
    fn identity_regions_auth_and_version_header() {
        let region = Anthropic.regions()[0];
        assert_eq!(region.name, "global");
        assert_eq!(region.api_base, "https://api.anthropic.com");
        assert_eq!(region.usage_url, "https://api.anthropic.com/v1/models");
        assert_eq!(Anthropic.auth_style(), AuthStyle::XApiKey);
        assert_eq!(
            Anthropic.extra_headers(),
            &[("anthropic-version", "2023-06-01")]
        );
    }

    #[test]
    fn any_json_object_is_an_empty_snapshot() {
        let body = br#"{"data":[{"type":"model","id":"claude-sonnet-4-5","display_name":"Claude Sonnet 4.5","created_at":"2025-09-29T00:00:00Z"}],"has_more":false,"first_id":null,"last_id":null}"#;
        assert_eq!(
            Anthropic.parse_usage(body, &context()),
            Ok(Snapshot::default())
        );
        for body in [&b"<html>oops</html>"[..], b"{\"data\":[", b"42", b""] {
            assert!(matches!(
                Anthropic.parse_usage(body, &context()),
                Err(UsageError::Shape(_))
            ));
        }
    }

    #[test]
    fn rate_limit_headers_become_windows() {
        let h = headers(&[
            ("anthropic-ratelimit-requests-limit", "50"),
            ("anthropic-ratelimit-requests-remaining", "49"),
            ("anthropic-ratelimit-requests-reset", "2026-11-29T12:00:01Z"),
            ("anthropic-ratelimit-tokens-limit", "90000"),
            ("anthropic-ratelimit-tokens-remaining", "72000"),
            ("anthropic-ratelimit-tokens-reset", "2026-11-29T12:00:12Z"),
            ("anthropic-ratelimit-input-tokens-limit", "50000"),
            ("anthropic-ratelimit-input-tokens-remaining", "35000"),
            (
                "anthropic-ratelimit-input-tokens-reset",
                "2026-11-29T12:00:18.123456789Z",
            ),
            ("anthropic-ratelimit-output-tokens-limit", "10000"),
            ("anthropic-ratelimit-output-tokens-remaining", "10000"),
            (
                "anthropic-ratelimit-output-tokens-reset",
                "2026-11-29T13:00:00+01:00",
            ),
            ("retry-after", "3"),
            ("request-id", "req_1"),
        ]);
        let windows = Anthropic.header_windows(&h, now());
        let at = |text: &str| Some(text.parse::<Timestamp>().unwrap());
        assert_eq!(
            windows,
            vec![
                Window {
                    kind: WindowKind::Rpm,
                    scope: None,
                    used: Some(1.0),
                    limit: Some(50.0),
                    remaining: Some(49.0),
                    unit: Unit::Requests,
                    resets_at: at("2026-11-29T12:00:01Z"),
                    note: None,
                },
                Window {
                    kind: WindowKind::Tpm,
                    scope: None,
                    used: Some(18000.0),
                    limit: Some(90000.0),
                    remaining: Some(72000.0),
                    unit: Unit::Tokens,
                    resets_at: at("2026-11-29T12:00:12Z"),
                    note: None,
                },
                Window {
                    kind: WindowKind::Tpm,
                    scope: Some("input".into()),
                    used: Some(15000.0),
                    limit: Some(50000.0),
                    remaining: Some(35000.0),
                    unit: Unit::Tokens,
                    resets_at: at("2026-11-29T12:00:18.123456789Z"),
                    note: None,
                },
                Window {
                    kind: WindowKind::Tpm,
                    scope: Some("output".into()),
                    used: Some(0.0),
                    limit: Some(10000.0),
                    remaining: Some(10000.0),
                    unit: Unit::Tokens,
                    resets_at: at("2026-11-29T12:00:00Z"),
                    note: None,
                },
            ]
        );
    }

    #[test]
    fn missing_or_garbled_headers_omit_that_window() {
        assert!(
            Anthropic
                .header_windows(&HeaderMap::new(), now())
                .is_empty()
        );
        let h = headers(&[
            ("anthropic-ratelimit-requests-limit", "50"),
            ("anthropic-ratelimit-requests-remaining", "-"),
            ("anthropic-ratelimit-tokens-limit", "1000"),
            ("anthropic-ratelimit-tokens-remaining", "10"),
            ("anthropic-ratelimit-tokens-reset", "in a minute"),
        ]);
        let windows = Anthropic.header_windows(&h, now());
        assert_eq!(windows.len(), 1);
        assert_eq!(windows[0].kind, WindowKind::Tpm);
        assert_eq!(windows[0].used, Some(990.0));
        assert_eq!(windows[0].resets_at, None);
    }

    #[test]
    fn token_rate_limits_by_message_words() {
        let cases = [
            (
                "This request would exceed the rate limit for your organization (abc) of 50,000 input tokens per minute. For details, refer to: https://docs.claude.com/en/api/rate-limits.",
                Some(50000),
            ),
            (
                "This request would exceed the rate limit for your organization (abc) of 8,000 output tokens per minute.",
                Some(8000),
            ),
            (
                "This request would exceed your organization's rate limit of 400000 tokens per minute.",
                Some(400000),
            ),
            (
                "Number of request tokens has exceeded your per-minute rate limit",
                None,
            ),
        ];
        for (message, limit) in cases {
            let c = classify(
                429,
                &[("retry-after", "12")],
                &error_body("rate_limit_error", message),
            );
            assert_eq!(c.cause, Cause::Tpm, "{message}");
            assert_eq!(c.limit, limit, "{message}");
            assert_eq!(c.retry_after, Some(Duration::from_secs(12)));
            assert!(c.retryable);
            assert!(c.advice.contains("Tokens-per-minute"), "{}", c.advice);
            assert!(!c.advice.contains("Retry"), "{}", c.advice);
        }
    }

    #[test]
    fn request_rate_limits_and_the_default() {
        let c = classify(
            429,
            &[("retry-after", "5")],
            &error_body(
                "rate_limit_error",
                "This request would exceed the rate limit for your organization (abc) of 50 requests per minute.",
            ),
        );
        assert_eq!((c.cause, c.limit), (Cause::Rpm, Some(50)));
        assert_eq!(c.retry_after, Some(Duration::from_secs(5)));
        assert!(
            c.advice.contains("Requests-per-minute limit 50"),
            "{}",
            c.advice
        );

        let c = classify(429, &[], &error_body("rate_limit_error", "Rate limited."));
        assert_eq!((c.cause, c.limit, c.retry_after), (Cause::Rpm, None, None));
        assert!(c.retryable);

        let c = classify(
            429,
            &[],
            &error_body(
                "rate_limit_error",
                "Number of concurrent connections has exceeded your rate limit.",
            ),
        );
        assert_eq!(c.cause, Cause::Concurrency);

        // A 429 without a body still names a rate.
        assert_eq!(classify(429, &[], "").cause, Cause::Rpm);
    }

    #[test]
    fn spend_cap_waits_for_the_first_of_next_month() {
        let c = classify(429, &[], SPEND_CAP);
        assert_eq!(c.cause, Cause::SpendCap);
        assert!(!c.retryable);
        // 2026-11-29T12:00Z -> 2026-12-01T00:00Z.
        assert_eq!(c.retry_after, Some(Duration::from_secs(36 * 3600)));
        assert!(c.advice.contains("1st of next month"), "{}", c.advice);
        assert!(
            c.message
                .starts_with("You have reached your specified API usage limits")
        );

        // Across a year end, and at the very start of a month.
        let dec = "2026-12-31T23:59:00Z".parse().unwrap();
        let c = Anthropic.classify(429, &HeaderMap::new(), SPEND_CAP.as_bytes(), dec);
        assert_eq!(c.retry_after, Some(Duration::from_secs(60)));
        let first = "2026-12-01T00:00:00Z".parse().unwrap();
        let c = Anthropic.classify(429, &HeaderMap::new(), SPEND_CAP.as_bytes(), first);
        assert_eq!(c.retry_after, Some(Duration::from_secs(31 * 24 * 3600)));
    }

    #[test]
    fn overloaded_529() {
        let c = classify(
            529,
            &[("retry-after", "10")],
            &error_body("overloaded_error", "Overloaded"),
        );
        assert_eq!(c.cause, Cause::Overloaded);
        assert!(c.retryable);
        assert_eq!(c.retry_after, Some(Duration::from_secs(10)));
        assert_eq!(c.message, "Overloaded");
        assert!(c.advice.contains("not your quota"));
    }

    #[test]
    fn auth_billing_and_permission() {
        let c = classify(
            401,
            &[],
            &error_body("authentication_error", "invalid x-api-key"),
        );
        assert_eq!(c.cause, Cause::AuthInvalid);
        assert!(!c.retryable);
        assert!(c.advice.contains("redline keys rotate"));

        let c = classify(
            402,
            &[],
            &error_body("billing_error", "Your credit balance is too low."),
        );
        assert_eq!(c.cause, Cause::QuotaExhausted);
        assert!(!c.retryable);
        assert!(c.advice.contains("add credits"), "{}", c.advice);
        assert!(c.advice.contains("console"), "{}", c.advice);

        let c = classify(
            400,
            &[],
            &error_body(
                "invalid_request_error",
                "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.",
            ),
        );
        assert_eq!(c.cause, Cause::QuotaExhausted);
        assert!(!c.retryable);

        let c = classify(
            403,
            &[],
            &error_body(
                "permission_error",
                "Your API key does not have permission to use the specified resource.",
            ),
        );
        assert_eq!(c.cause, Cause::ClientRejected);
        assert!(!c.retryable);
        assert!(c.advice.contains("model"), "{}", c.advice);
    }

    #[test]
    fn api_errors_are_retryable_others_are_not() {
        let c = classify(500, &[], &error_body("api_error", "Internal server error"));
        assert_eq!(c.cause, Cause::Other);
        assert!(c.retryable);
        assert!(c.advice.contains("not your quota"), "{}", c.advice);

        for (status, kind) in [
            (400, "invalid_request_error"),
            (404, "not_found_error"),
            (413, "request_too_large"),
        ] {
            let c = classify(status, &[], &error_body(kind, "no"));
            assert_eq!(c.cause, Cause::Other, "{kind}");
            assert!(!c.retryable, "{kind}");
        }
    }

    #[test]
    fn mid_stream_error_events() {
        let stream = "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";
        let c = classify(200, &[], stream);
        assert_eq!(c.cause, Cause::Overloaded);
        assert_eq!(c.message, "Overloaded");

        let longer = "event: message_start\r\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":5}}}\r\n\r\nevent: error\r\ndata: {\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":\"This request would exceed the rate limit for your organization of 80,000 output tokens per minute.\"}}\r\n\r\n";
        let c = classify(200, &[], longer);
        assert_eq!((c.cause, c.limit), (Cause::Tpm, Some(80000)));
    }

    #[test]
    fn html_pages_from_gateways() {
        let page =
            "<html><head><title>502 Bad Gateway</title></head><body>cloudflare</body></html>";
        for status in [500, 502, 503, 529] {
            let c = classify(status, &[], page);
            assert_eq!(c.cause, Cause::Overloaded, "{status}");
            assert!(c.retryable);
            assert_eq!(
                c.message,
                format!("Anthropic or a gateway returned an HTML error page (HTTP {status})")
            );
        }
    }

    #[test]
    fn never_panics_on_odd_bytes() {
        for body in [
            &b""[..],
            b"\xff\xfe",
            b"data: {",
            b"event: error\ndata:",
            b"{\"error\":{\"type\":7,\"message\":[],\"details\":{\"error_code\":null}}}",
            b"{\"error\":\"nope\"}",
            "data: é 50,000 tokens per minute".as_bytes(),
        ] {
            for status in [200, 400, 401, 402, 403, 429, 500, 529, 999] {
                let c = Anthropic.classify(status, &HeaderMap::new(), body, now());
                assert!(!c.advice.is_empty());
            }
        }
    }
}
