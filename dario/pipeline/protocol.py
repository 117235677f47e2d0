"""The two wire protocols dario speaks, and their error shapes.

Every error dario itself produces goes out in the caller's protocol:
Anthropic: {"type":"error","error":{"type":...,"message":...}}
OpenAI:    {"error":{"message":...,"type":...,"param":null,"code":...}}
"""

from __future__ import annotations

import json
from typing import Literal

from dario.redact import redact

Protocol = Literal["anthropic", "openai"]
ANTHROPIC: Protocol = "anthropic"
OPENAI: Protocol = "openai"

# status -> (anthropic error type, openai error type)
_TYPES = {
    400: ("invalid_request_error", "invalid_request_error"),
    401: ("authentication_error", "authentication_error"),
    403: ("permission_error", "permission_error"),
    404: ("not_found_error", "not_found_error"),
    405: ("invalid_request_error", "invalid_request_error"),
    408: ("timeout_error", "timeout_error"),
    413: ("request_too_large", "invalid_request_error"),
    429: ("rate_limit_error", "rate_limit_error"),
    500: ("api_error", "server_error"),
    502: ("api_error", "server_error"),
    503: ("overloaded_error", "server_error"),
    504: ("timeout_error", "timeout_error"),
    529: ("overloaded_error", "server_error"),
}


def error_type(status: int, protocol: Protocol) -> str:
    pair = _TYPES.get(status) or (_TYPES[500] if status >= 500 else _TYPES[400])
    return pair[0] if protocol == ANTHROPIC else pair[1]


def error_body(protocol: Protocol, status: int, message: str, *, code: str | None = None,
               etype: str | None = None) -> dict:
    message = redact(message)
    etype = etype or error_type(status, protocol)
    if protocol == ANTHROPIC:
        return {"type": "error", "error": {"type": etype, "message": message}}
    return {"error": {"message": message, "type": etype, "param": None, "code": code}}


def error_bytes(protocol: Protocol, status: int, message: str, **kw) -> bytes:
    return json.dumps(error_body(protocol, status, message, **kw)).encode()


def sse_error_event(protocol: Protocol, status: int, message: str) -> bytes:
    """A terminal SSE frame that tells a streaming client the call failed."""
    body = error_body(protocol, status, message)
    if protocol == ANTHROPIC:
        return b"event: error\ndata: " + json.dumps(body).encode() + b"\n\n"
    return b"data: " + json.dumps(body).encode() + b"\n\n"


def protocol_for_path(path: str) -> Protocol | None:
    """Which protocol an upstream path speaks (None: not an LLM call dario translates)."""
    p = path.split("?", 1)[0].rstrip("/")
    if p.endswith("/v1/messages") or p.endswith("/v1/messages/count_tokens"):
        return ANTHROPIC
    if p.endswith("/chat/completions"):
        return OPENAI
    return None
