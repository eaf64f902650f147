//! Anthropic has no usage endpoint: Redline polls `GET /v1/models` and reads the
//! `anthropic-ratelimit-*` headers (docs/providers.md, "Anthropic API"). Requires `x-api-key` and
//! `anthropic-version`.

use super::{Ctx, Reply, Shapes, header_number, rfc3339_seconds};
use axum::http::{HeaderMap, StatusCode};
use jiff::SignedDuration;
use serde_json::{Value, json};

pub(super) const SHAPES: Shapes = Shapes {
    normal: models,
    variant: models,
    unauthorized,
    rate_limited,
    wrong_product: None,
    windows: &["rpm", "tpm"],
    used_percent: served_used_percent,
    missing_header: missing_version,
};

/// The requests bucket's headers as a percentage used.
fn served_used_percent(_: &Value, headers: &HeaderMap) -> Option<f64> {
    let remaining = header_number(headers, "anthropic-ratelimit-requests-remaining")?;
    Some(100.0 * (1.0 - remaining / header_number(headers, "anthropic-ratelimit-requests-limit")?))
}

/// Limits per bucket; each refills fully in a minute.
const BUCKETS: [(&str, f64); 4] = [
    ("requests", 4_000.0),
    ("tokens", 480_000.0),
    ("input-tokens", 400_000.0),
    ("output-tokens", 80_000.0),
];

/// The model list, with `anthropic-ratelimit-{bucket}-{limit|remaining|reset}` headers where
/// `used_percent` of every bucket is spent; resets are RFC 3339 instants of a full refill.
fn models(ctx: &Ctx) -> Reply {
    let model = |id: &str, name: &str, created: &str| json!({"type": "model", "id": id, "display_name": name, "created_at": created});
    let mut reply = Reply::ok(json!({
        "data": [
            model("claude-sonnet-4-5-20250929", "Claude Sonnet 4.5", "2025-09-29T00:00:00Z"),
            model("claude-haiku-4-5-20251001", "Claude Haiku 4.5", "2025-10-15T00:00:00Z")
        ],
        "has_more": false,
        "first_id": "claude-sonnet-4-5-20250929",
        "last_id": "claude-haiku-4-5-20251001"
    }));
    let refill = SignedDuration::from_secs_f64(60.0 * ctx.used_percent / 100.0);
    let reset = rfc3339_seconds(ctx.now + refill);
    for (bucket, limit) in BUCKETS {
        let name = |field: &str| format!("anthropic-ratelimit-{bucket}-{field}");
        reply = reply
            .header(name("limit"), limit)
            .header(name("remaining"), ctx.remaining_of(limit))
            .header(name("reset"), &reset);
    }
    reply.header("request-id", "req_fake_models")
}

/// Anthropic's error envelope, shared with the Claude fake.
pub(super) fn error(status: StatusCode, kind: &str, message: &str) -> Reply {
    let body: Value = json!({
        "type": "error",
        "error": {"type": kind, "message": message},
        "request_id": "req_fake_0123456789"
    });
    Reply::json(status, body)
}

/// 401 `authentication_error`.
fn unauthorized(sent: Option<&str>) -> Reply {
    let message = match sent {
        Some(_) => "invalid x-api-key",
        None => "x-api-key header is required",
    };
    error(StatusCode::UNAUTHORIZED, "authentication_error", message)
}

/// 400 when `anthropic-version` is missing.
fn missing_version(headers: &HeaderMap) -> Option<Reply> {
    (!headers.contains_key("anthropic-version")).then(|| {
        error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "anthropic-version: header is required",
        )
    })
}

/// 429 `rate_limit_error` (the caller adds `retry-after`, in seconds).
fn rate_limited(_retry_after_s: u64) -> Reply {
    error(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limit_error",
        "This request would exceed your organization's rate limit of 4,000 requests per \
         minute. For details, refer to: https://docs.claude.com/en/api/rate-limits.",
    )
    .header("anthropic-ratelimit-requests-limit", 4000)
    .header("anthropic-ratelimit-requests-remaining", 0)
}
