//! The key lifecycle through the `redline` binary against a real Secret Service
//! (gnome-keyring-daemon on a private D-Bus session; see scripts/with-test-keyring.sh).

use crate::support::{Run, Sandbox, closed_origin, fake, files_below};
use redline::config::{Config, ConfigFile};
use redline::fakes::Behaviour;
use redline::keys::account_id::AccountId;
use redline::providers::ProviderId;

const FIRST: &str = "sk-kimi-FirstKeyAbcdefghijklmnop1111";
const SECOND: &str = "sk-kimi-SecondKeyQrstuvwxyzABCDEF2222";

fn config(sandbox: &Sandbox) -> Config {
    ConfigFile::new(sandbox.config_path()).load().unwrap()
}

/// Config and keyring tell the same story about `id`: the fingerprints in the file are those
/// of the secrets in the keyring, and a rollback copy exists exactly when the file names one.
fn assert_agree(sandbox: &Sandbox, id: &str, current: &str, previous: Option<&str>) {
    let config = config(sandbox);
    let account = &config.accounts[&id.parse::<AccountId>().unwrap()];
    assert_eq!(
        sandbox.keyring(&format!("account:{id}")).as_deref(),
        Some(current)
    );
    assert_eq!(
        sandbox
            .keyring(&format!("account:{id}:previous"))
            .as_deref(),
        previous
    );
    let fingerprint = |s: &str| {
        redline::keys::secret::Secret::parse(s)
            .unwrap()
            .fingerprint()
    };
    assert_eq!(
        account.fingerprint.as_deref(),
        Some(fingerprint(current).as_str())
    );
    assert_eq!(account.previous_fingerprint, previous.map(fingerprint));
}

#[test]
fn add_list_test_rotate_rollback_rm_round_trip() {
    let sandbox = Sandbox::new();
    let kimi = fake(ProviderId::KimiCode, FIRST);
    let origin = kimi.origin();
    let add = sandbox.run_stdin(
        &[
            "keys",
            "add",
            "kimi-main",
            "--provider",
            "kimi-code",
            "--label",
            "Kimi Code",
            "--base-url",
            &origin,
        ],
        &format!("{FIRST}\n"),
    );
    assert!(add.ok().stdout.contains("sk-kimi-…1111"));
    assert_agree(&sandbox, "kimi-main", FIRST, None);

    let list = sandbox.run(&["keys", "list"]).ok().stdout;
    let row = list
        .lines()
        .find(|l| l.starts_with("kimi-main"))
        .expect(&list);
    for cell in [
        "kimi-code",
        "Kimi Code",
        "sk-kimi-…1111",
        "0d",
        "ok, just now",
    ] {
        assert!(row.contains(cell), "{cell:?} missing from {row:?}");
    }
    let json: serde_json::Value =
        serde_json::from_str(&sandbox.run(&["keys", "list", "--json"]).ok().stdout).unwrap();
    assert_eq!(json[0]["id"], "kimi-main");
    assert_eq!(json[0]["provider"], "kimi-code");
    assert_eq!(json[0]["fingerprint"], "sk-kimi-…1111");
    assert_eq!(json[0]["age_days"], 0);
    assert_eq!(
        json[0]["last_test"]["ok"], true,
        "the check on add is recorded"
    );

    let test = sandbox.run(&["keys", "test", "kimi-main"]).ok().stdout;
    assert!(test.starts_with("kimi-main: ok"), "{test}");
    kimi.set_behaviour(Behaviour::WrongProduct);
    let failed = sandbox.run(&["keys", "test", "kimi-main"]);
    assert_eq!(failed.code, 1);
    assert!(
        failed.stdout.starts_with("kimi-main: FAILED: "),
        "{}",
        failed.stdout
    );
    let json: serde_json::Value =
        serde_json::from_str(&sandbox.run(&["keys", "list", "--json"]).ok().stdout).unwrap();
    assert_eq!(json[0]["last_test"]["ok"], false);
    kimi.set_behaviour(Behaviour::Normal);

    let rotate = sandbox
        .run_stdin(&["keys", "rotate", "kimi-main", "--no-verify"], SECOND)
        .ok()
        .stdout;
    assert!(
        rotate.contains("now using sk-kimi-…2222") && rotate.contains("sk-kimi-…1111"),
        "{rotate}"
    );
    assert_agree(&sandbox, "kimi-main", SECOND, Some(FIRST));
    let account = config(&sandbox).accounts[&"kimi-main".parse::<AccountId>().unwrap()].clone();
    assert!(account.rotated_at.is_some());
    assert_eq!(
        account.last_test_ok, None,
        "a new key has not been tested yet"
    );

    sandbox.run(&["keys", "rollback", "kimi-main"]).ok();
    assert_agree(&sandbox, "kimi-main", FIRST, Some(SECOND));
    sandbox.run(&["keys", "rollback", "kimi-main"]).ok();
    assert_agree(&sandbox, "kimi-main", SECOND, Some(FIRST));

    // A second rotation replaces the rollback copy.
    let third = "sk-kimi-ThirdKeyGhijklmnopqrstuv3333";
    sandbox
        .run_stdin(&["keys", "rotate", "kimi-main", "--no-verify"], third)
        .ok();
    assert_agree(&sandbox, "kimi-main", third, Some(SECOND));

    sandbox.run(&["keys", "rm", "kimi-main"]).ok();
    assert_eq!(sandbox.keyring("account:kimi-main"), None);
    assert_eq!(sandbox.keyring("account:kimi-main:previous"), None);
    assert!(config(&sandbox).accounts.is_empty());
    let list = sandbox.run(&["keys", "list"]).ok().stdout;
    assert!(list.starts_with("No keys yet"), "{list}");
}

