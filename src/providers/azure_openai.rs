//! Azure OpenAI: OpenAI models deployed on the user's own resource,
//! `https://<resource>.openai.azure.com`, the key in an `api-key` header. No usage endpoint a
//! key can read; deployments' answers carry `x-ratelimit-remaining-{requests,tokens}`, usually
//! without the limits, so Redline shows what is left. The key check is the v1 API's
//! `GET /openai/v1/models` (docs/providers.md, "Azure OpenAI").

use super::compat;
use super::openai::rate_windows;
use super::wire::{
    self, error_message, go_duration, header_number, header_text, retry_after_header,
    retry_after_in_text,
};
use super::{
    AuthStyle, Facts, Models, Provider, Region, Shows, ToolPaths, UsageContext, UsageError,
};
use crate::providers::snapshot::{Snapshot, Unit, Window, WindowKind};
use crate::providers::throttle::{Cause, Classification};
use http::HeaderMap;
use jiff::Timestamp;

pub struct AzureOpenAi;

/// Every resource has its own host: accounts give theirs with `--base-url`.
const REGIONS: &[Region] = &[Region {
    name: "resource",
    api_base: "https://your-resource.openai.azure.com/openai/v1",
    usage_url: "https://your-resource.openai.azure.com/openai/v1/models",
}];

const FACTS: Facts = Facts {
    regions: REGIONS,
    auth: AuthStyle::ApiKeyHeader,
    name: "Azure OpenAI",
    short_name: "Azure OpenAI",
    key_hint: "A key of your Azure OpenAI resource (Keys and Endpoint in the Azure portal); add \
               it with --base-url https://<resource>.openai.azure.com",
    key_prefixes: &[],
    key_variables: &["AZURE_OPENAI_API_KEY"],
    more_hosts: &[],
    tool_paths: ToolPaths {
        openai: Some("/openai/v1"),
        anthropic: None,
        responses: true,
    },
    // Azure routes by deployment name, which the user chose; these are the usual names.
    models: Models {
        model: "gpt-4.1",
        small_model: Some("gpt-4.1-mini"),
        context_window: 1_047_576,
        max_output_tokens: 32_768,
    },
    sibling: None,
    zero_doubt: None,
    shows: &[Shows::Headers],
};

