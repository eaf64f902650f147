//! The agent scanner against real processes: a Python script installed where Claude Code's
//! package lives and a copy of `sleep` named `codex` are found while they run and gone once
//! killed; a script named CLAUDE.md is not an agent.

use redline::agents::Scanner;
use redline::status::RunningAgent;
use std::path::Path;
use std::process::{Child, Command};

const SLEEPER: &str = "import time\ntime.sleep(120)\n";

fn spawn_python(script: &Path) -> Child {
    std::fs::create_dir_all(script.parent().unwrap()).unwrap();
    std::fs::write(script, SLEEPER).unwrap();
    Command::new("python3")
        .arg(script)
        .spawn()
        .expect("python3 runs")
}

fn find(agents: &[RunningAgent], pid: u32) -> Option<&RunningAgent> {
    agents.iter().find(|a| a.pid == pid)
}

/// Scans until `done` holds (a process may take a moment to exec), at most 5 s.
fn scan_until(scanner: &mut Scanner, done: impl Fn(&[RunningAgent]) -> bool) -> Vec<RunningAgent> {
    for _ in 0..50 {
        let agents = scanner.agents();
        if done(&agents) {
            return agents;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    scanner.agents()
}

#[test]
fn running_agents_are_found_and_disappear_when_killed() {
    let dir = tempfile::tempdir().unwrap();
    let mut claude = spawn_python(
        &dir.path()
            .join("lib/node_modules/@anthropic-ai/claude-code/cli.js"),
    );
    let mut notes = spawn_python(&dir.path().join("notes/CLAUDE.md"));
    let codex_path = dir.path().join("bin/codex");
    std::fs::create_dir_all(codex_path.parent().unwrap()).unwrap();
    let sleep = which("sleep");
    std::fs::copy(&sleep, &codex_path).unwrap();
    let mut codex = Command::new(&codex_path).arg("120").spawn().unwrap();

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

    claude.kill().unwrap();
    claude.wait().unwrap();
    codex.kill().unwrap();
    codex.wait().unwrap();
    let agents = scan_until(&mut scanner, |a| {
        find(a, claude_pid).is_none() && find(a, codex_pid).is_none()
    });
    assert!(find(&agents, claude_pid).is_none(), "{agents:?}");
    assert!(find(&agents, codex_pid).is_none(), "{agents:?}");
    notes.kill().unwrap();
    notes.wait().unwrap();
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
