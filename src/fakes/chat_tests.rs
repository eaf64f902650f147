//! The chat endpoints over real loopback HTTP: paths, usage in each wire family, keys, the
//! enforced concurrency limit, scripted refusals and cancellation counting.

use super::*;
use ProviderId::*;

const KEY: &str = "sk-fake-valid-0123456789abcdef";

struct Chat {
    fake: FakeProvider,
    client: reqwest::Client,
}

async fn start(id: ProviderId) -> Chat {
    Chat {
        fake: FakeProvider::start(id, KEY).await.expect("fake starts"),
        client: reqwest::Client::builder().no_proxy().build().unwrap(),
    }
}

impl Chat {
    fn post(&self, path: &str, body: Value) -> reqwest::RequestBuilder {
        self.client
            .post(format!("{}{path}", self.fake.origin()))
            .bearer_auth(KEY)
            .header("content-type", "application/json")
            .body(body.to_string())
    }

    async fn text(&self, path: &str, body: Value) -> (u16, HeaderMap, String) {
        let response = self.post(path, body).send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        (status, headers, response.text().await.unwrap())
    }
}

/// The `data:` payloads of an SSE text, as JSON (`[DONE]` as a string).
fn data_payloads(text: &str) -> Vec<Value> {
    text.lines()
        .filter_map(|line| line.strip_prefix("data: "))
        .map(|data| serde_json::from_str(data).unwrap_or_else(|_| Value::String(data.into())))
        .collect()
}

fn completions(id: ProviderId) -> String {
    completions_path(id).unwrap()
}

#[test]
fn chat_paths_follow_each_providers_api_base() {
    let paths = ProviderId::ALL.map(|id| (completions_path(id), messages_path(id)));
    let some = |p: &str| Some(p.to_owned());
    assert_eq!(
        paths,
        [
            (
                some("/coding/v1/chat/completions"),
                some("/coding/v1/messages")
            ),
            (some("/v1/chat/completions"), None),
            (some("/v1/chat/completions"), None),
            (None, some("/v1/messages")),
            (None, some("/v1/messages")),
            (some("/api/v1/chat/completions"), None),
            (some("/chat/completions"), None),
            (some("/api/coding/paas/v4/chat/completions"), None),
            (some("/v1/chat/completions"), None),
            (None, None),
            (some("/v1beta/openai/chat/completions"), None),
            (some("/openai/v1/chat/completions"), None),
            (some("/v1/chat/completions"), None),
            (some("/v1/chat/completions"), None),
            (some("/v1/chat/completions"), None),
            (some("/v1/chat/completions"), None),
            (some("/inference/v1/chat/completions"), None),
            (some("/compatible-mode/v1/chat/completions"), None),
            (some("/v1/chat/completions"), None),
            (some("/api/v3/chat/completions"), None),
            (some("/api/coding/v3/chat/completions"), None),
            (some("/v1/chat/completions"), None),
            (some("/inference/chat/completions"), None),
            (some("/chat/completions"), None),
            (some("/openai/v1/chat/completions"), None),
            (some("/v3/openai/chat/completions"), None),
            (some("/v1/chat/completions"), None),
        ]
    );
    let responses = ProviderId::ALL.map(responses_path);
    assert_eq!(responses[2], some("/v1/responses"), "{responses:?}");
    assert_eq!(responses[9], some("/backend-api/codex/responses"));
    assert_eq!(
        responses.iter().flatten().count(),
        2,
        "only OpenAI and the Codex backend serve it"
    );
}

