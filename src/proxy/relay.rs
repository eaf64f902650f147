//! Relaying the provider's answer: status and end-to-end headers at once, then the body chunk
//! by chunk as each arrives, never buffered or merged. On the side, without delaying a byte,
//! an [`Observer`] counts tokens (decoding a compressed answer for itself), keeps the start of
//! a refusal to classify it, notices refusals sent inside a 2xx, and ends the request's
//! traffic record when the body ends, breaks, or the client goes away.
//!
//! When the request is over is the answer's format's say, not the socket's: a client that
//! hangs up after a stream's end event (`data: [DONE]`, `message_stop`, ...) or a whole JSON
//! body got its answer, and the request is recorded as answered with the provider's status and
//! the tokens seen; one that hangs up before that cancelled it (499), and the upstream request
//! is cancelled with it.

use super::Held;
use super::decode::{self, Decoder, Sink, Undecodable};
use super::forward::{Answer, BoxError, deepest_cause};
use super::headers::into_end_to_end;
use super::inband::{self, InBand};
use super::token_tap::{BoundedCopy, MAX_JSON_COPY, SseTap, json_usage};
use super::{Call, Forwarded, InFlight};
use crate::durations::human_duration;
use crate::providers::provider;
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
    body: BoxStream<'static, Result<Bytes, BoxError>>,
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
                    deepest_cause(&*error, false)
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

/// Reads an answer's bytes (decoded, when the provider compressed them).
enum Reader {
    Sse(SseTap),
    /// A JSON body copied aside, bounded; for a refusal, the start of its body.
    Copy(BoundedCopy),
}

impl Sink for Reader {
    fn feed(&mut self, bytes: &[u8]) {
        match self {
            Reader::Sse(parser) => parser.feed(bytes),
            Reader::Copy(copy) => copy.feed(bytes),
        }
    }

    fn has_enough(&self) -> bool {
        matches!(self, Reader::Copy(copy) if copy.overflowed())
    }
}

impl Reader {
    fn usage(&self) -> Option<TokenUsage> {
        match self {
            Reader::Sse(parser) => parser.usage(),
            Reader::Copy(copy) if !copy.overflowed() => json_usage(copy.bytes()),
            Reader::Copy(_) => None,
        }
    }

    /// Whether the answer's own format says it is over: a stream's end event went by, or a
    /// JSON body is whole.
    fn ended(&self) -> bool {
        match self {
            Reader::Sse(parser) => parser.ended(),
            Reader::Copy(copy) => copy.is_whole_json(),
        }
    }

    /// An error the answer carried inside its 2xx.
    fn in_band(&self) -> Option<InBand> {
        match self {
            Reader::Sse(parser) => parser.in_band().cloned(),
            Reader::Copy(copy) if !copy.overflowed() && inband::may_hold_error(copy.bytes()) => {
                inband::error_in(copy.bytes())
            }
            Reader::Copy(_) => None,
        }
    }

    fn copied(&self) -> &[u8] {
        match self {
            Reader::Sse(_) => &[],
            Reader::Copy(copy) => copy.bytes(),
        }
    }
}

/// What reads an answer on the side: tokens, its end, the errors it carries.
enum Tap {
    Plain(Reader),
    Decoded(Box<Decoder<Reader>>),
    Off,
}

impl Tap {
    /// SSE is parsed as it passes and JSON copied aside; other bodies are not read.
    fn for_answer(headers: &HeaderMap) -> Tap {
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase();
        let reader = if content_type.starts_with("text/event-stream") {
            Reader::Sse(SseTap::default())
        } else if content_type.starts_with("application/json") || content_type.contains("+json") {
            Reader::Copy(BoundedCopy::new(MAX_JSON_COPY))
        } else {
            return Tap::Off;
        };
        Tap::reading(headers, reader)
    }

    /// A refusal: the start of its body, whatever its type, to classify it.
    fn for_refusal(headers: &HeaderMap) -> Tap {
        Tap::reading(headers, Reader::Copy(BoundedCopy::new(REFUSAL_COPY)))
    }

    /// Parsing needs the plain bytes: a compressed answer is decoded for the reader (the client
    /// still gets it as sent); one in a coding Redline cannot undo is relayed but not read.
    fn reading(headers: &HeaderMap, reader: Reader) -> Tap {
        match decode::content_coding(headers) {
            Ok(None) => Tap::Plain(reader),
            Ok(Some(coding)) => Tap::Decoded(Box::new(Decoder::new(coding, reader))),
            Err(Undecodable) => Tap::Off,
        }
    }

