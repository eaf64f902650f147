//! Outbound HTTP to providers: one client with timeouts and a response size cap, the key sent
//! in the provider's style and marked sensitive, and failures turned into plain words.

use crate::keys::secret::Secret;
use crate::providers::AuthStyle;
use http::{HeaderMap, HeaderName, HeaderValue};
use std::time::Duration;

/// Whole-request timeout; official clients use 8-10 s for usage endpoints.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Usage answers are a few kilobytes; anything near this is not one.
pub const MAX_BODY: usize = 1024 * 1024;

/// A complete, size-capped response.
#[derive(Clone, Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("cannot reach {host}: {detail}")]
    Unreachable { host: String, detail: String },
    #[error("{host} did not answer in time")]
    Timeout { host: String },
    #[error("{host} sent more than {} KiB; that is not a usage answer", MAX_BODY / 1024)]
    TooLarge { host: String },
    #[error("{0}")]
    BadUrl(String),
}

/// Rewrites provider origins to loopback addresses, so tests and the demo can stand in for
/// real hosts (including a second region's host) without changing any account.
/// Set with `REDLINE_PROVIDER_HOSTS="https://api.moonshot.cn=http://127.0.0.1:4301,..."`.
/// Only loopback targets are accepted: it can never send a key somewhere new on the network.
#[derive(Clone, Debug, Default)]
pub struct HostMap(Vec<(String, String)>);

impl HostMap {
    pub fn from_env() -> Result<HostMap, String> {
        match std::env::var("REDLINE_PROVIDER_HOSTS") {
            Ok(text) if !text.trim().is_empty() => HostMap::parse(&text),
            _ => Ok(HostMap::default()),
        }
    }

    pub fn parse(text: &str) -> Result<HostMap, String> {
        let mut pairs = Vec::new();
        for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (from, to) = pair.split_once('=').ok_or_else(|| {
                format!("REDLINE_PROVIDER_HOSTS: {pair:?} is not ORIGIN=LOOPBACK_ORIGIN")
            })?;
            let target =
                url::Url::parse(to).map_err(|e| format!("REDLINE_PROVIDER_HOSTS: {to:?}: {e}"))?;
            let loopback = match target.host() {
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                Some(url::Host::Domain(name)) => name == "localhost",
                None => false,
            };
            if !loopback {
                return Err(format!(
                    "REDLINE_PROVIDER_HOSTS: {to:?} is not a loopback address"
                ));
            }
            pairs.push((
                from.trim_end_matches('/').to_owned(),
                to.trim_end_matches('/').to_owned(),
            ));
        }
        Ok(HostMap(pairs))
    }

    /// `url` with its origin replaced when the map names it.
    pub fn rewrite(&self, url: &str) -> String {
        for (from, to) in &self.0 {
            if let Some(rest) = url.strip_prefix(from.as_str())
                && (rest.is_empty() || rest.starts_with('/'))
            {
                return format!("{to}{rest}");
            }
        }
        url.to_owned()
    }
}

#[derive(Clone, Debug)]
pub struct HttpClient {
    client: reqwest::Client,
    hosts: HostMap,
}

impl HttpClient {
    pub fn new(hosts: HostMap) -> HttpClient {
        HttpClient::with_timeout(hosts, REQUEST_TIMEOUT)
    }

    /// A client whose requests give up after `timeout` (tests use a short one).
    pub fn with_timeout(hosts: HostMap, timeout: Duration) -> HttpClient {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(CONNECT_TIMEOUT.min(timeout))
            .user_agent(concat!("redline/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the HTTP client configuration is valid");
        HttpClient { client, hosts }
    }

    /// GETs `url` with the key in the provider's style.
    pub async fn get(
        &self,
        url: &str,
        auth: AuthStyle,
        secret: &Secret,
        extra_headers: &[(&str, &str)],
    ) -> Result<RawResponse, FetchError> {
        let url = self.hosts.rewrite(url);
        let host = host_of(&url);
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::ACCEPT,
            HeaderValue::from_static("application/json"),
        );
        for (name, value) in extra_headers {
            if let (Ok(name), Ok(value)) =
                (HeaderName::try_from(*name), HeaderValue::try_from(*value))
            {
                headers.insert(name, value);
            }
        }
        let (name, value) = auth_header(auth, secret).ok_or_else(|| {
            FetchError::BadUrl("the key contains characters no HTTP header can carry".into())
        })?;
        headers.insert(name, value);

        let request = self.client.get(&url).headers(headers);
        let mut response = request.send().await.map_err(|e| describe(&host, &e))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| describe(&host, &e))? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(FetchError::TooLarge { host });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(RawResponse {
            status,
            headers,
            body,
        })
    }
}

