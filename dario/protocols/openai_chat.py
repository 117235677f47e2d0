"""OpenAI Chat Completions (`POST /v1/chat/completions`), and every OpenAI-compatible server.

Usage: `prompt_tokens` INCLUDES cached tokens (`prompt_tokens_details.cached_tokens`;
DeepSeek's `prompt_cache_hit_tokens`) and, where a server reports them, cache writes
(`prompt_tokens_details.cache_write_tokens`); `completion_tokens` includes reasoning
(`completion_tokens_details.reasoning_tokens`). The mapping code for bodies and streams is
in dario/pipeline/translate/, loaded only when a call is translated.
"""

from __future__ import annotations

import json
from typing import Any

from dario.core.errors import CallError
from dario.core.usage import Usage, count
from dario.pipeline.sse import SSEEvent, frame
from dario.protocols.base import Adapter, StreamMeter, event_json
from dario.redact import redact

ERROR_TYPES = {401: "authentication_error", 403: "permission_error", 404: "not_found_error",
               408: "timeout_error", 429: "rate_limit_error", 504: "timeout_error"}


def usage_from_wire(u: Any) -> Usage:
    if not isinstance(u, dict):
        return Usage()
    details = u.get("prompt_tokens_details") if isinstance(u.get("prompt_tokens_details"), dict) else {}
    read = count(details.get("cached_tokens"))
    if read is None:
        read = count(u.get("prompt_cache_hit_tokens"))  # DeepSeek's spelling
    write = count(details.get("cache_write_tokens"))
    prompt = count(u.get("prompt_tokens"))
    out_details = u.get("completion_tokens_details") if isinstance(u.get("completion_tokens_details"), dict) else {}
    return Usage(input_tokens=None if prompt is None else max(prompt - (read or 0) - (write or 0), 0),
                 output_tokens=count(u.get("completion_tokens")),
                 cache_read_tokens=read if read is not None or prompt is None else 0,
                 cache_write_tokens=write,
                 reasoning_tokens=count(out_details.get("reasoning_tokens")))


def usage_to_wire(u: Usage) -> dict[str, Any]:
    read, write = u.cache_read_tokens or 0, u.cache_write_tokens or 0
    prompt = (u.input_tokens or 0) + read + write
    completion = u.output_tokens or 0
    details: dict[str, int] = {"cached_tokens": read}
    if write:
        details["cache_write_tokens"] = write
    out = {"prompt_tokens": prompt, "completion_tokens": completion,
           "total_tokens": prompt + completion, "prompt_tokens_details": details}
    if u.reasoning_tokens is not None:
        out["completion_tokens_details"] = {"reasoning_tokens": u.reasoning_tokens}
    return out


class Meter(StreamMeter):
    __slots__ = ()

    def feed(self, ev: SSEEvent) -> None:
        if ev.data == "[DONE]":
            self.finished = True
            return
        data = event_json(ev)
        if data is None:
            return
        if "error" in data:
            self.error = json.dumps(data["error"])[:2000]
        if data.get("choices"):
            self.content_started = True
        u = data.get("usage")
        if isinstance(u, dict):
            self.usage.merge(usage_from_wire(u))


class UsageHider:
    """Chat stream events minus the usage report dario asked for: the `choices: []` usage chunk is
    dropped, and a usage field some servers put on the last content chunk is taken off."""

    __slots__ = ()

    @staticmethod
    def passes(chunk: bytes) -> bool:
        """Whole events (the stream's own framing, at an event's end) that cannot name usage: relayed
        as they came, unparsed. The caller knows whether the chunk began at an event's start."""
        return b'"usage"' not in chunk and chunk.endswith(b"\n\n")

    def feed(self, ev: SSEEvent) -> list[bytes]:
        if '"usage"' not in ev.data:  # most events: no usage to take off, nothing to parse
            return [frame(ev.data, ev.event)]
        data = event_json(ev)
        if data is None or data.get("usage") is None:
            return [frame(ev.data, ev.event)]
        if not data.get("choices"):
            return []
        del data["usage"]
        return [frame(json.dumps(data, separators=(",", ":")), ev.event)]

    def finish(self) -> list[bytes]:
        return []


