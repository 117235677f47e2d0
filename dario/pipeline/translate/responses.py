"""Non-streaming response bodies and error bodies, both directions.

Responses are already paid for, so unlike requests nothing here raises on an odd
body: unknown blocks are skipped and missing fields get neutral defaults.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from dario.pipeline.translate.requests import assistant_message
from dario.pipeline.translate._common import (
    as_dict as _dict,
    anthropic_usage,
    finish_reason,
    openai_usage,
    parse_arguments,
    stop_reason,
    usage_from_anthropic,
    usage_from_openai,
)




def reasoning_of(d: dict) -> str | None:
    """The reasoning text an OpenAI-compatible server attached (DeepSeek/vLLM: reasoning_content,
    OpenRouter/Ollama: reasoning)."""
    for k in ("reasoning_content", "reasoning"):
        if isinstance(d.get(k), str) and d[k]:
            return d[k]
    return None


def anthropic_id(upstream_id: Any) -> str:
    s = upstream_id if isinstance(upstream_id, str) and upstream_id else uuid.uuid4().hex
    return s if s.startswith("msg_") else f"msg_{s}"


def openai_to_anthropic_response(body: dict, model: str) -> dict:
    body = _dict(body)
    choices = body.get("choices") if isinstance(body.get("choices"), list) else []
    choice = _dict(choices[0]) if choices else {}
    msg = _dict(choice.get("message"))
    content: list[dict] = []
    reasoning = reasoning_of(msg)
    if reasoning:
        # No signature exists for foreign reasoning; clients that replay it to Anthropic
        # would be refused, but dario drops it again on the way back to OpenAI.
        content.append({"type": "thinking", "thinking": reasoning, "signature": ""})
    text = msg.get("content")
    if isinstance(text, list):  # some servers answer with parts
        text = "".join(p.get("text", "") for p in text if isinstance(p, dict))
    if isinstance(text, str) and text:
        content.append({"type": "text", "text": text})
    refusal = msg.get("refusal") if isinstance(msg.get("refusal"), str) and msg.get("refusal") else None
    if refusal:
        content.append({"type": "text", "text": refusal})
    calls = [c for c in msg.get("tool_calls") or [] if isinstance(c, dict) and isinstance(c.get("function"), dict)]
    for c in calls:
        content.append({"type": "tool_use", "id": str(c.get("id") or f"toolu_{uuid.uuid4().hex[:24]}"),
                        "name": c["function"].get("name", ""),
                        "input": parse_arguments(c["function"].get("arguments"))})
    reason = "refusal" if refusal else stop_reason(choice.get("finish_reason"), has_tool_calls=bool(calls))
    return {
        "id": anthropic_id(body.get("id")),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": reason,
        "stop_sequence": None,
        "usage": anthropic_usage(usage_from_openai(body.get("usage"))),
    }


def anthropic_to_openai_response(body: dict, model: str) -> dict:
    body = _dict(body)
    content = body.get("content")
    message = assistant_message(content if isinstance(content, list) else [], strict=False)
    mid = body.get("id") if isinstance(body.get("id"), str) else uuid.uuid4().hex
    return {
        "id": mid if mid.startswith("chatcmpl") else f"chatcmpl-{mid}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None,
                     "finish_reason": finish_reason(body.get("stop_reason"))}],
        "usage": openai_usage(usage_from_anthropic(body.get("usage"))),
    }


def translate_error(body: bytes, status: int, src: str, dst: str) -> bytes:
    """Re-shape an upstream error (protocol `src`) into protocol `dst`, keeping the message."""
    from dario.protocols import adapter
    from dario.protocols.base import error_message
    message, code = error_message(body)
    return adapter(dst).error_bytes(status, message or f"upstream returned HTTP {status}", code=code)