    fn feed(&mut self, chunk: &[u8]) {
        match self {
            Tap::Plain(reader) => reader.feed(chunk),
            Tap::Decoded(decoder) => decoder.feed(chunk),
            Tap::Off => {}
        }
    }

    fn reader(&self) -> Option<&Reader> {
        match self {
            Tap::Plain(reader) => Some(reader),
            Tap::Decoded(decoder) => Some(decoder.sink()),
            Tap::Off => None,
        }
    }

    fn usage(&self) -> Option<TokenUsage> {
        self.reader().and_then(Reader::usage)
    }
}

/// Watches one answer go by and keeps the books on it.
struct Observer {
    call: Call,
    guard: Option<RequestGuard>,
    /// Held until the answer ends, so the queue counts the request in flight until then.
    slot: Option<Held>,
    status: u16,
    tap: Tap,
    /// A refusal's headers, kept to classify it when it ends.
    refusal: Option<HeaderMap>,
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
                Tap::for_refusal(headers)
            } else {
                Tap::for_answer(headers)
            },
            refusal: refusal.then(|| headers.clone()),
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

    /// The answer broke off; it is counted under `status` (502 reset, 504 idle), unless its
    /// own format had already said it was over.
    fn broken(&mut self, status: u16) {
        let status = if self.ended_by_protocol() {
            self.status
        } else {
            status
        };
        self.end(status);
    }

    /// The answer's format says it is complete: the stream's end event went by, or a JSON
    /// body is whole. Nothing the client needs is still to come.
    fn ended_by_protocol(&self) -> bool {
        self.tap.reader().is_some_and(Reader::ended)
    }

    fn end(&mut self, status: u16) {
        let Some(guard) = self.guard.take() else {
            return;
        };
        let status = self.record_refusal().unwrap_or(status);
        guard.finish(status, self.tap.usage());
        self.slot = None;
    }

    /// Classifies and records the refusal the answer is, or carries inside its 2xx; for the
    /// latter, returns the status the request is recorded under instead of the 2xx.
    fn record_refusal(&mut self) -> Option<u16> {
        if let Some(headers) = self.refusal.take() {
            let body = self.tap.reader().map_or(&[][..], Reader::copied);
            self.call.classify_refusal(self.status, &headers, body);
            return None;
        }
        if !(200..300).contains(&self.status) {
            return None;
        }
        let found = self.tap.reader()?.in_band()?;
        let classification = provider(self.call.provider).classify(
            self.status,
            &HeaderMap::new(),
            &found.body,
            jiff::Timestamp::now(),
        );
        let status = inband::implied_status(found.status, classification.cause);
        self.call.record_refusal(status, &classification);
        Some(status)
    }
}

