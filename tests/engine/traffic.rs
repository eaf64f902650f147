//! The traffic figures on the public surfaces of a real `redline daemon` in front of a fake Kimi
//! Code: tokens, time to first token and the per-tool breakdown in `/api/v1/status`, `/metrics`
//! (read by the official `prometheus-client` parser) and the history API, also after a restart;
//! the queue under a cap (cap, provider limit and queued count while requests wait, the waits
//! afterwards, latency in the history including them); and a provider's doubtful 0 %.

use crate::metrics::values;
use crate::support::{Daemon, KimiAccount, http, poll_until};
use redline::fakes::{Behaviour, PROMPT_TOKENS};
use rusqlite::Connection;
use serde_json::{Value, json};
use std::time::Duration;

const KEY: &str = "sk-kimi-TrafficKeyAbcdefghijklmnop4242";

/// Output tokens the fake reports per answer (one per chunk, 5 by default).
const OUTPUT_TOKENS: u64 = 5;

const CLAUDE_CODE: &str = "claude-cli/1.0";
const OPENAI_PYTHON: &str = "OpenAI/Python 1.0";

/// A chat request through the proxy at `origin` as `user_agent`, read to its end; its status.
fn chat(origin: &str, token: &str, user_agent: &str, stream: bool) -> u16 {
    let answer = http()
        .post(format!("{origin}/kimi-main/coding/v1/chat/completions"))
        .bearer_auth(token)
        .header("user-agent", user_agent)
        .json(&json!({
            "model": "kimi-for-coding",
            "stream": stream,
            "messages": [{"role": "user", "content": "hi"}]
        }))
        .timeout(Duration::from_secs(30))
        .send()
        .unwrap();
    let status = answer.status().as_u16();
    answer.bytes().unwrap();
    status
}

fn get(daemon: &Daemon, token: &str, path: &str) -> reqwest::blocking::Response {
    let answer = http()
        .get(daemon.url(path))
        .bearer_auth(token)
        .send()
        .unwrap();
    assert_eq!(answer.status(), 200, "{path}");
    answer
}

fn refresh(daemon: &Daemon, token: &str) {
    let answer = http()
        .post(daemon.url("/api/v1/refresh"))
        .bearer_auth(token)
        .send()
        .unwrap();
    assert_eq!(answer.status(), 200);
}

fn kimi(status: &Value) -> &Value {
    &status["accounts"][0]
}

fn traffic(status: &Value) -> &Value {
    &kimi(status)["traffic"]
}

/// The tool named `name` in an account's traffic.
fn tool<'a>(traffic: &'a Value, name: &str) -> &'a Value {
    traffic["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tool"] == name)
        .unwrap_or_else(|| panic!("no tool {name}: {traffic:#}"))
}

/// The metric families as the official Python parser read them; a parse error fails the test.
fn metrics(daemon: &Daemon, token: &str) -> Vec<Value> {
    crate::metrics::parse(&get(daemon, token, "/metrics").text().unwrap())
}

fn sum(families: &[Value], sample: &str, labels: &[(&str, &str)]) -> f64 {
    values(families, sample, labels).iter().sum()
}

fn number(value: &Value) -> f64 {
    value
        .as_f64()
        .unwrap_or_else(|| panic!("not a number: {value}"))
}

