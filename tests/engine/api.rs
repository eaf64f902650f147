//! The dashboard's JSON API over real loopback HTTP against the real `redline daemon`, the
//! real Secret Service and fake providers: the key lifecycle, verification errors, settings,
//! the tool setup snippet; and that no secret ever comes back out.

use crate::support::{Daemon, KimiAccount, Sandbox, closed_origin, fake, files_below, http};
use redline::providers::ProviderId;
use serde_json::{Value, json};

const KEY: &str = "sk-kimi-ApiFirstKeyAbcdefghijklmn1111";
const NEW_KEY: &str = "sk-kimi-ApiSecondKeyOpqrstuvwxyz2222";
const WRONG_KEY: &str = "sk-proj-ApiWrongKeyAbcdefghijkl3333";

/// A client for one daemon that keeps every answer, to search them for secrets.
struct Client {
    http: reqwest::blocking::Client,
    origin: String,
    bearer: String,
    seen: String,
}

impl Client {
    fn new(daemon: &Daemon, token: &str) -> Client {
        Client {
            http: http(),
            origin: daemon.origin.clone(),
            bearer: format!("Bearer {token}"),
            seen: String::new(),
        }
    }

    fn send(&mut self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("{}{path}", self.origin);
        let mut request = self
            .http
            .request(method.parse().unwrap(), url)
            .header("authorization", &self.bearer);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().unwrap();
        let status = response.status().as_u16();
        let text = response.text().unwrap();
        self.seen.push_str(&text);
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }
}

fn account<'a>(status: &'a Value, id: &str) -> Option<&'a Value> {
    status["accounts"]
        .as_array()?
        .iter()
        .find(|a| a["id"] == id)
}

/// Fails if `text` holds any part of a secret long enough to identify it.
fn assert_no_secret(what: &str, text: &str) {
    for secret in [KEY, NEW_KEY, WRONG_KEY] {
        let middle = &secret[8..24];
        assert!(!text.contains(middle), "{what} holds a secret: {text}");
    }
}

