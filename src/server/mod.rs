//! The local HTTP port (default 127.0.0.1:4290): the dashboard at `/` (assets under `/ui/`),
//! the JSON API under `/api/v1/`, `/healthz`, and everything else `/<account-id>/...` for the
//! proxy. One router, served by `redline daemon` and, later, inside the desktop app.

pub mod access;

use crate::keys::Keys;
use crate::monitor::Monitor;
use crate::proxy::{Proxy, redline_error, split_account};
use crate::secret::Secret;
use crate::status::Status;
use access::{Refusal, Route, SESSION_COOKIE};
use axum::Router;
use axum::extract::{Request, State};
use axum::handler::Handler;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// The dashboard's files, compiled in so the binary serves them from anywhere.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "index.html",
        include_str!("../../ui/index.html"),
        "text/html; charset=utf-8",
    ),
    (
        "style.css",
        include_str!("../../ui/style.css"),
        "text/css; charset=utf-8",
    ),
];

/// Shown to a browser that has no session yet: it trades the `#token=` fragment that
/// `redline daemon` / `redline demo` put in the link for a session cookie. The fragment never
/// reaches a server log.
const SIGN_IN_PAGE: &str = r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Redline</title></head>
<body><main><h1>Redline</h1><p id="msg">Open the link printed by <code>redline demo</code>, or add <code>#token=</code> and the output of <code>redline token</code> to this address.</p></main>
<script>
const token = new URLSearchParams(location.hash.slice(1)).get("token");
if (token) {
  fetch("/api/v1/session", {method: "POST", headers: {authorization: "Bearer " + token}})
    .then(r => r.ok ? location.replace("/ui/") : document.getElementById("msg").textContent = "That token was not accepted: run `redline token` for the current one.");
}
</script></body></html>"#;

#[derive(Clone)]
pub struct AppState {
    pub token: Secret,
    pub allow_remote: bool,
    pub monitor: Arc<Monitor>,
    pub keys: Keys,
    pub proxy: Proxy,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/", get(|| async { Redirect::to("/ui/") }))
        .route("/ui/", get(|| async { asset("index.html") }))
        .route("/ui/{file}", get(|axum::extract::Path(file): axum::extract::Path<String>| async move { asset(&file) }))
        .route("/api/v1/status", get(status))
        .route("/api/v1/events", get(events))
        .route("/api/v1/keys", get(keys))
        .route("/api/v1/refresh", post(refresh))
        .route("/api/v1/session", post(session))
        // With its own state (an `Arc`): the router's state would be cloned per request.
        .fallback_service(proxy.with_state(state.proxy.clone()))
        .layer(middleware::from_fn_with_state(Arc::new(state.clone()), guard))
        .with_state(state)
}

/// Applies the access rules to every request before any route sees it. The state is behind
/// an `Arc` because the middleware clones it per request (a plain clone copies the token).
async fn guard(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let route = access::route_of(path);
    match access::check(route, request.headers(), &state.token, state.allow_remote) {
        Ok(()) => next.run(request).await,
        Err(Refusal::NoToken) if route == Route::Local && !path.starts_with("/api/") => (
            StatusCode::UNAUTHORIZED,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            SIGN_IN_PAGE,
        )
            .into_response(),
        Err(refusal) => redline_error(refusal.status(), "redline_forbidden", &refusal.message()),
    }
}

fn asset(name: &str) -> Response {
    match ASSETS.iter().find(|(file, _, _)| *file == name) {
        Some((_, body, mime)) => ([(header::CONTENT_TYPE, *mime)], *body).into_response(),
        None => redline_error(
            StatusCode::NOT_FOUND,
            "redline_not_found",
            &format!("no dashboard file named {name:?}"),
        ),
    }
}

fn current(monitor: &Monitor) -> Status {
    monitor.status().borrow().clone()
}

async fn status(State(state): State<AppState>) -> axum::Json<Status> {
    axum::Json(current(&state.monitor))
}

/// Server-sent events: `status` with the whole status now and on every change.
async fn events(
    State(state): State<AppState>,
) -> Sse<impl futures_util::Stream<Item = Result<Event, Infallible>>> {
    let receiver: watch::Receiver<Status> = state.monitor.status();
    let stream =
        futures_util::stream::unfold((receiver, true), |(mut receiver, first)| async move {
            if !first && receiver.changed().await.is_err() {
                return None;
            }
            let status = receiver.borrow_and_update().clone();
            let event = Event::default()
                .event("status")
                .json_data(&status)
                .expect("status serialises");
            Some((Ok(event), (receiver, false)))
        });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

async fn keys(State(state): State<AppState>) -> Response {
    match state.keys.list() {
        Ok(list) => axum::Json(list).into_response(),
        Err(err) => redline_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "redline_config",
            &err.to_string(),
        ),
    }
}

async fn refresh(State(state): State<AppState>) -> axum::Json<Status> {
    state.monitor.refresh_all().await;
    axum::Json(current(&state.monitor))
}

/// Trades a valid token (checked by the guard) for an HttpOnly, same-site session cookie.
async fn session(State(state): State<AppState>) -> Response {
    let cookie = format!(
        "{SESSION_COOKIE}={}; HttpOnly; SameSite=Strict; Path=/",
        state.token.expose()
    );
    let mut response = StatusCode::NO_CONTENT.into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        let mut value = value;
        value.set_sensitive(true);
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
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
        None => redline_error(
            StatusCode::NOT_FOUND,
            "redline_not_found",
            "nothing here: the proxy is at /<account-id>/...",
        ),
    }
}
