//! Starting without the keyring (`docs/architecture.md` "Starting without the keyring"): a
//! daemon started while no Secret Service runs, or while the keyring is locked, starts, shows
//! its accounts grey with what to do, polls nothing, answers tools 503, and recovers by itself,
//! without a restart, once the keyring answers.
//!
//! Each test runs its own D-Bus session bus (`dbus-daemon` with a config that lists no
//! services, so nothing is started on demand) and, when it wants one, its own
//! `gnome-keyring-daemon` on it with a login keyring in a temp dir. The test binary's own
//! keyring (scripts/with-test-keyring.sh) is not used.

use crate::support::process::{self, Running};
use crate::support::{Daemon, Sandbox, fake, http};
use redline::providers::ProviderId;
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const KEY: &str = "sk-test-KeyringAbsentAbcdefghijk7070";
const PASSWORD: &str = "redline-test";
/// How long a bus, a keyring or the recovery may take.
const WITHIN: Duration = Duration::from_secs(20);

/// A private session bus on which nothing is activated.
struct PrivateBus {
    address: String,
    dir: tempfile::TempDir,
    _daemon: Running,
}

impl PrivateBus {
    fn start() -> PrivateBus {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("bus.conf");
        std::fs::write(
            &config,
            format!(
                r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#,
                dir.path().display()
            ),
        )
        .unwrap();
        let mut command = Command::new("dbus-daemon");
        command
            .arg(format!("--config-file={}", config.display()))
            .args(["--nofork", "--print-address=1"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut daemon = Running::spawn(&mut command);
        let stdout = daemon.take_stdout();
        let (sent, address) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = sent.send(line.trim().to_owned());
        });
        let address = address
            .recv_timeout(WITHIN)
            .expect("dbus-daemon printed its address");
        assert!(address.starts_with("unix:"), "dbus-daemon said {address:?}");
        PrivateBus {
            address,
            dir,
            _daemon: daemon,
        }
    }

