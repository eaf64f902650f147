//! Alibaba Cloud Model Studio (DashScope) and its Coding Plan: the OpenAI-compatible model
//! list is the key check, errors come in the compatible mode's OpenAI-style shape with
//! DashScope's codes (docs/providers.md, "DashScope"). No usage figures, no rate headers.

use super::{Ctx, Reply, Shapes, masked, no_required_headers, serves_no_used_percent};
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
    let model = |id: &str| json!({"id": id, "object": "model", "created": 1_745_976_000, "owned_by": "system"});
    Reply::ok(json!({"object": "list", "data": [model("qwen-plus"), model("qwen3-coder-plus")]}))
}

/// 401 `invalid_api_key` (the compatible mode's OpenAI-style answer).
fn unauthorized(sent: Option<&str>) -> Reply {
    let message = match sent {
        Some(key) => format!("Incorrect API key provided: {}.", masked(key)),
        None => "Incorrect API key provided. ".to_owned(),
    };
    Reply::json(
        StatusCode::UNAUTHORIZED,
        json!({"error": {"message": message, "type": "invalid_request_error", "param": null,
                         "code": "invalid_api_key"},
               "request_id": "fake-request"}),
    )
}

/// 429 `Throttling.RateQuota`.
fn rate_limited(_retry_after_s: u64) -> Reply {
    Reply::json(
        StatusCode::TOO_MANY_REQUESTS,
        json!({"error": {"message": "Requests rate limit exceeded, please try again later.",
                         "type": "Throttling.RateQuota", "param": null,
                         "code": "Throttling.RateQuota"},
               "request_id": "fake-request"}),
    )
}
