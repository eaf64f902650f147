//! Fake provider servers: one in-process HTTP server per provider that answers its usage URL
//! the way the real provider does, as `docs/providers.md` describes it, awkward parts
//! included: numbers as strings, missing fields, unknown extra keys, errors inside HTTP 200,
//! nanosecond and microsecond timestamps.
//!
//! Tests point an account's `--base-url` at [`FakeProvider::origin`]; the built-in demo and the
//! proxy tests reuse the same servers. Besides the usage URL, each fake serves the chat
//! endpoints tools call (`chat.rs`): OpenAI-compatible `…/chat/completions`, for Anthropic,
//! Claude and Kimi Code `…/messages`, and for OpenAI the Responses API `/v1/responses`
//! (`responses.rs`), as JSON or SSE, with an optional enforced concurrency
//! limit and counters of what was in flight and cancelled; on request compressed as the
//! client's `Accept-Encoding` allows (`encoding.rs`), with the body ending a while after the
//! stream's last event, or refused inside an HTTP 200 (`in_band.rs`). Each provider's bodies
//! live in its own file here, one small function per shape; this file holds the server, the
//! shared state, the behaviours and the authentication rules.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use redline::fakes::{Behaviour, FakeProvider};
//! use redline::providers::ProviderId;
//! let fake = FakeProvider::start(ProviderId::KimiCode, "sk-kimi-test").await?;
//! fake.set_used_percent(96.0);
//! fake.set_behaviour(Behaviour::UsageRateLimited { retry_after_s: 30 });
//! println!("poll {}/coding/v1/usages", fake.origin());
//! # Ok(()) }
//! ```

mod anthropic;
mod azure_openai;
mod cerebras;
mod chat;
mod claude;
mod codex;
mod compat;
mod dashscope;
mod deepseek;
mod encoding;
mod fireworks;
mod gemini;
mod github_models;
mod groq;
mod in_band;
mod kimi_code;
mod minimax;
mod mistral;
mod moonshot;
mod novita;
mod openai;
mod openrouter;
mod perplexity;
#[cfg(test)]
pub(crate) mod props;
mod responses;
mod siliconflow;
mod stepfun;
mod together;
mod volcengine_ark;
mod xai;
mod zai;

#[cfg(test)]
mod chat_tests;
#[cfg(test)]
mod tests;

pub use chat::{
    ChatCounters, InBandError, PROMPT_TOKENS, completions_path, messages_path, responses_path,
};
pub use encoding::{encode, encode_pieces, negotiate};

use crate::providers::{AuthStyle, ProviderId, provider};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How the fake answers its usage URL and its chat endpoints. Every behaviour but `HtmlError`
/// and `Error` (which stand for a gateway in front of the provider) still checks the key first.
/// On the chat endpoints, `Slow` delays every answer (refusals too) and the usage-only
/// behaviours answer as `Normal`.
#[derive(Clone, Debug)]
pub enum Behaviour {
    /// The provider's documented body.
    Normal,
    /// The provider's alternative shape: Kimi's 2026-09 plan (`limits[]` beside `usages`),
    /// Z.ai's credit plan (`CREDIT_LIMIT` rows), MiniMax's older coding plan,
    /// OpenRouter's unlimited key (null limits), Claude with `seven_day_opus` set; the others
    /// answer as `Normal`.
    Variant,
    /// Waits this long, then answers as `Normal`.
    Slow(Duration),
    /// HTTP 429 with `Retry-After`, in the provider's error format.
    UsageRateLimited { retry_after_s: u64 },
    /// A gateway's HTML error page (`text/html`) with this status, e.g. 502.
    HtmlError(u16),
    /// HTTP 200 whose JSON body is cut off halfway.
    Truncated,
    /// HTTP 200 with valid JSON of an unrelated shape: `{"hello":"world"}`.
    UnknownShape,
    /// What the provider says to a key for another product: Kimi Code answers 404, the others
    /// their wrong-key answer.
    WrongProduct,
    /// Exactly this answer (content type `application/json` if the body is JSON and no
    /// `content-type` is given, otherwise `text/plain`).
    Error {
        status: u16,
        body: String,
        headers: Vec<(String, String)>,
    },
}

