//! What the OpenAI-compatible providers share. The inference providers (Groq, Cerebras, xAI,
//! Mistral, Together, Fireworks) have no usage endpoint for API keys, so the key check is their
//! model list, and what Redline can show comes from rate-limit headers whose names differ per
//! provider; their refusals are OpenAI-shaped or close to it. Each of their files declares its
//! header names and its own error words as one [`Compat`] value; the reading is here. The
//! clouds (DashScope, Ark, Azure) share the model-list check and the error code's two places;
//! the prepaid ones (DeepSeek, SiliconFlow, Novita, StepFun) the balance-aware refusal.

/// An OpenAI-compatible provider declared as data.
pub(super) struct Compat {
    pub facts: &'static Facts,
    /// The rate windows its answers' headers carry.
    pub rate_headers: &'static [RateHeaders],
    pub refusals: Refusals,
}

impl Provider for Compat {
    fn facts(&self) -> &'static Facts {
        self.facts
    }

    fn parse_usage(&self, body: &[u8], _context: &UsageContext) -> Result<Snapshot, UsageError> {
        model_list(body, self.facts.short_name)
    }

    fn header_windows(&self, headers: &HeaderMap, now: Timestamp) -> Vec<Window> {
        header_windows(headers, now, self.rate_headers)
    }

    fn classify(
        &self,
        status: u16,
        headers: &HeaderMap,
        body: &[u8],
        now: Timestamp,
    ) -> Classification {
        let refused = classify(&self.refusals, status, headers, body, now);
        match status == 429 && refused.cause != Cause::QuotaExhausted {
            true => {
                exhausted_window(self.header_windows(headers, now), &refused).unwrap_or(refused)
            }
            false => refused,
        }
    }
}

use super::wire::{
    self, error_message, go_duration, header_number, header_text, retry_after_header,
    retry_after_in_text,
};
use super::{Facts, Provider, UsageContext, UsageError, openai};
use crate::providers::snapshot::{Snapshot, Unit, Window, WindowKind};
use crate::providers::throttle::{Cause, Classification};
use http::HeaderMap;
use jiff::Timestamp;
use serde_json::Value;

/// One rate window a provider reports in three headers.
#[derive(Clone, Copy, Debug)]
pub(super) struct RateHeaders {
    pub limit: &'static str,
    pub remaining: &'static str,
    /// Time to a full refill: a Go duration (`2m59.56s`) or plain seconds (`33011.38`).
    pub reset: Option<&'static str>,
    pub kind: WindowKind,
    pub unit: Unit,
    /// Narrows the label where the kind alone would mislead (`per second`).
    pub scope: Option<&'static str>,
}

impl RateHeaders {
    pub const fn new(
        limit: &'static str,
        remaining: &'static str,
        reset: Option<&'static str>,
        kind: WindowKind,
        unit: Unit,
    ) -> RateHeaders {
        RateHeaders {
            limit,
            remaining,
            reset,
            kind,
            unit,
            scope: None,
        }
    }

    pub const fn scoped(mut self, scope: &'static str) -> RateHeaders {
        self.scope = Some(scope);
        self
    }

    /// The window, when both the limit and the remaining count parse.
    pub fn window(&self, headers: &HeaderMap, now: Timestamp) -> Option<Window> {
        let limit = header_number(headers, self.limit)?;
        let remaining = header_number(headers, self.remaining)?;
        let resets_at = self
            .reset
            .and_then(|name| header_text(headers, name))
            .and_then(go_duration)
            .and_then(|wait| now.checked_add(wait).ok());
        let window = Window::new(self.kind, self.unit)
            .counts(None, Some(limit), Some(remaining))
            .resets_at(resets_at);
        Some(match self.scope {
            Some(scope) => window.scope(scope),
            None => window,
        })
    }
}

/// On a 429, the window the answer's own headers show empty, the longest first: a month
/// used up is no rate to wait out. `None` when no window is empty.
fn exhausted_window(windows: Vec<Window>, refused: &Classification) -> Option<Classification> {
    let empty = windows
        .into_iter()
        .filter(|w| w.remaining.is_some_and(|left| left <= 0.0))
        .max_by_key(|w| period_rank(w.kind))?;
    let limit = empty.limit.map(|l| l as u64);
    let classified = |cause| {
        Classification::new(cause, &refused.message)
            .with_limit(limit)
            .with_retry_after(refused.retry_after)
    };
    Some(match empty.kind {
        WindowKind::Monthly | WindowKind::Weekly | WindowKind::Balance => {
            classified(Cause::QuotaExhausted).with_advice(format!(
                "The {} limit shown in the answer's headers is used up, so retrying will not \
                 help: wait for it to reset or raise the limit.",
                empty.kind.label_with(empty.scope.as_deref())
            ))
        }
        WindowKind::Daily if empty.unit == Unit::Requests => {
            classified(Cause::Tpd).with_advice(format!(
                "Requests-per-day limit{} reached. Wait for the daily reset or use another key.",
                limit.map(|n| format!(" {n}")).unwrap_or_default()
            ))
        }
        WindowKind::Daily | WindowKind::Tpd => classified(Cause::Tpd),
        WindowKind::Tpm => classified(Cause::Tpm),
        _ => classified(Cause::Rpm),
    })
}

