//! Connecting tools through the engine's API, as the dashboard does, against the real daemon,
//! the real keyring and a fake Kimi Code, in a sandbox `$HOME`: the list of tools and their
//! states, a preview that writes nothing, a connect that writes the tool's own token (never the
//! admin credential or the key) and proves it through the proxy, a disconnect that restores
//! the user's file byte for byte, the errors in the API's shape; and the engine's watch over
//! the files, which names a connected tool that stops pointing at Redline, or whose token was
//! rotated, in its log and on the event stream.

use crate::support::{Daemon, KimiAccount, Sandbox, http};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};

const KEY: &str = "sk-kimi-ToolsApiKeyAbcdefghijklmnop4242";
/// How long the tool watch may take to name a change (it looks every 3 s, and believes a
/// change on its second look).
const NOTICE_WITHIN: Duration = Duration::from_secs(20);

/// An admin client of one daemon that keeps every answer, to search them for secrets.
struct Admin {
    origin: String,
    token: String,
    seen: String,
}

impl Admin {
    fn new(daemon: &Daemon, token: &str) -> Admin {
        Admin {
            origin: daemon.origin.clone(),
            token: token.to_owned(),
            seen: String::new(),
        }
    }

    fn send(&mut self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = http()
            .request(method.parse().unwrap(), format!("{}{path}", self.origin))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().unwrap();
        let status = response.status().as_u16();
        let text = response.text().unwrap();
        self.seen.push_str(&text);
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    fn tool(&mut self, tool: &str) -> Value {
        let (code, list) = self.send("GET", "/api/v1/tools", None);
        assert_eq!(code, 200, "{list}");
        list["tools"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["tool"] == tool)
            .unwrap_or_else(|| panic!("no {tool} in {list}"))
            .clone()
    }
}

fn tool_token(sandbox: &Sandbox, tool: &str) -> String {
    sandbox
        .run(&["token", "--tool", tool])
        .ok()
        .stdout
        .trim()
        .to_owned()
}

#[test]
fn the_api_lists_previews_connects_and_disconnects_a_tool_with_its_own_token() {
    let (account, mut daemon) = KimiAccount::with_daemon(KEY);
    let sandbox = &account.sandbox;
    let mut admin = Admin::new(&daemon, &account.admin);
    // The user's own OpenClaw file: a comment, a trailing comma.
    let file = sandbox.user_home().join(".openclaw/openclaw.json");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    let original = "// my gateway\n{\n  gateway: { port: 18789 },\n}\n";
    std::fs::write(&file, original).unwrap();

    let (code, list) = admin.send("GET", "/api/v1/tools", None);
    assert_eq!(code, 200, "{list}");
    assert_eq!(list["redline"], daemon.origin.trim_start_matches("http://"));
    assert_eq!(list["demo"], false);
    let openclaw = admin.tool("openclaw");
    assert_eq!(openclaw["state"], "not_configured", "{openclaw}");
    assert_eq!(openclaw["config_exists"], true);
    assert_eq!(openclaw["connected"], false);
    assert_eq!(openclaw["config_path"], file.to_str().unwrap());
    assert_eq!(
        openclaw["accounts"],
        json!([{"account": "kimi-main", "provider": "kimi-code", "usable": true}])
    );
    // Codex speaks only the Responses API, which Kimi Code does not offer: said per account.
    let codex = admin.tool("codex");
    assert_eq!(codex["accounts"][0]["usable"], false, "{codex}");
    assert!(
        codex["accounts"][0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("Codex speaks OpenAI responses; Kimi Code"),
        "{codex}"
    );

    // The preview shows the change with the token masked, and writes nothing.
    let (code, preview) = admin.send(
        "POST",
        "/api/v1/tools/openclaw/preview",
        Some(json!({"account": "kimi-main"})),
    );
    assert_eq!(code, 200, "{preview}");
    let text = preview["preview"].as_str().unwrap();
    assert!(text.contains("redline-kimi-main"), "{text}");
    assert!(text.contains("kimi-for-coding"), "{text}");
    assert_eq!(preview["creates"], false);
    assert_eq!(preview["model"], "kimi-for-coding");
    let token = tool_token(sandbox, "openclaw");
    assert!(!preview.to_string().contains(&token), "masked: {preview}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), original);

    // Connect: the tool's own token in its file, proven with one request through the proxy.
    let (code, done) = admin.send(
        "POST",
        "/api/v1/tools/openclaw/connect",
        Some(json!({"account": "kimi-main"})),
    );
    assert_eq!(code, 200, "{done}");
    assert_eq!(done["proof"]["ok"], true, "{done}");
    assert!(
        done["message"]
            .as_str()
            .unwrap()
            .starts_with("OpenClaw now goes through Redline for kimi-main (answered in "),
        "{done}"
    );
    let written = std::fs::read_to_string(&file).unwrap();
    assert!(written.contains(&token), "{written}");
    assert!(written.starts_with("// my gateway\n"), "{written}");
    for secret in [KEY, account.admin.as_str(), account.token.as_str()] {
        assert!(!written.contains(secret), "{written}");
    }
    let headers = account.provider.last_request_headers().unwrap();
    let sent: Vec<String> = headers
        .iter()
        .map(|(_, v)| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect();
    assert!(
        sent.iter().any(|v| v.contains(KEY)),
        "the real key: {sent:?}"
    );
    assert!(!sent.iter().any(|v| v.contains(&token)), "{sent:?}");
    let openclaw = admin.tool("openclaw");
    assert_eq!(openclaw["state"], "redline", "{openclaw}");
    assert_eq!(openclaw["token_tool"], "openclaw");
    assert_eq!(openclaw["connected"], true);
    assert_eq!(openclaw["level"], "ok");
    assert_eq!(openclaw["label"], "Through Redline");

    // Disconnect: the user's file back, byte for byte; a second time there is nothing to do.
    let (code, undone) = admin.send("POST", "/api/v1/tools/openclaw/disconnect", None);
    assert_eq!(code, 200, "{undone}");
    assert_eq!(undone["outcome"], "restored", "{undone}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), original);
    let (_, again) = admin.send("POST", "/api/v1/tools/openclaw/disconnect", None);
    assert_eq!(again["outcome"], "not_connected", "{again}");

    // Errors have the API's shape, in words.
    for (method, path, body, status, code, words) in [
        (
            "POST",
            "/api/v1/tools/vim/connect",
            Some(json!({"account": "kimi-main"})),
            404,
            "unknown_tool",
            "Redline can connect claude-code, codex",
        ),
        (
            "POST",
            "/api/v1/tools/openclaw/preview",
            Some(json!({"account": "nobody"})),
            404,
            "no_such_account",
            "no account named nobody",
        ),
        (
            "POST",
            "/api/v1/tools/codex/connect",
            Some(json!({"account": "kimi-main"})),
            422,
            "tool_cannot_use_account",
            "Codex speaks OpenAI responses; Kimi Code",
        ),
        (
            "POST",
            "/api/v1/tools/openclaw/connect",
            Some(json!({"tool": "x"})),
            400,
            "invalid_input",
            "{\"account\": \"...\"}",
        ),
    ] {
        let (got, error) = admin.send(method, path, body);
        assert_eq!(got, status, "{path}: {error}");
        assert_eq!(error["error"]["code"], code, "{path}: {error}");
        assert!(
            error["error"]["message"].as_str().unwrap().contains(words),
            "{path}: {error}"
        );
    }
    assert!(!sandbox.user_home().join(".codex").exists());
    // A file that does not parse is refused with its place and left as it was.
    let aider = sandbox.user_home().join(".aider.conf.yml");
    let broken = "model: gpt-4\nopenai-api-base: [unclosed\n";
    std::fs::write(&aider, broken).unwrap();
    let (got, error) = admin.send(
        "POST",
        "/api/v1/tools/aider/connect",
        Some(json!({"account": "kimi-main"})),
    );
    assert_eq!(
        (got, &error["error"]["code"]),
        (422, &json!("unreadable_config")),
        "{error}"
    );
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("~/.aider.conf.yml, line 3, column 1"),
        "{error}"
    );
    assert_eq!(std::fs::read_to_string(&aider).unwrap(), broken);
    assert_eq!(admin.tool("aider")["state"], "unreadable");

    // A tool token opens none of it.
    let refused = http()
        .get(daemon.url("/api/v1/tools"))
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert!([401, 403].contains(&refused.status().as_u16()));

    assert!(daemon.stop().success());
    for text in [&admin.seen, &daemon.log()] {
        assert!(!text.contains(KEY) && !text.contains(&KEY[8..24]), "{text}");
        assert!(!text.contains(&token), "{text}");
    }
}

/// Reads the live event stream until a `tool` event satisfies `wanted`.
fn wait_for_tool_event(
    events: reqwest::blocking::Response,
    what: &str,
    wanted: impl Fn(&Value) -> bool,
) -> Value {
    let started = Instant::now();
    let mut tool_event = false;
    for line in BufReader::new(events).lines().map_while(Result::ok) {
        if let Some(name) = line.strip_prefix("event: ") {
            tool_event = name == "tool";
        } else if let Some(data) = line.strip_prefix("data: ")
            && tool_event
        {
            let notice: Value = serde_json::from_str(data).unwrap();
            if wanted(&notice) {
                return notice;
            }
        }
    }
    panic!(
        "no tool event about {what} within {} s",
        started.elapsed().as_secs()
    );
}

fn open_events(daemon: &Daemon, admin: &str) -> reqwest::blocking::Response {
    let events = http()
        .get(daemon.url("/api/v1/events"))
        .bearer_auth(admin)
        .timeout(NOTICE_WITHIN)
        .send()
        .unwrap();
    assert_eq!(events.status(), 200);
    events
}

#[test]
fn the_engine_names_a_connected_tool_that_stops_pointing_at_it_and_a_rotated_token() {
    let (account, mut daemon) = KimiAccount::with_daemon(KEY);
    let sandbox = &account.sandbox;
    let file = sandbox.user_home().join(".aider.conf.yml");
    sandbox.run(&["connect", "aider", "kimi-main"]).ok();

    // The user points aider straight at the provider again.
    let events = open_events(&daemon, &account.admin);
    std::fs::write(&file, "openai-api-base: https://api.kimi.com/coding/v1\n").unwrap();
    let line = daemon.wait_for_line("aider no longer goes through Redline", NOTICE_WITHIN);
    assert!(
        line.contains(
            "~/.aider.conf.yml changed: it sends aider straight to https://api.kimi.com/coding/v1"
        ) && line.ends_with("Point it back: `redline connect aider kimi-main`."),
        "{line}"
    );
    let notice = wait_for_tool_event(events, "aider leaving Redline", |n| {
        n["kind"] == "left_redline"
    });
    assert_eq!(notice["tool"], "aider");
    assert_eq!(notice["command"], "redline connect aider kimi-main");
    assert_eq!(notice["config_path"], "~/.aider.conf.yml");

    // Connected again, then its token rotated: the file holds a token Redline refuses.
    sandbox.run(&["connect", "aider", "kimi-main"]).ok();
    let events = open_events(&daemon, &account.admin);
    sandbox.run(&["token", "--tool", "aider", "--rotate"]).ok();
    let line = daemon.wait_for_line("aider's tool token no longer works", NOTICE_WITHIN);
    assert!(line.contains("`redline connect aider kimi-main`"), "{line}");
    wait_for_tool_event(events, "aider's refused token", |n| {
        n["kind"] == "token_refused"
    });

    // Redline's own disconnect is no news. The watch reads every tool's file on each look, so
    // once it has named the Kimi Code CLI's file removed after that (two looks later), it has
    // seen aider's restored file twice over.
    sandbox.run(&["connect", "aider", "kimi-main"]).ok();
    sandbox.run(&["disconnect", "aider"]).ok();
    sandbox.run(&["connect", "kimi", "kimi-main"]).ok();
    std::fs::remove_file(sandbox.user_home().join(".kimi/config.toml")).unwrap();
    let line = daemon.wait_for_line(
        "Kimi Code CLI no longer goes through Redline",
        NOTICE_WITHIN,
    );
    assert!(line.contains("Redline's settings are gone"), "{line}");
    assert!(daemon.stop().success());
    let log = daemon.log();
    assert_eq!(
        log.matches("aider no longer goes through Redline").count(),
        1,
        "{log}"
    );
    assert!(!log.contains(KEY), "{log}");
}

#[test]
fn the_demo_lists_the_tools_but_connects_none() {
    let sandbox = Sandbox::new();
    let mut daemon = Daemon::demo(&sandbox, &[]);
    let mut admin = Admin::new(&daemon, &daemon.demo_token());
    let (code, list) = admin.send("GET", "/api/v1/tools", None);
    assert_eq!(code, 200, "{list}");
    assert_eq!(list["demo"], true);
    assert_eq!(list["tools"].as_array().unwrap().len(), 6);
    let (code, refused) = admin.send(
        "POST",
        "/api/v1/tools/aider/connect",
        Some(json!({"account": "kimi-demo"})),
    );
    assert_eq!((code, &refused["error"]["code"]), (409, &json!("demo")));
    assert!(!sandbox.user_home().join(".aider.conf.yml").exists());
    assert!(daemon.stop().success());
}

#[test]
fn the_setup_text_is_each_tools_own_as_redline_env_prints_it() {
    let (account, mut daemon) = KimiAccount::with_daemon(KEY);
    let sandbox = &account.sandbox;
    let mut admin = Admin::new(&daemon, &account.admin);
    let (code, all) = admin.send("GET", "/api/v1/keys/kimi-main/setup", None);
    assert_eq!(code, 200);
    let all = all.as_str().unwrap();
    let cli = sandbox.run(&["env", "kimi-main"]).ok().stdout;
    assert_eq!(all, cli, "the API and the CLI print the same");
    assert!(
        all.lines().all(|l| l.is_empty() || l.starts_with('#')),
        "{all}"
    );
    assert!(all.contains("# ==== OpenClaw (openclaw): "), "{all}");

    let (code, openclaw) = admin.send("GET", "/api/v1/keys/kimi-main/setup?tool=openclaw", None);
    assert_eq!(code, 200);
    // Exactly the file's content: it reads as JSON.
    let value = openclaw;
    assert_eq!(
        value["models"]["providers"]["redline-kimi-main"]["apiKey"],
        tool_token(sandbox, "openclaw")
    );
    let (code, fish) = admin.send(
        "GET",
        "/api/v1/keys/kimi-main/setup?tool=openai-sdk&shell=fish",
        None,
    );
    assert_eq!(code, 200);
    assert!(
        fish.as_str().unwrap().contains(&format!(
            "set -gx OPENAI_BASE_URL '{}/kimi-main/coding/v1'",
            daemon.origin
        )),
        "{fish}"
    );
    let (code, refused) = admin.send("GET", "/api/v1/keys/kimi-main/setup?tool=codex", None);
    assert_eq!(
        (code, &refused["error"]["code"]),
        (422, &json!("tool_cannot_use_account"))
    );
    let (code, refused) = admin.send("GET", "/api/v1/keys/kimi-main/setup?tool=vim", None);
    assert_eq!(
        (code, &refused["error"]["code"]),
        (400, &json!("invalid_input"))
    );
    assert!(!admin.seen.contains(&account.admin) && !admin.seen.contains(KEY));
    assert!(daemon.stop().success());
}
