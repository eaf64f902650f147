//! The engine's integration tests, in one test binary with a module per topic. They run the
//! real `redline` binary and in-process engines against fake providers, a real private Secret
//! Service (scripts/with-test-keyring.sh), and the official Python SDKs; `support` holds what
//! they share.
//!
//! The tests run in parallel on threads of one process, so none may change the process's
//! environment or rely on being alone; one that must runs itself again in a process of its own
//! (`support::process::rerun_alone`).

mod support;

mod agents;
mod api;
mod connect;
mod contrib;
mod daemon;
mod first_key;
mod history;
mod key_scan;
#[cfg(target_os = "linux")]
mod keyring_absent;
mod keys_cli;
mod metrics;
mod monitor;
mod providers_cli;
mod proxy;
mod queue;
mod real_tools;
mod relay_truth;
mod request_tools;
mod sdk_clients;
mod shared_limits;
mod starvation;
mod status_cli;
mod store;
mod tokens;
mod tools_api;
mod traffic;
mod upstream_connections;
mod verify_cli;
