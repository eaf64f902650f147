//! MiniMax's `GET /v1/token_plan/remains` (and the older coding plan route with the same
//! answers; docs/providers.md, "MiniMax", the least certain shape). Errors in the `base_resp`
//! envelope.

use super::{Ctx, Reply, Shapes, no_required_headers};
use axum::http::HeaderMap;
use axum::http::StatusCode;
use jiff::SignedDuration;
use serde_json::{Value, json};

pub(super) const SHAPES: Shapes = Shapes {
    normal: token_plan,
    variant: coding_plan,
    unauthorized,
    rate_limited,
    wrong_product: None,
    windows: &["five_hour", "weekly"],
    used_percent: served_used_percent,
    missing_header: no_required_headers,
};

/// The interval's remaining percentage, turned into used.
fn served_used_percent(body: &Value, _: &HeaderMap) -> Option<f64> {
    let remaining = body
        .pointer("/model_remains/0/current_interval_remaining_percent")?
        .as_f64()?;
    Some(100.0 - remaining)
}

/// Prompts in the 5-hour interval.
const INTERVAL_TOTAL: f64 = 1500.0;

/// The Token Plan's body: the `general` bucket with its counts zeroed, the 5-hour interval
/// (started 2 h ago, ends in 3 h, epoch ms) at `used_percent` and the week at half of it, both
/// given as the percentage *left*; and an unlimited `video` bucket (`status` 3).
fn token_plan(ctx: &Ctx) -> Reply {
    let start = ctx.now - SignedDuration::from_hours(2);
    let end = ctx.in_hours(3);
    Reply::ok(json!({
        "model_remains": [
            {
                "model_name": "general",
                "start_time": start.as_millisecond(),
                "end_time": end.as_millisecond(),
                "remains_time": end.as_millisecond() - ctx.now.as_millisecond(),
                "current_interval_total_count": 0,
                "current_interval_usage_count": 0,
                "current_interval_remaining_percent": 100.0 - ctx.used_percent,
                "current_weekly_remaining_percent": 100.0 - ctx.used_percent / 2.0,
                "current_weekly_status": 1,
                "weekly_end_time": ctx.in_hours(4 * 24).as_millisecond()
            },
            {
                "model_name": "video",
                "current_interval_total_count": 3,
                "current_interval_usage_count": 3,
                "current_interval_remaining_percent": 100,
                "status": 3
            }
        ],
        "base_resp": {"status_code": 0, "status_msg": "success"}
    }))
}

/// The coding plan's body: one model whose 5-hour interval started 2 h ago and ends in 3 h
/// (epoch ms), `current_interval_remaining_percent` = 100 - `used_percent`. Sources disagree on
/// `current_interval_usage_count`; the fake uses the awkward reading, the count *remaining*.
fn coding_plan(ctx: &Ctx) -> Reply {
    let start = ctx.now - SignedDuration::from_hours(2);
    let end = ctx.in_hours(3);
    Reply::ok(json!({
        "model_remains": [{
            "model_name": "MiniMax-M2",
            "start_time": start.as_millisecond(),
            "end_time": end.as_millisecond(),
            "remains_time": end.as_millisecond() - ctx.now.as_millisecond(),
            "current_interval_total_count": INTERVAL_TOTAL as u64,
            "current_interval_usage_count": ctx.remaining_of(INTERVAL_TOTAL) as u64,
            "current_interval_remaining_percent": 100.0 - ctx.used_percent
        }],
        "base_resp": {"status_code": 0, "status_msg": "success"}
    }))
}

fn error(status: StatusCode, code: u32, message: &str) -> Reply {
    Reply::json(
        status,
        json!({"base_resp": {"status_code": code, "status_msg": message}}),
    )
}

/// 401 with `status_code` 1004 (authentication failed).
fn unauthorized(_sent: Option<&str>) -> Reply {
    error(
        StatusCode::UNAUTHORIZED,
        1004,
        "login fail: Please carry the API secret key in the 'Authorization' field of the request header",
    )
}

/// 429 with `status_code` 1002 (rate limit).
fn rate_limited(_retry_after_s: u64) -> Reply {
    error(StatusCode::TOO_MANY_REQUESTS, 1002, "rate limit exceeded")
}
