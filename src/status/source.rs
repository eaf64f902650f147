//! `redline status` asks a running Redline (the daemon or the desktop app) for its status
//! before polling the providers itself: only the running engine sees its proxy's traffic (the
//! throttles tools received, requests in flight), and asking it costs the providers nothing.

use crate::keys::secret::Secret;
use crate::serve::api_client::{ApiClient, Call, Method};
use crate::status::model::Status;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

/// A status bar refreshes every few seconds: nothing listening must cost it little.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
/// The engine answers from memory; anything slower is not a healthy Redline.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(3);

/// What asking the engine came to.
#[derive(Debug)]
pub enum Asked {
    Answered(Box<Status>),
    /// Nothing answered on the address (or no Redline of this install has made a token yet).
    NotRunning,
    /// The engine answered 401: it holds another admin credential than this install's keyring.
    TokenRefused,
    /// Something answered, but not with a status (the reason, for a person).
    Failed(String),
}

/// How the status is printed: the bar forms run every few seconds, often in a shell prompt,
/// so they never write notes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    Text,
    Json,
    Bar,
}

/// Where to reach an engine listening on `listen`: a wildcard address is reached on loopback.
pub fn engine_address(listen: SocketAddr) -> SocketAddr {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, listen.port())
}

/// Whether anything accepts connections on `address`: checked before reading the token, since
/// a keyring read costs more than the whole answer of a running engine.
pub async fn is_listening(address: SocketAddr) -> bool {
    let connect = tokio::net::TcpStream::connect(address);
    matches!(
        tokio::time::timeout(CONNECT_TIMEOUT, connect).await,
        Ok(Ok(_))
    )
}

/// Asks the engine on `address` for its status with the admin credential.
pub async fn ask(address: SocketAddr, token: Secret) -> Asked {
    let client = match ApiClient::with_timeouts(
        &format!("http://{address}"),
        token,
        CONNECT_TIMEOUT,
        ANSWER_TIMEOUT,
    ) {
        Ok(client) => client,
        Err(reason) => return Asked::Failed(reason),
    };
    let call = Call {
        method: Method::GET,
        path: &["status"],
        ..Call::default()
    };
    match client.send_with_status(call).await {
        Ok(body) => match serde_json::from_value::<Status>(body) {
            Ok(status) => Asked::Answered(Box::new(status)),
            Err(err) => Asked::Failed(format!(
                "its status is not one this redline can read ({err}); is it another version?"
            )),
        },
        Err(failure) => match failure.status {
            None => Asked::NotRunning,
            Some(401) => Asked::TokenRefused,
            Some(_) => Asked::Failed(failure.message().to_owned()),
        },
    }
}

/// The line for stderr when the providers were asked instead of the engine, if any.
pub fn fallback_note(asked: &Asked, address: SocketAddr, form: Form) -> Option<String> {
    let why = match (asked, form) {
        (Asked::Answered(_), _) | (_, Form::Bar) | (Asked::NotRunning, Form::Json) => {
            return None;
        }
        (Asked::NotRunning, Form::Text) => format!("no running Redline on {address}"),
        (Asked::TokenRefused, _) => format!(
            "the Redline on {address} did not accept this install's admin credential (it runs \
             with another REDLINE_HOME or keyring: restart it)"
        ),
        (Asked::Failed(reason), _) => unusable(address, reason),
    };
    Some(format!("{why}; asked the providers directly"))
}

/// Why `--engine` cannot show the engine's status.
pub fn engine_required(asked: &Asked, address: SocketAddr) -> String {
    let why = match asked {
        Asked::Answered(_) => return String::new(),
        Asked::NotRunning => format!(
            "no running Redline answers on {address} (proxy.listen): start `redline daemon` or \
             the desktop app"
        ),
        Asked::TokenRefused => format!(
            "the Redline on {address} did not accept this install's admin credential: restart \
             it, or check REDLINE_HOME and REDLINE_KEYRING_SERVICE"
        ),
        Asked::Failed(reason) => unusable(address, reason),
    };
    format!("{why}, or leave out --engine to ask the providers directly")
}

fn unusable(address: SocketAddr, reason: &str) -> String {
    let reason = reason.trim_end_matches('.');
    format!("the Redline on {address} gave no usable status ({reason})")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr() -> SocketAddr {
        "127.0.0.1:4290".parse().unwrap()
    }

    #[test]
    fn wildcard_listen_addresses_are_reached_on_loopback() {
        let cases = [
            ("0.0.0.0:4290", "127.0.0.1:4290"),
            ("[::]:9000", "[::1]:9000"),
            ("127.0.0.1:4290", "127.0.0.1:4290"),
            ("192.168.1.5:4290", "192.168.1.5:4290"),
        ];
        for (listen, expected) in cases {
            assert_eq!(
                engine_address(listen.parse().unwrap()).to_string(),
                expected
            );
        }
    }

    #[test]
    fn bars_stay_quiet_and_the_text_form_says_why_it_polled() {
        let refused = Asked::TokenRefused;
        let failed = Asked::Failed("HTTP 500".into());
        for asked in [&Asked::NotRunning, &refused, &failed] {
            assert_eq!(fallback_note(asked, addr(), Form::Bar), None);
        }
        assert_eq!(
            fallback_note(&Asked::NotRunning, addr(), Form::Text).unwrap(),
            "no running Redline on 127.0.0.1:4290; asked the providers directly"
        );
        assert_eq!(fallback_note(&Asked::NotRunning, addr(), Form::Json), None);
        for form in [Form::Text, Form::Json] {
            let note = fallback_note(&refused, addr(), form).unwrap();
            assert!(
                note.contains("did not accept this install's admin credential"),
                "{note}"
            );
            let note = fallback_note(&failed, addr(), form).unwrap();
            assert!(note.contains("HTTP 500"), "{note}");
            assert!(note.ends_with("asked the providers directly"), "{note}");
        }
    }

    #[test]
    fn requiring_the_engine_says_how_to_start_it_or_do_without() {
        let message = engine_required(&Asked::NotRunning, addr());
        assert!(message.contains("redline daemon"), "{message}");
        assert!(message.ends_with("leave out --engine to ask the providers directly"));
    }

    #[tokio::test]
    async fn a_closed_port_is_not_running_and_a_foreign_server_is_no_status() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let closed = listener.local_addr().unwrap();
        drop(listener);
        let token = || Secret::parse("rl_0123456789abcdef").unwrap();
        assert!(!is_listening(closed).await);
        assert!(matches!(ask(closed, token()).await, Asked::NotRunning));

        // A web server that is not Redline: 404 with a page.
        let server = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = server.local_addr().unwrap();
        assert!(is_listening(address).await);
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            loop {
                let (mut socket, _) = server.accept().await.unwrap();
                let mut request = [0u8; 4096];
                // The probe above connects and leaves without a request.
                if socket.read(&mut request).await.unwrap_or(0) == 0 {
                    continue;
                }
                let answer = "HTTP/1.1 404 Not Found\r\ncontent-length: 9\r\n\r\nnot here\n";
                socket.write_all(answer.as_bytes()).await.unwrap();
            }
        });
        match ask(address, token()).await {
            Asked::Failed(reason) => assert!(reason.contains("not here"), "{reason}"),
            other => panic!("{other:?}"),
        }
    }
}
