//! Token counts read on the side of an answer, without holding back a byte of it: an SSE
//! frame parser fed each chunk as it passes, and a bounded copy of a JSON body. The SSE parser
//! also notes the stream's end event (so a client that hangs up right after it still counts
//! as answered) and an error sent inside the stream (`inband`).
//!
//! Where each family puts its usage (docs/providers.md, "Streaming usage by wire family"):
//! - OpenAI: a last chunk with `choices: []` and `usage {prompt_tokens, completion_tokens}`
//!   before `data: [DONE]` (earlier chunks may carry `"usage": null`);
//! - Moonshot and Kimi: `choices[0].usage` of the final chunk;
//! - Anthropic: `message_start.message.usage.input_tokens`, then `message_delta.usage`, whose
//!   counts are cumulative: the latest value wins, nothing is summed;
//! - OpenAI Responses API: `response.completed` carries `response.usage`.

use super::inband::{self, InBand};
use crate::proxy::traffic::TokenUsage;
use memchr::memmem;
use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::fmt;
use std::marker::PhantomData;
use std::sync::LazyLock;

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
    fn update(&mut self, usage: &UsageFields) {
        if let Some(input) = usage.prompt_tokens.or(usage.input_tokens) {
            self.input = Some(input);
        }
        if let Some(output) = usage.completion_tokens.or(usage.output_tokens) {
            self.output = Some(output);
        }
    }
}

/// Applies one event (SSE `data:` JSON, or a whole JSON body) to `counts`; text that is not
/// JSON changes nothing.
fn apply(counts: &mut Counts, json: &[u8]) {
    let Ok(Lenient(event)) = serde_json::from_slice::<Lenient<Event>>(json) else {
        return;
    };
    let usage = match event.kind {
        Kind::MessageStart => event.message_usage,
        Kind::ResponseCompleted => event.response_usage,
        Kind::Other => event.usage.or(event.choice_usage),
    };
    if let Some(usage) = usage {
        counts.update(&usage);
    }
}

/// The usage in a complete JSON answer (OpenAI or Anthropic field names; Moonshot's
/// in-choice form too).
pub fn json_usage(body: &[u8]) -> Option<TokenUsage> {
    let mut counts = Counts::default();
    apply(&mut counts, body);
    counts.usage()
}

// Reading an event. Only the few fields that can hold usage are kept; everything else is
// skipped while parsing, without building a JSON tree (building one per answer cost a tenth
// of the proxy's CPU in the benchmark). The rules are those of reading the tree: a field of
// an unexpected type counts as absent, a repeated key's last value wins, and the text must
// be valid JSON as a whole.

/// Where an event keeps its usage: `usage` (OpenAI, Anthropic `message_delta`, Anthropic
/// bodies), `choices[0].usage` (Moonshot, Kimi), `message.usage` (Anthropic
/// `message_start`), `response.usage` (OpenAI Responses API `response.completed`).
#[derive(Default)]
struct Event {
    kind: Kind,
    usage: Option<UsageFields>,
    choice_usage: Option<UsageFields>,
    message_usage: Option<UsageFields>,
    response_usage: Option<UsageFields>,
}

/// The event's `type`, where it decides where the usage is.
#[derive(Clone, Copy, Default)]
enum Kind {
    MessageStart,
    ResponseCompleted,
    #[default]
    Other,
}

/// The counts of a usage object, each as its latest key stated it.
#[derive(Default)]
struct UsageFields {
    prompt_tokens: Option<u64>,
    input_tokens: Option<u64>,
    completion_tokens: Option<u64>,
    output_tokens: Option<u64>,
}

/// An object holding a `usage` object (`message`, `response`, a choice).
#[derive(Default)]
struct HasUsage(Option<UsageFields>);

/// `choices`: the usage of its first element.
#[derive(Default)]
struct FirstChoice(Option<UsageFields>);

