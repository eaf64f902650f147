//! Novita AI, prepaid. `GET /v3/user/balance` reports the account's money in units of 0.0001
//! USD: `availableBalance` (what can be spent), `cashBalance`, `creditLimit`,
//! `outstandingInvoices` (docs/providers.md, "Novita AI").

use super::compat;
use super::wire::{self, opt_number, shape};
use super::{
    AuthStyle, Facts, Models, Provider, Region, Shows, ToolPaths, UsageContext, UsageError,
};
use crate::providers::snapshot::{Balance, Snapshot};
use crate::providers::throttle::Classification;
use http::HeaderMap;
use jiff::Timestamp;

pub struct Novita;

const REGIONS: &[Region] = &[Region {
    name: "global",
    api_base: "https://api.novita.ai/v3/openai",
    usage_url: "https://api.novita.ai/v3/user/balance",
}];

const FACTS: Facts = Facts {
    regions: REGIONS,
    auth: AuthStyle::Bearer,
    name: "Novita AI",
    short_name: "Novita",
    key_hint: "A Novita AI API key from novita.ai/settings/key-management",
    key_prefixes: &[],
    key_variables: &["NOVITA_API_KEY"],
    more_hosts: &[],
    tool_paths: ToolPaths {
        openai: Some("/v3/openai"),
        anthropic: None,
        responses: false,
    },
    models: Models {
        model: "deepseek/deepseek-v3-0324",
        small_model: None,
        context_window: 163_840,
        max_output_tokens: 16_384,
    },
    sibling: None,
    zero_doubt: None,
    shows: &[Shows::Balance],
};

/// Novita's amounts are in ten-thousandths of a dollar.
const UNITS_PER_USD: f64 = 10_000.0;

impl Provider for Novita {
    fn facts(&self) -> &'static Facts {
        &FACTS
    }

    fn parse_usage(&self, body: &[u8], _context: &UsageContext) -> Result<Snapshot, UsageError> {
        let json = wire::json_object(body, "Novita balance")?;
        let amount = |key: &str| {
            opt_number(&json, key, || key.to_owned())
                .map(|units| units.map(|units| units / UNITS_PER_USD))
        };
        let available = amount("availableBalance")?
            .ok_or_else(|| shape("the balance response has no availableBalance"))?;
        let usd = |kind: &str, amount: f64| Balance {
            kind: kind.into(),
            amount,
            currency: "USD".into(),
        };
        let mut balances = vec![usd("available", available)];
        if let Some(cash) = amount("cashBalance")? {
            balances.push(usd("cash", cash));
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
        compat::prepaid_refusal("Novita", status, headers, body, now, |status, lower| {
            status == 402 || lower.contains("balance")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::throttle::Cause;

    const BALANCE: &str = include_str!("../../tests/fixtures/providers/novita/balance.json");
    const NUMBERS: &str =
        include_str!("../../tests/fixtures/providers/novita/balance-numbers.json");

    fn now() -> Timestamp {
        "2026-11-29T12:00:00Z".parse().unwrap()
    }

    fn parse(body: &str) -> Result<Snapshot, UsageError> {
        let context = UsageContext {
            now: now(),
            region: &REGIONS[0],
        };
        Novita.parse_usage(body.as_bytes(), &context)
    }

    fn usd(kind: &str, amount: f64) -> Balance {
        Balance {
            kind: kind.into(),
            amount,
            currency: "USD".into(),
        }
    }

    #[test]
    fn ten_thousandths_become_dollars_exactly() {
        assert_eq!(
            parse(BALANCE).unwrap().balances,
            vec![usd("available", 12.3456), usd("cash", 10.3456)]
        );
        assert_eq!(
            parse(NUMBERS).unwrap().balances,
            vec![usd("available", 0.0), usd("cash", -0.25)]
        );
        assert!(parse(BALANCE).unwrap().windows.is_empty());
    }

    #[test]
    fn unknown_shapes_are_errors_without_the_body() {
        for body in [
            r#"{"cashBalance":"1"}"#,
            r#"{"availableBalance":"private"}"#,
            r#"{"availableBalance":"1","cashBalance":true}"#,
            r#"{"hello":"world"}"#,
        ] {
            match parse(body) {
                Err(UsageError::Shape(why)) => assert!(!why.contains("private"), "{why}"),
                other => panic!("{body}: {other:?}"),
            }
        }
        wire::assert_truncations_are_shape_errors(&Novita, BALANCE.trim(), now());
    }

    #[test]
    fn refusals() {
        let h = HeaderMap::new();
        assert_eq!(
            Novita
                .classify(401, &h, br#"{"message":"invalid api key"}"#, now())
                .cause,
            Cause::AuthInvalid
        );
        let c = Novita.classify(403, &h, br#"{"message":"Not enough balance"}"#, now());
        assert_eq!(c.cause, Cause::QuotaExhausted);
        assert!(!c.retryable);
        let c = Novita.classify(
            429,
            &wire::header_map(&[("retry-after", "2")]),
            br#"{"message":"rate limit exceeded"}"#,
            now(),
        );
        assert_eq!(c.cause, Cause::Rpm);
        assert_eq!(c.retry_after, Some(std::time::Duration::from_secs(2)));
        assert_eq!(
            Novita.classify(502, &h, b"", now()).cause,
            Cause::Overloaded
        );
    }
}
