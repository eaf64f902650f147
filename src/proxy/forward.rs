//! Sending a request on to the provider: the request body streamed (or read ahead while the
//! request waits in the queue), the connect and first-byte timeouts, transport failures in
//! plain words, and the optional retry of a 429.
//!
//! Requests go out through hyper-util's pooled client, called directly with the request as it
//! is (no URL parsed again, no redirect or retry layers: about a tenth of the proxy's CPU per
//! request when it went through reqwest). Only a host the system's proxy settings send through
//! a proxy still goes through reqwest, which speaks to proxies.

use super::answers::ProxyAnswer;
use super::decode;
use super::token_tap::BoundedCopy;
use super::{Call, ProxySettings};
use crate::providers::throttle::Classification;
use axum::body::{Body, BodyDataStream, Bytes, HttpBody};
use futures_util::stream::{self, BoxStream, StreamExt, TryStreamExt};
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::proxy::matcher::Matcher;
use std::error::Error as StdError;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::Instant;

/// A transport error, boxed: hyper's, hyper-util's, or reqwest's for proxied hosts.
pub type BoxError = Box<dyn StdError + Send + Sync>;

/// Most of a request body kept in memory while the request waits in the queue: enough for
/// the prompts agents send, so the server can notice a client that gives up meanwhile.
pub const QUEUE_READ_AHEAD: usize = 4 * 1024 * 1024;
/// Largest request body buffered to be sent again when retrying a 429.
pub const RETRY_BODY_LIMIT: usize = 16 * 1024 * 1024;
/// Most of a 429's body read before deciding whether to retry.
const REFUSAL_PREFIX: usize = 64 * 1024;
/// The wait before a retry when the provider names none.
const DEFAULT_RETRY_WAIT: Duration = Duration::from_millis(500);

/// The client's request body: what has been read ahead, then the rest, still streaming.
pub struct RequestBody {
    read: Vec<Bytes>,
    size: usize,
    rest: Option<BodyDataStream>,
    /// The client sent no body at all (not even an empty chunked one).
    absent: bool,
    failed: Option<String>,
}

impl RequestBody {
    pub fn new(body: Body) -> RequestBody {
        let absent = body.size_hint().exact() == Some(0);
        RequestBody {
            read: Vec::new(),
            size: 0,
            rest: (!absent).then(|| body.into_data_stream()),
            absent,
            failed: None,
        }
    }

    /// Reads until the body is complete or `limit` bytes are held. A read error is kept and
    /// reported when the body is sent.
    pub async fn read_ahead(&mut self, limit: usize) {
        while self.size < limit
            && self.failed.is_none()
            && let Some(rest) = &mut self.rest
        {
            match rest.next().await {
                Some(Ok(chunk)) => {
                    self.size += chunk.len();
                    self.read.push(chunk);
                }
                Some(Err(error)) => self.failed = Some(error.to_string()),
                None => self.rest = None,
            }
        }
    }

    pub fn failure(&self) -> Option<&str> {
        self.failed.as_deref()
    }

    /// The whole body, when it has all been read.
    fn complete(&self) -> Option<Option<Bytes>> {
        if self.rest.is_some() || self.failed.is_some() {
            return None;
        }
        Some((!self.absent).then(|| match self.read.as_slice() {
            [one] => one.clone(),
            chunks => chunks.concat().into(),
        }))
    }

    /// For the HTTP client: what was read ahead, then the rest as it arrives.
    fn into_upstream(self) -> Option<Outbound> {
        if let Some(whole) = self.complete() {
            return whole.map(Outbound::Whole);
        }
        let read = stream::iter(self.read.into_iter().map(Ok::<_, axum::Error>));
        let rest = self.rest.map(StreamExt::boxed).unwrap_or_else(|| {
            let detail = self.failed.unwrap_or_default();
            stream::once(async move { Err(axum::Error::new(detail)) }).boxed()
        });
        Some(Outbound::Streamed(read.chain(rest).boxed()))
    }
}

