//! Token counts read on the side of an answer, without holding back a byte of it: an SSE
//! frame parser fed each chunk as it passes, and a bounded copy of a JSON body.
//!
//! Where each family puts its usage (providers.md):
//! - OpenAI: a last chunk with `choices: []` and `usage {prompt_tokens, completion_tokens}`
//!   before `data: [DONE]` (earlier chunks may carry `"usage": null`);
//! - Moonshot and Kimi: `choices[0].usage` of the final chunk;
//! - Anthropic: `message_start.message.usage.input_tokens`, then `message_delta.usage`, whose
//!   counts are cumulative: the latest value wins, nothing is summed;
//! - OpenAI Responses API: `response.completed` carries `response.usage`.

use crate::traffic::TokenUsage;
use serde_json::Value;

/// Longest SSE line or event kept for parsing; a longer one is skipped (the bytes still reach
/// the client), so memory stays bounded whatever the upstream sends.
pub const MAX_FRAME: usize = 64 * 1024;
/// Largest JSON body copied aside to read its `usage`.
pub const MAX_JSON_COPY: usize = 1024 * 1024;

/// Input and output counts as the latest event stated them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Counts {
    input: Option<u64>,
    output: Option<u64>,
}

impl Counts {
    fn usage(self) -> Option<TokenUsage> {
        (self.input.is_some() || self.output.is_some()).then(|| TokenUsage {
            input: self.input.unwrap_or(0),
            output: self.output.unwrap_or(0),
        })
    }

    /// Takes whatever counts `usage` states, leaving the others as they were.
    fn update(&mut self, usage: &Value) {
        let field = |names: &[&str]| names.iter().find_map(|name| count(usage.get(*name)?));
        if let Some(input) = field(&["prompt_tokens", "input_tokens"]) {
            self.input = Some(input);
        }
        if let Some(output) = field(&["completion_tokens", "output_tokens"]) {
            self.output = Some(output);
        }
    }
}

fn count(value: &Value) -> Option<u64> {
    value
        .as_u64()
        .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))
}

/// Applies one parsed event (SSE `data:` JSON, or a whole JSON body) to `counts`.
fn apply(counts: &mut Counts, json: &Value) {
    let object = |value: Option<&Value>| value.filter(|v| v.is_object()).cloned();
    let kind = json.get("type").and_then(Value::as_str).unwrap_or("");
    let usage = match kind {
        "message_start" => object(json.pointer("/message/usage")),
        "response.completed" => object(json.pointer("/response/usage")),
        _ => object(json.get("usage")).or_else(|| object(json.pointer("/choices/0/usage"))),
    };
    if let Some(usage) = usage {
        counts.update(&usage);
    }
}

/// The usage in a complete JSON answer (OpenAI or Anthropic field names; Moonshot's
/// in-choice form too).
pub fn json_usage(body: &[u8]) -> Option<TokenUsage> {
    let json: Value = serde_json::from_slice(body).ok()?;
    let mut counts = Counts::default();
    apply(&mut counts, &json);
    counts.usage()
}

/// Reads SSE frames from chunks as they pass. Lines may end in `\n`, `\r\n` or `\r`; a blank
/// line ends an event; only `data:` lines matter here.
#[derive(Debug, Default)]
pub struct SseUsage {
    line: Vec<u8>,
    /// The current line is longer than `MAX_FRAME`: ignore it to its end.
    line_too_long: bool,
    /// The previous byte was `\r`, so a `\n` right after it ends nothing.
    after_cr: bool,
    data: Vec<u8>,
    /// The current event's data grew past `MAX_FRAME`: skip the event.
    event_too_long: bool,
    counts: Counts,
}

impl SseUsage {
    pub fn feed(&mut self, chunk: &[u8]) {
        for &byte in chunk {
            match byte {
                b'\n' if self.after_cr => self.after_cr = false,
                b'\n' | b'\r' => {
                    self.after_cr = byte == b'\r';
                    self.end_line();
                }
                _ => {
                    self.after_cr = false;
                    if self.line.len() < MAX_FRAME {
                        self.line.push(byte);
                    } else {
                        self.line_too_long = true;
                    }
                }
            }
        }
    }

    /// What the stream has said so far.
    pub fn usage(&self) -> Option<TokenUsage> {
        self.counts.usage()
    }

    fn end_line(&mut self) {
        if self.line_too_long {
            // Whatever it was, its event can no longer be read whole.
            self.event_too_long = true;
        } else if self.line.is_empty() {
            self.end_event();
        } else if let Some(value) = self.line.strip_prefix(b"data:") {
            let value = value.strip_prefix(b" ").unwrap_or(value);
            if self.data.len() + value.len() + 1 > MAX_FRAME {
                self.event_too_long = true;
            } else if !self.event_too_long {
                if !self.data.is_empty() {
                    self.data.push(b'\n');
                }
                self.data.extend_from_slice(value);
            }
        }
        self.line.clear();
        self.line_too_long = false;
    }

