//! The answers Redline makes itself instead of the provider: one [`ProxyAnswer`] for each thing
//! that can stop a request on its way (the proxy off, no credential, a full queue, an upstream
//! that cannot be reached...). Each has a status, a code and a message that says what happened
//! and what to do, never contains a secret, and carries `x-redline: error` so that a user (or a
//! test) can tell it from the provider's own.

use crate::durations::human_duration;
use crate::keys::account_id::AccountId;
use crate::providers::ProviderId;
use axum::body::Body;
use axum::response::Response;
use http::{HeaderValue, StatusCode, header};
use serde_json::{Value, json};
use std::time::Duration;

pub const X_REDLINE: &str = "x-redline";

/// The `Retry-After` Redline gives with its own 429 when the queue turns a request away.
pub const QUEUE_RETRY_AFTER: Duration = Duration::from_secs(1);

/// Something Redline answers itself because the request could not (or must not) be forwarded,
/// or because forwarding it failed before the provider answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProxyAnswer {
    /// Switched off from the desktop app's menu.
    ProxyOff,
    /// The request came from a web page (it had an `Origin` header).
    BrowserRefused,
    /// Neither a tool token nor any other key was presented.
    NoCredential,
    /// Redline's admin credential was presented: it opens the API and dashboard, and tools
    /// must not hold it.
    AdminCredential,
    /// A Redline token this engine does not know (revoked or replaced), or one of Redline's
    /// other credentials (the dashboard's session), which never open the proxy.
    UnknownToken,
    /// The path does not start with an account id (`/` alone).
    NoAccountInPath,
    /// The path's first segment is not an account Redline knows, as the client sent it.
    UnknownAccount {
        account: String,
    },
    /// The local token was presented but the account's key is not in the keyring.
    KeyNotStored {
        account: AccountId,
        provider: ProviderId,
    },
    /// The keyring is locked or not running, so Redline cannot read the account's key (or,
    /// with `account` None, the tool tokens, to tell whether the presented one is valid).
    /// `waiting` says what is wrong and what to do (`VaultError::waiting_message`).
    KeyringUnavailable {
        account: Option<AccountId>,
        waiting: String,
    },
    /// The account's key has characters an HTTP header cannot carry.
    KeyUnusable {
        account: AccountId,
    },
    /// The URL built from the account's origin and the path is not valid.
    BadUrl,
    /// The client's request body broke, while queued or while Redline was sending it on.
    RequestBody {
        detail: String,
    },
    /// Redline's queue turned the request away; said in the client's error style.
    QueueRefused {
        account: AccountId,
        cap: u64,
        refusal: QueueRefusal,
        style: ErrorStyle,
    },
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
}

/// Why Redline's queue turned a request away.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueRefusal {
    /// `queue_max_len` requests were already waiting.
    Full { waiting: usize },
    /// No slot freed up within `queue_max_wait`.
    TimedOut { waited: Duration },
    /// A machine sharing the account's limit saw a 429 whose Retry-After (`left` of it now)
    /// outlasts what is left of `queue_max_wait`: refused at once rather than held in vain.
    CoolingDown { left: Duration },
}

impl QueueRefusal {
    /// The Retry-After Redline's 429 gives: the cool-down's end, else a second.
    pub fn retry_after(&self) -> Duration {
        match self {
            QueueRefusal::CoolingDown { left } => *left,
            _ => QUEUE_RETRY_AFTER,
        }
    }
}

/// Which error envelope a client of this endpoint understands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorStyle {
    /// `{"type":"error","error":{"type":…,"message":…}}`
    Anthropic,
    /// `{"error":{"type":…,"message":…,"code":…}}`
    OpenAi,
}

