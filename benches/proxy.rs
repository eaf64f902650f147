//! What Redline's pass-through proxy costs, measured against a direct connection and against
//! nginx as a reverse proxy, both in front of the same fake upstream, side by side.
//!
//! - The fake upstream runs in this process (axum on its own single-threaded runtime): a
//!   non-streamed chat completion (~660 bytes of JSON) and an SSE stream of N events a fixed gap
//!   apart.
//! - Redline is the real `redline daemon` binary, a child process (so its RSS is its own), with
//!   two accounts, each pointed at its own port of the upstream, measured as two paths: on
//!   `bench` the client presents its own key (observe-only mode, the key goes through as it is);
//!   on `bench-key` the client presents Redline's local token and the daemon swaps in the real
//!   key stored in the keyring (key injection, what every tool set up by `redline env` does).
//!   The upstream refuses any other credential, so a leaked token fails the run.
//! - nginx is Debian's, started here with a generated config in a temp dir.
//! - The client is reqwest (HTTP/1.1, keep-alive) on its own single-threaded runtime.
//!
//! Phases: idle RSS; latency at concurrency 1 (the three paths interleaved in rounds); streams
//! (time to first byte and gaps between events); throughput at concurrency 32 (fixed duration,
//! alternating, several rounds, median); RSS after the load; latency and streams again while
//! the load is recent; CPU time per request of each proxy throughout. Every loop is bounded in
//! count and in time, and only loopback addresses are used. The results go to stdout and to
//! `benches/results.md`; benches/README.md explains them.
//!
//! Heavy only under `cargo bench` (which passes `--bench`): `cargo test --all-targets` runs this
//! binary too, and then it prints one line and exits.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::serve::ListenerExt;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

mod common;
use common::{command_line, load_average, ms, percentile, redline_binary};

/// The upstream's non-streamed answer, an OpenAI chat completion of the usual size.
const CHAT_RESPONSE: &str = r#"{"id":"chatcmpl-bench0000000000000000000001","object":"chat.completion","created":1767225600,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"message":{"role":"assistant","content":"A short answer of the size a chat completion usually has: a sentence or two.","refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":42,"completion_tokens":18,"total_tokens":60,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},"service_tier":"default","system_fingerprint":"fp_bench0001"}"#;
const CHAT_REQUEST: &str =
    r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say something short."}]}"#;
const STREAM_REQUEST: &str = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Count slowly."}],"stream":true,"stream_options":{"include_usage":true}}"#;
/// Observe-only mode: a key of the client's own goes through Redline as it is.
const CLIENT_KEY: &str = "Bearer sk-bench-observe-only-0000000000000000";
const ACCOUNT: &str = "bench";
/// Key injection: the real key, stored in the keyring for this account; the client sends
/// Redline's local token instead.
const REAL_KEY: &str = "sk-bench-real-key-stored-in-the-keyring-00000";
const KEYED_ACCOUNT: &str = "bench-key";

/// Targets of issue 19 ("close the gap to nginx"), judged on both Redline paths.
/// Added p50 at concurrency 1 at most this much above nginx's added p50.
const TARGET_ADDED_P50_OVER_NGINX_MS: f64 = 0.02;
const TARGET_ADDED_TTFB_MS: f64 = 0.3;
const TARGET_THROUGHPUT_RATIO: f64 = 0.8;
const TARGET_IDLE_RSS_MIB: f64 = 16.0;
const TARGET_LOADED_RSS_MIB: f64 = 24.0;
const TARGET_CPU_RATIO: f64 = 1.5;

/// Hard ceilings whatever the environment asks for, so a run always ends.
const MAX_REQUESTS: usize = 100_000;
const MAX_SECONDS: u64 = 30;
const MAX_ROUNDS: usize = 9;
const MAX_STREAMS: usize = 500;
/// Requests one throughput worker sends at most in one run.
const MAX_PER_WORKER: u64 = 1_000_000;

fn main() {
    if !std::env::args().any(|arg| arg == "--bench") {
        println!(
            "proxy benchmark: run with `cargo bench --bench proxy` or scripts/bench.sh (see benches/README.md)"
        );
        return;
    }
    if let Err(error) = run() {
        eprintln!("proxy benchmark failed: {error}");
        std::process::exit(1);
    }
}

/// How much to measure; each can be changed through the environment, within the ceilings.
#[derive(Clone, Debug)]
struct Settings {
    /// Requests per path at concurrency 1.
    latency_requests: usize,
    /// Requests per path at concurrency 1 again right after the throughput load.
    latency_after_load: usize,
    /// Requests per path in one latency round before moving to the next path.
    latency_batch: usize,
    warmup: usize,
    throughput_time: Duration,
    throughput_rounds: usize,
    concurrency: usize,
    streams: usize,
    stream_events: usize,
    stream_gap: Duration,
}

