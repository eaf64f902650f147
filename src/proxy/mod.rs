//! The local pass-through proxy: tools send `/<account-id>/<provider path>` to Redline with
//! Redline's local token, and Redline forwards the request to the account's provider with the
//! real key, relaying the answer as it streams. On the way it sees what nothing else can:
//! requests in flight, refusals and their causes, tokens used, which tool sent what. With a
//! concurrency cap set, requests beyond it wait in Redline's queue instead of being refused by
//! the provider (the seed story: Kimi Code's 30 requests in flight, answered with 429 "We're
//! receiving too many requests at the moment" while the quota was fine).
//!
//! A request goes through four steps, [`Proxy::handle`]'s: prepare (the route and the
//! credential), admit (the queue under the cap), forward, relay. Any step may stop it with a
//! [`ProxyAnswer`], Redline's own answer.
//!
//! One module per concern: `headers` (what crosses, the token swap), `queue` (the cap),
//! `forward` (sending on, timeouts, retry), `relay` (streaming the answer back while
//! observing it), `token_tap` (tokens and the end of a stream from SSE and JSON), `decode`
//! (undoing a compressed answer for counting), `inband` (refusals inside a 2xx), `traffic`
//! (live figures per account), `answers` (what Redline says itself).
//!
//! Everything is recorded through [`Traffic`]: the wait in the queue, `begin_at` once a request
//! leaves it (its latency counting from its arrival), the first byte, the end with status and
//! tokens, refusals with their cause, rate-limit headers.

mod answers;
mod decode;
mod forward;
mod headers;
mod inband;
#[cfg(test)]
mod props;
mod queue;
mod relay;
mod series;
mod token_tap;
pub mod traffic;

pub use answers::{ProxyAnswer, X_REDLINE, error as redline_error};
pub use decode::{Coding, DECODED_BUDGET};
pub use forward::{QUEUE_READ_AHEAD, RETRY_BODY_LIMIT};
pub use token_tap::{MAX_FRAME, MAX_JSON_COPY};

use crate::keys::account_id::AccountId;
use crate::keys::credentials::Credentials;
use crate::keys::secret::Secret;
use crate::keys::secret::redact_keys;
use crate::keys::vault::VaultError;
use crate::poll::fetch::HostMap;
use crate::providers::throttle::{Cause, Classification};
use crate::providers::{ProviderId, provider};
use crate::proxy::traffic::{RequestGuard, Traffic};
use crate::shared::{Lease, NoLease, SharedLimits};
use crate::status::health::ThrottleEvent;
use crate::tools::request_tool::{self, Peer};
use answers::{ErrorStyle, QueueRefusal};
use axum::extract::{ConnectInfo, Request};
use axum::response::Response;
use forward::{Answer, Forwarder, Outgoing, RequestBody};
use headers::Credential;
use http::{HeaderMap, Method, header};
use queue::{Bounds, Queues, Slot};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

/// What the proxy needs to know about one account. Kept up to date by the daemon.
#[derive(Clone)]
pub struct Upstream {
    pub provider: ProviderId,
    /// `scheme://host[:port]`, no path: forwarding goes to origin + the client's path.
    pub origin: String,
    /// The real key; `None` when it is not in the keyring.
    pub secret: Option<Secret>,
    /// Requests in flight allowed at once; beyond it they queue. 0 = no cap.
    pub concurrency_cap: u64,
}

/// The origin of `base_url` (an account's `--base-url`), else of the provider's default API
/// base: `https://api.kimi.com` for Kimi Code.
pub fn upstream_origin(provider_id: ProviderId, base_url: Option<&str>) -> String {
    let origin_of = |text: &str| {
        let url = url::Url::parse(text).ok()?;
        let origin = url.origin();
        origin.is_tuple().then(|| origin.ascii_serialization())
    };
    base_url
        .and_then(origin_of)
        .or_else(|| origin_of(provider(provider_id).regions()[0].api_base))
        .expect("every provider's default API base is a valid URL")
}

/// Splits `/kimi-main/coding/v1/chat/completions?x=1` into the account id and the upstream
/// path with its query (`/coding/v1/chat/completions?x=1`), as `Proxy::handle` takes them.
/// The path is kept as sent (still percent-encoded).
pub fn split_account(path_and_query: &str) -> Option<(&str, String)> {
    let rest = path_and_query.strip_prefix('/')?;
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (account, tail) = rest.split_at(end);
    if account.is_empty() {
        return None;
    }
    let upstream = match tail.strip_prefix('?') {
        Some(query) => format!("/?{query}"),
        None if tail.is_empty() => "/".to_owned(),
        None => tail.to_owned(),
    };
    Some((account, upstream))
}

