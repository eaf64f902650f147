"""Calls Redline's proxy with the official OpenAI Python SDK, as a user's script would.

Usage: openai_client.py chat|stream|refused   (BASE_URL and TOKEN in the environment)
Prints one JSON line describing what the SDK saw.
"""
import json
import os
import sys

import openai

client = openai.OpenAI(base_url=os.environ["BASE_URL"], api_key=os.environ["TOKEN"], max_retries=0)
messages = [{"role": "user", "content": "Say hello."}]
mode = sys.argv[1]

if mode == "chat":
    answer = client.chat.completions.create(model="kimi-for-coding", messages=messages)
    print(json.dumps({"content": answer.choices[0].message.content, "total_tokens": answer.usage.total_tokens}))
elif mode == "stream":
    pieces = []
    stream = client.chat.completions.create(
        model="kimi-for-coding", messages=messages, stream=True, stream_options={"include_usage": True}
    )
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
    print(json.dumps({"content": "".join(pieces), "chunks": len(pieces)}))
elif mode == "refused":
    try:
        client.chat.completions.create(model="kimi-for-coding", messages=messages)
        print(json.dumps({"status": 200}))
    except openai.APIStatusError as error:
        print(json.dumps({
            "status": error.status_code,
            "retry_after": error.response.headers.get("retry-after"),
            "body": error.response.text,
        }))
else:
    sys.exit(f"unknown mode {mode!r}")
