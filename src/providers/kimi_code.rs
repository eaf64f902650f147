//! Kimi Code, Moonshot's coding-plan subscription (`api.kimi.com/coding`), used by Kimi Code
//! CLI, Claude Code and OpenClaw. Its usage endpoint reports the weekly quota, the 5-hour window,
//! the concurrency cap and the booster wallet.
//!
//! The chat endpoints refuse with 429 "We're receiving too many requests at the moment" when the
//! account has too many requests in flight (the concurrency cap, 30 by default), which reads like
//! a quota problem but is not: this is the throttle Redline was built to name.
//!
//! The usage body looks like protobuf's JSON mapping (int64 as decimal strings, enum names such as
//! `TIME_UNIT_MINUTE`), which leaves out fields at their default value: a missing count is zero.

use super::wire::{self, field, number, shape};
use super::{
    AuthStyle, Facts, Models, Provider, ProviderId, Region, Shows, ToolPaths, UsageContext,
    UsageError,
};
use crate::providers::snapshot::{Balance, Snapshot, Unit, Window, WindowKind};
use crate::providers::throttle::{Cause, Classification};
use crate::providers::wire::{
    error_message, number_after, retry_after_header, retry_after_in_text,
};
use http::HeaderMap;
use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

pub struct KimiCode;

const REGIONS: &[Region] = &[Region {
    name: "global",
    api_base: "https://api.kimi.com/coding/v1",
    usage_url: "https://api.kimi.com/coding/v1/usages",
}];

const WRONG_PRODUCT: &str = "The Kimi Code usage endpoint answered 404, so this is not a Kimi Code key. \
     If it is a Moonshot open-platform key, add it with `--provider moonshot`.";

const FACTS: Facts = Facts {
    regions: REGIONS,
    auth: AuthStyle::Bearer,
    name: "Kimi Code (coding plan)",
    short_name: "Kimi",
    key_hint: "A Kimi Code key (starts with sk-kimi-) from kimi.com → Kimi Code → API keys",
    key_prefixes: &["sk-kimi-"],
    key_variables: &["KIMI_API_KEY"],
    more_hosts: &["api.kimi.ai"],
    tool_paths: ToolPaths {
        openai: Some("/coding/v1"),
        anthropic: Some("/coding/"),
        responses: false,
    },
    models: Models {
        model: "kimi-for-coding",
        small_model: None,
        context_window: 262_144,
        max_output_tokens: 32_768,
    },
    sibling: Some(ProviderId::Moonshot),
    zero_doubt: Some("its usage endpoint is known to answer 0 for some logins"),
    shows: &[Shows::Windows, Shows::Balance],
};

impl Provider for KimiCode {
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

    fn wrong_product_hint(&self) -> Option<&'static str> {
        Some(WRONG_PRODUCT)
    }
}

fn parse_usage(body: &[u8], now: Timestamp) -> Result<Snapshot, UsageError> {
    let json = wire::json_object(body, "Kimi Code usage")?;
    let json = unwrap_envelope(&json)?;
    let usage = field(json, "usage");
    let limits = field(json, "limits");
    let usages = field(json, "usages");
    if usage.is_none() && limits.is_none() && usages.is_none() {
        return Err(shape(
            "the Kimi Code usage response has none of usage, limits or usages",
        ));
    }

    let mut counted = Vec::new();
    if let Some(usage) = usage {
        counted.push(count_window(WindowKind::Weekly, usage, "usage", now)?);
    }
    if let Some(limits) = limits {
        let limits = limits
            .as_array()
            .ok_or_else(|| shape("limits is not a list"))?;
        for limit in limits {
            if let Some(kind) = limit_kind(limit)? {
                let detail = field(limit, "detail").unwrap_or(limit);
                counted.push(count_window(kind, detail, "a limits entry's detail", now)?);
            }
        }
    }
    let ratios = match usages {
        Some(usages) => ratio_windows(usages, now)?,
        None => Vec::new(),
    };
    let mut snapshot = Snapshot {
        plan: plan(json),
        windows: merge_figures(counted, ratios),
        ..Snapshot::default()
    };
    match concurrency_limit(json)? {
        Some(limit) => snapshot.concurrency_limit = Some(limit),
        None => {
            snapshot.concurrency_limit = Some(PLAN_CONCURRENCY);
            snapshot.concurrency_limit_assumed = true;
        }
    }
    add_booster(json, &mut snapshot)?;

    if snapshot.windows.is_empty() {
        return Err(shape(
            "the Kimi Code usage response has no quota window Redline can read",
        ));
    }
    Ok(snapshot)
}

/// The published in-flight limit of every Kimi Code plan, assumed when the answer has no
/// `parallel` (answers since the 2026-09 plan change leave it out).
pub const PLAN_CONCURRENCY: u64 = 30;