/// An in-process fake of one provider on `127.0.0.1:<random port>`. Dropping it stops the
/// server: the listener closes at once, idle connections close, a request being answered
/// finishes first.
pub struct FakeProvider {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

impl FakeProvider {
    /// Starts the fake on the current tokio runtime; it accepts `valid_key` (and any key given
    /// to [`FakeProvider::accept_key`]).
    pub async fn start(provider: ProviderId, valid_key: &str) -> std::io::Result<FakeProvider> {
        let shared = Arc::new(Shared {
            provider,
            valid_key: valid_key.to_owned(),
            more_keys: Mutex::new(Vec::new()),
            state: Mutex::new(FakeState {
                behaviour: Behaviour::Normal,
                used_percent: 40.0,
                concurrency_limit: 30,
                usage_requests: 0,
                usage_route_missing: false,
                last_request_headers: None,
                chat: chat::ChatSettings::default(),
                sent: Vec::new(),
            }),
            counters: watch::channel(ChatCounters::default()).0,
            holding: watch::channel(false).0,
            chat_headers: Mutex::new(Vec::new()),
        });
        let mut app = Router::new().route(usage_path(provider), get(answer_usage));
        if let Some(legacy) = self::provider(provider).legacy_usage_path() {
            app = app.route(legacy, get(answer_legacy_usage));
        }
        if let Some(path) = completions_path(provider) {
            app = app.route(&path, post(chat::completions));
        }
        if let Some(path) = messages_path(provider) {
            app = app.route(&path, post(chat::messages));
        }
        if let Some(path) = responses_path(provider) {
            app = app.route(&path, post(chat::responses));
        }
        let app = app.fallback(answer_not_found).with_state(shared.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let server = tokio::spawn(async move {
            // Serves until the task is aborted; an accept error is retried inside axum.
            let _ = axum::serve(listener, app).await;
        });
        Ok(FakeProvider {
            addr,
            shared,
            server,
        })
    }

    /// `http://127.0.0.1:PORT`, to use as the account's base URL.
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Accepts `key` too, as a provider does once a second key is created.
    pub fn accept_key(&self, key: &str) {
        self.shared
            .more_keys
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(key.to_owned());
    }

    /// Panics on a status outside 100-999 or an invalid scripted header, so that a test's
    /// mistake shows at the line that made it.
    pub fn set_behaviour(&self, behaviour: Behaviour) {
        match &behaviour {
            Behaviour::HtmlError(status) => {
                status_code(*status);
            }
            Behaviour::Error {
                status, headers, ..
            } => {
                status_code(*status);
                for (name, value) in headers {
                    header_pair(name, value);
                }
            }
            _ => {}
        }
        self.shared.state().behaviour = behaviour;
    }

    /// How much of the main window is used, 0-100 (default 40); values outside are clamped,
    /// NaN reads as 0. Every number in the bodies and headers follows from it (see each
    /// provider's file).
    pub fn set_used_percent(&self, percent: f64) {
        let percent = if percent.is_nan() { 0.0 } else { percent };
        self.shared.state().used_percent = percent.clamp(0.0, 100.0);
    }

    /// Kimi Code's `parallel.limit` (default 30); the chat endpoints hold to it only after
    /// [`FakeProvider::enforce_concurrency`].
    pub fn set_concurrency_limit(&self, limit: u64) {
        self.shared.state().concurrency_limit = limit;
    }

    /// Whether the chat endpoints refuse requests beyond the concurrency limit with the
    /// provider's 429 (default off).
    pub fn enforce_concurrency(&self, enforce: bool) {
        self.shared.state().chat.enforce_concurrency = enforce;
    }

    /// Streamed answers send `chunks` chunks (one token each, default 5), the first at once and
    /// then one every `gap` (default none).
    pub fn set_stream(&self, chunks: usize, gap: Duration) {
        let mut state = self.shared.state();
        state.chat.chunks = chunks.max(1);
        state.chat.gap = gap;
    }

    /// The next `count` chat requests get the provider's rate-limit 429 with
    /// `retry-after: retry_after_s`.
    pub fn refuse_next_chats(&self, count: usize, retry_after_s: u64) {
        let mut state = self.shared.state();
        state.chat.refusals_left = count;
        state.chat.refusal_retry_after_s = retry_after_s;
    }

    /// While on, admitted chat requests wait (counted in flight) before they answer, until it
    /// is switched off: a test can have requests held open at the provider for as long as it
    /// needs, without timing.
    pub fn hold_answers(&self, hold: bool) {
        self.shared.holding.send_replace(hold);
    }

    /// The User-Agent of every request to a chat path, in the order they arrived (empty when
    /// none was sent).
    pub fn chat_user_agents(&self) -> Vec<String> {
        self.chat_request_headers()
            .iter()
            .map(|headers| {
                headers
                    .get(header::USER_AGENT)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect()
    }

    /// The headers of every request to a chat path, in the order they arrived: what a tool's
    /// requests carried when they reached the provider.
    pub fn chat_request_headers(&self) -> Vec<HeaderMap> {
        self.shared
            .chat_headers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Streamed answers keep the body open for `tail` after the event that ends them
    /// (`data: [DONE]`, `message_stop`) before it ends (default: none, the body ends with it),
    /// as providers whose last write is followed by the end of the response a little later.
    pub fn set_stream_tail(&self, tail: Duration) {
        self.shared.state().chat.tail = tail;
    }

    /// Whether chat answers (JSON, SSE and refusals) are compressed in the coding the request's
    /// `Accept-Encoding` allows, the server preferring zstd, br, gzip, deflate (default off).
    /// Streams are flushed after every event; the end of the coding comes with the end of the
    /// body, after [`FakeProvider::set_stream_tail`].
    pub fn compress_answers(&self, on: bool) {
        self.shared.state().chat.compress = on;
    }

    /// The next `count` chat requests are refused with HTTP **200**, the error inside the
    /// answer, as docs/providers.md says each provider does: Anthropic (and Claude, and Kimi
    /// Code's messages) an `event: error` after the stream began (a non-streamed request gets
    /// the HTTP error: Anthropic sends no error inside a JSON 200); OpenRouter an error chunk
    /// in a stream, or `{"error":{"code":429,...}}` in JSON; Z.ai `{"error":{"code":"1302",...}}`
    /// and MiniMax `base_resp.status_code` in JSON, streamed or not.
    ///
    /// Panics for the other providers, which send no such errors.
    pub fn refuse_next_chats_in_200(&self, count: usize, error: InBandError) {
        assert!(
            in_band::sends_errors_in_200(self.shared.provider),
            "the fake {} sends no errors inside a 200 (docs/providers.md)",
            self.shared.provider
        );
        let mut state = self.shared.state();
        state.chat.in_band_left = count;
        state.chat.in_band = error;
    }

    /// The bytes of the last chat answer's body exactly as the fake sent them (compressed, when
    /// it compressed), so far; for tests that send one request at a time.
    pub fn last_chat_body(&self) -> Vec<u8> {
        self.shared.state().sent.clone()
    }

    /// The chat endpoints' counters now.
    pub fn chat_counters(&self) -> ChatCounters {
        *self.shared.counters.borrow()
    }

    /// Waits until the chat counters satisfy `done`, for at most `timeout`; returns the last
    /// value seen either way.
    pub async fn wait_for_chats(
        &self,
        timeout: Duration,
        done: impl Fn(&ChatCounters) -> bool,
    ) -> ChatCounters {
        let mut changes = self.shared.counters.subscribe();
        let _ = tokio::time::timeout(timeout, changes.wait_for(|c| done(c))).await;
        *changes.borrow()
    }

    /// How many requests reached the usage URL's path, whatever the answer.
    /// Answers 404 on the usage URL, as a deployment without the provider's newer route does;
    /// its older route ([`crate::providers::Provider::legacy_usage_path`]) still answers.
    pub fn lack_usage_route(&self, missing: bool) {
        self.shared.state().usage_route_missing = missing;
    }

    pub fn usage_requests(&self) -> usize {
        self.shared.state().usage_requests
    }

    /// The headers of the last request, on any path.
    pub fn last_request_headers(&self) -> Option<HeaderMap> {
        self.shared.state().last_request_headers.clone()
    }
}

impl Drop for FakeProvider {
    fn drop(&mut self) {
        // Dropping axum's serve loop closes the listener and tells open connections to finish.
        self.server.abort();
    }
}

/// The path of the provider's default usage URL: `/coding/v1/usages`, `/v1/models`, ….
pub fn usage_path(id: ProviderId) -> &'static str {
    let url = provider(id).regions()[0].usage_url;
    let after_scheme = url.find("://").map_or(url, |i| &url[i + 3..]);
    after_scheme
        .find('/')
        .map_or("/", |slash| &after_scheme[slash..])
}

struct Shared {
    provider: ProviderId,
    valid_key: String,
    /// Keys accepted besides `valid_key` (a new key made before the old one is revoked).
    more_keys: Mutex<Vec<String>>,
    state: Mutex<FakeState>,
    counters: watch::Sender<ChatCounters>,
    /// [`FakeProvider::hold_answers`].
    holding: watch::Sender<bool>,
    /// [`FakeProvider::chat_request_headers`].
    chat_headers: Mutex<Vec<HeaderMap>>,
}

struct FakeState {
    behaviour: Behaviour,
    used_percent: f64,
    concurrency_limit: u64,
    usage_requests: usize,
    /// [`FakeProvider::lack_usage_route`].
    usage_route_missing: bool,
    last_request_headers: Option<HeaderMap>,
    chat: chat::ChatSettings,
    /// The last chat answer's body as sent.
    sent: Vec<u8>,
}

impl Shared {
    fn accepts(&self, sent: Option<&str>) -> bool {
        sent.is_some_and(|sent| {
            sent == self.valid_key
                || self
                    .more_keys
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .iter()
                    .any(|k| k == sent)
        })
    }

    fn state(&self) -> MutexGuard<'_, FakeState> {
        // A panicking test thread must not take the other assertions down with it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn count(&self, change: impl FnOnce(&mut ChatCounters)) {
        self.counters.send_modify(change);
    }

    /// Uses up one of the refusals `refuse_next_chats` asked for, if any are left.
    fn take_scripted_refusal(&self) -> bool {
        let mut state = self.state();
        let left = state.chat.refusals_left;
        state.chat.refusals_left = left.saturating_sub(1);
        left > 0
    }

    /// Uses up one of the refusals `refuse_next_chats_in_200` asked for, if any are left.
    fn take_in_band_refusal(&self) -> Option<InBandError> {
        let mut state = self.state();
        let left = state.chat.in_band_left;
        state.chat.in_band_left = left.saturating_sub(1);
        (left > 0).then_some(state.chat.in_band)
    }

    /// Starts recording a new chat answer's body.
    fn start_sending(&self) {
        self.state().sent.clear();
    }

    fn record_sent(&self, bytes: &[u8]) {
        self.state().sent.extend_from_slice(bytes);
    }
}

/// What a body function may depend on.
struct Ctx<'a> {
    /// 0-100, from [`FakeProvider::set_used_percent`].
    used_percent: f64,
    concurrency_limit: u64,
    now: Timestamp,
    /// The accepted key (OpenRouter echoes a masked label of it).
    key: &'a str,
}

impl Ctx<'_> {
    /// `limit * used_percent`, rounded to a whole count.
    fn used_of(&self, limit: f64) -> f64 {
        (limit * self.used_percent / 100.0).round()
    }

