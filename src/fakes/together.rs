//! Together: `GET /v1/models` answers a bare list of models, with per-second request and
//! token buckets in `x-ratelimit-*` and `x-tokenlimit-*` (docs/providers.md, "Together AI").

use super::compat::{Bucket, Reset, model_list_fake, openai_error, with_buckets};
use super::{Ctx, Reply};
use axum::http::StatusCode;
use serde_json::json;
use std::time::Duration;

model_list_fake! {
    windows: &["rpm", "tpm"],
    buckets: BUCKETS,
    models: bare_list,
}

const BUCKETS: [Bucket; 2] = [
    Bucket {
        limit: "x-ratelimit-limit",
        remaining: "x-ratelimit-remaining",
        reset: Some(("x-ratelimit-reset", Reset::Seconds)),
        size: 100.0,
        refill: Duration::from_secs(1),
    },
    Bucket {
        limit: "x-tokenlimit-limit",
        remaining: "x-tokenlimit-remaining",
        reset: None,
        size: 200_000.0,
        refill: Duration::from_secs(1),
    },
];

fn bare_list(ctx: &Ctx) -> Reply {
    let model = |id: &str, context: u64| {
        json!({"id": id, "object": "model", "created": 1_753_315_200, "type": "chat",
               "context_length": context, "pricing": {"input": 2, "output": 2}})
    };
    let list = json!([
        model("Qwen/Qwen3-Coder-480B-A35B-Instruct-FP8", 262_144),
        model("meta-llama/Llama-3.3-70B-Instruct-Turbo", 131_072)
    ]);
    with_buckets(ctx, Reply::ok(list), &BUCKETS)
}

fn unauthorized(_sent: Option<&str>) -> Reply {
    openai_error(
        StatusCode::UNAUTHORIZED,
        "Invalid API key provided. You can find your API key at \
         https://api.together.xyz/settings/api-keys.",
        "invalid_request_error",
        "invalid_api_key",
    )
}

fn rate_limited(_retry_after_s: u64) -> Reply {
    openai_error(
        StatusCode::TOO_MANY_REQUESTS,
        "You have exceeded the rate limit for this model.",
        "rate_limit",
        "rate_limit_exceeded",
    )
}
