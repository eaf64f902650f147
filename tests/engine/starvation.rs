//! No local process can starve the daemon (issue 16, section 2): over real loopback sockets
//! against `redline daemon`, sockets that send their headers byte by byte are closed at
//! `proxy.header_timeout_s`, idle keep-alive connections at `proxy.keep_alive_s`, `/healthz`
//! answers at the connection cap (the refusal counted in /metrics), and clients that give up
//! while the provider stalls or streams free their descriptors while the provider sees the
//! request cancelled.
//!
//! Each wait is for an event (the server closing a socket, an answer, a counter of the fake
//! provider) within a generous deadline; the only paced thing is the attacker's trickle. The
//! daemon's descriptors are counted in `/proc` (Linux), polled as no event announces them.

use crate::support::{Daemon, KimiAccount, wait_for_chats};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const KEY: &str = "sk-test-StarveKeyAbcdefghijklmnop4242";
/// How long anything a test waits for may take on a slow, busy machine.
const WITHIN: Duration = Duration::from_secs(30);
/// Descriptors the daemon may open meanwhile on its own (a poll's connection, a file read).
const SLACK: usize = 8;
const CHAT: &str = "/kimi-main/coding/v1/chat/completions";

/// A Kimi Code account with `settings` saved, and the daemon serving it.
fn daemon_with(settings: &[(&str, &str)]) -> (KimiAccount, Daemon) {
    let account = KimiAccount::new(KEY);
    for (key, value) in settings {
        account.sandbox.run(&["config", "set", key, value]).ok();
    }
    let daemon = Daemon::start(&account.sandbox);
    (account, daemon)
}

fn address(daemon: &Daemon) -> String {
    daemon.origin.trim_start_matches("http://").to_owned()
}

fn connect(daemon: &Daemon) -> TcpStream {
    let stream = TcpStream::connect(address(daemon)).unwrap();
    stream.set_nodelay(true).unwrap();
    stream
}

/// Waits for the server to close `stream` (end of stream or a reset), reading and dropping
/// whatever it sends first; fails if it has not within `within`.
fn wait_closed(stream: &mut TcpStream, within: Duration, what: &str) {
    let deadline = Instant::now() + within;
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "{what}: still open after {within:?}");
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe) => {
                return;
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!("{what}: still open after {within:?}")
            }
            Err(e) => panic!("{what}: {e}"),
        }
    }
}

/// Sends `GET path` on `stream` and reads the answer's head and body (Content-Length);
/// returns the status line and the body.
fn get(stream: &mut TcpStream, path: &str, token: Option<&str>) -> (String, String) {
    let auth = token.map_or(String::new(), |t| format!("authorization: Bearer {t}\r\n"));
    let request = format!("GET {path} HTTP/1.1\r\nhost: 127.0.0.1\r\n{auth}\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    read_answer(stream)
}

fn read_answer(stream: &mut TcpStream) -> (String, String) {
    stream.set_read_timeout(Some(WITHIN)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let n = stream
            .read(&mut buf)
            .expect("an answer within the deadline");
        assert!(
            n > 0,
            "closed before answering: {:?}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).into_owned();
        let Some((head, body)) = text.split_once("\r\n\r\n") else {
            continue;
        };
        let length: usize = head
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse().unwrap())
            })
            .expect("a content-length");
        if body.len() >= length {
            let status = head.lines().next().unwrap().to_owned();
            return (status, body[..length].to_owned());
        }
    }
}

