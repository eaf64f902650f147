//! Which tool sent each proxied request, as `redline daemon` records it on a public surface
//! (`/metrics`, `redline_requests_total` by client): named by the headers each tool really
//! sends, by `X-Redline-Tool` (which the provider never sees), and, for clients that send only
//! an SDK's headers, by their process: real Python processes running the official openai SDK,
//! one started as llm's launcher is, one renamed the way Kimi Code CLI renames itself, and a
//! plain script.

use crate::support::{KimiAccount, poll_until, process, python};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const KEY: &str = "sk-kimi-RequestToolsKeyAbcdefghijklmn42";
const CHAT: &str = "/kimi-main/coding/v1/chat/completions";

/// The labels of one OpenMetrics sample line (`name{a="x",b="y"} 1`), unescaped.
fn labels(line: &str) -> Option<(BTreeMap<String, String>, f64)> {
    let (head, value) = line.rsplit_once(' ')?;
    let inner = head.split_once('{')?.1.strip_suffix('}')?;
    let mut labels = BTreeMap::new();
    let mut rest = inner;
    while !rest.is_empty() {
        let (key, after) = rest.split_once("=\"")?;
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next()? {
                (i, '"') => break i,
                (_, '\\') => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                (_, c) => value.push(c),
            }
        };
        labels.insert(key.trim_start_matches(',').to_owned(), value);
        rest = &after[end + 1..];
    }
    Some((labels, value.parse().ok()?))
}

/// Requests finished for `kimi-main`, by the tool they were recorded under (whatever their
/// status), from the daemon's `/metrics`.
fn requests_by_tool(origin: &str, token: &str) -> BTreeMap<String, f64> {
    let text = crate::support::http()
        .get(format!("{origin}/metrics"))
        .bearer_auth(token)
        .send()
        .unwrap()
        .text()
        .unwrap();
    let mut counts = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| l.starts_with("redline_requests_total{"))
    {
        let (labels, value) = labels(line).unwrap_or_else(|| panic!("unreadable: {line}"));
        if labels.get("account").map(String::as_str) != Some("kimi-main") {
            continue;
        }
        let tool = labels
            .get("tool")
            .or_else(|| labels.get("client"))
            .unwrap_or_else(|| panic!("no tool label: {line}"));
        *counts.entry(tool.clone()).or_default() += value;
    }
    counts
}

/// Waits for `/metrics` to show exactly `expected` requests by tool.
fn expect_tools(origin: &str, token: &str, expected: &[(&str, f64)]) {
    let expected: BTreeMap<String, f64> = expected
        .iter()
        .map(|(tool, n)| ((*tool).to_owned(), *n))
        .collect();
    poll_until(
        "the requests counted under their tools",
        Duration::from_secs(10),
        Duration::from_millis(100),
        || requests_by_tool(origin, token),
        |counts| *counts == expected,
    );
}

fn chat_body() -> String {
    serde_json::json!({"model": "kimi-for-coding", "messages": [{"role": "user", "content": "hi"}]})
        .to_string()
}

#[test]
fn each_tool_is_named_by_what_it_sends() {
    let (account, daemon) = KimiAccount::with_daemon(KEY);
    let token = &account.token;
    let node = [("x-stainless-lang", "js"), ("x-stainless-runtime", "node")];
    let python = [
        ("x-stainless-lang", "python"),
        ("x-stainless-runtime", "CPython"),
    ];
    // What each tool sends (the sources are in src/tools/request_tool.rs).
    let sent: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            [
                &node[..],
                &[
                    ("user-agent", "claude-cli/2.1.104 (external, cli)"),
                    ("x-app", "cli"),
                ],
            ]
            .concat(),
            "Claude Code",
        ),
        (
            vec![
                (
                    "user-agent",
                    "codex_cli_rs/0.38.0 (Ubuntu 24.04.2 LTS; x86_64) xterm-256color",
                ),
                ("originator", "codex_cli_rs"),
            ],
            "Codex",
        ),
        (
            [&python[..], &[("user-agent", "KimiCLI/1.12.0")]].concat(),
            "Kimi CLI",
        ),
        (vec![("user-agent", "kimi-cli/0.42")], "Kimi CLI"),
        (
            [
                &node[..],
                &[
                    ("user-agent", "OpenAI/JS 6.49.0"),
                    ("http-referer", "https://openclaw.ai"),
                    ("x-title", "OpenClaw"),
                ],
            ]
            .concat(),
            "OpenClaw",
        ),
        (
            [
                &python[..],
                &[
                    ("user-agent", "OpenAI/Python 3.57.0"),
                    ("http-referer", "https://aider.chat"),
                    ("x-title", "Aider"),
                ],
            ]
            .concat(),
            "aider",
        ),
        (vec![("user-agent", "opencode/1.0.150")], "opencode"),
        (
            vec![(
                "user-agent",
                "GeminiCLI/0.21.0/gemini-2.5-pro (linux; x64; terminal)",
            )],
            "Gemini CLI",
        ),
        (
            [&node[..], &[("user-agent", "Cline/3.38.2")]].concat(),
            "Cline",
        ),
        (
            [
                &node[..],
                &[("user-agent", "RooCode/3.30.0"), ("x-title", "Roo Code")],
            ]
            .concat(),
            "Roo Code",
        ),
        // A Node program wearing Kimi Code CLI's User-Agent is not Kimi Code CLI; this test's
        // own process is no AI tool, so the SDK's name stays.
        (
            [&node[..], &[("user-agent", "KimiCLI/1.12.0")]].concat(),
            "openai-node",
        ),
        (
            [&python[..], &[("user-agent", "OpenAI/Python 3.57.0")]].concat(),
            "openai-python",
        ),
        (vec![("user-agent", "MyScript/1.0")], "MyScript"),
        (vec![("user-agent", "curl/8.5.0")], "curl"),
        (vec![], "unknown tool"),
        (vec![("user-agent", "\t(")], "unknown tool"),
    ];
    let client = crate::support::http();
    let mut expected: BTreeMap<&str, f64> = BTreeMap::new();
    for (headers, tool) in &sent {
        let mut request = client
            .post(daemon.url(CHAT))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(chat_body());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let answer = request.send().unwrap();
        assert_eq!(answer.status(), 200, "{tool}: {}", answer.text().unwrap());
        answer.bytes().unwrap();
        *expected.entry(tool).or_default() += 1.0;
    }
    let expected: Vec<(&str, f64)> = expected.into_iter().collect();
    expect_tools(&daemon.origin, &account.admin, &expected);
}

