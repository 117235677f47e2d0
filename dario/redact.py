"""Remove credentials from text before it reaches a log, an error body or the store.

Text is first JSON-unescaped where an escape spells a character a key can contain
(`sk\\u002dant…`, `https:\\/\\/`), so an escaped key is masked like a plain one; escapes of
quotes, backslashes and control characters stay, so JSON stays JSON.
"""

from __future__ import annotations

import re
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
# bearer tokens of any shape
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=\-]{8,}")
# key-ish JSON/header fields, and NAME_KEY=value / NAME_TOKEN: value assignments (env dumps, logs)
# (a name starts a word and is at most 64 long: an unbounded prefix made this quadratic on a long run of
# letters, so one 1 MB prompt of them held the telemetry writer for minutes)
_FIELD = re.compile(r'(?i)("?(?<![a-z0-9_-])(?:x-api-key|x-goog-api-key|api[_-]?key|authorization|access[_-]?token'
                    r'|secret|[a-z0-9_]{0,64}_(?:key|token|secret|password))"?\s*[:=]\s*"?)([^",\s}]{6,})')
_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})|\\/")

MASK = "[REDACTED]"


def _unescape(m: re.Match) -> str:
    if m.group(1) is None:
        return "/"
    ch = chr(int(m.group(1), 16))
    return ch if (ch.isascii() and (ch.isalnum() or ch in "-_.+/=:")) else m.group(0)


def mask_literals(text: str, secrets: Iterable[str]) -> str:
    """Mask each literal secret given (longest first, so one that contains another goes whole)."""
    for secret in sorted((s for s in secrets if s and len(s) >= 4), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def redact(text: str, extra_secrets: Iterable[str] = ()) -> str:
    """Mask every known secret shape, plus any literal secrets given."""
    if not text:
        return text
    if "\\" in text:
        text = _ESCAPE.sub(_unescape, text)
    if extra_secrets:
        text = mask_literals(text, extra_secrets)
    text = _SHAPE.sub(MASK, text)
    text = _BEARER.sub(lambda m: m.group(1) + MASK, text)
    return _FIELD.sub(lambda m: m.group(1) + MASK, text)


def redact_bytes(data: bytes, extra_secrets: Iterable[str] = ()) -> bytes:
    return redact(data.decode("utf-8", "replace"), extra_secrets).encode("utf-8")
