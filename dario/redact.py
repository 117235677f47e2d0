"""Remove credentials from text before it reaches a log, an error body or the store.

Text is first JSON-unescaped where an escape spells a character a key can contain
(`sk\\u002dant…`, `https:\\/\\/`), so an escaped key is masked like a plain one; escapes of
quotes, backslashes and control characters stay, so JSON stays JSON.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Iterable

_KEYISH = "A-Za-z0-9_\\-"
_SHAPES = [
    # provider keys: OpenAI/Anthropic/DeepSeek/OpenRouter (sk-…), Groq (gsk_), xAI (xai-), dario run tokens
    r"\b(?:(?:sk|gsk|xai)[-_]|dario-run-)[A-Za-z0-9_\-]{8,}",
    r"\bAIza[0-9A-Za-z_\-]{30,}",  # Google (Gemini) API keys
    r"\b(?:AKIA|ASIA)[0-9A-Z]{16}",  # AWS access key ids
    r"\bgh[pousr]_[A-Za-z0-9]{30,}",  # GitHub tokens
    r"\bhf_[A-Za-z0-9]{30,}",  # Hugging Face tokens
    r"\bpplx-[A-Za-z0-9]{30,}",  # Perplexity
    r"\bnvapi-[A-Za-z0-9_\-]{30,}",  # NVIDIA
    r"\beyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*",  # JWTs
]
_SHAPE = re.compile("|".join(f"(?:{p})" for p in _SHAPES))
# Every match of _SHAPE begins with one of these (its first characters after the \b), so it is tried only
# where one stands (_shapes).
_SHAPE_ANCHORS = ("sk-", "sk_", "gsk", "xai", "dario-run-", "AIza", "AKIA", "ASIA", "ghp_", "gho_", "ghu_", "ghs_",
                  "ghr_", "hf_", "pplx-", "nvapi-", "eyJ")
# bearer tokens of any shape
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=\-]{8,}")
# key-ish JSON/header fields, and NAME_KEY=value / NAME_TOKEN: value assignments (env dumps, logs): the
# rule, as one pattern; redact() applies it through _fields(), which tests/test_hardening.py holds equal
# (a name starts a word and is at most 64 long: an unbounded prefix made this quadratic on a long run of
# letters, so one 1 MB prompt of them held the telemetry writer for minutes)
_FIELD = re.compile(r'(?i)("?(?<![a-z0-9_-])(?:x-api-key|x-goog-api-key|api[_-]?key|authorization|access[_-]?token'
                    r'|secret|[a-z0-9_]{0,64}_(?:key|token|secret|password))"?\s*[:=]\s*"?)([^",\s}]{6,})')
# The same fields, found from their end: a scan for the five words a name must end with is far cheaper
# than trying the name grammar at every position (a 256 KB body took ~60 ms that way); each hit's name is
# then read backwards and checked against _NAME.
_FIELD_END = re.compile(r'(?i)(key|token|secret|password|authorization)("?\s*[:=]\s*"?)([^",\s}]{6,})')
_FIELD_END_LOWER = re.compile(r'(key|token|secret|password|authorization)("?\s*[:=]\s*"?)([^",\s}]{6,})')  # 5x faster
_NAME = re.compile(r'(?i)(?:x-api-key|x-goog-api-key|api[_-]?key|authorization|access[_-]?token|secret'
                   r'|[a-z0-9_]{0,64}_(?:key|token|secret|password))')
_NAME_CHAR = re.compile(r"(?i)[a-z0-9_-]")  # as _FIELD's look-behind reads one (Unicode case folding too)
_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})|\\/")

MASK = "[REDACTED]"


def _unescape(m: re.Match) -> str:
    if m.group(1) is None:
        return "/"
    ch = chr(int(m.group(1), 16))
    return ch if (ch.isascii() and (ch.isalnum() or ch in "-_.+/=:")) else m.group(0)


def mask_literals(text: str, secrets: Iterable[str]) -> str:
    """Mask each literal secret given (longest first, so one that contains another goes whole)."""
    for secret in _longest_first(secrets if isinstance(secrets, tuple) else tuple(secrets)):
        if secret in text:
            text = text.replace(secret, MASK)
    return text


@lru_cache(maxsize=64)
def _longest_first(secrets: tuple[str, ...]) -> tuple[str, ...]:
    # the same few tuples every call (the recorder's, the pipeline's): sorted once each
    return tuple(sorted((s for s in secrets if s and len(s) >= 4), key=len, reverse=True))


def redact(text: str, extra_secrets: Iterable[str] = ()) -> str:
    """Mask every known secret shape, plus any literal secrets given."""
    if not text:
        return text
    if "\\" in text:
        text = _ESCAPE.sub(_unescape, text)
    if extra_secrets:
        text = mask_literals(text, extra_secrets)
    for a in _SHAPE_ANCHORS:  # a loop, not any(<generator>): this runs for every stored text
        if a in text:
            text = _shapes(text, a)
            break
    if not text.isascii():  # lowering may move positions: scan case-insensitively
        return _fields(_BEARER.sub(lambda m: m.group(1) + MASK, text), None)
    lowered = text.lower()
    if "bearer" in lowered:
        text = _BEARER.sub(lambda m: m.group(1) + MASK, text)
        lowered = text.lower()
    return _fields(text, lowered)


def _shapes(text: str, first: str) -> str:
    """What _SHAPE.sub(MASK, text) gives, given the first anchor found in it (none before it is there):
    the pattern is tried only where an anchor stands. sre has no scan for a set of literals, so sub() tried
    every position (~18 ns a character: 6 ms on a 300 KB agent history, which nearly always holds a "sk_"
    somewhere, as in "task_id"); str.find is C's. The same matches: sub() tries positions left to right from
    the end of its last match, and no other position can start one."""
    starts = []
    for a in _SHAPE_ANCHORS[_SHAPE_ANCHORS.index(first):]:
        i = text.find(a)
        while i >= 0:
            starts.append(i)
            i = text.find(a, i + 1)
    starts.sort()
    out, last, match = [], 0, _SHAPE.match
    for p in starts:
        if p < last:
            continue
        m = match(text, p)  # \b still reads the character before p: match() sees the whole string
        if m is not None:
            out.append(text[last:p])
            out.append(MASK)
            last = m.end()
    if not out:
        return text
    out.append(text[last:])
    return "".join(out)


def _fields(text: str, lowered: str | None) -> str:
    """What _FIELD.sub(name + MASK) gives, found from each name's end (_FIELD_END): a name holds only
    name characters and must not follow one, so it is the whole run of them before the word."""
    out, last, pos = [], 0, 0
    find = _FIELD_END.search if lowered is None else _FIELD_END_LOWER.search
    scanned = text if lowered is None else lowered  # ASCII: same positions, case-sensitive scan
    while True:
        m = find(scanned, pos)
        if m is None:
            break
        end = m.end(1)
        start = end - len(m.group(1))
        while start > 0 and end - start <= 80 and _NAME_CHAR.match(text, start - 1):
            start -= 1
        if (start > 0 and _NAME_CHAR.match(text, start - 1)) or not _NAME.fullmatch(scanned, start, end):
            pos = end  # not a field name: look again from just past this word
            continue
        out.append(text[last:m.start(3)])
        out.append(MASK)
        last = pos = m.end(3)
    out.append(text[last:])
    return "".join(out)


def redact_bytes(data: bytes, extra_secrets: Iterable[str] = ()) -> bytes:
    return redact(data.decode("utf-8", "replace"), extra_secrets).encode("utf-8")
