//! Alibaba Cloud Model Studio's Coding Plan (Qwen): a monthly subscription whose `sk-sp-`
//! keys work only on the plan's own hosts. The plan's quota is shown in the console only; no
//! endpoint a plan key can read reports it (captures: `/v1/usage` answers 404), so Redline
//! checks the key with `GET /v1/models` and names refusals with DashScope's classifier
//! (docs/providers.md, "DashScope Coding Plan").

use super::dashscope::classify_refusal;
use super::{
    AuthStyle, Facts, Models, Provider, ProviderId, Region, ToolPaths, UsageContext, UsageError,
    compat,
};
use crate::providers::snapshot::Snapshot;
use crate::providers::throttle::Classification;
use http::HeaderMap;
use jiff::Timestamp;

pub struct DashScopeCoding;

const REGIONS: &[Region] = &[
    Region {
        name: "intl",
        api_base: "https://coding-intl.dashscope.aliyuncs.com/v1",
        usage_url: "https://coding-intl.dashscope.aliyuncs.com/v1/models",
    },
    Region {
        name: "cn",
        api_base: "https://coding.dashscope.aliyuncs.com/v1",
        usage_url: "https://coding.dashscope.aliyuncs.com/v1/models",
    },
];

const FACTS: Facts = Facts {
    regions: REGIONS,
    auth: AuthStyle::Bearer,
    name: "Alibaba Cloud Model Studio Coding Plan",
    short_name: "Qwen Coding Plan",
    key_hint: "A Coding Plan key (starts with sk-sp-) from the Coding Plan page of the Model \
               Studio console",
    key_prefixes: &["sk-sp-"],
    key_variables: &["BAILIAN_CODING_PLAN_API_KEY"],
    more_hosts: &[],
    tool_paths: ToolPaths {
        openai: Some("/v1"),
        anthropic: Some("/apps/anthropic"),
        responses: false,
    },
    models: Models {
        model: "qwen3-coder-plus",
        small_model: None,
        context_window: 1_000_000,
        max_output_tokens: 65_536,
    },
    sibling: Some(ProviderId::Dashscope),
    zero_doubt: None,
    shows: &[],
};

impl Provider for DashScopeCoding {
    fn facts(&self) -> &'static Facts {
        &FACTS
    }

    fn parse_usage(&self, body: &[u8], _context: &UsageContext) -> Result<Snapshot, UsageError> {
        compat::model_list(body, "Coding Plan")
    }

    fn classify(
        &self,
        status: u16,
        headers: &HeaderMap,
        body: &[u8],
        now: Timestamp,
    ) -> Classification {
        classify_refusal("the Qwen Coding Plan", status, headers, body, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::throttle::Cause;

    #[test]
    fn plan_hosts_keys_and_the_shared_classifier() {
        let bases: Vec<_> = REGIONS.iter().map(|r| r.api_base).collect();
        assert_eq!(
            bases,
            [
                "https://coding-intl.dashscope.aliyuncs.com/v1",
                "https://coding.dashscope.aliyuncs.com/v1"
            ]
        );
        assert_eq!(FACTS.key_prefixes, ["sk-sp-"]);
        let context = UsageContext {
            now: Timestamp::UNIX_EPOCH,
            region: &REGIONS[0],
        };
        let models = include_str!("../../tests/fixtures/providers/dashscope/models.json");
        assert_eq!(
            DashScopeCoding.parse_usage(models.as_bytes(), &context),
            Ok(Snapshot::default())
        );
        let arrears = include_str!("../../tests/fixtures/providers/dashscope/arrearage-400.json");
        let c = DashScopeCoding.classify(400, &HeaderMap::new(), arrears.as_bytes(), context.now);
        assert_eq!(c.cause, Cause::QuotaExhausted);
        assert!(
            c.advice.contains("the Qwen Coding Plan refuses"),
            "{}",
            c.advice
        );
    }
}
