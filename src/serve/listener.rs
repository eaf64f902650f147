//! The local port's connections, accepted and served by Redline's own loop rather than
//! `axum::serve`, so that no local process can starve the port (docs/architecture.md
//! "Connections to the local port"):
//!
//! - a request's headers must all have come within `proxy.header_timeout_s` of its first byte
//!   (of the accept, for a new connection), so sockets sending headers byte by byte are closed;
//! - a connection that sends nothing after an answer is closed after `proxy.keep_alive_s`;
//! - at most `proxy.max_connections` are open (fewer when the open-files limit is low). A new
//!   connection beyond it closes the one idle the longest; when every one is busy answering,
//!   [`RESERVE`] more are let in for Redline's own routes (`/healthz`, the dashboard, the API,
//!   `/metrics`) while the proxy answers them 503; beyond that a connection is closed at once.
//!   Each of these counts as refused (`redline_connections_refused_total`);
//! - accept errors (out of descriptors) pause the loop briefly and are logged once a minute;
//! - once a burst of connections is over, the heap is trimmed (glibc keeps what it freed);
//! - a moment after it starts, the file pages only starting up used are let go (`resident`);
//! - connections are served on one single-threaded runtime per core (`lanes`).
//!
//! The desktop app's tray reads the engine's status in-process and needs no connection.
//!
//! A connection's state is a [`Phase`]; the pure [`deadline`] says when it is closed, and the
//! pure [`admission`] what becomes of a new connection. A request in progress (its answer
//! streaming, or waiting for the provider) is never cut by these limits: the proxy's own
//! timeouts govern it.

use crate::lanes::Lanes;
use crate::proxy::redline_error;
use crate::serve::access::{self, Route};
use crate::serve::router::Port;
use crate::tools::request_tool::Peer;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Request, Response, StatusCode, header};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

/// Connections let in beyond the cap while every open one is busy answering: for
/// `/healthz`, the dashboard, the API and `/metrics` (the proxy answers them 503).
pub const RESERVE: usize = 16;
/// Descriptors kept for everything but client connections: the history database, the
/// keyring's bus, files read, idle connections to providers.
const FD_HEADROOM: u64 = 256;
/// The pause after an accept error that is not about one connection (no descriptor left).
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);
/// Accept errors are logged at most this often.
const ACCEPT_LOG_EVERY: Duration = Duration::from_secs(60);
/// A burst: at least this many connections open at once since memory was last given back.
const BURST: usize = 128;
/// A burst is over once at most this many are left.
const QUIET: usize = 16;
/// How long after the port opens the pages starting up touched are let go.
const SETTLE_BEFORE_DROP: Duration = Duration::from_secs(1);

/// The bounds every connection is held to (from `[proxy]` in the config).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// From a request's first byte (a new connection's accept) to the end of its headers.
    pub header_timeout: Duration,
    /// From the end of an answer to the first byte of the next request.
    pub keep_alive: Duration,
    /// Connections open at once, [`RESERVE`] aside.
    pub max_connections: usize,
}

impl Limits {
    pub fn from_config(proxy: &crate::config::Proxy) -> Limits {
        Limits {
            header_timeout: Duration::from_secs(proxy.header_timeout_s),
            keep_alive: Duration::from_secs(proxy.keep_alive_s),
            max_connections: usize::try_from(proxy.max_connections).unwrap_or(usize::MAX),
        }
    }
}

/// Where one connection is between requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// No byte of a request yet: since the accept (`fresh`), or since the last answer ended.
    Idle { since: Instant, fresh: bool },
    /// A request's head is arriving, since `since` (the accept, for a new connection); the
    /// connection has done nothing useful since `idle_since`.
    Head { since: Instant, idle_since: Instant },
    /// Answering `requests` requests (more than one only while an answer's end is written).
    Busy { requests: usize },
}

impl Phase {
    fn accepted(now: Instant) -> Phase {
        Phase::Idle {
            since: now,
            fresh: true,
        }
    }

    fn bytes_came(self, now: Instant) -> Phase {
        match self {
            // A new connection's clock started at the accept: trickling the first bytes in
            // later buys no time.
            Phase::Idle { since, fresh: true } => Phase::Head {
                since,
                idle_since: since,
            },
            Phase::Idle {
                since,
                fresh: false,
            } => Phase::Head {
                since: now,
                idle_since: since,
            },
            other => other,
        }
    }

