//! StepFun (Step models), prepaid. `GET /v1/accounts` reports the balance with its cash and
//! voucher parts, in CNY (docs/providers.md, "StepFun").

use super::compat;
use super::wire::{self, opt_number, shape};
use super::{
    AuthStyle, Facts, Models, Provider, Region, Shows, ToolPaths, UsageContext, UsageError,
};
use crate::providers::snapshot::{Balance, Snapshot};
use crate::providers::throttle::Classification;
use http::HeaderMap;
use jiff::Timestamp;

pub struct StepFun;

const REGIONS: &[Region] = &[Region {
    name: "cn",
    api_base: "https://api.stepfun.com/v1",
    usage_url: "https://api.stepfun.com/v1/accounts",
}];

const FACTS: Facts = Facts {
    regions: REGIONS,
    auth: AuthStyle::Bearer,
    name: "StepFun",
    short_name: "StepFun",
    key_hint: "A StepFun API key from platform.stepfun.com",
    key_prefixes: &[],
    key_variables: &["STEPFUN_API_KEY"],
    more_hosts: &[],
    tool_paths: ToolPaths {
        openai: Some("/v1"),
        anthropic: None,
        responses: false,
    },
    models: Models {
        model: "step-3",
        small_model: None,
        context_window: 65_536,
        max_output_tokens: 8_192,
    },
    sibling: None,
    zero_doubt: None,
    shows: &[Shows::Balance],
};

impl Provider for StepFun {
    fn facts(&self) -> &'static Facts {
        &FACTS
    }

    fn parse_usage(&self, body: &[u8], _context: &UsageContext) -> Result<Snapshot, UsageError> {
        let json = wire::json_object(body, "StepFun accounts")?;
        let mut balances = Vec::new();
        for (key, kind, required) in [
            ("balance", "total", true),
            ("total_cash_balance", "cash", false),
            ("total_voucher_balance", "voucher", false),
        ] {
            let amount = opt_number(&json, key, || key.to_owned())?;
            match amount {
                Some(amount) => balances.push(Balance {
                    kind: kind.into(),
                    amount,
                    currency: "CNY".into(),
                }),
                None if required => {
                    return Err(shape("the accounts response has no balance"));
                }
                None => {}
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
        compat::prepaid_refusal("StepFun", status, headers, body, now, |status, lower| {
            status == 402 || lower.contains("insufficient")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::throttle::Cause;

    const ACCOUNTS: &str = include_str!("../../tests/fixtures/providers/stepfun/accounts.json");

    fn now() -> Timestamp {
        "2026-11-29T12:00:00Z".parse().unwrap()
    }

    fn parse(body: &str) -> Result<Snapshot, UsageError> {
        let context = UsageContext {
            now: now(),
            region: &REGIONS[0],
        };
        StepFun.parse_usage(body.as_bytes(), &context)
    }

    fn cny(kind: &str, amount: f64) -> Balance {
        Balance {
            kind: kind.into(),
            amount,
            currency: "CNY".into(),
        }
    }

    #[test]
    fn the_balance_and_its_parts_exactly() {
        assert_eq!(
            parse(ACCOUNTS).unwrap().balances,
            vec![cny("total", 100.5), cny("cash", 90.5), cny("voucher", 10.0)]
        );
        assert_eq!(
            parse(r#"{"balance":0}"#).unwrap().balances,
            vec![cny("total", 0.0)]
        );
    }

    #[test]
    fn unknown_shapes_are_errors_without_the_body() {
        for body in [
            r#"{"object":"account"}"#,
            r#"{"balance":"private"}"#,
            r#"{"balance":1,"total_cash_balance":[1]}"#,
        ] {
            match parse(body) {
                Err(UsageError::Shape(why)) => assert!(!why.contains("private"), "{why}"),
                other => panic!("{body}: {other:?}"),
            }
        }
        wire::assert_truncations_are_shape_errors(&StepFun, ACCOUNTS.trim(), now());
    }

    #[test]
    fn refusals() {
        let h = HeaderMap::new();
        let c = StepFun.classify(
            402,
            &h,
            br#"{"error":{"message":"insufficient balance"}}"#,
            now(),
        );
        assert_eq!(c.cause, Cause::QuotaExhausted);
        assert!(c.advice.contains("StepFun balance"), "{}", c.advice);
        assert_eq!(
            StepFun.classify(401, &h, b"{}", now()).cause,
            Cause::AuthInvalid
        );
        assert_eq!(StepFun.classify(429, &h, b"{}", now()).cause, Cause::Rpm);
    }
}
