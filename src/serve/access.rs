//! Who may use the local HTTP port: pure decisions on headers, so every refusal is a unit test.
//!
//! - Every route but `/healthz` needs the local token: `Authorization: Bearer`, `x-api-key`,
//!   or the dashboard's session cookie.
//! - `Host` must name a loopback address (unless `--allow-remote`): a web page that rebinds
//!   its own DNS name to 127.0.0.1 still sends its own name and is refused.
//! - A request from a browser page on another origin is refused.

use crate::keys::secret::Secret;
use http::header::{AUTHORIZATION, COOKIE, HOST, ORIGIN};
use http::{HeaderMap, StatusCode};

pub const SESSION_COOKIE: &str = "redline_session";

/// What a route is, for the access rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    Health,
    /// The dashboard, its assets and the JSON API.
    Local,
    /// `/<account-id>/...`: the proxy checks credentials itself (local token or observe-only).
    Proxy,
}

pub fn route_of(path: &str) -> Route {
    let first = path
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default();
    match first {
        "healthz" => Route::Health,
        "" | "api" | "ui" | "metrics" => Route::Local,
        _ => Route::Proxy,
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// 403: not a loopback host name.
    ForeignHost(String),
    /// 403: a page on another origin.
    CrossOrigin(String),
    /// 401: no or wrong token.
    NoToken,
}

impl Refusal {
    pub fn status(&self) -> StatusCode {
        match self {
            Refusal::NoToken => StatusCode::UNAUTHORIZED,
            _ => StatusCode::FORBIDDEN,
        }
    }

    pub fn message(&self) -> String {
        match self {
            Refusal::ForeignHost(host) => format!(
                "Redline only answers requests addressed to this machine (127.0.0.1 or localhost), not {host:?}"
            ),
            Refusal::CrossOrigin(origin) => {
                format!("Redline refuses requests from web pages on other sites ({origin})")
            }
            Refusal::NoToken => {
                "this needs Redline's local token: send `Authorization: Bearer <token>` (see `redline token`)".into()
            }
        }
    }
}

pub fn check(
    route: Route,
    headers: &HeaderMap,
    token: &Secret,
    allow_remote: bool,
) -> Result<(), Refusal> {
    let host = headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    if !allow_remote && !is_loopback_host(host) {
        return Err(Refusal::ForeignHost(host.chars().take(100).collect()));
    }
    if route == Route::Health {
        return Ok(());
    }
    if let Some(origin) = headers.get(ORIGIN).and_then(|o| o.to_str().ok()) {
        let same_origin = route == Route::Local && origin.strip_prefix("http://") == Some(host);
        if !same_origin {
            return Err(Refusal::CrossOrigin(origin.chars().take(100).collect()));
        }
    }
    if route == Route::Proxy
        || presented_token(headers).is_some_and(|t| token.matches(t.as_bytes()))
    {
        Ok(())
    } else {
        Err(Refusal::NoToken)
    }
}

/// `localhost`, `127.x.x.x` or `[::1]`, with or without a port.
pub fn is_loopback_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or_default()
    } else {
        host.rsplit_once(':').map_or(host, |(name, _)| name)
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The token from `Authorization: Bearer`, `x-api-key` or the session cookie.
pub fn presented_token(headers: &HeaderMap) -> Option<&str> {
    let header = |name| {
        headers
            .get(name)
            .and_then(|v: &http::HeaderValue| v.to_str().ok())
    };
    if let Some(bearer) = header(AUTHORIZATION).and_then(|a| a.strip_prefix("Bearer ")) {
        return Some(bearer.trim());
    }
    if let Some(key) = header(http::HeaderName::from_static("x-api-key")) {
        return Some(key.trim());
    }
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|cookies| cookies.split(';'))
        .find_map(|cookie| {
            cookie
                .trim()
                .strip_prefix(SESSION_COOKIE)?
                .strip_prefix('=')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "rl_0123456789abcdef";

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().unwrap());
        }
        map
    }

    fn run(route: Route, pairs: &[(&'static str, &str)]) -> Result<(), Refusal> {
        check(
            route,
            &headers(pairs),
            &Secret::parse(TOKEN).unwrap(),
            false,
        )
    }

    #[test]
    fn routes_are_told_apart_by_their_first_segment() {
        assert_eq!(route_of("/healthz"), Route::Health);
        for path in ["/", "/api/v1/status", "/ui/style.css", "/metrics"] {
            assert_eq!(route_of(path), Route::Local, "{path}");
        }
        assert_eq!(
            route_of("/kimi-main/coding/v1/chat/completions"),
            Route::Proxy
        );
    }

    #[test]
    fn the_token_is_accepted_in_three_places_and_nowhere_else() {
        let host = ("host", "127.0.0.1:4290");
        assert_eq!(
            run(
                Route::Local,
                &[host, ("authorization", &format!("Bearer {TOKEN}"))]
            ),
            Ok(())
        );
        assert_eq!(run(Route::Local, &[host, ("x-api-key", TOKEN)]), Ok(()));
        assert_eq!(
            run(
                Route::Local,
                &[
                    host,
                    ("cookie", &format!("theme=dark; {SESSION_COOKIE}={TOKEN}"))
                ]
            ),
            Ok(())
        );
        assert_eq!(run(Route::Local, &[host]), Err(Refusal::NoToken));
        assert_eq!(
            run(
                Route::Local,
                &[host, ("authorization", "Bearer rl_0123456789abcdeX")]
            ),
            Err(Refusal::NoToken)
        );
        assert_eq!(
            run(Route::Local, &[host, ("authorization", TOKEN)]),
            Err(Refusal::NoToken)
        );
        assert_eq!(run(Route::Health, &[host]), Ok(()));
        assert_eq!(
            run(Route::Proxy, &[host]),
            Ok(()),
            "the proxy checks credentials itself"
        );
    }

    #[test]
    fn foreign_hosts_are_refused_dns_rebinding() {
        let auth = ("authorization", "Bearer rl_0123456789abcdef");
        for host in [
            "127.0.0.1:4290",
            "localhost:4290",
            "LOCALHOST",
            "[::1]:4290",
            "127.1.2.3",
        ] {
            assert_eq!(run(Route::Local, &[("host", host), auth]), Ok(()), "{host}");
        }
        for host in [
            "evil.example:4290",
            "192.168.1.5:4290",
            "",
            "localhost.evil.example",
        ] {
            assert!(
                matches!(
                    run(Route::Local, &[("host", host), auth]),
                    Err(Refusal::ForeignHost(_))
                ),
                "{host}"
            );
            assert!(
                matches!(
                    run(Route::Health, &[("host", host)]),
                    Err(Refusal::ForeignHost(_))
                ),
                "{host}"
            );
        }
        let remote = check(
            Route::Health,
            &headers(&[("host", "192.168.1.5:4290")]),
            &Secret::parse(TOKEN).unwrap(),
            true,
        );
        assert_eq!(remote, Ok(()));
    }

    #[test]
    fn other_origins_are_refused() {
        let (host, auth) = (
            ("host", "127.0.0.1:4290"),
            ("authorization", "Bearer rl_0123456789abcdef"),
        );
        assert_eq!(
            run(
                Route::Local,
                &[host, auth, ("origin", "http://127.0.0.1:4290")]
            ),
            Ok(())
        );
        let evil = run(
            Route::Local,
            &[host, auth, ("origin", "https://evil.example")],
        );
        assert_eq!(
            evil,
            Err(Refusal::CrossOrigin("https://evil.example".into()))
        );
        assert_eq!(evil.unwrap_err().status(), StatusCode::FORBIDDEN);
        assert!(matches!(
            run(Route::Proxy, &[host, ("origin", "http://127.0.0.1:4290")]),
            Err(Refusal::CrossOrigin(_))
        ));
    }
}
