//! Real HTTP over loopback against every fake.

use super::*;
use ProviderId::*;

const KEY: &str = "sk-fake-valid-0123456789abcdef";
const WRONG_KEY: &str = "sk-fake-wrong-0123456789abcdef";

/// A fake and a client of its own: building a reqwest client takes ~20 ms (TLS set-up), so
/// each test builds one, and one runtime's pooled connections never outlive it.
struct Harness {
    fake: FakeProvider,
    id: ProviderId,
    client: reqwest::Client,
}

impl std::ops::Deref for Harness {
    type Target = FakeProvider;
    fn deref(&self) -> &FakeProvider {
        &self.fake
    }
}

async fn start(id: ProviderId) -> Harness {
    Harness {
        fake: FakeProvider::start(id, KEY).await.expect("fake starts"),
        id,
        // No system proxy: a CI machine's HTTP_PROXY must not capture loopback requests.
        client: reqwest::Client::builder().no_proxy().build().unwrap(),
    }
}

impl Harness {
    fn request(&self, path: &str, headers: &[(&str, String)]) -> reqwest::RequestBuilder {
        let mut request = self.client.get(format!("{}{path}", self.origin()));
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        request
    }

    async fn get(&self, path: &str, headers: &[(&str, String)]) -> Answer {
        let response = self
            .request(path, headers)
            .send()
            .await
            .expect("the fake answers");
        Answer {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: response.bytes().await.unwrap().to_vec(),
        }
    }

    /// A correct poll of the usage URL.
    async fn poll(&self) -> Answer {
        self.get(usage_path(self.id), &good_auth(self.id, KEY))
            .await
    }
}

/// What a correct client sends to `id`: the key in the provider's style plus required headers.
fn good_auth(id: ProviderId, key: &str) -> Vec<(&'static str, String)> {
    let adapter = provider(id);
    let style = adapter.auth_style();
    let key_header = (style.header(), style.value(key));
    let required = adapter
        .extra_headers()
        .iter()
        .map(|&(name, value)| (name, value.to_owned()));
    std::iter::once(key_header).chain(required).collect()
}

struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header"))
            .to_str()
            .unwrap()
    }

    fn header_f64(&self, name: &str) -> f64 {
        self.header(name).parse().unwrap()
    }
}

/// The main window's percentage used, as a client reads it from the answer.
fn main_window_used_percent(id: ProviderId, answer: &Answer) -> Option<f64> {
    served_used_percent(id, &answer.json(), &answer.headers)
}

/// `at` is after now and about `hours` from now at most (the fakes add sub-second digits).
fn is_future_within(at: Timestamp, hours: i64) -> bool {
    let now = Timestamp::now();
    at > now && at <= now + SignedDuration::from_hours(hours) + SignedDuration::from_secs(2)
}

#[test]
fn usage_paths_are_the_default_regions_paths() {
    let paths = ProviderId::ALL.map(usage_path);
    assert_eq!(
        paths,
        [
            "/coding/v1/usages",
            "/v1/users/me/balance",
            "/v1/models",
            "/v1/models",
            "/api/oauth/usage",
            "/api/v1/key",
            "/user/balance",
            "/api/monitor/usage/quota/limit",
            "/v1/token_plan/remains",
            "/backend-api/wham/usage",
            "/v1beta/models",
            "/openai/v1/models",
            "/v1/models",
            "/v1/models",
            "/v1/models",
            "/v1/models",
            "/inference/v1/models",
            "/compatible-mode/v1/models",
            "/v1/models",
            "/api/v3/models",
            "/api/v3/models",
            "/v1/user/info",
            "/catalog/models",
            "/models",
            "/openai/v1/models",
            "/v3/user/balance",
            "/v1/accounts",
        ]
    );
}

#[test]
fn go_durations_read_like_openais_headers() {
    let cases = [
        (0, "0s"),
        (12, "12ms"),
        (1_146, "1.146s"),
        (1_500, "1.5s"),
        (24_000, "24s"),
        (360_000, "6m0s"),
        (3_723_000, "1h2m3s"),
    ];
    for (millis, text) in cases {
        assert_eq!(go_duration(Duration::from_millis(millis)), text);
    }
}

