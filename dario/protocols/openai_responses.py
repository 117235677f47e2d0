"""OpenAI Responses (`POST /v1/responses`): Codex CLI's protocol, and the OpenAI SDKs' `responses.*`.

Usage: `input_tokens` INCLUDES cached tokens (`input_tokens_details.cached_tokens`);
`output_tokens` includes reasoning (`output_tokens_details.reasoning_tokens`).

A Responses backend is an OpenAI-kind backend that serves `/v1/responses` (`Backend.responses`).
On a translated call, `previous_response_id` is resolved from responses dario itself answered
in this process (`STORE`, bounded; kept only when the request's `store` is not false, as OpenAI
would); an id dario does not hold is a 400 in the Responses shape. Mapping code is in
dario/pipeline/translate/responses_api.py and responses_stream.py, loaded on first translation.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any

from dario.core.errors import CallError
from dario.core.usage import Usage, count
from dario.pipeline.sse import SSEEvent, frame
from dario.protocols.base import StreamMeter, event_json
from dario.protocols.openai_chat import OpenAIChatAdapter


def usage_from_wire(u: Any) -> Usage:
    if not isinstance(u, dict):
        return Usage()
    inp = count(u.get("input_tokens"))
    details = u.get("input_tokens_details") if isinstance(u.get("input_tokens_details"), dict) else {}
    read = count(details.get("cached_tokens"))
    out_details = u.get("output_tokens_details") if isinstance(u.get("output_tokens_details"), dict) else {}
    return Usage(input_tokens=None if inp is None else max(inp - (read or 0), 0),
                 output_tokens=count(u.get("output_tokens")),
                 cache_read_tokens=read if read is not None or inp is None else 0,
                 reasoning_tokens=count(out_details.get("reasoning_tokens")))


class ResponseStore:
    """What responses dario answered stand for, so a later call can name one as its
    previous_response_id: each entry keeps its own input items, its output items and its own
    previous id (a chain, so memory grows with the turns, not with their square)."""

    def __init__(self, max_entries: int = 4096, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_entries, self.max_bytes = max_entries, max_bytes
        self._entries: OrderedDict[str, tuple[str | None, list, list, int]] = OrderedDict()
        self._bytes = 0

    def put(self, rid: str, previous: str | None, items: list, output: list) -> None:
        size = len(json.dumps(items)) + len(json.dumps(output))
        self._entries[rid] = (previous, items, output, size)
        self._bytes += size
        while self._entries and (len(self._entries) > self.max_entries or self._bytes > self.max_bytes):
            _, (_, _, _, s) = self._entries.popitem(last=False)
            self._bytes -= s

    def history(self, rid: str) -> list:
        """The items `rid` stands for, oldest first; KeyError(missing id) when dario doesn't hold it."""
        chain: list[tuple[list, list]] = []
        seen: set[str] = set()
        cur: str | None = rid
        while cur is not None and cur not in seen:
            seen.add(cur)
            previous, items, output, _ = self._entries[cur]  # KeyError: not ours, or no longer held
            chain.append((items, output))
            cur = previous
        return [it for items, output in reversed(chain) for it in (*items, *output)]

    def clear(self) -> None:
        self._entries.clear()
        self._bytes = 0


STORE = ResponseStore()


class Meter(StreamMeter):
    __slots__ = ()

    def feed(self, ev: SSEEvent) -> None:
        data = event_json(ev)
        if data is None:
            return
        kind = data.get("type") or ev.event
        if kind in ("response.output_text.delta", "response.function_call_arguments.delta",
                    "response.output_item.added", "response.reasoning_summary_text.delta",
                    "response.refusal.delta", "response.custom_tool_call_input.delta"):
            self.content_started = True
        elif kind in ("response.completed", "response.incomplete", "response.failed"):
            resp = data.get("response") if isinstance(data.get("response"), dict) else {}
            self.usage.merge(usage_from_wire(resp.get("usage")))
            self.finished = True
            if kind == "response.failed":
                self.error = json.dumps(resp.get("error") or "response failed")[:2000]
        elif kind == "error":
            self.error = json.dumps({k: data.get(k) for k in ("code", "message")})[:2000]


