//! Which headers cross the proxy, and how Redline's local token becomes the account's key.

use crate::keys::secret::Secret;
use crate::tools::request_tool::X_REDLINE_TOOL;
use http::header::{AUTHORIZATION, CONNECTION, HOST};
use http::{HeaderMap, HeaderName, HeaderValue};

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1), and are never
/// forwarded. `expect` is answered by the local server already (it sent the `100 Continue`).
const HOP_BY_HOP: [&str; 11] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "expect",
];

pub const X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");

/// `headers` without the hop-by-hop ones, any header `Connection` names, `Host` (the HTTP
/// client sets it from the upstream URL) and `X-Redline-Tool` (addressed to Redline, which
/// names the tool by it). Everything else, `content-length`,
/// `accept-encoding` and `content-encoding` included, passes untouched and in order.
pub fn end_to_end(headers: &HeaderMap) -> HeaderMap {
    let named = connection_named(headers);
    let mut kept = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        if !crosses(name, &named) {
            continue;
        }
        kept.append(name.clone(), value.clone());
    }
    kept
}

/// [`end_to_end`] for a map the caller owns: returned as it is when every header crosses
/// (an answer without `Connection` or `Transfer-Encoding`, the common case), else copied.
pub fn into_end_to_end(headers: HeaderMap) -> HeaderMap {
    let named = connection_named(&headers);
    if headers.keys().all(|name| crosses(name, &named)) {
        headers
    } else {
        end_to_end(&headers)
    }
}

fn crosses(name: &HeaderName, connection_named: &[String]) -> bool {
    let text = name.as_str();
    !(name == HOST
        || *name == X_REDLINE_TOOL
        || HOP_BY_HOP.contains(&text)
        || connection_named.iter().any(|n| n == text))
}

/// The header names a `Connection` header lists, lowercased.
fn connection_named(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|token| token.trim().to_ascii_lowercase())
        .filter(|token| !token.is_empty())
        .collect()
}

/// What a client presented.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Credential {
    /// Redline's local token, in `Authorization` or `x-api-key`.
    LocalToken,
    /// Some other key: forwarded as it is (observe-only mode).
    Other,
    Missing,
}

pub fn credential(headers: &HeaderMap, token: &Secret) -> Credential {
    let mut other = false;
    for name in [AUTHORIZATION, X_API_KEY] {
        for value in headers.get_all(&name) {
            if presents_token(value, token) {
                return Credential::LocalToken;
            }
            other |= !value.as_bytes().trim_ascii().is_empty();
        }
    }
    if other {
        Credential::Other
    } else {
        Credential::Missing
    }
}

/// Whether `value` is the token, bare or after a `Bearer ` scheme (any case).
fn presents_token(value: &HeaderValue, token: &Secret) -> bool {
    let bytes = value.as_bytes().trim_ascii();
    let credential = match bytes.get(..7) {
        Some(scheme) if scheme.eq_ignore_ascii_case(b"bearer ") => bytes[7..].trim_ascii(),
        _ => bytes,
    };
    token.matches(credential)
}

/// The account's key cannot be put in a header (characters HTTP does not allow).
#[derive(Debug)]
pub struct UnusableKey;

