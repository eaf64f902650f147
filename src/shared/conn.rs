//! One pipelined connection to the Redis server: commands go out in the order they are sent,
//! replies come back in that order. A writer task and a reader task share the queue of callers
//! waiting for replies; when either fails, every caller hears so and the connection is closed.

use super::auth::Auth;
use super::resp::{self, Reply};
use super::tls;
use super::url::RedisUrl;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{Instant, timeout_at};

type Waiter = Option<oneshot::Sender<Result<Reply, String>>>;

pub struct Conn {
    jobs: mpsc::UnboundedSender<(Vec<u8>, Waiter)>,
    closed: watch::Receiver<Option<String>>,
    close: Arc<watch::Sender<Option<String>>>,
    /// The scripts' digests, in `scripts::ALL`'s order.
    pub shas: Vec<String>,
}

impl Conn {
    /// Connects (over TLS for `rediss://`), logs in, selects the database and loads the
    /// scripts, all within `within`. A failure says which step failed and what to do.
    pub async fn open(
        url: &RedisUrl,
        auth: &Auth,
        scripts: &[&str],
        within: Duration,
    ) -> Result<Conn, String> {
        // The roots are read before the clock starts: a system store is a few hundred files.
        let tls_config = if url.tls {
            let read = tokio::task::spawn_blocking(tls::client_config).await;
            Some(read.map_err(|_| "reading the trusted certificates failed".to_owned())??)
        } else {
            None
        };
        let deadline = Instant::now() + within;
        let secs = within.as_secs_f32();
        let (host, port) = (url.host.as_str(), url.port);
        let tcp = timeout_at(deadline, tokio::net::TcpStream::connect((host, port)))
            .await
            .map_err(|_| format!("no answer from {host}:{port} within {secs} s"))?
            .map_err(|e| format!("cannot connect to {host}:{port}: {e}"))?;
        let _ = tcp.set_nodelay(true);
        let mut conn = if let Some(config) = tls_config {
            let tls = timeout_at(deadline, tls::handshake(config, tcp, host, port))
                .await
                .map_err(|_| {
                    format!(
                        "no TLS handshake from {host}:{port} within {secs} s: it may be a \
                         plain-text port; use redis:// for it, or the port where the server \
                         listens for TLS (tls-port)"
                    )
                })??;
            Conn::start(tls)
        } else {
            Conn::start(tcp)
        };
        timeout_at(deadline, conn.log_in(url, auth, scripts))
            .await
            .unwrap_or_else(|_| {
                Err(format!(
                    "no answer from {host}:{port} within {secs} s{}",
                    plain_hint(url)
                ))
            })?;
        Ok(conn)
    }

    async fn log_in(
        &mut self,
        url: &RedisUrl,
        auth: &Auth,
        scripts: &[&str],
    ) -> Result<(), String> {
        let plain = |why: String| format!("{why}{}", plain_hint(url));
        if let Some((password, _)) = &auth.password {
            let mut args: Vec<&[u8]> = vec![b"AUTH"];
            if let Some(user) = &url.username {
                args.push(user.as_bytes());
            }
            args.push(password.as_bytes());
            match self.call(&args).await {
                Ok(_) => {}
                Err(why) if why.starts_with("the server refused") => {
                    return Err(auth.refused(&why));
                }
                Err(why) => return Err(plain(why)),
            }
        }
        let refused = |why: String| {
            if why.contains("NOAUTH") {
                auth.missing()
            } else if why.starts_with("the server refused") {
                why
            } else {
                plain(why)
            }
        };
        if url.db != 0 {
            self.call(&[b"SELECT", url.db.to_string().as_bytes()])
                .await
                .map_err(refused)?;
        }
        let mut shas = Vec::with_capacity(scripts.len());
        for script in scripts {
            let sha = self
                .call(&[b"SCRIPT", b"LOAD", script.as_bytes()])
                .await
                .map_err(refused)?;
            shas.push(sha.as_text().ok_or("SCRIPT LOAD gave no digest")?);
        }
        self.shas = shas;
        Ok(())
    }

    fn start<S: AsyncRead + AsyncWrite + Send + 'static>(stream: S) -> Conn {
        let (mut reader, mut writer) = tokio::io::split(stream);
        let (jobs, mut queue) = mpsc::unbounded_channel::<(Vec<u8>, Waiter)>();
        let (close, closed) = watch::channel(None);
        let close = Arc::new(close);
        let waiting: Arc<Mutex<VecDeque<Waiter>>> = Arc::default();
        let fail_all = {
            let waiting = waiting.clone();
            let close = close.clone();
            move |why: String| {
                close.send_if_modified(|c| {
                    let first = c.is_none();
                    if first {
                        *c = Some(why.clone());
                    }
                    first
                });
                let mut waiting = waiting.lock().unwrap_or_else(PoisonError::into_inner);
                for waiter in waiting.drain(..).flatten() {
                    let _ = waiter.send(Err(why.clone()));
                }
            }
        };
        {
            let waiting = waiting.clone();
            let fail_all = fail_all.clone();
            let mut closed = closed.clone();
            tokio::spawn(async move {
                loop {
                    let job = tokio::select! {
                        job = queue.recv() => job,
                        _ = closed.wait_for(Option::is_some) => None,
                    };
                    let Some((bytes, waiter)) = job else { break };
                    if closed.borrow().is_some() {
                        if let Some(w) = waiter {
                            let _ = w.send(Err("the connection is closed".into()));
                        }
                        continue;
                    }
                    waiting
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push_back(waiter);
                    if let Err(e) = writer.write_all(&bytes).await {
                        fail_all(format!("writing to the server failed: {e}"));
                        break;
                    }
                }
                let _ = writer.shutdown().await;
                fail_all("the connection is closed".into());
            });
        }
        {
            let mut closed = closed.clone();
            tokio::spawn(async move {
                let mut buf = Vec::with_capacity(4096);
                let mut chunk = vec![0u8; 4096];
                let why = loop {
                    let read = tokio::select! {
                        read = reader.read(&mut chunk) => read,
                        _ = closed.wait_for(Option::is_some) => break "closed".to_owned(),
                    };
                    match read {
                        Ok(0) => break "the server closed the connection".to_owned(),
                        Err(e) => break format!("reading from the server failed: {e}"),
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                    // No RESP reply starts so; its parser would wait for a line end.
                    if is_tls_record(&buf) {
                        break "the server answered in TLS".to_owned();
                    }
                    let mut used = 0;
                    let broken = loop {
                        match resp::parse(&buf[used..]) {
                            Ok(Some((reply, len))) => {
                                used += len;
                                let waiter = waiting
                                    .lock()
                                    .unwrap_or_else(PoisonError::into_inner)
                                    .pop_front();
                                if let Some(Some(w)) = waiter {
                                    let _ = w.send(Ok(reply));
                                }
                            }
                            Ok(None) => break None,
                            Err(resp::Malformed(what)) => break Some(what),
                        }
                    };
                    buf.drain(..used);
                    if let Some(what) = broken {
                        break format!("the server's reply was malformed: {what}");
                    }
                };
                fail_all(why);
            });
        }
        Conn {
            jobs,
            closed,
            close,
            shas: Vec::new(),
        }
    }

