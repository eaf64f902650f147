//! Limits shared across machines (`shared.redis_url`) with a real `redis-server` (Debian's
//! package), started by the test on a free loopback port. Three daemons, each with its own
//! home and keyring, stand in for three machines sharing one Kimi Code key whose fake allows
//! N requests in flight. Every wait is for an event (the fake's counters, an answer, a status)
//! within a deadline.

use crate::support::{Daemon, Sandbox, fake, http};
use redline::fakes::{ChatCounters, FakeProvider};
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

fn wait_for_chats(fake: &FakeProvider, what: &str, done: impl Fn(&ChatCounters) -> bool) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let counters = runtime.block_on(fake.wait_for_chats(WITHIN, &done));
    assert!(
        done(&counters),
        "not {what} within {} s: {counters:?}",
        WITHIN.as_secs()
    );
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
    wait_for_chats(&provider, "N requests held at the provider", |c| {
        c.in_flight == N as usize
    });
    // The others wait: the group's figures say so on every machine. `group_queued` counts
    // the requests waiting for the group's lease (N per machine, once its own line has let
    // them through), not those still in a machine's own line behind its local cap.
    let seen = wait_for_shared(&machines[0], "the group's queue", |a| {
        a["shared"]["group_in_flight"] == N && a["shared"]["group_queued"] == 3 * N - N
    });
    assert_eq!(seen["shared"]["machines"], 3, "{seen}");
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
    wait_for_chats(&provider, "the laptop's N held", |c| {
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
    wait_for_chats(&provider, "N in flight", |c| c.in_flight == N as usize);
    redis.stop();
    for m in &machines {
        let account = wait_for_shared(m, "the fallback", |a| a["shared"]["state"] == "unavailable");
        assert_eq!(account["level"], "warn", "{account}");
        let reason = &account["reasons"][0];
        assert_eq!(reason["code"], "shared_unavailable", "{account}");
        assert_eq!(
            reason["message"],
            "shared limit unavailable, using this machine's cap"
        );
    }
    // Under the local caps the waiting requests go on (each machine allows N).
    wait_for_chats(&provider, "the waiting requests sent", |c| c.in_flight == 6);
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
