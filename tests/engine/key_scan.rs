//! `redline keys where`, `keys import`, `keys rotate` and `status` against fixture config files
//! of each tool (tests/fixtures/key_scan) and the real Secret Service: which tool holds which
//! key, old keys named after a rotation, malformed files as warnings, and no secret in any
//! output.

use crate::support::{Run, Sandbox, closed_origin, files_below};
use serde_json::Value;
use std::path::Path;

const KIMI_OLD: &str = "sk-kimi-FixtureOldKeyAbcdefghijkl1111";
const KIMI_NEW: &str = "sk-kimi-FixtureNewKeyMnopqrstuvwx2222";
const ZAI: &str = "fixturezaikey0123456789abcdef.ZaiSecret33";
const CLAUDE_OAUTH: &str = "sk-ant-oat01-FixtureOauthAccessToken-Abcdefgh4444";
const CLAUDE_REFRESH: &str = "sk-ant-ort01-FixtureRefreshToken-Abcdefgh5555";
const OPENAI: &str = "sk-proj-FixtureOpenaiKeyAbcdefghijklmn6666";
const SHELL_MOONSHOT: &str = "sk-FixtureMoonshotShellKeyAbcdefgh7777";

const MALFORMED_SECRETS: &[&str] = &[
    "MalformedUnterminatedSecret7777",
    "MalformedJson5Secret8888",
    "MalformedTruncatedSecret9999",
    "Has Spaces Inside",
    "Secret0000",
    "MalformedTopLevelArraySecretAaaa",
];

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/key_scan")
        .join(name)
}

/// Copies a fixture home into the sandbox's $HOME, with `@LOCAL_TOKEN@` replaced.
fn install_home(sandbox: &Sandbox, name: &str, token: &str) {
    let from = fixture(name);
    let to = sandbox.user_home();
    for file in files_below(&from) {
        let target = to.join(file.strip_prefix(&from).unwrap());
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        let text = std::fs::read_to_string(&file).unwrap();
        std::fs::write(&target, text.replace("@LOCAL_TOKEN@", token)).unwrap();
    }
}

