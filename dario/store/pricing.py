"""What a call cost, from its token counts and a price table.

Prices are USD per million tokens: (input, output, cache_read, cache_write).
`input` means uncached input (Anthropic's meaning; the meter subtracts OpenAI's
cached tokens from prompt_tokens), so the four counts never overlap.

Sources, read 2025-2026 via the pricing pages as published then; rechecked 2026-12-02 against stored
copies of those pages and of price round-ups dated 2026 (Anthropic Feb-Apr 2026, OpenAI Apr-Jun 2026:
gpt-5.5/5.4 and their pro models; Gemini Mar-Jul 2026: 3.1 Pro, 3.1 Flash-Lite, 3.5 Flash; DeepSeek
Apr 2026: V3.2 behind both endpoints; xAI Jul 2026: grok-4.3, 4.20, 4.1 Fast). Where a round-up listed no cache price, the provider's usual
rule is used (Gemini: a tenth of input) and the line says so.
  Anthropic: platform.claude.com/docs/en/about-claude/pricing (cache_write = the 5-minute
             write price, the default TTL; a 1-hour write costs 2x the base input price and is
             told apart in usage.cache_creation.ephemeral_1h_input_tokens; Sonnet 4/4.5 prompts
             over 200K input tokens are priced at the long-context tier, TIERS below).
  DeepSeek:  api-docs.deepseek.com/quick_start/pricing (cache_read = the cache-hit input price;
             DeepSeek does not bill cache writes).
  Gemini:    ai.google.dev/gemini-api/docs/pricing (paid tier).
  OpenAI:    developers.openai.com/api/docs/pricing and the per-model pages (OpenAI
             does not bill cache writes: cache_write = input).
An unknown model costs None, never 0: a wrong zero hides spend. Users add or fix
prices in config.json "prices", which always win.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Mapping

Price = tuple[float, float, float, float]  # input, output, cache_read, cache_write

# Longest matching prefix wins, so "claude-opus-4-1" beats "claude-opus-4".
PRICES: dict[str, Price] = {
    # -- Anthropic ---------------------------------------------------------
    "claude-opus-5": (5.0, 25.0, 0.50, 6.25),
    "claude-opus-4-8": (5.0, 25.0, 0.50, 6.25),
    "claude-opus-4-7": (5.0, 25.0, 0.50, 6.25),
    "claude-opus-4-6": (5.0, 25.0, 0.50, 6.25),
    "claude-opus-4-5": (5.0, 25.0, 0.50, 6.25),
    "claude-opus-4-1": (15.0, 75.0, 1.50, 18.75),
    "claude-opus-4": (15.0, 75.0, 1.50, 18.75),
    "claude-sonnet-5": (2.0, 10.0, 0.20, 2.50),
    "claude-sonnet-4": (3.0, 15.0, 0.30, 3.75),  # 4, 4.5, 4.6
    "claude-3-7-sonnet": (3.0, 15.0, 0.30, 3.75),
    "claude-3-5-sonnet": (3.0, 15.0, 0.30, 3.75),
    "claude-haiku-4": (1.0, 5.0, 0.10, 1.25),  # 4.5
    "claude-3-5-haiku": (0.80, 4.0, 0.08, 1.0),
    "claude-3-haiku": (0.25, 1.25, 0.03, 0.30),
    "claude-3-opus": (15.0, 75.0, 1.50, 18.75),
    # -- OpenAI ------------------------------------------------------------
    "gpt-5.5-pro": (30.0, 180.0, 30.0, 30.0),  # no cached-input discount listed
    "gpt-5.5": (5.0, 30.0, 0.50, 5.0),
    "gpt-5.4-pro": (30.0, 180.0, 30.0, 30.0),
    "gpt-5.4-mini": (0.75, 4.5, 0.075, 0.75),
    "gpt-5.4-nano": (0.20, 1.25, 0.02, 0.20),
    "gpt-5.4": (2.5, 15.0, 0.25, 2.5),
    "gpt-5.2": (1.75, 14.0, 0.175, 1.75),
    "gpt-5.1-codex-mini": (0.25, 2.0, 0.025, 0.25),
    "gpt-5.1": (1.25, 10.0, 0.125, 1.25),
    "gpt-5-mini": (0.25, 2.0, 0.025, 0.25),
    "gpt-5-nano": (0.05, 0.40, 0.005, 0.05),
    "gpt-5-pro": (15.0, 120.0, 15.0, 15.0),  # no cached-input discount listed
    "gpt-5": (1.25, 10.0, 0.125, 1.25),
    "gpt-4.1-mini": (0.40, 1.60, 0.10, 0.40),
    "gpt-4.1-nano": (0.10, 0.40, 0.025, 0.10),
    "gpt-4.1": (2.0, 8.0, 0.50, 2.0),
    "gpt-4o-mini": (0.15, 0.60, 0.075, 0.15),
    "gpt-4o": (2.5, 10.0, 1.25, 2.5),
    "o4-mini": (1.10, 4.40, 0.275, 1.10),
    "o3-mini": (1.10, 4.40, 0.55, 1.10),
    "o3-pro": (20.0, 80.0, 20.0, 20.0),
    "o3": (2.0, 8.0, 0.50, 2.0),  # after the June 2025 cut
    "o1-mini": (1.10, 4.40, 0.55, 1.10),
    "o1-pro": (150.0, 600.0, 150.0, 150.0),
    "o1": (15.0, 60.0, 7.50, 15.0),
    # -- Google Gemini (API, paid tier; cache reads at the context-caching price; a cache's
    #    storage is billed per hour, not per token written, so writes cost plain input) -----
    "gemini-3.5-flash": (1.50, 9.0, 0.15, 1.50),  # cache read: a tenth of input (not listed)
    "gemini-3.1-pro": (2.0, 12.0, 0.20, 2.0),
    "gemini-3.1-flash-lite": (0.25, 1.50, 0.025, 0.25),  # cache read: a tenth of input (not listed)
    "gemini-3-pro": (2.0, 12.0, 0.20, 2.0),
    "gemini-3-flash": (0.50, 3.0, 0.05, 0.50),
    "gemini-2.5-pro": (1.25, 10.0, 0.125, 1.25),
    "gemini-2.5-flash-lite": (0.10, 0.40, 0.01, 0.10),
    "gemini-2.5-flash": (0.30, 2.50, 0.03, 0.30),
    "gemini-2.0-flash-lite": (0.075, 0.30, 0.075, 0.075),
    "gemini-2.0-flash": (0.10, 0.40, 0.025, 0.10),
    # -- the other known backends' main models, as their price pages listed them (2025-26; no cache
    #    discount where none is listed). Hosted ids like "meta-llama/Llama-3.3-70B-Instruct-Turbo" and
    #    OpenRouter's "anthropic/claude-sonnet-4.5" match with their provider prefix taken off.
    "llama-3.3-70b-versatile": (0.59, 0.79, 0.59, 0.59),  # Groq
    "llama-3.1-8b-instant": (0.05, 0.08, 0.05, 0.05),  # Groq
    "gpt-oss-120b": (0.15, 0.75, 0.15, 0.15),  # Groq, and others near it
    "llama-3.3-70b-instruct-turbo": (0.88, 0.88, 0.88, 0.88),  # Together
    "deepseek-v3": (1.25, 1.25, 1.25, 1.25),  # Together
    "mistral-large": (2.0, 6.0, 2.0, 2.0),
    "mistral-medium": (0.40, 2.0, 0.40, 0.40),
    "mistral-small": (0.10, 0.30, 0.10, 0.10),
    "codestral": (0.30, 0.90, 0.30, 0.30),
    "grok-4.3": (1.25, 2.50, 0.20, 1.25),  # xAI (docs.x.ai/developers/pricing, Jul 2026)
    "grok-4.20": (1.25, 2.50, 0.20, 1.25),
    "grok-4-1-fast": (0.20, 0.50, 0.05, 0.20),
    "grok-4-fast": (0.20, 0.50, 0.05, 0.20),
    "grok-4": (3.0, 15.0, 0.75, 3.0),
    "grok-3-mini": (0.30, 0.50, 0.075, 0.30),
    "grok-code-fast-1": (0.20, 1.50, 0.02, 0.20),
    # -- DeepSeek -----------------------------------------------------------
    "deepseek-chat": (0.28, 0.42, 0.028, 0.28),  # both endpoints serve V3.2 at one price
    "deepseek-reasoner": (0.28, 0.42, 0.028, 0.28),
}
# Long-context tiers: (prompt tokens above which, the price of the whole call). The prompt counts
# input, cache reads and cache writes together, as the providers do.
TIERS: dict[str, tuple[int, Price]] = {
    "claude-sonnet-4": (200_000, (6.0, 22.50, 0.60, 7.50)),
    "gemini-3.1-pro": (200_000, (4.0, 18.0, 0.40, 4.0)),
    "gemini-3-pro": (200_000, (4.0, 18.0, 0.40, 4.0)),
    "gemini-2.5-pro": (200_000, (2.50, 15.0, 0.25, 2.50)),
}
ONE_HOUR_WRITE = 2.0  # x the base input price (Anthropic)
_BY_LENGTH = sorted(PRICES, key=len, reverse=True)
_PROVIDER_PREFIX = re.compile(r"^(?:[a-z0-9_-]+/|[a-z0-9_-]+:)")  # "openai/gpt-4o", "anthropic:claude-…"


def _norm(model: str) -> str:
    m = model.strip().lower()
    while _PROVIDER_PREFIX.match(m):  # "openrouter:anthropic/claude-…": every prefix off
        m = _PROVIDER_PREFIX.sub("", m, count=1)
    # Anthropic's old dotted alias style ("claude-sonnet-4.5") -> dashed ids
    return re.sub(r"(claude-[a-z0-9-]*?\d)\.(\d)", r"\1-\2", m) if m.startswith("claude") else m


def _matches(model: str, prefix: str) -> bool:
    # a prefix matches a whole id or an id continued by "-" (dated/variant suffix);
    # "gpt-4o" must not match "gpt-4o-mini" only because mini is listed first (longest wins).
    return model == prefix or model.startswith(prefix + "-") or model.startswith(prefix + "@")


def _override(model: str, overrides: Mapping[str, Mapping[str, float]] | None) -> Price | None:
    if not overrides:
        return None
    o = overrides.get(model) or overrides.get(_norm(model))
    if isinstance(o, Mapping) and "input" in o and "output" in o:
        inp, out = float(o["input"]), float(o["output"])
        return (inp, out, float(o.get("cache_read", inp)), float(o.get("cache_write", inp)))
    return None


def _price_and_tier(model: str | None, overrides) -> tuple[Price | None, tuple[int, Price] | None]:
    """A model's price and, for a built-in entry that has one, its long-context tier."""
    if not model:
        return None, None
    o = _override(model, overrides)
    if o is not None:
        return o, None  # a config price is the whole price: no built-in tier on top
    prefix = table_entry(model)
    return (PRICES[prefix], TIERS.get(prefix)) if prefix else (None, None)