/// The answer itself, or what the wrapped form of one login path carries:
/// `{"code":0,"data":{"quota":{"usages":{"limit5h":{"usedRatio":0,"resetAt":"…"}}}}}`.
fn unwrap_envelope(json: &Value) -> Result<&Value, UsageError> {
    let code = field(json, "code").and_then(number).unwrap_or(0.0);
    if code != 0.0 {
        let message = field(json, "msg")
            .or_else(|| field(json, "message"))
            .and_then(Value::as_str)
            .unwrap_or("no message");
        return Err(UsageError::Refused(Classification::new(
            Cause::Other,
            &format!("Kimi Code answered code {code}: {message}"),
        )));
    }
    Ok(match field(json, "data") {
        Some(data) => field(data, "quota").unwrap_or(data),
        None => json,
    })
}

/// Counted windows (`usage`, `limits[]`) and ratio windows (`usages`) for the same window
/// become one: the counted one when both agree, else the more used, with a note that says
/// Kimi's two figures disagree (its ratio is known to read 0 during heavy use for some logins).
fn merge_figures(counted: Vec<Window>, ratios: Vec<Window>) -> Vec<Window> {
    let mut windows = counted;
    for ratio in ratios {
        let same = windows
            .iter_mut()
            .find(|w| (w.kind, &w.scope) == (ratio.kind, &ratio.scope));
        let Some(count) = same else {
            windows.push(ratio);
            continue;
        };
        let (Some(counted_used), Some(ratio_used)) = (count.used_ratio(), ratio.used_ratio())
        else {
            if count.used_ratio().is_none() {
                *count = ratio;
            }
            continue;
        };
        if (counted_used - ratio_used).abs() <= DISAGREEMENT {
            continue;
        }
        let note = format!(
            "Kimi reports two figures for this window that disagree: {:.0} % used by its counts, \
             {:.0} % by its ratio; Redline shows the higher.",
            counted_used * 100.0,
            ratio_used * 100.0
        );
        if ratio_used > counted_used {
            *count = ratio;
        }
        count.note = Some(note);
    }
    windows
}

/// How far apart (as a fraction of the limit) Kimi's two figures may be and still agree: the
/// ratio is rounded, the counts are not.
const DISAGREEMENT: f64 = 0.02;

/// A window from `{limit, used, remaining, resetTime}`; any two of the three counts will do.
fn count_window(
    kind: WindowKind,
    object: &Value,
    what: &str,
    now: Timestamp,
) -> Result<Window, UsageError> {
    if !object.is_object() {
        return Err(shape(format!("{what} is not an object")));
    }
    let used = opt_number(object, "used", what)?;
    let limit = opt_number(object, "limit", what)?;
    let remaining = opt_number(object, "remaining", what)?;
    if [used, limit, remaining].iter().flatten().count() < 2 {
        return Err(shape(format!(
            "{what} needs two of limit, used and remaining"
        )));
    }
    Ok(Window::new(kind, Unit::Requests)
        .counts(used, limit, remaining)
        .resets_at(reset(object, what, now)?))
}

/// The window kind of a `limits[]` entry from `window.duration` and `window.timeUnit`; `None` for
/// a time unit Redline does not know (the entry is skipped rather than guessed).
fn limit_kind(limit: &Value) -> Result<Option<WindowKind>, UsageError> {
    let window = field(limit, "window").ok_or_else(|| shape("a limits entry has no window"))?;
    let duration = opt_number(window, "duration", "a limits entry's window")?
        .filter(|d| *d > 0.0)
        .ok_or_else(|| shape("a limits entry's window has no positive duration"))?;
    let minutes_per_unit = match field(window, "timeUnit").and_then(Value::as_str) {
        Some("TIME_UNIT_MINUTE") => 1.0,
        Some("TIME_UNIT_HOUR") => 60.0,
        Some("TIME_UNIT_DAY") => 24.0 * 60.0,
        Some("TIME_UNIT_WEEK") => 7.0 * 24.0 * 60.0,
        _ => return Ok(None),
    };
    Ok(Some(kind_for_minutes(duration * minutes_per_unit)))
}

/// 300 minutes is the 5-hour window; other lengths go to the nearest kind that holds them.
fn kind_for_minutes(minutes: f64) -> WindowKind {
    const HOUR: f64 = 60.0;
    if minutes <= 5.0 * HOUR {
        WindowKind::FiveHour
    } else if minutes <= 24.0 * HOUR {
        WindowKind::Daily
    } else if minutes <= 7.0 * 24.0 * HOUR {
        WindowKind::Weekly
    } else {
        WindowKind::Monthly
    }
}

/// The other variant seen: `usages: {limit_5h: {used_ratio, reset_time}, ...}`.
fn ratio_windows(usages: &Value, now: Timestamp) -> Result<Vec<Window>, UsageError> {
    let usages = usages
        .as_object()
        .ok_or_else(|| shape("usages is not an object"))?;
    let mut windows = Vec::new();
    for (key, entry) in usages {
        let Some(kind) = kind_for_key(key) else {
            continue;
        };
        let what = format!("usages.{key}");
        if !entry.is_object() {
            return Err(shape(format!("{what} is not an object")));
        }
        let ratio = match opt_number(entry, "used_ratio", &what)? {
            Some(ratio) => ratio,
            None => opt_number(entry, "usedRatio", &what)?
                .ok_or_else(|| shape(format!("{what} has no used_ratio")))?,
        };
        let mut window = Window::percent(kind, ratio * 100.0).resets_at(reset(entry, &what, now)?);
        window.scope = pool_scope(key).map(str::to_owned);
        windows.push(window);
    }
    Ok(windows)
}

