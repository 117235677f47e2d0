"""What the pipeline knows about one call, handed to whoever records it.

The engine derives a CallRecord from each finished Call (dario/core/call.py) and hands it
to the call hooks; the recorder hook passes it to a Recorder, which must not block: the
telemetry store queues it and writes off the hot path.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from dario.core.ids import new_id


@dataclass
class CallRecord:
    id: str = field(default_factory=new_id)
    ts: float = field(default_factory=time.time)  # unix seconds, call start
    run_id: str = ""
    pid: int | None = None  # the client process (shim) or None (proxy)
    source: str = "proxy"  # "shim" | "proxy"
    client: str | None = None  # argv[0] (shim) or user-agent (proxy)
    backend: str | None = None  # configured backend name, or "passthrough:<host>"
    model_requested: str | None = None  # model as the client sent it
    model: str | None = None  # model as sent upstream
    protocol_in: str | None = None  # "anthropic" | "openai" | None (not an LLM endpoint)
    protocol_out: str | None = None
    stream: bool = False
    status: int | None = None  # HTTP status the client saw
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None
    cost_usd: float | None = None
    latency_ms: float | None = None  # start -> last byte to the client
    ttft_ms: float | None = None  # start -> first content byte (streams) / full body
    error: str | None = None  # redacted error text, None on success
    # not columns of their own, but stored alongside (redacted, size-capped):
    method: str = "POST"
    path: str | None = None  # upstream path, e.g. /v1/messages
    conversation: str | None = None  # stable key from the first user message
    request_body: bytes | None = None
    response_body: bytes | None = None  # for streams: the SSE text as relayed
    key_id: str | None = None  # a non-secret fingerprint of the key used (pools)
    reasoning_tokens: int | None = None  # of output_tokens, how many were reasoning
    replayed: bool = False  # answered from a cassette (--replay): recorded usage, no cost
    door: str | None = None  # shim: how it was caught: "in-process" | "https-proxy" | "fallback"
    parent_call: str | None = None  # the earlier call this one extends: two with one parent are a fork
    subagents: str | None = None  # comma-separated conversations spawned by parent_call's tool calls

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Recorder(Protocol):
    def submit(self, record: CallRecord) -> None:
        """Take a finished record. Must return at once and never raise."""


class NullRecorder:
    def submit(self, record: CallRecord) -> None:  # pragma: no cover - trivial
        pass