def price_for(model: str | None, overrides: Mapping[str, Mapping[str, float]] | None = None) -> Price | None:
    return _price_and_tier(model, overrides)[0]


@lru_cache(maxsize=1024)
def table_entry(model: str) -> str | None:
    """The built-in table's name for a model (its longest matching prefix), or None."""
    m = _norm(model)  # why cached: every call is priced on the event loop, and the scan is ~50 prefixes
    for prefix in _BY_LENGTH:
        if _matches(m, prefix):
            return prefix
    return None


def price_source(model: str, overrides: Mapping[str, Mapping[str, float]] | None = None) -> str | None:
    """Where a model's price comes from: "config", "built-in (PREFIX)", or None (no price)."""
    if _override(model, overrides) is not None:
        return "config.json prices"
    prefix = table_entry(model)
    return f"built-in ({prefix})" if prefix else None


# Money: a call's cost is kept to 1e-10 USD, and sums are made of those whole units, so every
# grouping of the same calls adds up to the same total (float sums depend on their order).
UNITS_PER_USD = 10**10
SQL_UNITS = f"CAST(ROUND(cost_usd * {UNITS_PER_USD}) AS INTEGER)"  # the same rule inside SQLite


def to_units(usd: float) -> int:
    return round(usd * UNITS_PER_USD)