#[tokio::test]
async fn json_answers_carry_usage_in_each_family() {
    let chat = start(Openai).await;
    let (status, _, body) = chat
        .text(&completions(Openai), json!({"model": "gpt-4o-mini"}))
        .await;
    assert_eq!(status, 200);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["usage"]["prompt_tokens"], PROMPT_TOKENS);
    assert_eq!(body["usage"]["completion_tokens"], 5);
    assert_eq!(body["model"], "gpt-4o-mini");

    let chat = start(Anthropic).await;
    let (status, _, body) = chat.text("/v1/messages", json!({})).await;
    assert_eq!(status, 200);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["usage"]["input_tokens"], PROMPT_TOKENS);
    assert_eq!(body["usage"]["output_tokens"], 5);
    assert_eq!(chat.fake.chat_counters().completed, 1);
}

#[tokio::test]
async fn openai_streams_the_usage_chunk_only_when_asked() {
    let chat = start(Openai).await;
    chat.fake.set_stream(3, Duration::ZERO);
    let request = json!({"stream": true, "stream_options": {"include_usage": true}});
    let (status, headers, text) = chat.text(&completions(Openai), request).await;
    assert_eq!(status, 200);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let frames = data_payloads(&text);
    assert_eq!(frames.len(), 3 + 1 + 1 + 1, "{text}");
    assert_eq!(frames.last().unwrap(), "[DONE]");
    let usage_chunk = &frames[frames.len() - 2];
    assert_eq!(usage_chunk["choices"], json!([]));
    assert_eq!(usage_chunk["usage"]["completion_tokens"], 3);
    assert!(frames[0]["usage"].is_null() && frames[0].get("usage").is_some());

    let (_, _, text) = chat
        .text(&completions(Openai), json!({"stream": true}))
        .await;
    assert!(!text.contains("\"usage\""), "{text}");
}

#[tokio::test]
async fn moonshot_and_kimi_stream_usage_inside_the_choice() {
    for id in [Moonshot, KimiCode] {
        let chat = start(id).await;
        let (_, _, text) = chat.text(&completions(id), json!({"stream": true})).await;
        let frames = data_payloads(&text);
        let last = &frames[frames.len() - 2];
        assert_eq!(last["choices"][0]["finish_reason"], "stop");
        assert_eq!(last["choices"][0]["usage"]["prompt_tokens"], PROMPT_TOKENS);
        assert_eq!(last["choices"][0]["usage"]["completion_tokens"], 5);
        assert!(last.get("usage").is_none());
    }
}

#[tokio::test]
async fn anthropic_streams_events_with_cumulative_usage() {
    for (id, path) in [
        (Anthropic, "/v1/messages"),
        (KimiCode, "/coding/v1/messages"),
    ] {
        let chat = start(id).await;
        chat.fake.set_stream(4, Duration::ZERO);
        let (_, _, text) = chat.text(path, json!({"stream": true})).await;
        let events: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("event: "))
            .collect();
        assert_eq!(
            events,
            [
                "message_start",
                "content_block_start",
                "ping",
                "content_block_delta",
                "content_block_delta",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        let frames = data_payloads(&text);
        assert_eq!(frames[0]["message"]["usage"]["input_tokens"], PROMPT_TOKENS);
        assert_eq!(frames[0]["message"]["usage"]["output_tokens"], 1);
        assert_eq!(frames[8]["usage"]["output_tokens"], 4);
    }
}

#[tokio::test]
async fn chat_paths_take_the_key_as_bearer_or_x_api_key() {
    let chat = start(KimiCode).await;
    let url = format!("{}{}", chat.fake.origin(), completions(KimiCode));
    let send = |request: reqwest::RequestBuilder| async move {
        request.body("{}").send().await.unwrap().status().as_u16()
    };
    assert_eq!(send(chat.client.post(&url).bearer_auth(KEY)).await, 200);
    assert_eq!(
        send(chat.client.post(&url).header("x-api-key", KEY)).await,
        200
    );
    assert_eq!(
        send(chat.client.post(&url).bearer_auth("sk-wrong")).await,
        401
    );
    assert_eq!(send(chat.client.post(&url)).await, 401);
    assert_eq!(chat.fake.chat_counters().requests, 4);
    assert_eq!(chat.fake.chat_counters().completed, 2);
}

#[tokio::test]
async fn an_enforced_concurrency_limit_refuses_in_the_providers_words() {
    let chat = start(KimiCode).await;
    chat.fake.set_concurrency_limit(2);
    chat.fake.enforce_concurrency(true);
    chat.fake
        .set_behaviour(Behaviour::Slow(Duration::from_millis(200)));
    let requests = (0..3).map(|_| chat.text("/coding/v1/chat/completions", json!({})));
    let answers = futures_util::future::join_all(requests).await;
    let refused: Vec<_> = answers.iter().filter(|a| a.0 == 429).collect();
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].1["retry-after"], "1");
    assert!(
        refused[0]
            .2
            .contains("We're receiving too many requests at the moment")
    );
    let counters = chat.fake.chat_counters();
    assert_eq!(
        (
            counters.peak_in_flight,
            counters.refused,
            counters.completed
        ),
        (2, 1, 2)
    );

    let chat = start(Moonshot).await;
    chat.fake.set_concurrency_limit(0);
    chat.fake.enforce_concurrency(true);
    let (status, _, body) = chat.text(&completions(Moonshot), json!({})).await;
    assert_eq!(status, 429);
    assert!(body.contains("max concurrency: 0"), "{body}");
}

