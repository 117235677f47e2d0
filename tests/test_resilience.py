"""Key pools, failover, queueing, faults and client-side limits, through a real proxy and the fake upstream."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from contextlib import contextmanager

import aiohttp
import pytest
import requests

from dario.pipeline.backends import Backend
from dario.pipeline.keys import key_id
from tests.support.dario_proxy import start_proxy
from tests.support.answers import body_text
from tests.support.fake_upstream import ANSWER

KA, KB, KC = "sk-pool-test-key-AAAA", "sk-pool-test-key-BBBB", "sk-pool-test-key-CCCC"
KEYS = [KA, KB, KC]


@pytest.fixture
def up(upstream):
    yield upstream
    upstream.reset()  # this module's faults must not outlive it (the fake is shared by the session)


def pool_backends(url: str, keys=KEYS, **extra) -> dict[str, Backend]:
    return {"oai": Backend("oai", "openai", url + "/v1", list(keys)),
            "anthropic": Backend("anthropic", "anthropic", url, list(keys)), **extra}


@contextmanager
def proxy(up, keys=KEYS, backends=None, **kw):
    server, rec = start_proxy(up.url, backends=backends or pool_backends(up.url, keys), **kw)
    server.records = rec.records
    try:
        yield server
    finally:
        server.stop()


def call(server, text="hi", *, model="oai:m", protocol="openai", stream=False, history=(), timeout=15):
    msgs = [{"role": "user", "content": text}, *history]
    if protocol == "openai":
        return requests.post(server.url + "/v1/chat/completions", json={
            "model": model, "messages": msgs, "stream": stream}, timeout=timeout)
    return requests.post(server.url + "/v1/messages", json={
        "model": model, "max_tokens": 50, "messages": msgs, "stream": stream}, timeout=timeout)


def text_of(r, protocol="openai") -> str:
    """The answer text, from a plain or streamed response in either protocol."""
    return body_text(r.headers.get("content-type", ""), r.text, protocol)


def keys_used(up) -> list[str]:
    return [r.key for r in up.requests]


def wait_records(server, n, timeout=5.0):
    end = time.time() + timeout
    while len(server.records) < n and time.time() < end:
        time.sleep(0.01)
    return server.records


# -- pools and headroom ------------------------------------------------------------------------
def test_calls_spread_over_the_pool(up):
    with proxy(up) as s:
        for i in range(6):
            r = call(s, f"question {i}")
            assert r.status_code == 200 and text_of(r) == ANSWER
    assert keys_used(up) == [KA, KB, KC, KA, KB, KC]
    assert [r.key_id for r in s.records] == [key_id(k) for k in keys_used(up)]


def test_key_with_most_headroom_is_preferred(up):
    up.key_headers[KA] = {"x-ratelimit-remaining-requests": "3", "x-ratelimit-limit-requests": "1000",
                          "x-ratelimit-reset-requests": "50s"}
    up.key_headers[KB] = {"anthropic-ratelimit-tokens-remaining": "10",
                          "anthropic-ratelimit-tokens-limit": "100000",
                          "anthropic-ratelimit-tokens-reset": "2100-01-01T00:00:00Z"}
    with proxy(up) as s:
        for i in range(8):
            assert call(s, f"q{i}").status_code == 200
    used = keys_used(up)
    assert sorted(used[:3]) == sorted(KEYS)  # each key's headroom is learnt once
    assert used[3:] == [KC] * 5


# -- failover ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("protocol,model,stream", [
    ("openai", "oai:m", False), ("openai", "oai:m", True), ("anthropic", "claude-x", False),
    ("anthropic", "claude-x", True), ("anthropic", "oai:m", True), ("openai", "claude-x", False)])
def test_a_key_that_always_answers_429_is_routed_around(up, protocol, model, stream):
    up.always_429_keys = {KA}
    with proxy(up) as s:
        for i in range(6):
            r = call(s, f"call {i}", model=model, protocol=protocol, stream=stream)
            assert r.status_code == 200, r.text
            assert text_of(r, protocol) == ANSWER
        records = wait_records(s, 6)
    assert keys_used(up).count(KA) == 1  # one 429, then it cools down for its retry-after
    assert len(up.requests) == 7
    assert all(r.status == 200 and r.error is None and r.key_id != key_id(KA) for r in records)


@pytest.mark.parametrize("status", [429, 529])
def test_limited_answer_fails_over_at_once(up, status):
    up.fail_next(status=status)
    with proxy(up) as s:
        t = time.monotonic()
        r = call(s, "x", stream=True)
        assert r.status_code == 200 and text_of(r) == ANSWER
        assert time.monotonic() - t < 2
    assert keys_used(up) == [KA, KB]


def test_every_key_cooling_waits_for_the_soonest_reset(up):
    up.fail_next(status=429, headers={"retry-after": "1"})
    up.fail_next(status=429, headers={"retry-after": "3"})
    with proxy(up, keys=[KA, KB]) as s:
        t = time.monotonic()
        r = call(s, "patience")
        elapsed = time.monotonic() - t
    assert r.status_code == 200 and text_of(r) == ANSWER
    assert 0.9 < elapsed < 2.5
    assert keys_used(up) == [KA, KB, KA]


def test_single_key_429_waits_and_retries(up):
    up.fail_next(status=429, headers={"retry-after": "1"})
    with proxy(up, keys=[KA]) as s:
        r = call(s, "one key", protocol="anthropic", model="claude-x", stream=True)
    assert r.status_code == 200 and text_of(r, "anthropic") == ANSWER
    assert keys_used(up) == [KA, KA]


def test_queue_timeout_gives_the_providers_429_and_soonest_retry_after(up):
    up.always_429_keys = {KA, KB}
    up.retry_after_429 = "1"
    with proxy(up, keys=[KA, KB], queue_timeout=1.5) as s:
        t = time.monotonic()
        r = call(s, "never")
        elapsed = time.monotonic() - t
        rec = wait_records(s, 1)[0]
    # each key's second 429 in a row doubles its cooldown (backoff), so the soonest reset is 2 s away
    assert r.status_code == 429 and r.headers["retry-after"] == "2"
    assert r.json()["error"]["message"] == "fake upstream error 429"  # the provider's own body
    assert "x-dario-error" not in r.headers
    assert 0.9 < elapsed < 2.5  # waited one cooldown, tried again, then gave up before the deadline
    assert keys_used(up).count(KA) == 2 and keys_used(up).count(KB) == 2
    assert rec.status == 429 and "fake upstream error 429" in rec.error


def test_no_wait_when_no_key_can_recover_before_the_deadline(up):
    up.always_429_keys = set(KEYS)
    up.retry_after_429 = "30"
    with proxy(up, queue_timeout=5) as s:
        t = time.monotonic()
        r = call(s, "hopeless", protocol="anthropic", model="oai:m")  # translated to the caller's shape
        assert time.monotonic() - t < 2
        assert r.status_code == 429 and int(r.headers["retry-after"]) in (29, 30)
        assert r.json()["type"] == "error" and r.json()["error"]["type"] == "rate_limit_error"
        assert "fake upstream error 429" in r.json()["error"]["message"]
        n = len(up.requests)
        r = call(s, "again")  # every key still cooling: answered without asking upstream
        assert r.status_code == 429 and len(up.requests) == n
        assert r.json()["error"]["message"] == "fake upstream error 429"


# -- stickiness -----------------------------------------------------------------------------------------
def test_conversation_stays_on_its_key_and_failover_rebinds(up):
    with proxy(up) as s:
        history = []
        for turn in range(3):
            assert call(s, "plan the trip", history=history).status_code == 200
            history += [{"role": "assistant", "content": "ok"}, {"role": "user", "content": f"turn {turn}"}]
            call(s, f"someone else {turn}")  # other conversations in between
        convo = [r.key for r in up.requests if r.body["messages"][0]["content"] == "plan the trip"]
        assert len(set(convo)) == 1
        bound = convo[0]
        up.always_429_keys = {bound}
        up.requests.clear()
        for turn in range(3):
            assert call(s, "plan the trip", history=history).status_code == 200
        moved = [r.key for r in up.requests if r.key != bound]
        assert len(moved) == 3 and len(set(moved)) == 1  # rebound to one other key, and stays there
        records = wait_records(s, 9)
    assert len({r.conversation for r in records if r.conversation}) >= 2


# -- faults ------------------------------------------------------------------------------------------------
def _assert_shape(r, protocol, status, needle):
    assert r.status_code == status, r.text
    body = r.json()
    err = body["error"]
    if protocol == "anthropic":
        assert body["type"] == "error" and err["type"]
    assert needle in err["message"] and err["message"].startswith("dario")


@pytest.mark.parametrize("protocol,model", [("anthropic", "dead:m"), ("openai", "dead:m")])
def test_refused_connection_is_a_clean_502_and_dario_keeps_serving(up, protocol, model):
    backends = pool_backends(up.url, dead=Backend("dead", "openai", "http://127.0.0.1:9/v1", [KA, KB]))
    with proxy(up, backends=backends) as s:
        _assert_shape(call(s, "x", model=model, protocol=protocol), protocol, 502, "cannot reach upstream dead")
        _assert_shape(call(s, "x", model=model, protocol=protocol, stream=True), protocol, 502, "cannot reach")
        r = call(s, "still here", protocol=protocol, model="oai:m")
        assert r.status_code == 200 and text_of(r, protocol) == ANSWER
        recs = wait_records(s, 3)
    assert [r.status for r in recs] == [502, 502, 200] and "cannot reach" in recs[0].error


def test_connection_reset_is_a_clean_502(up):
    up.fail_next(reset=True)
    with proxy(up) as s:
        _assert_shape(call(s, "x", protocol="anthropic", model="claude-x"), "anthropic", 502, "upstream")
        assert call(s, "after").status_code == 200
        assert wait_records(s, 2)[0].status == 502


@pytest.mark.parametrize("protocol,model", [("openai", "oai:m"), ("anthropic", "oai:m"), ("openai", "claude-x")])
def test_mid_stream_drop_ends_with_an_error_event_in_the_callers_protocol(up, protocol, model):
    up.fail_next(drop_after_events=3)
    with proxy(up) as s:
        r = call(s, "x", protocol=protocol, model=model, stream=True)
        assert r.status_code == 200
        last = [line for line in r.text.splitlines() if line.startswith("data: ")][-1]
        err = json.loads(last[6:])
        if protocol == "anthropic":
            assert "event: error" in r.text and err["type"] == "error"
        assert "broke" in err["error"]["message"]
        assert call(s, "after", protocol=protocol, model=model, stream=True).status_code == 200
        rec = wait_records(s, 2)[0]
    assert rec.status == 502 and "broke" in rec.error


def test_slow_first_byte_is_a_504(up):
    up.fail_next(delay=1.5)
    with proxy(up, timeouts={"first_byte": 0.3}) as s:
        t = time.monotonic()
        _assert_shape(call(s, "slow"), "openai", 504, "no response within 0.3s")
        assert time.monotonic() - t < 1.2
        assert call(s, "after").status_code == 200
        rec = wait_records(s, 1)[0]
    assert rec.status == 504


def test_idle_stream_times_out_with_an_error_event(up):
    up.fail_next(stall_after_events=2, stall=2.0)
    with proxy(up, timeouts={"idle": 0.3}) as s:
        t = time.monotonic()
        r = call(s, "stall", protocol="anthropic", model="claude-x", stream=True)
        assert time.monotonic() - t < 1.5
        assert r.text.rstrip().splitlines()[-2] == "event: error" and "idle for 0.3s" in r.text
        assert call(s, "after", protocol="anthropic", model="claude-x").status_code == 200
        rec = wait_records(s, 1)[0]
    assert rec.status == 502 and "idle" in rec.error


def test_a_stream_that_keeps_sending_outlives_its_idle_timeout(up):
    up.fail_next(event_gap=0.1)  # every gap a third of the idle timeout; the whole stream several times it
    with proxy(up, timeouts={"idle": 0.3}) as s:
        t = time.monotonic()
        r = call(s, "slow but alive", protocol="anthropic", model="claude-x", stream=True)
        assert time.monotonic() - t > 0.6
        assert r.status_code == 200 and "event: error" not in r.text and "message_stop" in r.text
        rec = wait_records(s, 1)[0]
    assert rec.status == 200 and rec.error is None


def test_connect_timeout(up):
    # a listener whose accept queue is full: the SYN goes unanswered, like an unreachable host
    lsn = socket.socket()
    lsn.bind(("127.0.0.1", 0))
    lsn.listen(0)
    port = lsn.getsockname()[1]
    fillers = []
    for _ in range(4):
        c = socket.socket()
        c.setblocking(False)
        c.connect_ex(("127.0.0.1", port))
        fillers.append(c)
    backends = pool_backends(up.url, stuck=Backend("stuck", "openai", f"http://127.0.0.1:{port}/v1", [KA]))
    try:
        with proxy(up, backends=backends, timeouts={"connect": 0.3}) as s:
            t = time.monotonic()
            _assert_shape(call(s, "x", model="stuck:m"), "openai", 504, "did not accept a connection within 0.3s")
            assert time.monotonic() - t < 2
    finally:
        for c in fillers + [lsn]:
            c.close()


@pytest.mark.parametrize("protocol,model", [("openai", "oai:m"), ("anthropic", "oai:m")])
def test_upstream_5xx_is_relayed_in_shape_and_not_retried(up, protocol, model):
    up.fail_next(status=503)
    with proxy(up) as s:
        r = call(s, "x", protocol=protocol, model=model)
        assert r.status_code == 503 and "fake upstream error 503" in json.dumps(r.json())
        if protocol == "anthropic":
            assert r.json()["type"] == "error"
        assert len(up.requests) == 1
        assert call(s, "after", protocol=protocol, model=model).status_code == 200
        assert wait_records(s, 1)[0].error


# -- client-side limits ------------------------------------------------------------------------------------
def test_rpm_limit(up):
    with proxy(up, limits={"oai": {"rpm": 2}}, queue_timeout=0.5) as s:
        assert call(s, "1").status_code == 200 and call(s, "2").status_code == 200
        t = time.monotonic()
        r = call(s, "3")
        assert time.monotonic() - t < 1
        assert r.status_code == 429 and r.headers["x-dario-error"] == "1" and 55 <= int(r.headers["retry-after"]) <= 60
        assert "2 requests per minute" in r.json()["error"]["message"]
        assert call(s, "other backend", protocol="anthropic", model="claude-x").status_code == 200
    assert len(up.requests) == 3


async def _concurrent(url: str, n: int, payload: dict) -> list[tuple[int, float]]:
    async with aiohttp.ClientSession() as session:
        async def one():
            async with session.post(url, json=payload) as r:
                await r.read()
                return r.status, time.monotonic()
        return await asyncio.gather(*(one() for _ in range(n)))


def test_max_concurrency_serialises_and_times_out(up):
    for _ in range(3):
        up.fail_next(delay=0.4)
    body = {"model": "oai:m", "messages": [{"role": "user", "content": "hi"}]}
    with proxy(up, limits={"oai": {"max_concurrency": 1}}) as s:
        t = time.monotonic()
        out = asyncio.run(_concurrent(s.url + "/v1/chat/completions", 3, body))
        assert [st for st, _ in out] == [200] * 3
        assert max(done for _, done in out) - t > 1.1  # one at a time
    for _ in range(2):
        up.fail_next(delay=1.0)
    with proxy(up, limits={"oai": {"max_concurrency": 1}}, queue_timeout=0.3) as s:
        statuses = sorted(st for st, _ in asyncio.run(_concurrent(s.url + "/v1/chat/completions", 2, body)))
        assert statuses == [200, 429]


def test_client_leaving_the_queue_is_recorded_and_frees_its_key(up):
    up.always_429_keys = {KA, KB}
    up.retry_after_429 = "2"
    with proxy(up, keys=[KA, KB], queue_timeout=10) as s:
        with pytest.raises(requests.exceptions.ReadTimeout):
            call(s, "impatient", timeout=0.7)
        rec = wait_records(s, 1, timeout=3)[0]
        assert rec.status == 499
        pool = s.app.pipeline.pools["oai"]
        assert [k["in_flight"] for k in pool.snapshot()] == [0, 0]
        assert all(k["limited"] == 1 and k["cooling_for"] > 0 for k in pool.snapshot())


def test_proxy_command_takes_queue_timeout(up, tmp_path):
    import re
    import signal
    import subprocess

    from tests.support.shim import base_env, dario_cmd
    env = base_env(tmp_path)
    r = subprocess.run(dario_cmd("backend", "add", "oai", "--base-url", up.url + "/v1", "--key", KA, "--key", KB),
                       env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    up.always_429_keys = {KA, KB}
    up.retry_after_429 = "20"
    proc = subprocess.Popen(dario_cmd("proxy", "--port", "0", "--queue-timeout", "0"), env=env,
                            stderr=subprocess.PIPE, text=True)
    try:
        m = re.search(r"listening on (http://127\.0\.0\.1:\d+)", proc.stderr.readline())
        assert m
        t = time.monotonic()
        r = requests.post(m.group(1) + "/v1/chat/completions", timeout=10,
                          json={"model": "oai:m", "messages": [{"role": "user", "content": "hi"}]})
        assert r.status_code == 429 and r.headers["retry-after"] in ("19", "20") and time.monotonic() - t < 3
        assert sorted(s.key for s in up.requests) == [KA, KB]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
