//! xAI (Grok) API keys. xAI publishes no usage or balance endpoint for API keys (the
//! Management API needs a separate management key) and no rate-limit headers, so Redline
//! checks the key with `GET /v1/models` and names refusals. Errors are
//! `{"code":"<status text>","error":"<message>"}`; a wrong key is a **400**; credits used up or
//! the team's monthly spending limit reached come as a 429 (or 403) whose words say so.

use super::compat::{Compat, Refusals};
use super::{AuthStyle, Facts, Models, Region, ToolPaths};

const REGIONS: &[Region] = &[Region {
    name: "global",
    api_base: "https://api.x.ai/v1",
    usage_url: "https://api.x.ai/v1/models",
}];

const FACTS: Facts = Facts {
    regions: REGIONS,
    auth: AuthStyle::Bearer,
    name: "xAI (Grok) API",
    short_name: "xAI",
    key_hint: "An xAI API key (starts with xai-) from console.x.ai",
    key_prefixes: &["xai-"],
    key_variables: &["XAI_API_KEY"],
    more_hosts: &[],
    tool_paths: ToolPaths {
        openai: Some("/v1"),
        anthropic: None,
        responses: false,
    },
    models: Models {
        model: "grok-code-fast-1",
        small_model: None,
        context_window: 256_000,
        max_output_tokens: 10_000,
    },
    sibling: None,
    zero_doubt: None,
    shows: &[],
};

pub(super) const XAI: Compat = Compat {
    facts: &FACTS,
    rate_headers: &[],
    refusals: Refusals {
        who: "xAI",
        out_of_credits: &[
            "available credits",
            "spending limit",
            "run out of credits",
            "any credits",
        ],
        credits_advice: "The xAI team's credits are used up or its monthly spending limit is \
                         reached, so retrying will not help: buy credits or raise the limit in \
                         console.x.ai.",
        overloaded: &[],
    },
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::throttle::Cause;
    use crate::providers::{Provider, UsageContext};
    use http::HeaderMap;
    use jiff::Timestamp;

    const CREDITS_429: &str = include_str!("../../tests/fixtures/providers/xai/credits-429.json");
    const WRONG_KEY: &str = include_str!("../../tests/fixtures/providers/xai/wrong-key-400.json");

    fn now() -> Timestamp {
        "2026-11-29T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn a_key_check_and_nothing_to_show() {
        assert!(XAI.facts().shows.is_empty());
        let context = UsageContext {
            now: now(),
            region: &REGIONS[0],
        };
        let body = br#"{"data":[{"id":"grok-code-fast-1","created":1755993600,"object":"model","owned_by":"xai"}],"object":"list"}"#;
        assert_eq!(XAI.parse_usage(body, &context), Ok(Default::default()));
        let headers = crate::providers::wire::header_map(&[("x-ratelimit-limit-requests", "60")]);
        assert!(XAI.header_windows(&headers, now()).is_empty());
    }

    #[test]
    fn credits_or_spending_limit_is_quota_used_up() {
        for status in [429, 403] {
            let c = XAI.classify(status, &HeaderMap::new(), CREDITS_429.as_bytes(), now());
            assert_eq!(
                (c.cause, c.retryable),
                (Cause::QuotaExhausted, false),
                "{status}"
            );
            assert!(c.advice.contains("console.x.ai"));
            assert!(c.message.starts_with("Your team"));
        }
    }

    #[test]
    fn a_wrong_key_is_a_400() {
        let c = XAI.classify(400, &HeaderMap::new(), WRONG_KEY.as_bytes(), now());
        assert_eq!(c.cause, Cause::AuthInvalid);
        let other = br#"{"code":"Client specified an invalid argument","error":"Invalid request content."}"#;
        assert_eq!(
            XAI.classify(400, &HeaderMap::new(), other, now()).cause,
            Cause::Other
        );
        let rate = br#"{"code":"Some resource has been exhausted","error":"Too many requests"}"#;
        assert_eq!(
            XAI.classify(429, &HeaderMap::new(), rate, now()).cause,
            Cause::Rpm
        );
    }
}
