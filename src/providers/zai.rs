//! Z.ai / Zhipu GLM Coding Plan (`api.z.ai`, `open.bigmodel.cn`): a subscription with a 5-hour
//! token window and a monthly allowance of tool (web search / MCP) calls. The usage endpoint takes
//! the raw key in `Authorization` and reports refusals inside HTTP 200 bodies
//! (`{"code":1001,"success":false,"msg":"Authorization Token Missing"}`).

use super::wire::{self, field, integer, shape};
use super::{
    AuthStyle, Facts, Models, Provider, Region, Shows, ToolPaths, UsageContext, UsageError,
};
use crate::providers::snapshot::{Snapshot, Unit, Window, WindowKind};
use crate::providers::throttle::{Cause, Classification};
use crate::providers::wire::{error_message, retry_after_header, retry_after_in_text};
use http::HeaderMap;
use jiff::Timestamp;
use serde_json::Value;

pub struct Zai;

const REGIONS: &[Region] = &[
    Region {
        name: "global",
        api_base: "https://api.z.ai/api/coding/paas/v4",
        usage_url: "https://api.z.ai/api/monitor/usage/quota/limit",
    },
    Region {
        name: "cn",
        api_base: "https://open.bigmodel.cn/api/coding/paas/v4",
        usage_url: "https://open.bigmodel.cn/api/monitor/usage/quota/limit",
    },
];

const FACTS: Facts = Facts {
    regions: REGIONS,
    auth: AuthStyle::RawAuthorization,
    name: "Z.ai GLM coding plan",
    short_name: "Z.ai",
    key_hint: "A Z.ai key from z.ai → API keys (the GLM coding plan key)",
    key_prefixes: &[],
    key_variables: &["ZAI_API_KEY", "ZHIPUAI_API_KEY"],
    more_hosts: &[],
    tool_paths: ToolPaths {
        openai: Some("/api/coding/paas/v4"),
        anthropic: Some("/api/anthropic"),
        responses: false,
    },
    models: Models {
        model: "glm-4.6",
        small_model: Some("glm-4.5-air"),
        context_window: 200_000,
        max_output_tokens: 32_768,
    },
    sibling: None,
    zero_doubt: None,
    shows: &[Shows::Windows],
};

