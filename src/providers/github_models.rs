//! GitHub Models (`models.github.ai`), used with a GitHub token that may read models. Limits
//! are per model and per user (requests per minute and per day, tokens per minute, requests at
//! once); there is no usage endpoint. Inference answers carry OpenAI-style
//! `x-ratelimit-{limit,remaining,reset}-{requests,tokens}` headers (resets in seconds), read
//! from proxied traffic; the key check is the model catalog (docs/providers.md, "GitHub Models").

use super::openai::rate_windows;
use super::wire::{self, error_message, header_text, number_after, retry_after_header, shape};
use super::{
    AuthStyle, Facts, Models, Provider, Region, Shows, ToolPaths, UsageContext, UsageError,
};
use crate::providers::snapshot::{Snapshot, Window};
use crate::providers::throttle::{Cause, Classification};
use http::HeaderMap;
use jiff::Timestamp;
use serde_json::Value;
use std::time::Duration;

pub struct GithubModels;

const REGIONS: &[Region] = &[Region {
    name: "global",
    api_base: "https://models.github.ai/inference",
    usage_url: "https://models.github.ai/catalog/models",
}];

const FACTS: Facts = Facts {
    regions: REGIONS,
    auth: AuthStyle::Bearer,
    name: "GitHub Models",
    short_name: "GitHub Models",
    key_hint: "A GitHub token with the models:read permission (github_pat_… or ghp_…) from \
               github.com/settings/tokens",
    key_prefixes: &["github_pat_", "ghp_"],
    key_variables: &["GITHUB_TOKEN"],
    more_hosts: &[],
    tool_paths: ToolPaths {
        openai: Some("/inference"),
        anthropic: None,
        responses: false,
    },
    models: Models {
        model: "openai/gpt-4.1",
        small_model: Some("openai/gpt-4.1-mini"),
        context_window: 1_048_576,
        max_output_tokens: 32_768,
    },
    sibling: None,
    zero_doubt: None,
    shows: &[Shows::Headers],
};

