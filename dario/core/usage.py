"""One token-usage type for every protocol.

Meaning (the same whatever the provider): `input_tokens` EXCLUDES cache reads and cache
writes, which are counted apart; `output_tokens` INCLUDES reasoning tokens (that is how
every provider bills them), and `reasoning_tokens` says how many of them were reasoning.
Each protocol adapter maps its provider's own fields into this form, once
(dario/protocols/*.py, `usage_from_wire`), whether the provider counts cache tokens
inside its input count (OpenAI, DeepSeek, Gemini) or on top of it (Anthropic).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any


@dataclass(slots=True)
class Usage:
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None
    reasoning_tokens: int | None = None
    cache_write_1h_tokens: int | None = None  # of cache_write_tokens, the 1-hour writes (priced higher)

    def merge(self, newer: "Usage") -> None:
        """Later reports win, but a missing field never erases one already seen (streams
        report input at the start and output at the end)."""
        for f in _FIELDS:
            v = getattr(newer, f)
            if v is not None:
                setattr(self, f, v)

    @property
    def known(self) -> bool:
        return self.input_tokens is not None or self.output_tokens is not None


_FIELDS = tuple(f.name for f in fields(Usage))


def count(v: Any) -> int | None:
    """A token count as a provider sent it: a non-negative int, else unknown."""
    return v if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else None
