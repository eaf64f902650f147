//! The local proxy over real loopback HTTP: a tiny axum router in front of `Proxy::handle`, as
//! the daemon mounts it, fake providers (and a few hand-made upstreams) behind it, and reqwest
//! as the client. Short real durations stand in for the production timeouts.

use crate::support::closed_origin;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use futures_util::StreamExt;
use http::{HeaderMap, StatusCode};
use redline::fakes::{Behaviour, FakeProvider, PROMPT_TOKENS};
use redline::keys::account_id::AccountId;
use redline::keys::secret::Secret;
use redline::poll::fetch::HostMap;
use redline::providers::ProviderId;
use redline::providers::throttle::Cause;
use redline::proxy::traffic::{CLIENT_CLOSED, TokenUsage, Traffic, TrafficSummary};
use redline::proxy::{Proxy, ProxySettings, Upstream, split_account};
use redline::status::health::{self, LimitSource};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

const KEY: &str = "sk-real-provider-key-0123456789abcdef";
const TOKEN: &str = "rl_00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
/// Long enough for anything on loopback, short enough that a hang fails fast.
const PROMPTLY: Duration = Duration::from_secs(3);

/// Test timeouts: short, but far above what loopback needs.
fn settings() -> ProxySettings {
    ProxySettings {
        connect_timeout: Duration::from_secs(2),
        first_byte_timeout: Duration::from_secs(5),
        idle_timeout: Duration::from_secs(5),
        queue_max_wait: Duration::from_secs(5),
        ..ProxySettings::default()
    }
}

/// Stops a server task when dropped.
struct Server(JoinHandle<()>);

impl Drop for Server {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn serve(app: Router) -> (SocketAddr, Server) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, Server(task))
}

/// The daemon's routing in miniature: `/{account}/{*rest}` goes to the proxy, with the path
/// taken from the raw URI so percent-encoding is kept.
async fn route(State(proxy): State<Proxy>, request: Request) -> Response {
    let target = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let Some((account, path)) = split_account(&target) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let account = account.to_owned();
    proxy.handle(&account, &path, request).await
}

struct Harness {
    traffic: Arc<Traffic>,
    base: String,
    client: reqwest::Client,
    _server: Server,
}

fn upstream(provider: ProviderId, origin: String, cap: u64) -> Upstream {
    Upstream {
        provider,
        origin,
        secret: Some(Secret::parse(KEY).unwrap()),
        concurrency_cap: cap,
    }
}

async fn harness(settings: ProxySettings, upstreams: Vec<(&str, Upstream)>) -> Harness {
    let traffic = Traffic::new();
    let proxy = Proxy::new(
        settings,
        HostMap::default(),
        Secret::parse(TOKEN).unwrap(),
        traffic.clone(),
    );
    proxy.set_upstreams(
        upstreams
            .into_iter()
            .map(|(id, upstream)| (id.parse().unwrap(), upstream))
            .collect(),
    );
    let app = Router::new()
        .route("/{account}/{*rest}", any(route))
        .with_state(proxy);
    let (addr, server) = serve(app).await;
    Harness {
        traffic,
        base: format!("http://{addr}"),
        // No system proxy: a CI machine's HTTP_PROXY must not capture loopback requests.
        client: reqwest::Client::builder().no_proxy().build().unwrap(),
        _server: server,
    }
}

impl Harness {
    /// A POST with the local token as a Bearer credential.
    fn post(&self, account: &str, path: &str, body: Value) -> reqwest::RequestBuilder {
        self.client
            .post(format!("{}/{account}{path}", self.base))
            .bearer_auth(TOKEN)
            .header("content-type", "application/json")
            .header("user-agent", "KimiCLI/0.42")
            .body(body.to_string())
    }

    fn summary(&self, account: &str) -> TrafficSummary {
        self.traffic.summary(&id(account))
    }

    /// Waits for the traffic to satisfy `done`, woken by its change notifications; panics
    /// with the last state after [`PROMPTLY`].
    async fn wait_for(&self, what: &str, done: impl Fn(&Traffic) -> bool) {
        let mut changes = self.traffic.subscribe();
        let waited =
            tokio::time::timeout(PROMPTLY, changes.wait_for(|_| done(&self.traffic))).await;
        assert!(waited.is_ok(), "timed out waiting for {what}");
    }
}

fn id(account: &str) -> AccountId {
    account.parse().unwrap()
}

async fn start_fake(provider: ProviderId) -> FakeProvider {
    FakeProvider::start(provider, KEY).await.unwrap()
}

async fn json_of(response: reqwest::Response) -> Value {
    let bytes = response.bytes().await.unwrap();
    serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&bytes)))
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).map(|v| v.to_str().unwrap())
}

// ---------------------------------------------------------------------------------------------
// An upstream that records exactly what reached it.

