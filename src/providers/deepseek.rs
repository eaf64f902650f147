//! DeepSeek API keys, paid from a prepaid balance. `GET /user/balance` reports, per currency,
//! the total balance split into granted (promotional) and topped-up money, as decimal strings.
//! There are no quota windows: the balance is what runs out.

use super::compat;
use super::wire::{self, number, shape};
use super::{
    AuthStyle, Facts, Models, Provider, Region, Shows, ToolPaths, UsageContext, UsageError,
};
use crate::providers::snapshot::{Balance, Snapshot};
use crate::providers::throttle::Classification;
use http::HeaderMap;
use jiff::Timestamp;
use serde_json::Value;

pub struct DeepSeek;

const REGIONS: &[Region] = &[Region {
    name: "global",
    api_base: "https://api.deepseek.com",
    usage_url: "https://api.deepseek.com/user/balance",
}];

const FACTS: Facts = Facts {
    regions: REGIONS,
    auth: AuthStyle::Bearer,
    name: "DeepSeek",
    short_name: "DeepSeek",
    key_hint: "A DeepSeek key (starts with sk-) from platform.deepseek.com",
    key_prefixes: &[],
    key_variables: &["DEEPSEEK_API_KEY"],
    more_hosts: &[],
    tool_paths: ToolPaths {
        openai: Some(""),
        anthropic: Some("/anthropic"),
        responses: false,
    },
    models: Models {
        model: "deepseek-chat",
        small_model: None,
        context_window: 128_000,
        max_output_tokens: 8_192,
    },
    sibling: None,
    zero_doubt: None,
    shows: &[Shows::Balance],
};