/// A request body on its way out: whole (read ahead, or kept for a retry), or streamed.
enum Outbound {
    Whole(Bytes),
    Streamed(BoxStream<'static, Result<Bytes, axum::Error>>),
}

impl Outbound {
    fn direct(body: Option<Outbound>) -> Body {
        match body {
            None => Body::empty(),
            Some(Outbound::Whole(bytes)) => Body::from(bytes),
            Some(Outbound::Streamed(chunks)) => Body::from_stream(chunks),
        }
    }

    fn reqwest(body: Option<Outbound>) -> Option<reqwest::Body> {
        Some(match body? {
            Outbound::Whole(bytes) => reqwest::Body::from(bytes),
            Outbound::Streamed(chunks) => reqwest::Body::wrap_stream(chunks),
        })
    }
}

/// The connector of the direct client: TCP (or TLS over TCP), the whole connect bounded by
/// the connect timeout as reqwest bounds it.
type Connector = Timed<hyper_rustls::HttpsConnector<HttpConnector>>;
type Direct = hyper_util::client::legacy::Client<Connector, Body>;

/// A connector whose connections must be made (TCP, and TLS) within `timeout`.
#[derive(Clone)]
pub struct Timed<C> {
    inner: C,
    timeout: Duration,
}

/// The connect timeout ran out.
#[derive(Debug)]
struct ConnectTimedOut;

impl std::fmt::Display for ConnectTimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("operation timed out")
    }
}

impl StdError for ConnectTimedOut {}

impl<C> tower_service::Service<Uri> for Timed<C>
where
    C: tower_service::Service<Uri> + Send,
    C::Future: Send + 'static,
    C::Error: Into<BoxError>,
{
    type Response = C::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<C::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connecting = self.inner.call(uri);
        let timeout = self.timeout;
        Box::pin(async move {
            match tokio::time::timeout(timeout, connecting).await {
                Ok(connected) => connected.map_err(Into::into),
                Err(_) => Err(Box::new(ConnectTimedOut) as BoxError),
            }
        })
    }
}

/// TLS as reqwest (with its `rustls` feature) sets it up: rustls on aws-lc-rs (or a provider
/// the process installed), TLS 1.2 and 1.3, the platform's certificate verifier, SNI, and h2 or
/// HTTP/1.1 by ALPN.
fn tls_config() -> rustls::ClientConfig {
    let provider = rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
    let verifier = rustls_platform_verifier::Verifier::new(provider.clone())
        .expect("the platform's certificate verifier starts");
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("the TLS provider supports TLS 1.2 and 1.3")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth()
}

/// The direct client, for loopback hosts (tests, the demo), which no proxy may capture, and
/// for real hosts the system's proxy settings do not send through a proxy; and reqwest for
/// those they do. None follows redirects, adds or removes compression, or sets a User-Agent:
/// the client's own passes through. `accept: */*` is added when the client sent no Accept (as
/// reqwest always did).
#[derive(Clone)]
pub struct Clients {
    /// One per lane; off the lanes, the first.
    direct: Arc<[Direct]>,
    proxied: reqwest::Client,
    /// The system's proxy settings, as reqwest reads them.
    proxies: Arc<Matcher>,
}

/// Which client sends a request.
enum Via<'a> {
    Direct(&'a Direct),
    Proxy(&'a reqwest::Client),
}

impl Clients {
    pub fn new(connect_timeout: Duration, pool_idle_timeout: Duration) -> Clients {
        // As reqwest's defaults: no Nagle delay, TCP keep-alive probes after 15 s idle.
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_keepalive(Some(Duration::from_secs(15)));
        http.set_keepalive_interval(Some(Duration::from_secs(15)));
        http.set_keepalive_retries(Some(3));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls_config())
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        let connector = Timed {
            inner: https,
            timeout: connect_timeout,
        };
        // A pool per lane: a provider connection is polled by the lane that opened it, so the
        // lane that uses it must be the same one (see `lanes`).
        let direct = (0..crate::lanes::count())
            .map(|_| {
                hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                    .timer(hyper_util::rt::TokioTimer::new())
                    .pool_timer(hyper_util::rt::TokioTimer::new())
                    .pool_idle_timeout(pool_idle_timeout)
                    .build(connector.clone())
            })
            .collect();
        let proxied = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .pool_idle_timeout(pool_idle_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("the HTTP client builds");
        Clients {
            direct,
            proxied,
            proxies: Arc::new(Matcher::from_system()),
        }
    }

    fn for_uri(&self, uri: &Uri) -> Via<'_> {
        let loopback = uri.host().is_some_and(is_loopback);
        if !loopback && self.proxies.intercept(uri).is_some() {
            Via::Proxy(&self.proxied)
        } else {
            let lane = crate::lanes::current().unwrap_or(0);
            Via::Direct(&self.direct[lane % self.direct.len()])
        }
    }
}