/// `GET path` on a connection of its own, closed by the server once answered
/// (`connection: close`), so the connection is no longer counted when this returns.
fn ask(daemon: &Daemon, path: &str, token: Option<&str>) -> (String, String) {
    let mut stream = connect(daemon);
    let auth = token.map_or(String::new(), |t| format!("authorization: Bearer {t}\r\n"));
    let request =
        format!("GET {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n{auth}\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let answer = read_answer(&mut stream);
    wait_closed(&mut stream, WITHIN, path);
    answer
}

/// The daemon's open descriptors now.
fn descriptors(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

/// What the daemon's descriptors are, kind by kind (`socket:[]: 6`), for a failure message.
fn descriptor_kinds(pid: u32) -> String {
    let mut kinds = std::collections::BTreeMap::<String, usize>::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
    {
        let target = std::fs::read_link(entry.path()).unwrap_or_default();
        let kind: String = target
            .to_string_lossy()
            .chars()
            .filter(|c| !c.is_ascii_digit())
            .collect();
        *kinds.entry(kind).or_default() += 1;
    }
    format!("{kinds:?}")
}

/// Polls the daemon's descriptors (no event announces them) until they are back to at most
/// `most`.
fn wait_descriptors(pid: u32, most: usize, what: &str) {
    let deadline = Instant::now() + WITHIN;
    loop {
        let open = descriptors(pid);
        if open <= most {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: {open} open after {WITHIN:?}, more than {most}: {}",
            descriptor_kinds(pid)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One sample of the /metrics text (`name value`, without labels).
fn metric(daemon: &Daemon, admin: &str, name: &str) -> f64 {
    let (status, text) = ask(daemon, "/metrics", Some(admin));
    assert_eq!(status, "HTTP/1.1 200 OK", "{text}");
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no {name} in {text}"))
        .trim()
        .parse()
        .unwrap()
}

/// A chat request through the proxy, as raw bytes.
fn chat_request(token: &str, stream: bool) -> Vec<u8> {
    let body = format!(
        r#"{{"model":"kimi-for-coding","stream":{stream},"messages":[{{"role":"user","content":"hi"}}]}}"#
    );
    format!(
        "POST {CHAT} HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer {token}\r\n\
         user-agent: starve-test/1.0\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// 300 sockets send a request's headers a byte every 200 ms: each is closed once a second has
/// passed since it connected (`proxy.header_timeout_s = 1`), however many bytes it sent, while
/// a client that sends its request at once is answered meanwhile; the descriptors come back.
#[test]
fn headers_sent_byte_by_byte_are_cut_off_at_the_header_timeout() {
    let (_account, daemon) = daemon_with(&[("proxy.header_timeout_s", "1")]);
    let pid = daemon.pid();
    let before = descriptors(pid);
    let connected = Instant::now();
    let mut slow: Vec<TcpStream> = (0..300).map(|_| connect(&daemon)).collect();
    let trickling: Vec<TcpStream> = slow.iter().map(|s| s.try_clone().unwrap()).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = stop.clone();
    let trickle = std::thread::spawn(move || {
        let head = b"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\nx-padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
        let mut open: Vec<(TcpStream, usize)> = trickling.into_iter().map(|s| (s, 0)).collect();
        // The attacker's own pace, not a wait for anything.
        while !stopped.load(Ordering::Relaxed) && !open.is_empty() {
            open.retain_mut(|(stream, sent)| {
                let byte = head[*sent % head.len()];
                *sent += 1;
                stream.write_all(&[byte]).is_ok()
            });
            std::thread::sleep(Duration::from_millis(200));
        }
    });

    let (status, body) = get(&mut connect(&daemon), "/healthz", None);
    assert_eq!(
        (status.as_str(), body.as_str()),
        ("HTTP/1.1 200 OK", "ok\n")
    );

    for (i, stream) in slow.iter_mut().enumerate() {
        wait_closed(stream, WITHIN, &format!("slow socket {i}"));
    }
    let took = connected.elapsed();
    stop.store(true, Ordering::Relaxed);
    trickle.join().unwrap();
    assert!(
        took >= Duration::from_millis(900),
        "closed by the header timeout, not before it: {took:?}"
    );
    drop(slow);
    wait_descriptors(pid, before + SLACK, "the daemon's descriptors back");
}

/// After an answer, a connection that sends nothing more is closed at `proxy.keep_alive_s`
/// (3 s), not at the header timeout (1 s); one that keeps asking is served meanwhile.
#[test]
fn an_idle_keep_alive_connection_is_closed_after_keep_alive_s() {
    let (_account, daemon) =
        daemon_with(&[("proxy.header_timeout_s", "1"), ("proxy.keep_alive_s", "3")]);
    let mut idle = connect(&daemon);
    let (status, _) = get(&mut idle, "/healthz", None);
    assert_eq!(status, "HTTP/1.1 200 OK");
    let answered = Instant::now();
    let mut busy = connect(&daemon);
    for _ in 0..3 {
        let (status, _) = get(&mut busy, "/healthz", None);
        assert_eq!(
            status, "HTTP/1.1 200 OK",
            "the same connection serves again"
        );
    }
    wait_closed(&mut idle, WITHIN, "the idle connection");
    let idle_for = answered.elapsed();
    assert!(
        idle_for >= Duration::from_millis(2500),
        "kept for keep_alive_s, not the header timeout: {idle_for:?}"
    );
}

/// At `proxy.max_connections` (8) idle connections, a new one is served in place of the one
/// idle the longest (closed, and counted as refused); when all 8 are busy answering, /healthz
/// and /metrics still answer on the connections kept in reserve, while the proxy answers 503
/// there, also on a connection that took an idle reserve connection's place; the held requests
/// then finish normally.
#[test]
fn at_the_connection_cap_healthz_answers_and_the_refusal_is_counted() {
    let (account, daemon) = daemon_with(&[
        ("proxy.max_connections", "8"),
        ("proxy.header_timeout_s", "60"),
    ]);
    // Eight idle keep-alive connections, each answered once so the daemon holds it.
    let mut idle: Vec<TcpStream> = (0..8)
        .map(|_| {
            let mut stream = connect(&daemon);
            let (status, _) = get(&mut stream, "/healthz", None);
            assert_eq!(status, "HTTP/1.1 200 OK");
            stream
        })
        .collect();
    let (status, body) = get(&mut connect(&daemon), "/healthz", None);
    assert_eq!(
        (status.as_str(), body.as_str()),
        ("HTTP/1.1 200 OK", "ok\n")
    );
    wait_closed(&mut idle[0], WITHIN, "the connection idle the longest");
    assert!(metric(&daemon, &account.admin, "redline_connections_refused_total") >= 1.0);
    // The others leave; the server closes each, so none is left idle to make room below.
    for stream in &mut idle[1..] {
        // One may have made room for the /metrics request already.
        let _ = stream
            .write_all(b"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n");
        wait_closed(stream, WITHIN, "an idle connection asked to close");
    }

    // Eight requests held at the provider: every connection busy.
    account.provider.hold_answers(true);
    let mut held: Vec<TcpStream> = (0..8)
        .map(|_| {
            let mut stream = connect(&daemon);
            stream
                .write_all(&chat_request(&account.token, false))
                .unwrap();
            stream
        })
        .collect();
    wait_for_chats(&account.provider, "8 requests held at Kimi", WITHIN, |c| {
        c.in_flight == 8
    });
    let refused_before = metric(&daemon, &account.admin, "redline_connections_refused_total");
    let (status, body) = ask(&daemon, "/healthz", None);
    assert_eq!(
        (status.as_str(), body.as_str()),
        ("HTTP/1.1 200 OK", "ok\n")
    );
    // A reserve connection left open and idle (a browser's keep-alive): the next one closes
    // it and takes its place in the reserve, not a normal place.
    let mut lingering = connect(&daemon);
    let (status, _) = get(&mut lingering, "/healthz", None);
    assert_eq!(status, "HTTP/1.1 200 OK");
    let mut over = connect(&daemon);
    over.write_all(&chat_request(&account.token, false))
        .unwrap();
    let (status, body) = read_answer(&mut over);
    assert_eq!(status, "HTTP/1.1 503 Service Unavailable", "{body}");
    assert!(body.contains("redline_busy"), "{body}");
    assert!(body.contains("proxy.max_connections"), "{body}");
    wait_closed(&mut lingering, WITHIN, "the idle reserve connection");
    assert!(
        metric(&daemon, &account.admin, "redline_connections_refused_total") > refused_before,
        "the proxy request turned away is counted"
    );
    assert!(metric(&daemon, &account.admin, "redline_connections_open") >= 9.0);
    assert_eq!(account.provider.chat_counters().requests, 8);

    account.provider.hold_answers(false);
    for stream in &mut held {
        let (status, _) = read_answer(stream);
        assert_eq!(status, "HTTP/1.1 200 OK");
    }
}

/// 300 clients give up while the provider has not answered yet: the provider sees every
/// request cancelled and the daemon's descriptors come back, long before any timeout of the
/// proxy's (5 minutes to the first byte).
#[test]
fn clients_that_give_up_before_the_answer_free_their_descriptors() {
    let (account, daemon) = daemon_with(&[]);
    let pid = daemon.pid();
    let before = descriptors(pid);
    account.provider.hold_answers(true);
    let request = chat_request(&account.token, false);
    let clients: Vec<TcpStream> = (0..300)
        .map(|_| {
            let mut stream = connect(&daemon);
            stream.write_all(&request).unwrap();
            stream
        })
        .collect();
    wait_for_chats(
        &account.provider,
        "300 requests held at Kimi",
        WITHIN,
        |c| c.in_flight == 300,
    );
    // A socket from each client and one to the provider for each.
    let during = descriptors(pid);
    assert!(during >= 600, "{before} → {during}");
    drop(clients);
    wait_for_chats(&account.provider, "300 cancelled", WITHIN, |c| {
        c.cancelled == 300 && c.in_flight == 0
    });
    wait_descriptors(pid, before + SLACK, "the daemon's descriptors back");
}

/// 100 clients hang up in the middle of a streamed answer: the same.
#[test]
fn clients_that_give_up_during_the_stream_free_their_descriptors() {
    let (account, daemon) = daemon_with(&[]);
    let pid = daemon.pid();
    let before = descriptors(pid);
    // A chunk every 100 ms for 100 s: only the client's leaving ends these answers in time.
    account
        .provider
        .set_stream(1_000, Duration::from_millis(100));
    let request = chat_request(&account.token, true);
    let mut clients: Vec<TcpStream> = (0..100)
        .map(|_| {
            let mut stream = connect(&daemon);
            stream.write_all(&request).unwrap();
            stream
        })
        .collect();
    for stream in &mut clients {
        stream.set_read_timeout(Some(WITHIN)).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while !String::from_utf8_lossy(&got).contains("data: ") {
            let n = stream.read(&mut buf).expect("the stream begins");
            assert!(n > 0, "closed: {}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&buf[..n]);
        }
        assert!(got.starts_with(b"HTTP/1.1 200 OK"));
    }
    assert_eq!(account.provider.chat_counters().in_flight, 100);
    drop(clients);
    wait_for_chats(&account.provider, "100 cancelled mid-stream", WITHIN, |c| {
        c.cancelled == 100 && c.in_flight == 0
    });
    wait_descriptors(pid, before + SLACK, "the daemon's descriptors back");
}