#[tokio::test]
async fn kimi_code_sends_strings_omits_used_and_resets_in_nanoseconds() {
    let fake = start(KimiCode).await;
    let answer = fake.poll().await;
    assert_eq!(answer.status, 200);
    let body = answer.json();
    let five_hour = &body["limits"][0];
    assert_eq!(five_hour["window"]["duration"], 300);
    assert_eq!(five_hour["window"]["timeUnit"], "TIME_UNIT_MINUTE");
    assert_eq!(five_hour["detail"]["remaining"], "600");
    assert_eq!(five_hour["detail"]["used"], "400");
    assert_eq!(five_hour["detail"]["limit"], "1000");
    let weekly = body["usage"].as_object().unwrap();
    assert!(!weekly.contains_key("used"), "{weekly:?}");
    assert_eq!(weekly["limit"], "10000");
    assert_eq!(weekly["remaining"], "8000");
    for (reset, hours) in [
        (five_hour["detail"]["resetTime"].as_str().unwrap(), 3),
        (weekly["resetTime"].as_str().unwrap(), 96),
    ] {
        let fraction = reset.rsplit_once('.').unwrap().1;
        assert_eq!(fraction.len(), "443553353Z".len(), "{reset}");
        let at: Timestamp = reset.parse().unwrap();
        assert!(is_future_within(at, hours), "{reset}");
    }
    assert_eq!(body["parallel"]["limit"], "30");
    assert_eq!(body["boosterWallet"]["balance"]["amount"], "20000000000");
    assert!(body["extra_field_for_testing"].is_object());

    fake.set_concurrency_limit(12);
    fake.set_used_percent(96.0);
    let body = fake.poll().await.json();
    assert_eq!(body["parallel"]["limit"], "12");
    assert_eq!(body["limits"][0]["detail"]["remaining"], "40");
    assert_eq!(body["usage"]["remaining"], "5200");
}

#[tokio::test]
async fn kimi_code_variant_and_a_key_for_another_product() {
    let fake = start(KimiCode).await;
    fake.set_behaviour(Behaviour::Variant);
    let body = fake.poll().await.json();
    assert_eq!(body["usages"]["limit_5h"]["used_ratio"], 0.4);
    assert_eq!(body["usages"]["limit_month_total"]["used_ratio"], 0.1);
    assert_eq!(body["limits"][0]["detail"]["used"], "400");
    assert!(body.get("parallel").is_none() && body.get("usage").is_none());
    let reset: Timestamp = body["usages"]["limit_5h"]["reset_time"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(is_future_within(reset, 3));

    fake.set_behaviour(Behaviour::WrongProduct);
    let answer = fake.poll().await;
    assert_eq!(answer.status, 404);
    assert!(answer.json()["error"]["message"].is_string());
}

#[tokio::test]
async fn moonshot_serves_the_balance_and_its_401() {
    let fake = start(Moonshot).await;
    let answer = fake.poll().await;
    assert_eq!(answer.status, 200);
    let body = answer.json();
    assert_eq!(body["code"], 0);
    assert_eq!(body["data"]["available_balance"], 49.58894);
    assert_eq!(body["scode"], "0x0");

    let answer = fake
        .get(usage_path(Moonshot), &good_auth(Moonshot, WRONG_KEY))
        .await;
    assert_eq!(answer.status, 401);
    assert_eq!(
        answer.json()["error"]["type"],
        "invalid_authentication_error"
    );
}

#[tokio::test]
async fn openai_models_carry_rate_limit_headers_in_go_durations() {
    let fake = start(Openai).await;
    let answer = fake.poll().await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json()["object"], "list");
    assert_eq!(answer.json()["data"][0]["object"], "model");
    assert_eq!(answer.header("x-ratelimit-limit-requests"), "10000");
    assert_eq!(answer.header("x-ratelimit-remaining-requests"), "6000");
    assert_eq!(answer.header("x-ratelimit-remaining-tokens"), "1200000");
    assert_eq!(answer.header("x-ratelimit-reset-requests"), "24s");
    assert_eq!(answer.header("x-ratelimit-reset-tokens"), "6m0s");

    fake.set_used_percent(96.0);
    let answer = fake.poll().await;
    assert_eq!(answer.header("x-ratelimit-remaining-requests"), "400");
    assert_eq!(answer.header("x-ratelimit-reset-tokens"), "14m24s");

    // The key in x-api-key is no key to OpenAI.
    let answer = fake
        .get("/v1/models", &[("x-api-key", KEY.to_owned())])
        .await;
    assert_eq!(answer.status, 401);
    assert_eq!(answer.json()["error"]["code"], "invalid_api_key");
}