#[tokio::test]
async fn scripted_refusals_come_first() {
    let chat = start(Openai).await;
    chat.fake.refuse_next_chats(1, 0);
    let (status, headers, body) = chat.text(&completions(Openai), json!({})).await;
    assert_eq!(
        (status, headers["retry-after"].to_str().unwrap()),
        (429, "0")
    );
    assert!(body.contains("rate_limit_exceeded"));
    assert_eq!(chat.text(&completions(Openai), json!({})).await.0, 200);
    assert_eq!(chat.fake.chat_counters().refused, 1);
}

#[tokio::test]
async fn a_stream_dropped_midway_counts_as_cancelled() {
    let chat = start(Openai).await;
    chat.fake.set_stream(50, Duration::from_millis(20));
    let mut response = chat
        .post(&completions(Openai), json!({"stream": true}))
        .send()
        .await
        .unwrap();
    assert!(response.chunk().await.unwrap().is_some());
    assert_eq!(chat.fake.chat_counters().in_flight, 1);
    drop(response);
    let counters = chat
        .fake
        .wait_for_chats(Duration::from_secs(5), |c| c.cancelled == 1)
        .await;
    assert_eq!((counters.cancelled, counters.in_flight), (1, 0));
}

#[tokio::test(start_paused = true)]
async fn a_stream_tail_keeps_the_body_open_after_its_last_event() {
    let chat = start(Openai).await;
    chat.fake.set_stream_tail(Duration::from_millis(50));
    let mut response = chat
        .post(&completions(Openai), json!({"stream": true}))
        .send()
        .await
        .unwrap();
    let mut text = Vec::new();
    while !text.ends_with(b"data: [DONE]\n\n") {
        text.extend(response.chunk().await.unwrap().expect("more of the stream"));
    }
    let done_at = tokio::time::Instant::now();
    assert_eq!(response.chunk().await.unwrap(), None, "then the body ends");
    assert_eq!(done_at.elapsed(), Duration::from_millis(50));
    assert_eq!(chat.fake.chat_counters().completed, 1);
}

/// Undoes `coding` on `wire`, with the decoders the fake's encoder is checked against.
fn decode(coding: &str, wire: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    match coding {
        "gzip" => flate2::read::MultiGzDecoder::new(wire).read_to_end(&mut out),
        "deflate" => flate2::read::ZlibDecoder::new(wire).read_to_end(&mut out),
        "br" => brotli::Decompressor::new(wire, 4096).read_to_end(&mut out),
        "zstd" => zstd::stream::read::Decoder::new(wire)
            .unwrap()
            .read_to_end(&mut out),
        other => panic!("{other}"),
    }
    .unwrap();
    out
}

