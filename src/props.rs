//! What the property tests share (the `props.rs` beside each parser): the case budget, and
//! inputs shaped like what the parsers meet (JSON trees whose keys are the ones the parsers
//! look for, keys and tokens, numbers at the edges).
//!
//! The budget is `PROPTEST_CASES` cases per property, 128 when it is not set, so the test
//! command stays quick; `scripts/fuzz.sh` runs the same properties with a large budget. A
//! failure is shrunk to a minimal input and printed; it becomes a unit test beside the fix.

use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::{Map, Number, Value};

/// Cases per property when `PROPTEST_CASES` is not set.
const DEFAULT_CASES: u32 = 128;

pub fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    Config {
        cases,
        // Counterexamples become unit tests; no files are written beside the sources.
        failure_persistence: None,
        ..Config::default()
    }
}

/// A number as providers send them, and at the edges: whole, fractional, negative, huge, tiny.
pub fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        (0u64..200).prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-1.0e3f64..1.0e3).prop_map(Value::from),
        prop_oneof![
            Just(0.0),
            Just(-0.0),
            Just(1.0e308),
            Just(-1.0e308),
            Just(f64::MAX),
            Just(f64::MIN_POSITIVE),
            Just(5e-324),
            Just(1.8446744073709552e19),
        ]
        .prop_map(|n| Value::Number(Number::from_f64(n).expect("finite"))),
    ]
}

/// A string as providers send them: numbers and times as text, words they use, anything.
pub fn text(words: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(words).prop_map(str::to_owned),
        1 => any::<u64>().prop_map(|n| n.to_string()),
        1 => (-1.0e6f64..1.0e6).prop_map(|n| n.to_string()),
        1 => Just("2026-11-20T10:00:00Z".to_owned()),
        1 => Just("2026-11-20T10:00:00.123456789+08:00".to_owned()),
        1 => Just(" 42 ".to_owned()),
        1 => "\\PC{0,12}",
    ]
}

/// A JSON tree whose object keys are mostly `keys` (what a parser looks for) and whose
/// strings are mostly `words`, nested a few levels.
pub fn json(keys: &'static [&'static str], words: &'static [&'static str]) -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        text(words).prop_map(Value::String),
    ];
    let key = prop_oneof![
        6 => proptest::sample::select(keys).prop_map(str::to_owned),
        1 => "[a-z_]{0,8}",
    ];
    leaf.prop_recursive(5, 64, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            proptest::collection::vec((key.clone(), inner), 0..6)
                .prop_map(|members| Value::Object(members.into_iter().collect::<Map<_, _>>())),
        ]
    })
    .boxed()
}

/// A JSON object (the top level of every answer parsed) built like [`json`].
pub fn json_object(
    keys: &'static [&'static str],
    words: &'static [&'static str],
) -> BoxedStrategy<Value> {
    let key = proptest::sample::select(keys).prop_map(str::to_owned);
    proptest::collection::vec((key, json(keys, words)), 0..8)
        .prop_map(|members| Value::Object(members.into_iter().collect()))
        .boxed()
}

/// An API key or token as providers and Redline make them: a vendor prefix, then 24 to 48
/// letters and digits (both).
pub fn api_key() -> impl Strategy<Value = String> {
    let prefix = proptest::sample::select(
        &[
            "sk-",
            "sk-proj-",
            "sk-ant-api03-",
            "sk-kimi-",
            "sk-or-v1-",
            "",
            "rl_",
            "rl_admin_",
        ][..],
    );
    (prefix, "[A-Za-z0-9]{22,46}", "[A-Za-z]", "[0-9]")
        .prop_map(|(prefix, body, letter, digit)| format!("{prefix}{letter}{body}{digit}"))
}

/// Fails when `text` shows `key` or any 12 characters of it in a row: a fingerprint shows at
/// most a short vendor prefix and the last four.
pub fn assert_no_key(text: &str, key: &str) {
    let chars: Vec<char> = key.chars().collect();
    for window in chars.windows(12) {
        let piece: String = window.iter().collect();
        assert!(
            !text.contains(&piece),
            "{piece:?} of the key shows in: {text}"
        );
    }
}
