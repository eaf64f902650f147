//! Properties of every provider's parsers (src/props.rs says how they run): the usage parser,
//! the rate-limit header reader and the refusal classifier never panic, whatever arrives; a
//! body that is not the provider's answer is an error, not an empty or zero snapshot; what
//! they return holds finite numbers; and a key quoted in a body never reaches a message.

use super::snapshot::Snapshot;
use super::{ProviderId, UsageContext, UsageError, provider};
use crate::keys::secret::redact_keys;
use crate::props::{api_key, assert_no_key, config, json, json_object};
use http::{HeaderMap, HeaderName, HeaderValue};
use jiff::Timestamp;
use proptest::prelude::*;
use serde_json::Value;

/// Every key the parsers look for, so that generated bodies go deep into them.
const KEYS: &[&str] = &[
    "usage",
    "limits",
    "usages",
    "limit",
    "used",
    "remaining",
    "resetTime",
    "reset_at",
    "resetAt",
    "reset_time",
    "reset_in",
    "ttl",
    "window",
    "duration",
    "timeUnit",
    "detail",
    "parallel",
    "boosterWallet",
    "balance",
    "amountLeft",
    "monthlyChargeLimitEnabled",
    "monthlyChargeLimit",
    "monthlyUsed",
    "priceInCents",
    "user",
    "membership",
    "level",
    "limit_5h",
    "usage_weekly",
    "usage_daily",
    "usage_monthly",
    "used_ratio",
    "data",
    "is_free_tier",
    "limit_remaining",
    "limit_reset",
    "balance_infos",
    "is_available",
    "currency",
    "total_balance",
    "granted_balance",
    "topped_up_balance",
    "available_balance",
    "voucher_balance",
    "cash_balance",
    "five_hour",
    "seven_day",
    "seven_day_opus",
    "seven_day_sonnet",
    "utilization",
    "resets_at",
    "success",
    "code",
    "msg",
    "message",
    "error",
    "type",
    "base_resp",
    "status_code",
    "status_msg",
    "model_remains",
    "model_name",
    "current_interval_total_count",
    "current_interval_usage_count",
    "current_interval_remaining_percent",
    "remains_time",
    "start_time",
    "end_time",
    "nextResetTime",
    "number",
    "unit",
    "currentValue",
    "percentage",
    "plan",
    "status",
    "details",
    "error_code",
    "metadata",
    "reasons",
];

/// Words providers put in those fields.
const WORDS: &[&str] = &[
    "TIME_UNIT_MINUTE",
    "TIME_UNIT_HOUR",
    "TIME_UNIT_DAY",
    "TIME_UNIT_WEEK",
    "TOKENS_LIMIT",
    "TIME_LIMIT",
    "LEVEL_STANDARD",
    "LEVEL_PRO_PLUS",
    "USD",
    "CNY",
    "true",
    "false",
    "1302",
    "200",
    "0",
    "-1",
    "1e400",
    "NaN",
    "inf",
    "rate_limit_error",
    "overloaded_error",
    "authentication_error",
    "insufficient_quota",
    "access_terminated_error",
    "exceeded_current_quota_error",
    "engine_overloaded_error",
    "rate_limit_reached_error",
    "Too many requests, max concurrency: 30",
    "try again in 1.5s",
    "retry after 99999999999999999999999 hours",
];

fn now() -> Timestamp {
    "2026-11-29T12:00:00Z".parse().expect("a timestamp")
}

fn parse(id: ProviderId, body: &[u8]) -> Result<Snapshot, UsageError> {
    let adapter = provider(id);
    let context = UsageContext {
        now: now(),
        region: &adapter.regions()[0],
    };
    adapter.parse_usage(body, &context)
}

fn any_provider() -> impl Strategy<Value = ProviderId> {
    proptest::sample::select(&ProviderId::ALL[..])
}

/// What a snapshot may hold: finite numbers everywhere, ratios that are numbers.
fn assert_sane(snapshot: &Snapshot) {
    for window in &snapshot.windows {
        for n in [window.used, window.limit, window.remaining]
            .into_iter()
            .flatten()
        {
            assert!(n.is_finite(), "{window:?}");
        }
        if let Some(ratio) = window.used_ratio() {
            assert!(ratio.is_finite() && ratio >= 0.0, "{window:?}");
        }
    }
    for balance in &snapshot.balances {
        assert!(balance.amount.is_finite(), "{balance:?}");
    }
}

/// A usage error never quotes the body: a shape error names fields, a refusal's message is
/// cut to fingerprints where it is shown (`poll::monitor`).
fn assert_keeps_key(result: &Result<Snapshot, UsageError>, key: &str) {
    match result {
        Ok(_) => {}
        Err(UsageError::Shape(text)) => assert_no_key(text, key),
        Err(UsageError::Refused(refusal)) => {
            assert_no_key(&redact_keys(&refusal.message), key);
            assert_no_key(&refusal.advice, key);
        }
    }
}