    /// Sends a command without waiting for its reply (in order with every other command).
    pub fn send(&self, args: &[&[u8]]) {
        let mut bytes = Vec::new();
        resp::encode(&mut bytes, args);
        let _ = self.jobs.send((bytes, None));
    }

    /// Sends a command; the reply comes with the returned future. Sent at once, so its place in
    /// the order is fixed when this returns.
    pub fn request(&self, args: &[&[u8]]) -> impl Future<Output = Result<Reply, String>> + use<> {
        let mut bytes = Vec::new();
        resp::encode(&mut bytes, args);
        let (tx, rx) = oneshot::channel();
        let sent = self.jobs.send((bytes, Some(tx))).is_ok();
        async move {
            if !sent {
                return Err("the connection is closed".to_owned());
            }
            match rx.await {
                Ok(Ok(Reply::Error(message))) => Err(format!("the server refused: {message}")),
                Ok(reply) => reply,
                Err(_) => Err("the connection is closed".to_owned()),
            }
        }
    }

    pub async fn call(&self, args: &[&[u8]]) -> Result<Reply, String> {
        self.request(args).await
    }

    /// Closes the connection (a reply took too long, say); callers waiting hear so.
    pub fn close(&self, why: &str) {
        self.close.send_if_modified(|c| {
            let first = c.is_none();
            if first {
                *c = Some(why.to_owned());
            }
            first
        });
    }

    /// Why the connection closed, once it has.
    pub async fn closed(&self) -> String {
        let mut closed = self.closed.clone();
        let why = closed.wait_for(Option::is_some).await;
        why.map(|w| w.clone().unwrap_or_default())
            .unwrap_or_else(|_| "the connection is closed".into())
    }

    pub fn is_closed(&self) -> bool {
        self.closed.borrow().is_some()
    }
}

/// For a plain-text connection whose server hung up or answered no RESP: the likely cause.
fn plain_hint(url: &RedisUrl) -> String {
    if url.tls {
        String::new()
    } else {
        format!(
            ": if {}:{} listens for TLS, use rediss:// (redis:// speaks plain text)",
            url.host, url.port
        )
    }
}

/// Whether `bytes` start like a TLS record (an alert or a handshake, TLS 1.0 to 1.3): what a
/// TLS port answers to plain text.
fn is_tls_record(bytes: &[u8]) -> bool {
    matches!(bytes, [0x15 | 0x16, 0x03, 0x00..=0x04, ..])
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.close("dropped");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    const NO_AUTH: Auth = Auth {
        password: None,
        keyring_problem: None,
    };

    /// A one-connection server on loopback that reads what comes, then answers `answer`.
    async fn answering(answer: &'static [u8]) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut tcp, _) = listener.accept().await.unwrap();
            let mut first = [0u8; 64];
            let _ = tcp.read(&mut first).await;
            let _ = tcp.write_all(answer).await;
            let _ = tcp.shutdown().await;
        });
        port
    }

    #[tokio::test]
    async fn tls_to_a_plain_text_port_says_so() {
        let port = answering(b"-ERR unknown command\r\n").await;
        let url = RedisUrl::parse(&format!("rediss://127.0.0.1:{port}")).unwrap();
        let why = Conn::open(&url, &NO_AUTH, &[], Duration::from_secs(20))
            .await
            .err()
            .unwrap();
        assert!(
            why.contains(&format!("127.0.0.1:{port}")) && why.contains("use redis://"),
            "{why}"
        );
    }

    #[tokio::test]
    async fn plain_text_to_a_tls_port_says_so() {
        // A TLS alert record (fatal, protocol_version), as a TLS port answers plain text.
        let port = answering(&[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x46]).await;
        let url = RedisUrl::parse(&format!("redis://127.0.0.1:{port}")).unwrap();
        let why = Conn::open(&url, &NO_AUTH, &["return 1"], Duration::from_secs(20))
            .await
            .err()
            .unwrap();
        assert!(
            why.contains("the server answered in TLS") && why.contains("use rediss://"),
            "{why}"
        );
        assert!(is_tls_record(&[0x16, 0x03, 0x01, 0x00]));
        assert!(!is_tls_record(b"+OK\r\n"));
        assert!(!is_tls_record(b"-ERR x\r\n"));
    }
}
