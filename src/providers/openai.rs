//! OpenAI API keys (pay as you go). OpenAI has no usage endpoint for API keys, so Redline polls
//! the cheap authenticated `GET /v1/models` and reads the rate-limit headers that come with every
//! response: `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`.

use super::compat::{self, RateHeaders};
use super::wire::{self, header_text};
use super::{
    AuthStyle, Facts, Models, Provider, Region, Shows, ToolPaths, UsageContext, UsageError,
};
use crate::providers::snapshot::{Snapshot, Unit, Window, WindowKind};
use crate::providers::throttle::{Cause, Classification};
use crate::providers::wire::{error_message, retry_after_header, retry_after_in_text};
use http::HeaderMap;
use jiff::Timestamp;
use serde_json::Value;
use std::time::Duration;

pub struct OpenAi;

const REGIONS: &[Region] = &[Region {
    name: "global",
    api_base: "https://api.openai.com/v1",
    usage_url: "https://api.openai.com/v1/models",
}];

const FACTS: Facts = Facts {
    regions: REGIONS,
    auth: AuthStyle::Bearer,
    name: "OpenAI API",
    short_name: "OpenAI",
    key_hint: "An OpenAI API key (starts with sk-) from platform.openai.com",
    key_prefixes: &[],
    key_variables: &["OPENAI_API_KEY"],
    more_hosts: &[],
    // Only OpenAI itself serves the Responses API among these providers.
    tool_paths: ToolPaths {
        openai: Some("/v1"),
        anthropic: None,
        responses: true,
    },
    models: Models {
        model: "gpt-5",
        small_model: Some("gpt-5-mini"),
        context_window: 400_000,
        max_output_tokens: 128_000,
    },
    sibling: None,
    zero_doubt: None,
    shows: &[Shows::Headers],
};

impl Provider for OpenAi {
    fn facts(&self) -> &'static Facts {
        &FACTS
    }

    /// The models list carries no quota; any JSON object proves the key works.
    fn parse_usage(&self, body: &[u8], _context: &UsageContext) -> Result<Snapshot, UsageError> {
        wire::json_object(body, "OpenAI models").map(|_| Snapshot::default())
    }

    fn header_windows(&self, headers: &HeaderMap, now: Timestamp) -> Vec<Window> {
        rate_windows(headers, now)
    }

    fn classify(
        &self,
        status: u16,
        headers: &HeaderMap,
        body: &[u8],
        now: Timestamp,
    ) -> Classification {
        let classification = classify_body(status, headers, body, now);
        match header_text(headers, "x-should-retry").map(str::to_ascii_lowercase) {
            Some(flag) if flag == "true" => classification.retryable(true),
            Some(flag) if flag == "false" => classification.retryable(false),
            _ => classification,
        }
    }
}

/// `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`, per minute.
const RATE_HEADERS: [RateHeaders; 2] = [
    RateHeaders::new(
        "x-ratelimit-limit-requests",
        "x-ratelimit-remaining-requests",
        Some("x-ratelimit-reset-requests"),
        WindowKind::Rpm,
        Unit::Requests,
    ),
    RateHeaders::new(
        "x-ratelimit-limit-tokens",
        "x-ratelimit-remaining-tokens",
        Some("x-ratelimit-reset-tokens"),
        WindowKind::Tpm,
        Unit::Tokens,
    ),
];

/// The RPM and TPM windows of OpenAI-style `x-ratelimit-*` headers (GitHub Models and Azure
/// OpenAI send the same names; resets in plain seconds read as well).
pub(super) fn rate_windows(headers: &HeaderMap, now: Timestamp) -> Vec<Window> {
    compat::header_windows(headers, now, &RATE_HEADERS)
}

