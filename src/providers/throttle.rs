//! Why a provider refused a request, and what the user should do about it.
//!
//! Each provider's `classify` (in `providers/`) turns (status, headers, body) into a
//! [`Classification`] using the shared helpers here: Retry-After parsing, numbers in messages,
//! and advice sentences that name the cause.

use http::HeaderMap;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The cause of a refusal, as DESIGN.md names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// Too many requests in flight at once.
    Concurrency,
    Rpm,
    Tpm,
    Tpd,
    /// A quota window (5-hour, weekly, monthly, credits) is used up.
    QuotaExhausted,
    /// A spend limit the user or organisation set is reached.
    SpendCap,
    /// The provider is overloaded; not the user's fault.
    Overloaded,
    /// The key is wrong, revoked or for another product.
    AuthInvalid,
    /// The key is fine but this client (User-Agent, region, model) is not allowed.
    ClientRejected,
    Other,
}

impl Cause {
    pub const ALL: [Cause; 10] = [
        Cause::Concurrency,
        Cause::Rpm,
        Cause::Tpm,
        Cause::Tpd,
        Cause::QuotaExhausted,
        Cause::SpendCap,
        Cause::Overloaded,
        Cause::AuthInvalid,
        Cause::ClientRejected,
        Cause::Other,
    ];

    /// The snake_case name used in JSON, metrics and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::Concurrency => "concurrency",
            Cause::Rpm => "rpm",
            Cause::Tpm => "tpm",
            Cause::Tpd => "tpd",
            Cause::QuotaExhausted => "quota_exhausted",
            Cause::SpendCap => "spend_cap",
            Cause::Overloaded => "overloaded",
            Cause::AuthInvalid => "auth_invalid",
            Cause::ClientRejected => "client_rejected",
            Cause::Other => "other",
        }
    }

    /// Whether waiting and sending the same request again usually succeeds.
    pub fn retry_helps(self) -> bool {
        matches!(
            self,
            Cause::Concurrency | Cause::Rpm | Cause::Tpm | Cause::Overloaded | Cause::Other
        )
    }

    /// Plain words for a person: "concurrency limit", "quota used up".
    pub fn describe(self) -> &'static str {
        match self {
            Cause::Concurrency => "concurrency limit",
            Cause::Rpm => "requests-per-minute limit",
            Cause::Tpm => "tokens-per-minute limit",
            Cause::Tpd => "tokens-per-day limit",
            Cause::QuotaExhausted => "quota used up",
            Cause::SpendCap => "spend limit reached",
            Cause::Overloaded => "provider overloaded",
            Cause::AuthInvalid => "key rejected",
            Cause::ClientRejected => "client not allowed",
            Cause::Other => "refused",
        }
    }
}

/// A classified refusal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Classification {
    pub cause: Cause,
    /// How long to wait before retrying, when the provider said (header or message text).
    pub retry_after: Option<Duration>,
    /// Whether waiting and retrying the same request can succeed.
    pub retryable: bool,
    /// One sentence for the user: the cause, then what to do.
    pub advice: String,
    /// The provider's own message (shortened), for the curious.
    pub message: String,
    /// The limit the provider named, when it did ("max concurrency: 30").
    pub limit: Option<u64>,
}

impl Classification {
    /// A classification with the standard advice for `cause`.
    pub fn new(cause: Cause, message: &str) -> Classification {
        Classification {
            cause,
            retry_after: None,
            retryable: default_retryable(cause),
            advice: advice(cause, None),
            message: shorten(message),
            limit: None,
        }
    }

    /// Records the limit the provider named, and refreshes the advice to mention it.
    pub fn with_limit(mut self, limit: Option<u64>) -> Classification {
        self.limit = limit;
        self.advice = advice(self.cause, limit);
        self
    }

    pub fn with_retry_after(mut self, retry_after: Option<Duration>) -> Classification {
        self.retry_after = retry_after;
        self
    }

    pub fn retryable(mut self, retryable: bool) -> Classification {
        self.retryable = retryable;
        self
    }

