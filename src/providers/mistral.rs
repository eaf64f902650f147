//! Mistral (La Plateforme) API keys. No usage endpoint: Redline polls `GET /v1/models` and
//! reads the token buckets Mistral reports in headers: per minute
//! (`x-ratelimitbysize-{limit,remaining}-minute`, or the bare `ratelimitbysize-limit` /
//! `-remaining`, reset in seconds in `ratelimitbysize-reset`) and per month
//! (`x-ratelimitbysize-{limit,remaining}-month`). A 429 whose month bucket is empty is the
//! monthly limit, not a rate to wait out.

use super::compat::{Compat, RateHeaders, Refusals};
use super::{AuthStyle, Facts, Models, Region, Shows, ToolPaths};
use crate::providers::snapshot::{Unit, WindowKind};

const REGIONS: &[Region] = &[Region {
    name: "global",
    api_base: "https://api.mistral.ai/v1",
    usage_url: "https://api.mistral.ai/v1/models",
}];

const FACTS: Facts = Facts {
    regions: REGIONS,
    auth: AuthStyle::Bearer,
    name: "Mistral AI",
    short_name: "Mistral",
    key_hint: "A Mistral API key from console.mistral.ai/api-keys",
    key_prefixes: &[],
    key_variables: &["MISTRAL_API_KEY"],
    more_hosts: &[],
    tool_paths: ToolPaths {
        openai: Some("/v1"),
        anthropic: None,
        responses: false,
    },
    models: Models {
        model: "devstral-medium-latest",
        small_model: Some("devstral-small-latest"),
        context_window: 131_072,
        max_output_tokens: 32_768,
    },
    sibling: None,
    zero_doubt: None,
    shows: &[Shows::Headers],
};

pub(super) const MISTRAL: Compat = Compat {
    facts: &FACTS,
    rate_headers: &[
        RateHeaders::new(
            "x-ratelimitbysize-limit-minute",
            "x-ratelimitbysize-remaining-minute",
            Some("ratelimitbysize-reset"),
            WindowKind::Tpm,
            Unit::Tokens,
        ),
        RateHeaders::new(
            "ratelimitbysize-limit",
            "ratelimitbysize-remaining",
            Some("ratelimitbysize-reset"),
            WindowKind::Tpm,
            Unit::Tokens,
        ),
        RateHeaders::new(
            "x-ratelimitbysize-limit-month",
            "x-ratelimitbysize-remaining-month",
            None,
            WindowKind::Monthly,
            Unit::Tokens,
        ),
    ],
    refusals: Refusals {
        who: "Mistral",
        out_of_credits: &["monthly usage limit", "insufficient credit"],
        credits_advice: "The Mistral workspace's monthly limit or credits are used up, so \
                         retrying will not help: raise the limit or add credits in \
                         console.mistral.ai.",
        overloaded: &["capacity exceeded", "overloaded"],
    },
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::Provider;
    use crate::providers::snapshot::Window;
    use crate::providers::throttle::Cause;
    use crate::providers::wire::header_map;
    use http::HeaderMap;
    use jiff::Timestamp;
    use std::time::Duration;

    const RATE_429: &str =
        include_str!("../../tests/fixtures/providers/mistral/rate-limited-429.json");
    const OLD_429: &str = include_str!("../../tests/fixtures/providers/mistral/requests-429.json");

    fn now() -> Timestamp {
        "2026-11-29T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn minute_and_month_token_buckets() {
        let h = header_map(&[
            ("ratelimitbysize-limit", "500000"),
            ("ratelimitbysize-remaining", "499000"),
            ("ratelimitbysize-reset", "42"),
            ("ratelimitbysize-query-cost", "1000"),
            ("x-ratelimitbysize-limit-minute", "500000"),
            ("x-ratelimitbysize-remaining-minute", "499000"),
            ("x-ratelimitbysize-limit-month", "1000000000"),
            ("x-ratelimitbysize-remaining-month", "999000000"),
        ]);
        assert_eq!(
            MISTRAL.header_windows(&h, now()),
            vec![
                Window::new(WindowKind::Tpm, Unit::Tokens)
                    .counts(Some(1000.0), Some(500_000.0), Some(499_000.0))
                    .resets_at(now().checked_add(Duration::from_secs(42)).ok()),
                Window::new(WindowKind::Monthly, Unit::Tokens).counts(
                    Some(1_000_000.0),
                    Some(1e9),
                    Some(999_000_000.0)
                ),
            ]
        );
        // Only the bare names: still the minute bucket.
        let bare = header_map(&[
            ("ratelimitbysize-limit", "20"),
            ("ratelimitbysize-remaining", "5"),
        ]);
        assert_eq!(MISTRAL.header_windows(&bare, now())[0].used, Some(15.0));
    }

    #[test]
    fn a_429_is_a_rate_unless_the_month_is_empty() {
        let c = MISTRAL.classify(
            429,
            &header_map(&[("retry-after", "1")]),
            RATE_429.as_bytes(),
            now(),
        );
        assert_eq!(
            (c.cause, c.message.as_str()),
            (Cause::Rpm, "Rate limit exceeded")
        );
        assert_eq!(c.retry_after, Some(Duration::from_secs(1)));
        assert_eq!(
            MISTRAL
                .classify(429, &HeaderMap::new(), OLD_429.as_bytes(), now())
                .cause,
            Cause::Rpm
        );
        let month = header_map(&[
            ("x-ratelimitbysize-limit-month", "1000000000"),
            ("x-ratelimitbysize-remaining-month", "0"),
        ]);
        let c = MISTRAL.classify(429, &month, RATE_429.as_bytes(), now());
        assert_eq!(
            (c.cause, c.limit, c.retryable),
            (Cause::QuotaExhausted, Some(1_000_000_000), false)
        );
        assert!(c.advice.contains("month"), "{}", c.advice);
    }

    #[test]
    fn keys_and_capacity() {
        let bad = br#"{"message":"Unauthorized","request_id":"0123456789abcdef"}"#;
        assert_eq!(
            MISTRAL.classify(401, &HeaderMap::new(), bad, now()).cause,
            Cause::AuthInvalid
        );
        let busy = br#"{"object":"error","message":"Service tier capacity exceeded for this model.","type":"service_tier_capacity_exceeded","param":null,"code":"3505"}"#;
        assert_eq!(
            MISTRAL.classify(429, &HeaderMap::new(), busy, now()).cause,
            Cause::Overloaded
        );
    }
}
