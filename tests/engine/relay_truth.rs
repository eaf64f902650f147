//! What the proxy records about an answer matches what the client got (issue 13, "Traffic
//! truth"): the official SDKs and a plain HTTP client call fake providers through the engine
//! as the daemon runs it, and the figures are read back where users and scrapers read them:
//! `/metrics` (`redline_requests_total` by status, `redline_tokens_total`) and
//! `/api/v1/throttles`; each request's own tokens are read from the history database
//! ([`Surfaces::tokens`]) and their sums checked against `/metrics`.
//!
//! - A stream is answered once its end event went by: openai-python hangs up at `data: [DONE]`,
//!   and whether the provider's body ends 0, 1 or 50 ms later, every request is a 200 with its
//!   tokens. A client that hangs up before the end cancelled its request (499), and the
//!   provider sees the cancellation.
//! - gzip, deflate, br and zstd answers, streamed or not, are counted while the client gets the
//!   provider's bytes exactly.
//! - Refusals inside a 200 (Anthropic's `event: error`, OpenRouter's error chunk and body,
//!   Z.ai's and MiniMax's codes) are recorded like any 429, with the tool's name.

use crate::sdk_clients::sdk_with;
use crate::support::scenario::InProcessEngine;
use redline::fakes::{FakeProvider, InBandError, PROMPT_TOKENS};
use redline::providers::ProviderId;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const KEY: &str = "sk-test-RelayTruthKeyAbcdefghijklmn4242";
/// How long a figure may take to show on a surface once the client is done.
const RECORDED_WITHIN: Duration = Duration::from_secs(20);
/// Output tokens of every fake answer (the fake streams five one-token chunks).
const OUTPUT_TOKENS: u64 = 5;

/// Fake providers and the engine with an account on each: `(id, provider)`.
struct Setup {
    fakes: BTreeMap<&'static str, FakeProvider>,
    engine: InProcessEngine,
    surfaces: Surfaces,
}

