//! The soak test (benches/README.md, "soak"): mixed traffic through the real release daemon
//! for a long time, to see that nothing grows and nothing is lost.
//!
//! - The provider is a fake Kimi Code in this process (src/fakes): its chat answers stream 20
//!   chunks 30 ms apart, and it can be told to refuse the next N requests with 429.
//! - Redline is the real `redline daemon` binary (release), a child process with a temporary
//!   `REDLINE_HOME`, its key in a private Secret Service (benches/soak.sh starts one), the
//!   history on.
//! - Workers send, until the end: plain chat completions, streamed ones read to their end, and
//!   streamed ones the client hangs up on after the first chunk. Meanwhile a controller brings
//!   429 storms (the next 40 requests refused), settings changes (`config set`: the queue's
//!   wait, the concurrency cap on and off, thresholds) and key rotations (`keys rotate`), each
//!   through the real CLI as a user would.
//! - Every 10 s the daemon's RSS, open descriptors and threads (from /proc) and the traffic so
//!   far go to a CSV file.
//!
//! At the end: RSS, descriptors and threads first against last (flat is the bar); answers lost
//! (a transport error, a timeout, a stream that ended before its end event, or an error of
//! Redline's own other than its queue: 0 is the bar); the history's request rows against the
//! requests the provider answered or the client hung up on, and against Redline's own count
//! (`redline_requests_total`): equal is the bar. The exit status is 1 when a bar is missed.
//!
//! Knobs (environment): SOAK_SECONDS (1800), SOAK_SAMPLE_SECONDS (10), SOAK_WORKERS (8),
//! SOAK_CSV (target/soak/soak.csv), REDLINE_BIN (target/release/redline).
//!
//! Heavy only under `cargo bench` (which passes `--bench`); `cargo test --all-targets` runs
//! this binary too, and then it prints one line and exits.

use redline::fakes::{FakeProvider, completions_path};
use redline::providers::ProviderId;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const ACCOUNT: &str = "soak";
/// How long one request may take before it counts as lost.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What the workers saw.
#[derive(Default)]
struct Tally {
    sent: AtomicU64,
    /// Answered by the provider (any status), through Redline.
    answered: AtomicU64,
    /// The provider's 429s among them.
    refused_429: AtomicU64,
    /// Streams the client hung up on after their first chunk.
    cancelled: AtomicU64,
    /// Redline's own queue refusals (429 with `x-redline: error`): counted as throttles.
    queue_refused: AtomicU64,
    lost: AtomicU64,
}

