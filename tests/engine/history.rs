//! The history of a real `redline daemon`: traffic through the proxy to a fake provider lands
//! in `history.sqlite3`, the history endpoint serves it, a clean stop commits everything, and
//! `kill -9` in the middle of load leaves an intact database holding every row the daemon had
//! reported committed. The database never holds a key or the local token.

use crate::support::{Daemon, KimiAccount, http, poll_until};
use rusqlite::Connection;
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

const KEY: &str = "sk-test-HistoryKeyAbcdefghijklmnop7070";

fn chat(client: &reqwest::blocking::Client, origin: &str, token: &str) -> u16 {
    client
        .post(format!("{origin}/kimi-main/coding/v1/chat/completions"))
        .bearer_auth(token)
        .header("user-agent", "claude-cli/2.0.14 (external, cli)")
        .json(&serde_json::json!({"model": "kimi-for-coding", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .map(|r| {
            let status = r.status().as_u16();
            let _ = r.bytes();
            status
        })
        .unwrap_or(0)
}

fn history(client: &reqwest::blocking::Client, origin: &str, token: &str) -> Value {
    let answer = client
        .get(format!(
            "{origin}/api/v1/history?account=kimi-main&range=day"
        ))
        .bearer_auth(token)
        .send()
        .unwrap();
    assert_eq!(answer.status(), 200);
    answer.json().unwrap()
}

/// Neither the key nor the token is anywhere in the database files.
fn assert_no_secrets(home: &Path, token: &str) {
    for name in ["history.sqlite3", "history.sqlite3-wal"] {
        let Ok(bytes) = std::fs::read(home.join(name)) else {
            continue;
        };
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(&KEY[8..]), "{name} holds the key");
        assert!(!text.contains(token), "{name} holds the local token");
    }
}

fn count(connection: &Connection, sql: &str) -> i64 {
    connection.query_row(sql, [], |r| r.get(0)).unwrap()
}

#[test]
fn traffic_is_recorded_served_and_committed_on_a_clean_stop() {
    let (account, mut daemon) = KimiAccount::with_daemon(KEY);
    let (token, admin) = (&account.token, &account.admin);
    let client = http();
    account.provider.refuse_next_chats(2, 3);
    let statuses: Vec<u16> = (0..7)
        .map(|_| chat(&client, &daemon.origin, token))
        .collect();
    assert_eq!(statuses, [429, 429, 200, 200, 200, 200, 200]);

    let refused = client
        .get(format!(
            "{}/api/v1/history?account=kimi-main",
            daemon.origin
        ))
        .send()
        .unwrap();
    assert_eq!(refused.status(), 401, "the history needs the token");
    let bad = client
        .get(format!(
            "{}/api/v1/history?account=kimi-main&range=year",
            daemon.origin
        ))
        .bearer_auth(admin)
        .send()
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert!(bad.text().unwrap().contains("range must be day or week"));
    let unknown = client
        .get(format!("{}/api/v1/history?account=nobody", daemon.origin))
        .bearer_auth(admin)
        .send()
        .unwrap();
    assert_eq!(unknown.status(), 404);

    // Rows reach the database within moments; the endpoint reports what is committed.
    let answer = poll_until(
        "all 7 requests committed",
        Duration::from_secs(10),
        Duration::from_millis(50),
        || history(&client, &daemon.origin, admin),
        |answer| answer["store"]["last_request_id"] == 7,
    );
    let buckets = answer["requests"].as_array().unwrap();
    assert_eq!(buckets.len(), 288);
    let requests: u64 = buckets
        .iter()
        .map(|b| b["requests"].as_u64().unwrap())
        .sum();
    let errors: u64 = buckets.iter().map(|b| b["errors"].as_u64().unwrap()).sum();
    assert_eq!((requests, errors), (7, 2));
    let throttles = answer["throttles"].as_array().unwrap();
    let by_cause_total: u64 = throttles.iter().map(|h| h["total"].as_u64().unwrap()).sum();
    assert_eq!(by_cause_total, 2, "{answer}");
    // The first poll's usage is sampled as soon as it arrives.
    assert!(
        answer["windows"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["points"][0]["used_ratio"].is_number()),
        "{answer}"
    );

    // The dashboard's chart module is served with the other dashboard files.
    let module = client
        .get(format!("{}/ui/history.js", daemon.origin))
        .bearer_auth(admin)
        .send()
        .unwrap();
    assert_eq!(module.status(), 200);
    assert!(
        module.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    assert!(
        module
            .text()
            .unwrap()
            .contains("export async function renderHistory(container, transport")
    );

    assert!(daemon.stop().success());
    let log = daemon.log();
    assert!(log.contains("redline: history saved"), "{log}");
    let home = account.sandbox.home();
    let connection = Connection::open(home.join("history.sqlite3")).unwrap();
    assert_eq!(count(&connection, "SELECT COUNT(*) FROM requests"), 7);
    assert_eq!(
        count(
            &connection,
            "SELECT COUNT(*) FROM requests WHERE client = 'Claude Code' AND status = 429 AND latency_ms > 0"
        ),
        2
    );
    assert_eq!(count(&connection, "SELECT COUNT(*) FROM throttles"), 2);
    let wal = std::fs::metadata(home.join("history.sqlite3-wal")).map_or(0, |m| m.len());
    assert_eq!(wal, 0, "a clean stop folds the WAL into the database");
    assert_no_secrets(&home, token);
}

#[test]
fn kill_9_mid_load_loses_no_committed_row_and_corrupts_nothing() {
    let (account, mut daemon) = KimiAccount::with_daemon(KEY);
    let (token, admin) = (&account.token, &account.admin);
    let origin = daemon.origin.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let load: Vec<_> = (0..8)
        .map(|_| {
            let (stop, sent, origin, token) =
                (stop.clone(), sent.clone(), origin.clone(), token.clone());
            std::thread::spawn(move || {
                let client = http();
                while !stop.load(Ordering::Relaxed) {
                    sent.fetch_add(1, Ordering::Relaxed);
                    if chat(&client, &origin, &token) == 0 {
                        return; // the daemon is gone
                    }
                }
            })
        })
        .collect();

    // Watch what the daemon reports committed; kill it while the load is running.
    let client = http();
    let reported = poll_until(
        "300 requests committed under load",
        Duration::from_secs(60),
        Duration::from_millis(20),
        || history(&client, &origin, admin)["store"].clone(),
        |store| store["last_request_id"].as_i64().unwrap() >= 300,
    );
    daemon.kill();
    stop.store(true, Ordering::Relaxed);
    for thread in load {
        thread.join().unwrap();
    }
    assert!(!daemon.log().contains("history saved"));

    let home = account.sandbox.home();
    let connection = Connection::open(home.join("history.sqlite3")).unwrap();
    let integrity: String = connection
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    let last = reported["last_request_id"].as_i64().unwrap();
    assert_eq!(
        count(
            &connection,
            &format!("SELECT COUNT(*) FROM requests WHERE id <= {last}")
        ),
        last,
        "every request row reported committed ({reported}) is there"
    );
    let all_rows = count(
        &connection,
        "SELECT (SELECT COUNT(*) FROM requests) + (SELECT COUNT(*) FROM throttles) + (SELECT COUNT(*) FROM usage) + (SELECT COUNT(*) FROM flight)",
    );
    assert!(
        all_rows >= reported["committed_rows"].as_i64().unwrap(),
        "{all_rows} rows on disk, {reported} reported"
    );
    assert!(
        count(&connection, "SELECT COUNT(*) FROM requests") as u64 <= sent.load(Ordering::Relaxed),
        "no row for a request that was never sent"
    );
    assert_no_secrets(&home, token);

    // The next daemon opens the same file and carries on.
    drop(connection);
    let mut again = Daemon::start(&account.sandbox);
    assert_eq!(chat(&http(), &again.origin, token), 200);
    assert!(again.stop().success());
    let connection = Connection::open(home.join("history.sqlite3")).unwrap();
    assert!(count(&connection, "SELECT MAX(id) FROM requests") > last);
}

#[test]
fn a_history_it_cannot_open_is_reported_and_the_proxy_still_works() {
    let account = KimiAccount::new(KEY);
    let (token, admin) = (&account.token, &account.admin);
    let path = account.sandbox.home().join("history.sqlite3");
    // A database from a future Redline.
    Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    let mut daemon = Daemon::start(&account.sandbox);
    let client = http();
    assert_eq!(chat(&client, &daemon.origin, token), 200);
    let answer = client
        .get(format!(
            "{}/api/v1/history?account=kimi-main",
            daemon.origin
        ))
        .bearer_auth(admin)
        .send()
        .unwrap();
    assert_eq!(answer.status(), 503);
    assert!(answer.text().unwrap().contains("history is off"));
    let metrics = client
        .get(format!("{}/metrics", daemon.origin))
        .bearer_auth(admin)
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(metrics.contains("redline_requests_total{"), "{metrics}");
    assert!(daemon.stop().success());
    let log = daemon.log();
    assert!(
        log.contains("running without history") && log.contains("newer Redline"),
        "{log}"
    );
    let version: i64 = Connection::open(&path)
        .unwrap()
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, 99, "the file is left as it was");
}
