//! DeepSeek's `GET /user/balance` (docs/providers.md, "DeepSeek"); errors in DeepSeek's
//! OpenAI-style `{"error":{"message","type","param","code"}}` format.

use super::{Ctx, Reply, Shapes, masked, no_required_headers, serves_no_used_percent};
use axum::http::StatusCode;
use serde_json::json;

pub(super) const SHAPES: Shapes = Shapes {
    normal: balance,
    variant: balance,
    unauthorized,
    rate_limited,
    wrong_product: None,
    windows: &[],
    used_percent: serves_no_used_percent,
    missing_header: no_required_headers,
};

/// The documented body: amounts are decimal strings. A balance has no "used", so
/// `used_percent` does not change it.
fn balance(_ctx: &Ctx) -> Reply {
    Reply::ok(json!({
        "is_available": true,
        "balance_infos": [{
            "currency": "CNY",
            "total_balance": "110.00",
            "granted_balance": "10.00",
            "topped_up_balance": "100.00"
        }]
    }))
}

/// 401 naming the masked key.
fn unauthorized(sent: Option<&str>) -> Reply {
    let message = format!(
        "Authentication Fails, Your api key: {} is invalid",
        masked(sent.unwrap_or_default())
    );
    Reply::json(
        StatusCode::UNAUTHORIZED,
        json!({"error": {
            "message": message,
            "type": "authentication_error",
            "param": null,
            "code": "invalid_request_error"
        }}),
    )
}

/// 429 "rate limit reached".
fn rate_limited(_retry_after_s: u64) -> Reply {
    Reply::json(
        StatusCode::TOO_MANY_REQUESTS,
        json!({"error": {
            "message": "Rate Limit Reached",
            "type": "rate_limit_reached_error",
            "param": null,
            "code": "rate_limit_reached"
        }}),
    )
}