    /// `limit - used_of(limit)`.
    fn remaining_of(&self, limit: f64) -> f64 {
        limit - self.used_of(limit)
    }

    /// `now + hours`.
    fn in_hours(&self, hours: i64) -> Timestamp {
        self.now + SignedDuration::from_hours(hours)
    }
}

/// One provider's answers, a function per shape.
struct Shapes {
    normal: fn(&Ctx) -> Reply,
    variant: fn(&Ctx) -> Reply,
    /// The answer to a wrong or missing key; gets the key that was sent, if any.
    unauthorized: fn(Option<&str>) -> Reply,
    /// A 429 body; the caller adds `Retry-After`.
    rate_limited: fn(u64) -> Reply,
    /// When the provider answers a key for another product differently from a wrong key.
    wrong_product: Option<fn() -> Reply>,
    /// The window kinds Redline reads from `normal` (none for a balance).
    windows: &'static [&'static str],
    /// The main window's percentage used as a client reads it from an answer (body, headers),
    /// to prove `set_used_percent` drives it; `serves_no_used_percent` for a balance.
    used_percent: fn(&Value, &HeaderMap) -> Option<f64>,
    /// A 400 when a header the provider requires besides the key is missing.
    missing_header: fn(&HeaderMap) -> Option<Reply>,
}