/// The monthly pools of the 2026-09 plans, named apart: `limit_month_total` (everything) and
/// `limit_month_code` (coding use).
fn pool_scope(key: &str) -> Option<&'static str> {
    let key = key.to_ascii_lowercase();
    if key.contains("code") || key.contains("coding") {
        Some("coding")
    } else if key.contains("total") {
        Some("total")
    } else {
        None
    }
}

fn kind_for_key(key: &str) -> Option<WindowKind> {
    let key = key.to_ascii_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| key.contains(w));
    if has(&["week", "7d"]) {
        Some(WindowKind::Weekly)
    } else if has(&["month"]) {
        Some(WindowKind::Monthly)
    } else if has(&["day", "daily", "24h"]) {
        Some(WindowKind::Daily)
    } else if has(&["5h"]) {
        Some(WindowKind::FiveHour)
    } else {
        None
    }
}

/// When a window resets: an RFC 3339 time (up to nanoseconds) under any of the names clients
/// accept, or seconds from now in `reset_in` / `ttl`.
fn reset(object: &Value, what: &str, now: Timestamp) -> Result<Option<Timestamp>, UsageError> {
    for key in ["resetTime", "reset_at", "resetAt", "reset_time"] {
        if let Some(value) = field(object, key) {
            let at = value
                .as_str()
                .and_then(|text| text.trim().parse::<Timestamp>().ok())
                .ok_or_else(|| shape(format!("{what}.{key} is not an RFC 3339 time")))?;
            return Ok(Some(at));
        }
    }
    for key in ["reset_in", "ttl"] {
        if let Some(value) = field(object, key) {
            let at = number(value)
                .filter(|secs| *secs >= 0.0)
                .and_then(|secs| SignedDuration::try_from_secs_f64(secs).ok())
                .and_then(|wait| now.checked_add(wait).ok())
                .ok_or_else(|| shape(format!("{what}.{key} is not a number of seconds")))?;
            return Ok(Some(at));
        }
    }
    Ok(None)
}

/// `LEVEL_STANDARD` -> `Standard`, `LEVEL_PRO_PLUS` -> `Pro Plus`.
fn plan(json: &Value) -> Option<String> {
    let level = json.pointer("/user/membership/level")?.as_str()?;
    let words: Vec<String> = level
        .trim_start_matches("LEVEL_")
        .split('_')
        .filter(|w| !w.is_empty())
        .map(|word| {
            let lower = word.to_lowercase();
            let mut chars = lower.chars();
            chars
                .next()
                .map(|first| first.to_uppercase().chain(chars).collect())
                .unwrap_or_default()
        })
        .collect();
    (!words.is_empty()).then(|| words.join(" "))
}

fn concurrency_limit(json: &Value) -> Result<Option<u64>, UsageError> {
    let Some(parallel) = field(json, "parallel") else {
        return Ok(None);
    };
    match opt_number(parallel, "limit", "parallel")? {
        None => Ok(None),
        Some(n) if n >= 0.0 && n.fract() == 0.0 && n <= u32::MAX as f64 => Ok(Some(n as u64)),
        Some(_) => Err(shape(
            "parallel.limit is not a whole number of requests from 0 to 4294967295",
        )),
    }
}

/// The booster wallet: money left (fixed point, value / 1e6 = cents) and, when the user set one,
/// the monthly spend cap as a USD window.
fn add_booster(json: &Value, snapshot: &mut Snapshot) -> Result<(), UsageError> {
    let Some(wallet) = field(json, "boosterWallet") else {
        return Ok(());
    };
    if let Some(balance) = field(wallet, "balance") {
        let left = opt_number(balance, "amountLeft", "boosterWallet.balance")?.unwrap_or(0.0);
        snapshot.balances.push(Balance {
            kind: "booster".into(),
            amount: left / 1e6 / 100.0,
            currency: "USD".into(),
        });
    }
    if field(wallet, "monthlyChargeLimitEnabled").and_then(Value::as_bool) == Some(true) {
        let dollars = |key: &str| -> Result<Option<f64>, UsageError> {
            let Some(price) = field(wallet, key) else {
                return Ok(None);
            };
            let what = format!("boosterWallet.{key}");
            Ok(opt_number(price, "priceInCents", &what)?.map(|cents| cents / 100.0))
        };
        if let Some(limit) = dollars("monthlyChargeLimit")? {
            let used = dollars("monthlyUsed")?.unwrap_or(0.0);
            let window = Window::new(WindowKind::Monthly, Unit::Usd)
                .counts(Some(used), Some(limit), None)
                .scope("booster");
            snapshot.windows.push(window);
        }
    }
    Ok(())
}

/// Words of a 403 that is the concurrency cap in disguise ("rate limit", not "rate": "generate").
const CONCURRENCY_WORDS: &[&str] = &[
    "too many",
    "concurren",
    "parallel",
    "rate limit",
    "rate_limit",
];

