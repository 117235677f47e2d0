"""The price table: real usage payloads, as each provider's documentation shows them, through the
adapter that reads them, priced by the one price function, each with its expected cost."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from dario.protocols import adapter
from dario.store import pricing

CASES = [
    # Anthropic prompt-caching docs: a first call that writes the cache (5-minute TTL)
    ("anthropic", "claude-sonnet-4-5", {"input_tokens": 21, "cache_creation_input_tokens": 188086,
                                        "cache_read_input_tokens": 0, "output_tokens": 393},
     (21 * 3 + 188086 * 3.75 + 393 * 15) / 1e6),
    # Anthropic docs, mixing TTLs: 1-hour writes cost 2x base input, 5-minute writes 1.25x
    ("anthropic", "claude-opus-4-5", {"input_tokens": 2048, "cache_read_input_tokens": 1800,
                                      "cache_creation_input_tokens": 248, "output_tokens": 503,
                                      "cache_creation": {"ephemeral_5m_input_tokens": 148,
                                                         "ephemeral_1h_input_tokens": 100}},
     (2048 * 5 + 1800 * 0.5 + 148 * 6.25 + 100 * 10 + 503 * 25) / 1e6),
    # Sonnet 4.x over 200K prompt tokens: the whole call at the long-context tier
    ("anthropic", "claude-sonnet-4-5", {"input_tokens": 150_000, "cache_read_input_tokens": 100_000,
                                        "output_tokens": 1000}, (150_000 * 6 + 100_000 * 0.6 + 1000 * 22.5) / 1e6),
    # OpenAI prompt-caching docs: cached_tokens are inside prompt_tokens
    ("openai", "gpt-4o", {"prompt_tokens": 2006, "completion_tokens": 300, "total_tokens": 2306,
                          "prompt_tokens_details": {"cached_tokens": 1920},
                          "completion_tokens_details": {"reasoning_tokens": 0}},
     (86 * 2.5 + 1920 * 1.25 + 300 * 10) / 1e6),
    # OpenAI reasoning docs: reasoning tokens are inside completion_tokens, billed as output
    ("openai", "o3", {"prompt_tokens": 9, "completion_tokens": 1186, "total_tokens": 1195,
                      "completion_tokens_details": {"reasoning_tokens": 1024}}, (9 * 2 + 1186 * 8) / 1e6),
    # DeepSeek context-caching docs: hit and miss counts, hits at the cache-hit price
    ("openai", "deepseek-chat", {"prompt_tokens": 1000, "completion_tokens": 200, "prompt_cache_hit_tokens": 800,
                                 "prompt_cache_miss_tokens": 200}, (200 * 0.28 + 800 * 0.028 + 200 * 0.42) / 1e6),
    # OpenAI Responses: cached_tokens inside input_tokens, reasoning inside output_tokens
    ("responses", "gpt-4o", {"input_tokens": 2006, "input_tokens_details": {"cached_tokens": 1920},
                             "output_tokens": 300, "output_tokens_details": {"reasoning_tokens": 0},
                             "total_tokens": 2306}, (86 * 2.5 + 1920 * 1.25 + 300 * 10) / 1e6),
    ("responses", "o3", {"input_tokens": 75, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 1186,
                         "output_tokens_details": {"reasoning_tokens": 1024}, "total_tokens": 1261},
     (75 * 2 + 1186 * 8) / 1e6),
    # Gemini thinking docs: thoughtsTokenCount is output, beside candidatesTokenCount
    ("gemini", "gemini-2.5-flash", {"promptTokenCount": 10, "candidatesTokenCount": 50, "thoughtsTokenCount": 200,
                                    "totalTokenCount": 260}, (10 * 0.30 + 250 * 2.50) / 1e6),
    # Gemini 3.1 Pro over 200K: the whole call at its long-context tier
    ("gemini", "gemini-3.1-pro-preview", {"promptTokenCount": 250_000, "candidatesTokenCount": 2000,
                                          "totalTokenCount": 252_000}, (250_000 * 4 + 2000 * 18) / 1e6),
    # xAI (OpenAI-shaped usage): cached tokens inside prompt_tokens, at the cached-input price
    ("openai", "xai:grok-4.3", {"prompt_tokens": 1000, "completion_tokens": 100,
                                "prompt_tokens_details": {"cached_tokens": 600}}, (400 * 1.25 + 600 * 0.20 + 100 * 2.5) / 1e6),
    # OpenAI's pro models: no cached-input discount; gpt-5.5-pro is not priced as gpt-5.5
    ("openai", "gpt-5.5-pro", {"prompt_tokens": 1000, "completion_tokens": 100,
                               "prompt_tokens_details": {"cached_tokens": 500}}, (1000 * 30 + 100 * 180) / 1e6),
    # Gemini caching: promptTokenCount includes cachedContentTokenCount; over 200K the long-context tier
    ("gemini", "gemini-2.5-pro", {"promptTokenCount": 300_000, "cachedContentTokenCount": 100_000,
                                  "candidatesTokenCount": 1000, "totalTokenCount": 301_000},
     (200_000 * 2.5 + 100_000 * 0.25 + 1000 * 15) / 1e6),
]


@pytest.mark.parametrize("protocol,model,wire,expected", CASES, ids=[c[1] + f"-{i}" for i, c in enumerate(CASES)])
def test_price_table(protocol, model, wire, expected):
    usage = adapter(protocol).usage_from_wire(wire)
    assert pricing.cost_of(model, usage) == pytest.approx(expected, rel=1e-9)


def test_reasoning_tokens_are_counted_once():
    u = adapter("openai").usage_from_wire(CASES[4][2])
    assert (u.output_tokens, u.reasoning_tokens) == (1186, 1024)  # of the output, not on top of it


def test_prices_command_shows_price_and_source(tmp_path, monkeypatch):
    from dario.cli import app
    from dario.store.config import load_config
    monkeypatch.setenv("DARIO_HOME", str(tmp_path))
    cfg = load_config(tmp_path)
    cfg.prices = {"my-model": {"input": 1.0, "output": 2.0}}
    cfg.save()
    r = CliRunner().invoke(app, ["prices", "claude-sonnet-4-5-20250929", "--json"])
    row = json.loads(r.output)
    assert row["source"] == "built-in (claude-sonnet-4)" and row["input"] == 3.0 and row["cache_write"] == 3.75
    assert row["long_context"] == {"above_prompt_tokens": 200000, "input": 6.0, "output": 22.5,
                                   "cache_read": 0.6, "cache_write": 7.5}
    r = CliRunner().invoke(app, ["prices", "my-model"])
    assert "config.json prices" in r.output and "$1" in r.output
    r = CliRunner().invoke(app, ["prices", "nobody-prices-this"])
    assert r.exit_code == 1 and "no price" in r.output


def test_prices_import_takes_a_litellm_table(tmp_path, monkeypatch):
    from dario.cli import app
    from dario.store.config import load_config
    monkeypatch.setenv("DARIO_HOME", str(tmp_path))
    table = tmp_path / "model_prices_and_context_window.json"
    table.write_text(json.dumps({
        "sample_spec": {"input_cost_per_token": 0, "output_cost_per_token": 0},
        "acme-large": {"input_cost_per_token": 2e-06, "output_cost_per_token": 8e-06,
                       "cache_read_input_token_cost": 5e-07, "litellm_provider": "acme", "mode": "chat"},
        "acme-embed": {"input_cost_per_token": 1e-07, "output_cost_per_token": 0, "mode": "embedding"},
        "broken": {"input_cost_per_token": "free"},
    }))
    r = CliRunner().invoke(app, ["prices", "import", str(table)])
    assert r.exit_code == 0, r.output
    prices = load_config(tmp_path).prices
    assert prices["acme-large"] == {"input": 2.0, "output": 8.0, "cache_read": 0.5}
    assert "acme-embed" in prices and "sample_spec" not in prices and "broken" not in prices
    assert "2 model(s)" in r.output and "1 skipped" in r.output
    assert pricing.cost("acme-large", 1_000_000, 0, overrides=prices) == pytest.approx(2.0)


@pytest.mark.parametrize("model, per_mtok", [
    ("groq:llama-3.3-70b-versatile", 0.59 + 0.79), ("together:meta-llama/Llama-3.3-70B-Instruct-Turbo", 0.88 * 2),
    ("mistral-large-latest", 2.0 + 6.0), ("xai:grok-4-0709", 3.0 + 15.0), ("grok-4-fast-reasoning", 0.20 + 0.50),
    ("openrouter:anthropic/claude-sonnet-4.5", 3.0 + 15.0), ("openai/gpt-oss-120b", 0.15 + 0.75)])
def test_every_known_backends_main_models_have_a_price(model, per_mtok):
    from dario.core.usage import Usage
    cost = pricing.cost_of(model, Usage(input_tokens=100_000, output_tokens=100_000))  # under every long-context tier
    assert cost == pytest.approx(per_mtok / 10)