#[test]
fn keys_are_added_tested_rotated_rolled_back_and_removed_over_http() {
    let sandbox = Sandbox::new();
    let kimi = fake(ProviderId::KimiCode, KEY);
    let origin = kimi.origin();
    let token = sandbox.admin_token();
    let mut daemon = Daemon::start(&sandbox);
    let mut client = Client::new(&daemon, &token);

    let (code, providers) = client.send("GET", "/api/v1/providers", None);
    assert_eq!(code, 200);
    let kimi_info = providers
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "kimi-code")
        .expect("kimi-code is offered");
    assert!(kimi_info["key_hint"].as_str().unwrap().contains("sk-kimi-"));
    assert_eq!(
        kimi_info["regions"][0]["api_base"],
        "https://api.kimi.com/coding/v1"
    );

    let add = json!({"id": "kimi-main", "provider": "kimi-code", "base_url": origin,
                     "label": "Kimi", "secret": KEY});
    let (code, added) = client.send("POST", "/api/v1/keys", Some(add.clone()));
    assert_eq!(code, 201, "{added}");
    assert_eq!(added["fingerprint"], "sk-kimi-…1111");
    assert_eq!(added["last_test"]["ok"], true);
    assert_eq!(sandbox.keyring("account:kimi-main").as_deref(), Some(KEY));
    let (code, again) = client.send("POST", "/api/v1/keys", Some(add));
    assert_eq!(code, 409, "{again}");
    assert_eq!(again["error"]["code"], "duplicate_account");

    // The running engine picks the new account up without a restart.
    let status = daemon.wait_for_status(&token, "kimi-main with a good key", |s| {
        account(s, "kimi-main").is_some_and(|a| a["key"]["health"] == "ok")
    });
    assert_eq!(status["demo"], false);
    assert_eq!(
        account(&status, "kimi-main").unwrap()["concurrency"]["limit"],
        30
    );

    let (code, tested) = client.send("POST", "/api/v1/keys/kimi-main/test", None);
    assert_eq!((code, &tested["ok"]), (200, &json!(true)), "{tested}");

    // Rotation: the provider knows the new key; the old one is kept for rollback.
    kimi.accept_key(NEW_KEY);
    let (code, rotated) = client.send(
        "POST",
        "/api/v1/keys/kimi-main/rotate",
        Some(json!({"secret": NEW_KEY})),
    );
    assert_eq!(code, 200, "{rotated}");
    assert_eq!(rotated["fingerprint"], "sk-kimi-…2222");
    assert_eq!(rotated["previous_fingerprint"], "sk-kimi-…1111");
    assert_eq!(
        sandbox.keyring("account:kimi-main").as_deref(),
        Some(NEW_KEY)
    );
    assert_eq!(
        sandbox.keyring("account:kimi-main:previous").as_deref(),
        Some(KEY)
    );
    let (code, same) = client.send(
        "POST",
        "/api/v1/keys/kimi-main/rotate",
        Some(json!({"secret": NEW_KEY})),
    );
    assert_eq!((code, &same["error"]["code"]), (409, &json!("same_key")));

    let (code, back) = client.send("POST", "/api/v1/keys/kimi-main/rollback", None);
    assert_eq!(code, 200, "{back}");
    assert_eq!(back["fingerprint"], "sk-kimi-…1111");
    assert_eq!(back["previous_fingerprint"], "sk-kimi-…2222");
    assert_eq!(sandbox.keyring("account:kimi-main").as_deref(), Some(KEY));

    let (code, listed) = client.send("GET", "/api/v1/keys", None);
    assert_eq!(code, 200);
    assert_eq!(listed[0]["id"], "kimi-main");

    let (code, removed) = client.send("DELETE", "/api/v1/keys/kimi-main", None);
    assert_eq!(code, 204, "{removed}");
    assert_eq!(sandbox.keyring("account:kimi-main"), None);
    assert_eq!(sandbox.keyring("account:kimi-main:previous"), None);
    let (_, listed) = client.send("GET", "/api/v1/keys", None);
    assert_eq!(listed, json!([]));
    let (code, gone) = client.send("POST", "/api/v1/keys/kimi-main/rollback", None);
    assert_eq!(
        (code, &gone["error"]["code"]),
        (404, &json!("no_such_account"))
    );
    daemon.wait_for_status(&token, "kimi-main gone", |s| {
        account(s, "kimi-main").is_none()
    });

    assert!(daemon.stop().success());
    assert_no_secret("the API's answers", &client.seen);
    assert_no_secret("the daemon's log", &daemon.log());
    for file in files_below(sandbox.dir.path()) {
        let text = String::from_utf8_lossy(&std::fs::read(&file).unwrap()).into_owned();
        assert_no_secret(&file.display().to_string(), &text);
    }
}