#[derive(Clone, Debug, PartialEq)]
pub struct ProxySettings {
    /// Giving up on opening a connection to the provider.
    pub connect_timeout: Duration,
    /// Giving up when no byte of the answer has come since the request was sent; long,
    /// because an LLM may think for minutes before its first token.
    pub first_byte_timeout: Duration,
    /// Cutting an answer off when nothing came for this long; a stream is never cut while
    /// bytes flow, however long it lasts.
    pub idle_timeout: Duration,
    /// Closing pooled idle connections; shorter than common upstream keep-alives (60 s and
    /// more), so Redline never reuses a connection the provider is about to close.
    pub pool_idle_timeout: Duration,
    /// Longest a request waits in the queue under the concurrency cap before Redline answers
    /// 429 itself.
    pub queue_max_wait: Duration,
    /// Most requests waiting per account; more are answered 429 at once.
    pub queue_max_len: usize,
    /// Retry an upstream 429 inside Redline before the client sees it. Off by default because
    /// the clients retry too: the OpenAI SDKs retry 429 twice, Claude Code up to ten times,
    /// so retries here multiply theirs (3 × 3 attempts for every request) and pile more load
    /// on a provider that is already refusing. Only worth it for clients that do not retry.
    /// It also means buffering each request body (up to [`RETRY_BODY_LIMIT`]; larger bodies
    /// are streamed and not retried).
    pub retry_429: bool,
    /// Retries after the first attempt.
    pub retry_max_attempts: u32,
    /// Most time spent waiting between retries, per request; a Retry-After that does not fit
    /// in what is left ends the retries.
    pub retry_max_total_wait: Duration,
}

impl Default for ProxySettings {
    fn default() -> Self {
        ProxySettings {
            connect_timeout: Duration::from_secs(10),
            first_byte_timeout: Duration::from_secs(300),
            idle_timeout: Duration::from_secs(120),
            pool_idle_timeout: Duration::from_secs(20),
            queue_max_wait: Duration::from_secs(60),
            queue_max_len: 512,
            retry_429: false,
            retry_max_attempts: 2,
            retry_max_total_wait: Duration::from_secs(30),
        }
    }
}

impl ProxySettings {
    /// The settings `[proxy]` in the config file sets; the rest keep their defaults.
    pub fn from_config(config: &crate::config::Proxy) -> ProxySettings {
        ProxySettings {
            connect_timeout: Duration::from_secs(config.connect_timeout_s),
            first_byte_timeout: Duration::from_secs(config.first_byte_timeout_s),
            idle_timeout: Duration::from_secs(config.idle_timeout_s),
            queue_max_wait: Duration::from_secs(config.queue_max_wait_s),
            queue_max_len: usize::try_from(config.queue_max_len).unwrap_or(usize::MAX),
            retry_429: config.retry_429,
            ..ProxySettings::default()
        }
    }
}

/// The queue's bounds in `settings`.
fn bounds(settings: &ProxySettings) -> Bounds {
    Bounds {
        max_len: settings.queue_max_len,
        max_wait: settings.queue_max_wait,
    }
}

/// The proxy. Cheap to clone: clones share everything.
#[derive(Clone)]
pub struct Proxy {
    inner: Arc<Inner>,
}

struct Inner {
    /// The settings in force, swapped whole when they change; each request reads them once.
    live: RwLock<Arc<Live>>,
    hosts: HostMap,
    /// Redline's credentials: a tool token opens the proxy, the others never leave.
    credentials: Arc<Credentials>,
    traffic: Arc<Traffic>,
    /// The tool names recorded so far, bounded: a name is a row and a metric label for good.
    tool_names: request_tool::ToolNames,
    upstreams: RwLock<Arc<HashMap<AccountId, Arc<Upstream>>>>,
    queues: Queues,
    /// Switched off from the desktop app's menu: requests are refused, nothing is forwarded.
    enabled: AtomicBool,
    /// Why the accounts' keys could not be read from the keyring, while the engine waits for
    /// it: a tool's request is answered 503 with what to do, never forwarded without its key.
    keyring_down: RwLock<Option<VaultError>>,
    /// The limits shared with other machines (`shared.redis_url`), when set.
    shared: RwLock<Option<SharedLimits>>,
}

/// The proxy's settings and the sender built from them.
struct Live {
    settings: ProxySettings,
    forwarder: Forwarder,
}