/// The upstream's answer, its body not yet read (or, after a retry decision, its start read
/// and put back in front).
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: BoxStream<'static, Result<Bytes, BoxError>>,
    /// The first byte of the body must come by then.
    pub first_byte_deadline: Instant,
}

/// Sends requests on: the HTTP clients, and the timeouts and retry policy they go with.
pub struct Forwarder {
    clients: Clients,
    connect_timeout: Duration,
    pool_idle_timeout: Duration,
    first_byte_timeout: Duration,
    idle_timeout: Duration,
    /// Retrying a 429; `None` when off.
    retry: Option<RetryPolicy>,
}

#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub max_total_wait: Duration,
}

/// The retries of one request so far.
#[derive(Clone, Copy, Debug)]
pub struct SoFar {
    pub retries: u32,
    pub waited: Duration,
}

/// A request as it goes to the provider: the local token already swapped for the key.
pub struct Outgoing {
    pub method: Method,
    /// An absolute `http` or `https` URI (see [`upstream_uri`]).
    pub uri: Uri,
    pub headers: HeaderMap,
    pub body: RequestBody,
}

impl Forwarder {
    pub fn new(settings: &ProxySettings) -> Forwarder {
        let clients = Clients::new(settings.connect_timeout, settings.pool_idle_timeout);
        Forwarder::with_clients(settings, clients)
    }

    fn with_clients(settings: &ProxySettings, clients: Clients) -> Forwarder {
        Forwarder {
            clients,
            connect_timeout: settings.connect_timeout,
            pool_idle_timeout: settings.pool_idle_timeout,
            first_byte_timeout: settings.first_byte_timeout,
            idle_timeout: settings.idle_timeout,
            retry: settings.retry_429.then_some(RetryPolicy {
                max_attempts: settings.retry_max_attempts,
                max_total_wait: settings.retry_max_total_wait,
            }),
        }
    }

    /// A forwarder for new settings that keeps this one's connection pool when the clients'
    /// own settings (the connect and pool timeouts) are unchanged.
    pub fn reconfigured(&self, settings: &ProxySettings) -> Forwarder {
        let same_clients = (settings.connect_timeout, settings.pool_idle_timeout)
            == (self.connect_timeout, self.pool_idle_timeout);
        if same_clients {
            Forwarder::with_clients(settings, self.clients.clone())
        } else {
            Forwarder::new(settings)
        }
    }

    /// Sends `outgoing` and returns the provider's answer as soon as its head is in, or why
    /// none came. With the retry on, a 429 the provider says is worth retrying is sent again
    /// (and recorded as a refusal) before the client sees it.
    pub async fn send(&self, call: &Call, outgoing: Outgoing) -> Result<Answer, ProxyAnswer> {
        let Outgoing {
            method,
            uri,
            mut headers,
            mut body,
        } = outgoing;
        // A retry needs the body again: buffer it (bounded), only in this mode.
        let replay = match self.retry {
            Some(_) => {
                body.read_ahead(RETRY_BODY_LIMIT).await;
                body.complete()
            }
            None => None,
        };
        let mut body = Some(body);
        let started = Instant::now();
        let mut retries = 0;
        loop {
            let request_body = match &replay {
                Some(whole) => whole.clone().map(Outbound::Whole),
                None => body.take().and_then(RequestBody::into_upstream),
            };
            // Only a retry sends the headers again.
            let request_headers = match replay {
                Some(_) => headers.clone(),
                None => std::mem::take(&mut headers),
            };
            let request = Request {
                method: method.clone(),
                uri: uri.clone(),
                headers: request_headers,
                body: request_body,
            };
            let answer = self.attempt(request).await?;
            call.record_windows(&answer.headers);
            let status = answer.status;
            let (Some(policy), Some(_)) = (self.retry, &replay) else {
                return Ok(answer);
            };
            if status != StatusCode::TOO_MANY_REQUESTS || retries >= policy.max_attempts {
                return Ok(answer);
            }
            let (answer, prefix) = read_prefix(answer, self.idle_timeout).await;
            let classification = call.classify(status.as_u16(), &answer.headers, &prefix);
            let so_far = SoFar {
                retries,
                waited: started.elapsed(),
            };
            match policy.wait(&classification, &answer.headers, so_far) {
                Some(wait) => {
                    call.record_refusal(status.as_u16(), &classification);
                    tokio::time::sleep(wait).await;
                    retries += 1;
                }
                None => return Ok(answer),
            }
        }
    }

