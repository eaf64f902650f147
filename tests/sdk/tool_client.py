"""A stand-in for a tool built on the official openai SDK (llm, aider, Kimi Code CLI on an
OpenAI-type provider): it sends COUNT chat completions through Redline's proxy on one client,
so on one keep-alive connection, with nothing but the SDK's own headers, and prints what came
back as one JSON line.

Environment: BASE_URL (the proxy's base URL for the account), TOKEN (Redline's local token),
COUNT (default 1). With `--rename TITLE` it first renames its process the way setproctitle does
on Linux, as Kimi Code CLI does with setproctitle("Kimi Code"): TITLE as its comm, and TITLE
over the memory its command line is read from, padded with NUL bytes.
"""

import ctypes
import json
import os
import sys

import openai

PR_SET_NAME = 15


def rename(title):
    data = title.encode()
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_NAME, ctypes.c_char_p(data[:15]), 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NAME) failed")
    with open("/proc/self/stat") as stat:
        text = stat.read()
    # Fields after the command name, from the third on: arg_start and arg_end are the 48th
    # and 49th (proc(5)).
    fields = text[text.rindex(")") + 2 :].split()
    arg_start, arg_end = int(fields[45]), int(fields[46])
    if len(data) >= arg_end - arg_start:
        raise SystemExit("the title is longer than the command line it replaces")
    with open("/proc/self/mem", "r+b", buffering=0) as mem:
        mem.seek(arg_start)
        mem.write(data + b"\0" * (arg_end - arg_start - len(data)))


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--rename":
        rename(sys.argv[2])
    client = openai.OpenAI(base_url=os.environ["BASE_URL"], api_key=os.environ["TOKEN"], max_retries=0)
    statuses = []
    for _ in range(int(os.environ.get("COUNT", "1"))):
        answer = client.chat.completions.with_raw_response.create(
            model="kimi-for-coding",
            messages=[{"role": "user", "content": "hi"}],
        )
        answer.parse()
        statuses.append(answer.status_code)
    print(json.dumps({"statuses": statuses, "user_agent": client.user_agent}))


if __name__ == "__main__":
    main()
