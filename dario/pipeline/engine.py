"""The one request path. Every call, from `dario proxy` or the shim host, is a Call that
flows through the same stages (docs/architecture.md, "One call, end to end"):

    parse -> route -> translate request -> credentials + send -> answer -> finish

Each stage is its own module: parse.py, routing.py (route_call), adapt.py, credentials.py
and send.py, answer.py; hooks.py is what watches calls. A request to a provider host that
is not an LLM endpoint takes the same stages with nothing to parse or translate.
"""

from __future__ import annotations

import asyncio
import logging
import time
from urllib.parse import urlsplit

from dario.net import server as web

from dario.core.call import Call, CallContext
from dario.core.defaults import CAPTURE_CAP, QUEUE_TIMEOUT, TIMEOUTS
from dario.core.errors import CallError
from dario.pipeline import adapt, answer, parse
from dario.pipeline.backends import Backend
from dario.pipeline.hooks import Hooks, RecorderHook
from dario.pipeline.keys import KeyPool, Limited
from dario.pipeline.limits import Limiter, LimitTimeout
from dario.pipeline.record import Recorder
from dario.pipeline.routing import Router, route_call
from dario.pipeline.send import send
from dario.pipeline.upstream import Upstream
from dario.protocols import adapter, for_path
from dario.redact import redact
from dario.store.pricing import cost_of

__all__ = ["Pipeline", "CallContext", "CallError"]
log = logging.getLogger("dario.engine")


