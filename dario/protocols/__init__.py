"""The wire protocols dario speaks, one adapter each (see base.py for what an adapter is).

To add a protocol: write `dario/protocols/NAME.py` with an Adapter subclass and `ADAPTER`,
and add it to `ADAPTERS` below. The engine needs no change.
"""

from __future__ import annotations

from functools import lru_cache

from dario.protocols.anthropic import ADAPTER as _ANTHROPIC
from dario.protocols.base import Adapter
from dario.protocols.gemini import ADAPTER as _GEMINI
from dario.protocols.openai_chat import ADAPTER as _OPENAI
from dario.protocols.openai_responses import ADAPTER as _RESPONSES

# paths are matched in this order; no two adapters claim the same path
ADAPTERS: dict[str, Adapter] = {a.name: a for a in (_ANTHROPIC, _OPENAI, _RESPONSES, _GEMINI)}


def adapter(name: str) -> Adapter:
    return ADAPTERS[name]


@lru_cache(maxsize=1024)  # asked two or three times a call (guard, ingress, engine) of a few distinct paths
def for_path(path: str) -> tuple[Adapter, str] | None:
    """(adapter, endpoint) for an LLM path, or None: not a call dario translates."""
    for a in ADAPTERS.values():
        ep = a.endpoint(path)
        if ep:
            return a, ep
    return None
