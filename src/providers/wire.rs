//! Reading providers' wire formats: numbers that may be strings, fields, headers, error bodies,
//! SSE error frames, and the UTC midnights limits reset at. What every adapter reads the same way
//! lives here; what a field or code means stays in the provider's own file.

use super::UsageError;
use crate::providers::throttle::{Cause, Classification};
use http::HeaderMap;
use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde_json::Value;
use std::time::Duration;

/// A usage response Redline cannot read; `what` says what was missing, never the body.
pub(super) fn shape(what: impl Into<String>) -> UsageError {
    UsageError::Shape(what.into())
}

/// The body as a JSON object. `what` names the response in errors ("Z.ai usage").
pub(super) fn json_object(body: &[u8], what: &str) -> Result<Value, UsageError> {
    if is_html(body) {
        return Err(shape(format!(
            "the {what} URL answered with an HTML page, not JSON"
        )));
    }
    let json: Value = serde_json::from_slice(body)
        .map_err(|_| shape(format!("the {what} response is not valid JSON")))?;
    if !json.is_object() {
        return Err(shape(format!("the {what} response is not a JSON object")));
    }
    Ok(json)
}

/// The names of the fields in a JSON answer, never their values: `data`, `data.limits[]`,
/// `data.limits[].type`, down to four levels, at most [`MAX_FIELD_NAMES`] of them, for telling
/// what a provider's changed answer holds. Empty for a body that is not JSON.
pub fn field_names(body: &[u8]) -> Vec<String> {
    fn walk(value: &Value, path: &str, depth: usize, names: &mut Vec<String>) {
        if depth == 4 || names.len() >= MAX_FIELD_NAMES {
            return;
        }
        match value {
            Value::Object(map) => {
                for (key, inner) in map {
                    // A key is the provider's name for a field, but keep it short and plain.
                    let key: String = key
                        .chars()
                        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
                        .take(40)
                        .collect();
                    let name = if path.is_empty() {
                        key
                    } else {
                        format!("{path}.{key}")
                    };
                    if !names.contains(&name) && names.len() < MAX_FIELD_NAMES {
                        names.push(name.clone());
                    }
                    walk(inner, &name, depth + 1, names);
                }
            }
            Value::Array(items) => {
                let name = format!("{path}[]");
                for item in items.iter().take(3) {
                    walk(item, &name, depth, names);
                }
            }
            _ => {}
        }
    }
    let mut names = Vec::new();
    if let Ok(json) = serde_json::from_slice::<Value>(body) {
        walk(&json, "", 0, &mut names);
    }
    names.sort();
    names
}

/// How many field names [`field_names`] lists.
pub const MAX_FIELD_NAMES: usize = 40;

/// `object[key]`, treating `null` as absent.
pub(super) fn field<'a>(object: &'a Value, key: &str) -> Option<&'a Value> {
    object.get(key).filter(|value| !value.is_null())
}

/// A finite JSON number or decimal string (`49.58894`, `"1302"`, `" 7.10 "`): providers send
/// counts and amounts either way.
pub(super) fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(text) => text.trim().parse::<f64>().ok(),
        _ => None,
    }
    .filter(|n| n.is_finite())
}

/// `object[key]` as a number: `None` when absent or null, a shape error "`name()` is not a
/// number" when it is anything else.
pub(super) fn opt_number(
    object: &Value,
    key: &str,
    name: impl FnOnce() -> String,
) -> Result<Option<f64>, UsageError> {
    field(object, key)
        .map(|value| number(value).ok_or_else(|| shape(format!("{} is not a number", name()))))
        .transpose()
}

/// A whole number such as a business code (`1302` or `"1302"`); `None` for fractions and for
/// numbers too large to hold exactly.
pub(super) fn integer(value: &Value) -> Option<i64> {
    number(value)
        .filter(|n| n.fract() == 0.0 && n.abs() < 1e15)
        .map(|n| n as i64)
}

/// A header's value, trimmed; `None` when absent or not visible ASCII.
pub(super) fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name)?.to_str().ok().map(str::trim)
}

/// A header's value as a finite, non-negative number (rate-limit counts, utilization, epochs).
pub(super) fn header_number(headers: &HeaderMap, name: &str) -> Option<f64> {
    header_text(headers, name)?
        .parse::<f64>()
        .ok()
        .filter(|n| n.is_finite() && *n >= 0.0)
}

/// The body as JSON, or the first `data:` line of a server-sent stream that holds an error: an
/// error that arrives after an HTTP 200 stream began.
pub(super) fn error_json(body: &[u8]) -> Option<Value> {
    if let Ok(value) = serde_json::from_slice::<Value>(body) {
        return Some(value);
    }
    std::str::from_utf8(body)
        .ok()?
        .lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .filter_map(|data| serde_json::from_str::<Value>(data.trim()).ok())
        .find(|value| value.get("error").is_some())
}