/// Shortest period first.
fn period_rank(kind: WindowKind) -> u8 {
    match kind {
        WindowKind::Rpm | WindowKind::Tpm => 0,
        WindowKind::FiveHour => 1,
        WindowKind::Daily | WindowKind::Tpd => 2,
        WindowKind::Weekly => 3,
        WindowKind::Monthly => 4,
        WindowKind::Balance => 5,
    }
}

/// Every window of `specs` the headers carry.
pub(super) fn header_windows(
    headers: &HeaderMap,
    now: Timestamp,
    specs: &[RateHeaders],
) -> Vec<Window> {
    let mut windows: Vec<Window> = Vec::new();
    // The first spec of a kind that the headers carry wins (Mistral's `x-ratelimitbysize-*`
    // before its bare `ratelimitbysize-*` names of the same bucket).
    for window in specs.iter().filter_map(|spec| spec.window(headers, now)) {
        if !windows
            .iter()
            .any(|w| (w.kind, &w.scope) == (window.kind, &window.scope))
        {
            windows.push(window);
        }
    }
    windows
}

/// A model list proves the key and carries no quota: `{"object":"list","data":[...]}`, or
/// (Together) a bare list of models, each with an `id`.
pub(super) fn model_list(body: &[u8], who: &str) -> Result<Snapshot, UsageError> {
    let what = format!("{who} models");
    if let Ok(Value::Array(models)) = serde_json::from_slice::<Value>(body) {
        let all_models = !models.is_empty()
            && models
                .iter()
                .all(|m| m.get("id").is_some_and(Value::is_string));
        return match all_models {
            true => Ok(Snapshot::default()),
            false => Err(wire::shape(format!(
                "the {what} response is a list, but not of models"
            ))),
        };
    }
    model_list_under(body, who, &["data"])
}

/// A JSON object with a list under one of `keys` (Gemini's `models`, Perplexity's `data` or
/// `models`) proves the key and carries no quota.
pub(super) fn model_list_under(
    body: &[u8],
    who: &str,
    keys: &[&str],
) -> Result<Snapshot, UsageError> {
    let what = format!("{who} models");
    let json = wire::json_object(body, &what)?;
    match keys
        .iter()
        .any(|key| matches!(json.get(*key), Some(Value::Array(_))))
    {
        true => Ok(Snapshot::default()),
        false => Err(wire::shape(format!(
            "the {what} response has no {} list",
            keys.join(" or ")
        ))),
    }
}

/// The words of a provider's refusals that Redline tells apart.
pub(super) struct Refusals {
    /// "Groq", for messages and gateway pages.
    pub who: &'static str,
    /// Words (lower case) of a message about money or credits running out, not a rate.
    pub out_of_credits: &'static [&'static str],
    /// What to do about it.
    pub credits_advice: &'static str,
    /// Words (lower case) of the message, `code` or `type` that mean the provider is out of
    /// capacity, whatever the status (Cerebras' 429 `queue_exceeded`).
    pub overloaded: &'static [&'static str],
}

