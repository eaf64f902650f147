//! Fireworks AI API keys. No usage endpoint: Redline polls `GET /inference/v1/models` and
//! reads the requests-per-minute bucket Fireworks reports (`x-ratelimit-limit-requests`,
//! `x-ratelimit-remaining-requests`; `x-ratelimit-over-limit: yes` when a request went through
//! near capacity). Its token limits (`x-ratelimit-limit-tokens-prompt`, `-generated`) come
//! without a remaining count, so they are not windows. Reaching the monthly budget pauses all
//! requests until the budget is raised.

use super::compat::{Compat, RateHeaders, Refusals};
use super::{AuthStyle, Facts, Models, Region, Shows, ToolPaths};
use crate::providers::snapshot::{Unit, WindowKind};

const REGIONS: &[Region] = &[Region {
    name: "global",
    api_base: "https://api.fireworks.ai/inference/v1",
    usage_url: "https://api.fireworks.ai/inference/v1/models",
}];

const FACTS: Facts = Facts {
    regions: REGIONS,
    auth: AuthStyle::Bearer,
    name: "Fireworks AI",
    short_name: "Fireworks",
    key_hint: "A Fireworks API key (starts with fw_) from fireworks.ai/settings/users/api-keys",
    key_prefixes: &["fw_"],
    key_variables: &["FIREWORKS_API_KEY"],
    more_hosts: &[],
    tool_paths: ToolPaths {
        openai: Some("/inference/v1"),
        anthropic: None,
        responses: false,
    },
    models: Models {
        model: "accounts/fireworks/models/kimi-k2-instruct-0905",
        small_model: None,
        context_window: 262_144,
        max_output_tokens: 32_768,
    },
    sibling: None,
    zero_doubt: None,
    shows: &[Shows::Headers],
};

pub(super) const FIREWORKS: Compat = Compat {
    facts: &FACTS,
    rate_headers: &[RateHeaders::new(
        "x-ratelimit-limit-requests",
        "x-ratelimit-remaining-requests",
        None,
        WindowKind::Rpm,
        Unit::Requests,
    )],
    refusals: Refusals {
        who: "Fireworks",
        out_of_credits: &["spending limit", "spend limit", "budget", "suspended"],
        credits_advice: "The Fireworks account reached its monthly budget or is suspended for \
                         billing, so retrying will not help: add credits or raise the budget \
                         (`firectl update quota monthly-spend-usd`).",
        overloaded: &["overloaded", "service unavailable"],
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

    fn now() -> Timestamp {
        "2026-11-29T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn the_requests_bucket_and_not_the_token_limits() {
        let h = header_map(&[
            ("x-ratelimit-limit-requests", "6000"),
            ("x-ratelimit-remaining-requests", "5999"),
            ("x-ratelimit-over-limit", "no"),
            ("x-ratelimit-limit-tokens-prompt", "1000000"),
            ("x-ratelimit-limit-tokens-generated", "100000"),
        ]);
        assert_eq!(
            FIREWORKS.header_windows(&h, now()),
            vec![Window::new(WindowKind::Rpm, Unit::Requests).counts(
                Some(1.0),
                Some(6000.0),
                Some(5999.0)
            )]
        );
        assert_eq!(
            FIREWORKS.regions()[0].usage_url,
            "https://api.fireworks.ai/inference/v1/models"
        );
    }

    #[test]
    fn refusals() {
        let budget = br#"{"error":{"object":"error","type":"invalid_request_error","message":"Monthly spending limit reached. Please raise your budget to continue."}}"#;
        let c = FIREWORKS.classify(412, &HeaderMap::new(), budget, now());
        assert_eq!((c.cause, c.retryable), (Cause::QuotaExhausted, false));
        let bad = br#"{"error":{"object":"error","type":"invalid_request_error","message":"The API key you provided is invalid."}}"#;
        assert_eq!(
            FIREWORKS.classify(401, &HeaderMap::new(), bad, now()).cause,
            Cause::AuthInvalid
        );
        let rate = br#"{"error":{"object":"error","type":"invalid_request_error","message":"Request rate limit exceeded"}}"#;
        assert_eq!(
            FIREWORKS
                .classify(429, &HeaderMap::new(), rate, now())
                .cause,
            Cause::Rpm
        );
    }
}
