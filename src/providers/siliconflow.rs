//! SiliconFlow, prepaid. `GET /v1/user/info` reports the account's balances as decimal strings:
//! `balance` (granted), `chargeBalance` (topped up) and `totalBalance` (their sum), CNY on the
//! `.cn` host and USD on the international `.com` one (docs/providers.md, "SiliconFlow").

use super::compat;
use super::wire::{self, field, integer, opt_number, shape};
use super::{
    AuthStyle, Facts, Models, Provider, Region, Shows, ToolPaths, UsageContext, UsageError,
};
use crate::providers::snapshot::{Balance, Snapshot};
use crate::providers::throttle::{Cause, Classification};
use crate::providers::wire::{error_message, retry_after_header, retry_after_in_text};
use http::HeaderMap;
use jiff::Timestamp;
use serde_json::Value;

pub struct SiliconFlow;

const REGIONS: &[Region] = &[
    Region {
        name: "cn",
        api_base: "https://api.siliconflow.cn/v1",
        usage_url: "https://api.siliconflow.cn/v1/user/info",
    },
    Region {
        name: "global",
        api_base: "https://api.siliconflow.com/v1",
        usage_url: "https://api.siliconflow.com/v1/user/info",
    },
];

const FACTS: Facts = Facts {
    regions: REGIONS,
    auth: AuthStyle::Bearer,
    name: "SiliconFlow",
    short_name: "SiliconFlow",
    key_hint: "A SiliconFlow API key (starts with sk-) from cloud.siliconflow.cn or \
               cloud.siliconflow.com",
    key_prefixes: &[],
    key_variables: &["SILICONFLOW_API_KEY"],
    more_hosts: &[],
    tool_paths: ToolPaths {
        openai: Some("/v1"),
        anthropic: None,
        responses: false,
    },
    models: Models {
        model: "Qwen/Qwen3-Coder-480B-A35B-Instruct",
        small_model: None,
        context_window: 262_144,
        max_output_tokens: 65_536,
    },
    sibling: None,
    zero_doubt: None,
    shows: &[Shows::Balance],
};

/// `code` of a successful answer.
const OK: i64 = 20000;

impl Provider for SiliconFlow {
    fn facts(&self) -> &'static Facts {
        &FACTS
    }

    fn parse_usage(&self, body: &[u8], context: &UsageContext) -> Result<Snapshot, UsageError> {
        let json = wire::json_object(body, "SiliconFlow user info")?;
        let code = field(&json, "code").and_then(integer);
        if json.get("status") == Some(&Value::Bool(false)) || code.is_some_and(|c| c != OK) {
            return Err(UsageError::Refused(self.classify(
                200,
                &HeaderMap::new(),
                body,
                context.now,
            )));
        }
        let data = field(&json, "data")
            .filter(|d| d.is_object())
            .ok_or_else(|| shape("the user info response has no data object"))?;
        let amount = |key: &str| opt_number(data, key, || format!("data.{key}"));
        let total = amount("totalBalance")?
            .ok_or_else(|| shape("the user info response has no data.totalBalance"))?;
        let currency = if context.region.name == "global" {
            "USD"
        } else {
            "CNY"
        };
        let balance = |kind: &str, amount: f64| Balance {
            kind: kind.into(),
            amount,
            currency: currency.into(),
        };
        let mut balances = vec![balance("total", total)];
        for (key, kind) in [("balance", "granted"), ("chargeBalance", "topped_up")] {
            if let Some(amount) = amount(key)? {
                balances.push(balance(kind, amount));
            }
        }
        Ok(Snapshot {
            balances,
            ..Snapshot::default()
        })
    }

    fn classify(
        &self,
        status: u16,
        headers: &HeaderMap,
        body: &[u8],
        now: Timestamp,
    ) -> Classification {
        let message = error_message(body);
        let lower = message.to_ascii_lowercase();
        let tokens = lower.contains("tpm") || lower.contains("token");
        match status {
            _ if broke(status, &lower) => {
                compat::prepaid_refusal("SiliconFlow", status, headers, body, now, broke)
            }
            429 if tokens => Classification::new(Cause::Tpm, &message).with_retry_after(
                retry_after_header(headers, now).or_else(|| retry_after_in_text(&message)),
            ),
            // `status:false` inside HTTP 200: the poll failed; try again later.
            200 => Classification::new(Cause::Overloaded, &message)
                .with_retry_after(retry_after_header(headers, now)),
            _ => compat::prepaid_refusal("SiliconFlow", status, headers, body, now, broke),
        }
    }
}

