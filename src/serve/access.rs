//! Who may use the local HTTP port: pure decisions on headers, so every refusal is a unit test
//! (`docs/architecture.md` "Tokens and who may call what").
//!
//! - The dashboard, the JSON API and /metrics need the admin credential (`Authorization:
//!   Bearer` or `x-api-key`) or the dashboard's session cookie, whose value is a random secret
//!   of this engine run, never a credential. A tool token is refused there, with a message
//!   saying what it is for.
//! - `POST /api/v1/session` trades the admin credential, or a one-time sign-in code from
//!   `redline dashboard`, for that cookie.
//! - The proxy (`/<account-id>/...`) checks its credentials itself: tool tokens only.
//! - `Host` must name a loopback address (unless `--allow-remote`): a web page that rebinds
//!   its own DNS name to 127.0.0.1 still sends its own name and is refused.
//! - A request from a browser page on another origin is refused.

use crate::keys::credentials::{Credentials, Presented, bare};
use http::header::{AUTHORIZATION, COOKIE, HOST, ORIGIN};
use http::{HeaderMap, StatusCode};

pub use crate::keys::credentials::SESSION_COOKIE;

/// Where the dashboard trades a credential or a sign-in code for its session cookie.
pub const SESSION_PATH: &str = "/api/v1/session";

/// What a route is, for the access rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    Health,
    /// The dashboard, its assets, the JSON API and /metrics: the admin's.
    Local,
    /// `POST /api/v1/session`: the admin credential or a sign-in code.
    SignIn,
    /// `/<account-id>/...`: the proxy checks credentials itself (tool tokens only).
    Proxy,
}

pub fn route_of(path: &str) -> Route {
    if path == SESSION_PATH {
        return Route::SignIn;
    }
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
    /// 401: no credential, or a wrong one.
    NoToken,
    /// 403: a tool token, which opens the proxy only.
    ToolToken,
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
                "this needs Redline's admin credential: send `Authorization: Bearer <credential>` (`redline token --admin` prints it), or open the dashboard with `redline dashboard`".into()
            }
            Refusal::ToolToken => {
                "that is a tool token: it opens only the proxy (/<account-id>/...). The dashboard, the JSON API and /metrics need Redline's admin credential: open the dashboard with `redline dashboard`, or get the credential with `redline token --admin`".into()
            }
        }
    }
}

/// Whether the request may go on to `route`. At [`Route::SignIn`] a valid sign-in code is
/// used up.
pub fn check(
    route: Route,
    headers: &HeaderMap,
    credentials: &Credentials,
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
        let same_origin = route != Route::Proxy && origin.strip_prefix("http://") == Some(host);
        if !same_origin {
            return Err(Refusal::CrossOrigin(origin.chars().take(100).collect()));
        }
    }
    if route == Route::Proxy {
        return Ok(());
    }
    let mut refusal = Refusal::NoToken;
    for presented in presented_credentials(headers) {
        match credentials.identify(presented) {
            Presented::Admin => return Ok(()),
            Presented::SignInCode
                if route == Route::SignIn && credentials.redeem_sign_in_code(presented) =>
            {
                return Ok(());
            }
            Presented::Tool(_) => refusal = Refusal::ToolToken,
            _ => {}
        }
    }
    if session_cookie(headers).is_some_and(|s| credentials.session_secret().matches(s)) {
        return Ok(());
    }
    Err(refusal)
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

/// The credentials in `Authorization` (bare or `Bearer`) and `x-api-key`.
fn presented_credentials(headers: &HeaderMap) -> impl Iterator<Item = &[u8]> {
    let x_api_key = http::HeaderName::from_static("x-api-key");
    headers
        .get_all(AUTHORIZATION)
        .iter()
        .chain(headers.get_all(x_api_key))
        .map(|value| bare(value.as_bytes()))
        .filter(|value| !value.is_empty())
}