#[tokio::test]
async fn anthropic_needs_x_api_key_and_a_version() {
    let fake = start(Anthropic).await;
    let answer = fake.poll().await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json()["data"][0]["type"], "model");
    assert_eq!(answer.header("anthropic-ratelimit-requests-limit"), "4000");
    assert_eq!(
        answer.header("anthropic-ratelimit-requests-remaining"),
        "2400"
    );
    assert_eq!(
        answer.header("anthropic-ratelimit-output-tokens-remaining"),
        "48000"
    );
    let reset: Timestamp = answer
        .header("anthropic-ratelimit-tokens-reset")
        .parse()
        .unwrap();
    assert!(reset <= Timestamp::now() + SignedDuration::from_secs(60));

    let bearer = [
        ("authorization", format!("Bearer {KEY}")),
        ("anthropic-version", "2023-06-01".to_owned()),
    ];
    let answer = fake.get("/v1/models", &bearer).await;
    assert_eq!(answer.status, 401);
    assert_eq!(answer.json()["type"], "error");
    assert_eq!(answer.json()["error"]["type"], "authentication_error");

    let answer = fake
        .get("/v1/models", &[("x-api-key", KEY.to_owned())])
        .await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.json()["error"]["type"], "invalid_request_error");
}

#[tokio::test]
async fn claude_reports_utilization_with_microsecond_resets_and_needs_the_beta() {
    let fake = start(Claude).await;
    let answer = fake.poll().await;
    assert_eq!(answer.status, 200);
    let body = answer.json();
    assert_eq!(body["five_hour"]["utilization"], 40.0);
    assert_eq!(body["seven_day"]["utilization"], 20.0);
    assert!(body["seven_day_opus"].is_null());
    let reset = body["five_hour"]["resets_at"].as_str().unwrap();
    assert!(reset.ends_with("+00:00"), "{reset}");
    assert_eq!(
        reset.rsplit_once('.').unwrap().1.len(),
        "628697+00:00".len()
    );
    assert!(is_future_within(reset.parse().unwrap(), 3));
    assert_eq!(
        answer.header_f64("anthropic-ratelimit-unified-5h-utilization"),
        0.4
    );
    let reset_s: i64 = answer
        .header("anthropic-ratelimit-unified-5h-reset")
        .parse()
        .unwrap();
    assert!(reset_s > Timestamp::now().as_second());
    assert_eq!(
        answer.header("anthropic-ratelimit-unified-status"),
        "allowed"
    );

    fake.set_behaviour(Behaviour::Variant);
    let body = fake.poll().await.json();
    assert_eq!(body["seven_day_opus"]["utilization"], 20.0);

    let no_beta = [("authorization", format!("Bearer {KEY}"))];
    let answer = fake.get("/api/oauth/usage", &no_beta).await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.json()["error"]["type"], "invalid_request_error");
}

#[tokio::test]
async fn openrouter_key_with_a_limit_and_an_unlimited_key() {
    let fake = start(Openrouter).await;
    let body = fake.poll().await.json();
    let data = &body["data"];
    assert_eq!(data["limit"], 100.0);
    assert_eq!(data["usage"], 40.0);
    assert_eq!(data["limit_remaining"], 60.0);
    assert_eq!(data["limit_reset"], "monthly");
    assert_eq!(data["label"], "sk-fake-val...def");
    assert_eq!(data["rate_limit"]["interval"], "1h");

    fake.set_behaviour(Behaviour::Variant);
    let body = fake.poll().await.json();
    for field in ["limit", "limit_remaining", "limit_reset"] {
        assert!(body["data"][field].is_null(), "{field}");
    }
    assert_eq!(body["data"]["usage"], 40.0);
}

#[tokio::test]
async fn deepseek_balance_amounts_are_strings() {
    let fake = start(Deepseek).await;
    let body = fake.poll().await.json();
    assert_eq!(body["is_available"], true);
    assert_eq!(body["balance_infos"][0]["currency"], "CNY");
    assert_eq!(body["balance_infos"][0]["total_balance"], "110.00");
}