    fn request_began(self) -> Phase {
        match self {
            Phase::Busy { requests } => Phase::Busy {
                requests: requests + 1,
            },
            _ => Phase::Busy { requests: 1 },
        }
    }

    fn request_ended(self, now: Instant) -> Phase {
        match self {
            Phase::Busy { requests } if requests > 1 => Phase::Busy {
                requests: requests - 1,
            },
            Phase::Busy { .. } => Phase::Idle {
                since: now,
                fresh: false,
            },
            other => other,
        }
    }

    /// Since when the connection has been of no use; `None` while it answers.
    fn idle_since(self) -> Option<Instant> {
        match self {
            Phase::Idle { since, .. } => Some(since),
            Phase::Head { idle_since, .. } => Some(idle_since),
            Phase::Busy { .. } => None,
        }
    }
}

/// When a connection in `phase` is closed, `None` while it answers.
pub fn deadline(phase: Phase, limits: &Limits) -> Option<Instant> {
    match phase {
        Phase::Idle { since, fresh: true } | Phase::Head { since, .. } => {
            Some(since + limits.header_timeout)
        }
        Phase::Idle {
            since,
            fresh: false,
        } => Some(since + limits.keep_alive),
        Phase::Busy { .. } => None,
    }
}

/// When a connection's task next looks at its phase, if nothing wakes it sooner: at its
/// [`deadline`], and at the latest one shortest limit from `now`. Any phase change after `now`
/// sets a deadline at least that far from when it happens, so looking again then is never
/// late, and a change of phase (twice per request) need not wake the task.
pub fn next_check(phase: Phase, limits: &Limits, now: Instant) -> Instant {
    let check_back = now + limits.header_timeout.min(limits.keep_alive);
    deadline(phase, limits).map_or(check_back, |due| due.min(check_back))
}

/// What becomes of a new connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    Admit,
    /// Admitted in place of the connection idle the longest, which is closed.
    CloseIdle,
    /// Admitted beyond the cap, for Redline's own routes only.
    Reserve,
    /// Closed at once.
    TurnAway,
}

/// `live`: connections open and not already closing; `max`: the cap; `idle_one`: whether an
/// open connection is idle (not answering) and could make room.
pub fn admission(live: usize, max: usize, idle_one: bool) -> Admission {
    if live < max {
        Admission::Admit
    } else if idle_one {
        Admission::CloseIdle
    } else if live < max.saturating_add(RESERVE) {
        Admission::Reserve
    } else {
        Admission::TurnAway
    }
}

/// The cap the open-files limit allows: every client connection may hold one to a provider
/// too, and some descriptors are for everything else.
pub fn cap_for_open_files(open_files: u64) -> usize {
    let pairs = open_files.saturating_sub(FD_HEADROOM) / 2;
    usize::try_from(pairs)
        .unwrap_or(usize::MAX)
        .saturating_sub(RESERVE)
        .max(8)
}

/// Whether memory should be given back now: a burst of `peak` connections has ended with
/// `open` left.
pub fn burst_over(peak: usize, open: usize) -> bool {
    peak >= BURST && open <= QUIET
}

/// Returns the heap's free memory to the system. glibc keeps what a burst of connections
/// freed (tens of MB after thousands) inside its arenas; elsewhere the allocator returns it
/// itself, or there is nothing to do.
fn give_back_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free heap memory to the system.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Raises this process's soft limit on open files to its hard limit (Linux), and returns the
/// soft limit now in effect (`None` when unknown or unlimited).
pub fn raise_open_files_limit() -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
        let limit = getrlimit(Resource::Nofile);
        if limit.current != limit.maximum {
            let raised = Rlimit {
                current: limit.maximum,
                maximum: limit.maximum,
            };
            if setrlimit(Resource::Nofile, raised).is_ok() {
                return limit.maximum;
            }
        }
        limit.current
    }
    #[cfg(not(target_os = "linux"))]
    None
}

/// What `/metrics` shows of the port's connections.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnectionFigures {
    pub open: u64,
    /// Closed or turned away because of the cap, since start.
    pub refused: u64,
}