impl Provider for GithubModels {
    fn facts(&self) -> &'static Facts {
        &FACTS
    }

    /// The catalog is a JSON array of models; it carries no quota.
    fn parse_usage(&self, body: &[u8], _context: &UsageContext) -> Result<Snapshot, UsageError> {
        if wire::is_html(body) {
            return Err(shape(
                "the GitHub Models catalog URL answered with an HTML page",
            ));
        }
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Array(_)) => Ok(Snapshot::default()),
            Ok(_) => Err(shape("the GitHub Models catalog is not a list of models")),
            Err(_) => Err(shape(
                "the GitHub Models catalog response is not valid JSON",
            )),
        }
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
        if let Some(page) = wire::html_error_page("GitHub Models", status, headers, body, now) {
            return page;
        }
        let message = error_message(body);
        // "Please wait 46 seconds before retrying." and `x-ratelimit-timeremaining: 46`.
        let wait = retry_after_header(headers, now)
            .or_else(|| {
                header_text(headers, "x-ratelimit-timeremaining")?
                    .parse()
                    .ok()
                    .map(Duration::from_secs)
            })
            .or_else(|| number_after(&message, "please wait").map(Duration::from_secs));
        // Which limit tripped: the header, else the name in the message.
        let kind = header_text(headers, "x-ratelimit-type")
            .map(str::to_owned)
            .or_else(|| {
                let at = message.find("exceeded for ")? + "exceeded for ".len();
                let name: String = message[at..]
                    .chars()
                    .take_while(char::is_ascii_alphanumeric)
                    .collect();
                Some(name)
            })
            .unwrap_or_default();
        let limit = number_after(&message, "rate limit of");
        match status {
            429 if kind.contains("Concurrent") => Classification::new(Cause::Concurrency, &message)
                .with_limit(limit)
                .with_retry_after(wait),
            429 if kind.contains("ByDay") => Classification::new(Cause::Tpd, &message)
                .with_limit(limit)
                .with_retry_after(wait)
                .with_advice(format!(
                    "GitHub Models' daily request limit{} for this model is used up: wait for \
                     the daily reset, use another model, or switch to paid usage.",
                    limit.map(|n| format!(" ({n})")).unwrap_or_default()
                )),
            429 if kind.contains("Token") => Classification::new(Cause::Tpm, &message)
                .with_limit(limit)
                .with_retry_after(wait),
            429 => Classification::new(Cause::Rpm, &message)
                .with_limit(limit)
                .with_retry_after(wait),
            401 => Classification::new(Cause::AuthInvalid, &message),
            403 => Classification::new(Cause::ClientRejected, &message).with_advice(
                "The token is valid but may not use GitHub Models: give it the models:read \
                 permission, or check the organisation's policy for this model.",
            ),
            500.. => Classification::new(Cause::Overloaded, &message).with_retry_after(wait),
            _ => Classification::new(Cause::Other, &message).retryable(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::snapshot::WindowKind;

    const CATALOG: &str = include_str!("../../tests/fixtures/providers/github-models/catalog.json");
    const PER_MINUTE: &str =
        include_str!("../../tests/fixtures/providers/github-models/per-minute-429.json");
    const PER_DAY: &str =
        include_str!("../../tests/fixtures/providers/github-models/per-day-429.json");

    fn now() -> Timestamp {
        "2026-11-29T12:00:00Z".parse().unwrap()
    }

    fn classify(status: u16, pairs: &[(&'static str, &str)], body: &str) -> Classification {
        GithubModels.classify(status, &wire::header_map(pairs), body.as_bytes(), now())
    }

    #[test]
    fn the_catalog_is_the_key_check() {
        let context = UsageContext {
            now: now(),
            region: &REGIONS[0],
        };
        assert_eq!(
            GithubModels.parse_usage(CATALOG.as_bytes(), &context),
            Ok(Snapshot::default())
        );
        assert!(matches!(
            GithubModels.parse_usage(br#"{"hello":"world"}"#, &context),
            Err(UsageError::Shape(_))
        ));
        wire::assert_truncations_are_shape_errors(&GithubModels, CATALOG.trim(), now());
    }

    #[test]
    fn inference_headers_become_minute_windows_with_the_providers_counts() {
        let h = wire::header_map(&[
            ("x-ratelimit-limit-requests", "1000"),
            ("x-ratelimit-remaining-requests", "999"),
            ("x-ratelimit-limit-tokens", "1000000"),
            ("x-ratelimit-remaining-tokens", "999992"),
            ("x-ratelimit-renewalperiod-requests", "60"),
            ("x-ratelimit-reset-requests", "3"),
            ("x-ratelimit-reset-tokens", "0"),
        ]);
        let windows = GithubModels.header_windows(&h, now());
        assert_eq!(windows.len(), 2);
        let (requests, tokens) = (&windows[0], &windows[1]);
        assert_eq!(requests.kind, WindowKind::Rpm);
        assert_eq!(
            (requests.used, requests.limit, requests.remaining),
            (Some(1.0), Some(1000.0), Some(999.0))
        );
        assert_eq!(
            requests.resets_at,
            Some("2026-11-29T12:00:03Z".parse().unwrap())
        );
        assert_eq!(tokens.kind, WindowKind::Tpm);
        assert_eq!(
            (tokens.used, tokens.limit, tokens.remaining),
            (Some(8.0), Some(1_000_000.0), Some(999_992.0))
        );
        assert_eq!(tokens.resets_at, Some(now()));
    }

    #[test]
    fn per_minute_per_day_and_concurrent_limits() {
        let c = classify(429, &[], PER_MINUTE);
        assert_eq!(c.cause, Cause::Rpm);
        assert_eq!(c.limit, Some(10));
        assert_eq!(c.retry_after, Some(Duration::from_secs(46)));
        assert!(c.retryable);

        let c = classify(429, &[("x-ratelimit-timeremaining", "10999")], PER_DAY);
        assert_eq!(c.cause, Cause::Tpd);
        assert_eq!(c.limit, Some(150));
        assert_eq!(c.retry_after, Some(Duration::from_secs(10999)));
        assert!(!c.retryable);
        assert!(
            c.advice.contains("daily request limit (150)"),
            "{}",
            c.advice
        );

        let concurrent = r#"{"error":{"code":"RateLimitReached","message":"Rate limit of 5 per 0s exceeded for UserConcurrentRequests. Please wait 0 seconds before retrying."}}"#;
        let c = classify(
            429,
            &[
                ("x-ratelimit-type", "UserConcurrentRequests"),
                ("retry-after", "0"),
            ],
            concurrent,
        );
        assert_eq!((c.cause, c.limit), (Cause::Concurrency, Some(5)));
        assert_eq!(c.retry_after, Some(Duration::ZERO));
        let tokens = r#"{"error":{"code":"RateLimitReached","message":"Rate limit of 40000 per 60s exceeded for UserByModelByMinuteTokens."}}"#;
        assert_eq!(classify(429, &[], tokens).cause, Cause::Tpm);
    }

    #[test]
    fn tokens_permissions_and_servers() {
        assert_eq!(
            classify(401, &[], r#"{"error":{"message":"Bad credentials"}}"#).cause,
            Cause::AuthInvalid
        );
        let c = classify(403, &[], r#"{"error":{"message":"no access"}}"#);
        assert_eq!(c.cause, Cause::ClientRejected);
        assert!(c.advice.contains("models:read"), "{}", c.advice);
        assert_eq!(classify(502, &[], "").cause, Cause::Overloaded);
        assert_eq!(classify(429, &[], "").cause, Cause::Rpm);
    }
}
