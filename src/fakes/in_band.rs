//! Refusals sent inside HTTP 200, as each provider sends them (docs/providers.md, each
//! provider's "Errors" and "Reading the wire"): Anthropic's `event: error` once a stream has
//! begun, OpenRouter's error chunk in a stream and `{"error":{"code":429,...}}` in JSON,
//! Z.ai's business code in `{"error":{"code":"1302",...}}`, MiniMax's `base_resp.status_code`.

use super::Reply;
use super::anthropic;
use super::chat::{Answer, data, event, token};
use crate::providers::ProviderId;
use axum::http::StatusCode;
use serde_json::{Value, json};

/// Which refusal the fake sends inside a 200.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InBandError {
    /// Anthropic `rate_limit_error`, OpenRouter 429, Z.ai 1302 (concurrency), MiniMax 1002.
    RateLimited,
    /// Anthropic `overloaded_error`, OpenRouter 502, Z.ai 1305, MiniMax 1033.
    Overloaded,
}

/// Whether the provider sends errors inside a 200 (the others use HTTP statuses only).
pub(super) fn sends_errors_in_200(id: ProviderId) -> bool {
    matches!(
        id,
        ProviderId::Anthropic
            | ProviderId::Claude
            | ProviderId::Openrouter
            | ProviderId::Zai
            | ProviderId::Minimax
    )
}

/// What the fake sends for an in-band refusal.
pub(super) enum Sent {
    Json(Reply),
    /// The texts of a 200 stream, one write each.
    Stream(Vec<String>),
}

pub(super) fn answer(id: ProviderId, answer: &Answer, error: InBandError, stream: bool) -> Sent {
    match id {
        ProviderId::Anthropic | ProviderId::Claude => anthropic_error(answer, error, stream),
        ProviderId::Openrouter => openrouter_error(answer, error, stream),
        ProviderId::Zai => Sent::Json(Reply::ok(zai_error(error))),
        ProviderId::Minimax => Sent::Json(Reply::ok(minimax_error(error))),
        other => panic!("the fake {other} sends no errors inside a 200"),
    }
}

/// The stream begins (`message_start`, a first token), then `event: error` ends it. A request
/// not streamed gets the HTTP error itself: Anthropic sends no error inside a JSON 200.
fn anthropic_error(answer: &Answer, error: InBandError, stream: bool) -> Sent {
    let (status, kind, message) = match error {
        InBandError::RateLimited => (
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_error",
            "This request would exceed your organization's rate limit of 50,000 input tokens \
             per minute. For details, refer to: https://docs.claude.com/en/api/rate-limits.",
        ),
        InBandError::Overloaded => (
            StatusCode::from_u16(529).expect("529 is a status"),
            "overloaded_error",
            "Overloaded",
        ),
    };
    if !stream {
        return Sent::Json(anthropic::error(status, kind, message));
    }
    let mut start = String::new();
    event(&mut start, "message_start", &answer.message_start());
    event(
        &mut start,
        "content_block_start",
        &json!({"type": "content_block_start", "index": 0,
                "content_block": {"type": "text", "text": ""}}),
    );
    event(
        &mut start,
        "content_block_delta",
        &json!({"type": "content_block_delta", "index": 0,
                "delta": {"type": "text_delta", "text": token(0)}}),
    );
    let mut failure = String::new();
    event(
        &mut failure,
        "error",
        &json!({"type": "error", "error": {"type": kind, "message": message},
                "request_id": "req_fake_0123456789"}),
    );
    Sent::Stream(vec![start, failure])
}

/// `error.code` is the HTTP status the request would have had. In a stream: a first token,
/// then the error chunk with `finish_reason: "error"`, and the stream ends.
fn openrouter_error(answer: &Answer, error: InBandError, stream: bool) -> Sent {
    let (code, message, metadata) = match error {
        InBandError::RateLimited => (
            429,
            "Rate limit exceeded: limit_rpm/fake/key",
            json!({"headers": {"X-RateLimit-Limit": "20", "X-RateLimit-Remaining": "0"}}),
        ),
        InBandError::Overloaded => (
            502,
            "Provider returned error",
            json!({"provider_name": "Fake", "raw": "upstream overloaded"}),
        ),
    };
    let error = json!({"code": code, "message": message, "metadata": metadata});
    if !stream {
        return Sent::Json(Reply::ok(json!({ "error": error })));
    }
    let mut first = String::new();
    data(
        &mut first,
        &answer.openai_chunk(
            json!([{"index": 0, "delta": {"role": "assistant", "content": token(0)},
                                     "finish_reason": null}]),
        ),
    );
    let mut chunk: Value = answer.openai_chunk(json!([{"index": 0, "delta": {"content": ""},
                                                       "finish_reason": "error"}]));
    chunk["provider"] = json!("Fake");
    chunk["error"] = error;
    let mut failure = String::new();
    data(&mut failure, &chunk);
    Sent::Stream(vec![first, failure])
}

/// The OpenAI-style envelope with Z.ai's business code as a string.
fn zai_error(error: InBandError) -> Value {
    let (code, message) = match error {
        InBandError::RateLimited => (
            "1302",
            "High concurrency usage of this API, please reduce concurrency or contact customer \
             service to increase limits",
        ),
        InBandError::Overloaded => (
            "1305",
            "The service may be temporarily overloaded, please try again later",
        ),
    };
    json!({"error": {"code": code, "message": message}})
}

/// MiniMax's chat envelope with nothing in it but `base_resp`.
fn minimax_error(error: InBandError) -> Value {
    let (code, message) = match error {
        InBandError::RateLimited => (1002, "rate limit exceeded(RPM)"),
        InBandError::Overloaded => (1033, "system error: downstream service error"),
    };
    json!({
        "id": "",
        "choices": null,
        "created": 0,
        "model": "",
        "object": "",
        "usage": null,
        "base_resp": {"status_code": code, "status_msg": message}
    })
}