class OpenAIResponsesAdapter(OpenAIChatAdapter):
    name = "responses"
    paths = {"generate": "/v1/responses", "count_tokens": "/v1/responses/input_tokens"}

    def endpoint(self, path: str) -> str | None:
        p = path.split("?", 1)[0].rstrip("/")
        if p.endswith("/responses"):
            return "generate"
        if p.endswith("/responses/input_tokens"):
            return "count_tokens"
        return None

    head_fields = None  # read_request checks `input`, which holds the whole conversation

    def read_request(self, body: dict, path: str) -> tuple[str, bool]:
        model, stream = super(OpenAIChatAdapter, self).read_request(body, path)
        if not isinstance(body.get("input"), (str, list, type(None))):
            raise CallError(400, "input: must be a string or a list of items")
        prev = body.get("previous_response_id")
        if prev is not None and not isinstance(prev, str):
            raise CallError(400, "previous_response_id: must be a string")
        return model, stream

    def with_usage_requested(self, body: dict) -> dict | None:
        return None  # Responses streams always end with their usage

    def not_carried(self, body: dict) -> list[str]:
        from dario.pipeline.translate.responses_api import not_carried
        return not_carried(body)

    # -- the internal form
    def request_to_internal(self, body: dict, model: str) -> dict:
        from dario.pipeline.translate.responses_api import to_internal_request
        history = None
        prev = body.get("previous_response_id")
        if prev:
            try:
                history = STORE.history(prev)
            except KeyError as e:
                raise CallError(400, f"Previous response with id {e.args[0]!r} not found: dario can only continue "
                                     "responses it answered itself (with store not false) while it runs; "
                                     "send the conversation's items as input instead",
                                code="previous_response_not_found") from None
        return to_internal_request(body, model, history)[0]

    def request_from_internal(self, internal: dict, model: str) -> dict:
        from dario.pipeline.translate.responses_api import from_internal_request
        return from_internal_request(internal, model)

    def response_to_internal(self, body: dict, model: str) -> dict:
        from dario.pipeline.translate.responses_api import to_internal_response
        return to_internal_response(body, model)

    def response_from_internal(self, internal: dict, model: str, client_body: dict | None = None) -> dict:
        from dario.pipeline.translate.responses_api import from_internal_response, new_id
        req = client_body if isinstance(client_body, dict) else {}
        resp = from_internal_response(internal, model, req, new_id("resp"))
        self._keep(req, resp)
        return resp

    def stream_to_internal(self, model: str):
        from dario.pipeline.translate.responses_stream import ToInternal
        return ToInternal(model)

    def stream_from_internal(self, model: str, client_body: dict):
        from dario.pipeline.translate.responses_api import new_id
        from dario.pipeline.translate.responses_stream import FromInternal
        req = client_body if isinstance(client_body, dict) else {}
        return FromInternal(model, req, new_id("resp"), on_complete=lambda r: self._keep(req, r))

    @staticmethod
    def _keep(req: dict, resp: dict) -> None:
        if req.get("store") is False:
            return  # honoured: a response the client asked not to store cannot be continued
        from dario.pipeline.translate.responses_api import input_items
        try:
            items = input_items(req)
        except ValueError:
            return
        STORE.put(resp["id"], req.get("previous_response_id"), items, resp.get("output") or [])

    def count_tokens_answer(self, n: int) -> dict:
        return {"object": "response.input_tokens", "input_tokens": n}

    def usage_from_wire(self, u: Any) -> Usage:
        return usage_from_wire(u)

    def meter(self) -> Meter:
        return Meter()

    def sse_error(self, status: int, message: str) -> bytes:
        err = self.error_body(status, message)["error"]
        return frame(json.dumps({"type": "error", "code": err["code"] or err["type"], "message": err["message"],
                                 "param": None}), "error")


ADAPTER = OpenAIResponsesAdapter()