fn classify_body(status: u16, headers: &HeaderMap, body: &[u8], now: Timestamp) -> Classification {
    if let Some(page) = wire::html_error_page("OpenAI", status, headers, body, now) {
        return page;
    }
    let message = error_message(body);
    let json: Option<Value> = serde_json::from_slice(body).ok();
    let field = |pointer| wire::error_text(json.as_ref(), pointer).unwrap_or("");
    let (kind, code) = (field("/type"), field("/code"));
    let wait = retry_after_header(headers, now).or_else(|| retry_after_in_text(&message));

    if kind == "insufficient_quota"
        || code == "insufficient_quota"
        || code == "credit_balance_exhausted"
    {
        return Classification::new(Cause::QuotaExhausted, &message).with_advice(
            "OpenAI credits or the monthly budget are used up, so retrying will not help \
             (the official SDK retries anyway, which only wastes time): add credits or raise \
             the budget in the billing settings.",
        );
    }
    match status {
        429 => rate_limit(kind, &message, wait),
        401 => Classification::new(Cause::AuthInvalid, &message),
        403 => Classification::new(Cause::ClientRejected, &message).with_advice(
            "The key is valid but OpenAI refused this request: the country or region is not \
             supported, or the project has no access to this model.",
        ),
        500.. => Classification::new(Cause::Overloaded, &message).with_retry_after(wait),
        // The official SDK retries timeouts and conflicts; other 4xx repeat the same mistake.
        408 | 409 => Classification::new(Cause::Other, &message).with_retry_after(wait),
        _ => Classification::new(Cause::Other, &message).retryable(false),
    }
}

/// A 429 that is not about credits: which rate window, and the limit the message names.
pub(super) fn rate_limit(kind: &str, message: &str, wait: Option<Duration>) -> Classification {
    let lower = message.to_ascii_lowercase();
    let limit = named_limit(message);
    let per_day = lower.contains("per day") || lower.contains("(tpd)") || lower.contains("(rpd)");
    let tokens = kind == "tokens" || lower.contains("tokens per min") || lower.contains("(tpm)");
    let cause = match (per_day, tokens) {
        (true, _) => Cause::Tpd,
        (false, true) => Cause::Tpm,
        (false, false) => Cause::Rpm,
    };
    let classification = Classification::new(cause, message)
        .with_limit(limit)
        .with_retry_after(wait);
    // There is no requests-per-day cause; say which daily limit it was.
    if per_day && (lower.contains("requests per day") || lower.contains("(rpd)")) {
        let limit_text = limit.map(|n| format!(" {n}")).unwrap_or_default();
        return classification.with_advice(format!(
            "Requests-per-day limit{limit_text} reached. Wait for the daily reset or use another key."
        ));
    }
    classification
}

