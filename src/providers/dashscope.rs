//! Alibaba Cloud Model Studio (DashScope, Qwen), pay as you go. There is no usage or balance
//! endpoint an API key can read (balances live in Alibaba Cloud's signed billing API), and
//! answers carry no rate-limit headers: Redline checks the key with the OpenAI-compatible
//! model list and names refusals by DashScope's error codes (docs/providers.md, "DashScope").
//! The Coding Plan is its sibling `dashscope-coding`, which shares the classifier here.

use super::compat;
use super::{
    AuthStyle, Facts, Models, Provider, ProviderId, Region, ToolPaths, UsageContext, UsageError,
};
use crate::providers::snapshot::Snapshot;
use crate::providers::throttle::{Cause, Classification};
use crate::providers::wire::{self, error_message, retry_after_header, retry_after_in_text};
use http::HeaderMap;
use jiff::Timestamp;

pub struct DashScope;

const REGIONS: &[Region] = &[
    Region {
        name: "intl",
        api_base: "https://dashscope-intl.aliyuncs.com/compatible-mode/v1",
        usage_url: "https://dashscope-intl.aliyuncs.com/compatible-mode/v1/models",
    },
    Region {
        name: "cn",
        api_base: "https://dashscope.aliyuncs.com/compatible-mode/v1",
        usage_url: "https://dashscope.aliyuncs.com/compatible-mode/v1/models",
    },
];

const FACTS: Facts = Facts {
    regions: REGIONS,
    auth: AuthStyle::Bearer,
    name: "Alibaba Cloud Model Studio (DashScope)",
    short_name: "DashScope",
    key_hint: "A Model Studio API key (starts with sk-) from modelstudio.console.alibabacloud.com \
               (international) or bailian.console.aliyun.com (China)",
    key_prefixes: &[],
    key_variables: &["DASHSCOPE_API_KEY"],
    more_hosts: &[],
    tool_paths: ToolPaths {
        openai: Some("/compatible-mode/v1"),
        anthropic: Some("/apps/anthropic"),
        responses: false,
    },
    models: Models {
        model: "qwen3-coder-plus",
        small_model: Some("qwen-flash"),
        context_window: 1_000_000,
        max_output_tokens: 65_536,
    },
    sibling: Some(ProviderId::DashscopeCoding),
    zero_doubt: None,
    shows: &[],
};

impl Provider for DashScope {
    fn facts(&self) -> &'static Facts {
        &FACTS
    }

    fn parse_usage(&self, body: &[u8], _context: &UsageContext) -> Result<Snapshot, UsageError> {
        compat::model_list(body, "DashScope")
    }

    fn classify(
        &self,
        status: u16,
        headers: &HeaderMap,
        body: &[u8],
        now: Timestamp,
    ) -> Classification {
        classify_refusal("DashScope", status, headers, body, now)
    }
}

/// DashScope's refusals by code (compatible mode `error.code`, native API top-level `code`),
/// then by status. `who` names the product in words (DashScope, its Coding Plan).
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
    let lower = message.to_ascii_lowercase();
    match code.as_str() {
        "Arrearage" | "PrepaidBillOverdue" | "PostpaidBillOverdue" => {
            return Classification::new(Cause::QuotaExhausted, &message).with_advice(format!(
                "The Alibaba Cloud account is overdue, so {who} refuses every request and \
                 retrying will not help: pay the bill or top up, then retry."
            ));
        }
        "AllocationQuota.FreeTierOnly" => return free_quota_used_up(who, &message),
        "Throttling.AllocationQuota" if lower.contains("free") => {
            return free_quota_used_up(who, &message);
        }
        // The compatible mode's OpenAI-style code, linked to the token-limit section of the
        // error codes: a tokens-per-minute throttle, not money.
        "Throttling.AllocationQuota" | "insufficient_quota" => {
            return Classification::new(Cause::Tpm, &message).with_retry_after(wait);
        }
        "Throttling" | "Throttling.RateQuota" | "LimitRequests" | "limit_requests" => {
            return Classification::new(Cause::Rpm, &message).with_retry_after(wait);
        }
        "CommodityNotPurchased" | "AccessDenied.Unpurchased" | "Model.AccessDenied" => {
            return Classification::new(Cause::ClientRejected, &message).with_advice(format!(
                "The key is fine but {who} has not activated this model for the account: \
                 activate it in the console or use another model."
            ));
        }
        "InvalidApiKey" | "invalid_api_key" => {
            return Classification::new(Cause::AuthInvalid, &message);
        }
        "DataInspectionFailed" | "data_inspection_failed" => {
            return Classification::new(Cause::Other, &message)
                .retryable(false)
                .with_advice(format!(
                    "{who}'s content filter refused the input or output; the same request \
                     fails again."
                ));
        }
        _ => {}
    }
    match status {
        429 => Classification::new(Cause::Rpm, &message).with_retry_after(wait),
        401 => Classification::new(Cause::AuthInvalid, &message),
        403 => Classification::new(Cause::ClientRejected, &message),
        500.. => Classification::new(Cause::Overloaded, &message).with_retry_after(wait),
        408 => Classification::new(Cause::Other, &message).with_retry_after(wait),
        _ => Classification::new(Cause::Other, &message).retryable(false),
    }
}

