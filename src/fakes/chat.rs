//! The chat endpoints tools call, so that the proxy can be tested against real wire shapes
//! (docs/providers.md): OpenAI-compatible `POST {api path}/chat/completions` and Anthropic-compatible
//! `POST …/messages`, as JSON or as SSE, with each family's way of reporting usage, and the
//! provider's 429 when more requests are in flight than the concurrency limit allows.
//!
//! Every admitted request holds a [`Slot`] until its answer is complete; a slot dropped before
//! that (the proxy hung up while the fake was thinking or streaming) counts as cancelled.

use super::{Behaviour, Reply, Shared, anthropic, html_error_page, scripted, shapes, status_code};
use crate::providers::{ProviderId, provider};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// Input tokens every fake answer reports.
pub const PROMPT_TOKENS: u64 = 12;

/// What the chat endpoints have seen; the fake publishes a new value on every change.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChatCounters {
    /// Requests that reached a chat path, whatever the answer.
    pub requests: usize,
    /// Admitted requests whose answer is not complete yet.
    pub in_flight: usize,
    /// The highest `in_flight` seen.
    pub peak_in_flight: usize,
    /// Answers sent in full.
    pub completed: usize,
    /// Admitted requests dropped before their answer was complete.
    pub cancelled: usize,
    /// 429s sent: over the enforced concurrency limit, or scripted with `refuse_next_chats`.
    pub refused: usize,
}

/// How the chat endpoints answer, besides [`Behaviour`].
#[derive(Clone, Copy, Debug)]
pub(super) struct ChatSettings {
    pub chunks: usize,
    pub gap: Duration,
    pub enforce_concurrency: bool,
    pub refusals_left: usize,
    pub refusal_retry_after_s: u64,
}

impl Default for ChatSettings {
    fn default() -> Self {
        ChatSettings {
            chunks: 5,
            gap: Duration::ZERO,
            enforce_concurrency: false,
            refusals_left: 0,
            refusal_retry_after_s: 0,
        }
    }
}

/// `{prefix}/chat/completions`, the prefix being the path of the provider's API base; `None`
/// for the Anthropic-only providers.
pub fn completions_path(id: ProviderId) -> Option<String> {
    match id {
        ProviderId::Anthropic | ProviderId::Claude => None,
        _ => Some(format!("{}/chat/completions", api_prefix(id))),
    }
}

/// `…/messages` for the providers with an Anthropic-compatible API: `/v1/messages`, and
/// `/coding/v1/messages` for Kimi Code.
pub fn messages_path(id: ProviderId) -> Option<String> {
    match id {
        ProviderId::Anthropic | ProviderId::Claude => Some("/v1/messages".to_owned()),
        ProviderId::KimiCode => Some(format!("{}/messages", api_prefix(id))),
        _ => None,
    }
}

/// The path of `regions()[0].api_base`: `/coding/v1`, `/v1`, `` (DeepSeek, Anthropic).
fn api_prefix(id: ProviderId) -> &'static str {
    let base = provider(id).regions()[0].api_base;
    let after_scheme = base.find("://").map_or(base, |i| &base[i + 3..]);
    after_scheme
        .find('/')
        .map_or("", |slash| after_scheme[slash..].trim_end_matches('/'))
}

/// Which wire family an answer uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Style {
    /// OpenAI: the usage chunk (`choices: []`) before `[DONE]`, when asked for.
    OpenAi,
    /// Moonshot and Kimi: usage inside `choices[0]` of the final chunk, always.
    Moonshot,
    /// Anthropic Messages events.
    Anthropic,
}

pub(super) async fn completions(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let style = match shared.provider {
        ProviderId::Moonshot | ProviderId::KimiCode => Style::Moonshot,
        _ => Style::OpenAi,
    };
    answer(shared, style, headers, body).await
}

pub(super) async fn messages(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    answer(shared, Style::Anthropic, headers, body).await
}

