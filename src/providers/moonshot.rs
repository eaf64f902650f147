//! The Moonshot open platform (`api.moonshot.ai`, `api.moonshot.cn`): pay-as-you-go Kimi models
//! billed against a prepaid balance. There is no quota window to poll, only the balance; limits
//! (concurrency, RPM, TPM, TPD) follow the account's recharge tier and are named in 429 messages.

use super::wire::{self, field, number, shape};
use super::{
    AuthStyle, Facts, Models, Provider, ProviderId, Region, Shows, ToolPaths, UsageContext,
    UsageError,
};
use crate::providers::snapshot::{Balance, Snapshot};
use crate::providers::throttle::{Cause, Classification};
use crate::providers::wire::{
    error_message, number_after, retry_after_header, retry_after_in_text,
};
use http::HeaderMap;
use jiff::Timestamp;
use serde_json::Value;

pub struct Moonshot;

const REGIONS: &[Region] = &[
    Region {
        name: "global",
        api_base: "https://api.moonshot.ai/v1",
        usage_url: "https://api.moonshot.ai/v1/users/me/balance",
    },
    Region {
        name: "cn",
        api_base: "https://api.moonshot.cn/v1",
        usage_url: "https://api.moonshot.cn/v1/users/me/balance",
    },
];

/// Concurrency limit by recharge tier (Tier0 to Tier5), from Moonshot's published table.
const TIER_CONCURRENCY: [u64; 6] = [1, 50, 100, 200, 400, 1000];

const FACTS: Facts = Facts {
    regions: REGIONS,
    auth: AuthStyle::Bearer,
    name: "Moonshot open platform",
    short_name: "Moonshot",
    key_hint: "A Moonshot open platform key (starts with sk-) from platform.moonshot.ai or platform.moonshot.cn",
    key_prefixes: &[],
    key_variables: &["MOONSHOT_API_KEY"],
    more_hosts: &[],
    tool_paths: ToolPaths {
        openai: Some("/v1"),
        anthropic: Some("/anthropic"),
        responses: false,
    },
    models: Models {
        model: "kimi-k2-0905-preview",
        small_model: None,
        context_window: 262_144,
        max_output_tokens: 16_384,
    },
    sibling: Some(ProviderId::KimiCode),
    zero_doubt: None,
    shows: &[Shows::Balance],
};

impl Provider for Moonshot {
    fn tier_concurrency(&self, tier: u64) -> Option<u64> {
        TIER_CONCURRENCY.get(usize::try_from(tier).ok()?).copied()
    }

    fn facts(&self) -> &'static Facts {
        &FACTS
    }

    fn parse_usage(&self, body: &[u8], context: &UsageContext) -> Result<Snapshot, UsageError> {
        parse_balance(body, context)
    }

    fn classify(
        &self,
        status: u16,
        headers: &HeaderMap,
        body: &[u8],
        now: Timestamp,
    ) -> Classification {
        classify(status, headers, body, now)
    }
}

/// `{"code":0,"data":{"available_balance":..,"voucher_balance":..,"cash_balance":..},"status":true}`.
fn parse_balance(body: &[u8], context: &UsageContext) -> Result<Snapshot, UsageError> {
    let json = wire::json_object(body, "Moonshot balance")?;

    let code_failed = json.get("code").and_then(number).is_some_and(|c| c != 0.0);
    let status_failed = json.get("status").and_then(Value::as_bool) == Some(false);
    if code_failed || status_failed || json.get("error").is_some_and(Value::is_object) {
        let refusal = classify(200, &HeaderMap::new(), body, context.now);
        return Err(if refusal.cause == Cause::Other {
            shape("the Moonshot balance response reports a failure without a known reason")
        } else {
            UsageError::Refused(refusal)
        });
    }

    let data = field(&json, "data")
        .filter(|d| d.is_object())
        .ok_or_else(|| shape("the Moonshot balance response has no data object"))?;
    // The body never names the currency; it follows from the platform polled.
    let currency = if context.region.name == "cn" {
        "CNY"
    } else {
        "USD"
    };
    let mut balances = Vec::new();
    for (key, kind) in [
        ("available_balance", "available"),
        ("voucher_balance", "voucher"),
        ("cash_balance", "cash"),
    ] {
        let Some(amount) = wire::opt_number(data, key, || format!("data.{key}"))? else {
            continue;
        };
        balances.push(Balance {
            kind: kind.into(),
            amount,
            currency: currency.into(),
        });
    }
    if balances.is_empty() {
        return Err(shape(
            "data has none of available_balance, voucher_balance or cash_balance",
        ));
    }
    Ok(Snapshot {
        balances,
        ..Snapshot::default()
    })
}