impl ProxyAnswer {
    pub fn status(&self) -> StatusCode {
        match self {
            ProxyAnswer::ProxyOff
            | ProxyAnswer::KeyNotStored { .. }
            | ProxyAnswer::KeyringUnavailable { .. }
            | ProxyAnswer::KeyUnusable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ProxyAnswer::BrowserRefused => StatusCode::FORBIDDEN,
            ProxyAnswer::NoCredential | ProxyAnswer::UnknownToken => StatusCode::UNAUTHORIZED,
            ProxyAnswer::AdminCredential => StatusCode::FORBIDDEN,
            ProxyAnswer::NoAccountInPath | ProxyAnswer::UnknownAccount { .. } => {
                StatusCode::NOT_FOUND
            }
            ProxyAnswer::RequestBody { .. } => StatusCode::BAD_REQUEST,
            ProxyAnswer::QueueRefused { .. } => StatusCode::TOO_MANY_REQUESTS,
            ProxyAnswer::BadUrl | ProxyAnswer::Unreachable { .. } => StatusCode::BAD_GATEWAY,
            ProxyAnswer::ConnectTimeout { .. } | ProxyAnswer::FirstByteTimeout { .. } => {
                StatusCode::GATEWAY_TIMEOUT
            }
        }
    }

    /// Redline's code for it: the error's `type`, or for a queue refusal (whose `type` is the
    /// providers' `rate_limit_error`) the `code` of the OpenAI envelope.
    pub fn code(&self) -> &'static str {
        match self {
            ProxyAnswer::ProxyOff => "redline_proxy_off",
            ProxyAnswer::BrowserRefused => "redline_browser_refused",
            ProxyAnswer::NoCredential => "redline_no_credential",
            ProxyAnswer::AdminCredential => "redline_admin_credential",
            ProxyAnswer::UnknownToken => "redline_unknown_token",
            ProxyAnswer::NoAccountInPath => "redline_not_found",
            ProxyAnswer::UnknownAccount { .. } => "redline_unknown_account",
            ProxyAnswer::KeyNotStored { .. } => "redline_key_missing",
            ProxyAnswer::KeyringUnavailable { .. } => "redline_keyring_unavailable",
            ProxyAnswer::KeyUnusable { .. } => "redline_key_unusable",
            ProxyAnswer::BadUrl => "redline_bad_upstream",
            ProxyAnswer::RequestBody { .. } => "redline_request_body",
            ProxyAnswer::QueueRefused { .. } => "redline_queue_timeout",
            ProxyAnswer::Unreachable { .. } => "redline_upstream_unreachable",
            ProxyAnswer::ConnectTimeout { .. } | ProxyAnswer::FirstByteTimeout { .. } => {
                "redline_upstream_timeout"
            }
        }
    }

    pub fn message(&self) -> String {
        match self {
            ProxyAnswer::ProxyOff => "Redline's proxy is switched off, so nothing was sent to \
                the provider. Switch it on with \"Proxy on\" in the Redline tray menu, or point \
                the tool straight at the provider."
                .to_owned(),
            ProxyAnswer::BrowserRefused => "Redline's proxy does not answer web pages (the \
                request had an Origin header): only tools on this machine may use it."
                .to_owned(),
            ProxyAnswer::NoCredential => "Redline needs a tool token: send it as \
                `Authorization: Bearer <token>` or `x-api-key: <token>`. `redline token` prints \
                it (`redline token --tool NAME`: one per tool) and `redline connect TOOL ID` sets a tool \
                up."
                .to_owned(),
            ProxyAnswer::AdminCredential => "That is Redline's admin credential, which opens \
                the dashboard and the API and must not be given to tools; nothing was sent. Give \
                this tool a tool token instead: `redline token --tool NAME` prints one."
                .to_owned(),
            ProxyAnswer::UnknownToken => "Redline does not know this token: it was revoked or \
                replaced, or it is not a tool token; nothing was sent. Give the tool its current \
                token: `redline token --tool NAME` (`redline token --list` shows the tools that \
                have one)."
                .to_owned(),
            ProxyAnswer::NoAccountInPath => {
                "nothing here: the proxy is at /<account-id>/...".to_owned()
            }
            ProxyAnswer::UnknownAccount { account } => {
                let shown: String = account.chars().take(40).collect();
                format!(
                    "Redline has no account {shown:?}. The path starts with the account id \
                     (/<account-id>/<provider path>); `redline keys list` shows the ids."
                )
            }
            ProxyAnswer::KeyNotStored { account, provider } => format!(
                "The key of account {account} is not in the keyring, so Redline cannot put it \
                 in place of the local token: store it with `redline keys add {account} \
                 --provider {provider}` (the key on stdin)."
            ),
            ProxyAnswer::KeyringUnavailable { account, waiting } => {
                let what = match account {
                    Some(account) => format!("the key of account {account}"),
                    None => "its tool tokens".to_owned(),
                };
                format!(
                    "Redline cannot read {what} from the keyring now, so nothing was sent. \
                     {waiting} Then send the request again."
                )
            }
            ProxyAnswer::KeyUnusable { account } => format!(
                "The stored key of account {account} has characters an HTTP header cannot \
                 carry: replace it with `redline keys rotate {account}`."
            ),
            ProxyAnswer::BadUrl => "Redline could not build the upstream URL from the \
                account's base URL and this path: check the base URL with `redline keys list`."
                .to_owned(),
            ProxyAnswer::RequestBody { detail } => {
                format!("Redline could not read the request body from the client: {detail}")
            }
            ProxyAnswer::QueueRefused {
                account,
                cap,
                refusal,
                ..
            } => queue_message(account, *cap, *refusal),
            ProxyAnswer::Unreachable { host, cause } => {
                format!("Redline could not reach {host}: {cause}")
            }
            ProxyAnswer::ConnectTimeout { host, after } => format!(
                "Redline timed out connecting to {host} (no connection after {}).",
                human_duration(*after)
            ),
            ProxyAnswer::FirstByteTimeout { host, after } => format!(
                "Redline waited {} for the first byte of {host}'s answer and gave up; the \
                 request was cancelled.",
                human_duration(*after)
            ),
        }
    }

    /// The HTTP response: the body in the client's error style, `x-redline: error`, and a
    /// `Retry-After` on a queue refusal.
    pub fn response(&self) -> Response {
        let message = self.message();
        let body = match self {
            ProxyAnswer::QueueRefused { style, .. } => {
                rate_limit_body(*style, self.code(), &message)
            }
            _ => error_body(self.code(), &message),
        };
        let mut response = json_response(self.status(), &body);
        if let ProxyAnswer::QueueRefused { refusal, .. } = self {
            // Whole seconds, rounded up: a client never comes back before the end.
            let after = refusal.retry_after().as_millis().div_ceil(1000).max(1);
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(u64::try_from(after).unwrap_or(u64::MAX)),
            );
        }
        response
    }
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