impl Drop for Observer {
    /// The client went away (or the server dropped the body). After the answer's end went by
    /// (OpenAI's clients hang up at `data: [DONE]`, before the provider's body ends), the
    /// request counts as answered, with its tokens. Before, a refusal is still recorded with
    /// what was seen of it, and the guard, dropped unfinished, counts the request as cancelled;
    /// the upstream request is cancelled as the body is dropped with this observer.
    fn drop(&mut self) {
        if self.guard.is_none() {
            return;
        }
        if self.ended_by_protocol() {
            self.complete();
        } else {
            self.record_refusal();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::Coding;

    #[test]
    fn refusals_are_the_statuses_worth_classifying() {
        for status in [401, 402, 403, 408, 429, 500, 502, 503, 529] {
            assert!(is_refusal(status), "{status}");
        }
        for status in [200, 201, 204, 301, 400, 404, 409, 413, 422] {
            assert!(!is_refusal(status), "{status}");
        }
    }

    fn answer_headers(content_type: &'static str, coding: Option<&'static str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, content_type.parse().unwrap());
        if let Some(coding) = coding {
            headers.insert(header::CONTENT_ENCODING, coding.parse().unwrap());
        }
        headers
    }

    #[test]
    fn compressed_answers_are_counted_and_their_end_seen_in_any_chunking() {
        let stream = "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n\
            data: {\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":5}}\n\n\
            data: [DONE]\n\n";
        let json = r#"{"choices":[{"message":{"content":"hi"}}],"usage":{"prompt_tokens":12,"completion_tokens":5}}"#;
        let events: Vec<&[u8]> = stream.split_inclusive("\n\n").map(str::as_bytes).collect();
        for (coding, token) in [
            (Coding::Gzip, "gzip"),
            (Coding::Deflate, "deflate"),
            (Coding::Brotli, "br"),
            (Coding::Zstd, "zstd"),
        ] {
            let sse = crate::fakes::encode_pieces(coding, &events).concat();
            let body = crate::fakes::encode(coding, json.as_bytes());
            for (wire, content_type) in [(&sse, "text/event-stream"), (&body, "application/json")] {
                for size in [1, 2, 5, 64, wire.len()] {
                    let mut tap = Tap::for_answer(&answer_headers(content_type, Some(token)));
                    for chunk in wire.chunks(size) {
                        tap.feed(chunk);
                    }
                    let what = format!("{token} {content_type} in pieces of {size}");
                    assert_eq!(
                        tap.usage(),
                        Some(TokenUsage {
                            input: 12,
                            output: 5
                        }),
                        "{what}"
                    );
                    assert!(tap.reader().unwrap().ended(), "{what}");
                }
            }
        }
    }

    /// Counts the allocations made on the current thread, for the test below.
    mod allocations {
        use std::alloc::{GlobalAlloc, Layout, System};
        use std::cell::Cell;

        struct Counting;

        thread_local! {
            static MADE: Cell<u64> = const { Cell::new(0) };
        }

        // SAFETY: every call is passed on to the system allocator unchanged.
        unsafe impl GlobalAlloc for Counting {
            unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
                let _ = MADE.try_with(|made| made.set(made.get() + 1));
                // SAFETY: the caller's contract is System's.
                unsafe { System.alloc(layout) }
            }
            unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
                // SAFETY: the caller's contract is System's.
                unsafe { System.dealloc(ptr, layout) }
            }
            unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, size: usize) -> *mut u8 {
                let _ = MADE.try_with(|made| made.set(made.get() + 1));
                // SAFETY: the caller's contract is System's.
                unsafe { System.realloc(ptr, layout, size) }
            }
        }

        #[global_allocator]
        static COUNTING: Counting = Counting;

        /// Allocations made on this thread so far.
        pub fn made() -> u64 {
            MADE.with(Cell::get)
        }
    }

    #[test]
    fn a_plain_stream_is_read_without_allocating_per_chunk() {
        let mut stream = String::new();
        for i in 0..200 {
            stream.push_str(&format!(
                "data: {{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"tok{i} \"}},\"finish_reason\":null}}],\"usage\":null}}\n\n"
            ));
        }
        stream.push_str("data: {\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":200}}\n\ndata: [DONE]\n\n");
        let chunks: Vec<&[u8]> = stream.as_bytes().chunks(97).collect();
        let mut tap = Tap::for_answer(&answer_headers("text/event-stream", None));
        // The first events size the parser's buffers (once per answer); the rest reuse them,
        // the usage event and [DONE] included.
        let (first, rest) = chunks.split_at(20);
        first.iter().for_each(|chunk| tap.feed(chunk));
        let before = allocations::made();
        rest.iter().for_each(|chunk| tap.feed(chunk));
        assert_eq!(
            allocations::made() - before,
            0,
            "allocations after the first events"
        );
        assert_eq!(
            tap.usage(),
            Some(TokenUsage {
                input: 12,
                output: 200
            })
        );
        assert!(tap.reader().unwrap().ended());
    }

    #[test]
    fn a_compressed_refusal_is_decoded_for_its_classifier() {
        let body = br#"{"error":{"type":"rate_limit_error","message":"We're receiving too many requests at the moment"}}"#;
        let wire = crate::fakes::encode(Coding::Brotli, body);
        let mut tap = Tap::for_refusal(&answer_headers("application/json", Some("br")));
        for chunk in wire.chunks(3) {
            tap.feed(chunk);
        }
        assert_eq!(tap.reader().unwrap().copied(), body);
    }

    #[test]
    fn tokens_are_read_from_sse_or_json_plain_or_in_a_coding_redline_undoes() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut map = HeaderMap::new();
            for (name, value) in pairs {
                map.insert(*name, value.parse().unwrap());
            }
            map
        };
        let kind = |tap: Tap| match tap {
            Tap::Plain(Reader::Sse(_)) => "sse",
            Tap::Plain(Reader::Copy(_)) => "json",
            Tap::Decoded(d) if matches!(d.sink(), Reader::Sse(_)) => "decoded sse",
            Tap::Decoded(_) => "decoded json",
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
                "decoded json",
            ),
            (
                headers(&[
                    ("content-type", "text/event-stream"),
                    ("content-encoding", "zstd"),
                ]),
                "decoded sse",
            ),
            (
                headers(&[
                    ("content-type", "application/json"),
                    ("content-encoding", "compress"),
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
