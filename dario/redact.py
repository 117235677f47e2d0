"""Remove credentials from text before it reaches a log, an error body or the store."""

from __future__ import annotations

import re
from typing import Iterable

_PATTERNS = [
    # provider keys (sk-..., sk-ant-..., sk-proj-..., gsk_..., xai-...) and dario run tokens
    re.compile(r"\b(?:(?:sk|gsk|xai)[-_]|dario-run-)[A-Za-z0-9_\-]{8,}"),
    # bearer tokens of any shape
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=\-]{8,}"),
    # JWTs
    re.compile(r"\beyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*"),
    # key-ish JSON/header fields
    re.compile(r'(?i)("?(?:x-api-key|api[_-]?key|authorization|access[_-]?token|secret)"?\s*[:=]\s*"?)([^",\s}]{6,})'),
]

MASK = "[REDACTED]"


def mask_literals(text: str, secrets: Iterable[str]) -> str:
    """Mask each literal secret given (longest first, so one that contains another goes whole)."""
    for secret in sorted((s for s in secrets if s and len(s) >= 4), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def redact(text: str, extra_secrets: Iterable[str] = ()) -> str:
    """Mask every known secret shape, plus any literal secrets given."""
    if not text:
        return text
    if extra_secrets:
        text = mask_literals(text, extra_secrets)
    text = _PATTERNS[0].sub(MASK, text)
    text = _PATTERNS[1].sub(lambda m: m.group(1) + MASK, text)
    text = _PATTERNS[2].sub(MASK, text)
    text = _PATTERNS[3].sub(lambda m: m.group(1) + MASK, text)
    return text


def redact_bytes(data: bytes, extra_secrets: Iterable[str] = ()) -> bytes:
    return redact(data.decode("utf-8", "replace"), extra_secrets).encode("utf-8")
