//! What the fakes of the OpenAI-compatible providers (Groq, Cerebras, xAI, Mistral, Together,
//! Fireworks) share: a model list as the usage answer, carrying the provider's own rate-limit
//! headers with `used_percent` of every bucket spent, and OpenAI-shaped error bodies.

use super::{Ctx, Reply, go_duration, header_number};
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

/// How a reset is written.
#[derive(Clone, Copy)]
pub(super) enum Reset {
    /// `2m59.56s` (Groq, OpenAI).
    Go,
    /// `33011.382867` (Cerebras, Together, Mistral).
    Seconds,
}

/// One bucket of rate-limit headers.
pub(super) struct Bucket {
    pub limit: &'static str,
    pub remaining: &'static str,
    pub reset: Option<(&'static str, Reset)>,
    pub size: f64,
    /// Time for an empty bucket to refill.
    pub refill: Duration,
}

/// `{"object":"list","data":[…]}` of `ids`, with every bucket `used_percent` spent.
pub(super) fn models(ctx: &Ctx, ids: &[&str], buckets: &[Bucket]) -> Reply {
    let data: Vec<Value> = ids
        .iter()
        .map(
            |id| json!({"id": id, "object": "model", "created": 1_733_447_754, "owned_by": "fake"}),
        )
        .collect();
    with_buckets(
        ctx,
        Reply::ok(json!({"object": "list", "data": data})),
        buckets,
    )
}

/// `reply` with the buckets' headers at `used_percent`.
pub(super) fn with_buckets(ctx: &Ctx, mut reply: Reply, buckets: &[Bucket]) -> Reply {
    for bucket in buckets {
        reply = reply
            .header(bucket.limit, bucket.size)
            .header(bucket.remaining, ctx.remaining_of(bucket.size));
        if let Some((name, style)) = bucket.reset {
            let wait = bucket.refill.mul_f64(ctx.used_percent / 100.0);
            let text = match style {
                Reset::Go => go_duration(wait),
                Reset::Seconds => format!("{:.3}", wait.as_secs_f64()),
            };
            reply = reply.header(name, text);
        }
    }
    reply
}

/// The first bucket's headers as a percentage used.
pub(super) fn used_percent(headers: &HeaderMap, bucket: &Bucket) -> Option<f64> {
    let remaining = header_number(headers, bucket.remaining)?;
    Some(100.0 * (1.0 - remaining / header_number(headers, bucket.limit)?))
}

/// `{"error":{"message","type","param","code"}}`.
pub(super) fn openai_error(status: StatusCode, message: &str, kind: &str, code: &str) -> Reply {
    Reply::json(
        status,
        json!({"error": {"message": message, "type": kind, "param": null, "code": code}}),
    )
}

/// The `SHAPES` of a fake whose usage answer is a model list with `buckets`' headers (the first
/// the main window), made by `models`; the file defines `unauthorized` and `rate_limited`.
macro_rules! model_list_fake {
    (windows: $windows:expr, buckets: $buckets:expr, models: $models:expr $(,)?) => {
        pub(super) const SHAPES: super::Shapes = super::Shapes {
            normal: models,
            variant: models,
            unauthorized,
            rate_limited,
            wrong_product: None,
            windows: $windows,
            used_percent: served_used_percent,
            missing_header: super::no_required_headers,
        };

        fn served_used_percent(
            _: &serde_json::Value,
            headers: &axum::http::HeaderMap,
        ) -> Option<f64> {
            super::compat::used_percent(headers, &$buckets[0])
        }

        fn models(ctx: &super::Ctx) -> super::Reply {
            let make: fn(&super::Ctx) -> super::Reply = $models;
            make(ctx)
        }
    };
}
pub(super) use model_list_fake;
