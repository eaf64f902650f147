//! The dashboard window runs in a process of its own (this binary with `--window`), started
//! when the user opens it and gone when they close it. WebKit, its web and network processes
//! and the GL driver it loads all end with that process, so the tray app that stays running
//! holds none of them (see benches/README.md, `desktop_idle`).
//!
//! The two processes talk in JSON lines over the window process's stdin and stdout; the
//! window's commands go to the engine's local API over loopback HTTP (see `commands`).
//! The address and token travel over the pipe, never in the process arguments.

use redline::serve::api::Api;
use serde::{Deserialize, Serialize};
use std::io::{BufRead as _, BufReader, Read, Write as _};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};

/// The flag that starts this binary as the window process.
pub const WINDOW_FLAG: &str = "--window";

/// From the tray process to the window process.
#[derive(Serialize, Deserialize)]
#[serde(tag = "do", rename_all = "snake_case")]
pub enum ToWindow {
    /// Where the engine's API is and the local token to present (sent once it listens).
    Connect { url: String, token: String },
    /// Bring the window to the front (the user opened it again), on a view of the dashboard
    /// (`tools`) when one is named.
    Show {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        view: Option<String>,
    },
    /// A notice of the engine's tool watch, for the dashboard to show (the engine's JSON).
    ToolNotice { notice: serde_json::Value },
    /// The engine's status changed: the page pulls it again.
    StatusChanged,
    /// The engine could not start or stopped; the window says why.
    EngineFailed { message: String },
}

impl ToWindow {
    pub fn connect(api: &Api) -> ToWindow {
        let (url, token) = api.local_access();
        ToWindow::Connect {
            url,
            token: token.expose().to_owned(),
        }
    }
}

/// From the window process to the tray process.
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "do", rename_all = "snake_case")]
pub enum FromWindow {
    /// Start at login was switched in the window: the tray menu re-reads it.
    AutostartChanged,
    /// The window was closed and its process is ending (WebKit takes a moment to go): the
    /// next "open" starts a new one rather than telling this one to show.
    Closing,
}

/// The running window process, if any, as the tray process sees it.
pub struct WindowProcess {
    running: Mutex<Option<Running>>,
    /// Whether a window is open, for what only runs while someone looks (the demo's agents).
    open_now: tokio::sync::watch::Sender<bool>,
}

impl Default for WindowProcess {
    fn default() -> Self {
        WindowProcess {
            running: Mutex::default(),
            open_now: tokio::sync::watch::Sender::new(false),
        }
    }
}

struct Running {
    pid: u32,
    lines: mpsc::Sender<ToWindow>,
    /// The process, to ask whether it has exited: its input thread takes messages until a
    /// write fails, and its output may stay open after it exited (WebKit's processes inherit
    /// it and end a moment later), so neither says it has gone.
    child: Arc<Mutex<Child>>,
    /// The process said its window was closed.
    closing: Arc<AtomicBool>,
}

impl Running {
    /// Whether it can no longer show a window: its window was closed, or it has exited.
    fn going(&self) -> bool {
        self.closing.load(Ordering::Relaxed) || !matches!(lock(&self.child).try_wait(), Ok(None))
    }
}

impl WindowProcess {
    /// Brings the window to the front on `view` (or as it was), starting its process if none
    /// runs; a new process is sent `first` (where the engine is, or why it failed; nothing
    /// while it starts, as [`Self::send`] tells it later). `on_message` handles what the
    /// window says; `on_exit` runs once it has ended.
    pub fn open(
        &self,
        first: Option<ToWindow>,
        view: Option<&str>,
        on_message: impl Fn(FromWindow) + Send + 'static,
        on_exit: impl FnOnce(u32) + Send + 'static,
    ) {
        let show = |view: Option<&str>| ToWindow::Show {
            view: view.map(str::to_owned),
        };
        let mut running = lock(&self.running);
        if let Some(window) = running.as_ref()
            && !window.going()
            && window.lines.send(show(view)).is_ok()
        {
            return;
        }
        // A new window comes to the front by itself; only a view needs saying.
        let messages = first
            .into_iter()
            .chain(view.map(|v| show(Some(v))))
            .collect();
        match start(messages, on_message, on_exit) {
            Ok(window) => {
                *running = Some(window);
                self.open_now.send_replace(true);
            }
            Err(err) => eprintln!("redline-desktop: could not open the window: {err}"),
        }
    }

    /// Sends a message to the window process, if one runs.
    pub fn send(&self, message: ToWindow) {
        if let Some(window) = lock(&self.running).as_ref() {
            let _ = window.lines.send(message);
        }
    }

    /// Forgets the window process `pid` once it has ended.
    pub fn ended(&self, pid: u32) {
        let mut running = lock(&self.running);
        if running.as_ref().is_some_and(|window| window.pid == pid) {
            *running = None;
            self.open_now.send_replace(false);
        }
    }

    /// Closes the window: its process reads the end of its input and exits.
    pub fn close(&self) {
        lock(&self.running).take();
        self.open_now.send_replace(false);
    }

