//! OpenRouter's `GET /api/v1/key` (docs/providers.md, "OpenRouter").

use super::{Ctx, Reply, Shapes, no_required_headers};
use axum::http::HeaderMap;
use axum::http::StatusCode;
use serde_json::{Value, json};

pub(super) const SHAPES: Shapes = Shapes {
    normal: key_with_limit,
    variant: unlimited_key,
    unauthorized,
    rate_limited,
    wrong_product: None,
    windows: &["monthly"],
    used_percent: served_used_percent,
    missing_header: no_required_headers,
};

/// Usage against the key's credit limit.
fn served_used_percent(body: &Value, _: &HeaderMap) -> Option<f64> {
    let field = |name: &str| body.pointer(&format!("/data/{name}"))?.as_f64();
    Some(100.0 * field("usage")? / field("limit")?)
}

/// The key's credit limit in USD.
const LIMIT: f64 = 100.0;

/// A key with a monthly limit of 100 credits of which `used_percent` is used.
fn key_with_limit(ctx: &Ctx) -> Reply {
    let usage = LIMIT * ctx.used_percent / 100.0;
    key(ctx, json!(LIMIT), json!(LIMIT - usage), json!("monthly"))
}

/// An unlimited key: `limit`, `limit_remaining` and `limit_reset` are null.
fn unlimited_key(ctx: &Ctx) -> Reply {
    key(ctx, Value::Null, Value::Null, Value::Null)
}

fn key(ctx: &Ctx, limit: Value, limit_remaining: Value, limit_reset: Value) -> Reply {
    let usage = LIMIT * ctx.used_percent / 100.0;
    Reply::ok(json!({"data": {
        "label": label(ctx.key),
        "limit": limit,
        "limit_remaining": limit_remaining,
        "limit_reset": limit_reset,
        "usage": usage,
        "usage_daily": usage,
        "usage_weekly": usage,
        "usage_monthly": usage,
        "is_free_tier": false,
        "rate_limit": {"requests": 1000, "interval": "1h"}
    }}))
}

/// `sk-or-v1-au7...890`, as OpenRouter labels a key.
fn label(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() < 16 {
        return "...".to_owned();
    }
    let head: String = chars[..11].iter().collect();
    let tail: String = chars[chars.len() - 3..].iter().collect();
    format!("{head}...{tail}")
}

fn error(status: StatusCode, message: &str, metadata: Option<Value>) -> Reply {
    let mut error = json!({"code": status.as_u16(), "message": message});
    if let Some(metadata) = metadata {
        error["metadata"] = metadata;
    }
    Reply::json(status, json!({ "error": error }))
}

/// 401 `{"error":{"code":401,"message"}}`.
fn unauthorized(sent: Option<&str>) -> Reply {
    let message = match sent {
        Some(_) => "User not found.",
        None => "No auth credentials found",
    };
    error(StatusCode::UNAUTHORIZED, message, None)
}

/// 429 with the limit's headers in `metadata`.
fn rate_limited(retry_after_s: u64) -> Reply {
    let reset_ms = jiff::Timestamp::now().as_millisecond() + 1000 * retry_after_s as i64;
    let metadata = json!({"headers": {
        "X-RateLimit-Limit": "20",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": reset_ms.to_string()
    }});
    error(
        StatusCode::TOO_MANY_REQUESTS,
        "Rate limit exceeded: limit_rpm/fake/key",
        Some(metadata),
    )
}
