//! Z.ai's `GET /api/monitor/usage/quota/limit` (docs/providers.md, "Z.ai GLM Coding Plan").
//! The key goes raw in `Authorization` (no `Bearer`); refusals come inside HTTP 200.

use super::{Ctx, Reply, Shapes, no_required_headers};
use axum::http::HeaderMap;
use axum::http::StatusCode;
use serde_json::{Value, json};

pub(super) const SHAPES: Shapes = Shapes {
    normal: quota_limit,
    variant: credit_plan,
    unauthorized,
    rate_limited,
    wrong_product: None,
    windows: &["five_hour", "monthly"],
    used_percent: served_used_percent,
    missing_header: no_required_headers,
};

/// The first limit's percentage.
fn served_used_percent(body: &Value, _: &HeaderMap) -> Option<f64> {
    body.pointer("/data/limits/0/percentage")?.as_f64()
}

/// `unit` codes.
const HOURS: u64 = 3;
const MONTH: u64 = 5;
const WEEK: u64 = 6;

/// Credits in a credit plan's 5-hour window and week (the Lite plan's).
const CREDITS_5H: f64 = 2000.0;
const CREDITS_WEEK: f64 = 10000.0;

/// The observed body: a 5-hour `TOKENS_LIMIT` whose `percentage` is `used_percent` (a whole
/// number, as Z.ai sends it) and a monthly `TIME_LIMIT` (tool calls) at 5 %, with an unknown
/// `usageDetails`; `nextResetTime` in epoch milliseconds.
fn quota_limit(ctx: &Ctx) -> Reply {
    Reply::ok(json!({
        "code": 200,
        "msg": "Operation successful",
        "success": true,
        "data": {
            "level": "pro",
            "limits": [
                {
                    "type": "TOKENS_LIMIT",
                    "unit": HOURS,
                    "number": 5,
                    "percentage": ctx.used_percent.round() as u64,
                    "nextResetTime": ctx.in_hours(3).as_millisecond()
                },
                {
                    "type": "TIME_LIMIT",
                    "unit": MONTH,
                    "number": 1,
                    "usage": 1000,
                    "currentValue": 50,
                    "remaining": 950,
                    "percentage": 5,
                    "nextResetTime": ctx.in_hours(20 * 24).as_millisecond(),
                    "usageDetails": [
                        {"modelCode": "search-prime", "usage": 30},
                        {"modelCode": "web-reader", "usage": 20}
                    ]
                }
            ]
        }
    }))
}

/// A credit plan (2026-07): `CREDIT_LIMIT` rows only, the 5-hour one at `used_percent` of its
/// credits and the week at a fifth of that; `percentage` rounded, as Z.ai sends it, and no
/// `code`/`success` (as one capture has it).
fn credit_plan(ctx: &Ctx) -> Reply {
    let week = Ctx {
        used_percent: ctx.used_percent / 5.0,
        ..*ctx
    };
    let row = |unit, number, ctx: &Ctx, credits: f64, hours: i64| {
        json!({
            "type": "CREDIT_LIMIT",
            "unit": unit,
            "number": number,
            "usage": credits,
            "currentValue": ctx.used_of(credits),
            "remaining": ctx.remaining_of(credits),
            "percentage": ctx.used_percent.round() as u64,
            "nextResetTime": ctx.in_hours(hours).as_millisecond()
        })
    };
    Reply::ok(json!({
        "data": {
            "level": "lite",
            "limits": [
                row(HOURS, 5, ctx, CREDITS_5H, 3),
                row(WEEK, 1, &week, CREDITS_WEEK, 4 * 24),
            ]
        }
    }))
}

/// A wrong, missing or `Bearer`-prefixed key: HTTP **200** with `code` 1001.
fn unauthorized(_sent: Option<&str>) -> Reply {
    Reply::ok(json!({"code": 1001, "success": false, "msg": "Authorization Token Missing"}))
}

/// 429 in the same `{"code","success","msg"}` envelope (1302: too many requests).
fn rate_limited(_retry_after_s: u64) -> Reply {
    Reply::json(
        StatusCode::TOO_MANY_REQUESTS,
        json!({
            "code": 1302,
            "success": false,
            "msg": "High concurrency usage of this API, please reduce concurrency or contact customer service to increase limits"
        }),
    )
}
