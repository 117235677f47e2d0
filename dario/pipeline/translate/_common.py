"""Mappings both directions share: stop reasons, usage, tool arguments."""

from __future__ import annotations

import json
from typing import Any

from dario.core.fastjson import loads_object

# Anthropic stop_reason -> OpenAI finish_reason. OpenAI has no "paused" or
# "refused" reason; content_filter is the closest thing to a refusal.
_A2O_STOP = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
_O2A_STOP = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}


def finish_reason(stop_reason: str | None) -> str:
    return _A2O_STOP.get(stop_reason or "", "stop")


def stop_reason(finish: str | None, *, has_tool_calls: bool = False) -> str:
    # Several OpenAI-compatible servers say "stop" even when the turn ends in tool
    # calls; an Anthropic client would then never run them.
    if has_tool_calls and finish in (None, "stop"):
        return "tool_use"
    return _O2A_STOP.get(finish or "", "end_turn")


# Usage rules live with each protocol's adapter (one rule per provider field); the
# translators use them under these names.
from dario.protocols.anthropic import usage_from_wire as usage_from_anthropic  # noqa: E402,F401
from dario.protocols.anthropic import usage_to_wire as anthropic_usage  # noqa: E402,F401
from dario.protocols.openai_chat import usage_from_wire as usage_from_openai  # noqa: E402,F401
from dario.protocols.openai_chat import usage_to_wire as openai_usage  # noqa: E402,F401


def parse_arguments(raw: Any, strict: str | None = None) -> dict:
    """OpenAI tool-call arguments (a JSON string) -> an Anthropic `input` object.

    Models do emit broken JSON; keeping the raw text beats failing a whole conversation over
    one malformed call in an answer. `strict` (where, for the message): a request's call whose
    arguments are not a JSON object is the client's 400 instead.
    """
    if isinstance(raw, dict):
        return raw
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return {}
    try:
        val = json.loads(raw)
    except (TypeError, ValueError):
        if strict:
            from dario.pipeline.translate import TranslationError
            raise TranslationError(f"{strict}: arguments are not valid JSON") from None
        return {"_raw_arguments": raw if isinstance(raw, str) else str(raw)}
    if not isinstance(val, dict) and strict:
        from dario.pipeline.translate import TranslationError
        raise TranslationError(f"{strict}: arguments must be a JSON object")
    return val if isinstance(val, dict) else {"_raw_arguments": raw}


def dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def as_dict(v: Any) -> dict:
    """A JSON value where an object is expected: the object, or {} (answers never fail on odd shapes)."""
    return v if isinstance(v, dict) else {}


def typed_event(ev) -> tuple[dict, str | None] | None:
    """An SSE event's JSON object and its type (from the data, else the event name), or None."""
    obj = loads_object(ev.data)
    return None if obj is None else (obj, obj.get("type") or ev.event)



class InternalEvents:
    """What every stream translator INTO the internal form shares: internal (Anthropic Messages)
    events built one block at a time, a new text or thinking delta continuing the open block of
    its kind or opening one."""

    def __init__(self) -> None:
        self._next = 0
        self._open: tuple[str, int] | None = None  # ("text" | "thinking" | "tool", block index)

    def _ev(self, obj: dict):
        from dario.pipeline.sse import SSEEvent
        return SSEEvent(obj["type"], dumps(obj))

    def _close(self) -> list:
        if self._open is None:
            return []
        index, self._open = self._open[1], None
        return [self._ev({"type": "content_block_stop", "index": index})]

    def _open_block(self, kind: str, block: dict) -> tuple[list, int]:
        out = self._close()
        index = self._next
        self._next += 1
        self._open = (kind, index)
        out.append(self._ev({"type": "content_block_start", "index": index, "content_block": block}))
        return out, index

    def _delta(self, kind: str, delta: dict) -> list:
        if self._open is not None and self._open[0] == kind:
            out, index = [], self._open[1]
        else:
            block = {"type": "text", "text": ""} if kind == "text" else {"type": "thinking", "thinking": "",
                                                                         "signature": ""}
            out, index = self._open_block(kind, block)
        out.append(self._ev({"type": "content_block_delta", "index": index, "delta": delta}))
        return out
