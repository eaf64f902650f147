//! Volcano Engine Ark and its Coding Plan: `GET /api/v3/models` is the key check; errors are
//! `{"error":{"code","message","param","type"}}` with Ark's codes (docs/providers.md,
//! "Volcano Engine Ark"). No usage figures, no rate headers.

use super::{Ctx, Reply, Shapes, no_required_headers, serves_no_used_percent};
use axum::http::StatusCode;
use serde_json::json;

pub(super) const SHAPES: Shapes = Shapes {
    normal: models,
    variant: models,
    unauthorized,
    rate_limited,
    wrong_product: None,
    windows: &[],
    used_percent: serves_no_used_percent,
    missing_header: no_required_headers,
};

fn models(_ctx: &Ctx) -> Reply {
    let model = |id: &str| json!({"id": id, "object": "model", "created": 1_750_000_000, "owned_by": "volcengine", "domain": "LLM"});
    Reply::ok(
        json!({"object": "list", "data": [model("doubao-seed-1-6-250615"), model("doubao-seed-code-preview-251028")]}),
    )
}

fn error(status: StatusCode, code: &str, message: &str, kind: &str) -> Reply {
    Reply::json(
        status,
        json!({"error": {"code": code, "message": format!("{message} Request id: fake-request"),
                         "param": "", "type": kind}}),
    )
}

/// 401 `AuthenticationError`; Ark does not echo the key.
fn unauthorized(_sent: Option<&str>) -> Reply {
    error(
        StatusCode::UNAUTHORIZED,
        "AuthenticationError",
        "The API key in the request is missing or invalid.",
        "Unauthorized",
    )
}

/// 429 `RateLimitExceeded.EndpointRPMExceeded`.
fn rate_limited(_retry_after_s: u64) -> Reply {
    error(
        StatusCode::TOO_MANY_REQUESTS,
        "RateLimitExceeded.EndpointRPMExceeded",
        "The request failed because you have exceeded the Requests Per Minute (RPM) limit of \
         the associated endpoint.",
        "TooManyRequests",
    )
}