/// An OpenAI-shaped refusal (`{"error":{"message","type","code"}}`, or `message`/`error` at the
/// top): credits used up by the provider's words; a 429 by the OpenAI wording of its message
/// (tokens or requests, per minute or per day, the limit and the wait); 401 a bad key; 403 a
/// refused client; 413 a request larger than the per-minute token limit; 498 and 5xx overload.
pub(super) fn classify(
    refusals: &Refusals,
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    now: Timestamp,
) -> Classification {
    if let Some(page) = wire::html_error_page(refusals.who, status, headers, body, now) {
        return page;
    }
    let message = error_message(body);
    let json = wire::error_json(body);
    let field = |key: &str| {
        wire::error_text(json.as_ref(), &format!("/{key}"))
            .or_else(|| json.as_ref()?.get(key)?.as_str())
            .unwrap_or("")
    };
    let kind = field("type");
    let lower = message.to_ascii_lowercase();
    let words = format!("{lower} {} {kind}", field("code")).to_ascii_lowercase();
    let wait =
        wire::retry_after_header(headers, now).or_else(|| wire::retry_after_in_text(&message));
    if status == 402
        || refusals
            .out_of_credits
            .iter()
            .any(|words| lower.contains(words))
    {
        return Classification::new(Cause::QuotaExhausted, &message)
            .with_advice(refusals.credits_advice);
    }
    if refusals.overloaded.iter().any(|w| words.contains(w)) {
        return Classification::new(Cause::Overloaded, &message).with_retry_after(wait);
    }
    // xAI answers a wrong key with a 400.
    let bad_key = ["incorrect api key", "invalid api key", "wrong api key"]
        .iter()
        .any(|w| lower.contains(w));
    match status {
        400..=403 if bad_key => Classification::new(Cause::AuthInvalid, &message),
        429 => openai::rate_limit(kind, &message, wait),
        401 => Classification::new(Cause::AuthInvalid, &message),
        403 => Classification::new(Cause::ClientRejected, &message),
        413 => Classification::new(Cause::Other, &message)
            .retryable(false)
            .with_advice(format!(
                "The request is larger than {}'s per-minute token limit allows at once: send \
                 a smaller prompt or ask for fewer output tokens.",
                refusals.who
            )),
        498 | 500.. => Classification::new(Cause::Overloaded, &message).with_retry_after(wait),
        _ => Classification::new(Cause::Other, &message).retryable(false),
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

    fn now() -> Timestamp {
        "2026-11-29T12:00:00Z".parse().unwrap()
    }

    const REFUSALS: Refusals = Refusals {
        who: "Example",
        out_of_credits: &["no credits"],
        credits_advice: "Top up.",
        overloaded: &["queue_exceeded"],
    };

    #[test]
    fn model_lists_in_both_shapes_and_what_is_not_one() {
        assert_eq!(
            model_list(br#"{"object":"list","data":[]}"#, "X"),
            Ok(Snapshot::default())
        );
        assert_eq!(
            model_list(br#"[{"id":"m","object":"model"}]"#, "X"),
            Ok(Snapshot::default())
        );
        for body in [
            &b"[]"[..],
            b"[{\"name\":\"m\"}]",
            b"{\"models\":[]}",
            b"[1]",
        ] {
            assert!(matches!(model_list(body, "X"), Err(UsageError::Shape(_))));
        }
    }

    #[test]
    fn header_windows_need_limit_and_remaining() {
        let spec = RateHeaders::new("l", "r", Some("t"), WindowKind::Rpm, Unit::Requests)
            .scoped("per second");
        let headers = wire::header_map(&[("l", "10"), ("r", "4"), ("t", "1.5")]);
        let windows = header_windows(&headers, now(), &[spec]);
        assert_eq!(windows.len(), 1);
        let w = &windows[0];
        assert_eq!(
            (w.used, w.limit, w.remaining),
            (Some(6.0), Some(10.0), Some(4.0))
        );
        assert_eq!(w.scope.as_deref(), Some("per second"));
        assert_eq!(
            w.resets_at,
            now()
                .checked_add(std::time::Duration::from_millis(1500))
                .ok()
        );
        let missing = wire::header_map(&[("l", "10")]);
        assert!(header_windows(&missing, now(), &[spec]).is_empty());
    }

    #[test]
    fn refusals_by_status_and_words() {
        let c = |status, body: &str| {
            classify(&REFUSALS, status, &HeaderMap::new(), body.as_bytes(), now())
        };
        let credits = c(429, r#"{"error":"You have no credits left."}"#);
        assert_eq!(
            (credits.cause, credits.advice.as_str()),
            (Cause::QuotaExhausted, "Top up.")
        );
        assert_eq!(c(402, "{}").cause, Cause::QuotaExhausted);
        assert_eq!(c(401, "{}").cause, Cause::AuthInvalid);
        assert_eq!(c(403, "{}").cause, Cause::ClientRejected);
        assert_eq!(c(498, "{}").cause, Cause::Overloaded);
        let big = c(413, r#"{"error":{"message":"Request too large"}}"#);
        assert_eq!((big.cause, big.retryable), (Cause::Other, false));
        assert!(big.advice.contains("Example's per-minute token limit"));
        let top_level = c(
            429,
            r#"{"message":"Tokens per minute limit exceeded","type":"tokens"}"#,
        );
        assert_eq!(top_level.cause, Cause::Tpm);
        let queue = c(
            429,
            r#"{"message":"We're experiencing high traffic right now!","code":"queue_exceeded"}"#,
        );
        assert_eq!((queue.cause, queue.retryable), (Cause::Overloaded, true));
        let wrong = c(
            400,
            r#"{"code":"Client specified an invalid argument","error":"Incorrect API key provided: xa***cd."}"#,
        );
        assert_eq!(wrong.cause, Cause::AuthInvalid);
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
