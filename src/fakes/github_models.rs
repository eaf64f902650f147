//! GitHub Models: the catalog (a JSON array) is the key check; the rate-limit headers come on
//! inference answers only, so the catalog carries none (docs/providers.md, "GitHub Models").

use super::{Ctx, Reply, Shapes, no_required_headers, serves_no_used_percent};
use axum::http::StatusCode;
use serde_json::json;

pub(super) const SHAPES: Shapes = Shapes {
    normal: catalog,
    variant: catalog,
    unauthorized,
    rate_limited,
    wrong_product: None,
    windows: &[],
    used_percent: serves_no_used_percent,
    missing_header: no_required_headers,
};

fn catalog(_ctx: &Ctx) -> Reply {
    Reply::ok(json!([{
        "id": "openai/gpt-4.1", "name": "OpenAI GPT-4.1", "publisher": "OpenAI",
        "registry": "azure-openai", "rate_limit_tier": "high",
        "limits": {"max_input_tokens": 1_048_576, "max_output_tokens": 32_768}
    }]))
}

fn unauthorized(_sent: Option<&str>) -> Reply {
    Reply::json(
        StatusCode::UNAUTHORIZED,
        json!({"error": {"code": "unauthorized", "message": "Bad credentials"}}),
    )
}

/// 429 `RateLimitReached` for the per-minute limit.
fn rate_limited(retry_after_s: u64) -> Reply {
    let message = format!(
        "Rate limit of 10 per 60s exceeded for UserByModelByMinute. Please wait {retry_after_s} \
         seconds before retrying."
    );
    Reply::json(
        StatusCode::TOO_MANY_REQUESTS,
        json!({"error": {"code": "RateLimitReached", "message": message, "details": message}}),
    )
    .header("x-ratelimit-type", "UserByModelByMinute")
    .header("x-ratelimit-timeremaining", retry_after_s)
}
