//! The answers Redline makes itself instead of the provider. Each says what happened and what to
//! do, never contains a secret, and carries `x-redline: error` so that a user (or a test) can
//! tell it from the provider's own.

use crate::durations::human_duration;
use crate::keys::account_id::AccountId;
use crate::providers::ProviderId;
use axum::body::Body;
use axum::response::Response;
use http::{HeaderValue, StatusCode, header};
use serde_json::{Value, json};
use std::time::Duration;

pub const X_REDLINE: &str = "x-redline";

/// `{"error":{"type":kind,"message":message}}` with `status`.
pub fn error(status: StatusCode, kind: &str, message: &str) -> Response {
    json_response(
        status,
        &json!({"error": {"type": kind, "message": message}}),
    )
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(X_REDLINE, HeaderValue::from_static("error"));
    response
}

pub fn browser_refused() -> Response {
    error(
        StatusCode::FORBIDDEN,
        "redline_browser_refused",
        "Redline's proxy does not answer web pages (the request had an Origin header): only \
         tools on this machine may use it.",
    )
}

pub fn no_credential() -> Response {
    error(
        StatusCode::UNAUTHORIZED,
        "redline_no_credential",
        "Redline needs its local token: send it as `Authorization: Bearer <token>` or \
         `x-api-key: <token>`. `redline token` prints it and `redline env ID` sets a tool up.",
    )
}

pub fn unknown_account(account: &str) -> Response {
    let shown: String = account.chars().take(40).collect();
    error(
        StatusCode::NOT_FOUND,
        "redline_unknown_account",
        &format!(
            "Redline has no account {shown:?}. The path starts with the account id \
             (/<account-id>/<provider path>); `redline keys list` shows the ids."
        ),
    )
}

pub fn proxy_off() -> Response {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "redline_proxy_off",
        "Redline's proxy is switched off, so nothing was sent to the provider. Switch it on \
         with \"Proxy on\" in the Redline tray menu, or point the tool straight at the provider.",
    )
}

pub fn key_not_stored(account: &AccountId, provider: ProviderId) -> Response {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "redline_key_missing",
        &format!(
            "The key of account {account} is not in the keyring, so Redline cannot put it in \
             place of the local token: store it with `redline keys add {account} --provider \
             {provider}` (the key on stdin)."
        ),
    )
}

pub fn key_unusable(account: &AccountId) -> Response {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "redline_key_unusable",
        &format!(
            "The stored key of account {account} has characters an HTTP header cannot carry: \
             replace it with `redline keys rotate {account}`."
        ),
    )
}

pub fn request_body_failed(detail: &str) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "redline_request_body",
        &format!("Redline could not read the request body from the client: {detail}"),
    )
}

/// Which error envelope a client of this endpoint understands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorStyle {
    /// `{"type":"error","error":{"type":…,"message":…}}`
    Anthropic,
    /// `{"error":{"type":…,"message":…,"code":…}}`
    OpenAi,
}

/// Anthropic's envelope for Anthropic and Claude accounts and any `…/messages` endpoint (Kimi
/// Code's Anthropic-compatible API, which Claude Code uses); OpenAI's otherwise.
pub fn error_style(provider: ProviderId, path_and_query: &str) -> ErrorStyle {
    let path = path_and_query.split('?').next().unwrap_or_default();
    if matches!(provider, ProviderId::Anthropic | ProviderId::Claude)
        || path.trim_end_matches('/').ends_with("/messages")
    {
        ErrorStyle::Anthropic
    } else {
        ErrorStyle::OpenAi
    }
}

/// Why Redline's queue turned a request away.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueRefusal {
    /// `queue_max_len` requests were already waiting.
    Full { waiting: usize },
    /// No slot freed up within `queue_max_wait`.
    TimedOut { waited: Duration },
}

/// What Redline tells the client it queued in vain; said in the 429 and in the throttle.
pub fn queue_message(account: &AccountId, cap: u64, refusal: QueueRefusal) -> String {
    let what = match refusal {
        QueueRefusal::Full { waiting } => format!(
            "Redline's queue for account {account} is full ({waiting} requests already wait \
             behind the concurrency cap of {cap})"
        ),
        QueueRefusal::TimedOut { waited } => format!(
            "Redline queued this request for {} behind the concurrency cap of {cap} for \
             account {account} and no slot freed up",
            human_duration(waited)
        ),
    };
    format!("{what}; the provider was never asked. Retry later, or run fewer agents in parallel.")
}

/// The body of the 429 for a request Redline's queue turned away, in the provider's format.
pub fn queue_refusal_body(style: ErrorStyle, message: &str) -> Value {
    match style {
        ErrorStyle::Anthropic => json!({
            "type": "error",
            "error": {"type": "rate_limit_error", "message": message}
        }),
        ErrorStyle::OpenAi => json!({"error": {
            "type": "rate_limit_error",
            "message": message,
            "code": "redline_queue_timeout"
        }}),
    }
}

pub fn queue_refusal(style: ErrorStyle, message: &str, retry_after: Duration) -> Response {
    let mut response = json_response(
        StatusCode::TOO_MANY_REQUESTS,
        &queue_refusal_body(style, message),
    );
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(retry_after.as_secs().max(1)),
    );
    response
}