impl Settings {
    fn from_env() -> Settings {
        let number = |name: &str, default: u64, max: u64| -> u64 {
            std::env::var(name)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(default)
                .clamp(1, max)
        };
        Settings {
            latency_requests: number("REDLINE_BENCH_REQUESTS", 3000, MAX_REQUESTS as u64) as usize,
            latency_after_load: 1000,
            latency_batch: 100,
            warmup: 300,
            throughput_time: Duration::from_secs(number("REDLINE_BENCH_SECONDS", 5, MAX_SECONDS)),
            throughput_rounds: number("REDLINE_BENCH_ROUNDS", 3, MAX_ROUNDS as u64) as usize,
            concurrency: 32,
            streams: number("REDLINE_BENCH_STREAMS", 40, MAX_STREAMS as u64) as usize,
            stream_events: 20,
            stream_gap: Duration::from_millis(10),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The fake upstream

/// The SSE answer, one `Bytes` per write: `stream_events` chunks, the last one carrying the
/// usage and `[DONE]`.
fn stream_chunks(events: usize) -> Vec<Bytes> {
    (0..events)
        .map(|i| {
            let head = r#"data: {"id":"chatcmpl-bench0000000000000000000002","object":"chat.completion.chunk","created":1767225600,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_bench0001","choices":["#;
            if i + 1 == events {
                format!(
                    "{head}],\"usage\":{{\"prompt_tokens\":12,\"completion_tokens\":{events},\"total_tokens\":{}}}}}\n\ndata: [DONE]\n\n",
                    12 + events
                )
            } else {
                format!(
                    "{head}{{\"index\":0,\"delta\":{{\"content\":\"word{i} \"}},\"logprobs\":null,\"finish_reason\":null}}],\"usage\":null}}\n\n"
                )
            }
            .into()
        })
        .collect()
}

#[derive(Clone)]
struct StreamShape {
    chunks: Arc<Vec<Bytes>>,
    gap: Duration,
}

/// Only the two keys a client may legitimately send on: the client's own (observe-only) and
/// the real one Redline injects. Redline's local token reaching the upstream is a failure.
fn credential_ok(headers: &axum::http::HeaderMap) -> bool {
    let real = format!("Bearer {REAL_KEY}");
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == CLIENT_KEY || v == real)
}

async fn chat(headers: axum::http::HeaderMap, _request: Bytes) -> Response {
    if !credential_ok(&headers) {
        return (
            StatusCode::UNAUTHORIZED,
            "bench upstream: unexpected credential",
        )
            .into_response();
    }
    ([(header::CONTENT_TYPE, "application/json")], CHAT_RESPONSE).into_response()
}

/// The first event at once, then one every `gap`, on a fixed schedule (no drift).
async fn stream(
    State(shape): State<StreamShape>,
    headers: axum::http::HeaderMap,
    _request: Bytes,
) -> Response {
    if !credential_ok(&headers) {
        return (
            StatusCode::UNAUTHORIZED,
            "bench upstream: unexpected credential",
        )
            .into_response();
    }
    let start = tokio::time::Instant::now();
    let events = futures_util::stream::unfold(0usize, move |i| {
        let shape = shape.clone();
        async move {
            let chunk = shape.chunks.get(i)?.clone();
            // Not even a zero sleep for the first: tokio's timer would round it up to 1 ms.
            if i > 0 {
                tokio::time::sleep_until(start + shape.gap * i as u32).await;
            }
            Some((Ok::<_, std::convert::Infallible>(chunk), i + 1))
        }
    });
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(events),
    )
        .into_response()
}

/// One port of the upstream, and how many connections it has accepted.
struct UpstreamPort {
    addr: SocketAddr,
    connections: Arc<AtomicU64>,
}

/// Serves the upstream on `ports` loopback ports (one per path, so each path's upstream
/// connections are counted apart), all from one thread with a single-threaded runtime.
fn start_upstream(settings: &Settings, ports: usize) -> Result<Vec<UpstreamPort>, String> {
    let shape = StreamShape {
        chunks: Arc::new(stream_chunks(settings.stream_events)),
        gap: settings.stream_gap,
    };
    let app = Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/v1/stream", post(stream))
        .with_state(shape);
    let mut listeners = Vec::new();
    let mut served = Vec::new();
    for _ in 0..ports {
        let listener = StdListener::bind("127.0.0.1:0").map_err(|e| format!("upstream: {e}"))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| format!("upstream: {e}"))?;
        let port = UpstreamPort {
            addr: listener.local_addr().map_err(|e| e.to_string())?,
            connections: Arc::new(AtomicU64::new(0)),
        };
        listeners.push((listener, port.connections.clone()));
        served.push(port);
    }
    std::thread::Builder::new()
        .name("upstream".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("the upstream's runtime builds");
            runtime.block_on(async move {
                let servers = listeners.into_iter().map(|(listener, connections)| {
                    let listener = tokio::net::TcpListener::from_std(listener)
                        .expect("the upstream's listener")
                        .tap_io(move |tcp| {
                            connections.fetch_add(1, Ordering::Relaxed);
                            let _ = tcp.set_nodelay(true);
                        });
                    axum::serve(listener, app.clone()).into_future()
                });
                futures_util::future::join_all(servers).await;
            });
        })
        .map_err(|e| e.to_string())?;
    Ok(served)
}

// ---------------------------------------------------------------------------------------------
// Child processes: the daemon and nginx

/// A child process, stopped with SIGTERM (then SIGKILL) when dropped, even on a panic.
struct Process {
    name: &'static str,
    child: Child,
}

impl Process {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn stop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        // nginx's workers outlive a SIGKILLed master; SIGTERM lets it stop them.
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("{} did not stop on SIGTERM; killing it", self.name);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `redline` with this run's private home and keyring entries.
fn redline_command(home: &Path) -> Command {
    let mut command = Command::new(redline_binary());
    command
        .env("REDLINE_HOME", home)
        .env(
            "REDLINE_KEYRING_SERVICE",
            format!("redline-bench-{}", std::process::id()),
        )
        .env_remove("REDLINE_PROVIDER_HOSTS");
    command
}

/// Runs a `redline` command to its end with `stdin` as its input; its stdout, or why it failed.
fn redline_cli(home: &Path, args: &[&str], stdin: &str) -> Result<String, String> {
    use std::io::Write as _;
    let mut child = redline_command(home)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run redline {}: {e}", args.join(" ")))?;
    let mut input = child.stdin.take().expect("piped stdin");
    input
        .write_all(stdin.as_bytes())
        .map_err(|e| e.to_string())?;
    drop(input);
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "redline {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// `redline daemon` on a free loopback port, its config and keyring entries private to this
/// run, with the observe-only account on `observed` and the key-injection account (its key
/// stored with `redline keys add`) on `keyed`. Returns the process, its
/// `http://127.0.0.1:PORT` and the local token tools present.
fn start_redline(
    home: &Path,
    observed: SocketAddr,
    keyed: SocketAddr,
) -> Result<(Process, String, String), String> {
    let config = format!(
        "[accounts.{ACCOUNT}]\nprovider = \"openai\"\nbase_url = \"http://{observed}/v1\"\nconcurrency_cap = 0\n"
    );
    std::fs::write(home.join("config.toml"), config).map_err(|e| e.to_string())?;
    let base_url = format!("http://{keyed}/v1");
    redline_cli(
        home,
        &[
            "keys",
            "add",
            KEYED_ACCOUNT,
            "--provider",
            "openai",
            "--base-url",
            &base_url,
            "--no-verify",
        ],
        REAL_KEY,
    )?;
    let token = redline_cli(home, &["token"], "")?;
    if !token.starts_with("rl_") {
        return Err(format!("`redline token` printed no token: {token:?}"));
    }
    let binary = redline_binary();
    let mut child = redline_command(home)
        .args(["daemon", "--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
    let stderr = child.stderr.take().expect("piped stderr");
    let process = Process {
        name: "redline daemon",
        child,
    };
    // Its first line says where it listens; the rest is drained so it never blocks on a pipe.
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stderr).lines();
        let mut first = Vec::new();
        for line in lines.by_ref() {
            let Ok(line) = line else { break };
            let found = line.starts_with("Redline is listening on ");
            first.push(line);
            if found || first.len() > 20 {
                break;
            }
        }
        let _ = sender.send(first);
        for _ in lines {}
    });
    let lines = receiver
        .recv_timeout(Duration::from_secs(30))
        .map_err(|_| "redline daemon said nothing within 30 s".to_owned())?;
    let origin = lines
        .iter()
        .find_map(|line| line.strip_prefix("Redline is listening on "))
        .map(str::to_owned)
        .ok_or_else(|| {
            format!(
                "redline daemon did not start:\n  {}\n(it needs a Secret Service for its local token: run the benchmark through scripts/bench.sh)",
                lines.join("\n  ")
            )
        })?;
    Ok((process, origin, format!("Bearer {token}")))
}

/// Whether this process runs as root (then nginx's workers must be told to stay root to use
/// the private temp dir).
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|uids| uids.split_whitespace().nth(1).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

fn free_loopback_port() -> Result<u16, String> {
    let listener = StdListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}

/// nginx as the baseline: two workers (the daemon's runtime has a thread per core), no
/// buffering either way, keep-alive to the upstream and to the client, logs and pid in `dir`.
fn nginx_config(dir: &Path, port: u16, upstream: SocketAddr) -> String {
    let d = dir.display();
    let user = if is_root() { "user root;\n" } else { "" };
    format!(
        r#"# Generated by benches/proxy.rs for one run.
{user}worker_processes 2;
daemon off;
master_process on;
pid {d}/nginx.pid;
error_log {d}/error.log warn;

events {{
    worker_connections 1024;
}}

http {{
    access_log {d}/access.log combined buffer=64k flush=1s;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    keepalive_requests 1000000;
    keepalive_timeout 75s;

    upstream fake {{
        server {upstream};
        keepalive 64;
        keepalive_requests 1000000;
    }}

    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://fake;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
            proxy_request_buffering off;
        }}
    }}
}}
"#
    )
}

