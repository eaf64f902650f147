//! What the concurrency cap shared through Redis (`shared.redis_url`) adds per request, side by
//! side with the same cap kept by one machine alone, and how many Redis round trips a request
//! costs.
//!
//! - A fake upstream in this process (axum, single-threaded runtime): a non-streamed chat
//!   completion, as in `proxy.rs`.
//! - Two real `redline daemon` processes, each with its own home and keyring service and the
//!   same stored key on an account with a concurrency cap of 8: "local cap" without
//!   `shared.redis_url`, "shared cap" with it, on a `redis-server` (Debian's) this benchmark
//!   starts on a free loopback port. The client sends Redline's local token, so the proxy swaps
//!   in the stored key and the cap (and the lease) apply as for a real tool.
//! - Latency at concurrency 1: warm-up, then requests in rounds of 100, the two paths
//!   alternating, their order swapped every round; p50/p90/p99 per path, added = shared minus
//!   local.
//! - Round trips: the server's `INFO commandstats` before and after the measured requests;
//!   `EVALSHA` calls are the client's round trips (the scripts' own commands are counted apart
//!   and not network round trips). The heartbeat (every 2 s) is included.
//!
//! Heavy only under `cargo bench` (which passes `--bench`): `cargo test --all-targets` runs this
//! binary too, and then it prints one line and exits.

use axum::Router;
use axum::body::Bytes;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::post;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener as StdListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

mod common;
use common::{command_line, load_average, ms, percentile, redline_binary};

const CHAT_RESPONSE: &str = r#"{"id":"chatcmpl-bench0000000000000000000001","object":"chat.completion","created":1767225600,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"message":{"role":"assistant","content":"A short answer of the size a chat completion usually has: a sentence or two.","refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":42,"completion_tokens":18,"total_tokens":60},"system_fingerprint":"fp_bench0001"}"#;
const CHAT_REQUEST: &str =
    r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say something short."}]}"#;
const KEY: &str = "sk-bench-shared-cap-0000000000000000000000";
const ACCOUNT: &str = "bench";
const CAP: &str = "8";
const TARGET_ADDED_P99_MS: f64 = 1.0;
const MAX_REQUESTS: usize = 100_000;
const BATCH: usize = 100;
const WARMUP: usize = 300;
const LOCAL: usize = 0;
const SHARED: usize = 1;
const NAMES: [&str; 2] = ["local cap", "shared cap (loopback Redis)"];

fn main() {
    if !std::env::args().any(|arg| arg == "--bench") {
        println!(
            "shared-cap benchmark: run with `cargo bench --bench shared` (see benches/README.md)"
        );
        return;
    }
    if let Err(error) = run() {
        eprintln!("shared-cap benchmark failed: {error}");
        std::process::exit(1);
    }
}

/// A child process, killed when dropped, even on a panic.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> Result<u16, String> {
    let listener = StdListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}

fn start_redis(port: u16) -> Result<Process, String> {
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start redis-server ({e}): apt install redis-server"))?;
    let process = Process(child);
    let deadline = Instant::now() + Duration::from_secs(15);
    while redis_info(port, "server").is_err() {
        if Instant::now() > deadline {
            return Err("redis-server did not answer within 15 s".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(process)
}

/// `INFO section` as text.
fn redis_info(port: u16, section: &str) -> Result<String, String> {
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    tcp.write_all(format!("INFO {section}\r\n").as_bytes())
        .map_err(|e| e.to_string())?;
    let mut reader = BufReader::new(tcp);
    let mut head = String::new();
    reader.read_line(&mut head).map_err(|e| e.to_string())?;
    let len: usize = head
        .trim()
        .strip_prefix('$')
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("unexpected INFO reply {head:?}"))?;
    let mut body = vec![0; len];
    reader.read_exact(&mut body).map_err(|e| e.to_string())?;
    String::from_utf8(body).map_err(|e| e.to_string())
}

/// Calls per command (lower-case name) from `INFO commandstats`.
fn command_calls(port: u16) -> Result<Vec<(String, u64)>, String> {
    let info = redis_info(port, "commandstats")?;
    Ok(info
        .lines()
        .filter_map(|line| {
            let (name, stats) = line.strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = stats
                .split(',')
                .find_map(|kv| kv.strip_prefix("calls="))?
                .parse()
                .ok()?;
            Some((name.to_owned(), calls))
        })
        .collect())
}

fn calls_of(stats: &[(String, u64)], name: &str) -> u64 {
    stats.iter().find(|(n, _)| n == name).map_or(0, |(_, c)| *c)
}

fn start_upstream() -> Result<SocketAddr, String> {
    let listener = StdListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("the upstream's runtime builds");
        runtime.block_on(async move {
            let app = Router::new().route(
                "/v1/chat/completions",
                post(|_: Bytes| async {
                    ([(header::CONTENT_TYPE, "application/json")], CHAT_RESPONSE).into_response()
                }),
            );
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            axum::serve(listener, app)
                .await
                .expect("the upstream serves");
        });
    });
    Ok(addr)
}

