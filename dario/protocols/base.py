"""What a protocol adapter is: one wire protocol mapped to and from the internal form.

The internal form is the Anthropic Messages shape (requests, responses and stream
events), chosen because it is the richest of the protocols dario speaks: it carries
system blocks, thinking, tool use/results and cache usage without loss. An adapter:

- says which request paths are its LLM endpoints, and reads model and stream from a body;
- builds its backend URL and auth headers (the one home of each rule);
- maps requests, responses and stream events to the internal form and back;
- maps its provider's usage fields into the one `Usage`;
- writes errors in its own shape.

Translating A -> B is adapter A in, adapter B out (dario/pipeline/adapt.py): adding
a protocol is adding one adapter here and registering it in `dario.protocols`.
Adapters do no I/O and keep heavy mapping code in lazily imported modules.
"""

from __future__ import annotations

import json
from typing import Any

from dario.core.errors import CallError
from dario.core.fastjson import field_of, loads_object
from dario.core.usage import Usage
from dario.pipeline.sse import SSEEvent, frame


class StreamMeter:
    """Fed a backend's SSE events as they pass: usage, whether content began, any error, the end."""

    __slots__ = ("usage", "content_started", "error", "finished")

    def __init__(self) -> None:
        self.usage = Usage()
        self.content_started = False
        self.error: str | None = None
        self.finished = False

    def feed(self, ev: SSEEvent) -> None:  # pragma: no cover - each adapter has its own
        raise NotImplementedError


def event_json(ev: SSEEvent) -> dict | None:
    """An SSE event's data as a JSON object, or None when it is not one."""
    return loads_object(ev.data)


class IdentityStream:
    """The internal form's events, passed on (an adapter whose wire form IS the internal form)."""

    __slots__ = ()

    def events(self, ev: SSEEvent) -> list[SSEEvent]:
        return [ev]

    def finish_events(self) -> list[SSEEvent]:
        return []