#[test]
fn no_file_and_no_output_ever_contains_the_secret() {
    let sandbox = Sandbox::new();
    let kimi = fake(ProviderId::KimiCode, FIRST);
    let origin = kimi.origin();
    let mut outputs = Vec::new();
    let mut record = |run: Run| outputs.push(format!("{}\n{}", run.stdout, run.stderr));

    let add = [
        "keys",
        "add",
        "kimi-main",
        "--provider",
        "kimi-code",
        "--base-url",
        &origin,
    ];
    record(sandbox.run_stdin(&add, FIRST).ok());
    record(sandbox.run_stdin(&add, SECOND));
    // A key the provider refuses, and one whose check cannot reach the provider.
    let refused = [
        "keys",
        "add",
        "other",
        "--provider",
        "kimi-code",
        "--base-url",
        &origin,
    ];
    record(sandbox.run_stdin(&refused, SECOND));
    let far = closed_origin();
    record(sandbox.run_stdin(
        &[
            "keys",
            "add",
            "other",
            "--provider",
            "openai",
            "--base-url",
            &far,
        ],
        SECOND,
    ));
    record(sandbox.run(&["keys", "list"]).ok());
    record(sandbox.run(&["keys", "list", "--json"]).ok());
    record(sandbox.run(&["keys", "test", "kimi-main", "--json"]).ok());
    record(
        sandbox
            .run_stdin(&["keys", "rotate", "kimi-main", "--no-verify"], SECOND)
            .ok(),
    );
    record(sandbox.run_stdin(&["keys", "rotate", "kimi-main", "--no-verify"], SECOND));
    record(sandbox.run(&["keys", "rollback", "kimi-main"]).ok());
    record(sandbox.run(&["config", "show"]).ok());
    record(
        sandbox
            .run(&["config", "set", "accounts.kimi-main.concurrency_cap", "30"])
            .ok(),
    );
    record(sandbox.run(&["keys", "test", "kimi-main"]).ok());
    record(sandbox.run(&["token"]).ok());
    record(sandbox.run(&["keys", "rm", "kimi-main"]).ok());

    let files = files_below(sandbox.dir.path());
    assert!(
        files.iter().any(|f| f.ends_with("config.toml")),
        "{files:?}"
    );
    for secret in [FIRST, SECOND] {
        // The whole key, and any long piece of it, must be nowhere.
        let piece = &secret[10..26];
        for output in &outputs {
            assert!(!output.contains(piece), "secret in output: {output}");
        }
        for file in &files {
            let bytes = std::fs::read(file).unwrap();
            let text = String::from_utf8_lossy(&bytes);
            assert!(!text.contains(piece), "secret in {}", file.display());
        }
    }
}

