"""Calls Redline's proxy with the official Anthropic Python SDK, as Claude-style tools do.

Usage: anthropic_client.py chat|stream|stream_error|refused   (BASE_URL and TOKEN in the
environment; ACCEPT_ENCODING, when set, replaces the SDK's Accept-Encoding)
Prints one JSON line describing what the SDK saw.
"""
import json
import os
import sys

import anthropic

headers = {}
if os.environ.get("ACCEPT_ENCODING"):
    headers["Accept-Encoding"] = os.environ["ACCEPT_ENCODING"]
client = anthropic.Anthropic(
    base_url=os.environ["BASE_URL"], api_key=os.environ["TOKEN"], max_retries=0, default_headers=headers
)
messages = [{"role": "user", "content": "Say hello."}]
mode = sys.argv[1]

if mode == "chat":
    answer = client.messages.create(model="claude-sonnet-4-5", max_tokens=64, messages=messages)
    text = "".join(block.text for block in answer.content if block.type == "text")
    print(json.dumps({"content": text, "output_tokens": answer.usage.output_tokens}))
elif mode == "stream":
    with client.messages.stream(model="claude-sonnet-4-5", max_tokens=64, messages=messages) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    print(json.dumps({"content": text, "output_tokens": final.usage.output_tokens}))
elif mode == "stream_error":
    try:
        with client.messages.stream(model="claude-sonnet-4-5", max_tokens=64, messages=messages) as stream:
            text = "".join(stream.text_stream)
        print(json.dumps({"content": text}))
    except anthropic.APIError as error:
        print(json.dumps({"error": error.message, "body": error.body}))
elif mode == "refused":
    try:
        client.messages.create(model="claude-sonnet-4-5", max_tokens=64, messages=messages)
        print(json.dumps({"status": 200}))
    except anthropic.APIStatusError as error:
        print(json.dumps({
            "status": error.status_code,
            "retry_after": error.response.headers.get("retry-after"),
            "body": error.response.text,
        }))
else:
    sys.exit(f"unknown mode {mode!r}")
