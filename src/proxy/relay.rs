//! Relaying the provider's answer: status and end-to-end headers at once, then the body chunk
//! by chunk as each arrives, never buffered or merged. On the side, without delaying a byte,
//! an [`Observer`] counts tokens, keeps the start of a refusal to classify it, and ends the
//! request's traffic record when the body ends, breaks, or the client goes away.

use super::forward::{Answer, deepest_cause};
use super::headers::into_end_to_end;
use super::queue::Slot;
use super::token_tap::{BoundedCopy, MAX_JSON_COPY, SseUsage, json_usage};
use super::{Call, Forwarded, InFlight};
use crate::durations::human_duration;
use crate::proxy::traffic::{RequestGuard, TokenUsage};
use axum::body::{Body, Bytes};
use axum::response::Response;
use futures_util::stream::{self, BoxStream, StreamExt};
use http::{HeaderMap, StatusCode, header};
use std::io;
use std::time::Duration;
use tokio::time::Instant;

/// How much of a refusal's body is kept for classifying it.
const REFUSAL_COPY: usize = 64 * 1024;

/// Statuses that mean the provider refused (or failed) the request, and are classified.
pub fn is_refusal(status: u16) -> bool {
    matches!(status, 401 | 402 | 403 | 408 | 429 | 500..=599)
}

/// The client's response: the answer's status and headers, and its body relayed through an
/// observer, cut off when nothing comes for `idle_timeout`.
pub fn respond(forwarded: Forwarded, idle_timeout: Duration) -> Response {
    let Forwarded {
        in_flight,
        answer,
        head_only,
    } = forwarded;
    let Answer {
        status,
        headers,
        body,
        first_byte_deadline,
    } = answer;
    let mut observer = Observer::new(in_flight, status, &headers);
    // Without a body to relay, the server may never poll it: the answer is complete now.
    if head_only
        || matches!(status, StatusCode::NO_CONTENT | StatusCode::NOT_MODIFIED)
        || observer.expected == Some(0)
    {
        observer.complete();
    }
    let relay = Relay {
        body,
        observer,
        first_byte_deadline,
        idle_timeout,
        over: false,
    };
    let mut response = Response::new(Body::from_stream(relay.into_stream()));
    *response.status_mut() = status;
    *response.headers_mut() = into_end_to_end(headers);
    response
}

struct Relay {
    body: BoxStream<'static, reqwest::Result<Bytes>>,
    observer: Observer,
    first_byte_deadline: Instant,
    idle_timeout: Duration,
    over: bool,
}

impl Relay {
    fn into_stream(self) -> impl futures_util::Stream<Item = io::Result<Bytes>> + Send + 'static {
        stream::unfold(self, |mut relay| async move {
            if relay.over {
                return None;
            }
            // Until the first byte, the first-byte budget (an LLM may think for minutes); then
            // the idle limit between chunks, so a stream is never cut while bytes flow.
            let deadline = match relay.observer.relayed {
                0 => relay.first_byte_deadline,
                _ => Instant::now() + relay.idle_timeout,
            };
            let ending = match tokio::time::timeout_at(deadline, relay.body.next()).await {
                Ok(Some(Ok(chunk))) => {
                    relay.observer.chunk(&chunk);
                    return Some((Ok(chunk), relay));
                }
                Ok(None) => {
                    relay.observer.complete();
                    return None;
                }
                Ok(Some(Err(error))) => io::Error::other(format!(
                    "Redline: the provider's answer broke off midway ({})",
                    deepest_cause(&error)
                )),
                Err(_) if relay.observer.relayed == 0 => io::Error::new(
                    io::ErrorKind::TimedOut,
                    "Redline: the provider sent its headers but no byte of the answer within \
                     the first-byte timeout; the answer was cut off",
                ),
                Err(_) => io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "Redline: the provider sent nothing for {} and the answer was cut off",
                        human_duration(relay.idle_timeout)
                    ),
                ),
            };
            let counted = match ending.kind() {
                io::ErrorKind::TimedOut => StatusCode::GATEWAY_TIMEOUT,
                _ => StatusCode::BAD_GATEWAY,
            };
            relay.observer.broken(counted.as_u16());
            relay.over = true;
            // The headers are out: ending the body with an error is the only way left to tell
            // the client the answer is incomplete.
            Some((Err(ending), relay))
        })
    }
}

/// Where the tokens of an answer are read from.
enum Tap {
    Sse(SseUsage),
    Json(BoundedCopy),
    Off,
}

impl Tap {
    /// Parsing needs the plain bytes: a compressed answer is relayed but not read.
    fn for_answer(headers: &HeaderMap) -> Tap {
        if is_encoded(headers) {
            return Tap::Off;
        }
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase();
        if content_type.starts_with("text/event-stream") {
            Tap::Sse(SseUsage::default())
        } else if content_type.starts_with("application/json") || content_type.contains("+json") {
            Tap::Json(BoundedCopy::new(MAX_JSON_COPY))
        } else {
            Tap::Off
        }
    }