impl Provider for Zai {
    fn facts(&self) -> &'static Facts {
        &FACTS
    }

    fn parse_usage(&self, body: &[u8], context: &UsageContext) -> Result<Snapshot, UsageError> {
        parse_usage(body, context.now)
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

/// `{"code":200,"success":true,"data":{"level":"pro","limits":[...]}}`.
fn parse_usage(body: &[u8], now: Timestamp) -> Result<Snapshot, UsageError> {
    let json = wire::json_object(body, "Z.ai usage")?;
    let refused = json.get("success").and_then(Value::as_bool) == Some(false)
        || body_code(&json).is_some_and(|code| code != 200 && code != 0)
        || json.get("error").is_some_and(Value::is_object);
    if refused {
        return Err(UsageError::Refused(classify(
            200,
            &HeaderMap::new(),
            body,
            now,
        )));
    }

    let data = field(&json, "data")
        .filter(|d| d.is_object())
        .ok_or_else(|| shape("the Z.ai usage response has no data object"))?;
    let limits = field(data, "limits")
        .and_then(Value::as_array)
        .ok_or_else(|| shape("data.limits is missing or not a list"))?;
    let mut windows = Vec::new();
    for limit in limits {
        if let Some(window) = limit_window(limit)? {
            windows.push(window);
        }
    }
    if windows.is_empty() {
        return Err(shape(
            "data.limits has no TOKENS_LIMIT, TIME_LIMIT or CREDIT_LIMIT entry Redline can read",
        ));
    }
    Ok(Snapshot {
        plan: field(data, "level")
            .and_then(Value::as_str)
            .and_then(title_case),
        windows,
        ..Snapshot::default()
    })
}

/// One `limits[]` entry; `None` for a type or time unit Redline does not know (skipped, not
/// guessed).
fn limit_window(limit: &Value) -> Result<Option<Window>, UsageError> {
    let Some(kind) = limit_kind(limit)? else {
        return Ok(None);
    };
    let resets_at = opt_number(limit, "nextResetTime")?
        .map(|ms| {
            Timestamp::from_millisecond(ms as i64)
                .map_err(|_| shape("a limits entry's nextResetTime is out of range"))
        })
        .transpose()?;
    let percentage = opt_number(limit, "percentage")?;
    let window = match field(limit, "type").and_then(Value::as_str) {
        Some("TOKENS_LIMIT") => {
            let used = percentage.ok_or_else(|| shape("a TOKENS_LIMIT entry has no percentage"))?;
            Window::percent(kind, used).scope("tokens")
        }
        // Tool calls (web search, MCP): counts, or only a percentage when the counts are missing.
        Some("TIME_LIMIT") => {
            counted(limit, kind, Unit::Requests, percentage, "TIME_LIMIT")?.scope("tools")
        }
        // Credit plans (2026-07): capacity in `usage`, spent in `currentValue`, left in
        // `remaining`; `percentage` is rounded, so the counts win when they are there.
        Some("CREDIT_LIMIT") => {
            counted(limit, kind, Unit::Credits, percentage, "CREDIT_LIMIT")?.scope("credits")
        }
        _ => return Ok(None),
    };
    Ok(Some(window.resets_at(resets_at)))
}

/// A window from `usage` (capacity), `currentValue` (spent) and `remaining`, or only the
/// percentage when the counts are missing.
fn counted(
    limit: &Value,
    kind: WindowKind,
    unit: Unit,
    percentage: Option<f64>,
    what: &str,
) -> Result<Window, UsageError> {
    let used = opt_number(limit, "currentValue")?;
    let total = opt_number(limit, "usage")?;
    let remaining = opt_number(limit, "remaining")?;
    if total.is_some() && (used.is_some() || remaining.is_some()) {
        Ok(Window::new(kind, unit).counts(used, total, remaining))
    } else if let Some(used) = percentage {
        Ok(Window::percent(kind, used))
    } else {
        Err(shape(format!(
            "a {what} entry has neither usage counts nor a percentage"
        )))
    }
}

/// `unit` 3 = hours, 6 = weeks, 5 = months; `number` of them (1 when missing).
fn limit_kind(limit: &Value) -> Result<Option<WindowKind>, UsageError> {
    let number = opt_number(limit, "number")?.unwrap_or(1.0);
    let unit = opt_number(limit, "unit")?.filter(|unit| unit.fract() == 0.0);
    let kind = match unit.map(|unit| unit as i64) {
        Some(3) if number <= 5.0 => WindowKind::FiveHour,
        Some(3) if number <= 24.0 => WindowKind::Daily,
        Some(3) if number <= 7.0 * 24.0 => WindowKind::Weekly,
        Some(3) => WindowKind::Monthly,
        Some(6) => WindowKind::Weekly,
        Some(5) => WindowKind::Monthly,
        _ => return Ok(None),
    };
    Ok(Some(kind))
}

fn classify(status: u16, headers: &HeaderMap, body: &[u8], now: Timestamp) -> Classification {
    if let Some(page) = wire::html_error_page("Z.ai", status, headers, body, now) {
        return page;
    }
    let message = error_message(body);
    let retry_after = retry_after_header(headers, now).or_else(|| retry_after_in_text(&message));
    let code = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|json| body_code(&json));
    let (cause, advice) = code
        .and_then(cause_of_code)
        .or_else(|| cause_of_words(&message.to_lowercase()))
        .unwrap_or(match status {
            401 => (Cause::AuthInvalid, None),
            429 => (Cause::Rpm, None),
            500..=599 => (Cause::Overloaded, None),
            _ => (Cause::Other, None),
        });
    let classification = Classification::new(cause, &message).with_retry_after(retry_after);
    match advice {
        Some(advice) => classification.with_advice(advice),
        None => classification,
    }
}

const TOP_UP: &str = "The Z.ai account balance is used up (in arrears); retrying will not help. \
     Top up in the Z.ai console.";
