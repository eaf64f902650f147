//! Google's Gemini API (AI Studio keys). Google publishes no usage or balance endpoint for API
//! keys and sends no rate-limit headers, so what Redline can know is whether the key works
//! (`GET /v1beta/models`) and, from refusals, which limit was hit: a 429 `RESOURCE_EXHAUSTED`
//! names each violated quota in a `google.rpc.QuotaFailure` detail (`quotaId`
//! `GenerateRequestsPerDayPerProjectPerModel-FreeTier`, …) and the wait in a
//! `google.rpc.RetryInfo` detail. Tools use either the native API (`x-goog-api-key`) or the
//! OpenAI-compatible one under `/v1beta/openai` (`Authorization: Bearer`), whose errors come
//! wrapped in a one-element list.

use super::wire::{self, retry_after_header, retry_after_in_text};
use super::{
    AuthStyle, Facts, Models, Provider, Region, ToolPaths, UsageContext, UsageError, compat,
};
use crate::providers::snapshot::Snapshot;
use crate::providers::throttle::{Cause, Classification};
use http::HeaderMap;
use jiff::Timestamp;
use serde_json::Value;
use std::time::Duration;

pub struct Gemini;

const REGIONS: &[Region] = &[Region {
    name: "global",
    api_base: "https://generativelanguage.googleapis.com/v1beta/openai",
    usage_url: "https://generativelanguage.googleapis.com/v1beta/models",
}];

const FACTS: Facts = Facts {
    regions: REGIONS,
    auth: AuthStyle::GoogApiKey,
    name: "Google Gemini API",
    short_name: "Gemini",
    key_hint: "A Gemini API key (starts with AIza) from aistudio.google.com/apikey",
    key_prefixes: &["AIza"],
    key_variables: &["GEMINI_API_KEY", "GOOGLE_API_KEY"],
    more_hosts: &[],
    tool_paths: ToolPaths {
        openai: Some("/v1beta/openai"),
        anthropic: None,
        responses: false,
    },
    models: Models {
        model: "gemini-2.5-pro",
        small_model: Some("gemini-2.5-flash"),
        context_window: 1_048_576,
        max_output_tokens: 65_536,
    },
    sibling: None,
    zero_doubt: None,
    // No usage endpoint and no rate-limit headers: a key check and named refusals only.
    shows: &[],
};

const NO_QUOTA_ADVICE: &str = "This model has no quota at all for this key's tier (limit 0): \
     enable billing on the Google Cloud project or pick a model the free tier includes.";

const DAILY_ADVICE: &str = "A Gemini per-day quota is used up; it resets at midnight Pacific \
     time. Wait, use another model, or enable billing for a higher tier.";

impl Provider for Gemini {
    fn facts(&self) -> &'static Facts {
        &FACTS
    }

    /// The model list proves the key; it carries no quota.
    fn parse_usage(&self, body: &[u8], _context: &UsageContext) -> Result<Snapshot, UsageError> {
        compat::model_list_under(body, "Gemini", &["models"])
    }

    fn classify(
        &self,
        status: u16,
        headers: &HeaderMap,
        body: &[u8],
        now: Timestamp,
    ) -> Classification {
        if let Some(page) = wire::html_error_page("Gemini", status, headers, body, now) {
            return page;
        }
        let error = google_error(body);
        let text = |key: &str| {
            error
                .as_ref()
                .and_then(|e| e.get(key))
                .and_then(Value::as_str)
                .unwrap_or("")
        };
        let message = match text("message") {
            "" => wire::error_message(body),
            message => message.to_owned(),
        };
        let (state, details) = (
            text("status"),
            error.as_ref().and_then(|e| e.get("details")),
        );
        let wait = retry_after_header(headers, now)
            .or_else(|| retry_delay(details))
            .or_else(|| retry_after_in_text(&message));
        let reason = detail_reasons(details);
        match (status, state) {
            (429, _) | (_, "RESOURCE_EXHAUSTED") => exhausted(&message, details, wait),
            (400, _) | (401, _) | (403, _)
                if reason.iter().any(|r| r.starts_with("API_KEY"))
                    || message.contains("API key")
                    || message.contains("unregistered callers") =>
            {
                Classification::new(Cause::AuthInvalid, &message)
            }
            (401, _) => Classification::new(Cause::AuthInvalid, &message),
            (_, "FAILED_PRECONDITION") | (403, _) => {
                Classification::new(Cause::ClientRejected, &message).with_advice(
                    "The key works but Gemini refused this request: the region is not \
                     supported without billing, or the project has no access to this model.",
                )
            }
            (500.., _) => Classification::new(Cause::Overloaded, &message).with_retry_after(wait),
            _ => Classification::new(Cause::Other, &message).retryable(false),
        }
    }
}

