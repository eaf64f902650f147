//! `rediss://`: TLS to the shared server. The server's certificate must chain to a root this
//! system trusts and name the host written in `shared.redis_url`; there is no setting to turn
//! either check off. The roots are the system's (`rustls-native-certs`), or, when
//! `SSL_CERT_FILE` or `SSL_CERT_DIR` is set, only those files: that is how a private CA is
//! trusted. They are read at every connection attempt, so a CA added while the daemon runs is
//! used at its next attempt.
//!
//! The crypto provider is aws-lc-rs, the one reqwest already builds, named explicitly so that
//! no process-wide default has to be installed.

use std::sync::Arc;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{self, CertificateError, ClientConfig, RootCertStore};

/// The handshake with `host` over `tcp`; on failure, what went wrong and what to do.
pub async fn handshake(
    config: Arc<ClientConfig>,
    tcp: TcpStream,
    host: &str,
    port: u16,
) -> Result<TlsStream<TcpStream>, String> {
    let name = ServerName::try_from(host.to_owned())
        .map_err(|_| format!("{host} is not a host name TLS can check a certificate against"))?;
    let connector = TlsConnector::from(config);
    connector
        .connect(name, tcp)
        .await
        .map_err(|e| explain(host, port, &e))
}

/// The client's settings with the trusted roots as they are now. Blocking: reads files (the
/// system store, or SSL_CERT_FILE and SSL_CERT_DIR).
pub fn client_config() -> Result<Arc<ClientConfig>, String> {
    let loaded = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    let (_, unusable) = roots.add_parsable_certificates(loaded.certs);
    if roots.is_empty() {
        let why = loaded
            .errors
            .first()
            .map_or_else(|| "none found".to_owned(), ToString::to_string);
        return Err(format!(
            "no trusted root certificates could be loaded for rediss:// ({why}; {unusable} \
             unusable): install your system's CA certificates, or set SSL_CERT_FILE to a PEM \
             file holding the CA that signed the server's certificate"
        ));
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS cannot be set up: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Where a TLS handshake with `host:port` failed, in words that say what to do. Pure.
pub fn explain(host: &str, port: u16, error: &std::io::Error) -> String {
    let tls = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    match tls {
        Some(rustls::Error::InvalidCertificate(cert)) => certificate(host, cert),
        Some(rustls::Error::InvalidMessage(_))
        | Some(rustls::Error::InappropriateMessage { .. }) => {
            format!(
                "{host}:{port} does not answer in TLS (its reply to the TLS handshake is no TLS \
                 record): it may be a plain-text port; use redis:// for it, or the port where \
                 the server listens for TLS (tls-port)"
            )
        }
        Some(rustls::Error::AlertReceived(alert)) => {
            let alert = format!("{alert:?}");
            let hint = if alert.contains("Certificate") {
                ": the server may ask for a client certificate, which Redline does not send \
                 (set tls-auth-clients to no or optional on the server)"
            } else {
                ""
            };
            format!("{host}:{port} refused the TLS handshake ({alert}){hint}")
        }
        Some(other) => format!("the TLS handshake with {host}:{port} failed: {other}"),
        None if error.kind() == std::io::ErrorKind::UnexpectedEof
            || error.kind() == std::io::ErrorKind::ConnectionReset =>
        {
            format!(
                "{host}:{port} closed the connection during the TLS handshake: it may be a \
                 plain-text port; use redis:// for it, or the port where the server listens \
                 for TLS (tls-port)"
            )
        }
        None => format!("the TLS handshake with {host}:{port} failed: {error}"),
    }
}

fn certificate(host: &str, error: &CertificateError) -> String {
    match error {
        CertificateError::UnknownIssuer | CertificateError::BadSignature => format!(
            "the certificate of {host} is not trusted: it is not signed by a CA this system \
             trusts. Add the CA that signed it to the system's trusted store, or set \
             SSL_CERT_FILE (in Redline's environment) to a PEM file holding that CA"
        ),
        CertificateError::NotValidForName => format!(
            "the certificate of the server at {host} is not made for the name {host}: write in \
             shared.redis_url the host name the certificate was made for"
        ),
        CertificateError::NotValidForNameContext { presented, .. } => {
            let names: Vec<&str> = presented.iter().map(|name| bare_name(name)).collect();
            format!(
                "the certificate of the server at {host} is made for {}, not for the name \
                 {host}: write in shared.redis_url the host name the certificate was made for",
                if names.is_empty() {
                    "no host name".to_owned()
                } else {
                    names.join(", ")
                }
            )
        }
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => format!(
            "the certificate of {host} has expired: the server needs a new one (or this \
             machine's clock is wrong)"
        ),
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            format!("the certificate of {host} is not valid yet: check this machine's clock")
        }
        other => format!("the certificate of {host} was refused: {other:?}"),
    }
}

/// `localhost` out of rustls's `DnsName("localhost")` (and an address out of `IpAddress(…)`).
fn bare_name(presented: &str) -> &str {
    presented
        .split_once('(')
        .map_or(presented, |(_, inner)| inner.trim_end_matches(')'))
        .trim_matches('"')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(error: rustls::Error) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::InvalidData, error)
    }

    #[test]
    fn handshake_failures_say_what_to_do() {
        let misnamed = CertificateError::NotValidForNameContext {
            expected: ServerName::try_from("10.0.0.7").unwrap(),
            presented: vec!["DnsName(\"redis.example\")".into()],
        };
        let not_tls = rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType);
        let cases = [
            (
                "redis.example",
                6380,
                failed(rustls::Error::InvalidCertificate(
                    CertificateError::UnknownIssuer,
                )),
                &[
                    "the certificate of redis.example is not trusted",
                    "SSL_CERT_FILE",
                ][..],
            ),
            (
                "10.0.0.7",
                6380,
                failed(rustls::Error::InvalidCertificate(misnamed)),
                &[
                    "is made for redis.example, not for the name 10.0.0.7",
                    "shared.redis_url",
                ],
            ),
            (
                "h",
                6379,
                failed(not_tls),
                &["h:6379 does not answer in TLS", "redis://"],
            ),
            (
                "h",
                6379,
                std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "eof"),
                &["plain-text port"],
            ),
            (
                "h",
                1,
                failed(rustls::Error::InvalidCertificate(CertificateError::Expired)),
                &["has expired"],
            ),
        ];
        for (host, port, error, said) in cases {
            let explained = explain(host, port, &error);
            for words in said {
                assert!(explained.contains(words), "{words:?} not in {explained:?}");
            }
        }
    }
}