fn classify(status: u16, headers: &HeaderMap, body: &[u8], now: Timestamp) -> Classification {
    if let Some(page) = wire::html_error_page("Moonshot", status, headers, body, now) {
        return page;
    }
    let message = error_message(body);
    let retry_after = retry_after_header(headers, now).or_else(|| retry_after_in_text(&message));
    let json = serde_json::from_slice::<Value>(body).ok();
    let error_type = wire::error_text(json.as_ref(), "/type").unwrap_or_default();
    let lower = message.to_lowercase();
    let base = |cause| Classification::new(cause, &message).with_retry_after(retry_after);

    // The message names the exact limit (the type only names a family), so its words are read
    // before the type-and-status fallbacks.
    if error_type == "engine_overloaded_error" || lower.contains("engine is currently overloaded") {
        base(Cause::Overloaded)
    } else if lower.contains("is suspended") {
        base(Cause::QuotaExhausted).with_advice(
            "The Moonshot account is suspended; retrying will not help. \
             Check the plan and billing details in the Moonshot console.",
        )
    } else if error_type == "exceeded_current_quota_error" || lower.contains("token quota") {
        base(Cause::QuotaExhausted).with_advice(
            "The Moonshot balance is used up; retrying will not help. \
             Top up the balance in the Moonshot console.",
        )
    } else if lower.contains("max concurrency") {
        base(Cause::Concurrency).with_limit(number_after(&message, "max concurrency:"))
    } else if lower.contains("max rpm") {
        base(Cause::Rpm).with_limit(number_after(&message, "max rpm:"))
    } else if lower.contains("tpm rate limit") {
        base(Cause::Tpm).with_limit(number_after(&message, "limit:"))
    } else if lower.contains("tpd rate limit") {
        base(Cause::Tpd).with_limit(number_after(&message, "limit:"))
    } else if matches!(
        error_type,
        "invalid_authentication_error" | "incorrect_api_key_error"
    ) || status == 401
    {
        base(Cause::AuthInvalid).with_advice(
            "Key rejected by the Moonshot open platform: it is wrong or revoked. \
             A Kimi Code key is refused here too: add it with `--provider kimi-code`.",
        )
    } else if error_type == "permission_denied_error" || status == 403 {
        base(Cause::ClientRejected)
    } else if status == 429 || error_type == "rate_limit_reached_error" {
        // A rate limit whose message names none of the known ones.
        base(Cause::Rpm)
    } else if status >= 500 {
        base(Cause::Overloaded)
    } else {
        base(Cause::Other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn now() -> Timestamp {
        "2026-09-08T08:00:00Z".parse().unwrap()
    }

    fn parse_in(region: usize, body: &str) -> Result<Snapshot, UsageError> {
        let context = UsageContext {
            now: now(),
            region: &REGIONS[region],
        };
        Moonshot.parse_usage(body.as_bytes(), &context)
    }

    fn shape_error(body: &str) -> String {
        match parse_in(0, body) {
            Err(UsageError::Shape(text)) => text,
            other => panic!("expected a shape error, got {other:?}"),
        }
    }

    fn classify(status: u16, body: &str) -> Classification {
        Moonshot.classify(status, &HeaderMap::new(), body.as_bytes(), now())
    }

    fn error_body(error_type: &str, message: &str) -> String {
        serde_json::json!({"error": {"type": error_type, "message": message}}).to_string()
    }

    const DOCUMENTED: &str = r#"{"code":0,"data":{"available_balance":49.58894,"voucher_balance":46.58893,"cash_balance":3.00001},"scode":"0x0","status":true}"#;

    fn balance(kind: &str, amount: f64, currency: &str) -> Balance {
        Balance {
            kind: kind.into(),
            amount,
            currency: currency.into(),
        }
    }

    #[test]
    fn documented_balance_in_usd_on_the_global_platform() {
        let snapshot = parse_in(0, DOCUMENTED).unwrap();
        assert_eq!(
            snapshot.balances,
            vec![
                balance("available", 49.58894, "USD"),
                balance("voucher", 46.58893, "USD"),
                balance("cash", 3.00001, "USD"),
            ]
        );
        assert!(snapshot.windows.is_empty());
        assert_eq!((snapshot.plan, snapshot.concurrency_limit), (None, None));
    }

    #[test]
    fn cn_platform_balances_are_in_yuan_and_may_be_strings() {
        let snapshot = parse_in(
            1,
            r#"{"code":0,"data":{"available_balance":"12.5","voucher_balance":"0","cash_balance":"-1.25","extra":{"a":1}},"scode":"0x0","status":true,"new":1}"#,
        )
        .unwrap();
        assert_eq!(
            snapshot.balances,
            vec![
                balance("available", 12.5, "CNY"),
                balance("voucher", 0.0, "CNY"),
                balance("cash", -1.25, "CNY"),
            ]
        );
    }

    #[test]
    fn missing_balances_are_skipped() {
        let snapshot = parse_in(0, r#"{"code":0,"data":{"available_balance":5}}"#).unwrap();
        assert_eq!(snapshot.balances, vec![balance("available", 5.0, "USD")]);
    }

    #[test]
    fn failures_inside_a_2xx_body() {
        let refused = parse_in(
            0,
            r#"{"error":{"type":"invalid_authentication_error","message":"Invalid Authentication"}}"#,
        );
        match refused {
            Err(UsageError::Refused(c)) => assert_eq!(c.cause, Cause::AuthInvalid),
            other => panic!("{other:?}"),
        }
        assert!(
            shape_error(r#"{"code":5,"data":null,"scode":"0x5","status":false}"#)
                .contains("failure")
        );
        assert!(shape_error(r#"{"code":0,"status":true}"#).contains("no data"));
        assert!(shape_error(r#"{"code":0,"data":{"other":1}}"#).contains("none of"));
        assert!(
            shape_error(r#"{"code":0,"data":{"available_balance":{"v":1}}}"#)
                .contains("data.available_balance")
        );
    }

    #[test]
    fn every_truncation_of_the_documented_body_is_a_shape_error() {
        wire::assert_truncations_are_shape_errors(&Moonshot, DOCUMENTED, now());
    }

    #[test]
    fn garbage_is_a_shape_error_that_never_echoes_the_body() {
        for body in [
            "",
            r#"{"code":0,"data":{"available_balance":49.5"#,
            "<html><body>secret-ish</body></html>",
            "42",
            "\u{0}\u{1}",
        ] {
            assert!(!shape_error(body).contains("secret-ish"));
        }
    }

    #[test]
    fn engine_overloaded() {
        let c = classify(
            429,
            &error_body(
                "engine_overloaded_error",
                "The engine is currently overloaded, please try again later",
            ),
        );
        assert_eq!(c.cause, Cause::Overloaded);
        assert!(c.retryable);
        assert_eq!(c.retry_after, None);
        assert_eq!(
            c.message,
            "The engine is currently overloaded, please try again later"
        );
    }

    #[test]
    fn token_quota_exceeded_needs_a_top_up() {
        let c = classify(
            429,
            &error_body(
                "exceeded_current_quota_error",
                "You exceeded your current token quota: org-abc 0.0, please check your account balance",
            ),
        );
        assert_eq!(c.cause, Cause::QuotaExhausted);
        assert!(!c.retryable);
        assert!(c.advice.contains("Top up"), "{}", c.advice);
    }

    #[test]
    fn suspended_account_is_not_retried() {
        let c = classify(
            429,
            &error_body(
                "exceeded_current_quota_error",
                "Your account org-abc<ak-xyz> is suspended, please check your plan and billing details",
            ),
        );
        assert_eq!(c.cause, Cause::QuotaExhausted);
        assert!(!c.retryable);
        assert!(c.advice.contains("suspended") && c.advice.contains("billing"));
    }

    #[test]
    fn concurrency_limit_with_its_number_and_wait() {
        let c = classify(
            429,
            &error_body(
                "rate_limit_reached_error",
                "Your account org-abc<ak-xyz> request reached organization max concurrency: 30, please try again after 3 seconds",
            ),
        );
        assert_eq!(c.cause, Cause::Concurrency);
        assert_eq!(c.limit, Some(30));
        assert_eq!(c.retry_after, Some(Duration::from_secs(3)));
        assert!(c.retryable);
        assert!(c.advice.contains("Concurrency limit 30") && c.advice.contains("quota is fine"));
    }

    #[test]
    fn rpm_tpm_and_tpd_limits() {
        let c = classify(
            429,
            &error_body(
                "rate_limit_reached_error",
                "Your account org-abc<ak-xyz> request reached organization max RPM: 200, please try again after 1 seconds",
            ),
        );
        assert_eq!((c.cause, c.limit), (Cause::Rpm, Some(200)));
        assert_eq!(c.retry_after, Some(Duration::from_secs(1)));
        assert!(c.retryable);

        let c = classify(
            429,
            &error_body(
                "rate_limit_reached_error",
                "Your account org-abc<ak-xyz> request reached organization TPM rate limit, current:2000123, limit:2000000",
            ),
        );
        assert_eq!((c.cause, c.limit), (Cause::Tpm, Some(2_000_000)));
        assert!(c.retryable);
        assert!(c.advice.contains("Tokens-per-minute limit 2000000"));

        let c = classify(
            429,
            &error_body(
                "rate_limit_reached_error",
                "Your account org-abc<ak-xyz> request reached organization TPD rate limit, current:1500020, limit:1500000",
            ),
        );
        assert_eq!((c.cause, c.limit), (Cause::Tpd, Some(1_500_000)));
        assert!(!c.retryable);
        assert!(c.advice.contains("daily reset"));

        let c = classify(429, &error_body("rate_limit_reached_error", "slow down"));
        assert_eq!((c.cause, c.limit), (Cause::Rpm, None));
    }

    #[test]
    fn retry_after_header_wins_over_text() {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", "10".parse().unwrap());
        let body = error_body(
            "rate_limit_reached_error",
            "request reached organization max concurrency: 1, please try again after 3 seconds",
        );
        let c = Moonshot.classify(429, &headers, body.as_bytes(), now());
        assert_eq!(c.retry_after, Some(Duration::from_secs(10)));
        assert_eq!(c.limit, Some(1));
    }

    #[test]
    fn bad_keys_point_kimi_code_keys_elsewhere() {
        for error_type in ["invalid_authentication_error", "incorrect_api_key_error"] {
            let c = classify(401, &error_body(error_type, "Invalid Authentication"));
            assert_eq!(c.cause, Cause::AuthInvalid);
            assert!(!c.retryable);
            assert!(c.advice.contains("--provider kimi-code"), "{}", c.advice);
        }
        assert_eq!(classify(401, "").cause, Cause::AuthInvalid);
    }

    #[test]
    fn permission_denied_is_a_client_rejection() {
        let c = classify(
            403,
            &error_body(
                "permission_denied_error",
                "The API you are accessing is not open",
            ),
        );
        assert_eq!(c.cause, Cause::ClientRejected);
        assert!(!c.retryable);
        assert_eq!(c.message, "The API you are accessing is not open");
    }

    #[test]
    fn server_errors_and_html_pages() {
        let c = classify(502, "<!DOCTYPE html><html><body>Bad Gateway</body></html>");
        assert_eq!(c.cause, Cause::Overloaded);
        assert!(c.message.contains("HTML error page") && c.message.contains("502"));
        assert_eq!(
            classify(500, r#"{"error":{"message":"oops"}}"#).cause,
            Cause::Overloaded
        );
        assert_eq!(
            classify(
                400,
                r#"{"error":{"type":"invalid_request_error","message":"bad"}}"#
            )
            .cause,
            Cause::Other
        );
        let c = Moonshot.classify(400, &HeaderMap::new(), &[0xff, 0xfe], now());
        assert_eq!(c.cause, Cause::Other);
    }

    #[test]
    fn two_regions_global_first_with_bearer_auth() {
        let names: Vec<_> = Moonshot.regions().iter().map(|r| r.name).collect();
        assert_eq!(names, ["global", "cn"]);
        assert_eq!(
            Moonshot.regions()[1].usage_url,
            "https://api.moonshot.cn/v1/users/me/balance"
        );
        assert_eq!(Moonshot.auth_style(), AuthStyle::Bearer);
        assert_eq!(Moonshot.wrong_product_hint(), None);
    }
}
