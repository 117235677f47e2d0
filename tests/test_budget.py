"""Budgets stop a run: the call that could exceed a cap is refused before it leaves, in the caller's
protocol, final (the SDKs do not retry it), and concurrent calls overshoot by one worst case at most."""

from __future__ import annotations

import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import anthropic
import openai
import pytest
import requests

from dario.pipeline.budget import Budget, caps_from_config
from tests.support.dario_proxy import start_proxy
from tests.support.shim import base_env, run_shim

PRICE = {"input": 1000.0, "output": 1000.0, "cache_read": 1000.0, "cache_write": 1000.0}  # USD per Mtok
PRICES = {"claude-budget": PRICE, "gpt-budget": PRICE}
# the fake upstream's usage: 21 in, 9 out, 5 cache read, 3 cache write (Anthropic) -> $0.038 a call
ANT_COST = (21 + 9 + 5 + 3) * 1000 / 1e6
MSG = [{"role": "user", "content": "hi"}]


def budget(cap: float, **kw) -> Budget:
    return Budget(caps_from_config({"per_run_usd": cap, **kw}, None), dict(PRICES), kw.get("unpriced") == "refuse")


def wait_rows(rec, n):
    end = time.time() + 5
    while len(rec.records) < n and time.time() < end:
        time.sleep(0.01)
    return rec.records


def test_anthropic_sdk_call_over_the_cap_is_refused_as_invalid_request(upstream):
    server, rec = start_proxy(upstream.url, default="anthropic", prices=PRICES, budget=budget(0.1))
    try:
        c = anthropic.Anthropic(base_url=server.url, api_key="x")  # default retries: 2
        for _ in range(2):
            c.messages.create(model="claude-budget", max_tokens=16, messages=MSG)
        with pytest.raises(anthropic.BadRequestError) as e:
            c.messages.create(model="claude-budget", max_tokens=16, messages=MSG)
        rows = wait_rows(rec, 3)
    finally:
        server.stop()
    body = e.value.body["error"]
    assert body["type"] == "invalid_request_error" and "per-run cap of $0.1" in body["message"]
    assert "--budget" in body["message"] and "spent" in body["message"]
    assert len([s for s in upstream.requests if s.path == "/v1/messages"]) == 2  # refused before it left
    assert [r.status for r in rows] == [200, 200, 400] and sum(r.cost_usd or 0 for r in rows) == pytest.approx(
        2 * ANT_COST)


def test_openai_sdk_call_over_the_cap_is_insufficient_quota_and_not_retried(upstream):
    server, rec = start_proxy(upstream.url, prices=PRICES, budget=budget(0.08))
    try:
        c = openai.OpenAI(base_url=server.url + "/v1", api_key="x")  # default retries: 2, 429s included
        for _ in range(2):
            c.chat.completions.create(model="oai:gpt-budget", max_tokens=16, messages=MSG)
        r = requests.post(server.url + "/v1/chat/completions", timeout=10,
                          json={"model": "oai:gpt-budget", "max_tokens": 16, "messages": MSG})
        with pytest.raises(openai.RateLimitError) as e:
            c.chat.completions.create(model="oai:gpt-budget", max_tokens=16, messages=MSG)
        rows = wait_rows(rec, 4)
    finally:
        server.stop()
    assert r.status_code == 429 and "retry-after" not in r.headers and r.headers["x-should-retry"] == "false"
    assert r.json()["error"]["code"] == "insufficient_quota" and e.value.code == "insufficient_quota"
    assert [row.status for row in rows] == [200, 200, 429, 429]  # the SDK sent it once: no retry


def test_64_concurrent_calls_overshoot_by_at_most_one_worst_case(upstream):
    b = budget(0.3)
    server, rec = start_proxy(upstream.url, default="anthropic", prices=PRICES, budget=b)
    body = {"model": "claude-budget", "max_tokens": 16, "messages": MSG}
    try:
        with ThreadPoolExecutor(64) as pool:
            statuses = list(pool.map(lambda _: requests.post(server.url + "/v1/messages", json=body,
                                                             timeout=30).status_code, range(64)))
        rows = wait_rows(rec, 64)
    finally:
        server.stop()
    spent = sum(r.cost_usd or 0 for r in rows if r.status == 200)
    worst = len(json.dumps(body)) / 4 * 1000 / 1e6 + 16 * 1000 / 1e6
    assert statuses.count(200) >= 5 and statuses.count(400) >= 40
    assert spent <= 0.3 + worst


