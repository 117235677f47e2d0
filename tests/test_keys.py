"""KeyPool: rate-limit header parsing, headroom routing, cooldown, stickiness; config and CLI for pools."""

from __future__ import annotations

import json
import time

import pytest
from typer.testing import CliRunner

from dario.pipeline.backends import Backend, KeyUnavailable
from dario.pipeline.keys import DEFAULT_COOLDOWN, KeyPool, key_id, parse_limits
from dario.store.config import ConfigError, load_config

K1, K2, K3 = "sk-pool-key-one-111111", "sk-pool-key-two-222222", "sk-pool-key-three-333333"


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def pool(*keys, clock=None, **kw) -> KeyPool:
    return KeyPool(Backend("b", "openai", "https://example.invalid/v1", list(keys)), clock=clock or Clock(), **kw)


def limits(remaining, limit=1000, reset="60s"):
    return {"x-ratelimit-remaining-requests": str(remaining), "x-ratelimit-limit-requests": str(limit),
            "x-ratelimit-reset-requests": reset}


# -- parsing -----------------------------------------------------------------------------
def test_parse_anthropic_openai_and_retry_after():
    wall = time.time()
    dims, ra = parse_limits({
        "anthropic-ratelimit-requests-limit": "50", "anthropic-ratelimit-requests-remaining": "0",
        "anthropic-ratelimit-requests-reset": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(wall + 30)),
        "anthropic-ratelimit-input-tokens-remaining": "100", "anthropic-ratelimit-input-tokens-limit": "1000",
        "x-ratelimit-reset-tokens": "6m0s", "Retry-After": "12", "content-type": "application/json"},
        now=500.0, now_wall=wall)
    assert ra == 12
    assert dims["requests"][:2] == [0, 50] and 528 < dims["requests"][2] <= 530.5
    assert dims["input-tokens"][:2] == [100, 1000]
    assert dims["tokens"][2] == pytest.approx(860.0)
    _, ra = parse_limits({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0, 1445412470.0)
    assert ra == pytest.approx(10.0)
    dims, _ = parse_limits({"x-ratelimit-reset-requests": "20ms", "x-ratelimit-remaining-requests": "x"}, 0, 0)
    assert dims["requests"] == [None, None, 0.02]


# -- routing -------------------------------------------------------------------------------
def test_equal_headroom_round_robins():
    p = pool(K1, K2, K3)
    picks = []
    for _ in range(6):
        c = p.pick()
        picks.append(c.secret)
        p.observe(c, 200, {})
    assert picks == [K1, K2, K3, K1, K2, K3]


def test_most_headroom_wins_and_in_flight_spreads():
    p = pool(K1, K2)
    a = p.pick()
    p.observe(a, 200, limits(10))
    b = p.pick()
    p.observe(b, 200, limits(900))
    assert [p.pick().secret for _ in range(3)] == [K2, K2, K2]
    # in-flight calls count against the key's remaining requests
    p2 = pool(K1, K2)
    p2.observe(p2.pick(), 200, limits(3, 10))
    p2.observe(p2.pick(), 200, limits(2, 10))
    assert [p2.pick().secret for _ in range(3)] == [K1, K2, K1]


def test_expired_limits_count_as_healthy():
    clock = Clock()
    p = pool(K1, K2, clock=clock)
    p.observe(p.pick(), 200, limits(1, reset="5s"))
    p.observe(p.pick(), 200, limits(500, reset="5s"))
    assert p.pick().secret == K2
    clock.t += 6  # K1's window reset: unknown again, i.e. full
    assert p.snapshot()[0]["headroom"] == 1.0


def test_429_cools_until_reset_then_returns():
    clock = Clock()
    p = pool(K1, K2, clock=clock)
    a = p.pick()
    p.observe(a, 429, {"retry-after": "20"})
    assert all(p.pick().secret == K2 for _ in range(3))
    assert p.ready_in() == pytest.approx(20)  # the soonest cooling key
    b = p.pick()
    p.observe(b, 529, {})  # overloaded, no hint: the default cooldown
    assert p.pick() is None
    assert p.ready_in() == pytest.approx(DEFAULT_COOLDOWN) and p.retry_after() == 5
    clock.t += DEFAULT_COOLDOWN
    assert p.pick().secret == K2
    clock.t += 20
    assert p.pick().secret == K1  # cooled down; K2 still has calls in flight


def test_429_without_retry_after_uses_the_exhausted_limits_reset():
    clock = Clock()
    p = pool(K1, clock=clock)
    c = p.pick()
    p.observe(c, 429, {**limits(0, reset="42s"), "x-ratelimit-remaining-tokens": "5",
                       "x-ratelimit-limit-tokens": "100", "x-ratelimit-reset-tokens": "2s"})
    assert p.ready_in() == pytest.approx(42)


def test_env_keys_resolve_at_use_and_missing_ones_are_skipped(monkeypatch):
    monkeypatch.setenv("DARIO_TEST_POOL_KEY", K2)
    monkeypatch.delenv("DARIO_TEST_POOL_MISSING", raising=False)
    p = pool("env:DARIO_TEST_POOL_MISSING", "env:DARIO_TEST_POOL_KEY")
    assert {p.pick().secret for _ in range(3)} == {K2}
    with pytest.raises(KeyUnavailable):
        pool("env:DARIO_TEST_POOL_MISSING").pick()


def test_state_holds_fingerprints_only():
    p = pool(K1, K2)
    c = p.pick()
    p.observe(c, 429, limits(0))
    assert c.key_id == key_id(K1) and K1 not in c.key_id
    text = json.dumps(p.snapshot()) + repr(p.states)
    assert K1 not in text and K2 not in text and key_id(K1) in text


# -- stickiness ------------------------------------------------------------------------------
def test_conversation_sticks_while_healthy_and_failover_rebinds():
    p = pool(K1, K2, K3)
    first = p.pick("conv-a")
    p.observe(first, 200, limits(10))  # less headroom than the others: still sticks
    assert [p.pick("conv-a").secret for _ in range(4)] == [first.secret] * 4
    other = p.pick("conv-b")
    assert other.secret != first.secret
    p.observe(p.pick("conv-a"), 429, {"retry-after": "30"})
    moved = p.pick("conv-a")
    assert moved.secret != first.secret
    assert [p.pick("conv-a").secret for _ in range(3)] == [moved.secret] * 3  # rebound


def test_stickiness_memory_is_bounded_by_ttl_and_cap():
    clock = Clock()
    p = pool(K1, K2, clock=clock, sticky_ttl=10, sticky_cap=50)
    for i in range(500):
        p.pick(f"conv-{i}")
    assert len(p._sticky) == 50
    clock.t += 11
    p.pick("fresh")
    assert list(p._sticky) == ["fresh"]


def test_no_keys_means_no_choice():
    assert pool().pick("x") is None and pool().ready_in() == 0.0


# -- config and CLI ----------------------------------------------------------------------------
def test_config_keys_add_remove_and_limits_persist(tmp_path):
    cfg = load_config(tmp_path)
    cfg.add_backend("groq", [K1], rpm=30, max_concurrency=4)
    cfg.add_key("groq", K2)
    cfg.add_key("groq", "env:GROQ_KEY_3")
    with pytest.raises(ConfigError, match="already"):
        cfg.add_key("groq", K2)
    with pytest.raises(ConfigError, match="no backend"):
        cfg.add_key("nope", K3)
    cfg.save()
    again = load_config(tmp_path)
    assert again.backends["groq"].keys == [K1, K2, "env:GROQ_KEY_3"]
    assert again.limits == {"groq": {"rpm": 30, "max_concurrency": 4}}
    assert K1 not in (tmp_path / "config.json").read_text()
    again.remove_key("groq", key_id(K1))  # by fingerprint
    again.remove_key("groq", "env:GROQ_KEY_3")
    with pytest.raises(ConfigError, match="no such key"):
        again.remove_key("groq", K3)
    with pytest.raises(ConfigError, match="last key"):
        again.remove_key("groq", K2)
    again.add_backend("groq", [K3])  # replace: limits go with the old definition
    assert "groq" not in again.limits
    with pytest.raises(ConfigError, match="at least 1"):
        again.add_backend("groq", [K3], rpm=0)


def test_pipeline_from_config_takes_limits_and_queue_timeout(tmp_path):
    from dario.pipeline.engine import Pipeline
    cfg = load_config(tmp_path)
    cfg.add_backend("oai", [K1, K2], "http://127.0.0.1:9/v1", rpm=5)
    p = Pipeline.from_config(cfg, queue_timeout=7)
    assert p.queue_timeout == 7 and p.limiters["oai"].rpm == 5 and len(p.pools["oai"]) == 2
    assert Pipeline.from_config(cfg).queue_timeout == 60


def test_cli_backend_keys(tmp_path, monkeypatch):
    from dario.cli import app
    monkeypatch.setenv("DARIO_HOME", str(tmp_path))
    run = CliRunner().invoke
    r = run(app, ["backend", "add", "mine", "--base-url", "http://127.0.0.1:9/v1", "--key", K1, "--key", K2,
                  "--rpm", "60", "--max-concurrency", "8"])
    assert r.exit_code == 0, r.output
    assert "2 key(s)" in r.output
    r = run(app, ["backend", "keys", "add", "mine", K3])
    assert r.exit_code == 0 and "3 key(s)" in r.output and K3 not in r.output
    r = run(app, ["backend", "keys", "list", "mine"])
    assert r.output.split() == [key_id(K1), key_id(K2), key_id(K3)]
    r = run(app, ["backend", "keys", "remove", "mine", key_id(K2)])
    assert r.exit_code == 0 and "2 left" in r.output
    r = run(app, ["backend", "keys", "remove", "mine", "sk-not-there"])
    assert r.exit_code == 2 and "no such key" in r.output
    rows = json.loads(run(app, ["backend", "list", "--json"]).output)
    assert rows[0]["keys"] == 2 and rows[0]["limits"] == {"rpm": 60, "max_concurrency": 8}
    assert load_config(tmp_path).backends["mine"].keys == [K1, K3]
