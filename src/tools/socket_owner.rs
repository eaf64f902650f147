//! Which process is at the other end of a loopback connection to the local port, and which AI
//! tool that process is.
//!
//! On Linux: the client's socket is the row of `/proc/net/tcp` (or `tcp6`) whose local address
//! is the connection's remote one; its inode is then found among the open files of the user's
//! own processes (`/proc/PID/fd/* -> socket:[INODE]`), and the process is named from its
//! command line, name and executable by [`agents::identify`]. Only clients of the same user
//! are looked up. Elsewhere, and on any error, nothing is found and the request keeps the name
//! its headers gave.
//!
//! The scan reads every open file of the user's processes, so it runs off the async runtime,
//! one at a time, within [`SCAN_BUDGET`], and tries the processes that owned earlier
//! connections first: a tool that opens a new connection per request costs a few reads, not a
//! scan.

use super::agents::{self, Tool};
use std::net::SocketAddr;
use std::time::Duration;

/// The most time one look-up may spend reading `/proc`; past it the look-up gives up.
pub const SCAN_BUDGET: Duration = Duration::from_millis(250);

/// The AI tool whose process holds the client's end of the connection `remote` -> `local`.
pub async fn tool_at(remote: SocketAddr, local: Option<SocketAddr>) -> Option<Tool> {
    if !remote.ip().to_canonical().is_loopback() || !cfg!(target_os = "linux") {
        return None;
    }
    // One scan at a time: a burst of new connections must not become a burst of scans.
    static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _turn = ONE_AT_A_TIME.lock().await;
    tokio::task::spawn_blocking(move || linux::tool_at(remote, local))
        .await
        .ok()
        .flatten()
}

/// A row of `/proc/net/tcp{,6}`: the socket's addresses, owner and inode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SocketRow {
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub uid: u32,
    pub inode: u64,
}

/// Parses one row of `/proc/net/tcp` or `/proc/net/tcp6` (the heading row gives `None`).
pub fn parse_row(line: &str) -> Option<SocketRow> {
    let mut fields = line.split_whitespace();
    let _slot = fields.next()?;
    let local = parse_address(fields.next()?)?;
    let remote = parse_address(fields.next()?)?;
    // st, tx_queue:rx_queue, tr:tm->when, retrnsmt, then uid, timeout, inode.
    let mut fields = fields.skip(4);
    let uid = fields.next()?.parse().ok()?;
    let inode = fields.nth(1)?.parse().ok()?;
    Some(SocketRow {
        local,
        remote,
        uid,
        inode,
    })
}

