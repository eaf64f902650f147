//! Together AI API keys. No usage endpoint: Redline polls `GET /v1/models` (a bare JSON list
//! of models) and reads the headers Together's answers carry: `x-ratelimit-limit` /
//! `-remaining` / `-reset` for requests and `x-tokenlimit-limit` / `-remaining` for tokens,
//! which clients read as **per second** buckets; the windows say so in their scope.

use super::compat::{Compat, RateHeaders, Refusals};
use super::{AuthStyle, Facts, Models, Region, Shows, ToolPaths};
use crate::providers::snapshot::{Unit, WindowKind};

const REGIONS: &[Region] = &[Region {
    name: "global",
    api_base: "https://api.together.xyz/v1",
    usage_url: "https://api.together.xyz/v1/models",
}];

const FACTS: Facts = Facts {
    regions: REGIONS,
    auth: AuthStyle::Bearer,
    name: "Together AI",
    short_name: "Together",
    key_hint: "A Together AI API key from api.together.ai/settings/api-keys",
    key_prefixes: &["tgp_v1_"],
    key_variables: &["TOGETHER_API_KEY"],
    more_hosts: &["api.together.ai"],
    tool_paths: ToolPaths {
        openai: Some("/v1"),
        anthropic: None,
        responses: false,
    },
    models: Models {
        model: "Qwen/Qwen3-Coder-480B-A35B-Instruct-FP8",
        small_model: None,
        context_window: 262_144,
        max_output_tokens: 65_536,
    },
    sibling: None,
    zero_doubt: None,
    shows: &[Shows::Headers],
};

pub(super) const TOGETHER: Compat = Compat {
    facts: &FACTS,
    rate_headers: &[
        RateHeaders::new(
            "x-ratelimit-limit",
            "x-ratelimit-remaining",
            Some("x-ratelimit-reset"),
            WindowKind::Rpm,
            Unit::Requests,
        )
        .scoped("per second"),
        RateHeaders::new(
            "x-tokenlimit-limit",
            "x-tokenlimit-remaining",
            None,
            WindowKind::Tpm,
            Unit::Tokens,
        )
        .scoped("per second"),
    ],
    refusals: Refusals {
        who: "Together",
        out_of_credits: &[
            "credit limit",
            "insufficient balance",
            "insufficient credits",
        ],
        credits_advice: "The Together account's credits are used up, so retrying will not \
                         help: add credits in the billing settings.",
        overloaded: &["service unavailable", "overloaded"],
    },
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::snapshot::Window;
    use crate::providers::throttle::Cause;
    use crate::providers::wire::header_map;
    use crate::providers::{Provider, UsageContext};
    use http::HeaderMap;
    use jiff::Timestamp;
    use std::time::Duration;

    const MODELS: &str = include_str!("../../tests/fixtures/providers/together/models.json");

    fn now() -> Timestamp {
        "2026-11-29T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn the_model_list_is_a_bare_list() {
        let context = UsageContext {
            now: now(),
            region: &REGIONS[0],
        };
        assert_eq!(
            TOGETHER.parse_usage(MODELS.as_bytes(), &context),
            Ok(Default::default())
        );
        assert!(TOGETHER.parse_usage(b"[]", &context).is_err());
        crate::providers::wire::assert_truncations_are_shape_errors(
            &TOGETHER,
            MODELS.trim(),
            now(),
        );
    }

    #[test]
    fn per_second_buckets_say_so() {
        let h = header_map(&[
            ("x-ratelimit-limit", "10"),
            ("x-ratelimit-remaining", "7"),
            ("x-ratelimit-reset", "1"),
            ("x-tokenlimit-limit", "200000"),
            ("x-tokenlimit-remaining", "198000"),
        ]);
        assert_eq!(
            TOGETHER.header_windows(&h, now()),
            vec![
                Window::new(WindowKind::Rpm, Unit::Requests)
                    .counts(Some(3.0), Some(10.0), Some(7.0))
                    .resets_at(now().checked_add(Duration::from_secs(1)).ok())
                    .scope("per second"),
                Window::new(WindowKind::Tpm, Unit::Tokens)
                    .counts(Some(2000.0), Some(200_000.0), Some(198_000.0))
                    .scope("per second"),
            ]
        );
    }

    #[test]
    fn refusals() {
        let bad = br#"{"error":{"message":"Invalid API key provided. You can find your API key at https://api.together.xyz/settings/api-keys.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#;
        assert_eq!(
            TOGETHER.classify(401, &HeaderMap::new(), bad, now()).cause,
            Cause::AuthInvalid
        );
        let credits = br#"{"error":{"message":"Credit limit exceeded. Please add credits to continue.","type":"credit_limit","param":null,"code":null}}"#;
        assert_eq!(
            TOGETHER
                .classify(402, &HeaderMap::new(), credits, now())
                .cause,
            Cause::QuotaExhausted
        );
        let empty = header_map(&[("x-ratelimit-limit", "10"), ("x-ratelimit-remaining", "0")]);
        let rate = br#"{"error":{"message":"You have exceeded the rate limit for this model.","type":"rate_limit","param":null,"code":null}}"#;
        let c = TOGETHER.classify(429, &empty, rate, now());
        assert_eq!((c.cause, c.limit), (Cause::Rpm, Some(10)));
    }
}