#[test]
fn a_refused_key_says_why_and_stores_nothing() {
    let sandbox = Sandbox::new();
    let openai = fake(ProviderId::Openai, KEY);
    let token = sandbox.admin_token();
    let daemon = Daemon::start(&sandbox);
    let mut client = Client::new(&daemon, &token);

    let (code, refused) = client.send(
        "POST",
        "/api/v1/keys",
        Some(
            json!({"id": "work", "provider": "openai", "base_url": openai.origin(),
                    "secret": WRONG_KEY}),
        ),
    );
    assert_eq!(code, 422, "{refused}");
    assert_eq!(refused["error"]["code"], "key_check_failed");
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("the key was not stored: OpenAI API rejected the key: HTTP 401"),
        "{message}"
    );
    assert_eq!(sandbox.keyring("account:work"), None);

    // A provider that cannot be reached: not stored, and the way out is named.
    let (code, unchecked) = client.send(
        "POST",
        "/api/v1/keys",
        Some(
            json!({"id": "work", "provider": "openai", "base_url": closed_origin(),
                    "secret": WRONG_KEY}),
        ),
    );
    assert_eq!(code, 502, "{unchecked}");
    assert_eq!(unchecked["error"]["code"], "key_not_checked");
    assert!(
        unchecked["error"]["message"]
            .as_str()
            .unwrap()
            .contains("try again, or store it without the check"),
        "{unchecked}"
    );

    // Malformed requests are named without quoting what was sent.
    for (body, expected) in [
        (
            json!({"id": "work", "provider": "openai", "secret": "sk-with space-SECRETSECRETSECRET"}),
            "invalid_input",
        ),
        (
            json!({"id": "work", "provider": "openai", "secret": 1234567890123456789u64}),
            "invalid_input",
        ),
        (
            json!({"id": "Not An Id", "provider": "openai", "secret": WRONG_KEY, "verify": false}),
            "invalid_input",
        ),
        (
            json!({"id": "work", "provider": "gpt", "secret": WRONG_KEY, "verify": false}),
            "invalid_input",
        ),
        (
            json!({"id": "work", "provider": "openai", "base_url": "ftp://x", "secret": WRONG_KEY}),
            "invalid_input",
        ),
    ] {
        let (code, answer) = client.send("POST", "/api/v1/keys", Some(body));
        assert_eq!(
            (code, &answer["error"]["code"]),
            (400, &json!(expected)),
            "{answer}"
        );
    }
    assert!(!client.seen.contains("SECRETSECRET"), "{}", client.seen);
    assert!(
        !client.seen.contains("1234567890123456789"),
        "{}",
        client.seen
    );
    assert_eq!(sandbox.keyring("account:work"), None);
    assert!(sandbox.config_text().is_none_or(|t| !t.contains("work")));

    // Unchecked on request: stored, and the status shows the provider refusing it.
    let (code, stored) = client.send(
        "POST",
        "/api/v1/keys",
        Some(
            json!({"id": "work", "provider": "openai", "base_url": openai.origin(),
                    "secret": WRONG_KEY, "verify": false}),
        ),
    );
    assert_eq!(code, 201, "{stored}");
    assert_eq!(stored["last_test"], Value::Null);
    daemon.wait_for_status(&token, "work with a rejected key", |s| {
        account(s, "work").is_some_and(|a| a["key"]["health"] == "rejected")
    });
    let (code, tested) = client.send("POST", "/api/v1/keys/work/test", None);
    assert_eq!((code, &tested["ok"]), (200, &json!(false)), "{tested}");

    // Unauthenticated or cross-site requests never reach the keys.
    let anonymous = client
        .http
        .post(daemon.url("/api/v1/keys"))
        .json(&json!({"id": "x", "provider": "openai", "secret": KEY}))
        .send()
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let cross_site = client
        .http
        .delete(daemon.url("/api/v1/keys/work"))
        .header("authorization", &client.bearer)
        .header("origin", "http://evil.example")
        .send()
        .unwrap();
    assert_eq!(cross_site.status(), 403);
    assert_eq!(sandbox.keyring("account:work").as_deref(), Some(WRONG_KEY));

    let log = daemon.log();
    drop(daemon);
    assert_no_secret("the API's answers", &client.seen);
    assert_no_secret("the daemon's log", &log);
}

#[test]
fn settings_are_validated_saved_and_the_setup_snippet_names_the_proxy() {
    let (account, daemon) = KimiAccount::with_daemon(KEY);
    let (sandbox, token) = (&account.sandbox, &account.token);
    let mut client = Client::new(&daemon, &account.admin);

    let (code, settings) = client.send("GET", "/api/v1/settings", None);
    assert_eq!(code, 200);
    assert_eq!(settings["thresholds"]["warn"], 80);
    assert_eq!(settings["accounts"]["kimi-main"]["concurrency_cap"], 0);

    // Both thresholds move together, though critical = 60 alone would be below warn = 80.
    let (code, saved) = client.send(
        "PUT",
        "/api/v1/settings",
        Some(json!({"thresholds.critical": 60, "thresholds.warn": "50",
                    "notifications.enabled": false,
                    "accounts.kimi-main.concurrency_cap": "auto"})),
    );
    assert_eq!(code, 200, "{saved}");
    assert_eq!(saved["thresholds"], json!({"warn": 50, "critical": 60}));
    assert_eq!(saved["notifications"]["enabled"], false);
    assert_eq!(saved["accounts"]["kimi-main"]["concurrency_cap"], "auto");
    let text = sandbox.config_text().unwrap();
    assert!(
        text.contains("warn = 50") && text.contains("concurrency_cap = \"auto\""),
        "{text}"
    );

    for (change, code, words) in [
        (
            json!({"poll.interval_s": 5}),
            "invalid_setting",
            "must be a whole number from 15",
        ),
        (
            json!({"thresholds.warn": 70}),
            "invalid_setting",
            "must be below thresholds.critical",
        ),
        (
            json!({"poll.interval": 60}),
            "invalid_setting",
            "valid keys are: thresholds.warn",
        ),
        (
            json!({"accounts.nobody.label": "x"}),
            "no_such_account",
            "no account named nobody",
        ),
        (
            json!({"proxy.listen": "localhost"}),
            "invalid_setting",
            "like \\\"127.0.0.1:4290\\\"",
        ),
    ] {
        let (status, refused) = client.send("PUT", "/api/v1/settings", Some(change.clone()));
        assert!(status == 400 || status == 404, "{change}: {refused}");
        assert_eq!(refused["error"]["code"], code, "{change}: {refused}");
        let message = refused["error"]["message"].to_string();
        assert!(message.contains(words), "{change}: {message}");
    }
    assert_eq!(
        sandbox.config_text().unwrap(),
        text,
        "a refused change saves nothing"
    );

    let (code, snippet) = client.send("GET", "/api/v1/keys/kimi-main/setup?shell=fish", None);
    assert_eq!(code, 200);
    let snippet = snippet.as_str().unwrap();
    assert!(
        snippet.contains(&format!(
            "set -gx OPENAI_BASE_URL '{}/kimi-main/coding/v1'",
            daemon.origin
        )),
        "{snippet}"
    );
    assert!(snippet.contains(&format!("set -gx OPENAI_API_KEY '{token}'")));
    assert!(
        !snippet.contains(&account.admin),
        "the snippet holds a tool token, never the admin credential"
    );
    let (code, refused) = client.send("GET", "/api/v1/keys/kimi-main/setup?shell=zsh", None);
    assert_eq!(
        (code, &refused["error"]["code"]),
        (400, &json!("invalid_input"))
    );

    let log = daemon.log();
    drop(daemon);
    assert_no_secret("the API's answers", &client.seen);
    assert_no_secret("the daemon's log", &log);
}

