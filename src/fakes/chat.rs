//! The chat endpoints tools call, so that the proxy can be tested against real wire shapes
//! (docs/providers.md): OpenAI-compatible `POST {api path}/chat/completions`, Anthropic-compatible
//! `POST …/messages` and OpenAI's Responses API `POST /v1/responses` (`responses.rs`), as JSON
//! or as SSE, with each family's way of reporting usage, and the provider's 429 when more
//! requests are in flight than the concurrency limit allows.
//!
//! Every admitted request holds a [`Slot`] until its answer is complete; a slot dropped before
//! that (the proxy hung up while the fake was thinking or streaming) counts as cancelled.

use super::encoding::{self, Encoder, encode, negotiate};
pub use super::in_band::InBandError;
use super::{
    Behaviour, Reply, Shared, anthropic, header_pair, html_error_page, in_band, responses,
    scripted, shapes, status_code,
};
use crate::providers::{ProviderId, provider};
use crate::proxy::Coding;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
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
    /// How long a stream's body stays open after its last event.
    pub tail: Duration,
    pub compress: bool,
    pub enforce_concurrency: bool,
    pub refusals_left: usize,
    pub refusal_retry_after_s: u64,
    pub in_band_left: usize,
    pub in_band: InBandError,
}

impl Default for ChatSettings {
    fn default() -> Self {
        ChatSettings {
            chunks: 5,
            gap: Duration::ZERO,
            tail: Duration::ZERO,
            compress: false,
            enforce_concurrency: false,
            refusals_left: 0,
            refusal_retry_after_s: 0,
            in_band_left: 0,
            in_band: InBandError::RateLimited,
        }
    }
}

