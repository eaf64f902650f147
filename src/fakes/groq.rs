//! Groq: `GET /openai/v1/models` with `x-ratelimit-*` headers, requests per day and tokens
//! per minute (docs/providers.md, "Groq").

use super::compat::{Bucket, Reset, model_list_fake, models as list, openai_error};
use super::{Reply, masked};
use axum::http::StatusCode;
use std::time::Duration;

model_list_fake! {
    windows: &["daily", "tpm"],
    buckets: BUCKETS,
    models: |ctx| list(ctx, &["llama-3.3-70b-versatile", "openai/gpt-oss-120b"], &BUCKETS),
}

const BUCKETS: [Bucket; 2] = [
    Bucket {
        limit: "x-ratelimit-limit-requests",
        remaining: "x-ratelimit-remaining-requests",
        reset: Some(("x-ratelimit-reset-requests", Reset::Go)),
        size: 14_400.0,
        refill: Duration::from_secs(24 * 3600),
    },
    Bucket {
        limit: "x-ratelimit-limit-tokens",
        remaining: "x-ratelimit-remaining-tokens",
        reset: Some(("x-ratelimit-reset-tokens", Reset::Go)),
        size: 18_000.0,
        refill: Duration::from_secs(60),
    },
];

fn unauthorized(sent: Option<&str>) -> Reply {
    let message = match sent {
        Some(key) => format!("Invalid API Key {}", masked(key)),
        None => "Invalid API Key".to_owned(),
    };
    openai_error(
        StatusCode::UNAUTHORIZED,
        &message,
        "invalid_request_error",
        "invalid_api_key",
    )
}

fn rate_limited(retry_after_s: u64) -> Reply {
    let message = format!(
        "Rate limit reached for model `llama-3.3-70b-versatile` in organization `org_fake` \
         service tier `on_demand` on tokens per minute (TPM): Limit 18000, Used 18000, \
         Requested 1195. Please try again in {retry_after_s}s."
    );
    openai_error(
        StatusCode::TOO_MANY_REQUESTS,
        &message,
        "tokens",
        "rate_limit_exceeded",
    )
}
