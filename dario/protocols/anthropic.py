"""Anthropic Messages (`POST /v1/messages`, `/v1/messages/count_tokens`): the internal form itself.

Usage: `input_tokens` already excludes cache reads (`cache_read_input_tokens`) and cache
writes (`cache_creation_input_tokens`); `output_tokens` includes thinking.
"""

from __future__ import annotations

import json
from typing import Any

from dario.core.usage import Usage, count
from dario.pipeline.sse import SSEEvent, frame
from dario.protocols.base import Adapter, IdentityStream, StreamMeter, event_json
from dario.redact import redact

API_VERSION = "2023-06-01"

# status -> error type
ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
               404: "not_found_error", 405: "invalid_request_error", 408: "timeout_error",
               413: "request_too_large", 415: "invalid_request_error", 429: "rate_limit_error",
               500: "api_error", 502: "api_error", 503: "overloaded_error", 504: "timeout_error",
               529: "overloaded_error"}
STATUS_OF_TYPE = {"invalid_request_error": 400, "authentication_error": 401, "permission_error": 403,
                  "not_found_error": 404, "request_too_large": 413, "rate_limit_error": 429,
                  "api_error": 500, "overloaded_error": 529, "timeout_error": 504}


def usage_from_wire(u: Any) -> Usage:
    if not isinstance(u, dict):
        return Usage()
    split = u.get("cache_creation") if isinstance(u.get("cache_creation"), dict) else {}
    return Usage(input_tokens=count(u.get("input_tokens")), output_tokens=count(u.get("output_tokens")),
                 cache_read_tokens=count(u.get("cache_read_input_tokens")),
                 cache_write_tokens=count(u.get("cache_creation_input_tokens")),
                 cache_write_1h_tokens=count(split.get("ephemeral_1h_input_tokens")))


def usage_to_wire(u: Usage) -> dict[str, int]:
    return {"input_tokens": u.input_tokens or 0, "output_tokens": u.output_tokens or 0,
            "cache_read_input_tokens": u.cache_read_tokens or 0,
            "cache_creation_input_tokens": u.cache_write_tokens or 0}


class Meter(StreamMeter):
    __slots__ = ()

    def feed(self, ev: SSEEvent) -> None:
        kind = ev.event
        if kind in ("ping", "content_block_stop"):
            return
        if kind == "content_block_delta" or kind == "content_block_start":
            self.content_started = True
            return
        data = event_json(ev)
        if data is None:
            return
        kind = kind or data.get("type")
        if kind == "message_start":
            msg = data.get("message")
            self.usage.merge(usage_from_wire(msg.get("usage") if isinstance(msg, dict) else None))
        elif kind == "message_delta":
            self.usage.merge(usage_from_wire(data.get("usage")))
        elif kind == "message_stop":
            self.finished = True
        elif kind == "error":
            self.error = json.dumps(data.get("error") or data)[:2000]
        elif kind in ("content_block_delta", "content_block_start"):  # named only in the data
            self.content_started = True


class _Framer:
    """Internal events -> an Anthropic client's SSE bytes."""

    __slots__ = ()

    def feed(self, ev: SSEEvent) -> list[bytes]:
        return [frame(ev.data, ev.event)]

    def finish(self) -> list[bytes]:
        return []


class AnthropicAdapter(Adapter):
    name = "anthropic"
    client_header_prefixes = ("anthropic-", "x-stainless-helper")
    paths = {"generate": "/v1/messages", "count_tokens": "/v1/messages/count_tokens"}

    def endpoint(self, path: str) -> str | None:
        p = path.split("?", 1)[0].rstrip("/")
        if p.endswith("/v1/messages"):
            return "generate"
        if p.endswith("/v1/messages/count_tokens"):
            return "count_tokens"
        return None

    def auth_headers(self, secret: str) -> dict[str, str]:
        return {"x-api-key": secret}

    def fixed_headers(self) -> dict[str, str]:
        return {"anthropic-version": API_VERSION}

    def request_to_internal(self, body: dict, model: str) -> dict:
        return dict(body, model=model)

    def request_from_internal(self, internal: dict, model: str) -> dict:
        return dict(internal, model=model)

    def response_to_internal(self, body: dict, model: str) -> dict:
        return body

    def response_from_internal(self, internal: dict, model: str, client_body: dict | None = None) -> dict:
        return dict(internal, model=model)

    def stream_to_internal(self, model: str) -> IdentityStream:
        return IdentityStream()

    def stream_from_internal(self, model: str, client_body: dict) -> _Framer:
        return _Framer()

    def count_tokens_answer(self, n: int) -> dict:
        return {"input_tokens": n}

    def usage_from_wire(self, u: Any) -> Usage:
        return usage_from_wire(u)

    def meter(self) -> Meter:
        return Meter()

    def error_body(self, status: int, message: str, *, etype: str | None = None, code: str | None = None) -> dict:
        etype = etype or ERROR_TYPES.get(status) or ("api_error" if status >= 500 else "invalid_request_error")
        return {"type": "error", "error": {"type": etype, "message": redact(message)}}

    def keepalive(self) -> bytes:
        return b'event: ping\ndata: {"type": "ping"}\n\n'  # what Anthropic itself sends

    def sse_error(self, status: int, message: str) -> bytes:
        return frame(json.dumps(self.error_body(status, message)), "error")


ADAPTER = AnthropicAdapter()