/// The text at `pointer` inside an error body's `error` object (`/type`, `/details/error_code`).
pub(super) fn error_text<'a>(json: Option<&'a Value>, pointer: &str) -> Option<&'a str> {
    json?.get("error")?.pointer(pointer)?.as_str()
}

/// A 5xx answered with an HTML page instead of an error body: the provider (`who`) or a gateway
/// in front of it is overloaded. `None` for any other answer.
pub(super) fn html_error_page(
    who: &str,
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    now: Timestamp,
) -> Option<Classification> {
    (status >= 500 && is_html(body)).then(|| {
        let message = format!("{who} or a gateway returned an HTML error page (HTTP {status})");
        Classification::new(Cause::Overloaded, &message)
            .with_retry_after(retry_after_header(headers, now))
    })
}

/// The UTC calendar date `now` falls on.
pub(super) fn utc_date(now: Timestamp) -> Date {
    now.to_zoned_datetime(TimeZone::UTC).date()
}

/// 00:00 UTC on `date`.
pub(super) fn utc_midnight(date: Date) -> Option<Timestamp> {
    Some(date.to_zoned_datetime(TimeZone::UTC).ok()?.timestamp())
}

/// 00:00 UTC on the 1st of the month after `now`'s, when monthly limits and spend caps reset.
pub(super) fn start_of_next_month(now: Timestamp) -> Option<Timestamp> {
    utc_midnight(utc_date(now).last_of_month().tomorrow().ok()?)
}

/// A header map from name-value pairs.
#[cfg(test)]
pub(super) fn header_map(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.insert(*name, value.parse().unwrap());
    }
    map
}

/// Asserts that every cut of a usage `body` short of its end is a shape error to the provider's
/// parser, and that its classifier takes each cut without panicking.
#[cfg(test)]
pub(super) fn assert_truncations_are_shape_errors(
    provider: &dyn super::Provider,
    body: &str,
    now: Timestamp,
) {
    let context = super::UsageContext {
        now,
        region: &provider.regions()[0],
    };
    for end in 0..body.len() {
        let cut = &body.as_bytes()[..end];
        let result = provider.parse_usage(cut, &context);
        assert!(matches!(result, Err(UsageError::Shape(_))), "{end}");
        provider.classify(429, &HeaderMap::new(), cut, now);
    }
}

/// The longest wait Redline takes from a provider; a longer one is no wait it can show.
pub const MAX_WAIT: Duration = Duration::from_secs(366 * 24 * 3600);

/// `secs` as a wait: `None` unless it is a number from 0 to [`MAX_WAIT`].
fn wait(secs: f64) -> Option<Duration> {
    Duration::try_from_secs_f64(secs)
        .ok()
        .filter(|wait| *wait <= MAX_WAIT)
}

