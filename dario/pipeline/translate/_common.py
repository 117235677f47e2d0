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


def _int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def usage_from_openai(u: Any) -> dict[str, int | None]:
    """OpenAI usage -> dario's neutral counts (Anthropic convention: input EXCLUDES cache).

    OpenAI's prompt_tokens includes cached (read) tokens and, where a server reports
    them, cache writes; Anthropic's input_tokens counts neither.
    """
    out: dict[str, int | None] = {"input_tokens": None, "output_tokens": None,
                                  "cache_read_tokens": None, "cache_write_tokens": None}
    if not isinstance(u, dict):
        return out
    details = u.get("prompt_tokens_details") if isinstance(u.get("prompt_tokens_details"), dict) else {}
    read = _int(details.get("cached_tokens"))
    if read is None:
        read = _int(u.get("prompt_cache_hit_tokens"))  # DeepSeek's spelling
    write = _int(details.get("cache_write_tokens"))
    prompt = _int(u.get("prompt_tokens"))
    if prompt is not None:
        out["input_tokens"] = max(prompt - (read or 0) - (write or 0), 0)
    out["output_tokens"] = _int(u.get("completion_tokens"))
    out["cache_read_tokens"] = read
    out["cache_write_tokens"] = write
    return out


def usage_from_anthropic(u: Any) -> dict[str, int | None]:
    out: dict[str, int | None] = {"input_tokens": None, "output_tokens": None,
                                  "cache_read_tokens": None, "cache_write_tokens": None}
    if isinstance(u, dict):
        out["input_tokens"] = _int(u.get("input_tokens"))
        out["output_tokens"] = _int(u.get("output_tokens"))
        out["cache_read_tokens"] = _int(u.get("cache_read_input_tokens"))
        out["cache_write_tokens"] = _int(u.get("cache_creation_input_tokens"))
    return out


def merge_usage(into: dict[str, int | None], new: dict[str, int | None]) -> None:
    """Later reports win, but a missing field never erases one already seen."""
    for k, v in new.items():
        if v is not None:
            into[k] = v


def anthropic_usage(n: dict[str, int | None]) -> dict[str, int]:
    return {
        "input_tokens": n["input_tokens"] or 0,
        "output_tokens": n["output_tokens"] or 0,
        "cache_read_input_tokens": n["cache_read_tokens"] or 0,
        "cache_creation_input_tokens": n["cache_write_tokens"] or 0,
    }


def openai_usage(n: dict[str, int | None]) -> dict[str, Any]:
    read, write = n["cache_read_tokens"] or 0, n["cache_write_tokens"] or 0
    prompt = (n["input_tokens"] or 0) + read + write
    completion = n["output_tokens"] or 0
    details: dict[str, int] = {"cached_tokens": read}
    if write:
        details["cache_write_tokens"] = write
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion, "prompt_tokens_details": details}


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
