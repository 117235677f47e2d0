"""Read the answer text out of a response body, plain or streamed, in either protocol."""

from __future__ import annotations

import json


def sse_text(raw: str, protocol: str) -> str:
    """The text deltas of an SSE body, joined."""
    out = []
    for line in raw.splitlines():
        if not line.startswith("data: ") or line == "data: [DONE]":
            continue
        ev = json.loads(line[6:])
        if protocol == "openai":
            out += [c["delta"].get("content") or "" for c in ev.get("choices", [])]
        elif ev.get("type") == "content_block_delta":
            out.append(ev["delta"]["text"])
    return "".join(out)


def body_text(content_type: str, raw: str, protocol: str) -> str:
    if content_type.startswith("text/event-stream"):
        return sse_text(raw, protocol)
    body = json.loads(raw)
    return body["choices"][0]["message"]["content"] if protocol == "openai" else body["content"][0]["text"]
