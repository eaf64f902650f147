//! Limits shared across machines (`shared.redis_url`) with a real `redis-server` (Debian's
//! package), started by the test on a free loopback port. Three daemons, each with its own
//! home and keyring, stand in for three machines sharing one Kimi Code key whose fake allows
//! N requests in flight. Every wait is for an event (the fake's counters, an answer, a status)
//! within a deadline.

use crate::support::certificates::Certificates;
use crate::support::{Daemon, Sandbox, fake, http, wait_for_chats};
use redline::fakes::FakeProvider;
use redline::providers::ProviderId;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const KEY: &str = "sk-test-SharedKeyAbcdefghijklmnop4242";
const WITHIN: Duration = Duration::from_secs(40);
/// The provider's limit, and the cap every machine sets.
const N: u64 = 3;

/// A `redis-server` of its own, stopped when dropped.
struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    fn start() -> Redis {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Redis::start_on(port)
    }

    fn start_on(port: u16) -> Redis {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start redis-server ({e}): install Debian's redis-server package \
                     (scripts/setup-linux.sh test does)"
                )
            });
        let redis = Redis { child, port };
        let deadline = Instant::now() + WITHIN;
        while !redis.answers_ping() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer PING"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        redis
    }

    fn answers_ping(&self) -> bool {
        let Ok(mut tcp) = std::net::TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = tcp.set_read_timeout(Some(Duration::from_secs(2)));
        let mut pong = [0u8; 7];
        tcp.write_all(b"PING\r\n").is_ok()
            && tcp.read_exact(&mut pong).is_ok()
            && &pong == b"+PONG\r\n"
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Leases held on the server, all accounts together (through `redis-cli`).
    fn leases(&self) -> u64 {
        const COUNT: &str = "local n = 0 for _, k in ipairs(redis.call('KEYS', '*:leases')) do \
                             n = n + redis.call('ZCARD', k) end return n";
        let out = Command::new("redis-cli")
            .args(["-p", &self.port.to_string(), "EVAL", COUNT, "0"])
            .output()
            .expect("redis-cli runs (Debian's redis-tools)");
        let text = String::from_utf8_lossy(&out.stdout);
        text.trim()
            .parse()
            .unwrap_or_else(|_| panic!("redis-cli said {text:?}"))
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One "machine": its own home and keyring, the shared key, a cap of N shared through `redis`.
struct Machine {
    sandbox: Sandbox,
    daemon: Daemon,
    token: String,
    admin: String,
}

fn machine(name: &str, provider: &FakeProvider, redis_url: &str) -> Machine {
    let sandbox = Sandbox::new();
    sandbox.add_key("kimi-main", "kimi-code", &provider.origin(), KEY);
    let cap = N.to_string();
    sandbox
        .run(&["config", "set", "accounts.kimi-main.concurrency_cap", &cap])
        .ok();
    if !redis_url.is_empty() {
        sandbox
            .run(&["config", "set", "shared.redis_url", redis_url])
            .ok();
    }
    let token = sandbox.token();
    let admin = sandbox.admin_token();
    let daemon = Daemon::start_args(
        &sandbox,
        &["--listen", "127.0.0.1:0"],
        &[("REDLINE_MACHINE", name)],
    );
    Machine {
        sandbox,
        daemon,
        token,
        admin,
    }
}

fn send(machine: &Machine, answers: &mpsc::Sender<u16>) {
    let url = machine.daemon.url("/kimi-main/coding/v1/chat/completions");
    let (token, answers) = (machine.token.clone(), answers.clone());
    std::thread::spawn(move || {
        let status = http()
            .post(url)
            .bearer_auth(token)
            .timeout(WITHIN * 2)
            .json(&json!({"model": "kimi-for-coding", "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .map(|r| r.status().as_u16())
            .unwrap_or(0);
        let _ = answers.send(status);
    });
}

/// A machine's /metrics text.
fn metrics(machine: &Machine) -> String {
    http()
        .get(machine.daemon.url("/metrics"))
        .bearer_auth(&machine.admin)
        .send()
        .and_then(|r| r.error_for_status())
        .and_then(|r| r.text())
        .expect("/metrics answered")
}

/// The value of the one sample `series` (name and labels as served) in `text`.
fn sample(text: &str, series: &str) -> u64 {
    let found: Vec<&str> = text
        .lines()
        .filter_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .collect();
    assert_eq!(found.len(), 1, "{series} in\n{text}");
    found[0]
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("{series}: {}", found[0]))
}

/// The account's `shared` figures in a machine's status, once `wanted` holds.
fn wait_for_shared(machine: &Machine, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
    let status = machine
        .daemon
        .wait_for_status(&machine.admin, what, |s| wanted(&s["accounts"][0]));
    status["accounts"][0].clone()
}

fn three_machines(provider: &FakeProvider, redis: &Redis) -> Vec<Machine> {
    let machines: Vec<Machine> = ["laptop", "desktop", "ci"]
        .iter()
        .map(|name| machine(name, provider, &redis.url()))
        .collect();
    for m in &machines {
        wait_for_shared(m, "the shared cap in force", |a| {
            a["shared"]["state"] == "shared"
        });
    }
    machines
}

/// Setting `shared.redis_url` on a running daemon takes effect without a restart, and so does
/// clearing it: a request holding a lease then gives it back on the server it took it from.
#[test]
fn the_setting_applies_to_a_running_daemon_both_ways() {
    let redis = Redis::start();
    let provider = fake(ProviderId::KimiCode, KEY);
    let laptop = machine("laptop", &provider, "");
    let before = wait_for_shared(&laptop, "the status without a shared cap", |a| {
        a["concurrency"]["cap"] == N
    });
    assert!(before.get("shared").is_none(), "{before}");

    let set = laptop
        .sandbox
        .run(&["config", "set", "shared.redis_url", &redis.url()])
        .ok();
    assert!(!set.stdout.contains("restart"), "{}", set.stdout);
    wait_for_shared(&laptop, "the shared cap in force", |a| {
        a["shared"]["state"] == "shared"
    });
    provider.hold_answers(true);
    let (answered, answers) = mpsc::channel();
    send(&laptop, &answered);
    wait_for_shared(&laptop, "the lease counted in the group", |a| {
        a["shared"]["here_in_flight"] == 1 && a["shared"]["group_in_flight"] == 1
    });

    laptop
        .sandbox
        .run(&["config", "set", "shared.redis_url", ""])
        .ok();
    wait_for_shared(&laptop, "the shared cap gone", |a| {
        a.get("shared").is_none()
    });
    provider.hold_answers(false);
    assert_eq!(answers.recv_timeout(WITHIN), Ok(200));
    // The lease went back to the server, and the old connection ends once unused.
    let deadline = Instant::now() + WITHIN;
    while !laptop
        .daemon
        .log()
        .contains("no longer using redis://127.0.0.1")
    {
        assert!(Instant::now() < deadline, "{}", laptop.daemon.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(redis.leases(), 0, "the lease was given back");
}

/// A burst of 4N spread over three machines never has more than N at the provider, and none
/// is refused; then kill -9 of a machine holding slots frees them within the lease TTL.
#[test]
fn three_machines_share_one_cap_and_a_dead_one_frees_its_slots() {
    let redis = Redis::start();
    let provider = fake(ProviderId::KimiCode, KEY);
    provider.set_concurrency_limit(N);
    provider.enforce_concurrency(true);
    provider.hold_answers(true);
    let mut machines = three_machines(&provider, &redis);

    let (answered, answers) = mpsc::channel();
    for round in 0..4 {
        for m in &machines {
            send(m, &answered);
        }
        let _ = round;
    }
    wait_for_chats(&provider, "N requests held at the provider", WITHIN, |c| {
        c.in_flight == N as usize
    });
    // The others wait: the group's figures say so on every machine. `group_queued` counts
    // the requests waiting for the group's lease (N per machine, once its own line has let
    // them through), not those still in a machine's own line behind its local cap.
    // A machine counts once its heartbeat has published it (within 2 s of its first
    // request), which may come after the others' figures already add up.
    wait_for_shared(&machines[0], "the group's queue", |a| {
        a["shared"]["group_in_flight"] == N
            && a["shared"]["group_queued"] == 3 * N - N
            && a["shared"]["machines"] == 3
    });
    // /metrics tells the machines apart by the `machine` label.
    let text = metrics(&machines[0]);
    let gauge = |name: &str, scope: Option<&str>| {
        let scope = scope.map_or(String::new(), |s| format!(",scope=\"{s}\""));
        sample(
            &text,
            &format!("{name}{{account=\"kimi-main\",machine=\"laptop\"{scope}}}"),
        )
    };
    assert_eq!(gauge("redline_shared_in_flight", Some("group")), N);
    assert_eq!(gauge("redline_shared_queued", Some("group")), 2 * N);
    assert_eq!(gauge("redline_shared_machines", None), 3);
    assert_eq!(gauge("redline_shared_available", None), 1);
    let here = gauge("redline_shared_in_flight", Some("here"))
        + gauge("redline_shared_queued", Some("here"));
    assert_eq!(here, N, "the laptop's N past its own line");
    provider.hold_answers(false);
    for _ in 0..12 {
        let status = answers
            .recv_timeout(WITHIN)
            .expect("every request answered");
        assert_eq!(status, 200);
    }
    let counters = provider.chat_counters();
    assert_eq!(counters.peak_in_flight, N as usize, "{counters:?}");
    assert_eq!(counters.refused, 0, "{counters:?}");

    // The laptop takes every slot, then dies holding them.
    provider.hold_answers(true);
    for _ in 0..N {
        send(&machines[0], &answered);
    }
    wait_for_chats(&provider, "the laptop's N held", WITHIN, |c| {
        c.in_flight == N as usize
    });
    let mut laptop = machines.remove(0);
    laptop.daemon.kill();
    drop(laptop);
    // The provider lets go of the dead connections; the desktop's request gets a slot once
    // the laptop's leases expire.
    provider.hold_answers(false);
    let killed_at = Instant::now();
    send(&machines[0], &answered);
    let mut statuses = Vec::new();
    while statuses.iter().filter(|s| **s == 200).count() < 1 {
        statuses.push(
            answers
                .recv_timeout(WITHIN)
                .expect("the desktop's request answered"),
        );
    }
    assert!(
        killed_at.elapsed() < redline::shared::LEASE_TTL + Duration::from_secs(20),
        "freed within the lease TTL (and slack for a loaded machine)"
    );
}

/// Redis stopped mid-burst: every machine goes on under its own cap at once, amber with the
/// reason; Redis back on the same port: the shared cap returns.
#[test]
fn a_stopped_redis_falls_back_to_the_local_cap_and_recovers() {
    let mut redis = Redis::start();
    let port = redis.port;
    let provider = fake(ProviderId::KimiCode, KEY);
    provider.hold_answers(true);
    let machines = three_machines(&provider, &redis);
    let (answered, answers) = mpsc::channel();
    for m in &machines {
        send(m, &answered);
        send(m, &answered);
    }
    wait_for_chats(&provider, "N in flight", WITHIN, |c| {
        c.in_flight == N as usize
    });
    redis.stop();
    for m in &machines {
        let account = wait_for_shared(m, "the fallback", |a| a["shared"]["state"] == "unavailable");
        assert_eq!(account["level"], "warn", "{account}");
        let reason = &account["reasons"][0];
        assert_eq!(reason["code"], "shared_unavailable", "{account}");
        // Why, in the server's own terms: the connection dropped, or was refused.
        let problem = account["shared"]["problem"].as_str().unwrap_or_default();
        assert!(!problem.is_empty(), "{account}");
        assert_eq!(
            reason["message"],
            format!("shared limit unavailable, using this machine's cap ({problem})")
        );
    }
    // Under the local caps the waiting requests go on (each machine allows N).
    wait_for_chats(&provider, "the waiting requests sent", WITHIN, |c| {
        c.in_flight == 6
    });
    let redis = Redis::start_on(port);
    for m in &machines {
        let account = wait_for_shared(m, "the shared cap back", |a| {
            a["shared"]["state"] == "shared" && a["shared"]["group_in_flight"] == 6
        });
        assert!(
            account["reasons"]
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r["code"] != "shared_unavailable"),
            "{account}"
        );
    }
    // The 6 admitted under the fallback are counted by the group: a new request waits.
    send(&machines[0], &answered);
    wait_for_shared(&machines[0], "the new request waiting", |a| {
        a["shared"]["group_queued"] == 1
    });
    provider.hold_answers(false);
    for _ in 0..7 {
        assert_eq!(answers.recv_timeout(WITHIN).expect("answered"), 200);
    }
    drop(redis);
}

/// A concurrency 429 with Retry-After seen by one machine holds the others' new requests.
#[test]
fn a_retry_after_on_one_machine_holds_the_others() {
    let redis = Redis::start();
    let provider = fake(ProviderId::KimiCode, KEY);
    let machines = three_machines(&provider, &redis);
    provider.refuse_next_chats(1, 3);
    let (answered, answers) = mpsc::channel();
    send(&machines[0], &answered);
    assert_eq!(answers.recv_timeout(WITHIN).unwrap(), 429);
    let refused_at = Instant::now();
    send(&machines[1], &answered);
    assert_eq!(answers.recv_timeout(WITHIN).unwrap(), 200);
    // Held until the Retry-After (3 s), and not much longer: a cool-down that outlived its
    // Retry-After once held the others for the whole queue wait.
    let held = refused_at.elapsed();
    assert!(
        held >= Duration::from_millis(2500) && held < Duration::from_secs(3 + 10),
        "held until the Retry-After: {held:?}"
    );
    assert_eq!(provider.chat_counters().requests, 2);

    // A Retry-After longer than the queue waits (60 s): the others are answered at once, and
    // told when to come back, instead of being held in vain.
    provider.refuse_next_chats(1, 600);
    send(&machines[0], &answered);
    assert_eq!(answers.recv_timeout(WITHIN).unwrap(), 429);
    let asked_at = Instant::now();
    let response = http()
        .post(
            machines[2]
                .daemon
                .url("/kimi-main/coding/v1/chat/completions"),
        )
        .bearer_auth(&machines[2].token)
        .timeout(WITHIN)
        .json(&json!({"model": "kimi-for-coding", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .expect("answered");
    assert!(
        asked_at.elapsed() < Duration::from_secs(10),
        "{:?}",
        asked_at.elapsed()
    );
    assert_eq!(response.status().as_u16(), 429);
    assert_eq!(response.headers()["x-redline"], "error");
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (580..=600).contains(&retry_after),
        "Retry-After {retry_after}"
    );
    let body = response.text().unwrap();
    assert!(body.contains("cooling down"), "{body}");
    assert_eq!(
        provider.chat_counters().requests,
        3,
        "the provider was never asked"
    );
}

// --- rediss:// (TLS) and the password from the keyring ---

/// A `redis-server` started with `args` (its config file first, if any), once it says it is
/// ready: a TLS port or a password leaves nothing a plain PING could check.
fn redis_with(port: u16, args: &[&str]) -> Redis {
    let mut child = Command::new("redis-server")
        .args(args)
        .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server starts (Debian's redis-server package)");
    let stdout = child.stdout.take().unwrap();
    let (said, lines) = mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = said.send(line);
        }
    });
    let redis = Redis { child, port };
    let deadline = Instant::now() + WITHIN;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line.contains("Ready to accept connections") => return redis,
            Ok(line) => seen.push(line),
            Err(_) => panic!("redis-server was not ready: {}", seen.join("\n")),
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Certificates {
    /// `redis-server` listening for TLS only, on a free port.
    fn redis(&self) -> Redis {
        let port = free_port();
        let (cert, key, ca) = (
            self.path("server.pem"),
            self.path("server.key"),
            self.path("ca.pem"),
        );
        let tls_port = port.to_string();
        redis_with(
            port,
            &[
                "--port",
                "0",
                "--tls-port",
                &tls_port,
                "--tls-cert-file",
                &cert,
                "--tls-key-file",
                &key,
                "--tls-ca-cert-file",
                &ca,
                "--tls-auth-clients",
                "no",
            ],
        )
    }
}

/// One "machine" as [`machine`] makes it, with `env` added to its daemon's environment and
/// `before` run in its sandbox before the daemon starts.
fn machine_with(
    name: &str,
    provider: &FakeProvider,
    redis_url: &str,
    env: &[(&str, &str)],
    before: impl FnOnce(&Sandbox),
) -> Machine {
    let sandbox = Sandbox::new();
    sandbox.add_key("kimi-main", "kimi-code", &provider.origin(), KEY);
    let cap = N.to_string();
    sandbox
        .run(&["config", "set", "accounts.kimi-main.concurrency_cap", &cap])
        .ok();
    sandbox
        .run(&["config", "set", "shared.redis_url", redis_url])
        .ok();
    before(&sandbox);
    let token = sandbox.token();
    let admin = sandbox.admin_token();
    let env = [&[("REDLINE_MACHINE", name)], env].concat();
    let daemon = Daemon::start_args(&sandbox, &["--listen", "127.0.0.1:0"], &env);
    Machine {
        sandbox,
        daemon,
        token,
        admin,
    }
}

/// The machine is amber with the shared limit unavailable, and printed why: a line with all
/// of `said` (the first line with `said[0]`), which it returns.
fn falls_back_saying(machine: &mut Machine, said: &[&str]) -> String {
    // The status says why too, as the log does.
    let account = wait_for_shared(machine, "the fallback, saying why", |a| {
        a["shared"]["state"] == "unavailable"
            && a["reasons"][0]["message"]
                .as_str()
                .is_some_and(|m| m.contains(said[0]))
    });
    assert_eq!(account["level"], "warn", "{account}");
    assert_eq!(
        account["reasons"][0]["code"], "shared_unavailable",
        "{account}"
    );
    let line = machine.daemon.wait_for_line(said[0], WITHIN);
    eprintln!("{line}");
    assert!(
        said.iter().all(|s| line.contains(s)),
        "{said:?} not in {line:?}; the whole log: {}",
        machine.daemon.log()
    );
    line
}

/// Two machines reach Redis over TLS (`rediss://localhost`), trusting the test's CA through
/// SSL_CERT_FILE, and share the cap: a burst of 2N never has more than N at the provider.
#[test]
fn machines_share_the_cap_over_rediss_trusting_a_ca_from_ssl_cert_file() {
    let certificates = Certificates::make();
    let redis = certificates.redis();
    let url = format!("rediss://localhost:{}", redis.port);
    let provider = fake(ProviderId::KimiCode, KEY);
    provider.set_concurrency_limit(N);
    provider.enforce_concurrency(true);
    provider.hold_answers(true);
    let ca = certificates.path("ca.pem");
    let mut machines: Vec<Machine> = ["laptop", "desktop"]
        .iter()
        .map(|name| machine_with(name, &provider, &url, &[("SSL_CERT_FILE", &ca)], |_| {}))
        .collect();
    for m in &mut machines {
        m.daemon
            .wait_for_line(&format!("connected to {url}"), WITHIN);
        wait_for_shared(m, "the shared cap over TLS", |a| {
            a["shared"]["state"] == "shared"
        });
    }
    let (answered, answers) = mpsc::channel();
    for _ in 0..N {
        for m in &machines {
            send(m, &answered);
        }
    }
    wait_for_chats(&provider, "N requests held at the provider", WITHIN, |c| {
        c.in_flight == N as usize
    });
    wait_for_shared(&machines[1], "the other N waiting for the group", |a| {
        a["shared"]["group_in_flight"] == N && a["shared"]["group_queued"] == N
    });
    provider.hold_answers(false);
    for _ in 0..2 * N {
        assert_eq!(answers.recv_timeout(WITHIN).expect("answered"), 200);
    }
    let counters = provider.chat_counters();
    assert_eq!(counters.peak_in_flight, N as usize, "{counters:?}");
    assert_eq!(counters.refused, 0, "{counters:?}");
}

/// A certificate the system does not trust (the test's CA is in no system store), one made for
/// another name, plain text to a TLS port or TLS to a plain one: the machine goes on under its
/// own cap, amber, and says which and what to do. Never a connection that skips the check.
#[test]
fn rediss_with_an_untrusted_or_misnamed_certificate_or_the_wrong_port_falls_back_saying_why() {
    let certificates = Certificates::make();
    let redis = certificates.redis();
    let provider = fake(ProviderId::KimiCode, KEY);
    // The system's roots, as the environment gives them (SSL_CERT_FILE, if set, is the system
    // bundle on test machines; never the test's CA).
    let mut untrusted = machine_with(
        "untrusted",
        &provider,
        &format!("rediss://localhost:{}", redis.port),
        &[],
        |_| {},
    );
    falls_back_saying(
        &mut untrusted,
        &[
            "the certificate of localhost is not trusted",
            "SSL_CERT_FILE",
        ],
    );
    // Trusted, but the URL names 127.0.0.1 and the certificate only localhost.
    let ca = certificates.path("ca.pem");
    let mut misnamed = machine_with(
        "misnamed",
        &provider,
        &format!("rediss://127.0.0.1:{}", redis.port),
        &[("SSL_CERT_FILE", &ca)],
        |_| {},
    );
    falls_back_saying(
        &mut misnamed,
        &[
            "made for localhost, not for the name 127.0.0.1",
            "shared.redis_url",
        ],
    );
    // Under the fallback, requests go on under the machine's own cap.
    let (answered, answers) = mpsc::channel();
    send(&untrusted, &answered);
    assert_eq!(answers.recv_timeout(WITHIN).expect("answered"), 200);

    // Plain text to the TLS port, and TLS to a plain-text port: each told to use the other.
    let mut plain_to_tls = machine_with(
        "plain-to-tls",
        &provider,
        &format!("redis://127.0.0.1:{}", redis.port),
        &[],
        |_| {},
    );
    falls_back_saying(&mut plain_to_tls, &["listens for TLS, use rediss://"]);
    let plain = Redis::start();
    let mut tls_to_plain = machine_with(
        "tls-to-plain",
        &provider,
        &format!("rediss://localhost:{}", plain.port),
        &[("SSL_CERT_FILE", &ca)],
        |_| {},
    );
    falls_back_saying(&mut tls_to_plain, &["use redis:// for it"]);
}

/// A password that belongs to no test run but this one.
fn random_secret(prefix: &str) -> String {
    let tail: String = std::iter::repeat_with(fastrand::alphanumeric)
        .take(24)
        .collect();
    format!("{prefix}{tail}")
}

/// `redis-server` asking for `password`, given in its config file (not its arguments, which
/// the test searches for the password).
fn redis_with_password(password: &str) -> (Redis, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("redis.conf");
    std::fs::write(&conf, format!("requirepass {password}\n")).unwrap();
    let port = free_port();
    let redis = redis_with(port, &[conf.to_str().unwrap(), "--port", &port.to_string()]);
    (redis, dir)
}

/// Every process's arguments on this machine (those this user may read).
fn all_command_lines() -> Vec<String> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| std::fs::read(entry.ok()?.path().join("cmdline")).ok())
        .map(|bytes| String::from_utf8_lossy(&bytes).replace('\0', " "))
        .collect()
}

/// The password stored with `config set-secret` (piped on stdin) logs the daemon in, the
/// shared cap works, and the password is nowhere: not in what the daemon or the CLI prints,
/// the config file, the history database or any file under the home, the status, /metrics,
/// or any process's arguments.
#[test]
fn a_redis_password_from_the_keyring_logs_in_and_never_shows() {
    let password = random_secret("rl-redis-pw-");
    let (redis, _conf) = redis_with_password(&password);
    let provider = fake(ProviderId::KimiCode, KEY);
    provider.hold_answers(true);
    let mut printed = Vec::new();
    let machine = machine_with("laptop", &provider, &redis.url(), &[], |sandbox| {
        let run = sandbox
            .run_stdin(
                &["config", "set-secret", "shared.redis_password"],
                &password,
            )
            .ok();
        assert!(
            run.stdout.contains("Stored shared.redis_password"),
            "{}",
            run.stdout
        );
        assert_eq!(
            sandbox.keyring("shared-redis-password").as_deref(),
            Some(password.as_str()),
            "stored in the keyring"
        );
        printed.push(run.stdout + &run.stderr);
        let shown = sandbox.run(&["config", "show"]).ok();
        printed.push(shown.stdout + &shown.stderr);
    });
    wait_for_shared(&machine, "the shared cap in force", |a| {
        a["shared"]["state"] == "shared"
    });
    let (answered, answers) = mpsc::channel();
    for _ in 0..N {
        send(&machine, &answered);
    }
    wait_for_chats(&provider, "N in flight", WITHIN, |c| {
        c.in_flight == N as usize
    });
    let status = wait_for_shared(&machine, "the group's leases", |a| {
        a["shared"]["group_in_flight"] == N
    });

    let mut seen: Vec<(String, String)> = printed
        .into_iter()
        .map(|text| ("the CLI's output".to_owned(), text))
        .collect();
    seen.push((
        "the status".into(),
        machine.daemon.status(&machine.admin).to_string(),
    ));
    seen.push(("the account's status".into(), status.to_string()));
    seen.push(("/metrics".into(), metrics(&machine)));
    let status_cli = machine.sandbox.run(&["status", "--json"]).ok();
    seen.push((
        "status --json".into(),
        status_cli.stdout + &status_cli.stderr,
    ));
    for file in crate::support::files_below(&machine.sandbox.home()) {
        let bytes = std::fs::read(&file).unwrap_or_default();
        seen.push((
            file.display().to_string(),
            String::from_utf8_lossy(&bytes).into_owned(),
        ));
    }
    for line in all_command_lines() {
        seen.push(("a process's arguments".into(), line));
    }
    provider.hold_answers(false);
    for _ in 0..N {
        assert_eq!(answers.recv_timeout(WITHIN).expect("answered"), 200);
    }
    seen.push(("the daemon's output".into(), machine.daemon.log()));
    assert!(
        seen.iter().any(|(what, _)| what.ends_with("config.toml")),
        "the config file was searched"
    );
    for (what, text) in &seen {
        assert!(!text.contains(&password), "the password is in {what}");
    }

    // Removed, it is gone from the keyring.
    let removed = machine
        .sandbox
        .run(&["config", "rm-secret", "shared.redis_password"])
        .ok();
    assert!(
        removed.stdout.contains("Removed shared.redis_password"),
        "{}",
        removed.stdout
    );
    assert_eq!(machine.sandbox.keyring("shared-redis-password"), None);
}

/// A wrong password in the keyring: the machine goes on under its own cap, amber, and says
/// that AUTH failed and how to fix it, never quoting either password; the right one stored
/// while it runs is used at its next attempt.
#[test]
fn a_wrong_redis_password_falls_back_saying_auth_failed_until_the_right_one_is_stored() {
    let password = random_secret("rl-redis-pw-");
    let wrong = random_secret("rl-wrong-pw-");
    let (redis, _conf) = redis_with_password(&password);
    let provider = fake(ProviderId::KimiCode, KEY);
    let mut machine = machine_with("laptop", &provider, &redis.url(), &[], |sandbox| {
        sandbox
            .run_stdin(&["config", "set-secret", "shared.redis_password"], &wrong)
            .ok();
    });
    falls_back_saying(
        &mut machine,
        &[
            "AUTH failed",
            "stored in the keyring",
            "redline config set-secret shared.redis_password",
        ],
    );
    machine
        .sandbox
        .run_stdin(
            &["config", "set-secret", "shared.redis_password"],
            &password,
        )
        .ok();
    wait_for_shared(
        &machine,
        "the shared cap once the right password is stored",
        |a| a["shared"]["state"] == "shared",
    );
    let log = machine.daemon.log();
    assert!(!log.contains(&password) && !log.contains(&wrong), "{log}");

    // No password at all: the server's NOAUTH becomes what to do.
    let mut bare = machine_with("bare", &provider, &redis.url(), &[], |_| {});
    falls_back_saying(&mut bare, &["asks for a password", "config set-secret"]);
}