def total_usd(costs) -> float | None:
    """The exact sum of costs (None when none is known): the one place money is added up."""
    known = [to_units(c) for c in costs if c is not None]
    return sum(known) / UNITS_PER_USD if known else None


def fmt_usd(v: float | None, none: str = "-") -> str:
    """The one money format: small sums keep their significant digits."""
    if v is None:
        return none
    return f"${v:.6f}" if v < 0.01 else f"${v:.4f}" if v < 1 else f"${v:,.2f}"


def unpriced(rec) -> bool:
    """A call that was answered but whose cost is unknown (no price, or no token counts): a total
    without it is only a lower bound. Failed calls cost nothing and do not count. (SQL_UNPRICED
    is the same rule for the store.)"""
    get = rec.get if isinstance(rec, dict) else (lambda k: getattr(rec, k))
    return get("cost_usd") is None and not get("error") and (get("status") or 0) < 400


SQL_UNPRICED = "cost_usd IS NULL AND error IS NULL AND COALESCE(status, 0) < 400"


def spend_text(total: float | None, n_unpriced: int) -> str:
    """"$X", or "≥ $X (N calls unpriced)" when some calls could not be priced."""
    if not n_unpriced:
        return fmt_usd(total, "$0")
    return f"≥ {fmt_usd(total or 0.0)} ({n_unpriced} call{'s' if n_unpriced != 1 else ''} unpriced)"


