//! The desktop app's engine (`daemon::serve_accounts_or_demo`) in-process, on the real Secret
//! Service: with no key it runs the built-in demo, and the first key added through the API
//! replaces the demo with the user's accounts, keeping what was saved meanwhile.

use crate::support::{Sandbox, process};
use redline::config::paths::Paths;
use redline::keys::secret::Secret;
use redline::serve::api::{AddKey, Api};
use redline::serve::daemon::{self, DaemonOptions};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

const KEY: &str = "sk-kimi-FirstKeyAddedDuringTheDemo0001";

async fn next_engine(engines: &mut mpsc::UnboundedReceiver<Api>) -> Option<Api> {
    tokio::time::timeout(Duration::from_secs(30), engines.recv())
        .await
        .expect("an engine within 30 s")
}

#[test]
fn the_first_key_added_during_the_demo_starts_the_users_accounts() {
    // The engine takes its keyring service and files from the environment, which the tests of
    // this binary share: the test runs in a process of its own, in a sandbox's environment.
    if !process::running_alone() {
        let sandbox = Sandbox::new();
        process::rerun_alone(|command| {
            sandbox.set_env(command);
        });
        return;
    }
    let paths = Paths::from_env().unwrap();
    let config = paths.config_file();
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(&config, "[proxy]\nlisten = \"127.0.0.1:0\"\n").unwrap();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let (engines_tx, mut engines) = mpsc::unbounded_channel();
        let (stop, stopped) = oneshot::channel::<()>();
        let running = tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.await;
            };
            let on_ready = move |api: Api| engines_tx.send(api).unwrap();
            daemon::serve_accounts_or_demo(&paths, DaemonOptions::default(), shutdown, on_ready)
                .await
        });

        let demo = next_engine(&mut engines).await.unwrap();
        assert!(demo.status().demo, "no key: the demo runs");
        // A change that adds no key keeps the demo.
        let changes = BTreeMap::from([("thresholds.warn".to_string(), "70".to_string())]);
        demo.save_settings(changes).unwrap();
        let added = demo
            .add_key(AddKey {
                id: "my-kimi".into(),
                provider: "kimi-code".into(),
                base_url: None,
                confirm_host: None,
                label: None,
                secret: Secret::parse(KEY).unwrap(),
                verify: false,
            })
            .await
            .unwrap();
        assert_eq!(added.id, "my-kimi");

        let mine = next_engine(&mut engines).await.unwrap();
        let status = mine.status();
        assert!(!status.demo, "the demo gave way to the user's accounts");
        let ids: Vec<&str> = status.accounts.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(ids, ["my-kimi"]);
        assert_eq!(mine.settings().unwrap().thresholds.warn, 70);
        assert!(
            !serde_json::to_string(&status).unwrap().contains(KEY),
            "the status quotes the key"
        );
        drop((demo, mine));

        stop.send(()).unwrap();
        let ended = tokio::time::timeout(Duration::from_secs(30), running)
            .await
            .expect("the engine stops within 30 s");
        ended.unwrap().unwrap();
        assert!(
            engines.recv().await.is_none(),
            "no engine started after the stop"
        );
    });
}