fn start_nginx(dir: &Path, upstream: SocketAddr) -> Result<(Process, String), String> {
    let port = free_loopback_port()?;
    let config = dir.join("nginx.conf");
    std::fs::write(&config, nginx_config(dir, port, upstream)).map_err(|e| e.to_string())?;
    let check = Command::new("nginx")
        .arg("-t")
        .arg("-q")
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(&config)
        .arg("-e")
        .arg(dir.join("error.log"))
        .output()
        .map_err(|e| {
            format!("cannot run nginx ({e}): install it (`apt-get install nginx`) or use scripts/bench.sh")
        })?;
    if !check.status.success() {
        return Err(format!(
            "nginx refused the generated config: {}",
            String::from_utf8_lossy(&check.stderr)
        ));
    }
    let child = Command::new("nginx")
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(&config)
        .arg("-e")
        .arg(dir.join("error.log"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start nginx: {e}"))?;
    Ok((
        Process {
            name: "nginx",
            child,
        },
        format!("http://127.0.0.1:{port}"),
    ))
}

// ---------------------------------------------------------------------------------------------
// Memory

/// `VmRSS` and `VmHWM` (peak) of a process, in kB as /proc gives them.
fn memory_kb(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// The children of `pid` (nginx's workers).
fn children(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|child| {
            std::fs::read_to_string(format!("/proc/{child}/stat"))
                .ok()
                .and_then(|stat| {
                    let after_name = stat.rsplit_once(')')?.1;
                    after_name.split_whitespace().nth(1)?.parse::<u32>().ok()
                })
                == Some(pid)
        })
        .collect()
}

/// What the threads of a process and its children have used so far, by thread name (numbers
/// as `*`, so both lanes are one line): CPU time in ns and how many times they were put on a
/// CPU (each a wake-up or a return after preemption), from `/proc/PID/task/TID/schedstat`,
/// whose CPU time has ns resolution, unlike the ticks of `/proc/PID/stat`.
type Sched = BTreeMap<String, Use>;

/// CPU time in ns and times put on a CPU.
#[derive(Clone, Copy, Debug, Default)]
struct Use {
    ns: u64,
    runs: u64,
}

fn sched_now(pid: Option<u32>) -> Sched {
    let mut sched = Sched::new();
    let Some(pid) = pid else {
        return sched;
    };
    let mut add_threads = |pid: u32| {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            return;
        };
        for task in tasks.filter_map(Result::ok) {
            let Ok(text) = std::fs::read_to_string(task.path().join("schedstat")) else {
                continue;
            };
            let mut fields = text.split_whitespace().map(|f| f.parse::<u64>().ok());
            let (Some(Some(ns)), Some(_waited), Some(Some(runs))) =
                (fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            let mut name = String::new();
            for c in comm.trim().chars() {
                if !c.is_ascii_digit() {
                    name.push(c);
                } else if !name.ends_with('*') {
                    name.push('*');
                }
            }
            let entry = sched.entry(name).or_default();
            entry.ns += ns;
            entry.runs += runs;
        }
    };
    add_threads(pid);
    for child in children(pid) {
        add_threads(child);
    }
    sched
}

/// CPU time and runs the proxy of a path used, by thread name, and the requests it served
/// meanwhile.
#[derive(Clone, Debug, Default)]
struct Cpu {
    by_thread: Sched,
    requests: u64,
}

impl Cpu {
    fn add(&mut self, pid: Option<u32>, before: &Sched, requests: u64) {
        if pid.is_none() {
            return;
        }
        for (name, now) in sched_now(pid) {
            let was = before.get(&name).copied().unwrap_or_default();
            let entry = self.by_thread.entry(name).or_default();
            entry.ns += now.ns.saturating_sub(was.ns);
            entry.runs += now.runs.saturating_sub(was.runs);
        }
        self.requests += requests;
    }

    fn total(&self) -> Use {
        self.by_thread
            .values()
            .fold(Use::default(), |sum, one| Use {
                ns: sum.ns + one.ns,
                runs: sum.runs + one.runs,
            })
    }

    fn micros_per_request(&self) -> Option<f64> {
        (self.requests > 0).then(|| self.total().ns as f64 / 1000.0 / self.requests as f64)
    }

    /// Times a thread was put on a CPU, per request.
    fn runs_per_request(&self) -> Option<f64> {
        (self.requests > 0).then(|| self.total().runs as f64 / self.requests as f64)
    }
}

/// RSS and peak of a process and its children together, in kB.
fn memory_tree_kb(pid: u32) -> Option<(u64, u64)> {
    let mut total = memory_kb(pid)?;
    for child in children(pid) {
        if let Some((rss, hwm)) = memory_kb(child) {
            total.0 += rss;
            total.1 += hwm;
        }
    }
    Some(total)
}

#[derive(Clone, Copy, Debug, Default)]
struct Memory {
    /// kB
    idle: u64,
    after_load: u64,
    peak: u64,
}

// ---------------------------------------------------------------------------------------------
// Clients

#[derive(Clone, Debug)]
struct Target {
    name: &'static str,
    chat: String,
    stream: String,
    /// The `Authorization` the client sends on this path.
    auth: String,
    /// The proxy's process, whose CPU time is counted (none for the direct path).
    pid: Option<u32>,
}

fn client(max_idle: usize) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .no_proxy()
        .http1_only()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(max_idle)
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| e.to_string())
}