#[test]
fn the_redline_header_names_the_tool_and_stays_with_redline() {
    let (account, daemon) = KimiAccount::with_daemon(KEY);
    let client = crate::support::http();
    // The daemon polls the same fake, so the last request it saw is checked to be this one.
    let seen = poll_until(
        "the named request as the provider's last",
        Duration::from_secs(10),
        Duration::from_millis(50),
        || {
            let answer = client
                .post(daemon.url(CHAT))
                .bearer_auth(&account.token)
                .header("content-type", "application/json")
                .header("user-agent", "claude-cli/2.1.104 (external, cli)")
                .header("x-redline-tool", "nightly\treview  batch")
                .header("x-test-request", "named")
                .body(chat_body())
                .send()
                .unwrap();
            assert_eq!(answer.status(), 200);
            answer.bytes().unwrap();
            account.provider.last_request_headers().unwrap()
        },
        |headers| headers.contains_key("x-test-request"),
    );
    assert!(
        !seen.contains_key("x-redline-tool"),
        "the provider saw Redline's own header: {seen:?}"
    );
    assert_eq!(seen["user-agent"], "claude-cli/2.1.104 (external, cli)");
    let sent = requests_by_tool(&daemon.origin, &account.admin);
    assert!(
        sent.keys().all(|tool| tool == "nightlyreview batch"),
        "{sent:?}"
    );
}

/// Runs tests/sdk/tool_client.py under `program` (the script itself, or a copy of it where a
/// tool's launcher would be) with `args`, sending `count` requests through the daemon.
fn run_client(base_url: &str, token: &str, program: &Path, args: &[&str], count: usize) {
    let mut client = Command::new(python());
    client
        .arg(program)
        .args(args)
        .env("BASE_URL", base_url)
        .env("TOKEN", token)
        .env("COUNT", count.to_string())
        .env("NO_PROXY", "127.0.0.1,localhost");
    let output = process::output(client, None);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{} {args:?}: {stdout}\n{}",
        program.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let printed: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(printed["statuses"], serde_json::json!(vec![200; count]));
    assert!(
        printed["user_agent"]
            .as_str()
            .unwrap()
            .starts_with("OpenAI/Python "),
        "only the SDK's own User-Agent: {printed}"
    );
}

#[test]
fn tools_that_send_only_the_sdks_headers_are_named_by_their_process() {
    let (account, daemon) = KimiAccount::with_daemon(KEY);
    let token = &account.token;
    let base_url = daemon.url("/kimi-main/coding/v1");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdk/tool_client.py");
    // llm's launcher, as pip installs it: `python …/bin/llm`.
    let bin = tempfile::tempdir().unwrap();
    let llm = bin.path().join("bin/llm");
    std::fs::create_dir_all(llm.parent().unwrap()).unwrap();
    std::fs::copy(&script, &llm).unwrap();

    // Three requests on one connection: the process is looked up once, and all three count.
    run_client(&base_url, token, &llm, &[], 3);
    run_client(&base_url, token, &script, &["--rename", "Kimi Code"], 1);
    run_client(&base_url, token, &script, &[], 2);
    expect_tools(
        &daemon.origin,
        &account.admin,
        &[("llm", 3.0), ("Kimi CLI", 1.0), ("openai-python", 2.0)],
    );
}
