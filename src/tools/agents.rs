//! Which AI coding tools are running now, and Redline's own footprint.
//!
//! [`identify`] is the pure decision: from a process's command line (or, failing that, its
//! executable and name) to a tool. Node- and Python-based tools run as `node` or `python3`, so
//! for an interpreter the script it runs decides (`node …/@anthropic-ai/claude-code/cli.js`);
//! for anything else only the program itself does, so `vim CLAUDE.md` or `grep claude` is
//! never an agent. [`Scanner`] reads the process table with `sysinfo`, cheaply: names, command
//! lines and executables only.

use crate::status::model::{ProcessFootprint, RunningAgent};
use std::ffi::OsString;
use std::path::Path;
use std::time::{Duration, Instant};
use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System, UpdateKind};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Tool {
    ClaudeCode,
    KimiCli,
    OpenClaw,
    Codex,
    GeminiCli,
    Opencode,
    Aider,
    Llm,
    Cline,
}

impl Tool {
    pub const ALL: [Tool; 9] = [
        Tool::ClaudeCode,
        Tool::KimiCli,
        Tool::OpenClaw,
        Tool::Codex,
        Tool::GeminiCli,
        Tool::Opencode,
        Tool::Aider,
        Tool::Llm,
        Tool::Cline,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Tool::ClaudeCode => "Claude Code",
            Tool::KimiCli => "Kimi CLI",
            Tool::OpenClaw => "OpenClaw",
            Tool::Codex => "Codex",
            Tool::GeminiCli => "Gemini CLI",
            Tool::Opencode => "opencode",
            Tool::Aider => "aider",
            Tool::Llm => "llm",
            Tool::Cline => "Cline",
        }
    }

    /// The names the tool's own executables or launcher scripts have, lowercased.
    fn programs(self) -> &'static [&'static str] {
        match self {
            Tool::ClaudeCode => &["claude"],
            // Kimi Code CLI renames its process with setproctitle (kimi_cli/cli/__init__.py,
            // `init_process_name("Kimi Code")`): both `/proc/PID/comm` and the whole command
            // line then read "Kimi Code". Its workers are "kimi-code-worker" and
            // "kimi-code-bg-worker" (kimi_cli/web/runner/worker.py, cli/__init__.py).
            Tool::KimiCli => &[
                "kimi",
                "kimi-cli",
                "kimi code",
                "kimi-code-worker",
                "kimi-code-bg-worker",
            ],
            Tool::OpenClaw => &["openclaw", "openclaw-gateway"],
            Tool::Codex => &["codex"],
            Tool::GeminiCli => &["gemini"],
            Tool::Opencode => &["opencode"],
            Tool::Aider => &["aider"],
            // The console script of simonw/llm (pyproject.toml: `llm = "llm.cli:cli"`).
            Tool::Llm => &["llm"],
            // The CLI of cline/cline (apps/cli/package.json: `"bin": {"cline": ...}`).
            Tool::Cline => &["cline"],
        }
    }

    /// Path fragments of the installed package, matched against a script an interpreter runs.
    fn packages(self) -> &'static [&'static str] {
        match self {
            Tool::ClaudeCode => &["/@anthropic-ai/claude-code/"],
            Tool::KimiCli => &["/kimi-cli/bin/", "/site-packages/kimi_cli/"],
            Tool::OpenClaw => &["/node_modules/openclaw/"],
            Tool::Codex => &["/@openai/codex/"],
            Tool::GeminiCli => &["/@google/gemini-cli/"],
            Tool::Opencode => &["/node_modules/opencode-ai/"],
            Tool::Aider => &["/site-packages/aider/"],
            Tool::Llm => &["/site-packages/llm/"],
            Tool::Cline => &["/node_modules/cline/", "/node_modules/@cline/cli/"],
        }
    }

    /// Python modules run with `python -m`.
    fn modules(self) -> &'static [&'static str] {
        match self {
            Tool::KimiCli => &["kimi_cli"],
            Tool::Aider => &["aider", "aider.main"],
            Tool::Llm => &["llm"],
            _ => &[],
        }
    }
}