#[tokio::test]
async fn zai_takes_the_raw_key_and_refuses_inside_http_200() {
    let fake = start(Zai).await;
    let answer = fake.poll().await;
    assert_eq!(answer.status, 200);
    let body = answer.json();
    assert_eq!(body["success"], true);
    let tokens = &body["data"]["limits"][0];
    assert_eq!(tokens["type"], "TOKENS_LIMIT");
    assert_eq!(
        (tokens["unit"].as_u64(), tokens["number"].as_u64()),
        (Some(3), Some(5))
    );
    assert_eq!(tokens["percentage"], 40);
    let reset = Timestamp::from_millisecond(tokens["nextResetTime"].as_i64().unwrap()).unwrap();
    assert!(is_future_within(reset, 3));
    assert_eq!(body["data"]["limits"][1]["type"], "TIME_LIMIT");

    let refused = json!({"code": 1001, "success": false, "msg": "Authorization Token Missing"});
    let bearer = [("authorization", format!("Bearer {KEY}"))];
    for headers in [&bearer[..], &good_auth(Zai, WRONG_KEY), &[]] {
        let answer = fake.get(usage_path(Zai), headers).await;
        assert_eq!((answer.status, answer.json()), (200, refused.clone()));
    }
}

#[tokio::test]
async fn minimax_remaining_percent_follows_used_percent() {
    let fake = start(Minimax).await;
    fake.set_used_percent(25.0);
    let body = fake.poll().await.json();
    let model = &body["model_remains"][0];
    assert_eq!(model["current_interval_remaining_percent"], 75.0);
    let start_ms = model["start_time"].as_i64().unwrap();
    let end_ms = model["end_time"].as_i64().unwrap();
    assert_eq!(end_ms - start_ms, 5 * 3_600_000);
    assert!(is_future_within(
        Timestamp::from_millisecond(end_ms).unwrap(),
        3
    ));
    assert_eq!(body["base_resp"]["status_code"], 0);
    assert_eq!(model["current_weekly_remaining_percent"], 87.5);
    assert_eq!(body["model_remains"][1]["status"], 3);
}

#[tokio::test]
async fn minimax_answers_on_the_older_route_too_and_can_lack_the_newer_one() {
    let fake = start(Minimax).await;
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let get = |path: &str| {
        client
            .get(format!("{}{path}", fake.origin()))
            .bearer_auth(KEY)
            .send()
    };
    let legacy = "/v1/api/openplatform/coding_plan/remains";
    assert_eq!(get(legacy).await.unwrap().status(), 200);
    fake.lack_usage_route(true);
    assert_eq!(get("/v1/token_plan/remains").await.unwrap().status(), 404);
    assert_eq!(get(legacy).await.unwrap().status(), 200);
}