/// `value` with `key` quoted in one of its strings (chosen by `choice`), or in a message
/// added when it has none.
pub(crate) fn plant(value: &mut Value, key: &str, choice: usize) {
    fn strings(value: &Value) -> usize {
        match value {
            Value::String(_) => 1,
            Value::Array(items) => items.iter().map(strings).sum(),
            Value::Object(map) => map.values().map(strings).sum(),
            _ => 0,
        }
    }
    fn replace(value: &mut Value, nth: &mut usize, text: &str) -> bool {
        match value {
            Value::String(s) if *nth == 0 => {
                *s = text.to_owned();
                true
            }
            Value::String(_) => {
                *nth -= 1;
                false
            }
            Value::Array(items) => items.iter_mut().any(|v| replace(v, nth, text)),
            Value::Object(map) => map.values_mut().any(|v| replace(v, nth, text)),
            _ => false,
        }
    }
    let text = format!("Invalid API key provided: {key}.");
    match strings(value) {
        0 => {
            if let Value::Object(map) = value {
                map.insert("message".into(), Value::String(text));
            }
        }
        count => {
            replace(value, &mut (choice % count), &text);
        }
    }
}

/// `value` with its `nth` node (in document order, the root first) replaced by `with`, or,
/// when `drop` and the node is an object's member, taken out.
fn mutate(value: &mut Value, nth: usize, with: Value, drop: bool) {
    fn nodes(value: &Value) -> usize {
        1 + match value {
            Value::Array(items) => items.iter().map(nodes).sum(),
            Value::Object(map) => map.values().map(nodes).sum(),
            _ => 0,
        }
    }
    fn visit(value: &mut Value, nth: &mut usize, with: &mut Option<Value>, drop: bool) -> bool {
        if *nth == 0 {
            *value = with.take().expect("used once");
            return true;
        }
        *nth -= 1;
        match value {
            Value::Array(items) => items.iter_mut().any(|v| visit(v, nth, with, drop)),
            Value::Object(map) => {
                let keys: Vec<String> = map.keys().cloned().collect();
                for key in keys {
                    if *nth == 0 && drop {
                        map.remove(&key);
                        return true;
                    }
                    if visit(
                        map.get_mut(&key).expect("a key of the map"),
                        nth,
                        with,
                        drop,
                    ) {
                        return true;
                    }
                }
                false
            }
            _ => false,
        }
    }
    let mut nth = nth % nodes(value);
    visit(value, &mut nth, &mut Some(with), drop);
}

/// Header names the readers look at, with values at the edges.
fn headers() -> impl Strategy<Value = HeaderMap> {
    const NAMES: &[&str] = &[
        "retry-after",
        "retry-after-ms",
        "x-ratelimit-limit-requests",
        "x-ratelimit-remaining-requests",
        "x-ratelimit-reset-requests",
        "x-ratelimit-limit-tokens",
        "x-ratelimit-remaining-tokens",
        "x-ratelimit-reset-tokens",
        "anthropic-ratelimit-requests-limit",
        "anthropic-ratelimit-requests-remaining",
        "anthropic-ratelimit-requests-reset",
        "anthropic-ratelimit-tokens-limit",
        "anthropic-ratelimit-tokens-remaining",
        "anthropic-ratelimit-tokens-reset",
        "anthropic-ratelimit-input-tokens-limit",
        "anthropic-ratelimit-input-tokens-remaining",
        "anthropic-ratelimit-output-tokens-limit",
        "anthropic-ratelimit-unified-status",
        "anthropic-ratelimit-unified-5h-utilization",
        "anthropic-ratelimit-unified-5h-reset",
        "anthropic-ratelimit-unified-7d-utilization",
        "anthropic-ratelimit-unified-7d-reset",
        "content-type",
        "x-should-retry",
    ];
    const VALUES: &[&str] = &[
        "0",
        "1",
        "30",
        "1.5",
        "-1",
        "1e300",
        "1e19",
        "18446744073709551616",
        "NaN",
        "inf",
        "6m0s",
        "1h2m3s",
        "20ms",
        "99999999999999999999h",
        "2026-11-29T12:05:00Z",
        "Sun, 29 Nov 2026 12:01:30 GMT",
        "Fri, 31 Dec 9999 23:59:59 GMT",
        "1764417600",
        "99999999999",
        "0.21",
        "allowed",
        "rejected",
        "text/html",
        "application/json",
        "true",
    ];
    let value = prop_oneof![
        4 => proptest::sample::select(VALUES).prop_map(str::to_owned),
        1 => "[ -~]{0,24}",
    ];
    proptest::collection::vec((proptest::sample::select(NAMES), value), 0..8).prop_map(|pairs| {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            if let Ok(value) = HeaderValue::from_str(&value) {
                map.append(HeaderName::from_static(name), value);
            }
        }
        map
    })
}