#[test]
fn tokens_first_token_and_tools_show_on_status_metrics_and_history_and_survive_a_restart() {
    let account = KimiAccount::new(KEY);
    let token = &account.token;
    let mut daemon = Daemon::start(&account.sandbox);
    // Every answer waits 300 ms before its first byte; streamed ones then take 4 gaps of 50 ms.
    account
        .provider
        .set_behaviour(Behaviour::Slow(Duration::from_millis(300)));
    account.provider.set_stream(5, Duration::from_millis(50));

    // Claude Code streams three; the OpenAI SDK asks for two whole answers; one is refused.
    for _ in 0..3 {
        assert_eq!(chat(&daemon.origin, token, CLAUDE_CODE, true), 200);
    }
    for _ in 0..2 {
        assert_eq!(chat(&daemon.origin, token, OPENAI_PYTHON, false), 200);
    }
    account.provider.refuse_next_chats(1, 5);
    assert_eq!(chat(&daemon.origin, token, OPENAI_PYTHON, false), 429);

    let status = daemon.wait_for_status(&account.admin, "six requests in the traffic", |s| {
        traffic(s)["requests"]["last_5m"] == 6
    });
    let t = traffic(&status);
    let tokens = |n: u64| json!({"input": n * PROMPT_TOKENS, "output": n * OUTPUT_TOKENS});
    assert_eq!(t["tokens"]["last_5h"], tokens(5), "{t:#}");
    assert_eq!(t["tokens"]["today"], tokens(5), "{t:#}");
    assert_eq!(t["requests"], json!({"last_5m": 6, "last_hour": 6}));
    assert_eq!(t["errors"], json!({"last_5m": 1, "last_hour": 1}));
    assert_eq!(t["cancelled"], json!({"last_5m": 0, "last_hour": 0}));
    assert_eq!((&t["in_flight"], &t["queued"]), (&json!(0), &json!(0)));
    assert!(t["cap"].is_null(), "no cap set: {t:#}");
    let first_token = number(&t["first_token_ms_p50"]);
    assert!(
        (300.0..5000.0).contains(&first_token),
        "the fake waits 300 ms before its first byte: {first_token}"
    );
    // Five tokens over the 200 ms of the stream's four gaps: about 25 a second.
    let speed = number(&t["output_tokens_per_s_p50"]);
    assert!((1.0..=100.0).contains(&speed), "{speed}");
    // Without a cap nothing waits.
    assert_eq!(
        t["queue_wait_ms"]["p95"].as_f64().map(|ms| ms < 100.0),
        Some(true)
    );

    assert_eq!(t["tools"].as_array().unwrap().len(), 2, "{t:#}");
    let claude = tool(t, "Claude Code");
    assert_eq!(claude["requests"]["last_5m"], 3);
    assert_eq!(claude["errors"]["last_5m"], 0);
    assert_eq!(claude["tokens"]["today"], tokens(3));
    assert!(number(&claude["first_token_ms_p50"]) >= 300.0);
    assert!(claude["output_tokens_per_s_p50"].is_number());
    let python = t["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tool"] != "Claude Code")
        .unwrap();
    let python_name = python["tool"].as_str().unwrap().to_owned();
    assert_eq!(python["requests"]["last_5m"], 3);
    assert_eq!(python["errors"]["last_5m"], 1);
    assert_eq!(python["tokens"]["today"], tokens(2));

    // The same on /metrics.
    let families = metrics(&daemon, &account.admin);
    let kimi_main = ("account", "kimi-main");
    let token_count = |client: &str, direction: &str| {
        let labels = [kimi_main, ("client", client), ("direction", direction)];
        sum(&families, "redline_tokens_total", &labels)
    };
    assert_eq!(
        token_count("Claude Code", "input"),
        (3 * PROMPT_TOKENS) as f64
    );
    assert_eq!(
        token_count("Claude Code", "output"),
        (3 * OUTPUT_TOKENS) as f64
    );
    assert_eq!(
        token_count(&python_name, "input"),
        (2 * PROMPT_TOKENS) as f64
    );
    assert_eq!(
        token_count(&python_name, "output"),
        (2 * OUTPUT_TOKENS) as f64
    );
    let first = |sample: &str| sum(&families, sample, &[kimi_main]);
    assert_eq!(first("redline_first_token_seconds_count"), 6.0);
    assert!(first("redline_first_token_seconds_sum") >= 6.0 * 0.3);
    let under = |le: &str| {
        let labels = [kimi_main, ("le", le)];
        sum(&families, "redline_first_token_seconds_bucket", &labels)
    };
    assert_eq!(under("0.25"), 0.0, "none came before the fake's 300 ms");
    assert_eq!(under("+Inf"), 6.0);
    assert_eq!(first("redline_queue_wait_seconds_count"), 6.0);
    assert_eq!(
        sum(
            &families,
            "redline_queue_wait_seconds_bucket",
            &[kimi_main, ("le", "0.05")]
        ),
        6.0,
        "without a cap every request went straight through"
    );
    assert_eq!(values(&families, "redline_queued", &[kimi_main]), [0.0]);

    // The history's token series.
    let history = poll_until(
        "all six requests committed",
        Duration::from_secs(10),
        Duration::from_millis(50),
        || {
            get(
                &daemon,
                &account.admin,
                "/api/v1/history?account=kimi-main&range=day",
            )
            .json::<Value>()
            .unwrap()
        },
        |h| h["store"]["last_request_id"] == 6,
    );
    let buckets = history["requests"].as_array().unwrap();
    let total = |field: &str| -> u64 { buckets.iter().map(|b| b[field].as_u64().unwrap()).sum() };
    assert_eq!(total("input_tokens"), 5 * PROMPT_TOKENS);
    assert_eq!(total("output_tokens"), 5 * OUTPUT_TOKENS);
    let busy: Vec<&Value> = buckets.iter().filter(|b| b["requests"] != 0).collect();
    assert!(busy.iter().all(|b| b["queue_wait_ms_max"].is_number()));
    assert!(
        buckets
            .iter()
            .filter(|b| b["requests"] == 0)
            .all(|b| b["queue_wait_ms_mean"].is_null())
    );

    // A restart does not zero the figures: the daemon reads them back from the history.
    assert!(daemon.stop().success());
    let daemon = Daemon::start(&account.sandbox);
    let status = daemon.wait_for_status(&account.admin, "the figures read back", |s| {
        traffic(s)["requests"]["last_hour"] == 6
    });
    let t = traffic(&status);
    assert_eq!(t["tokens"]["today"], tokens(5), "{t:#}");
    assert_eq!(t["errors"]["last_hour"], 1);
    assert!(number(&t["first_token_ms_p50"]) >= 300.0);
    assert_eq!(tool(t, "Claude Code")["tokens"]["last_5h"], tokens(3));
}