/// One non-streamed chat completion, timed from before sending to the last byte read. Any
/// answer but the upstream's own (a proxy's error, say) is an error, never a fast sample.
async fn call(client: &reqwest::Client, url: &str, auth: &str) -> Result<Duration, String> {
    let start = Instant::now();
    let response = client
        .post(url)
        .header(header::AUTHORIZATION, auth)
        .header(header::CONTENT_TYPE, "application/json")
        .body(CHAT_REQUEST)
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    let status = response.status();
    let body = response.bytes().await.map_err(|e| format!("{url}: {e}"))?;
    let elapsed = start.elapsed();
    if status != StatusCode::OK || body.as_ref() != CHAT_RESPONSE.as_bytes() {
        let shown = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
        return Err(format!("{url}: {status}: {shown}"));
    }
    Ok(elapsed)
}

/// One stream's timings: time to the first complete SSE event, and the gaps between the
/// moments events completed.
struct StreamRun {
    first_event: Duration,
    gaps: Vec<Duration>,
}

async fn stream_call(
    client: &reqwest::Client,
    url: &str,
    auth: &str,
    expected_writes: usize,
) -> Result<StreamRun, String> {
    let start = Instant::now();
    let mut response = client
        .post(url)
        .header(header::AUTHORIZATION, auth)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "text/event-stream")
        .body(STREAM_REQUEST)
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    if response.status() != StatusCode::OK {
        return Err(format!("{url}: {}", response.status()));
    }
    let mut stamps = Vec::with_capacity(expected_writes);
    let mut events = 0;
    let mut after_newline = false;
    while let Some(chunk) = response.chunk().await.map_err(|e| format!("{url}: {e}"))? {
        let now = Instant::now();
        let mut completed = 0;
        for &byte in chunk.iter() {
            if byte == b'\n' {
                if after_newline {
                    completed += 1;
                }
                after_newline = !after_newline;
            } else {
                after_newline = false;
            }
        }
        if completed > 0 {
            stamps.push(now);
            events += completed;
        }
    }
    // The last write holds two events (the usage and `[DONE]`).
    if events != expected_writes + 1 {
        return Err(format!(
            "{url}: {events} SSE events, expected {}",
            expected_writes + 1
        ));
    }
    let first_event = stamps[0] - start;
    let gaps = stamps.windows(2).map(|w| w[1] - w[0]).collect();
    Ok(StreamRun { first_event, gaps })
}

/// `round` decides the order, so each path goes first, second and third as often.
fn rotated(targets: &[Target], round: usize) -> Vec<&Target> {
    (0..targets.len())
        .map(|i| &targets[(round + i) % targets.len()])
        .collect()
}

#[derive(Debug, Default)]
struct Latency {
    samples: Vec<Duration>,
    cpu: Cpu,
}

/// `requests` per path at concurrency 1, after `warmup` per path that are not counted.
async fn measure_latency(
    settings: &Settings,
    requests: usize,
    warmup: usize,
    clients: &[reqwest::Client],
    targets: &[Target],
) -> Result<Vec<Latency>, String> {
    let mut results: Vec<Latency> = targets.iter().map(|_| Latency::default()).collect();
    // Warm-up: connections opened, pools and caches filled, for every path.
    for (target, client) in targets.iter().zip(clients) {
        for _ in 0..warmup {
            call(client, &target.chat, &target.auth).await?;
        }
    }
    let rounds = requests.div_ceil(settings.latency_batch);
    for round in 0..rounds {
        let batch = settings
            .latency_batch
            .min(requests - round * settings.latency_batch);
        for target in rotated(targets, round) {
            let index = targets.iter().position(|t| t.name == target.name).unwrap();
            let before = sched_now(target.pid);
            for _ in 0..batch {
                let took = call(&clients[index], &target.chat, &target.auth).await?;
                results[index].samples.push(took);
            }
            results[index].cpu.add(target.pid, &before, batch as u64);
        }
    }
    Ok(results)
}

#[derive(Clone, Copy, Debug)]
struct ThroughputRound {
    per_second: f64,
    ok: u64,
    errors: u64,
}

/// `concurrency` workers, each sending one request after another until `duration` is over.
async fn throughput_round(
    client: &reqwest::Client,
    url: &str,
    auth: &str,
    concurrency: usize,
    duration: Duration,
) -> ThroughputRound {
    let start = Instant::now();
    let deadline = start + duration;
    let workers = (0..concurrency).map(|_| async move {
        let (mut ok, mut errors) = (0u64, 0u64);
        while Instant::now() < deadline && ok + errors < MAX_PER_WORKER {
            match call(client, url, auth).await {
                Ok(_) => ok += 1,
                Err(_) => errors += 1,
            }
        }
        (ok, errors)
    });
    let counts = futures_util::future::join_all(workers).await;
    let elapsed = start.elapsed().as_secs_f64();
    let ok: u64 = counts.iter().map(|c| c.0).sum();
    ThroughputRound {
        per_second: ok as f64 / elapsed,
        ok,
        errors: counts.iter().map(|c| c.1).sum(),
    }
}