    fn feed(&mut self, chunk: &[u8]) {
        match self {
            Tap::Sse(parser) => parser.feed(chunk),
            Tap::Json(copy) => copy.feed(chunk),
            Tap::Off => {}
        }
    }

    fn usage(&self) -> Option<TokenUsage> {
        match self {
            Tap::Sse(parser) => parser.usage(),
            Tap::Json(copy) if !copy.overflowed() => json_usage(copy.bytes()),
            Tap::Json(_) | Tap::Off => None,
        }
    }
}

fn is_encoded(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_ENCODING)
        .is_some_and(|v| !v.as_bytes().trim_ascii().eq_ignore_ascii_case(b"identity"))
}

/// Watches one answer go by and keeps the books on it.
struct Observer {
    call: Call,
    guard: Option<RequestGuard>,
    /// Held until the answer ends, so the queue counts the request in flight until then.
    slot: Option<Slot>,
    status: u16,
    tap: Tap,
    /// A refusal not yet recorded: its headers and the start of its body.
    refusal: Option<(HeaderMap, BoundedCopy)>,
    /// `content-length`, when the provider sent one.
    expected: Option<u64>,
    relayed: u64,
}

impl Observer {
    fn new(in_flight: InFlight, status: StatusCode, headers: &HeaderMap) -> Observer {
        let InFlight { call, guard, slot } = in_flight;
        let status = status.as_u16();
        let refusal = is_refusal(status);
        Observer {
            call,
            guard: Some(guard),
            slot,
            status,
            tap: if refusal {
                Tap::Off
            } else {
                Tap::for_answer(headers)
            },
            refusal: refusal.then(|| (headers.clone(), BoundedCopy::new(REFUSAL_COPY))),
            expected: headers
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse().ok()),
            relayed: 0,
        }
    }

    fn chunk(&mut self, chunk: &[u8]) {
        if chunk.is_empty() {
            return;
        }
        if self.relayed == 0
            && let Some(guard) = &mut self.guard
        {
            guard.first_byte();
        }
        self.relayed += chunk.len() as u64;
        self.tap.feed(chunk);
        if let Some((_, copy)) = &mut self.refusal {
            copy.feed(chunk);
        }
        // With a Content-Length the server stops polling after the last byte, so the end is
        // known here, not from the end of the stream.
        if self.expected == Some(self.relayed) {
            self.complete();
        }
    }

    /// The whole answer went by.
    fn complete(&mut self) {
        let status = self.status;
        self.end(status);
    }

    /// The answer broke off; it is counted under `status` (502 reset, 504 idle).
    fn broken(&mut self, status: u16) {
        self.end(status);
    }

    fn end(&mut self, status: u16) {
        self.record_refusal();
        if let Some(guard) = self.guard.take() {
            guard.finish(status, self.tap.usage());
        }
        self.slot = None;
    }

    fn record_refusal(&mut self) {
        if let Some((headers, copy)) = self.refusal.take() {
            let body = if is_encoded(&headers) {
                &[][..]
            } else {
                copy.bytes()
            };
            self.call.classify_refusal(self.status, &headers, body);
        }
    }
}

impl Drop for Observer {
    /// The client went away (or the server dropped the body): a refusal is still recorded with
    /// what was seen of it; the guard, dropped unfinished, counts the request as cancelled.
    fn drop(&mut self) {
        self.record_refusal();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_the_statuses_worth_classifying() {
        for status in [401, 402, 403, 408, 429, 500, 502, 503, 529] {
            assert!(is_refusal(status), "{status}");
        }
        for status in [200, 201, 204, 301, 400, 404, 409, 413, 422] {
            assert!(!is_refusal(status), "{status}");
        }
    }

    #[test]
    fn tokens_are_read_only_from_plain_sse_or_json() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut map = HeaderMap::new();
            for (name, value) in pairs {
                map.insert(*name, value.parse().unwrap());
            }
            map
        };
        let kind = |tap: Tap| match tap {
            Tap::Sse(_) => "sse",
            Tap::Json(_) => "json",
            Tap::Off => "off",
        };
        let cases = [
            (
                headers(&[("content-type", "text/event-stream; charset=utf-8")]),
                "sse",
            ),
            (headers(&[("content-type", "application/json")]), "json"),
            (
                headers(&[("content-type", "application/problem+json")]),
                "json",
            ),
            (
                headers(&[
                    ("content-type", "application/json"),
                    ("content-encoding", "identity"),
                ]),
                "json",
            ),
            (
                headers(&[
                    ("content-type", "application/json"),
                    ("content-encoding", "gzip"),
                ]),
                "off",
            ),
            (headers(&[("content-type", "text/html")]), "off"),
            (HeaderMap::new(), "off"),
        ];
        for (headers, expected) in cases {
            assert_eq!(kind(Tap::for_answer(&headers)), expected, "{headers:?}");
        }
    }
}
