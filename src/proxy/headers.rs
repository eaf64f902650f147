//! Which headers cross the proxy: a tool token becomes the account's key, and none of
//! Redline's own credentials leaves for the provider, in any header.

use crate::keys::credentials::{Credentials, Presented, SESSION_COOKIE, bare};
use crate::keys::secret::Secret;
use crate::tools::request_tool::X_REDLINE_TOOL;
use http::header::{AUTHORIZATION, CONNECTION, COOKIE, HOST};
use http::{HeaderMap, HeaderName, HeaderValue};
use std::sync::Arc;

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
/// Where Google's Gemini API and its SDKs (Gemini CLI with an API key) send the key.
pub const X_GOOG_API_KEY: HeaderName = HeaderName::from_static("x-goog-api-key");

/// Azure OpenAI's key header.
pub const API_KEY: HeaderName = HeaderName::from_static("api-key");

/// The headers a client's key can come in, each swapped for the account's key in the same
/// header (`Authorization` as `Bearer <key>`, the others bare: `x-api-key` for Anthropic,
/// `x-goog-api-key` for Gemini, `api-key` for Azure OpenAI).
const KEY_HEADERS: [HeaderName; 4] = [AUTHORIZATION, X_API_KEY, X_GOOG_API_KEY, API_KEY];

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

/// What a client presented to the proxy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credential {
    /// A tool token (with its tool's name), in one of [`KEY_HEADERS`]: swapped for the
    /// account's key.
    Tool(Arc<str>),
    /// Redline's admin credential: refused, tools must not hold it.
    Admin,
    /// A Redline token this engine does not know (revoked, replaced), or a Redline credential
    /// that never opens the proxy (the dashboard's session): refused.
    Unknown,
    /// Some other key: forwarded as it is (observe-only mode).
    Other,
    Missing,
}

impl Credential {
    /// When several headers present something: a tool token wins (the other headers are
    /// stripped), then whatever must be refused.
    fn rank(&self) -> u8 {
        match self {
            Credential::Tool(_) => 4,
            Credential::Admin => 3,
            Credential::Unknown => 2,
            Credential::Other => 1,
            Credential::Missing => 0,
        }
    }
}

pub fn credential(headers: &HeaderMap, credentials: &Credentials) -> Credential {
    let mut found = Credential::Missing;
    for name in KEY_HEADERS {
        for value in headers.get_all(&name) {
            let this = match credentials.identify(bare(value.as_bytes())) {
                Presented::Tool(tool) => return Credential::Tool(tool),
                Presented::Admin => Credential::Admin,
                Presented::Session | Presented::SignInCode | Presented::UnknownRedline => {
                    Credential::Unknown
                }
                Presented::Other if value.as_bytes().trim_ascii().is_empty() => continue,
                Presented::Other => Credential::Other,
            };
            if this.rank() > found.rank() {
                found = this;
            }
        }
    }
    found
}

/// The account's key cannot be put in a header (characters HTTP does not allow).
#[derive(Debug)]
pub struct UnusableKey;

