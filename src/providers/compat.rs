//! What several OpenAI-compatible providers answer alike: their model list as the call that
//! proves a key works (they have no usage endpoint), and error bodies whose machine-readable
//! code sits in `error.code` or, in native APIs, in a top-level `code`.

use super::UsageError;
use super::wire::{self, error_message, retry_after_header, retry_after_in_text, shape};
use crate::providers::snapshot::Snapshot;
use crate::providers::throttle::{Cause, Classification};
use http::HeaderMap;
use jiff::Timestamp;
use serde_json::Value;

/// A model list (`{"object":"list","data":[...]}`) carries no quota: an empty snapshot, or a
/// shape error when `data` is not a list (`what` names the answer, never its contents).
pub(super) fn model_list(body: &[u8], what: &str) -> Result<Snapshot, UsageError> {
    let json = wire::json_object(body, what)?;
    match json.get("data") {
        Some(Value::Array(_)) => Ok(Snapshot::default()),
        _ => Err(shape(format!("the {what} response has no data list"))),
    }
}

/// The error's code: `error.code`, else a top-level `code`, as text (`"Throttling.RateQuota"`,
/// `"429"`); empty when there is none.
pub(super) fn error_code(body: &[u8]) -> String {
    let Some(json) = wire::error_json(body) else {
        return String::new();
    };
    [json.pointer("/error/code"), json.get("code")]
        .into_iter()
        .flatten()
        .find_map(|code| match code {
            Value::String(text) => Some(text.trim().to_owned()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
        .unwrap_or_default()
}

/// A refusal from a prepaid provider (`who`: "DeepSeek"): the balance too low when `broke`
/// says so (given the status and the message in lower case), else by status: 429 a request
/// rate, 401 a bad key, 403 a refused client, 5xx overload; any other is not retried.
pub(super) fn prepaid_refusal(
    who: &str,
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    now: Timestamp,
    broke: impl Fn(u16, &str) -> bool,
) -> Classification {
    if let Some(page) = wire::html_error_page(who, status, headers, body, now) {
        return page;
    }
    let message = error_message(body);
    let wait = retry_after_header(headers, now).or_else(|| retry_after_in_text(&message));
    if broke(status, &message.to_ascii_lowercase()) {
        return Classification::new(Cause::QuotaExhausted, &message).with_advice(format!(
            "The {who} balance is too low, so retrying will not help: top up the account."
        ));
    }
    match status {
        429 => Classification::new(Cause::Rpm, &message).with_retry_after(wait),
        401 => Classification::new(Cause::AuthInvalid, &message),
        403 => Classification::new(Cause::ClientRejected, &message),
        500.. => Classification::new(Cause::Overloaded, &message).with_retry_after(wait),
        _ => Classification::new(Cause::Other, &message).retryable(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_model_list_is_an_empty_snapshot_and_anything_else_a_shape_error() {
        let list = br#"{"object":"list","data":[{"id":"qwen-plus","object":"model"}]}"#;
        assert_eq!(model_list(list, "models"), Ok(Snapshot::default()));
        assert_eq!(
            model_list(br#"{"data":[]}"#, "models"),
            Ok(Snapshot::default())
        );
        for body in [
            &br#"{"hello":"world"}"#[..],
            br#"{"data":{}}"#,
            b"[]",
            b"<html>",
        ] {
            assert!(
                matches!(model_list(body, "models"), Err(UsageError::Shape(_))),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn codes_nested_top_level_numeric_or_missing() {
        assert_eq!(
            error_code(br#"{"error":{"code":"Throttling.RateQuota","message":"x"}}"#),
            "Throttling.RateQuota"
        );
        assert_eq!(
            error_code(br#"{"code":"Arrearage","message":"x"}"#),
            "Arrearage"
        );
        assert_eq!(error_code(br#"{"error":{"code":429}}"#), "429");
        assert_eq!(
            error_code(br#"{"error":{"code":null},"code":" Ok "}"#),
            "Ok"
        );
        assert_eq!(error_code(b"not json"), "");
        assert_eq!(error_code(br#"{"code":[1]}"#), "");
    }
}