async fn measure_throughput(
    settings: &Settings,
    clients: &[reqwest::Client],
    targets: &[Target],
) -> (Vec<Vec<ThroughputRound>>, Vec<Cpu>) {
    let mut results: Vec<Vec<ThroughputRound>> = targets.iter().map(|_| Vec::new()).collect();
    let mut cpu = vec![Cpu::default(); targets.len()];
    // Warm-up: every path gets its 32 connections open before anything counts.
    for (target, client) in targets.iter().zip(clients) {
        throughput_round(
            client,
            &target.chat,
            &target.auth,
            settings.concurrency,
            Duration::from_secs(1),
        )
        .await;
    }
    for round in 0..settings.throughput_rounds {
        for target in rotated(targets, round) {
            let index = targets.iter().position(|t| t.name == target.name).unwrap();
            let before = sched_now(target.pid);
            let result = throughput_round(
                &clients[index],
                &target.chat,
                &target.auth,
                settings.concurrency,
                settings.throughput_time,
            )
            .await;
            cpu[index].add(target.pid, &before, result.ok);
            eprintln!(
                "  throughput round {}/{} {:>8}: {:.0} req/s",
                round + 1,
                settings.throughput_rounds,
                target.name,
                result.per_second
            );
            results[index].push(result);
        }
    }
    (results, cpu)
}

async fn measure_streams(
    settings: &Settings,
    clients: &[reqwest::Client],
    targets: &[Target],
) -> Result<Vec<Vec<StreamRun>>, String> {
    let mut results: Vec<Vec<StreamRun>> = targets.iter().map(|_| Vec::new()).collect();
    for (target, client) in targets.iter().zip(clients) {
        stream_call(client, &target.stream, &target.auth, settings.stream_events).await?;
    }
    for round in 0..settings.streams {
        for target in rotated(targets, round) {
            let index = targets.iter().position(|t| t.name == target.name).unwrap();
            let run = stream_call(
                &clients[index],
                &target.stream,
                &target.auth,
                settings.stream_events,
            )
            .await?;
            results[index].push(run);
        }
    }
    Ok(results)
}

