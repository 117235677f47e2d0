"""Mappings both directions share: stop reasons, usage, tool arguments."""

from __future__ import annotations

import json
from typing import Any

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
from dario.protocols.anthropic import usage_from_wire as usage_from_anthropic  # noqa: E402
from dario.protocols.anthropic import usage_to_wire as anthropic_usage  # noqa: E402
from dario.protocols.openai_chat import usage_from_wire as usage_from_openai  # noqa: E402
from dario.protocols.openai_chat import usage_to_wire as openai_usage  # noqa: E402


def parse_arguments(raw: Any) -> dict:
    """OpenAI tool-call arguments (a JSON string) -> an Anthropic `input` object.

    Models do emit broken JSON; keeping the raw text beats failing a whole
    conversation over one malformed call in its history.
    """
    if isinstance(raw, dict):
        return raw
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return {}
    try:
        val = json.loads(raw)
    except (TypeError, ValueError):
        return {"_raw_arguments": raw if isinstance(raw, str) else str(raw)}
    return val if isinstance(val, dict) else {"_raw_arguments": raw}


def dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