/// The open connections of one port, and its bounds. Cheap to clone.
#[derive(Clone)]
pub struct Connections {
    inner: Arc<Inner>,
}

struct Inner {
    limits: Mutex<Limits>,
    /// The most connections the open-files limit allows.
    ceiling: AtomicUsize,
    open: Mutex<HashMap<u64, Arc<Conn>>>,
    next_id: AtomicU64,
    /// Connections asked to close for a newer one and not closed yet.
    closing: AtomicUsize,
    refused: AtomicU64,
    /// The most open at once since memory was last given back.
    peak: AtomicUsize,
}

impl Connections {
    pub fn new(limits: Limits) -> Connections {
        Connections {
            inner: Arc::new(Inner {
                limits: Mutex::new(limits),
                ceiling: AtomicUsize::new(usize::MAX),
                open: Mutex::new(HashMap::new()),
                next_id: AtomicU64::new(0),
                closing: AtomicUsize::new(0),
                refused: AtomicU64::new(0),
                peak: AtomicUsize::new(0),
            }),
        }
    }

    /// Applies new bounds to open connections and new ones.
    pub fn set_limits(&self, limits: Limits) {
        *lock(&self.inner.limits) = limits;
        for conn in self.open().values() {
            conn.wake.notify_one();
        }
    }

    /// The bounds in effect: the cap no higher than the open-files limit allows.
    pub fn limits(&self) -> Limits {
        let mut limits = *lock(&self.inner.limits);
        limits.max_connections = limits
            .max_connections
            .min(self.inner.ceiling.load(Ordering::Relaxed));
        limits
    }

    /// Keeps the cap within `open_files` descriptors; says so when that lowers it.
    pub fn fit_open_files(&self, open_files: Option<u64>) {
        let Some(open_files) = open_files else { return };
        let ceiling = cap_for_open_files(open_files);
        self.inner.ceiling.store(ceiling, Ordering::Relaxed);
        let wanted = lock(&self.inner.limits).max_connections;
        if ceiling < wanted {
            eprintln!(
                "redline: at most {ceiling} connections at once, not {wanted} \
                 (proxy.max_connections): this process may open only {open_files} files; \
                 raise its limit (`ulimit -n`, LimitNOFILE= in a systemd unit) for more"
            );
        }
    }

    pub fn figures(&self) -> ConnectionFigures {
        ConnectionFigures {
            open: self.open().len() as u64,
            refused: self.inner.refused.load(Ordering::Relaxed),
        }
    }

