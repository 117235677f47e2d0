"""`dario proxy`: the pipeline served over HTTP for tools that can't be shimmed."""

from __future__ import annotations

import asyncio
import hmac
import json
import time


from dario import __version__
from dario.pipeline import protocol as proto
from dario.core.call import CallContext
from dario.core.defaults import MAX_REQUEST_BODY as MAX_BODY
from dario.net.client import ClientError
from dario.net.server import Request, Response, Runner, Server, StreamResponse, json_response
from dario.pipeline.backends import Backend, KeyUnavailable, resolve_key
from dario.pipeline.credentials import backend_headers
from dario.pipeline.engine import Pipeline
from dario.proxy.security import BrowserGuard


def _guess_protocol(request: Request) -> str:
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


def _error(request: Request, status: int, message: str, **headers) -> Response:
    return Response(status=status, body=proto.error_bytes(_guess_protocol(request), status, message),
                    content_type="application/json", headers=headers)


def _client_key(request: Request) -> str:
    """The credential a client sent, in any protocol's place for it (Gemini's: x-goog-api-key, ?key=)."""
    key = request.headers.get("x-api-key", "") or request.headers.get("x-goog-api-key", "")
    auth = request.headers.get("authorization", "")
    if not key and auth.lower().startswith("bearer "):
        key = auth[7:].strip()
    return key or request.query.get("key", "")


_LLM = {"/v1/messages": proto.ANTHROPIC, "/v1/messages/count_tokens": proto.ANTHROPIC,
        "/v1/chat/completions": proto.OPENAI, "/chat/completions": proto.OPENAI,  # base URLs without /v1
        "/v1/responses": proto.RESPONSES, "/responses": proto.RESPONSES, "/v1/responses/input_tokens": proto.RESPONSES}
_GEMINI_PREFIXES = ("/v1beta/models/", "/v1/models/", "/v1alpha/models/")  # /v1beta/models/{model}:generateContent


class ProxyApp:
    """The handler of `dario proxy`: auth for everything but /health (or, keyless, the browser
    rules), the endpoints, and every HTTP error in the caller's protocol's shape."""

    def __init__(self, pipeline: Pipeline, api_key: str, guard: BrowserGuard, home: str, context: CallContext) -> None:
        self.pipeline, self.api_key, self.guard, self.home, self.context = pipeline, api_key, guard, home, context
        self._gets = {"/v1/models": self._models, "/models": self._models, "/health": self._health}
        self._contexts: dict[str | None, CallContext] = {}

    async def __call__(self, request: Request) -> Response | StreamResponse:
        expected = self.api_key
        if expected and request.path != "/health":
            if not hmac.compare_digest(_client_key(request).encode(), expected.encode()):
                return _error(request, 401, "dario: a valid DARIO_API_KEY is required "
                                            "(x-api-key, Authorization: Bearer, or x-goog-api-key)")
        elif not expected:
            refused = self.guard.refusal(request.method, request.headers,
                                         proto.protocol_for_path(request.path) is not None)
            if refused:
                return _error(request, *refused)
        path, method = request.path, request.method
        protocol = _LLM.get(path)
        if protocol is None and path.startswith(_GEMINI_PREFIXES):
            protocol = proto.GEMINI if proto.protocol_for_path(path) == proto.GEMINI else ""
        if protocol:
            if method != "POST":
                return _error(request, 405, f"dario: method {method} not allowed on {path}")
            return await self.pipeline.handle(request, self._ctx(request), protocol)
        get = self._gets.get(path)
        if get is not None:
            if method not in ("GET", "HEAD"):
                return _error(request, 405, f"dario: method {method} not allowed on {path}")
            return await get(request)
        return _error(request, 404, f"dario: no such endpoint {method} {path}")

    def _ctx(self, request: Request) -> CallContext:
        """The call's context: one per client name (a CallContext is never changed once made)."""
        client = request.headers.get("user-agent")
        ctx = self._contexts.get(client)
        if ctx is None:
            if len(self._contexts) >= 256:
                self._contexts.clear()
            base = self.context
            ctx = self._contexts[client] = CallContext(source="proxy", run_id=base.run_id, client=client,
                                                       forced_model=base.forced_model, run_tokens=base.run_tokens)
        return ctx

    async def _health(self, request: Request) -> Response:
        return json_response({"status": "ok", "version": __version__, "backends": sorted(self.pipeline.backends),
                              "gate": bool(self.api_key), "home": self.home})

    async def _models(self, request: Request) -> Response:
        """Every configured backend's models (as NAME:model, so they route), plus aliases."""
        pipeline = self.pipeline
        backends = list(pipeline.backends.values())
        lists = await asyncio.gather(*(_backend_models(pipeline, b) for b in backends))
        ids = [f"{b.name}:{m}" for b, models in zip(backends, lists) for m in models]
        ids += sorted(pipeline.router.aliases)
        now = int(time.time())
        if "anthropic-version" in request.headers or "x-api-key" in request.headers:
            data = [{"type": "model", "id": i, "display_name": i, "created_at": "1970-01-01T00:00:00Z"} for i in ids]
            return json_response({"data": data, "has_more": False,
                                  "first_id": data[0]["id"] if data else None,
                                  "last_id": data[-1]["id"] if data else None})
        return json_response({"object": "list", "data": [
            {"id": i, "object": "model", "created": now, "owned_by": i.split(":", 1)[0]} for i in ids]})

    async def close(self) -> None:
        await self.pipeline.close()


async def _backend_models(pipeline: Pipeline, b: Backend) -> list[str]:
    if b.models:
        return list(b.models)
    try:
        key = resolve_key(b.keys[0]) if b.keys else None
    except KeyUnavailable:
        key = None
    try:
        up = await asyncio.wait_for(pipeline.upstream.send("GET", b.models_url(), backend_headers(b, key), None), 3)
        try:
            if up.status != 200:
                return []
            return b.adapter.model_ids(json.loads(await asyncio.wait_for(up.read(), 3)))
        finally:
            up.close()
    except (ClientError, OSError, asyncio.TimeoutError, ValueError, AttributeError, TypeError):
        return []  # a backend that doesn't answer just contributes no models


def build_app(pipeline: Pipeline, *, api_key: str | None = None, forced_model: str | None = None,
              run_id: str = "", guard: BrowserGuard | None = None, home: str = "") -> ProxyApp:
    # home: store.home.home_fingerprint of the DARIO_HOME served, for `dario doctor`;
    # the gate key is the client's credential for dario, never for an upstream
    return ProxyApp(pipeline, api_key or "", guard or BrowserGuard(), home,
                    CallContext(source="proxy", run_id=run_id, forced_model=forced_model,
                                run_tokens=(api_key,) if api_key else ()))


def _bad_request_body(status: int, message: str) -> bytes:
    return proto.error_bytes(proto.ANTHROPIC, status, message)  # no path to tell the protocol by


async def start(app: ProxyApp, host: str, port: int) -> tuple[Runner, int]:
    """Start serving; returns the runner and the bound port (port 0 picks a free one). A client that
    disconnects cancels its handler, which aborts the upstream call."""
    runner = Runner(Server(app, max_body=MAX_BODY, error_body=_bad_request_body), [app.close])
    bound = await runner.tcp(host, port)
    return runner, bound