    /// Replaces the advice with provider-specific words.
    pub fn with_advice(mut self, advice: impl Into<String>) -> Classification {
        self.advice = advice.into();
        self
    }
}

fn default_retryable(cause: Cause) -> bool {
    cause.retry_helps()
}

/// The standard advice sentence for a cause. It names no retry time: that is `retry_after`,
/// which each view words once, counting down from when the refusal happened.
pub fn advice(cause: Cause, limit: Option<u64>) -> String {
    let limit_text = |what: &str| match limit {
        Some(n) => format!("{what} {n} reached"),
        None => format!("{what} reached"),
    };
    match cause {
        Cause::Concurrency => format!(
            "{}; your quota is fine. Lower parallel agents or enable Redline's queue.",
            limit_text("Concurrency limit")
        ),
        Cause::Rpm => format!(
            "{}. Slow down or spread requests over the minute.",
            limit_text("Requests-per-minute limit")
        ),
        Cause::Tpm => format!(
            "{}. Send smaller prompts or fewer at once.",
            limit_text("Tokens-per-minute limit")
        ),
        Cause::Tpd => format!(
            "{}. Wait for the daily reset or use another key.",
            limit_text("Tokens-per-day limit")
        ),
        Cause::QuotaExhausted => {
            "Quota used up; retrying will not help. Wait for the window to reset, top up, or switch keys.".into()
        }
        Cause::SpendCap => {
            "Spend limit reached; retrying will not help. Raise the limit in the provider's console or wait for it to reset.".into()
        }
        Cause::Overloaded => {
            "The provider is overloaded; this is not your quota. Retry shortly.".into()
        }
        Cause::AuthInvalid => {
            "Key rejected: it is wrong, revoked or for another product. Check it, then `redline keys rotate`.".into()
        }
        Cause::ClientRejected => {
            "The key is fine but this client was refused (tool identity, region or model). Use a supported tool or check the plan's terms.".into()
        }
        Cause::Other => "The provider refused the request.".into(),
    }
}

/// `45s`, `3m 20s`, `1h 12m`.
pub fn human_duration(d: Duration) -> String {
    let secs = d.as_secs();
    match secs {
        0 if d.as_millis() > 0 => format!("{}ms", d.as_millis()),
        0..60 => format!("{secs}s"),
        60..3600 if secs.is_multiple_of(60) => format!("{}m", secs / 60),
        60..3600 => format!("{}m {}s", secs / 60, secs % 60),
        3600..172_800 => format!("{}h {}m", secs / 3600, (secs % 3600) / 60),
        _ => format!("{}d {}h", secs / 86_400, (secs % 86_400) / 3600),
    }
}

/// `1h 12m` until `at`, or `None` when it is past or unknown.
pub fn time_until(at: Option<Timestamp>, now: Timestamp) -> Option<String> {
    let left = Duration::try_from(at?.duration_since(now)).ok()?;
    Some(human_duration(left))
}

/// A wait to tell a person: whole seconds, rounded up so that "retry in" is never too early
/// (859 ms is `1s`, never `859ms`).
pub fn human_wait(d: Duration) -> String {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    human_duration(Duration::from_secs(secs))
}

/// Retry-After from headers: `retry-after-ms`, then `retry-after` as seconds or an HTTP date.
pub fn retry_after_header(headers: &HeaderMap, now: Timestamp) -> Option<Duration> {
    let text = |name: &str| headers.get(name)?.to_str().ok().map(str::trim);
    if let Some(ms) = text("retry-after-ms").and_then(|t| t.parse::<f64>().ok()) {
        return (ms.is_finite() && ms >= 0.0).then(|| Duration::from_secs_f64(ms / 1000.0));
    }
    let value = text("retry-after")?;
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let at = jiff::fmt::rfc2822::parse(value).ok()?.timestamp();
    Some(Duration::try_from(at.duration_since(now)).unwrap_or(Duration::ZERO))
}

