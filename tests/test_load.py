"""Load: the proxy holds 200 plain and 64 streaming calls at once, none lost, on loopback."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import pytest

from dario.pipeline.backends import Backend
from tests.support.dario_proxy import start_proxy
from tests.support.answers import sse_text
from tests.support.fake_upstream import ANSWER

PLAIN, STREAMS = 200, 64
UPSTREAM_DELAY = 1.0  # every upstream answer waits this long: calls can only finish in time if held at once
KEYS = ["sk-load-key-1111", "sk-load-key-2222", "sk-load-key-3333"]


@pytest.fixture
def up(upstream):
    yield upstream
    upstream.reset()  # this module's faults must not outlive it (the fake is shared by the session)



async def _one(session: aiohttp.ClientSession, base: str, i: int, stream: bool) -> str:
    protocol = "anthropic" if i % 2 else "openai"
    msgs = [{"role": "user", "content": f"load call {i}"}]
    if protocol == "openai":
        url, body = base + "/v1/chat/completions", {"model": "oai:m", "messages": msgs, "stream": stream}
    else:
        url, body = base + "/v1/messages", {"model": "claude-x", "max_tokens": 20, "messages": msgs,
                                            "stream": stream}
    async with session.post(url, json=body) as r:
        raw = await r.text()
        assert r.status == 200, raw
    if stream:
        assert raw.rstrip().endswith(("data: [DONE]", '{"type": "message_stop"}')), raw[-200:]
        return sse_text(raw, protocol)
    data = json.loads(raw)
    return data["choices"][0]["message"]["content"] if protocol == "openai" else data["content"][0]["text"]


async def _storm(base: str) -> list:
    conn = aiohttp.TCPConnector(limit=0, force_close=True)
    async with aiohttp.ClientSession(connector=conn, timeout=aiohttp.ClientTimeout(total=30)) as session:
        calls = [_one(session, base, i, False) for i in range(PLAIN)]
        calls += [_one(session, base, i, True) for i in range(STREAMS)]
        return await asyncio.gather(*calls, return_exceptions=True)


@pytest.mark.parametrize("limited_key", [False, True], ids=["clean", "one-key-always-429"])
def test_200_plain_and_64_streaming_at_once(up, limited_key):
    url = up.url
    backends = {"oai": Backend("oai", "openai", url + "/v1", list(KEYS)),
                "anthropic": Backend("anthropic", "anthropic", url, list(KEYS))}
    if limited_key:
        up.always_429_keys = {KEYS[0]}
    for _ in range(PLAIN + STREAMS):
        up.fail_next(delay=UPSTREAM_DELAY)
    server, rec = start_proxy(url, backends=backends)
    try:
        t = time.monotonic()
        out = asyncio.run(_storm(server.url))
        elapsed = time.monotonic() - t
        errors = [o for o in out if isinstance(o, BaseException)]
        assert not errors, errors[:3]
        assert out == [ANSWER] * (PLAIN + STREAMS)
        # serialised, this would take (PLAIN + STREAMS) * UPSTREAM_DELAY seconds
        assert elapsed < 10 * UPSTREAM_DELAY, elapsed
        end = time.time() + 5
        while len(rec.records) < PLAIN + STREAMS and time.time() < end:
            time.sleep(0.05)
        assert len(rec.records) == PLAIN + STREAMS
        assert all(r.status == 200 and r.error is None for r in rec.records)
        assert sum(r.stream for r in rec.records) == STREAMS
    finally:
        server.stop()
