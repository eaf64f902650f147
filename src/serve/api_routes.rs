//! The JSON API under `/api/v1/`: thin HTTP wrappers over [`crate::serve::api::Api`]. A secret is
//! accepted only in a request body and never appears in an answer.

use super::router::AppState;
use crate::serve::api::{AddKey, ApiError, ConnectTool, RotateKey, parse_shell};
use crate::status::model::Status;
use crate::status::vocabulary::Vocabulary;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, post, put};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::time::Duration;

/// Every API route: method, path and handler. All of them need the admin credential (the
/// router's guard sees to it).
pub fn routes() -> Vec<(Method, &'static str, MethodRouter<AppState>)> {
    vec![
        (Method::GET, "/api/v1/status", get(status)),
        (Method::GET, "/api/v1/events", get(events)),
        (Method::POST, "/api/v1/refresh", post(refresh)),
        (Method::GET, "/api/v1/keys", get(list_keys)),
        (Method::POST, "/api/v1/keys", post(add_key)),
        (Method::DELETE, "/api/v1/keys/{id}", delete(remove_key)),
        (Method::POST, "/api/v1/keys/{id}/test", post(test_key)),
        (Method::POST, "/api/v1/keys/{id}/rotate", post(rotate_key)),
        (
            Method::POST,
            "/api/v1/keys/{id}/rollback",
            post(rollback_key),
        ),
        (Method::GET, "/api/v1/keys/{id}/setup", get(tool_setup)),
        (Method::GET, "/api/v1/settings", get(settings)),
        (Method::PUT, "/api/v1/settings", put(save_settings)),
        (Method::GET, "/api/v1/providers", get(providers)),
        (Method::GET, "/api/v1/throttles", get(throttles)),
        (Method::GET, "/api/v1/vocabulary", get(vocabulary)),
        (Method::GET, "/api/v1/tools", get(tools)),
        (
            Method::POST,
            "/api/v1/tools/{tool}/preview",
            post(preview_connect),
        ),
        (
            Method::POST,
            "/api/v1/tools/{tool}/connect",
            post(connect_tool),
        ),
        (
            Method::POST,
            "/api/v1/tools/{tool}/disconnect",
            post(disconnect_tool),
        ),
    ]
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, axum::Json(&self)).into_response();
        response
            .headers_mut()
            .insert(crate::proxy::X_REDLINE, HeaderValue::from_static("error"));
        response
    }
}

fn answer<T: serde::Serialize>(result: Result<T, ApiError>) -> Response {
    match result {
        Ok(value) => axum::Json(value).into_response(),
        Err(err) => err.into_response(),
    }
}

/// Parses a JSON body. The error names where the body went wrong but never quotes it: the
/// body may hold a secret.
fn body<T: DeserializeOwned>(bytes: &[u8], expected: &str) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|err| {
        let what = match err.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                "is not valid JSON"
            }
            _ => "has a missing, unknown or mistyped field, or an unusable key",
        };
        ApiError::new(
            400,
            "invalid_input",
            format!(
                "the request body {what} (line {}, column {}): send {expected}",
                err.line(),
                err.column()
            ),
        )
    })
}

async fn status(State(state): State<AppState>) -> axum::Json<Status> {
    axum::Json(state.api.status())
}