/// A token count: a non-negative integer, or a string holding one.
#[derive(Default)]
struct Count(Option<u64>);

/// The keys that matter anywhere in an event; every other key is `Other`.
enum Key {
    Type,
    Usage,
    Choices,
    Message,
    Response,
    PromptTokens,
    InputTokens,
    CompletionTokens,
    OutputTokens,
    /// `"0"`: a JSON pointer's `/choices/0` also finds the key "0" of an object.
    Zero,
    Other,
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Key, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E: de::Error>(self, key: &str) -> Result<Key, E> {
                Ok(match key {
                    "type" => Key::Type,
                    "usage" => Key::Usage,
                    "choices" => Key::Choices,
                    "message" => Key::Message,
                    "response" => Key::Response,
                    "prompt_tokens" => Key::PromptTokens,
                    "input_tokens" => Key::InputTokens,
                    "completion_tokens" => Key::CompletionTokens,
                    "output_tokens" => Key::OutputTokens,
                    "0" => Key::Zero,
                    _ => Key::Other,
                })
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// A value read from any JSON value: the shapes a type does not expect are skipped and give
/// its default, never an error.
trait FromJson: Default {
    fn from_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Self::default())
    }
    fn from_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<Self, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Self::default())
    }
    fn from_u64(_: u64) -> Self {
        Self::default()
    }
    fn from_str(_: &str) -> Self {
        Self::default()
    }
}

/// Reads a [`FromJson`] from whatever JSON value comes.
struct Lenient<T>(T);

