//! Mistral: `GET /v1/models` with token buckets per minute and per month in
//! `ratelimitbysize-*` headers (docs/providers.md, "Mistral").

use super::Reply;
use super::compat::{Bucket, Reset, model_list_fake, models as list};
use axum::http::StatusCode;
use serde_json::json;
use std::time::Duration;

model_list_fake! {
    windows: &["tpm", "monthly"],
    buckets: BUCKETS,
    models: |ctx| list(ctx, &["devstral-medium-latest", "mistral-small-latest"], &BUCKETS),
}

const BUCKETS: [Bucket; 3] = [
    Bucket {
        limit: "x-ratelimitbysize-limit-minute",
        remaining: "x-ratelimitbysize-remaining-minute",
        reset: Some(("ratelimitbysize-reset", Reset::Seconds)),
        size: 500_000.0,
        refill: Duration::from_secs(60),
    },
    Bucket {
        limit: "ratelimitbysize-limit",
        remaining: "ratelimitbysize-remaining",
        reset: None,
        size: 500_000.0,
        refill: Duration::from_secs(60),
    },
    Bucket {
        limit: "x-ratelimitbysize-limit-month",
        remaining: "x-ratelimitbysize-remaining-month",
        reset: None,
        size: 1_000_000_000.0,
        refill: Duration::ZERO,
    },
];

fn unauthorized(_sent: Option<&str>) -> Reply {
    Reply::json(
        StatusCode::UNAUTHORIZED,
        json!({"message": "Unauthorized", "request_id": "0123456789abcdef0123456789abcdef"}),
    )
}

fn rate_limited(_retry_after_s: u64) -> Reply {
    Reply::json(
        StatusCode::TOO_MANY_REQUESTS,
        json!({"object": "error", "message": "Rate limit exceeded", "type": "rate_limited",
               "param": null, "code": "1300", "raw_status_code": 429}),
    )
}
