//! Redline's queue and the proxy's settings in the real daemon over loopback: slots shared
//! fairly between tools, and `redline config set` reaching the running daemon (or saying
//! plainly that a setting waits for a restart). A fake Kimi Code holds its answers open for as
//! long as a test needs; the order in which requests reach it is the order the queue let them
//! go. No timing decides an outcome: each step waits for an event (an answer, a line the
//! daemon prints, a counter of the fake), within a deadline.

use crate::support::{Daemon, KimiAccount, Sandbox, http, wait_for_chats};
use serde_json::{Value, json};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const KEY: &str = "sk-test-QueueKeyAbcdefghijklmnop7070";
const CLAUDE_CODE: &str = "claude-cli/1.0";
const OPENAI_PYTHON: &str = "OpenAI/Python 1.0";
/// How long anything a test waits for may take.
const WITHIN: Duration = Duration::from_secs(30);
/// How long the daemon may take to notice a changed config file (it looks every 2 s).
const RELOAD_WITHIN: Duration = Duration::from_secs(15);

/// What a request through the proxy got back.
#[derive(Debug)]
struct Answer {
    user_agent: &'static str,
    status: u16,
    body: Value,
    took: Duration,
}

impl Answer {
    /// The code of Redline's own refusal (`redline_queue_timeout`), if it is one.
    fn code(&self) -> Option<&str> {
        self.body["error"]["code"].as_str()
    }

    fn message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or_default()
    }
}