class Adapter:
    name: str = ""
    # the version prefix a backend base URL of this protocol carries itself ("" : the base is
    # the origin, as for Anthropic; "/v1": https://api.openai.com/v1)
    version_prefix: str = ""
    paths: dict[str, str] = {}  # endpoint -> provider path, e.g. "generate" -> "/v1/messages"
    # request headers only this protocol's clients send: dropped when the call is translated
    client_header_prefixes: tuple[str, ...] = ()
    credential_params: tuple[str, ...] = ()  # query parameters that carry a key (Gemini's ?key=)
    # where the provider's API lives on its host: other paths there are the product's own
    # (Claude Code's bootstrap, telemetry), which never go to a backend with its key
    api_prefixes: tuple[str, ...] = ("/v1/",)
    models_path = "/v1/models"

    # -- what a request is ------------------------------------------------------------------
    # The top-level fields read_request, a same-protocol send and a budget's worst case read (parse.py
    # decodes only these from a long body: the rest of a history is never built before it is sent), or
    # None where they need the whole body.
    head_fields: tuple[str, ...] | None = ("model", "stream", "max_tokens")

    def endpoint(self, path: str) -> str | None:
        """'generate' | 'count_tokens' for one of this protocol's LLM paths, else None."""
        raise NotImplementedError

    def read_request(self, body: dict, path: str) -> tuple[str, bool]:
        """(model, stream) of a parsed request body (its `head_fields`, or all of it); CallError 400 when
        the body can't be one."""
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise CallError(400, "model: a non-empty string is required")
        stream = body.get("stream", False)
        if not isinstance(stream, bool) and stream is not None:
            raise CallError(400, "stream: must be true or false")
        return model, bool(stream)

    def with_model(self, body: dict, model: str) -> dict:
        body["model"] = model
        return body

    # -- backends ---------------------------------------------------------------------------
    def join(self, base_url: str, path: str) -> str:
        """The URL of a provider path (/v1/...) under a backend base URL: the one URL rule."""
        p = self.version_prefix
        if p and (path == p or path.startswith(p + "/")):
            path = path[len(p):]
        return base_url.rstrip("/") + path

    def url(self, base_url: str, endpoint: str, path: str, model: str, stream: bool) -> str:
        """Where a call to `endpoint` goes on a backend of this protocol."""
        return self.join(base_url, self.paths[endpoint])

    def with_query(self, url: str, query: str) -> str:
        """`url` on a backend plus the client's query string: parameters the URL already has win,
        and a key in the query (`credential_params`) is dropped: the backend gets dario's."""
        from urllib.parse import parse_qsl, urlencode, urlsplit
        if not query:
            return url
        have = {k for k, _ in parse_qsl(urlsplit(url).query, keep_blank_values=True)}
        extra = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k not in have
                 and k not in self.credential_params]
        if not extra:
            return url
        return url + ("&" if "?" in url else "?") + urlencode(extra)

    def model_ids(self, data: Any) -> list[str]:
        """The model ids of a backend's models-list answer."""
        items = data.get("data") if isinstance(data, dict) else None
        return [m["id"] for m in items or [] if isinstance(m, dict) and "id" in m]

    def auth_headers(self, secret: str) -> dict[str, str]:
        raise NotImplementedError

    def fixed_headers(self) -> dict[str, str]:
        """Headers every request to this protocol's backends needs (API versions)."""
        return {}

    # -- bodies: to and from the internal form ----------------------------------------------
    def request_to_internal(self, body: dict, model: str) -> dict:
        raise NotImplementedError

    def request_from_internal(self, internal: dict, model: str) -> dict:
        raise NotImplementedError

    def response_to_internal(self, body: dict, model: str) -> dict:
        raise NotImplementedError

    def response_from_internal(self, internal: dict, model: str, client_body: dict | None = None) -> dict:
        """`client_body`: the client's request, for protocols whose answers echo it (Responses)."""
        raise NotImplementedError

    def stream_to_internal(self, model: str) -> Any:
        """An object with events(SSEEvent) -> [internal SSEEvent] and finish_events()."""
        raise NotImplementedError

    def stream_from_internal(self, model: str, client_body: dict) -> Any:
        """An object with feed(internal SSEEvent) -> [bytes] and finish() -> [bytes]."""
        raise NotImplementedError

    def not_carried(self, body: dict) -> list[str]:
        """What of a request a translated call does not offer the backend (tools only this protocol's
        provider runs, such as Responses' web_search): named to the client in `x-dario-not-carried`."""
        return []

    def with_usage_requested(self, body: dict) -> dict | None:
        """A same-protocol streamed body that asks the backend for usage the client did not ask
        for, or None when nothing needs adding (decided on the head fields alone, which adapt.py
        passes first). The added report is then hidden from the client by `usage_hider()`, so it
        gets exactly the stream it asked for."""
        return None

    def usage_request_spliced(self, raw: bytes, body: dict) -> bytes | None:
        """with_usage_requested's body as bytes made from the client's own, or None (no such splice);
        `body` may be the head fields alone."""
        return None

    def usage_hider(self):
        """feed(SSEEvent) -> [bytes] / finish() -> []: the stream minus the usage dario added;
        passes(chunk) -> bool: a chunk of whole events it would relay unchanged."""
        raise NotImplementedError

    def count_tokens_answer(self, n: int) -> dict:
        raise CallError(404, f"{self.name}: no token-count endpoint")

    def auth_error(self, message: str) -> CallError:
        """dario has no usable key for the backend: the client's protocol's own 401 (never retried)."""
        return CallError(401, message, etype="authentication_error")

    def budget_error(self, message: str) -> CallError:
        """A call refused by a budget cap: final, and marked so that SDKs do not retry it."""
        return CallError(400, message, headers={"x-should-retry": "false"})

    # -- usage ------------------------------------------------------------------------------
    def usage_from_wire(self, u: Any) -> Usage:
        raise NotImplementedError

    usage_field = "usage"  # the top-level field of a whole answer that holds its usage

    def usage_from_body(self, body: Any) -> Usage:
        return self.usage_from_wire(body.get(self.usage_field) if isinstance(body, dict) else None)

    def usage_from_bytes(self, data: bytes) -> Usage:
        """A whole answer's usage, read from its JSON without building the rest of it."""
        return self.usage_from_wire(field_of(data, self.usage_field))

    def meter(self) -> StreamMeter:
        raise NotImplementedError

    # -- errors -----------------------------------------------------------------------------
    def error_body(self, status: int, message: str, *, etype: str | None = None,
                   code: str | None = None) -> dict:
        raise NotImplementedError

    def error_bytes(self, status: int, message: str, **kw) -> bytes:
        return json.dumps(self.error_body(status, message, **kw)).encode()

    def keepalive(self) -> bytes:
        """What keeps an idle stream open without changing its meaning: an SSE comment."""
        return b": keep-alive\n\n"

    def sse_error(self, status: int, message: str) -> bytes:
        """A terminal SSE frame that tells a streaming client the call failed."""
        return frame(json.dumps(self.error_body(status, message)))


def error_message(body: bytes | str) -> tuple[str | None, str | None]:
    """(message, code) from an error body in any protocol's shape, or a looser one."""
    text = body.decode("utf-8", "replace").strip() if isinstance(body, (bytes, bytearray)) else str(body or "")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return (text[:2000] or None), None
    if isinstance(data, list) and data and isinstance(data[0], dict):  # Gemini-style error arrays
        data = data[0]
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, str):
            return err, None
        if isinstance(err, dict):
            msg = err.get("message") or err.get("detail") or data.get("message") or data.get("detail")
            code = err.get("code") if isinstance(err.get("code"), str) else None
            if isinstance(msg, str):
                return msg, code
            if msg is not None:
                return json.dumps(msg), code
    return text[:2000] or None, None