def test_an_unpriced_model_is_refused_when_config_says_so(upstream):
    server, _ = start_proxy(upstream.url, default="anthropic", budget=budget(1.0, unpriced="refuse"))
    try:
        r = requests.post(server.url + "/v1/messages", timeout=10,
                          json={"model": "claude-nobody-prices-this", "max_tokens": 16, "messages": MSG})
    finally:
        server.stop()
    assert r.status_code == 400 and "no known price" in r.json()["error"]["message"]


def test_shim_budget_stops_the_run_and_the_summary_says_why(home, upstream):
    from dario.store.config import load_config
    cfg = load_config(home)
    cfg.prices = dict(PRICES)
    cfg.save()
    script = ("import anthropic\nc = anthropic.Anthropic(max_retries=0)\nfor i in range(4):\n"
              "    try:\n        c.messages.create(model='claude-budget', max_tokens=16, messages=[{'role': 'user',"
              " 'content': 'hi'}]); print('ok')\n    except anthropic.BadRequestError as e:\n"
              "        print('refused')\n")
    r = run_shim(home, sys.executable, "-c", script, options=("-v", "--budget", "0.09"), env=base_env(home))  # 2 calls: 84 %
    err = r.stderr.decode()
    assert r.stdout.decode().split() == ["ok", "ok", "refused", "refused"], err[-2000:]
    assert "2 call(s) refused by a budget cap" in err
    assert err.count("(80 %)") == 1  # warned once, when the spend passed 80 % of the cap


def test_usage_budget_shows_caps_and_headroom(home, upstream):
    from typer.testing import CliRunner

    from dario.cli import app
    from dario.store.config import load_config
    cfg = load_config(home)
    cfg.prices = dict(PRICES)
    cfg.extra["budgets"] = {"daily_usd": 5, "backends": {"anthropic": {"monthly_usd": 2}}}
    cfg.save()
    script = ("import anthropic; anthropic.Anthropic(max_retries=0).messages.create(model='claude-budget',"
              " max_tokens=16, messages=[{'role': 'user', 'content': 'hi'}])")
    assert run_shim(home, sys.executable, "-c", script, env=base_env(home)).returncode == 0
    r = CliRunner().invoke(app, ["usage", "--budget", "--json"], env={"DARIO_HOME": str(home)})
    rows = {row["cap"]: row for row in json.loads(r.output)}
    assert rows["daily"]["spent_usd"] == pytest.approx(ANT_COST)
    assert rows["daily"]["headroom_usd"] == pytest.approx(5 - ANT_COST)
    assert rows["monthly for backend anthropic"]["limit_usd"] == 2


@pytest.mark.parametrize("protocol, path, field", [("anthropic", "/v1/messages", "max_tokens"),
                                                   ("openai", "/v1/chat/completions", "max_completion_tokens")])
def test_a_long_bodys_worst_case_reads_its_output_cap_from_the_head_alone(protocol, path, field):
    """A budget must not put the decoding of a whole agent history back before the send (parse.py)."""
    from dario.core.call import Call, CallContext
    from dario.pipeline import parse
    from dario.protocols import adapter
    history = [{"role": "user", "content": "x " * 50}] * 60  # past parse.HEAD_ONLY_ABOVE
    worst = []
    for cap in ({field: 16}, {}):
        call = Call(None, CallContext(), adapter(protocol), "generate", path, "")
        call.raw = json.dumps({"model": "claude-budget", "messages": history, **cap}).encode()
        parse.parse(call)
        worst.append(budget(1.0).worst_case(call))
        assert vars(call).get("_body") is None  # `Call.body` never asked for
    assert worst[0] < worst[1]  # 16 output tokens, against the default worst case