/// The upstream could not be reached or did not answer in time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The URL built from the account's origin and the path is not valid.
    BadUrl,
    Unreachable {
        host: String,
        cause: String,
    },
    ConnectTimeout {
        host: String,
        after: Duration,
    },
    /// Connected, but not a byte of the answer came in time.
    FirstByteTimeout {
        host: String,
        after: Duration,
    },
    /// The client's request body broke while Redline was sending it on.
    ClientBody {
        detail: String,
    },
}

impl Failure {
    pub fn status(&self) -> StatusCode {
        match self {
            Failure::BadUrl | Failure::Unreachable { .. } => StatusCode::BAD_GATEWAY,
            Failure::ConnectTimeout { .. } | Failure::FirstByteTimeout { .. } => {
                StatusCode::GATEWAY_TIMEOUT
            }
            Failure::ClientBody { .. } => StatusCode::BAD_REQUEST,
        }
    }

    pub fn response(&self) -> Response {
        let status = self.status();
        match self {
            Failure::BadUrl => error(
                status,
                "redline_bad_upstream",
                "Redline could not build the upstream URL from the account's base URL and this \
                 path: check the base URL with `redline keys list`.",
            ),
            Failure::Unreachable { host, cause } => error(
                status,
                "redline_upstream_unreachable",
                &format!("Redline could not reach {host}: {cause}"),
            ),
            Failure::ConnectTimeout { host, after } => error(
                status,
                "redline_upstream_timeout",
                &format!(
                    "Redline timed out connecting to {host} (no connection after {}).",
                    human_duration(*after)
                ),
            ),
            Failure::FirstByteTimeout { host, after } => error(
                status,
                "redline_upstream_timeout",
                &format!(
                    "Redline waited {} for the first byte of {host}'s answer and gave up; the \
                     request was cancelled.",
                    human_duration(*after)
                ),
            ),
            Failure::ClientBody { detail } => request_body_failed(detail),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body_json(response: Response) -> Value {
        let bytes = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap()
            .to_bytes();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[test]
    fn the_error_style_follows_the_provider_or_the_path() {
        use ErrorStyle::*;
        let cases = [
            (ProviderId::Anthropic, "/v1/complete", Anthropic),
            (ProviderId::Claude, "/v1/models", Anthropic),
            (ProviderId::KimiCode, "/coding/v1/messages", Anthropic),
            (
                ProviderId::KimiCode,
                "/coding/v1/messages?beta=true",
                Anthropic,
            ),
            (ProviderId::KimiCode, "/coding/v1/chat/completions", OpenAi),
            (ProviderId::Openai, "/v1/messages_export", OpenAi),
            (
                ProviderId::Moonshot,
                "/v1/chat/completions?messages",
                OpenAi,
            ),
        ];
        for (provider, path, style) in cases {
            assert_eq!(error_style(provider, path), style, "{provider} {path}");
        }
    }

    #[tokio::test]
    async fn queue_refusals_in_both_formats() {
        let account: AccountId = "kimi-main".parse().unwrap();
        let message = queue_message(
            &account,
            30,
            QueueRefusal::TimedOut {
                waited: Duration::from_secs(60),
            },
        );
        assert_eq!(
            message,
            "Redline queued this request for 1m behind the concurrency cap of 30 for account \
             kimi-main and no slot freed up; the provider was never asked. Retry later, or run \
             fewer agents in parallel."
        );
        let response = queue_refusal(ErrorStyle::Anthropic, &message, Duration::from_secs(1));
        assert_eq!(response.status(), 429);
        assert_eq!(response.headers()["retry-after"], "1");
        assert_eq!(response.headers()[X_REDLINE], "error");
        let body = body_json(response).await;
        assert_eq!(body["type"], "error");
        assert_eq!(body["error"]["type"], "rate_limit_error");
        assert_eq!(body["error"]["message"], message.as_str());

        let full = queue_message(&account, 2, QueueRefusal::Full { waiting: 512 });
        assert!(full.contains("full (512 requests") && full.contains("never asked"));
        let body = body_json(queue_refusal(ErrorStyle::OpenAi, &full, Duration::ZERO)).await;
        assert_eq!(body["error"]["code"], "redline_queue_timeout");
        assert_eq!(body["error"]["type"], "rate_limit_error");
    }

    #[tokio::test]
    async fn failures_name_redline_the_host_and_the_phase() {
        let unreachable = Failure::Unreachable {
            host: "127.0.0.1:9".into(),
            cause: "Connection refused (os error 111)".into(),
        };
        let response = unreachable.response();
        assert_eq!(response.status(), 502);
        let body = body_json(response).await;
        assert_eq!(body["error"]["type"], "redline_upstream_unreachable");
        assert_eq!(
            body["error"]["message"],
            "Redline could not reach 127.0.0.1:9: Connection refused (os error 111)"
        );
        let timeout = Failure::FirstByteTimeout {
            host: "api.kimi.com".into(),
            after: Duration::from_secs(300),
        };
        assert_eq!(timeout.status(), 504);
        let message = body_json(timeout.response()).await["error"]["message"].clone();
        assert!(
            message
                .as_str()
                .unwrap()
                .contains("5m for the first byte of api.kimi.com"),
            "{message}"
        );
    }
}