/// The file name of a path, lowercased, without a Windows `.exe`/`.cmd`; both separators count.
fn base_name(path: &str) -> String {
    let name = path
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or(path)
        .to_lowercase();
    for suffix in [".exe", ".cmd"] {
        if let Some(stem) = name.strip_suffix(suffix) {
            return stem.to_owned();
        }
    }
    name
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Interpreter {
    Node,
    Python,
}

fn interpreter(program: &str) -> Option<Interpreter> {
    match program {
        "node" | "nodejs" | "bun" | "deno" | "tsx" => Some(Interpreter::Node),
        p if p.starts_with("python")
            && p["python".len()..]
                .chars()
                .all(|c| c.is_ascii_digit() || c == '.') =>
        {
            Some(Interpreter::Python)
        }
        _ => None,
    }
}

fn tool_for_program(program: &str) -> Option<Tool> {
    Tool::ALL
        .into_iter()
        .find(|tool| tool.programs().contains(&program))
}

/// What an interpreter runs: `Some(Ok(script path))`, `Some(Err(module))` for `python -m`.
fn interpreted_target(kind: Interpreter, args: &[String]) -> Option<Result<&str, &str>> {
    let mut args = args.iter().map(String::as_str);
    while let Some(arg) = args.next() {
        match arg {
            "-m" if kind == Interpreter::Python => return args.next().map(Err),
            // deno run / bun run SCRIPT
            "run" if kind == Interpreter::Node => continue,
            // Options that take the next word as their value.
            "-r" | "--require" | "--import" | "--loader" | "-X" | "-W" => {
                args.next();
            }
            // `-c CODE` and `-e CODE` run no file.
            "-c" | "-e" | "--eval" | "-p" | "--print" => return None,
            _ if arg.starts_with('-') => continue,
            script => return Some(Ok(script)),
        }
    }
    None
}

/// Which AI coding tool a process is, from its name, executable and command line.
pub fn identify(name: &str, exe: Option<&Path>, cmd: &[String]) -> Option<Tool> {
    let Some(first) = cmd.first() else {
        // No command line (a kernel thread, or one we may not read): the executable or name.
        return exe
            .and_then(|exe| tool_for_program(&base_name(&exe.to_string_lossy())))
            .or_else(|| tool_for_program(&base_name(name)));
    };
    let program = base_name(first);
    if let Some(tool) = tool_for_program(&program) {
        return Some(tool);
    }
    let kind = interpreter(&program)?;
    match interpreted_target(kind, cmd.get(1..).unwrap_or_default())? {
        Ok(script) => {
            let path = script.replace('\\', "/");
            let lowered = path.to_lowercase();
            Tool::ALL
                .into_iter()
                .find(|tool| tool.packages().iter().any(|p| lowered.contains(p)))
                .or_else(|| tool_for_program(&base_name(&path)))
        }
        Err(module) => Tool::ALL
            .into_iter()
            .find(|tool| tool.modules().contains(&module)),
    }
}

/// What is shown of a process: its program and, for an interpreter, the script's file name.
/// Never the arguments, which may hold a key (`aider --api-key …`).
pub fn short_command(name: &str, cmd: &[String]) -> String {
    let Some(first) = cmd.first() else {
        return name.to_owned();
    };
    let program = base_name(first);
    match interpreter(&program).and_then(|kind| interpreted_target(kind, &cmd[1..])) {
        Some(Ok(script)) => format!("{program} {}", base_name(script)),
        Some(Err(module)) => format!("{program} -m {module}"),
        None => program,
    }
}

/// Reads the process table: names, command lines and executables only (no memory, CPU or
/// disk figures of other processes). Keep one and call it every few seconds.
pub struct Scanner {
    system: System,
    own: Option<Pid>,
    /// Redline's CPU milliseconds used, and when, at the previous footprint reading.
    last_cpu: Option<(u64, Instant)>,
}

impl Default for Scanner {
    fn default() -> Self {
        Scanner::new()
    }
}

impl Scanner {
    pub fn new() -> Scanner {
        Scanner {
            system: System::new(),
            own: sysinfo::get_current_pid().ok(),
            last_cpu: None,
        }
    }

    /// The AI coding tools running now, by pid. A tool's own child processes (Codex's native
    /// binary under its Node launcher) count once.
    pub fn agents(&mut self) -> Vec<RunningAgent> {
        // Always re-read: a process that execs (a shell wrapper, pyenv's shim) keeps its pid.
        let cheap = ProcessRefreshKind::nothing()
            .without_tasks()
            .with_cmd(UpdateKind::Always)
            .with_exe(UpdateKind::Always);
        self.system
            .refresh_processes_specifics(ProcessesToUpdate::All, true, cheap);
        let tool_of = |pid: Pid| -> Option<Tool> {
            let process = self.system.process(pid)?;
            if process.thread_kind().is_some() || Some(pid) == self.own {
                return None;
            }
            identify(
                &process.name().to_string_lossy(),
                process.exe(),
                &strings(process.cmd()),
            )
        };
        let mut agents: Vec<RunningAgent> = self
            .system
            .processes()
            .iter()
            .filter_map(|(&pid, process)| {
                let tool = tool_of(pid)?;
                let parent_is_same = process.parent().and_then(tool_of) == Some(tool);
                (!parent_is_same).then(|| RunningAgent {
                    tool: tool.name().to_owned(),
                    pid: pid.as_u32(),
                    command: short_command(
                        &process.name().to_string_lossy(),
                        &strings(process.cmd()),
                    ),
                })
            })
            .collect();
        agents.sort_by(|a, b| a.tool.cmp(&b.tool).then(a.pid.cmp(&b.pid)));
        agents
    }

    /// Redline's resident memory and CPU use (percent of one core since the previous call;
    /// 0 on the first).
    pub fn footprint(&mut self) -> Option<ProcessFootprint> {
        let own = self.own?;
        // One process: its memory and accumulated CPU time.
        self.system.refresh_processes_specifics(
            ProcessesToUpdate::Some(&[own]),
            false,
            ProcessRefreshKind::nothing()
                .without_tasks()
                .with_memory()
                .with_cpu(),
        );
        let process = self.system.process(own)?;
        let now = Instant::now();
        let cpu_ms = process.accumulated_cpu_time();
        let cpu_percent = self
            .last_cpu
            .map(|(before_ms, at)| cpu_share(before_ms, cpu_ms, now.duration_since(at)))
            .unwrap_or(0.0);
        self.last_cpu = Some((cpu_ms, now));
        Some(ProcessFootprint {
            rss_bytes: process.memory(),
            cpu_percent,
        })
    }
}

/// CPU time used over wall time, as a percentage of one core.
fn cpu_share(before_ms: u64, after_ms: u64, wall: Duration) -> f64 {
    let wall_ms = wall.as_secs_f64() * 1000.0;
    if wall_ms <= 0.0 {
        return 0.0;
    }
    after_ms.saturating_sub(before_ms) as f64 / wall_ms * 100.0
}

fn strings(cmd: &[OsString]) -> Vec<String> {
    cmd.iter()
        .map(|arg| arg.to_string_lossy().into_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(cmdline: &str) -> Option<Tool> {
        let cmd: Vec<String> = cmdline.split(' ').map(str::to_owned).collect();
        identify(&base_name(&cmd[0]), None, &cmd)
    }

    #[test]
    fn node_based_tools_are_known_by_their_package_path() {
        let cases = [
            (
                "node /usr/lib/node_modules/@anthropic-ai/claude-code/cli.js",
                Tool::ClaudeCode,
            ),
            (
                "/home/ana/.nvm/versions/node/v22.11.0/bin/node /home/ana/.nvm/versions/node/v22.11.0/lib/node_modules/@anthropic-ai/claude-code/cli.js --resume",
                Tool::ClaudeCode,
            ),
            (
                "node --max-old-space-size=8192 /usr/local/lib/node_modules/@anthropic-ai/claude-code/cli.js -p hello",
                Tool::ClaudeCode,
            ),
            (
                "node /home/ana/.nvm/versions/node/v22.11.0/bin/claude",
                Tool::ClaudeCode,
            ),
            (
                "C:\\nodejs\\node.exe C:\\Users\\ana\\AppData\\Roaming\\npm\\node_modules\\@anthropic-ai\\claude-code\\cli.js",
                Tool::ClaudeCode,
            ),
            (
                "node /usr/local/lib/node_modules/@openai/codex/bin/codex.js exec fix-tests",
                Tool::Codex,
            ),
            (
                "node /usr/lib/node_modules/openclaw/openclaw.mjs gateway --port 18789",
                Tool::OpenClaw,
            ),
            (
                "node /opt/homebrew/lib/node_modules/@google/gemini-cli/dist/index.js",
                Tool::GeminiCli,
            ),
            (
                "node /home/ana/.npm-global/lib/node_modules/opencode-ai/bin/opencode",
                Tool::Opencode,
            ),
            (
                "bun run /home/ana/.bun/install/global/node_modules/@anthropic-ai/claude-code/cli.js",
                Tool::ClaudeCode,
            ),
        ];
        for (cmdline, tool) in cases {
            assert_eq!(id(cmdline), Some(tool), "{cmdline}");
        }
    }

    #[test]
    fn native_and_python_tools_are_known_by_program_or_module() {
        let cases = [
            ("claude", Tool::ClaudeCode),
            ("/home/ana/.local/bin/claude --continue", Tool::ClaudeCode),
            (
                "/usr/local/lib/node_modules/@openai/codex/vendor/x86_64-unknown-linux-musl/codex/codex exec",
                Tool::Codex,
            ),
            ("codex", Tool::Codex),
            ("gemini -m gemini-2.5-pro", Tool::GeminiCli),
            ("/home/ana/.opencode/bin/opencode", Tool::Opencode),
            ("openclaw-gateway", Tool::OpenClaw),
            ("kimi", Tool::KimiCli),
            (
                "/home/ana/.local/share/uv/tools/kimi-cli/bin/python3 /home/ana/.local/bin/kimi",
                Tool::KimiCli,
            ),
            ("python3 -m kimi_cli", Tool::KimiCli),
            (
                "/home/ana/.local/pipx/venvs/aider-chat/bin/python /home/ana/.local/bin/aider --model sonnet",
                Tool::Aider,
            ),
            ("python3.12 -m aider --yes", Tool::Aider),
            ("C:\\Users\\ana\\.local\\bin\\claude.exe", Tool::ClaudeCode),
        ];
        for (cmdline, tool) in cases {
            assert_eq!(id(cmdline), Some(tool), "{cmdline}");
        }
    }

    #[test]
    fn files_and_words_named_like_a_tool_are_not_agents() {
        let cases = [
            "vim CLAUDE.md",
            "nvim /home/ana/.claude/settings.json",
            "grep -r claude .",
            "rg --files /usr/lib/node_modules/@anthropic-ai/claude-code",
            "less /home/ana/.codex/config.toml",
            "code /home/ana/src/codex",
            "tail -f /var/log/aider.log",
            "cat /usr/lib/node_modules/@anthropic-ai/claude-code/cli.js",
            "node server.js --name claude",
            "node /usr/lib/node_modules/npm/bin/npm-cli.js install -g @anthropic-ai/claude-code",
            "node -e require('/usr/lib/node_modules/@anthropic-ai/claude-code/cli.js')",
            "python3 /home/ana/notes/aider.py",
            "python3 -m http.server --directory /home/ana/kimi",
            "bash -c claude",
            "sleep 100",
            "node",
            "",
        ];
        for cmdline in cases {
            assert_eq!(id(cmdline), None, "{cmdline}");
        }
        // No command line readable: name and executable decide, in the same strict way.
        let native = Path::new("/home/ana/.local/share/claude/versions/2.0.14");
        assert_eq!(
            identify("claude", Some(native), &[]),
            Some(Tool::ClaudeCode)
        );
        assert_eq!(identify("2.0.14", Some(native), &[]), None);
        assert_eq!(identify("claude", None, &[]), Some(Tool::ClaudeCode));
        assert_eq!(identify("vim", Some(Path::new("/usr/bin/vim")), &[]), None);
    }

    #[test]
    fn kimi_code_is_known_after_it_renames_itself() {
        // After setproctitle("Kimi Code") (kimi_cli/cli/__init__.py), as /proc shows a Python
        // renamed that way: comm and the whole command line are the title, the executable is
        // still the interpreter.
        let python = Path::new("/home/ana/.local/share/uv/tools/kimi-cli/bin/python3.13");
        let renamed = ["Kimi Code".to_owned()];
        assert_eq!(
            identify("Kimi Code", Some(python), &renamed),
            Some(Tool::KimiCli)
        );
        // The command line unreadable (another user's process): the name alone.
        assert_eq!(
            identify("Kimi Code", Some(python), &[]),
            Some(Tool::KimiCli)
        );
        // Its workers (kimi_cli/web/runner/worker.py, the background task worker).
        for title in ["kimi-code-worker", "kimi-code-bg-worker"] {
            assert_eq!(
                identify(title, Some(python), &[title.to_owned()]),
                Some(Tool::KimiCli),
                "{title}"
            );
        }
        // A plain Python stays unnamed, whatever its name.
        assert_eq!(
            identify("python3", Some(python), &["python3".to_owned()]),
            None
        );
    }

    #[test]
    fn llm_and_cline_are_known() {
        let cases = [
            (
                "/home/ana/.local/pipx/venvs/llm/bin/python /home/ana/.local/bin/llm -m gpt-4o hi",
                Tool::Llm,
            ),
            ("/home/ana/.local/bin/llm chat", Tool::Llm),
            ("python3 -m llm prompt hi", Tool::Llm),
            (
                "node /home/ana/.npm-global/lib/node_modules/@cline/cli/dist/index.js",
                Tool::Cline,
            ),
            ("node /usr/lib/node_modules/cline/dist/cli.mjs", Tool::Cline),
            ("cline task", Tool::Cline),
        ];
        for (cmdline, tool) in cases {
            assert_eq!(id(cmdline), Some(tool), "{cmdline}");
        }
        assert_eq!(id("python3 /home/ana/notes/llm-ideas.py"), None);
        assert_eq!(Tool::Llm.name(), "llm");
        assert_eq!(Tool::Cline.name(), "Cline");
    }

    #[test]
    fn cpu_share_is_cpu_time_over_wall_time() {
        assert_eq!(cpu_share(1000, 1250, Duration::from_secs(1)), 25.0);
        assert_eq!(cpu_share(1000, 3000, Duration::from_secs(1)), 200.0);
        assert_eq!(cpu_share(1000, 900, Duration::from_secs(1)), 0.0);
        assert_eq!(cpu_share(0, 10, Duration::ZERO), 0.0);
    }

    #[test]
    fn the_shown_command_never_carries_arguments() {
        let cmd = |s: &str| s.split(' ').map(str::to_owned).collect::<Vec<_>>();
        assert_eq!(
            short_command(
                "node",
                &cmd(
                    "node /usr/lib/node_modules/@anthropic-ai/claude-code/cli.js --api-key sk-ant-secret"
                )
            ),
            "node cli.js"
        );
        assert_eq!(
            short_command("aider", &cmd("/usr/bin/aider --api-key openai=sk-secret")),
            "aider"
        );
        assert_eq!(
            short_command("python3", &cmd("python3 -m kimi_cli")),
            "python3 -m kimi_cli"
        );
        assert_eq!(short_command("claude", &[]), "claude");
    }
}