/// A wait named in message text: "try again after 3 seconds", "Please try again in 1.146s",
/// "try again in 20ms", "retry in 2m30s".
pub fn retry_after_in_text(text: &str) -> Option<Duration> {
    let lower = text.to_ascii_lowercase();
    let start = ["again after ", "again in ", "retry after ", "retry in "]
        .iter()
        .find_map(|marker| lower.find(marker).map(|i| i + marker.len()))?;
    let rest = &lower[start..];
    let end = rest
        .find(['.', ',', ';'])
        .filter(|&i| !rest[i + 1..].starts_with(|c: char| c.is_ascii_digit()));
    let phrase = rest[..end.unwrap_or(rest.len())].trim();
    parse_wait(phrase)
}

/// `3 seconds`, `1.146s`, `20ms`, `6m0s`, `1h2m3s`, `2 minutes`.
fn parse_wait(phrase: &str) -> Option<Duration> {
    let mut total = 0.0;
    let mut rest = phrase.trim();
    let mut matched = false;
    while let Some(first) = rest.chars().next().filter(|c| c.is_ascii_digit()) {
        let _ = first;
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..digits].parse().ok()?;
        rest = rest[digits..].trim_start();
        let unit_len = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let factor = match &rest[..unit_len] {
            "ms" | "millisecond" | "milliseconds" => 0.001,
            "s" | "sec" | "secs" | "second" | "seconds" | "" => 1.0,
            "m" | "min" | "mins" | "minute" | "minutes" => 60.0,
            "h" | "hr" | "hour" | "hours" => 3600.0,
            _ => return None,
        };
        total += number * factor;
        matched = true;
        rest = rest[unit_len..].trim_start();
    }
    matched.then(|| Duration::from_secs_f64(total))
}

/// A Go-style duration as OpenAI sends in `x-ratelimit-reset-*`: `1s`, `6m0s`, `12ms`, `1h2m3s`.
pub fn go_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if text.is_empty() || text.contains(' ') {
        return None;
    }
    parse_wait(text)
}