async fn answer(shared: Arc<Shared>, style: Style, headers: HeaderMap, body: Bytes) -> Response {
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    shared
        .chat_user_agents
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(user_agent.to_owned());
    shared.count(|c| c.requests += 1);
    let (behaviour, settings, limit) = {
        let mut state = shared.state();
        state.last_request_headers = Some(headers.clone());
        (state.behaviour.clone(), state.chat, state.concurrency_limit)
    };
    let delay = match behaviour {
        Behaviour::HtmlError(status) => return html_error_page(status_code(status)),
        Behaviour::Error {
            status,
            body,
            headers,
        } => return scripted(status, body, &headers),
        Behaviour::Slow(delay) => delay,
        _ => Duration::ZERO,
    };
    let sent = chat_key(&headers);
    if !shared.accepts(sent) {
        return (shapes(shared.provider).unauthorized)(sent).into_response();
    }

    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let stream = request.get("stream").and_then(Value::as_bool) == Some(true);
    let include_usage = request
        .pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        == Some(true);
    let model = request
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("fake-model")
        .to_owned();

    let refusal = if shared.take_scripted_refusal() {
        let retry_after = settings.refusal_retry_after_s;
        Some((shapes(shared.provider).rate_limited)(retry_after).header("retry-after", retry_after))
    } else {
        None
    };
    let admitted = match refusal {
        Some(refusal) => Err(refusal),
        None => Slot::admit(&shared, settings.enforce_concurrency.then_some(limit))
            .ok_or_else(|| concurrency_refusal(shared.provider, limit)),
    };
    // Every answer takes `delay`, refusals too: a test can have all its requests in flight at
    // once before any of them is answered.
    tokio::time::sleep(delay).await;
    let slot = match admitted {
        Ok(slot) => slot,
        Err(refusal) => {
            shared.count(|c| c.refused += 1);
            return refusal.into_response();
        }
    };
    // Held open while the test asks for it; the sender lives as long as the fake.
    let _ = shared.holding.subscribe().wait_for(|hold| !hold).await;

    let answer = Answer {
        style,
        model,
        chunks: settings.chunks.max(1),
        include_usage,
    };
    if stream {
        sse_response(answer, settings.gap, slot)
    } else {
        let body = answer.json_body();
        slot.complete();
        Reply::ok(body).into_response()
    }
}

/// The key from `Authorization: Bearer` or `x-api-key`: chat paths accept either, as the
/// providers' OpenAI- and Anthropic-compatible endpoints do.
fn chat_key(headers: &HeaderMap) -> Option<&str> {
    let text = |name: HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    text(header::AUTHORIZATION)
        .and_then(|v| v.strip_prefix("Bearer "))
        .or_else(|| text(HeaderName::from_static("x-api-key")))
}

/// What each provider answers when too many requests are in flight (docs/providers.md, each provider's "Errors"), with
/// `retry-after: 1`.
fn concurrency_refusal(id: ProviderId, limit: u64) -> Reply {
    let reply = match id {
        ProviderId::KimiCode => Reply::json(
            StatusCode::TOO_MANY_REQUESTS,
            json!({"error": {
                "type": "rate_limit_error",
                "message": "We're receiving too many requests at the moment"
            }}),
        ),
        ProviderId::Moonshot => Reply::json(
            StatusCode::TOO_MANY_REQUESTS,
            json!({"error": {
                "type": "rate_limit_reached_error",
                "message": format!(
                    "Your account org-fake<ak-fake> request reached organization max \
                     concurrency: {limit}, please try again after 1 seconds"
                )
            }}),
        ),
        ProviderId::Anthropic | ProviderId::Claude => anthropic::error(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_error",
            "Number of concurrent connections has exceeded your rate limit. Please try again \
             later or contact sales at https://www.anthropic.com/contact-sales to discuss your \
             options for a rate limit increase.",
        ),
        other => (shapes(other).rate_limited)(1),
    };
    reply.header("retry-after", 1)
}

/// An admitted request, in flight until completed or dropped.
pub(super) struct Slot {
    shared: Arc<Shared>,
    done: bool,
}

impl Slot {
    /// A slot, unless `limit` requests are already in flight.
    fn admit(shared: &Arc<Shared>, limit: Option<u64>) -> Option<Slot> {
        let mut admitted = false;
        shared.count(|c| {
            if limit.is_none_or(|limit| (c.in_flight as u64) < limit) {
                admitted = true;
                c.in_flight += 1;
                c.peak_in_flight = c.peak_in_flight.max(c.in_flight);
            }
        });
        admitted.then(|| Slot {
            shared: shared.clone(),
            done: false,
        })
    }

    fn complete(mut self) {
        self.done = true;
        self.shared.count(|c| {
            c.in_flight -= 1;
            c.completed += 1;
        });
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if !self.done {
            self.shared.count(|c| {
                c.in_flight -= 1;
                c.cancelled += 1;
            });
        }
    }
}

struct Answer {
    style: Style,
    model: String,
    chunks: usize,
    include_usage: bool,
}

const CREATED: u64 = 1_767_225_600;

impl Answer {
    fn text(&self) -> String {
        (0..self.chunks).map(token).collect()
    }

    fn output_tokens(&self) -> u64 {
        self.chunks as u64
    }

    fn json_body(&self) -> Value {
        let output = self.output_tokens();
        match self.style {
            Style::Anthropic => json!({
                "id": "msg_fake_0001",
                "type": "message",
                "role": "assistant",
                "model": self.model,
                "content": [{"type": "text", "text": self.text()}],
                "stop_reason": "end_turn",
                "stop_sequence": null,
                "usage": {
                    "input_tokens": PROMPT_TOKENS,
                    "cache_creation_input_tokens": 0,
                    "cache_read_input_tokens": 0,
                    "output_tokens": output
                }
            }),
            Style::OpenAi | Style::Moonshot => json!({
                "id": "chatcmpl-fake-0001",
                "object": "chat.completion",
                "created": CREATED,
                "model": self.model,
                "choices": [{
                    "index": 0,
                    "message": {"role": "assistant", "content": self.text()},
                    "finish_reason": "stop"
                }],
                "usage": {
                    "prompt_tokens": PROMPT_TOKENS,
                    "completion_tokens": output,
                    "total_tokens": PROMPT_TOKENS + output
                }
            }),
        }
    }

