//! Refusals that arrive inside an HTTP 2xx answer (docs/providers.md, "Reading the wire"):
//! Anthropic's `event: error` in a stream, OpenRouter's error chunks and error bodies once a
//! model has started, Z.ai's business codes and MiniMax's `base_resp.status_code` in 200 JSON.
//! The client still gets the answer untouched; Redline recognises the error here, has the
//! provider's classifier name its cause, and records the request under the status the error
//! stands for ([`implied_status`]), so it counts as an error like any 429.

use crate::providers::throttle::Cause;
use memchr::memmem;
use serde::Deserialize;
use serde_json::Value;
use std::sync::LazyLock;

/// An error found inside a 2xx answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InBand {
    /// The HTTP status the body names, when it names one (OpenRouter's `error.code`, the
    /// status of an Anthropic error type).
    pub status: Option<u16>,
    /// The JSON that carried it (an SSE event's data, or the whole body), for the classifier.
    pub body: Vec<u8>,
}

/// The words every error shape contains, one of them at least: searching for them is far
/// cheaper than parsing every answer and token chunk. With its quotes, a key such as `"error"`
/// only occurs unescaped, never inside a JSON string.
static NEEDLES: LazyLock<[memmem::Finder<'static>; 5]> = LazyLock::new(|| {
    [
        "\"error\"",
        "base_resp",
        "\"success\"",
        "\"code\"",
        // A failed Responses stream need not say "error" anywhere else.
        "response.failed",
    ]
    .map(memmem::Finder::new)
});

/// Whether `json` may carry an error; [`error_in`] says whether it does.
pub fn may_hold_error(json: &[u8]) -> bool {
    NEEDLES.iter().any(|needle| needle.find(json).is_some())
}

/// The top-level fields that can say "error"; all others are skipped while parsing.
#[derive(Deserialize)]
struct TopLevel {
    #[serde(rename = "type")]
    kind: Option<Value>,
    error: Option<Value>,
    base_resp: Option<Value>,
    success: Option<Value>,
    code: Option<Value>,
    choices: Option<serde::de::IgnoredAny>,
    response: Option<Value>,
}

/// The error `json` carries at its top level, if any:
/// - `{"type":"error","error":{...}}`: Anthropic's error event (and the Responses API's);
/// - `{"type":"response.failed","response":{"error":{...}}}`: a failed Responses stream;
/// - `{"error":{...}}` (an object or a message): OpenAI-style, OpenRouter, Z.ai;
/// - `{"base_resp":{"status_code":N}}` with N other than 0: MiniMax;
/// - `{"success":false,...}`, or a `code` other than 0 or 200 beside no `choices`: Z.ai's
///   business codes.
pub fn error_in(json: &[u8]) -> Option<InBand> {
    let top: TopLevel = serde_json::from_slice(json).ok()?;
    let kind = top.kind.as_ref().and_then(Value::as_str);
    let error = match kind {
        Some("response.failed") => top.response.as_ref().and_then(|r| r.get("error")),
        _ => top.error.as_ref(),
    }
    .filter(|e| is_error(e));
    let found = kind == Some("error")
        || kind == Some("response.failed")
        || error.is_some()
        || top
            .base_resp
            .as_ref()
            .and_then(|b| b.get("status_code"))
            .and_then(integer)
            .is_some_and(|code| code != 0)
        || top.success.as_ref().and_then(Value::as_bool) == Some(false)
        || (top.choices.is_none()
            && top
                .code
                .as_ref()
                .and_then(integer)
                .is_some_and(|code| code != 0 && code != 200));
    found.then(|| InBand {
        status: error
            .and_then(status_named)
            .or_else(|| top.code.as_ref().and_then(http_status)),
        body: json.to_vec(),
    })
}

/// An `error` value that reports something: an object, or a message.
fn is_error(value: &Value) -> bool {
    match value {
        Value::Object(map) => !map.is_empty(),
        Value::String(text) => !text.trim().is_empty(),
        _ => false,
    }
}

/// The HTTP status an error object names: OpenRouter's numeric `code`, or the status
/// Anthropic gives each error `type` (docs/providers.md, "Anthropic API").
fn status_named(error: &Value) -> Option<u16> {
    error.get("code").and_then(http_status).or_else(|| {
        let status = match error.get("type")?.as_str()? {
            "invalid_request_error" => 400,
            "authentication_error" => 401,
            "billing_error" => 402,
            "permission_error" => 403,
            "not_found_error" => 404,
            "request_too_large" => 413,
            "rate_limit_error" => 429,
            "api_error" => 500,
            "timeout_error" => 504,
            "overloaded_error" => 529,
            _ => return None,
        };
        Some(status)
    })
}

/// A number (or numeric string) that is an HTTP error status, 400-599; Z.ai's four-digit
/// business codes are not.
fn http_status(value: &Value) -> Option<u16> {
    integer(value)
        .filter(|code| (400..=599).contains(code))
        .map(|code| code as u16)
}

