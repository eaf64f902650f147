//! Properties of what the proxy reads on the side of an answer (src/props.rs says how they
//! run): the token tap reads a JSON body as reading its tree would, and a stream the same
//! however the network cuts it; the in-band search never misses an error its parser finds;
//! decoding gives back what was compressed, however it arrives, and never more than its
//! budget; and none of them panics on any bytes.

use super::decode::{Coding, Decoder, Sink};
use super::inband::{error_in, may_hold_error};
use super::token_tap::{BoundedCopy, SseTap, json_usage};
use super::traffic::TokenUsage;
use crate::props::{config, json, json_object};
use proptest::prelude::*;
use serde_json::Value;

/// The keys the tap and the in-band search look at.
const KEYS: &[&str] = &[
    "type",
    "usage",
    "choices",
    "message",
    "response",
    "prompt_tokens",
    "input_tokens",
    "completion_tokens",
    "output_tokens",
    "0",
    "error",
    "base_resp",
    "status_code",
    "success",
    "code",
    "delta",
    "content",
    "id",
];
const WORDS: &[&str] = &[
    "message_start",
    "message_delta",
    "message_stop",
    "response.completed",
    "response.failed",
    "response.incomplete",
    "error",
    "content_block_delta",
    "12",
    "0",
    "-3",
    "7.5",
    " 42 ",
    "+9",
    "1e3",
    "18446744073709551616",
    "overloaded_error",
    "rate_limit_error",
    "429",
    "200",
];

/// The usage of a whole JSON answer as reading its tree gives it: the rules the tap keeps
/// without building the tree (`token_tap`, "Reading an event").
fn usage_from_tree(json: &[u8]) -> Option<TokenUsage> {
    let tree: Value = serde_json::from_slice(json).ok()?;
    let event = tree.as_object()?;
    let count = |value: Option<&Value>| -> Option<u64> {
        match value? {
            Value::Number(n) => n.as_u64(),
            Value::String(text) => text.trim().parse().ok(),
            _ => None,
        }
    };
    let fields = |usage: Option<&Value>| -> Option<[Option<u64>; 4]> {
        let usage = usage?.as_object()?;
        Some(
            [
                "prompt_tokens",
                "input_tokens",
                "completion_tokens",
                "output_tokens",
            ]
            .map(|key| count(usage.get(key))),
        )
    };
    let usage = match event.get("type").and_then(Value::as_str) {
        Some("message_start") => fields(tree.pointer("/message/usage")),
        Some("response.completed") => fields(tree.pointer("/response/usage")),
        _ => fields(event.get("usage")).or_else(|| fields(tree.pointer("/choices/0/usage"))),
    }?;
    let [prompt, input, completion, output] = usage;
    let (input, output) = (prompt.or(input), completion.or(output));
    (input.is_some() || output.is_some()).then(|| TokenUsage {
        input: input.unwrap_or(0),
        output: output.unwrap_or(0),
    })
}

/// What a tap made of a stream.
fn tapped(pieces: &[&[u8]]) -> (Option<TokenUsage>, bool, Option<super::inband::InBand>) {
    let mut tap = SseTap::default();
    for piece in pieces {
        tap.feed(piece);
    }
    (tap.usage(), tap.ended(), tap.in_band().cloned())
}

/// An SSE stream as providers write it, with every line ending SSE allows.
fn sse_stream() -> impl Strategy<Value = Vec<u8>> {
    let line_end = proptest::sample::select(&["\n", "\r\n", "\r"][..]);
    let event = prop_oneof![
        3 => json(KEYS, WORDS).prop_map(|j| format!("data: {j}")),
        1 => json(KEYS, WORDS).prop_map(|j| format!("data:{j}")),
        1 => proptest::sample::select(WORDS).prop_map(|name| format!("event: {name}")),
        1 => Just("data: [DONE]".to_owned()),
        1 => Just(": keep-alive".to_owned()),
        1 => Just(String::new()),
        1 => "[ -~]{0,30}",
    ];
    proptest::collection::vec((event, line_end), 0..24).prop_map(|lines| {
        lines
            .into_iter()
            .flat_map(|(line, end)| [line, end.to_owned()])
            .collect::<String>()
            .into_bytes()
    })
}

/// `bytes` cut at `cuts` (positions taken modulo its length).
fn cut(bytes: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut at: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    at.sort_unstable();
    let mut pieces = Vec::new();
    let mut start = 0;
    for end in at.into_iter().chain([bytes.len()]) {
        pieces.push(bytes[start..end].to_vec());
        start = end;
    }
    pieces
}

/// A sink that keeps everything it is given.
#[derive(Default)]
struct Everything(Vec<u8>);

impl Sink for Everything {
    fn feed(&mut self, decoded: &[u8]) {
        self.0.extend_from_slice(decoded);
    }
}

fn coding() -> impl Strategy<Value = Coding> {
    proptest::sample::select(&[Coding::Gzip, Coding::Deflate, Coding::Brotli, Coding::Zstd][..])
}

