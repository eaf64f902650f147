//! Volcano Engine Ark's Coding Plan: a subscription used with the Ark API key on the plan's
//! own paths (`/api/coding/v3` OpenAI-style, `/api/coding` Anthropic-style). No endpoint an
//! API key can read reports the plan's quota, so Redline checks the key with Ark's
//! `GET /api/v3/models` and names refusals with Ark's classifier (docs/providers.md,
//! "Volcano Engine Ark Coding Plan").

use super::volcengine_ark::classify_refusal;
use super::{
    AuthStyle, Facts, Models, Provider, ProviderId, Region, ToolPaths, UsageContext, UsageError,
    compat,
};
use crate::providers::snapshot::Snapshot;
use crate::providers::throttle::Classification;
use http::HeaderMap;
use jiff::Timestamp;

pub struct VolcengineArkCoding;

const REGIONS: &[Region] = &[Region {
    name: "cn-beijing",
    api_base: "https://ark.cn-beijing.volces.com/api/coding/v3",
    usage_url: "https://ark.cn-beijing.volces.com/api/v3/models",
}];

const FACTS: Facts = Facts {
    regions: REGIONS,
    auth: AuthStyle::Bearer,
    name: "Volcano Engine Ark Coding Plan",
    short_name: "Ark Coding Plan",
    key_hint: "The Ark API key of the account with the Coding Plan, from console.volcengine.com/ark",
    key_prefixes: &[],
    key_variables: &["ARK_API_KEY"],
    more_hosts: &[],
    tool_paths: ToolPaths {
        openai: Some("/api/coding/v3"),
        anthropic: Some("/api/coding"),
        responses: false,
    },
    models: Models {
        model: "doubao-seed-code-preview-251028",
        small_model: None,
        context_window: 256_000,
        max_output_tokens: 32_768,
    },
    sibling: Some(ProviderId::VolcengineArk),
    zero_doubt: None,
    shows: &[],
};

impl Provider for VolcengineArkCoding {
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
        classify_refusal("the Ark Coding Plan", status, headers, body, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::throttle::Cause;

    #[test]
    fn plan_paths_and_the_shared_classifier() {
        assert_eq!(FACTS.tool_paths.openai, Some("/api/coding/v3"));
        assert_eq!(FACTS.tool_paths.anthropic, Some("/api/coding"));
        let plan = br#"{"error":{"code":"QuotaExceeded.AgentPlanQuotaExceeded","message":"x"}}"#;
        let c = VolcengineArkCoding.classify(429, &HeaderMap::new(), plan, Timestamp::UNIX_EPOCH);
        assert_eq!(c.cause, Cause::QuotaExhausted);
        assert!(!c.retryable);
    }
}