#[test]
fn the_queue_shows_cap_limit_and_waiting_requests_and_the_history_counts_the_wait() {
    let account = KimiAccount::new(KEY);
    let token = &account.token;
    account
        .sandbox
        .run(&["config", "set", "accounts.kimi-main.concurrency_cap", "2"])
        .ok();
    let daemon = Daemon::start(&account.sandbox);
    daemon.wait_for_status(&account.admin, "the provider's limit", |s| {
        kimi(s)["concurrency"]["limit"] == 30
    });
    // Long enough to see the line; each of the three rounds of two takes this long.
    const ANSWER: Duration = Duration::from_millis(1500);
    account.provider.set_behaviour(Behaviour::Slow(ANSWER));

    let origin = daemon.origin.clone();
    let statuses = std::thread::scope(|scope| {
        let requests: Vec<_> = (0..6)
            .map(|_| scope.spawn(|| chat(&origin, token, CLAUDE_CODE, false)))
            .collect();
        let waiting = daemon.wait_for_status(&account.admin, "2 in flight and 4 queued", |s| {
            let t = traffic(s);
            t["in_flight"] == 2 && t["queued"] == 4
        });
        let t = traffic(&waiting);
        assert_eq!((&t["cap"], &t["limit"]), (&json!(2), &json!(30)), "{t:#}");
        assert_eq!(tool(t, "Claude Code")["queued"], 4);
        let concurrency = &kimi(&waiting)["concurrency"];
        assert_eq!(
            (
                &concurrency["cap"],
                &concurrency["limit"],
                &concurrency["in_flight"],
                &concurrency["queued"]
            ),
            (&json!(2), &json!(30), &json!(2), &json!(4))
        );
        assert_eq!(
            concurrency["level"], "warn",
            "judged against the cap of 2, not the limit of 30"
        );
        let families = metrics(&daemon, &account.admin);
        assert_eq!(
            values(&families, "redline_queued", &[("account", "kimi-main")]),
            [4.0]
        );
        requests
            .into_iter()
            .map(|r| r.join().unwrap())
            .collect::<Vec<u16>>()
    });
    assert_eq!(statuses, [200; 6]);

    let status = daemon.wait_for_status(&account.admin, "all six finished", |s| {
        traffic(s)["requests"]["last_5m"] == 6
    });
    let t = traffic(&status);
    assert_eq!((&t["in_flight"], &t["queued"]), (&json!(0), &json!(0)));
    // Two went straight through, two waited one answer, two waited two.
    let answer_ms = ANSWER.as_secs_f64() * 1000.0;
    let p50 = number(&t["queue_wait_ms"]["p50"]);
    let p95 = number(&t["queue_wait_ms"]["p95"]);
    // (Loose bounds: the six clients start a moment apart on a busy machine.)
    assert!(p50 >= 0.6 * answer_ms && p50 < 3.0 * answer_ms, "{p50}");
    assert!(p95 >= 1.3 * answer_ms && p95 < 4.0 * answer_ms, "{p95}");
    assert!(p95 > p50);

    // In the history, latency is what the client waited: the queue and the answer.
    let database = account.sandbox.home().join("history.sqlite3");
    let rows = poll_until(
        "six request rows",
        Duration::from_secs(10),
        Duration::from_millis(50),
        || {
            let connection = Connection::open(&database).unwrap();
            let mut statement = connection
                .prepare("SELECT latency_ms, queue_wait_ms FROM requests ORDER BY queue_wait_ms")
                .unwrap();
            statement
                .query_map([], |row| Ok((row.get::<_, f64>(0)?, row.get::<_, f64>(1)?)))
                .unwrap()
                .collect::<Result<Vec<_>, _>>()
                .unwrap()
        },
        |rows| rows.len() == 6,
    );
    for (latency, wait) in &rows {
        assert!(*latency >= wait + answer_ms, "{rows:?}");
    }
    let waited: Vec<f64> = rows.iter().map(|(_, wait)| *wait).collect();
    assert!(
        waited[..2].iter().all(|w| *w < answer_ms / 2.0),
        "{waited:?}"
    );
    assert!(
        waited[2..].iter().all(|w| *w >= 0.6 * answer_ms),
        "{waited:?}"
    );
    assert!(
        waited[4..].iter().all(|w| *w >= 1.3 * answer_ms),
        "{waited:?}"
    );
}