/// Retry-After from headers: `retry-after-ms`, then `retry-after` as seconds or an HTTP date.
pub fn retry_after_header(headers: &HeaderMap, now: Timestamp) -> Option<Duration> {
    let text = |name: &str| headers.get(name)?.to_str().ok().map(str::trim);
    if let Some(ms) = text("retry-after-ms").and_then(|t| t.parse::<f64>().ok()) {
        return wait(ms / 1000.0);
    }
    let value = text("retry-after")?;
    if let Ok(secs) = value.parse::<f64>() {
        return wait(secs);
    }
    let at = jiff::fmt::rfc2822::parse(value).ok()?.timestamp();
    Some(Duration::try_from(at.duration_since(now)).unwrap_or(Duration::ZERO))
        .filter(|wait| *wait <= MAX_WAIT)
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
    if !matched {
        return None;
    }
    wait(total)
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

/// Where the first `about` bytes of `body` end, moved on to the end of a word cut there: a key
/// cut in two would leave a part too short to be recognised and masked (`redact_keys`).
fn start_of(body: &[u8], about: usize) -> usize {
    let word = |b: &u8| b.is_ascii_alphanumeric() || b"-_.+=".contains(b);
    let rest = body.get(about..).unwrap_or_default();
    let tail = rest
        .iter()
        .take(crate::keys::secret::MAX_SECRET_LEN)
        .take_while(|b| word(b))
        .count();
    (about + tail).min(body.len())
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
            String::from_utf8_lossy(&body[..start_of(body, 200)])
                .trim()
                .to_owned()
        }
    })
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
    fn the_start_of_a_body_does_not_end_inside_a_key() {
        // Found by providers/props.rs: the first 200 bytes of a body that is no JSON ended
        // inside a key, whose first part was then too short to be masked.
        let key = "rl_admin_QHdimlhTnKSyUv0123abcd";
        let body = format!("data: {} {key} more", "x".repeat(180));
        let message = error_message(body.as_bytes());
        assert!(message.ends_with(key), "{message}");
        assert_eq!(error_message(b"short"), "short");
    }

    #[test]
    fn waits_too_long_to_be_a_duration_are_no_wait() {
        // Found by providers/props.rs: these panicked converting seconds to a Duration.
        let now: Timestamp = "2026-11-29T12:00:00Z".parse().unwrap();
        for (name, value) in [
            ("retry-after", "1e300"),
            ("retry-after-ms", "1e300"),
            ("retry-after", "31708800"),
        ] {
            assert_eq!(
                retry_after_header(&headers(&[(name, value)]), now),
                None,
                "{value}"
            );
        }
        let far = headers(&[("retry-after", "Fri, 31 Dec 9999 23:59:59 GMT")]);
        assert_eq!(retry_after_header(&far, now), None);
        assert_eq!(
            retry_after_in_text("retry after 99999999999999999999999 hours"),
            None
        );
        assert_eq!(go_duration("99999999999999999999h"), None);
        assert_eq!(
            retry_after_header(&headers(&[("retry-after", "31536000")]), now),
            Some(Duration::from_secs(31_536_000)),
            "a year is still a wait"
        );
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
    use serde_json::json;

    #[test]
    fn numbers_may_be_trimmed_strings_but_never_infinite() {
        assert_eq!(number(&json!(2.5)), Some(2.5));
        assert_eq!(number(&json!(" 7.10 ")), Some(7.1));
        for value in [
            json!("1e999"),
            json!("inf"),
            json!("NaN"),
            json!(true),
            json!(null),
        ] {
            assert_eq!(number(&value), None, "{value}");
        }
        assert_eq!(integer(&json!("1302")), Some(1302));
        assert_eq!(integer(&json!(1.5)), None);
        assert_eq!(integer(&json!(1e16)), None);
    }

    #[test]
    fn null_fields_are_absent_and_other_values_name_the_field() {
        let object = json!({"a": null, "b": "3", "c": [1]});
        let name = |key: &str| format!("x.{key}");
        assert_eq!(opt_number(&object, "a", || name("a")), Ok(None));
        assert_eq!(opt_number(&object, "missing", || name("missing")), Ok(None));
        assert_eq!(opt_number(&object, "b", || name("b")), Ok(Some(3.0)));
        assert_eq!(
            opt_number(&object, "c", || name("c")),
            Err(shape("x.c is not a number"))
        );
    }

    #[test]
    fn header_numbers_are_trimmed_finite_and_not_negative() {
        let headers = header_map(&[("a", " 12 "), ("b", "-1"), ("c", "1e999"), ("d", "x")]);
        assert_eq!(header_number(&headers, "a"), Some(12.0));
        for name in ["b", "c", "d", "missing"] {
            assert_eq!(header_number(&headers, name), None, "{name}");
        }
    }

    #[test]
    fn error_frames_are_found_in_streams() {
        let stream = b"data: {\"id\":1}\n\ndata: {\"error\":{\"type\":\"x\"}}\n\n";
        let json = error_json(stream);
        assert_eq!(error_text(json.as_ref(), "/type"), Some("x"));
        assert_eq!(error_json(b"data: {"), None);
        assert_eq!(error_text(None, "/type"), None);
    }

    #[test]
    fn field_names_list_the_shape_never_the_values() {
        let body = br#"{"code":0,"data":{"limits":[{"type":"NEW_LIMIT","secret":"sk-live-abcdef0123456789abcdef"},
                        {"type":"X","extra":1}],"level":"pro"},"a\u001bb":1}"#;
        let names = field_names(body);
        assert_eq!(
            names,
            [
                "ab",
                "code",
                "data",
                "data.level",
                "data.limits",
                "data.limits[].extra",
                "data.limits[].secret",
                "data.limits[].type",
            ]
        );
        let text = names.join(" ");
        assert!(!text.contains("sk-live") && !text.contains("NEW_LIMIT") && !text.contains("pro "));
        assert!(field_names(b"not json").is_empty());
        let wide: String = (0..100)
            .map(|i| format!("\"k{i}\":{i}"))
            .collect::<Vec<_>>()
            .join(",");
        assert_eq!(
            field_names(format!("{{{wide}}}").as_bytes()).len(),
            MAX_FIELD_NAMES
        );
    }

    #[test]
    fn json_object_errors_never_echo_the_body() {
        for body in [&b"<html>secret</html>"[..], b"{\"a\":", b"[1]", b"\xff"] {
            match json_object(body, "test") {
                Err(UsageError::Shape(why)) => assert!(!why.contains("secret"), "{why}"),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn next_month_starts_at_utc_midnight() {
        let at = |text: &str| text.parse::<Timestamp>().unwrap();
        assert_eq!(
            start_of_next_month(at("2026-12-31T23:59:00Z")),
            Some(at("2027-01-01T00:00:00Z"))
        );
        assert_eq!(
            start_of_next_month(at("2028-02-01T00:00:00Z")),
            Some(at("2028-03-01T00:00:00Z"))
        );
    }
}
