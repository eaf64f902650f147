//! A client of a running engine's local JSON API (`/api/v1/...`), for another process on the
//! same machine: the desktop app's dashboard window runs in a process of its own and reaches
//! the engine in the tray process this way.
//!
//! Answers and errors are passed through as JSON, unchanged: a caller sees exactly what the
//! dashboard sees over HTTP, including the `{"error":{"code","message"}}` object. When the
//! engine cannot be reached, the error has that shape too, with the code `offline`.

use crate::keys::secret::Secret;
pub use reqwest::Method;
use reqwest::{StatusCode, Url};
use serde_json::{Value, json};
use std::time::Duration;

/// Long enough for a key check with a slow provider (the engine bounds those itself).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

pub struct ApiClient {
    base: Url,
    token: Secret,
    http: reqwest::Client,
}

impl std::fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiClient")
            .field("base", &self.base.as_str())
            .finish_non_exhaustive()
    }
}

/// A request to the API: the path segments after `/api/v1/` (each one escaped), the query
/// pairs and the JSON body.
#[derive(Debug, Default)]
pub struct Call<'a> {
    pub method: Method,
    pub path: &'a [&'a str],
    pub query: &'a [(&'a str, String)],
    pub body: Option<Value>,
}

impl ApiClient {
    /// `base` is the engine's own address, such as `http://127.0.0.1:8787`.
    pub fn new(base: &str, token: Secret) -> Result<ApiClient, String> {
        ApiClient::with_timeouts(base, token, REQUEST_TIMEOUT, REQUEST_TIMEOUT)
    }

    /// Like `new`, with bounds on connecting and on the whole call: a caller that has a
    /// fallback (`redline status` asks the providers itself) gives up on a silent port fast.
    pub fn with_timeouts(
        base: &str,
        token: Secret,
        connect: Duration,
        total: Duration,
    ) -> Result<ApiClient, String> {
        let base = Url::parse(base)
            .ok()
            .filter(|url| url.scheme() == "http" && url.host().is_some())
            .ok_or_else(|| format!("{base:?} is not an http:// address of a Redline engine"))?;
        let http = reqwest::Client::builder()
            // The engine is on this machine: never through the user's HTTP proxy.
            .no_proxy()
            .connect_timeout(connect)
            .timeout(total)
            .build()
            .map_err(|e| format!("cannot set up an HTTP client: {e}"))?;
        Ok(ApiClient { base, token, http })
    }

    /// Sends the call. A JSON answer is returned as it came, a text answer as a JSON string.
    pub async fn send(&self, call: Call<'_>) -> Result<Value, Value> {
        self.send_with_status(call)
            .await
            .map_err(|failure| failure.body)
    }

    /// Like `send`, keeping the HTTP status of an error answer for callers that act on it
    /// (a 401 means the engine holds another token).
    pub async fn send_with_status(&self, call: Call<'_>) -> Result<Value, Failure> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| Failure::offline("the engine address cannot take a path"))?
            .clear()
            .extend(["api", "v1"])
            .extend(call.path);
        if !call.query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(call.query.iter().map(|(k, v)| (k, v.as_str())));
        }
        let mut request = self
            .http
            .request(call.method, url)
            .bearer_auth(self.token.expose());
        if let Some(body) = &call.body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| {
            Failure::offline(&format!(
                "Redline's engine is not answering ({})",
                without_url(e)
            ))
        })?;
        let status = response.status();
        let text = response.text().await.map_err(|e| {
            Failure::offline(&format!(
                "Redline's engine stopped in the middle of an answer ({})",
                without_url(e)
            ))
        })?;
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        if status.is_success() {
            Ok(body)
        } else {
            Err(Failure {
                status: Some(status.as_u16()),
                body: error_body(status, body),
            })
        }
    }
}

/// A call that failed: the HTTP status when the engine answered (none when it could not be
/// reached), and the `{"error":{"code","message"}}` object.
#[derive(Debug)]
pub struct Failure {
    pub status: Option<u16>,
    pub body: Value,
}

impl Failure {
    fn offline(reason: &str) -> Failure {
        Failure {
            status: None,
            body: offline(reason),
        }
    }

    /// The error's message, for a person.
    pub fn message(&self) -> &str {
        self.body["error"]["message"]
            .as_str()
            .unwrap_or("Redline's engine failed")
    }
}

/// The engine's own error object, or one made from whatever else it answered.
fn error_body(status: StatusCode, body: Value) -> Value {
    if body["error"]["message"].is_string() {
        return body;
    }
    let detail = match body {
        Value::String(text) if !text.trim().is_empty() => text.trim().chars().take(300).collect(),
        _ => format!("HTTP {status}"),
    };
    json!({"error": {"code": "error", "message": format!(
        "Redline's engine answered with an unexpected error: {detail}. Try again, or restart Redline."
    )}})
}

fn offline(reason: &str) -> Value {
    json!({"error": {"code": "offline", "message": format!(
        "{reason}. If it keeps happening, quit Redline from the tray menu and start it again."
    )}})
}

/// reqwest's error text without the URL it quotes (it holds nothing secret, but says nothing
/// the user can act on either).
fn without_url(err: reqwest::Error) -> String {
    let source = std::error::Error::source(&err).map(ToString::to_string);
    let message = err.without_url().to_string();
    match source {
        Some(source) => format!("{message}: {source}"),
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_addresses_are_accepted() {
        let token = || Secret::parse("rl_0123456789abcdef").unwrap();
        assert!(ApiClient::new("http://127.0.0.1:8787", token()).is_ok());
        for bad in ["127.0.0.1:8787", "ftp://127.0.0.1/", "", "http://"] {
            let err = ApiClient::new(bad, token()).unwrap_err();
            assert!(err.contains("not an http://"), "{bad}: {err}");
        }
    }

    #[test]
    fn errors_keep_the_engines_object_or_say_what_came() {
        let engine = json!({"error": {"code": "no_such_account", "message": "No account x."}});
        assert_eq!(error_body(StatusCode::NOT_FOUND, engine.clone()), engine);
        let text = error_body(
            StatusCode::BAD_GATEWAY,
            Value::String("upstream gone\n".into()),
        );
        assert_eq!(text["error"]["code"], "error");
        assert!(
            text["error"]["message"]
                .as_str()
                .unwrap()
                .contains("upstream gone"),
            "{text}"
        );
        let empty = error_body(StatusCode::INTERNAL_SERVER_ERROR, Value::Null);
        assert!(
            empty["error"]["message"].as_str().unwrap().contains("500"),
            "{empty}"
        );
    }
}
