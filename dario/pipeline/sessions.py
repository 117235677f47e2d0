"""Conversations: which calls are turns of one conversation.

A call continues a conversation only when its message list extends an earlier call's: that
call's messages, then an assistant turn (its answer), then more. So every turn of an agent
run groups together, while independent calls that happen to open with the same words ("hi")
are separate conversations, and a sub-agent (a new system prompt and a new first message) is
a conversation of its own.

Each message is reduced to what it says (role, text, tool call ids), the same for every
protocol, so the Anthropic, OpenAI, Responses and Gemini shapes of one history agree. Prefix
hashes are chained (h_k = H(h_{k-1}, m_k)), so a call costs one pass over its messages; the
state is per run, bounded, and only in memory.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import OrderedDict
from typing import Any

from dario.core.text import text_of


def _norm(text: str) -> str:
    return " ".join(text.split())


def _tool_ids(content: Any) -> list[str]:
    ids = []
    for b in content if isinstance(content, list) else []:
        if isinstance(b, dict):
            for k in ("id", "tool_use_id", "call_id"):
                if isinstance(b.get(k), str) and b.get("type") in ("tool_use", "tool_result", "function_call",
                                                                   "function_call_output"):
                    ids.append(b[k])
    return ids


def messages_of(protocol: str, body: dict) -> list[tuple[str, str]]:
    """(role, what it says) for the system prompt and each message, in order; user and tool turns
    are both "user", assistant and model turns "assistant"."""
    out: list[tuple[str, str]] = []
    if protocol == "anthropic" and body.get("system"):
        out.append(("system", _norm(text_of(body.get("system")))))
    if protocol == "responses" and isinstance(body.get("instructions"), str):
        out.append(("system", _norm(body["instructions"])))
    if protocol == "gemini":
        si = body.get("systemInstruction")
        parts = si.get("parts") if isinstance(si, dict) else None
        if parts:
            out.append(("system", _norm(" ".join(p.get("text", "") for p in parts if isinstance(p, dict)))))
    if protocol == "gemini":
        items = [{"role": "assistant" if c.get("role") == "model" else "user", "content": [
            {"type": "text", "text": p["text"]} if isinstance(p.get("text"), str) and not p.get("thought") else
            {"type": "tool_use", "id": str((p.get("functionCall") or p.get("functionResponse") or {}).get("name"))}
            for p in c.get("parts") or [] if isinstance(p, dict)]} for c in body.get("contents") or []
            if isinstance(c, dict)]
    elif protocol == "responses":
        inp = body.get("input")
        items = [{"role": "user", "content": inp}] if isinstance(inp, str) else [
            it if "role" in it else {"role": "assistant" if it.get("type") in ("function_call", "reasoning",
                                                                               "custom_tool_call") else "user",
                                     "content": [it]}
            for it in inp or [] if isinstance(it, dict)]
    else:
        items = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    for m in items:
        role = m.get("role")
        role = ("system" if role in ("system", "developer") else
                "assistant" if role in ("assistant", "model") else "user")
        content = m.get("content")
        ids = _tool_ids(content) + [c.get("id", "") for c in m.get("tool_calls") or [] if isinstance(c, dict)]
        if m.get("tool_call_id"):
            ids.append(str(m["tool_call_id"]))
        out.append((role, _norm(text_of(content)) + ("|" + ",".join(ids) if ids else "")))
    return out


def _chain(h: bytes, msg: tuple[str, str]) -> bytes:
    return hashlib.sha256(h + msg[0].encode() + b"\x00" + msg[1].encode("utf-8", "replace")).digest()


class Conversations:
    """Assigns each call a conversation id (16 hex digits), per run."""

    def __init__(self, max_states: int = 20_000) -> None:
        self.max_states = max_states
        self._states: OrderedDict[tuple[str, bytes], str] = OrderedDict()  # (run, prefix hash) -> id

    def key(self, run_id: str, protocol: str, body: Any) -> str | None:
        if not isinstance(body, dict):
            return None
        msgs = messages_of(protocol, body)
        if not any(role != "system" for role, _ in msgs):
            return None
        hashes, h = [], b""
        for m in msgs:
            h = _chain(h, m)
            hashes.append(h)
        conv = None
        for k in range(len(msgs) - 1, 0, -1):  # the longest earlier call this one extends
            if msgs[k][0] == "assistant":
                conv = self._states.get((run_id, hashes[k - 1]))
                if conv is not None:
                    break
        conv = conv or uuid.uuid4().hex[:16]
        self._states[(run_id, hashes[-1])] = conv
        self._states.move_to_end((run_id, hashes[-1]))
        while len(self._states) > self.max_states:
            self._states.popitem(last=False)
        return conv