fn free_quota_used_up(who: &str, message: &str) -> Classification {
    Classification::new(Cause::QuotaExhausted, message).with_advice(format!(
        "{who}'s free quota for this model is used up and the account allows free quota only, \
         so retrying will not help: turn off \"free quota only\" in the console or use another \
         model."
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const MODELS: &str = include_str!("../../tests/fixtures/providers/dashscope/models.json");
    const RATE_QUOTA: &str =
        include_str!("../../tests/fixtures/providers/dashscope/rate-quota-429.json");
    const TOKEN_LIMIT: &str =
        include_str!("../../tests/fixtures/providers/dashscope/token-limit-429.json");
    const FREE_QUOTA: &str =
        include_str!("../../tests/fixtures/providers/dashscope/free-quota-429.json");
    const ARREARAGE: &str =
        include_str!("../../tests/fixtures/providers/dashscope/arrearage-400.json");
    const NATIVE_ARREARAGE: &str =
        include_str!("../../tests/fixtures/providers/dashscope/native-arrearage-400.json");
    const INVALID_KEY: &str =
        include_str!("../../tests/fixtures/providers/dashscope/invalid-key-401.json");

    fn now() -> Timestamp {
        "2026-11-29T12:00:00Z".parse().unwrap()
    }

    fn classify(status: u16, pairs: &[(&'static str, &str)], body: &str) -> Classification {
        DashScope.classify(status, &wire::header_map(pairs), body.as_bytes(), now())
    }

    #[test]
    fn identity_regions_and_auth() {
        let names: Vec<_> = DashScope.regions().iter().map(|r| r.name).collect();
        assert_eq!(names, ["intl", "cn"]);
        assert_eq!(
            DashScope.regions()[1].usage_url,
            "https://dashscope.aliyuncs.com/compatible-mode/v1/models"
        );
        assert_eq!(DashScope.auth_style(), AuthStyle::Bearer);
        assert!(
            DashScope
                .header_windows(&HeaderMap::new(), now())
                .is_empty()
        );
        assert!(FACTS.shows.is_empty());
    }

    #[test]
    fn the_model_list_proves_the_key_and_holds_no_figures() {
        let context = UsageContext {
            now: now(),
            region: &REGIONS[0],
        };
        assert_eq!(
            DashScope.parse_usage(MODELS.as_bytes(), &context),
            Ok(Snapshot::default())
        );
        assert!(matches!(
            DashScope.parse_usage(br#"{"hello":"world"}"#, &context),
            Err(UsageError::Shape(_))
        ));
        wire::assert_truncations_are_shape_errors(&DashScope, MODELS.trim(), now());
    }

    #[test]
    fn rate_and_token_throttles_are_retryable() {
        let c = classify(429, &[("retry-after", "3")], RATE_QUOTA);
        assert_eq!(c.cause, Cause::Rpm);
        assert!(c.retryable);
        assert_eq!(c.retry_after, Some(Duration::from_secs(3)));
        assert_eq!(
            c.message,
            "Requests rate limit exceeded, please try again later."
        );

        let c = classify(429, &[], TOKEN_LIMIT);
        assert_eq!(c.cause, Cause::Tpm);
        assert!(c.retryable);

        let native =
            r#"{"code":"Throttling","message":"Requests throttling triggered.","request_id":"r"}"#;
        assert_eq!(classify(429, &[], native).cause, Cause::Rpm);
        let alloc = r#"{"code":"Throttling.AllocationQuota","message":"Allocated quota exceeded, please increase your quota limit.","request_id":"r"}"#;
        assert_eq!(classify(429, &[], alloc).cause, Cause::Tpm);
    }

    #[test]
    fn used_up_free_quota_and_overdue_accounts_are_not_retried() {
        let c = classify(429, &[], FREE_QUOTA);
        assert_eq!(c.cause, Cause::QuotaExhausted);
        assert!(!c.retryable);
        assert!(c.advice.contains("free quota only"), "{}", c.advice);

        for body in [ARREARAGE, NATIVE_ARREARAGE] {
            let c = classify(400, &[], body);
            assert_eq!(c.cause, Cause::QuotaExhausted);
            assert!(!c.retryable);
            assert!(c.advice.contains("overdue"), "{}", c.advice);
            assert!(c.message.starts_with("Access denied, please make sure"));
        }
        let bill = r#"{"code":"PrepaidBillOverdue","message":"The prepaid bill is overdue."}"#;
        assert_eq!(classify(429, &[], bill).cause, Cause::QuotaExhausted);
    }

    #[test]
    fn keys_models_filters_and_servers() {
        let c = classify(401, &[], INVALID_KEY);
        assert_eq!(c.cause, Cause::AuthInvalid);
        assert_eq!(c.message, "Incorrect API key provided.");
        let native = r#"{"code":"InvalidApiKey","message":"Invalid API-key provided."}"#;
        assert_eq!(classify(401, &[], native).cause, Cause::AuthInvalid);

        let c = classify(
            403,
            &[],
            r#"{"code":"AccessDenied.Unpurchased","message":"Access to model denied. Please make sure you are eligible for using the model."}"#,
        );
        assert_eq!(c.cause, Cause::ClientRejected);
        assert!(c.advice.contains("activated"), "{}", c.advice);

        let c = classify(
            400,
            &[],
            r#"{"code":"DataInspectionFailed","message":"Input or output data may contain inappropriate content."}"#,
        );
        assert_eq!(c.cause, Cause::Other);
        assert!(!c.retryable);

        let c = classify(
            503,
            &[],
            r#"{"code":"ModelUnavailable","message":"Model is unavailable, please try again later."}"#,
        );
        assert_eq!(c.cause, Cause::Overloaded);
        assert!(c.retryable);
        let page = "<html><head><title>502 Bad Gateway</title></head></html>";
        assert_eq!(
            classify(502, &[], page).message,
            "DashScope or a gateway returned an HTML error page (HTTP 502)"
        );
        assert_eq!(classify(429, &[], "").cause, Cause::Rpm);
        assert!(!classify(400, &[], "{}").retryable);
    }
}
