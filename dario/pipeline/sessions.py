"""One key per conversation, so every turn of an agent run groups together.

An agent resends the whole history each turn, so the system prompt plus the first
user message are the same on every turn of one conversation and differ between
conversations. Only those fields are read (never the whole body), and text is
normalised (blocks joined, whitespace collapsed) so the Anthropic and OpenAI shapes
of one message give the same key, whichever side of a translation we look from.
"""

from __future__ import annotations

import hashlib

from dario.core.text import text_of


def _norm(text: str) -> str:
    return " ".join(text.split())


def _gemini_message(c) -> dict:
    if isinstance(c, str):
        return {"role": "user", "content": c}
    parts = c.get("parts") if isinstance(c, dict) and isinstance(c.get("parts"), list) else []
    text = "\n".join(p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str)
                     and not p.get("thought"))
    return {"role": "assistant" if c.get("role") == "model" else "user", "content": text}


def conversation_key(protocol: str, body: dict) -> str | None:
    """A 16-hex-digit key from system prompt + first user message, or None if neither exists."""
    if not isinstance(body, dict):
        return None
    system: list[str] = []
    messages = body.get("messages")
    if protocol == "responses":
        messages = body.get("input")
        messages = [{"role": "user", "content": messages}] if isinstance(messages, str) else messages
        system.append(body.get("instructions") if isinstance(body.get("instructions"), str) else "")
    elif protocol == "gemini":
        messages = [_gemini_message(c) for c in body.get("contents") or [] if isinstance(c, dict)]
        system.append(_gemini_message(body.get("systemInstruction") or {})["content"])
    if not isinstance(messages, list):
        messages = []
    if protocol == "anthropic":
        system.append(text_of(body.get("system")))
    first_user = None
    for m in messages:
        if not isinstance(m, dict):
            continue
        role = m.get("role")
        if role in ("system", "developer") and first_user is None:
            system.append(text_of(m.get("content")))
        elif role == "user":
            first_user = text_of(m.get("content"))
            break
    sys_text = _norm("\n".join(system))
    user_text = _norm(first_user or "")
    if not sys_text and not user_text:
        return None
    h = hashlib.sha256()
    h.update(sys_text.encode("utf-8", "replace"))
    h.update(b"\x00")
    h.update(user_text.encode("utf-8", "replace"))
    return h.hexdigest()[:16]