#[derive(Clone, Debug)]
struct Seen {
    method: String,
    target: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

#[derive(Clone, Default)]
struct EchoState {
    seen: Arc<Mutex<Vec<Seen>>>,
    /// Fired when the first body chunk of a request arrives.
    first_chunk: Arc<Mutex<Option<tokio::sync::oneshot::Sender<()>>>>,
}

async fn echo(State(state): State<EchoState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let mut chunks = body.into_data_stream();
    let mut bytes = Vec::new();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.unwrap();
        if bytes.is_empty()
            && !chunk.is_empty()
            && let Some(signal) = state.first_chunk.lock().unwrap().take()
        {
            let _ = signal.send(());
        }
        bytes.extend_from_slice(&chunk);
    }
    let answer = format!("echo of {} bytes", bytes.len());
    state.seen.lock().unwrap().push(Seen {
        method: parts.method.to_string(),
        target: parts.uri.to_string(),
        headers: parts.headers,
        body: bytes,
    });
    (
        StatusCode::CREATED,
        [
            ("x-upstream", "echo"),
            ("content-type", "application/octet-stream"),
            // Passed through untouched: the client decides what to do with it.
            ("content-encoding", "gzip"),
        ],
        answer,
    )
        .into_response()
}

async fn echo_upstream() -> (String, EchoState, Server) {
    let state = EchoState::default();
    let app = Router::new().fallback(echo).with_state(state.clone());
    let (addr, server) = serve(app).await;
    (format!("http://{addr}"), state, server)
}