/// A `redline` run with the key variables under the test's control and provider hosts mapped
/// to a closed loopback port, so `status` fails fast instead of reaching the internet.
fn run(sandbox: &Sandbox, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Run {
    let mut command = sandbox.command(args);
    for name in [
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_AUTH_TOKEN",
        "ANTHROPIC_BASE_URL",
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "MOONSHOT_API_KEY",
        "KIMI_API_KEY",
        "KIMI_BASE_URL",
        "OPENROUTER_API_KEY",
        "DEEPSEEK_API_KEY",
        "ZAI_API_KEY",
        "ZHIPUAI_API_KEY",
        "MINIMAX_API_KEY",
    ] {
        command.env_remove(name);
    }
    let closed = closed_origin();
    let hosts: Vec<String> = [
        "https://api.kimi.com",
        "https://api.openai.com",
        "https://api.anthropic.com",
        "https://api.z.ai",
        "https://api.moonshot.ai",
    ]
    .iter()
    .map(|origin| format!("{origin}={closed}"))
    .collect();
    command.env("REDLINE_PROVIDER_HOSTS", hosts.join(","));
    for (name, value) in env {
        command.env(name, value);
    }
    sandbox.run_with(command, stdin)
}

fn assert_no_secret(outputs: &[&Run], secrets: &[&str]) {
    for out in outputs {
        for secret in secrets {
            assert!(
                !out.stdout.contains(secret) && !out.stderr.contains(secret),
                "a secret leaked:\nstdout: {}\nstderr: {}",
                out.stdout,
                out.stderr
            );
        }
    }
}

fn add(sandbox: &Sandbox, id: &str, provider: &str, key: &str) -> Run {
    run(
        sandbox,
        &["keys", "add", id, "--provider", provider, "--no-verify"],
        &[],
        Some(key),
    )
    .ok()
}

#[test]
fn where_each_key_is_used_rotation_status_and_import() {
    let sandbox = Sandbox::new();
    let mut outputs = vec![
        add(&sandbox, "kimi-main", "kimi-code", KIMI_OLD),
        add(&sandbox, "oai", "openai", OPENAI),
    ];
    let token = run(&sandbox, &["token"], &[], None)
        .ok()
        .stdout
        .trim()
        .to_owned();
    install_home(&sandbox, "home", &token);

    // The rotation names the tool still holding the old key.
    let rotate = run(
        &sandbox,
        &["keys", "rotate", "kimi-main", "--no-verify"],
        &[],
        Some(KIMI_NEW),
    )
    .ok();
    assert!(
        rotate
            .stdout
            .contains("Still holding the old key: Kimi CLI (~/.kimi/config.toml)."),
        "{}",
        rotate.stdout
    );
    assert!(!rotate.stdout.contains("OpenClaw"), "{}", rotate.stdout);
    assert!(
        rotate.stdout.contains(
            "point them at Redline so the next rotation needs no change: `redline connect kimi kimi-main`."
        ),
        "{}",
        rotate.stdout
    );

    let shell = [
        ("MOONSHOT_API_KEY", SHELL_MOONSHOT),
        ("OPENAI_API_KEY", OPENAI),
    ];
    let text = run(&sandbox, &["keys", "where"], &shell, None).ok();
    for line in [
        "Kimi CLI (~/.kimi/config.toml, providers.kimi-for-coding.api_key) uses kimi-main: the OLD key, rotated just now. Give it the new key, or better point it at Redline: `redline connect kimi kimi-main`",
        "OpenClaw (~/.openclaw/openclaw.json, models.providers.kimi.apiKey) uses kimi-main (the current key)",
        "OpenClaw (~/.openclaw/openclaw.json, models.providers.zai.apiKey) holds a key Redline does not store (…et33, Z.ai GLM coding plan)",
        "Claude Code (~/.claude/settings.json, env.ANTHROPIC_AUTH_TOKEN) goes through Redline for kimi-main (local token)",
        "Claude Code (~/.claude/.credentials.json, claudeAiOauth.accessToken) holds a key Redline does not store (sk-ant-…4444",
        "Codex (~/.codex/auth.json, OPENAI_API_KEY) uses oai (the current key)",
        "Shell ($OPENAI_API_KEY) uses oai (the current key)",
        "Shell ($MOONSHOT_API_KEY) holds a key Redline does not store (sk-…7777",
    ] {
        assert!(
            text.stdout.contains(line),
            "{line:?} missing from:\n{}",
            text.stdout
        );
    }
    assert!(!text.stdout.contains("gateway"), "{}", text.stdout);
    assert!(!text.stdout.contains("refreshToken"), "{}", text.stdout);
    assert!(text.stderr.is_empty(), "{}", text.stderr);

    let json = run(
        &sandbox,
        &["keys", "where", "kimi-main", "--json"],
        &[],
        None,
    )
    .ok();
    let parsed: Value = serde_json::from_str(&json.stdout).unwrap();
    let holders: Vec<(String, Value)> = parsed["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["tool"].as_str().unwrap().to_owned(), f["holder"].clone()))
        .collect();
    assert_eq!(
        holders,
        [
            (
                "Kimi CLI".to_owned(),
                serde_json::json!({"kind": "account", "id": "kimi-main", "key": "previous"})
            ),
            (
                "OpenClaw".to_owned(),
                serde_json::json!({"kind": "account", "id": "kimi-main", "key": "current"})
            ),
            (
                "Claude Code".to_owned(),
                serde_json::json!({"kind": "local_token", "account": "kimi-main"})
            ),
        ]
    );

    // The status carries the same, per account.
    let status = run(&sandbox, &["status", "--json"], &[], None).ok();
    let parsed: Value = serde_json::from_str(&status.stdout).unwrap();
    let used_by = |id: &str| {
        parsed["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["id"] == id)
            .unwrap()["key"]["used_by"]
            .clone()
    };
    assert_eq!(
        used_by("kimi-main"),
        serde_json::json!([
            {"tool": "Kimi CLI", "source": "~/.kimi/config.toml", "key": "previous"},
            {"tool": "OpenClaw", "source": "~/.openclaw/openclaw.json", "key": "current"},
            {"tool": "Claude Code", "source": "~/.claude/settings.json", "key": "proxy"},
        ])
    );
    assert_eq!(
        used_by("oai"),
        serde_json::json!([{"tool": "Codex", "source": "~/.codex/auth.json", "key": "current"}])
    );
    assert!(parsed["agents"].is_array());
    let status_text = run(&sandbox, &["status"], &[], None).ok();
    assert!(
        status_text
            .stdout
            .contains("used by: Kimi CLI (~/.kimi/config.toml) OLD KEY"),
        "{}",
        status_text.stdout
    );

    // Import asks for consent: without a terminal or --yes, nothing is stored.
    let refused = run(&sandbox, &["keys", "import"], &shell, Some(""));
    let refused = refused.fails_with("asks before storing each key");
    assert!(
        refused
            .stdout
            .contains("Found …et33 in OpenClaw (~/.openclaw/openclaw.json)"),
        "{}",
        refused.stdout
    );
    assert_eq!(sandbox.keyring("account:openclaw"), None);

    let import = run(
        &sandbox,
        &["keys", "import", "--yes", "--no-verify"],
        &shell,
        None,
    )
    .ok();
    for line in [
        "Stored openclaw (zai, key …et33) in the OS keyring.",
        "  Point OpenClaw at Redline instead: `redline connect openclaw openclaw`; then remove the key from ~/.openclaw/openclaw.json.",
        "Stored claude-code (claude, key sk-ant-…4444) in the OS keyring.",
        "Stored env-moonshot (moonshot, key sk-…7777) in the OS keyring.",
        "  Point Shell at Redline instead: `redline env env-moonshot --tool openai-sdk` (or anthropic-sdk) for scripts, `redline tools` for the tools Redline sets up; then stop setting $MOONSHOT_API_KEY in your shell profile.",
    ] {
        assert!(
            import.stdout.contains(line),
            "{line:?} missing from:\n{}",
            import.stdout
        );
    }
    assert_eq!(sandbox.keyring("account:openclaw").as_deref(), Some(ZAI));
    assert_eq!(
        sandbox.keyring("account:claude-code").as_deref(),
        Some(CLAUDE_OAUTH)
    );
    assert_eq!(
        sandbox.keyring("account:env-moonshot").as_deref(),
        Some(SHELL_MOONSHOT)
    );
    let again = run(
        &sandbox,
        &["keys", "import", "--yes", "--no-verify"],
        &shell,
        None,
    )
    .ok();
    assert!(
        again.stdout.starts_with("Nothing to import"),
        "{}",
        again.stdout
    );

    outputs.extend([
        rotate,
        text,
        json,
        status,
        status_text,
        refused,
        import,
        again,
    ]);
    let secrets = [
        KIMI_OLD,
        KIMI_NEW,
        ZAI,
        CLAUDE_OAUTH,
        CLAUDE_REFRESH,
        OPENAI,
        SHELL_MOONSHOT,
        token.as_str(),
    ];
    assert_no_secret(&outputs.iter().collect::<Vec<_>>(), &secrets);
    for file in files_below(&sandbox.home()) {
        let bytes = std::fs::read(&file).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        for secret in secrets {
            assert!(!text.contains(secret), "{} holds a secret", file.display());
        }
    }
}

#[test]
fn malformed_tool_files_give_clear_warnings_and_never_a_secret() {
    let sandbox = Sandbox::new();
    add(&sandbox, "kimi-main", "kimi-code", KIMI_NEW);
    install_home(&sandbox, "malformed", "unused");
    let out = run(&sandbox, &["keys", "where"], &[], None).ok();
    for warning in [
        "warning: ~/.kimi/config.toml: is not valid TOML at line 5, column",
        "warning: ~/.openclaw/openclaw.json: is not valid JSON5 at line 4, column",
        "warning: ~/.claude/settings.json: is not valid JSON at line 4, column 0 (the file ends too early)",
        "warning: ~/.claude/.credentials.json: claudeAiOauth.accessToken does not look like a key",
        "warning: ~/.codex/auth.json: does not hold an object at the top level; skipped",
    ] {
        assert!(
            out.stderr.contains(warning),
            "{warning:?} missing from:\n{}",
            out.stderr
        );
    }
    assert!(
        out.stdout
            .starts_with("No known tool config or key variable holds any key"),
        "{}",
        out.stdout
    );
    let json = run(&sandbox, &["keys", "where", "--json"], &[], None).ok();
    let parsed: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(
        parsed["warnings"].as_array().unwrap().len(),
        5,
        "{}",
        json.stdout
    );
    let status = run(&sandbox, &["status", "--json"], &[], None).ok();
    let import = run(&sandbox, &["keys", "import", "--yes"], &[], None).ok();
    assert!(
        import.stdout.starts_with("Nothing to import"),
        "{}",
        import.stdout
    );
    assert_no_secret(&[&out, &json, &status, &import], MALFORMED_SECRETS);
}

#[test]
fn where_for_an_unknown_account_is_refused() {
    let sandbox = Sandbox::new();
    run(&sandbox, &["keys", "where", "nope"], &[], None).fails_with("nope");
}

#[test]
fn import_asks_before_each_key_on_a_terminal() {
    let sandbox = Sandbox::new();
    install_home(&sandbox, "home", "rl_not-the-local-token");
    // `script` runs redline on a pseudo-terminal, so it asks; the answers arrive as typed
    // lines. The run's deadline ends it should a question go unanswered.
    let inner = format!(
        "'{}' keys import --no-verify",
        env!("CARGO_BIN_EXE_redline")
    );
    let mut script = std::process::Command::new("script");
    script.args(["-qec", &inner, "/dev/null"]);
    sandbox.set_env(&mut script);
    for (name, _) in std::env::vars().filter(|(n, _)| n.ends_with("_API_KEY")) {
        script.env_remove(name);
    }
    // Offers come in file order: Kimi CLI's key, OpenClaw's Kimi and Z.ai keys, Claude's OAuth
    // token, Codex's OpenAI key. (The placeholder token in Claude's settings has no provider.)
    let out = sandbox.run_with(script, Some("n\nn\ny\nno\nY\n")).ok();
    for question in [
        "Import sk-kimi-…1111 (Kimi Code (coding plan)) from Kimi CLI (~/.kimi/config.toml) as kimi-cli? [y/N]",
        "Import …et33 (Z.ai GLM coding plan) from OpenClaw (~/.openclaw/openclaw.json) as openclaw? [y/N]",
        "as claude-code? [y/N]",
        "Import sk-proj-…6666 (OpenAI API) from Codex (~/.codex/auth.json) as codex? [y/N]",
    ] {
        assert!(
            out.stdout.contains(question),
            "{question:?} missing from:\n{}",
            out.stdout
        );
    }
    assert_eq!(sandbox.keyring("account:kimi-cli"), None);
    assert_eq!(sandbox.keyring("account:openclaw").as_deref(), Some(ZAI));
    assert_eq!(sandbox.keyring("account:claude-code"), None);
    assert_eq!(sandbox.keyring("account:codex").as_deref(), Some(OPENAI));
    assert_no_secret(&[&out], &[ZAI, OPENAI, CLAUDE_OAUTH, KIMI_OLD, KIMI_NEW]);
}