impl Provider for AzureOpenAi {
    fn facts(&self) -> &'static Facts {
        &FACTS
    }

    fn parse_usage(&self, body: &[u8], _context: &UsageContext) -> Result<Snapshot, UsageError> {
        compat::model_list(body, "Azure OpenAI")
    }

    /// OpenAI's full headers when a deployment sends them; else what is left, without a limit.
    fn header_windows(&self, headers: &HeaderMap, now: Timestamp) -> Vec<Window> {
        let full = rate_windows(headers, now);
        if !full.is_empty() {
            return full;
        }
        [
            ("requests", WindowKind::Rpm, Unit::Requests),
            ("tokens", WindowKind::Tpm, Unit::Tokens),
        ]
        .into_iter()
        .filter_map(|(what, kind, unit)| {
            let remaining = header_number(headers, &format!("x-ratelimit-remaining-{what}"))?;
            Some(Window::new(kind, unit).counts(None, None, Some(remaining)))
        })
        .collect()
    }

    fn classify(
        &self,
        status: u16,
        headers: &HeaderMap,
        body: &[u8],
        now: Timestamp,
    ) -> Classification {
        if let Some(page) = wire::html_error_page("Azure OpenAI", status, headers, body, now) {
            return page;
        }
        let message = error_message(body);
        let code = compat::error_code(body);
        let lower = message.to_ascii_lowercase();
        // `retry-after-ms`, `retry-after`, then the token reset seconds seen on 429s, then
        // "Please retry after 45 seconds".
        let wait = retry_after_header(headers, now)
            .or_else(|| {
                ["x-rate-limit-reset-tokens", "x-ratelimit-reset-tokens"]
                    .iter()
                    .find_map(|name| go_duration(header_text(headers, name)?))
            })
            .or_else(|| retry_after_in_text(&message));
        match (status, code.as_str()) {
            (429, _) if lower.contains("token rate limit") => {
                Classification::new(Cause::Tpm, &message).with_retry_after(wait)
            }
            (429, _) => Classification::new(Cause::Rpm, &message).with_retry_after(wait),
            (_, "DeploymentNotFound") => Classification::new(Cause::ClientRejected, &message)
                .with_advice(
                    "The key is fine but the resource has no deployment of that name: tell \
                     the tool the deployment's name as the model.",
                ),
            (_, "content_filter") => Classification::new(Cause::Other, &message)
                .retryable(false)
                .with_advice(
                    "Azure's content filter refused the prompt; the same request fails again.",
                ),
            (401, _) => Classification::new(Cause::AuthInvalid, &message).with_advice(
                "Key rejected: it is wrong, or for another resource than the base URL names. \
                 Check both, then `redline keys rotate`.",
            ),
            (403, _) => Classification::new(Cause::ClientRejected, &message),
            (500.., _) => Classification::new(Cause::Overloaded, &message).with_retry_after(wait),
            (408 | 409, _) => Classification::new(Cause::Other, &message).with_retry_after(wait),
            _ => Classification::new(Cause::Other, &message).retryable(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    macro_rules! fixture {
        ($name:literal) => {
            include_str!(concat!(
                "../../tests/fixtures/providers/azure-openai/",
                $name
            ))
        };
    }

    fn now() -> Timestamp {
        "2026-11-29T12:00:00Z".parse().unwrap()
    }

    fn secs(n: u64) -> Option<Duration> {
        Some(Duration::from_secs(n))
    }

    fn classify(status: u16, pairs: &[(&'static str, &str)], body: &str) -> Classification {
        AzureOpenAi.classify(status, &wire::header_map(pairs), body.as_bytes(), now())
    }

    #[test]
    fn the_key_goes_in_api_key_and_the_models_prove_it() {
        assert_eq!(AzureOpenAi.auth_style(), AuthStyle::ApiKeyHeader);
        assert_eq!(
            REGIONS[0].usage_url,
            "https://your-resource.openai.azure.com/openai/v1/models"
        );
        let context = UsageContext {
            now: now(),
            region: &REGIONS[0],
        };
        let models = fixture!("models.json");
        assert_eq!(
            AzureOpenAi.parse_usage(models.as_bytes(), &context),
            Ok(Snapshot::default())
        );
        wire::assert_truncations_are_shape_errors(&AzureOpenAi, models.trim(), now());
    }

    #[test]
    fn remaining_only_headers_show_what_is_left_without_inventing_a_limit() {
        let h = wire::header_map(&[
            ("x-ratelimit-remaining-requests", "79"),
            ("x-ratelimit-remaining-tokens", "61353"),
        ]);
        let windows = AzureOpenAi.header_windows(&h, now());
        assert_eq!(windows.len(), 2);
        assert_eq!(windows[0].kind, WindowKind::Rpm);
        assert_eq!(
            (windows[0].used, windows[0].limit, windows[0].remaining),
            (None, None, Some(79.0))
        );
        assert_eq!(windows[1].kind, WindowKind::Tpm);
        assert_eq!(windows[1].remaining, Some(61353.0));
        assert_eq!(windows[1].used_ratio(), None);

        // The -1 Azure has sent on the Responses API is no figure.
        let minus = wire::header_map(&[
            ("x-ratelimit-limit-tokens", "-1"),
            ("x-ratelimit-remaining-tokens", "-1"),
        ]);
        assert!(AzureOpenAi.header_windows(&minus, now()).is_empty());

        // Full OpenAI-style headers, when sent, are read as OpenAI's.
        let full = wire::header_map(&[
            ("x-ratelimit-limit-requests", "100"),
            ("x-ratelimit-remaining-requests", "79"),
        ]);
        let windows = AzureOpenAi.header_windows(&full, now());
        assert_eq!(
            (windows[0].used, windows[0].limit, windows[0].remaining),
            (Some(21.0), Some(100.0), Some(79.0))
        );
    }

    #[test]
    fn token_and_call_rate_limits_with_their_waits() {
        let c = classify(429, &[], fixture!("token-rate-429.json"));
        assert_eq!(c.cause, Cause::Tpm);
        assert_eq!(c.retry_after, secs(45));
        assert!(c.retryable);
        let c = classify(
            429,
            &[("retry-after-ms", "6500")],
            fixture!("call-rate-429.json"),
        );
        assert_eq!(c.cause, Cause::Rpm);
        assert_eq!(c.retry_after, Some(Duration::from_millis(6500)));
        let c = classify(
            429,
            &[("x-rate-limit-reset-tokens", "55")],
            fixture!("token-rate-429.json"),
        );
        assert_eq!(c.retry_after, secs(55));
    }

    #[test]
    fn keys_deployments_filters_and_servers() {
        let c = classify(401, &[], fixture!("invalid-key-401.json"));
        assert_eq!(c.cause, Cause::AuthInvalid);
        assert!(c.advice.contains("another resource"), "{}", c.advice);
        let c = classify(404, &[], fixture!("deployment-not-found-404.json"));
        assert_eq!(c.cause, Cause::ClientRejected);
        assert!(c.advice.contains("deployment"), "{}", c.advice);
        let filtered = r#"{"error":{"message":"The response was filtered","type":null,"param":"prompt","code":"content_filter","status":400}}"#;
        let c = classify(400, &[], filtered);
        assert_eq!(c.cause, Cause::Other);
        assert!(!c.retryable);
        assert_eq!(classify(503, &[], "{}").cause, Cause::Overloaded);
        assert!(!classify(400, &[], "{}").retryable);
    }
}