    /// Follows whether a window is open.
    pub fn watch_open(&self) -> tokio::sync::watch::Receiver<bool> {
        self.open_now.subscribe()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Starts the window process with a thread writing its input and one reading its output
/// (which also waits for it to end). Both end with it.
fn start(
    first: Vec<ToWindow>,
    on_message: impl Fn(FromWindow) + Send + 'static,
    on_exit: impl FnOnce(u32) + Send + 'static,
) -> std::io::Result<Running> {
    let exe = installed_binary(std::env::current_exe()?);
    let mut child = Command::new(exe)
        .arg(WINDOW_FLAG)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let pid = child.id();
    let (lines, to_write) = mpsc::channel();
    for message in first {
        let _ = lines.send(message);
    }
    let input = child.stdin.take().expect("stdin is piped");
    let output = child.stdout.take().expect("stdout is piped");
    std::thread::Builder::new()
        .name("window-input".into())
        .spawn(move || write_lines(input, to_write))?;
    let child = Arc::new(Mutex::new(child));
    let waited = child.clone();
    let closing = Arc::new(AtomicBool::new(false));
    let closed = closing.clone();
    std::thread::Builder::new()
        .name("window-output".into())
        .spawn(move || {
            read_lines(output, &closed, on_message);
            // (Once a `try_wait` has seen it exit, this returns that status.)
            wait(&mut lock(&waited));
            on_exit(pid);
        })?;
    Ok(Running {
        pid,
        lines,
        child,
        closing,
    })
}

/// This binary's path. After an upgrade replaced it while the app ran, Linux names the old
/// file `PATH (deleted)`: the window then runs from the new binary at the same path.
fn installed_binary(exe: PathBuf) -> PathBuf {
    match exe
        .to_str()
        .and_then(|path| path.strip_suffix(" (deleted)"))
    {
        Some(path) => PathBuf::from(path),
        None => exe,
    }
}

/// Writes each message as a line until the sender is dropped or the process has gone.
fn write_lines(mut input: std::process::ChildStdin, messages: mpsc::Receiver<ToWindow>) {
    for message in messages {
        let Ok(mut line) = serde_json::to_vec(&message) else {
            continue;
        };
        line.push(b'\n');
        if input.write_all(&line).and_then(|()| input.flush()).is_err() {
            return;
        }
    }
}

/// Reads the window's messages until its output closes, noting when it says it is `closing`;
/// anything else it prints (a library's warning) is passed on to stderr.
fn read_lines(output: impl Read, closing: &AtomicBool, on_message: impl Fn(FromWindow)) {
    for line in BufReader::new(output).lines() {
        let Ok(line) = line else {
            return;
        };
        match serde_json::from_str::<FromWindow>(&line) {
            Ok(FromWindow::Closing) => closing.store(true, Ordering::Relaxed),
            Ok(message) => on_message(message),
            Err(_) if line.trim().is_empty() => {}
            Err(_) => eprintln!("redline-desktop window: {line}"),
        }
    }
}

fn wait(child: &mut Child) {
    match child.wait() {
        Ok(status) if !status.success() => {
            eprintln!("redline-desktop: the window process ended with {status}");
        }
        Err(err) => eprintln!("redline-desktop: could not wait for the window process: {err}"),
        Ok(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_upgraded_binary_is_found_at_its_path() {
        let path = |p: &str| PathBuf::from(p);
        assert_eq!(
            installed_binary(path("/usr/bin/redline-desktop (deleted)")),
            path("/usr/bin/redline-desktop")
        );
        assert_eq!(
            installed_binary(path("/opt/Redline/redline-desktop")),
            path("/opt/Redline/redline-desktop")
        );
    }

    #[test]
    fn messages_are_one_json_object_per_line() {
        let show = serde_json::to_string(&ToWindow::Show { view: None }).unwrap();
        assert_eq!(show, r#"{"do":"show"}"#);
        let tools = ToWindow::Show {
            view: Some("tools".into()),
        };
        let line = serde_json::to_string(&tools).unwrap();
        assert_eq!(line, r#"{"do":"show","view":"tools"}"#);
        assert!(matches!(
            serde_json::from_str(r#"{"do":"show"}"#).unwrap(),
            ToWindow::Show { view: None }
        ));
        let connect = ToWindow::Connect {
            url: "http://127.0.0.1:8787".into(),
            token: "rl_0123456789abcdef".into(),
        };
        let line = serde_json::to_string(&connect).unwrap();
        assert!(!line.contains('\n'));
        match serde_json::from_str(&line).unwrap() {
            ToWindow::Connect { url, token } => {
                assert_eq!(
                    (url.as_str(), token.as_str()),
                    ("http://127.0.0.1:8787", "rl_0123456789abcdef")
                );
            }
            _ => panic!("not a connect message: {line}"),
        }
        assert_eq!(
            serde_json::from_str::<FromWindow>(r#"{"do":"autostart_changed"}"#).unwrap(),
            FromWindow::AutostartChanged
        );
        assert!(serde_json::from_str::<FromWindow>("Gtk-WARNING: no display").is_err());
    }

    #[test]
    fn a_window_that_says_it_is_closing_is_marked_and_its_other_messages_pass_on() {
        let output =
            "{\"do\":\"autostart_changed\"}\nGtk-WARNING: a library's line\n{\"do\":\"closing\"}\n";
        let closing = AtomicBool::new(false);
        let received = Mutex::new(Vec::new());
        read_lines(output.as_bytes(), &closing, |m| lock(&received).push(m));
        assert!(closing.load(Ordering::Relaxed));
        assert_eq!(*lock(&received), [FromWindow::AutostartChanged]);
    }
}