#[tokio::test]
async fn used_percent_drives_every_main_window() {
    for id in ProviderId::ALL {
        let fake = start(id).await;
        let default = main_window_used_percent(id, &fake.poll().await);
        fake.set_used_percent(96.0);
        let critical = main_window_used_percent(id, &fake.poll().await);
        match (default, critical) {
            (Some(default), Some(critical)) => {
                assert!((default - 40.0).abs() < 0.01, "{id}: {default}");
                assert!((critical - 96.0).abs() < 0.01, "{id}: {critical}");
            }
            (None, None) => assert!(window_kinds(id).is_empty(), "{id}"),
            other => panic!("{id}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn every_provider_refuses_wrong_and_missing_keys_in_its_own_format() {
    for id in ProviderId::ALL {
        let fake = start(id).await;
        for headers in [good_auth(id, WRONG_KEY), Vec::new()] {
            let answer = fake.get(usage_path(id), &headers).await;
            let body = answer.json();
            match id {
                Zai => assert_eq!((answer.status, &body["code"]), (200, &json!(1001))),
                Anthropic | Claude => {
                    assert_eq!(answer.status, 401, "{id}");
                    assert_eq!(body["error"]["type"], "authentication_error");
                }
                Openrouter => assert_eq!(body["error"]["code"], 401),
                Minimax => assert_eq!(body["base_resp"]["status_code"], 1004),
                // A wrong key is a 400, a missing one a 403, as Google's APIs answer.
                Gemini => assert!(
                    [(400, "INVALID_ARGUMENT"), (403, "PERMISSION_DENIED")]
                        .contains(&(answer.status, body["error"]["status"].as_str().unwrap())),
                    "{body}"
                ),
                // Top-level `message` (Cerebras, Mistral), `{"code","error"}` (xAI, a 400).
                Cerebras | Mistral => assert!(body["message"].is_string(), "{id}: {body}"),
                Xai => assert_eq!((answer.status, body["error"].is_string()), (400, true)),
                Siliconflow => assert_eq!(body["code"], 30014),
                Novita => assert_eq!(body["reason"], "INVALID_API_KEY"),
                _ => assert!(body["error"]["message"].is_string(), "{id}: {body}"),
            }
            if !matches!(id, Zai | Gemini | Xai) {
                assert_eq!(answer.status, 401, "{id}");
            }
            // The wrong key is never echoed whole.
            let text = String::from_utf8_lossy(&answer.body);
            assert!(!text.contains(WRONG_KEY), "{id}: {text}");
        }
    }
}

#[tokio::test]
async fn every_provider_plays_every_failure() {
    for id in ProviderId::ALL {
        let fake = start(id).await;

        fake.set_behaviour(Behaviour::UsageRateLimited { retry_after_s: 7 });
        let answer = fake.poll().await;
        assert_eq!(answer.status, 429, "{id}");
        assert_eq!(answer.header("retry-after"), "7", "{id}");
        assert!(answer.json().is_object(), "{id}");

        fake.set_behaviour(Behaviour::HtmlError(502));
        let answer = fake.poll().await;
        assert_eq!(answer.status, 502, "{id}");
        assert!(
            answer.header("content-type").starts_with("text/html"),
            "{id}"
        );
        assert!(String::from_utf8_lossy(&answer.body).contains("502 Bad Gateway"));

        fake.set_behaviour(Behaviour::Truncated);
        let answer = fake.poll().await;
        assert_eq!(answer.status, 200, "{id}");
        assert_eq!(answer.header("content-type"), "application/json");
        assert!(!answer.body.is_empty(), "{id}");
        assert!(
            serde_json::from_slice::<Value>(&answer.body).is_err(),
            "{id}"
        );

        fake.set_behaviour(Behaviour::UnknownShape);
        let answer = fake.poll().await;
        assert_eq!(
            (answer.status, answer.json()),
            (200, json!({"hello": "world"}))
        );

        fake.set_behaviour(Behaviour::WrongProduct);
        let answer = fake.poll().await;
        let expected = match id {
            KimiCode => 404,
            Zai => 200,
            Gemini | Xai => 400,
            _ => 401,
        };
        assert_eq!(answer.status, expected, "{id}");

        fake.set_behaviour(Behaviour::Error {
            status: 503,
            body: r#"{"error":{"message":"Server overloaded"}}"#.to_owned(),
            headers: vec![("x-should-retry".to_owned(), "false".to_owned())],
        });
        let answer = fake.poll().await;
        assert_eq!(answer.status, 503);
        assert_eq!(answer.header("x-should-retry"), "false");
        assert_eq!(answer.header("content-type"), "application/json");
        assert_eq!(answer.json()["error"]["message"], "Server overloaded");

        assert_eq!(fake.usage_requests(), 6, "{id}");
    }
}

#[tokio::test]
async fn scripted_errors_keep_their_content_type() {
    let fake = start(Openai).await;
    fake.set_behaviour(Behaviour::Error {
        status: 429,
        body: "slow down".to_owned(),
        headers: vec![],
    });
    let answer = fake.poll().await;
    assert_eq!(answer.status, 429);
    assert!(answer.header("content-type").starts_with("text/plain"));
    fake.set_behaviour(Behaviour::Error {
        status: 500,
        body: "<p>oops</p>".to_owned(),
        headers: vec![("Content-Type".to_owned(), "text/html".to_owned())],
    });
    let answer = fake.poll().await;
    assert_eq!(answer.headers.get_all("content-type").iter().count(), 1);
    assert_eq!(answer.header("content-type"), "text/html");
}

#[tokio::test]
async fn counts_usage_requests_and_answers_other_paths_with_json_404() {
    let fake = start(KimiCode).await;
    assert_eq!(fake.usage_requests(), 0);
    assert!(fake.last_request_headers().is_none());
    fake.poll().await;
    fake.get(usage_path(KimiCode), &[]).await; // refused, still counted
    let answer = fake
        .get("/coding/v1/models", &good_auth(KimiCode, KEY))
        .await;
    assert_eq!(answer.status, 404);
    assert!(answer.json()["error"]["message"].is_string());
    let answer = fake
        .get("/coding/v1/usages?x=1", &good_auth(KimiCode, KEY))
        .await;
    assert_eq!(answer.status, 200);
    assert_eq!(fake.usage_requests(), 3);
}

#[tokio::test]
async fn last_request_headers_show_how_the_key_was_sent() {
    for id in [KimiCode, Anthropic, Zai] {
        let fake = start(id).await;
        fake.poll().await;
        let headers = fake.last_request_headers().unwrap();
        let sent = |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_owned());
        match id {
            Anthropic => {
                assert_eq!(sent("x-api-key").as_deref(), Some(KEY));
                assert_eq!(sent("authorization"), None);
            }
            Zai => assert_eq!(sent("authorization").as_deref(), Some(KEY)),
            _ => assert_eq!(sent("authorization"), Some(format!("Bearer {KEY}"))),
        }
    }
}

/// The paused clock jumps over the fake's sleep while the sockets stay real.
#[tokio::test(start_paused = true)]
async fn slow_answers_after_the_delay() {
    let fake = start(KimiCode).await;
    fake.set_behaviour(Behaviour::Slow(Duration::from_secs(20)));
    let (wall, clock) = (std::time::Instant::now(), tokio::time::Instant::now());
    let answer = fake.poll().await;
    assert_eq!(answer.status, 200);
    assert!(answer.json()["limits"].is_array());
    assert!(
        clock.elapsed() >= Duration::from_secs(20),
        "{:?}",
        clock.elapsed()
    );
    assert!(
        wall.elapsed() < Duration::from_secs(2),
        "{:?}",
        wall.elapsed()
    );

    // A client that gives up after 8 s, as Kimi's official ones do, times out.
    let request = fake
        .request(usage_path(KimiCode), &good_auth(KimiCode, KEY))
        .timeout(Duration::from_secs(8));
    let clock = tokio::time::Instant::now();
    let error = request.send().await.unwrap_err();
    assert!(error.is_timeout(), "{error}");
    assert!(clock.elapsed() < Duration::from_secs(20));
    assert_eq!(fake.usage_requests(), 2);
}

#[tokio::test]
async fn dropping_the_fake_stops_the_server() {
    let fake = start(Deepseek).await;
    let addr = fake.addr;
    assert_eq!(fake.poll().await.status, 200);
    drop(fake);
    let mut refused = false;
    for _ in 0..100 {
        tokio::task::yield_now().await;
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            refused = true;
            break;
        }
    }
    assert!(refused, "{addr} still accepts connections");
}

#[test]
#[should_panic(expected = "is not an HTTP status")]
fn a_scripted_status_must_be_valid() {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let fake = start(Openai).await;
            fake.set_behaviour(Behaviour::HtmlError(1000));
        });
}