/// The header that carries the key, marked sensitive so it is never logged.
fn auth_header(auth: AuthStyle, secret: &Secret) -> Option<(HeaderName, HeaderValue)> {
    let name = HeaderName::from_static(auth.header());
    let text = auth.value(secret.expose());
    let text = zeroize::Zeroizing::new(text);
    let mut value = HeaderValue::from_str(&text).ok()?;
    value.set_sensitive(true);
    Some((name, value))
}

fn host_of(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| {
            Some(format!(
                "{}{}",
                u.host_str()?,
                u.port().map(|p| format!(":{p}")).unwrap_or_default()
            ))
        })
        .unwrap_or_else(|| url.to_owned())
}

/// A reqwest error in words, without the URL's query or anything from the request.
fn describe(host: &str, err: &reqwest::Error) -> FetchError {
    if err.is_timeout() {
        return FetchError::Timeout {
            host: host.to_owned(),
        };
    }
    if err.is_builder() {
        return FetchError::BadUrl(format!("cannot request {host}: the URL is not valid"));
    }
    let mut detail = String::new();
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(err);
    while let Some(cause) = source {
        detail = cause.to_string();
        source = cause.source();
    }
    if detail.is_empty() {
        detail = if err.is_connect() {
            "connection failed".into()
        } else {
            "the connection broke".into()
        };
    }
    FetchError::Unreachable {
        host: host.to_owned(),
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_map_rewrites_only_named_origins_to_loopback() {
        let map = HostMap::parse("https://api.moonshot.cn=http://127.0.0.1:4301/, https://api.kimi.com=http://localhost:9").unwrap();
        assert_eq!(
            map.rewrite("https://api.moonshot.cn/v1/users/me/balance"),
            "http://127.0.0.1:4301/v1/users/me/balance"
        );
        assert_eq!(
            map.rewrite("https://api.kimi.com/coding/v1/usages"),
            "http://localhost:9/coding/v1/usages"
        );
        assert_eq!(
            map.rewrite("https://api.moonshot.cnx/v1"),
            "https://api.moonshot.cnx/v1"
        );
        assert_eq!(
            map.rewrite("https://api.openai.com/v1/models"),
            "https://api.openai.com/v1/models"
        );
        assert!(
            HostMap::parse("https://api.openai.com=http://10.0.0.1:80")
                .unwrap_err()
                .contains("not a loopback")
        );
        assert!(HostMap::parse("garbage").is_err());
    }

    #[test]
    fn auth_headers_follow_the_provider_and_are_sensitive() {
        let secret = Secret::parse("sk-test-123").unwrap();
        let (name, value) = auth_header(AuthStyle::Bearer, &secret).unwrap();
        assert_eq!(
            (name.as_str(), value.to_str().unwrap()),
            ("authorization", "Bearer sk-test-123")
        );
        assert!(value.is_sensitive());
        assert!(!format!("{value:?}").contains("sk-test"));
        let (_, value) = auth_header(AuthStyle::RawAuthorization, &secret).unwrap();
        assert_eq!(value.to_str().unwrap(), "sk-test-123");
        let (name, _) = auth_header(AuthStyle::XApiKey, &secret).unwrap();
        assert_eq!(name.as_str(), "x-api-key");
        let (name, value) = auth_header(AuthStyle::GoogApiKey, &secret).unwrap();
        assert_eq!(
            (name.as_str(), value.to_str().unwrap()),
            ("x-goog-api-key", "sk-test-123")
        );
        let (name, value) = auth_header(AuthStyle::ApiKeyHeader, &secret).unwrap();
        assert_eq!(
            (name.as_str(), value.to_str().unwrap()),
            ("api-key", "sk-test-123")
        );
        assert!(value.is_sensitive());
    }
}