/// `redline ARGS` in `home` with `stdin`, its stdout; an error if it fails.
fn redline(home: &Path, service: &str, args: &[&str], stdin: &str) -> Result<String, String> {
    let mut child = Command::new(redline_binary())
        .args(args)
        .env("REDLINE_HOME", home)
        .env("REDLINE_KEYRING_SERVICE", service)
        .env_remove("REDLINE_PROVIDER_HOSTS")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(stdin.as_bytes())
        .map_err(|e| e.to_string())?;
    let output = child.wait_with_output().map_err(|e| e.to_string())?;
    if !output.status.success() {
        return Err(format!(
            "redline {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// A daemon with the key stored under the capped account; returns it, its proxy URL for the
/// account's chat completions, and the local token.
fn start_daemon(
    home: &Path,
    upstream: SocketAddr,
    redis_url: Option<&str>,
) -> Result<(Process, String, String), String> {
    std::fs::create_dir_all(home).map_err(|e| e.to_string())?;
    let service = format!(
        "redline-bench-shared-{}-{}",
        std::process::id(),
        home.file_name().unwrap_or_default().to_string_lossy()
    );
    let base = format!("http://{upstream}/v1");
    redline(
        home,
        &service,
        &[
            "keys",
            "add",
            ACCOUNT,
            "--provider",
            "openai",
            "--base-url",
            &base,
            "--no-verify",
        ],
        KEY,
    )?;
    let cap = format!("accounts.{ACCOUNT}.concurrency_cap");
    redline(home, &service, &["config", "set", &cap, CAP], "")?;
    if let Some(url) = redis_url {
        redline(
            home,
            &service,
            &["config", "set", "shared.redis_url", url],
            "",
        )?;
    }
    let token = redline(home, &service, &["token"], "")?.trim().to_owned();
    let mut child = Command::new(redline_binary())
        .args(["daemon", "--listen", "127.0.0.1:0"])
        .env("REDLINE_HOME", home)
        .env("REDLINE_KEYRING_SERVICE", &service)
        .env("REDLINE_MACHINE", "bench")
        .env_remove("REDLINE_PROVIDER_HOSTS")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let (sender, lines) = mpsc::channel();
    for pipe in [
        Box::new(child.stdout.take().expect("piped")) as Box<dyn Read + Send>,
        Box::new(child.stderr.take().expect("piped")),
    ] {
        let sender = sender.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                let _ = sender.send(line);
            }
        });
    }
    let process = Process(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    let (mut origin, mut connected) = (None, redis_url.is_none());
    let mut seen = Vec::new();
    while origin.is_none() || !connected {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = lines.recv_timeout(left).map_err(|_| {
            format!(
                "the daemon did not start (and connect) within 30 s:\n  {}",
                seen.join("\n  ")
            )
        })?;
        if let Some(url) = line.strip_prefix("Redline is listening on ") {
            origin = Some(url.trim().to_owned());
        }
        connected |= line.starts_with("redline: shared limits: connected");
        seen.push(line);
    }
    // The rest is drained so the daemon never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    let url = format!(
        "{}/{ACCOUNT}/v1/chat/completions",
        origin.unwrap_or_default()
    );
    Ok((process, url, token))
}

async fn call(client: &reqwest::Client, url: &str, token: &str) -> Result<Duration, String> {
    let start = Instant::now();
    let response = client
        .post(url)
        .bearer_auth(token)
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

fn run() -> Result<(), String> {
    let started = Instant::now();
    let requests = std::env::var("REDLINE_BENCH_REQUESTS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(3000)
        .clamp(BATCH, MAX_REQUESTS);
    let load_before = load_average();
    let temp = tempfile::Builder::new()
        .prefix("redline-bench-shared-")
        .tempdir()
        .map_err(|e| e.to_string())?;
    let redis_port = free_port()?;
    let _redis = start_redis(redis_port)?;
    let redis_url = format!("redis://127.0.0.1:{redis_port}");
    let upstream = start_upstream()?;
    let (_local, local_url, local_token) =
        start_daemon(&temp.path().join("local"), upstream, None)?;
    let (_shared, shared_url, shared_token) =
        start_daemon(&temp.path().join("shared"), upstream, Some(&redis_url))?;
    for url in [&local_url, &shared_url, &redis_url] {
        assert!(
            url.contains("://127.0.0.1:"),
            "only loopback is load-tested: {url}"
        );
    }
    let paths = [(&local_url, &local_token), (&shared_url, &shared_token)];
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let (mut samples, evalsha) = runtime.block_on(async {
        let client = reqwest::Client::builder()
            .no_proxy()
            .http1_only()
            .tcp_nodelay(true)
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| e.to_string())?;
        for _ in 0..WARMUP {
            for (url, token) in paths {
                call(&client, url, token).await?;
            }
        }
        let before = command_calls(redis_port)?;
        let mut samples = [Vec::new(), Vec::new()];
        for round in 0..requests.div_ceil(BATCH) {
            let order = if round % 2 == 0 {
                [LOCAL, SHARED]
            } else {
                [SHARED, LOCAL]
            };
            for path in order {
                let (url, token) = paths[path];
                for _ in 0..BATCH {
                    samples[path].push(call(&client, url, token).await?);
                }
            }
        }
        let after = command_calls(redis_port)?;
        let evalsha = calls_of(&after, "evalsha") - calls_of(&before, "evalsha");
        Ok::<_, String>((samples, evalsha))
    })?;
    let measured = samples[SHARED].len() as f64;

    let mut out = String::new();
    let _ = writeln!(out, "# Shared-cap benchmark results\n");
    let _ = writeln!(
        out,
        "Written by `cargo bench --bench shared`; overwritten by each run.\n"
    );
    let _ = writeln!(out, "| fact | value |\n| --- | --- |");
    let _ = writeln!(
        out,
        "| date | {} |",
        jiff::Timestamp::now().strftime("%Y-%m-%d %H:%M UTC")
    );
    let _ = writeln!(
        out,
        "| commit | {} |",
        command_line(
            "git",
            &[
                "-C",
                env!("CARGO_MANIFEST_DIR"),
                "log",
                "-1",
                "--format=%h %s"
            ]
        )
    );
    let _ = writeln!(
        out,
        "| machine | {} cores (nproc) |",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let _ = writeln!(out, "| daemon | `{}` |", redline_binary().display());
    let _ = writeln!(
        out,
        "| redis | {} |",
        command_line("redis-server", &["--version"])
    );
    let _ = writeln!(
        out,
        "| load average (1/5/15 min) | before: {load_before}; after: {} |",
        load_average()
    );
    let _ = writeln!(
        out,
        "| run | {:.0} s; {requests} requests per path at concurrency 1 after {WARMUP} warm-up, rounds of {BATCH}, paths alternating; cap {CAP} |\n",
        started.elapsed().as_secs_f64()
    );
    let _ = writeln!(
        out,
        "| path | p50 | p90 | p99 | added p50 | added p99 |\n| --- | ---: | ---: | ---: | ---: | ---: |"
    );
    let mut figures = [[0.0; 3]; 2];
    for (path, samples) in samples.iter_mut().enumerate() {
        samples.sort();
        for (slot, p) in figures[path].iter_mut().zip([0.5, 0.9, 0.99]) {
            *slot = ms(percentile(samples, p));
        }
    }
    for (path, name) in NAMES.iter().enumerate() {
        let [p50, p90, p99] = figures[path];
        let added = |i: usize| {
            if path == LOCAL {
                "—".to_owned()
            } else {
                format!("{:+.3} ms", figures[path][i] - figures[LOCAL][i])
            }
        };
        let _ = writeln!(
            out,
            "| {name} | {p50:.3} ms | {p90:.3} ms | {p99:.3} ms | {} | {} |",
            added(0),
            added(2)
        );
    }
    let added_p99 = figures[SHARED][2] - figures[LOCAL][2];
    let _ = writeln!(
        out,
        "\nRedis round trips per request (EVALSHA calls in `INFO commandstats` over the measured \
         requests, heartbeats included): {:.2}.\n",
        evalsha as f64 / measured
    );
    let _ = writeln!(
        out,
        "Target: added p99 < {TARGET_ADDED_P99_MS} ms: {:+.3} ms, {}.",
        added_p99,
        if added_p99 < TARGET_ADDED_P99_MS {
            "**pass**"
        } else {
            "**FAIL**"
        }
    );
    println!("\n{out}");
    let path = std::env::var_os("REDLINE_BENCH_RESULTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/results-shared.md"));
    std::fs::write(&path, &out).map_err(|e| format!("{}: {e}", path.display()))?;
    eprintln!("written to {}", path.display());
    Ok(())
}
