"""Calls Redline's proxy with the official OpenAI Python SDK, as a user's script would.

Usage: openai_client.py MODE [N]   (BASE_URL and TOKEN in the environment; ACCEPT_ENCODING, when
set, replaces the SDK's Accept-Encoding; MODEL, when set, names the model)
  chat          one answer
  stream        one streamed answer
  streams N     N streamed answers, one after the other (the SDK hangs up at data: [DONE])
  hangup N      a streamed answer the script stops reading after N pieces of text, and closes
  stream_error  a streamed answer that carries an error; the SDK raises it
  refused       an answer the provider refuses
Prints one JSON line describing what the SDK saw.
"""
import json
import os
import sys

import openai

headers = {}
if os.environ.get("ACCEPT_ENCODING"):
    headers["Accept-Encoding"] = os.environ["ACCEPT_ENCODING"]
client = openai.OpenAI(
    base_url=os.environ["BASE_URL"], api_key=os.environ["TOKEN"], max_retries=0, default_headers=headers
)
model = os.environ.get("MODEL", "kimi-for-coding")
messages = [{"role": "user", "content": "Say hello."}]
mode = sys.argv[1]


def stream():
    return client.chat.completions.create(
        model=model, messages=messages, stream=True, stream_options={"include_usage": True}
    )


def read(answer):
    """The text of a streamed answer, and the usage its last chunk stated."""
    pieces, usage = [], None
    for chunk in answer:
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
        if chunk.usage:
            usage = [chunk.usage.prompt_tokens, chunk.usage.completion_tokens]
    return "".join(pieces), len(pieces), usage


if mode == "chat":
    answer = client.chat.completions.create(model=model, messages=messages)
    print(json.dumps({
        "content": answer.choices[0].message.content,
        "total_tokens": answer.usage.total_tokens,
        "usage": [answer.usage.prompt_tokens, answer.usage.completion_tokens],
    }))
elif mode == "stream":
    content, chunks, usage = read(stream())
    print(json.dumps({"content": content, "chunks": chunks, "usage": usage}))
elif mode == "streams":
    answers = [read(stream()) for _ in range(int(sys.argv[2]))]
    print(json.dumps({"contents": [a[0] for a in answers], "usages": [a[2] for a in answers]}))
elif mode == "hangup":
    answer, seen = stream(), 0
    for chunk in answer:
        if chunk.choices and chunk.choices[0].delta.content:
            seen += 1
        if seen == int(sys.argv[2]):
            break
    answer.close()
    print(json.dumps({"chunks": seen}))
elif mode == "stream_error":
    try:
        content, chunks, usage = read(stream())
        print(json.dumps({"content": content}))
    except openai.APIError as error:
        print(json.dumps({"error": error.message, "body": error.body}))
elif mode == "refused":
    try:
        client.chat.completions.create(model=model, messages=messages)
        print(json.dumps({"status": 200}))
    except openai.APIStatusError as error:
        print(json.dumps({
            "status": error.status_code,
            "retry_after": error.response.headers.get("retry-after"),
            "body": error.response.text,
        }))
else:
    sys.exit(f"unknown mode {mode!r}")