    fn open(&self) -> MutexGuard<'_, HashMap<u64, Arc<Conn>>> {
        lock(&self.inner.open)
    }

    fn refuse(&self) {
        self.inner.refused.fetch_add(1, Ordering::Relaxed);
    }

    /// Open connections not already asked to close.
    fn live(&self) -> usize {
        let open = self.open().len();
        open.saturating_sub(self.inner.closing.load(Ordering::Relaxed))
    }

    /// Decides on a new connection; `None` when it is turned away.
    fn admit(&self, now: Instant) -> Option<(u64, Arc<Conn>)> {
        let max = self.limits().max_connections;
        let mut open = self.open();
        let live = open
            .len()
            .saturating_sub(self.inner.closing.load(Ordering::Relaxed));
        let idle = if live >= max {
            open.values()
                .filter(|conn| !conn.closing.load(Ordering::Relaxed))
                .filter_map(|conn| Some((conn.phase().idle_since()?, conn)))
                .min_by_key(|(since, _)| *since)
                .map(|(_, conn)| conn.clone())
        } else {
            None
        };
        let decided = admission(live, max, idle.is_some());
        match (decided, idle) {
            (Admission::TurnAway, _) => {
                self.refuse();
                return None;
            }
            (Admission::CloseIdle, Some(idle)) => {
                self.refuse();
                idle.closing.store(true, Ordering::Relaxed);
                self.inner.closing.fetch_add(1, Ordering::Relaxed);
                idle.wake.notify_one();
            }
            _ => {}
        }
        let conn = Arc::new(Conn {
            phase: Mutex::new(Phase::accepted(now)),
            wake: Notify::new(),
            closing: AtomicBool::new(false),
            // In place of an idle connection while the reserve is in use, the newcomer takes
            // a reserve place, not a normal one: the cap counts every live connection.
            reserve: AtomicBool::new(match decided {
                Admission::Reserve => true,
                Admission::CloseIdle => live > max,
                Admission::Admit | Admission::TurnAway => false,
            }),
        });
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        open.insert(id, conn.clone());
        self.inner.peak.fetch_max(open.len(), Ordering::Relaxed);
        Some((id, conn))
    }

    fn forget(&self, id: u64) {
        let (removed, left) = {
            let mut open = self.open();
            (open.remove(&id), open.len())
        };
        if removed.is_some_and(|conn| conn.closing.load(Ordering::Relaxed)) {
            self.inner.closing.fetch_sub(1, Ordering::Relaxed);
        }
        let peak = self.inner.peak.load(Ordering::Relaxed);
        if burst_over(peak, left)
            && self
                .inner
                .peak
                .compare_exchange(peak, left, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            // Off the runtime's threads: trimming a large heap takes a few milliseconds.
            runtime.spawn_blocking(give_back_memory);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One connection, as its task, its requests and the accept loop share it.
struct Conn {
    phase: Mutex<Phase>,
    /// Its task looks again at its deadline, and at `closing`.
    wake: Notify,
    /// Asked to close, to make room for a newer connection.
    closing: AtomicBool,
    /// Admitted beyond the cap: the proxy answers it 503 while the port is still over it.
    reserve: AtomicBool,
}

impl Conn {
    fn phase(&self) -> Phase {
        *lock(&self.phase)
    }

    /// Changes the phase. The task is not woken: it looks again by [`next_check`].
    fn change(&self, change: impl FnOnce(Phase) -> Phase) {
        let mut phase = lock(&self.phase);
        *phase = change(*phase);
    }
}

/// Serves `port` on `listener`, each connection on one of `lanes`, within `connections`'
/// bounds until `shutdown` completes, then stops accepting, lets every request in progress
/// finish and returns once all connections have closed. Each request carries its
/// connection's [`Peer`] (axum's `ConnectInfo<Peer>`).
pub async fn serve(
    listener: TcpListener,
    lanes: Lanes,
    port: Port,
    connections: Connections,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let (stop, stopping) = watch::channel(false);
    let (all_closed, open) = watch::channel(());
    let mut shutdown = pin!(shutdown);
    tokio::spawn(async {
        tokio::time::sleep(SETTLE_BEFORE_DROP).await;
        let _ = tokio::task::spawn_blocking(super::resident::drop_file_pages).await;
    });
    let port = Arc::new(port);
    let mut errors = AcceptErrors::default();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (stream, remote) = match accepted {
            Ok(accepted) => accepted,
            Err(err) => {
                if let Some(pause) = errors.failed(&err, Instant::now()) {
                    tokio::select! {
                        () = tokio::time::sleep(pause) => {}
                        () = &mut shutdown => break,
                    }
                }
                continue;
            }
        };
        let Some((id, conn)) = connections.admit(Instant::now()) else {
            turn_away(&stream);
            continue;
        };
        // No Nagle delay: streamed chunks and small answers go out at once.
        let _ = stream.set_nodelay(true);
        let peer = Peer::new(remote, stream.local_addr().ok());
        let task = ConnTask {
            id,
            conn,
            connections: connections.clone(),
            stopping: stopping.clone(),
            _open: open.clone(),
        };
        // Handed to a lane as a plain socket: it is registered with that lane's runtime.
        let Ok(stream) = stream.into_std() else {
            continue;
        };
        let port = port.clone();
        lanes.run(move || {
            if let Ok(stream) = TcpStream::from_std(stream) {
                tokio::spawn(task.run(stream, peer, port));
            }
        });
    }
    drop(listener);
    let _ = stop.send(true);
    drop(open);
    all_closed.closed().await;
}

/// Answers 503 without reading the request, as far as it fits in the socket's buffer, and
/// closes.
fn turn_away(stream: &TcpStream) {
    const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\
        retry-after: 1\r\nconnection: close\r\n\r\n";
    let _ = stream.try_write(BUSY);
}

/// Accept errors: one about a connection that went away is skipped; any other (no descriptor
/// left, no memory) pauses the loop, and is logged at most once a minute.
#[derive(Default)]
struct AcceptErrors {
    logged_at: Option<Instant>,
    since_logged: u64,
}

impl AcceptErrors {
    /// The pause before accepting again, if any.
    fn failed(&mut self, err: &io::Error, now: Instant) -> Option<Duration> {
        use io::ErrorKind::*;
        if matches!(
            err.kind(),
            ConnectionAborted | ConnectionReset | ConnectionRefused | Interrupted | WouldBlock
        ) {
            return None;
        }
        self.since_logged += 1;
        if self
            .logged_at
            .is_none_or(|at| now.duration_since(at) >= ACCEPT_LOG_EVERY)
        {
            eprintln!(
                "redline: cannot accept connections ({err}; {} times since the last report); \
                 trying again",
                self.since_logged
            );
            self.logged_at = Some(now);
            self.since_logged = 0;
        }
        Some(ACCEPT_PAUSE)
    }
}

/// One connection's task: serves it, and closes it at its deadline, when asked to make room,
/// or (after its request in progress) when the server stops.
struct ConnTask {
    id: u64,
    conn: Arc<Conn>,
    connections: Connections,
    stopping: watch::Receiver<bool>,
    /// Held until the connection closes; the server waits for every one.
    _open: watch::Receiver<()>,
}

impl ConnTask {
    async fn run(mut self, stream: TcpStream, peer: Peer, port: Arc<Port>) {
        let conn = self.conn.clone();
        let io = TokioIo::new(Watched {
            stream,
            conn: conn.clone(),
        });
        let service = ConnService {
            port,
            peer,
            conn: conn.clone(),
            connections: self.connections.clone(),
        };
        // Half-closed connections are not kept: a client that hangs up is noticed while its
        // request is in progress, and the request is dropped (hyper's default).
        let served = http1::Builder::new().serve_connection(io, service);
        let mut served = pin!(served);
        let mut winding_down = false;
        loop {
            let check = next_check(conn.phase(), &self.connections.limits(), Instant::now());
            let timer = tokio::time::sleep_until(check);
            tokio::select! {
                _ = served.as_mut() => break,
                () = conn.wake.notified() => {
                    if conn.closing.load(Ordering::Relaxed) && !winding_down {
                        if conn.phase().idle_since().is_some() {
                            break;
                        }
                        // A request began meanwhile: it finishes first.
                        served.as_mut().graceful_shutdown();
                        winding_down = true;
                    }
                }
                () = timer => {
                    let due = deadline(conn.phase(), &self.connections.limits());
                    if due.is_some_and(|at| at <= Instant::now()) {
                        break;
                    }
                }
                _ = self.stopping.wait_for(|stop| *stop), if !winding_down => {
                    served.as_mut().graceful_shutdown();
                    winding_down = true;
                }
            }
        }
        // Out of the count before the socket closes: a client that saw it close and connects
        // again finds its place free.
        self.connections.forget(self.id);
    }
}

impl Drop for ConnTask {
    /// Also when the task is dropped unfinished (the runtime shutting down).
    fn drop(&mut self) {
        self.connections.forget(self.id);
    }
}

/// The connection's socket, noting when bytes of a request come.
struct Watched {
    stream: TcpStream,
    conn: Arc<Conn>,
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.stream).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.conn.change(|phase| phase.bytes_came(Instant::now()));
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// The port, for the requests of one connection.
struct ConnService {
    port: Arc<Port>,
    peer: Peer,
    conn: Arc<Conn>,
    connections: Connections,
}

type Answer = Pin<Box<dyn Future<Output = Result<Response<Tracked>, Infallible>> + Send>>;

impl hyper::service::Service<Request<Incoming>> for ConnService {
    type Response = Response<Tracked>;
    type Error = Infallible;
    type Future = Answer;

    fn call(&self, mut request: Request<Incoming>) -> Answer {
        let busy = Busy::begin(self.conn.clone());
        if self.conn.reserve.load(Ordering::Relaxed) {
            let max = self.connections.limits().max_connections;
            if self.connections.live() <= max {
                self.conn.reserve.store(false, Ordering::Relaxed);
            } else if access::route_of(request.uri().path()) == Route::Proxy {
                self.connections.refuse();
                let answer = over_cap(max).map(|body| Tracked { body, _busy: busy });
                return Box::pin(std::future::ready(Ok(answer)));
            }
        }
        request
            .extensions_mut()
            .insert(ConnectInfo(self.peer.clone()));
        let port = self.port.clone();
        Box::pin(async move {
            let answer = port.answer(request.map(Body::new)).await;
            Ok(answer.map(|body| Tracked { body, _busy: busy }))
        })
    }
}

/// The proxy's answer on a connection let in beyond the cap.
fn over_cap(max: usize) -> Response<Body> {
    let mut answer = redline_error(
        StatusCode::SERVICE_UNAVAILABLE,
        "redline_busy",
        &format!(
            "Redline has {max} connections open, its limit (proxy.max_connections), and all \
             are busy answering; try again in a moment"
        ),
    );
    let headers = answer.headers_mut();
    headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    answer
}

/// A request in progress on its connection, from its head to the end of its answer's body.
struct Busy(Arc<Conn>);

impl Busy {
    fn begin(conn: Arc<Conn>) -> Busy {
        conn.change(Phase::request_began);
        Busy(conn)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.change(|phase| phase.request_ended(Instant::now()));
    }
}

/// An answer's body; the request counts as in progress until it is dropped (written out, or
/// the connection gone).
pub struct Tracked {
    body: Body,
    _busy: Busy,
}

impl HttpBody for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            header_timeout: Duration::from_secs(10),
            keep_alive: Duration::from_secs(75),
            max_connections: 4,
        }
    }

    #[test]
    fn headers_have_their_time_from_the_first_byte_or_the_accept() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let accepted = Phase::accepted(t0);
        assert_eq!(deadline(accepted, &limits()), Some(t0 + s(10)));
        // Trickling the first byte in late gains a new connection nothing.
        let trickled = accepted.bytes_came(t0 + s(9));
        assert_eq!(deadline(trickled, &limits()), Some(t0 + s(10)));
        assert_eq!(trickled.bytes_came(t0 + s(9)), trickled);
        let busy = trickled.request_began();
        assert_eq!(deadline(busy, &limits()), None, "an answer is never cut");
        let idle = busy.request_ended(t0 + s(100));
        assert_eq!(deadline(idle, &limits()), Some(t0 + s(175)));
        let next = idle.bytes_came(t0 + s(150));
        assert_eq!(deadline(next, &limits()), Some(t0 + s(160)));
        assert_eq!(next.idle_since(), Some(t0 + s(100)));
    }

    #[test]
    fn a_connection_looks_again_no_later_than_any_deadline_a_change_of_phase_can_set() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let fresh = Phase::accepted(t0);
        let head = fresh.bytes_came(t0 + s(1));
        let busy = head.request_began();
        let idle = busy.request_ended(t0 + s(2));
        let next_head = idle.bytes_came(t0 + s(3));
        let phases = [fresh, head, busy, idle, next_head, busy.request_began()];
        // Headers due in 10 s: looked at then; idle for up to 75 s, or answering: in 10 s.
        assert_eq!(next_check(fresh, &limits(), t0), t0 + s(10));
        assert_eq!(next_check(idle, &limits(), t0 + s(2)), t0 + s(12));
        assert_eq!(next_check(busy, &limits(), t0 + s(5)), t0 + s(15));
        for limits in [
            limits(),
            Limits {
                header_timeout: s(90),
                ..limits()
            },
        ] {
            let now = t0 + s(4);
            for before in phases {
                let check = next_check(before, &limits, now);
                for changed_at in [now, now + s(1), now + s(30)] {
                    let after = [
                        before.bytes_came(changed_at),
                        before.request_began(),
                        before.request_ended(changed_at),
                    ];
                    for after in after.into_iter().filter_map(|p| deadline(p, &limits)) {
                        assert!(
                            check <= after,
                            "{before:?} at {now:?}: {check:?} > {after:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn a_connection_is_busy_until_its_last_answer_ends() {
        let t0 = Instant::now();
        let two = Phase::accepted(t0).request_began().request_began();
        assert_eq!(two, Phase::Busy { requests: 2 });
        let one = two.request_ended(t0);
        assert_eq!(one.idle_since(), None);
        assert_eq!(one.request_ended(t0).idle_since(), Some(t0));
    }

    #[test]
    fn beyond_the_cap_an_idle_connection_makes_room_then_the_reserve_then_none() {
        assert_eq!(admission(3, 4, true), Admission::Admit);
        assert_eq!(admission(4, 4, true), Admission::CloseIdle);
        assert_eq!(admission(4, 4, false), Admission::Reserve);
        assert_eq!(admission(4 + RESERVE - 1, 4, false), Admission::Reserve);
        assert_eq!(admission(4 + RESERVE, 4, false), Admission::TurnAway);
        assert_eq!(admission(4 + RESERVE, 4, true), Admission::CloseIdle);
    }

    #[test]
    fn the_cap_leaves_room_for_a_provider_connection_each_and_redlines_own_files() {
        assert_eq!(cap_for_open_files(1024), (1024 - 256) / 2 - RESERVE);
        assert_eq!(cap_for_open_files(524_288), (524_288 - 256) / 2 - RESERVE);
        assert_eq!(cap_for_open_files(100), 8);
    }

    #[test]
    fn the_oldest_idle_connection_makes_room_and_counts_as_refused() {
        let connections = Connections::new(limits());
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let admitted: Vec<_> = (0..4)
            .map(|i| connections.admit(t0 + s(i)).unwrap())
            .collect();
        // The first is answering, so the second (idle the longest) makes room.
        admitted[0].1.change(Phase::request_began);
        let (_, newest) = connections.admit(t0 + s(5)).unwrap();
        assert!(admitted[1].1.closing.load(Ordering::Relaxed));
        assert!(!admitted[0].1.closing.load(Ordering::Relaxed));
        assert!(!newest.reserve.load(Ordering::Relaxed));
        assert_eq!(connections.figures().refused, 1);
        assert_eq!(connections.figures().open, 5, "until the second has closed");
        connections.forget(admitted[1].0);
        assert_eq!(connections.live(), 4);
        for (_, conn) in &admitted[2..] {
            conn.change(Phase::request_began);
        }
        newest.change(Phase::request_began);
        let (_, reserve) = connections.admit(t0 + s(6)).unwrap();
        assert!(reserve.reserve.load(Ordering::Relaxed));
        assert_eq!(connections.figures().refused, 1);
        // The reserve connection idles; one arriving now closes it and takes its reserve
        // place, not a normal one: the four within the cap are all still answering.
        let (_, newcomer) = connections.admit(t0 + s(7)).unwrap();
        assert!(reserve.closing.load(Ordering::Relaxed));
        assert!(newcomer.reserve.load(Ordering::Relaxed));
        assert_eq!(connections.figures().refused, 2);
    }

    #[test]
    fn memory_is_given_back_once_a_burst_is_over() {
        assert!(burst_over(BURST, QUIET));
        assert!(burst_over(20_000, 0));
        assert!(!burst_over(BURST, QUIET + 1), "not while it lasts");
        assert!(!burst_over(BURST - 1, 0), "not after a few connections");
    }

    #[test]
    fn the_cap_follows_the_settings_within_the_open_files_limit() {
        let connections = Connections::new(limits());
        connections.fit_open_files(Some(1024));
        assert_eq!(connections.limits().max_connections, 4);
        connections.set_limits(Limits {
            max_connections: 5000,
            ..limits()
        });
        assert_eq!(
            connections.limits().max_connections,
            cap_for_open_files(1024)
        );
    }

    #[test]
    fn only_errors_that_are_not_about_one_connection_pause_and_are_logged_once_a_minute() {
        let mut errors = AcceptErrors::default();
        let t0 = Instant::now();
        let aborted = io::Error::from(io::ErrorKind::ConnectionAborted);
        assert_eq!(errors.failed(&aborted, t0), None);
        let emfile = io::Error::from_raw_os_error(24);
        assert_eq!(errors.failed(&emfile, t0), Some(ACCEPT_PAUSE));
        assert_eq!(errors.logged_at, Some(t0));
        errors.failed(&emfile, t0 + Duration::from_secs(1));
        assert_eq!(
            errors.logged_at,
            Some(t0),
            "not logged again within a minute"
        );
        assert_eq!(errors.since_logged, 1);
        errors.failed(&emfile, t0 + ACCEPT_LOG_EVERY);
        assert_eq!(errors.logged_at, Some(t0 + ACCEPT_LOG_EVERY));
    }
}