#[test]
fn the_local_token_is_random_kept_in_the_keyring_and_resettable() {
    let sandbox = Sandbox::new();
    let first = sandbox.token();
    assert!(first.starts_with("rl_") && first.len() == 67, "{first}");
    assert_eq!(
        sandbox.keyring("local-token").as_deref(),
        Some(first.as_str())
    );
    assert_eq!(sandbox.token(), first, "stable across runs");
    let reset = sandbox
        .run(&["token", "--reset"])
        .ok()
        .stdout
        .trim()
        .to_owned();
    assert_ne!(reset, first);
    assert_eq!(
        sandbox.keyring("local-token").as_deref(),
        Some(reset.as_str())
    );
    assert!(
        files_below(sandbox.dir.path()).iter().all(|f| {
            !String::from_utf8_lossy(&std::fs::read(f).unwrap()).contains(&reset[3..])
        })
    );
}

/// A sandbox holding one stored key, to prove that bad input loses nothing.
fn with_one_key() -> Sandbox {
    let sandbox = Sandbox::new();
    sandbox.add_key_unchecked("kimi-main", "kimi-code", None, FIRST);
    sandbox
}

fn assert_untouched(sandbox: &Sandbox, config_before: &str) {
    assert_eq!(sandbox.config_text().as_deref(), Some(config_before));
    assert_agree(sandbox, "kimi-main", FIRST, None);
}

#[test]
fn bad_input_is_refused_clearly_and_loses_nothing() {
    let sandbox = with_one_key();
    let before = sandbox.config_text().unwrap();

    sandbox
        .run_stdin(
            &["keys", "add", "other", "--provider", "kimi", "--no-verify"],
            SECOND,
        )
        .fails_with("unknown provider \"kimi\"; choose one of: kimi-code, moonshot");
    sandbox
        .run_stdin(
            &[
                "keys",
                "add",
                "Other_Key",
                "--provider",
                "openai",
                "--no-verify",
            ],
            SECOND,
        )
        .fails_with("use only lowercase letters, digits and '-'");
    sandbox
        .run_stdin(
            &["keys", "add", "api", "--provider", "openai", "--no-verify"],
            SECOND,
        )
        .fails_with("reserved");
    let duplicate = sandbox
        .run_stdin(
            &[
                "keys",
                "add",
                "kimi-main",
                "--provider",
                "openai",
                "--no-verify",
            ],
            SECOND,
        )
        .fails_with("an account named kimi-main already exists");
    assert_eq!(duplicate.stderr.lines().count(), 1, "{}", duplicate.stderr);
    let empty = sandbox
        .run_stdin(
            &[
                "keys",
                "add",
                "other",
                "--provider",
                "openai",
                "--no-verify",
            ],
            "\n",
        )
        .fails_with("the key is empty");
    assert_eq!(empty.stderr.lines().count(), 1);
    assert_eq!(sandbox.keyring("account:other"), None);
    sandbox
        .run_stdin(
            &[
                "keys",
                "add",
                "other",
                "--provider",
                "openai",
                "--base-url",
                "ftp://x",
            ],
            SECOND,
        )
        .fails_with("must start with https://");
    assert_eq!(sandbox.keyring("account:other"), None);
    sandbox
        .run_stdin(&["keys", "rotate", "nobody", "--no-verify"], SECOND)
        .fails_with("no account named nobody");
    sandbox
        .run_stdin(&["keys", "rotate", "kimi-main", "--no-verify"], FIRST)
        .fails_with("already uses");
    sandbox
        .run(&["keys", "rollback", "kimi-main"])
        .fails_with("no previous key to roll back to");
    sandbox
        .run(&["keys", "rm", "nobody"])
        .fails_with("no account named nobody");
    sandbox
        .run(&["config", "set", "poll.interval_s", "5"])
        .fails_with("from 15 to 86400");
    sandbox
        .run(&["config", "set", "thresholds.warm", "5"])
        .fails_with("valid keys are");

    assert_untouched(&sandbox, &before);
}

