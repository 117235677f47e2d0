"""`dario proxy`: the pipeline served over HTTP for tools that can't be shimmed."""

from __future__ import annotations

import asyncio
import hmac
import time

import aiohttp
from aiohttp import web

from dario import __version__
from dario.pipeline import protocol as proto
from dario.core.call import CallContext
from dario.core.defaults import MAX_REQUEST_BODY as MAX_BODY
from dario.pipeline.backends import Backend, KeyUnavailable, resolve_key
from dario.pipeline.credentials import backend_headers
from dario.pipeline.engine import Pipeline
from dario.proxy.security import BrowserGuard
PIPELINE = web.AppKey("pipeline", Pipeline)
CONTEXT = web.AppKey("context", CallContext)
API_KEY = web.AppKey("api_key", str)
GUARD = web.AppKey("guard", BrowserGuard)
HOME = web.AppKey("home", str)


def _guess_protocol(request: web.Request) -> str:
    p = proto.protocol_for_path(request.path)
    if p:
        return p
    if "x-goog-api-key" in request.headers or "key" in request.query:
        return proto.GEMINI
    if "/chat/" in request.path or request.headers.get("authorization", "").lower().startswith("bearer"):
        return proto.OPENAI
    return proto.ANTHROPIC


def export_lines(host: str, port: int, gated: bool) -> list[str]:
    """What a user pastes to point clients at this proxy."""
    h = f"[{host}]" if ":" in host else host
    lines = [f"export ANTHROPIC_BASE_URL=http://{h}:{port}", f"export OPENAI_BASE_URL=http://{h}:{port}/v1",
             f"export GOOGLE_GEMINI_BASE_URL=http://{h}:{port}"]
    if gated:  # the clients' key is the gate key (named, never printed)
        lines += ['export ANTHROPIC_API_KEY="$DARIO_API_KEY"', 'export OPENAI_API_KEY="$DARIO_API_KEY"',
                  'export GEMINI_API_KEY="$DARIO_API_KEY"']
    return lines


def _error(request: web.Request, status: int, message: str, **headers) -> web.Response:
    return web.Response(status=status, body=proto.error_bytes(_guess_protocol(request), status, message),
                        content_type="application/json", headers=headers)


def _client_key(request: web.Request) -> str:
    """The credential a client sent, in any protocol's place for it (Gemini's: x-goog-api-key, ?key=)."""
    key = request.headers.get("x-api-key", "") or request.headers.get("x-goog-api-key", "")
    auth = request.headers.get("authorization", "")
    if not key and auth.lower().startswith("bearer "):
        key = auth[7:].strip()
    return key or request.query.get("key", "")


@web.middleware
async def _guard(request: web.Request, handler):
    """Auth for everything but /health (or, keyless, the browser rules), and every HTTP error
    in the caller's protocol's shape."""
    expected = request.app[API_KEY]
    if expected and request.path != "/health":
        if not hmac.compare_digest(_client_key(request).encode(), expected.encode()):
            return _error(request, 401, "dario: a valid DARIO_API_KEY is required "
                                        "(x-api-key, Authorization: Bearer, or x-goog-api-key)")
    elif not expected:
        refused = request.app[GUARD].refusal(request.method, request.headers,
                                             proto.protocol_for_path(request.path) is not None)
        if refused:
            return _error(request, *refused)
    try:
        return await handler(request)
    except web.HTTPException as e:
        if e.status < 400:
            raise
        msgs = {404: f"dario: no such endpoint {request.method} {request.path}",
                405: f"dario: method {request.method} not allowed on {request.path}",
                413: f"dario: request body larger than {MAX_BODY // (1024 * 1024)} MiB"}
        return _error(request, e.status, msgs.get(e.status, e.reason or "error"))


def _ctx(request: web.Request) -> CallContext:
    base = request.app[CONTEXT]
    return CallContext(source="proxy", run_id=base.run_id, client=request.headers.get("user-agent"),
                       forced_model=base.forced_model, run_tokens=base.run_tokens)


async def _messages(request: web.Request) -> web.StreamResponse:
    return await request.app[PIPELINE].handle(request, _ctx(request), proto.ANTHROPIC)


async def _chat(request: web.Request) -> web.StreamResponse:
    return await request.app[PIPELINE].handle(request, _ctx(request), proto.OPENAI)