/// The window kinds Redline reads from a fake's usual answer, and whether
/// [`FakeProvider::set_used_percent`] drives them (a balance has neither).
pub fn window_kinds(id: ProviderId) -> &'static [&'static str] {
    shapes(id).windows
}

/// The main window's percentage used in an answer of `id`'s fake, read as a client would.
pub fn served_used_percent(id: ProviderId, body: &Value, headers: &HeaderMap) -> Option<f64> {
    (shapes(id).used_percent)(body, headers)
}

/// For a fake whose answer has no window.
fn serves_no_used_percent(_: &Value, _: &HeaderMap) -> Option<f64> {
    None
}

/// A header's value as a number.
fn header_number(headers: &HeaderMap, name: &str) -> Option<f64> {
    headers.get(name)?.to_str().ok()?.parse().ok()
}

fn shapes(id: ProviderId) -> &'static Shapes {
    match id {
        ProviderId::KimiCode => &kimi_code::SHAPES,
        ProviderId::Moonshot => &moonshot::SHAPES,
        ProviderId::Openai => &openai::SHAPES,
        ProviderId::Anthropic => &anthropic::SHAPES,
        ProviderId::Claude => &claude::SHAPES,
        ProviderId::Openrouter => &openrouter::SHAPES,
        ProviderId::Deepseek => &deepseek::SHAPES,
        ProviderId::Zai => &zai::SHAPES,
        ProviderId::Minimax => &minimax::SHAPES,
        ProviderId::Codex => &codex::SHAPES,
        ProviderId::Gemini => &gemini::SHAPES,
        ProviderId::Groq => &groq::SHAPES,
        ProviderId::Cerebras => &cerebras::SHAPES,
        ProviderId::Xai => &xai::SHAPES,
        ProviderId::Mistral => &mistral::SHAPES,
        ProviderId::Together => &together::SHAPES,
        ProviderId::Fireworks => &fireworks::SHAPES,
        ProviderId::Dashscope | ProviderId::DashscopeCoding => &dashscope::SHAPES,
        ProviderId::VolcengineArk | ProviderId::VolcengineArkCoding => &volcengine_ark::SHAPES,
        ProviderId::Siliconflow => &siliconflow::SHAPES,
        ProviderId::GithubModels => &github_models::SHAPES,
        ProviderId::Perplexity => &perplexity::SHAPES,
        ProviderId::AzureOpenai => &azure_openai::SHAPES,
        ProviderId::Novita => &novita::SHAPES,
        ProviderId::Stepfun => &stepfun::SHAPES,
    }
}

