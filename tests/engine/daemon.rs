//! `redline daemon` as a user runs it: the real binary on a loopback port, its JSON API, the
//! access rules (token, Host, Origin), live events and a clean stop on SIGTERM.

use crate::support::{Daemon, KimiAccount, Sandbox, http, poll_until};
use std::io::{BufRead, BufReader};
use std::time::Duration;

const KEY: &str = "sk-test-DaemonKeyAbcdefghijklmnop6060";

#[test]
fn the_api_needs_the_admin_credential_and_serves_status_keys_and_events() {
    let (account, mut daemon) = KimiAccount::with_daemon(KEY);
    let token = &account.admin;
    let url = |path: &str| daemon.url(path);
    let client = http();

    assert_eq!(client.get(url("/healthz")).send().unwrap().status(), 200);
    let refused = client.get(url("/api/v1/status")).send().unwrap();
    assert_eq!(refused.status(), 401);
    assert_eq!(refused.headers()["x-redline"], "error");
    assert!(refused.text().unwrap().contains("redline token"));

    let bearer = format!("Bearer {token}");
    let status: serde_json::Value = client
        .post(url("/api/v1/refresh"))
        .header("authorization", &bearer)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(status["accounts"][0]["id"], "kimi-main");
    assert_eq!(status["accounts"][0]["level"], "ok");
    assert_eq!(status["accounts"][0]["concurrency"]["limit"], 30);

    let by_key = client
        .get(url("/api/v1/status"))
        .header("x-api-key", token)
        .send()
        .unwrap();
    assert_eq!(by_key.status(), 200);

    let keys = client
        .get(url("/api/v1/keys"))
        .header("authorization", &bearer)
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        keys.contains("kimi-main") && keys.contains("sk-test-…6060"),
        "{keys}"
    );
    assert!(
        !keys.contains(&KEY[8..24]),
        "the API never returns a secret"
    );

    // The browser flow: the sign-in page trades the credential for an HttpOnly cookie.
    let page = client.get(url("/ui/")).send().unwrap();
    assert_eq!(page.status(), 401);
    assert!(page.text().unwrap().contains("redline dashboard"));
    let session = client
        .post(url("/api/v1/session"))
        .header("authorization", &bearer)
        .send()
        .unwrap();
    let cookie = session.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(
        !cookie.contains(token.as_str()),
        "the session is not the credential"
    );
    let pair = cookie.split(';').next().unwrap();
    let dashboard = client
        .get(url("/ui/"))
        .header("cookie", pair)
        .send()
        .unwrap();
    assert_eq!(dashboard.status(), 200);
    assert!(dashboard.text().unwrap().contains("<title>Redline</title>"));
    let css = client
        .get(url("/ui/style.css"))
        .header("cookie", pair)
        .send()
        .unwrap();
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");

    // Live events: the first event is the status as it is now.
    let mut events = client
        .get(url("/api/v1/events"))
        .header("authorization", &bearer)
        .send()
        .unwrap();
    assert_eq!(events.headers()["content-type"], "text/event-stream");
    let mut first = String::new();
    let mut reader = BufReader::new(&mut events);
    while !first.contains("\n\n") {
        let mut line = String::new();
        let read = reader.read_line(&mut line).unwrap();
        assert_ne!(read, 0, "the event stream ended: {first}");
        first.push_str(&line);
    }
    assert!(first.starts_with("event: status\ndata: {"), "{first}");
    assert!(first.contains("\"kimi-main\""), "{first}");
    drop(reader);
    drop(events);

    let status = daemon.stop();
    assert!(status.success(), "clean exit on SIGTERM: {status:?}");
}

#[test]
fn foreign_hosts_other_origins_and_remote_addresses_are_refused() {
    let sandbox = Sandbox::new();
    let token = sandbox.admin_token();
    let daemon = Daemon::start(&sandbox);
    let client = http();
    let url = format!("{}/api/v1/status", daemon.origin);
    let bearer = format!("Bearer {token}");

    let rebound = client
        .get(&url)
        .header("host", "evil.example:4290")
        .header("authorization", &bearer)
        .send()
        .unwrap();
    assert_eq!(rebound.status(), 403);
    assert!(
        rebound
            .text()
            .unwrap()
            .contains("addressed to this machine")
    );
    let cross = client
        .get(&url)
        .header("origin", "https://evil.example")
        .header("authorization", &bearer)
        .send()
        .unwrap();
    assert_eq!(cross.status(), 403);
    let wrong = client
        .get(&url)
        .header("authorization", "Bearer rl_not-the-token")
        .send()
        .unwrap();
    assert_eq!(wrong.status(), 401);
    // The proxy's route, which skips the router, is checked alike before any account is
    // looked up.
    let proxy_url = format!("{}/kimi-main/coding/v1/models", daemon.origin);
    for (name, value) in [
        ("host", "evil.example:4290"),
        ("origin", "https://evil.example"),
    ] {
        let refused = client.get(&proxy_url).header(name, value).send().unwrap();
        assert_eq!(refused.status(), 403, "{name}: {value}");
        let body = refused.text().unwrap();
        assert!(body.contains("redline_forbidden"), "{name}: {body}");
    }
    drop(daemon);

    let remote = sandbox
        .run(&["daemon", "--listen", "0.0.0.0:0"])
        .fails_with("refusing to listen on 0.0.0.0:0");
    assert!(remote.stderr.contains("--allow-remote"));
}

