"""The Call: one LLM API call (or other request to a provider host) as it flows through dario.

Ingress (the proxy app, the shim host) builds a CallContext, the engine makes a Call of it
and the stages fill it in: parse -> route -> translate request -> credentials -> send ->
answer -> finish. Every call ends in exactly one of: a response (`status` set, `error` None),
or an error (`error` set, with the status the client saw). `record()` derives the stored
CallRecord from the finished Call, in this one place.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dario.core import fastjson
from dario.core.ids import new_id
from dario.core.usage import Usage
from dario.pipeline.record import CallRecord

if TYPE_CHECKING:
    from dario.net.server import Request
    from dario.pipeline.routing import Route
    from dario.protocols.base import Adapter


@dataclass
class CallContext:
    """Who is calling and how this call may be steered (set by ingress)."""

    source: str = "proxy"  # "proxy" | "shim"
    run_id: str = ""
    pid: int | None = None
    client: str | None = None
    forced_model: str | None = None
    observe: bool = False  # change nothing, only record
    target: str | None = None  # shim: the original absolute URL
    run_tokens: tuple[str, ...] = ()  # dario's own tokens: never forwarded upstream
    door: str | None = None  # shim: how the call was caught ("in-process" | "https-proxy" | "fallback")


@dataclass(eq=False)
class Call:
    request: "Request"
    ctx: CallContext
    inbound: "Adapter | None"  # the client's protocol; None: not an LLM endpoint
    endpoint: str | None  # "generate" | "count_tokens" | None
    path: str  # the path the client meant (the target's, under the shim)
    query: str
    id: str = field(default_factory=new_id)
    ts: float = field(default_factory=time.time)
    t0: float = field(default_factory=time.perf_counter)
    # parse
    raw: bytes = b""
    head: dict | None = None  # the top-level fields the client's adapter reads to route it (`body` below)
    model_requested: str | None = None
    stream: bool = False
    conversation: str | None = None
    parent_call: str | None = None  # the earlier call this one extends (pipeline/sessions.py)
    subagents: str | None = None  # conversations found to be sub-agents spawned by parent_call
    # route
    route: "Route | None" = None
    outbound: "Adapter | None" = None  # the backend's protocol
    model: str | None = None  # as sent upstream
    url: str | None = None  # where it really goes
    payload: bytes | None = None  # the body as sent upstream
    # send
    key_id: str | None = None
    # answer
    status: int | None = None
    error: str | None = None  # redacted text; None on success
    usage: Usage = field(default_factory=Usage)
    ttft_ms: float | None = None
    latency_ms: float | None = None
    response_body: bytes | None = None
    response_headers: dict[str, str] | None = None
    cost_usd: float | None = None
    notes: dict[str, Any] = field(default_factory=dict)  # for hooks: their own per-call state

    _body = None  # not a field: `body` decodes it when first asked for

    @property
    def body(self) -> dict | None:
        """The request body decoded whole, when first asked for. The parse stage decodes only a long
        body's head (parse.py): a same-protocol call with its model unchanged goes upstream as the client's
        bytes and never needs the rest; translation, a renamed model and the cassette ask for it, and the
        conversation reads its turns from the bytes (`body_or_raw`)."""
        if self._body is None and self.head is not None:
            self._body = self.decode_whole()
        return self._body

    def decode_whole(self) -> Any:
        """The request's bytes decoded whole (fastjson.decode, raising as it does), noting a body that
        json.dumps would refuse to re-serialise (inf: adapt.py)."""
        body, exact = fastjson.decode(self.raw)
        if not exact:
            self.notes["json_inexact"] = True
        return body

    @body.setter
    def body(self, value: dict | None) -> None:
        self._body = value

    @property
    def body_or_raw(self) -> dict | bytes | None:
        """The body if it was decoded, else its bytes, for a reader that can take either (the conversation:
        pipeline/sessions.py reads a long history's new turns alone from its bytes)."""
        return self._body if self._body is not None else self.raw if self.head is not None else None

    @property
    def translated(self) -> bool:
        return self.outbound is not None and self.inbound is not None and self.outbound is not self.inbound

    @property
    def backend(self) -> str | None:
        return self.route.backend.name if self.route is not None else None

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.t0) * 1000

    def fail(self, status: int, message: str) -> None:
        self.status, self.error = status, message

    def record(self, *, capture: bool, cap: int) -> CallRecord:
        u = self.usage
        backend = self.backend
        if backend is None and self.ctx.target:
            from urllib.parse import urlsplit
            backend = f"passthrough:{urlsplit(self.ctx.target).netloc}"
        return CallRecord(
            id=self.id, ts=self.ts, run_id=self.ctx.run_id, pid=self.ctx.pid, source=self.ctx.source,
            client=self.ctx.client, backend=backend, model_requested=self.model_requested, model=self.model,
            protocol_in=self.inbound.name if self.inbound else None,
            protocol_out=self.outbound.name if self.outbound else None, stream=self.stream,
            status=self.status, input_tokens=u.input_tokens, output_tokens=u.output_tokens,
            cache_read_tokens=u.cache_read_tokens, cache_write_tokens=u.cache_write_tokens,
            reasoning_tokens=u.reasoning_tokens, cost_usd=self.cost_usd, latency_ms=self.latency_ms,
            ttft_ms=self.ttft_ms, error=self.error, method=self.request.method, path=self.path,
            conversation=self.conversation, key_id=self.key_id, replayed="replay" in self.notes, door=self.ctx.door,
            parent_call=self.parent_call, subagents=self.subagents,
            request_body=self.raw[:cap] if capture else None,
            response_body=self.response_body[:cap] if capture and self.response_body is not None else None)
