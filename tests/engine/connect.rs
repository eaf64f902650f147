//! Finding the running Redline and pointing tools at it: the runtime file a daemon writes
//! (so `env` and `status` use the address actually listening, and a stale file is ignored).

use crate::support::{Daemon, KimiAccount};

const KEY: &str = "sk-kimi-ConnectTestKeyAbcdefghijkl4242";

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[test]
fn env_and_status_use_the_address_the_daemon_listens_on_and_ignore_a_stale_file() {
    let account = KimiAccount::new(KEY);
    let sandbox = &account.sandbox;
    let runtime_file = sandbox.home().join("engine.json");

    // A file left by a Redline that was killed: its pid is gone.
    let stale_port = free_port();
    std::fs::write(
        &runtime_file,
        format!(
            r#"{{"address": "127.0.0.1:{stale_port}", "pid": 999999999, "started_at": "2026-01-01T00:00:00Z"}}"#
        ),
    )
    .unwrap();
    let env = sandbox.run(&["env", "kimi-main"]).ok().stdout;
    assert!(env.contains("http://127.0.0.1:4290/kimi-main/"), "{env}");
    assert!(!env.contains(&stale_port.to_string()), "{env}");

    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut daemon = Daemon::start_args(sandbox, &["--listen", &listen], &[]);
    let text = std::fs::read_to_string(&runtime_file).unwrap();
    assert!(text.contains(&listen), "{text}");
    assert!(!text.contains(&account.token) && !text.contains(&account.admin));
    assert!(
        !text.contains("rl_"),
        "no token in the runtime file: {text}"
    );

    let env = sandbox.run(&["env", "kimi-main"]).ok().stdout;
    assert!(
        env.contains(&format!("http://{listen}/kimi-main/coding/v1")),
        "{env}"
    );
    assert!(!env.contains(":4290/"), "{env}");
    // --engine fails unless the running engine answered.
    let status = sandbox.run(&["status", "--engine", "--json"]).ok();
    assert!(status.stdout.contains("kimi-main"), "{}", status.stdout);

    assert!(daemon.stop().success(), "{}", daemon.log());
    assert!(!runtime_file.exists(), "removed on a clean exit");
}
