//! Finding the running Redline and pointing tools at it: the runtime file a daemon writes
//! (so `env` and `status` use the address actually listening, and a stale file is ignored).

use crate::support::{Daemon, KimiAccount, Sandbox, http};
use serde_json::Value;

const KEY: &str = "sk-kimi-ConnectTestKeyAbcdefghijkl4242";

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[test]
fn env_and_status_use_the_address_the_daemon_listens_on_and_ignore_a_stale_file() {
    let account = KimiAccount::new(KEY);
    let sandbox = &account.sandbox;
    let runtime_file = sandbox.home().join("engine.json");

    // A file left by a Redline that was killed: its pid is gone.
    let stale_port = free_port();
    std::fs::write(
        &runtime_file,
        format!(
            r#"{{"address": "127.0.0.1:{stale_port}", "pid": 999999999, "started_at": "2026-01-01T00:00:00Z"}}"#
        ),
    )
    .unwrap();
    let env = sandbox.run(&["env", "kimi-main"]).ok().stdout;
    assert!(env.contains("http://127.0.0.1:4290/kimi-main/"), "{env}");
    assert!(!env.contains(&stale_port.to_string()), "{env}");

    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut daemon = Daemon::start_args(sandbox, &["--listen", &listen], &[]);
    let text = std::fs::read_to_string(&runtime_file).unwrap();
    assert!(text.contains(&listen), "{text}");
    assert!(!text.contains(&account.token) && !text.contains(&account.admin));
    assert!(
        !text.contains("rl_"),
        "no token in the runtime file: {text}"
    );

    let env = sandbox.run(&["env", "kimi-main"]).ok().stdout;
    assert!(
        env.contains(&format!("http://{listen}/kimi-main/coding/v1")),
        "{env}"
    );
    assert!(!env.contains(":4290/"), "{env}");
    // --engine fails unless the running engine answered.
    let status = sandbox.run(&["status", "--engine", "--json"]).ok();
    assert!(status.stdout.contains("kimi-main"), "{}", status.stdout);

    // `dashboard` and `config set`'s restart question find it too.
    let link = sandbox.run(&["dashboard", "--print"]).ok().stdout;
    assert!(
        link.starts_with(&format!("http://{listen}/#token=")),
        "{link}"
    );
    let set = sandbox
        .run(&["config", "set", "proxy.listen", "127.0.0.1:4299"])
        .ok()
        .stdout;
    assert!(
        set.contains("proxy.listen takes effect when Redline restarts: "),
        "{set}"
    );

    assert!(daemon.stop().success(), "{}", daemon.log());
    assert!(!runtime_file.exists(), "removed on a clean exit");
}

fn tool_token(sandbox: &Sandbox, tool: &str) -> String {
    sandbox
        .run(&["token", "--tool", tool])
        .ok()
        .stdout
        .trim()
        .to_owned()
}

fn tools_json(sandbox: &Sandbox) -> Value {
    let out = sandbox.run(&["tools", "--json"]).ok().stdout;
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn tool_entry(list: &Value, tool: &str) -> Value {
    list["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tool"] == tool)
        .unwrap_or_else(|| panic!("no {tool} in {list}"))
        .clone()
}