/// A request that may go: for whom, to where, with which credential, under which cap.
struct Prepared {
    call: Call,
    outgoing: Outgoing,
    /// The account's concurrency cap; 0 = none.
    cap: u64,
    /// How this client expects errors, for a queue refusal.
    style: ErrorStyle,
}

/// A request's place under the cap: its slot here and, with shared limits, its lease in the
/// group. Dropped when the answer has been relayed.
pub(crate) struct Held {
    // Fields drop in order: the group's lease goes back before this machine's slot frees, so
    // the next in line here finds it free.
    _lease: Option<Lease>,
    _slot: Slot,
}

/// A request let through the queue, holding its place under the cap (if any).
struct Admitted {
    call: Call,
    outgoing: Outgoing,
    slot: Option<Held>,
}

/// A request under way, for the books: who it is for, its traffic record, its place under the
/// cap. Kept until its answer has been relayed.
pub(crate) struct InFlight {
    call: Call,
    guard: RequestGuard,
    slot: Option<Held>,
}

/// A request the provider has answered; the answer's body is still to come.
pub(crate) struct Forwarded {
    in_flight: InFlight,
    answer: Answer,
    /// A HEAD request, whose answer has no body.
    head_only: bool,
}

impl Proxy {
    /// A proxy opened by one tool token, `local_token` (named `default`); its admin
    /// credential is a random one nobody holds.
    pub fn new(
        settings: ProxySettings,
        hosts: HostMap,
        local_token: Secret,
        traffic: Arc<Traffic>,
    ) -> Proxy {
        let credentials = Credentials::in_memory(
            &[(crate::keys::token::DEFAULT_TOOL, local_token)],
            crate::keys::token::generate_admin(),
        );
        Proxy::with_credentials(settings, hosts, credentials, traffic)
    }

    /// A proxy opened by the tool tokens in `credentials`, which the engine keeps up to date.
    pub fn with_credentials(
        settings: ProxySettings,
        hosts: HostMap,
        credentials: Arc<Credentials>,
        traffic: Arc<Traffic>,
    ) -> Proxy {
        Proxy {
            inner: Arc::new(Inner {
                queues: Queues::new(bounds(&settings), traffic.clone()),
                live: RwLock::new(Arc::new(Live {
                    forwarder: Forwarder::new(&settings),
                    settings,
                })),
                hosts,
                credentials,
                traffic,
                tool_names: request_tool::ToolNames::default(),
                upstreams: RwLock::new(Arc::new(HashMap::new())),
                enabled: AtomicBool::new(true),
                keyring_down: RwLock::new(None),
                shared: RwLock::new(None),
            }),
        }
    }

    /// Shares the accounts' caps with other machines through `shared` (`None`: this machine's
    /// caps alone, as without `shared.redis_url`).
    pub fn set_shared(&self, shared: Option<SharedLimits>) {
        *self
            .inner
            .shared
            .write()
            .unwrap_or_else(PoisonError::into_inner) = shared;
    }

