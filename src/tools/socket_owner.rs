//! Which process is at the other end of a loopback connection to the local port, and which AI
//! tool that process is.
//!
//! On Linux: the client's socket is asked of the kernel by its four addresses (sock_diag over
//! netlink, one exact look-up; else the row of `/proc/net/tcp` or `tcp6` whose local address is
//! the connection's remote one, which costs milliseconds to read on a machine with a large
//! connection table); its inode is then found among the open files of the user's own processes (`/proc/PID/fd/* -> socket:[INODE]`), and the process is named from its
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

/// `SOCK_DIAG_BY_FAMILY`, the netlink message type of a sock_diag request and its answer.
const SOCK_DIAG_BY_FAMILY: u16 = 20;
const NLMSG_HEADER: usize = 16;
/// `struct inet_diag_req_v2` and `struct inet_diag_msg` (linux/inet_diag.h).
const DIAG_REQUEST: usize = 56;
const DIAG_MESSAGE: usize = 72;

/// The sock_diag request for the one TCP socket whose local end is `client` and remote end
/// `server`: a netlink header and an `inet_diag_req_v2`, without `NLM_F_DUMP`, so the kernel
/// looks the socket up by its addresses instead of listing them all. `None` when the two are
/// of different families.
pub fn diag_request(client: SocketAddr, server: SocketAddr) -> Option<Vec<u8>> {
    let octets = |addr: SocketAddr| -> (u8, [u8; 16]) {
        let mut bytes = [0u8; 16];
        match addr.ip().to_canonical() {
            std::net::IpAddr::V4(ip) => {
                bytes[..4].copy_from_slice(&ip.octets());
                (2, bytes) // AF_INET
            }
            std::net::IpAddr::V6(ip) => (10, ip.octets()), // AF_INET6
        }
    };
    let ((family, src), (server_family, dst)) = (octets(client), octets(server));
    if family != server_family {
        return None;
    }
    let mut request = Vec::with_capacity(NLMSG_HEADER + DIAG_REQUEST);
    request.extend(((NLMSG_HEADER + DIAG_REQUEST) as u32).to_ne_bytes());
    request.extend(SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    request.extend(1u16.to_ne_bytes()); // NLM_F_REQUEST
    request.extend(1u32.to_ne_bytes()); // sequence number
    request.extend(0u32.to_ne_bytes()); // port id: the kernel
    request.extend([family, 6, 0, 0]); // IPPROTO_TCP, no extensions
    request.extend(u32::MAX.to_ne_bytes()); // any state
    request.extend(client.port().to_be_bytes());
    request.extend(server.port().to_be_bytes());
    request.extend(src);
    request.extend(dst);
    request.extend(0u32.to_ne_bytes()); // any interface
    request.extend([0xff; 8]); // INET_DIAG_NOCOOKIE
    Some(request)
}

/// The owner's uid and the inode of the socket in a sock_diag answer; `None` for an error
/// answer (no such socket) or anything malformed.
pub fn diag_answer(bytes: &[u8]) -> Option<(u32, u64)> {
    let word = |at: usize| -> Option<u32> {
        Some(u32::from_ne_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
    };
    let kind = u16::from_ne_bytes(bytes.get(4..6)?.try_into().ok()?);
    if kind != SOCK_DIAG_BY_FAMILY || (word(0)? as usize) < NLMSG_HEADER + DIAG_MESSAGE {
        return None;
    }
    let uid = word(NLMSG_HEADER + 64)?;
    let inode = word(NLMSG_HEADER + 68)?;
    Some((uid, u64::from(inode)))
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
    use super::{SCAN_BUDGET, agents, client_socket, diag_answer, diag_request, split_cmdline};
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
        let (owner_uid, inode) =
            local
                .and_then(|local| ask_kernel(remote, local))
                .or_else(|| {
                    let row = ["/proc/net/tcp", "/proc/net/tcp6"]
                        .iter()
                        .find_map(|table| {
                            let text = std::fs::read_to_string(table).ok()?;
                            client_socket(&text, remote, local)
                        })?;
                    Some((row.uid, row.inode))
                })?;
        if owner_uid != uid || inode == 0 {
            return None;
        }
        let target = format!("socket:[{inode}]");
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

    /// The client socket's owner uid and inode, by sock_diag; `None` where netlink or the
    /// kernel's inet_diag is not available.
    pub fn ask_kernel(client: SocketAddr, server: SocketAddr) -> Option<(u32, u64)> {
        use rustix::net::{
            AddressFamily, RecvFlags, SendFlags, SocketType, netlink, recv, sendto, socket, sockopt,
        };
        let request = diag_request(client, server)?;
        let fd = socket(
            AddressFamily::NETLINK,
            SocketType::DGRAM,
            Some(netlink::SOCK_DIAG),
        )
        .ok()?;
        sockopt::set_socket_timeout(&fd, sockopt::Timeout::Recv, Some(SCAN_BUDGET)).ok()?;
        let kernel = netlink::SocketAddrNetlink::new(0, 0);
        sendto(&fd, &request, SendFlags::empty(), &kernel).ok()?;
        let mut answer = [0u8; 1024];
        let (_, len) = recv(&fd, &mut answer[..], RecvFlags::empty()).ok()?;
        diag_answer(answer.get(..len)?)
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

    #[test]
    fn the_kernel_is_asked_for_exactly_one_socket() {
        let client = addr("127.0.0.1:50000");
        let request = diag_request(client, addr("127.0.0.1:4290")).unwrap();
        assert_eq!(request.len(), 72);
        assert_eq!(u32::from_ne_bytes(request[0..4].try_into().unwrap()), 72);
        assert_eq!(u16::from_ne_bytes(request[4..6].try_into().unwrap()), 20);
        assert_eq!(
            u16::from_ne_bytes(request[6..8].try_into().unwrap()),
            1,
            "NLM_F_REQUEST alone: a look-up, not a dump"
        );
        assert_eq!(request[16..18], [2, 6], "AF_INET, TCP");
        assert_eq!(
            request[24..26],
            50000u16.to_be_bytes(),
            "the client's port first"
        );
        assert_eq!(request[26..28], 4290u16.to_be_bytes());
        assert_eq!(request[28..32], [127, 0, 0, 1]);
        assert_eq!(request[44..48], [127, 0, 0, 1]);
        assert_eq!(request[64..72], [0xff; 8], "no cookie");
        let mapped = diag_request(addr("[::ffff:127.0.0.1]:50000"), addr("127.0.0.1:4290"));
        assert_eq!(mapped.as_deref(), Some(&request[..]));
        let v6 = diag_request(addr("[::1]:50000"), addr("[::1]:4290")).unwrap();
        assert_eq!(v6[16], 10, "AF_INET6");
        assert_eq!(v6[28..44], std::net::Ipv6Addr::LOCALHOST.octets());
        assert_eq!(
            diag_request(addr("[::1]:50000"), addr("127.0.0.1:4290")),
            None
        );
    }

    #[test]
    fn the_kernels_answer_gives_owner_and_inode() {
        let mut answer = vec![0u8; 16 + 72];
        answer[0..4].copy_from_slice(&88u32.to_ne_bytes());
        answer[4..6].copy_from_slice(&20u16.to_ne_bytes());
        answer[16 + 64..16 + 68].copy_from_slice(&1000u32.to_ne_bytes());
        answer[16 + 68..16 + 72].copy_from_slice(&4003u32.to_ne_bytes());
        assert_eq!(diag_answer(&answer), Some((1000, 4003)));
        // NLMSG_ERROR (no such socket), short or empty answers.
        let mut error = answer.clone();
        error[4..6].copy_from_slice(&2u16.to_ne_bytes());
        assert_eq!(diag_answer(&error), None);
        assert_eq!(diag_answer(&answer[..50]), None);
        assert_eq!(diag_answer(&[]), None);
    }

    /// The kernel's answer and /proc/net/tcp agree on a real connection of this process.
    #[test]
    #[cfg(target_os = "linux")]
    fn the_kernel_and_the_tcp_table_agree() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let server = listener.local_addr().unwrap();
        let _client = std::net::TcpStream::connect(server).unwrap();
        let (_accepted, remote) = listener.accept().unwrap();
        let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
        let row = client_socket(&table, remote, Some(server)).unwrap();
        assert_eq!(
            linux::ask_kernel(remote, server),
            Some((row.uid, row.inode))
        );
        let nobody = addr("127.0.0.1:1");
        assert_eq!(linux::ask_kernel(nobody, server), None);
    }

    #[tokio::test]
    async fn remote_clients_are_never_looked_up() {
        let remote = addr("192.0.2.7:50000");
        assert_eq!(tool_at(remote, Some(addr("0.0.0.0:4290"))).await, None);
    }
}