const RENEW: &str = "The GLM Coding Plan has expired; retrying will not help. Renew the plan.";

/// Z.ai's business codes. docs/providers.md, "Z.ai GLM Coding Plan", lists them; the rest follow Zhipu's public error-code
/// table (docs.bigmodel.cn/cn/api/api-code) and are mapped on a best-effort basis.
fn cause_of_code(code: i64) -> Option<(Cause, Option<&'static str>)> {
    let cause = match code {
        1000..=1004 => Cause::AuthInvalid,
        1113 => return Some((Cause::QuotaExhausted, Some(TOP_UP))),
        1302 => Cause::Concurrency,
        1303 => Cause::Rpm,
        // "This API has reached today's call limit".
        1304 => Cause::Tpd,
        // 1305 "traffic limit triggered" and 1312 "model busy" are platform-wide, 500 internal.
        500 | 1305 | 1312 => Cause::Overloaded,
        // 1308 "usage limit of N units reached", 1310 weekly / monthly limit reached.
        1308 | 1310 => Cause::QuotaExhausted,
        1309 => return Some((Cause::QuotaExhausted, Some(RENEW))),
        // "The current plan does not include this model".
        1311 => Cause::ClientRejected,
        _ => return None,
    };
    Some((cause, None))
}

/// The same causes from message words, English and Chinese, for bodies without a known code.
fn cause_of_words(lower: &str) -> Option<(Cause, Option<&'static str>)> {
    let has = |words: &[&str]| words.iter().any(|w| lower.contains(w));
    let cause = if has(&[
        "authorization",
        "authentication",
        "unauthorized",
        "api key",
        "apikey",
        "token missing",
        "token expired",
        "invalid token",
    ]) {
        Cause::AuthInvalid
    } else if has(&["insufficient balance", "arrears", "欠费", "余额不足"]) {
        return Some((Cause::QuotaExhausted, Some(TOP_UP)));
    } else if has(&["concurrency", "并发"]) {
        Cause::Concurrency
    } else if has(&["frequency", "频率"]) {
        Cause::Rpm
    } else if has(&["usage limit", "使用上限"]) {
        Cause::QuotaExhausted
    } else if has(&["daily", "今日"]) {
        Cause::Tpd
    } else {
        return None;
    };
    Some((cause, None))
}

/// The business code: top-level `code` (`{"code":1001,"success":false}`) or OpenAI-style
/// `error.code` (`{"error":{"code":"1302"}}`), as a number or a string.
fn body_code(json: &Value) -> Option<i64> {
    [json.get("code"), json.pointer("/error/code")]
        .into_iter()
        .flatten()
        .find_map(integer)
}

/// `pro` -> `Pro`.
fn title_case(level: &str) -> Option<String> {
    let mut chars = level.trim().chars();
    let first = chars.next()?;
    Some(first.to_uppercase().chain(chars).collect())
}

