"""Protocol names and error shapes by name: a thin front on dario.protocols, for callers
that hold a protocol's name rather than its adapter (ingress guards, the shim host)."""

from __future__ import annotations

from typing import Literal

from dario.protocols import adapter, for_path

Protocol = Literal["anthropic", "openai", "responses", "gemini"]
ANTHROPIC: Protocol = "anthropic"
OPENAI: Protocol = "openai"
RESPONSES: Protocol = "responses"
GEMINI: Protocol = "gemini"


def error_body(protocol: str, status: int, message: str, *, code: str | None = None,
               etype: str | None = None) -> dict:
    return adapter(protocol).error_body(status, message, etype=etype, code=code)


def error_bytes(protocol: str, status: int, message: str, **kw) -> bytes:
    return adapter(protocol).error_bytes(status, message, **kw)


def sse_error_event(protocol: str, status: int, message: str) -> bytes:
    return adapter(protocol).sse_error(status, message)


def protocol_for_path(path: str) -> str | None:
    """Which protocol an LLM path speaks (None: not an LLM call dario translates)."""
    found = for_path(path)
    return found[0].name if found else None