/// For providers that require nothing but the key.
fn no_required_headers(_: &HeaderMap) -> Option<Reply> {
    None
}

/// The provider's older usage route: the same answers.
async fn answer_legacy_usage(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    serve_usage(shared, headers).await
}

async fn answer_usage(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if shared.state().usage_route_missing {
        return StatusCode::NOT_FOUND.into_response();
    }
    serve_usage(shared, headers).await
}

async fn serve_usage(shared: Arc<Shared>, headers: HeaderMap) -> Response {
    let (behaviour, used_percent, concurrency_limit) = {
        let mut state = shared.state();
        state.usage_requests += 1;
        state.last_request_headers = Some(headers.clone());
        (
            state.behaviour.clone(),
            state.used_percent,
            state.concurrency_limit,
        )
    };
    match behaviour {
        Behaviour::Slow(delay) => tokio::time::sleep(delay).await,
        Behaviour::HtmlError(status) => return html_error_page(status_code(status)),
        Behaviour::Error {
            status,
            body,
            headers,
        } => return scripted(status, body, &headers),
        _ => {}
    }
    let shapes = shapes(shared.provider);
    let sent = sent_key(provider(shared.provider).auth_style(), &headers);
    if !shared.accepts(sent) {
        return (shapes.unauthorized)(sent).into_response();
    }
    if let Some(refusal) = (shapes.missing_header)(&headers) {
        return refusal.into_response();
    }
    let ctx = Ctx {
        used_percent,
        concurrency_limit,
        now: Timestamp::now(),
        key: &shared.valid_key,
    };
    match behaviour {
        Behaviour::Variant => (shapes.variant)(&ctx).into_response(),
        Behaviour::UsageRateLimited { retry_after_s } => (shapes.rate_limited)(retry_after_s)
            .header("retry-after", retry_after_s)
            .into_response(),
        Behaviour::Truncated => (shapes.normal)(&ctx).into_truncated_response(),
        Behaviour::UnknownShape => Reply::ok(json!({"hello": "world"})).into_response(),
        Behaviour::WrongProduct => match shapes.wrong_product {
            Some(wrong_product) => wrong_product().into_response(),
            None => (shapes.unauthorized)(sent).into_response(),
        },
        // (`HtmlError` and `Error` answered above, before the key check.)
        Behaviour::Normal
        | Behaviour::Slow(_)
        | Behaviour::HtmlError(_)
        | Behaviour::Error { .. } => (shapes.normal)(&ctx).into_response(),
    }
}

