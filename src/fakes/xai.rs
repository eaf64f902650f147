//! xAI: `GET /v1/models` proves the key; no rate-limit headers. Errors are
//! `{"code","error"}`; a wrong key is a 400 (docs/providers.md, "xAI").

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
    let model = |id: &str| json!({"id": id, "created": 1_755_993_600, "object": "model", "owned_by": "xai"});
    Reply::ok(json!({"data": [model("grok-code-fast-1"), model("grok-4")], "object": "list"}))
}

fn error(status: StatusCode, code: &str, message: &str) -> Reply {
    Reply::json(status, json!({"code": code, "error": message}))
}

fn unauthorized(sent: Option<&str>) -> Reply {
    let message = match sent {
        Some(key) => format!(
            "Incorrect API key provided: {}. You can obtain an API key from https://console.x.ai.",
            masked(key)
        ),
        None => "Incorrect API key provided: no key. You can obtain an API key from \
                 https://console.x.ai."
            .to_owned(),
    };
    error(
        StatusCode::BAD_REQUEST,
        "Client specified an invalid argument",
        &message,
    )
}

fn rate_limited(_retry_after_s: u64) -> Reply {
    error(
        StatusCode::TOO_MANY_REQUESTS,
        "Some resource has been exhausted",
        "Your team 00000000-fake-team has either used all available credits or reached its \
         monthly spending limit. To continue making API requests, please purchase more \
         credits or raise your spending limit.",
    )
}