async fn setup(accounts: &[(&'static str, ProviderId)]) -> Setup {
    let mut fakes = BTreeMap::new();
    for (id, provider) in accounts {
        fakes.insert(*id, FakeProvider::start(*provider, KEY).await.unwrap());
    }
    let origins: Vec<(&str, ProviderId, String)> = accounts
        .iter()
        .map(|(id, provider)| (*id, *provider, fakes[id].origin()))
        .collect();
    let config: Vec<(&str, ProviderId, &str, &str)> = origins
        .iter()
        .map(|(id, provider, origin)| (*id, *provider, origin.as_str(), KEY))
        .collect();
    let engine = InProcessEngine::start(&config, true).await;
    let surfaces = Surfaces {
        origin: engine.origin.clone(),
        token: engine.admin.expose().to_owned(),
        history: engine.history_path(),
        http: http(),
    };
    Setup {
        fakes,
        engine,
        surfaces,
    }
}

impl Setup {
    fn fake(&self, id: &str) -> &FakeProvider {
        &self.fakes[id]
    }

    /// The proxy's base URL for account `id` and the provider's API prefix.
    fn base(&self, id: &str, prefix: &str) -> String {
        format!("{}/{id}{prefix}", self.engine.origin)
    }

    async fn openai(&self, base: &str, args: &[&str], env: &[(&str, &str)]) -> Value {
        sdk_with("openai_client.py", args, env, base, &self.engine.token).await
    }

    async fn anthropic(&self, base: &str, args: &[&str], env: &[(&str, &str)]) -> Value {
        sdk_with("anthropic_client.py", args, env, base, &self.engine.token).await
    }

    /// A request as curl sends it: no decompression, so the body is what crossed the wire.
    fn post(&self, id: &str, path: &str, body: Value) -> reqwest::RequestBuilder {
        self.surfaces
            .http
            .post(format!("{}/{id}{path}", self.engine.origin))
            .bearer_auth(self.engine.token.expose())
            .header("user-agent", "curl/8.5.0")
            .json(&body)
    }
}

/// An HTTP client that never decompresses (reqwest is built without it) and never goes
/// through a system proxy.
fn http() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// What Redline recorded, read where users and scrapers read it.
struct Surfaces {
    origin: String,
    token: String,
    history: std::path::PathBuf,
    http: reqwest::Client,
}

/// One recorded request, from the history: its status and tokens.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Row {
    status: u16,
    input: Option<u64>,
    output: Option<u64>,
}

impl Surfaces {
    async fn get(&self, path: &str) -> reqwest::Response {
        let answer = self
            .http
            .get(format!("{}{path}", self.origin))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200, "{path}");
        answer
    }

    /// `redline_requests_total` for `account` by status, summed over tools, from `/metrics`.
    async fn requests(&self, account: &str) -> BTreeMap<u16, u64> {
        let text = self.get("/metrics").await.text().await.unwrap();
        let mut by_status = BTreeMap::new();
        for sample in samples(&text, "redline_requests_total") {
            if sample.labels.get("account").map(String::as_str) == Some(account) {
                let status = sample.labels["status"].parse().unwrap();
                *by_status.entry(status).or_default() += sample.value as u64;
            }
        }
        by_status
    }

    /// The requests of `account` by status once `total` have been recorded; fails naming
    /// what it saw when they have not within [`RECORDED_WITHIN`].
    async fn requests_once(&self, account: &str, total: u64) -> BTreeMap<u16, u64> {
        let deadline = Instant::now() + RECORDED_WITHIN;
        loop {
            let seen = self.requests(account).await;
            if seen.values().sum::<u64>() >= total {
                return seen;
            }
            assert!(
                Instant::now() < deadline,
                "{account}: {total} requests not recorded within {} s: {seen:?}",
                RECORDED_WITHIN.as_secs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The refusals in `/api/v1/throttles` for `account`, oldest first.
    async fn throttles(&self, account: &str) -> Vec<Value> {
        let all: Vec<Value> = self.get("/api/v1/throttles").await.json().await.unwrap();
        let mut mine: Vec<Value> = all
            .into_iter()
            .filter(|t| t["account"] == account)
            .collect();
        mine.reverse();
        mine
    }

    /// `redline_tokens_total` for `account`, input and output, summed over tools.
    async fn token_totals(&self, account: &str) -> (u64, u64) {
        let text = self.get("/metrics").await.text().await.unwrap();
        let (mut input, mut output) = (0, 0);
        for sample in samples(&text, "redline_tokens_total") {
            if sample.labels.get("account").map(String::as_str) == Some(account) {
                match sample.labels["direction"].as_str() {
                    "input" => input += sample.value as u64,
                    _ => output += sample.value as u64,
                }
            }
        }
        (input, output)
    }

    /// Each request of `account` with its status and tokens, oldest first, once `count` are
    /// in the history; the sums of their tokens are what `/metrics` says.
    async fn tokens(&self, account: &str, count: usize) -> Vec<Row> {
        let deadline = Instant::now() + RECORDED_WITHIN;
        loop {
            let rows = self.history_rows(account);
            if rows.len() >= count {
                let sum = |f: fn(&Row) -> Option<u64>| rows.iter().filter_map(f).sum::<u64>();
                let from_history = (sum(|r| r.input), sum(|r| r.output));
                assert_eq!(
                    self.token_totals(account).await,
                    from_history,
                    "{account}: /metrics and the history disagree on tokens"
                );
                return rows;
            }
            assert!(
                Instant::now() < deadline,
                "{account}: {count} requests not in the history within {} s: {rows:?}",
                RECORDED_WITHIN.as_secs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn history_rows(&self, account: &str) -> Vec<Row> {
        let Ok(db) = rusqlite::Connection::open_with_flags(
            &self.history,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        ) else {
            return Vec::new();
        };
        db.busy_timeout(Duration::from_secs(5)).unwrap();
        let Ok(mut query) = db.prepare(
            "SELECT status, input_tokens, output_tokens FROM requests WHERE account = ?1 ORDER BY id",
        ) else {
            return Vec::new();
        };
        query
            .query_map([account], |row| {
                let count = |i| -> rusqlite::Result<Option<u64>> {
                    Ok(row.get::<_, Option<i64>>(i)?.map(|n| n as u64))
                };
                Ok(Row {
                    status: row.get(0)?,
                    input: count(1)?,
                    output: count(2)?,
                })
            })
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }
}

/// One sample of an OpenMetrics text: `name{label="value",...} value`.
struct Sample {
    labels: BTreeMap<String, String>,
    value: f64,
}

fn samples(text: &str, name: &str) -> Vec<Sample> {
    text.lines()
        .filter_map(|line| {
            let rest = line.strip_prefix(name)?.strip_prefix('{')?;
            let (labels, value) = rest.rsplit_once("} ")?;
            let labels = labels
                .split("\",")
                .filter_map(|pair| {
                    let (key, value) = pair.split_once("=\"")?;
                    Some((key.to_owned(), value.trim_end_matches('"').to_owned()))
                })
                .collect();
            Some(Sample {
                labels,
                value: value.trim().parse().ok()?,
            })
        })
        .collect()
}

fn answered() -> Row {
    Row {
        status: 200,
        input: Some(PROMPT_TOKENS),
        output: Some(OUTPUT_TOKENS),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_whose_body_ends_after_done_is_an_answer_not_a_cancellation() {
    let s = setup(&[("oai", ProviderId::Openai)]).await;
    let base = s.base("oai", "/v1");
    let mut sent = 0;
    for tail_ms in [0, 1, 50] {
        s.fake("oai")
            .set_stream_tail(Duration::from_millis(tail_ms));
        let seen = s.openai(&base, &["streams", "10"], &[]).await;
        for usage in seen["usages"].as_array().unwrap() {
            assert_eq!(*usage, json!([PROMPT_TOKENS, OUTPUT_TOKENS]), "{seen}");
        }
        sent += 10;
        let by_status = s.surfaces.requests_once("oai", sent).await;
        assert_eq!(
            by_status,
            BTreeMap::from([(200, sent)]),
            "after a {tail_ms} ms tail, every stream is recorded as answered, none as 499"
        );
    }
    let rows = s.surfaces.tokens("oai", 30).await;
    assert_eq!(rows, vec![answered(); 30], "each with its tokens");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_hangs_up_before_the_end_cancelled_its_request() {
    let s = setup(&[("oai", ProviderId::Openai)]).await;
    let fake = s.fake("oai");
    fake.set_stream(20, Duration::from_millis(100));
    let seen = s.openai(&s.base("oai", "/v1"), &["hangup", "2"], &[]).await;
    assert_eq!(seen["chunks"], 2);
    let by_status = s.surfaces.requests_once("oai", 1).await;
    assert_eq!(by_status, BTreeMap::from([(499, 1)]));
    let counters = fake
        .wait_for_chats(RECORDED_WITHIN, |c| c.cancelled == 1)
        .await;
    assert_eq!(
        (counters.cancelled, counters.completed),
        (1, 0),
        "the provider saw the request cancelled"
    );
    assert_eq!(
        s.surfaces.tokens("oai", 1).await[0].status,
        499,
        "the history agrees"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressed_answers_are_counted_while_the_client_gets_the_providers_bytes() {
    let s = setup(&[("oai", ProviderId::Openai)]).await;
    let fake = s.fake("oai");
    fake.compress_answers(true);
    // A tail, so that the end of the coding comes after the client has hung up at [DONE].
    fake.set_stream_tail(Duration::from_millis(20));
    let base = s.base("oai", "/v1");
    let codings = ["gzip", "deflate", "br", "zstd"];
    let mut sent = 0;
    for coding in codings {
        // The SDK asks for this coding only, gets it, and reads the answer through it.
        let env = [("ACCEPT_ENCODING", coding), ("MODEL", "gpt-4o-mini")];
        let chat = s.openai(&base, &["chat"], &env).await;
        assert_eq!(
            chat["usage"],
            json!([PROMPT_TOKENS, OUTPUT_TOKENS]),
            "{coding}"
        );
        let stream = s.openai(&base, &["stream"], &env).await;
        assert_eq!(
            stream["usage"],
            json!([PROMPT_TOKENS, OUTPUT_TOKENS]),
            "{coding}"
        );
        let headers = fake.last_request_headers().unwrap();
        assert_eq!(
            headers["accept-encoding"], coding,
            "the SDK's ask went through"
        );

        // What crossed the wire to the client is byte for byte what the provider sent.
        for stream in [false, true] {
            let answer = s
                .post(
                    "oai",
                    "/v1/chat/completions",
                    json!({"model": "gpt-4o-mini", "stream": stream,
                           "stream_options": {"include_usage": true}}),
                )
                .header("accept-encoding", coding)
                .send()
                .await
                .unwrap();
            assert_eq!(answer.headers()["content-encoding"], coding);
            let relayed = answer.bytes().await.unwrap();
            assert!(
                relayed == fake.last_chat_body(),
                "{coding}, stream {stream}: the relayed bytes differ from the provider's"
            );
        }
        sent += 4;
        let by_status = s.surfaces.requests_once("oai", sent).await;
        assert_eq!(by_status, BTreeMap::from([(200, sent)]), "{coding}");
    }
    let rows = s.surfaces.tokens("oai", 16).await;
    assert_eq!(rows, vec![answered(); 16], "every coding counted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compressed_refusal_is_classified_from_its_decoded_body() {
    let s = setup(&[("oai", ProviderId::Openai)]).await;
    let fake = s.fake("oai");
    fake.compress_answers(true);
    fake.refuse_next_chats(1, 3);
    let refused = s
        .openai(
            &s.base("oai", "/v1"),
            &["refused"],
            &[("ACCEPT_ENCODING", "br")],
        )
        .await;
    assert_eq!(refused["status"], 429, "{refused}");
    assert_eq!(
        s.surfaces.requests_once("oai", 1).await,
        BTreeMap::from([(429, 1)])
    );
    let throttles = s.surfaces.throttles("oai").await;
    assert_eq!(throttles.len(), 1, "{throttles:?}");
    let throttle = &throttles[0];
    assert_eq!(
        (&throttle["tool"], &throttle["cause"], &throttle["status"]),
        (&json!("openai-python"), &json!("rpm"), &json!(429))
    );
    assert!(
        throttle["message"]
            .as_str()
            .unwrap()
            .contains("Rate limit reached for gpt-4o-mini"),
        "the provider's words, read through br: {throttle}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_anthropic_stream_that_errors_inside_a_200_is_a_refusal() {
    let s = setup(&[("ant", ProviderId::Anthropic)]).await;
    let fake = s.fake("ant");
    let base = s.base("ant", "");
    fake.refuse_next_chats_in_200(1, InBandError::Overloaded);
    let seen = s.anthropic(&base, &["stream_error"], &[]).await;
    assert_eq!(seen["body"]["error"]["type"], "overloaded_error", "{seen}");
    fake.refuse_next_chats_in_200(1, InBandError::RateLimited);
    let seen = s.anthropic(&base, &["stream_error"], &[]).await;
    assert_eq!(seen["body"]["error"]["type"], "rate_limit_error", "{seen}");

    assert_eq!(
        s.surfaces.requests_once("ant", 2).await,
        BTreeMap::from([(429, 1), (529, 1)]),
        "recorded under the statuses Anthropic gives these errors, not as 200s"
    );
    let throttles = s.surfaces.throttles("ant").await;
    let seen: Vec<(&Value, &Value, &Value)> = throttles
        .iter()
        .map(|t| (&t["tool"], &t["cause"], &t["status"]))
        .collect();
    assert_eq!(
        seen,
        [
            (
                &json!("anthropic-python"),
                &json!("overloaded"),
                &json!(529)
            ),
            (&json!("anthropic-python"), &json!("tpm"), &json!(429)),
        ]
    );
    let rows = s.surfaces.tokens("ant", 2).await;
    assert_eq!(
        rows[0].input,
        Some(PROMPT_TOKENS),
        "the tokens the stream stated before its error are kept"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openrouter_errors_in_a_200_stream_and_body_are_refusals() {
    let s = setup(&[("or", ProviderId::Openrouter)]).await;
    let fake = s.fake("or");
    fake.refuse_next_chats_in_200(2, InBandError::RateLimited);
    let seen = s
        .openai(
            &s.base("or", "/api/v1"),
            &["stream_error"],
            &[("MODEL", "moonshotai/kimi-k2")],
        )
        .await;
    assert!(
        seen["error"]
            .as_str()
            .is_some_and(|e| e.contains("Rate limit exceeded")),
        "the SDK raised the error chunk: {seen}"
    );
    let body = s
        .post("or", "/api/v1/chat/completions", json!({"model": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(body.status(), 200);
    let body: Value = body.json().await.unwrap();
    assert_eq!(body["error"]["code"], 429);

    assert_eq!(
        s.surfaces.requests_once("or", 2).await,
        BTreeMap::from([(429, 2)])
    );
    let throttles = s.surfaces.throttles("or").await;
    let seen: Vec<(&Value, &Value)> = throttles
        .iter()
        .map(|t| (&t["tool"], &t["cause"]))
        .collect();
    assert_eq!(
        seen,
        [
            (&json!("openai-python"), &json!("rpm")),
            (&json!("curl"), &json!("rpm"))
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zai_and_minimax_codes_in_a_200_are_refusals() {
    let s = setup(&[("glm", ProviderId::Zai), ("mm", ProviderId::Minimax)]).await;
    // Z.ai's error gzip-compressed, so that its classifier reads it decoded.
    s.fake("glm").compress_answers(true);
    s.fake("glm")
        .refuse_next_chats_in_200(1, InBandError::RateLimited);
    s.fake("mm")
        .refuse_next_chats_in_200(1, InBandError::Overloaded);
    let glm = s
        .post(
            "glm",
            "/api/coding/paas/v4/chat/completions",
            json!({"model": "glm-4.6"}),
        )
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(
        (glm.status().as_u16(), &glm.headers()["content-encoding"]),
        (
            200,
            &"gzip".parse::<reqwest::header::HeaderValue>().unwrap()
        )
    );
    glm.bytes().await.unwrap();
    let mm = s
        .post("mm", "/v1/chat/completions", json!({"model": "MiniMax-M2"}))
        .send()
        .await
        .unwrap();
    assert_eq!(mm.status(), 200);
    mm.bytes().await.unwrap();
    // An answer with `base_resp.status_code` 0 is an answer.
    let ok = s
        .post("mm", "/v1/chat/completions", json!({"model": "MiniMax-M2"}))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    ok.bytes().await.unwrap();

    assert_eq!(
        s.surfaces.requests_once("glm", 1).await,
        BTreeMap::from([(429, 1)]),
        "Z.ai 1302: too many requests at once"
    );
    assert_eq!(
        s.surfaces.requests_once("mm", 2).await,
        BTreeMap::from([(200, 1), (503, 1)]),
        "MiniMax 1033: overloaded; then an answer"
    );
    let glm = s.surfaces.throttles("glm").await;
    assert_eq!(
        (
            glm.len(),
            &glm[0]["tool"],
            &glm[0]["cause"],
            &glm[0]["status"]
        ),
        (1, &json!("curl"), &json!("concurrency"), &json!(429)),
        "{glm:?}"
    );
    let mm = s.surfaces.throttles("mm").await;
    assert_eq!(
        (mm.len(), &mm[0]["tool"], &mm[0]["cause"], &mm[0]["status"]),
        (1, &json!("curl"), &json!("overloaded"), &json!(503)),
        "{mm:?}"
    );
    let rows = s.surfaces.tokens("mm", 2).await;
    assert_eq!(
        rows[1],
        answered(),
        "the answer after it is counted as usual"
    );
}
