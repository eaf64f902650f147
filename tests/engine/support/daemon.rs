//! A `redline daemon` run by a test: started on a free loopback port and ready within 30 s,
//! everything it prints kept, stopped by a signal within 20 s, and stopped the same way (killed
//! only if that takes over 5 s) if the test ends first.

use super::{Sandbox, http, process};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStderr, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long the daemon may take to say where it listens.
const READY_WITHIN: Duration = Duration::from_secs(30);
/// How long it may take to exit once signalled.
const EXIT_WITHIN: Duration = Duration::from_secs(20);
/// How long a daemon the test left running may take to exit on SIGTERM before it is killed.
const EXIT_ON_DROP_WITHIN: Duration = Duration::from_secs(5);
/// How long a status a test waits for may take to show.
const STATUS_WITHIN: Duration = Duration::from_secs(20);

pub struct Daemon {
    /// `http://127.0.0.1:PORT`, where it listens.
    pub origin: String,
    pid: u32,
    child: Arc<Mutex<Child>>,
    log: Arc<Mutex<String>>,
    /// Each line it prints, then its exit, as they happen.
    events: Receiver<Event>,
    exit: Option<ExitStatus>,
}

enum Event {
    Line(String),
    Exited(ExitStatus),
}

impl Daemon {
    /// `redline daemon --listen 127.0.0.1:0` in `sandbox`.
    pub fn start(sandbox: &Sandbox) -> Daemon {
        Daemon::start_args(sandbox, &["--listen", "127.0.0.1:0"], &[])
    }

    /// `redline daemon --demo` on a free port, with `env` added to its environment.
    pub fn demo(sandbox: &Sandbox, env: &[(&str, &str)]) -> Daemon {
        Daemon::start_args(sandbox, &["--listen", "127.0.0.1:0", "--demo"], env)
    }

    /// `redline daemon` with exactly these arguments (without --listen it takes proxy.listen
    /// from the config), once it has printed its banner.
    pub fn start_args(sandbox: &Sandbox, args: &[&str], env: &[(&str, &str)]) -> Daemon {
        let mut command = sandbox.command(&[&["daemon"], args].concat());
        command
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("the redline binary runs");
        let stderr = child.stderr.take().unwrap();
        let pid = child.id();
        let child = Arc::new(Mutex::new(child));
        let log = Arc::new(Mutex::new(String::new()));
        let (send, events) = mpsc::channel();
        let (watched, kept) = (child.clone(), log.clone());
        std::thread::spawn(move || watch(&watched, stderr, &kept, &send));
        let mut daemon = Daemon {
            origin: String::new(),
            pid,
            child,
            log,
            events,
            exit: None,
        };
        daemon.origin = daemon.read_banner();
        daemon
    }

