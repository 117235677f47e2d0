"""Conversations: which calls are turns of one conversation.

A call continues a conversation only when its message list extends an earlier call's: that
call's messages, then an assistant turn (its answer), then more. So every turn of an agent
run groups together, while independent calls that happen to open with the same words ("hi")
are separate conversations, and a sub-agent (a new system prompt and a new first message) is
a conversation of its own.

Branches. Each call also names the earlier call it extends (`parent_call`): two calls extending
the same one are a fork (an edited or retried turn). A sub-agent's conversation is linked to the
call that spawned it: when a later turn shows an assistant tool call whose text argument (the
task's prompt) opens a conversation that started on its own meanwhile, that conversation is a
branch of the call whose answer made the tool call.

Each message is reduced to what it says (role, text, tool call ids), the same for every
protocol, so the Anthropic, OpenAI, Responses and Gemini shapes of one history agree. Prefix
hashes are chained (h_k = H(h_{k-1}, m_k)), so a call costs one pass over its messages; the
state is per run, bounded, and only in memory.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

from dario.core.ids import random_id
from dario.core.text import text_of


def _norm(text: str) -> str:
    return " ".join(text.split())


_TOOL_TYPES = frozenset({"tool_use", "tool_result", "function_call", "function_call_output"})


def _tool_ids(content: Any) -> list[str]:
    ids: list[str] = []
    if not isinstance(content, list):
        return ids
    for b in content:
        if isinstance(b, dict) and b.get("type") in _TOOL_TYPES:
            for k in ("id", "tool_use_id", "call_id"):
                v = b.get(k)
                if isinstance(v, str):
                    ids.append(v)
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
        ids = _tool_ids(content)
        calls = m.get("tool_calls")
        if calls:
            ids += [c.get("id", "") for c in calls if isinstance(c, dict)]
        if m.get("tool_call_id"):
            ids.append(str(m["tool_call_id"]))
        out.append((role, _norm(text_of(content)) + ("|" + ",".join(ids) if ids else "")))
    return out


_ROLE = {r: r.encode() + b"\x00" for r in ("system", "user", "assistant")}  # what messages_of gives


def _prefix_hashes(msgs: list[tuple[str, str]]) -> list[bytes]:
    """h_k = H(h_{k-1}, role_k, text_k): the hash of each prefix of the conversation, in one pass."""
    out, h, sha = [], b"", hashlib.sha256
    for role, text in msgs:
        h = sha(h + _ROLE[role] + text.encode("utf-8", "replace")).digest()
        out.append(h)
    return out


MIN_TASK_TEXT = 24  # a tool argument shorter than this is too common to name a sub-agent's prompt


def _last_tool_texts(protocol: str, body: dict) -> list[str]:
    """The text arguments of the tool calls in the last assistant turn (a task's prompt among them)."""
    if protocol == "gemini":
        turns = [c for c in body.get("contents") or [] if isinstance(c, dict) and c.get("role") == "model"]
        args = [(p.get("functionCall") or {}).get("args") for p in (turns[-1].get("parts") or [])
                if isinstance(p, dict)] if turns else []
    elif protocol == "responses":
        items = body.get("input") if isinstance(body.get("input"), list) else []
        args = []
        for it in reversed(items):  # the function calls after the last user turn
            if not isinstance(it, dict):
                continue
            if it.get("role") == "user":
                break
            if it.get("type") in ("function_call", "custom_tool_call"):
                args.append(it.get("arguments") or it.get("input"))
    else:
        turns = [m for m in body.get("messages") or [] if isinstance(m, dict) and m.get("role") == "assistant"]
        last = turns[-1] if turns else {}
        args = [b.get("input") for b in last.get("content") or [] if isinstance(b, dict) and b.get("type") == "tool_use"]
        args += [(c.get("function") or {}).get("arguments") for c in last.get("tool_calls") or [] if isinstance(c, dict)]
    out: list[str] = []
    for a in args:
        if isinstance(a, str):
            try:
                a = json.loads(a)
            except ValueError:
                pass
        for v in (a.values() if isinstance(a, dict) else [a]):
            if isinstance(v, str) and len(v) >= MIN_TASK_TEXT:
                out.append(_norm(v))
    return out


@dataclass
class Turn:
    """What Conversations says of one call."""
    conversation: str | None
    parent_call: str | None = None  # the earlier call this one extends
    subagents: list[str] = field(default_factory=list)  # conversations found to be branches of parent_call


class Conversations:
    """Assigns each call a conversation id (16 hex digits), its parent call and its sub-agents, per run."""

    def __init__(self, max_states: int = 20_000, max_open: int = 64) -> None:
        self.max_states = max_states
        # (run, prefix hash) -> (conversation, the call whose messages those were)
        self._states: OrderedDict[tuple[str, bytes], tuple[str, str | None]] = OrderedDict()
        # per run: conversations that opened on their own, (id, first user text), not yet linked to a parent
        self._open: dict[str, deque] = {}
        self.max_open = max_open

    def key(self, run_id: str, protocol: str, body: Any) -> str | None:
        return self.assign(run_id, protocol, body).conversation

    def assign(self, run_id: str, protocol: str, body: Any, call_id: str | None = None) -> Turn:
        if not isinstance(body, dict):
            return Turn(None)
        msgs = messages_of(protocol, body)
        first = None  # the first user text: what a sub-agent's spawning tool call will quote
        for role, text in msgs:
            if role == "user":
                first = text
                break
        if first is None and all(role == "system" for role, _ in msgs):
            return Turn(None)
        hashes = _prefix_hashes(msgs)
        found = None
        for k in range(len(msgs) - 1, 0, -1):  # the longest earlier call this one extends
            if msgs[k][0] == "assistant":
                found = self._states.get((run_id, hashes[k - 1]))
                if found is not None:
                    break
        turn = Turn(found[0], found[1]) if found else Turn(random_id(16))
        opened = self._open.get(run_id)
        if opened is None:
            opened = self._open[run_id] = deque(maxlen=self.max_open)
        if found is None:
            opened.append((turn.conversation, (first or "")[:8192]))
        elif opened:
            for text in _last_tool_texts(protocol, body):
                for item in list(opened):
                    if item[0] != turn.conversation and text in item[1]:
                        turn.subagents.append(item[0])
                        opened.remove(item)
        key, states = (run_id, hashes[-1]), self._states
        if key in states:  # a retried turn: now the most recent
            states.move_to_end(key)
        states[key] = (turn.conversation, call_id)
        while len(states) > self.max_states:
            states.popitem(last=False)
        return turn