/// The `error` object of a Google error body: `{"error":{...}}`, or the same inside a
/// one-element list (the OpenAI-compatible API, `streamGenerateContent`), or an SSE frame.
fn google_error(body: &[u8]) -> Option<Value> {
    let json = match serde_json::from_slice::<Value>(body).ok() {
        Some(Value::Array(items)) => items.into_iter().next(),
        other => other.or_else(|| wire::error_json(body)),
    }?;
    json.get("error").filter(|e| e.is_object()).cloned()
}

/// The details of one `@type` (`google.rpc.QuotaFailure`).
fn details_of<'a>(details: Option<&'a Value>, kind: &str) -> Vec<&'a Value> {
    details
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|d| {
            d.get("@type")
                .and_then(Value::as_str)
                .is_some_and(|t| t.ends_with(kind))
        })
        .collect()
}

/// `google.rpc.RetryInfo`'s `retryDelay`: `"21s"`, `"20.04466179s"`.
fn retry_delay(details: Option<&Value>) -> Option<Duration> {
    details_of(details, "google.rpc.RetryInfo")
        .into_iter()
        .find_map(|d| d.get("retryDelay")?.as_str())
        .and_then(wire::go_duration)
}

/// `google.rpc.ErrorInfo` reasons (`API_KEY_INVALID`).
fn detail_reasons(details: Option<&Value>) -> Vec<&str> {
    details_of(details, "google.rpc.ErrorInfo")
        .into_iter()
        .filter_map(|d| d.get("reason")?.as_str())
        .collect()
}

/// One violated quota of a `google.rpc.QuotaFailure`.
struct Violation<'a> {
    /// `GenerateRequestsPerDayPerProjectPerModel-FreeTier`.
    id: &'a str,
    /// `quotaValue`, when sent (`"10"`).
    limit: Option<u64>,
}

fn violations(details: Option<&Value>) -> Vec<Violation<'_>> {
    details_of(details, "google.rpc.QuotaFailure")
        .into_iter()
        .filter_map(|d| d.get("violations")?.as_array())
        .flatten()
        .map(|v| Violation {
            id: v.get("quotaId").and_then(Value::as_str).unwrap_or(""),
            limit: v
                .get("quotaValue")
                .and_then(super::wire::integer)
                .map(|n| n.max(0) as u64),
        })
        .collect()
}