#[test]
fn a_zero_from_the_provider_beside_forwarded_requests_is_doubtful() {
    let account = KimiAccount::new(KEY);
    let token = &account.token;
    account.provider.set_used_percent(0.0);
    let daemon = Daemon::start(&account.sandbox);
    // Nothing forwarded yet: the 0 is believed.
    let status = daemon.wait_for_status(&account.admin, "the first poll", |s| {
        !kimi(s)["windows"].as_array().unwrap().is_empty()
    });
    let windows = kimi(&status)["windows"].as_array().unwrap();
    assert!(
        windows.iter().all(|w| w["doubtful"].is_null()),
        "{status:#}"
    );
    assert_eq!(kimi(&status)["level"], "ok", "{status:#}");

    for _ in 0..3 {
        assert_eq!(chat(&daemon.origin, token, CLAUDE_CODE, false), 200);
    }
    refresh(&daemon, &account.admin);
    let status = daemon.wait_for_status(&account.admin, "a doubtful window", |s| {
        kimi(s)["windows"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["doubtful"].is_string())
    });
    let account_status = kimi(&status);
    let five_hour = account_status["windows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["kind"] == "five_hour")
        .unwrap();
    assert_eq!(five_hour["used_ratio"], 0.0);
    assert_eq!(five_hour["level"], "unknown");
    assert_eq!(
        five_hour["doubtful"],
        "5h window: Kimi reports 0 % used, but Redline forwarded 3 requests in this window; \
         its usage endpoint is known to answer 0 for some logins."
    );
    assert_eq!(account_status["level"], "unknown", "not green: {status:#}");
    assert!(
        account_status["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["code"] == "window_doubtful" && r["level"] == "unknown")
    );
    // Once the provider counts them, the figure is believed again.
    account.provider.set_used_percent(1.0);
    refresh(&daemon, &account.admin);
    let status = daemon.wait_for_status(&account.admin, "the provider's new figure", |s| {
        kimi(s)["windows"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["kind"] == "five_hour" && w["used_ratio"] != 0.0)
    });
    let windows = kimi(&status)["windows"].as_array().unwrap();
    assert!(
        windows.iter().all(|w| w["doubtful"].is_null()),
        "{status:#}"
    );
}
