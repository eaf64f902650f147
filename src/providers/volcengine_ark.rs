//! Volcano Engine Ark (Doubao), pay as you go. Balances and usage are only in Volcano Engine's
//! AK/SK-signed OpenAPI, not readable with an Ark API key, and answers carry no rate-limit
//! headers: Redline checks the key with `GET /api/v3/models` and names refusals by Ark's error
//! codes (docs/providers.md, "Volcano Engine Ark"). The Coding Plan is its sibling
//! `volcengine-ark-coding`, which shares the classifier here.

use super::compat;
use super::{
    AuthStyle, Facts, Models, Provider, ProviderId, Region, ToolPaths, UsageContext, UsageError,
};
use crate::providers::snapshot::Snapshot;
use crate::providers::throttle::{Cause, Classification};
use crate::providers::wire::{self, error_message, retry_after_header, retry_after_in_text};
use http::HeaderMap;
use jiff::Timestamp;

pub struct VolcengineArk;

const REGIONS: &[Region] = &[Region {
    name: "cn-beijing",
    api_base: "https://ark.cn-beijing.volces.com/api/v3",
    usage_url: "https://ark.cn-beijing.volces.com/api/v3/models",
}];

const FACTS: Facts = Facts {
    regions: REGIONS,
    auth: AuthStyle::Bearer,
    name: "Volcano Engine Ark (Doubao)",
    short_name: "Ark",
    key_hint: "An Ark API key from console.volcengine.com/ark (API Key management)",
    key_prefixes: &[],
    key_variables: &["ARK_API_KEY"],
    more_hosts: &[],
    tool_paths: ToolPaths {
        openai: Some("/api/v3"),
        anthropic: None,
        responses: false,
    },
    models: Models {
        model: "doubao-seed-1-6-250615",
        small_model: None,
        context_window: 256_000,
        max_output_tokens: 32_768,
    },
    sibling: Some(ProviderId::VolcengineArkCoding),
    zero_doubt: None,
    shows: &[],
};

impl Provider for VolcengineArk {
    fn facts(&self) -> &'static Facts {
        &FACTS
    }

    fn parse_usage(&self, body: &[u8], _context: &UsageContext) -> Result<Snapshot, UsageError> {
        compat::model_list(body, "Ark")
    }

    fn classify(
        &self,
        status: u16,
        headers: &HeaderMap,
        body: &[u8],
        now: Timestamp,
    ) -> Classification {
        classify_refusal("Ark", status, headers, body, now)
    }
}

