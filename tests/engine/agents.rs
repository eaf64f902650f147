//! The agent scanner against real processes: a Python script installed where Claude Code's
//! package lives and a copy of `sleep` named `codex` are found while they run and gone once
//! killed; a script named CLAUDE.md is not an agent. And the daemon's status: agents, its own
//! footprint and which tools hold each key, following a rotation.

use crate::support::process::Running;
use crate::support::{Daemon, Sandbox, closed_origin, poll_until};
use redline::status::model::RunningAgent;
use redline::tools::agents::Scanner;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const SLEEPER: &str = "import time\ntime.sleep(120)\n";

fn spawn_python(script: &Path) -> Running {
    std::fs::create_dir_all(script.parent().unwrap()).unwrap();
    std::fs::write(script, SLEEPER).unwrap();
    Running::spawn(Command::new("python3").arg(script))
}

fn find(agents: &[RunningAgent], pid: u32) -> Option<&RunningAgent> {
    agents.iter().find(|a| a.pid == pid)
}

/// Scans until `done` holds (a process may take a moment to exec), at most 5 s.
fn scan_until(scanner: &mut Scanner, done: impl Fn(&[RunningAgent]) -> bool) -> Vec<RunningAgent> {
    poll_until(
        "the agents expected",
        Duration::from_secs(5),
        Duration::from_millis(100),
        || scanner.agents(),
        |agents| done(agents),
    )
}

#[test]
fn running_agents_are_found_and_disappear_when_killed() {
    let dir = tempfile::tempdir().unwrap();
    let claude = spawn_python(
        &dir.path()
            .join("lib/node_modules/@anthropic-ai/claude-code/cli.js"),
    );
    let notes = spawn_python(&dir.path().join("notes/CLAUDE.md"));
    let codex_path = dir.path().join("bin/codex");
    std::fs::create_dir_all(codex_path.parent().unwrap()).unwrap();
    let sleep = which("sleep");
    std::fs::copy(&sleep, &codex_path).unwrap();
    let codex = Running::spawn(Command::new(&codex_path).arg("120"));

    let mut scanner = Scanner::new();
    let (claude_pid, codex_pid, notes_pid) = (claude.id(), codex.id(), notes.id());
    let agents = scan_until(&mut scanner, |a| {
        find(a, claude_pid).is_some() && find(a, codex_pid).is_some()
    });
    let found = find(&agents, claude_pid).expect("the Claude Code look-alike is found");
    assert_eq!(found.tool, "Claude Code");
    assert_eq!(found.command, "python3 cli.js");
    let found = find(&agents, codex_pid).expect("the codex binary is found");
    assert_eq!(found.tool, "Codex");
    assert_eq!(found.command, "codex");
    assert!(find(&agents, notes_pid).is_none(), "{agents:?}");
    assert!(
        agents.iter().all(|a| a.pid != std::process::id()),
        "Redline never lists itself"
    );

    claude.kill();
    codex.kill();
    let agents = scan_until(&mut scanner, |a| {
        find(a, claude_pid).is_none() && find(a, codex_pid).is_none()
    });
    assert!(find(&agents, claude_pid).is_none(), "{agents:?}");
    assert!(find(&agents, codex_pid).is_none(), "{agents:?}");
    notes.kill();
}

#[test]
fn own_footprint_is_measured() {
    let mut scanner = Scanner::new();
    let first = scanner.footprint().expect("own process is readable");
    assert!(first.rss_bytes > 1024 * 1024, "{first:?}");
    // Burn CPU for a while, so the next reading has something to show.
    let start = std::time::Instant::now();
    let mut x = 0u64;
    while start.elapsed() < std::time::Duration::from_millis(300) {
        x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
    }
    let second = scanner.footprint().unwrap();
    assert!(second.cpu_percent > 5.0, "{second:?}");
}

fn which(program: &str) -> std::path::PathBuf {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(program))
                .find(|path| path.is_file())
        })
        .unwrap_or_else(|| panic!("{program} on PATH"))
}

fn has_agent(status: &serde_json::Value, pid: u32) -> bool {
    status["agents"].as_array().is_some_and(|agents| {
        agents
            .iter()
            .any(|a| a["pid"] == pid && a["tool"] == "Claude Code")
    })
}

fn kimi_used_by(status: &serde_json::Value) -> serde_json::Value {
    status["accounts"][0]["key"]["used_by"].clone()
}

#[test]
fn the_daemon_status_shows_agents_footprint_and_key_users() {
    const OLD: &str = "sk-kimi-DaemonScanOldKeyAbcdefgh1111";
    const NEW: &str = "sk-kimi-DaemonScanNewKeyAbcdefgh2222";
    let sandbox = Sandbox::new();
    let closed = closed_origin();
    sandbox.add_key_unchecked("kimi-main", "kimi-code", Some(&closed), OLD);
    let token = sandbox.admin_token();
    let kimi_config = sandbox.user_home().join(".kimi/config.toml");
    std::fs::create_dir_all(kimi_config.parent().unwrap()).unwrap();
    std::fs::write(
        &kimi_config,
        format!("[providers.kimi]\ntype = \"kimi\"\nbase_url = \"https://api.kimi.com/coding/v1\"\napi_key = \"{OLD}\"\n"),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let claude = spawn_python(
        &dir.path()
            .join("node_modules/@anthropic-ai/claude-code/cli.js"),
    );
    let claude_pid = claude.id();

    // Agents are scanned every 5 s, key users on every key change.
    let mut daemon = Daemon::start(&sandbox);
    let status = daemon.wait_for_status(&token, "the agent, the footprint and the key user", |s| {
        has_agent(s, claude_pid) && s["process"].is_object() && kimi_used_by(s).is_array()
    });
    assert!(
        status["process"]["rss_bytes"].as_u64().unwrap() > 1024 * 1024,
        "{status}"
    );
    assert!(
        status["process"]["cpu_percent"].as_f64().is_some(),
        "{status}"
    );
    assert_eq!(
        kimi_used_by(&status),
        serde_json::json!([{"tool": "Kimi CLI", "source": "~/.kimi/config.toml", "key": "current"}])
    );

    // After a rotation, Kimi CLI still holds the old key: the status says so.
    sandbox
        .run_stdin(&["keys", "rotate", "kimi-main", "--no-verify"], NEW)
        .ok();
    daemon.wait_for_status(&token, "Kimi CLI holding the previous key", |s| {
        kimi_used_by(s)[0]["key"] == "previous"
    });

    claude.kill();
    daemon.wait_for_status(&token, "the agent gone", |s| !has_agent(s, claude_pid));

    assert!(daemon.stop().success());
    let log = daemon.log();
    for secret in [OLD, NEW, token.as_str()] {
        assert!(
            !log.contains(secret),
            "the daemon log holds a secret: {log}"
        );
    }
}