/// Any other path: a plain JSON 404 (another method on a served path gets axum's 405).
async fn answer_not_found(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    shared.state().last_request_headers = Some(headers);
    let chat_paths: String = [
        completions_path(shared.provider),
        messages_path(shared.provider),
        responses_path(shared.provider),
    ]
    .into_iter()
    .flatten()
    .map(|path| format!(", POST {path}"))
    .collect();
    let message = format!(
        "the fake {} serves only GET {}{chat_paths}, not {method} {}",
        shared.provider,
        usage_path(shared.provider),
        uri.path()
    );
    Reply::json(
        StatusCode::NOT_FOUND,
        json!({"error": {"type": "not_found", "message": message}}),
    )
    .into_response()
}

/// The key as the provider's auth style carries it; `None` when it is not there in that form.
/// A `Bearer <key>` sent to Z.ai's raw `Authorization` is therefore a wrong key.
fn sent_key(style: AuthStyle, headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(style.header())?.to_str().ok()?;
    style.key_in(value)
}

/// A JSON answer before it is sent, so that `Truncated` can cut the `Normal` body.
struct Reply {
    status: StatusCode,
    headers: Vec<(String, String)>,
    body: Value,
}

impl Reply {
    fn json(status: StatusCode, body: Value) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body,
        }
    }

    fn ok(body: Value) -> Reply {
        Reply::json(StatusCode::OK, body)
    }

    fn header(mut self, name: impl Into<String>, value: impl ToString) -> Reply {
        self.headers.push((name.into(), value.to_string()));
        self
    }

    fn into_truncated_response(self) -> Response {
        let text = self.body.to_string();
        let half = text.len() / 2;
        let cut = (0..=half)
            .rev()
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(0);
        self.send(text[..cut].to_owned())
    }

    fn send(self, body: String) -> Response {
        let mut response = (
            self.status,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response();
        for (name, value) in self.headers {
            let (name, value) = header_pair(&name, &value);
            response.headers_mut().append(name, value);
        }
        response
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let text = self.body.to_string();
        self.send(text)
    }
}