#[test]
fn connect_points_each_tool_at_redline_and_proves_it_with_the_real_key_kept_out() {
    let (account, mut daemon) = KimiAccount::with_daemon(KEY);
    let sandbox = &account.sandbox;
    let home = sandbox.user_home();
    let before = tools_json(sandbox);
    assert_eq!(
        before["redline"],
        daemon.origin.trim_start_matches("http://")
    );
    for tool in [
        "claude-code",
        "codex",
        "openclaw",
        "kimi",
        "opencode",
        "aider",
    ] {
        assert_eq!(
            tool_entry(&before, tool)["state"],
            "not_configured",
            "{before}"
        );
    }

    for (tool, display, file) in [
        ("claude-code", "Claude Code", ".claude/settings.json"),
        ("openclaw", "OpenClaw", ".openclaw/openclaw.json"),
        ("kimi", "Kimi Code CLI", ".kimi/config.toml"),
        ("opencode", "opencode", ".config/opencode/opencode.json"),
        ("aider", "aider", ".aider.conf.yml"),
    ] {
        let out = sandbox.run(&["connect", tool, "kimi-main"]).ok().stdout;
        assert!(
            out.contains(&format!(
                "{display} now goes through Redline for kimi-main (answered in "
            )),
            "{tool}: {out}"
        );
        let token = tool_token(sandbox, tool);
        assert!(!out.contains(&token), "the preview masks the token: {out}");
        let written = std::fs::read_to_string(home.join(file)).unwrap();
        assert!(written.contains(&token), "{tool}: {written}");
        assert!(!written.contains(KEY), "{tool}: the real key in {file}");
        assert!(written.contains("kimi-for-coding"), "{tool}: {written}");
        // The proof reached the provider with the real key, not the tool token.
        let headers = account.provider.last_request_headers().unwrap();
        let sent: Vec<String> = headers
            .iter()
            .map(|(_, v)| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        assert!(sent.iter().any(|v| v.contains(KEY)), "{tool}: {sent:?}");
        assert!(!sent.iter().any(|v| v.contains(&token)), "{tool}: {sent:?}");
        let entry = tool_entry(&tools_json(sandbox), tool);
        assert_eq!(entry["state"], "redline", "{entry}");
        assert_eq!(entry["account"], "kimi-main", "{entry}");
        assert_eq!(entry["token_tool"], tool, "{entry}");
    }

    // Codex speaks only the Responses API, which Kimi Code does not offer: refused, nothing
    // written.
    sandbox
        .run(&["connect", "codex", "kimi-main"])
        .fails_with("Codex speaks OpenAI responses; Kimi Code");
    assert!(!home.join(".codex").exists());

    let metrics = http()
        .get(daemon.url("/metrics"))
        .bearer_auth(&account.admin)
        .send()
        .unwrap()
        .text()
        .unwrap();
    for tool in ["claude-code", "openclaw", "kimi", "opencode", "aider"] {
        assert!(
            metrics.contains(&format!("client=\"{tool}\"")),
            "{tool} not named in /metrics: {metrics}"
        );
    }

    // The key scan knows each tool's own token, not only the default one.
    let uses = sandbox.run(&["keys", "where"]).ok().stdout;
    for file in ["settings.json", "openclaw.json"] {
        let line = uses.lines().find(|l| l.contains(file)).unwrap_or_default();
        assert!(
            line.contains("goes through Redline for kimi-main"),
            "{file}: {uses}"
        );
    }

    // Every file Redline created goes again.
    for tool in ["claude-code", "openclaw", "kimi", "opencode", "aider"] {
        sandbox.run(&["disconnect", tool]).ok();
    }
    let after = tools_json(sandbox);
    for tool in ["claude-code", "openclaw", "kimi", "opencode", "aider"] {
        assert_eq!(
            tool_entry(&after, tool)["state"],
            "not_configured",
            "{after}"
        );
    }
    assert!(
        crate::support::files_below(&home).is_empty(),
        "{:?}",
        crate::support::files_below(&home)
    );

    assert!(daemon.stop().success());
    assert!(!daemon.log().contains(KEY), "{}", daemon.log());
}

#[test]
fn disconnect_restores_the_users_file_byte_for_byte_or_keeps_their_later_edits() {
    let (account, mut daemon) = KimiAccount::with_daemon(KEY);
    let sandbox = &account.sandbox;
    let home = sandbox.user_home();

    // A hand-written OpenClaw file: a comment, a trailing comma, CRLF.
    let openclaw = home.join(".openclaw/openclaw.json");
    std::fs::create_dir_all(openclaw.parent().unwrap()).unwrap();
    let original = "// my gateway\r\n{\r\n  gateway: { port: 18789 },\r\n}\r\n";
    std::fs::write(&openclaw, original).unwrap();
    sandbox.run(&["connect", "openclaw", "kimi-main"]).ok();
    assert_ne!(std::fs::read_to_string(&openclaw).unwrap(), original);
    // A reconnect keeps the first original.
    sandbox.run(&["connect", "openclaw", "kimi-main"]).ok();
    let out = sandbox.run(&["disconnect", "openclaw"]).ok().stdout;
    assert!(out.contains("restored"), "{out}");
    assert_eq!(std::fs::read_to_string(&openclaw).unwrap(), original);

    // Claude Code's settings, edited by the user after connect.
    let claude = home.join(".claude/settings.json");
    std::fs::create_dir_all(claude.parent().unwrap()).unwrap();
    std::fs::write(&claude, "{\n  \"theme\": \"dark\"\n}\n").unwrap();
    sandbox.run(&["connect", "claude-code", "kimi-main"]).ok();
    let edited = std::fs::read_to_string(&claude)
        .unwrap()
        .replace("\"dark\"", "\"light\"");
    std::fs::write(&claude, &edited).unwrap();
    let out = sandbox.run(&["disconnect", "claude-code"]).ok().stdout;
    assert!(out.contains("kept your changes"), "{out}");
    let now = std::fs::read_to_string(&claude).unwrap();
    assert!(now.contains("\"light\""), "{now}");
    assert!(!now.contains("ANTHROPIC") && !now.contains("rl_"), "{now}");

    // --dry-run shows the change and writes nothing.
    let out = sandbox
        .run(&["connect", "kimi", "kimi-main", "--dry-run"])
        .ok()
        .stdout;
    assert!(
        out.contains("kimi-for-coding") && out.contains("Dry run"),
        "{out}"
    );
    assert!(!out.contains(&tool_token(sandbox, "kimi")), "{out}");
    assert!(!home.join(".kimi").exists());

    // A file that does not parse is refused with its place and left as it was.
    let aider = home.join(".aider.conf.yml");
    let broken = "model: gpt-4\nopenai-api-base: [unclosed\n";
    std::fs::write(&aider, broken).unwrap();
    sandbox
        .run(&["connect", "aider", "kimi-main"])
        .fails_with("~/.aider.conf.yml, line 3, column 1");
    assert_eq!(std::fs::read_to_string(&aider).unwrap(), broken);
    let entry = tool_entry(&tools_json(sandbox), "aider");
    assert_eq!(entry["state"], "unreadable", "{entry}");

    assert!(daemon.stop().success());
}

#[test]
fn connect_without_a_running_redline_writes_the_file_and_says_how_to_start_it() {
    let account = KimiAccount::new(KEY);
    let sandbox = &account.sandbox;
    let out = sandbox.run(&["connect", "aider", "kimi-main"]).ok().stdout;
    assert!(out.contains("redline daemon"), "{out}");
    let written = std::fs::read_to_string(sandbox.user_home().join(".aider.conf.yml")).unwrap();
    assert!(
        written.contains("127.0.0.1:4290/kimi-main/coding/v1"),
        "{written}"
    );
}

#[test]
fn env_for_one_tool_prints_its_config_with_its_own_token_and_model() {
    let account = KimiAccount::new(KEY);
    let sandbox = &account.sandbox;
    let openclaw = sandbox
        .run(&["env", "kimi-main", "--tool", "openclaw"])
        .ok();
    let token = tool_token(sandbox, "openclaw");
    // Exactly the file's content: it parses as JSON.
    let value: Value = serde_json::from_str(&openclaw.stdout).unwrap();
    let provider = &value["models"]["providers"]["redline-kimi-main"];
    assert_eq!(provider["apiKey"], token.as_str(), "{value}");
    assert_eq!(provider["models"][0]["id"], "kimi-for-coding", "{value}");
    assert_eq!(
        value["agents"]["defaults"]["model"]["primary"],
        "redline-kimi-main/kimi-for-coding"
    );
    assert!(
        openclaw
            .stderr
            .contains("redline connect openclaw kimi-main")
    );
    assert!(!openclaw.stdout.contains(KEY));

    let all = sandbox.run(&["env", "kimi-main"]).ok().stdout;
    for tool in [
        "Claude Code",
        "OpenClaw",
        "Kimi Code CLI",
        "opencode",
        "aider",
        "Codex",
    ] {
        assert!(all.contains(&format!("# ==== {tool} (")), "{tool}: {all}");
    }
    assert!(
        all.contains("sets up claude-code, openclaw, kimi, opencode, aider for you"),
        "{all}"
    );
    assert!(all.contains(&token), "each block has its tool's own token");
    sandbox
        .run(&["env", "kimi-main", "--tool", "vim"])
        .fails_with("unknown tool");
}

#[test]
fn codex_on_an_openai_account_is_written_and_a_failed_proof_says_the_providers_reason() {
    const OPENAI_KEY: &str = "sk-proj-ConnectCodexKeyAbcdefghijklmnop42";
    let sandbox = Sandbox::new();
    let openai = crate::support::fake(redline::providers::ProviderId::Openai, OPENAI_KEY);
    sandbox.add_key("openai-main", "openai", &openai.origin(), OPENAI_KEY);
    let mut daemon = Daemon::start(&sandbox);
    // A profile file that picks a provider of its own is named: `codex --profile work` would
    // not go through Redline.
    let codex_home = sandbox.user_home().join(".codex");
    std::fs::create_dir_all(&codex_home).unwrap();
    std::fs::write(
        codex_home.join("work.config.toml"),
        "model_provider = \"azure\"\n",
    )
    .unwrap();
    // The provider refuses the proof request: the command says so in its words, and exits 1.
    openai.refuse_next_chats(1, 7);
    let run = sandbox.run(&["connect", "codex", "openai-main"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains(
            "a test request for openai-main failed: HTTP 429: Rate limit reached for gpt-4o-mini"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout.contains("Note: Codex profile work (work.config.toml) sets model_provider = \"azure\", so `codex --profile work` does not go through Redline"),
        "{}",
        run.stdout
    );
    let config = std::fs::read_to_string(codex_home.join("config.toml")).unwrap();
    assert!(config.contains("wire_api = \"responses\""), "{config}");
    assert!(
        !config.contains("model ="),
        "Codex keeps its model: {config}"
    );
    assert!(config.contains(&tool_token(&sandbox, "codex")), "{config}");
    assert!(!config.contains(OPENAI_KEY));
    // It went the way Codex goes: /v1/responses with the real key in place of the token.
    let headers = openai.last_request_headers().unwrap();
    assert_eq!(
        headers["authorization"].to_str().unwrap(),
        format!("Bearer {OPENAI_KEY}")
    );
    assert!(!headers.contains_key("x-redline-tool"), "Redline keeps it");
    // Once the provider answers, the proof passes and its tokens count for Codex.
    let out = sandbox
        .run(&["connect", "codex", "openai-main"])
        .ok()
        .stdout;
    assert!(
        out.contains("Codex now goes through Redline for openai-main (answered in "),
        "{out}"
    );
    let metrics = http()
        .get(daemon.url("/metrics"))
        .bearer_auth(sandbox.admin_token())
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.contains(
            "redline_tokens_total{account=\"openai-main\",client=\"codex\",direction=\"output\"} 5"
        ),
        "the Responses API's usage is counted: {metrics}"
    );
    let entry = tool_entry(&tools_json(&sandbox), "codex");
    assert_eq!(entry["state"], "redline", "{entry}");
    assert!(daemon.stop().success());
}

#[test]
fn connect_writes_where_each_tool_reads_when_a_variable_moves_its_config() {
    let account = KimiAccount::new(KEY);
    let sandbox = &account.sandbox;
    let home = sandbox.user_home();
    let connect = |tool: &str, env: &[(&str, &str)]| {
        let mut command = sandbox.command(&["connect", tool, "kimi-main"]);
        command.envs(env.iter().copied());
        sandbox.run_with(command, None).ok()
    };
    let claude_dir = home.join("claude-elsewhere");
    connect(
        "claude-code",
        &[("CLAUDE_CONFIG_DIR", claude_dir.to_str().unwrap())],
    );
    assert!(claude_dir.join("settings.json").is_file());
    // OpenClaw: OPENCLAW_CONFIG_PATH (with a `~`) before OPENCLAW_STATE_DIR.
    let state = home.join("oc-state");
    connect(
        "openclaw",
        &[
            ("OPENCLAW_CONFIG_PATH", "~/oc/main.json5"),
            ("OPENCLAW_STATE_DIR", state.to_str().unwrap()),
        ],
    );
    assert!(home.join("oc/main.json5").is_file());
    assert!(!state.exists());
    sandbox.run(&["disconnect", "openclaw"]).ok();
    assert!(
        !home.join("oc/main.json5").exists(),
        "disconnect follows the backup's path"
    );
    connect(
        "openclaw",
        &[("OPENCLAW_STATE_DIR", state.to_str().unwrap())],
    );
    assert!(state.join("openclaw.json").is_file());
    assert!(!home.join(".claude").exists() && !home.join(".openclaw").exists());
}

#[test]
fn tools_tells_a_current_key_from_an_old_one_and_a_stale_redline_address() {
    const NEW_KEY: &str = "sk-kimi-ConnectTestRotatedKeyAbcdefgh9999";
    let account = KimiAccount::new(KEY);
    let sandbox = &account.sandbox;
    let home = sandbox.user_home();
    let claude = home.join(".claude/settings.json");
    std::fs::create_dir_all(claude.parent().unwrap()).unwrap();
    std::fs::write(
        &claude,
        format!(
            r#"{{"env": {{"ANTHROPIC_BASE_URL": "https://api.kimi.com/coding/", "ANTHROPIC_API_KEY": "{KEY}"}}}}"#
        ),
    )
    .unwrap();
    let entry = tool_entry(&tools_json(sandbox), "claude-code");
    assert_eq!(entry["state"], "direct_current_key", "{entry}");
    assert_eq!(entry["account"], "kimi-main", "{entry}");
    assert!(entry["detected"].as_bool().unwrap(), "{entry}");
    assert!(
        !entry.to_string().contains(KEY),
        "only a fingerprint: {entry}"
    );

    sandbox
        .run_stdin(&["keys", "rotate", "kimi-main", "--no-verify"], NEW_KEY)
        .ok();
    let entry = tool_entry(&tools_json(sandbox), "claude-code");
    assert_eq!(entry["state"], "direct_old_key", "{entry}");
    let text = sandbox.run(&["tools"]).ok().stdout;
    assert!(text.contains("an old key of kimi-main"), "{text}");

    // Connected while no Redline ran (so for proxy.listen), then Redline started elsewhere.
    sandbox.run(&["connect", "opencode", "kimi-main"]).ok();
    let daemon = Daemon::start(sandbox);
    let entry = tool_entry(&tools_json(sandbox), "opencode");
    assert_eq!(entry["state"], "redline_elsewhere", "{entry}");
    assert_eq!(entry["address"], "127.0.0.1:4290", "{entry}");
    // Connecting again follows the running one; the provider refuses the rotated key it does
    // not know yet, and the command says so in the provider's words.
    let refused = sandbox.run(&["connect", "opencode", "kimi-main"]);
    assert_eq!(refused.code, 1, "{}", refused.stdout);
    assert!(
        refused
            .stderr
            .contains("a test request for kimi-main failed: HTTP 401: Invalid Authentication"),
        "{}",
        refused.stderr
    );
    account.provider.accept_key(NEW_KEY);
    let out = sandbox
        .run(&["connect", "opencode", "kimi-main"])
        .ok()
        .stdout;
    assert!(out.contains("opencode now goes through Redline"), "{out}");
    let entry = tool_entry(&tools_json(sandbox), "opencode");
    assert_eq!(entry["state"], "redline", "{entry}");
    assert_eq!(
        entry["address"].as_str().unwrap(),
        daemon.origin.trim_start_matches("http://")
    );
}