    /// One attempt: the request sent, and the head of the answer back within the first-byte
    /// timeout.
    async fn attempt(&self, request: Request) -> Result<Answer, ProxyAnswer> {
        let first_byte_deadline = Instant::now() + self.first_byte_timeout;
        let Request {
            method,
            uri,
            mut headers,
            body,
        } = request;
        let (head, body) = match self.clients.for_uri(&uri) {
            Via::Direct(client) => {
                if !headers.contains_key(header::ACCEPT) {
                    headers.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
                }
                let mut request = http::Request::new(Outbound::direct(body));
                *request.method_mut() = method;
                *request.uri_mut() = uri.clone();
                *request.headers_mut() = headers;
                let sent = client.request(request);
                self.head_within(first_byte_deadline, &uri, sent, |error| Failure {
                    connect: error.is_connect(),
                    timeout: error.is_connect() && timed_out_in(error),
                    builder: false,
                })
                .await?
            }
            Via::Proxy(client) => {
                let Ok(url) = reqwest::Url::parse(&uri.to_string()) else {
                    return Err(ProxyAnswer::BadUrl);
                };
                let mut request = reqwest::Request::new(method, url);
                *request.headers_mut() = headers;
                *request.body_mut() = Outbound::reqwest(body);
                let sent = async { client.execute(request).await.map(http::Response::from) };
                self.head_within(first_byte_deadline, &uri, sent, |error| Failure {
                    connect: error.is_connect(),
                    timeout: error.is_timeout(),
                    builder: error.is_builder(),
                })
                .await?
            }
        };
        Ok(Answer {
            status: head.status,
            headers: head.headers,
            body,
            first_byte_deadline,
        })
    }

    /// The head of the answer `sent` brings, by `deadline`, and its body as a stream; a
    /// transport error in plain words (`failure` says what kind of error it is).
    async fn head_within<B, E>(
        &self,
        deadline: Instant,
        uri: &Uri,
        sent: impl Future<Output = Result<http::Response<B>, E>>,
        failure: impl FnOnce(&E) -> Failure,
    ) -> Result<
        (
            http::response::Parts,
            BoxStream<'static, Result<Bytes, BoxError>>,
        ),
        ProxyAnswer,
    >
    where
        B: HttpBody<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
        E: StdError + 'static,
    {
        let response = tokio::time::timeout_at(deadline, sent)
            .await
            .map_err(|_| ProxyAnswer::FirstByteTimeout {
                host: host_of(uri),
                after: self.first_byte_timeout,
            })?
            .map_err(|error| {
                describe(&host_of(uri), &error, failure(&error), self.connect_timeout)
            })?;
        let (head, body) = response.into_parts();
        let body = http_body_util::BodyDataStream::new(body)
            .map_err(Into::into)
            .boxed();
        Ok((head, body))
    }
}