// Fakes added for issue 15 (breadth, part b).

#[tokio::test]
async fn azure_takes_the_key_only_in_api_key() {
    let fake = start(AzureOpenai).await;
    let answer = fake.poll().await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json()["object"], "list");
    assert_eq!(answer.json()["data"][0]["id"], "gpt-4.1");
    let bearer = fake
        .get(
            "/openai/v1/models",
            &[("authorization", format!("Bearer {KEY}"))],
        )
        .await;
    assert_eq!(bearer.status, 401);
    assert_eq!(bearer.json()["error"]["code"], "401");
}

#[tokio::test]
async fn model_list_fakes_answer_with_their_providers_codes() {
    for (id, code) in [
        (Dashscope, "Throttling.RateQuota"),
        (DashscopeCoding, "Throttling.RateQuota"),
        (VolcengineArk, "RateLimitExceeded.EndpointRPMExceeded"),
        (VolcengineArkCoding, "RateLimitExceeded.EndpointRPMExceeded"),
        (GithubModels, "RateLimitReached"),
    ] {
        let fake = start(id).await;
        let listed = fake.poll().await.json();
        let models = if id == GithubModels {
            &listed
        } else {
            &listed["data"]
        };
        assert!(!models.as_array().unwrap().is_empty(), "{id}: {listed}");
        fake.set_behaviour(Behaviour::UsageRateLimited { retry_after_s: 9 });
        let refused = fake.poll().await;
        assert_eq!(refused.json()["error"]["code"], code, "{id}");
        if id == GithubModels {
            assert_eq!(refused.header("x-ratelimit-type"), "UserByModelByMinute");
            assert_eq!(refused.header("x-ratelimit-timeremaining"), "9");
        }
    }
}

#[tokio::test]
async fn balance_fakes_send_amounts_as_the_providers_do() {
    let silicon = start(Siliconflow).await;
    let body = silicon.poll().await.json();
    assert_eq!(
        (&body["code"], &body["status"]),
        (&json!(20000), &json!(true))
    );
    assert_eq!(body["data"]["totalBalance"], "88.88");

    let novita = start(Novita).await;
    assert_eq!(novita.poll().await.json()["availableBalance"], "123456");
    novita.set_behaviour(Behaviour::Variant);
    assert_eq!(novita.poll().await.json()["availableBalance"], 123_456);
}