#[test]
fn a_corrupt_config_is_reported_with_its_line_and_never_overwritten() {
    let sandbox = with_one_key();
    let corrupt = sandbox
        .config_text()
        .unwrap()
        .replace("warn = 80", "warn = eighty");
    std::fs::write(sandbox.config_path(), &corrupt).unwrap();
    let line = corrupt.lines().position(|l| l.starts_with("warn")).unwrap() + 1;
    let expected = format!("config.toml, line {line}: `warn = eighty`");

    for args in [
        &["keys", "list"][..],
        &["keys", "rm", "kimi-main"],
        &["config", "show"],
    ] {
        let run = sandbox.run(args).fails_with(&expected);
        assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    }
    sandbox
        .run_stdin(
            &[
                "keys",
                "add",
                "other",
                "--provider",
                "openai",
                "--no-verify",
            ],
            SECOND,
        )
        .fails_with(&expected);
    sandbox
        .run_stdin(&["keys", "rotate", "kimi-main", "--no-verify"], SECOND)
        .fails_with(&expected);
    sandbox
        .run(&["config", "set", "thresholds.warn", "70"])
        .fails_with(&expected);

    assert_eq!(sandbox.config_text().unwrap(), corrupt);
    assert_eq!(sandbox.keyring("account:kimi-main").as_deref(), Some(FIRST));
    assert_eq!(sandbox.keyring("account:other"), None);
}

#[test]
fn without_a_secret_service_every_key_command_says_what_to_start() {
    let sandbox = with_one_key();
    let before = sandbox.config_text().unwrap();
    let no_bus = |args: &[&str], stdin: Option<&str>| {
        let mut command = sandbox.command(args);
        command.env(
            "DBUS_SESSION_BUS_ADDRESS",
            "unix:path=/nonexistent/redline-test-bus",
        );
        sandbox.run_with(command, stdin)
    };
    for (args, stdin) in [
        (
            &[
                "keys",
                "add",
                "other",
                "--provider",
                "openai",
                "--no-verify",
            ][..],
            Some(SECOND),
        ),
        (
            &["keys", "rotate", "kimi-main", "--no-verify"],
            Some(SECOND),
        ),
        (&["keys", "test", "kimi-main"], None),
        (&["keys", "rollback", "kimi-main"], None),
        (&["keys", "rm", "kimi-main"], None),
        (&["token"], None),
    ] {
        let run = no_bus(args, stdin).fails_with("cannot reach the OS keyring");
        assert!(
            run.stderr.contains("Start a Secret Service"),
            "{}",
            run.stderr
        );
        assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    }
    // Listing needs no keyring at all.
    assert!(
        no_bus(&["keys", "list"], None)
            .ok()
            .stdout
            .contains("kimi-main")
    );
    assert_untouched(&sandbox, &before);
}

#[test]
fn help_reads_as_a_manual() {
    let sandbox = Sandbox::new();
    let help = sandbox.run(&["--help"]).ok().stdout;
    for words in [
        "OS keyring",
        "keys",
        "config",
        "token",
        "REDLINE_HOME",
        "Examples:",
    ] {
        assert!(help.contains(words), "{words:?} missing from --help");
    }
    let add = sandbox.run(&["keys", "add", "--help"]).ok().stdout;
    assert!(
        add.contains("standard input") && add.contains("--provider"),
        "{add}"
    );
    let set = sandbox.run(&["config", "set", "--help"]).ok().stdout;
    assert!(set.contains("accounts.<id>.concurrency_cap"), "{set}");
}