/// A limits entry's `key` as a number: `None` when absent, an error when not a number.
fn opt_number(limit: &Value, key: &str) -> Result<Option<f64>, UsageError> {
    wire::opt_number(limit, key, || format!("a limits entry's {key}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn now() -> Timestamp {
        "2026-09-08T08:00:00Z".parse().unwrap()
    }

    fn parse(body: &str) -> Result<Snapshot, UsageError> {
        let context = UsageContext {
            now: now(),
            region: &REGIONS[0],
        };
        Zai.parse_usage(body.as_bytes(), &context)
    }

    fn shape_error(body: &str) -> String {
        match parse(body) {
            Err(UsageError::Shape(text)) => text,
            other => panic!("expected a shape error, got {other:?}"),
        }
    }

    fn refusal(body: &str) -> Classification {
        match parse(body) {
            Err(UsageError::Refused(c)) => c,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    fn classify(status: u16, body: &str) -> Classification {
        Zai.classify(status, &HeaderMap::new(), body.as_bytes(), now())
    }

    const DOCUMENTED: &str = r#"{"code":200,"success":true,"data":{"level":"pro","limits":[{"type":"TOKENS_LIMIT","unit":3,"number":5,"percentage":6,"nextResetTime":1893456000000},{"type":"TIME_LIMIT","unit":5,"number":1,"usage":1000,"currentValue":50,"remaining":950,"percentage":5,"nextResetTime":1893456000000}]}}"#;

    fn at(text: &str) -> Option<Timestamp> {
        Some(text.parse().unwrap())
    }

    const CREDIT_LITE: &str = include_str!("../../tests/fixtures/providers/zai/credit-lite.json");
    const CREDIT_OVERSPENT: &str =
        include_str!("../../tests/fixtures/providers/zai/credit-overspent.json");
    const USED_UP: &str = include_str!("../../tests/fixtures/providers/zai/used-up-1310.json");

    #[test]
    fn credit_plans_give_credit_windows_from_the_counts() {
        let snapshot = parse(CREDIT_LITE).unwrap();
        assert_eq!(snapshot.plan.as_deref(), Some("Lite"));
        let windows: Vec<_> = snapshot
            .windows
            .iter()
            .map(|w| {
                (
                    w.kind,
                    w.scope.as_deref(),
                    w.unit,
                    w.used,
                    w.limit,
                    w.remaining,
                )
            })
            .collect();
        assert_eq!(
            windows,
            [
                (
                    WindowKind::FiveHour,
                    Some("credits"),
                    Unit::Credits,
                    Some(27.0),
                    Some(2000.0),
                    Some(1972.0)
                ),
                (
                    WindowKind::Weekly,
                    Some("credits"),
                    Unit::Credits,
                    Some(27.0),
                    Some(10000.0),
                    Some(9972.0)
                ),
            ]
        );
        assert_eq!(
            snapshot.windows[0].resets_at,
            Some(Timestamp::from_millisecond(1786717056698).unwrap())
        );
    }

    #[test]
    fn overspent_credits_read_as_used_up_not_as_the_rounded_percentage() {
        let snapshot = parse(CREDIT_OVERSPENT).unwrap();
        let five_hour = &snapshot.windows[0];
        assert_eq!(
            (five_hour.used, five_hour.remaining),
            (Some(2005.0), Some(0.0))
        );
        assert!(five_hour.used_ratio().unwrap() > 1.0);
        // 2005 of 10000 is 20.05 %, which the provider rounds to 20.
        assert_eq!(snapshot.windows[1].used_ratio(), Some(0.2005));
    }

    #[test]
    fn credits_beside_legacy_rows_and_without_counts() {
        let snapshot = parse(
            r#"{"data":{"limits":[
                {"type":"TOKENS_LIMIT","unit":3,"number":5,"percentage":6},
                {"type":"CREDIT_LIMIT","unit":6,"number":1,"percentage":40}
            ]}}"#,
        )
        .unwrap();
        let kinds: Vec<_> = snapshot
            .windows
            .iter()
            .map(|w| (w.kind, w.scope.as_deref(), w.used))
            .collect();
        assert_eq!(
            kinds,
            [
                (WindowKind::FiveHour, Some("tokens"), Some(6.0)),
                (WindowKind::Weekly, Some("credits"), Some(40.0)),
            ]
        );
        assert!(
            shape_error(r#"{"data":{"limits":[{"type":"CREDIT_LIMIT","unit":3,"number":5}]}}"#)
                .contains("CREDIT_LIMIT entry has neither")
        );
    }

    #[test]
    fn an_allowance_used_up_in_a_200_is_a_quota_refusal() {
        let c = refusal(USED_UP);
        assert_eq!(c.cause, Cause::QuotaExhausted);
        assert!(c.message.contains("Limit Exhausted"), "{}", c.message);
        assert!(!c.retryable);
        let c = classify(
            429,
            r#"{"error":{"code":"1310","message":"Weekly/Monthly Limit Exhausted"}}"#,
        );
        assert_eq!(c.cause, Cause::QuotaExhausted);
    }

    #[test]
    fn documented_response_gives_token_and_tool_windows() {
        let snapshot = parse(DOCUMENTED).unwrap();
        assert_eq!(snapshot.plan.as_deref(), Some("Pro"));
        assert_eq!(snapshot.windows.len(), 2);
        assert_eq!(snapshot.concurrency_limit, None);
        assert!(snapshot.balances.is_empty());

        let tokens = &snapshot.windows[0];
        assert_eq!(
            (tokens.kind, tokens.unit),
            (WindowKind::FiveHour, Unit::Percent)
        );
        assert_eq!(tokens.scope.as_deref(), Some("tokens"));
        assert_eq!(
            (tokens.used, tokens.limit, tokens.remaining),
            (Some(6.0), Some(100.0), Some(94.0))
        );
        // 1893456000000 ms is 2030-01-01T00:00:00Z.
        assert_eq!(tokens.resets_at, at("2030-01-01T00:00:00Z"));

        let tools = &snapshot.windows[1];
        assert_eq!(
            (tools.kind, tools.unit),
            (WindowKind::Monthly, Unit::Requests)
        );
        assert_eq!(tools.scope.as_deref(), Some("tools"));
        assert_eq!(
            (tools.used, tools.limit, tools.remaining),
            (Some(50.0), Some(1000.0), Some(950.0))
        );
        assert_eq!(tools.resets_at, at("2030-01-01T00:00:00Z"));
    }

    #[test]
    fn numbers_as_strings_missing_counts_and_extra_keys() {
        let snapshot = parse(
            r#"{"code":"200","success":true,"msg":"ok","data":{"level":"lite","new":{"x":1},"limits":[
                {"type":"TOKENS_LIMIT","unit":"3","number":"5","percentage":"12.5","nextResetTime":"1893456000000","extra":true},
                {"type":"TIME_LIMIT","unit":5,"number":1,"percentage":40},
                {"type":"TIME_LIMIT","unit":5,"number":1,"usage":"100","remaining":"30"}
            ]}}"#,
        )
        .unwrap();
        assert_eq!(snapshot.plan.as_deref(), Some("Lite"));
        let tokens = &snapshot.windows[0];
        assert_eq!(tokens.used, Some(12.5));
        assert_eq!(tokens.resets_at, at("2030-01-01T00:00:00Z"));

        let percent_only = &snapshot.windows[1];
        assert_eq!(
            (percent_only.unit, percent_only.used),
            (Unit::Percent, Some(40.0))
        );
        assert_eq!(percent_only.scope.as_deref(), Some("tools"));
        assert_eq!(percent_only.resets_at, None);

        let derived = &snapshot.windows[2];
        assert_eq!(
            (derived.used, derived.limit, derived.remaining),
            (Some(70.0), Some(100.0), Some(30.0))
        );
    }

    #[test]
    fn units_and_numbers_map_to_window_kinds() {
        let cases = [
            (3, 5, WindowKind::FiveHour),
            (3, 1, WindowKind::FiveHour),
            (3, 24, WindowKind::Daily),
            (3, 168, WindowKind::Weekly),
            (3, 720, WindowKind::Monthly),
            (6, 1, WindowKind::Weekly),
            (5, 1, WindowKind::Monthly),
        ];
        for (unit, number, kind) in cases {
            let body = format!(
                r#"{{"code":200,"success":true,"data":{{"limits":[{{"type":"TOKENS_LIMIT","unit":{unit},"number":{number},"percentage":1}}]}}}}"#
            );
            assert_eq!(
                parse(&body).unwrap().windows[0].kind,
                kind,
                "{unit} {number}"
            );
        }
    }

    #[test]
    fn unknown_types_and_units_are_skipped() {
        let snapshot = parse(
            r#"{"code":200,"success":true,"data":{"limits":[
                {"type":"TOKENS_LIMIT","unit":9,"number":1,"percentage":1},
                {"type":"IMAGE_LIMIT","unit":3,"number":5,"percentage":1},
                {"type":"TOKENS_LIMIT","unit":3,"number":5,"percentage":2}
            ]}}"#,
        )
        .unwrap();
        assert_eq!(snapshot.windows.len(), 1);
        assert_eq!(snapshot.windows[0].used, Some(2.0));
        assert_eq!(snapshot.plan, None);
    }

    #[test]
    fn bad_key_in_an_http_200_body_is_refused_as_auth_invalid() {
        let c = refusal(r#"{"code":1001,"success":false,"msg":"Authorization Token Missing"}"#);
        assert_eq!(c.cause, Cause::AuthInvalid);
        assert!(!c.retryable);
        assert_eq!(c.message, "Authorization Token Missing");
        assert!(c.advice.contains("Key rejected"));
    }

    #[test]
    fn other_refusals_inside_200_bodies() {
        let c = refusal(
            r#"{"code":1113,"success":false,"msg":"Insufficient balance or no resource package. Please recharge."}"#,
        );
        assert_eq!(c.cause, Cause::QuotaExhausted);
        assert!(c.advice.contains("Top up"));
        let c = refusal(r#"{"code":9999,"success":false,"msg":"something new"}"#);
        assert_eq!(c.cause, Cause::Other);
        let c =
            refusal(r#"{"error":{"code":"1302","message":"High concurrency usage of this API"}}"#);
        assert_eq!(c.cause, Cause::Concurrency);
    }

    #[test]
    fn every_truncation_of_the_documented_body_is_a_shape_error() {
        wire::assert_truncations_are_shape_errors(&Zai, DOCUMENTED, now());
    }

    #[test]
    fn shape_errors_name_what_is_missing() {
        assert!(shape_error(r#"{"code":200,"success":true}"#).contains("no data"));
        assert!(
            shape_error(r#"{"code":200,"success":true,"data":{"level":"pro"}}"#)
                .contains("data.limits")
        );
        assert!(
            shape_error(r#"{"code":200,"success":true,"data":{"limits":[]}}"#)
                .contains("no TOKENS_LIMIT")
        );
        assert!(
            shape_error(r#"{"code":200,"success":true,"data":{"limits":[{"type":"TOKENS_LIMIT","unit":3,"number":5}]}}"#)
                .contains("percentage")
        );
        assert!(
            shape_error(r#"{"code":200,"success":true,"data":{"limits":[{"type":"TIME_LIMIT","unit":5,"number":1}]}}"#)
                .contains("neither")
        );
        assert!(
            shape_error(r#"{"code":200,"success":true,"data":{"limits":[{"type":"TOKENS_LIMIT","unit":3,"number":5,"percentage":[1]}]}}"#)
                .contains("percentage is not a number")
        );
        assert!(
            shape_error(r#"{"code":200,"success":true,"data":{"limits":[{"type":"TOKENS_LIMIT","unit":3,"number":5,"percentage":1,"nextResetTime":1e300}]}}"#)
                .contains("nextResetTime")
        );
        for body in [
            "",
            "{\"code\":200,\"succ",
            "<html>secret-ish</html>",
            "[]",
            "\u{0}",
        ] {
            assert!(!shape_error(body).contains("secret-ish"));
        }
    }

    #[test]
    fn codes_name_the_cause() {
        let cases = [
            (1000, Cause::AuthInvalid),
            (1002, Cause::AuthInvalid),
            (1004, Cause::AuthInvalid),
            (1113, Cause::QuotaExhausted),
            (1302, Cause::Concurrency),
            (1303, Cause::Rpm),
            (1304, Cause::Tpd),
            (1305, Cause::Overloaded),
            (1308, Cause::QuotaExhausted),
            (1309, Cause::QuotaExhausted),
            (1310, Cause::QuotaExhausted),
            (1311, Cause::ClientRejected),
            (1312, Cause::Overloaded),
        ];
        for (code, cause) in cases {
            let as_string = format!(r#"{{"error":{{"code":"{code}","message":"x"}}}}"#);
            assert_eq!(classify(429, &as_string).cause, cause, "{code}");
            let as_number = format!(r#"{{"code":{code},"success":false,"msg":"x"}}"#);
            assert_eq!(classify(200, &as_number).cause, cause, "{code}");
        }
        assert!(!classify(429, r#"{"error":{"code":"1304","message":"x"}}"#).retryable);
        assert!(!classify(429, r#"{"error":{"code":"1308","message":"x"}}"#).retryable);
        assert!(classify(429, r#"{"error":{"code":"1302","message":"x"}}"#).retryable);
        assert!(
            classify(429, r#"{"error":{"code":"1309","message":"x"}}"#)
                .advice
                .contains("Renew")
        );
    }

    #[test]
    fn usage_limit_with_a_wait_in_the_text() {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", "30".parse().unwrap());
        let c = Zai.classify(
            429,
            &headers,
            br#"{"error":{"code":"1302","message":"High concurrency usage of this API, please reduce concurrency or contact customer service to increase limits"}}"#,
            now(),
        );
        assert_eq!(c.cause, Cause::Concurrency);
        assert_eq!(c.retry_after, Some(Duration::from_secs(30)));
        assert!(c.advice.contains("quota is fine") && !c.advice.contains("Retry"));

        let c = classify(
            429,
            r#"{"error":{"code":"1308","message":"Usage limit reached for 5 hour. Your limit will reset at 2026-09-08 12:00:00"}}"#,
        );
        assert_eq!(c.cause, Cause::QuotaExhausted);
        assert!(!c.retryable);

        let c = classify(
            429,
            r#"{"error":{"message":"Rate limited, please try again in 20s"}}"#,
        );
        assert_eq!(c.cause, Cause::Rpm);
        assert_eq!(c.retry_after, Some(Duration::from_secs(20)));
    }

    #[test]
    fn message_words_without_a_code() {
        let cases = [
            ("Authorization Token Missing", Cause::AuthInvalid),
            ("Authentication Token expired", Cause::AuthInvalid),
            ("Insufficient balance", Cause::QuotaExhausted),
            ("Your account is in arrears", Cause::QuotaExhausted),
            ("您的账户已欠费,请充值后重试", Cause::QuotaExhausted),
            ("Concurrency too high", Cause::Concurrency),
            ("您当前使用该API的并发数过高", Cause::Concurrency),
            ("Request frequency too high", Cause::Rpm),
            ("您当前使用该API的频率过高", Cause::Rpm),
            ("Daily call limit reached", Cause::Tpd),
            ("Usage limit reached for 5 hour", Cause::QuotaExhausted),
            ("已达到 5 小时 的使用上限", Cause::QuotaExhausted),
        ];
        for (message, cause) in cases {
            let body = serde_json::json!({"error": {"message": message}}).to_string();
            assert_eq!(classify(400, &body).cause, cause, "{message}");
        }
    }

    #[test]
    fn status_fallbacks_and_html() {
        assert_eq!(
            classify(401, r#"{"error":{"message":"no"}}"#).cause,
            Cause::AuthInvalid
        );
        assert_eq!(
            classify(429, r#"{"error":{"message":"slow"}}"#).cause,
            Cause::Rpm
        );
        assert_eq!(
            classify(503, r#"{"error":{"message":"busy"}}"#).cause,
            Cause::Overloaded
        );
        assert_eq!(
            classify(400, r#"{"error":{"message":"bad"}}"#).cause,
            Cause::Other
        );
        // A success code in an error status does not hide the status.
        assert_eq!(classify(429, r#"{"code":200,"msg":"x"}"#).cause, Cause::Rpm);

        let c = classify(502, "<!DOCTYPE html><html><body>Bad Gateway</body></html>");
        assert_eq!(c.cause, Cause::Overloaded);
        assert!(c.message.contains("HTML error page") && c.message.contains("502"));
        let c = Zai.classify(400, &HeaderMap::new(), &[0xff, 0xfe, 0x00], now());
        assert_eq!(c.cause, Cause::Other);
    }

    #[test]
    fn two_regions_global_first_with_a_raw_key() {
        let names: Vec<_> = Zai.regions().iter().map(|r| r.name).collect();
        assert_eq!(names, ["global", "cn"]);
        assert_eq!(
            Zai.regions()[0].api_base,
            "https://api.z.ai/api/coding/paas/v4"
        );
        assert_eq!(
            Zai.regions()[1].usage_url,
            "https://open.bigmodel.cn/api/monitor/usage/quota/limit"
        );
        assert_eq!(Zai.auth_style(), AuthStyle::RawAuthorization);
    }
}
