//! Azure OpenAI: the key comes in `api-key`; `GET /openai/v1/models` is the key check
//! (docs/providers.md, "Azure OpenAI"). The rate headers come on deployments' answers only,
//! so the model list carries none.

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
    let model = |id: &str, created: u64| json!({"id": id, "created": created, "object": "model", "owned_by": "system"});
    Reply::ok(
        json!({"data": [model("gpt-4.1", 1_744_588_800), model("gpt-4o-mini", 1_721_260_800)], "object": "list"}),
    )
}

fn unauthorized(_sent: Option<&str>) -> Reply {
    Reply::json(
        StatusCode::UNAUTHORIZED,
        json!({"error": {"code": "401", "message": "Access denied due to invalid subscription key \
            or wrong API endpoint. Make sure to provide a valid key for an active subscription and \
            use a correct regional API endpoint for your resource."}}),
    )
}

fn rate_limited(retry_after_s: u64) -> Reply {
    let message = format!(
        "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version \
         2024-10-21 have exceeded token rate limit of your current OpenAI S0 pricing tier. \
         Please retry after {retry_after_s} seconds."
    );
    Reply::json(
        StatusCode::TOO_MANY_REQUESTS,
        json!({"error": {"code": "429", "message": message}}),
    )
    .header("x-ratelimit-remaining-requests", 0)
    .header("x-ratelimit-remaining-tokens", 0)
}