fn integer(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

/// The status a request that ended in an in-band error is recorded under: the one the body
/// named, else the one its cause usually comes with (429 for limits and quotas, 402 for a
/// spend cap, 503 overloaded, 401 and 403 for a key or client refused, 502 for any other
/// failure relayed inside a 200).
pub fn implied_status(named: Option<u16>, cause: Cause) -> u16 {
    named.unwrap_or(match cause {
        Cause::Concurrency | Cause::Rpm | Cause::Tpm | Cause::Tpd | Cause::QuotaExhausted => 429,
        Cause::SpendCap => 402,
        Cause::Overloaded => 503,
        Cause::AuthInvalid => 401,
        Cause::ClientRejected => 403,
        Cause::Other => 502,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(json: &str) -> Option<Option<u16>> {
        let found = error_in(json.as_bytes()).map(|found| found.status);
        if found.is_some() {
            assert!(may_hold_error(json.as_bytes()), "the search finds {json}");
        }
        found
    }

    #[test]
    fn each_providers_error_shape_is_found() {
        let cases = [
            // Anthropic's event: error, and the Responses API's.
            (
                r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
                Some(Some(529)),
            ),
            (
                r#"{"type":"error","error":{"type":"rate_limit_error","message":"x"},"request_id":"req_1"}"#,
                Some(Some(429)),
            ),
            (
                r#"{"type":"error","code":"rate_limit_exceeded","message":"slow down"}"#,
                Some(None),
            ),
            (
                r#"{"type":"response.failed","response":{"status":"failed","error":{"code":"server_error","message":"x"}}}"#,
                Some(None),
            ),
            // Found by proxy/props.rs: a failed Responses stream that says nothing more was
            // missed by the search.
            (r#"{"type":"response.failed"}"#, Some(None)),
            // OpenRouter: error chunks in a stream, error bodies.
            (
                r#"{"id":"gen-1","object":"chat.completion.chunk","error":{"code":429,"message":"Rate limit exceeded"},"choices":[{"index":0,"delta":{"content":""},"finish_reason":"error"}]}"#,
                Some(Some(429)),
            ),
            (
                r#"{"error":{"code":502,"message":"Provider returned error","metadata":{}}}"#,
                Some(Some(502)),
            ),
            (
                r#"{"error":{"code":"server_error","message":"Provider disconnected"}}"#,
                Some(None),
            ),
            // Z.ai's business codes, OpenAI-style and at the top.
            (
                r#"{"error":{"code":"1302","message":"High concurrency usage of this API"}}"#,
                Some(None),
            ),
            (
                r#"{"code":1113,"success":false,"msg":"Insufficient balance"}"#,
                Some(None),
            ),
            (r#"{"code":1305,"msg":"busy"}"#, Some(None)),
            (r#"{"code":500,"msg":"internal error"}"#, Some(Some(500))),
            // MiniMax.
            (
                r#"{"id":"x","choices":null,"base_resp":{"status_code":1002,"status_msg":"rate limit exceeded(RPM)"}}"#,
                Some(None),
            ),
            (r#"{"base_resp":{"status_code":"1008"}}"#, Some(None)),
            // An OpenAI-compatible error message as a string.
            (r#"{"error":"model overloaded"}"#, Some(None)),
        ];
        for (json, expected) in cases {
            assert_eq!(status(json), expected, "{json}");
        }
    }

    #[test]
    fn answers_are_not_mistaken_for_errors() {
        let answers = [
            r#"{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"an \"error\" here"}}]}"#,
            r#"{"choices":[{"message":{"content":"ok"}}],"usage":{"prompt_tokens":1},"error":null}"#,
            r#"{"choices":[],"base_resp":{"status_code":0,"status_msg":""}}"#,
            r#"{"code":200,"success":true,"data":{}}"#,
            r#"{"code":0,"msg":"ok","choices":[]}"#,
            r#"{"code":1302,"choices":[{"message":{"content":"a code in an answer"}}]}"#,
            r#"{"type":"message","content":[{"type":"tool_use","input":{"error":{"code":429}}}]}"#,
            r#"{"type":"response.completed","response":{"error":null,"usage":{"input_tokens":1}}}"#,
            r#"{"type":"content_block_delta","delta":{"text":"error"}}"#,
            r#"{"error":{}}"#,
            r#"{"error":""}"#,
            r#"[{"error":{"code":429}}]"#,
            r#"{"error":{"code":429}"#,
            "not json",
        ];
        for json in answers {
            assert_eq!(status(json), None, "{json}");
        }
    }

    #[test]
    fn the_recorded_status_is_the_named_one_else_the_causes() {
        assert_eq!(implied_status(Some(529), Cause::Overloaded), 529);
        assert_eq!(implied_status(None, Cause::Concurrency), 429);
        assert_eq!(implied_status(None, Cause::QuotaExhausted), 429);
        assert_eq!(implied_status(None, Cause::SpendCap), 402);
        assert_eq!(implied_status(None, Cause::Overloaded), 503);
        assert_eq!(implied_status(None, Cause::AuthInvalid), 401);
        assert_eq!(implied_status(None, Cause::ClientRejected), 403);
        assert_eq!(implied_status(None, Cause::Other), 502);
    }
}