    /// `command` talking to this bus.
    fn on<'a>(&self, command: &'a mut Command) -> &'a mut Command {
        command.env("DBUS_SESSION_BUS_ADDRESS", &self.address)
    }

    /// Where the keyring started by [`PrivateBus::keyring`] keeps its files.
    fn keyring_home(&self) -> PathBuf {
        self.dir.path().join("keyring")
    }

    /// A gnome-keyring-daemon on this bus, with the login keyring (made on first start) in
    /// [`PrivateBus::keyring_home`], unlocked, once it owns the Secret Service's name.
    fn keyring(&self) -> Running {
        let home = self.keyring_home();
        for dir in ["data", "config", "runtime"] {
            std::fs::create_dir_all(home.join(dir)).unwrap();
        }
        let mut command = Command::new("gnome-keyring-daemon");
        self.on(&mut command)
            .args(["--foreground", "--unlock", "--components=secrets"])
            .env("HOME", &home)
            .env("XDG_DATA_HOME", home.join("data"))
            .env("XDG_CONFIG_HOME", home.join("config"))
            .env("XDG_RUNTIME_DIR", home.join("runtime"))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut keyring = Running::spawn(&mut command);
        // The login keyring's password, on standard input, then its end.
        let mut stdin = keyring.take_stdin();
        stdin.write_all(PASSWORD.as_bytes()).unwrap();
        drop(stdin);
        self.wait_for_name("org.freedesktop.secrets");
        keyring
    }

    /// Waits (the bus tells, within [`WITHIN`]) until `name` has an owner.
    fn wait_for_name(&self, name: &str) {
        let mut wait = Command::new("gdbus");
        wait.args([
            "wait",
            "--address",
            &self.address,
            "--timeout",
            &WITHIN.as_secs().to_string(),
            name,
        ]);
        let out = process::output(wait, None);
        assert!(out.status.success(), "{name} did not appear on the bus");
    }

    /// Locks the login collection, as a screen lock or `secret-tool lock` does.
    fn lock_login(&self) {
        let mut lock = Command::new("gdbus");
        lock.args([
            "call",
            "--address",
            &self.address,
            "--dest",
            "org.freedesktop.secrets",
            "--object-path",
            "/org/freedesktop/secrets",
            "--method",
            "org.freedesktop.Secret.Service.Lock",
            "['/org/freedesktop/secrets/collection/login']",
        ]);
        let out = process::output(lock, None);
        assert!(
            out.status.success(),
            "locking: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Unlocks the login collection with its password, as the login screen does (no prompt:
    /// gnome-keyring's own method for that).
    fn unlock_login(&self) {
        use zbus::zvariant::{ObjectPath, OwnedObjectPath, OwnedValue, Value};
        let bus = zbus::blocking::connection::Builder::address(self.address.as_str())
            .unwrap()
            .build()
            .unwrap();
        let secrets = Some("org.freedesktop.secrets");
        let root = "/org/freedesktop/secrets";
        let opened = bus
            .call_method(
                secrets,
                root,
                Some("org.freedesktop.Secret.Service"),
                "OpenSession",
                &("plain", Value::from("")),
            )
            .unwrap();
        let (_, session): (OwnedValue, OwnedObjectPath) = opened.body().deserialize().unwrap();
        let login = ObjectPath::try_from("/org/freedesktop/secrets/collection/login").unwrap();
        let master = (
            session,
            Vec::<u8>::new(),
            PASSWORD.as_bytes().to_vec(),
            "text/plain",
        );
        bus.call_method(
            secrets,
            root,
            Some("org.gnome.keyring.InternalUnsupportedGuiltRiddenInterface"),
            "UnlockWithMasterPassword",
            &(login, master),
        )
        .unwrap();
    }
}

/// `redline ARGS` in `sandbox` on `bus`, with `stdin`.
fn redline(sandbox: &Sandbox, bus: &PrivateBus, args: &[&str], stdin: Option<&str>) -> String {
    let mut command = sandbox.command(args);
    bus.on(&mut command);
    sandbox.run_with(command, stdin).ok().stdout
}

/// A sandbox whose account `kimi-main` (on a fake Kimi, which checked the key once) has its
/// key and the default tool token stored in the login keyring of `bus`'s gnome-keyring, which
/// is left running.
fn account_in_keyring(
    bus: &PrivateBus,
) -> (Sandbox, redline::fakes::FakeProvider, String, Running) {
    let sandbox = Sandbox::new();
    let kimi = fake(ProviderId::KimiCode, KEY);
    let keyring = bus.keyring();
    let origin = kimi.origin();
    redline(
        &sandbox,
        bus,
        &[
            "keys",
            "add",
            "kimi-main",
            "--provider",
            "kimi-code",
            "--base-url",
            &origin,
        ],
        Some(KEY),
    );
    let token = redline(&sandbox, bus, &["token"], None).trim().to_owned();
    (sandbox, kimi, token, keyring)
}

/// The stand-in admin credential a daemon without its keyring writes for this user's commands
/// (`keys/stand_in.rs`), checked to be readable by its owner only.
fn stand_in(sandbox: &Sandbox) -> String {
    let path = stand_in_path(sandbox);
    let meta = std::fs::metadata(&path).expect("the daemon wrote its stand-in admin credential");
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
        0o600
    );
    std::fs::read_to_string(path).unwrap().trim().to_owned()
}

fn stand_in_path(sandbox: &Sandbox) -> PathBuf {
    sandbox.home().join(redline::keys::stand_in::FILE_NAME)
}