    /// Reads what the daemon prints until its banner has ended, and returns the origin it
    /// named. Warnings (a history it cannot open) may come before the address.
    fn read_banner(&mut self) -> String {
        let deadline = Instant::now() + READY_WITHIN;
        let mut origin = None;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(Event::Line(line)) => {
                    if let Some(address) = line.strip_prefix("Redline is listening on ") {
                        origin = Some(address.to_owned());
                    }
                    // The banner ends with how to stop it.
                    if line.contains("Ctrl-C stops it.") {
                        return origin.unwrap_or_else(|| panic!("no address: {}", self.log()));
                    }
                }
                Ok(Event::Exited(status)) => {
                    panic!(
                        "the daemon exited ({status}) before it listened: {}",
                        self.log()
                    )
                }
                Err(_) => panic!(
                    "the daemon was not listening within {} s: {}",
                    READY_WITHIN.as_secs(),
                    self.log()
                ),
            }
        }
    }

    /// The next line the daemon prints that contains `text` (lines printed since the last
    /// wait count too); fails if none does within `within`.
    pub fn wait_for_line(&mut self, text: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(Event::Line(line)) if line.contains(text) => return line,
                Ok(Event::Line(_)) => {}
                Ok(Event::Exited(status)) => {
                    self.exit = Some(status);
                    panic!(
                        "the daemon exited ({status}) before printing {text:?}: {}",
                        self.log()
                    )
                }
                Err(_) => panic!(
                    "the daemon did not print {text:?} within {} s: {}",
                    within.as_secs(),
                    self.log()
                ),
            }
        }
    }

    /// Its process id (to count its descriptors in `/proc`).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin)
    }

    /// Everything the daemon has printed on stderr so far; all of it once it has exited.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// The token in the link the demo prints (`#token=...`).
    pub fn demo_token(&self) -> String {
        let log = self.log();
        let (_, rest) = log
            .split_once("#token=")
            .unwrap_or_else(|| panic!("no demo link printed: {log}"));
        rest.split_whitespace().next().unwrap().to_owned()
    }

    /// SIGTERM, and its exit status once it has exited.
    pub fn stop(&mut self) -> ExitStatus {
        self.signal("-TERM");
        self.wait()
    }

    /// SIGKILL, and its exit status once it has exited.
    pub fn kill(&mut self) -> ExitStatus {
        self.signal("-KILL");
        self.wait()
    }

    fn signal(&self, signal: &str) {
        process::signal(self.pid, signal);
    }

    fn wait(&mut self) -> ExitStatus {
        self.exited_within(EXIT_WITHIN).unwrap_or_else(|| {
            panic!(
                "the daemon did not exit within {} s: {}",
                EXIT_WITHIN.as_secs(),
                self.log()
            )
        })
    }

    /// Its exit status once it has exited, if it does within `within`.
    fn exited_within(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        while self.exit.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(Event::Line(_)) => {}
                Ok(Event::Exited(status)) => self.exit = Some(status),
                Err(_) => break,
            }
        }
        self.exit
    }

    /// The status as the daemon's API gives it now.
    pub fn status(&self, token: &str) -> Value {
        http()
            .get(self.url("/api/v1/status"))
            .bearer_auth(token)
            .send()
            .unwrap()
            .json()
            .unwrap()
    }

    /// The live status events (`/api/v1/events`), parsed: the status now, then one on every
    /// change; the stream ends after `within`.
    pub fn statuses(&self, token: &str, within: Duration) -> impl Iterator<Item = Value> {
        let events = http()
            .get(self.url("/api/v1/events"))
            .bearer_auth(token)
            .timeout(within)
            .send()
            .unwrap();
        BufReader::new(events)
            .lines()
            .map_while(Result::ok)
            .filter_map(|line| {
                let data = line.strip_prefix("data: ")?;
                Some(serde_json::from_str(data).unwrap())
            })
    }

    /// The first live status that satisfies `wanted`; fails naming `what`, with the last status
    /// seen, if none has within 20 s.
    pub fn wait_for_status(
        &self,
        token: &str,
        what: &str,
        mut wanted: impl FnMut(&Value) -> bool,
    ) -> Value {
        let mut last = Value::Null;
        for status in self.statuses(token, STATUS_WITHIN) {
            if wanted(&status) {
                return status;
            }
            last = status;
        }
        panic!(
            "no status showed {what} within {} s; the last was {last:#}",
            STATUS_WITHIN.as_secs()
        );
    }
}

/// Keeps every line the daemon prints and passes it on; once its stderr closes (it exited),
/// reaps it and passes on its exit status.
fn watch(child: &Mutex<Child>, stderr: ChildStderr, log: &Mutex<String>, events: &Sender<Event>) {
    for line in BufReader::new(stderr).lines().map_while(Result::ok) {
        let mut kept = log.lock().unwrap();
        kept.push_str(&line);
        kept.push('\n');
        drop(kept);
        let _ = events.send(Event::Line(line));
    }
    let status = child.lock().unwrap().wait().expect("the daemon is reaped");
    let _ = events.send(Event::Exited(status));
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // A failing test shows what the daemon said (its log holds no secret: tests prove it).
        if std::thread::panicking() {
            let log = self.log.lock().unwrap_or_else(PoisonError::into_inner);
            eprintln!(
                "--- the daemon's output (pid {}) ---\n{log}--- end ---",
                self.pid
            );
        }
        // SIGTERM first, as a user's service manager stops it: a daemon killed in the middle of a
        // call to the Secret Service leaves gnome-keyring answering a client that has gone, which
        // can make it abort (its `'client' failed` assertion) under every later test.
        let running = matches!(
            self.child
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .try_wait(),
            Ok(None)
        );
        if self.exit.is_none() && running {
            process::signal_if_running(self.pid, "-TERM");
            self.exited_within(EXIT_ON_DROP_WITHIN);
        }
        // Does nothing once the daemon has exited and been reaped.
        let _ = self
            .child
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .kill();
    }
}