def cache_hit_rate(input_tokens: int | None, cache_read: int | None, cache_write: int | None) -> float | None:
    """The share of a prompt served from the provider's cache (None: no prompt counts known)."""
    prompt = (input_tokens or 0) + (cache_read or 0) + (cache_write or 0)
    return (cache_read or 0) / prompt if prompt else None


def cache_saving(model: str | None, cache_read: int | None,
                 overrides: Mapping[str, Mapping[str, float]] | None = None) -> float | None:
    """USD the cache reads saved against paying full input price for the same tokens."""
    p = price_for(model, overrides)
    if p is None or not cache_read:
        return None if p is None else 0.0
    return round(cache_read * (p[0] - p[2]) / 1_000_000, 10)


def cost_of(model: str | None, usage, overrides: Mapping[str, Mapping[str, float]] | None = None) -> float | None:
    """The price of one call's Usage (dario/core/usage.py): the one price function the engine uses."""
    return cost(model, usage.input_tokens, usage.output_tokens, usage.cache_read_tokens, usage.cache_write_tokens,
                overrides, usage.cache_write_1h_tokens)


def cost(model: str | None, input_tokens: int | None, output_tokens: int | None,
         cache_read: int | None = None, cache_write: int | None = None,
         overrides: Mapping[str, Mapping[str, float]] | None = None, cache_write_1h: int | None = None) -> float | None:
    """USD for one call; None when the model has no price or no token counts are known.

    The counts never overlap (input excludes cache reads and writes; see dario/core/usage.py);
    `cache_write_1h` says how many of `cache_write` were 1-hour writes."""
    if input_tokens is None and output_tokens is None and not cache_read and not cache_write:
        return None
    p, tier = _price_and_tier(model, overrides)
    if p is None:
        return None
    if tier and (input_tokens or 0) + (cache_read or 0) + (cache_write or 0) > tier[0]:
        p = tier[1]
    long_writes = min(cache_write_1h or 0, cache_write or 0)
    total = ((input_tokens or 0) * p[0] + (output_tokens or 0) * p[1] + (cache_read or 0) * p[2]
             + ((cache_write or 0) - long_writes) * p[3] + long_writes * p[0] * ONE_HOUR_WRITE)
    return round(total / 1_000_000, 10)