    fn end_event(&mut self) {
        // Parsing every token chunk would cost more than the rest of the proxy: only events
        // that mention usage are read.
        if !self.event_too_long
            && contains(&self.data, b"usage")
            && let Ok(json) = serde_json::from_slice::<Value>(&self.data)
        {
            apply(&mut self.counts, &json);
        }
        self.data.clear();
        self.event_too_long = false;
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A copy of the first `limit` bytes of a body; past that it only remembers it overflowed.
#[derive(Debug)]
pub struct BoundedCopy {
    bytes: Vec<u8>,
    limit: usize,
    overflowed: bool,
}

impl BoundedCopy {
    pub fn new(limit: usize) -> BoundedCopy {
        BoundedCopy {
            bytes: Vec::new(),
            limit,
            overflowed: false,
        }
    }

    pub fn feed(&mut self, chunk: &[u8]) {
        let room = self.limit - self.bytes.len();
        if chunk.len() > room {
            self.overflowed = true;
        }
        self.bytes
            .extend_from_slice(&chunk[..chunk.len().min(room)]);
    }

    /// Everything copied, which is the start of the body when it overflowed.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn overflowed(&self) -> bool {
        self.overflowed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(input: u64, output: u64) -> Option<TokenUsage> {
        Some(TokenUsage { input, output })
    }

    /// Feeds `text` cut into pieces of `size` bytes, as a network might.
    fn sse(text: &str, size: usize) -> Option<TokenUsage> {
        let mut parser = SseUsage::default();
        for piece in text.as_bytes().chunks(size) {
            parser.feed(piece);
        }
        parser.usage()
    }

    const OPENAI: &str = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}],\"usage\":null}\n\n\
        data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":null}\n\n\
        data: {\"choices\":[],\"usage\":{\"prompt_tokens\":8,\"completion_tokens\":11,\"total_tokens\":19}}\n\n\
        data: [DONE]\n\n";

    const MOONSHOT: &str = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}]}\n\n\
        data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\",\"usage\":{\"prompt_tokens\":8,\"completion_tokens\":11,\"total_tokens\":19,\"cached_tokens\":8}}]}\n\n\
        data: [DONE]\n\n";

    const ANTHROPIC: &str = "event: message_start\n\
        data: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"usage\":{\"input_tokens\":25,\"output_tokens\":1}}}\n\n\
        event: content_block_delta\n\
        data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"usage is\"}}\n\n\
        event: message_delta\n\
        data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":null},\"usage\":{\"output_tokens\":7}}\n\n\
        event: message_delta\n\
        data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":15}}\n\n\
        event: message_stop\n\
        data: {\"type\":\"message_stop\"}\n\n";

    #[test]
    fn each_family_in_any_chunking() {
        for size in [1, 2, 7, 64, 100_000] {
            assert_eq!(sse(OPENAI, size), usage(8, 11), "openai, pieces of {size}");
            assert_eq!(
                sse(MOONSHOT, size),
                usage(8, 11),
                "moonshot, pieces of {size}"
            );
            assert_eq!(
                sse(ANTHROPIC, size),
                usage(25, 15),
                "anthropic keeps the latest cumulative count, pieces of {size}"
            );
        }
    }

    #[test]
    fn crlf_and_cr_line_ends_and_multi_line_data() {
        let crlf = OPENAI.replace('\n', "\r\n");
        assert_eq!(sse(&crlf, 3), usage(8, 11));
        let cr = MOONSHOT.replace('\n', "\r");
        assert_eq!(sse(&cr, 5), usage(8, 11));
        let split = "data: {\"usage\":\ndata: {\"input_tokens\":3,\"output_tokens\":4}}\n\n";
        assert_eq!(sse(split, 4), usage(3, 4));
    }

    #[test]
    fn responses_api_and_no_usage() {
        let responses = "event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"usage\":{\"input_tokens\":5,\"output_tokens\":6}}}\n\n";
        assert_eq!(sse(responses, 10), usage(5, 6));
        assert_eq!(sse("data: {\"choices\":[]}\n\ndata: [DONE]\n\n", 3), None);
        assert_eq!(sse("", 1), None);
        assert_eq!(sse("data: {\"usage\": nonsense}\n\n", 1), None);
    }

    #[test]
    fn an_unfinished_event_is_not_read() {
        let cut = &OPENAI[..OPENAI.find("data: [DONE]").unwrap() - 2];
        assert_eq!(sse(cut, 9), None);
    }

    #[test]
    fn oversize_frames_are_skipped_without_growing() {
        let huge = format!(
            "data: {{\"usage\":{{\"prompt_tokens\":1,\"completion_tokens\":1}},\"pad\":\"{}\"}}\n\n",
            "x".repeat(MAX_FRAME)
        );
        let many_lines: String = (0..2000)
            .map(|_| "data: 0123456789012345678901234567890123456789\n")
            .collect::<String>()
            + "\n";
        let mut parser = SseUsage::default();
        for text in [huge.as_str(), many_lines.as_str(), OPENAI] {
            for piece in text.as_bytes().chunks(4096) {
                parser.feed(piece);
                assert!(parser.line.capacity() <= 2 * MAX_FRAME);
                assert!(parser.data.capacity() <= 2 * MAX_FRAME);
            }
        }
        assert_eq!(
            parser.usage(),
            usage(8, 11),
            "the stream recovers after the skip"
        );
    }

    #[test]
    fn json_bodies_in_each_family() {
        let openai = br#"{"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":30,"total_tokens":42}}"#;
        assert_eq!(json_usage(openai), usage(12, 30));
        let anthropic = br#"{"type":"message","usage":{"input_tokens":9,"output_tokens":4,"cache_read_input_tokens":100}}"#;
        assert_eq!(json_usage(anthropic), usage(9, 4));
        let strings = br#"{"usage":{"prompt_tokens":"7","completion_tokens":"2"}}"#;
        assert_eq!(json_usage(strings), usage(7, 2));
        assert_eq!(json_usage(br#"{"usage":null}"#), None);
        assert_eq!(json_usage(b"{\"usage\":{\"prompt"), None);
        assert_eq!(json_usage(b"<html>"), None);
    }

    #[test]
    fn bounded_copies_keep_the_start() {
        let mut copy = BoundedCopy::new(5);
        copy.feed(b"abc");
        assert!(!copy.overflowed());
        copy.feed(b"defg");
        copy.feed(b"hij");
        assert_eq!((copy.bytes(), copy.overflowed()), (&b"abcde"[..], true));
    }
}