/// Polls `url` until it answers, for at most `limit`.
async fn wait_until_up(
    client: &reqwest::Client,
    target: &Target,
    limit: Duration,
) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    loop {
        match call(client, &target.chat, &target.auth).await {
            Ok(_) => return Ok(()),
            Err(error) if Instant::now() >= deadline => {
                return Err(format!("not answering after {limit:?}: {error}"));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Statistics and the report

fn median_f64(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// kB (KiB, as /proc counts) to MiB.
fn mib(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

fn signed_ms(value: f64) -> String {
    format!("{value:+.3} ms")
}

fn verdict(pass: bool) -> &'static str {
    if pass { "**pass**" } else { "**FAIL**" }
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// Everything measured, phase by phase.
struct Phases {
    latency: Vec<Latency>,
    latency_after_load: Vec<Latency>,
    throughput: Vec<Vec<ThroughputRound>>,
    throughput_cpu: Vec<Cpu>,
    streams: Vec<Vec<StreamRun>>,
    streams_after_load: Vec<Vec<StreamRun>>,
}

struct Report<'a> {
    settings: &'a Settings,
    targets: &'a [Target],
    latency: Vec<Latency>,
    latency_after_load: Vec<Latency>,
    throughput: Vec<Vec<ThroughputRound>>,
    throughput_cpu: Vec<Cpu>,
    streams: Vec<Vec<StreamRun>>,
    streams_after_load: Vec<Vec<StreamRun>>,
    redline_memory: Memory,
    nginx_memory: Memory,
    load_before: String,
    load_after: String,
    /// Connections each path's upstream port accepted over the whole run.
    upstream_connections: Vec<u64>,
    elapsed: Duration,
}

/// Indices of the four paths in every result vector.
const DIRECT: usize = 0;
const OBSERVE: usize = 1;
const KEYED: usize = 2;
const NGINX: usize = 3;
/// The two Redline paths, as the tables and the targets name them.
const REDLINE_PATHS: [(usize, &str); 2] = [(OBSERVE, "observe-only"), (KEYED, "key injection")];

fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 {
        format!("{:.2}×", a / b)
    } else {
        "n/a".into()
    }
}

/// A latency table; returns each path's added p50 and p99, in ms (zero for the direct path).
fn latency_table(
    out: &mut String,
    title: &str,
    latency: &mut [Latency],
    names: &[&str],
) -> Vec<(f64, f64)> {
    for l in latency.iter_mut() {
        l.samples.sort();
    }
    let p = |i: usize, q: f64| ms(percentile(&latency[i].samples, q));
    let added = |i: usize, q: f64| p(i, q) - p(DIRECT, q);
    let _ = writeln!(out, "## {title}\n");
    let _ = writeln!(
        out,
        "| path | p50 | p90 | p99 | added p50 | added p99 |\n| --- | ---: | ---: | ---: | ---: | ---: |"
    );
    for (i, name) in names.iter().enumerate() {
        let (a50, a99) = if i == DIRECT {
            ("—".to_owned(), "—".to_owned())
        } else {
            (signed_ms(added(i, 0.5)), signed_ms(added(i, 0.99)))
        };
        let _ = writeln!(
            out,
            "| {name} | {:.3} ms | {:.3} ms | {:.3} ms | {a50} | {a99} |",
            p(i, 0.5),
            p(i, 0.9),
            p(i, 0.99)
        );
    }
    let _ = writeln!(out);
    for (i, mode) in REDLINE_PATHS {
        let _ = writeln!(
            out,
            "Redline's added latency ({mode}) is {} nginx's at p50 and {} at p99.",
            ratio(added(i, 0.5), added(NGINX, 0.5)),
            ratio(added(i, 0.99), added(NGINX, 0.99))
        );
    }
    let _ = writeln!(out);
    (0..names.len())
        .map(|i| (added(i, 0.5), added(i, 0.99)))
        .collect()
}

/// Per thread (numbers in names as `*`), CPU time and times put on a CPU per request, for the
/// two proxies at one concurrency: where a proxy's wake-ups go.
fn runs_table(out: &mut String, title: &str, cpu: &[&Cpu], names: &[&str]) {
    let _ = writeln!(
        out,
        "Threads at {title}: CPU time and times put on a CPU (wake-ups) per request\n\n\
         | proxy | thread | CPU per request | runs per request |\n| --- | --- | ---: | ---: |"
    );
    for i in [OBSERVE, KEYED, NGINX] {
        let cpu = cpu[i];
        if cpu.requests == 0 {
            continue;
        }
        let per = cpu.requests as f64;
        for (thread, used) in &cpu.by_thread {
            if used.runs == 0 {
                continue;
            }
            let _ = writeln!(
                out,
                "| {} | {thread} | {:.1} µs | {:.2} |",
                names[i],
                used.ns as f64 / 1000.0 / per,
                used.runs as f64 / per
            );
        }
        let _ = writeln!(
            out,
            "| {} | all | {:.1} µs | {:.2} |",
            names[i],
            cpu.micros_per_request().unwrap_or(f64::NAN),
            cpu.runs_per_request().unwrap_or(f64::NAN)
        );
    }
    let _ = writeln!(out);
}

/// A streams table; returns each path's added time to first byte (p50), in ms.
fn streams_table(
    out: &mut String,
    title: &str,
    streams: &[Vec<StreamRun>],
    names: &[&str],
) -> Vec<f64> {
    let first: Vec<Vec<Duration>> = streams
        .iter()
        .map(|runs| {
            let mut v: Vec<Duration> = runs.iter().map(|r| r.first_event).collect();
            v.sort();
            v
        })
        .collect();
    let mean_gaps: Vec<f64> = streams
        .iter()
        .map(|runs| {
            let mut means: Vec<f64> = runs
                .iter()
                .map(|r| r.gaps.iter().map(|g| ms(*g)).sum::<f64>() / r.gaps.len().max(1) as f64)
                .collect();
            median_f64(&mut means)
        })
        .collect();
    let max_gaps: Vec<f64> = streams
        .iter()
        .map(|runs| {
            runs.iter()
                .flat_map(|r| r.gaps.iter().map(|g| ms(*g)))
                .fold(0.0, f64::max)
        })
        .collect();
    let ttfb = |i: usize, q: f64| ms(percentile(&first[i], q));
    let _ = writeln!(out, "## {title}\n");
    let _ = writeln!(
        out,
        "| path | first byte p50 | first byte max | added p50 | mean gap (median) | added gap | max gap |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for (i, name) in names.iter().enumerate() {
        let (added_first, added_gap) = if i == DIRECT {
            ("—".to_owned(), "—".to_owned())
        } else {
            (
                signed_ms(ttfb(i, 0.5) - ttfb(DIRECT, 0.5)),
                signed_ms(mean_gaps[i] - mean_gaps[DIRECT]),
            )
        };
        let _ = writeln!(
            out,
            "| {name} | {:.3} ms | {:.3} ms | {added_first} | {:.3} ms | {added_gap} | {:.3} ms |",
            ttfb(i, 0.5),
            ttfb(i, 1.0),
            mean_gaps[i],
            max_gaps[i]
        );
    }
    let added: Vec<f64> = (0..names.len())
        .map(|i| ttfb(i, 0.5) - ttfb(DIRECT, 0.5))
        .collect();
    let _ = writeln!(out);
    for (i, mode) in REDLINE_PATHS {
        let _ = writeln!(
            out,
            "Redline's added time to first byte ({mode}) is {} nginx's.",
            ratio(added[i], added[NGINX])
        );
    }
    let _ = writeln!(out);
    added
}

fn render(report: &mut Report) -> String {
    let s = report.settings;
    let names: Vec<&str> = report.targets.iter().map(|t| t.name).collect();
    let mut out = String::new();
    let now = jiff::Timestamp::now().strftime("%Y-%m-%d %H:%M UTC");
    let commit = command_line(
        "git",
        &[
            "-C",
            env!("CARGO_MANIFEST_DIR"),
            "log",
            "-1",
            "--format=%h %s",
        ],
    );
    let dirty = !command_line(
        "git",
        &["-C", env!("CARGO_MANIFEST_DIR"), "status", "--porcelain"],
    )
    .eq("unknown");
    let _ = writeln!(out, "# Proxy benchmark results\n");
    let _ = writeln!(
        out,
        "Written by `cargo bench --bench proxy` (scripts/bench.sh); overwritten by each run.\n"
    );
    let _ = writeln!(out, "| fact | value |\n| --- | --- |");
    let _ = writeln!(out, "| date | {now} |");
    let _ = writeln!(
        out,
        "| commit | {commit}{} |",
        if dirty { " (with local changes)" } else { "" }
    );
    let _ = writeln!(
        out,
        "| machine | {} cores (nproc), {}, Linux {} |",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model(),
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
    );
    let _ = writeln!(
        out,
        "| daemon | `{}`{} |",
        redline_binary().display(),
        if std::env::var_os("REDLINE_BENCH_BIN").is_some() {
            " (a plain `cargo build --release`, via REDLINE_BENCH_BIN)"
        } else {
            " (built by `cargo bench`)"
        }
    );
    let _ = writeln!(out, "| rustc | {} |", command_line("rustc", &["--version"]));
    let _ = writeln!(
        out,
        "| nginx | {} (2 worker processes) |",
        command_line("nginx", &["-v"])
    );
    let _ = writeln!(
        out,
        "| load average (1/5/15 min) | before: {}; after: {} |",
        report.load_before, report.load_after
    );
    let _ = writeln!(
        out,
        "| run | {:.0} s; {} requests per path at concurrency 1; {} rounds of {} s per path at concurrency {}; {} streams per path of {} writes {} ms apart |\n",
        report.elapsed.as_secs_f64(),
        s.latency_requests,
        s.throughput_rounds,
        s.throughput_time.as_secs(),
        s.concurrency,
        s.streams,
        s.stream_events,
        s.stream_gap.as_millis()
    );

    // Latency
    let added_latency = latency_table(
        &mut out,
        &format!(
            "Latency at concurrency 1 (non-streamed chat completion, {} requests per path after {} warm-up, interleaved)",
            s.latency_requests, s.warmup
        ),
        &mut report.latency,
        &names,
    );
    let added_latency_after_load = latency_table(
        &mut out,
        &format!(
            "Latency at concurrency 1, right after the throughput load ({} requests per path, interleaved)",
            s.latency_after_load
        ),
        &mut report.latency_after_load,
        &names,
    );

    // Throughput
    let medians: Vec<f64> = report
        .throughput
        .iter()
        .map(|rounds| median_f64(&mut rounds.iter().map(|r| r.per_second).collect::<Vec<_>>()))
        .collect();
    let _ = writeln!(
        out,
        "## Throughput at concurrency {} ({} s per round, paths alternating, median of {} rounds)\n",
        s.concurrency,
        s.throughput_time.as_secs(),
        s.throughput_rounds
    );
    let _ = writeln!(
        out,
        "| path | median req/s | rounds (req/s) | vs direct | errors |\n| --- | ---: | --- | ---: | ---: |"
    );
    for (i, name) in names.iter().enumerate() {
        let rounds: Vec<String> = report.throughput[i]
            .iter()
            .map(|r| format!("{:.0}", r.per_second))
            .collect();
        let errors: u64 = report.throughput[i].iter().map(|r| r.errors).sum();
        let _ = writeln!(
            out,
            "| {name} | {:.0} | {} | {:.2} | {errors} |",
            medians[i],
            rounds.join(", "),
            medians[i] / medians[DIRECT]
        );
    }
    let _ = writeln!(out);
    for (i, mode) in REDLINE_PATHS {
        let _ = writeln!(
            out,
            "Redline ({mode}) / nginx throughput: {:.2}.",
            medians[i] / medians[NGINX]
        );
    }
    let _ = writeln!(out);

    // Streams
    let stream_shape = format!(
        "{} SSE streams per path, interleaved; {} writes {} ms apart, the first at once",
        s.streams,
        s.stream_events,
        s.stream_gap.as_millis()
    );
    let added_first = streams_table(
        &mut out,
        &format!("Streams, before the throughput load ({stream_shape})"),
        &report.streams,
        &names,
    );
    let added_first_after_load = streams_table(
        &mut out,
        &format!("Streams, right after the throughput load ({stream_shape})"),
        &report.streams_after_load,
        &names,
    );

    // CPU
    let _ = writeln!(
        out,
        "## CPU time of the proxy process per request (from /proc/PID/task/*/schedstat)\n"
    );
    let _ = writeln!(
        out,
        "| proxy | concurrency 1 | concurrency {} | concurrency 1, right after the load |\n| --- | ---: | ---: | ---: |",
        s.concurrency
    );
    let micros = |cpu: &Cpu| {
        cpu.micros_per_request()
            .map_or("n/a".to_owned(), |v| format!("{v:.1} µs"))
    };
    for i in [OBSERVE, KEYED, NGINX] {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            names[i],
            micros(&report.latency[i].cpu),
            micros(&report.throughput_cpu[i]),
            micros(&report.latency_after_load[i].cpu)
        );
    }
    let _ = writeln!(
        out,
        "\nLess sensitive to noise than wall-clock times: it counts the proxy's own work, not the \
         time it waited for a core.\n"
    );
    let at_one: Vec<&Cpu> = report.latency.iter().map(|latency| &latency.cpu).collect();
    runs_table(&mut out, "concurrency 1", &at_one, &names);
    let under_load: Vec<&Cpu> = report.throughput_cpu.iter().collect();
    runs_table(
        &mut out,
        &format!("concurrency {}", s.concurrency),
        &under_load,
        &names,
    );

    // Memory
    let _ = writeln!(
        out,
        "## Memory (RSS from /proc/PID/status; MiB = 2^20 bytes)\n"
    );
    let _ = writeln!(
        out,
        "| process | idle after start | right after the throughput load | peak (VmHWM) |\n| --- | ---: | ---: | ---: |"
    );
    for (name, m) in [
        ("redline daemon (both paths)", report.redline_memory),
        ("nginx (master + 2 workers)", report.nginx_memory),
    ] {
        let _ = writeln!(
            out,
            "| {name} | {:.1} MiB | {:.1} MiB | {:.1} MiB |",
            mib(m.idle),
            mib(m.after_load),
            mib(m.peak)
        );
    }
    let _ = writeln!(
        out,
        "\nConnections the upstream accepted over the whole run (keep-alive check; the client keeps up to {} per path): {}.\n",
        2 * s.concurrency,
        names
            .iter()
            .zip(&report.upstream_connections)
            .map(|(name, n)| format!("{name} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );

    // Targets
    let _ = writeln!(out, "## Targets (issue 19)\n");
    let _ = writeln!(
        out,
        "| target | path | measured | right after the load | result |\n| --- | --- | ---: | ---: | --- |"
    );
    let pass_both = |fresh: bool, after: bool| match (fresh, after) {
        (true, true) => "**pass**",
        (true, false) => "pass before the load, **FAIL** right after it",
        (false, true) => "**FAIL** before the load, pass right after it",
        (false, false) => "**FAIL**",
    };
    for (i, mode) in REDLINE_PATHS {
        let over = |added: &[(f64, f64)]| added[i].0 - added[NGINX].0;
        let (fresh, after) = (over(&added_latency), over(&added_latency_after_load));
        let _ = writeln!(
            out,
            "| added p50 at concurrency 1 ≤ nginx's + {TARGET_ADDED_P50_OVER_NGINX_MS} ms | {mode} | nginx's {} | nginx's {} | {} |",
            signed_ms(fresh),
            signed_ms(after),
            pass_both(
                fresh <= TARGET_ADDED_P50_OVER_NGINX_MS,
                after <= TARGET_ADDED_P50_OVER_NGINX_MS
            )
        );
    }
    for (i, mode) in REDLINE_PATHS {
        let (fresh, after) = (added_first[i], added_first_after_load[i]);
        let _ = writeln!(
            out,
            "| added time to first byte (p50) ≤ {TARGET_ADDED_TTFB_MS} ms | {mode} | {} | {} | {} |",
            signed_ms(fresh),
            signed_ms(after),
            pass_both(fresh <= TARGET_ADDED_TTFB_MS, after <= TARGET_ADDED_TTFB_MS)
        );
    }
    for (i, mode) in REDLINE_PATHS {
        let throughput_ratio = medians[i] / medians[NGINX];
        let _ = writeln!(
            out,
            "| throughput at concurrency {} ≥ {TARGET_THROUGHPUT_RATIO} × nginx | {mode} | {throughput_ratio:.2} × | — | {} |",
            s.concurrency,
            verdict(throughput_ratio >= TARGET_THROUGHPUT_RATIO)
        );
    }
    for (i, mode) in REDLINE_PATHS {
        let cpu_ratio = |own: &Cpu, nginx: &Cpu| {
            own.micros_per_request()
                .zip(nginx.micros_per_request())
                .map_or(f64::NAN, |(a, b)| a / b)
        };
        let c1 = cpu_ratio(&report.latency[i].cpu, &report.latency[NGINX].cpu);
        let c32 = cpu_ratio(&report.throughput_cpu[i], &report.throughput_cpu[NGINX]);
        let _ = writeln!(
            out,
            "| CPU per request ≤ {TARGET_CPU_RATIO} × nginx's | {mode} | {c1:.2} × at concurrency 1 | {c32:.2} × at concurrency {} | {} |",
            s.concurrency,
            match (c1 <= TARGET_CPU_RATIO, c32 <= TARGET_CPU_RATIO) {
                (true, true) => "**pass**",
                (false, true) => "**FAIL** at concurrency 1",
                (true, false) => "**FAIL** under load",
                (false, false) => "**FAIL**",
            }
        );
    }
    let idle = mib(report.redline_memory.idle);
    let loaded = mib(report.redline_memory.after_load);
    let _ = writeln!(
        out,
        "| idle RSS of the daemon ≤ {TARGET_IDLE_RSS_MIB} MiB | both | {idle:.1} MiB | — | {} |",
        verdict(idle <= TARGET_IDLE_RSS_MIB)
    );
    let _ = writeln!(
        out,
        "| RSS right after the load ≤ {TARGET_LOADED_RSS_MIB} MiB | both | — | {loaded:.1} MiB | {} |",
        verdict(loaded <= TARGET_LOADED_RSS_MIB)
    );
    out
}

// ---------------------------------------------------------------------------------------------

fn run() -> Result<(), String> {
    let started = Instant::now();
    let settings = Settings::from_env();
    let load_before = load_average();
    let temp = tempfile::Builder::new()
        .prefix("redline-bench-")
        .tempdir()
        .map_err(|e| e.to_string())?;
    let home = temp.path().join("home");
    let nginx_dir = temp.path().join("nginx");
    for dir in [&home, &nginx_dir] {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    // nginx's workers may run as another user than the one that made the temp dir.
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&nginx_dir, std::fs::Permissions::from_mode(0o755));
    }

    // The same upstream on four ports, one per path (indices DIRECT, OBSERVE, KEYED, NGINX).
    let upstream = start_upstream(&settings, 4)?;
    eprintln!(
        "upstream on {}",
        upstream
            .iter()
            .map(|p| format!("http://{}", p.addr))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let (mut redline, redline_origin, local_token) =
        start_redline(&home, upstream[OBSERVE].addr, upstream[KEYED].addr)?;
    eprintln!("redline daemon (pid {}) on {redline_origin}", redline.pid());
    let (mut nginx, nginx_origin) = start_nginx(&nginx_dir, upstream[NGINX].addr)?;
    eprintln!("nginx (pid {}) on {nginx_origin}", nginx.pid());

    let direct_origin = format!("http://{}", upstream[DIRECT].addr);
    let targets = vec![
        Target {
            name: "direct",
            chat: format!("{direct_origin}/v1/chat/completions"),
            stream: format!("{direct_origin}/v1/stream"),
            auth: CLIENT_KEY.to_owned(),
            pid: None,
        },
        Target {
            name: "Redline, observe-only",
            chat: format!("{redline_origin}/{ACCOUNT}/v1/chat/completions"),
            stream: format!("{redline_origin}/{ACCOUNT}/v1/stream"),
            auth: CLIENT_KEY.to_owned(),
            pid: Some(redline.pid()),
        },
        Target {
            name: "Redline, key injection",
            chat: format!("{redline_origin}/{KEYED_ACCOUNT}/v1/chat/completions"),
            stream: format!("{redline_origin}/{KEYED_ACCOUNT}/v1/stream"),
            auth: local_token,
            pid: Some(redline.pid()),
        },
        Target {
            name: "nginx",
            chat: format!("{nginx_origin}/v1/chat/completions"),
            stream: format!("{nginx_origin}/v1/stream"),
            auth: CLIENT_KEY.to_owned(),
            pid: Some(nginx.pid()),
        },
    ];
    for url in targets.iter().flat_map(|t| [&t.chat, &t.stream]) {
        let host = url::Url::parse(url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_default();
        assert_eq!(host, "127.0.0.1", "only loopback is load-tested: {url}");
    }

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let mut redline_memory = Memory::default();
    let mut nginx_memory = Memory::default();
    let phases = runtime.block_on(async {
        let clients: Vec<reqwest::Client> = targets
            .iter()
            .map(|_| client(2 * settings.concurrency))
            .collect::<Result<_, _>>()?;
        for (target, client) in targets.iter().zip(&clients) {
            wait_until_up(client, target, Duration::from_secs(15))
                .await
                .map_err(|e| format!("{}: {e}", target.name))?;
        }

        // Idle: started, answered one request each, then left alone for a moment.
        tokio::time::sleep(Duration::from_secs(2)).await;
        redline_memory.idle = memory_kb(redline.pid()).ok_or("no /proc status")?.0;
        nginx_memory.idle = memory_tree_kb(nginx.pid()).ok_or("no /proc status")?.0;

        eprintln!("latency at concurrency 1...");
        let latency = measure_latency(
            &settings,
            settings.latency_requests,
            settings.warmup,
            &clients,
            &targets,
        )
        .await?;
        eprintln!("streams...");
        let streams = measure_streams(&settings, &clients, &targets).await?;
        eprintln!("throughput at concurrency {}...", settings.concurrency);
        let (throughput, throughput_cpu) = measure_throughput(&settings, &clients, &targets).await;
        redline_memory.after_load = memory_kb(redline.pid()).ok_or("no /proc status")?.0;
        nginx_memory.after_load = memory_tree_kb(nginx.pid()).ok_or("no /proc status")?.0;
        // The same again while the load is recent: what a proxy remembers of it may cost.
        eprintln!("latency and streams again, right after the load...");
        let latency_after_load = measure_latency(
            &settings,
            settings.latency_after_load,
            0,
            &clients,
            &targets,
        )
        .await?;
        let streams_after_load = measure_streams(&settings, &clients, &targets).await?;
        redline_memory.peak = memory_kb(redline.pid()).ok_or("no /proc status")?.1;
        nginx_memory.peak = memory_tree_kb(nginx.pid()).ok_or("no /proc status")?.1;
        Ok::<_, String>(Phases {
            latency,
            latency_after_load,
            throughput,
            throughput_cpu,
            streams,
            streams_after_load,
        })
    })?;
    redline.stop();
    nginx.stop();

    let mut report = Report {
        settings: &settings,
        targets: &targets,
        latency: phases.latency,
        latency_after_load: phases.latency_after_load,
        throughput: phases.throughput,
        throughput_cpu: phases.throughput_cpu,
        streams: phases.streams,
        streams_after_load: phases.streams_after_load,
        redline_memory,
        nginx_memory,
        load_before,
        load_after: load_average(),
        upstream_connections: upstream
            .iter()
            .map(|p| p.connections.load(Ordering::Relaxed))
            .collect(),
        elapsed: started.elapsed(),
    };
    let markdown = render(&mut report);
    println!("\n{markdown}");
    let path = std::env::var_os("REDLINE_BENCH_RESULTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/results.md"));
    std::fs::write(&path, &markdown).map_err(|e| format!("{}: {e}", path.display()))?;
    eprintln!("written to {}", path.display());
    Ok(())
}