#[tokio::test]
async fn compressed_answers_follow_the_clients_accept_encoding() {
    let chat = start(Openai).await;
    chat.fake.compress_answers(true);
    let cases = [
        ("gzip, deflate, br, zstd", Some("zstd")),
        ("gzip, deflate, br", Some("br")),
        ("gzip", Some("gzip")),
        ("deflate", Some("deflate")),
        ("identity", None),
    ];
    for stream in [false, true] {
        for (accept, coding) in cases {
            let response = chat
                .post(&completions(Openai), json!({"stream": stream}))
                .header("accept-encoding", accept)
                .send()
                .await
                .unwrap();
            let encoding = response
                .headers()
                .get("content-encoding")
                .map(|v| v.to_str().unwrap().to_owned());
            assert_eq!(encoding.as_deref(), coding, "{accept}");
            let wire = response.bytes().await.unwrap();
            assert_eq!(wire, chat.fake.last_chat_body(), "the bytes sent are kept");
            let text = match coding {
                Some(coding) => decode(coding, &wire),
                None => wire.to_vec(),
            };
            let text = String::from_utf8(text).unwrap();
            if stream {
                assert!(text.ends_with("data: [DONE]\n\n"), "{accept}: {text}");
            } else {
                let body: Value = serde_json::from_str(&text).unwrap();
                assert_eq!(body["usage"]["prompt_tokens"], PROMPT_TOKENS, "{accept}");
            }
        }
    }
}

#[tokio::test]
async fn errors_inside_a_200_in_each_providers_shape() {
    // Anthropic: a stream that begins, then `event: error`; not streamed, the HTTP error.
    let chat = start(Anthropic).await;
    chat.fake
        .refuse_next_chats_in_200(2, InBandError::Overloaded);
    let request = || {
        chat.client
            .post(format!("{}/v1/messages", chat.fake.origin()))
            .header("x-api-key", KEY)
            .header("anthropic-version", "2023-06-01")
    };
    let streamed = request()
        .body(json!({"stream": true}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(streamed.status(), 200);
    let text = streamed.text().await.unwrap();
    assert!(text.starts_with("event: message_start\n"), "{text}");
    assert!(
        text.ends_with(
            "event: error\ndata: {\"error\":{\"message\":\"Overloaded\",\"type\":\"overloaded_error\"},\"request_id\":\"req_fake_0123456789\",\"type\":\"error\"}\n\n"
        ),
        "{text}"
    );
    let plain = request().body("{}").send().await.unwrap();
    assert_eq!(plain.status(), 529);

    // OpenRouter: an error chunk in a stream, `{"error":{"code":...}}` in JSON.
    let chat = start(Openrouter).await;
    chat.fake
        .refuse_next_chats_in_200(2, InBandError::RateLimited);
    let (status, _, text) = chat
        .text(&completions(Openrouter), json!({"stream": true}))
        .await;
    assert_eq!(status, 200);
    let payloads = data_payloads(&text);
    assert_eq!(
        payloads.len(),
        2,
        "a token, then the error; no [DONE]: {text}"
    );
    assert_eq!(payloads[1]["error"]["code"], 429);
    assert_eq!(payloads[1]["choices"][0]["finish_reason"], "error");
    let (status, _, text) = chat.text(&completions(Openrouter), json!({})).await;
    assert_eq!(status, 200);
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["error"]["code"], 429);
    assert_eq!(chat.fake.chat_counters().refused, 2);

    // Z.ai and MiniMax: a business code in a JSON 200, streamed or not.
    let chat = start(Zai).await;
    chat.fake
        .refuse_next_chats_in_200(1, InBandError::RateLimited);
    let (status, _, text) = chat.text(&completions(Zai), json!({"stream": true})).await;
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!((status, &body["error"]["code"]), (200, &json!("1302")));
    let chat = start(Minimax).await;
    chat.fake
        .refuse_next_chats_in_200(1, InBandError::Overloaded);
    let (status, _, text) = chat.text(&completions(Minimax), json!({})).await;
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        (status, &body["base_resp"]["status_code"]),
        (200, &json!(1033))
    );
    let (_, _, text) = chat.text(&completions(Minimax), json!({})).await;
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        body["base_resp"],
        json!({"status_code": 0, "status_msg": ""}),
        "answers carry base_resp 0"
    );
}

