//! Groq API keys. No usage endpoint: Redline polls `GET /openai/v1/models` and reads the
//! `x-ratelimit-*` headers every answer carries, where, unlike OpenAI's, the requests bucket
//! counts requests per **day** and the tokens bucket tokens per minute; resets are Go
//! durations (`2m59.56s`). Refusals use OpenAI's body and wording.

use super::compat::{Compat, RateHeaders, Refusals};
use super::{AuthStyle, Facts, Models, Region, Shows, ToolPaths};
use crate::providers::snapshot::{Unit, WindowKind};

const REGIONS: &[Region] = &[Region {
    name: "global",
    api_base: "https://api.groq.com/openai/v1",
    usage_url: "https://api.groq.com/openai/v1/models",
}];

const FACTS: Facts = Facts {
    regions: REGIONS,
    auth: AuthStyle::Bearer,
    name: "Groq",
    short_name: "Groq",
    key_hint: "A Groq API key (starts with gsk_) from console.groq.com/keys",
    key_prefixes: &["gsk_"],
    key_variables: &["GROQ_API_KEY"],
    more_hosts: &[],
    tool_paths: ToolPaths {
        openai: Some("/openai/v1"),
        anthropic: None,
        responses: false,
    },
    models: Models {
        model: "openai/gpt-oss-120b",
        small_model: Some("llama-3.1-8b-instant"),
        context_window: 131_072,
        max_output_tokens: 65_536,
    },
    sibling: None,
    zero_doubt: None,
    shows: &[Shows::Headers],
};

pub(super) const GROQ: Compat = Compat {
    facts: &FACTS,
    rate_headers: &[
        RateHeaders::new(
            "x-ratelimit-limit-requests",
            "x-ratelimit-remaining-requests",
            Some("x-ratelimit-reset-requests"),
            WindowKind::Daily,
            Unit::Requests,
        ),
        RateHeaders::new(
            "x-ratelimit-limit-tokens",
            "x-ratelimit-remaining-tokens",
            Some("x-ratelimit-reset-tokens"),
            WindowKind::Tpm,
            Unit::Tokens,
        ),
    ],
    refusals: Refusals {
        who: "Groq",
        out_of_credits: &["spend limit", "billing limit"],
        credits_advice: "The Groq organization's spend limit is reached, so retrying will not \
                         help: raise it in the billing settings.",
        overloaded: &["capacity_exceeded", "over capacity"],
    },
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::snapshot::Window;
    use crate::providers::throttle::Cause;
    use crate::providers::wire::header_map;
    use crate::providers::{AuthStyle, Provider, UsageContext};
    use http::HeaderMap;
    use jiff::Timestamp;
    use std::time::Duration;

    const MODELS: &str = include_str!("../../tests/fixtures/providers/groq/models.json");
    const TPM_429: &str = include_str!("../../tests/fixtures/providers/groq/tpm-429.json");
    const TPD_429: &str = include_str!("../../tests/fixtures/providers/groq/tpd-429.json");

    fn now() -> Timestamp {
        "2026-11-29T12:00:00Z".parse().unwrap()
    }

    fn after(millis: u64) -> Option<Timestamp> {
        now().checked_add(Duration::from_millis(millis)).ok()
    }

    #[test]
    fn identity_and_key_check() {
        assert_eq!(GROQ.auth_style(), AuthStyle::Bearer);
        assert_eq!(
            GROQ.regions()[0].usage_url,
            "https://api.groq.com/openai/v1/models"
        );
        let context = UsageContext {
            now: now(),
            region: &REGIONS[0],
        };
        assert_eq!(
            GROQ.parse_usage(MODELS.as_bytes(), &context),
            Ok(Default::default())
        );
        crate::providers::wire::assert_truncations_are_shape_errors(&GROQ, MODELS.trim(), now());
    }

    #[test]
    fn requests_are_per_day_and_tokens_per_minute() {
        // As published in Groq's rate-limit docs.
        let h = header_map(&[
            ("x-ratelimit-limit-requests", "14400"),
            ("x-ratelimit-limit-tokens", "18000"),
            ("x-ratelimit-remaining-requests", "14370"),
            ("x-ratelimit-remaining-tokens", "17997"),
            ("x-ratelimit-reset-requests", "2m59.56s"),
            ("x-ratelimit-reset-tokens", "7.66s"),
        ]);
        assert_eq!(
            GROQ.header_windows(&h, now()),
            vec![
                Window::new(WindowKind::Daily, Unit::Requests)
                    .counts(Some(30.0), Some(14400.0), Some(14370.0))
                    .resets_at(after(179_560)),
                Window::new(WindowKind::Tpm, Unit::Tokens)
                    .counts(Some(3.0), Some(18000.0), Some(17997.0))
                    .resets_at(after(7_660)),
            ]
        );
    }

    #[test]
    fn openai_worded_429s() {
        let c = GROQ.classify(
            429,
            &header_map(&[("retry-after", "12")]),
            TPM_429.as_bytes(),
            now(),
        );
        assert_eq!((c.cause, c.limit), (Cause::Tpm, Some(6000)));
        assert_eq!(c.retry_after, Some(Duration::from_secs(12)));
        let c = GROQ.classify(429, &HeaderMap::new(), TPD_429.as_bytes(), now());
        assert_eq!(
            (c.cause, c.limit, c.retryable),
            (Cause::Tpd, Some(500_000), false)
        );
        assert_eq!(c.retry_after, Some(Duration::from_millis(162_335)));
    }

    #[test]
    fn an_empty_daily_request_bucket_on_a_429_is_the_daily_limit() {
        let h = header_map(&[
            ("x-ratelimit-limit-requests", "1000"),
            ("x-ratelimit-remaining-requests", "0"),
            ("x-ratelimit-reset-requests", "3h2m"),
        ]);
        let body = br#"{"error":{"message":"Too many requests","type":"requests","code":"rate_limit_exceeded"}}"#;
        let c = GROQ.classify(429, &h, body, now());
        assert_eq!(
            (c.cause, c.limit, c.retryable),
            (Cause::Tpd, Some(1000), false)
        );
        assert!(
            c.advice.starts_with("Requests-per-day limit 1000 reached"),
            "{}",
            c.advice
        );
    }

    #[test]
    fn keys_capacity_and_size() {
        let bad = br#"{"error":{"message":"Invalid API Key","type":"invalid_request_error","code":"invalid_api_key"}}"#;
        assert_eq!(
            GROQ.classify(401, &HeaderMap::new(), bad, now()).cause,
            Cause::AuthInvalid
        );
        let flex = br#"{"error":{"message":"Capacity exceeded for flex tier, please try again later","type":"capacity_exceeded","code":"capacity_exceeded"}}"#;
        assert_eq!(
            GROQ.classify(498, &HeaderMap::new(), flex, now()).cause,
            Cause::Overloaded
        );
        let big = br#"{"error":{"message":"Request too large for model `llama-3.3-70b-versatile` on tokens per minute (TPM): Limit 6000, Requested 7021, please reduce your message size and try again.","type":"tokens","code":"rate_limit_exceeded"}}"#;
        let c = GROQ.classify(413, &HeaderMap::new(), big, now());
        assert_eq!((c.cause, c.retryable), (Cause::Other, false));
    }
}