/// `{prefix}/chat/completions`, the prefix being the path of the provider's API base; `None`
/// for the Anthropic-only providers.
pub fn completions_path(id: ProviderId) -> Option<String> {
    match id {
        // The Codex backend speaks only the Responses API.
        ProviderId::Anthropic | ProviderId::Claude | ProviderId::Codex => None,
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

/// `…/responses`, OpenAI's Responses API: OpenAI's `/v1/responses` and the Codex backend's
/// `/backend-api/codex/responses`.
pub fn responses_path(id: ProviderId) -> Option<String> {
    matches!(id, ProviderId::Openai | ProviderId::Codex)
        .then(|| format!("{}/responses", api_prefix(id)))
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
    /// OpenAI's Responses API: usage in `response.completed` (`responses.rs`).
    Responses,
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

pub(super) async fn responses(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // The Codex backend states the plan's windows on every answer.
    let codex = (shared.provider == ProviderId::Codex).then(|| shared.state().used_percent);
    let mut response = answer(shared, Style::Responses, headers, body).await;
    if let Some(used_percent) = codex {
        super::codex::add_rate_headers(response.headers_mut(), used_percent, Timestamp::now());
    }
    response
}

async fn answer(shared: Arc<Shared>, style: Style, headers: HeaderMap, body: Bytes) -> Response {
    shared
        .chat_headers
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(headers.clone());
    shared.count(|c| c.requests += 1);
    shared.start_sending();
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

    let coding = settings
        .compress
        .then(|| {
            negotiate(
                headers
                    .get(header::ACCEPT_ENCODING)
                    .and_then(|v| v.to_str().ok()),
            )
        })
        .flatten();
    let refusal = if shared.take_scripted_refusal() {
        let retry_after = settings.refusal_retry_after_s;
        Some((shapes(shared.provider).rate_limited)(retry_after).header("retry-after", retry_after))
    } else {
        None
    };
    let in_band = match refusal {
        None => shared.take_in_band_refusal(),
        Some(_) => None,
    };
    let admitted = match (refusal, in_band) {
        (Some(refusal), _) => Err(Refused::Status(refusal)),
        (None, Some(error)) => Err(Refused::InBand(error)),
        (None, None) => Slot::admit(&shared, settings.enforce_concurrency.then_some(limit))
            .ok_or_else(|| Refused::Status(concurrency_refusal(shared.provider, limit))),
    };
    // Every answer takes `delay`, refusals too: a test can have all its requests in flight at
    // once before any of them is answered.
    tokio::time::sleep(delay).await;
    let answer = Answer {
        style,
        model,
        chunks: settings.chunks.max(1),
        include_usage,
        base_resp: shared.provider == ProviderId::Minimax,
    };
    let slot = match admitted {
        Ok(slot) => slot,
        Err(refused) => {
            shared.count(|c| c.refused += 1);
            return match refused {
                Refused::Status(reply) => json_response(&shared, reply, coding),
                Refused::InBand(error) => {
                    let sent = in_band::answer(shared.provider, &answer, error, stream);
                    match sent {
                        in_band::Sent::Json(reply) => json_response(&shared, reply, coding),
                        in_band::Sent::Stream(texts) => {
                            sse_response(shared, texts, Pacing::of(&settings, coding), None)
                        }
                    }
                }
            };
        }
    };
    // Held open while the test asks for it; the sender lives as long as the fake.
    let _ = shared.holding.subscribe().wait_for(|hold| !hold).await;

    if stream {
        let texts = answer.sse_texts();
        sse_response(shared, texts, Pacing::of(&settings, coding), Some(slot))
    } else {
        let body = answer.json_body();
        slot.complete();
        json_response(&shared, Reply::ok(body), coding)
    }
}

/// Why a request was not answered normally.
enum Refused {
    /// An HTTP error status.
    Status(Reply),
    /// An error inside a 200.
    InBand(InBandError),
}

/// A JSON answer, compressed in `coding` when there is one; its bytes are kept as sent.
fn json_response(shared: &Shared, reply: Reply, coding: Option<Coding>) -> Response {
    let text = reply.body.to_string().into_bytes();
    let body = match coding {
        Some(coding) => encode(coding, &text),
        None => text,
    };
    shared.record_sent(&body);
    let mut response = (
        reply.status,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response();
    if let Some(coding) = coding {
        compressed_headers(response.headers_mut(), coding);
    }
    for (name, value) in reply.headers {
        let (name, value) = header_pair(&name, &value);
        response.headers_mut().append(name, value);
    }
    response
}

fn compressed_headers(headers: &mut HeaderMap, coding: Coding) {
    headers.insert(
        header::CONTENT_ENCODING,
        HeaderValue::from_static(encoding::token(coding)),
    );
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
}

/// The key from `Authorization: Bearer`, `x-api-key` or (Azure OpenAI's) `api-key`: chat
/// paths accept any, as the providers' OpenAI- and Anthropic-compatible endpoints do.
fn chat_key(headers: &HeaderMap) -> Option<&str> {
    let text = |name: HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    text(header::AUTHORIZATION)
        .and_then(|v| v.strip_prefix("Bearer "))
        .or_else(|| text(HeaderName::from_static("x-api-key")))
        .or_else(|| text(HeaderName::from_static("api-key")))
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

pub(super) struct Answer {
    style: Style,
    pub(super) model: String,
    chunks: usize,
    include_usage: bool,
    /// MiniMax's `base_resp` envelope, `status_code` 0, on JSON answers.
    base_resp: bool,
}

const CREATED: u64 = 1_767_225_600;

impl Answer {
    pub(super) fn text(&self) -> String {
        (0..self.chunks).map(token).collect()
    }

    pub(super) fn chunks(&self) -> usize {
        self.chunks
    }

    pub(super) fn output_tokens(&self) -> u64 {
        self.chunks as u64
    }

    /// The whole stream, one text per write.
    fn sse_texts(&self) -> Vec<String> {
        match self.style {
            Style::Responses => responses::sse_texts(self),
            _ => (0..self.chunks).map(|i| self.sse_chunk(i)).collect(),
        }
    }

    fn json_body(&self) -> Value {
        let mut body = self.plain_json_body();
        if self.base_resp {
            body["base_resp"] = json!({"status_code": 0, "status_msg": ""});
        }
        body
    }

    fn plain_json_body(&self) -> Value {
        let output = self.output_tokens();
        match self.style {
            Style::Responses => responses::json_body(self),
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
            Style::Responses => unreachable!("a Responses stream is made whole by sse_texts"),
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

    pub(super) fn message_start(&self) -> Value {
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
    pub(super) fn openai_chunk(&self, choices: Value) -> Value {
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

pub(super) fn token(i: usize) -> String {
    format!("tok{i} ")
}

pub(super) fn event(text: &mut String, name: &str, payload: &Value) {
    text.push_str(&format!("event: {name}\ndata: {payload}\n\n"));
}

pub(super) fn data(text: &mut String, payload: &Value) {
    text.push_str(&format!("data: {payload}\n\n"));
}

/// How a stream is sent: the pause between writes, how long the body stays open after the
/// last one, and the coding.
struct Pacing {
    gap: Duration,
    tail: Duration,
    coding: Option<Coding>,
}

impl Pacing {
    fn of(settings: &ChatSettings, coding: Option<Coding>) -> Pacing {
        Pacing {
            gap: settings.gap,
            tail: settings.tail,
            coding,
        }
    }
}

/// What a stream still has to send.
struct Streaming {
    shared: Arc<Shared>,
    texts: std::vec::IntoIter<String>,
    slot: Option<Slot>,
    encoder: Option<Encoder>,
    pacing: Pacing,
    started: bool,
    over: bool,
}

/// `texts[0]` at once, then one text every `gap`, each one write (compressed and flushed when
/// there is a coding); then, `tail` later, the end of the coding and of the body. The slot
/// completes with the last text and is dropped (cancelled) if the connection goes first.
fn sse_response(
    shared: Arc<Shared>,
    texts: Vec<String>,
    pacing: Pacing,
    slot: Option<Slot>,
) -> Response {
    let coding = pacing.coding;
    let state = Streaming {
        shared,
        texts: texts.into_iter(),
        slot,
        encoder: coding.map(Encoder::new),
        pacing,
        started: false,
        over: false,
    };
    let chunks = futures_util::stream::unfold(state, |mut s| async move {
        if s.over {
            return None;
        }
        let Some(text) = s.texts.next() else {
            s.over = true;
            tokio::time::sleep(s.pacing.tail).await;
            let end = s.encoder.take().map(Encoder::finish).unwrap_or_default();
            if end.is_empty() {
                return None;
            }
            s.shared.record_sent(&end);
            return Some((Ok::<_, std::convert::Infallible>(Bytes::from(end)), s));
        };
        if s.started {
            tokio::time::sleep(s.pacing.gap).await;
        }
        s.started = true;
        let bytes = match &mut s.encoder {
            Some(encoder) => encoder.piece(text.as_bytes()),
            None => text.into_bytes(),
        };
        if s.texts.len() == 0
            && let Some(slot) = s.slot.take()
        {
            slot.complete();
        }
        s.shared.record_sent(&bytes);
        Some((Ok(Bytes::from(bytes)), s))
    });
    let mut response = (
        [
            (header::CONTENT_TYPE, "text/event-stream; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(chunks),
    )
        .into_response();
    if let Some(coding) = coding {
        compressed_headers(response.headers_mut(), coding);
    }
    response
}