fn classify(status: u16, headers: &HeaderMap, body: &[u8], now: Timestamp) -> Classification {
    if let Some(page) = wire::html_error_page("Kimi Code", status, headers, body, now) {
        return page;
    }
    let message = error_message(body);
    let retry_after = retry_after_header(headers, now).or_else(|| retry_after_in_text(&message));
    let json = serde_json::from_slice::<Value>(body).ok();
    let error_type = wire::error_text(json.as_ref(), "/type").unwrap_or_default();
    let lower = message.to_lowercase();
    let base = |cause| Classification::new(cause, &message).with_retry_after(retry_after);
    // The concurrency cap is sometimes named ("max concurrency: 30"), usually not.
    let concurrency =
        || base(Cause::Concurrency).with_limit(number_after(&message, "max concurrency:"));

    if error_type == "access_terminated_error" || lower.contains("usage limit for this billing") {
        let which = if lower.contains("month") || lower.contains("billing cycle") {
            "monthly"
        } else if lower.contains("week") {
            "weekly"
        } else {
            "plan's"
        };
        return base(Cause::QuotaExhausted).with_advice(format!(
            "The Kimi Code {which} limit is used up; retrying will not help. Wait for its reset, \
             or buy extra usage (booster) or a bigger plan at kimi.com/code."
        ));
    }
    match status {
        401 => base(Cause::AuthInvalid),
        404 => base(Cause::AuthInvalid).with_advice(
            "This is not a Kimi Code key (perhaps a Moonshot platform key): \
             add it with `--provider moonshot`.",
        ),
        429 if lower.contains("overloaded") => base(Cause::Overloaded),
        429 => concurrency(),
        403 if lower.contains("only available for coding agents") => base(Cause::ClientRejected)
            .with_advice(
                "Kimi Code only accepts supported coding agents and refused this tool's identity; \
                 use Kimi Code CLI, Claude Code or another supported agent.",
            ),
        403 if CONCURRENCY_WORDS.iter().any(|w| lower.contains(w)) => concurrency(),
        403 => base(Cause::ClientRejected),
        500..=599 => base(Cause::Overloaded),
        _ => base(Cause::Other),
    }
}