    /// The SSE text of chunk `i`: the opening events go with the first, the closing events
    /// (finish, usage, `[DONE]` or `message_stop`) with the last, so each chunk is one write.
    fn sse_chunk(&self, i: usize) -> String {
        let mut text = String::new();
        let last = i + 1 == self.chunks;
        match self.style {
            Style::Anthropic => {
                if i == 0 {
                    event(&mut text, "message_start", &self.message_start());
                    event(
                        &mut text,
                        "content_block_start",
                        &json!({"type": "content_block_start", "index": 0,
                                "content_block": {"type": "text", "text": ""}}),
                    );
                    event(&mut text, "ping", &json!({"type": "ping"}));
                }
                event(
                    &mut text,
                    "content_block_delta",
                    &json!({"type": "content_block_delta", "index": 0,
                            "delta": {"type": "text_delta", "text": token(i)}}),
                );
                if last {
                    event(
                        &mut text,
                        "content_block_stop",
                        &json!({"type": "content_block_stop", "index": 0}),
                    );
                    // Cumulative: the total so far, not the tokens since message_start.
                    event(
                        &mut text,
                        "message_delta",
                        &json!({"type": "message_delta",
                                "delta": {"stop_reason": "end_turn", "stop_sequence": null},
                                "usage": {"output_tokens": self.output_tokens()}}),
                    );
                    event(&mut text, "message_stop", &json!({"type": "message_stop"}));
                }
            }
            Style::OpenAi | Style::Moonshot => {
                let delta = if i == 0 {
                    json!({"role": "assistant", "content": token(i)})
                } else {
                    json!({"content": token(i)})
                };
                data(
                    &mut text,
                    &self
                        .openai_chunk(json!([{"index": 0, "delta": delta, "finish_reason": null}])),
                );
                if last {
                    self.openai_closing(&mut text);
                }
            }
        }
        text
    }

    fn message_start(&self) -> Value {
        json!({"type": "message_start", "message": {
            "id": "msg_fake_0001",
            "type": "message",
            "role": "assistant",
            "content": [],
            "model": self.model,
            "stop_reason": null,
            "stop_sequence": null,
            "usage": {
                "input_tokens": PROMPT_TOKENS,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "output_tokens": 1
            }
        }})
    }

    /// A `chat.completion.chunk`; with `include_usage`, OpenAI sends `"usage": null` in every
    /// chunk but the usage one.
    fn openai_chunk(&self, choices: Value) -> Value {
        let mut chunk = json!({
            "id": "chatcmpl-fake-0001",
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": self.model,
            "choices": choices
        });
        if self.style == Style::OpenAi && self.include_usage {
            chunk["usage"] = Value::Null;
        }
        chunk
    }

    fn openai_closing(&self, text: &mut String) {
        let output = self.output_tokens();
        let usage = json!({
            "prompt_tokens": PROMPT_TOKENS,
            "completion_tokens": output,
            "total_tokens": PROMPT_TOKENS + output
        });
        match self.style {
            Style::Moonshot => {
                let mut usage = usage;
                usage["cached_tokens"] = json!(0);
                let choice =
                    json!([{"index": 0, "delta": {}, "finish_reason": "stop", "usage": usage}]);
                data(text, &self.openai_chunk(choice));
            }
            _ => {
                let choice = json!([{"index": 0, "delta": {}, "finish_reason": "stop"}]);
                data(text, &self.openai_chunk(choice));
                if self.include_usage {
                    let mut chunk = self.openai_chunk(json!([]));
                    chunk["usage"] = usage;
                    data(text, &chunk);
                }
            }
        }
        text.push_str("data: [DONE]\n\n");
    }
}

fn token(i: usize) -> String {
    format!("tok{i} ")
}

fn event(text: &mut String, name: &str, payload: &Value) {
    text.push_str(&format!("event: {name}\ndata: {payload}\n\n"));
}

fn data(text: &mut String, payload: &Value) {
    text.push_str(&format!("data: {payload}\n\n"));
}

/// Chunk 0 at once, then one chunk every `gap`; the slot completes with the last chunk and is
/// dropped (cancelled) if the connection goes first.
fn sse_response(answer: Answer, gap: Duration, slot: Slot) -> Response {
    let state = (answer, 0usize, Some(slot));
    let chunks = futures_util::stream::unfold(state, move |(answer, i, slot)| async move {
        let slot = slot?;
        if i > 0 {
            tokio::time::sleep(gap).await;
        }
        let text = answer.sse_chunk(i);
        let slot = if i + 1 == answer.chunks {
            slot.complete();
            None
        } else {
            Some(slot)
        };
        Some((
            Ok::<_, std::convert::Infallible>(text),
            (answer, i + 1, slot),
        ))
    });
    (
        [
            (header::CONTENT_TYPE, "text/event-stream; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(chunks),
    )
        .into_response()
}
