//! The service files in contrib/: the systemd user unit passes `systemd-analyze verify` and the
//! launchd plist is a valid property list (read by Python's plistlib, as plutil would).

use crate::support::process;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn contrib(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("contrib")
        .join(path)
}

/// `systemd-analyze --user verify` on `unit`, with a home whose ~/.cargo/bin/redline is the
/// binary under test. Returns everything it printed.
fn verify_unit(unit: &Path) -> (bool, String) {
    let home = tempfile::tempdir().unwrap();
    let bin = home.path().join(".cargo/bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_redline"), bin.join("redline")).unwrap();
    let runtime = home.path().join("run");
    std::fs::create_dir_all(&runtime).unwrap();
    // systemd-analyze comes with the package systemd (scripts/setup-linux.sh test).
    let mut verify = Command::new("systemd-analyze");
    verify
        .args(["--user", "verify"])
        .arg(unit)
        .env("HOME", home.path())
        .env("XDG_RUNTIME_DIR", &runtime);
    let out = process::output(verify, None);
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn the_systemd_user_unit_verifies_cleanly() {
    let unit = contrib("systemd/redline.service");
    let text = std::fs::read_to_string(&unit).unwrap();
    assert!(
        text.contains("\nExecStart=%h/.cargo/bin/redline daemon\n"),
        "{text}"
    );
    assert!(text.contains("\nRestart=on-failure\n"), "{text}");
    assert!(text.contains("\nWantedBy=default.target\n"), "{text}");
    let (ok, output) = verify_unit(&unit);
    assert!(ok && output.trim().is_empty(), "systemd-analyze: {output}");

    // The check notices a broken unit, so the clean result above means something.
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("redline.service");
    std::fs::write(
        &broken,
        text.replace("Restart=on-failure", "Restart=sometimes"),
    )
    .unwrap();
    let (_, output) = verify_unit(&broken);
    assert!(output.contains("restart specifier"), "{output}");
}

/// Python's plistlib reading `plist`, as JSON on stdout.
fn read_plist(plist: &Path) -> Output {
    let script = r#"
import json, plistlib, sys
with open(sys.argv[1], "rb") as f:
    print(json.dumps(plistlib.load(f)))
"#;
    let mut python = Command::new("python3");
    python.args(["-c", script]).arg(plist);
    process::output(python, None)
}

#[test]
fn the_launchd_plist_is_a_valid_property_list() {
    let plist = contrib("launchd/dev.redline.daemon.plist");
    let out = read_plist(&plist);
    assert!(
        out.status.success(),
        "plistlib refused the plist: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let parsed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(parsed["Label"], "dev.redline.daemon");
    let args = parsed["ProgramArguments"].as_array().unwrap();
    assert!(args[0].as_str().unwrap().ends_with("/.cargo/bin/redline"));
    assert_eq!(args[1], "daemon");
    assert_eq!(parsed["RunAtLoad"], true);
    assert_eq!(parsed["KeepAlive"]["SuccessfulExit"], false);

    // A damaged copy is refused: the check can fail.
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.plist");
    let text = std::fs::read_to_string(&plist).unwrap();
    std::fs::write(&broken, text.replace("</dict>\n</plist>", "</plist>")).unwrap();
    assert!(!read_plist(&broken).status.success());
}
