//! OpenAI has no usage endpoint: Redline polls `GET /v1/models` and reads the
//! `x-ratelimit-*` headers (docs/providers.md, "OpenAI").

use super::{Ctx, Reply, Shapes, go_duration, header_number, masked, no_required_headers};
use axum::http::HeaderMap;
use axum::http::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

pub(super) const SHAPES: Shapes = Shapes {
    normal: models,
    variant: models,
    unauthorized,
    rate_limited,
    wrong_product: None,
    windows: &["rpm", "tpm"],
    used_percent: served_used_percent,
    missing_header: no_required_headers,
};

/// The requests bucket's headers as a percentage used.
fn served_used_percent(_: &Value, headers: &HeaderMap) -> Option<f64> {
    let remaining = header_number(headers, "x-ratelimit-remaining-requests")?;
    Some(100.0 * (1.0 - remaining / header_number(headers, "x-ratelimit-limit-requests")?))
}

const REQUESTS_PER_MINUTE: f64 = 10_000.0;
const TOKENS_LIMIT: f64 = 2_000_000.0;
/// Time for an empty token bucket to refill: 15 minutes, so the default 40 % used reads `6m0s`.
const TOKENS_REFILL: Duration = Duration::from_secs(15 * 60);
const REQUESTS_REFILL: Duration = Duration::from_secs(60);

/// The model list, with rate-limit headers where `used_percent` of both the requests and the
/// tokens bucket is spent; resets are Go durations until a full refill.
fn models(ctx: &Ctx) -> Reply {
    let spent = ctx.used_percent / 100.0;
    let model = |id: &str, created: u64| json!({"id": id, "object": "model", "created": created, "owned_by": "system"});
    Reply::ok(json!({
        "object": "list",
        "data": [model("gpt-4o-mini", 1_721_172_741), model("gpt-4.1", 1_744_316_542)]
    }))
    .header("x-ratelimit-limit-requests", REQUESTS_PER_MINUTE)
    .header("x-ratelimit-limit-tokens", TOKENS_LIMIT)
    .header(
        "x-ratelimit-remaining-requests",
        ctx.remaining_of(REQUESTS_PER_MINUTE),
    )
    .header(
        "x-ratelimit-remaining-tokens",
        ctx.remaining_of(TOKENS_LIMIT),
    )
    .header(
        "x-ratelimit-reset-requests",
        go_duration(REQUESTS_REFILL.mul_f64(spent)),
    )
    .header(
        "x-ratelimit-reset-tokens",
        go_duration(TOKENS_REFILL.mul_f64(spent)),
    )
}

/// 401 `invalid_api_key`, naming the masked key.
fn unauthorized(sent: Option<&str>) -> Reply {
    let message = match sent {
        Some(key) => format!(
            "Incorrect API key provided: {}. You can find your API key at \
             https://platform.openai.com/account/api-keys.",
            masked(key)
        ),
        None => "You didn't provide an API key. You need to provide your API key in an \
                 Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
            .to_owned(),
    };
    Reply::json(
        StatusCode::UNAUTHORIZED,
        json!({"error": {
            "message": message,
            "type": "invalid_request_error",
            "param": null,
            "code": "invalid_api_key"
        }}),
    )
}

/// 429 `rate_limit_exceeded` on requests per minute, with the headers of an empty bucket.
fn rate_limited(retry_after_s: u64) -> Reply {
    let message = format!(
        "Rate limit reached for gpt-4o-mini in project proj_fake on requests per min (RPM): \
         Limit {REQUESTS_PER_MINUTE}, Used {REQUESTS_PER_MINUTE}, Requested 1. \
         Please try again in {retry_after_s}s. Visit https://platform.openai.com/account/rate-limits \
         to learn more."
    );
    Reply::json(
        StatusCode::TOO_MANY_REQUESTS,
        json!({"error": {
            "message": message,
            "type": "requests",
            "param": null,
            "code": "rate_limit_exceeded"
        }}),
    )
    .header("x-ratelimit-limit-requests", REQUESTS_PER_MINUTE)
    .header("x-ratelimit-remaining-requests", 0)
    .header(
        "x-ratelimit-reset-requests",
        go_duration(Duration::from_secs(retry_after_s)),
    )
}
