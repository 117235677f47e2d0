"""Calls an official Python SDK N times in one process and prints per-call latencies as JSON.

usage: python py_loop.py '{"sdk": "anthropic"|"openai", "n": N, "warmup": W, "base_url": "..."?}'
Without base_url the SDK calls its default host: under `dario shim` that call is intercepted.
"""
import json
import os
import sys
import time

opts = json.loads(sys.argv[1])
messages = [{"role": "user", "content": "Say hello"}]
kw = {"max_retries": 0}
if opts.get("base_url"):
    kw["base_url"] = opts["base_url"]

if opts["sdk"] == "anthropic":
    import anthropic

    client = anthropic.Anthropic(api_key=os.environ.get("ANTHROPIC_API_KEY", "bench-key"), **kw)
    req = {"model": opts.get("model", "claude-bench"), "max_tokens": 64, "messages": messages}

    def plain():
        client.messages.create(**req)

    def stream():
        return client.messages.create(**req, stream=True)
else:
    import openai

    client = openai.OpenAI(api_key=os.environ.get("OPENAI_API_KEY", "bench-key"), **kw)
    req = {"model": opts.get("model", "gpt-bench"), "messages": messages}

    def plain():
        client.chat.completions.create(**req)

    def stream():
        return client.chat.completions.create(**req, stream=True)

out = {"plain_ms": [], "ttfb_ms": [], "stream_ms": [], "errors": 0}
for i in range(opts["warmup"] + opts["n"]):
    try:
        t0 = time.perf_counter()
        plain()
        p = (time.perf_counter() - t0) * 1000
        t0 = time.perf_counter()
        first = None
        for _ev in stream():
            if first is None:
                first = (time.perf_counter() - t0) * 1000
        s = (time.perf_counter() - t0) * 1000
        if i >= opts["warmup"]:
            out["plain_ms"].append(p)
            out["ttfb_ms"].append(first)
            out["stream_ms"].append(s)
    except Exception as e:
        out["errors"] += 1
        out.setdefault("error", repr(e))
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))
from result import report  # noqa: E402  (bench/result.py: a file, not stdout)

report(out)
