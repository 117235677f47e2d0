"""Gemini API (`POST /v1beta/models/{model}:generateContent`, `:streamGenerateContent?alt=sse`,
`:countTokens`): Gemini CLI's protocol, and the google-genai SDKs'.

The model is in the path, not the body; the key comes in `x-goog-api-key` or `?key=`.
A gemini-kind backend's base URL is the origin (https://generativelanguage.googleapis.com).
Usage: `promptTokenCount` INCLUDES `cachedContentTokenCount`; `candidatesTokenCount` EXCLUDES
thoughts (`thoughtsTokenCount`), which are output all the same. Mapping code is in
dario/pipeline/translate/gemini.py, loaded on first translation.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote, unquote

from dario.core.errors import CallError
from dario.core.usage import Usage, count
from dario.pipeline.sse import SSEEvent, frame
from dario.protocols.base import Adapter, StreamMeter, event_json
from dario.redact import redact

_PATH = re.compile(r"/(v1(?:alpha|beta)?\d*)/(?:models|tunedModels)/(.+?):"
                   r"(generateContent|streamGenerateContent|countTokens)$")
STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
          408: "DEADLINE_EXCEEDED", 409: "ABORTED", 413: "INVALID_ARGUMENT", 415: "INVALID_ARGUMENT",
          429: "RESOURCE_EXHAUSTED", 499: "CANCELLED", 500: "INTERNAL", 501: "UNIMPLEMENTED",
          502: "UNAVAILABLE", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED", 529: "UNAVAILABLE"}


def usage_from_wire(u: Any) -> Usage:
    if not isinstance(u, dict):
        return Usage()
    prompt = count(u.get("promptTokenCount"))
    tool_prompt = count(u.get("toolUsePromptTokenCount")) or 0
    cached = count(u.get("cachedContentTokenCount"))
    cand = count(u.get("candidatesTokenCount"))
    thoughts = count(u.get("thoughtsTokenCount"))
    return Usage(input_tokens=None if prompt is None else max(prompt + tool_prompt - (cached or 0), 0),
                 output_tokens=None if cand is None and thoughts is None else (cand or 0) + (thoughts or 0),
                 cache_read_tokens=cached if cached is not None or prompt is None else 0,
                 reasoning_tokens=thoughts)


def parse_path(path: str) -> tuple[str, str, str] | None:
    """(version, model, method) of a Gemini LLM path, or None."""
    m = _PATH.search(path.split("?", 1)[0])
    return (m.group(1), unquote(m.group(2)), m.group(3)) if m else None


class Meter(StreamMeter):
    __slots__ = ()

    def feed(self, ev: SSEEvent) -> None:
        data = event_json(ev)
        if data is None:
            return
        if "error" in data and "candidates" not in data:
            self.error = json.dumps(data["error"])[:2000]
            return
        u = data.get("usageMetadata")
        if isinstance(u, dict):
            self.usage.merge(usage_from_wire(u))
        for c in data.get("candidates") or []:
            if not isinstance(c, dict):
                continue
            if (c.get("content") or {}).get("parts"):
                self.content_started = True
            if c.get("finishReason"):
                self.finished = True
        if not data.get("candidates") and (data.get("promptFeedback") or {}).get("blockReason"):
            self.finished = True


class GeminiAdapter(Adapter):
    name = "gemini"
    client_header_prefixes = ("x-goog-",)
    credential_params = ("key",)
    api_prefixes = ("/v1beta/", "/v1/", "/v1alpha/")
    paths = {"generate": "/v1beta/models/{model}:generateContent",
             "count_tokens": "/v1beta/models/{model}:countTokens"}
    models_path = "/v1beta/models"

    def endpoint(self, path: str) -> str | None:
        found = parse_path(path)
        if found is None:
            return None
        return "count_tokens" if found[2] == "countTokens" else "generate"

    head_fields = None  # read_request checks `contents`, which holds the whole conversation

    def read_request(self, body: dict, path: str) -> tuple[str, bool]:
        found = parse_path(path)
        if found is None:
            raise CallError(404, f"not a Gemini model path: {path}")
        _, model, method = found
        model = model.removeprefix("models/")
        if not model:
            raise CallError(400, "the model in the path is empty")
        if method != "countTokens" and not isinstance(body.get("contents"), list):
            raise CallError(400, "contents: a list of Content objects is required")
        return model, method == "streamGenerateContent"

    def with_model(self, body: dict, model: str) -> dict:
        return body  # the model is in the URL

    def url(self, base_url: str, endpoint: str, path: str, model: str, stream: bool) -> str:
        found = parse_path(path)
        version = found[0] if found else "v1beta"
        method = ("countTokens" if endpoint == "count_tokens" else
                  "streamGenerateContent?alt=sse" if stream else "generateContent")
        return self.join(base_url, f"/{version}/models/{quote(model, safe='-._~')}:{method}")

    def model_ids(self, data: Any) -> list[str]:
        models = data.get("models") if isinstance(data, dict) else None
        return [str(m["name"]).removeprefix("models/") for m in models or [] if isinstance(m, dict) and m.get("name")]

    def auth_headers(self, secret: str) -> dict[str, str]:
        return {"x-goog-api-key": secret}

    def not_carried(self, body: dict) -> list[str]:
        from dario.pipeline.translate.gemini import not_carried
        return not_carried(body)

    def request_to_internal(self, body: dict, model: str) -> dict:
        from dario.pipeline.translate.gemini import to_internal_request
        return to_internal_request(body, model)

    def request_from_internal(self, internal: dict, model: str) -> dict:
        from dario.pipeline.translate.gemini import from_internal_request
        return from_internal_request(internal, model)

    def response_to_internal(self, body: dict, model: str) -> dict:
        from dario.pipeline.translate.gemini import to_internal_response
        return to_internal_response(body, model)

    def response_from_internal(self, internal: dict, model: str, client_body: dict | None = None) -> dict:
        from dario.pipeline.translate.gemini import from_internal_response
        return from_internal_response(internal, model)

    def stream_to_internal(self, model: str):
        from dario.pipeline.translate.gemini import ToInternal
        return ToInternal(model)

    def stream_from_internal(self, model: str, client_body: dict):
        from dario.pipeline.translate.gemini import FromInternal
        return FromInternal(model)

    def count_tokens_answer(self, n: int) -> dict:
        return {"totalTokens": n}

    def usage_from_wire(self, u: Any) -> Usage:
        return usage_from_wire(u)

    usage_field = "usageMetadata"

    def meter(self) -> Meter:
        return Meter()

    def auth_error(self, message: str) -> CallError:
        return CallError(401, message, etype="UNAUTHENTICATED")

    def budget_error(self, message: str) -> CallError:
        # what Google says when billing stops a project; Gemini CLI retries 429s, not this
        return CallError(400, message, etype="FAILED_PRECONDITION", headers={"x-should-retry": "false"})

    def error_body(self, status: int, message: str, *, etype: str | None = None, code: str | None = None) -> dict:
        state = etype if etype and etype.isupper() else STATUS.get(status) or ("INTERNAL" if status >= 500
                                                                                else "INVALID_ARGUMENT")
        return {"error": {"code": status, "message": redact(message), "status": state}}

    def sse_error(self, status: int, message: str) -> bytes:
        return frame(json.dumps(self.error_body(status, message)))


ADAPTER = GeminiAdapter()
