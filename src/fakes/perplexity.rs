//! Perplexity: `GET /models` is the key check (docs/providers.md, "Perplexity"); no usage
//! figures, no rate headers.

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
    let model = |id: &str| json!({"id": id, "object": "model", "created": 1_738_000_000, "owned_by": "perplexity"});
    Reply::ok(json!({"object": "list", "data": [model("sonar"), model("sonar-pro")]}))
}

/// 401 `invalid_api_key` as JSON (the gateway has also answered with an HTML page).
fn unauthorized(_sent: Option<&str>) -> Reply {
    Reply::json(
        StatusCode::UNAUTHORIZED,
        json!({"error": {"message": "Invalid API key provided. You can find your API key at \
                                     https://www.perplexity.ai/settings/api.",
                         "type": "invalid_api_key", "code": 401}}),
    )
}

fn rate_limited(_retry_after_s: u64) -> Reply {
    Reply::json(
        StatusCode::TOO_MANY_REQUESTS,
        json!({"error": {"message": "Rate limit exceeded", "type": "rate_limit_exceeded", "code": 429}}),
    )
}