/// Whether a URI's host is this machine (`localhost`, `127.x`, `[::1]`).
fn is_loopback(host: &str) -> bool {
    let ip = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || ip
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// One attempt's request.
struct Request {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Option<Outbound>,
}

/// What kind of transport failure an error is.
#[derive(Clone, Copy)]
struct Failure {
    /// Opening the connection failed.
    connect: bool,
    /// ... because it took longer than the connect timeout.
    timeout: bool,
    /// The request could not be built (a URL the client refuses).
    builder: bool,
}

/// Whether the connect timeout ran out somewhere in `error`'s causes.
fn timed_out_in(error: &(dyn StdError + 'static)) -> bool {
    let mut source: Option<&(dyn StdError + 'static)> = Some(error);
    while let Some(cause) = source {
        if cause.is::<ConnectTimedOut>()
            || cause
                .downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::TimedOut)
        {
            return true;
        }
        source = cause.source();
    }
    false
}

/// Reads the start of a refusal's body to classify it, and puts it back in front of the rest.
async fn read_prefix(answer: Answer, idle: Duration) -> (Answer, Vec<u8>) {
    let Answer {
        status,
        headers,
        mut body,
        first_byte_deadline,
    } = answer;
    let mut copy = BoundedCopy::new(REFUSAL_PREFIX);
    let mut read = Vec::new();
    let mut ended = false;
    while !copy.overflowed() {
        match tokio::time::timeout(idle, body.next()).await {
            Ok(Some(Ok(chunk))) => {
                copy.feed(&chunk);
                read.push(Ok(chunk));
            }
            Ok(Some(Err(error))) => {
                read.push(Err(error));
                ended = true;
                break;
            }
            Ok(None) => {
                ended = true;
                break;
            }
            // Slow to send its error: stop reading here and let the relay wait for the rest.
            Err(_) => break,
        }
    }
    let rest = if ended { stream::empty().boxed() } else { body };
    let answer = Answer {
        status,
        headers,
        body: stream::iter(read).chain(rest).boxed(),
        first_byte_deadline,
    };
    // The classifier reads words: a compressed refusal is decoded for it (bounded).
    let prefix = decode::decoded(&answer.headers, copy.bytes(), REFUSAL_PREFIX);
    (answer, prefix)
}

impl RetryPolicy {
    /// How long to wait before retrying a 429, or `None` to give up: the provider says
    /// retrying will not help (a quota used up) or `x-should-retry: false`, the attempts are
    /// used, or the wait it asks for (Retry-After, or a wait named in its message) does not fit
    /// in what is left of the total budget. Without a stated wait, 0.5 s doubling.
    pub fn wait(
        &self,
        classification: &Classification,
        headers: &HeaderMap,
        so_far: SoFar,
    ) -> Option<Duration> {
        let should_retry = headers
            .get("x-should-retry")
            .and_then(|v| v.to_str().ok())
            .map(str::trim);
        if so_far.retries >= self.max_attempts
            || !classification.retryable
            || should_retry == Some("false")
        {
            return None;
        }
        let wait = classification
            .retry_after
            .unwrap_or_else(|| DEFAULT_RETRY_WAIT * 2u32.saturating_pow(so_far.retries));
        (so_far.waited + wait <= self.max_total_wait).then_some(wait)
    }
}

/// `host[:port]` of a URI, for messages.
pub fn host_of(uri: &Uri) -> String {
    match (uri.host(), uri.port_u16()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_owned(),
        _ => "the upstream".to_owned(),
    }
}

/// A transport error in words: the deepest cause, never the URL (its query may be private).
fn describe(
    host: &str,
    error: &(dyn StdError + 'static),
    failed: Failure,
    connect_timeout: Duration,
) -> ProxyAnswer {
    if failed.connect && failed.timeout {
        return ProxyAnswer::ConnectTimeout {
            host: host.to_owned(),
            after: connect_timeout,
        };
    }
    if failed.builder {
        return ProxyAnswer::BadUrl;
    }
    if client_body_failed(error) {
        return ProxyAnswer::RequestBody {
            detail: deepest_cause(error, failed.connect),
        };
    }
    ProxyAnswer::Unreachable {
        host: host.to_owned(),
        cause: deepest_cause(error, failed.connect),
    }
}

/// Whether the error came from reading the client's body rather than from the network.
fn client_body_failed(error: &(dyn StdError + 'static)) -> bool {
    let mut source = error.source();
    while let Some(cause) = source {
        if cause.is::<axum::Error>() {
            return true;
        }
        source = cause.source();
    }
    false
}

/// The innermost cause of a transport error (`Connection refused (os error 111)`); `connect`:
/// it happened while connecting (said when no cause has words).
pub fn deepest_cause(error: &(dyn StdError + 'static), connect: bool) -> String {
    // reqwest's own error only wraps its cause; hyper's and hyper-util's have words of their
    // own ("connection closed before message completed").
    let mut source = match error.is::<reqwest::Error>() {
        true => error.source(),
        false => Some(error),
    };
    let mut detail = String::new();
    while let Some(cause) = source {
        detail = cause.to_string();
        source = cause.source();
    }
    if detail.is_empty() {
        detail = if connect {
            "the connection failed".into()
        } else {
            "the connection broke".into()
        };
    }
    detail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_are_told_apart_from_real_ones() {
        for host in ["localhost", "LocalHost", "127.0.0.1", "127.8.9.10", "[::1]"] {
            assert!(is_loopback(host), "{host}");
        }
        for host in [
            "api.openai.com",
            "localhost.example",
            "10.0.0.1",
            "[2001:db8::1]",
            "",
        ] {
            assert!(!is_loopback(host), "{host}");
        }
    }
    use crate::providers::throttle::Cause;

    const POLICY: RetryPolicy = RetryPolicy {
        max_attempts: 2,
        max_total_wait: Duration::from_secs(30),
    };

    fn refusal(cause: Cause, retry_after: Option<u64>) -> Classification {
        Classification::new(cause, "x").with_retry_after(retry_after.map(Duration::from_secs))
    }

    #[test]
    fn retries_honour_retry_after_the_budget_and_the_cause() {
        let none = HeaderMap::new();
        let wait = |c: &Classification, retries, waited| {
            let waited = Duration::from_secs(waited);
            POLICY.wait(c, &none, SoFar { retries, waited })
        };
        let concurrency = refusal(Cause::Concurrency, Some(2));
        assert_eq!(wait(&concurrency, 0, 0), Some(Duration::from_secs(2)));
        assert_eq!(wait(&concurrency, 1, 27), Some(Duration::from_secs(2)));
        assert_eq!(wait(&concurrency, 1, 29), None, "over the total budget");
        assert_eq!(wait(&concurrency, 2, 0), None, "attempts used up");
        assert_eq!(wait(&refusal(Cause::Rpm, Some(31)), 0, 0), None);
        assert_eq!(wait(&refusal(Cause::QuotaExhausted, Some(1)), 0, 0), None);
        let unstated = refusal(Cause::Concurrency, None);
        assert_eq!(wait(&unstated, 0, 0), Some(Duration::from_millis(500)));
        assert_eq!(wait(&unstated, 1, 0), Some(Duration::from_secs(1)));

        let mut no = HeaderMap::new();
        no.insert("x-should-retry", "false".parse().unwrap());
        let first = SoFar {
            retries: 0,
            waited: Duration::ZERO,
        };
        assert_eq!(POLICY.wait(&concurrency, &no, first), None);
    }

    #[tokio::test]
    async fn a_body_read_ahead_is_sent_whole_or_streamed_on() {
        let empty = RequestBody::new(Body::empty());
        assert_eq!(empty.complete(), Some(None));
        assert!(empty.into_upstream().is_none());

        let mut small = RequestBody::new(Body::from("hello"));
        small.read_ahead(RETRY_BODY_LIMIT).await;
        assert_eq!(small.complete(), Some(Some(Bytes::from("hello"))));

        let chunks = ["ab", "cd", "ef"].map(|c| Ok::<_, std::io::Error>(Bytes::from(c)));
        let mut streamed = RequestBody::new(Body::from_stream(stream::iter(chunks)));
        streamed.read_ahead(3).await;
        assert_eq!(streamed.size, 4, "stops at the first chunk past the limit");
        assert_eq!(streamed.complete(), None);
        let sent = Outbound::direct(streamed.into_upstream());
        let bytes = http_body_util::BodyExt::collect(sent)
            .await
            .unwrap()
            .to_bytes();
        assert_eq!(bytes, "abcdef");
    }
}
