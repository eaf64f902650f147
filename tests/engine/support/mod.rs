//! What the engine's integration tests share: a sandbox (a temp `REDLINE_HOME`, a keyring
//! service name of its own on the real Secret Service, and the `redline` binary), fake
//! providers, and in the modules below a running daemon, child processes under deadlines and
//! the scenarios many tests start from.

pub mod certificates;
pub mod daemon;
pub mod process;
pub mod scenario;

pub use daemon::Daemon;
pub use scenario::KimiAccount;

use redline::fakes::{ChatCounters, FakeProvider};
use redline::providers::ProviderId;
use std::fmt::Debug;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub struct Sandbox {
    pub dir: tempfile::TempDir,
    pub service: String,
}

/// What one `redline` run printed.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn ok(self) -> Run {
        assert_eq!(
            self.code, 0,
            "expected success\nstdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }

    /// A failure with exactly one error line naming the problem.
    pub fn fails_with(self, expected: &str) -> Run {
        assert_ne!(self.code, 0, "expected failure\nstdout: {}", self.stdout);
        let first = self.stderr.lines().next().unwrap_or_default();
        assert!(
            first.contains(expected),
            "first stderr line lacks {expected:?}: {}",
            self.stderr
        );
        self
    }
}

impl Sandbox {
    pub fn new() -> Sandbox {
        assert!(
            std::env::var_os("REDLINE_TEST_SECRET_SERVICE").is_some(),
            "these tests need a real Secret Service: run them with scripts/test.sh, or \
             `dbus-run-session -- scripts/with-test-keyring.sh cargo test`"
        );
        let dir = tempfile::tempdir().unwrap();
        let service = format!(
            "redline-test-{}",
            dir.path().file_name().unwrap().to_string_lossy()
        );
        std::fs::create_dir_all(dir.path().join("user-home")).unwrap();
        Sandbox { dir, service }
    }

    pub fn home(&self) -> PathBuf {
        self.dir.path().join("redline-home")
    }

    /// The `$HOME` that Redline, and the tools whose files it reads, see.
    pub fn user_home(&self) -> PathBuf {
        self.dir.path().join("user-home")
    }

    pub fn config_path(&self) -> PathBuf {
        self.home().join("config.toml")
    }

    /// Points `command` into this sandbox: its `REDLINE_HOME`, keyring service and `$HOME`,
    /// and none of the machine's XDG directories or the variables that move a tool's config
    /// file (which `redline connect` follows), so no test touches the real home.
    pub fn set_env<'a>(&self, command: &'a mut Command) -> &'a mut Command {
        command
            .env("REDLINE_HOME", self.home())
            .env("REDLINE_KEYRING_SERVICE", &self.service)
            .env("HOME", self.user_home());
        for moved in [
            "XDG_CONFIG_HOME",
            "XDG_DATA_HOME",
            "CLAUDE_CONFIG_DIR",
            "CODEX_HOME",
            "OPENCLAW_CONFIG_PATH",
            "OPENCLAW_STATE_DIR",
            "OPENCLAW_HOME",
            "KIMI_SHARE_DIR",
        ] {
            command.env_remove(moved);
        }
        command
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_redline"));
        command.args(args);
        self.set_env(&mut command);
        command
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with(self.command(args), None)
    }

    pub fn run_stdin(&self, args: &[&str], stdin: &str) -> Run {
        self.run_with(self.command(args), Some(stdin))
    }

    /// Runs `command` to its end (within [`process::COMMAND_WITHIN`]) with `stdin` as its input.
    pub fn run_with(&self, command: Command, stdin: Option<&str>) -> Run {
        let Output {
            status,
            stdout,
            stderr,
        } = process::output(command, stdin);
        Run {
            code: status.code().unwrap_or(-1),
            stdout: String::from_utf8(stdout).unwrap(),
            stderr: String::from_utf8(stderr).unwrap(),
        }
    }

    /// The secret stored under `entry`, read with `secret-tool` rather than Redline's own code.
    pub fn keyring(&self, entry: &str) -> Option<String> {
        let mut lookup = Command::new("secret-tool");
        lookup.args(["lookup", "service", &self.service, "username", entry]);
        let out = process::output(lookup, None);
        out.status
            .success()
            .then(|| String::from_utf8(out.stdout).unwrap())
    }

    pub fn config_text(&self) -> Option<String> {
        std::fs::read_to_string(self.config_path()).ok()
    }

    /// `redline status --json`, parsed.
    pub fn status_json(&self) -> serde_json::Value {
        serde_json::from_str(&self.run(&["status", "--json"]).ok().stdout)
            .expect("status --json is JSON")
    }

    /// The default tool token tools present to Redline's proxy (`redline token`, made on
    /// first use).
    pub fn token(&self) -> String {
        self.run(&["token"]).ok().stdout.trim().to_owned()
    }

    /// The admin credential the API, /metrics and the dashboard need (`redline token
    /// --admin`, made on first use).
    pub fn admin_token(&self) -> String {
        self.run(&["token", "--admin"])
            .ok()
            .stdout
            .trim()
            .to_owned()
    }

    /// `keys add ID --provider PROVIDER --base-url ORIGIN` with `key` on stdin, checked with
    /// the provider at `origin`; the test fails if it is not stored.
    pub fn add_key(&self, id: &str, provider: &str, origin: &str, key: &str) -> Run {
        let args = [
            "keys",
            "add",
            id,
            "--provider",
            provider,
            "--base-url",
            origin,
        ];
        self.run_stdin(&args, key).ok()
    }

    /// `keys add ID --provider PROVIDER [--base-url ORIGIN] --no-verify` with `key` on stdin:
    /// stored without asking the provider; the test fails if it is not stored.
    pub fn add_key_unchecked(
        &self,
        id: &str,
        provider: &str,
        origin: Option<&str>,
        key: &str,
    ) -> Run {
        let mut args = vec!["keys", "add", id, "--provider", provider, "--no-verify"];
        if let Some(origin) = origin {
            args.extend(["--base-url", origin]);
        }
        self.run_stdin(&args, key).ok()
    }
}