impl<'de, T: FromJson> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Lenient<T>, D::Error> {
        struct AnyValue<T>(PhantomData<T>);
        impl<'de, T: FromJson> Visitor<'de> for AnyValue<T> {
            type Value = Lenient<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Lenient<T>, A::Error> {
                T::from_map(map).map(Lenient)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Lenient<T>, A::Error> {
                T::from_seq(seq).map(Lenient)
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<Lenient<T>, E> {
                Ok(Lenient(T::from_u64(value)))
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<Lenient<T>, E> {
                Ok(Lenient(T::from_str(value)))
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<Lenient<T>, E> {
                Ok(Lenient(match u64::try_from(value) {
                    Ok(value) => T::from_u64(value),
                    Err(_) => T::default(),
                }))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Lenient<T>, E> {
                Ok(Lenient(T::default()))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Lenient<T>, E> {
                Ok(Lenient(T::default()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Lenient<T>, E> {
                Ok(Lenient(T::default()))
            }
        }
        deserializer.deserialize_any(AnyValue(PhantomData))
    }
}

fn value<'de, T: FromJson, A: MapAccess<'de>>(map: &mut A) -> Result<T, A::Error> {
    Ok(map.next_value::<Lenient<T>>()?.0)
}

impl FromJson for Event {
    fn from_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<Event, A::Error> {
        let mut event = Event::default();
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Type => event.kind = value(&mut map)?,
                Key::Usage => event.usage = value::<HasFields, _>(&mut map)?.0,
                Key::Choices => event.choice_usage = value::<FirstChoice, _>(&mut map)?.0,
                Key::Message => event.message_usage = value::<HasUsage, _>(&mut map)?.0,
                Key::Response => event.response_usage = value::<HasUsage, _>(&mut map)?.0,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(event)
    }
}

impl FromJson for Kind {
    fn from_str(kind: &str) -> Kind {
        match kind {
            "message_start" => Kind::MessageStart,
            "response.completed" => Kind::ResponseCompleted,
            _ => Kind::Other,
        }
    }
}

/// A usage object: `Some` only when the value is an object.
#[derive(Default)]
struct HasFields(Option<UsageFields>);

impl FromJson for HasFields {
    fn from_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<HasFields, A::Error> {
        let mut fields = UsageFields::default();
        while let Some(key) = map.next_key::<Key>()? {
            let slot = match key {
                Key::PromptTokens => &mut fields.prompt_tokens,
                Key::InputTokens => &mut fields.input_tokens,
                Key::CompletionTokens => &mut fields.completion_tokens,
                Key::OutputTokens => &mut fields.output_tokens,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            *slot = value::<Count, _>(&mut map)?.0;
        }
        Ok(HasFields(Some(fields)))
    }
}

impl FromJson for HasUsage {
    fn from_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<HasUsage, A::Error> {
        let mut usage = None;
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Usage => usage = value::<HasFields, _>(&mut map)?.0,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(HasUsage(usage))
    }
}

impl FromJson for FirstChoice {
    fn from_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<FirstChoice, A::Error> {
        let first = seq.next_element::<Lenient<HasUsage>>()?;
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(FirstChoice(
            first.and_then(|Lenient(HasUsage(usage))| usage),
        ))
    }

    fn from_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<FirstChoice, A::Error> {
        let mut usage = None;
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Zero => usage = value::<HasUsage, _>(&mut map)?.0,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(FirstChoice(usage))
    }
}

impl FromJson for Count {
    fn from_u64(count: u64) -> Count {
        Count(Some(count))
    }
    fn from_str(text: &str) -> Count {
        Count(text.trim().parse().ok())
    }
}

/// Reads SSE frames from chunks as they pass. Lines may end in `\n`, `\r\n` or `\r`; a blank
/// line ends an event; `data:` and `event:` lines matter here. Besides the tokens it notes
/// whether the stream's end event went by ([`SseTap::ended`]) and the first error sent inside
/// it ([`SseTap::in_band`]).
#[derive(Debug, Default)]
pub struct SseTap {
    line: Vec<u8>,
    /// The current line is longer than `MAX_FRAME`: ignore it to its end.
    line_too_long: bool,
    /// The previous byte was `\r`, so a `\n` right after it ends nothing.
    after_cr: bool,
    data: Vec<u8>,
    /// The current event's data grew past `MAX_FRAME`: skip the event.
    event_too_long: bool,
    /// The current event's `event:` name, when short enough to be one that matters.
    name: Vec<u8>,
    counts: Counts,
    ended: bool,
    in_band: Option<InBand>,
}

/// Names (`event:`) and data `type`s that end a stream: Anthropic's `message_stop`, the
/// Responses API's `response.completed`, `response.failed` and `response.incomplete`, and an
/// `error` event (Anthropic and the Responses API end a stream with it).
const END_EVENTS: [&str; 5] = [
    "message_stop",
    "response.completed",
    "response.failed",
    "response.incomplete",
    "error",
];
/// Longest event name kept; every name that matters is shorter.
const MAX_NAME: usize = 32;

/// Substrings that decide whether an event's data is worth parsing (searching is far cheaper
/// than parsing every token chunk); `inband::may_hold_error` decides for errors.
struct Needles {
    usage: memmem::Finder<'static>,
    ends: [memmem::Finder<'static>; 4],
}

static NEEDLES: LazyLock<Needles> = LazyLock::new(|| Needles {
    usage: memmem::Finder::new("usage"),
    ends: [
        memmem::Finder::new("message_stop"),
        memmem::Finder::new("response.completed"),
        memmem::Finder::new("response.failed"),
        memmem::Finder::new("response.incomplete"),
    ],
});

impl SseTap {
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

    /// Whether the event that ends the stream went by: `data: [DONE]`, an end event, or an
    /// error inside the stream. A client may hang up right after it, and has the whole answer.
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// The first error the stream carried inside its 2xx answer.
    pub fn in_band(&self) -> Option<&InBand> {
        self.in_band.as_ref()
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
        } else if let Some(value) = self.line.strip_prefix(b"event:") {
            let value = value.strip_prefix(b" ").unwrap_or(value);
            self.name.clear();
            if value.len() <= MAX_NAME {
                self.name.extend_from_slice(value);
            }
        }
        self.line.clear();
        self.line_too_long = false;
    }

    fn end_event(&mut self) {
        if !self.event_too_long {
            self.read_event();
        }
        self.data.clear();
        self.name.clear();
        self.event_too_long = false;
    }

    fn read_event(&mut self) {
        let data = self.data.as_slice();
        if data.trim_ascii() == b"[DONE]" {
            self.ended = true;
            return;
        }
        let name = std::str::from_utf8(&self.name).unwrap_or_default();
        if END_EVENTS.contains(&name) {
            self.ended = true;
        }
        let needles = &*NEEDLES;
        if needles.usage.find(data).is_some() {
            apply(&mut self.counts, data);
        }
        // Streams without `event:` names say what an event is only in its `type`.
        if name.is_empty()
            && needles.ends.iter().any(|end| end.find(data).is_some())
            && event_type(data).is_some_and(|kind| END_EVENTS.contains(&kind.as_str()))
        {
            self.ended = true;
        }
        if self.in_band.is_none()
            && inband::may_hold_error(data)
            && let Some(found) = inband::error_in(data)
        {
            self.in_band = Some(found);
            self.ended = true;
        }
    }
}

/// An event's `type`, when it is a string.
fn event_type(data: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Typed {
        #[serde(rename = "type")]
        kind: Option<serde_json::Value>,
    }
    let typed: Typed = serde_json::from_slice(data).ok()?;
    match typed.kind? {
        serde_json::Value::String(kind) => Some(kind),
        _ => None,
    }
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

    /// Whether what was copied is one whole JSON document: the body of an answer that went by
    /// complete, even without a `Content-Length` to say so.
    pub fn is_whole_json(&self) -> bool {
        !self.overflowed && serde_json::from_slice::<IgnoredAny>(&self.bytes).is_ok()
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
        let mut parser = SseTap::default();
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

    /// The Responses API as it streams (the fake OpenAI's `/v1/responses`, Codex's only API):
    /// the response object goes by with `"usage": null` until `response.completed`, whose
    /// usage has detail objects beside the counts.
    #[test]
    fn a_whole_responses_stream_counts_once_it_completes() {
        let head = "event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"resp_1\",\"status\":\"in_progress\",\"output\":[],\"usage\":null}}\n\n\
            event: response.output_item.added\ndata: {\"type\":\"response.output_item.added\",\"sequence_number\":1,\"output_index\":0,\"item\":{\"type\":\"message\",\"role\":\"assistant\",\"content\":[]}}\n\n\
            event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"sequence_number\":2,\"delta\":\"usage: \",\"logprobs\":[]}\n\n\
            event: response.output_item.done\ndata: {\"type\":\"response.output_item.done\",\"sequence_number\":3,\"item\":{\"type\":\"message\",\"content\":[{\"type\":\"output_text\",\"text\":\"usage: \"}]}}\n\n";
        let completed = "event: response.completed\ndata: {\"type\":\"response.completed\",\"sequence_number\":4,\"response\":{\"id\":\"resp_1\",\"status\":\"completed\",\"usage\":{\"input_tokens\":12,\"input_tokens_details\":{\"cached_tokens\":0},\"output_tokens\":5,\"output_tokens_details\":{\"reasoning_tokens\":0},\"total_tokens\":17}}}\n\n";
        for size in [1, 9, 100_000] {
            let (ended, parser) = ended_after(head, size);
            assert!(!ended && parser.usage().is_none(), "pieces of {size}");
            let whole = format!("{head}{completed}");
            let (ended, parser) = ended_after(&whole, size);
            assert!(ended, "pieces of {size}");
            assert_eq!(parser.usage(), usage(12, 5), "pieces of {size}");
        }
        // The same response, not streamed.
        let body = br#"{"id":"resp_1","object":"response","status":"completed","output":[],"usage":{"input_tokens":12,"input_tokens_details":{"cached_tokens":0},"output_tokens":5,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":17}}"#;
        assert_eq!(json_usage(body), usage(12, 5));
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
        let mut parser = SseTap::default();
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

    /// Whether the stream had ended after each piece of `text` cut at `size`.
    fn ended_after(text: &str, size: usize) -> (bool, SseTap) {
        let mut parser = SseTap::default();
        for piece in text.as_bytes().chunks(size) {
            parser.feed(piece);
        }
        (parser.ended(), parser)
    }

    #[test]
    fn the_end_event_of_each_family_ends_the_stream() {
        let responses = "event: response.created\ndata: {\"type\":\"response.created\"}\n\n\
            event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"hi\"}\n\n\
            event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"error\":null,\"usage\":{\"input_tokens\":5,\"output_tokens\":6}}}\n\n";
        // Anthropic-compatible providers that leave out the `event:` lines.
        let unnamed = ANTHROPIC
            .lines()
            .filter(|line| !line.starts_with("event:"))
            .map(|line| format!("{line}\n"))
            .collect::<String>();
        for size in [1, 3, 17, 100_000] {
            for (name, text) in [
                ("openai", OPENAI),
                ("moonshot", MOONSHOT),
                ("anthropic", ANTHROPIC),
                ("responses", responses),
                ("unnamed", unnamed.as_str()),
            ] {
                let (ended, parser) = ended_after(text, size);
                assert!(ended, "{name} in pieces of {size}");
                assert!(parser.usage().is_some(), "{name} in pieces of {size}");
                assert_eq!(parser.in_band(), None, "{name}");
            }
            for (name, text) in [
                (
                    "responses incomplete",
                    "event: response.incomplete\ndata: {\"type\":\"response.incomplete\"}\n\n",
                ),
                (
                    "responses failed",
                    "data: {\"type\":\"response.failed\",\"response\":{\"error\":{\"code\":\"server_error\",\"message\":\"x\"}}}\n\n",
                ),
                ("done without a space", "data:[DONE]\r\n\r\n"),
            ] {
                assert!(ended_after(text, size).0, "{name} in pieces of {size}");
            }
        }
    }

    #[test]
    fn nothing_before_the_end_event_ends_the_stream() {
        // Cut right before the blank line that completes `[DONE]` or `message_stop`.
        let done = OPENAI.rfind("\n\n").unwrap();
        assert!(!ended_after(&OPENAI[..done + 1], 4).0);
        let stop = ANTHROPIC.rfind("\n\n").unwrap();
        assert!(!ended_after(&ANTHROPIC[..stop + 1], 4).0);
        let talk = "data: {\"choices\":[{\"delta\":{\"content\":\"[DONE] message_stop response.completed\"}}]}\n\n\
            event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"text\":\"message_stop\"}}\n\n\
            data: {\"type\":\"content_block_delta\",\"delta\":{\"text\":\"\\\"type\\\":\\\"message_stop\\\"\"}}\n\n";
        let (ended, parser) = ended_after(talk, 5);
        assert!(!ended, "words in the text end nothing");
        assert_eq!(parser.in_band(), None);
    }

    #[test]
    fn an_error_inside_the_stream_is_kept_and_ends_it() {
        let anthropic = "event: message_start\n\
            data: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":25,\"output_tokens\":1}}}\n\n\
            event: error\n\
            data: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";
        let openrouter = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}]}\n\n\
            data: {\"object\":\"chat.completion.chunk\",\"error\":{\"code\":429,\"message\":\"Rate limit exceeded\"},\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\"},\"finish_reason\":\"error\"}]}\n\n\
            data: {\"error\":{\"code\":502,\"message\":\"a second error is not kept\"}}\n\n";
        for size in [1, 7, 100_000] {
            let (ended, parser) = ended_after(anthropic, size);
            assert!(ended);
            let found = parser.in_band().unwrap();
            assert_eq!(found.status, Some(529));
            assert!(found.body.starts_with(b"{\"type\":\"error\""));
            assert_eq!(parser.usage(), usage(25, 1), "the tokens seen still count");

            let (ended, parser) = ended_after(openrouter, size);
            assert!(ended);
            assert_eq!(parser.in_band().unwrap().status, Some(429));
        }
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

    /// Reading the usage from a whole JSON tree: the rules the one-pass reader keeps.
    fn usage_from_tree(body: &[u8]) -> Option<TokenUsage> {
        use serde_json::Value;
        let json: Value = serde_json::from_slice(body).ok()?;
        fn object(value: Option<&Value>) -> Option<&Value> {
            value.filter(|v| v.is_object())
        }
        let usage = match json.get("type").and_then(Value::as_str).unwrap_or("") {
            "message_start" => object(json.pointer("/message/usage")),
            "response.completed" => object(json.pointer("/response/usage")),
            _ => object(json.get("usage")).or_else(|| object(json.pointer("/choices/0/usage"))),
        }?;
        let count = |names: &[&str]| {
            names.iter().find_map(|name| {
                let value = usage.get(*name)?;
                value
                    .as_u64()
                    .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))
            })
        };
        let input = count(&["prompt_tokens", "input_tokens"]);
        let output = count(&["completion_tokens", "output_tokens"]);
        (input.is_some() || output.is_some()).then(|| TokenUsage {
            input: input.unwrap_or(0),
            output: output.unwrap_or(0),
        })
    }

    #[test]
    fn odd_shapes_read_as_the_whole_tree_reads_them() {
        let bodies = [
            r#"{"usage":{"prompt_tokens":3,"input_tokens":4,"output_tokens":5}}"#,
            r#"{"usage":{"prompt_tokens":null,"input_tokens":4,"completion_tokens":-1,"output_tokens":2}}"#,
            r#"{"usage":{"prompt_tokens":1.5,"completion_tokens":" 6 ","output_tokens":[1]}}"#,
            r#"{"usage":{"prompt_tokens":1,"prompt_tokens":"x"},"usage2":{}}"#,
            r#"{"usage":{"prompt_tokens":1},"usage":null}"#,
            r#"{"usage":[1,2],"choices":[{"usage":{"prompt_tokens":2}}]}"#,
            r#"{"usage":null,"choices":[{"x":1},{"usage":{"prompt_tokens":2}}]}"#,
            r#"{"choices":{"0":{"usage":{"completion_tokens":8}}}}"#,
            r#"{"choices":[[{"usage":{"prompt_tokens":2}}]]}"#,
            r#"{"type":"message_start","usage":{"input_tokens":1},"message":{"usage":{"input_tokens":9}}}"#,
            r#"{"type":"message_start","message":[{"usage":{"input_tokens":9}}]}"#,
            r#"{"type":"response.completed","response":{"usage":{"input_tokens":5,"output_tokens":6}}}"#,
            r#"{"type":7,"usage":{"prompt_tokens":-0,"completion_tokens":18446744073709551615}}"#,
            r#"{"type":"message_start","message":{"usage":{}}}"#,
            r#"{"usage":{"prompt_tokens":1,"nested":{"a":[true,false,null,{"b":"c\"d"}]}}}"#,
            r#"{"usage":{"prompt_tokens":100000000000000000000}}"#,
            r#"{"usage":{"prompt_tokens":1}} trailing"#,
            r#"{"usage":{"prompt_tokens":1}}   "#,
            r#"{"usage":{"prompt_tokens":1,}}"#,
            r#"{"us\u0061ge":{"prompt_t\u006fkens":4}}"#,
            r#"[{"usage":{"prompt_tokens":1}}]"#,
            r#""usage""#,
            r#"null"#,
            "",
        ];
        for body in bodies {
            assert_eq!(
                json_usage(body.as_bytes()),
                usage_from_tree(body.as_bytes()),
                "{body}"
            );
        }
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