impl Provider for DeepSeek {
    fn facts(&self) -> &'static Facts {
        &FACTS
    }

    fn parse_usage(&self, body: &[u8], _context: &UsageContext) -> Result<Snapshot, UsageError> {
        let json = wire::json_object(body, "DeepSeek balance")?;
        let infos = json
            .get("balance_infos")
            .and_then(Value::as_array)
            .ok_or_else(|| shape("the balance response has no balance_infos list"))?;
        let mut balances = Vec::new();
        for info in infos {
            balances.extend(balances_of(info)?);
        }
        let unavailable = json.get("is_available") == Some(&Value::Bool(false));
        Ok(Snapshot {
            plan: unavailable.then(|| "no balance".to_owned()),
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
        // 400 bad format, 422 bad parameters: not retried (the same request fails again).
        compat::prepaid_refusal("DeepSeek", status, headers, body, now, |status, _| {
            status == 402
        })
    }
}

/// One `balance_infos` entry: the total, then its granted and topped-up parts when present.
fn balances_of(info: &Value) -> Result<Vec<Balance>, UsageError> {
    let currency = info
        .get("currency")
        .and_then(Value::as_str)
        .ok_or_else(|| shape("a balance_infos entry has no currency"))?;
    let total = info
        .get("total_balance")
        .and_then(number)
        .ok_or_else(|| shape("a balance_infos entry has no total_balance number"))?;
    let balance = |kind: &str, amount: f64| Balance {
        kind: kind.into(),
        amount,
        currency: currency.into(),
    };
    let mut balances = vec![balance("total", total)];
    for (key, kind) in [
        ("granted_balance", "granted"),
        ("topped_up_balance", "topped_up"),
    ] {
        if let Some(amount) = info.get(key).and_then(number) {
            balances.push(balance(kind, amount));
        }
    }
    Ok(balances)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::throttle::Cause;
    use std::time::Duration;

    fn now() -> Timestamp {
        "2026-11-29T12:00:00Z".parse().unwrap()
    }

    fn context() -> UsageContext {
        UsageContext {
            now: now(),
            region: &REGIONS[0],
        }
    }

    fn parse(body: &str) -> Result<Snapshot, UsageError> {
        DeepSeek.parse_usage(body.as_bytes(), &context())
    }

    fn classify(status: u16, pairs: &[(&'static str, &str)], body: &str) -> Classification {
        DeepSeek.classify(status, &wire::header_map(pairs), body.as_bytes(), now())
    }

    fn balance(kind: &str, amount: f64, currency: &str) -> Balance {
        Balance {
            kind: kind.into(),
            amount,
            currency: currency.into(),
        }
    }

    fn error_body(message: &str) -> String {
        serde_json::json!({"error": {"message": message, "type": "unknown_error", "param": null, "code": "invalid_request_error"}}).to_string()
    }

    #[test]
    fn identity_regions_and_auth() {
        let region = DeepSeek.regions()[0];
        assert_eq!(region.name, "global");
        assert_eq!(region.api_base, "https://api.deepseek.com");
        assert_eq!(region.usage_url, "https://api.deepseek.com/user/balance");
        assert_eq!(DeepSeek.auth_style(), AuthStyle::Bearer);
        assert!(DeepSeek.extra_headers().is_empty());
        assert!(DeepSeek.header_windows(&HeaderMap::new(), now()).is_empty());
    }

    #[test]
    fn balances_from_decimal_strings() {
        let body = r#"{"is_available":true,"balance_infos":[{"currency":"CNY","total_balance":"110.00","granted_balance":"10.00","topped_up_balance":"100.00"}]}"#;
        let snapshot = parse(body).unwrap();
        assert_eq!(
            snapshot.balances,
            vec![
                balance("total", 110.0, "CNY"),
                balance("granted", 10.0, "CNY"),
                balance("topped_up", 100.0, "CNY"),
            ]
        );
        assert_eq!(snapshot.plan, None);
        assert!(snapshot.windows.is_empty());
    }

    #[test]
    fn numbers_several_currencies_and_missing_parts() {
        let body = r#"{"is_available":true,"extra":{"x":1},"balance_infos":[
            {"currency":"USD","total_balance":2.5,"granted_balance":null,"topped_up_balance":2.5},
            {"currency":"CNY","total_balance":" 7.10 "}
        ]}"#;
        assert_eq!(
            parse(body).unwrap().balances,
            vec![
                balance("total", 2.5, "USD"),
                balance("topped_up", 2.5, "USD"),
                balance("total", 7.1, "CNY"),
            ]
        );
    }

    #[test]
    fn unavailable_accounts_keep_their_balances() {
        let body = r#"{"is_available":false,"balance_infos":[{"currency":"CNY","total_balance":"0.00","granted_balance":"0.00","topped_up_balance":"0.00"}]}"#;
        let snapshot = parse(body).unwrap();
        assert_eq!(snapshot.plan.as_deref(), Some("no balance"));
        assert_eq!(snapshot.balances.len(), 3);
        assert_eq!(snapshot.balances[0], balance("total", 0.0, "CNY"));

        let empty = parse(r#"{"is_available":false,"balance_infos":[]}"#).unwrap();
        assert_eq!(empty.plan.as_deref(), Some("no balance"));
        assert!(empty.balances.is_empty());
    }

    #[test]
    fn shape_errors_never_echo_the_body() {
        for body in [
            r#"{"is_available":true}"#,
            r#"{"is_available":true,"balance_infos":null}"#,
            r#"{"balance_infos":{"currency":"CNY"}}"#,
            r#"{"balance_infos":[{"total_balance":"1.00"}]}"#,
            r#"{"balance_infos":[{"currency":"CNY","total_balance":"private"}]}"#,
            r#"{"balance_infos":[{"currency":"CNY","total_balance":true}]}"#,
            r#"{"is_available":true,"balance_infos":[{"currency":"CN"#,
            "<html><body>private</body></html>",
            "",
        ] {
            match parse(body) {
                Err(UsageError::Shape(why)) => assert!(!why.contains("private"), "{why}"),
                other => panic!("{body}: {other:?}"),
            }
        }
        assert!(matches!(
            DeepSeek.parse_usage(b"\xff\xfe", &context()),
            Err(UsageError::Shape(_))
        ));
    }

    #[test]
    fn insufficient_balance() {
        let c = classify(402, &[], &error_body("Insufficient Balance"));
        assert_eq!(c.cause, Cause::QuotaExhausted);
        assert!(!c.retryable);
        assert_eq!(c.message, "Insufficient Balance");
        assert!(c.advice.contains("top up"), "{}", c.advice);
    }

    #[test]
    fn rate_limit() {
        let c = classify(
            429,
            &[("retry-after", "2")],
            &error_body("Rate Limit Reached"),
        );
        assert_eq!(c.cause, Cause::Rpm);
        assert!(c.retryable);
        assert_eq!(c.retry_after, Some(Duration::from_secs(2)));
        assert!(c.advice.contains("Requests-per-minute"), "{}", c.advice);
        assert_eq!(classify(429, &[], "").retry_after, None);
    }

    #[test]
    fn server_errors_are_overloaded() {
        for (status, message) in [(503, "Server Overloaded"), (500, "Server Error")] {
            let c = classify(status, &[], &error_body(message));
            assert_eq!(c.cause, Cause::Overloaded, "{status}");
            assert!(c.retryable);
            assert_eq!(c.message, message);
        }
        let page = "<!DOCTYPE html><html><body>503 Service Temporarily Unavailable</body></html>";
        let c = classify(503, &[], page);
        assert_eq!(c.cause, Cause::Overloaded);
        assert_eq!(
            c.message,
            "DeepSeek or a gateway returned an HTML error page (HTTP 503)"
        );
    }

    #[test]
    fn auth_and_bad_requests() {
        let c = classify(
            401,
            &[],
            &error_body("Authentication Fails, Your api key: ****abcd is invalid"),
        );
        assert_eq!(c.cause, Cause::AuthInvalid);
        assert!(!c.retryable);
        assert!(c.advice.contains("redline keys rotate"));

        for status in [400, 422] {
            let c = classify(status, &[], &error_body("Invalid Parameters"));
            assert_eq!(c.cause, Cause::Other, "{status}");
            assert!(!c.retryable, "{status}");
        }
    }

    #[test]
    fn never_panics_on_odd_bytes() {
        for body in [
            &b""[..],
            b"\xff",
            b"{\"error\":",
            b"{\"error\":{\"message\":7}}",
        ] {
            for status in [200, 400, 401, 402, 422, 429, 500, 503, 999] {
                let c = DeepSeek.classify(status, &HeaderMap::new(), body, now());
                assert!(!c.advice.is_empty());
            }
        }
    }
}