/// Every regular file below `dir`, recursively.
pub fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files_below(&path));
        } else {
            found.push(path);
        }
    }
    found
}

/// A fake provider that accepts `key`. It is served by a tokio runtime that this test binary
/// keeps for its fakes, so it answers while a test, on its own thread, runs the binary.
pub fn fake(provider: ProviderId, key: &str) -> FakeProvider {
    static FAKES: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    let runtime = FAKES.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    });
    runtime
        .block_on(FakeProvider::start(provider, key))
        .expect("fake provider starts")
}

/// A loopback origin where nothing listens.
pub fn closed_origin() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

/// An HTTP client that never goes through a system proxy (the tests talk to loopback).
pub fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
}

/// The Python that runs the official SDKs and the Prometheus parser (`REDLINE_TEST_PYTHON`).
pub fn python() -> String {
    std::env::var("REDLINE_TEST_PYTHON").expect(
        "these tests need a Python with the openai and anthropic SDKs and prometheus-client: \
         run scripts/test.sh, which installs them in target/sdk-venv and sets \
         REDLINE_TEST_PYTHON",
    )
}

/// Waits, woken by the fake's own notifications, for its chat counters to satisfy `done`;
/// fails naming `what`, with the last counters, after `within`.
pub fn wait_for_chats(
    fake: &FakeProvider,
    what: &str,
    within: Duration,
    done: impl Fn(&ChatCounters) -> bool,
) -> ChatCounters {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let counters = runtime.block_on(fake.wait_for_chats(within, &done));
    assert!(
        done(&counters),
        "not {what} within {} s: {counters:?}",
        within.as_secs()
    );
    counters
}

/// For what no event announces: asks `probe` every `every` until its answer is `done`, and
/// returns that answer; fails naming `what`, with the last answer, after `within`.
pub fn poll_until<T: Debug>(
    what: &str,
    within: Duration,
    every: Duration,
    mut probe: impl FnMut() -> T,
    done: impl Fn(&T) -> bool,
) -> T {
    let deadline = Instant::now() + within;
    loop {
        let answer = probe();
        if done(&answer) {
            return answer;
        }
        assert!(
            Instant::now() < deadline,
            "not {what} within {} s; the last answer was {answer:?}",
            within.as_secs()
        );
        std::thread::sleep(every);
    }
}
