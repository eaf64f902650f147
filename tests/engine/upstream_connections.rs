//! The proxy's connections to providers, as `redline daemon` keeps them: HTTP/2 over TLS when
//! the provider offers it (ALPN), one connection carrying every request; HTTP/1.1 connections
//! used again once an answer is read, and a connection the provider closed left for a new one.

use crate::support::certificates::Certificates;
use crate::support::{Daemon, Sandbox, http};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::future::Future;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const KEY: &str = "sk-test-UpstreamConnectionsKey0000000000042";
const CHAT: &str = "/upstream/v1/chat/completions";
const ANSWER: &str = r#"{"id":"chatcmpl-1","object":"chat.completion","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}"#;

/// A request as the provider saw it.
#[derive(Clone, Debug, PartialEq)]
struct Seen {
    /// Which of its connections (in the order accepted) it came on.
    connection: usize,
    path: String,
    version: hyper::Version,
    /// It carried the real key.
    keyed: bool,
}

/// A provider on loopback, served by its own runtime: what it saw.
struct Provider {
    port: u16,
    /// Every request.
    requests: Arc<Mutex<Vec<Seen>>>,
    _runtime: tokio::runtime::Runtime,
}

impl Provider {
    /// Listens on a free loopback port and hands each connection, numbered in the order
    /// accepted, to `serve_one` on its own task.
    fn start<F, Serving>(serve_one: F) -> Provider
    where
        F: Fn(TcpStream, usize, Arc<Mutex<Vec<Seen>>>) -> Serving + Send + 'static,
        Serving: Future<Output = ()> + Send + 'static,
    {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        runtime.spawn(async move {
            for connection in 0.. {
                let (tcp, _) = listener.accept().await.unwrap();
                tokio::spawn(serve_one(tcp, connection, seen.clone()));
            }
        });
        Provider {
            port,
            requests,
            _runtime: runtime,
        }
    }

    /// Over TLS, speaks HTTP/2 or HTTP/1.1, whichever the client's ALPN picks (h2 offered
    /// first); without, HTTP/1.1.
    fn serve(certificates: Option<&Certificates>) -> Provider {
        let acceptor = certificates.map(Provider::acceptor);
        Provider::start(move |tcp, connection, seen| {
            let acceptor = acceptor.clone();
            let service = service_fn(move |request| answer(request, connection, seen.clone()));
            async move {
                let Some(acceptor) = acceptor else {
                    let io = TokioIo::new(tcp);
                    let _ = http1::Builder::new().serve_connection(io, service).await;
                    return;
                };
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
                let io = TokioIo::new(tls);
                let _ = match h2 {
                    true => {
                        http2::Builder::new(TokioExecutor::new())
                            .serve_connection(io, service)
                            .await
                    }
                    false => http1::Builder::new().serve_connection(io, service).await,
                };
            }
        })
    }

    fn acceptor(certificates: &Certificates) -> tokio_rustls::TlsAcceptor {
        let chain = CertificateDer::pem_file_iter(certificates.path("server.pem"))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let key = PrivateKeyDer::from_pem_file(certificates.path("server.key")).unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        tokio_rustls::TlsAcceptor::from(Arc::new(config))
    }

    /// Plain HTTP/1.1 that answers one request per connection and then closes it without
    /// saying so (no `Connection: close`), as a provider whose keep-alive ran out does.
    fn closing_after_each_answer() -> Provider {
        Provider::start(|mut tcp, connection, seen| async move {
            let mut head = Vec::new();
            let mut buf = [0u8; 4096];
            // The request's head and its small body come in the first reads.
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match tcp.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let text = String::from_utf8_lossy(&head).to_lowercase();
            seen.lock().unwrap().push(Seen {
                connection,
                path: text.split(' ').nth(1).unwrap_or_default().to_owned(),
                version: hyper::Version::HTTP_11,
                keyed: text.contains(&format!("authorization: bearer {}", KEY.to_lowercase())),
            });
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{ANSWER}",
                ANSWER.len()
            );
            let _ = tcp.write_all(response.as_bytes()).await;
        })
    }

    /// The chat requests the proxy sent (the daemon's usage poller asks other paths).
    fn chats(&self) -> Vec<Seen> {
        let requests = self.requests.lock().unwrap();
        let chats = requests
            .iter()
            .filter(|r| r.path.ends_with("/chat/completions"));
        chats.cloned().collect()
    }
}