// ---------------------------------------------------------------------------------------------
// Forwarding and credentials.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwards_method_path_query_headers_and_body_intact() {
    let (origin, echo, _upstream) = echo_upstream().await;
    let h = harness(
        settings(),
        vec![("acct", upstream(ProviderId::Openai, origin.clone(), 0))],
    )
    .await;
    let body: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
    let response = h
        .client
        .put(format!(
            "{}/acct/v1/some%20path/x?q=1&r=a%2Fb&empty=",
            h.base
        ))
        .bearer_auth(TOKEN)
        .header("x-custom", "one")
        .header("x-custom-2", "two")
        .header("accept-encoding", "gzip, br")
        .header("content-type", "application/octet-stream")
        .header("connection", "keep-alive, x-drop-me")
        .header("x-drop-me", "1")
        .header("keep-alive", "timeout=5")
        .header("te", "trailers")
        .header("proxy-authorization", "Basic Zm9vOmJhcg==")
        .header("user-agent", "OpenAI/Python 1.109.1")
        .body(body.clone())
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 201);
    assert_eq!(header(response.headers(), "x-upstream"), Some("echo"));
    assert_eq!(header(response.headers(), "content-encoding"), Some("gzip"));
    assert_eq!(header(response.headers(), "x-redline"), None);
    assert_eq!(
        response.content_length(),
        Some("echo of 5000 bytes".len() as u64)
    );
    assert_eq!(response.text().await.unwrap(), "echo of 5000 bytes");

    let seen = echo.seen.lock().unwrap()[0].clone();
    assert_eq!(seen.method, "PUT");
    assert_eq!(seen.target, "/v1/some%20path/x?q=1&r=a%2Fb&empty=");
    assert_eq!(seen.body, body);
    let sent = |name| header(&seen.headers, name);
    assert_eq!(sent("x-custom"), Some("one"));
    assert_eq!(sent("x-custom-2"), Some("two"));
    assert_eq!(sent("accept-encoding"), Some("gzip, br"));
    assert_eq!(sent("content-type"), Some("application/octet-stream"));
    assert_eq!(sent("content-length"), Some("5000"));
    assert_eq!(sent("user-agent"), Some("OpenAI/Python 1.109.1"));
    assert_eq!(sent("host"), Some(origin.trim_start_matches("http://")));
    assert_eq!(
        sent("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    for dropped in [
        "x-drop-me",
        "keep-alive",
        "te",
        "proxy-authorization",
        "transfer-encoding",
    ] {
        assert_eq!(sent(dropped), None, "{dropped} reached the upstream");
    }
    assert_eq!(sent("connection"), None);
    assert_eq!(h.summary("acct").clients["openai-python"].requests, 1);
    assert_eq!(h.summary("acct").by_status[&201], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_the_request_body_as_it_comes() {
    let (origin, echo, _upstream) = echo_upstream().await;
    let (first_tx, first_rx) = tokio::sync::oneshot::channel();
    *echo.first_chunk.lock().unwrap() = Some(first_tx);
    let h = harness(
        settings(),
        vec![("acct", upstream(ProviderId::Openai, origin, 0))],
    )
    .await;
    // The second chunk exists only once the upstream holds the first: a proxy that buffered
    // the request body would wait forever.
    let first = futures_util::stream::iter([Ok::<_, std::io::Error>(Bytes::from("first;"))]);
    let second = futures_util::stream::once(async move {
        first_rx.await.expect("the upstream saw the first chunk");
        Ok(Bytes::from("second"))
    });
    let request = h
        .client
        .post(format!("{}/acct/v1/upload", h.base))
        .bearer_auth(TOKEN)
        .body(reqwest::Body::wrap_stream(first.chain(second)))
        .send();
    let response = tokio::time::timeout(PROMPTLY, request)
        .await
        .expect("the first chunk went through before the second was written")
        .unwrap();
    assert_eq!(response.text().await.unwrap(), "echo of 12 bytes");
    assert_eq!(echo.seen.lock().unwrap()[0].body, b"first;second");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_token_is_swapped_for_the_key_in_either_header() {
    let kimi = start_fake(ProviderId::KimiCode).await;
    let anthropic = start_fake(ProviderId::Anthropic).await;
    let h = harness(
        settings(),
        vec![
            ("kimi", upstream(ProviderId::KimiCode, kimi.origin(), 0)),
            (
                "ant",
                upstream(ProviderId::Anthropic, anthropic.origin(), 0),
            ),
        ],
    )
    .await;
    let no_token_anywhere = |headers: &HeaderMap| {
        headers
            .values()
            .all(|v| !String::from_utf8_lossy(v.as_bytes()).contains(TOKEN))
    };

    let response = h
        .post("kimi", "/coding/v1/chat/completions", json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let seen = kimi.last_request_headers().unwrap();
    assert_eq!(
        header(&seen, "authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert!(no_token_anywhere(&seen));

    let response = h
        .client
        .post(format!("{}/ant/v1/messages", h.base))
        .header("x-api-key", TOKEN)
        .header("anthropic-version", "2023-06-01")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let seen = anthropic.last_request_headers().unwrap();
    assert_eq!(header(&seen, "x-api-key"), Some(KEY));
    assert_eq!(header(&seen, "authorization"), None);
    assert_eq!(header(&seen, "anthropic-version"), Some("2023-06-01"));
    assert!(no_token_anywhere(&seen));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_token_in_azures_api_key_header_reaches_azure_as_the_real_key() {
    let azure = start_fake(ProviderId::AzureOpenai).await;
    let h = harness(
        settings(),
        vec![(
            "azure",
            upstream(ProviderId::AzureOpenai, azure.origin(), 0),
        )],
    )
    .await;
    let response = h
        .client
        .post(format!("{}/azure/openai/v1/chat/completions", h.base))
        .header("api-key", TOKEN)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let seen = azure.last_request_headers().unwrap();
    assert_eq!(header(&seen, "api-key"), Some(KEY));
    assert_eq!(header(&seen, "authorization"), None);
    assert_eq!(header(&seen, "x-api-key"), None);
    assert!(
        seen.values()
            .all(|v| !String::from_utf8_lossy(v.as_bytes()).contains(TOKEN))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_credential_passes_through_and_is_observed() {
    let kimi = start_fake(ProviderId::KimiCode).await;
    let mut account = upstream(ProviderId::KimiCode, kimi.origin(), 0);
    account.secret = None;
    let h = harness(settings(), vec![("kimi", account)]).await;
    let url = format!("{}/kimi/coding/v1/chat/completions", h.base);

    let response = h
        .client
        .post(&url)
        .bearer_auth(KEY)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        200,
        "the client's own key works without one stored"
    );
    assert_eq!(
        header(&kimi.last_request_headers().unwrap(), "authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );

    let response = h
        .client
        .post(&url)
        .bearer_auth("sk-wrong")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(
        header(response.headers(), "x-redline"),
        None,
        "the provider's own 401"
    );
    assert_eq!(
        header(&kimi.last_request_headers().unwrap(), "authorization"),
        Some("Bearer sk-wrong")
    );
    h.wait_for("the rejected key's throttle", |t| {
        !t.throttles(&id("kimi")).is_empty()
    })
    .await;
    let throttle = &h.traffic.throttles(&id("kimi"))[0];
    assert_eq!((throttle.cause, throttle.status), (Cause::AuthInvalid, 401));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redline_refuses_what_it_cannot_forward() {
    let kimi = start_fake(ProviderId::KimiCode).await;
    let mut keyless = upstream(ProviderId::KimiCode, kimi.origin(), 0);
    keyless.secret = None;
    let h = harness(
        settings(),
        vec![
            ("kimi", upstream(ProviderId::KimiCode, kimi.origin(), 0)),
            ("keyless", keyless),
        ],
    )
    .await;
    let path = "/coding/v1/chat/completions";
    let check = |response: reqwest::Response,
                 status: u16,
                 kind: &'static str,
                 words: &'static str| async move {
        assert_eq!(response.status(), status);
        assert_eq!(header(response.headers(), "x-redline"), Some("error"));
        let body = json_of(response).await;
        assert_eq!(body["error"]["type"], kind);
        let message = body["error"]["message"].as_str().unwrap().to_owned();
        assert!(message.contains(words), "{message}");
        assert!(!message.contains(KEY) && !message.contains(TOKEN));
    };

    let none = h
        .client
        .post(format!("{}/kimi{path}", h.base))
        .body("{}")
        .send()
        .await
        .unwrap();
    check(none, 401, "redline_no_credential", "`redline token`").await;

    let browser = h
        .post("kimi", path, json!({}))
        .header("origin", "https://evil.example");
    check(
        browser.send().await.unwrap(),
        403,
        "redline_browser_refused",
        "Origin",
    )
    .await;

    let unknown = h.post("nobody", path, json!({})).send().await.unwrap();
    check(
        unknown,
        404,
        "redline_unknown_account",
        "`redline keys list`",
    )
    .await;

    let keyless = h.post("keyless", path, json!({})).send().await.unwrap();
    check(
        keyless,
        503,
        "redline_key_missing",
        "redline keys add keyless",
    )
    .await;

    assert_eq!(
        kimi.chat_counters().requests,
        0,
        "nothing reached the provider"
    );
    assert_eq!(h.summary("kimi").requests_per_minute, 0);
}

// ---------------------------------------------------------------------------------------------
// Streaming and tokens.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_chunks_arrive_with_the_providers_pacing() {
    const CHUNKS: usize = 8;
    const GAP: Duration = Duration::from_millis(50);
    let fake = start_fake(ProviderId::Openai).await;
    fake.set_stream(CHUNKS, GAP);
    let h = harness(
        settings(),
        vec![("oai", upstream(ProviderId::Openai, fake.origin(), 0))],
    )
    .await;
    let request = json!({"stream": true, "stream_options": {"include_usage": true}});
    let mut response = h
        .post("oai", "/v1/chat/completions", request)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        header(response.headers(), "content-type")
            .unwrap()
            .starts_with("text/event-stream")
    );

    // When each token's frame reached the client.
    let mut arrivals = Vec::new();
    let mut text = String::new();
    while let Some(chunk) = response.chunk().await.unwrap() {
        let now = Instant::now();
        let chunk = String::from_utf8(chunk.to_vec()).unwrap();
        arrivals.extend(std::iter::repeat_n(
            now,
            chunk.matches("\"content\":\"tok").count(),
        ));
        text.push_str(&chunk);
    }
    assert_eq!(arrivals.len(), CHUNKS, "{text}");
    for (i, pair) in arrivals.windows(2).enumerate() {
        let gap = pair[1] - pair[0];
        assert!(
            gap >= Duration::from_millis(35),
            "tokens {i} and {} {gap:?} apart",
            i + 1
        );
    }
    let span = arrivals[CHUNKS - 1] - arrivals[0];
    assert!(span >= GAP * (CHUNKS as u32 - 2), "first to last {span:?}");
    assert!(text.ends_with("data: [DONE]\n\n"));

    h.wait_for("the stream's end", |t| t.summary(&id("oai")).in_flight == 0)
        .await;
    let summary = h.summary("oai");
    assert_eq!(
        summary.tokens,
        TokenUsage {
            input: PROMPT_TOKENS,
            output: CHUNKS as u64
        }
    );
    assert_eq!(summary.by_status[&200], 1);
    assert!(summary.first_token_p50_ms.unwrap() < summary.latency_p50_ms.unwrap() - 200.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_counted_in_every_family_streamed_or_not() {
    let openai = start_fake(ProviderId::Openai).await;
    let moonshot = start_fake(ProviderId::Moonshot).await;
    let kimi = start_fake(ProviderId::KimiCode).await;
    let anthropic = start_fake(ProviderId::Anthropic).await;
    for fake in [&openai, &moonshot, &kimi, &anthropic] {
        fake.set_stream(3, Duration::ZERO);
    }
    let h = harness(
        settings(),
        vec![
            ("oai", upstream(ProviderId::Openai, openai.origin(), 0)),
            ("moon", upstream(ProviderId::Moonshot, moonshot.origin(), 0)),
            ("kimi", upstream(ProviderId::KimiCode, kimi.origin(), 0)),
            (
                "ant",
                upstream(ProviderId::Anthropic, anthropic.origin(), 0),
            ),
        ],
    )
    .await;
    let streamed = json!({"stream": true, "stream_options": {"include_usage": true}});
    let cases = [
        ("oai", "/v1/chat/completions", streamed.clone()),
        ("oai", "/v1/chat/completions", json!({})),
        ("moon", "/v1/chat/completions", json!({"stream": true})),
        ("moon", "/v1/chat/completions", json!({})),
        (
            "kimi",
            "/coding/v1/chat/completions",
            json!({"stream": true}),
        ),
        ("kimi", "/coding/v1/messages", json!({"stream": true})),
        ("ant", "/v1/messages", json!({"stream": true})),
        ("ant", "/v1/messages", json!({})),
    ];
    for (account, path, body) in &cases {
        let response = h.post(account, path, body.clone()).send().await.unwrap();
        assert_eq!(response.status(), 200, "{account} {path}");
        response.bytes().await.unwrap();
    }
    h.wait_for("every answer's end", |t| {
        ["oai", "moon", "kimi", "ant"]
            .iter()
            .all(|a| t.summary(&id(a)).by_status.get(&200) == Some(&2))
    })
    .await;
    for account in ["oai", "moon", "kimi", "ant"] {
        assert_eq!(
            h.summary(account).tokens,
            TokenUsage {
                input: 2 * PROMPT_TOKENS,
                output: 2 * 3
            },
            "{account}: Anthropic's cumulative counts are not summed, OpenAI's null usage is skipped"
        );
    }
    // Without `include_usage` OpenAI reports nothing, and nothing is made up.
    let response = h.post("oai", "/v1/chat/completions", json!({"stream": true}));
    response.send().await.unwrap().bytes().await.unwrap();
    h.wait_for("the third answer", |t| {
        t.summary(&id("oai")).by_status[&200] == 3
    })
    .await;
    assert_eq!(h.summary("oai").tokens.output, 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_headers_become_windows() {
    let openai = start_fake(ProviderId::Openai).await;
    let h = harness(
        settings(),
        vec![("oai", upstream(ProviderId::Openai, openai.origin(), 0))],
    )
    .await;
    let response = h
        .client
        .get(format!("{}/oai/v1/models", h.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(header(response.headers(), "x-ratelimit-limit-requests").is_some());
    assert_eq!(
        h.summary("oai").windows.len(),
        2,
        "RPM and TPM from the headers"
    );
}

// ---------------------------------------------------------------------------------------------
// Concurrency: the seed story.

async fn fire(h: &Harness, account: &str, count: usize) -> Vec<(u16, String)> {
    let requests = (0..count).map(|_| async {
        let response = h
            .post(account, "/coding/v1/chat/completions", json!({}))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    });
    futures_util::future::join_all(requests).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forty_parallel_requests_against_kimis_limit_of_thirty() {
    let kimi = start_fake(ProviderId::KimiCode).await;
    kimi.set_concurrency_limit(30);
    kimi.enforce_concurrency(true);
    // Every answer takes this long, so all forty are in flight together.
    kimi.set_behaviour(Behaviour::Slow(Duration::from_millis(400)));
    let h = harness(
        settings(),
        vec![
            ("open", upstream(ProviderId::KimiCode, kimi.origin(), 0)),
            ("capped", upstream(ProviderId::KimiCode, kimi.origin(), 30)),
        ],
    )
    .await;

    // Without a cap: ten of them meet Kimi's 429, exactly as the user saw it.
    let answers = fire(&h, "open", 40).await;
    let refused: Vec<_> = answers
        .iter()
        .filter(|(status, _)| *status == 429)
        .collect();
    assert_eq!(refused.len(), 10);
    assert!(
        refused[0]
            .1
            .contains("We're receiving too many requests at the moment")
    );
    h.wait_for("ten throttles", |t| t.throttles(&id("open")).len() == 10)
        .await;
    let summary = h.summary("open");
    assert_eq!(summary.peak, 40);
    assert_eq!((summary.by_status[&200], summary.by_status[&429]), (30, 10));
    for throttle in h.traffic.throttles(&id("open")) {
        assert_eq!((throttle.cause, throttle.status), (Cause::Concurrency, 429));
        assert!(
            throttle.advice.contains("your quota is fine"),
            "{}",
            throttle.advice
        );
    }
    let before = kimi.chat_counters();
    assert_eq!(before.refused, 10);
    // Each refusal came with the thirty answered ones in flight: Kimi's published limit of 30
    // stands.
    let throttles = h.traffic.throttles(&id("open"));
    assert!(
        throttles
            .iter()
            .all(|t| t.in_flight.is_some_and(|n| n > 30)),
        "{throttles:?}"
    );
    assert_eq!(
        health::concurrency_limit(Some(30), true, None, &throttles, jiff::Timestamp::now()),
        Some((30, LimitSource::Assumed))
    );

    // With Redline's cap at 30: ten wait their turn and nobody is refused.
    let answers = fire(&h, "capped", 40).await;
    assert!(
        answers.iter().all(|(status, _)| *status == 200),
        "{answers:?}"
    );
    let summary = h.summary("capped");
    assert!(summary.peak <= 30, "peak {}", summary.peak);
    assert_eq!(summary.by_status[&200], 40);
    assert!(h.traffic.throttles(&id("capped")).is_empty());
    assert_eq!(
        kimi.chat_counters().refused,
        before.refused,
        "no new 429 from Kimi"
    );
    assert_eq!(summary.queued, 0);
}

/// Kimi no longer says its concurrency limit, so Redline assumes the plan's 30; a concurrency
/// 429 that came with only four requests in flight proves the real limit is at most three.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrency_refusal_with_fewer_in_flight_proves_the_assumed_limit_lower() {
    let kimi = start_fake(ProviderId::KimiCode).await;
    kimi.set_concurrency_limit(3);
    kimi.enforce_concurrency(true);
    kimi.hold_answers(true);
    let h = harness(
        settings(),
        vec![("kimi", upstream(ProviderId::KimiCode, kimi.origin(), 0))],
    )
    .await;
    let held: Vec<_> = (0..3)
        .map(|_| {
            tokio::spawn(
                h.post("kimi", "/coding/v1/chat/completions", json!({}))
                    .send(),
            )
        })
        .collect();
    kimi.wait_for_chats(PROMPTLY, |c| c.in_flight == 3).await;

    let fourth = h
        .post("kimi", "/coding/v1/chat/completions", json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(fourth.status(), 429);
    h.wait_for("the refusal", |t| t.throttles(&id("kimi")).len() == 1)
        .await;
    let throttles = h.traffic.throttles(&id("kimi"));
    assert_eq!(
        (throttles[0].cause, throttles[0].in_flight),
        (Cause::Concurrency, Some(4))
    );
    assert_eq!(
        health::concurrency_limit(Some(30), true, None, &throttles, jiff::Timestamp::now()),
        Some((3, LimitSource::Observed))
    );
    kimi.hold_answers(false);
    for request in held {
        assert_eq!(request.await.unwrap().unwrap().status(), 200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_waits_too_long_gets_a_429_in_the_providers_format() {
    let kimi = start_fake(ProviderId::KimiCode).await;
    kimi.set_stream(2, Duration::from_secs(2));
    let h = harness(
        ProxySettings {
            queue_max_wait: Duration::from_millis(150),
            ..settings()
        },
        vec![("kimi", upstream(ProviderId::KimiCode, kimi.origin(), 1))],
    )
    .await;
    // Holds the only slot for two seconds.
    let mut holder = h
        .post(
            "kimi",
            "/coding/v1/chat/completions",
            json!({"stream": true}),
        )
        .send()
        .await
        .unwrap();
    holder.chunk().await.unwrap();

    for (path, anthropic_style) in [
        ("/coding/v1/chat/completions", false),
        ("/coding/v1/messages", true),
    ] {
        let started = Instant::now();
        let response = h.post("kimi", path, json!({})).send().await.unwrap();
        let waited = started.elapsed();
        assert_eq!(response.status(), 429);
        assert!(waited >= Duration::from_millis(150) && waited < Duration::from_secs(2));
        assert_eq!(header(response.headers(), "retry-after"), Some("1"));
        assert_eq!(header(response.headers(), "x-redline"), Some("error"));
        let body = json_of(response).await;
        let message = if anthropic_style {
            assert_eq!(body["type"], "error");
            assert_eq!(body["error"]["type"], "rate_limit_error");
            body["error"]["message"].as_str().unwrap().to_owned()
        } else {
            assert_eq!(body["error"]["type"], "rate_limit_error");
            assert_eq!(body["error"]["code"], "redline_queue_timeout");
            body["error"]["message"].as_str().unwrap().to_owned()
        };
        assert!(message.contains("concurrency cap of 1"), "{message}");
        assert!(message.contains("never asked"), "{message}");
    }
    assert_eq!(
        kimi.chat_counters().requests,
        1,
        "the queued ones never reached Kimi"
    );
    let throttles = h.traffic.throttles(&id("kimi"));
    assert_eq!(throttles.len(), 2);
    assert!(
        throttles
            .iter()
            .all(|t| t.cause == Cause::Concurrency && t.status == 429)
    );
    assert_eq!(throttles[0].retry_after_s, Some(1.0));
    drop(holder);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_refuses_at_once() {
    let kimi = start_fake(ProviderId::KimiCode).await;
    kimi.set_stream(2, Duration::from_secs(2));
    let h = harness(
        ProxySettings {
            queue_max_len: 0,
            ..settings()
        },
        vec![("kimi", upstream(ProviderId::KimiCode, kimi.origin(), 1))],
    )
    .await;
    let mut holder = h
        .post(
            "kimi",
            "/coding/v1/chat/completions",
            json!({"stream": true}),
        )
        .send()
        .await
        .unwrap();
    holder.chunk().await.unwrap();
    let started = Instant::now();
    let response = h
        .post("kimi", "/coding/v1/chat/completions", json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    assert!(started.elapsed() < Duration::from_secs(1));
    let message = json_of(response).await["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.contains("queue for account kimi is full"),
        "{message}"
    );
    drop(holder);
}

// ---------------------------------------------------------------------------------------------
// Cancellation: a client that hangs up takes its request out of flight at once, and the
// provider sees the request cancelled.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_hangs_up_while_queued_never_reaches_the_provider() {
    let kimi = start_fake(ProviderId::KimiCode).await;
    kimi.set_stream(3, Duration::from_millis(300));
    let h = harness(
        settings(),
        vec![("kimi", upstream(ProviderId::KimiCode, kimi.origin(), 1))],
    )
    .await;
    let mut holder = h
        .post(
            "kimi",
            "/coding/v1/chat/completions",
            json!({"stream": true}),
        )
        .send()
        .await
        .unwrap();
    holder.chunk().await.unwrap();

    // A prompt of a megabyte: the server notices a client gone only once it has read the
    // body, which Redline does while the request waits.
    let prompt = json!({"messages": [{"role": "user", "content": "x".repeat(1 << 20)}]});
    let queued = tokio::spawn(h.post("kimi", "/coding/v1/chat/completions", prompt).send());
    h.wait_for("one queued", |t| t.summary(&id("kimi")).queued == 1)
        .await;
    queued.abort();
    h.wait_for("the queue to empty", |t| t.summary(&id("kimi")).queued == 0)
        .await;

    // The slot frees; had the request stayed in line, it would go out now.
    while holder.chunk().await.unwrap().is_some() {}
    h.wait_for("nothing in flight", |t| {
        t.summary(&id("kimi")).in_flight == 0
    })
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(kimi.chat_counters().requests, 1);
    assert_eq!(
        h.summary("kimi").requests_per_minute,
        1,
        "only the holder began"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_hangs_up_before_the_first_byte_cancels_upstream() {
    let kimi = start_fake(ProviderId::KimiCode).await;
    kimi.set_behaviour(Behaviour::Slow(Duration::from_secs(30)));
    let h = harness(
        settings(),
        vec![("kimi", upstream(ProviderId::KimiCode, kimi.origin(), 0))],
    )
    .await;
    let request = tokio::spawn(
        h.post("kimi", "/coding/v1/chat/completions", json!({}))
            .send(),
    );
    kimi.wait_for_chats(PROMPTLY, |c| c.in_flight == 1).await;
    assert_eq!(h.summary("kimi").in_flight, 1);

    request.abort();
    h.wait_for("in flight back to 0", |t| {
        t.summary(&id("kimi")).in_flight == 0
    })
    .await;
    let counters = kimi.wait_for_chats(PROMPTLY, |c| c.cancelled == 1).await;
    assert_eq!((counters.cancelled, counters.in_flight), (1, 0));
    assert_eq!(h.summary("kimi").by_status[&CLIENT_CLOSED], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_hangs_up_mid_stream_cancels_upstream() {
    let fake = start_fake(ProviderId::Anthropic).await;
    fake.set_stream(100, Duration::from_millis(20));
    let h = harness(
        settings(),
        vec![("ant", upstream(ProviderId::Anthropic, fake.origin(), 2))],
    )
    .await;
    let mut response = h
        .post("ant", "/v1/messages", json!({"stream": true}))
        .send()
        .await
        .unwrap();
    response.chunk().await.unwrap();
    response.chunk().await.unwrap();
    assert_eq!(h.summary("ant").in_flight, 1);

    drop(response);
    h.wait_for("in flight back to 0", |t| {
        t.summary(&id("ant")).in_flight == 0
    })
    .await;
    let counters = fake.wait_for_chats(PROMPTLY, |c| c.cancelled == 1).await;
    assert_eq!((counters.cancelled, counters.completed), (1, 0));
    assert_eq!(h.summary("ant").by_status[&CLIENT_CLOSED], 1);
    // The slot under the cap was given back too.
    let response = h
        .post("ant", "/v1/messages", json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

// ---------------------------------------------------------------------------------------------
// Upstream failures.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_upstream_gets_a_502_naming_redline() {
    let origin = closed_origin();
    let h = harness(
        settings(),
        vec![("gone", upstream(ProviderId::Deepseek, origin.clone(), 0))],
    )
    .await;
    let response = h
        .post("gone", "/chat/completions", json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 502);
    assert_eq!(header(response.headers(), "x-redline"), Some("error"));
    let body = json_of(response).await;
    assert_eq!(body["error"]["type"], "redline_upstream_unreachable");
    let message = body["error"]["message"].as_str().unwrap();
    let host = origin.trim_start_matches("http://");
    assert!(
        message.starts_with(&format!("Redline could not reach {host}: ")),
        "{message}"
    );
    assert_eq!(h.summary("gone").by_status[&502], 1);
    assert_eq!(h.summary("gone").in_flight, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_first_byte_in_time_gets_a_504_and_cancels_upstream() {
    let kimi = start_fake(ProviderId::KimiCode).await;
    kimi.set_behaviour(Behaviour::Slow(Duration::from_secs(30)));
    let h = harness(
        ProxySettings {
            first_byte_timeout: Duration::from_millis(200),
            ..settings()
        },
        vec![("kimi", upstream(ProviderId::KimiCode, kimi.origin(), 0))],
    )
    .await;
    let started = Instant::now();
    let response = h
        .post("kimi", "/coding/v1/chat/completions", json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 504);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(header(response.headers(), "x-redline"), Some("error"));
    let body = json_of(response).await;
    assert_eq!(body["error"]["type"], "redline_upstream_timeout");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("Redline waited 200ms for the first byte"),
        "{message}"
    );
    kimi.wait_for_chats(PROMPTLY, |c| c.cancelled == 1).await;
    assert_eq!(h.summary("kimi").by_status[&504], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_never_opens_gets_a_504() {
    // A listener whose accept queue is full and never drained: the kernel drops further
    // SYNs, so connecting hangs until the connect timeout.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(0).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..8 {
        let connect = tokio::net::TcpStream::connect(addr);
        match tokio::time::timeout(Duration::from_millis(100), connect).await {
            Ok(Ok(stream)) => fillers.push(stream),
            _ => break,
        }
    }
    let h = harness(
        ProxySettings {
            connect_timeout: Duration::from_millis(200),
            ..settings()
        },
        vec![(
            "slow",
            upstream(ProviderId::Openai, format!("http://{addr}"), 0),
        )],
    )
    .await;
    let response = h
        .post("slow", "/v1/chat/completions", json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 504);
    let message = json_of(response).await["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.starts_with("Redline timed out connecting to 127.0.0.1:"),
        "{message}"
    );
    drop(listener);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_goes_quiet_is_cut_off_and_counted() {
    let fake = start_fake(ProviderId::Openai).await;
    fake.set_stream(3, Duration::from_secs(5));
    let h = harness(
        ProxySettings {
            idle_timeout: Duration::from_millis(200),
            ..settings()
        },
        vec![("oai", upstream(ProviderId::Openai, fake.origin(), 0))],
    )
    .await;
    let mut response = h
        .post("oai", "/v1/chat/completions", json!({"stream": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.chunk().await.unwrap().is_some());
    let started = Instant::now();
    let cut = tokio::time::timeout(PROMPTLY, response.chunk())
        .await
        .unwrap();
    assert!(
        cut.is_err(),
        "the body ends with an error, not a clean end: {cut:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    h.wait_for("the cut-off answer counted", |t| {
        t.summary(&id("oai")).by_status.get(&504) == Some(&1)
    })
    .await;
    fake.wait_for_chats(PROMPTLY, |c| c.cancelled == 1).await;
}

/// An upstream that starts a chunked answer and then drops the connection.
async fn resetting_upstream() -> (String, Server) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut request = Vec::new();
            let mut buffer = [0u8; 4096];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buffer).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buffer[..n]),
                }
            }
            let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\
                        transfer-encoding: chunked\r\n\r\n";
            let chunk = "data: {\"a\":1}\n\n";
            let start = format!("{head}{:x}\r\n{chunk}\r\n", chunk.len());
            let _ = stream.write_all(start.as_bytes()).await;
            tokio::time::sleep(Duration::from_millis(50)).await;
            drop(stream);
        }
    });
    (format!("http://{addr}"), Server(task))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_reset_midway_ends_the_body_with_an_error() {
    let (origin, _upstream) = resetting_upstream().await;
    let h = harness(
        settings(),
        vec![("oai", upstream(ProviderId::Openai, origin, 0))],
    )
    .await;
    let mut response = h
        .post("oai", "/v1/chat/completions", json!({"stream": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.chunk().await.unwrap().unwrap(),
        "data: {\"a\":1}\n\n"
    );
    let end = tokio::time::timeout(PROMPTLY, response.chunk())
        .await
        .unwrap();
    assert!(end.is_err(), "{end:?}");
    h.wait_for("the broken answer counted", |t| {
        t.summary(&id("oai")).by_status.get(&502) == Some(&1)
    })
    .await;
    assert_eq!(h.summary("oai").in_flight, 0);
}

// ---------------------------------------------------------------------------------------------
// Retrying 429s inside Redline (off by default).

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_reaches_the_client_when_retry_is_off() {
    let fake = start_fake(ProviderId::Openai).await;
    fake.refuse_next_chats(1, 0);
    let h = harness(
        settings(),
        vec![("oai", upstream(ProviderId::Openai, fake.origin(), 0))],
    )
    .await;
    assert!(!ProxySettings::default().retry_429);
    let response = h
        .post("oai", "/v1/chat/completions", json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(header(response.headers(), "x-redline"), None);
    let body = json_of(response).await;
    assert_eq!(
        body["error"]["code"], "rate_limit_exceeded",
        "relayed unchanged"
    );
    assert_eq!(fake.chat_counters().requests, 1);
    h.wait_for("the throttle", |t| t.throttles(&id("oai")).len() == 1)
        .await;
    assert_eq!(h.traffic.throttles(&id("oai"))[0].cause, Cause::Rpm);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_mode_retries_a_429_within_its_budget() {
    let fake = start_fake(ProviderId::Openai).await;
    let h = harness(
        ProxySettings {
            retry_429: true,
            ..settings()
        },
        vec![("oai", upstream(ProviderId::Openai, fake.origin(), 0))],
    )
    .await;

    // Two refusals, two retries allowed: the client sees only the success.
    fake.refuse_next_chats(2, 0);
    let request = json!({"messages": [{"role": "user", "content": "hi"}]});
    let response = h
        .post("oai", "/v1/chat/completions", request)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        json_of(response).await["usage"]["prompt_tokens"],
        PROMPT_TOKENS
    );
    assert_eq!(fake.chat_counters().requests, 3);
    assert_eq!(
        h.traffic.throttles(&id("oai")).len(),
        2,
        "each refusal is still recorded"
    );
    assert_eq!(h.summary("oai").by_status[&200], 1);

    // Three refusals: the third reaches the client.
    fake.refuse_next_chats(3, 0);
    let response = h
        .post("oai", "/v1/chat/completions", json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(fake.chat_counters().requests, 6);

    // A Retry-After beyond the total budget (30 s): no retry, no waiting.
    fake.refuse_next_chats(1, 60);
    let started = Instant::now();
    let response = h
        .post("oai", "/v1/chat/completions", json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(header(response.headers(), "retry-after"), Some("60"));
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(fake.chat_counters().requests, 7);
}

#[test]
fn the_defaults_are_the_documented_ones() {
    let defaults = ProxySettings::default();
    assert_eq!(defaults.connect_timeout, Duration::from_secs(10));
    assert_eq!(defaults.first_byte_timeout, Duration::from_secs(300));
    assert_eq!(defaults.idle_timeout, Duration::from_secs(120));
    assert_eq!(defaults.pool_idle_timeout, Duration::from_secs(20));
    assert_eq!(defaults.queue_max_wait, Duration::from_secs(60));
    assert_eq!(defaults.queue_max_len, 512);
    assert!(!defaults.retry_429);
    assert_eq!(defaults.retry_max_attempts, 2);
    assert_eq!(defaults.retry_max_total_wait, Duration::from_secs(30));
}

// ---------------------------------------------------------------------------------------------
// Providers added in issue 15 (prov-a): Gemini's key header, Codex's plan headers.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_token_in_x_goog_api_key_becomes_the_gemini_key_and_never_leaks() {
    let gemini = start_fake(ProviderId::Gemini).await;
    let h = harness(
        settings(),
        vec![("gem", upstream(ProviderId::Gemini, gemini.origin(), 0))],
    )
    .await;
    let response = h
        .client
        .get(format!("{}/gem/v1beta/models", h.base))
        .header("x-goog-api-key", TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "the fake accepts only the real key");
    assert!(json_of(response).await["models"].is_array());
    let sent = gemini.last_request_headers().unwrap();
    assert_eq!(header(&sent, "x-goog-api-key"), Some(KEY));
    assert!(
        sent.iter()
            .all(|(_, value)| !String::from_utf8_lossy(value.as_bytes()).contains(TOKEN)),
        "{sent:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codex_plan_headers_on_proxied_responses_become_windows() {
    let codex = start_fake(ProviderId::Codex).await;
    codex.set_used_percent(30.0);
    let h = harness(
        settings(),
        vec![("cdx", upstream(ProviderId::Codex, codex.origin(), 0))],
    )
    .await;
    let response = h
        .post(
            "cdx",
            "/backend-api/codex/responses",
            json!({"model": "gpt-5-codex", "input": "hi", "stream": true}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(response.headers(), "x-codex-primary-window-minutes"),
        Some("300")
    );
    response.bytes().await.unwrap();
    let windows = h.summary("cdx").windows;
    let used: Vec<_> = windows
        .iter()
        .map(|w| (w.kind.short_label(), w.used))
        .collect();
    assert_eq!(used, [("5h", Some(30.0)), ("week", Some(15.0))]);
}