/// Server-sent events: `status` with the whole status now and on every change, and `tool`
/// with each notice of the tool watch (a connected tool that stopped pointing at Redline, an
/// old key, a refused tool token).
async fn events(
    State(state): State<AppState>,
) -> Sse<impl futures_util::Stream<Item = Result<Event, Infallible>>> {
    let receiver = state.api.status_changes();
    let notices = state.api.tool_notices();
    let stopping = state.api.stopping();
    let stream = futures_util::stream::unfold(
        (receiver, notices, stopping, true),
        |(mut receiver, mut notices, mut stopping, first)| async move {
            if *stopping.borrow_and_update() {
                return None;
            }
            if !first {
                loop {
                    tokio::select! {
                        changed = receiver.changed() => {
                            changed.ok()?;
                            break;
                        }
                        notice = notices.recv() => match notice {
                            Ok(notice) => {
                                let event = Event::default()
                                    .event("tool")
                                    .json_data(&notice)
                                    .expect("a notice serialises");
                                return Some((Ok(event), (receiver, notices, stopping, false)));
                            }
                            // Notices missed by a slow reader are gone; the next ones come.
                            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                            Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                        },
                        _ = stopping.changed() => return None,
                    }
                }
            }
            let status = receiver.borrow_and_update().clone();
            let event = Event::default()
                .event("status")
                .json_data(&status)
                .expect("status serialises");
            Some((Ok(event), (receiver, notices, stopping, false)))
        },
    );
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

async fn refresh(State(state): State<AppState>) -> axum::Json<Status> {
    axum::Json(state.api.refresh().await)
}

async fn list_keys(State(state): State<AppState>) -> Response {
    answer(state.api.list_keys())
}

async fn add_key(State(state): State<AppState>, bytes: Bytes) -> Response {
    let request: AddKey = match body(
        &bytes,
        r#"{"id": "...", "provider": "...", "secret": "...", "base_url"?: "...", "confirm_host"?: "...", "label"?: "...", "verify"?: true}"#,
    ) {
        Ok(request) => request,
        Err(err) => return err.into_response(),
    };
    match state.api.add_key(request).await {
        Ok(info) => (StatusCode::CREATED, axum::Json(info)).into_response(),
        Err(err) => err.into_response(),
    }
}

async fn test_key(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    answer(state.api.test_key(&id).await)
}

async fn rotate_key(
    State(state): State<AppState>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Response {
    let request: RotateKey = match body(&bytes, r#"{"secret": "...", "verify"?: true}"#) {
        Ok(request) => request,
        Err(err) => return err.into_response(),
    };
    answer(
        state
            .api
            .rotate_key(&id, request.secret, request.verify)
            .await,
    )
}

async fn rollback_key(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    answer(state.api.rollback_key(&id).await)
}

async fn remove_key(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    match state.api.remove_key(&id).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(err) => err.into_response(),
    }
}

#[derive(Deserialize)]
struct SetupQuery {
    shell: Option<String>,
    /// One tool or SDK (`openclaw`, `openai-sdk`), as `redline env --tool`.
    tool: Option<String>,
}

async fn tool_setup(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<SetupQuery>,
) -> Response {
    let result = match parse_shell(query.shell.as_deref().unwrap_or("sh")) {
        Ok(shell) => {
            state
                .api
                .tool_setup(&id, shell, query.tool.as_deref())
                .await
        }
        Err(err) => Err(err),
    };
    match result {
        Ok(text) => ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response(),
        Err(err) => err.into_response(),
    }
}

async fn settings(State(state): State<AppState>) -> Response {
    answer(state.api.settings())
}

async fn save_settings(State(state): State<AppState>, bytes: Bytes) -> Response {
    let mut changes: BTreeMap<String, serde_json::Value> = match body(
        &bytes,
        r#"an object of settings to change, such as {"thresholds.warn": 70}"#,
    ) {
        Ok(changes) => changes,
        Err(err) => return err.into_response(),
    };
    // Not a setting: the host a new base URL may point at although its provider does not own it.
    let confirm_host = changes.remove(CONFIRM_HOST).map(text_of);
    // Numbers and yes/no may come as JSON numbers and booleans or as text.
    let changes = changes
        .into_iter()
        .map(|(key, value)| (key, text_of(value)))
        .collect();
    answer(
        state
            .api
            .save_settings_confirmed(changes, confirm_host.as_deref()),
    )
}

/// The field of a settings change (and of a new key) that confirms a base URL's host.
pub const CONFIRM_HOST: &str = "confirm_host";

fn text_of(value: serde_json::Value) -> String {
    match value {
        serde_json::Value::String(text) => text,
        other => other.to_string(),
    }
}

async fn providers(State(state): State<AppState>) -> Response {
    axum::Json(state.api.providers()).into_response()
}

#[derive(Deserialize)]
struct ThrottlesQuery {
    limit: Option<usize>,
}

/// The latest refusals, newest first: `?limit=N` (default and most 500).
async fn throttles(State(state): State<AppState>, Query(query): Query<ThrottlesQuery>) -> Response {
    let limit = query.limit.unwrap_or(500).min(500);
    axum::Json(state.api.throttle_log(limit)).into_response()
}

/// The words views print for the ids in the status: levels, causes, providers, windows.
async fn vocabulary() -> axum::Json<Vocabulary> {
    axum::Json(crate::status::vocabulary::vocabulary())
}

/// Every tool Redline can connect, where it points, and which accounts it can use.
async fn tools(State(state): State<AppState>) -> Response {
    answer(state.api.tools().await)
}

const CONNECT_BODY: &str = r#"{"account": "..."}"#;

/// What connecting the tool would change (the token masked); writes nothing.
async fn preview_connect(
    State(state): State<AppState>,
    Path(tool): Path<String>,
    bytes: Bytes,
) -> Response {
    let request: ConnectTool = match body(&bytes, CONNECT_BODY) {
        Ok(request) => request,
        Err(err) => return err.into_response(),
    };
    answer(state.api.preview_connect(&tool, &request.account).await)
}

/// Points the tool at Redline for the account, and proves it with one request.
async fn connect_tool(
    State(state): State<AppState>,
    Path(tool): Path<String>,
    bytes: Bytes,
) -> Response {
    let request: ConnectTool = match body(&bytes, CONNECT_BODY) {
        Ok(request) => request,
        Err(err) => return err.into_response(),
    };
    answer(state.api.connect_tool(&tool, &request.account).await)
}

/// Takes Redline back out of the tool's config file. (A body, if any, is ignored.)
async fn disconnect_tool(State(state): State<AppState>, Path(tool): Path<String>) -> Response {
    answer(state.api.disconnect_tool(&tool).await)
}
