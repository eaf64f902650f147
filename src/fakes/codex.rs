//! Codex on a ChatGPT plan: `GET /backend-api/wham/usage` (docs/providers.md, "OpenAI Codex").
//! Windows are percentages named by their length in seconds; resets are epoch seconds, with
//! the seconds left beside them; credits are a decimal string.

use super::{Ctx, Reply, Shapes, no_required_headers};
use axum::http::{HeaderMap, StatusCode};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

pub(super) const SHAPES: Shapes = Shapes {
    normal: usage,
    variant: weekly_only,
    unauthorized,
    rate_limited,
    wrong_product: None,
    windows: &["five_hour", "weekly"],
    used_percent: served_used_percent,
    missing_header: no_required_headers,
};

/// The primary window's `used_percent`, already a percentage.
fn served_used_percent(body: &Value, _: &HeaderMap) -> Option<f64> {
    body.pointer("/rate_limit/primary_window/used_percent")?
        .as_f64()
}

/// `used_percent` of `seconds`, resetting in `hours`.
fn window(ctx: &Ctx, used: f64, seconds: u64, hours: i64) -> Value {
    let reset = ctx.in_hours(hours);
    json!({
        "used_percent": used,
        "limit_window_seconds": seconds,
        "reset_after_seconds": reset.as_second() - ctx.now.as_second(),
        "reset_at": reset.as_second()
    })
}

/// A Plus plan: the 5-hour window at `used_percent`, the week at half of it, no credits.
fn usage(ctx: &Ctx) -> Reply {
    let week = window(ctx, ctx.used_percent / 2.0, 604_800, 4 * 24);
    plan(
        ctx,
        "plus",
        window(ctx, ctx.used_percent, 18_000, 3),
        week,
        "0",
    )
}

/// A plan whose only window is the week, in the primary slot, with credits left.
fn weekly_only(ctx: &Ctx) -> Reply {
    let week = window(ctx, ctx.used_percent, 604_800, 5 * 24);
    plan(ctx, "free", week, Value::Null, "12.50")
}

fn plan(ctx: &Ctx, plan: &str, primary: Value, secondary: Value, credits: &str) -> Reply {
    Reply::ok(json!({
        "plan_type": plan,
        "rate_limit": {
            "allowed": ctx.used_percent < 100.0,
            "limit_reached": ctx.used_percent >= 100.0,
            "primary_window": primary,
            "secondary_window": secondary
        },
        "credits": {"has_credits": credits != "0", "unlimited": false, "balance": credits}
    }))
}

/// 401 of a token that is not (or no longer) a ChatGPT login.
fn unauthorized(sent: Option<&str>) -> Reply {
    let (message, code) = match sent {
        Some(_) => (
            "Provided authentication token is expired. Please try signing in again.",
            "token_expired",
        ),
        None => (
            "Missing bearer or basic authentication in header",
            "missing_authorization",
        ),
    };
    Reply::json(
        StatusCode::UNAUTHORIZED,
        json!({
            "error": {"message": message, "type": null, "code": code, "param": null},
            "status": 401
        }),
    )
}

/// 429 `usage_limit_reached`, with the plan and the reset.
fn rate_limited(retry_after_s: u64) -> Reply {
    Reply::json(
        StatusCode::TOO_MANY_REQUESTS,
        json!({"error": {
            "type": "usage_limit_reached",
            "message": "The usage limit has been reached",
            "plan_type": "plus",
            "resets_in_seconds": retry_after_s
        }}),
    )
}

/// The `x-codex-*` headers a Responses API answer carries: the 5-hour window at
/// `used_percent`, the week at half of it, resets as epoch seconds and seconds left.
pub(super) fn add_rate_headers(headers: &mut HeaderMap, used_percent: f64, now: Timestamp) {
    let windows = [
        ("primary", used_percent, 300, 3),
        ("secondary", used_percent / 2.0, 10_080, 4 * 24),
    ];
    let mut pairs = vec![("x-codex-plan-type".to_owned(), "plus".to_owned())];
    for (slot, used, minutes, hours) in windows {
        let reset = now + SignedDuration::from_hours(hours);
        pairs.extend([
            (format!("x-codex-{slot}-used-percent"), used.to_string()),
            (
                format!("x-codex-{slot}-window-minutes"),
                minutes.to_string(),
            ),
            (
                format!("x-codex-{slot}-reset-at"),
                reset.as_second().to_string(),
            ),
            (
                format!("x-codex-{slot}-reset-after-seconds"),
                (hours * 3600).to_string(),
            ),
        ]);
    }
    for (name, value) in pairs {
        let (name, value) = super::header_pair(&name, &value);
        headers.insert(name, value);
    }
}
