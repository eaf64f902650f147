//! Cerebras: `GET /v1/models` with requests-per-day and tokens-per-minute headers, resets in
//! seconds; errors with `message`, `type`, `param`, `code` at the top (docs/providers.md,
//! "Cerebras").

use super::Reply;
use super::compat::{Bucket, Reset, model_list_fake, models as list};
use axum::http::StatusCode;
use serde_json::json;
use std::time::Duration;

model_list_fake! {
    windows: &["daily", "tpm"],
    buckets: BUCKETS,
    models: |ctx| list(ctx, &["gpt-oss-120b", "llama3.1-8b"], &BUCKETS),
}

const BUCKETS: [Bucket; 2] = [
    Bucket {
        limit: "x-ratelimit-limit-requests-day",
        remaining: "x-ratelimit-remaining-requests-day",
        reset: Some(("x-ratelimit-reset-requests-day", Reset::Seconds)),
        size: 14_400.0,
        refill: Duration::from_secs(24 * 3600),
    },
    Bucket {
        limit: "x-ratelimit-limit-tokens-minute",
        remaining: "x-ratelimit-remaining-tokens-minute",
        reset: Some(("x-ratelimit-reset-tokens-minute", Reset::Seconds)),
        size: 60_000.0,
        refill: Duration::from_secs(60),
    },
];

fn error(status: StatusCode, message: &str, kind: &str, param: &str, code: &str) -> Reply {
    Reply::json(
        status,
        json!({"message": message, "type": kind, "param": param, "code": code}),
    )
}

fn unauthorized(_sent: Option<&str>) -> Reply {
    error(
        StatusCode::UNAUTHORIZED,
        "Wrong API Key",
        "invalid_request_error",
        "api_key",
        "wrong_api_key",
    )
}

fn rate_limited(_retry_after_s: u64) -> Reply {
    error(
        StatusCode::TOO_MANY_REQUESTS,
        "Tokens per minute limit exceeded - too many tokens processed.",
        "too_many_requests_error",
        "quota",
        "token_quota_exceeded",
    )
}
