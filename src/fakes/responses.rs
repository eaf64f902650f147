//! OpenAI's Responses API (`POST /v1/responses`), the only API current Codex speaks
//! (docs/providers.md, "OpenAI" and "Codex / ChatGPT plans"). One assistant message with the
//! fake's usual text; streamed as the API streams it: `response.created`,
//! `response.in_progress`, `response.output_item.added`, `response.content_part.added`, one
//! `response.output_text.delta` per token, then `response.output_text.done`,
//! `response.content_part.done`, `response.output_item.done` and `response.completed`, whose
//! `response.usage` is the only place the tokens are stated. Every event is named on an
//! `event:` line and carries its `type` and a `sequence_number` counting from 0.

use super::chat::{Answer, PROMPT_TOKENS, event, token};
use serde_json::{Value, json};

const RESPONSE_ID: &str = "resp_fake_0001";
const MESSAGE_ID: &str = "msg_fake_0001";
const CREATED_AT: u64 = 1_767_225_600;

/// The response object; `output` and `usage` only once it is complete.
fn response(answer: &Answer, complete: bool) -> Value {
    let (status, output, usage) = if complete {
        (
            "completed",
            json!([message(answer, true)]),
            usage(answer.output_tokens()),
        )
    } else {
        ("in_progress", json!([]), Value::Null)
    };
    json!({
        "id": RESPONSE_ID,
        "object": "response",
        "created_at": CREATED_AT,
        "status": status,
        "error": null,
        "incomplete_details": null,
        "instructions": null,
        "max_output_tokens": null,
        "model": answer.model,
        "output": output,
        "parallel_tool_calls": true,
        "previous_response_id": null,
        "reasoning": {"effort": null, "summary": null},
        "store": false,
        "temperature": 1.0,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": usage,
        "user": null,
        "metadata": {}
    })
}

fn usage(output: u64) -> Value {
    json!({
        "input_tokens": PROMPT_TOKENS,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": PROMPT_TOKENS + output
    })
}

/// The assistant message item, empty while it is being written.
fn message(answer: &Answer, complete: bool) -> Value {
    let (status, content) = if complete {
        ("completed", json!([output_text(&answer.text())]))
    } else {
        ("in_progress", json!([]))
    };
    json!({
        "id": MESSAGE_ID,
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": content
    })
}

fn output_text(text: &str) -> Value {
    json!({"type": "output_text", "text": text, "annotations": []})
}

/// A non-streamed answer: the completed response object.
pub(super) fn json_body(answer: &Answer) -> Value {
    response(answer, true)
}

/// The stream's texts, one write per token: the opening events go with the first, the closing
/// ones with the last.
pub(super) fn sse_texts(answer: &Answer) -> Vec<String> {
    let mut sequence = 0u64;
    let mut push = |text: &mut String, kind: &str, mut payload: Value| {
        payload["type"] = json!(kind);
        payload["sequence_number"] = json!(sequence);
        sequence += 1;
        event(text, kind, &payload);
    };
    let part = json!({"item_id": MESSAGE_ID, "output_index": 0, "content_index": 0});
    let with = |extra: Value| {
        let mut value = part.clone();
        for (k, v) in extra.as_object().into_iter().flatten() {
            value[k] = v.clone();
        }
        value
    };
    let chunks = answer.chunks();
    (0..chunks)
        .map(|i| {
            let mut text = String::new();
            if i == 0 {
                push(
                    &mut text,
                    "response.created",
                    json!({"response": response(answer, false)}),
                );
                push(
                    &mut text,
                    "response.in_progress",
                    json!({"response": response(answer, false)}),
                );
                push(
                    &mut text,
                    "response.output_item.added",
                    json!({"output_index": 0, "item": message(answer, false)}),
                );
                push(
                    &mut text,
                    "response.content_part.added",
                    with(json!({"part": output_text("")})),
                );
            }
            push(
                &mut text,
                "response.output_text.delta",
                with(json!({"delta": token(i), "logprobs": []})),
            );
            if i + 1 == chunks {
                let whole = answer.text();
                push(
                    &mut text,
                    "response.output_text.done",
                    with(json!({"text": whole, "logprobs": []})),
                );
                push(
                    &mut text,
                    "response.content_part.done",
                    with(json!({"part": output_text(&whole)})),
                );
                push(
                    &mut text,
                    "response.output_item.done",
                    json!({"output_index": 0, "item": message(answer, true)}),
                );
                push(
                    &mut text,
                    "response.completed",
                    json!({"response": response(answer, true)}),
                );
            }
            text
        })
        .collect()
}