/// `body` compressed in `coding` as a server streaming `pieces` of it sends it (raw deflate
/// too, as some servers send `deflate`).
fn compressed(coding: Coding, body: &[u8], pieces: &[usize], raw_deflate: bool) -> Vec<u8> {
    if coding == Coding::Deflate && raw_deflate {
        use std::io::Write;
        let mut encoder =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(body).expect("in memory");
        return encoder.finish().expect("in memory");
    }
    let pieces = cut(body, pieces);
    let pieces: Vec<&[u8]> = pieces.iter().map(Vec::as_slice).collect();
    crate::fakes::encode_pieces(coding, &pieces).concat()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn the_tap_reads_a_json_answer_as_its_tree_says(body in json(KEYS, WORDS)) {
        let text = body.to_string();
        prop_assert_eq!(json_usage(text.as_bytes()), usage_from_tree(text.as_bytes()), "{}", text);
        let pretty = serde_json::to_string_pretty(&body).expect("serialises");
        prop_assert_eq!(json_usage(pretty.as_bytes()), usage_from_tree(pretty.as_bytes()));
    }

    #[test]
    fn the_tap_takes_any_bytes(body in proptest::collection::vec(any::<u8>(), 0..200)) {
        prop_assert_eq!(json_usage(&body), usage_from_tree(&body));
        tapped(&[&body]);
    }

    #[test]
    fn one_data_event_counts_as_the_same_json_answer(body in json(KEYS, WORDS)) {
        let text = body.to_string();
        let (usage, _, _) = tapped(&[format!("data: {text}\n\n").as_bytes()]);
        prop_assert_eq!(usage, json_usage(text.as_bytes()), "{}", text);
    }

    #[test]
    fn a_stream_reads_the_same_however_it_is_cut(stream in sse_stream(), cuts in proptest::collection::vec(any::<usize>(), 0..12)) {
        let whole = tapped(&[&stream]);
        let pieces = cut(&stream, &cuts);
        let pieces: Vec<&[u8]> = pieces.iter().map(Vec::as_slice).collect();
        prop_assert_eq!(&tapped(&pieces), &whole);
        // Byte by byte, as the slowest network would.
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        prop_assert_eq!(tapped(&bytes), whole);
    }

    #[test]
    fn the_in_band_search_never_misses_an_error_its_parser_finds(body in json_object(KEYS, WORDS)) {
        // As serializers write JSON (no escaped letters in keys).
        for text in [body.to_string(), serde_json::to_string_pretty(&body).expect("serialises")] {
            if error_in(text.as_bytes()).is_some() {
                prop_assert!(may_hold_error(text.as_bytes()), "{}", text);
            }
        }
    }

    #[test]
    fn a_bounded_copy_keeps_the_start_and_says_when_it_overflowed(
        body in proptest::collection::vec(any::<u8>(), 0..300),
        limit in 0usize..300,
        cuts in proptest::collection::vec(any::<usize>(), 0..6),
    ) {
        let mut copy = BoundedCopy::new(limit);
        for piece in cut(&body, &cuts) {
            copy.feed(&piece);
        }
        prop_assert_eq!(copy.bytes(), &body[..body.len().min(limit)]);
        prop_assert_eq!(copy.overflowed(), body.len() > limit);
    }

    #[test]
    fn decoding_gives_back_what_was_compressed_however_it_arrives(
        coding in coding(),
        body in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..2000),
            sse_stream(),
        ],
        pieces in proptest::collection::vec(any::<usize>(), 0..6),
        cuts in proptest::collection::vec(any::<usize>(), 0..10),
        raw_deflate in any::<bool>(),
    ) {
        let wire = compressed(coding, &body, &pieces, raw_deflate);
        let mut decoder = Decoder::new(coding, Everything::default());
        for chunk in cut(&wire, &cuts) {
            decoder.feed(&chunk);
        }
        prop_assert_eq!(&decoder.sink().0, &body);
    }

    #[test]
    fn decoding_any_bytes_never_panics_nor_passes_its_budget(
        coding in coding(),
        wire in proptest::collection::vec(any::<u8>(), 0..400),
        cuts in proptest::collection::vec(any::<usize>(), 0..6),
        budget in 0u64..64,
    ) {
        let mut decoder = Decoder::with_budget(coding, Everything::default(), budget);
        for chunk in cut(&wire, &cuts) {
            decoder.feed(&chunk);
        }
        prop_assert!(decoder.sink().0.len() as u64 <= budget);
    }

    #[test]
    fn a_compressed_answer_over_budget_stops_at_the_budget(
        coding in coding(),
        body in proptest::collection::vec(any::<u8>(), 1..3000),
        budget in 0u64..3000,
    ) {
        let wire = compressed(coding, &body, &[], false);
        let mut decoder = Decoder::with_budget(coding, Everything::default(), budget);
        decoder.feed(&wire);
        let kept = (budget as usize).min(body.len());
        prop_assert_eq!(&decoder.sink().0[..], &body[..kept]);
    }
}