/// Sends a chat request to `kimi-main` through the daemon on a thread of its own; its answer
/// comes on `answers`.
fn send(daemon: &Daemon, token: &str, user_agent: &'static str, answers: &mpsc::Sender<Answer>) {
    let url = daemon.url("/kimi-main/coding/v1/chat/completions");
    let (token, answers) = (token.to_owned(), answers.clone());
    std::thread::spawn(move || {
        let started = Instant::now();
        let response = http()
            .post(url)
            .bearer_auth(token)
            .header("user-agent", user_agent)
            .timeout(WITHIN * 2)
            .json(&json!({"model": "kimi-for-coding", "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .unwrap();
        let status = response.status().as_u16();
        let body = response.json().unwrap_or(Value::Null);
        let _ = answers.send(Answer {
            user_agent,
            status,
            body,
            took: started.elapsed(),
        });
    });
}

fn next_answer(answers: &mpsc::Receiver<Answer>, what: &str) -> Answer {
    answers
        .recv_timeout(WITHIN)
        .unwrap_or_else(|_| panic!("no answer {what} within {} s", WITHIN.as_secs()))
}

/// `redline config set KEY VALUE`, then the daemon's word that it has applied the change.
fn set_and_reload(account: &KimiAccount, daemon: &mut Daemon, key: &str, value: &str) -> String {
    let saved = account.sandbox.run(&["config", "set", key, value]).ok();
    assert!(
        saved.stdout.starts_with(&format!("Saved {key} = {value}")),
        "{}",
        saved.stdout
    );
    daemon.wait_for_line("settings reloaded", RELOAD_WITHIN);
    saved.stdout
}

/// Kimi Code with a cap of 1 on `kimi-main`, `settings` saved, answers held open at the fake,
/// and the daemon running.
fn capped(settings: &[(&str, &str)]) -> (KimiAccount, Daemon) {
    let account = KimiAccount::new(KEY);
    let cap = [("accounts.kimi-main.concurrency_cap", "1")];
    for (key, value) in cap.iter().chain(settings) {
        account.sandbox.run(&["config", "set", key, value]).ok();
    }
    account.provider.hold_answers(true);
    let daemon = Daemon::start(&account.sandbox);
    (account, daemon)
}

/// Claude Code sends 20 requests at once through a cap of 1, then an openai-python script
/// sends 2: the script's requests go out after one of Claude Code's each, not after all 20.
///
/// To know without timing that every request is in line before the next tool sends, the line
/// is bounded and each tool sends one request more than fits: the one turned away ("full")
/// says the others are in.
#[test]
fn a_second_tool_is_not_starved_by_a_fan_out() {
    let (account, mut daemon) = capped(&[("proxy.queue_max_len", "19")]);
    let (answered, answers) = mpsc::channel();
    for _ in 0..21 {
        send(&daemon, &account.token, CLAUDE_CODE, &answered);
    }
    // One at the provider, 19 waiting, one turned away.
    let full = next_answer(&answers, "turned away from a full line");
    assert_eq!(
        (full.status, full.code()),
        (429, Some("redline_queue_timeout")),
        "{full:?}"
    );
    assert!(
        full.message().contains("is full (19 requests already wait"),
        "{full:?}"
    );
    wait_for_chats(&account.provider, "one request held at Kimi", WITHIN, |c| {
        c.in_flight == 1
    });

    set_and_reload(&account, &mut daemon, "proxy.queue_max_len", "21");
    for _ in 0..3 {
        send(&daemon, &account.token, OPENAI_PYTHON, &answered);
    }
    let full = next_answer(&answers, "turned away from the line of 21");
    assert_eq!(full.user_agent, OPENAI_PYTHON);
    assert!(
        full.message().contains("is full (21 requests already wait"),
        "{full:?}"
    );

    // Let Kimi answer: the slot goes round, one request at a time.
    account.provider.hold_answers(false);
    let mut answered = Vec::new();
    for _ in 0..22 {
        answered.push(next_answer(&answers, "from Kimi"));
    }
    assert!(answered.iter().all(|a| a.status == 200), "{answered:#?}");
    let arrived = account.provider.chat_user_agents();
    let script_at: Vec<usize> = (0..arrived.len())
        .filter(|&i| arrived[i] == OPENAI_PYTHON)
        .collect();
    assert_eq!(
        script_at,
        [1, 3],
        "the script's first request goes next, its second after one more of Claude Code's: {arrived:?}"
    );
    assert_eq!(arrived.len(), 22);
    assert_eq!(account.provider.chat_counters().peak_in_flight, 1);
}

/// `config set proxy.queue_max_wait_s 1` on a running daemon: the request already waiting (it
/// started under 60 s) and the next one are both turned away after a second, without a restart.
#[test]
fn a_lowered_queue_wait_applies_to_the_running_daemon() {
    let (account, mut daemon) = capped(&[("proxy.queue_max_wait_s", "60")]);
    let (answered, answers) = mpsc::channel();
    send(&daemon, &account.token, CLAUDE_CODE, &answered);
    wait_for_chats(&account.provider, "one request held at Kimi", WITHIN, |c| {
        c.in_flight == 1
    });
    send(&daemon, &account.token, CLAUDE_CODE, &answered);

    set_and_reload(&account, &mut daemon, "proxy.queue_max_wait_s", "1");
    let waiting = next_answer(&answers, "for the request that was waiting");
    assert_eq!(
        (waiting.status, waiting.code()),
        (429, Some("redline_queue_timeout")),
        "{waiting:?}"
    );
    assert!(waiting.took < WITHIN, "{waiting:?}");

    send(&daemon, &account.token, OPENAI_PYTHON, &answered);
    let next = next_answer(&answers, "for the next request");
    assert_eq!(
        (next.status, next.code()),
        (429, Some("redline_queue_timeout")),
        "{next:?}"
    );
    assert!(
        next.took >= Duration::from_secs(1) && next.took < Duration::from_secs(10),
        "refused after the new wait of 1 s, not the old 60 s: {next:?}"
    );
    assert!(
        next.message().contains("queued this request for 1s"),
        "{next:?}"
    );

    account.provider.hold_answers(false);
    let held = next_answer(&answers, "for the held request");
    assert_eq!(held.status, 200, "{held:?}");
    assert_eq!(
        account.provider.chat_counters().requests,
        1,
        "the queued ones never reached Kimi"
    );
}

/// The listen address cannot move under a running daemon: `config set` says so and how to
/// restart it, and the daemon keeps listening where it was. A setting that applies at once
/// gets no such note.
#[test]
fn a_new_listen_address_says_it_waits_for_a_restart() {
    let sandbox = Sandbox::new();
    let free_port = || {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let first = format!("127.0.0.1:{}", free_port());
    let idle = sandbox.run(&["config", "set", "proxy.listen", &first]).ok();
    assert!(
        idle.stdout
            .contains("proxy.listen takes effect when Redline next starts."),
        "nothing runs yet: {}",
        idle.stdout
    );
    sandbox.token();
    let mut daemon = Daemon::start_args(&sandbox, &[], &[]);
    assert_eq!(daemon.origin, format!("http://{first}"));

    let second = format!("127.0.0.1:{}", free_port());
    let running = sandbox
        .run(&["config", "set", "proxy.listen", &second])
        .ok();
    let settings: Value = http()
        .get(daemon.url("/api/v1/settings"))
        .bearer_auth(sandbox.admin_token())
        .send()
        .unwrap()
        .json()
        .unwrap();
    let how = settings["restart"]["how"].as_str().unwrap();
    assert!(!how.is_empty());
    assert!(
        settings["restart"]["settings"]
            .as_array()
            .unwrap()
            .contains(&json!("proxy.listen")),
        "{settings}"
    );
    assert_eq!(
        running.stdout,
        format!(
            "Saved proxy.listen = {second} in {}.\nproxy.listen takes effect when Redline restarts: {how}.\n",
            sandbox.config_path().display()
        )
    );
    let said = daemon.wait_for_line("proxy.listen takes effect", RELOAD_WITHIN);
    assert!(
        said.ends_with(&format!("Redline restarts: {how}.")),
        "{said}"
    );
    let still = http().get(daemon.url("/healthz")).send().unwrap();
    assert_eq!(still.status(), 200, "still listening on {first}");

    let live = sandbox
        .run(&["config", "set", "proxy.queue_max_wait_s", "5"])
        .ok();
    assert!(!live.stdout.contains("restart"), "{}", live.stdout);
    daemon.stop();
}