/// How many connections `chats` came on.
fn connections(chats: &[Seen]) -> usize {
    let ids: std::collections::BTreeSet<usize> = chats.iter().map(|c| c.connection).collect();
    ids.len()
}

async fn answer(
    request: hyper::Request<Incoming>,
    connection: usize,
    seen: Arc<Mutex<Vec<Seen>>>,
) -> Result<hyper::Response<Full<Bytes>>, std::convert::Infallible> {
    let keyed = request
        .headers()
        .get("authorization")
        .is_some_and(|v| v.as_bytes() == format!("Bearer {KEY}").as_bytes());
    seen.lock().unwrap().push(Seen {
        connection,
        path: request.uri().path().to_owned(),
        version: request.version(),
        keyed,
    });
    let mut response = hyper::Response::new(Full::new(Bytes::from_static(ANSWER.as_bytes())));
    response
        .headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    Ok(response)
}

/// `redline daemon` in a sandbox of its own, with account `upstream` at a provider: where a
/// tool sends its chats, and the local token it presents.
struct Proxied {
    url: String,
    token: String,
    _daemon: Daemon,
    _sandbox: Sandbox,
}

fn proxied(base_url: &str, env: &[(&str, &str)]) -> Proxied {
    let sandbox = Sandbox::new();
    sandbox.add_key_unchecked("upstream", "openai", Some(base_url), KEY);
    let token = sandbox.token();
    let daemon = Daemon::start_args(&sandbox, &["--listen", "127.0.0.1:0"], env);
    Proxied {
        url: daemon.url(CHAT),
        token,
        _daemon: daemon,
        _sandbox: sandbox,
    }
}

/// `times` chat requests through the proxy at `url`, one after another on one client
/// connection; each must get the provider's answer.
fn chats_in_turn(url: &str, token: &str, times: usize) {
    let client = http();
    for _ in 0..times {
        let response = client
            .post(url)
            .bearer_auth(token)
            .json(
                &serde_json::json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}),
            )
            .send()
            .unwrap();
        let answer = (response.status().as_u16(), response.text().unwrap());
        assert_eq!(answer, (200, ANSWER.to_owned()));
    }
}

#[test]
fn a_provider_offering_http2_gets_every_request_on_one_tls_connection() {
    let certificates = Certificates::make();
    let provider = Provider::serve(Some(&certificates));
    let ca = certificates.path("ca.pem");
    let base_url = format!("https://localhost:{}/v1", provider.port);
    let Proxied { url, token, .. } = &proxied(&base_url, &[("SSL_CERT_FILE", &ca)]);
    // One client connection: one lane, whose connection to the provider every request shares.
    chats_in_turn(url, token, 5);
    assert_eq!(connections(&provider.chats()), 1);
    // Requests at the same time on several client connections, multiplexed.
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| chats_in_turn(url, token, 3));
        }
    });
    let chats = provider.chats();
    assert_eq!(chats.len(), 17);
    assert!(
        chats
            .iter()
            .all(|c| c.version == hyper::Version::HTTP_2 && c.keyed),
        "every request over HTTP/2 with the real key: {chats:?}"
    );
    // At most one more per lane (each lane keeps its own), not one per request.
    let lanes = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert!(connections(&chats) <= 1 + lanes, "{chats:?}");
}

#[test]
fn an_http1_connection_carries_the_next_request_once_its_answer_is_read() {
    let provider = Provider::serve(None);
    let base_url = format!("http://127.0.0.1:{}/v1", provider.port);
    let Proxied { url, token, .. } = &proxied(&base_url, &[]);
    chats_in_turn(url, token, 5);
    let chats = provider.chats();
    assert_eq!(connections(&chats), 1, "{chats:?}");
    assert!(
        chats
            .iter()
            .all(|c| c.version == hyper::Version::HTTP_11 && c.keyed),
        "{chats:?}"
    );
}

#[test]
fn a_connection_the_provider_closed_is_left_and_the_request_goes_on_a_new_one() {
    let provider = Provider::closing_after_each_answer();
    let base_url = format!("http://127.0.0.1:{}/v1", provider.port);
    let Proxied { url, token, .. } = &proxied(&base_url, &[]);
    chats_in_turn(url, token, 5);
    let chats = provider.chats();
    assert_eq!(chats.len(), 5);
    assert_eq!(connections(&chats), 5);
    assert!(chats.iter().all(|c| c.keyed));
}
