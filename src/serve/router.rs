//! The local HTTP port (default 127.0.0.1:4290): the dashboard at `/` (assets under `/ui/`),
//! the JSON API under `/api/v1/`, `/healthz`, and everything else `/<account-id>/...` for the
//! proxy. One router, served by `redline daemon` and inside the desktop app.
//!
//! Every route but the proxy is in one table ([`endpoints`]), so a test can try each one with
//! each kind of credential and a new route cannot be left out.

use super::access::{self, Refusal, Route, SESSION_COOKIE};
use super::api_routes;
use crate::history::store::Store;
use crate::keys::Keys;
use crate::keys::credentials::{Credentials, SIGN_IN_CODE_LIFETIME};
use crate::poll::monitor::Monitor;
use crate::proxy::{Proxy, ProxyAnswer, redline_error, split_account};
use crate::serve::api::Api;
use crate::serve::listener::Connections;
use crate::serve::metrics::Metrics;
use axum::Router;
use axum::extract::{Request, State};
use axum::handler::Handler;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{MethodRouter, get, post};
use std::sync::Arc;

/// The dashboard's files (name, contents, MIME type), compiled in so the binary serves them
/// from anywhere. `build.rs` lists every file in `ui/`.
const ASSETS: &[(&str, &[u8], &str)] = include!(concat!(env!("OUT_DIR"), "/ui_assets.rs"));

/// Shown to a browser that has no session yet: it trades the `#token=` fragment of the link
/// `redline dashboard` opens (a one-time sign-in code) or `redline demo` prints for a session
/// cookie, and takes the fragment out of the address. The fragment never reaches a server log.
const SIGN_IN_PAGE: &str = r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Redline</title></head>
<body><main><h1>Redline</h1><p id="msg">Run <code>redline dashboard</code> to open the dashboard signed in (or open the link printed by <code>redline demo</code>).</p></main>
<script>
const token = new URLSearchParams(location.hash.slice(1)).get("token");
if (token) {
  history.replaceState(null, "", location.pathname);
  fetch("/api/v1/session", {method: "POST", headers: {authorization: "Bearer " + token}})
    .then(r => r.ok ? location.replace("/ui/") : document.getElementById("msg").textContent = "That link was not accepted (a link from `redline dashboard` works once, for two minutes): run `redline dashboard` again.");
}
</script></body></html>"#;

#[derive(Clone)]
pub struct AppState {
    /// Tool tokens, the admin credential, the dashboard's session secret.
    pub credentials: Arc<Credentials>,
    pub allow_remote: bool,
    pub monitor: Arc<Monitor>,
    pub keys: Keys,
    pub proxy: Proxy,
    /// What the JSON API (and the desktop app) asks of the engine.
    pub api: Api,
    pub metrics: Metrics,
    /// `None` when the history database could not be opened (the daemon said why).
    pub history: Option<Store>,
    /// The port's open connections and their bounds (`serve::listener`).
    pub connections: Connections,
}

/// Every route of the port but the proxy, with its handler: the one list [`router`] serves
/// and [`endpoints`] reports.
fn table() -> Vec<(Method, &'static str, MethodRouter<AppState>)> {
    let mut table: Vec<(Method, &'static str, MethodRouter<AppState>)> = vec![
        (Method::GET, "/healthz", get(|| async { "ok\n" })),
        (Method::GET, "/", get(|| async { Redirect::to("/ui/") })),
        (Method::GET, "/ui/", get(|| async { asset("index.html") })),
        (
            Method::GET,
            "/ui/{file}",
            get(
                |axum::extract::Path(file): axum::extract::Path<String>| async move { asset(&file) },
            ),
        ),
        (Method::POST, access::SESSION_PATH, post(session)),
        (Method::POST, "/api/v1/session/code", post(sign_in_code)),
        (Method::GET, "/api/v1/history", get(history)),
        (Method::GET, "/metrics", get(metrics)),
    ];
    table.extend(api_routes::routes());
    table
}

/// Every method and path the port serves besides the proxy (`/ui/{file}`, `/api/v1/keys/{id}`
/// with their parameters as placeholders).
pub fn endpoints() -> Vec<(Method, &'static str)> {
    table()
        .into_iter()
        .map(|(method, path, _)| (method, path))
        .collect()
}

/// What the local port serves: a proxy request goes straight to the proxy after the access
/// check, every other request through the router. Routing and middleware cost about 7 % of
/// the proxy's CPU per request (axum's router, `from_fn` and their boxed futures, in a `perf`
/// profile at 32 clients) on the path every tool's request takes, where they decided nothing.
pub struct Port {
    router: Router,
    proxy: Proxy,
    credentials: Arc<Credentials>,
    allow_remote: bool,
}

impl Port {
    pub async fn answer(&self, request: Request) -> Response {
        if access::route_of(request.uri().path()) != Route::Proxy {
            let mut router = self.router.clone();
            let Ok(answer) = tower_service::Service::call(&mut router, request).await;
            return answer;
        }
        match access::check(
            Route::Proxy,
            request.headers(),
            &self.credentials,
            self.allow_remote,
        ) {
            Ok(()) => proxy(State(self.proxy.clone()), request).await,
            Err(refusal) => refused(Route::Proxy, request.uri().path(), refusal),
        }
    }
}