    /// The shared limits in force, if any.
    pub fn shared(&self) -> Option<SharedLimits> {
        self.inner
            .shared
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The name of `account`'s semaphore in the shared limits, when they apply to it: shared
    /// limits set, a cap, and the account's key in the keyring.
    pub fn shared_namespace(&self, account: &AccountId) -> Option<(SharedLimits, String)> {
        let shared = self.shared()?;
        let (_, upstream) = self.upstream(account.as_str())?;
        shared_for(Some(shared), account, &upstream)
    }

    /// Publishes each account's shared-limit figures to the traffic (and so the status).
    pub fn publish_shared(&self) {
        let shared = self.shared();
        let upstreams = self
            .inner
            .upstreams
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        for (id, upstream) in upstreams.iter() {
            let figures = shared_for(shared.clone(), id, upstream).map(|(shared, ns)| {
                let (here_in_flight, here_queued) = shared.here(&ns);
                let problem = match &*shared.link().borrow() {
                    crate::shared::Link::Up => None,
                    crate::shared::Link::Down { reason } => Some(reason.clone()),
                };
                let up = problem.is_none();
                let view = shared.view(&ns).filter(|_| up);
                crate::status::model::SharedStatus {
                    machine: shared.machine().to_owned(),
                    state: if up { "shared" } else { "unavailable" }.to_owned(),
                    here_in_flight,
                    here_queued,
                    group_in_flight: view.map(|v| v.in_flight),
                    group_queued: view.map(|v| v.queued),
                    machines: view.map(|v| v.machines),
                    problem,
                }
            });
            self.inner.traffic.set_shared(id, figures);
        }
    }

    /// Switches forwarding on or off; requests already under way finish.
    pub fn set_enabled(&self, on: bool) {
        self.inner.enabled.store(on, Ordering::Relaxed);
    }

    pub fn is_enabled(&self) -> bool {
        self.inner.enabled.load(Ordering::Relaxed)
    }

    /// The settings in force.
    pub fn settings(&self) -> ProxySettings {
        self.live().settings.clone()
    }

    /// Puts new settings in force at once (`proxy.*` changed in the config). A request reads
    /// them once, when it arrives: requests under way finish with the timeouts they started
    /// with; those waiting in the queue follow the new wait (see `queue`). The connection
    /// pool is kept unless the connect or pool timeouts changed.
    pub fn set_settings(&self, settings: ProxySettings) {
        let mut live = self
            .inner
            .live
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if live.settings == settings {
            return;
        }
        self.inner.queues.set_bounds(bounds(&settings));
        *live = Arc::new(Live {
            forwarder: live.forwarder.reconfigured(&settings),
            settings,
        });
    }

    fn live(&self) -> Arc<Live> {
        self.inner
            .live
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many requests wait in the queue for `account`, per tool.
    pub fn queued_by_tool(&self, account: &AccountId) -> std::collections::BTreeMap<String, u64> {
        self.inner.queues.queued_by_tool(account)
    }

    /// The tool whose token a request presents (`Authorization` or `x-api-key`), by the name
    /// it was made with (`redline token --tool NAME`); `None` for any other credential.
    pub fn token_tool(&self, headers: &HeaderMap) -> Option<Arc<str>> {
        match headers::credential(headers, &self.inner.credentials) {
            Credential::Tool(name) => Some(name),
            _ => None,
        }
    }

    /// Replaces every account's upstream (when the config or the keys change). Requests
    /// already under way finish with what they started with.
    pub fn set_upstreams(&self, upstreams: HashMap<AccountId, Upstream>) {
        let caps = upstreams
            .iter()
            .map(|(id, upstream)| (id.clone(), upstream.concurrency_cap))
            .collect();
        self.inner.queues.retain(&caps);
        // Shared, so a request takes a reference instead of copying the key and origin.
        let upstreams = upstreams
            .into_iter()
            .map(|(id, upstream)| (id, Arc::new(upstream)))
            .collect();
        *self
            .inner
            .upstreams
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(upstreams);
    }

    /// Says why the accounts' keys are missing while the engine waits for the keyring (`None`
    /// once it has read them), so that a tool hears that rather than "key not stored".
    pub fn set_keyring_problem(&self, down: Option<VaultError>) {
        *self
            .inner
            .keyring_down
            .write()
            .unwrap_or_else(PoisonError::into_inner) = down;
    }

    /// Why the keyring cannot be read now, for the accounts' keys or the tool tokens.
    fn keyring_waiting(&self) -> Option<String> {
        let accounts = self
            .inner
            .keyring_down
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let down = accounts.or_else(|| self.inner.credentials.keyring_problem())?;
        Some(down.waiting_message().unwrap_or_else(|| down.to_string()))
    }

    fn upstream(&self, account: &str) -> Option<(AccountId, Arc<Upstream>)> {
        let id: AccountId = account.parse().ok()?;
        let upstreams = self
            .inner
            .upstreams
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let upstream = upstreams.get(&id)?.clone();
        Some((id, upstream))
    }

    /// Handles `/<account-id>/<rest>`: `account` and `path_and_query`
    /// (`/coding/v1/chat/completions?x=1`) are already split off by the router. Each step
    /// hands the request on to the next, or stops it with Redline's own answer.
    ///
    /// Dropping the returned future (the client hung up) at any point, in the queue, before
    /// the first byte or mid-stream, cancels the upstream request and takes it out of flight.
    pub async fn handle(&self, account: &str, path_and_query: &str, request: Request) -> Response {
        let steps = async {
            let live = self.live();
            let prepared = self.prepare(account, path_and_query, request).await?;
            let admitted = self.admit(prepared).await?;
            let forwarded = self.forward(&live, admitted).await?;
            Ok(relay::respond(forwarded, live.settings.idle_timeout))
        };
        steps
            .await
            .unwrap_or_else(|own: ProxyAnswer| own.response())
    }

    /// Decides whether the request may go and where: the proxy on, not from a web page, a
    /// credential presented, a known account, its key in place of the local token, a valid
    /// upstream URL; and names the tool that sent it.
    async fn prepare(
        &self,
        account: &str,
        path_and_query: &str,
        request: Request,
    ) -> Result<Prepared, ProxyAnswer> {
        let arrived = tokio::time::Instant::now();
        let inner = &*self.inner;
        if !self.is_enabled() {
            return Err(ProxyAnswer::ProxyOff);
        }
        let (parts, body) = request.into_parts();
        if parts.headers.contains_key(header::ORIGIN) {
            return Err(ProxyAnswer::BrowserRefused);
        }
        let mut credential = headers::credential(&parts.headers, &inner.credentials);
        // A token `redline token` made a moment ago is known after one look at its stamp.
        // Looked up again whatever the reload says: `Ok(false)` also comes when this request
        // waited for a reload already under way (the periodic follow), which took the token.
        if credential == Credential::Unknown {
            if let Err(err) = inner.credentials.reload_if_changed().await {
                eprintln!("redline: cannot re-read the tokens: {err}");
            }
            credential = headers::credential(&parts.headers, &inner.credentials);
        }
        match credential {
            Credential::Missing => return Err(ProxyAnswer::NoCredential),
            Credential::Admin => return Err(ProxyAnswer::AdminCredential),
            // While the keyring cannot be read the tool tokens are not known yet.
            Credential::Unknown => {
                return Err(match self.keyring_waiting() {
                    Some(waiting) => ProxyAnswer::KeyringUnavailable {
                        account: None,
                        waiting,
                    },
                    None => ProxyAnswer::UnknownToken,
                });
            }
            Credential::Tool(_) | Credential::Other => {}
        }
        let Some((account, upstream)) = self.upstream(account) else {
            let account = account.to_owned();
            return Err(ProxyAnswer::UnknownAccount { account });
        };
        let mut outgoing = headers::end_to_end(&parts.headers);
        // In observe-only mode (another credential) the client's key goes through as it is.
        if let Credential::Tool(_) = credential {
            let Some(key) = &upstream.secret else {
                let provider = upstream.provider;
                return Err(match self.keyring_waiting() {
                    Some(waiting) => ProxyAnswer::KeyringUnavailable {
                        account: Some(account),
                        waiting,
                    },
                    None => ProxyAnswer::KeyNotStored { account, provider },
                });
            };
            if headers::swap_token(&mut outgoing, &inner.credentials, key).is_err() {
                return Err(ProxyAnswer::KeyUnusable { account });
            }
        }
        headers::strip_credentials(&mut outgoing, &inner.credentials);
        headers::mark_sensitive(&mut outgoing);
        let stripped = headers::strip_query_credentials(path_and_query, &inner.credentials);
        let path_and_query = stripped.as_deref().unwrap_or(path_and_query);
        let uri = upstream_uri(&inner.hosts, &upstream.origin, path_and_query)
            .ok_or(ProxyAnswer::BadUrl)?;
        // The daemon's connections carry their peer; a request's headers name most tools, and
        // only for the rest is the process behind the connection looked up.
        let peer = parts.extensions.get::<ConnectInfo<Peer>>().map(|c| &c.0);
        let client = inner
            .tool_names
            .admit(request_tool::name(&parts.headers, peer).await);
        let shared = shared_for(self.shared(), &account, &upstream);
        Ok(Prepared {
            call: Call {
                traffic: inner.traffic.clone(),
                arrived,
                account,
                client,
                provider: upstream.provider,
                cap: upstream.concurrency_cap,
                shared,
            },
            outgoing: Outgoing {
                method: parts.method,
                uri,
                headers: outgoing,
                body: RequestBody::new(body),
            },
            cap: upstream.concurrency_cap,
            style: answers::error_style(upstream.provider, path_and_query),
        })
    }

    /// Waits for a place under the account's concurrency cap, reading the request body ahead
    /// meanwhile.
    async fn admit(&self, prepared: Prepared) -> Result<Admitted, ProxyAnswer> {
        let Prepared {
            call,
            mut outgoing,
            cap,
            style,
        } = prepared;
        let read_ahead = outgoing.body.read_ahead(QUEUE_READ_AHEAD);
        let max_wait = self.live().settings.queue_max_wait;
        let queued = async {
            let slot = self
                .inner
                .queues
                .admit(&call.account, cap, &call.client, read_ahead)
                .await?;
            let Some(slot) = slot else {
                return Ok(None);
            };
            // Then the group's lease, within what is left of the wait.
            let lease = match &call.shared {
                None => None,
                Some((shared, ns)) => {
                    let deadline = call.arrived + max_wait;
                    match shared.acquire(ns, cap, deadline).await {
                        Ok(lease) => Some(lease),
                        Err(NoLease::TimedOut) => {
                            return Err(QueueRefusal::TimedOut {
                                waited: call.arrived.elapsed(),
                            });
                        }
                        Err(NoLease::CoolingDown(left)) => {
                            return Err(QueueRefusal::CoolingDown { left });
                        }
                    }
                }
            };
            Ok(Some(Held {
                _lease: lease,
                _slot: slot,
            }))
        };
        let waited = call
            .traffic
            .wait_in_queue(&call.account, &call.client, call.arrived, queued);
        let slot = match waited.await {
            Ok(slot) => slot,
            Err(refusal) => return Err(call.queue_refused(cap, refusal, style)),
        };
        if let Some(detail) = outgoing.body.failure() {
            // The client broke off its upload while queued; nobody is left to answer.
            let detail = detail.to_owned();
            return Err(ProxyAnswer::RequestBody { detail });
        }
        Ok(Admitted {
            call,
            outgoing,
            slot,
        })
    }

    /// Sends the request on; from here it counts as in flight.
    async fn forward(&self, live: &Live, admitted: Admitted) -> Result<Forwarded, ProxyAnswer> {
        let Admitted {
            call,
            outgoing,
            slot,
        } = admitted;
        let guard = self
            .inner
            .traffic
            .begin_at(&call.account, &call.client, call.arrived);
        let head_only = outgoing.method == Method::HEAD;
        match live.forwarder.send(&call, outgoing).await {
            Ok(answer) => Ok(Forwarded {
                in_flight: InFlight { call, guard, slot },
                answer,
                head_only,
            }),
            Err(failure) => {
                guard.finish(failure.status().as_u16(), None);
                Err(failure)
            }
        }
    }
}

/// The provider's URI for a request: `origin` (scheme and host, perhaps a path) joined with
/// the request's path and query, through the host map (tests and the demo stand in for real
/// hosts on loopback). `None` unless the result is an absolute `http` or `https` URI. The path
/// goes on as the client sent it (already a valid URI path: the local server parsed it).
fn upstream_uri(hosts: &HostMap, origin: &str, path_and_query: &str) -> Option<http::Uri> {
    let origin = origin.trim_end_matches('/');
    let slash = if path_and_query.starts_with('/') {
        ""
    } else {
        "/"
    };
    let mut joined = String::with_capacity(origin.len() + slash.len() + path_and_query.len());
    joined.push_str(origin);
    joined.push_str(slash);
    joined.push_str(path_and_query);
    let uri = http::Uri::try_from(hosts.rewrite(&joined)).ok()?;
    let web = matches!(uri.scheme_str(), Some("http" | "https"));
    (web && uri.host().is_some_and(|h| !h.is_empty())).then_some(uri)
}

/// One request's identity for the books: the account, the tool, the provider, the cap.
pub(crate) struct Call {
    traffic: Arc<Traffic>,
    /// When the request reached Redline: its latency and queue wait count from here.
    arrived: tokio::time::Instant,
    account: AccountId,
    client: String,
    provider: ProviderId,
    /// The account's concurrency cap in force; 0 = none.
    cap: u64,
    /// The account's shared semaphore, when its cap is shared with other machines.
    shared: Option<(SharedLimits, String)>,
}

/// The shared limits and the semaphore's name for a request to `upstream`, when they apply:
/// a cap, and the account's key (the semaphore is named by a hash of it).
fn shared_for(
    shared: Option<SharedLimits>,
    account: &AccountId,
    upstream: &Upstream,
) -> Option<(SharedLimits, String)> {
    let shared = shared?;
    if upstream.concurrency_cap == 0 {
        return None;
    }
    let key = upstream.secret.as_ref()?;
    let ns = crate::shared::namespace(account.as_str(), key.expose());
    Some((shared, ns))
}

impl Call {
    /// Rate-limit windows from any answer's headers.
    fn record_windows(&self, headers: &HeaderMap) {
        let windows = provider(self.provider).header_windows(headers, jiff::Timestamp::now());
        self.traffic.record_windows(&self.account, windows);
    }

    /// Classifies a refusal from its status, headers and the start of its body, and records it.
    fn classify_refusal(&self, status: u16, headers: &HeaderMap, body: &[u8]) {
        let classification = self.classify(status, headers, body);
        self.record_refusal(status, &classification);
    }

    /// The provider's reading of a refusal, its advice aware of Redline's cap on this account.
    fn classify(&self, status: u16, headers: &HeaderMap, body: &[u8]) -> Classification {
        provider(self.provider)
            .classify(status, headers, body, jiff::Timestamp::now())
            .under_cap(self.cap)
    }

    /// A refusal from the provider, with the most requests Redline had in flight on the account
    /// while the refused one was on its way (itself included). Whenever the provider decided,
    /// it cannot have had more of them, so a concurrency refusal proves its limit is below that
    /// count ([`crate::status::health::concurrency_limit`]). The count when sent would prove
    /// too little (a request overtaken on the way), the count now too little as well (answers
    /// that finished meanwhile).
    fn record_refusal(&self, status: u16, classification: &Classification) {
        // A concurrency or rate refusal that says when to come back holds the account's new
        // requests on every machine of the group until then.
        if let (Some((shared, ns)), Some(wait)) = (&self.shared, classification.retry_after)
            && status == 429
            && matches!(
                classification.cause,
                Cause::Concurrency | Cause::Rpm | Cause::Tpm
            )
        {
            shared.cool_down(ns, wait);
        }
        let in_flight = self.traffic.peak_since(&self.account, self.arrived);
        self.record(status, classification, in_flight);
    }

    fn record(&self, status: u16, classification: &Classification, in_flight: Option<u64>) {
        self.traffic.record_throttle(
            &self.account,
            &self.client,
            ThrottleEvent {
                at: jiff::Timestamp::now(),
                cause: classification.cause,
                status,
                retry_after_s: classification.retry_after.map(|d| d.as_secs_f64()),
                message: redact_keys(&classification.message),
                advice: classification.advice.clone(),
                in_flight,
            },
        );
    }

    /// Redline's own 429 for a request its queue turned away, recorded as a concurrency
    /// throttle.
    fn queue_refused(&self, cap: u64, refusal: QueueRefusal, style: ErrorStyle) -> ProxyAnswer {
        let answer = ProxyAnswer::QueueRefused {
            account: self.account.clone(),
            cap,
            refusal,
            style,
        };
        let message = answer.message();
        let classification = Classification::new(Cause::Concurrency, &message)
            .with_limit(Some(cap))
            .with_retry_after(Some(refusal.retry_after()))
            .with_advice(match refusal {
                QueueRefusal::CoolingDown { .. } => "The provider refused a request on another \
                     machine sharing this account's limit and asked for a pause; the provider \
                     was never asked. Wait for the Retry-After, or run fewer agents in parallel \
                     across the machines."
                    .to_owned(),
                _ => format!(
                    "Redline's queue held this request behind the concurrency cap of {cap} \
                     until it gave up; the provider was never asked. Run fewer agents in \
                     parallel, or raise the cap if the plan allows more."
                ),
            });
        self.record(answer.status().as_u16(), &classification, None);
        answer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_proxy_switched_off_refuses_and_forwards_nothing() {
        let token = crate::keys::token::generate_token();
        let proxy = Proxy::new(
            ProxySettings::default(),
            HostMap::default(),
            token.clone(),
            Traffic::new(),
        );
        let request = || {
            http::Request::builder()
                .uri("/nobody/v1/models")
                .header("authorization", format!("Bearer {}", token.expose()))
                .body(axum::body::Body::empty())
                .unwrap()
        };
        assert!(proxy.is_enabled());
        proxy.set_enabled(false);
        let off = proxy.handle("nobody", "/v1/models", request()).await;
        assert_eq!(off.status(), http::StatusCode::SERVICE_UNAVAILABLE);
        let body = axum::body::to_bytes(off.into_body(), 4096).await.unwrap();
        let text = String::from_utf8_lossy(&body);
        assert!(text.contains("redline_proxy_off"), "{text}");
        assert!(text.contains("Proxy on"), "{text}");
        proxy.set_enabled(true);
        let on = proxy.handle("nobody", "/v1/models", request()).await;
        assert_eq!(
            on.status(),
            http::StatusCode::NOT_FOUND,
            "on again: routed as usual"
        );
    }

    #[tokio::test]
    async fn redlines_own_answers_never_show_the_token_or_the_key() {
        const KEY: &str = "sk-kimi-0123456789abcdefghijklmnopqrstuv";
        let token = crate::keys::token::generate_token();
        let key = Secret::parse(KEY).unwrap();
        let settings = ProxySettings {
            queue_max_len: 0,
            ..ProxySettings::default()
        };
        let proxy = Proxy::new(settings, HostMap::default(), token.clone(), Traffic::new());
        let closed = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            format!("http://{}", listener.local_addr().unwrap())
        };
        let upstream = |origin: &str, secret: Option<&Secret>, cap| Upstream {
            provider: ProviderId::KimiCode,
            origin: origin.to_owned(),
            secret: secret.cloned(),
            concurrency_cap: cap,
        };
        let id = |text: &str| text.parse::<AccountId>().unwrap();
        proxy.set_upstreams(HashMap::from([
            (id("gone"), upstream(&closed, Some(&key), 0)),
            (id("keyless"), upstream("https://api.kimi.com", None, 0)),
            (id("broken"), upstream("nonsense", Some(&key), 0)),
            (id("busy"), upstream(&closed, Some(&key), 1)),
        ]));
        // The busy account's only slot is taken and its line may hold nobody.
        let _held = proxy
            .inner
            .queues
            .admit(&id("busy"), 1, "test", async {})
            .await;

        let bearer = format!("Bearer {}", token.expose());
        let with_token = [("authorization", bearer.as_str())];
        let from_a_page = [
            ("authorization", bearer.as_str()),
            ("origin", "https://evil.example"),
        ];
        type Headers<'a> = &'a [(&'a str, &'a str)];
        let cases: [(&str, Headers, u16); 7] = [
            ("gone", &with_token, 502),
            ("keyless", &with_token, 503),
            ("broken", &with_token, 502),
            ("busy", &with_token, 429),
            ("nobody", &with_token, 404),
            ("gone", &from_a_page, 403),
            ("gone", &[], 401),
        ];
        // The key in the query too: a failure names the host, never the URL.
        let path = format!("/coding/v1/chat/completions?key={KEY}");
        for (account, headers, status) in cases {
            let mut request = http::Request::builder().uri(format!("/{account}{path}"));
            for (name, value) in headers {
                request = request.header(*name, *value);
            }
            let request = request.body(axum::body::Body::from("{}")).unwrap();
            let response = proxy.handle(account, &path, request).await;
            assert_eq!(response.status(), status, "{account}");
            assert_eq!(response.headers()[X_REDLINE], "error", "{account}");
            let headers = format!("{:?}", response.headers());
            let body = axum::body::to_bytes(response.into_body(), 65536)
                .await
                .unwrap();
            let text = format!("{headers} {}", String::from_utf8_lossy(&body));
            assert!(!text.contains(KEY), "{account}: {text}");
            assert!(!text.contains(token.expose()), "{account}: {text}");
        }
    }

    #[test]
    fn origins_come_from_the_base_url_or_the_default_region() {
        let cases = [
            (ProviderId::KimiCode, None, "https://api.kimi.com"),
            (ProviderId::Deepseek, None, "https://api.deepseek.com"),
            (
                ProviderId::Moonshot,
                Some("https://api.moonshot.cn/v1"),
                "https://api.moonshot.cn",
            ),
            (
                ProviderId::Openai,
                Some("http://127.0.0.1:4301/v1/"),
                "http://127.0.0.1:4301",
            ),
            (
                ProviderId::Openai,
                Some("https://api.openai.com:443/v1"),
                "https://api.openai.com",
            ),
            (ProviderId::Zai, Some("not a url"), "https://api.z.ai"),
        ];
        for (id, base, origin) in cases {
            assert_eq!(upstream_origin(id, base), origin, "{id} {base:?}");
        }
    }

    #[test]
    fn upstream_urls_join_origin_and_path_through_the_host_map() {
        let hosts = HostMap::parse("https://api.kimi.com=http://127.0.0.1:4301").unwrap();
        let url = |origin, path| upstream_uri(&hosts, origin, path).map(|u| u.to_string());
        assert_eq!(
            url(
                "https://api.kimi.com",
                "/coding/v1/chat/completions?x=1&y=%20"
            ),
            Some("http://127.0.0.1:4301/coding/v1/chat/completions?x=1&y=%20".into())
        );
        assert_eq!(
            url("https://api.openai.com/", "v1/models"),
            Some("https://api.openai.com/v1/models".into())
        );
        assert_eq!(url("nonsense", "/v1"), None);
    }

    #[test]
    fn paths_split_into_account_and_upstream_path() {
        assert_eq!(
            split_account("/kimi-main/coding/v1/chat/completions?x=1"),
            Some(("kimi-main", "/coding/v1/chat/completions?x=1".to_owned()))
        );
        assert_eq!(split_account("/acct"), Some(("acct", "/".to_owned())));
        assert_eq!(
            split_account("/acct?q=1"),
            Some(("acct", "/?q=1".to_owned()))
        );
        assert_eq!(split_account("/acct/"), Some(("acct", "/".to_owned())));
        assert_eq!(split_account("/"), None);
        assert_eq!(split_account("acct/x"), None);
    }
}