#[test]
fn the_demo_says_so_and_its_refusals_are_listed_with_their_tool() {
    let sandbox = Sandbox::new();
    let mut daemon = Daemon::demo(&sandbox, &[("REDLINE_DEMO_PHASE_SECONDS", "2")]);
    let token = daemon.demo_token();
    let mut client = Client::new(&daemon, &token);
    // The workload goes past the demo's concurrency limit in its third phase.
    let status = daemon.wait_for_status(&token, "a refusal in the demo", |s| {
        account(s, "kimi-demo").is_some_and(|a| a["throttles"]["recent"].as_u64() > Some(0))
    });
    assert_eq!(status["demo"], true);
    let (code, log) = client.send("GET", "/api/v1/throttles?limit=5", None);
    assert_eq!(code, 200);
    let log = log.as_array().unwrap();
    assert!(!log.is_empty() && log.len() <= 5, "{log:?}");
    let first = &log[0];
    assert_eq!(first["account"], "kimi-demo");
    assert!(
        ["Claude Code", "Kimi CLI"].contains(&first["tool"].as_str().unwrap()),
        "{first}"
    );
    assert_eq!(first["status"], 429);
    assert!(first["advice"].as_str().is_some_and(|a| !a.is_empty()));
    let times: Vec<&str> = log.iter().map(|e| e["at"].as_str().unwrap()).collect();
    assert!(
        times.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {times:?}"
    );

    // An open dashboard tab (a live event stream) does not keep the daemon from stopping.
    let open_stream = client
        .http
        .get(daemon.url("/api/v1/events"))
        .header("authorization", &client.bearer)
        .send()
        .unwrap();
    assert_eq!(open_stream.status(), 200);
    assert!(daemon.stop().success());
}