/// `object[key]` as a number (Kimi sends counts as strings, `"40"`): `None` when absent, an
/// error naming `what.key` when not a number.
fn opt_number(object: &Value, key: &str, what: &str) -> Result<Option<f64>, UsageError> {
    wire::opt_number(object, key, || format!("{what}.{key}"))
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
        KimiCode.parse_usage(body.as_bytes(), &context)
    }

    fn at(text: &str) -> Option<Timestamp> {
        Some(text.parse().unwrap())
    }

    fn shape_error(body: &str) -> String {
        match parse(body) {
            Err(UsageError::Shape(text)) => text,
            other => panic!("expected a shape error, got {other:?}"),
        }
    }

    fn classify(status: u16, body: &str) -> Classification {
        KimiCode.classify(status, &HeaderMap::new(), body.as_bytes(), now())
    }

    const DOCUMENTED: &str = r#"{
      "user": {"userId": "abc123", "region": "REGION_OVERSEA", "membership": {"level": "LEVEL_STANDARD"}},
      "usage": {"limit": "100", "used": "40", "remaining": "60", "resetTime": "2026-09-09T15:30:57.000Z"},
      "limits": [
        {"window": {"duration": 300, "timeUnit": "TIME_UNIT_MINUTE"},
         "detail": {"limit": "100", "used": "12", "remaining": "88", "resetTime": "2026-09-08T10:30:57.000Z"}}
      ],
      "parallel": {"limit": "30"},
      "boosterWallet": {"id": "wallet_1",
        "balance": {"type": "BOOSTER", "amount": "20000000000", "amountLeft": "10000000000", "unit": "UNIT_CURRENCY"},
        "monthlyChargeLimitEnabled": true,
        "monthlyChargeLimit": {"currency": "USD", "priceInCents": "20000"},
        "monthlyUsed": {"currency": "USD", "priceInCents": "5000"}}
    }"#;

    #[test]
    fn documented_response_gives_weekly_five_hour_booster_and_concurrency() {
        let snapshot = parse(DOCUMENTED).unwrap();
        assert_eq!(snapshot.plan.as_deref(), Some("Standard"));
        assert_eq!(snapshot.concurrency_limit, Some(30));
        assert_eq!(snapshot.windows.len(), 3);

        let weekly = &snapshot.windows[0];
        assert_eq!(
            (weekly.kind, weekly.unit),
            (WindowKind::Weekly, Unit::Requests)
        );
        assert_eq!(
            (weekly.used, weekly.limit, weekly.remaining),
            (Some(40.0), Some(100.0), Some(60.0))
        );
        assert_eq!(weekly.resets_at, at("2026-09-09T15:30:57Z"));

        let five_hour = &snapshot.windows[1];
        assert_eq!(five_hour.kind, WindowKind::FiveHour);
        assert_eq!(
            (five_hour.used, five_hour.limit, five_hour.remaining),
            (Some(12.0), Some(100.0), Some(88.0))
        );
        assert_eq!(five_hour.resets_at, at("2026-09-08T10:30:57Z"));

        let booster = &snapshot.windows[2];
        assert_eq!(
            (booster.kind, booster.unit),
            (WindowKind::Monthly, Unit::Usd)
        );
        assert_eq!(booster.scope.as_deref(), Some("booster"));
        assert_eq!(
            (booster.used, booster.limit, booster.remaining),
            (Some(50.0), Some(200.0), Some(150.0))
        );
        assert_eq!(booster.resets_at, None);

        // 10000000000 / 1e6 = 10000 cents = $100.
        assert_eq!(
            snapshot.balances,
            vec![Balance {
                kind: "booster".into(),
                amount: 100.0,
                currency: "USD".into()
            }]
        );
    }

    #[test]
    fn missing_used_is_derived_and_numbers_may_be_json_numbers() {
        let snapshot = parse(
            r#"{"usage": {"limit": 100, "remaining": "60", "resetTime": "2026-09-09T15:30:57Z"}}"#,
        )
        .unwrap();
        let weekly = &snapshot.windows[0];
        assert_eq!(
            (weekly.used, weekly.limit, weekly.remaining),
            (Some(40.0), Some(100.0), Some(60.0))
        );
        assert_eq!(snapshot.plan, None);
        assert_eq!(snapshot.concurrency_limit, Some(PLAN_CONCURRENCY));
        assert!(snapshot.concurrency_limit_assumed);
        assert!(snapshot.balances.is_empty());
    }

    #[test]
    fn nanosecond_reset_times_are_kept() {
        let snapshot = parse(
            r#"{"usage": {"limit": "100", "used": "1", "resetTime": "2025-12-23T05:24:18.443553353Z"}}"#,
        )
        .unwrap();
        let reset = snapshot.windows[0].resets_at.unwrap();
        assert_eq!(reset, "2025-12-23T05:24:18.443553353Z".parse().unwrap());
        assert_eq!(reset.subsec_nanosecond(), 443_553_353);
    }

    #[test]
    fn every_reset_field_name_is_accepted() {
        for key in ["reset_at", "resetAt", "reset_time"] {
            let body = format!(
                r#"{{"usage": {{"limit": "10", "used": "1", "{key}": "2026-09-09T00:00:00+00:00"}}}}"#
            );
            assert_eq!(
                parse(&body).unwrap().windows[0].resets_at,
                at("2026-09-09T00:00:00Z"),
                "{key}"
            );
        }
        for key in ["reset_in", "ttl"] {
            for seconds in ["3600", "\"3600\""] {
                let body =
                    format!(r#"{{"usage": {{"limit": "10", "used": "1", "{key}": {seconds}}}}}"#);
                assert_eq!(
                    parse(&body).unwrap().windows[0].resets_at,
                    at("2026-09-08T09:00:00Z"),
                    "{key}"
                );
            }
        }
    }

    #[test]
    fn limit_durations_map_to_window_kinds() {
        let cases = [
            (300, "TIME_UNIT_MINUTE", WindowKind::FiveHour),
            (5, "TIME_UNIT_HOUR", WindowKind::FiveHour),
            (60, "TIME_UNIT_MINUTE", WindowKind::FiveHour),
            (1440, "TIME_UNIT_MINUTE", WindowKind::Daily),
            (1, "TIME_UNIT_DAY", WindowKind::Daily),
            (12, "TIME_UNIT_HOUR", WindowKind::Daily),
            (10080, "TIME_UNIT_MINUTE", WindowKind::Weekly),
            (1, "TIME_UNIT_WEEK", WindowKind::Weekly),
            (3, "TIME_UNIT_DAY", WindowKind::Weekly),
            (30, "TIME_UNIT_DAY", WindowKind::Monthly),
            (4, "TIME_UNIT_WEEK", WindowKind::Monthly),
        ];
        for (duration, unit, kind) in cases {
            let body = format!(
                r#"{{"limits": [{{"window": {{"duration": "{duration}", "timeUnit": "{unit}"}},
                   "detail": {{"limit": "10", "remaining": "4"}}}}]}}"#
            );
            let snapshot = parse(&body).unwrap();
            assert_eq!(snapshot.windows[0].kind, kind, "{duration} {unit}");
            assert_eq!(snapshot.windows[0].used, Some(6.0));
        }
    }

    #[test]
    fn unknown_time_units_and_extra_keys_are_skipped() {
        let snapshot = parse(
            r#"{"usage": {"limit": "100", "used": "40", "remaining": "60", "newField": {"x": 1}},
                "limits": [{"window": {"duration": 1, "timeUnit": "TIME_UNIT_FORTNIGHT"},
                            "detail": {"limit": "5", "used": "1"}}],
                "somethingNew": [1, 2, 3]}"#,
        )
        .unwrap();
        assert_eq!(snapshot.windows.len(), 1);
        assert_eq!(snapshot.windows[0].kind, WindowKind::Weekly);
    }

    #[test]
    fn used_ratio_variant_gives_percent_windows() {
        let snapshot = parse(
            r#"{"usages": {
                "limit_5h": {"used_ratio": 0.25, "reset_time": "2026-09-08T10:00:00Z"},
                "limit_7d": {"used_ratio": "0.5", "reset_time": "2026-09-14T00:00:00Z"},
                "limit_daily": {"used_ratio": 0},
                "limit_month": {"used_ratio": 1},
                "limit_mystery": {"used_ratio": 0.9}
            }}"#,
        )
        .unwrap();
        assert_eq!(snapshot.windows.len(), 4);
        let window = |kind| snapshot.windows.iter().find(|w| w.kind == kind).unwrap();

        let five_hour = window(WindowKind::FiveHour);
        assert_eq!(five_hour.unit, Unit::Percent);
        assert_eq!(
            (five_hour.used, five_hour.limit, five_hour.remaining),
            (Some(25.0), Some(100.0), Some(75.0))
        );
        assert_eq!(five_hour.resets_at, at("2026-09-08T10:00:00Z"));
        let weekly = window(WindowKind::Weekly);
        assert_eq!(weekly.used, Some(50.0));
        assert_eq!(weekly.resets_at, at("2026-09-14T00:00:00Z"));
        assert_eq!(window(WindowKind::Daily).used, Some(0.0));
        assert_eq!(window(WindowKind::Monthly).used, Some(100.0));
    }

    const PLAN_2026_09: &str =
        include_str!("../../tests/fixtures/providers/kimi-code/plan-2026-09.json");
    const ENVELOPE: &str =
        include_str!("../../tests/fixtures/providers/kimi-code/envelope-zero-ratio.json");

    #[test]
    fn plan_2026_09_gives_one_window_per_real_window_and_names_the_monthly_pools() {
        let snapshot = parse(PLAN_2026_09).unwrap();
        let labels: Vec<_> = snapshot
            .windows
            .iter()
            .map(|w| (w.kind, w.scope.as_deref(), w.used))
            .collect();
        assert_eq!(
            labels,
            [
                (WindowKind::FiveHour, None, Some(100.0)),
                (WindowKind::Monthly, Some("coding"), Some(0.0)),
                (WindowKind::Monthly, Some("total"), Some(7.95)),
            ]
        );
        // The counts say used up, the ratio says 0: the more used figure, and why.
        let five_hour = &snapshot.windows[0];
        assert_eq!(
            (five_hour.unit, five_hour.limit, five_hour.remaining),
            (Unit::Requests, Some(100.0), Some(0.0))
        );
        assert_eq!(five_hour.resets_at, at("2026-09-22T12:22:15.593402Z"));
        let note = five_hour.note.as_deref().unwrap();
        assert!(note.contains("disagree") && note.contains("100 %") && note.contains("0 %"));
        assert!(snapshot.windows[1..].iter().all(|w| w.note.is_none()));
        assert_eq!(snapshot.windows[2].resets_at, at("2026-10-22T00:00:00Z"));
        // No `parallel`: the plan's published limit, marked as assumed.
        assert_eq!(snapshot.concurrency_limit, Some(30));
        assert!(snapshot.concurrency_limit_assumed);
    }

    #[test]
    fn figures_that_agree_stay_one_counted_window_and_a_higher_ratio_wins() {
        let body = |ratio: &str| {
            format!(
                r#"{{"limits": [{{"window": {{"duration": 300, "timeUnit": "TIME_UNIT_MINUTE"}},
                     "detail": {{"limit": "100", "used": "40"}}}}],
                   "usages": {{"limit_5h": {{"used_ratio": {ratio}}}}},
                   "parallel": {{"limit": "20"}}}}"#
            )
        };
        let agree = parse(&body("0.41")).unwrap();
        assert_eq!(agree.windows.len(), 1);
        assert_eq!(
            (agree.windows[0].unit, agree.windows[0].used),
            (Unit::Requests, Some(40.0))
        );
        assert_eq!(agree.windows[0].note, None);
        assert_eq!(agree.concurrency_limit, Some(20));
        assert!(!agree.concurrency_limit_assumed);

        let higher = parse(&body("0.9")).unwrap();
        assert_eq!(higher.windows.len(), 1);
        assert_eq!(
            (higher.windows[0].unit, higher.windows[0].used),
            (Unit::Percent, Some(90.0))
        );
        assert!(higher.windows[0].note.as_deref().unwrap().contains("40 %"));
    }

    #[test]
    fn the_camel_case_envelope_is_read_and_an_error_code_is_a_refusal() {
        let snapshot = parse(ENVELOPE).unwrap();
        let windows: Vec<_> = snapshot
            .windows
            .iter()
            .map(|w| (w.kind, w.used, w.resets_at))
            .collect();
        assert_eq!(
            windows,
            [
                (WindowKind::FiveHour, Some(0.0), at("2026-09-18T12:07:12Z")),
                (WindowKind::Weekly, Some(0.0), at("2026-09-23T23:07:12Z")),
            ]
        );
        match parse(r#"{"code": 40100, "msg": "token expired", "data": null}"#) {
            Err(UsageError::Refused(c)) => assert!(c.message.contains("40100"), "{c:?}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn monthly_exhaustion_is_quota_used_up_not_a_bad_key() {
        for (status, body) in [
            (
                403,
                r#"{"error":{"type":"access_terminated_error","message":"You've reached your monthly usage limit for this billing cycle"}}"#,
            ),
            (
                403,
                r#"{"error":{"type":"permission_error","message":"You've reached your usage limit for this billing cycle. Your quota will be refreshed in the next cycle."}}"#,
            ),
        ] {
            let c = classify(status, body);
            assert_eq!(c.cause, Cause::QuotaExhausted, "{body}");
            assert!(!c.retryable);
            assert!(c.advice.contains("monthly limit"), "{}", c.advice);
        }
        let c = classify(
            403,
            r#"{"error":{"type":"permission_error","message":"You've reached your concurrent request limit. Please wait for your ongoing requests to finish and try again."}}"#,
        );
        assert_eq!(c.cause, Cause::Concurrency);
    }

    #[test]
    fn plan_levels_are_title_cased() {
        let plan = |level: &str| {
            let body = format!(
                r#"{{"user": {{"membership": {{"level": "{level}"}}}}, "usage": {{"limit": "1", "used": "0"}}}}"#
            );
            parse(&body).unwrap().plan
        };
        assert_eq!(plan("LEVEL_STANDARD").as_deref(), Some("Standard"));
        assert_eq!(plan("LEVEL_PRO_PLUS").as_deref(), Some("Pro Plus"));
        assert_eq!(plan("allegretto").as_deref(), Some("Allegretto"));
        assert_eq!(plan("LEVEL_"), None);
    }

    #[test]
    fn booster_without_monthly_cap_and_omitted_zero_amounts() {
        let snapshot = parse(
            r#"{"usage": {"limit": "100", "used": "0"},
                "boosterWallet": {"balance": {"type": "BOOSTER", "amount": "5000000"},
                                  "monthlyChargeLimitEnabled": false,
                                  "monthlyChargeLimit": {"currency": "USD", "priceInCents": "20000"}}}"#,
        )
        .unwrap();
        assert_eq!(snapshot.windows.len(), 1);
        assert_eq!(snapshot.balances[0].amount, 0.0);

        let snapshot = parse(
            r#"{"usage": {"limit": "100", "used": "0"},
                "boosterWallet": {"balance": {"amountLeft": 250000000},
                                  "monthlyChargeLimitEnabled": true,
                                  "monthlyChargeLimit": {"priceInCents": 1000}}}"#,
        )
        .unwrap();
        assert_eq!(snapshot.balances[0].amount, 2.5);
        let cap = &snapshot.windows[1];
        assert_eq!((cap.used, cap.limit), (Some(0.0), Some(10.0)));
    }

    #[test]
    fn bodies_without_known_keys_are_shape_errors() {
        assert!(shape_error(r#"{"user": {"userId": "abc"}}"#).contains("none of usage"));
        assert!(shape_error(r#"{"usage": {"limit": "100"}}"#).contains("two of"));
        assert!(
            shape_error(r#"{"usage": {"limit": "lots", "used": "1"}}"#).contains("usage.limit")
        );
        assert!(shape_error(r#"{"usage": [1, 2]}"#).contains("not an object"));
        assert!(shape_error(r#"{"limits": {"a": 1}}"#).contains("not a list"));
        assert!(shape_error(r#"{"limits": [{"detail": {}}]}"#).contains("no window"));
        assert!(shape_error(r#"{"limits": []}"#).contains("no quota window"));
        assert!(
            shape_error(r#"{"usage": {"limit": "1", "used": "0", "resetTime": "tomorrow"}}"#)
                .contains("RFC 3339")
        );
        assert!(
            shape_error(r#"{"usage": {"limit": "1", "used": "0", "reset_in": "soon"}}"#)
                .contains("reset_in")
        );
        assert!(
            shape_error(r#"{"usage": {"limit": "1", "used": "0"}, "parallel": {"limit": "2.5"}}"#)
                .contains("parallel.limit")
        );
        assert!(
            shape_error(r#"{"usages": {"limit_5h": {"reset_time": "x"}}}"#).contains("used_ratio")
        );
    }

    #[test]
    fn every_truncation_of_the_documented_body_is_a_shape_error() {
        wire::assert_truncations_are_shape_errors(&KimiCode, DOCUMENTED, now());
    }

    #[test]
    fn garbage_is_a_shape_error_that_never_echoes_the_body() {
        for body in [
            "",
            "{\"usage\": {\"limit\": \"10",
            "<!DOCTYPE html><html><body>secret-ish</body></html>",
            "[1, 2, 3]",
            "null",
            "\u{0}\u{ff}\u{1}",
        ] {
            let text = shape_error(body);
            assert!(!text.contains("secret-ish"), "{text}");
        }
        let text = match KimiCode.parse_usage(
            &[0xff, 0xfe, 0x00],
            &UsageContext {
                now: now(),
                region: &REGIONS[0],
            },
        ) {
            Err(UsageError::Shape(text)) => text,
            other => panic!("{other:?}"),
        };
        assert!(text.contains("not valid JSON"));
    }

    #[test]
    fn seed_case_too_many_requests_is_the_concurrency_limit_not_the_quota() {
        let c = classify(
            429,
            r#"{"error":{"type":"rate_limit_error","message":"We're receiving too many requests at the moment"}}"#,
        );
        assert_eq!(c.cause, Cause::Concurrency);
        assert!(c.retryable);
        assert_eq!(c.limit, None);
        assert_eq!(c.retry_after, None);
        assert_eq!(c.message, "We're receiving too many requests at the moment");
        assert!(c.advice.contains("Concurrency limit"), "{}", c.advice);
        assert!(c.advice.contains("quota is fine"), "{}", c.advice);
    }

    #[test]
    fn concurrency_limit_and_wait_are_read_from_headers_and_text() {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", "7".parse().unwrap());
        let c = KimiCode.classify(
            429,
            &headers,
            br#"{"error":{"message":"request reached organization max concurrency: 30"}}"#,
            now(),
        );
        assert_eq!(c.cause, Cause::Concurrency);
        assert_eq!(c.limit, Some(30));
        assert_eq!(c.retry_after, Some(Duration::from_secs(7)));
        assert!(c.advice.contains("30") && !c.advice.contains("Retry"));

        let c = classify(
            429,
            r#"{"error":{"message":"max concurrency: 30, please try again after 3 seconds"}}"#,
        );
        assert_eq!(c.retry_after, Some(Duration::from_secs(3)));
    }

    #[test]
    fn overloaded_engine_is_not_the_users_fault() {
        let c = classify(
            429,
            r#"{"error":{"type":"rate_limit_error","message":"The engine is currently overloaded, please try again later"}}"#,
        );
        assert_eq!(c.cause, Cause::Overloaded);
        assert!(c.retryable);
        assert!(c.advice.contains("not your quota"));
        assert_eq!(classify(503, "{}").cause, Cause::Overloaded);
    }

    #[test]
    fn forbidden_means_different_things() {
        let c = classify(
            403,
            r#"{"error":{"type":"permission_error","message":"Kimi For Coding is currently only available for Coding Agents such as Kimi CLI, Claude Code, Roo Code, Kilo Code, etc."}}"#,
        );
        assert_eq!(c.cause, Cause::ClientRejected);
        assert!(!c.retryable);
        assert!(c.advice.contains("supported coding agents"), "{}", c.advice);

        let c = classify(
            403,
            r#"{"error":{"type":"access_terminated_error","message":"You have reached your weekly limit"}}"#,
        );
        assert_eq!(c.cause, Cause::QuotaExhausted);
        assert!(!c.retryable);
        assert!(c.advice.contains("weekly limit"), "{}", c.advice);

        let c = classify(
            403,
            r#"{"error":{"message":"Too many concurrent requests for this account"}}"#,
        );
        assert_eq!(c.cause, Cause::Concurrency);
        assert!(c.retryable);
        assert!(c.advice.contains("quota is fine"));

        let c = classify(403, r#"{"error":{"message":"Region not supported"}}"#);
        assert_eq!(c.cause, Cause::ClientRejected);
        assert_eq!(c.message, "Region not supported");
    }

    #[test]
    fn bad_keys_and_wrong_product_keys() {
        let c = classify(
            401,
            r#"{"error":{"type":"invalid_authentication_error","message":"Invalid Authentication"}}"#,
        );
        assert_eq!(c.cause, Cause::AuthInvalid);
        assert!(!c.retryable);

        let c = classify(404, r#"{"error":{"message":"Not Found"}}"#);
        assert_eq!(c.cause, Cause::AuthInvalid);
        assert!(c.advice.contains("--provider moonshot"), "{}", c.advice);
        assert!(c.advice.contains("not a Kimi Code key"), "{}", c.advice);

        let hint = KimiCode.wrong_product_hint().unwrap();
        assert!(hint.contains("404") && hint.contains("--provider moonshot"));
    }

    #[test]
    fn html_and_unknown_bodies_never_panic() {
        let c = classify(502, "<!DOCTYPE html><html><body>Bad Gateway</body></html>");
        assert_eq!(c.cause, Cause::Overloaded);
        assert!(c.message.contains("HTML error page") && c.message.contains("502"));
        assert!(c.retryable);

        let c = classify(400, "\u{0}not json at all");
        assert_eq!(c.cause, Cause::Other);
        let c = KimiCode.classify(418, &HeaderMap::new(), &[0xff, 0x00, 0xfe], now());
        assert_eq!(c.cause, Cause::Other);
    }

    #[test]
    fn one_region_with_bearer_auth() {
        assert_eq!(KimiCode.regions().len(), 1);
        assert_eq!(KimiCode.regions()[0].name, "global");
        assert_eq!(
            KimiCode.regions()[0].usage_url,
            "https://api.kimi.com/coding/v1/usages"
        );
        assert_eq!(KimiCode.auth_style(), AuthStyle::Bearer);
    }
}
