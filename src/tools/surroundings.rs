//! What the daemon watches around the accounts, at a pace that costs nothing: the AI coding
//! tools running (every few seconds), Redline's own footprint, and which tools hold which key
//! (on start, whenever a key changes, and every few minutes; never per poll).

use crate::keys::Keys;
use crate::keys::token::all_tool_tokens;
use crate::keys::vault::{Vault, off_runtime};
use crate::poll::monitor::Monitor;
use crate::tools::agents::Scanner;
use crate::tools::key_scan;
use std::sync::Arc;
use std::time::Duration;

const AGENT_SCAN: Duration = Duration::from_secs(5);
const KEY_SCAN: Duration = Duration::from_secs(5 * 60);

/// Stops the watcher when dropped.
pub struct Watcher(tokio::task::JoinHandle<()>);

impl Drop for Watcher {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts watching. `keys` is `None` for the demo, whose keys are not the user's.
pub fn watch(monitor: Arc<Monitor>, keys: Option<Keys>) -> Watcher {
    Watcher(tokio::spawn(run(monitor, keys)))
}

async fn run(monitor: Arc<Monitor>, keys: Option<Keys>) {
    let mut scanner = Some(Scanner::new());
    let mut agent_tick = tokio::time::interval(AGENT_SCAN);
    agent_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut key_tick = tokio::time::interval(KEY_SCAN);
    key_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut status = monitor.status();
    let mut scanned_keys = None;
    let mut reported = Vec::new();
    loop {
        tokio::select! {
            _ = agent_tick.tick() => {
                let mut taken = scanner.take().expect("the scanner is put back after each scan");
                let (back, agents, process) = off_runtime(move || {
                    let agents = taken.agents();
                    let process = taken.footprint();
                    (taken, agents, process)
                })
                .await;
                scanner = Some(back);
                monitor.set_agents(agents, process);
            }
            _ = key_tick.tick(), if keys.is_some() => {
                scan_keys(&monitor, keys.as_ref().expect("checked"), &mut reported).await;
            }
            changed = status.changed(), if keys.is_some() => {
                if changed.is_err() {
                    return;
                }
                // A rotation, rollback, new or removed key: the fingerprints show it.
                let fingerprints: Vec<(String, Option<String>)> = status
                    .borrow_and_update()
                    .accounts
                    .iter()
                    .map(|a| (a.id.clone(), a.key.fingerprint.clone()))
                    .collect();
                if scanned_keys.as_ref() != Some(&fingerprints) {
                    scanned_keys = Some(fingerprints);
                    scan_keys(&monitor, keys.as_ref().expect("checked"), &mut reported).await;
                }
            }
        }
    }
}

/// Scans and publishes the key uses; a warning is printed once, not on every scan.
async fn scan_keys(monitor: &Monitor, keys: &Keys, reported: &mut Vec<String>) {
    let Ok(config) = keys.config().load() else {
        return;
    };
    let Some(home) = key_scan::home_dir() else {
        return;
    };
    let vault = Vault::from_env();
    let report = off_runtime(move || {
        // A background scan never prompts for an unlock: a locked keyring skips it.
        vault.probe()?;
        // Reading the tokens here never makes one.
        let tokens = all_tool_tokens(&vault).unwrap_or_default();
        key_scan::where_used(
            &home,
            &|name| std::env::var(name).ok(),
            &vault,
            &config,
            &tokens,
        )
    })
    .await;
    match report {
        Ok(report) => {
            let warnings: Vec<String> = report.warnings.iter().map(|w| w.to_string()).collect();
            for warning in warnings.iter().filter(|w| !reported.contains(w)) {
                eprintln!("redline: key scan: {warning}");
            }
            *reported = warnings;
            monitor.set_key_uses(report.used_by);
        }
        Err(err) => {
            let message = format!("key scan skipped: {err}");
            if !reported.contains(&message) {
                eprintln!("redline: {message}");
            }
            *reported = vec![message];
        }
    }
}