#[test]
fn the_demo_setup_snippet_points_tools_at_the_demo_proxy_and_works() {
    let sandbox = Sandbox::new();
    // The first phase of the workload (4 agents for 25 s) is far below the demo's limit of 30.
    let mut daemon = Daemon::demo(&sandbox, &[]);
    let admin = daemon.demo_token();
    let mut client = Client::new(&daemon, &admin);

    let (code, all) = client.send("GET", "/api/v1/keys/kimi-demo/setup?shell=sh", None);
    assert_eq!(code, 200, "{all}");
    let all = all.as_str().unwrap().to_owned();
    assert!(all.contains("opens only this demo"), "{all}");
    assert!(all.contains("# ==== Kimi Code CLI (kimi): "), "{all}");
    let (code, snippet) = client.send(
        "GET",
        "/api/v1/keys/kimi-demo/setup?shell=sh&tool=openai-sdk",
        None,
    );
    assert_eq!(code, 200, "{snippet}");
    let snippet = snippet.as_str().unwrap().to_owned();
    // The demo's tool token, not the link's admin credential.
    let token = snippet
        .lines()
        .find_map(|l| l.strip_prefix("export OPENAI_API_KEY='"))
        .and_then(|rest| rest.strip_suffix('\''))
        .unwrap()
        .to_owned();
    assert!(token.starts_with("rl_") && token != admin, "{snippet}");
    let base = format!("{}/kimi-demo/coding/v1", daemon.origin);
    for line in [
        format!("export OPENAI_BASE_URL='{base}'"),
        format!("export OPENAI_API_KEY='{token}'"),
    ] {
        assert!(
            snippet.lines().any(|l| l == line),
            "no {line:?} in {snippet}"
        );
    }
    // The Kimi Code CLI's own file, with the same token.
    let (code, kimi) = client.send("GET", "/api/v1/keys/kimi-demo/setup?tool=kimi", None);
    assert_eq!(code, 200, "{kimi}");
    let kimi = kimi.as_str().unwrap();
    assert!(
        kimi.contains(&format!("\"{base}\"")) && kimi.contains(&token),
        "{kimi}"
    );

    // A tool set up with exactly these lines gets an answer from the demo's provider.
    let value = |name: &str| {
        let prefix = format!("export {name}='");
        let line = snippet.lines().find_map(|l| l.strip_prefix(&prefix));
        line.and_then(|rest| rest.strip_suffix('\''))
            .unwrap()
            .to_owned()
    };
    let response = client
        .http
        .post(format!("{}/chat/completions", value("OPENAI_BASE_URL")))
        .bearer_auth(value("OPENAI_API_KEY"))
        .json(&json!({"model": "kimi-for-coding", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().unwrap());

    // Claude's demo account: the Anthropic-compatible lines, in fish.
    let (code, fish) = client.send(
        "GET",
        "/api/v1/keys/claude-demo/setup?shell=fish&tool=anthropic-sdk",
        None,
    );
    assert_eq!(code, 200, "{fish}");
    let fish = fish.as_str().unwrap();
    assert!(
        fish.contains(&format!(
            "set -gx ANTHROPIC_BASE_URL '{}/claude-demo'",
            daemon.origin
        )) && fish.contains(&format!("set -gx ANTHROPIC_AUTH_TOKEN '{token}'")),
        "{fish}"
    );

    // An account neither the demo nor the saved config has is named in the error.
    let (code, missing) = client.send("GET", "/api/v1/keys/kimi-main/setup", None);
    assert_eq!(code, 404, "{missing}");
    assert!(
        missing["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("kimi-main")),
        "{missing}"
    );
    assert!(daemon.stop().success());
}

#[test]
fn the_vocabulary_names_every_id_the_status_carries_and_needs_the_token() {
    let sandbox = Sandbox::new();
    let mut daemon = Daemon::demo(&sandbox, &[]);
    let token = daemon.demo_token();
    let mut client = Client::new(&daemon, &token);
    let (code, words) = client.send("GET", "/api/v1/vocabulary", None);
    assert_eq!(code, 200, "{words}");
    let has = |list: &str, id: &Value| {
        words[list].as_array().unwrap().iter().any(|entry| {
            &entry["id"] == id && (entry["name"].is_string() || entry["word"].is_string())
        })
    };

    // Once the demo's providers have answered, every id in the status has its words.
    let status = daemon.wait_for_status(&token, "every demo account with windows", |s| {
        s["accounts"].as_array().is_some_and(|all| {
            all.iter()
                .all(|a| !a["windows"].as_array().unwrap().is_empty())
        })
    });
    for account in status["accounts"].as_array().unwrap() {
        assert!(has("providers", &account["provider"]), "{account}");
        assert!(has("levels", &account["level"]), "{account}");
        assert!(has("levels", &account["concurrency"]["level"]), "{account}");
        for window in account["windows"].as_array().unwrap() {
            assert!(has("windows", &window["kind"]), "{window}");
            assert!(has("levels", &window["level"]), "{window}");
        }
    }
    // Claude's 5-hour window is 86 % used: amber by the default thresholds, as its account.
    let claude = account(&status, "claude-demo").unwrap();
    let windows = claude["windows"].as_array().unwrap();
    let five_hour = windows.iter().find(|w| w["kind"] == "five_hour").unwrap();
    assert_eq!(five_hour["level"], "warn", "{claude}");
    assert_eq!(claude["level"], "warn", "{claude}");

    let anonymous = client
        .http
        .get(daemon.url("/api/v1/vocabulary"))
        .send()
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    assert!(daemon.stop().success());
}
