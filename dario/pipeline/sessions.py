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
hashes are chained (h_k = H(h_{k-1}, m_k)), so a call costs one pass over its messages, and a
long body that came as bytes reads only the turns it has not met before (`Conversations`). The
state is per run, bounded, and only in memory (the hashes are Python's own: one process's).
"""

from __future__ import annotations

import json
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable, Iterator

import msgspec

from dario.core import fastjson
from dario.core.ids import new_id
from dario.core.text import text_of

_UNSEEN = object()


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


# where each protocol keeps a request's turns (its long part), and the top-level fields with its system prompt
_TURNS = {"anthropic": "messages", "openai": "messages", "responses": "input", "gemini": "contents"}
_TOP = {"anthropic": ("system",), "openai": (), "responses": ("instructions",), "gemini": ("systemInstruction",)}


def _system(protocol: str, top: Any) -> list[tuple[str, str]]:
    """The system prompt as [("system", what it says)], from a request's top-level fields."""
    if protocol == "anthropic" and top.get("system"):
        return [("system", _norm(text_of(top.get("system"))))]
    if protocol == "responses" and isinstance(top.get("instructions"), str):
        return [("system", _norm(top["instructions"]))]
    if protocol == "gemini":
        si = top.get("systemInstruction")
        parts = si.get("parts") if isinstance(si, dict) else None
        if parts:
            return [("system", _norm(" ".join(p.get("text", "") for p in parts if isinstance(p, dict))))]
    return []


def _items(protocol: str, turns: Any) -> list:
    """A request's turns as a list (Responses' `input` may be one string: a user turn)."""
    if protocol == "responses" and isinstance(turns, str):
        return [{"role": "user", "content": turns}]
    return turns if isinstance(turns, list) else []


def _turn(protocol: str, it: Any) -> tuple[str, str] | None:
    """(role, what it says) of one of a request's turns; None for an item that is not one. User and tool
    turns are both "user", assistant and model turns "assistant"."""
    if not isinstance(it, dict):
        return None
    if protocol == "gemini":
        it = {"role": "assistant" if it.get("role") == "model" else "user", "content": [
            {"type": "text", "text": p["text"]} if isinstance(p.get("text"), str) and not p.get("thought") else
            {"type": "tool_use", "id": str((p.get("functionCall") or p.get("functionResponse") or {}).get("name"))}
            for p in it.get("parts") or [] if isinstance(p, dict)]}
    elif protocol == "responses" and "role" not in it:
        it = {"role": "assistant" if it.get("type") in ("function_call", "reasoning", "custom_tool_call") else "user",
              "content": [it]}
    role = it.get("role")
    role = ("system" if role in ("system", "developer") else
            "assistant" if role in ("assistant", "model") else "user")
    content = it.get("content")
    ids = _tool_ids(content)
    calls = it.get("tool_calls")
    if calls:
        ids += [c.get("id", "") for c in calls if isinstance(c, dict)]
    if it.get("tool_call_id"):
        ids.append(str(it["tool_call_id"]))
    return role, _norm(text_of(content)) + ("|" + ",".join(ids) if ids else "")


def messages_of(protocol: str, body: dict) -> list[tuple[str, str]]:
    """(role, what it says) for the system prompt and each turn, in order."""
    return _system(protocol, body) + [t for it in _items(protocol, body.get(_TURNS[protocol]))
                                      if (t := _turn(protocol, it)) is not None]


def _hashed(said: list[tuple[str, str]]) -> list[tuple[str, int, Any]]:
    """(role, hash of what it says, what it says) of each (role, text): the form Conversations reads."""
    return [(role, hash((role, text)), text) for role, text in said]


@lru_cache(maxsize=None)
def _raw_decoder(protocol: str) -> msgspec.json.Decoder:
    """A request's turns as the bytes of each (msgspec.Raw: sliced, not decoded), and its system prompt."""
    return msgspec.json.Decoder(msgspec.defstruct(f"Turns_{protocol}", [
        (_TURNS[protocol], list[msgspec.Raw] | str | None, None), *[(f, Any, None) for f in _TOP[protocol]]]))


MIN_TASK_TEXT = 24  # a tool argument shorter than this is too common to name a sub-agent's prompt


def _last_tool_texts(protocol: str, from_end: Iterator[Any]) -> list[str]:
    """The text arguments of the tool calls in the last assistant turn (a task's prompt among them), given
    the request's turns from its last one back (read only as far as that turn)."""
    if protocol == "gemini":
        last = next((c for c in from_end if isinstance(c, dict) and c.get("role") == "model"), None)
        args = [(p.get("functionCall") or {}).get("args") for p in (last.get("parts") or [])
                if isinstance(p, dict)] if last else []
    elif protocol == "responses":
        args = []
        for it in from_end:  # the function calls after the last user turn
            if not isinstance(it, dict):
                continue
            if it.get("role") == "user":
                break
            if it.get("type") in ("function_call", "custom_tool_call"):
                args.append(it.get("arguments") or it.get("input"))
    else:
        last = next((m for m in from_end if isinstance(m, dict) and m.get("role") == "assistant"), {})
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


