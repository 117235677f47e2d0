"""Token usage read from the upstream's own answers, plain or streamed, as they pass."""

from __future__ import annotations

import json
from dataclasses import dataclass

from dario.pipeline.sse import SSEEvent


@dataclass(slots=True)
class Usage:
    input_tokens: int | None = None  # excluding cache reads/writes (Anthropic's meaning)
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None

    def update_anthropic(self, u: dict) -> None:
        for src, dst in (("input_tokens", "input_tokens"), ("output_tokens", "output_tokens"),
                         ("cache_read_input_tokens", "cache_read_tokens"),
                         ("cache_creation_input_tokens", "cache_write_tokens")):
            v = u.get(src)
            if isinstance(v, int):
                setattr(self, dst, v)

    def update_openai(self, u: dict) -> None:
        prompt = u.get("prompt_tokens")
        cached = (u.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
        if isinstance(prompt, int):
            self.input_tokens = max(prompt - cached, 0)
            self.cache_read_tokens = cached
        out = u.get("completion_tokens")
        if isinstance(out, int):
            self.output_tokens = out


def usage_from_body(protocol: str, body: dict) -> Usage:
    usage = Usage()
    u = body.get("usage") if isinstance(body, dict) else None
    if isinstance(u, dict):
        (usage.update_anthropic if protocol == "anthropic" else usage.update_openai)(u)
    return usage


class StreamMeter:
    """Fed the upstream's SSE events; keeps usage, whether content began, and any error."""

    __slots__ = ("protocol", "usage", "content_started", "error", "finished")

    def __init__(self, protocol: str) -> None:
        self.protocol = protocol
        self.usage = Usage()
        self.content_started = False
        self.error: str | None = None
        self.finished = False

    def feed(self, ev: SSEEvent) -> None:
        if self.protocol == "anthropic":
            self._anthropic(ev)
        else:
            self._openai(ev)

    def _anthropic(self, ev: SSEEvent) -> None:
        kind = ev.event
        if kind in ("ping", "content_block_stop"):
            return
        if kind == "content_block_delta" or kind == "content_block_start":
            self.content_started = True
            return
        try:
            data = json.loads(ev.data)
        except ValueError:
            return
        kind = kind or data.get("type")
        if kind == "message_start":
            self.usage.update_anthropic((data.get("message") or {}).get("usage") or {})
        elif kind == "message_delta":
            self.usage.update_anthropic(data.get("usage") or {})
        elif kind == "message_stop":
            self.finished = True
        elif kind == "error":
            self.error = json.dumps(data.get("error") or data)[:2000]

    def _openai(self, ev: SSEEvent) -> None:
        if ev.data == "[DONE]":
            self.finished = True
            return
        try:
            data = json.loads(ev.data)
        except ValueError:
            return
        if not isinstance(data, dict):
            return
        if "error" in data:
            self.error = json.dumps(data["error"])[:2000]
        if data.get("choices"):
            self.content_started = True
        u = data.get("usage")
        if isinstance(u, dict):
            self.usage.update_openai(u)
