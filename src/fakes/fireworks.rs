//! Fireworks: `GET /inference/v1/models` with the requests-per-minute bucket in
//! `x-ratelimit-*-requests` (docs/providers.md, "Fireworks AI").

use super::compat::{Bucket, model_list_fake, models as list, openai_error};
use super::{Ctx, Reply};
use axum::http::StatusCode;
use std::time::Duration;

model_list_fake! {
    windows: &["rpm"],
    buckets: BUCKETS,
    models: with_over_limit,
}

const BUCKETS: [Bucket; 1] = [Bucket {
    limit: "x-ratelimit-limit-requests",
    remaining: "x-ratelimit-remaining-requests",
    reset: None,
    size: 6_000.0,
    refill: Duration::from_secs(60),
}];

fn with_over_limit(ctx: &Ctx) -> Reply {
    let ids = [
        "accounts/fireworks/models/kimi-k2-instruct-0905",
        "accounts/fireworks/models/deepseek-v3p1",
    ];
    list(ctx, &ids, &BUCKETS).header("x-ratelimit-over-limit", "no")
}

fn unauthorized(_sent: Option<&str>) -> Reply {
    openai_error(
        StatusCode::UNAUTHORIZED,
        "The API key you provided is invalid.",
        "invalid_request_error",
        "invalid_api_key",
    )
}

fn rate_limited(_retry_after_s: u64) -> Reply {
    openai_error(
        StatusCode::TOO_MANY_REQUESTS,
        "Request rate limit exceeded",
        "invalid_request_error",
        "rate_limit_exceeded",
    )
}