MEMO_BYTES = 8 << 20  # what the memo of turns read may hold (their bytes, and ~200 a turn); then it starts again


class Conversations:
    """Assigns each call a conversation id (as a call's: time first, core/ids.py), its parent call and its
    sub-agents, per run.

    A call's body may come as its raw bytes (a long one that nothing decoded before it was sent, parse.py):
    then its turns are sliced, not decoded, and each is read (decoded, reduced to what it says) only the
    first time its exact bytes are met. An agent sends its whole history on every call, so a call reads its
    few new turns: a 300 KB history took 2.8 ms to decode and walk, on the event loop after the answer,
    where a call arriving meanwhile waited for it."""

    def __init__(self, max_states: int = 20_000, max_open: int = 64) -> None:
        self.max_states = max_states
        # (run, prefix hash) -> (conversation, the call whose messages those were)
        self._states: OrderedDict[tuple[str, int], tuple[str, str | None]] = OrderedDict()
        # per run: conversations that opened on their own, (id, first user text), not yet linked to a parent
        self._open: dict[str, deque] = {}
        self.max_open = max_open
        self._memo: dict[str, dict[bytes, tuple[str, int] | None]] = {}  # protocol -> a turn's bytes -> (role, hash)
        self._memo_bytes = 0

    def key(self, run_id: str, protocol: str, body: Any) -> str | None:
        return self.assign(run_id, protocol, body).conversation

    def _read(self, protocol: str, body: Any) -> tuple[list[tuple[str, int, Any]], Callable[[], Iterator[Any]]] | None:
        """The request's turns as (role, hash of what it says, the text or the turn's bytes), and its turns
        from the last back; None when it is not a request object."""
        if isinstance(body, (bytes, bytearray)):
            try:
                top = _raw_decoder(protocol).decode(body)
            except (msgspec.DecodeError, RecursionError):  # not this shape (or JSON msgspec refuses): decode it
                body = fastjson.loads_object(body)
            else:
                return self._read_raw(protocol, top)
        if not isinstance(body, dict):
            return None
        return _hashed(messages_of(protocol, body)), lambda: reversed(_items(protocol, body.get(_TURNS[protocol])))

    def _read_raw(self, protocol: str, top: Any) -> tuple[list[tuple[str, int, Any]], Callable[[], Iterator[Any]]]:
        fields = {f: getattr(top, f) for f in _TOP[protocol]}
        raw = getattr(top, _TURNS[protocol])
        if not isinstance(raw, list):  # a string (Responses' one user turn) or none: nothing to slice
            return self._read(protocol, {**fields, _TURNS[protocol]: raw})
        turns = _hashed(_system(protocol, fields))
        memo = self._memo.get(protocol)
        if memo is None:
            memo = self._memo[protocol] = {}
        for r in raw:
            data = bytes(r)
            seen = memo.get(data, _UNSEEN)
            if seen is _UNSEEN:
                t = _turn(protocol, fastjson.loads(data))
                seen = memo[data] = (t[0], hash(t)) if t is not None else None
                self._memo_bytes += len(data) + 200
            if seen is not None:
                turns.append((seen[0], seen[1], data))  # seen[1] is hash((role, text)), as _hashed makes it
        if self._memo_bytes > MEMO_BYTES:
            self._memo.clear()
            self._memo_bytes = 0
        return turns, lambda: (fastjson.loads(bytes(r)) for r in reversed(raw))

    def _text(self, protocol: str, source: Any) -> str:
        """What a turn says, from _read's text or the turn's bytes."""
        if isinstance(source, str):
            return source
        t = _turn(protocol, fastjson.loads(source))
        return t[1] if t is not None else ""

    def assign(self, run_id: str, protocol: str, body: Any, call_id: str | None = None) -> Turn:
        """`body`: the request decoded, or its raw bytes."""
        read = self._read(protocol, body)
        if read is None:
            return Turn(None)
        turns, from_end = read
        first = None  # the first user turn: what a sub-agent's spawning tool call will quote
        hashes, h = [], 0
        for i, t in enumerate(turns):  # h_k = H(h_{k-1}, turn k): each prefix of the conversation, in one pass
            if first is None and t[0] == "user":
                first = i
            h = hash((h, t[1]))
            hashes.append(h)
        if first is None and all(t[0] == "system" for t in turns):
            return Turn(None)
        found = None
        for k in range(len(turns) - 1, 0, -1):  # the longest earlier call this one extends
            if turns[k][0] == "assistant":
                found = self._states.get((run_id, hashes[k - 1]))
                if found is not None:
                    break
        turn = Turn(found[0], found[1]) if found else Turn(new_id())
        opened = self._open.get(run_id)
        if opened is None:
            opened = self._open[run_id] = deque(maxlen=self.max_open)
        if found is None:
            text = self._text(protocol, turns[first][2]) if first is not None else ""
            opened.append((turn.conversation, text[:8192]))
        elif opened:
            for text in _last_tool_texts(protocol, from_end()):
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