class Pipeline:
    def __init__(self, backends: dict[str, Backend], *, default_backend: str | None = None,
                 aliases: dict[str, str] | None = None, recorder: Recorder | None = None,
                 hooks: list | None = None, timeouts: dict[str, float] | None = None,
                 secrets: tuple[str, ...] = (), capture_bodies: bool = True, body_cap: int = CAPTURE_CAP,
                 queue_timeout: float = QUEUE_TIMEOUT, limits: dict[str, dict] | None = None,
                 prices: dict | None = None, upstream: Upstream | None = None, budget=None,
                 cassette=None) -> None:
        self.router = Router(backends, default_backend, aliases)
        self.backends = backends
        self.pools = {name: KeyPool(b) for name, b in backends.items()}
        self.queue_timeout = max(0.0, float(queue_timeout))
        self.limiters = {name: lim for name, spec in (limits or {}).items() if name in backends
                         for lim in [Limiter(name, spec.get("rpm"), spec.get("max_concurrency"))] if lim.active}
        t = {**TIMEOUTS, **(timeouts or {})}
        self.upstream = upstream or Upstream(t)
        self.body_timeout = float(t["client_body"])
        self.keepalive = float(t["keepalive"])
        self.secrets = tuple(s for s in secrets if s)
        self.capture = capture_bodies
        self.body_cap = int(body_cap)
        self.prices = dict(prices or {})
        self.budget = budget  # dario/pipeline/budget.py, or None: no caps
        self.cassette = cassette  # dario/cassette/replay.Cassette (--record / --replay), or None
        from dario.pipeline.sessions import Conversations
        self.conversations = Conversations()
        self.hooks = Hooks(([RecorderHook(recorder)] if recorder is not None else []) + list(hooks or ()))

    @classmethod
    def from_config(cls, cfg, recorder: Recorder | None = None, extra_secrets: tuple[str, ...] = (),
                    **kw) -> "Pipeline":
        return cls(cfg.backends, default_backend=cfg.default_backend, aliases=cfg.aliases, **kw,
                   recorder=recorder, timeouts=cfg.timeouts,
                   secrets=tuple(cfg.secret_values()) + tuple(extra_secrets),
                   capture_bodies=bool(cfg.telemetry.get("capture_bodies", True)),
                   body_cap=int(cfg.telemetry.get("body_cap_bytes") or CAPTURE_CAP),
                   limits=getattr(cfg, "limits", None), prices=getattr(cfg, "prices", None))

    async def close(self) -> None:
        await self.upstream.close()

    # -- the request path --------------------------------------------------------
    def new_call(self, request: web.Request, ctx: CallContext, protocol_in: str | None) -> Call:
        """`protocol_in` None: not an LLM endpoint (the shim's other requests to a provider host)."""
        path = urlsplit(ctx.target).path if ctx.target else request.path
        query = urlsplit(ctx.target).query if ctx.target else request.query_string
        inbound = adapter(protocol_in) if protocol_in else None
        found = for_path(path) if inbound else None
        endpoint = found[1] if found and found[0] is inbound else ("generate" if inbound else None)
        return Call(request, ctx, inbound, endpoint, path, query)

    async def handle(self, request: web.Request, ctx: CallContext, protocol_in: str | None) -> web.StreamResponse:
        """The call's answer. Its record is made once the client has it (the server runs `after`):
        bookkeeping that can wait is not paid for in the call's latency."""
        call = self.new_call(request, ctx, protocol_in)
        try:
            resp = await self._handle(call)
        except BaseException:
            self._finish(call)
            raise
        resp.after = lambda: self._finish(call)
        return resp

    async def _handle(self, call: Call) -> web.StreamResponse:
        try:
            await parse.read_body(call, self.body_timeout)
            if call.inbound is not None:
                parse.parse(call)
            if not self._replayed(call):
                route_call(self.router, call)
            if call.inbound is not None and len(self.pools.get(call.backend) or ()) > 1:
                parse.conversation(call, self.conversations)  # now: the key pool keeps a conversation on one key
            self.hooks.start(call)
            adapt.request_payload(call)
            if self.budget is not None and "replay" not in call.notes:
                self.budget.reserve(call)  # refused here, before it leaves, if a cap could be exceeded
            if call.url is None:
                return self._estimate_tokens(call)
            return await self._send_and_answer(call)
        except CallError as e:
            return answer.dario_error(call, e, self.secrets)
        except asyncio.CancelledError:  # the client went away while we waited upstream
            if not call.notes.get("delivered"):
                call.fail(499, "client disconnected")
            raise
        except ConnectionResetError:  # the client went away while we wrote to it
            if not call.notes.get("delivered"):
                call.fail(499, "client disconnected")
            return web.Response(status=499)
        except Exception as e:  # a dario bug: still an answer in the client's shape, and a row
            log.error("dario: internal error on %s %s", call.request.method, call.path, exc_info=True)
            return answer.dario_error(call, CallError(500, f"dario: internal error ({type(e).__name__})"), ())

    def _replayed(self, call: Call) -> bool:
        """--replay: the cassette routes a call it holds (and will answer it); False: route it live."""
        if self.cassette is None or not self.cassette.replaying:
            return False
        if call.inbound is None:
            if self.cassette.on_miss == "error":  # no network in a replay: nothing else is answered
                raise CallError(404, f"dario: replaying {self.cassette.path}: {call.request.method} {call.path} "
                                     "is not an LLM call, and only those are recorded")
            return False
        return self.cassette.answer(call)

    async def _replay(self, call: Call) -> web.StreamResponse:
        got = self.cassette.response(call)
        call.status = got.status
        self.hooks.headers(call)
        return await answer.answer(call, got, self.secrets, self.body_cap if self.capture else 0, self.keepalive)

    async def _send_and_answer(self, call: Call) -> web.StreamResponse:
        if "replay" in call.notes:
            return await self._replay(call)
        name = call.backend
        limiter = self.limiters.get(name)
        deadline = time.monotonic() + self.queue_timeout
        if limiter is not None:
            try:
                await limiter.enter(deadline)  # a concurrency slot, held until the answer is fully relayed
            except LimitTimeout as e:
                raise self.upstream.error(e, name) from None
        try:
            got = await send(call, self.upstream, self.pools.get(name), limiter, deadline, self.secrets)
            if isinstance(got, Limited):
                return answer.error_answer(call, got.status, got.body, dict(got.headers))
            if self.cassette is not None and self.cassette.records and call.inbound is not None:
                from dario.cassette.replay import Tape
                got = call.notes["tape"] = Tape(got, call.t0)
            try:
                call.status = got.status
                self.hooks.headers(call)
                return await answer.answer(call, got, self.secrets, self.body_cap if self.capture else 0,
                                           self.keepalive)
            except CallError:
                raise
            except Exception as e:
                err = self.upstream.error(e, name, during="answer")
                if err is None:
                    raise
                raise err from None
            finally:
                got.close()  # on every path: a client that left must not keep the upstream busy
        finally:
            if limiter is not None:
                limiter.leave()

    def _estimate_tokens(self, call: Call) -> web.Response:
        # the backend's protocol has no count_tokens: a rough estimate keeps clients that call it
        # working, and the header says it is one.
        import json
        n = max(1, len(json.dumps(call.body or {})) // 4)
        call.status = 200
        return web.json_response(call.inbound.count_tokens_answer(n), headers={"x-dario-estimate": "chars/4"})

    def _finish(self, call: Call) -> None:
        try:
            self._record(call)
        except Exception:  # recording must never break the answer the client already has
            log.error("dario: could not finish the record of %s %s", call.request.method, call.path, exc_info=True)

    def _record(self, call: Call) -> None:
        if call.latency_ms is None:
            call.latency_ms = call.elapsed_ms()
        if call.inbound is not None and call.head is not None:  # parsed: a request body (maybe not decoded)
            parse.conversation(call, self.conversations)  # if the send stage did not need it first
        answer.settle_usage(call)
        if call.error is not None:
            call.error = redact(call.error, self.secrets)
        if call.inbound is not None and call.cost_usd is None:
            call.cost_usd = cost_of(call.model or call.model_requested, call.usage, self.prices)
        if self.budget is not None:
            self.budget.settle(call)
        if "tape" in call.notes and call.status != 499:
            self.cassette.write(call, call.notes["tape"])
        self.hooks.finish(call, call.record(capture=self.capture, cap=self.body_cap))
