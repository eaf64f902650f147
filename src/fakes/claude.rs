//! The Claude subscription's `GET /api/oauth/usage` (docs/providers.md, "Claude subscription").
//! Requires `Authorization: Bearer <oauth token>` and `anthropic-beta: oauth-2025-04-20`.

use super::anthropic::error;
use super::{Ctx, Reply, Shapes, rfc3339_micros_offset};
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

pub(super) const SHAPES: Shapes = Shapes {
    normal: usage,
    variant: usage_with_opus,
    unauthorized,
    rate_limited,
    wrong_product: None,
    windows: &["five_hour", "weekly"],
    used_percent: served_used_percent,
    missing_header: missing_beta,
};

/// The 5-hour utilization, already a percentage.
fn served_used_percent(body: &Value, _: &HeaderMap) -> Option<f64> {
    body.pointer("/five_hour/utilization")?.as_f64()
}

const OAUTH_BETA: &str = "oauth-2025-04-20";

/// The observed body: `five_hour.utilization` is `used_percent` (0-100), `seven_day` half of it,
/// `resets_at` with microseconds and a `+00:00` offset, the per-model weeks null; with the
/// `anthropic-ratelimit-unified-*` headers (utilization 0-1, resets in epoch seconds).
fn usage(ctx: &Ctx) -> Reply {
    usage_body(ctx, Value::Null)
}

/// As [`usage`], with a `seven_day_opus` window (at the weekly utilization).
fn usage_with_opus(ctx: &Ctx) -> Reply {
    let opus = json!({
        "utilization": ctx.used_percent / 2.0,
        "resets_at": rfc3339_micros_offset(ctx.in_hours(4 * 24))
    });
    usage_body(ctx, opus)
}

fn usage_body(ctx: &Ctx, seven_day_opus: Value) -> Reply {
    let (five_hour, seven_day) = (ctx.used_percent, ctx.used_percent / 2.0);
    let (five_hour_reset, seven_day_reset) = (ctx.in_hours(3), ctx.in_hours(4 * 24));
    let status = if five_hour >= 100.0 {
        "rejected"
    } else {
        "allowed"
    };
    Reply::ok(json!({
        "five_hour": {
            "utilization": five_hour,
            "resets_at": rfc3339_micros_offset(five_hour_reset)
        },
        "seven_day": {
            "utilization": seven_day,
            "resets_at": rfc3339_micros_offset(seven_day_reset)
        },
        "seven_day_oauth_apps": null,
        "seven_day_opus": seven_day_opus,
        "seven_day_sonnet": null,
        "extra_usage": {
            "is_enabled": false,
            "monthly_limit": null,
            "used_credits": null,
            "utilization": null
        }
    }))
    .header("anthropic-ratelimit-unified-status", status)
    .header(
        "anthropic-ratelimit-unified-5h-utilization",
        five_hour / 100.0,
    )
    .header(
        "anthropic-ratelimit-unified-5h-reset",
        five_hour_reset.as_second(),
    )
    .header(
        "anthropic-ratelimit-unified-7d-utilization",
        seven_day / 100.0,
    )
    .header(
        "anthropic-ratelimit-unified-7d-reset",
        seven_day_reset.as_second(),
    )
}

/// 401 `authentication_error`.
fn unauthorized(sent: Option<&str>) -> Reply {
    let message = match sent {
        Some(_) => "Invalid bearer token",
        None => "OAuth token is required: send Authorization: Bearer <token>",
    };
    error(StatusCode::UNAUTHORIZED, "authentication_error", message)
}

/// 400 when `anthropic-beta` does not name the OAuth beta.
fn missing_beta(headers: &HeaderMap) -> Option<Reply> {
    let has_beta = headers
        .get_all("anthropic-beta")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|beta| beta.trim() == OAUTH_BETA);
    (!has_beta).then(|| {
        error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "OAuth authentication is currently not supported without the anthropic-beta: \
             oauth-2025-04-20 header.",
        )
    })
}

/// 429 `rate_limit_error`: the usage endpoint limits frequent pollers.
fn rate_limited(_retry_after_s: u64) -> Reply {
    error(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limit_error",
        "Rate limited. Please try again later.",
    )
}
