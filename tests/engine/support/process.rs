//! Child processes under deadlines: whatever a test waits for from another process, it waits
//! for a bounded time, enforced from outside that process, and then fails saying what it waited
//! for.

use std::io::{ErrorKind, Write};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long one command (a `redline` run, `secret-tool`, a Python script) may take.
pub const COMMAND_WITHIN: Duration = Duration::from_secs(60);

/// How long a test re-run in a process of its own may take.
const ALONE_WITHIN: Duration = Duration::from_secs(120);

/// Set in the environment of a test re-run by [`rerun_alone`].
const ALONE: &str = "REDLINE_TEST_ALONE";

/// Runs `command` to its end with `stdin` as its input (none: an empty one) and returns what it
/// printed; fails the test if it has not ended within [`COMMAND_WITHIN`].
pub fn output(command: Command, stdin: Option<&str>) -> Output {
    output_within(command, stdin, COMMAND_WITHIN)
}

fn output_within(mut command: Command, stdin: Option<&str>, limit: Duration) -> Output {
    let what = describe(&command);
    let child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("{what} does not start: {err}"));
    let pid = child.id();
    let input = stdin.unwrap_or_default().to_owned();
    // Writing the input and waiting happen on a thread of their own, so that the deadline
    // below holds whatever the command does.
    let (done, ended) = mpsc::channel();
    std::thread::spawn(move || done.send(feed_and_wait(child, &input)));
    match ended.recv_timeout(limit) {
        Ok(output) => output.unwrap_or_else(|err| panic!("{what}: {err}")),
        Err(_) => {
            signal(pid, "-KILL");
            panic!("{what} did not finish within {} s", limit.as_secs())
        }
    }
}

fn feed_and_wait(mut child: Child, input: &str) -> std::io::Result<Output> {
    let mut pipe = child.stdin.take().expect("standard input is piped");
    match pipe.write_all(input.as_bytes()) {
        // A command that fails before reading its input closes the pipe; that is its answer.
        Err(err) if err.kind() != ErrorKind::BrokenPipe => return Err(err),
        _ => drop(pipe),
    }
    child.wait_with_output()
}

/// The program and its arguments, to name a command in a failure.
fn describe(command: &Command) -> String {
    let mut words = vec![command.get_program().to_string_lossy().into_owned()];
    words.extend(command.get_args().map(|a| a.to_string_lossy().into_owned()));
    format!("`{}`", words.join(" "))
}

/// Sends `signal` (`-TERM`, `-KILL`) to process `pid` with `kill`, which returns at once.
pub fn signal(pid: u32, signal: &str) {
    let sent = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success(), "kill {signal} {pid}: {sent}");
}

/// [`signal`] for a process that may have exited meanwhile (in a `Drop`, where a failed
/// assertion would abort the test binary): a failure is ignored.
pub fn signal_if_running(pid: u32, signal: &str) {
    let _ = Command::new("kill")
        .args([signal, &pid.to_string()])
        .stderr(Stdio::null())
        .status();
}

/// A process a test starts and ends itself (a stand-in for an agent), killed at the latest when
/// the test ends.
pub struct Running(Child);

impl Running {
    pub fn spawn(command: &mut Command) -> Running {
        let what = describe(command);
        Running(
            command
                .spawn()
                .unwrap_or_else(|err| panic!("{what} does not start: {err}")),
        )
    }

    pub fn id(&self) -> u32 {
        self.0.id()
    }

    /// Its piped standard input, once.
    pub fn take_stdin(&mut self) -> std::process::ChildStdin {
        self.0
            .stdin
            .take()
            .expect("standard input was piped, and is taken once")
    }

    /// Its piped standard output, once.
    pub fn take_stdout(&mut self) -> std::process::ChildStdout {
        self.0
            .stdout
            .take()
            .expect("standard output was piped, and is taken once")
    }

    /// Kills the process and reaps it (a killed process ends at once).
    pub fn kill(mut self) {
        self.0.kill().unwrap();
        self.0.wait().unwrap();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Whether this process is one [`rerun_alone`] started: the test runs here, alone.
pub fn running_alone() -> bool {
    std::env::var_os(ALONE).is_some()
}

/// For a test that needs a process to itself (it relies on the process's environment, which
/// the other tests of this binary share): runs the calling test again, alone, in a new process
/// of this test binary whose environment `set_env` completes, and fails the calling test if it
/// fails there or does not end within 120 s. The test body runs when [`running_alone`].
pub fn rerun_alone(set_env: impl FnOnce(&mut Command)) {
    let thread = std::thread::current();
    let test = thread
        .name()
        .expect("the test harness names each test's thread after the test");
    let mut again = Command::new(std::env::current_exe().unwrap());
    again
        .args([test, "--exact", "--test-threads=1"])
        .env(ALONE, "1");
    set_env(&mut again);
    let run = output_within(again, None, ALONE_WITHIN);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success() && stdout.contains("1 passed"),
        "{test}, run alone: {}\n{stdout}\n{}",
        run.status,
        String::from_utf8_lossy(&run.stderr)
    );
}