/// The value of the dashboard's session cookie, if the request has one.
pub fn session_cookie(headers: &HeaderMap) -> Option<&[u8]> {
    headers
        .get_all(COOKIE)
        .iter()
        .flat_map(|value| value.as_bytes().split(|&b| b == b';'))
        .find_map(|pair| {
            pair.trim_ascii()
                .strip_prefix(SESSION_COOKIE.as_bytes())?
                .strip_prefix(b"=")
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::secret::Secret;
    use crate::keys::token::{generate_admin, generate_token};
    use std::sync::{Arc, LazyLock};

    const HOST: (&str, &str) = ("host", "127.0.0.1:4290");

    struct Set {
        creds: Arc<Credentials>,
        tool: Secret,
        admin: Secret,
    }

    static SET: LazyLock<Set> = LazyLock::new(|| {
        let (tool, admin) = (generate_token(), generate_admin());
        Set {
            creds: Credentials::in_memory(&[("codex", tool.clone())], admin.clone()),
            tool,
            admin,
        }
    });

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().unwrap());
        }
        map
    }

    fn run(route: Route, pairs: &[(&'static str, &str)]) -> Result<(), Refusal> {
        check(route, &headers(pairs), &SET.creds, false)
    }

    fn admin_bearer() -> String {
        format!("Bearer {}", SET.admin.expose())
    }

    #[test]
    fn routes_are_told_apart_by_their_first_segment() {
        assert_eq!(route_of("/healthz"), Route::Health);
        for path in [
            "/",
            "/api/v1/status",
            "/ui/style.css",
            "/metrics",
            "/api/v1/session/code",
        ] {
            assert_eq!(route_of(path), Route::Local, "{path}");
        }
        assert_eq!(route_of("/api/v1/session"), Route::SignIn);
        assert_eq!(
            route_of("/kimi-main/coding/v1/chat/completions"),
            Route::Proxy
        );
    }

    #[test]
    fn the_admin_credential_and_the_session_open_the_dashboard_and_api() {
        let admin = SET.admin.expose();
        let session = format!(
            "theme=dark; {SESSION_COOKIE}={}",
            SET.creds.session_secret().expose()
        );
        for route in [Route::Local, Route::SignIn] {
            assert_eq!(
                run(route, &[HOST, ("authorization", &admin_bearer())]),
                Ok(())
            );
            assert_eq!(run(route, &[HOST, ("authorization", admin)]), Ok(()));
            assert_eq!(run(route, &[HOST, ("x-api-key", admin)]), Ok(()));
            assert_eq!(run(route, &[HOST, ("cookie", &session)]), Ok(()));
        }
        assert_eq!(run(Route::Health, &[HOST]), Ok(()));
        assert_eq!(
            run(Route::Proxy, &[HOST]),
            Ok(()),
            "the proxy checks credentials itself"
        );
    }

    #[test]
    fn tool_tokens_and_everything_else_are_refused() {
        let tool = SET.tool.expose();
        for route in [Route::Local, Route::SignIn] {
            for pairs in [
                [HOST, ("authorization", &format!("Bearer {tool}"))],
                [HOST, ("x-api-key", tool)],
            ] {
                let refused = run(route, &pairs).unwrap_err();
                assert_eq!(refused, Refusal::ToolToken);
                assert_eq!(refused.status(), StatusCode::FORBIDDEN);
                assert!(refused.message().contains("redline token --admin"));
            }
            for pairs in [
                vec![HOST],
                vec![HOST, ("authorization", "Bearer rl_0123456789abcdeX")],
                // The admin credential is no session cookie, nor a tool token one.
                vec![
                    HOST,
                    (
                        "cookie",
                        &format!("{SESSION_COOKIE}={}", SET.admin.expose()),
                    ),
                ],
                vec![HOST, ("cookie", &format!("{SESSION_COOKIE}={tool}"))],
                // The session secret opens nothing as a bearer credential.
                vec![
                    HOST,
                    (
                        "authorization",
                        &format!("Bearer {}", SET.creds.session_secret().expose()),
                    ),
                ],
            ] {
                assert_eq!(run(route, &pairs), Err(Refusal::NoToken), "{pairs:?}");
            }
        }
        assert!(Refusal::NoToken.message().contains("redline token --admin"));
    }

    #[test]
    fn a_sign_in_code_opens_the_session_route_once_and_nothing_else() {
        let code = SET.creds.issue_sign_in_code();
        let bearer = format!("Bearer {}", code.expose());
        assert_eq!(
            run(Route::Local, &[HOST, ("authorization", &bearer)]),
            Err(Refusal::NoToken)
        );
        assert_eq!(
            run(Route::SignIn, &[HOST, ("authorization", &bearer)]),
            Ok(())
        );
        assert_eq!(
            run(Route::SignIn, &[HOST, ("authorization", &bearer)]),
            Err(Refusal::NoToken),
            "used up"
        );
    }

    #[test]
    fn foreign_hosts_are_refused_dns_rebinding() {
        let auth = admin_bearer();
        let auth = ("authorization", auth.as_str());
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
            &SET.creds,
            true,
        );
        assert_eq!(remote, Ok(()));
    }

    #[test]
    fn other_origins_are_refused() {
        let auth = admin_bearer();
        let auth = ("authorization", auth.as_str());
        assert_eq!(
            run(
                Route::Local,
                &[HOST, auth, ("origin", "http://127.0.0.1:4290")]
            ),
            Ok(())
        );
        let evil = run(
            Route::Local,
            &[HOST, auth, ("origin", "https://evil.example")],
        );
        assert_eq!(
            evil,
            Err(Refusal::CrossOrigin("https://evil.example".into()))
        );
        assert_eq!(evil.unwrap_err().status(), StatusCode::FORBIDDEN);
        assert!(matches!(
            run(
                Route::SignIn,
                &[HOST, auth, ("origin", "https://evil.example")]
            ),
            Err(Refusal::CrossOrigin(_))
        ));
        assert!(matches!(
            run(Route::Proxy, &[HOST, ("origin", "http://127.0.0.1:4290")]),
            Err(Refusal::CrossOrigin(_))
        ));
    }
}