pub fn router(state: AppState) -> Port {
    let mut router = Router::new();
    for (_, path, handler) in table() {
        // Routes of one path with several methods merge.
        router = router.route(path, handler);
    }
    let router = router
        // A path the table does not have (`/api/v1/nothing`): the proxy answers, as it
        // answers a path without an account. With its own state (an `Arc`): the router's
        // state would be cloned per request.
        .fallback_service(proxy.with_state(state.proxy.clone()))
        .layer(middleware::from_fn_with_state(
            Arc::new(state.clone()),
            guard,
        ))
        .with_state(state.clone());
    Port {
        router,
        proxy: state.proxy,
        credentials: state.credentials,
        allow_remote: state.allow_remote,
    }
}

/// Applies the access rules to every request the router sees (all but the proxy's), and marks
/// Redline's own answers. The state is behind an `Arc` because the middleware clones it per
/// request.
async fn guard(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let route = access::route_of(path);
    let mut response = match access::check(
        route,
        request.headers(),
        &state.credentials,
        state.allow_remote,
    ) {
        Ok(()) => next.run(request).await,
        Err(refusal) => refused(route, path, refusal),
    };
    // Redline's own answers are never sniffed or framed (the provider's, on the proxy route,
    // do not pass here: they go as they came).
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("frame-ancestors 'none'"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// The answer to a request the access rules refused: the sign-in page for a dashboard page
/// opened without a session, a JSON error otherwise.
fn refused(route: Route, path: &str, refusal: Refusal) -> Response {
    match refusal {
        Refusal::NoToken
            if route == Route::Local && !path.starts_with("/api/") && path != "/metrics" =>
        {
            (
                StatusCode::UNAUTHORIZED,
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                SIGN_IN_PAGE,
            )
                .into_response()
        }
        refusal => redline_error(refusal.status(), "redline_forbidden", &refusal.message()),
    }
}

fn asset(name: &str) -> Response {
    match ASSETS.iter().find(|(file, _, _)| *file == name) {
        Some((_, body, mime)) => (
            [
                (header::CONTENT_TYPE, *mime),
                // A new binary may serve new files under the same names.
                (header::CACHE_CONTROL, "no-cache"),
            ],
            *body,
        )
            .into_response(),
        None => redline_error(
            StatusCode::NOT_FOUND,
            "redline_not_found",
            &format!("no dashboard file named {name:?}"),
        ),
    }
}

/// Trades the admin credential or a sign-in code (checked by the guard) for an HttpOnly,
/// same-site session cookie holding this engine's session secret: never a credential, and
/// refused by the proxy.
async fn session(State(state): State<AppState>) -> Response {
    let cookie = zeroize::Zeroizing::new(format!(
        "{SESSION_COOKIE}={}; HttpOnly; SameSite=Strict; Path=/",
        state.credentials.session_secret().expose()
    ));
    let mut response = StatusCode::NO_CONTENT.into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        let mut value = value;
        value.set_sensitive(true);
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// A one-time sign-in code for `redline dashboard`'s link: usable once, within
/// [`SIGN_IN_CODE_LIFETIME`], at `POST /api/v1/session` only.
async fn sign_in_code(State(state): State<AppState>) -> Response {
    let code = state.credentials.issue_sign_in_code();
    let body = serde_json::json!({
        "code": code.expose(),
        "expires_in_s": SIGN_IN_CODE_LIFETIME.as_secs(),
    });
    ([(header::CACHE_CONTROL, "no-store")], axum::Json(body)).into_response()
}

#[derive(serde::Deserialize)]
struct HistoryQuery {
    account: Option<String>,
    range: Option<String>,
}

/// The series the dashboard's charts draw, for one account over a day or a week.
async fn history(
    State(state): State<AppState>,
    query: axum::extract::Query<HistoryQuery>,
) -> Response {
    let bad =
        |message: &str| redline_error(StatusCode::BAD_REQUEST, "redline_bad_request", message);
    let Some(account) = query.account.clone() else {
        return bad("add ?account=ID (an account id from /api/v1/status)");
    };
    let range = query.range.as_deref().unwrap_or("day");
    match state.api.history(&account, range).await {
        Ok(history) => axum::Json(history).into_response(),
        Err(err) => err.into_response(),
    }
}

/// Prometheus / OpenMetrics text (see `metrics.rs` for the names).
async fn metrics(State(state): State<AppState>) -> Response {
    let status = state.api.status();
    let stats = state.history.as_ref().map(Store::stats);
    let connections = state.connections.figures();
    let text = state
        .metrics
        .render(&status, stats, connections, jiff::Timestamp::now());
    (
        [(header::CONTENT_TYPE, crate::serve::metrics::CONTENT_TYPE)],
        text,
    )
        .into_response()
}

async fn proxy(State(proxy): State<Proxy>, request: Request) -> Response {
    let path_and_query = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    match split_account(&path_and_query) {
        Some((account, rest)) => {
            let account = account.to_owned();
            proxy.handle(&account, &rest, request).await
        }
        None => ProxyAnswer::NoAccountInPath.response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_dashboard_file_is_served_with_its_type() {
        let on_disk: Vec<String> = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/ui"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| !name.starts_with('.'))
            .collect();
        for name in &on_disk {
            assert!(
                ASSETS.iter().any(|(file, _, _)| file == name),
                "ui/{name} is not served"
            );
        }
        let type_of = |name: &str| {
            asset(name).headers()[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .to_owned()
        };
        assert_eq!(type_of("index.html"), "text/html; charset=utf-8");
        assert_eq!(type_of("app.js"), "text/javascript; charset=utf-8");
        assert_eq!(asset("nothing.js").status(), StatusCode::NOT_FOUND);
    }
}