fn chat(daemon: &Daemon, token: &str) -> reqwest::blocking::Response {
    http()
        .post(daemon.url("/kimi-main/coding/v1/chat/completions"))
        .bearer_auth(token)
        .json(&serde_json::json!({"model": "kimi-for-coding", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .unwrap()
}

/// What a daemon waiting for its keyring shows and answers: the account grey with `words`
/// and what to do, no poll, tools refused with 503 and nothing sent.
fn check_waiting(
    sandbox: &Sandbox,
    bus: &PrivateBus,
    daemon: &Daemon,
    kimi: &redline::fakes::FakeProvider,
    token: &str,
    words: &str,
) -> String {
    let admin = stand_in(sandbox);
    assert!(
        admin.starts_with("rl_admin_"),
        "a stand-in admin credential"
    );
    let status = daemon.status(&admin);
    let account = &status["accounts"][0];
    assert_eq!(account["id"], "kimi-main");
    assert_eq!(account["level"], "unknown", "{status:#}");
    let message = account["reasons"][0]["message"].as_str().unwrap();
    assert!(
        message.contains(words) && message.contains("no restart needed"),
        "{message}"
    );
    // The user's own `redline status` reaches the engine with the stand-in.
    let text = redline(sandbox, bus, &["status", "--json", "--engine"], None);
    let from_cli: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(from_cli["accounts"][0]["reasons"][0]["message"], message);

    let refused = chat(daemon, token);
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["x-redline"], "error");
    let body: Value = refused.json().unwrap();
    assert_eq!(
        body["error"]["type"], "redline_keyring_unavailable",
        "{body}"
    );
    let said = body["error"]["message"].as_str().unwrap();
    assert!(
        said.contains("nothing was sent") && said.contains(words),
        "{said}"
    );
    assert_eq!(
        kimi.usage_requests(),
        1,
        "nothing that needs a key is polled (the one request is `keys add`'s check)"
    );
    assert_eq!(kimi.chat_counters().requests, 0, "nothing was forwarded");
    admin
}

/// Waits (on the live status events) for the account to turn green, then checks the rest of
/// the recovery: the tool served, the stand-in file gone but the credential still the admin's,
/// and the keyring's admin credential accepted.
fn check_recovered(
    sandbox: &Sandbox,
    bus: &PrivateBus,
    daemon: &mut Daemon,
    kimi: &redline::fakes::FakeProvider,
    token: &str,
    stand_in: &str,
) {
    daemon.wait_for_status(
        stand_in,
        "kimi-main green after the keyring answered",
        |s| s["accounts"][0]["level"] == "ok",
    );
    assert!(kimi.usage_requests() > 1, "polled once the key was read");
    let served = chat(daemon, token);
    assert_eq!(served.status(), 200, "{}", served.text().unwrap());
    daemon.wait_for_line("the keyring answers", WITHIN);
    assert!(
        !stand_in_path(sandbox).exists(),
        "the stand-in is written down only while the keyring is away"
    );
    let admin = redline(sandbox, bus, &["token", "--admin"], None)
        .trim()
        .to_owned();
    assert_ne!(admin, stand_in);
    for (credential, which) in [
        (admin.as_str(), "the keyring's"),
        (stand_in, "the stand-in"),
    ] {
        let status = daemon.status(credential);
        assert_eq!(
            status["accounts"][0]["level"],
            "ok",
            "{which}: {status} {}",
            daemon.log()
        );
    }
}

fn daemon_on(sandbox: &Sandbox, bus: &PrivateBus) -> Daemon {
    Daemon::start_args(
        sandbox,
        &["--listen", "127.0.0.1:0"],
        &[("DBUS_SESSION_BUS_ADDRESS", &bus.address)],
    )
}

#[test]
fn a_daemon_started_before_the_secret_service_waits_for_it_and_recovers_without_a_restart() {
    let bus = PrivateBus::start();
    let (sandbox, kimi, token, keyring) = account_in_keyring(&bus);
    // The Secret Service goes away (as before the desktop session has started it).
    keyring.kill();

    let mut daemon = daemon_on(&sandbox, &bus);
    daemon.wait_for_line("waiting for the keyring", WITHIN);
    let stand_in = check_waiting(
        &sandbox,
        &bus,
        &daemon,
        &kimi,
        &token,
        "Keyring unavailable",
    );

    // The keyring comes up with the login keyring (and the key in it), unlocked.
    let _keyring = bus.keyring();
    check_recovered(&sandbox, &bus, &mut daemon, &kimi, &token, &stand_in);
    daemon.stop();
    assert!(!stand_in_path(&sandbox).exists());
}

#[test]
fn a_daemon_started_while_the_keyring_is_locked_never_prompts_and_recovers_once_unlocked() {
    let bus = PrivateBus::start();
    let (sandbox, kimi, token, _keyring) = account_in_keyring(&bus);
    bus.lock_login();

    let mut daemon = daemon_on(&sandbox, &bus);
    let stand_in = check_waiting(&sandbox, &bus, &daemon, &kimi, &token, "Keyring locked");
    assert!(
        !daemon.log().contains("Prompt"),
        "nothing asked for an unlock: {}",
        daemon.log()
    );

    bus.unlock_login();
    check_recovered(&sandbox, &bus, &mut daemon, &kimi, &token, &stand_in);
}