/// `{"error":{"type":kind,"message":message}}` with `status`, for the local server's other
/// answers too.
pub fn error(status: StatusCode, kind: &str, message: &str) -> Response {
    json_response(status, &error_body(kind, message))
}

fn error_body(kind: &str, message: &str) -> Value {
    json!({"error": {"type": kind, "message": message}})
}

/// The body of a 429 for a request Redline's queue turned away, in the provider's format.
fn rate_limit_body(style: ErrorStyle, code: &str, message: &str) -> Value {
    match style {
        ErrorStyle::Anthropic => json!({
            "type": "error",
            "error": {"type": "rate_limit_error", "message": message}
        }),
        ErrorStyle::OpenAi => json!({"error": {
            "type": "rate_limit_error",
            "message": message,
            "code": code
        }}),
    }
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
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// What Redline tells the client it queued in vain; said in the 429 and in the throttle.
fn queue_message(account: &AccountId, cap: u64, refusal: QueueRefusal) -> String {
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
        QueueRefusal::CoolingDown { left } => format!(
            "Account {account} is cooling down for {} more after a 429 with Retry-After seen \
             by a machine sharing its limit, longer than Redline's queue waits",
            human_duration(left)
        ),
    };
    format!("{what}; the provider was never asked. Retry later, or run fewer agents in parallel.")
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

    fn kimi_main() -> AccountId {
        "kimi-main".parse().unwrap()
    }

    fn queue_refused(refusal: QueueRefusal, style: ErrorStyle) -> ProxyAnswer {
        ProxyAnswer::QueueRefused {
            account: kimi_main(),
            cap: 30,
            refusal,
            style,
        }
    }

    /// An answer, with its status, its code, a phrase saying what happened and one saying
    /// what to do (`None` where the message says only what happened).
    struct Case {
        answer: ProxyAnswer,
        status: u16,
        code: &'static str,
        happened: &'static str,
        to_do: Option<&'static str>,
    }

    fn case(answer: ProxyAnswer, status: u16, code: &'static str) -> Case {
        Case {
            answer,
            status,
            code,
            happened: "",
            to_do: None,
        }
    }

    impl Case {
        fn says(self, happened: &'static str, to_do: Option<&'static str>) -> Case {
            Case {
                happened,
                to_do,
                ..self
            }
        }
    }

    fn every_answer() -> Vec<Case> {
        let host = || "api.kimi.com".to_owned();
        let timed_out = QueueRefusal::TimedOut {
            waited: Duration::from_secs(60),
        };
        vec![
            case(ProxyAnswer::ProxyOff, 503, "redline_proxy_off").says(
                "proxy is switched off, so nothing was sent",
                Some("Switch it on with \"Proxy on\" in the Redline tray menu"),
            ),
            case(ProxyAnswer::BrowserRefused, 403, "redline_browser_refused").says(
                "does not answer web pages",
                Some("only tools on this machine may use it"),
            ),
            case(ProxyAnswer::NoCredential, 401, "redline_no_credential").says(
                "Redline needs a tool token",
                Some("`redline token` prints it"),
            ),
            case(
                ProxyAnswer::AdminCredential,
                403,
                "redline_admin_credential",
            )
            .says(
                "admin credential",
                Some("`redline token --tool NAME` prints one"),
            ),
            case(ProxyAnswer::UnknownToken, 401, "redline_unknown_token").says(
                "does not know this token",
                Some("`redline token --tool NAME`"),
            ),
            case(ProxyAnswer::NoAccountInPath, 404, "redline_not_found")
                .says("nothing here", Some("the proxy is at /<account-id>/")),
            case(
                ProxyAnswer::UnknownAccount {
                    account: "kimi-mian".into(),
                },
                404,
                "redline_unknown_account",
            )
            .says(
                "Redline has no account \"kimi-mian\"",
                Some("`redline keys list` shows the ids"),
            ),
            case(
                ProxyAnswer::KeyNotStored {
                    account: kimi_main(),
                    provider: ProviderId::KimiCode,
                },
                503,
                "redline_key_missing",
            )
            .says(
                "The key of account kimi-main is not in the keyring",
                Some("store it with `redline keys add kimi-main --provider kimi-code`"),
            ),
            case(
                ProxyAnswer::KeyringUnavailable {
                    account: Some(kimi_main()),
                    waiting: "Keyring locked: unlock your login keyring.".into(),
                },
                503,
                "redline_keyring_unavailable",
            )
            .says(
                "cannot read the key of account kimi-main from the keyring now, so nothing was sent",
                Some("unlock your login keyring"),
            ),
            case(
                ProxyAnswer::KeyUnusable {
                    account: kimi_main(),
                },
                503,
                "redline_key_unusable",
            )
            .says(
                "has characters an HTTP header cannot carry",
                Some("replace it with `redline keys rotate kimi-main`"),
            ),
            case(ProxyAnswer::BadUrl, 502, "redline_bad_upstream").says(
                "could not build the upstream URL",
                Some("check the base URL with `redline keys list`"),
            ),
            case(
                ProxyAnswer::RequestBody {
                    detail: "connection reset".into(),
                },
                400,
                "redline_request_body",
            )
            .says(
                "could not read the request body from the client: connection reset",
                None,
            ),
            case(
                queue_refused(QueueRefusal::Full { waiting: 512 }, ErrorStyle::OpenAi),
                429,
                "redline_queue_timeout",
            )
            .says(
                "queue for account kimi-main is full (512 requests already wait",
                Some("Retry later, or run fewer agents in parallel"),
            ),
            case(
                queue_refused(timed_out, ErrorStyle::Anthropic),
                429,
                "redline_queue_timeout",
            )
            .says(
                "queued this request for 1m behind the concurrency cap of 30",
                Some("Retry later, or run fewer agents in parallel"),
            ),
            case(
                ProxyAnswer::Unreachable {
                    host: host(),
                    cause: "Connection refused (os error 111)".into(),
                },
                502,
                "redline_upstream_unreachable",
            )
            .says(
                "Redline could not reach api.kimi.com: Connection refused (os error 111)",
                None,
            ),
            case(
                ProxyAnswer::ConnectTimeout {
                    host: host(),
                    after: Duration::from_secs(10),
                },
                504,
                "redline_upstream_timeout",
            )
            .says(
                "timed out connecting to api.kimi.com (no connection after 10s)",
                None,
            ),
            case(
                ProxyAnswer::FirstByteTimeout {
                    host: host(),
                    after: Duration::from_secs(300),
                },
                504,
                "redline_upstream_timeout",
            )
            .says(
                "waited 5m for the first byte of api.kimi.com's answer and gave up",
                None,
            ),
        ]
    }

    #[test]
    fn each_answer_has_its_status_and_code_and_says_what_happened_and_what_to_do() {
        for Case {
            answer,
            status,
            code,
            happened,
            to_do,
        } in every_answer()
        {
            assert_eq!(answer.status(), status, "{answer:?}");
            assert_eq!(answer.code(), code, "{answer:?}");
            let message = answer.message();
            assert!(message.contains(happened), "{message}");
            if let Some(to_do) = to_do {
                assert!(message.contains(to_do), "{message}");
            }
        }
    }

    #[tokio::test]
    async fn answers_go_out_as_redline_errors_with_their_status_code_and_message() {
        for Case {
            answer,
            status,
            code,
            ..
        } in every_answer()
        {
            let message = answer.message();
            let response = answer.response();
            assert_eq!(response.status(), status);
            assert_eq!(response.headers()[X_REDLINE], "error");
            assert_eq!(response.headers()["content-type"], "application/json");
            let body = body_json(response).await;
            assert_eq!(body["error"]["message"], message.as_str(), "{answer:?}");
            if !matches!(answer, ProxyAnswer::QueueRefused { .. }) {
                assert_eq!(body, json!({"error": {"type": code, "message": message}}));
            }
        }
    }

    #[test]
    fn an_unknown_account_is_quoted_only_up_to_40_characters() {
        let sent = format!("x{}", "y".repeat(100));
        let message = ProxyAnswer::UnknownAccount { account: sent }.message();
        assert!(
            message.contains(&format!("\"x{}\"", "y".repeat(39))),
            "{message}"
        );
        assert!(!message.contains(&"y".repeat(40)), "{message}");
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
        let timed_out = QueueRefusal::TimedOut {
            waited: Duration::from_secs(60),
        };
        let answer = queue_refused(timed_out, ErrorStyle::Anthropic);
        let message = answer.message();
        assert_eq!(
            message,
            "Redline queued this request for 1m behind the concurrency cap of 30 for account \
             kimi-main and no slot freed up; the provider was never asked. Retry later, or run \
             fewer agents in parallel."
        );
        let response = answer.response();
        assert_eq!(response.status(), 429);
        assert_eq!(response.headers()["retry-after"], "1");
        assert_eq!(response.headers()[X_REDLINE], "error");
        let body = body_json(response).await;
        assert_eq!(body["type"], "error");
        assert_eq!(body["error"]["type"], "rate_limit_error");
        assert_eq!(body["error"]["message"], message.as_str());
        assert_eq!(body["error"].get("code"), None);

        let full = queue_refused(QueueRefusal::Full { waiting: 512 }, ErrorStyle::OpenAi);
        let message = full.message();
        assert!(message.contains("full (512 requests") && message.contains("never asked"));
        let response = full.response();
        assert_eq!(response.headers()["retry-after"], "1");
        let body = body_json(response).await;
        assert_eq!(body.get("type"), None);
        assert_eq!(body["error"]["code"], "redline_queue_timeout");
        assert_eq!(body["error"]["type"], "rate_limit_error");
        assert_eq!(body["error"]["message"], message.as_str());
    }

    #[test]
    fn only_a_queue_refusal_says_when_to_retry() {
        for Case { answer, .. } in every_answer() {
            let response = answer.response();
            let queued = matches!(answer, ProxyAnswer::QueueRefused { .. });
            let retry_after = response.headers().get(header::RETRY_AFTER);
            assert_eq!(retry_after.is_some(), queued, "{answer:?}");
        }
    }
}
