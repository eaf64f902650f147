//! Kimi Code's `GET /coding/v1/usages` (docs/providers.md, "Kimi Code").

use super::{Ctx, Reply, Shapes, decimal_string, no_required_headers, rfc3339_nanos};
use axum::http::HeaderMap;
use axum::http::StatusCode;
use serde_json::{Value, json};

pub(super) const SHAPES: Shapes = Shapes {
    normal: usages,
    variant: plan_2026_09,
    unauthorized,
    rate_limited,
    wrong_product: Some(not_a_kimi_code_key),
    windows: &["five_hour", "weekly"],
    used_percent: served_used_percent,
    missing_header: no_required_headers,
};

/// The 5-hour `limits[]` count as a percentage, as a client reads it.
fn served_used_percent(body: &Value, _: &HeaderMap) -> Option<f64> {
    let detail = |field: &str| {
        body.pointer(&format!("/limits/0/detail/{field}"))?
            .as_str()?
            .parse::<f64>()
            .ok()
    };
    Some(100.0 * detail("used")? / detail("limit")?)
}

/// Calls in the 5-hour window (the `limits[]` entry of 300 minutes).
const FIVE_HOUR_LIMIT: f64 = 1000.0;
/// Calls in the week (the top-level `usage`).
const WEEKLY_LIMIT: f64 = 10000.0;

/// The observed body: top-level `usage` is the weekly window (used at half the 5-hour
/// percentage) and, awkwardly, has no `used`; the 300-minute `limits[]` entry is the 5-hour
/// window at `used_percent`. Numbers are decimal strings, `resetTime` has nanoseconds,
/// `parallel.limit` is a string, the booster wallet is fixed point, and there is an unknown key.
fn usages(ctx: &Ctx) -> Reply {
    let weekly = Ctx {
        used_percent: ctx.used_percent / 2.0,
        ..*ctx
    };
    Reply::ok(json!({
        "user": {
            "userId": "fake-user-1",
            "region": "REGION_OVERSEA",
            "membership": {"level": "LEVEL_STANDARD"}
        },
        "usage": {
            "limit": decimal_string(WEEKLY_LIMIT),
            "remaining": decimal_string(weekly.remaining_of(WEEKLY_LIMIT)),
            "resetTime": rfc3339_nanos(ctx.in_hours(4 * 24))
        },
        "limits": [{
            "window": {"duration": 300, "timeUnit": "TIME_UNIT_MINUTE"},
            "detail": {
                "limit": decimal_string(FIVE_HOUR_LIMIT),
                "used": decimal_string(ctx.used_of(FIVE_HOUR_LIMIT)),
                "remaining": decimal_string(ctx.remaining_of(FIVE_HOUR_LIMIT)),
                "resetTime": rfc3339_nanos(ctx.in_hours(3))
            }
        }],
        "parallel": {"limit": ctx.concurrency_limit.to_string()},
        "boosterWallet": {
            "id": "wallet_1",
            "balance": {
                "type": "BOOSTER",
                "amount": "20000000000",
                "amountLeft": "10000000000",
                "unit": "UNIT_CURRENCY"
            },
            "monthlyChargeLimitEnabled": true,
            "monthlyChargeLimit": {"currency": "USD", "priceInCents": "20000"},
            "monthlyUsed": {"currency": "USD", "priceInCents": "5000"}
        },
        "extra_field_for_testing": {
            "note": "a key no parser knows; it must be ignored",
            "nested": {"flag": true, "list": [1, "two", null]}
        }
    }))
}

/// The plan scheme of 2026-09 (docs/providers.md, "Kimi Code"): `limits[]` with the 5-hour
/// counts beside `usages` ratios (the 5-hour one agreeing, the two monthly pools at a quarter
/// and an eighth of `used_percent`), no `user`, no `usage`, no `parallel`.
fn plan_2026_09(ctx: &Ctx) -> Reply {
    let month_reset = rfc3339_nanos(ctx.in_hours(20 * 24));
    Reply::ok(json!({
        "limits": [{
            "window": {"duration": 300, "timeUnit": "TIME_UNIT_MINUTE"},
            "detail": {
                "limit": decimal_string(FIVE_HOUR_LIMIT),
                "used": decimal_string(ctx.used_of(FIVE_HOUR_LIMIT)),
                "resetTime": rfc3339_nanos(ctx.in_hours(3))
            }
        }],
        "usages": {
            "limit_5h": {
                "used_ratio": ctx.used_percent / 100.0,
                "reset_time": rfc3339_nanos(ctx.in_hours(3))
            },
            "limit_month_total": {"used_ratio": ctx.used_percent / 400.0, "reset_time": month_reset},
            "limit_month_code": {"used_ratio": ctx.used_percent / 800.0, "reset_time": month_reset}
        }
    }))
}

/// 401, a bad key, in the Moonshot family's `{"error":{"type","message"}}` format.
fn unauthorized(_sent: Option<&str>) -> Reply {
    Reply::json(
        StatusCode::UNAUTHORIZED,
        json!({"error": {
            "type": "invalid_authentication_error",
            "message": "Invalid Authentication"
        }}),
    )
}

/// 429 with the message Kimi users see.
fn rate_limited(_retry_after_s: u64) -> Reply {
    Reply::json(
        StatusCode::TOO_MANY_REQUESTS,
        json!({"error": {
            "type": "rate_limit_error",
            "message": "We're receiving too many requests at the moment"
        }}),
    )
}

/// 404: the key is not a Kimi Code key (e.g. a Moonshot platform key).
fn not_a_kimi_code_key() -> Reply {
    Reply::json(
        StatusCode::NOT_FOUND,
        json!({"error": {"type": "resource_not_found_error", "message": "url.not_found"}}),
    )
}