/// A gateway's error page, as nginx writes it.
fn html_error_page(status: StatusCode) -> Response {
    let title = format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("Error")
    );
    let page = format!(
        "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    );
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        page,
    )
        .into_response()
}

/// [`Behaviour::Error`]'s answer: the scripted headers replace the default content type.
fn scripted(status: u16, body: String, headers: &[(String, String)]) -> Response {
    let content_type = if serde_json::from_str::<Value>(&body).is_ok() {
        "application/json"
    } else {
        "text/plain; charset=utf-8"
    };
    let mut response = (
        status_code(status),
        [(header::CONTENT_TYPE, content_type)],
        body,
    )
        .into_response();
    let mut scripted = HeaderMap::new();
    for (name, value) in headers {
        let (name, value) = header_pair(name, value);
        scripted.append(name, value);
    }
    response.headers_mut().extend(scripted);
    response
}

fn status_code(status: u16) -> StatusCode {
    StatusCode::from_u16(status)
        .unwrap_or_else(|_| panic!("fake provider: {status} is not an HTTP status"))
}

fn header_pair(name: &str, value: &str) -> (HeaderName, HeaderValue) {
    let pair = HeaderName::try_from(name)
        .ok()
        .zip(HeaderValue::try_from(value).ok());
    pair.unwrap_or_else(|| panic!("fake provider: invalid header {name:?}: {value:?}"))
}

/// `2026-12-01T05:24:18.443553353Z`: RFC 3339 with nine fractional digits (Kimi's `resetTime`).
fn rfc3339_nanos(at: Timestamp) -> String {
    let whole = Timestamp::from_second(at.as_second()).expect("a second of a valid timestamp");
    (whole + SignedDuration::from_nanos(443_553_353))
        .strftime("%Y-%m-%dT%H:%M:%S%.9fZ")
        .to_string()
}

/// `2026-08-02T07:20:00.628697+00:00`: six fractional digits and a numeric offset (Claude).
fn rfc3339_micros_offset(at: Timestamp) -> String {
    let whole = Timestamp::from_second(at.as_second()).expect("a second of a valid timestamp");
    (whole + SignedDuration::from_micros(628_697))
        .strftime("%Y-%m-%dT%H:%M:%S%.6f+00:00")
        .to_string()
}

/// `2026-08-02T07:20:00Z`: whole seconds (Anthropic's rate-limit resets).
fn rfc3339_seconds(at: Timestamp) -> String {
    at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Go's `time.Duration` text at millisecond precision, as OpenAI's `x-ratelimit-reset-*`:
/// `0s`, `12ms`, `1.146s`, `6m0s`, `1h2m3s`.
fn go_duration(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis == 0 {
        return "0s".to_owned();
    }
    if millis < 1000 {
        return format!("{millis}ms");
    }
    let (seconds, fraction) = (millis / 1000, millis % 1000);
    let (hours, minutes, seconds) = (seconds / 3600, seconds % 3600 / 60, seconds % 60);
    let seconds = if fraction == 0 {
        seconds.to_string()
    } else {
        format!("{seconds}.{fraction:03}")
            .trim_end_matches('0')
            .to_owned()
    };
    match (hours, minutes) {
        (0, 0) => format!("{seconds}s"),
        (0, _) => format!("{minutes}m{seconds}s"),
        _ => format!("{hours}h{minutes}m{seconds}s"),
    }
}

/// `sk-abc…wxyz`: enough of a key for an error message, as providers echo it.
fn masked(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() <= 8 {
        return "****".to_owned();
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}****{tail}")
}

/// A whole count as a decimal string, as Kimi and DeepSeek send numbers.
fn decimal_string(value: f64) -> String {
    format!("{value:.0}")
}