/// `0100007F:1F90` (IPv4) or 32 hex digits and a port (IPv6): each 32-bit word is printed in
/// the machine's byte order, the port as a number.
fn parse_address(text: &str) -> Option<SocketAddr> {
    let (ip, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |i: usize| -> Option<[u8; 4]> {
        let hex = ip.get(i * 8..i * 8 + 8)?;
        Some(u32::from_str_radix(hex, 16).ok()?.to_ne_bytes())
    };
    let ip: std::net::IpAddr = match ip.len() {
        8 => std::net::Ipv4Addr::from(word(0)?).into(),
        32 => {
            let mut octets = [0u8; 16];
            for i in 0..4 {
                octets[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            std::net::Ipv6Addr::from(octets).into()
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// The row of the client's socket in `table`: its local address is the connection's remote
/// one and, when known, its remote address Redline's end. IPv4 clients of a dual-stack socket
/// appear as `::ffff:a.b.c.d`.
pub fn client_socket(
    table: &str,
    remote: SocketAddr,
    local: Option<SocketAddr>,
) -> Option<SocketRow> {
    let same = |a: SocketAddr, b: SocketAddr| {
        a.port() == b.port() && a.ip().to_canonical() == b.ip().to_canonical()
    };
    table
        .lines()
        .filter_map(parse_row)
        .find(|row| same(row.local, remote) && local.is_none_or(|l| same(row.remote, l)))
}

/// A command line as `/proc/PID/cmdline` holds it: arguments split at NUL bytes, blank ones
/// dropped (a process renamed with setproctitle pads its new title with NULs).
pub fn split_cmdline(bytes: &[u8]) -> Vec<String> {
    bytes
        .split(|b| *b == 0)
        .map(|arg| String::from_utf8_lossy(arg.trim_ascii()).into_owned())
        .filter(|arg| !arg.is_empty())
        .collect()
}

#[cfg(target_os = "linux")]
mod linux {
    use super::{SCAN_BUDGET, agents, client_socket, split_cmdline};
    use crate::tools::agents::Tool;
    use std::collections::VecDeque;
    use std::net::SocketAddr;
    use std::os::unix::fs::MetadataExt;
    use std::path::Path;
    use std::sync::{Mutex, PoisonError};
    use std::time::Instant;

    /// Processes that owned recent connections, newest first: tried before any scan.
    static RECENT: Mutex<VecDeque<u32>> = Mutex::new(VecDeque::new());
    const RECENT_KEPT: usize = 16;

    pub fn tool_at(remote: SocketAddr, local: Option<SocketAddr>) -> Option<Tool> {
        let pid = owner(remote, local, Instant::now() + SCAN_BUDGET)?;
        describe(pid)
    }

    /// The pid of the process of this user (not Redline itself) that holds the client's end
    /// of `remote` -> `local`, found before `deadline`.
    pub fn owner(remote: SocketAddr, local: Option<SocketAddr>, deadline: Instant) -> Option<u32> {
        let uid = std::fs::metadata("/proc/self").ok()?.uid();
        let row = ["/proc/net/tcp", "/proc/net/tcp6"]
            .iter()
            .find_map(|table| {
                let text = std::fs::read_to_string(table).ok()?;
                client_socket(&text, remote, local)
            })?;
        if row.uid != uid || row.inode == 0 {
            return None;
        }
        let target = format!("socket:[{}]", row.inode);
        let own = std::process::id();
        let recent: Vec<u32> = RECENT
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .copied()
            .collect();
        let found = recent
            .iter()
            .copied()
            .find(|&pid| holds(pid, &target))
            .or_else(|| scan(uid, own, &recent, &target, deadline))?;
        remember(found);
        Some(found)
    }

    fn scan(uid: u32, own: u32, tried: &[u32], target: &str, deadline: Instant) -> Option<u32> {
        for entry in std::fs::read_dir("/proc").ok()?.flatten() {
            if Instant::now() > deadline {
                return None;
            }
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            if pid == own || tried.contains(&pid) {
                continue;
            }
            if entry.metadata().is_ok_and(|m| m.uid() == uid) && holds(pid, target) {
                return Some(pid);
            }
        }
        None
    }

    /// Whether one of `pid`'s open files is `target` (`socket:[INODE]`).
    fn holds(pid: u32, target: &str) -> bool {
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            return false;
        };
        fds.flatten().any(|fd| {
            std::fs::read_link(fd.path())
                .is_ok_and(|link| link.as_os_str().as_encoded_bytes() == target.as_bytes())
        })
    }

    fn remember(pid: u32) {
        let mut recent = RECENT.lock().unwrap_or_else(PoisonError::into_inner);
        recent.retain(|&p| p != pid);
        recent.push_front(pid);
        recent.truncate(RECENT_KEPT);
    }

    /// Which AI tool process `pid` is, from its command line, name and executable.
    pub fn describe(pid: u32) -> Option<Tool> {
        let dir = Path::new("/proc").join(pid.to_string());
        let cmd = std::fs::read(dir.join("cmdline"))
            .map(|bytes| split_cmdline(&bytes))
            .unwrap_or_default();
        let name = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        let exe = std::fs::read_link(dir.join("exe")).ok();
        agents::identify(name.trim_end(), exe.as_deref(), &cmd)
    }
}

#[cfg(not(target_os = "linux"))]
mod linux {
    use crate::tools::agents::Tool;
    use std::net::SocketAddr;

    pub fn tool_at(_remote: SocketAddr, _local: Option<SocketAddr>) -> Option<Tool> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Rows as Linux prints them: a server on 127.0.0.1:4290 and one client connection to it
    // from port 50000 (both ends), a listening socket, and a dual-stack client in tcp6.
    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:10C2 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4001 1 0000000000000000 100 0 0 10 0
   1: 0100007F:10C2 0100007F:C350 01 00000000:00000000 00:00000000 00000000  1000        0 4002 1 0000000000000000 20 4 30 10 -1
   2: 0100007F:C350 0100007F:10C2 01 00000000:00000000 00:00000000 00000000  1000        0 4003 1 0000000000000000 20 4 30 10 -1
";
    const TCP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0000000000000000FFFF00000100007F:C351 0000000000000000FFFF00000100007F:10C2 01 00000000:00000000 00:00000000 00000000  1001        0 5001 1 0000000000000000 20 4 30 10 -1
   1: 00000000000000000000000001000000:D000 00000000000000000000000001000000:10C2 01 00000000:00000000 00:00000000 00000000  1000        0 5002 1 0000000000000000 20 4 30 10 -1
";

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    #[cfg(target_endian = "little")]
    fn the_clients_row_is_found_by_its_addresses() {
        let server = Some(addr("127.0.0.1:4290"));
        let client = client_socket(TCP, addr("127.0.0.1:50000"), server).unwrap();
        assert_eq!(client.inode, 4003, "the client's end, not the server's");
        assert_eq!(client.uid, 1000);
        assert_eq!(client.remote, addr("127.0.0.1:4290"));
        assert_eq!(
            client_socket(TCP, addr("127.0.0.1:50000"), None).map(|r| r.inode),
            Some(4003)
        );
        assert_eq!(
            client_socket(TCP, addr("127.0.0.1:50000"), Some(addr("127.0.0.1:9999"))),
            None,
            "a connection to another port is another connection"
        );
        assert_eq!(client_socket(TCP, addr("127.0.0.1:50001"), server), None);

        let mapped = client_socket(TCP6, addr("127.0.0.1:50001"), server).unwrap();
        assert_eq!((mapped.inode, mapped.uid), (5001, 1001));
        let v6 = client_socket(TCP6, addr("[::1]:53248"), Some(addr("[::1]:4290"))).unwrap();
        assert_eq!(v6.inode, 5002);
    }

    #[test]
    fn malformed_rows_are_skipped() {
        for line in [
            "",
            "  sl  local_address rem_address",
            "0: zz:10C2 0100007F:C350 01 0:0 0:0 0 1000 0 4002",
            "0: 0100007F:10C2 0100007F:C350 01 0:0 0:0 0 notauid 0 4002",
            "0: 0100007F 0100007F:C350 01 0:0 0:0 0 1000 0 4002",
            "0: 0100007F:10C2",
        ] {
            assert_eq!(parse_row(line), None, "{line:?}");
        }
    }

    #[test]
    fn command_lines_split_like_ps_shows_them() {
        assert_eq!(
            split_cmdline(b"/usr/bin/python3\0/home/ana/.local/bin/llm\0-m\0gpt\0"),
            ["/usr/bin/python3", "/home/ana/.local/bin/llm", "-m", "gpt"]
        );
        // Kimi Code CLI after setproctitle("Kimi Code"): the title, then NULs to the end of
        // the old arguments (read from /proc/PID/cmdline of a renamed Python).
        let mut renamed = b"Kimi Code".to_vec();
        renamed.extend([0u8; 104]);
        assert_eq!(split_cmdline(&renamed), ["Kimi Code"]);
        assert!(split_cmdline(b"").is_empty());
    }

    /// A child process connects to a listener of this test; the look-up finds the child, first
    /// by a scan of /proc, then (its next connection) among the recent owners. Prints how long
    /// each took (`cargo test --lib socket_owner -- --nocapture`).
    #[test]
    #[cfg(target_os = "linux")]
    fn the_process_at_the_other_end_is_found() {
        use std::io::Write;
        use std::process::{Command, Stdio};
        use std::time::Instant;

        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let server = listener.local_addr().unwrap();
        // Connects twice, each time when told to on stdin, and waits to be killed.
        let script = "import socket, sys\nkept = []\nfor line in sys.stdin:\n    kept.append(socket.create_connection(('127.0.0.1', int(sys.argv[1]))))\n";
        let mut child = Command::new("python3")
            .args(["-c", script, &server.port().to_string()])
            .stdin(Stdio::piped())
            .spawn()
            .expect("python3 runs");
        let mut stdin = child.stdin.take().unwrap();
        let mut look_up = || {
            writeln!(stdin, "connect").unwrap();
            let (stream, remote) = listener.accept().unwrap();
            let started = Instant::now();
            let pid = linux::owner(remote, Some(server), started + Duration::from_secs(10));
            (pid, started.elapsed(), stream)
        };
        let (cold, cold_took, _first) = look_up();
        let (warm, warm_took, _second) = look_up();
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(cold, Some(child.id()));
        assert_eq!(warm, Some(child.id()));
        let processes = std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter(|e| {
                e.file_name()
                    .to_str()
                    .is_some_and(|n| n.parse::<u32>().is_ok())
            })
            .count();
        eprintln!(
            "socket owner look-up: {cold_took:?} scanning /proc ({processes} processes), \
             {warm_took:?} among recent owners"
        );
    }

    #[tokio::test]
    async fn remote_clients_are_never_looked_up() {
        let remote = addr("192.0.2.7:50000");
        assert_eq!(tool_at(remote, Some(addr("0.0.0.0:4290"))).await, None);
    }
}