#[test]
fn env_prints_tool_settings_with_the_local_token_only() {
    let sandbox = Sandbox::new();
    sandbox.add_key_unchecked("kimi-main", "kimi-code", None, KEY);
    let token = sandbox.token();
    let env = sandbox
        .run(&["env", "kimi-main", "--tool", "openai-sdk"])
        .ok()
        .stdout;
    assert!(
        env.contains("export OPENAI_BASE_URL='http://127.0.0.1:4290/kimi-main/coding/v1'"),
        "{env}"
    );
    let anthropic = sandbox
        .run(&["env", "kimi-main", "--tool", "anthropic-sdk"])
        .ok()
        .stdout;
    assert!(
        anthropic.contains(&format!("export ANTHROPIC_AUTH_TOKEN='{token}'")),
        "{anthropic}"
    );
    let all = sandbox.run(&["env", "kimi-main"]).ok().stdout;
    for text in [&env, &anthropic, &all] {
        assert!(!text.contains(&KEY[8..24]), "the real key never appears");
    }
    // Without --tool nothing is exported to the whole shell: every line is a comment.
    assert!(
        all.lines().all(|l| l.is_empty() || l.starts_with('#')),
        "{all}"
    );
    let fish = sandbox
        .run(&[
            "env",
            "kimi-main",
            "--tool",
            "openai-sdk",
            "--shell",
            "fish",
        ])
        .ok()
        .stdout;
    assert!(fish.contains("set -gx OPENAI_API_KEY"), "{fish}");
    sandbox
        .run(&["env", "nobody"])
        .fails_with("no account named nobody");
}

