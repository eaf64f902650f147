//! The runtime file: a running engine (`redline daemon`, the desktop app) says where it
//! actually listens, so that `env`, `status`, `connect`, `tools` and `dashboard` reach it even
//! when it was started with `--listen` on another port than `proxy.listen`.
//!
//! The file holds the address, the pid and the start time; never a token. It is removed on a
//! clean exit; a file left by a killed engine is recognised (its pid is gone, or nothing
//! answers `/healthz` on its address) and ignored.

use crate::config::paths::Paths;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const FILE_NAME: &str = "engine.json";

/// How long a `/healthz` probe may take: these commands run in prompts and status bars.
const PROBE_TIMEOUT: Duration = Duration::from_millis(800);

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Runtime {
    /// Where the engine listens, as bound (a port chosen by the system included).
    pub address: SocketAddr,
    pub pid: u32,
    pub started_at: jiff::Timestamp,
}

/// The file written by this process; removed when dropped (the engine's clean exit), unless
/// another engine has written its own since.
#[derive(Debug)]
pub struct Published {
    path: PathBuf,
    pid: u32,
}

impl Drop for Published {
    fn drop(&mut self) {
        if read_file(&self.path).is_some_and(|r| r.pid == self.pid) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

pub fn path(paths: &Paths) -> PathBuf {
    paths.runtime_dir().join(FILE_NAME)
}

/// Writes the runtime file for this process listening on `address`, atomically.
pub fn publish(paths: &Paths, address: SocketAddr) -> std::io::Result<Published> {
    let path = path(paths);
    let dir = paths.runtime_dir();
    std::fs::create_dir_all(dir)?;
    let runtime = Runtime {
        address,
        pid: std::process::id(),
        started_at: jiff::Timestamp::now(),
    };
    let text = serde_json::to_string_pretty(&runtime).expect("a runtime serialises") + "\n";
    let temp = dir.join(format!(".{FILE_NAME}.{}", runtime.pid));
    std::fs::write(&temp, text)?;
    std::fs::rename(&temp, &path).inspect_err(|_| {
        let _ = std::fs::remove_file(&temp);
    })?;
    Ok(Published {
        path,
        pid: runtime.pid,
    })
}

fn read_file(path: &Path) -> Option<Runtime> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

/// The runtime file's content, if there is a readable one (alive or not).
pub fn read(paths: &Paths) -> Option<Runtime> {
    read_file(&path(paths))
}

/// The address from `runtime` when its process still lives; None for a stale file.
pub fn live_address(runtime: Option<&Runtime>, alive: impl Fn(u32) -> bool) -> Option<SocketAddr> {
    let runtime = runtime?;
    alive(runtime.pid).then(|| crate::status::source::engine_address(runtime.address))
}

pub fn pid_alive(pid: u32) -> bool {
    use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};
    let pid = Pid::from_u32(pid);
    let mut system = System::new();
    system.refresh_processes_specifics(
        ProcessesToUpdate::Some(&[pid]),
        true,
        ProcessRefreshKind::nothing(),
    );
    system.process(pid).is_some()
}

/// Whether a Redline answers `/healthz` on `address`.
pub async fn answers_health(address: SocketAddr) -> bool {
    let Ok(client) = reqwest::Client::builder()
        .no_proxy()
        .timeout(PROBE_TIMEOUT)
        .build()
    else {
        return false;
    };
    match client.get(format!("http://{address}/healthz")).send().await {
        Ok(answer) => answer.status().is_success(),
        Err(_) => false,
    }
}

/// Where this install's Redline is running: the runtime file's address when its process
/// lives and answers `/healthz`, else `configured` (`proxy.listen`, reached on loopback when
/// it is a wildcard address).
pub async fn engine_address(paths: &Paths, configured: SocketAddr) -> SocketAddr {
    let runtime = read(paths);
    if let Some(address) = live_address(runtime.as_ref(), pid_alive)
        && answers_health(address).await
    {
        return address;
    }
    crate::status::source::engine_address(configured)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_written_read_and_removed_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::under(dir.path());
        let address: SocketAddr = "127.0.0.1:14290".parse().unwrap();
        let published = publish(&paths, address).unwrap();
        let runtime = read(&paths).unwrap();
        assert_eq!(runtime.address, address);
        assert_eq!(runtime.pid, std::process::id());
        let text = std::fs::read_to_string(path(&paths)).unwrap();
        assert!(!text.contains("rl_"), "{text}");
        assert_eq!(live_address(Some(&runtime), pid_alive), Some(address));
        drop(published);
        assert!(read(&paths).is_none());
    }

    #[test]
    fn a_dead_process_file_is_stale_and_a_wildcard_is_reached_on_loopback() {
        let runtime = Runtime {
            address: "0.0.0.0:9000".parse().unwrap(),
            pid: 7,
            started_at: jiff::Timestamp::UNIX_EPOCH,
        };
        assert_eq!(live_address(Some(&runtime), |_| false), None);
        assert_eq!(
            live_address(Some(&runtime), |_| true),
            Some("127.0.0.1:9000".parse().unwrap())
        );
        assert_eq!(live_address(None, |_| true), None);
    }

    #[test]
    fn a_file_rewritten_by_another_engine_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::under(dir.path());
        let published = publish(&paths, "127.0.0.1:1".parse().unwrap()).unwrap();
        let other = Runtime {
            address: "127.0.0.1:2".parse().unwrap(),
            pid: std::process::id() + 1,
            started_at: jiff::Timestamp::now(),
        };
        std::fs::write(path(&paths), serde_json::to_string(&other).unwrap()).unwrap();
        drop(published);
        assert_eq!(read(&paths), Some(other));
    }

    #[tokio::test]
    async fn a_stale_file_falls_back_to_the_configured_address() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::under(dir.path());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let closed = listener.local_addr().unwrap();
        drop(listener);
        // This process lives, but nothing answers on the address.
        let _published = publish(&paths, closed).unwrap();
        let configured: SocketAddr = "127.0.0.1:4290".parse().unwrap();
        assert_eq!(engine_address(&paths, configured).await, configured);
    }
}