/// A few KiB of tmpfs mounted over a directory, unmounted when dropped: a disk that fills up.
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    /// `None` when this user cannot mount (not root): the test says so and checks nothing.
    fn mount(dir: &std::path::Path) -> Option<SmallDisk> {
        std::fs::create_dir_all(dir).unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        mounted.then(|| SmallDisk(dir.to_owned()))
    }

    /// Writes until the disk says it is full.
    fn fill(&self) {
        use std::io::Write;
        let mut filler = std::fs::File::create(self.0.join("filler")).unwrap();
        let block = [0u8; 1024];
        let full = (0..1024).find_map(|_| {
            filler
                .write_all(&block)
                .and_then(|()| filler.sync_all())
                .err()
        });
        assert!(full.is_some(), "the small disk never filled up");
    }

    fn free(&self) {
        std::fs::remove_file(self.0.join("filler")).unwrap();
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_key_change_whose_config_cannot_be_saved_leaves_the_keyring_as_it_was() {
    let sandbox = Sandbox::new();
    let Some(disk) = SmallDisk::mount(&sandbox.home()) else {
        eprintln!("skipped: mounting a small tmpfs needs root");
        return;
    };
    sandbox
        .run_stdin(
            &[
                "keys",
                "add",
                "kimi-main",
                "--provider",
                "kimi-code",
                "--no-verify",
            ],
            FIRST,
        )
        .ok();
    let config_before = sandbox.config_text();
    disk.fill();
    for (change, stdin) in [
        (&["keys", "rotate", "kimi-main", "--no-verify"][..], SECOND),
        (
            &[
                "keys",
                "add",
                "kimi-other",
                "--provider",
                "kimi-code",
                "--no-verify",
            ][..],
            SECOND,
        ),
        (&["keys", "rm", "kimi-main"][..], ""),
    ] {
        let failed = sandbox.run_stdin(change, stdin).fails_with("");
        assert!(
            failed.stderr.contains("No space left"),
            "{change:?}: {}",
            failed.stderr
        );
        assert_eq!(sandbox.config_text(), config_before, "{change:?}");
        assert_agree(&sandbox, "kimi-main", FIRST, None);
        assert_eq!(sandbox.keyring("account:kimi-other"), None, "{change:?}");
    }
    // With room again, the same rotation goes through.
    disk.free();
    sandbox
        .run_stdin(&["keys", "rotate", "kimi-main", "--no-verify"], SECOND)
        .ok();
    assert_agree(&sandbox, "kimi-main", SECOND, Some(FIRST));
}

/// Text kept from outside (a key check's message in config.toml, which a hand edit or an older
/// version may have left with escape sequences) reaches the terminal without escape sequences
/// or text-direction overrides.
#[test]
fn outside_text_with_escape_sequences_is_printed_plain() {
    let sandbox = Sandbox::new();
    let kimi = fake(ProviderId::KimiCode, FIRST);
    sandbox.add_key("kimi", "kimi-code", &kimi.origin(), FIRST);
    kimi.set_behaviour(Behaviour::WrongProduct);
    sandbox.run(&["keys", "test", "kimi"]);
    let text = sandbox.config_text().unwrap();
    let (before, after) = text.split_once("last_test_message = ").unwrap();
    let rest = after.split_once('\n').map_or("", |(_, rest)| rest);
    let edited = format!(
        "{before}last_test_message = \"bad \\u001b[2J\\u001b]0;owned\\u0007key \\u202egnp.exe\"\n{rest}"
    );
    std::fs::write(sandbox.config_path(), edited).unwrap();

    let list = sandbox.run(&["keys", "list"]).ok();
    assert!(
        list.stdout.contains("bad [2J]0;ownedkey gnp.exe"),
        "{:?}",
        list.stdout
    );
    assert!(
        !list.stdout.contains('\u{1b}')
            && !list.stdout.contains('\u{7}')
            && !list.stdout.contains('\u{202e}'),
        "{:?}",
        list.stdout
    );
}
