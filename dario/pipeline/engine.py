"""The one request path: route -> translate? -> credentials -> send -> stream back (metered) -> record.

Both `dario proxy` and the shim host hand every call to `Pipeline.handle`. When client and
backend speak the same protocol the body goes out as it came (only the model and the
credentials change) and the answer is relayed chunk by chunk as it arrives; SSE is parsed
from a copy for metering, never held back. Otherwise the translate package reshapes the
request, the answer and each stream event.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from dario.pipeline import protocol as proto
from dario.pipeline.backends import Backend, KeyUnavailable
from dario.pipeline.keys import LIMITED, KeyChoice, KeyPool, Limited
from dario.pipeline.limits import Limiter, LimitTimeout
from dario.pipeline.meter import StreamMeter, Usage, usage_from_body
from dario.pipeline.record import CallRecord, NullRecorder, Recorder
from dario.pipeline.routing import Route, Router, RoutingError
from dario.pipeline.sse import SSEParser
from dario.redact import redact, redact_bytes

# never forwarded upstream: hop-by-hop, framing, and what dario replaces
_DROP_REQ = frozenset({"host", "content-length", "transfer-encoding", "connection", "keep-alive",
                       "proxy-authorization", "proxy-connection", "te", "upgrade", "accept-encoding",
                       "x-api-key", "authorization", "trailer"})
_DROP_RESP = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive",
                        "content-encoding", "trailer", "upgrade"})
# provider-specific request headers that make no sense to the other protocol
_ANTHROPIC_ONLY = ("anthropic-", "x-stainless-helper")
_OPENAI_ONLY = ("openai-",)
ANTHROPIC_VERSION = "2023-06-01"
ERROR_BODY_CAP = 64 * 1024


class CallError(Exception):
    """A failure dario reports to the client itself, in the client's protocol."""

    def __init__(self, status: int, message: str, etype: str | None = None, headers: dict | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.etype = etype
        self.headers = headers or {}


@dataclass
class CallContext:
    """Who is calling and how this call may be steered."""

    source: str = "proxy"  # "proxy" | "shim"
    run_id: str = ""
    pid: int | None = None
    client: str | None = None
    forced_model: str | None = None
    observe: bool = False  # change nothing, only record
    target: str | None = None  # shim: the original absolute URL
    run_tokens: tuple[str, ...] = ()  # dario's own tokens: never forwarded upstream


class _Watchdog:
    """Closes the upstream response when no chunk arrived for `idle` seconds."""

    __slots__ = ("_loop", "_idle", "_resp", "_handle", "fired")

    def __init__(self, resp: aiohttp.ClientResponse, idle: float) -> None:
        self._loop = asyncio.get_running_loop()
        self._idle = idle
        self._resp = resp
        self._handle = None
        self.fired = False
        self.kick()

    def kick(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._handle = self._loop.call_later(self._idle, self._fire)

    def _fire(self) -> None:
        self.fired = True
        self._resp.close()

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()


class Pipeline:
    def __init__(self, backends: dict[str, Backend], *, default_backend: str | None = None,
                 aliases: dict[str, str] | None = None, recorder: Recorder | None = None,
                 timeouts: dict[str, float] | None = None, secrets: tuple[str, ...] = (),
                 capture_bodies: bool = True, body_cap: int = 262144, queue_timeout: float = 60.0,
                 limits: dict[str, dict] | None = None) -> None:
        self.router = Router(backends, default_backend, aliases)
        self.backends = backends
        self.pools = {name: KeyPool(b) for name, b in backends.items()}
        # how long a call may wait for a key with headroom (or a client-side limit) before its 429
        self.queue_timeout = max(0.0, float(queue_timeout))
        self.limiters = {name: lim for name, spec in (limits or {}).items() if name in backends
                         for lim in [Limiter(name, spec.get("rpm"), spec.get("max_concurrency"))] if lim.active}
        self.recorder = recorder or NullRecorder()
        t = timeouts or {}
        self.connect_timeout = float(t.get("connect", 10.0))
        self.first_byte_timeout = float(t.get("first_byte", 600.0))
        self.idle_timeout = float(t.get("idle", 300.0))
        self.secrets = tuple(secrets)
        self.capture = capture_bodies
        self.body_cap = body_cap
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def from_config(cls, cfg, recorder: Recorder | None = None, extra_secrets: tuple[str, ...] = (),
                    **kw) -> "Pipeline":
        return cls(cfg.backends, default_backend=cfg.default_backend, aliases=cfg.aliases, **kw,
                   recorder=recorder, timeouts=cfg.timeouts,
                   secrets=tuple(cfg.secret_values()) + tuple(extra_secrets),
                   capture_bodies=bool(cfg.telemetry.get("capture_bodies", True)),
                   body_cap=int(cfg.telemetry.get("body_cap_bytes", 262144)),
                   limits=getattr(cfg, "limits", None))

    # -- lifecycle -----------------------------------------------------------
    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # one pooled session for every upstream; bodies come back decoded
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, enable_cleanup_closed=True),
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=self.connect_timeout),
                auto_decompress=True, skip_auto_headers=("User-Agent",))
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _redact(self, text: str) -> str:
        return redact(text, self.secrets)

    # -- routing ---------------------------------------------------------------
    def route(self, model: str, ctx: CallContext, protocol_in: str) -> Route:
        """The configured route, or (shim) a passthrough to the original host."""
        if ctx.observe:
            return self._passthrough(ctx, protocol_in)
        try:
            return self.router.resolve(ctx.forced_model or model)
        except RoutingError:
            if ctx.target and not ctx.forced_model:
                return self._passthrough(ctx, protocol_in)
            raise

    def _passthrough(self, ctx: CallContext, protocol_in: str) -> Route:
        parts = urlsplit(ctx.target or "")
        backend = Backend(f"passthrough:{parts.netloc}", protocol_in, f"{parts.scheme}://{parts.netloc}")
        return Route(backend, "")  # model "" = leave the body's model as it is

    # -- the request path --------------------------------------------------------
    async def handle(self, request: web.Request, ctx: CallContext, protocol_in: str | None) -> web.StreamResponse:
        """Serve one call. `protocol_in` None: not an LLM endpoint (shim passthrough of other paths)."""
        rec = CallRecord(run_id=ctx.run_id, source=ctx.source, pid=ctx.pid, client=ctx.client,
                         protocol_in=protocol_in, method=request.method,
                         path=urlsplit(ctx.target).path if ctx.target else request.path)
        t0 = time.perf_counter()
        err_proto = protocol_in or proto.ANTHROPIC
        try:
            raw = await request.read()
            if self.capture:
                rec.request_body = raw[: self.body_cap]
            if protocol_in is None:
                return await self._relay_other(request, ctx, raw, rec, t0)
            return await self._llm_call(request, ctx, protocol_in, raw, rec, t0)
        except CallError as e:
            rec.status, rec.error = e.status, self._redact(str(e))
            return web.Response(status=e.status, body=proto.error_bytes(err_proto, e.status, rec.error,
                                                                       etype=e.etype),
                                content_type="application/json", headers={**e.headers, "x-dario-error": "1"})
        except asyncio.CancelledError:  # the client went away while we waited upstream
            rec.status, rec.error = 499, "client disconnected"
            raise
        finally:
            if rec.latency_ms is None:
                rec.latency_ms = (time.perf_counter() - t0) * 1000
            if ctx.target:
                rec.backend = rec.backend or f"passthrough:{urlsplit(ctx.target).netloc}"
            self.recorder.submit(rec)

    async def _llm_call(self, request: web.Request, ctx: CallContext, protocol_in: str, raw: bytes,
                        rec: CallRecord, t0: float) -> web.StreamResponse:
        try:
            body = json.loads(raw) if raw else None
        except ValueError as e:
            raise CallError(400, f"request body is not valid JSON: {e}") from None
        if not isinstance(body, dict):
            raise CallError(400, "request body must be a JSON object")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise CallError(400, "model: a non-empty string is required")
        rec.model_requested = model
        rec.stream = bool(body.get("stream"))
        rec.conversation = _conversation(protocol_in, body)

        try:
            route = self.route(model, ctx, protocol_in)
        except RoutingError as e:
            raise CallError(404, str(e), etype="not_found_error" if protocol_in == "anthropic" else None) from None
        backend = route.backend
        protocol_out = backend.kind
        rec.backend, rec.protocol_out = backend.name, protocol_out
        upstream_model = route.model or model
        rec.model = upstream_model
        path = urlsplit(ctx.target).path if ctx.target else request.path
        count_tokens = path.rstrip("/").endswith("/count_tokens")

        if protocol_in == protocol_out:
            if upstream_model != model:
                body["model"] = upstream_model
                payload = json.dumps(body).encode()
            else:
                payload = raw  # nothing to change: the body goes out byte for byte
        elif count_tokens:
            return self._estimate_tokens(body, rec, t0)
        else:
            payload = json.dumps(self._translate_request(protocol_in, body, upstream_model)).encode()

        if route.model == "":  # passthrough: the original URL exactly
            url = ctx.target
        else:
            url = backend.url_for(protocol_out, path)
            query = urlsplit(ctx.target).query if ctx.target else request.query_string
            if query and protocol_in == protocol_out:
                url += "?" + query
        pool = self.pools.get(backend.name)
        limiter = self.limiters.get(backend.name)
        deadline = time.monotonic() + self.queue_timeout
        if limiter is None:
            return await self._send(request, ctx, rec, t0, url, payload, protocol_in, protocol_out,
                                    upstream_model, pool, body, None, deadline)
        try:
            await limiter.enter(deadline)  # a concurrency slot, held until the answer is fully relayed
        except LimitTimeout as e:
            raise CallError(429, str(e), headers={"retry-after": str(max(1, round(e.retry_after)))}) from None
        try:
            return await self._send(request, ctx, rec, t0, url, payload, protocol_in, protocol_out,
                                    upstream_model, pool, body, limiter, deadline)
        finally:
            limiter.leave()

    def _translate_request(self, protocol_in: str, body: dict, model: str) -> dict:
        from dario.pipeline.translate import TranslationError
        from dario.pipeline.translate import requests as treq
        try:
            if protocol_in == proto.ANTHROPIC:
                return treq.anthropic_to_openai_request(body, model)
            return treq.openai_to_anthropic_request(body, model)
        except TranslationError as e:
            raise CallError(400, f"cannot translate this request: {e}") from None

    def _estimate_tokens(self, body: dict, rec: CallRecord, t0: float) -> web.Response:
        # OpenAI-compatible backends have no count_tokens; a rough estimate keeps clients
        # that call it working, and the header says it is one.
        n = max(1, len(json.dumps(body.get("messages", ""))) // 4 + len(json.dumps(body.get("system", ""))) // 4)
        rec.status = 200
        rec.latency_ms = (time.perf_counter() - t0) * 1000
        return web.json_response({"input_tokens": n}, headers={"x-dario-estimate": "chars/4"})

    def _upstream_headers(self, request: web.Request, ctx: CallContext, protocol_in: str, protocol_out: str,
                          choice: KeyChoice | None) -> dict[str, str]:
        headers: dict[str, str] = {}
        for k, v in request.headers.items():
            lk = k.lower()
            if lk in _DROP_REQ or lk.startswith("x-dario-"):
                continue
            if protocol_in != protocol_out and lk.startswith(_ANTHROPIC_ONLY if protocol_in == "anthropic"
                                                            else _OPENAI_ONLY):
                continue
            headers[k] = v
        if choice is not None:
            if protocol_out == proto.ANTHROPIC:
                headers["x-api-key"] = choice.secret
            else:
                headers["Authorization"] = f"Bearer {choice.secret}"
        else:
            # no key of dario's: the client's own credentials go through, never a dario token
            for name in ("x-api-key", "authorization"):
                v = request.headers.get(name)
                if v and not any(t and t in v for t in ctx.run_tokens):
                    headers[name] = v
        if protocol_out == proto.ANTHROPIC and not any(k.lower() == "anthropic-version" for k in headers):
            headers["anthropic-version"] = ANTHROPIC_VERSION
        headers["Content-Type"] = "application/json"
        return headers

    async def _upstream(self, request, ctx, rec, url, payload, protocol_in, protocol_out, pool, limiter,
                        deadline) -> aiohttp.ClientResponse | Limited:
        """The upstream answer to relay, or the provider's own 429/529 once no key has headroom in time.

        A 429/529 on a pooled key arrives before any byte went to the client, so the call is
        retried at once on another key; when every key is cooling it waits for the soonest
        reset, up to the deadline.
        """
        pooled = pool is not None and len(pool) > 0
        while True:
            choice = None
            if pooled:
                try:
                    choice = pool.pick(rec.conversation)
                except KeyUnavailable as e:
                    raise CallError(500, f"dario: backend {rec.backend!r}: {e}") from None
                if choice is None:  # every key cooling
                    wait = pool.ready_in()
                    if time.monotonic() + wait > deadline:
                        return self._limited(pool, protocol_out)
                    await asyncio.sleep(wait)
                    continue
            rec.key_id = choice.key_id if choice else None
            headers = self._upstream_headers(request, ctx, protocol_in, protocol_out, choice)
            try:
                if limiter is not None:
                    await limiter.tick(deadline)
                up = await _within(
                    self.session.request(request.method, url, data=payload, headers=headers, allow_redirects=False),
                    self.first_byte_timeout)
            except BaseException as e:  # no answer: the key has no call in flight any more
                if pooled:
                    pool.release(choice)
                err = self._send_failure(e, rec.backend)
                if err is None:
                    raise  # cancelled: the client left
                raise err from None
            if not pooled:
                return up
            pool.observe(choice, up.status, up.headers)
            if up.status not in LIMITED:
                return up
            # the key cools down; keep the provider's answer for when every key stays cooling
            try:
                data = redact_bytes(await up.content.read(ERROR_BODY_CAP), self.secrets)
            except aiohttp.ClientError:
                data = b""
            finally:
                up.close()
            pool.last_limited = Limited(up.status, {k: v for k, v in up.headers.items()
                                                    if k.lower() not in _DROP_RESP}, data)

    def _send_failure(self, e: BaseException, backend: str | None) -> CallError | None:
        if isinstance(e, LimitTimeout):
            return CallError(429, str(e), headers={"retry-after": str(max(1, round(e.retry_after)))})
        if isinstance(e, aiohttp.ConnectionTimeoutError):
            return CallError(504, f"dario: upstream {backend} did not accept a connection within "
                                  f"{self.connect_timeout:g}s")
        if isinstance(e, asyncio.TimeoutError):
            return CallError(504, f"dario: upstream {backend} sent no response within {self.first_byte_timeout:g}s")
        if isinstance(e, aiohttp.ClientError):
            return CallError(502, f"dario: cannot reach upstream {backend}: {e}")
        return None

    def _limited(self, pool: KeyPool, protocol_out: str) -> Limited:
        last = pool.last_limited or Limited(429, {"Content-Type": "application/json"}, proto.error_bytes(
            protocol_out, 429, f"dario: every key of backend {pool.backend.name!r} is rate-limited"))
        headers = {k: v for k, v in last.headers.items() if k.lower() != "retry-after"}
        headers["retry-after"] = str(pool.retry_after())  # the soonest reset among the keys
        return Limited(last.status, headers, last.body)

    async def _send(self, request, ctx, rec, t0, url, payload, protocol_in, protocol_out, model, pool, body,
                    limiter=None, deadline=None) -> web.StreamResponse:
        translate = protocol_in != protocol_out
        got = await self._upstream(request, ctx, rec, url, payload, protocol_in, protocol_out, pool, limiter,
                                   time.monotonic() + self.queue_timeout if deadline is None else deadline)
        if isinstance(got, Limited):
            return self._error_data_answer(got.status, got.body, rec, t0, dict(got.headers), protocol_in,
                                           protocol_out)
        up = got
        try:
            rec.status = up.status
            out_headers = {k: v for k, v in up.headers.items() if k.lower() not in _DROP_RESP}
            if up.status >= 400:
                return await self._error_answer(up, rec, t0, out_headers, protocol_in, protocol_out)
            ctype = up.headers.get("content-type", "")
            if ctype.startswith("text/event-stream"):
                return await self._stream_answer(request, up, rec, t0, out_headers, protocol_in, protocol_out,
                                                 model, body)
            data = await up.read()
            rec.ttft_ms = (time.perf_counter() - t0) * 1000
            if ctype.startswith("application/json"):
                try:
                    parsed = json.loads(data)
                except ValueError:
                    parsed = None
                if isinstance(parsed, dict):
                    _set_usage(rec, usage_from_body(protocol_out, parsed))
                    if translate:
                        data = json.dumps(self._translate_response(protocol_in, parsed, rec.model_requested)).encode()
            if self.capture:
                rec.response_body = data[: self.body_cap]
            rec.latency_ms = (time.perf_counter() - t0) * 1000
            return web.Response(status=up.status, body=data, headers=out_headers)
        except aiohttp.ClientError as e:
            raise CallError(502, f"dario: upstream {rec.backend} failed: {e}") from None
        finally:
            up.close()  # on every path: a client that left must not keep the upstream busy

    def _translate_response(self, protocol_in: str, parsed: dict, model: str) -> dict:
        from dario.pipeline.translate import responses as tresp
        if protocol_in == proto.ANTHROPIC:
            return tresp.openai_to_anthropic_response(parsed, model)
        return tresp.anthropic_to_openai_response(parsed, model)

    async def _error_answer(self, up, rec, t0, out_headers, protocol_in, protocol_out) -> web.Response:
        # an upstream may echo the key it was sent: the client must never see dario's keys
        data = redact_bytes(await up.content.read(ERROR_BODY_CAP), self.secrets)
        return self._error_data_answer(up.status, data, rec, t0, out_headers, protocol_in, protocol_out)

    def _error_data_answer(self, status, data, rec, t0, out_headers, protocol_in, protocol_out) -> web.Response:
        rec.status = status
        rec.error = data.decode("utf-8", "replace")[:2000]
        if protocol_in != protocol_out:
            from dario.pipeline.translate import responses as tresp
            data = tresp.translate_error(data, status, protocol_out, protocol_in)
            out_headers = {k: v for k, v in out_headers.items() if k.lower() != "content-type"}
            out_headers["Content-Type"] = "application/json"
        if self.capture:
            rec.response_body = data[: self.body_cap]
        rec.latency_ms = (time.perf_counter() - t0) * 1000
        return web.Response(status=status, body=data, headers=out_headers)

    async def _stream_answer(self, request, up, rec, t0, out_headers, protocol_in, protocol_out, model,
                             body) -> web.StreamResponse:
        translator = None
        if protocol_in != protocol_out:
            from dario.pipeline.translate import streams as tstream
            if protocol_in == proto.ANTHROPIC:
                translator = tstream.OpenAIToAnthropicStream(rec.model_requested)
            else:
                include = bool((body.get("stream_options") or {}).get("include_usage"))
                translator = tstream.AnthropicToOpenAIStream(rec.model_requested, include)
        resp = web.StreamResponse(status=up.status, headers=out_headers)
        await resp.prepare(request)
        parser, meter = SSEParser(), StreamMeter(protocol_out)
        cap = self.body_cap if self.capture else 0
        captured = bytearray()

        async def send(data: bytes) -> None:
            if not data:
                return
            try:
                await resp.write(data)
            except ConnectionResetError as e:  # the client left: stop reading upstream
                raise _ClientGone() from e
            if len(captured) < cap:
                captured.extend(data[: cap - len(captured)])

        dog = _Watchdog(up, self.idle_timeout)
        try:
            async for chunk in up.content.iter_any():
                dog.kick()
                if translator is None:
                    await send(chunk)  # relay first, then look
                    for ev in parser.feed(chunk):
                        meter.feed(ev)
                else:
                    out = []
                    for ev in parser.feed(chunk):
                        meter.feed(ev)
                        out.extend(translator.feed(ev))
                    await send(b"".join(out))
                if rec.ttft_ms is None and meter.content_started:
                    rec.ttft_ms = (time.perf_counter() - t0) * 1000
            for ev in parser.flush():
                meter.feed(ev)
                if translator is not None:
                    await send(b"".join(translator.feed(ev)))
            if not meter.finished and not meter.error:
                raise aiohttp.ClientPayloadError("the stream ended before its final event")
            if translator is not None:
                await send(b"".join(translator.finish()))
            if meter.error:
                rec.error = self._redact(meter.error)
            await resp.write_eof()
        except _ClientGone:
            rec.status, rec.error = 499, "client disconnected"
        except (aiohttp.ClientError, asyncio.TimeoutError) as e:
            why = (f"upstream idle for {self.idle_timeout:g}s" if dog.fired
                   else f"upstream stream broke: {e or type(e).__name__}")
            rec.status, rec.error = 502, self._redact(f"dario: {why}")
            try:  # end the stream the way the client's protocol reports errors
                await resp.write(proto.sse_error_event(protocol_in, 502, rec.error))
                await resp.write_eof()
            except ConnectionResetError:
                pass
        finally:
            dog.stop()
            _set_usage(rec, meter.usage)  # the backend's own count, whatever the client's protocol
            if cap:
                rec.response_body = bytes(captured)
            rec.latency_ms = (time.perf_counter() - t0) * 1000
        return resp

    async def _relay_other(self, request, ctx, raw, rec, t0) -> web.StreamResponse:
        """Shim: a call to an intercepted host that is not a chat endpoint (models, files, batches...).

        When dario holds a key for that provider the call goes to its backend with that key (the
        child may hold only the run token); otherwise, or with --observe, it goes through untouched.
        """
        target = urlsplit(ctx.target)
        backend = None if ctx.observe else self.router.for_host(target.netloc)
        choice = None
        if backend is not None and backend.keys:
            try:
                choice = self.pools[backend.name].pick(None)
            except KeyUnavailable:
                choice = None
        url = ctx.target
        if choice is not None:
            path = target.path
            if backend.kind == "openai" and path.startswith("/v1/"):
                path = path[3:]  # an openai-kind base URL carries its own version prefix
            url = backend.base_url.rstrip("/") + path + (f"?{target.query}" if target.query else "")
            rec.backend, rec.key_id = backend.name, choice.key_id
        else:
            rec.backend = f"passthrough:{target.netloc}"
        kind = backend.kind if choice is not None else "other"
        headers = self._upstream_headers(request, ctx, kind, kind, choice)
        headers.pop("Content-Type", None)
        if "content-type" in request.headers:
            headers["Content-Type"] = request.headers["content-type"]
        try:
            up = await asyncio.wait_for(self.session.request(request.method, url, data=raw or None,
                                                             headers=headers, allow_redirects=False),
                                        self.first_byte_timeout)
        except (aiohttp.ClientError, asyncio.TimeoutError) as e:
            if choice is not None:
                self.pools[backend.name].release(choice)
            raise CallError(502, f"dario: cannot reach {rec.backend}: {e or type(e).__name__}") from None
        if choice is not None:  # rate-limit headers of any endpoint count for the key
            self.pools[backend.name].observe(choice, up.status, up.headers)
        try:
            rec.status = up.status
            resp = web.StreamResponse(status=up.status,
                                      headers={k: v for k, v in up.headers.items() if k.lower() not in _DROP_RESP})
            await resp.prepare(request)
            async for chunk in up.content.iter_any():
                await resp.write(chunk)
            await resp.write_eof()
            rec.latency_ms = (time.perf_counter() - t0) * 1000
            return resp
        finally:
            up.close()


class _ClientGone(Exception):
    pass


_TIMEOUT = getattr(asyncio, "timeout", None)


async def _within(coro, seconds: float):
    """`asyncio.wait_for`, minus the extra Task per call it makes before Python 3.12 (bench/profile.py)."""
    if _TIMEOUT is None:
        return await asyncio.wait_for(coro, seconds)
    async with _TIMEOUT(seconds):
        return await coro


def _set_usage(rec: CallRecord, u: Usage) -> None:
    rec.input_tokens, rec.output_tokens = u.input_tokens, u.output_tokens
    rec.cache_read_tokens, rec.cache_write_tokens = u.cache_read_tokens, u.cache_write_tokens


def _conversation(protocol: str, body: dict) -> str | None:
    try:
        from dario.pipeline.sessions import conversation_key
    except ImportError:  # telemetry sessions not installed yet
        return None
    try:
        return conversation_key(protocol, body)
    except Exception:
        return None