/// Ark's refusals by `error.code`, then by status. `who` names the product in words.
pub(super) fn classify_refusal(
    who: &str,
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    now: Timestamp,
) -> Classification {
    if let Some(page) = wire::html_error_page(who, status, headers, body, now) {
        return page;
    }
    let message = error_message(body);
    let code = compat::error_code(body);
    let wait = retry_after_header(headers, now).or_else(|| retry_after_in_text(&message));
    let rate = |cause| Classification::new(cause, &message).with_retry_after(wait);
    match code.as_str() {
        "RateLimitExceeded.EndpointTPMExceeded"
        | "RateLimitExceeded.EndpointFlexTPMExceeded"
        | "RateLimitExceeded.FoundationModelTPMExceeded"
        | "ModelAccountTpmRateLimitExceeded"
        | "ModelAccountFlexTpmRateLimitExceeded" => return rate(Cause::Tpm),
        "RateLimitExceeded.FoundationModelTPDExceeded" => {
            return Classification::new(Cause::Tpd, &message).with_retry_after(wait);
        }
        "RateLimitExceeded.EndpointRPMExceeded"
        | "RateLimitExceeded.FoundationModelRPMExceeded"
        | "ModelAccountRpmRateLimitExceeded"
        | "APIAccountRpmRateLimitExceeded"
        | "AccountRateLimitExceeded"
        | "RequestBurstTooFast"
        | "TooManyRequests" => return rate(Cause::Rpm),
        "InflightBatchsizeExceeded" => return rate(Cause::Concurrency),
        "ServerOverloaded" => return rate(Cause::Overloaded),
        "SetLimitExceeded" => {
            return Classification::new(Cause::SpendCap, &message).with_advice(format!(
                "The model's safe-experience limit set on the {who} account is reached; \
                 retrying will not help: raise or turn off the limit in the console."
            ));
        }
        "AccountOverdueError" | "OperationDenied.ServiceOverdue" => {
            return Classification::new(Cause::QuotaExhausted, &message).with_advice(format!(
                "The Volcano Engine account is overdue, so {who} refuses every request and \
                 retrying will not help: top up the account, then retry."
            ));
        }
        "AuthenticationError" | "InvalidApiKey" | "InvalidAPIKey" => {
            return Classification::new(Cause::AuthInvalid, &message);
        }
        "ModelNotOpen" | "OperationDenied.ServiceNotOpen" | "AccessDenied" => {
            return Classification::new(Cause::ClientRejected, &message).with_advice(format!(
                "The key is fine but {who} has not opened this model or endpoint for the \
                 account: activate it in the console or use another model."
            ));
        }
        _ if code.starts_with("QuotaExceeded") => {
            return Classification::new(Cause::QuotaExhausted, &message);
        }
        _ => {}
    }
    match status {
        429 => rate(Cause::Rpm),
        401 => Classification::new(Cause::AuthInvalid, &message),
        403 => Classification::new(Cause::ClientRejected, &message),
        500.. => rate(Cause::Overloaded),
        _ => Classification::new(Cause::Other, &message).retryable(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    macro_rules! fixture {
        ($name:literal) => {
            include_str!(concat!(
                "../../tests/fixtures/providers/volcengine-ark/",
                $name
            ))
        };
    }

    fn now() -> Timestamp {
        "2026-11-29T12:00:00Z".parse().unwrap()
    }

    fn classify(status: u16, pairs: &[(&'static str, &str)], body: &str) -> Classification {
        VolcengineArk.classify(status, &wire::header_map(pairs), body.as_bytes(), now())
    }

    #[test]
    fn identity_and_the_model_list_key_check() {
        assert_eq!(
            REGIONS[0].usage_url,
            "https://ark.cn-beijing.volces.com/api/v3/models"
        );
        let context = UsageContext {
            now: now(),
            region: &REGIONS[0],
        };
        let models = fixture!("models.json");
        assert_eq!(
            VolcengineArk.parse_usage(models.as_bytes(), &context),
            Ok(Snapshot::default())
        );
        wire::assert_truncations_are_shape_errors(&VolcengineArk, models.trim(), now());
    }

    #[test]
    fn endpoint_limits_name_their_window() {
        let c = classify(
            429,
            &[("retry-after", "5")],
            fixture!("endpoint-rpm-429.json"),
        );
        assert_eq!(c.cause, Cause::Rpm);
        assert!(c.retryable);
        assert_eq!(c.retry_after, Some(Duration::from_secs(5)));
        assert!(c.message.contains("Requests Per Minute (RPM) limit"));
        assert_eq!(
            classify(429, &[], fixture!("endpoint-tpm-429.json")).cause,
            Cause::Tpm
        );
        let c = classify(429, &[], fixture!("server-overloaded-429.json"));
        assert_eq!(c.cause, Cause::Overloaded);
        assert!(c.retryable);
        let inflight = r#"{"error":{"code":"InflightBatchsizeExceeded","message":"too many in flight","type":"TooManyRequests"}}"#;
        assert_eq!(classify(429, &[], inflight).cause, Cause::Concurrency);
        let tpd =
            r#"{"error":{"code":"RateLimitExceeded.FoundationModelTPDExceeded","message":"x"}}"#;
        assert_eq!(classify(429, &[], tpd).cause, Cause::Tpd);
    }

    #[test]
    fn quota_overdue_and_limits_are_not_retried() {
        let c = classify(429, &[], fixture!("quota-exceeded-429.json"));
        assert_eq!(c.cause, Cause::QuotaExhausted);
        assert!(!c.retryable);
        let plan = r#"{"error":{"code":"QuotaExceeded.AgentPlanQuotaExceeded","message":"x"}}"#;
        assert_eq!(classify(429, &[], plan).cause, Cause::QuotaExhausted);
        let c = classify(403, &[], fixture!("account-overdue-403.json"));
        assert_eq!(c.cause, Cause::QuotaExhausted);
        assert!(c.advice.contains("overdue"), "{}", c.advice);
        let set = r#"{"error":{"code":"SetLimitExceeded","message":"x"}}"#;
        assert_eq!(classify(429, &[], set).cause, Cause::SpendCap);
    }

    #[test]
    fn keys_models_and_servers() {
        let c = classify(401, &[], fixture!("invalid-key-401.json"));
        assert_eq!(c.cause, Cause::AuthInvalid);
        assert!(!c.retryable);
        let closed = r#"{"error":{"code":"ModelNotOpen","message":"Your account has not activated the model service."}}"#;
        assert_eq!(classify(404, &[], closed).cause, Cause::ClientRejected);
        assert_eq!(classify(500, &[], "{}").cause, Cause::Overloaded);
        assert_eq!(classify(429, &[], "").cause, Cause::Rpm);
        assert!(!classify(400, &[], "{}").retryable);
    }
}