impl Tally {
    fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// The daemon under test, killed if the run ends early.
struct Daemon {
    child: Child,
    origin: String,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `redline ARGS` in the soak's home, with `stdin`; its standard output, or why it failed.
fn redline(
    bin: &Path,
    home: &Path,
    service: &str,
    args: &[&str],
    stdin: Option<&str>,
) -> Result<String, String> {
    let mut child = Command::new(bin)
        .args(args)
        .env("REDLINE_HOME", home)
        .env("REDLINE_KEYRING_SERVICE", service)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{}: {e}", bin.display()))?;
    let mut input = child.stdin.take().expect("piped");
    input
        .write_all(stdin.unwrap_or_default().as_bytes())
        .map_err(|e| e.to_string())?;
    drop(input);
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(format!(
            "redline {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn start_daemon(bin: &Path, home: &Path, service: &str) -> Daemon {
    let mut child = Command::new(bin)
        .args(["daemon", "--listen", "127.0.0.1:0"])
        .env("REDLINE_HOME", home)
        .env("REDLINE_KEYRING_SERVICE", service)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the redline binary runs");
    let stderr = child.stderr.take().expect("piped");
    let (sent, origin) = std::sync::mpsc::channel();
    // Reads the banner for the address, then keeps draining (and echoing the daemon's notes
    // to a log file) so it never blocks on a full pipe.
    let log = home.join("daemon.log");
    std::thread::spawn(move || {
        let mut log = std::fs::File::create(log).ok();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(address) = line.strip_prefix("Redline is listening on ") {
                let _ = sent.send(address.to_owned());
            }
            if let Some(log) = log.as_mut() {
                let _ = writeln!(log, "{line}");
            }
        }
    });
    let origin = origin
        .recv_timeout(Duration::from_secs(30))
        .expect("the daemon listens within 30 s");
    Daemon { child, origin }
}

/// RSS in KiB, open descriptors and threads of process `pid`.
/// The daemon's footprint now, written to the CSV with the traffic so far.
fn sample(csv: &mut std::fs::File, started: Instant, pid: u32, tally: &Tally) -> (u64, u64, u64) {
    let (rss, fds, threads) = footprint(pid);
    let t = |c: &AtomicU64| c.load(Ordering::Relaxed);
    writeln!(
        csv,
        "{},{rss},{fds},{threads},{},{},{},{},{},{}",
        started.elapsed().as_secs(),
        t(&tally.sent),
        t(&tally.answered),
        t(&tally.refused_429),
        t(&tally.cancelled),
        t(&tally.queue_refused),
        t(&tally.lost)
    )
    .expect("CSV");
    (rss, fds, threads)
}

fn footprint(pid: u32) -> (u64, u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count() as u64);
    (field("VmRSS:"), fds, field("Threads:"))
}

/// One request of a worker: a plain chat, a stream read to its end, or a stream hung up on.
async fn one_request(client: &reqwest::Client, url: &str, token: &str, tally: &Tally) {
    let kind = fastrand::u8(0..10);
    let stream = kind >= 3;
    let hang_up = kind >= 8;
    let body = format!(
        r#"{{"model":"kimi-for-coding","messages":[{{"role":"user","content":"soak"}}],"stream":{stream}}}"#
    );
    Tally::add(&tally.sent);
    let request = client
        .post(url)
        .bearer_auth(token)
        .header("content-type", "application/json")
        .header("x-redline-tool", "soak")
        .body(body)
        .send();
    let response = match tokio::time::timeout(REQUEST_TIMEOUT, request).await {
        Ok(Ok(response)) => response,
        Ok(Err(err)) => {
            eprintln!("soak: lost: {err}");
            return Tally::add(&tally.lost);
        }
        Err(_) => {
            eprintln!("soak: lost: no answer within {REQUEST_TIMEOUT:?}");
            return Tally::add(&tally.lost);
        }
    };
    let status = response.status().as_u16();
    let own = response.headers().contains_key("x-redline");
    if own {
        if status == 429 {
            return Tally::add(&tally.queue_refused);
        }
        eprintln!("soak: lost: Redline answered {status} itself");
        return Tally::add(&tally.lost);
    }
    if status == 429 {
        Tally::add(&tally.refused_429);
    }
    let mut response = response;
    let mut text = Vec::new();
    let read = async {
        while let Some(chunk) = response.chunk().await? {
            text.extend_from_slice(&chunk);
            if hang_up && status == 200 {
                // Gone after the first chunk: Redline cancels the request upstream.
                return Ok::<bool, reqwest::Error>(true);
            }
        }
        Ok(false)
    };
    match tokio::time::timeout(REQUEST_TIMEOUT, read).await {
        Ok(Ok(true)) => Tally::add(&tally.cancelled),
        Ok(Ok(false)) => {
            let whole =
                status != 200 || !stream || String::from_utf8_lossy(&text).contains("data: [DONE]");
            if whole {
                Tally::add(&tally.answered);
            } else {
                eprintln!("soak: lost: a stream ended before [DONE]");
                Tally::add(&tally.lost);
            }
        }
        Ok(Err(err)) => {
            eprintln!("soak: lost: the answer broke off: {err}");
            Tally::add(&tally.lost);
        }
        Err(_) => {
            eprintln!("soak: lost: the answer did not end within {REQUEST_TIMEOUT:?}");
            Tally::add(&tally.lost);
        }
    }
}

/// The sum of `name`'s samples in a Prometheus text.
fn metric_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("soak: run by `cargo bench --bench soak` (benches/soak.sh), not as a test");
        return;
    }
    let seconds = env_u64("SOAK_SECONDS", 1800);
    let sample_every = Duration::from_secs(env_u64("SOAK_SAMPLE_SECONDS", 10).max(1));
    let workers = env_u64("SOAK_WORKERS", 8).max(1);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let bin = std::env::var_os("REDLINE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/release/redline"));
    let csv_path = std::env::var_os("SOAK_CSV")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/soak/soak.csv"));
    assert!(
        bin.exists(),
        "no {}: build it with `cargo build --release`",
        bin.display()
    );
    assert!(
        std::env::var_os("REDLINE_TEST_SECRET_SERVICE").is_some(),
        "the soak needs a private Secret Service: run benches/soak.sh"
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let home = tempfile::tempdir().expect("a temp dir");
    let service = format!("redline-soak-{}", std::process::id());
    let key = format!("sk-soak-{:032x}", fastrand::u128(..));
    let fake: FakeProvider = runtime
        .block_on(FakeProvider::start(ProviderId::KimiCode, &key))
        .expect("the fake provider starts");
    fake.set_stream(20, Duration::from_millis(30));
    let cli =
        |args: &[&str], stdin: Option<&str>| redline(&bin, home.path(), &service, args, stdin);
    cli(
        &[
            "keys",
            "add",
            ACCOUNT,
            "--provider",
            "kimi-code",
            "--base-url",
            &fake.origin(),
        ],
        Some(&key),
    )
    .expect("the key is stored");
    let token = cli(&["token"], None).expect("a tool token");
    let admin = cli(&["token", "--admin"], None).expect("the admin credential");
    let daemon = start_daemon(&bin, home.path(), &service);
    let pid = daemon.child.id();
    let url = format!(
        "{}/{ACCOUNT}{}",
        daemon.origin,
        completions_path(ProviderId::KimiCode).expect("Kimi has chat completions")
    );
    eprintln!(
        "soak: {seconds} s, {workers} workers, daemon pid {pid} on {}; CSV {}",
        daemon.origin,
        csv_path.display()
    );

    let tally = Arc::new(Tally::default());
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(workers as usize)
        .build()
        .expect("a client");
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let (client, url, token, tally) =
            (client.clone(), url.clone(), token.clone(), tally.clone());
        tasks.push(runtime.spawn(async move {
            while Instant::now() < deadline {
                one_request(&client, &url, &token, &tally).await;
            }
        }));
    }

    // The controller (CLI calls block: on this thread) and the sampler, until the deadline.
    if let Some(dir) = csv_path.parent() {
        std::fs::create_dir_all(dir).expect("the CSV's directory");
    }
    let mut csv = std::fs::File::create(&csv_path).expect("the CSV file");
    writeln!(
        csv,
        "elapsed_s,rss_kb,fds,threads,sent,answered,refused_429,cancelled,queue_refused,lost"
    )
    .expect("CSV");
    let mut samples: Vec<(u64, u64, u64)> = Vec::new();
    let mut next_sample = started;
    let mut step = 0u64;
    let mut events = Vec::new();
    while Instant::now() < deadline {
        if Instant::now() >= next_sample {
            samples.push(sample(&mut csv, started, pid, &tally));
            csv.flush().expect("CSV");
            next_sample += sample_every;
        }
        // Something changes every 5 s, in turn.
        std::thread::sleep(
            Duration::from_secs(5).min(deadline.saturating_duration_since(Instant::now())),
        );
        step += 1;
        let event = match step % 6 {
            0 => {
                fake.refuse_next_chats(40, 1);
                "429 storm".to_owned()
            }
            1 => {
                let wait = 30 + fastrand::u64(0..60);
                cli(
                    &["config", "set", "proxy.queue_max_wait_s", &wait.to_string()],
                    None,
                )
                .map(|_| format!("queue wait {wait} s"))
                .unwrap_or_else(|e| e)
            }
            2 => {
                let cap = if step % 12 == 2 { "4" } else { "0" };
                cli(
                    &[
                        "config",
                        "set",
                        &format!("accounts.{ACCOUNT}.concurrency_cap"),
                        cap,
                    ],
                    None,
                )
                .map(|_| format!("cap {cap}"))
                .unwrap_or_else(|e| e)
            }
            3 => {
                let new = format!("sk-soak-{:032x}", fastrand::u128(..));
                fake.accept_key(&new);
                cli(&["keys", "rotate", ACCOUNT, "--no-verify"], Some(&new))
                    .map(|_| "key rotated".to_owned())
                    .unwrap_or_else(|e| e)
            }
            4 => {
                let warn = 70 + fastrand::u64(0..20);
                cli(
                    &["config", "set", "thresholds.warn", &warn.to_string()],
                    None,
                )
                .map(|_| format!("warn {warn}"))
                .unwrap_or_else(|e| e)
            }
            _ => {
                fake.refuse_next_chats(10, 2);
                "short 429 burst".to_owned()
            }
        };
        events.push(event);
    }
    runtime.block_on(async {
        for task in tasks {
            let _ = task.await;
        }
    });
    // The last sample, once every request has ended.
    samples.push(sample(&mut csv, started, pid, &tally));
    let t = |c: &AtomicU64| c.load(Ordering::Relaxed);

    // Redline's own count, then a clean stop, which commits the history.
    let metrics = runtime.block_on(async {
        client
            .get(format!("{}/metrics", daemon.origin))
            .bearer_auth(&admin)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .expect("/metrics answers")
            .text()
            .await
            .expect("/metrics text")
    });
    let mut counted = metric_sum(&metrics, "redline_requests_total") as u64;
    // A request whose answer the client has whole may still be finishing in Redline.
    let forwarded = t(&tally.answered) + t(&tally.cancelled);
    let settling = Instant::now();
    while counted != forwarded && settling.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(100));
        let text = runtime.block_on(async {
            let answer = client
                .get(format!("{}/metrics", daemon.origin))
                .bearer_auth(&admin)
                .send()
                .await;
            match answer {
                Ok(answer) => answer.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            }
        });
        counted = metric_sum(&text, "redline_requests_total") as u64;
    }
    let mut daemon = daemon;
    Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill runs");
    let stopped = Instant::now();
    while daemon.child.try_wait().expect("waits").is_none() {
        assert!(
            stopped.elapsed() < Duration::from_secs(30),
            "the daemon did not stop within 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let db = rusqlite::Connection::open(home.path().join("history.sqlite3")).expect("the history");
    let rows: i64 = db
        .query_row(
            "SELECT count(*) FROM requests WHERE account = ?1",
            [ACCOUNT],
            |r| r.get(0),
        )
        .expect("counted");
    let rows = rows as u64;

    // Flat is judged from the first sample after a warm-up (pools and buffers filled).
    let warm_after = Duration::from_secs(60).min(Duration::from_secs(seconds) / 5);
    let warm = (warm_after.as_secs() / sample_every.as_secs()) as usize;
    let (first, last) = (samples[0], *samples.last().expect("samples"));
    let baseline = samples[warm.min(samples.len() - 1)];
    let peak = samples
        .iter()
        .fold((0, 0, 0), |m, s| (m.0.max(s.0), m.1.max(s.1), m.2.max(s.2)));
    println!(
        "\nsoak summary ({} s, {} samples, CSV {})",
        started.elapsed().as_secs(),
        samples.len(),
        csv_path.display()
    );
    let mb = |kb: u64| format!("{:.1} MB", kb as f64 / 1024.0);
    println!(
        "  {:<10} {:>10} {:>12} {:>10} {:>10}",
        "",
        "first",
        format!("at {} s", warm as u64 * sample_every.as_secs()),
        "last",
        "peak"
    );
    println!(
        "  {:<10} {:>10} {:>12} {:>10} {:>10}",
        "RSS",
        mb(first.0),
        mb(baseline.0),
        mb(last.0),
        mb(peak.0)
    );
    println!(
        "  {:<10} {:>10} {:>12} {:>10} {:>10}",
        "fds", first.1, baseline.1, last.1, peak.1
    );
    println!(
        "  {:<10} {:>10} {:>12} {:>10} {:>10}",
        "threads", first.2, baseline.2, last.2, peak.2
    );
    println!(
        "  requests: {} sent; {} answered by the provider ({} of them its 429), {} hung up on mid-stream, {} refused by Redline's queue",
        t(&tally.sent),
        t(&tally.answered),
        t(&tally.refused_429),
        t(&tally.cancelled),
        t(&tally.queue_refused)
    );
    println!("  answers lost: {}", t(&tally.lost));
    println!(
        "  history rows: {rows}; requests forwarded (answered + hung up on): {forwarded}; redline_requests_total: {counted}"
    );
    let storms = events.iter().filter(|e| e.contains("429")).count();
    let rotations = events.iter().filter(|e| *e == "key rotated").count();
    let changes = events.len() - storms - rotations;
    let failed: Vec<&String> = events
        .iter()
        .filter(|e| e.starts_with("redline "))
        .collect();
    println!(
        "  events: {storms} 429 storms, {rotations} key rotations, {changes} settings changes; {} failed",
        failed.len()
    );
    for failure in &failed {
        println!("    {failure}");
    }
    // Flat: the last sample within 25 % (and at least 8 MB) of the warm one; descriptors and
    // threads where they were, give or take a pooled connection or two.
    let flat = last.0 <= baseline.0 + (baseline.0 / 4).max(8 * 1024)
        && last.1 <= baseline.1 + 4
        && last.2 <= baseline.2 + 2;
    let ok =
        flat && t(&tally.lost) == 0 && rows == forwarded && rows == counted && failed.is_empty();
    println!("  verdict: {}", if ok { "PASS" } else { "FAIL" });
    drop(fake);
    if !ok {
        std::process::exit(1);
    }
}