async def _responses(request: web.Request) -> web.StreamResponse:
    return await request.app[PIPELINE].handle(request, _ctx(request), proto.RESPONSES)


async def _gemini(request: web.Request) -> web.StreamResponse:
    if proto.protocol_for_path(request.path) != proto.GEMINI:
        raise web.HTTPNotFound()
    return await request.app[PIPELINE].handle(request, _ctx(request), proto.GEMINI)


async def _health(request: web.Request) -> web.Response:
    pipeline = request.app[PIPELINE]
    return web.json_response({"status": "ok", "version": __version__,
                              "backends": sorted(pipeline.backends), "gate": bool(request.app[API_KEY]),
                              "home": request.app[HOME]})


async def _backend_models(session: aiohttp.ClientSession, b: Backend) -> list[str]:
    if b.models:
        return list(b.models)
    try:
        key = resolve_key(b.keys[0]) if b.keys else None
    except KeyUnavailable:
        key = None
    headers = backend_headers(b, key)
    try:
        async with session.get(b.models_url(), headers=headers,
                               timeout=aiohttp.ClientTimeout(total=3)) as r:
            if r.status != 200:
                return []
            return b.adapter.model_ids(await r.json(content_type=None))
    except (aiohttp.ClientError, asyncio.TimeoutError, ValueError, AttributeError):
        return []  # a backend that doesn't answer just contributes no models


async def _models(request: web.Request) -> web.Response:
    """Every configured backend's models (as NAME:model, so they route), plus aliases."""
    pipeline = request.app[PIPELINE]
    backends = list(pipeline.backends.values())
    lists = await asyncio.gather(*(_backend_models(pipeline.session, b) for b in backends))
    ids = [f"{b.name}:{m}" for b, models in zip(backends, lists) for m in models]
    ids += sorted(pipeline.router.aliases)
    now = int(time.time())
    if "anthropic-version" in request.headers or "x-api-key" in request.headers:
        data = [{"type": "model", "id": i, "display_name": i, "created_at": "1970-01-01T00:00:00Z"} for i in ids]
        return web.json_response({"data": data, "has_more": False,
                                  "first_id": data[0]["id"] if data else None,
                                  "last_id": data[-1]["id"] if data else None})
    return web.json_response({"object": "list", "data": [
        {"id": i, "object": "model", "created": now, "owned_by": i.split(":", 1)[0]} for i in ids]})


def build_app(pipeline: Pipeline, *, api_key: str | None = None, forced_model: str | None = None,
              run_id: str = "", guard: BrowserGuard | None = None, home: str = "") -> web.Application:
    app = web.Application(client_max_size=MAX_BODY, middlewares=[_guard])
    app[PIPELINE] = pipeline
    app[API_KEY] = api_key or ""
    app[GUARD] = guard or BrowserGuard()
    app[HOME] = home  # store.home.home_fingerprint of the DARIO_HOME served, for `dario doctor`
    # the gate key is the client's credential for dario, never for an upstream
    app[CONTEXT] = CallContext(source="proxy", run_id=run_id, forced_model=forced_model,
                               run_tokens=(api_key,) if api_key else ())
    r = app.router
    r.add_post("/v1/messages", _messages)
    r.add_post("/v1/messages/count_tokens", _messages)
    r.add_post("/v1/chat/completions", _chat)
    r.add_post("/chat/completions", _chat)  # clients whose base URL lacks /v1
    r.add_post("/v1/responses", _responses)
    r.add_post("/responses", _responses)
    r.add_post("/v1/responses/input_tokens", _responses)
    for version in ("v1beta", "v1", "v1alpha"):  # Gemini: /v1beta/models/{model}:generateContent, ...
        r.add_post(f"/{version}/models/{{tail:.+}}", _gemini)
    r.add_get("/v1/models", _models)
    r.add_get("/models", _models)
    r.add_get("/health", _health)

    async def _close(_app: web.Application) -> None:
        await pipeline.close()

    app.on_cleanup.append(_close)
    return app


async def start(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Start serving; returns the runner and the bound port (port 0 picks a free one)."""
    # handler_cancellation: a client that disconnects cancels its handler, which aborts the upstream call
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1]
    return runner, bound