/// The first whole number after `marker` in `text` ("max concurrency: 30" -> 30).
pub fn number_after(text: &str, marker: &str) -> Option<u64> {
    let lower = text.to_ascii_lowercase();
    let rest = &lower[lower.find(&marker.to_ascii_lowercase())? + marker.len()..];
    let digits: String = rest
        .trim_start_matches(|c: char| !c.is_ascii_digit())
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// Whether a body looks like an HTML page (a gateway's error page) rather than JSON.
pub fn is_html(body: &[u8]) -> bool {
    let start = String::from_utf8_lossy(&body[..body.len().min(256)])
        .trim_start()
        .to_ascii_lowercase();
    start.starts_with("<!doctype html") || start.starts_with("<html") || start.starts_with("<head")
}

/// The human message of an error body: `error.message`, `message`, `msg`, `error` (string),
/// `base_resp.status_msg`; otherwise the start of the body.
pub fn error_message(body: &[u8]) -> String {
    let json: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let from_json = json.as_ref().and_then(|v| {
        [
            v.pointer("/error/message"),
            v.get("message"),
            v.get("msg"),
            v.get("error"),
            v.pointer("/base_resp/status_msg"),
        ]
        .into_iter()
        .flatten()
        .find_map(|m| m.as_str().map(str::to_owned))
    });
    from_json.unwrap_or_else(|| {
        if is_html(body) {
            "an HTML error page".to_owned()
        } else {
            String::from_utf8_lossy(&body[..body.len().min(200)])
                .trim()
                .to_owned()
        }
    })
}

/// Messages are shown in one line of a tray menu or notification.
fn shorten(message: &str) -> String {
    let one_line = message.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= 300 {
        one_line
    } else {
        one_line.chars().take(299).chain(['…']).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn retry_after_headers_in_every_form() {
        let now: Timestamp = "2026-11-29T12:00:00Z".parse().unwrap();
        let h = headers(&[("retry-after-ms", "1500"), ("retry-after", "9")]);
        assert_eq!(
            retry_after_header(&h, now),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            retry_after_header(&headers(&[("retry-after", "20")]), now),
            Some(Duration::from_secs(20))
        );
        assert_eq!(
            retry_after_header(&headers(&[("retry-after", "0")]), now),
            Some(Duration::ZERO)
        );
        let date = headers(&[("retry-after", "Sun, 29 Nov 2026 12:01:30 GMT")]);
        assert_eq!(
            retry_after_header(&date, now),
            Some(Duration::from_secs(90))
        );
        let past = headers(&[("retry-after", "Sun, 29 Nov 2026 11:00:00 GMT")]);
        assert_eq!(retry_after_header(&past, now), Some(Duration::ZERO));
        assert_eq!(
            retry_after_header(&headers(&[("retry-after", "soon")]), now),
            None
        );
        assert_eq!(retry_after_header(&HeaderMap::new(), now), None);
    }

    #[test]
    fn waits_named_in_messages() {
        let cases = [
            (
                "request reached organization max concurrency: 30, please try again after 3 seconds",
                3.0,
            ),
            (
                "Please try again in 1.146s. Visit https://platform.openai.com",
                1.146,
            ),
            ("Please try again in 20ms.", 0.02),
            ("please retry in 2m30s", 150.0),
            ("try again after 1 minute", 60.0),
        ];
        for (text, secs) in cases {
            let got = retry_after_in_text(text).unwrap_or_else(|| panic!("{text}"));
            assert!((got.as_secs_f64() - secs).abs() < 1e-9, "{text}: {got:?}");
        }
        assert_eq!(
            retry_after_in_text("The engine is currently overloaded, please try again later"),
            None
        );
    }

    #[test]
    fn go_durations() {
        assert_eq!(go_duration("1s"), Some(Duration::from_secs(1)));
        assert_eq!(go_duration("6m0s"), Some(Duration::from_secs(360)));
        assert_eq!(go_duration("12ms"), Some(Duration::from_millis(12)));
        assert_eq!(go_duration("1h2m3s"), Some(Duration::from_secs(3723)));
        assert_eq!(go_duration("soon"), None);
        assert_eq!(go_duration(""), None);
    }

    #[test]
    fn numbers_after_markers() {
        let text = "Your account org-1 request reached organization max concurrency: 30, please try again after 1 seconds";
        assert_eq!(number_after(text, "max concurrency"), Some(30));
        assert_eq!(number_after("... max RPM: 500 ...", "max rpm"), Some(500));
        assert_eq!(number_after("nothing here", "max rpm"), None);
    }

    #[test]
    fn advice_names_the_cause_and_limit_but_leaves_the_wait_to_retry_after() {
        let c = Classification::new(Cause::Concurrency, "x")
            .with_limit(Some(30))
            .with_retry_after(Some(Duration::from_secs(3)));
        assert_eq!(
            c.advice,
            "Concurrency limit 30 reached; your quota is fine. Lower parallel agents or enable Redline's queue."
        );
        assert_eq!(c.retry_after, Some(Duration::from_secs(3)));
        assert!(c.retryable);
        assert!(!Classification::new(Cause::QuotaExhausted, "x").retryable);
        assert_eq!(human_duration(Duration::from_secs(4320)), "1h 12m");
        assert_eq!(human_duration(Duration::from_secs(200)), "3m 20s");
        assert_eq!(human_wait(Duration::from_millis(859)), "1s");
        assert_eq!(human_wait(Duration::from_millis(59_001)), "1m");
        assert_eq!(human_wait(Duration::from_secs(25)), "25s");
        assert_eq!(
            human_duration(Duration::from_secs(4 * 86_400 + 7200)),
            "4d 2h"
        );
    }

    #[test]
    fn error_messages_and_html_pages() {
        assert_eq!(
            error_message(br#"{"error":{"message":"boom","type":"x"}}"#),
            "boom"
        );
        assert_eq!(
            error_message(br#"{"code":1001,"success":false,"msg":"Authorization Token Missing"}"#),
            "Authorization Token Missing"
        );
        assert_eq!(
            error_message(b"<!DOCTYPE html><html><body>502</body></html>"),
            "an HTML error page"
        );
        assert!(is_html(b"  <html><head>"));
        assert!(!is_html(br#"{"a":1}"#));
        let long = "x ".repeat(400);
        assert!(
            Classification::new(Cause::Other, &long)
                .message
                .chars()
                .count()
                <= 300
        );
    }
}