/// The balance is too low: HTTP 402, or SiliconFlow's words for it (code 30001).
fn broke(status: u16, lower: &str) -> bool {
    status == 402
        || lower.contains("balance is insufficient")
        || lower.contains("insufficient balance")
}

#[cfg(test)]
mod tests {
    use super::*;

    const USER_INFO: &str =
        include_str!("../../tests/fixtures/providers/siliconflow/user-info.json");
    const GRANTED_ONLY: &str =
        include_str!("../../tests/fixtures/providers/siliconflow/user-info-granted-only.json");
    const REFUSED: &str =
        include_str!("../../tests/fixtures/providers/siliconflow/refused-in-200.json");
    const INVALID: &str =
        include_str!("../../tests/fixtures/providers/siliconflow/invalid-token-401.json");

    fn now() -> Timestamp {
        "2026-11-29T12:00:00Z".parse().unwrap()
    }

    fn parse(body: &str, region: usize) -> Result<Snapshot, UsageError> {
        let context = UsageContext {
            now: now(),
            region: &REGIONS[region],
        };
        SiliconFlow.parse_usage(body.as_bytes(), &context)
    }

    fn balance(kind: &str, amount: f64, currency: &str) -> Balance {
        Balance {
            kind: kind.into(),
            amount,
            currency: currency.into(),
        }
    }

    #[test]
    fn balances_exactly_as_given_in_the_regions_currency() {
        assert_eq!(
            parse(USER_INFO, 0).unwrap().balances,
            vec![
                balance("total", 88.88, "CNY"),
                balance("granted", 0.88, "CNY"),
                balance("topped_up", 88.0, "CNY"),
            ]
        );
        let global = parse(GRANTED_ONLY, 1).unwrap();
        assert_eq!(
            global.balances,
            vec![
                balance("total", 1.5, "USD"),
                balance("granted", 1.5, "USD"),
                balance("topped_up", 0.0, "USD"),
            ]
        );
        assert!(global.windows.is_empty());
    }

    #[test]
    fn a_refusal_inside_http_200_is_no_balance() {
        match parse(REFUSED, 0) {
            Err(UsageError::Refused(c)) => {
                assert_eq!(c.cause, Cause::Overloaded);
                assert_eq!(c.message, "Internal error");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unknown_shapes_are_errors_without_the_body() {
        for body in [
            r#"{"code":20000,"status":true}"#,
            r#"{"code":20000,"status":true,"data":{"balance":"1"}}"#,
            r#"{"code":20000,"data":{"totalBalance":"private"}}"#,
            r#"{"hello":"world"}"#,
        ] {
            match parse(body, 0) {
                Err(UsageError::Shape(why)) => assert!(!why.contains("private"), "{why}"),
                other => panic!("{body}: {other:?}"),
            }
        }
        wire::assert_truncations_are_shape_errors(&SiliconFlow, USER_INFO.trim(), now());
    }

    #[test]
    fn refusals() {
        let h = HeaderMap::new();
        let c = SiliconFlow.classify(401, &h, INVALID.as_bytes(), now());
        assert_eq!(c.cause, Cause::AuthInvalid);
        assert_eq!(c.message, "Token is invalid.");
        let low = br#"{"code":30001,"message":"Sorry, your account balance is insufficient","data":null}"#;
        let c = SiliconFlow.classify(403, &h, low, now());
        assert_eq!(c.cause, Cause::QuotaExhausted);
        assert!(!c.retryable);
        let c = SiliconFlow.classify(
            429,
            &wire::header_map(&[("retry-after", "4")]),
            br#"{"message":"Request was rejected due to rate limiting."}"#,
            now(),
        );
        assert_eq!(c.cause, Cause::Rpm);
        assert_eq!(c.retry_after, Some(std::time::Duration::from_secs(4)));
        let busy = br#"{"code":50603,"message":"System is too busy now. Please try again later.","data":null}"#;
        assert_eq!(
            SiliconFlow.classify(503, &h, busy, now()).cause,
            Cause::Overloaded
        );
        assert!(!SiliconFlow.classify(400, &h, b"{}", now()).retryable);
    }
}
