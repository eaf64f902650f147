//! Shared harness for the engine's integration tests: a temp `REDLINE_HOME`, a keyring service
//! name of its own on the real Secret Service, and the `redline` binary.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

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

    pub fn config_path(&self) -> PathBuf {
        self.home().join("config.toml")
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_redline"));
        command
            .args(args)
            .env("REDLINE_HOME", self.home())
            .env("REDLINE_KEYRING_SERVICE", &self.service)
            .env("HOME", self.dir.path().join("user-home"))
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("XDG_DATA_HOME");
        command
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with(self.command(args), None)
    }

    pub fn run_stdin(&self, args: &[&str], stdin: &str) -> Run {
        self.run_with(self.command(args), Some(stdin))
    }

    pub fn run_with(&self, mut command: Command, stdin: Option<&str>) -> Run {
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("redline binary runs");
        let mut pipe = child.stdin.take().unwrap();
        if let Some(text) = stdin {
            // A command that fails before reading its input closes the pipe; that is its answer.
            if let Err(err) = pipe.write_all(text.as_bytes()) {
                assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe, "{err}");
            }
        }
        drop(pipe);
        let Output {
            status,
            stdout,
            stderr,
        } = child.wait_with_output().unwrap();
        Run {
            code: status.code().unwrap_or(-1),
            stdout: String::from_utf8(stdout).unwrap(),
            stderr: String::from_utf8(stderr).unwrap(),
        }
    }

    /// The secret stored under `entry`, read with `secret-tool` rather than Redline's own code.
    pub fn keyring(&self, entry: &str) -> Option<String> {
        let out = Command::new("secret-tool")
            .args(["lookup", "service", &self.service, "username", entry])
            .output()
            .expect("secret-tool (libsecret-tools) is installed");
        out.status
            .success()
            .then(|| String::from_utf8(out.stdout).unwrap())
    }

    pub fn config_text(&self) -> Option<String> {
        std::fs::read_to_string(self.config_path()).ok()
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

/// A tokio runtime that keeps fake provider servers answering while a test runs the binary.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A fake provider that accepts `key`.
pub fn fake(
    rt: &tokio::runtime::Runtime,
    provider: redline::providers::ProviderId,
    key: &str,
) -> redline::fakes::FakeProvider {
    rt.block_on(redline::fakes::FakeProvider::start(provider, key))
        .expect("fake provider starts")
}

/// A loopback origin where nothing listens.
pub fn closed_origin() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

impl Sandbox {
    /// `redline status --json`, parsed.
    pub fn status_json(&self) -> serde_json::Value {
        serde_json::from_str(&self.run(&["status", "--json"]).ok().stdout)
            .expect("status --json is JSON")
    }
}

impl Sandbox {
    /// `keys add ID --provider PROVIDER --base-url ORIGIN` with `key` on stdin, checked with
    /// the provider at `origin`; the test fails if it is not stored.
    pub fn add_key(&self, id: &str, provider: &str, origin: &str, key: &str) -> Run {
        self.run_stdin(
            &[
                "keys",
                "add",
                id,
                "--provider",
                provider,
                "--base-url",
                origin,
            ],
            key,
        )
        .ok()
    }
}

/// A running `redline daemon` on a free loopback port, killed if the test fails before
/// stopping it. Everything it prints to stderr is kept, to search for secrets.
pub struct Daemon {
    pub child: std::process::Child,
    pub origin: String,
    pub stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Daemon {
    pub fn start(sandbox: &Sandbox, extra: &[&str]) -> Daemon {
        Daemon::start_with(sandbox, extra, &[])
    }

    pub fn start_with(sandbox: &Sandbox, extra: &[&str], env: &[(&str, &str)]) -> Daemon {
        let mut args = vec!["--listen", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        Daemon::start_args(sandbox, &args, env)
    }

    /// `redline daemon` with exactly these arguments (without --listen it takes proxy.listen
    /// from the config).
    pub fn start_args(sandbox: &Sandbox, args: &[&str], env: &[(&str, &str)]) -> Daemon {
        use std::io::{BufRead, BufReader};
        let mut command = sandbox.command(&[&["daemon"], args].concat());
        command.envs(env.iter().copied());
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = command.spawn().unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        // Warnings (a history it cannot open) may come before the address; they are kept.
        let mut line = String::new();
        let origin = loop {
            let start = line.len();
            assert_ne!(
                stderr.read_line(&mut line).unwrap(),
                0,
                "the daemon exited: {line}"
            );
            if let Some(origin) = line[start..]
                .trim_end()
                .strip_prefix("Redline is listening on ")
            {
                break origin.to_owned();
            }
        };
        // The banner ends with how to stop it; read all of it before going on.
        while !line.contains("Ctrl-C stops it.") {
            assert_ne!(stderr.read_line(&mut line).unwrap(), 0, "{line}");
        }
        let kept = std::sync::Arc::new(std::sync::Mutex::new(line));
        let sink = kept.clone();
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                let mut all = sink.lock().unwrap();
                all.push_str(&line);
                all.push('\n');
            }
        });
        Daemon {
            child,
            origin,
            stderr: kept,
        }
    }

    /// The token in the link the demo prints (`#token=...`).
    pub fn demo_token(&self) -> String {
        let log = self.stderr.lock().unwrap();
        let (_, rest) = log
            .split_once("#token=")
            .unwrap_or_else(|| panic!("no demo link printed: {log}"));
        rest.split_whitespace().next().unwrap().to_owned()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin)
    }

    /// SIGTERM, then waits (at most 10 s) for a clean exit.
    pub fn stop(mut self) -> std::process::ExitStatus {
        self.signal("-TERM");
        self.wait(std::time::Duration::from_secs(10))
    }

    /// Sends a signal (`-TERM`, `-KILL`) with `kill`.
    pub fn signal(&self, signal: &str) {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args([signal, &pid])
                .status()
                .unwrap()
                .success()
        );
    }

    /// Waits at most `limit` for the daemon to exit.
    pub fn wait(&mut self, limit: std::time::Duration) -> std::process::ExitStatus {
        let deadline = std::time::Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the daemon did not stop"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

/// An HTTP client that never goes through a system proxy (the tests talk to loopback).
pub fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}