/// The number right after the word "Limit" ("(TPM): Limit 50000, Used 47949"), skipping
/// "Rate limit reached for gpt-4o-mini", whose next digits belong to the model name.
fn named_limit(message: &str) -> Option<u64> {
    let lower = message.to_ascii_lowercase();
    lower.match_indices("limit").find_map(|(at, word)| {
        let rest = lower[at + word.len()..].trim_start_matches([' ', ':']);
        let digits: String = rest
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == ',')
            .filter(char::is_ascii_digit)
            .collect();
        digits.parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use wire::header_map as headers;

    const NOW: &str = "2026-11-29T12:00:00Z";

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

    fn classify(status: u16, pairs: &[(&'static str, &str)], body: &str) -> Classification {
        OpenAi.classify(status, &headers(pairs), body.as_bytes(), now())
    }

    const TPM_429: &str = r#"{"error":{"message":"Rate limit reached for gpt-4o-mini in project proj_abc on tokens per min (TPM): Limit 50000, Used 47949, Requested 3006. Please try again in 1.146s. Visit https://platform.openai.com/account/rate-limits to learn more.","type":"tokens","param":null,"code":"rate_limit_exceeded"}}"#;
    const RPM_429: &str = r#"{"error":{"message":"Rate limit reached for gpt-4o-mini in project proj_abc on requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 20s. Visit https://platform.openai.com/account/rate-limits to learn more.","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#;
    const QUOTA_429: &str = r#"{"error":{"message":"You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#;
    const CREDITS_429: &str = r#"{"error":{"message":"You have no credits remaining.","type":"invalid_request_error","param":null,"code":"credit_balance_exhausted"}}"#;

    #[test]
    fn identity_regions_and_auth() {
        assert_eq!(OpenAi.regions()[0].name, "global");
        assert_eq!(OpenAi.regions()[0].api_base, "https://api.openai.com/v1");
        assert_eq!(
            OpenAi.regions()[0].usage_url,
            "https://api.openai.com/v1/models"
        );
        assert_eq!(OpenAi.auth_style(), AuthStyle::Bearer);
        assert!(OpenAi.extra_headers().is_empty());
    }

    #[test]
    fn any_json_object_is_an_empty_snapshot() {
        let body = br#"{"object":"list","data":[{"id":"gpt-4o-mini","object":"model","created":1721172741,"owned_by":"system"}],"extra":null}"#;
        assert_eq!(
            OpenAi.parse_usage(body, &context()),
            Ok(Snapshot::default())
        );
        assert_eq!(
            OpenAi.parse_usage(b"{}", &context()),
            Ok(Snapshot::default())
        );
    }

    #[test]
    fn non_objects_are_shape_errors_without_the_body() {
        for body in [
            &b"<!DOCTYPE html><html>secret-ish page</html>"[..],
            b"{\"object\":\"list\",\"da",
            b"[1,2]",
            b"",
            &[0xff, 0xfe, 0x00],
        ] {
            match OpenAi.parse_usage(body, &context()) {
                Err(UsageError::Shape(why)) => assert!(!why.contains("secret"), "{why}"),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn rate_limit_headers_become_rpm_and_tpm_windows() {
        let h = headers(&[
            ("x-ratelimit-limit-requests", "500"),
            ("x-ratelimit-limit-tokens", "50000"),
            ("x-ratelimit-remaining-requests", "499"),
            ("x-ratelimit-remaining-tokens", "47949"),
            ("x-ratelimit-reset-requests", "1s"),
            ("x-ratelimit-reset-tokens", "6m0s"),
        ]);
        let windows = OpenAi.header_windows(&h, now());
        assert_eq!(
            windows,
            vec![
                Window {
                    kind: WindowKind::Rpm,
                    scope: None,
                    used: Some(1.0),
                    limit: Some(500.0),
                    remaining: Some(499.0),
                    unit: Unit::Requests,
                    resets_at: at("2026-11-29T12:00:01Z"),
                    note: None,
                },
                Window {
                    kind: WindowKind::Tpm,
                    scope: None,
                    used: Some(2051.0),
                    limit: Some(50000.0),
                    remaining: Some(47949.0),
                    unit: Unit::Tokens,
                    resets_at: at("2026-11-29T12:06:00Z"),
                    note: None,
                },
            ]
        );
    }

    #[test]
    fn go_style_resets_in_every_form() {
        let cases = [
            ("12ms", "2026-11-29T12:00:00.012Z"),
            ("1h2m3s", "2026-11-29T13:02:03Z"),
            ("0s", NOW),
        ];
        for (reset, expected) in cases {
            let h = headers(&[
                ("x-ratelimit-limit-requests", "10"),
                ("x-ratelimit-remaining-requests", "10"),
                ("x-ratelimit-reset-requests", reset),
            ]);
            let windows = OpenAi.header_windows(&h, now());
            assert_eq!(windows.len(), 1);
            assert_eq!(windows[0].resets_at, at(expected), "{reset}");
            assert_eq!(windows[0].used, Some(0.0));
        }
    }

    #[test]
    fn missing_or_garbled_headers_omit_that_window() {
        assert!(OpenAi.header_windows(&HeaderMap::new(), now()).is_empty());
        let h = headers(&[
            ("x-ratelimit-limit-requests", "lots"),
            ("x-ratelimit-remaining-requests", "3"),
            ("x-ratelimit-limit-tokens", "1000"),
            ("x-ratelimit-remaining-tokens", "400"),
            ("x-ratelimit-reset-tokens", "soon"),
        ]);
        let windows = OpenAi.header_windows(&h, now());
        assert_eq!(windows.len(), 1);
        assert_eq!(windows[0].kind, WindowKind::Tpm);
        assert_eq!(windows[0].used, Some(600.0));
        assert_eq!(windows[0].resets_at, None);
        let only_limit = headers(&[("x-ratelimit-limit-tokens", "1000")]);
        assert!(OpenAi.header_windows(&only_limit, now()).is_empty());
    }

    #[test]
    fn tpm_429_names_limit_and_wait() {
        let c = classify(429, &[], TPM_429);
        assert_eq!(c.cause, Cause::Tpm);
        assert_eq!(c.limit, Some(50000));
        assert_eq!(c.retry_after, Some(Duration::from_millis(1146)));
        assert!(c.retryable);
        assert!(
            c.advice.contains("Tokens-per-minute limit 50000"),
            "{}",
            c.advice
        );
        assert!(c.message.starts_with("Rate limit reached for gpt-4o-mini"));
    }

    #[test]
    fn rpm_429_by_type_and_by_words() {
        let c = classify(429, &[], RPM_429);
        assert_eq!(c.cause, Cause::Rpm);
        assert_eq!(c.limit, Some(3));
        assert_eq!(c.retry_after, Some(Duration::from_secs(20)));
        assert!(c.retryable);
        assert!(
            c.advice.contains("Requests-per-minute limit 3"),
            "{}",
            c.advice
        );

        // Without a `type`, the words decide; a bare 429 is a request rate.
        let words = r#"{"error":{"message":"Rate limit reached on tokens per min (TPM): Limit 10000.","code":"rate_limit_exceeded"}}"#;
        assert_eq!(classify(429, &[], words).cause, Cause::Tpm);
        let bare = classify(429, &[], r#"{"error":{"message":"Too many requests"}}"#);
        assert_eq!((bare.cause, bare.limit), (Cause::Rpm, None));
    }

    #[test]
    fn headers_win_over_the_wait_in_the_text() {
        let c = classify(429, &[("retry-after-ms", "2500")], TPM_429);
        assert_eq!(c.retry_after, Some(Duration::from_millis(2500)));
        let c = classify(429, &[("retry-after", "7")], RPM_429);
        assert_eq!(c.retry_after, Some(Duration::from_secs(7)));
    }

    #[test]
    fn daily_limits_are_not_retryable() {
        let tpd = r#"{"error":{"message":"Rate limit reached for gpt-3.5-turbo in organization org-abc on tokens per day (TPD): Limit 200000, Used 199912, Requested 604. Please try again in 3m5.472s.","type":"tokens","param":null,"code":"rate_limit_exceeded"}}"#;
        let c = classify(429, &[], tpd);
        assert_eq!(c.cause, Cause::Tpd);
        assert_eq!(c.limit, Some(200000));
        assert_eq!(c.retry_after, Some(Duration::from_millis(185_472)));
        assert!(!c.retryable);
        assert!(
            c.advice.contains("Tokens-per-day limit 200000"),
            "{}",
            c.advice
        );

        let rpd = r#"{"error":{"message":"Rate limit reached for o1 in organization org-abc on requests per day (RPD): Limit 200, Used 200, Requested 1. Please try again in 7m12s.","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#;
        let c = classify(429, &[], rpd);
        assert_eq!(c.cause, Cause::Tpd);
        assert_eq!(c.limit, Some(200));
        assert_eq!(c.retry_after, Some(Duration::from_secs(432)));
        assert!(!c.retryable);
        assert_eq!(
            c.advice,
            "Requests-per-day limit 200 reached. Wait for the daily reset or use another key."
        );
    }

    #[test]
    fn insufficient_quota_is_not_retryable() {
        for body in [QUOTA_429, CREDITS_429] {
            let c = classify(429, &[], body);
            assert_eq!(c.cause, Cause::QuotaExhausted, "{body}");
            assert!(!c.retryable);
            assert_eq!(c.retry_after, None);
            assert_eq!(c.limit, None);
            assert!(c.advice.contains("add credits"), "{}", c.advice);
            assert!(c.advice.contains("raise the budget"), "{}", c.advice);
            assert!(c.advice.contains("SDK retries"), "{}", c.advice);
        }
        assert_eq!(
            classify(429, &[], CREDITS_429).message,
            "You have no credits remaining."
        );
    }

    #[test]
    fn x_should_retry_overrides() {
        let c = classify(429, &[("x-should-retry", "false")], TPM_429);
        assert_eq!(c.cause, Cause::Tpm);
        assert!(!c.retryable);
        let c = classify(429, &[("x-should-retry", "true")], QUOTA_429);
        assert_eq!(c.cause, Cause::QuotaExhausted);
        assert!(c.retryable);
        let c = classify(400, &[("x-should-retry", "True")], "{}");
        assert!(c.retryable);
        let c = classify(429, &[("x-should-retry", "maybe")], RPM_429);
        assert!(c.retryable);
    }

    #[test]
    fn auth_and_client_refusals() {
        let c = classify(
            401,
            &[],
            r#"{"error":{"message":"Incorrect API key provided: sk-abc***xyz.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#,
        );
        assert_eq!(c.cause, Cause::AuthInvalid);
        assert!(!c.retryable);
        assert!(c.advice.contains("redline keys rotate"));

        let c = classify(
            403,
            &[],
            r#"{"error":{"code":"unsupported_country_region_territory","message":"Country, region, or territory not supported","param":null,"type":"request_forbidden"}}"#,
        );
        assert_eq!(c.cause, Cause::ClientRejected);
        assert!(!c.retryable);
        assert_eq!(c.message, "Country, region, or territory not supported");
        assert!(c.advice.contains("region"), "{}", c.advice);
        assert!(c.advice.contains("model"), "{}", c.advice);
    }

    #[test]
    fn server_errors_are_overloaded() {
        for status in [500, 502, 503] {
            let c = classify(
                status,
                &[],
                r#"{"error":{"message":"The server had an error while processing your request. Sorry about that!","type":"server_error","param":null,"code":null}}"#,
            );
            assert_eq!(c.cause, Cause::Overloaded, "{status}");
            assert!(c.retryable);
        }
        let c = classify(503, &[("retry-after", "30")], "{}");
        assert_eq!(c.retry_after, Some(Duration::from_secs(30)));
    }

    #[test]
    fn html_gateway_pages() {
        let page = "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head></html>";
        let c = classify(502, &[], page);
        assert_eq!(c.cause, Cause::Overloaded);
        assert!(c.retryable);
        assert_eq!(
            c.message,
            "OpenAI or a gateway returned an HTML error page (HTTP 502)"
        );
        let c = classify(403, &[], page);
        assert_eq!(c.cause, Cause::ClientRejected);
        assert_eq!(c.message, "an HTML error page");
    }

    #[test]
    fn other_client_errors() {
        let c = classify(
            400,
            &[],
            r#"{"error":{"message":"Invalid 'messages': empty array.","type":"invalid_request_error","param":"messages","code":"empty_array"}}"#,
        );
        assert_eq!(c.cause, Cause::Other);
        assert!(!c.retryable);
        assert!(classify(408, &[], "").retryable);
        assert!(classify(409, &[], "").retryable);
    }

    #[test]
    fn never_panics_on_odd_bytes() {
        for body in [
            &b""[..],
            b"\xff\xfe\xfd",
            b"{\"error\":",
            b"{\"error\":{\"type\":5,\"code\":[1],\"message\":null}}",
            b"null",
            b"\"just a string\"",
        ] {
            for status in [200, 400, 401, 403, 429, 500, 599] {
                let c = OpenAi.classify(status, &HeaderMap::new(), body, now());
                assert!(!c.advice.is_empty());
            }
        }
    }
}
