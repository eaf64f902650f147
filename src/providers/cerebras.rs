//! Cerebras Inference API keys. No usage endpoint: Redline polls `GET /v1/models` and reads
//! the headers every answer carries: requests per **day** and tokens per minute, each with
//! its reset in seconds (`33011.382867097855`). Errors put `message`, `type`, `param` and
//! `code` at the top of the body; a 429 `queue_exceeded` is Cerebras' own traffic, not the
//! key's limit.

use super::compat::{Compat, RateHeaders, Refusals};
use super::{AuthStyle, Facts, Models, Region, Shows, ToolPaths};
use crate::providers::snapshot::{Unit, WindowKind};

const REGIONS: &[Region] = &[Region {
    name: "global",
    api_base: "https://api.cerebras.ai/v1",
    usage_url: "https://api.cerebras.ai/v1/models",
}];

const FACTS: Facts = Facts {
    regions: REGIONS,
    auth: AuthStyle::Bearer,
    name: "Cerebras Inference",
    short_name: "Cerebras",
    key_hint: "A Cerebras API key (starts with csk-) from cloud.cerebras.ai",
    key_prefixes: &["csk-"],
    key_variables: &["CEREBRAS_API_KEY"],
    more_hosts: &[],
    tool_paths: ToolPaths {
        openai: Some("/v1"),
        anthropic: None,
        responses: false,
    },
    models: Models {
        model: "gpt-oss-120b",
        small_model: Some("llama3.1-8b"),
        context_window: 131_072,
        max_output_tokens: 40_960,
    },
    sibling: None,
    zero_doubt: None,
    shows: &[Shows::Headers],
};

pub(super) const CEREBRAS: Compat = Compat {
    facts: &FACTS,
    rate_headers: &[
        RateHeaders::new(
            "x-ratelimit-limit-requests-day",
            "x-ratelimit-remaining-requests-day",
            Some("x-ratelimit-reset-requests-day"),
            WindowKind::Daily,
            Unit::Requests,
        ),
        RateHeaders::new(
            "x-ratelimit-limit-tokens-minute",
            "x-ratelimit-remaining-tokens-minute",
            Some("x-ratelimit-reset-tokens-minute"),
            WindowKind::Tpm,
            Unit::Tokens,
        ),
    ],
    refusals: Refusals {
        who: "Cerebras",
        out_of_credits: &["insufficient balance", "payment required", "spend limit"],
        credits_advice: "The Cerebras balance or spend limit is used up, so retrying will not \
                         help: add credits or raise the limit in the billing settings.",
        overloaded: &["queue_exceeded", "high traffic"],
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

    const HEADERS_DOC: [(&str, &str); 6] = [
        ("x-ratelimit-limit-requests-day", "1000000000"),
        ("x-ratelimit-limit-tokens-minute", "1000000000"),
        ("x-ratelimit-remaining-requests-day", "999997455"),
        ("x-ratelimit-remaining-tokens-minute", "999998298"),
        ("x-ratelimit-reset-requests-day", "33011.382867097855"),
        ("x-ratelimit-reset-tokens-minute", "11.382867097854614"),
    ];
    const TPM_429: &str = include_str!("../../tests/fixtures/providers/cerebras/tpm-429.json");
    const QUEUE_429: &str = include_str!("../../tests/fixtures/providers/cerebras/queue-429.json");
    const BAD_KEY: &str =
        include_str!("../../tests/fixtures/providers/cerebras/wrong-key-401.json");

    fn now() -> Timestamp {
        "2026-11-29T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn identity_and_key_check() {
        let context = UsageContext {
            now: now(),
            region: &REGIONS[0],
        };
        let body = br#"{"object":"list","data":[{"id":"llama3.1-8b","object":"model","created":0,"owned_by":"Meta"}]}"#;
        assert_eq!(CEREBRAS.parse_usage(body, &context), Ok(Default::default()));
        assert!(CEREBRAS.parse_usage(br#"{"models":[]}"#, &context).is_err());
    }

    #[test]
    fn the_documented_headers_exactly() {
        let h = header_map(&HEADERS_DOC);
        let at = |secs: f64| now().checked_add(Duration::from_secs_f64(secs)).ok();
        assert_eq!(
            CEREBRAS.header_windows(&h, now()),
            vec![
                Window::new(WindowKind::Daily, Unit::Requests)
                    .counts(Some(2545.0), Some(1e9), Some(999_997_455.0))
                    .resets_at(at(33011.382867097855)),
                Window::new(WindowKind::Tpm, Unit::Tokens)
                    .counts(Some(1702.0), Some(1e9), Some(999_998_298.0))
                    .resets_at(at(11.382867097854614)),
            ]
        );
    }

    #[test]
    fn refusals() {
        let c = CEREBRAS.classify(429, &HeaderMap::new(), TPM_429.as_bytes(), now());
        assert_eq!(c.cause, Cause::Tpm);
        assert_eq!(
            c.message,
            "Tokens per minute limit exceeded - too many tokens processed."
        );
        let c = CEREBRAS.classify(429, &HeaderMap::new(), QUEUE_429.as_bytes(), now());
        assert_eq!((c.cause, c.retryable), (Cause::Overloaded, true));
        let c = CEREBRAS.classify(401, &HeaderMap::new(), BAD_KEY.as_bytes(), now());
        assert_eq!(c.cause, Cause::AuthInvalid);
        let day = br#"{"message":"Requests per day limit exceeded - too many requests sent.","type":"too_many_requests_error","param":"quota","code":"request_quota_exceeded"}"#;
        let c = CEREBRAS.classify(429, &HeaderMap::new(), day, now());
        assert_eq!((c.cause, c.retryable), (Cause::Tpd, false));
        assert!(
            c.advice.starts_with("Requests-per-day limit"),
            "{}",
            c.advice
        );
    }
}