/// An error body as providers send them, holding `key` somewhere in a message that may run
/// past the length messages are cut to.
fn error_body(key: String) -> impl Strategy<Value = Vec<u8>> {
    let pad = (0usize..340).prop_map(|n| "x".repeat(n % 40) + &" word".repeat(n / 5));
    (json_object(KEYS, WORDS), pad, any::<usize>(), 0usize..4).prop_map(
        move |(mut body, pad, choice, form)| {
            let message = format!("{pad} Incorrect API key provided: {key}. See the docs");
            match form {
                0 => {
                    body["error"] =
                        serde_json::json!({"message": message, "type": "authentication_error"});
                    body.to_string().into_bytes()
                }
                1 => {
                    plant(&mut body, &key, choice);
                    body.to_string().into_bytes()
                }
                2 => message.into_bytes(),
                _ => format!(
                    "data: {}\n\n",
                    serde_json::json!({"error": {"message": message}})
                )
                .into_bytes(),
            }
        },
    )
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn usage_parsers_never_panic_on_any_bytes(id in any_provider(), body in proptest::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(snapshot) = parse(id, &body) {
            assert_sane(&snapshot);
        }
    }

    #[test]
    fn usage_parsers_read_any_json_into_finite_numbers_or_an_error(id in any_provider(), body in json_object(KEYS, WORDS)) {
        if let Ok(snapshot) = parse(id, body.to_string().as_bytes()) {
            assert_sane(&snapshot);
        }
    }

    #[test]
    fn the_fakes_answers_read_and_any_change_to_them_reads_sanely_or_is_an_error(
        id in any_provider(),
        used_percent in prop_oneof![0.0f64..=100.0, Just(0.0), Just(100.0), Just(250.0)],
        limit in prop_oneof![Just(30u64), 0u64..=100_000],
        mutations in proptest::collection::vec((any::<usize>(), json(KEYS, WORDS), any::<bool>()), 0..4),
    ) {
        for mut body in crate::fakes::props::usage_bodies(id, used_percent, limit, now()) {
            if mutations.is_empty() {
                let read = parse(id, body.to_string().as_bytes());
                prop_assert!(read.is_ok(), "{:?}\n{}", read, body);
            }
            for (nth, with, drop) in &mutations {
                mutate(&mut body, *nth, with.clone(), *drop);
            }
            if let Ok(snapshot) = parse(id, body.to_string().as_bytes()) {
                assert_sane(&snapshot);
            }
        }
    }

    #[test]
    fn a_body_that_is_no_json_object_is_an_error_not_an_empty_snapshot(
        id in any_provider(),
        body in json(KEYS, WORDS).prop_map(|v| if v.is_object() { Value::Array(vec![v]) } else { v }),
    ) {
        // GitHub Models' key check is its catalog, a JSON array: any array passes it.
        prop_assume!(!(id == ProviderId::GithubModels && body.is_array()));
        prop_assert!(matches!(parse(id, body.to_string().as_bytes()), Err(UsageError::Shape(_))));
    }

    #[test]
    fn an_object_with_none_of_the_fields_is_an_error_not_an_empty_snapshot(
        // Not OpenAI and Anthropic: their "usage" is their model list, the windows are in
        // its headers.
        id in proptest::sample::select(ProviderId::ALL.into_iter().filter(|id| !matches!(id, ProviderId::Openai | ProviderId::Anthropic)).collect::<Vec<_>>()),
        body in proptest::collection::btree_map("[a-z]{9,12}", json(KEYS, WORDS), 0..6),
    ) {
        let body = Value::Object(body.into_iter().collect());
        prop_assert!(parse(id, body.to_string().as_bytes()).is_err(), "{body}");
    }

    #[test]
    fn usage_errors_never_quote_a_key_from_the_body(id in any_provider(), key in api_key(), (mut body, choice) in (json_object(KEYS, WORDS), any::<usize>())) {
        plant(&mut body, &key, choice);
        assert_keeps_key(&parse(id, body.to_string().as_bytes()), &key);
    }

    #[test]
    fn header_windows_never_panic_and_hold_finite_numbers(id in any_provider(), headers in headers()) {
        let snapshot = Snapshot { windows: provider(id).header_windows(&headers, now()), ..Snapshot::default() };
        assert_sane(&snapshot);
    }

    #[test]
    fn classifiers_never_panic_and_never_show_a_key(
        id in any_provider(),
        status in 100u16..600,
        headers in headers(),
        (key, body) in api_key().prop_flat_map(|key| (Just(key.clone()), error_body(key))),
    ) {
        let refusal = provider(id).classify(status, &headers, &body, now());
        // What the proxy and the poller show of it.
        assert_no_key(&redact_keys(&refusal.message), &key);
        assert_no_key(&refusal.advice, &key);
    }

    #[test]
    fn classifiers_never_panic_on_any_bytes(id in any_provider(), status in 0u16..1000, headers in headers(), body in proptest::collection::vec(any::<u8>(), 0..300)) {
        provider(id).classify(status, &headers, &body, now());
    }
}