/// A 429 `RESOURCE_EXHAUSTED`: which quota, from the violations; a limit of 0 is a model the
/// tier does not include at all; a per-day quota waits for the daily reset.
fn exhausted(message: &str, details: Option<&Value>, wait: Option<Duration>) -> Classification {
    let found = violations(details);
    // The message lists each violated quota as "…, limit: 0, model: gemini-2.5-pro".
    let limit_zero = found.iter().any(|v| v.limit == Some(0))
        || message.split("limit: ").skip(1).any(|rest| {
            rest.starts_with('0') && !rest[1..].starts_with(|c: char| c.is_ascii_digit())
        });
    if limit_zero {
        return Classification::new(Cause::QuotaExhausted, message).with_advice(NO_QUOTA_ADVICE);
    }
    let per = |period: &'static str| found.iter().filter(move |v| v.id.contains(period));
    let tokens = |v: &&Violation| v.id.contains("Token");
    let (cause, violation) = if let Some(day) = per("PerDay").next() {
        (Cause::Tpd, Some(day))
    } else if let Some(minute) = per("PerMinute").find(tokens) {
        (Cause::Tpm, Some(minute))
    } else {
        (Cause::Rpm, per("PerMinute").next())
    };
    let classification = Classification::new(cause, message)
        .with_limit(violation.and_then(|v| v.limit))
        .with_retry_after(wait);
    match cause {
        Cause::Tpd => classification.with_advice(DAILY_ADVICE),
        _ => classification,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wire::header_map as headers;

    const RPM_429: &str =
        include_str!("../../tests/fixtures/providers/gemini/rpm-free-tier-429.json");
    const RPD_429: &str =
        include_str!("../../tests/fixtures/providers/gemini/rpd-free-tier-429.json");
    const LIMIT_ZERO: &str =
        include_str!("../../tests/fixtures/providers/gemini/limit-zero-openai-compat-429.json");
    const BAD_KEY: &str =
        include_str!("../../tests/fixtures/providers/gemini/api-key-invalid-400.json");
    const MODELS: &str = include_str!("../../tests/fixtures/providers/gemini/models.json");

    fn now() -> Timestamp {
        "2026-11-29T12:00:00Z".parse().unwrap()
    }

    fn classify(status: u16, body: &str) -> Classification {
        Gemini.classify(status, &HeaderMap::new(), body.as_bytes(), now())
    }

    fn parse(body: &str) -> Result<Snapshot, UsageError> {
        let context = UsageContext {
            now: now(),
            region: &REGIONS[0],
        };
        Gemini.parse_usage(body.as_bytes(), &context)
    }

    #[test]
    fn identity_regions_and_auth() {
        assert_eq!(
            Gemini.regions()[0].usage_url,
            "https://generativelanguage.googleapis.com/v1beta/models"
        );
        assert_eq!(Gemini.auth_style(), AuthStyle::GoogApiKey);
        assert!(Gemini.facts().shows.is_empty());
    }

    #[test]
    fn the_model_list_proves_the_key_and_nothing_else() {
        assert_eq!(parse(MODELS), Ok(Snapshot::default()));
        for body in [r#"{"data":[]}"#, r#"{"models":{}}"#, "[]", "<html></html>"] {
            assert!(matches!(parse(body), Err(UsageError::Shape(_))), "{body}");
        }
        wire::assert_truncations_are_shape_errors(&Gemini, MODELS.trim(), now());
        assert!(Gemini.header_windows(&HeaderMap::new(), now()).is_empty());
    }

    #[test]
    fn a_per_minute_request_quota_with_its_retry_info() {
        let c = classify(429, RPM_429);
        assert_eq!(c.cause, Cause::Rpm);
        assert_eq!(c.limit, Some(10));
        assert!(c.retryable);
        assert_eq!(c.retry_after, Some(Duration::from_secs(21)));
        assert!(c.message.starts_with("You exceeded your current quota"));
    }

    #[test]
    fn a_per_day_quota_is_not_retryable() {
        let c = classify(429, RPD_429);
        assert_eq!(c.cause, Cause::Tpd);
        assert_eq!(c.limit, Some(250));
        assert!(!c.retryable);
        assert_eq!(c.advice, DAILY_ADVICE);
        assert_eq!(c.retry_after, Some(Duration::from_secs_f64(39.518_474_562)));
    }

    #[test]
    fn a_token_per_minute_quota() {
        let body = r#"{"error":{"code":429,"message":"You exceeded your current quota.","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaMetric":"generativelanguage.googleapis.com/generate_content_paid_tier_input_token_count","quotaId":"GenerateContentPaidTierInputTokensPerModelPerMinute","quotaDimensions":{"location":"global","model":"gemini-2.5-pro"},"quotaValue":"2000000"},{"quotaMetric":"generativelanguage.googleapis.com/generate_content_paid_tier_requests","quotaId":"GenerateRequestsPerMinutePerProjectPerModel","quotaValue":"150"}]}]}}"#;
        let c = classify(429, body);
        assert_eq!((c.cause, c.limit), (Cause::Tpm, Some(2_000_000)));
        // A bare RESOURCE_EXHAUSTED (Vertex, older answers) is a request rate.
        let bare = r#"{"error":{"code":429,"message":"Resource has been exhausted (e.g. check quota).","status":"RESOURCE_EXHAUSTED"}}"#;
        let c = Gemini.classify(
            429,
            &headers(&[("retry-after", "3")]),
            bare.as_bytes(),
            now(),
        );
        assert_eq!((c.cause, c.limit), (Cause::Rpm, None));
        assert_eq!(c.retry_after, Some(Duration::from_secs(3)));
    }

    #[test]
    fn limit_zero_in_the_openai_compatible_list_means_no_quota_for_the_model() {
        let c = classify(429, LIMIT_ZERO);
        assert_eq!(c.cause, Cause::QuotaExhausted);
        assert!(!c.retryable);
        assert_eq!(c.advice, NO_QUOTA_ADVICE);
        assert_eq!(c.retry_after, None);
    }

    #[test]
    fn bad_and_missing_keys() {
        let c = classify(400, BAD_KEY);
        assert_eq!(c.cause, Cause::AuthInvalid);
        assert_eq!(c.message, "API key not valid. Please pass a valid API key.");
        let missing = r#"{"error":{"code":403,"message":"Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.","status":"PERMISSION_DENIED"}}"#;
        assert_eq!(classify(403, missing).cause, Cause::AuthInvalid);
    }

    #[test]
    fn region_model_and_server_refusals() {
        let region = r#"{"error":{"code":400,"message":"User location is not supported for the API use.","status":"FAILED_PRECONDITION"}}"#;
        let c = classify(400, region);
        assert_eq!((c.cause, c.retryable), (Cause::ClientRejected, false));
        let denied = r#"{"error":{"code":403,"message":"Permission denied on resource project.","status":"PERMISSION_DENIED"}}"#;
        assert_eq!(classify(403, denied).cause, Cause::ClientRejected);
        let overloaded = r#"{"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}"#;
        let c = classify(503, overloaded);
        assert_eq!((c.cause, c.retryable), (Cause::Overloaded, true));
        let bad = r#"{"error":{"code":400,"message":"Invalid JSON payload received.","status":"INVALID_ARGUMENT"}}"#;
        assert_eq!(classify(400, bad).cause, Cause::Other);
        assert_eq!(
            classify(502, "<html>gateway</html>").cause,
            Cause::Overloaded
        );
    }
}