class OpenAIChatAdapter(Adapter):
    name = "openai"
    client_header_prefixes = ("openai-",)
    version_prefix = "/v1"
    paths = {"generate": "/v1/chat/completions"}

    def endpoint(self, path: str) -> str | None:
        return "generate" if path.split("?", 1)[0].rstrip("/").endswith("/chat/completions") else None

    head_fields = ("model", "stream", "stream_options", "max_tokens", "max_completion_tokens")

    def read_request(self, body: dict, path: str) -> tuple[str, bool]:
        model, stream = super().read_request(body, path)
        opts = body.get("stream_options")
        if opts is not None and not isinstance(opts, dict):
            raise CallError(400, "stream_options: must be an object")
        return model, stream

    def auth_headers(self, secret: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {secret}"}

    def with_usage_requested(self, body: dict) -> dict | None:
        # without include_usage OpenAI streams carry no usage at all: the call would cost "unknown"
        opts = body.get("stream_options")
        if not body.get("stream") or (isinstance(opts, dict) and opts.get("include_usage")):
            return None
        return dict(body, stream_options={**(opts if isinstance(opts, dict) else {}), "include_usage": True})

    def usage_request_spliced(self, raw: bytes, body: dict) -> bytes | None:
        """The client's own bytes with `stream_options` added at the end of its object, when it had
        none: the rest goes as sent, and no re-serialising. None: re-serialise (with_usage_requested)."""
        if "stream_options" in body:
            return None
        end = raw.rstrip()
        if not (end.endswith(b"}") and raw.lstrip().startswith(b"{")) or len(body) == 0:
            return None  # not UTF-8 JSON text ending its object here (a UTF-16 body), or {} (no comma)
        return end[:-1] + b',"stream_options":{"include_usage":true}}'

    def usage_hider(self) -> UsageHider:
        return UsageHider()

    def request_to_internal(self, body: dict, model: str) -> dict:
        from dario.pipeline.translate.requests import openai_to_anthropic_request
        return openai_to_anthropic_request(body, model)

    def request_from_internal(self, internal: dict, model: str) -> dict:
        from dario.pipeline.translate.requests import anthropic_to_openai_request
        return anthropic_to_openai_request(internal, model)

    def response_to_internal(self, body: dict, model: str) -> dict:
        from dario.pipeline.translate.responses import openai_to_anthropic_response
        return openai_to_anthropic_response(body, model)

    def response_from_internal(self, internal: dict, model: str, client_body: dict | None = None) -> dict:
        from dario.pipeline.translate.responses import anthropic_to_openai_response
        return anthropic_to_openai_response(internal, model)

    def stream_to_internal(self, model: str):
        from dario.pipeline.translate.streams import OpenAIToAnthropicStream
        return OpenAIToAnthropicStream(model)

    def stream_from_internal(self, model: str, client_body: dict):
        from dario.pipeline.translate.streams import AnthropicToOpenAIStream
        opts = client_body.get("stream_options")
        return AnthropicToOpenAIStream(model, bool(isinstance(opts, dict) and opts.get("include_usage")))

    def usage_from_wire(self, u: Any) -> Usage:
        return usage_from_wire(u)

    def auth_error(self, message: str) -> CallError:
        return CallError(401, message, etype="invalid_request_error", code="invalid_api_key")  # as OpenAI says it

    def budget_error(self, message: str) -> CallError:
        # what OpenAI says when the money is gone: 429 insufficient_quota, and no retry-after
        return CallError(429, message, etype="insufficient_quota", code="insufficient_quota",
                         headers={"x-should-retry": "false"})

    def meter(self) -> Meter:
        return Meter()

    def error_body(self, status: int, message: str, *, etype: str | None = None, code: str | None = None) -> dict:
        etype = etype or ERROR_TYPES.get(status) or ("server_error" if status >= 500 else "invalid_request_error")
        return {"error": {"message": redact(message), "type": etype, "param": None, "code": code}}


ADAPTER = OpenAIChatAdapter()