/// Replaces the local token with `key` in the header that carried it: `Authorization: Bearer
/// <key>` or `x-api-key: <key>`, marked sensitive.
pub fn swap_token(
    headers: &mut HeaderMap,
    token: &Secret,
    key: &Secret,
) -> Result<(), UnusableKey> {
    for name in [AUTHORIZATION, X_API_KEY] {
        if headers
            .get_all(&name)
            .iter()
            .any(|v| presents_token(v, token))
        {
            let text = match name == AUTHORIZATION {
                true => zeroize::Zeroizing::new(format!("Bearer {}", key.expose())),
                false => zeroize::Zeroizing::new(key.expose().to_owned()),
            };
            let mut value = HeaderValue::from_str(&text).map_err(|_| UnusableKey)?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
    }
    Ok(())
}

/// Marks every credential header sensitive, so the HTTP stack never prints one.
pub fn mark_sensitive(headers: &mut HeaderMap) {
    for name in [AUTHORIZATION, X_API_KEY] {
        if let http::header::Entry::Occupied(mut entry) = headers.entry(name) {
            entry.iter_mut().for_each(|v| v.set_sensitive(true));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(
                HeaderName::try_from(*name).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        headers
    }

    fn names(headers: &HeaderMap) -> Vec<&str> {
        headers.keys().map(HeaderName::as_str).collect()
    }

    const TOKEN: &str = "rl_0123456789abcdef0123456789abcdef";

    fn token() -> Secret {
        Secret::parse(TOKEN).unwrap()
    }

    #[test]
    fn hop_by_hop_and_connection_named_headers_are_dropped() {
        let incoming = map(&[
            ("host", "127.0.0.1:4290"),
            ("connection", "keep-alive, X-Trace-Hop"),
            ("keep-alive", "timeout=5"),
            ("x-trace-hop", "1"),
            ("te", "trailers"),
            ("trailer", "x-checksum"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "h2c"),
            ("proxy-authorization", "Basic abc"),
            ("proxy-connection", "keep-alive"),
            ("expect", "100-continue"),
            ("content-type", "application/json"),
            ("content-length", "42"),
            ("accept-encoding", "gzip, br"),
            ("x-custom", "a"),
            ("X-Redline-Tool", "nightly-batch"),
            ("x-custom", "b"),
        ]);
        let kept = end_to_end(&incoming);
        assert_eq!(
            names(&kept),
            [
                "content-type",
                "content-length",
                "accept-encoding",
                "x-custom"
            ]
        );
        let custom: Vec<_> = kept.get_all("x-custom").iter().collect();
        assert_eq!(custom, ["a", "b"]);
        assert_eq!(kept["accept-encoding"], "gzip, br");
        assert_eq!(
            into_end_to_end(incoming),
            kept,
            "the owned form filters alike"
        );

        let clean = map(&[
            ("content-type", "text/event-stream"),
            ("x-a", "1"),
            ("x-a", "2"),
        ]);
        assert_eq!(
            into_end_to_end(clean.clone()),
            clean,
            "nothing to drop: kept as is"
        );
        let named = map(&[("x-b", "1"), ("connection", "x-b"), ("x-c", "2")]);
        assert_eq!(names(&into_end_to_end(named)), ["x-c"]);
    }

    #[test]
    fn the_local_token_is_recognised_in_either_header() {
        let token = token();
        let bearer = format!("Bearer {TOKEN}");
        let lower = format!("bearer {TOKEN}");
        for headers in [
            map(&[("authorization", &bearer)]),
            map(&[("authorization", &lower)]),
            map(&[("authorization", TOKEN)]),
            map(&[("x-api-key", TOKEN)]),
            map(&[("authorization", "Bearer sk-other"), ("x-api-key", TOKEN)]),
        ] {
            assert_eq!(credential(&headers, &token), Credential::LocalToken);
        }
        let near = format!("Bearer {}x", &TOKEN[..TOKEN.len() - 1]);
        for headers in [
            map(&[("authorization", "Bearer sk-real-key")]),
            map(&[("x-api-key", "sk-ant-real")]),
            map(&[("authorization", &near)]),
        ] {
            assert_eq!(credential(&headers, &token), Credential::Other);
        }
        assert_eq!(credential(&map(&[]), &token), Credential::Missing);
        assert_eq!(
            credential(&map(&[("authorization", " ")]), &token),
            Credential::Missing
        );
    }

    #[test]
    fn the_token_is_swapped_in_the_header_that_carried_it() {
        let (token, key) = (token(), Secret::parse("sk-real-0001").unwrap());
        let mut headers = map(&[("authorization", &format!("Bearer {TOKEN}"))]);
        swap_token(&mut headers, &token, &key).unwrap();
        assert_eq!(headers["authorization"], "Bearer sk-real-0001");
        assert!(headers["authorization"].is_sensitive());
        assert!(!headers.contains_key("x-api-key"));

        let mut headers = map(&[("x-api-key", TOKEN), ("anthropic-version", "2023-06-01")]);
        swap_token(&mut headers, &token, &key).unwrap();
        assert_eq!(headers["x-api-key"], "sk-real-0001");
        assert!(headers["x-api-key"].is_sensitive());
        assert!(!headers.contains_key("authorization"));
        assert!(!format!("{headers:?}").contains("sk-real"));

        let mut other = map(&[("authorization", "Bearer sk-theirs")]);
        swap_token(&mut other, &token, &key).unwrap();
        assert_eq!(other["authorization"], "Bearer sk-theirs");
        mark_sensitive(&mut other);
        assert!(other["authorization"].is_sensitive());
    }
}
