//! Perplexity API (Sonar models), prepaid credits. No usage or balance endpoint and no
//! documented rate-limit headers: rate limits are requests per minute per model by usage tier
//! (tier by lifetime credit purchases). Redline checks the key with `GET /models` and names
//! refusals (docs/providers.md, "Perplexity").

use super::wire::{self, error_message, error_text, retry_after_header, retry_after_in_text};
use super::{
    AuthStyle, Facts, Models, Provider, Region, ToolPaths, UsageContext, UsageError, compat,
};
use crate::providers::snapshot::Snapshot;
use crate::providers::throttle::{Cause, Classification};
use http::HeaderMap;
use jiff::Timestamp;

pub struct Perplexity;

const REGIONS: &[Region] = &[Region {
    name: "global",
    api_base: "https://api.perplexity.ai",
    usage_url: "https://api.perplexity.ai/models",
}];

const FACTS: Facts = Facts {
    regions: REGIONS,
    auth: AuthStyle::Bearer,
    name: "Perplexity API",
    short_name: "Perplexity",
    key_hint: "A Perplexity API key (starts with pplx-) from perplexity.ai/settings/api",
    key_prefixes: &["pplx-"],
    key_variables: &["PERPLEXITY_API_KEY"],
    more_hosts: &[],
    tool_paths: ToolPaths {
        openai: Some(""),
        anthropic: None,
        responses: false,
    },
    models: Models {
        model: "sonar-pro",
        small_model: Some("sonar"),
        context_window: 200_000,
        max_output_tokens: 8_000,
    },
    sibling: None,
    zero_doubt: None,
    shows: &[],
};

impl Provider for Perplexity {
    fn facts(&self) -> &'static Facts {
        &FACTS
    }

    /// A model list under `data` (OpenAI-style) or `models`; it carries no quota.
    fn parse_usage(&self, body: &[u8], _context: &UsageContext) -> Result<Snapshot, UsageError> {
        compat::model_list_under(body, "Perplexity", &["data", "models"])
    }

    fn classify(
        &self,
        status: u16,
        headers: &HeaderMap,
        body: &[u8],
        now: Timestamp,
    ) -> Classification {
        // A wrong key gets the gateway's HTML 401 page: still a rejected key.
        if status == 401 {
            return Classification::new(Cause::AuthInvalid, &error_message(body));
        }
        if let Some(page) = wire::html_error_page("Perplexity", status, headers, body, now) {
            return page;
        }
        let message = error_message(body);
        let json = wire::error_json(body);
        let kind = error_text(json.as_ref(), "/type").unwrap_or_default();
        let lower = message.to_ascii_lowercase();
        let wait = retry_after_header(headers, now).or_else(|| retry_after_in_text(&message));
        if status == 402
            || kind == "insufficient_quota"
            || lower.contains("insufficient credits")
            || lower.contains("insufficient_quota")
        {
            return Classification::new(Cause::QuotaExhausted, &message).with_advice(
                "The Perplexity API credits are used up, so retrying will not help: add \
                 credits (or turn on auto top-up) in the API settings.",
            );
        }
        match status {
            429 => Classification::new(Cause::Rpm, &message)
                .with_retry_after(wait)
                .with_advice(
                    "Requests-per-minute limit of this model reached (limits rise with the \
                     account's usage tier). Slow down or spread requests over the minute.",
                ),
            403 => Classification::new(Cause::ClientRejected, &message),
            500.. => Classification::new(Cause::Overloaded, &message).with_retry_after(wait),
            _ => Classification::new(Cause::Other, &message).retryable(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2026-11-29T12:00:00Z".parse().unwrap()
    }

    fn classify(status: u16, body: &str) -> Classification {
        Perplexity.classify(status, &HeaderMap::new(), body.as_bytes(), now())
    }

    #[test]
    fn the_model_list_is_the_key_check() {
        let context = UsageContext {
            now: now(),
            region: &REGIONS[0],
        };
        let models = include_str!("../../tests/fixtures/providers/perplexity/models.json");
        assert_eq!(
            Perplexity.parse_usage(models.as_bytes(), &context),
            Ok(Snapshot::default())
        );
        assert_eq!(
            Perplexity.parse_usage(br#"{"models":[{"id":"sonar"}]}"#, &context),
            Ok(Snapshot::default())
        );
        assert!(matches!(
            Perplexity.parse_usage(br#"{"hello":"world"}"#, &context),
            Err(UsageError::Shape(_))
        ));
        wire::assert_truncations_are_shape_errors(&Perplexity, models.trim(), now());
    }

    #[test]
    fn an_html_401_is_still_a_rejected_key() {
        let page = include_str!("../../tests/fixtures/providers/perplexity/unauthorized-401.html");
        let c = classify(401, page);
        assert_eq!(c.cause, Cause::AuthInvalid);
        assert!(!c.retryable);
        assert_eq!(c.message, "an HTML error page");
        let json = include_str!("../../tests/fixtures/providers/perplexity/invalid-key-401.json");
        let c = classify(401, json);
        assert_eq!(c.cause, Cause::AuthInvalid);
        assert!(
            c.message.starts_with("Invalid API key provided."),
            "{}",
            c.message
        );
    }

    #[test]
    fn rate_credits_and_servers() {
        let c = Perplexity.classify(
            429,
            &wire::header_map(&[("retry-after", "12")]),
            br#"{"error":{"message":"Rate limit exceeded","type":"rate_limit_exceeded","code":429}}"#,
            now(),
        );
        assert_eq!(c.cause, Cause::Rpm);
        assert_eq!(c.retry_after, Some(std::time::Duration::from_secs(12)));
        assert!(c.advice.contains("usage tier"), "{}", c.advice);
        let c = classify(
            402,
            r#"{"error":{"message":"You have insufficient credits.","type":"insufficient_quota"}}"#,
        );
        assert_eq!(c.cause, Cause::QuotaExhausted);
        assert!(!c.retryable);
        assert_eq!(
            classify(503, "<html><body>busy</body></html>").cause,
            Cause::Overloaded
        );
        assert!(!classify(400, "{}").retryable);
    }
}
