"""Which recorded call a request is: a normalised request, compared as canonical JSON.

Compared: protocol, endpoint, model as the client asked, and the body (system, messages / input /
contents, tools, and every setting that changes an answer). Ignored: what differs from run to run
without changing the question: ids and user ids in metadata, stream options, cache and session
keys, the client's per-turn metadata, Responses item ids and previous_response_id (dario makes
new response ids when it re-translates), and any `--replay-ignore` path (dotted, `*` for every
list element or key: `system`, `messages.*.content.*.cache_control`).
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
from typing import Any, Iterable

# top-level body fields that never change the answer, by protocol ("*": all)
VOLATILE = {
    "*": ("metadata", "stream_options", "user", "safety_identifier", "prompt_cache_key", "client_metadata",
          "service_tier", "store", "include"),
    "responses": ("previous_response_id",),
}


def _drop(obj: Any, path: list[str]) -> None:
    if not path:
        return
    head, rest = path[0], path[1:]
    targets: Iterable
    if isinstance(obj, dict):
        targets = list(obj) if head == "*" else [head] if head in obj else []
        for k in targets:
            if rest:
                _drop(obj[k], rest)
            else:
                del obj[k]
    elif isinstance(obj, list):
        idx = range(len(obj)) if head == "*" else [int(head)] if head.isdigit() and int(head) < len(obj) else []
        for i in sorted(idx, reverse=True):
            if rest:
                _drop(obj[i], rest)
            else:
                del obj[i]


def normalise(client: dict, ignore: tuple[str, ...] = ()) -> dict:
    proto = client.get("protocol") or ""
    body = copy.deepcopy(client.get("body")) if isinstance(client.get("body"), dict) else {}
    for k in VOLATILE["*"] + VOLATILE.get(proto, ()):
        body.pop(k, None)
    if proto == "responses" and isinstance(body.get("input"), list):
        for item in body["input"]:
            if isinstance(item, dict) and item.get("type", "message") == "message":
                item.pop("id", None)  # client-assigned item ids differ per run
    body.pop("model", None)  # compared as `model` below (Gemini has it in the path)
    for p in ignore:
        _drop(body, [x for x in p.split(".") if x])
    return {"protocol": proto, "endpoint": client.get("endpoint"), "model": client.get("model"),
            "stream": bool(client.get("stream")), "body": body}


def canonical(norm: dict) -> str:
    return json.dumps(norm, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def key(client: dict, ignore: tuple[str, ...] = ()) -> str:
    return hashlib.sha256(canonical(normalise(client, ignore)).encode()).hexdigest()


def _lines(norm: dict) -> list[str]:
    return json.dumps(norm, sort_keys=True, indent=1, ensure_ascii=False).splitlines()


def nearest(client: dict, recorded: list[dict], ignore: tuple[str, ...] = ()) -> tuple[dict | None, list[str]]:
    """The recorded call most like `client` and a short diff (recorded -> asked), for a miss."""
    want = normalise(client, ignore)
    want_lines = _lines(want)
    best, best_norm, best_ratio = None, None, -1.0
    for rec in recorded:
        norm = normalise(rec["client"], ignore)
        ratio = difflib.SequenceMatcher(None, _lines(norm), want_lines, autojunk=False).ratio()
        if ratio > best_ratio:
            best, best_norm, best_ratio = rec, norm, ratio
    if best is None:
        return None, []
    return best, diff(best_norm, want)[:12]


def diff(a: dict, b: dict, a_name: str = "recorded", b_name: str = "asked") -> list[str]:
    """What differs between two normalised requests: -/+ lines, long ones clipped to where they differ."""
    lines = difflib.unified_diff(_lines(a), _lines(b), a_name, b_name, n=0, lineterm="")
    return _clipped([d for d in lines if not d.startswith("@@")][2:])


def _clipped(diff: list[str], width: int = 70) -> list[str]:
    """Diff lines cut to the part that differs: a changed long line (a system prompt) is shown
    from a little before its first differing character."""
    out = []
    for i, d in enumerate(diff):
        pair = diff[i + 1] if d.startswith("-") and i + 1 < len(diff) and diff[i + 1].startswith("+") else \
            diff[i - 1] if d.startswith("+") and i > 0 and diff[i - 1].startswith("-") else None
        text = d[1:]
        if pair is not None and len(text) > width * 2:
            other = pair[1:]
            k = next((j for j, (x, y) in enumerate(zip(text, other)) if x != y), min(len(text), len(other)))
            start = max(0, k - width // 2)
            text = ("…" if start else "") + text[start:start + width * 2] + ("…" if start + width * 2 < len(text) else "")
        elif len(text) > width * 2:
            text = text[:width * 2] + "…"
        out.append(d[0] + text)
    return out
