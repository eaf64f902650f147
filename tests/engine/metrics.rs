//! `GET /metrics` over loopback HTTP after real proxied traffic to fake providers, read by the
//! official Python `prometheus-client` OpenMetrics parser (installed by scripts/test.sh): every
//! documented metric is there with plausible values, and nothing is served without the token.

use crate::support::scenario::InProcessEngine;
use crate::support::{process, python};
use redline::fakes::FakeProvider;
use redline::providers::ProviderId;
use serde_json::Value;
use std::process::Command;
use std::time::{Duration, Instant};

const KEY: &str = "sk-test-MetricsKeyAbcdefghijklmnop8080";
const WRONG_KEY: &str = "sk-test-NotTheRightKeyAbcdefghijkl0000";

/// The metric families the README documents.
const DOCUMENTED: &[&str] = &[
    "redline_in_flight",
    "redline_in_flight_peak",
    "redline_requests",
    "redline_throttles",
    "redline_window_used_ratio",
    "redline_window_reset_seconds",
    "redline_poll_error",
    "redline_history_dropped_rows",
    "redline_process_resident_memory_bytes",
];

/// The families as the Python parser read them; a parse error fails the test.
pub(crate) fn parse(text: &str) -> Vec<Value> {
    let mut parser = Command::new(python());
    parser.arg(format!(
        "{}/tests/prometheus/parse.py",
        env!("CARGO_MANIFEST_DIR")
    ));
    let output = process::output(parser, Some(text));
    assert!(
        output.status.success(),
        "the parser refused the text:\n{}\n{text}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Samples named `sample` whose labels include every pair in `labels`.
pub(crate) fn values(families: &[Value], sample: &str, labels: &[(&str, &str)]) -> Vec<f64> {
    families
        .iter()
        .flat_map(|f| f["samples"].as_array().unwrap())
        .filter(|s| s["name"] == sample)
        .filter(|s| labels.iter().all(|(k, v)| s["labels"][*k] == *v))
        .map(|s| s["value"].as_f64().unwrap())
        .collect()
}

fn one(families: &[Value], sample: &str, labels: &[(&str, &str)]) -> f64 {
    let found = values(families, sample, labels);
    assert_eq!(found.len(), 1, "{sample} {labels:?}: {found:?}");
    found[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_after_real_traffic_parse_and_need_the_token() {
    let kimi = FakeProvider::start(ProviderId::KimiCode, KEY)
        .await
        .unwrap();
    let other = FakeProvider::start(ProviderId::KimiCode, KEY)
        .await
        .unwrap();
    let engine = InProcessEngine::start(
        &[
            ("kimi-main", ProviderId::KimiCode, &kimi.origin(), KEY),
            ("broken", ProviderId::KimiCode, &other.origin(), WRONG_KEY),
        ],
        true,
    )
    .await;
    let (origin, token, admin) = (&engine.origin, &engine.token, &engine.admin);
    let client = reqwest::Client::builder().no_proxy().build().unwrap();

    // Real traffic: three answers and one refusal from the provider.
    kimi.refuse_next_chats(1, 5);
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let answer = client
            .post(format!("{origin}/kimi-main/coding/v1/chat/completions"))
            .bearer_auth(token.expose())
            .header("user-agent", "KimiCLI/0.42")
            .json(&serde_json::json!({"model": "kimi-for-coding", "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .unwrap();
        statuses.push(answer.status().as_u16());
        answer.bytes().await.unwrap();
    }
    assert_eq!(statuses, [429, 200, 200, 200]);
    // Both accounts have been polled (one with a key the provider rejects).
    let refreshed = client
        .post(format!("{origin}/api/v1/refresh"))
        .bearer_auth(admin.expose())
        .send()
        .await
        .unwrap();
    assert_eq!(refreshed.status(), 200);

    let tool = format!("Bearer {}", token.expose());
    for auth in [None, Some("Bearer not-the-token"), Some(tool.as_str())] {
        let mut request = client.get(format!("{origin}/metrics"));
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        let refused = request.send().await.unwrap();
        let expected = if auth == Some(tool.as_str()) {
            403
        } else {
            401
        };
        assert_eq!(refused.status(), expected, "{auth:?}");
        let body = refused.text().await.unwrap();
        assert!(!body.contains("redline_requests"), "{body}");
        assert!(body.contains("redline token"), "{body}");
    }

    let answer = client
        .get(format!("{origin}/metrics"))
        .bearer_auth(admin.expose())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert!(
        answer.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text"),
    );
    let text = answer.text().await.unwrap();
    assert!(
        !text.contains(KEY) && !text.contains(token.expose()) && !text.contains(admin.expose())
    );
    let families = parse(&text);

    let names: Vec<&str> = families
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    for name in DOCUMENTED {
        assert!(names.contains(name), "{name} missing from {names:?}");
    }
    let readme =
        std::fs::read_to_string(format!("{}/README.md", env!("CARGO_MANIFEST_DIR"))).unwrap();
    for name in &names {
        assert!(
            readme.contains(name),
            "{name} is served but not documented in the README"
        );
    }

    let kimi_main = ("account", "kimi-main");
    let requests = |status| {
        one(
            &families,
            "redline_requests_total",
            &[kimi_main, ("client", "Kimi CLI"), ("status", status)],
        )
    };
    assert_eq!((requests("200"), requests("429")), (3.0, 1.0));
    let throttles: f64 = values(&families, "redline_throttles_total", &[kimi_main])
        .iter()
        .sum();
    assert_eq!(throttles, 1.0);
    assert_eq!(one(&families, "redline_in_flight", &[kimi_main]), 0.0);
    assert!(one(&families, "redline_in_flight_peak", &[kimi_main]) >= 1.0);
    assert_eq!(one(&families, "redline_poll_error", &[kimi_main]), 0.0);
    assert_eq!(
        one(&families, "redline_poll_error", &[("account", "broken")]),
        1.0
    );

    let ratios = values(&families, "redline_window_used_ratio", &[kimi_main]);
    assert!(!ratios.is_empty());
    assert!(ratios.iter().all(|r| (0.0..=1.0).contains(r)), "{ratios:?}");
    let resets = values(&families, "redline_window_reset_seconds", &[kimi_main]);
    assert!(!resets.is_empty());
    // The fake's windows reset within 3 hours and 4 days (of the fake's clock, which may run a
    // moment ahead of the one /metrics read).
    assert!(
        resets
            .iter()
            .all(|s| *s > 0.0 && *s <= 4.0 * 86400.0 + 60.0),
        "{resets:?}"
    );
    assert_eq!(
        one(&families, "redline_history_dropped_rows_total", &[]),
        0.0
    );
    let rss = one(&families, "redline_process_resident_memory_bytes", &[]);
    assert!(
        rss > 1e6 && rss < 1e10,
        "resident memory {rss} bytes is implausible"
    );
}

/// A local process that invents a User-Agent per request cannot grow the daemon's books or
/// /metrics without bound: past the first 64 names, requests are counted as "other tools",
/// and none of them is lost from the counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invented_tool_names_are_bounded_and_still_counted() {
    let kimi = FakeProvider::start(ProviderId::KimiCode, KEY)
        .await
        .unwrap();
    let engine = InProcessEngine::start(
        &[("kimi-main", ProviderId::KimiCode, &kimi.origin(), KEY)],
        false,
    )
    .await;
    let (origin, token, admin) = (&engine.origin, &engine.token, &engine.admin);
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    const SENT: usize = 100;
    for i in 0..SENT {
        let answer = client
            .post(format!("{origin}/kimi-main/coding/v1/chat/completions"))
            .bearer_auth(token.expose())
            .header("user-agent", format!("Invented{i}/1.0"))
            .json(&serde_json::json!({"model": "kimi-for-coding", "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
        answer.bytes().await.unwrap();
    }

    // A request is recorded once its answer has been relayed, a moment after the client has
    // it: read until all are in.
    let deadline = Instant::now() + Duration::from_secs(30);
    let (names, families) = loop {
        let status: Value = client
            .get(format!("{origin}/api/v1/status"))
            .bearer_auth(admin.expose())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let names: Vec<String> = status["accounts"][0]["traffic"]["tools"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| t["tool"].as_str().unwrap().to_owned())
            .collect();
        let text = client
            .get(format!("{origin}/metrics"))
            .bearer_auth(admin.expose())
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let families = parse(&text);
        let counted: f64 = values(
            &families,
            "redline_requests_total",
            &[("account", "kimi-main")],
        )
        .iter()
        .sum();
        if counted == SENT as f64 && names.iter().any(|n| n == "other tools") {
            break (names, families);
        }
        assert!(
            Instant::now() < deadline,
            "{SENT} requests not all recorded within 30 s: {counted} in /metrics, tools {names:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(names.len(), 65, "{names:?}");
    assert!(names.iter().any(|n| n == "Invented0"));
    assert!(!names.iter().any(|n| n == "Invented64"), "{names:?}");
    let by_client = values(
        &families,
        "redline_requests_total",
        &[("account", "kimi-main")],
    );
    assert_eq!(by_client.len(), 65, "one series per name kept");
    assert_eq!(by_client.iter().sum::<f64>(), SENT as f64);
    assert_eq!(
        one(
            &families,
            "redline_requests_total",
            &[("client", "other tools"), ("status", "200")]
        ),
        (SENT - 64) as f64
    );
}