#[test]
#[should_panic(expected = "sends no errors inside a 200")]
fn providers_without_errors_in_200_refuse_to_fake_them() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let fake = runtime.block_on(FakeProvider::start(Openai, KEY)).unwrap();
    fake.refuse_next_chats_in_200(1, InBandError::RateLimited);
}

/// `event:` names of an SSE text.
fn event_names(text: &str) -> Vec<&str> {
    text.lines()
        .filter_map(|l| l.strip_prefix("event: "))
        .collect()
}

#[tokio::test]
async fn the_responses_api_streams_its_events_with_usage_in_the_completed_one() {
    let chat = start(Openai).await;
    chat.fake.set_stream(3, Duration::ZERO);
    let request = json!({"model": "gpt-5", "input": "hi", "stream": true});
    let (status, headers, text) = chat.text("/v1/responses", request).await;
    assert_eq!(status, 200);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    assert_eq!(
        event_names(&text),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed"
        ]
    );
    let frames = data_payloads(&text);
    for (i, frame) in frames.iter().enumerate() {
        assert_eq!(frame["sequence_number"], i, "{frame}");
        assert_eq!(frame["type"], event_names(&text)[i]);
    }
    let deltas: String = frames.iter().filter_map(|f| f["delta"].as_str()).collect();
    assert_eq!(deltas, "tok0 tok1 tok2 ");
    assert_eq!(frames[0]["response"]["status"], "in_progress");
    assert!(frames[0]["response"]["usage"].is_null());
    assert_eq!(frames[2]["item"]["role"], "assistant");
    let done = &frames[9]["item"];
    assert_eq!(
        (&done["type"], &done["content"][0]["text"]),
        (&json!("message"), &json!(deltas))
    );
    let completed = &frames[10]["response"];
    assert_eq!(completed["status"], "completed");
    assert_eq!(completed["model"], "gpt-5");
    assert_eq!(completed["usage"]["input_tokens"], PROMPT_TOKENS);
    assert_eq!(completed["usage"]["output_tokens"], 3);
    assert_eq!(completed["usage"]["total_tokens"], PROMPT_TOKENS + 3);
    assert_eq!(chat.fake.chat_counters().completed, 1);
}

#[tokio::test]
async fn the_responses_api_answers_json_and_refuses_a_wrong_key() {
    let chat = start(Openai).await;
    let (status, _, text) = chat
        .text("/v1/responses", json!({"model": "gpt-5", "input": "hi"}))
        .await;
    assert_eq!(status, 200);
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["object"], "response");
    assert_eq!(body["output"][0]["content"][0]["type"], "output_text");
    assert_eq!(
        body["output"][0]["content"][0]["text"],
        "tok0 tok1 tok2 tok3 tok4 "
    );
    assert_eq!(body["usage"]["input_tokens"], PROMPT_TOKENS);
    assert_eq!(body["usage"]["output_tokens"], 5);

    let url = format!("{}/v1/responses", chat.fake.origin());
    let refused = chat.client.post(&url).bearer_auth("sk-wrong").body("{}");
    let refused = refused.send().await.unwrap();
    assert_eq!(refused.status(), 401);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_api_key");
    // Another provider has no such path.
    let kimi = start(KimiCode).await;
    let (status, _, _) = kimi.text("/v1/responses", json!({})).await;
    assert_eq!(status, 404);
}