#[test]
fn the_demo_goes_green_amber_red_with_the_cause_and_needs_no_keyring() {
    let sandbox = Sandbox::new();
    // No Secret Service at all: the demo must not need one.
    let mut daemon = Daemon::demo(
        &sandbox,
        &[
            (
                "DBUS_SESSION_BUS_ADDRESS",
                "unix:path=/nonexistent/redline-demo-bus",
            ),
            ("REDLINE_DEMO_PHASE_SECONDS", "3"),
        ],
    );
    let token = daemon.demo_token();

    // Follow the live events until the demo account has been ok, warn and critical.
    let mut seen = Vec::new();
    let mut critical = None;
    for status in daemon.statuses(&token, Duration::from_secs(40)) {
        let kimi = status["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["id"] == "kimi-demo")
            .unwrap()
            .clone();
        let level = kimi["level"].as_str().unwrap().to_owned();
        if seen.last() != Some(&level) {
            seen.push(level.clone());
        }
        if level == "critical" {
            critical = Some(kimi);
            break;
        }
    }
    assert_eq!(
        seen.iter()
            .filter(|l| ["ok", "warn", "critical"].contains(&l.as_str()))
            .cloned()
            .collect::<Vec<_>>(),
        ["ok", "warn", "critical"],
        "{seen:?}"
    );
    let kimi = critical.expect("the demo account turned critical within 40 s");
    assert!(
        kimi["throttles"]["by_cause"]["concurrency"]
            .as_u64()
            .unwrap()
            > 0,
        "{kimi:#}"
    );
    assert!(
        kimi["concurrency"]["peak"].as_u64().unwrap() >= 30,
        "{kimi:#}"
    );
    assert_eq!(kimi["concurrency"]["limit"], 30);
    assert!(
        kimi["reasons"][0]["message"]
            .as_str()
            .unwrap()
            .contains("concurrency limit"),
        "{kimi:#}"
    );
    assert!(daemon.stop().success());
}

#[test]
fn a_rotated_key_is_used_at_once_with_no_change_in_the_tool() {
    let (account, mut daemon) = KimiAccount::with_daemon(KEY);
    let (sandbox, kimi, token) = (&account.sandbox, &account.provider, &account.token);
    let client = http();
    // The tool: always the same URL and the same local token.
    let call = || {
        client
            .post(format!("{}/kimi-main/coding/v1/chat/completions", daemon.origin))
            .bearer_auth(token)
            .json(&serde_json::json!({"model": "kimi-for-coding", "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .unwrap()
    };
    assert_eq!(call().status(), 200);
    assert_eq!(
        kimi.last_request_headers().unwrap()["authorization"],
        format!("Bearer {KEY}")
    );

    const NEW: &str = "sk-test-RotatedKeyQrstuvwxyzABCD9090";
    sandbox
        .run_stdin(&["keys", "rotate", "kimi-main", "--no-verify"], NEW)
        .ok();
    // The daemon picks up the change within a few seconds; the tool changes nothing.
    poll_until(
        "the rotated key sent to Kimi",
        Duration::from_secs(15),
        Duration::from_millis(200),
        || {
            call();
            kimi.last_request_headers().unwrap()["authorization"].clone()
        },
        |sent| sent == format!("Bearer {NEW}").as_str(),
    );
    assert!(daemon.stop().success());
}

#[test]
fn an_auto_cap_queues_at_the_providers_own_limit_instead_of_a_429() {
    let account = KimiAccount::new(KEY);
    let (sandbox, kimi, token) = (&account.sandbox, &account.provider, &account.token);
    let admin = &account.admin;
    kimi.set_concurrency_limit(30);
    kimi.enforce_concurrency(true);
    kimi.set_stream(6, Duration::from_millis(50));
    sandbox
        .run(&[
            "config",
            "set",
            "accounts.kimi-main.concurrency_cap",
            "auto",
        ])
        .ok();
    let mut daemon = Daemon::start(sandbox);
    let client = http();
    // The first poll has told the daemon Kimi's parallel.limit of 30.
    daemon.wait_for_status(admin, "Kimi's concurrency limit learnt", |s| {
        s["accounts"][0]["concurrency"]["limit"] == 30
    });

    let url = format!("{}/kimi-main/coding/v1/chat/completions", daemon.origin);
    let body = serde_json::json!({"model": "kimi-for-coding", "stream": true, "messages": [{"role": "user", "content": "hi"}]});
    let answers: Vec<u16> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..40)
            .map(|_| {
                scope.spawn(|| {
                    let response = client
                        .post(&url)
                        .bearer_auth(token)
                        .json(&body)
                        .send()
                        .unwrap();
                    let code = response.status().as_u16();
                    let _ = response.bytes();
                    code
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    assert!(answers.iter().all(|&code| code == 200), "{answers:?}");
    let counters = kimi.chat_counters();
    assert_eq!(
        counters.refused, 0,
        "the provider never had to refuse: {counters:?}"
    );
    assert!(counters.peak_in_flight <= 30, "{counters:?}");
    let kimi_main = daemon.status(admin)["accounts"][0].clone();
    assert!(
        kimi_main["concurrency"]["peak"].as_u64().unwrap() <= 30,
        "{kimi_main:#}"
    );
    assert_eq!(kimi_main["throttles"]["recent"], 0, "{kimi_main:#}");
    assert!(daemon.stop().success());
}

#[test]
fn an_emptied_config_keeps_the_running_accounts_and_says_why() {
    let (account, mut daemon) = KimiAccount::with_daemon(KEY);
    let origin = daemon.origin.clone();
    let call = || {
        http()
            .post(format!("{origin}/kimi-main/coding/v1/chat/completions"))
            .bearer_auth(&account.token)
            .json(&serde_json::json!({"model": "kimi-for-coding", "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .unwrap()
            .status()
    };
    assert_eq!(call(), 200);
    let config = account.sandbox.config_path();
    let before = std::fs::read(&config).unwrap();
    // A failed write or an editor accident: the file is there but holds nothing.
    std::fs::write(&config, "\n").unwrap();
    let line = daemon.wait_for_line("keeping the previous settings", Duration::from_secs(15));
    assert!(
        line.contains("is empty or gone while accounts were set up (kimi-main)"),
        "{line}"
    );
    assert_eq!(call(), 200, "the account still answers");
    std::fs::write(&config, &before).unwrap();
    assert_eq!(call(), 200);
    assert!(daemon.stop().success());
}

/// A provider that quotes, word for word, the credential it refused (some do).
fn provider_quoting_the_key() -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let (mut credential, mut length) = (String::new(), 0);
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 2 {
                if let Some((name, value)) = line.trim_end().split_once(':') {
                    match name.to_ascii_lowercase().as_str() {
                        "authorization" => credential = value.trim().to_owned(),
                        "content-length" => length = value.trim().parse().unwrap_or(0),
                        _ => {}
                    }
                }
                line.clear();
            }
            let _ = reader.read_exact(&mut vec![0; length]);
            let body = serde_json::json!({"error": {
                "message": format!("Invalid API key provided: {credential}"),
                "type": "invalid_request_error",
                "code": "invalid_api_key"
            }})
            .to_string();
            let _ = write!(
                &stream,
                "HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\n\
                 content-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    origin
}

#[test]
fn a_key_quoted_by_the_provider_is_masked_everywhere_redline_repeats_it() {
    const QUOTED: &str = "sk-proj-QuotedKeyAbcdefghijklmn7777";
    let sandbox = Sandbox::new();
    let origin = provider_quoting_the_key();
    sandbox
        .run_stdin(
            &[
                "keys",
                "add",
                "leaky",
                "--provider",
                "openai",
                "--base-url",
                &origin,
                "--no-verify",
            ],
            QUOTED,
        )
        .ok();
    // The check's verdict is kept in config.toml.
    let test = sandbox.run(&["keys", "test", "leaky"]);
    let mut daemon = Daemon::start(&sandbox);
    let (token, admin) = (sandbox.token(), sandbox.admin_token());
    let refused = http()
        .post(daemon.url("/leaky/v1/chat/completions"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"model": "gpt-5", "messages": []}))
        .send()
        .unwrap();
    assert_eq!(refused.status(), 401);
    let refused = refused.text().unwrap();
    assert!(
        refused.contains(QUOTED),
        "the client gets the provider's answer as it was: {refused}"
    );
    daemon.wait_for_status(&admin, "the refusal, masked", |s| {
        s["accounts"][0]["throttles"]["last"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("Invalid API key provided: Bearer sk-proj-…7777"))
    });
    let api = |path: &str| {
        http()
            .get(daemon.url(path))
            .bearer_auth(&admin)
            .send()
            .unwrap()
            .text()
            .unwrap()
    };
    let seen = [
        ("keys test", test.stdout.clone() + &test.stderr),
        ("config.toml", sandbox.config_text().unwrap()),
        ("/api/v1/status", api("/api/v1/status")),
        ("/api/v1/throttles", api("/api/v1/throttles")),
        ("/metrics", api("/metrics")),
        ("redline status", sandbox.run(&["status"]).stdout),
    ];
    assert!(daemon.stop().success());
    for (what, text) in seen.iter().chain([&("daemon log", daemon.log())]) {
        assert!(!text.contains(QUOTED), "{what} repeats the key: {text}");
        assert!(
            !text.contains("QuotedKey"),
            "{what} repeats part of the key: {text}"
        );
    }
}

/// A stand-in for a company's HTTP proxy on loopback that refuses every tunnel (`403`, one
/// request per connection) and keeps the head of each request it was sent.
fn refusing_http_proxy() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let kept = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let mut request = Vec::new();
            let mut buffer = [0u8; 4096];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buffer) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buffer[..n]),
                }
            }
            kept.lock()
                .unwrap()
                .push(String::from_utf8_lossy(&request).into_owned());
            let reply = "HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
            let _ = stream.write_all(reply.as_bytes());
        }
    });
    (address, seen)
}

#[test]
fn a_provider_behind_the_system_proxy_is_asked_for_through_it() {
    const FAR_KEY: &str = "sk-proj-BehindTheCompanyProxy000000000001";
    let (proxy, seen) = refusing_http_proxy();
    let sandbox = Sandbox::new();
    // The provider's real host, which only the proxy could reach from a company network (and
    // nothing here can): Redline's upstream client must ask the proxy for it.
    sandbox.add_key_unchecked("far", "openai", None, FAR_KEY);
    let token = sandbox.token();
    let daemon = Daemon::start_args(
        &sandbox,
        &["--listen", "127.0.0.1:0"],
        &[
            ("HTTPS_PROXY", &proxy),
            ("https_proxy", &proxy),
            ("NO_PROXY", ""),
            ("no_proxy", ""),
        ],
    );
    let answer = http()
        .post(daemon.url("/far/v1/chat/completions"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(r#"{"model":"gpt-5","messages":[]}"#)
        .send()
        .unwrap();
    let status = answer.status();
    let text = answer.text().unwrap();
    assert_eq!(
        status,
        502,
        "the tunnel was refused: {text}\n{}",
        daemon.log()
    );
    assert!(text.contains("api.openai.com"), "names the host: {text}");
    let heads = seen.lock().unwrap().clone();
    assert!(
        heads
            .iter()
            .any(|head| head.starts_with("CONNECT api.openai.com:443 HTTP/1.1\r\n")),
        "the proxy was asked for a tunnel to the provider: {heads:?}"
    );
    for head in &heads {
        assert!(!head.contains(&token) && !head.contains(FAR_KEY), "{head}");
    }
}