/// Replaces a tool token with `key` in the header that carried it: `Authorization: Bearer
/// <key>`, `x-api-key: <key>` or `x-goog-api-key: <key>`, marked sensitive.
pub fn swap_token(
    headers: &mut HeaderMap,
    credentials: &Credentials,
    key: &Secret,
) -> Result<(), UnusableKey> {
    for name in KEY_HEADERS {
        let carries_token = headers
            .get_all(&name)
            .iter()
            .any(|v| matches!(credentials.identify(bare(v.as_bytes())), Presented::Tool(_)));
        if carries_token {
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

/// Removes Redline's credentials from headers on their way to a provider: every header whose
/// value holds a tool token, the admin credential, the session secret or a sign-in code
/// (`X-Custom-Token: <token>`), and from `Cookie` only the pairs that hold one, and Redline's
/// session cookie whatever it holds. Run after [`swap_token`]. Leaves the map as it is (no
/// copy) when there is nothing to remove, the common case.
pub fn strip_credentials(headers: &mut HeaderMap, credentials: &Credentials) {
    let leaks = |name: &HeaderName, value: &HeaderValue| {
        holds_credential(value, credentials)
            || (name == COOKIE && cookie_pairs(value).any(is_session_pair))
    };
    if !headers.iter().any(|(name, value)| leaks(name, value)) {
        return;
    }
    let mut current: Option<HeaderName> = None;
    for (name, value) in std::mem::take(headers) {
        if let Some(name) = name {
            current = Some(name);
        }
        let name = current
            .clone()
            .expect("a header map's first entry has a name");
        if name == COOKIE {
            if let Some(kept) = cookie_without_credentials(&value, credentials) {
                headers.append(name, kept);
            }
        } else if !holds_credential(&value, credentials) {
            headers.append(name, value);
        }
    }
}

/// A Redline credential in the value as it is, or inside the base64 of `Basic user:password`.
fn holds_credential(value: &HeaderValue, credentials: &Credentials) -> bool {
    use base64::Engine as _;
    let bytes = value.as_bytes();
    if credentials.appears_in(bytes) {
        return true;
    }
    let Some(encoded) = bytes
        .get(..6)
        .filter(|scheme| scheme.eq_ignore_ascii_case(b"basic "))
        .map(|_| bytes[6..].trim_ascii())
    else {
        return false;
    };
    base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map(zeroize::Zeroizing::new)
        .is_ok_and(|decoded| credentials.appears_in(&decoded))
}

/// The path and query without the query pairs that hold a Redline credential
/// (`?key=rl_…`): a tool may put its key there, and Redline never passes one on. `None` when
/// nothing is removed, the common case.
pub fn strip_query_credentials(path_and_query: &str, credentials: &Credentials) -> Option<String> {
    let (path, query) = path_and_query.split_once('?')?;
    // Decoded only when percent-encoded: most pairs are checked as they are, without a copy.
    let holds = |pair: &str| {
        credentials.appears_in(pair.as_bytes())
            || (pair.contains('%') && {
                let decoded: String = url::form_urlencoded::parse(pair.as_bytes())
                    .flat_map(|(name, value)| [name, value])
                    .collect();
                credentials.appears_in(decoded.as_bytes())
            })
    };
    if !query.split('&').any(holds) {
        return None;
    }
    let kept: Vec<&str> = query.split('&').filter(|pair| !holds(pair)).collect();
    Some(match kept.is_empty() {
        true => path.to_owned(),
        false => format!("{path}?{}", kept.join("&")),
    })
}

fn cookie_pairs(value: &HeaderValue) -> impl Iterator<Item = &[u8]> {
    value
        .as_bytes()
        .split(|&b| b == b';')
        .map(<[u8]>::trim_ascii)
        .filter(|pair| !pair.is_empty())
}

fn is_session_pair(pair: &[u8]) -> bool {
    let name = pair.split(|&b| b == b'=').next().unwrap_or_default();
    name.trim_ascii() == SESSION_COOKIE.as_bytes()
}

/// The cookie header without Redline's pairs; `None` when nothing is left.
fn cookie_without_credentials(
    value: &HeaderValue,
    credentials: &Credentials,
) -> Option<HeaderValue> {
    let kept: Vec<&[u8]> = cookie_pairs(value)
        .filter(|pair| !is_session_pair(pair) && !credentials.appears_in(pair))
        .collect();
    if kept.is_empty() {
        return None;
    }
    let mut joined = zeroize::Zeroizing::new(Vec::with_capacity(value.len()));
    for (i, pair) in kept.iter().enumerate() {
        if i > 0 {
            joined.extend_from_slice(b"; ");
        }
        joined.extend_from_slice(pair);
    }
    let mut value = HeaderValue::from_bytes(&joined).ok()?;
    value.set_sensitive(true);
    Some(value)
}

/// Marks every credential header sensitive, so the HTTP stack never prints one.
pub fn mark_sensitive(headers: &mut HeaderMap) {
    for name in KEY_HEADERS {
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

    const ADMIN: &str = "rl_admin_0123456789abcdef0123456789abcdef";
    const OTHER_TOOL: &str = "rl_fedcba9876543210fedcba9876543210";

    fn credentials() -> Arc<Credentials> {
        Credentials::in_memory(
            &[
                ("default", Secret::parse(TOKEN).unwrap()),
                ("codex", Secret::parse(OTHER_TOOL).unwrap()),
            ],
            Secret::parse(ADMIN).unwrap(),
        )
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
    fn tool_tokens_are_recognised_in_either_header_with_their_name() {
        let creds = credentials();
        let bearer = format!("Bearer {TOKEN}");
        let lower = format!("bearer {TOKEN}");
        let tool = |name: &str| Credential::Tool(name.into());
        for headers in [
            map(&[("authorization", &bearer)]),
            map(&[("authorization", &lower)]),
            map(&[("authorization", TOKEN)]),
            map(&[("x-api-key", TOKEN)]),
            map(&[("authorization", "Bearer sk-other"), ("x-api-key", TOKEN)]),
            map(&[
                ("authorization", &format!("Bearer {ADMIN}")),
                ("x-api-key", TOKEN),
            ]),
        ] {
            assert_eq!(credential(&headers, &creds), tool("default"), "{headers:?}");
        }
        assert_eq!(
            credential(&map(&[("x-api-key", OTHER_TOOL)]), &creds),
            tool("codex")
        );
        let near = format!("Bearer {}x", &TOKEN[..TOKEN.len() - 1]);
        for headers in [
            map(&[("authorization", "Bearer sk-real-key")]),
            map(&[("x-api-key", "sk-ant-real")]),
        ] {
            assert_eq!(credential(&headers, &creds), Credential::Other);
        }
        assert_eq!(credential(&map(&[]), &creds), Credential::Missing);
        assert_eq!(
            credential(&map(&[("authorization", " ")]), &creds),
            Credential::Missing
        );
        // Redline's other credentials, and tokens it does not know, never open the proxy.
        let session = format!("Bearer {}", creds.session_secret().expose());
        for (headers, expected) in [
            (
                map(&[("authorization", &format!("Bearer {ADMIN}"))]),
                Credential::Admin,
            ),
            (
                map(&[("x-api-key", ADMIN), ("authorization", "Bearer sk-real")]),
                Credential::Admin,
            ),
            (map(&[("authorization", &near)]), Credential::Unknown),
            (map(&[("authorization", &session)]), Credential::Unknown),
            (
                map(&[("authorization", "Bearer sk-real"), ("x-api-key", &near)]),
                Credential::Unknown,
            ),
        ] {
            assert_eq!(credential(&headers, &creds), expected, "{headers:?}");
        }
    }

    #[test]
    fn the_token_is_swapped_in_the_header_that_carried_it() {
        let (creds, key) = (credentials(), Secret::parse("sk-real-0001").unwrap());
        let mut headers = map(&[("authorization", &format!("Bearer {TOKEN}"))]);
        swap_token(&mut headers, &creds, &key).unwrap();
        assert_eq!(headers["authorization"], "Bearer sk-real-0001");
        assert!(headers["authorization"].is_sensitive());
        assert!(!headers.contains_key("x-api-key"));

        let mut headers = map(&[
            ("x-api-key", OTHER_TOOL),
            ("anthropic-version", "2023-06-01"),
        ]);
        swap_token(&mut headers, &creds, &key).unwrap();
        assert_eq!(headers["x-api-key"], "sk-real-0001");
        assert!(headers["x-api-key"].is_sensitive());
        assert!(!headers.contains_key("authorization"));
        assert!(!format!("{headers:?}").contains("sk-real"));

        // Gemini's header: the bare key, as the tool sent its token.
        let mut headers = map(&[("x-goog-api-key", TOKEN)]);
        assert_eq!(
            credential(&headers, &creds),
            Credential::Tool("default".into())
        );
        swap_token(&mut headers, &creds, &key).unwrap();
        assert_eq!(headers["x-goog-api-key"], "sk-real-0001");
        assert!(headers["x-goog-api-key"].is_sensitive());
        assert!(!headers.contains_key("authorization") && !headers.contains_key("x-api-key"));
        strip_credentials(&mut headers, &creds);
        assert_eq!(headers["x-goog-api-key"], "sk-real-0001");

        let mut other = map(&[("authorization", "Bearer sk-theirs")]);
        swap_token(&mut other, &creds, &key).unwrap();
        assert_eq!(other["authorization"], "Bearer sk-theirs");
        mark_sensitive(&mut other);
        assert!(other["authorization"].is_sensitive());
    }

    #[test]
    fn a_token_in_azures_api_key_header_becomes_the_key_there_and_nowhere_else() {
        let (creds, key) = (credentials(), Secret::parse("azure-real-key-0001").unwrap());
        let mut headers = map(&[("api-key", TOKEN), ("content-type", "application/json")]);
        assert_eq!(
            credential(&headers, &creds),
            Credential::Tool("default".into())
        );
        swap_token(&mut headers, &creds, &key).unwrap();
        strip_credentials(&mut headers, &creds);
        assert_eq!(headers["api-key"], "azure-real-key-0001");
        assert!(headers["api-key"].is_sensitive());
        assert!(!headers.contains_key("authorization"));
        assert!(!headers.contains_key("x-api-key"));
        let shown = format!("{headers:?}");
        assert!(
            !shown.contains("azure-real") && !shown.contains(TOKEN),
            "{shown}"
        );

        // The admin credential there is refused like in any other key header.
        let admin = map(&[("api-key", ADMIN)]);
        assert_eq!(credential(&admin, &creds), Credential::Admin);
        // A client's own Azure key passes as it is (observe-only), marked sensitive.
        let mut own = map(&[("api-key", "their-azure-key")]);
        assert_eq!(credential(&own, &creds), Credential::Other);
        swap_token(&mut own, &creds, &key).unwrap();
        mark_sensitive(&mut own);
        assert_eq!(own["api-key"], "their-azure-key");
        assert!(own["api-key"].is_sensitive());
    }

    #[test]
    fn redline_credentials_never_leave_in_any_header() {
        let creds = credentials();
        let session = creds.session_secret().expose().to_owned();
        let mut headers = map(&[
            ("authorization", "Bearer sk-real-0001"),
            ("x-custom-token", TOKEN),
            ("x-other", &format!("prefix {OTHER_TOOL} suffix")),
            ("x-admin", ADMIN),
            (
                "cookie",
                &format!("theme=dark; redline_session={session}; lang=en"),
            ),
            ("cookie", &format!("tok={TOKEN}")),
            ("cookie", "redline_session=stale-from-an-old-start"),
            ("x-trace", "a"),
            ("x-trace", "b"),
            ("content-type", "application/json"),
        ]);
        strip_credentials(&mut headers, &creds);
        assert_eq!(
            names(&headers),
            ["authorization", "cookie", "x-trace", "content-type"]
        );
        let cookies: Vec<_> = headers.get_all("cookie").iter().collect();
        assert_eq!(cookies, ["theme=dark; lang=en"]);
        let traces: Vec<_> = headers.get_all("x-trace").iter().collect();
        assert_eq!(traces, ["a", "b"], "the other headers keep their order");
        let text = format!("{headers:?}");
        for secret in [TOKEN, OTHER_TOOL, ADMIN, &session] {
            assert!(!text.contains(secret), "{text}");
        }

        // Nothing of Redline's: the map is left as it was.
        let clean = map(&[
            ("authorization", "Bearer sk-real"),
            ("cookie", "a=1; b=2"),
            ("x-note", "rl_ is just text here"),
        ]);
        let mut same = clean.clone();
        strip_credentials(&mut same, &creds);
        assert_eq!(same, clean);
        let mut only_ours = map(&[("cookie", &format!("redline_session={session}"))]);
        strip_credentials(&mut only_ours, &creds);
        assert!(only_ours.is_empty());
    }

    #[test]
    fn credentials_hidden_in_basic_auth_or_the_query_are_removed_too() {
        use base64::Engine as _;
        let creds = credentials();
        let basic = |pair: &str| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            )
        };
        let mut headers = map(&[
            ("authorization", &basic(&format!("user:{TOKEN}"))),
            ("proxy-authorization", &basic(&format!("{ADMIN}:"))),
            ("x-basic-lookalike", &basic("user:sk-real-0001")),
        ]);
        strip_credentials(&mut headers, &creds);
        assert_eq!(names(&headers), ["x-basic-lookalike"]);

        let strip = |path: &str| strip_query_credentials(path, &creds);
        assert_eq!(
            strip(&format!("/v1/models?key={TOKEN}&alt=sse")).as_deref(),
            Some("/v1/models?alt=sse")
        );
        // Percent-encoded (`_` as %5F) and alone in the query.
        let encoded = TOKEN.replace('_', "%5F");
        assert_eq!(
            strip(&format!("/v1/models?api_key={encoded}")).as_deref(),
            Some("/v1/models")
        );
        assert_eq!(strip("/v1/models?alt=sse&key=sk-real"), None);
        assert_eq!(strip("/v1/models"), None);
    }
}
