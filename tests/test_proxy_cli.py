"""The foundation's acceptance path, as a newcomer runs it: `dario backend add` twice, `dario proxy`,
then the official SDKs configured only through their usual environment variables."""

from __future__ import annotations

import json
import re
import signal
import subprocess

import anthropic
import openai
import pytest

from tests.support.fake_upstream import ANSWER, TOOL_ARGS
from tests.support.shim import REAL_KEY_A, REAL_KEY_O, base_env, dario_cmd

WEATHER = {"name": "get_weather", "description": "Weather for a city",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


@pytest.fixture
def running_proxy(tmp_path, upstream):
    env = base_env(tmp_path)
    for args in (["anthropic", "--base-url", upstream.url, "--kind", "anthropic", "--key", REAL_KEY_A],
                 ["oai", "--base-url", upstream.url + "/v1", "--key", REAL_KEY_O]):
        r = subprocess.run(dario_cmd("backend", "add", *args), env=env, capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
    proc = subprocess.Popen(dario_cmd("proxy", "--port", "0", "-v"), env=env, stderr=subprocess.PIPE, text=True)
    line = proc.stderr.readline()
    m = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
    assert m, line
    exports = [proc.stderr.readline() for _ in range(4)]  # then what to paste into a client's shell
    assert exports == ["point clients at it:\n", f"export ANTHROPIC_BASE_URL={m.group(1)}\n",
                       f"export OPENAI_BASE_URL={m.group(1)}/v1\n", f"export GOOGLE_GEMINI_BASE_URL={m.group(1)}\n"]
    yield m.group(1), proc, env
    proc.send_signal(signal.SIGTERM)
    proc.wait(10)


def test_anthropic_sdk_streams_a_tool_call_from_an_openai_backend(running_proxy, upstream, monkeypatch):
    url, proc, env = running_proxy
    monkeypatch.setenv("ANTHROPIC_BASE_URL", url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "anything")
    with anthropic.Anthropic(max_retries=0).messages.stream(
            model="oai:gpt-4o-mini", max_tokens=100, tools=[WEATHER],
            messages=[{"role": "user", "content": "Weather in Paris?"}]) as s:
        partial = [e.partial_json for e in s if e.type == "input_json"]
        msg = s.get_final_message()
    assert len(partial) > 1 and msg.stop_reason == "tool_use"
    assert msg.content[-1].name == "get_weather" and msg.content[-1].input == TOOL_ARGS
    assert upstream.last().path == "/v1/chat/completions" and upstream.last().body["model"] == "gpt-4o-mini"


def test_openai_sdk_streams_a_tool_call_from_an_anthropic_backend(running_proxy, upstream, monkeypatch):
    url, proc, env = running_proxy
    monkeypatch.setenv("OPENAI_BASE_URL", url + "/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "anything")
    stream = openai.OpenAI(max_retries=0).chat.completions.create(
        model="claude-sonnet-test", stream=True, messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=[{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER["input_schema"]}}])
    args, finish = "", None
    for c in stream:
        for ch in c.choices:
            finish = ch.finish_reason or finish
            for tc in ch.delta.tool_calls or []:
                args += tc.function.arguments or ""
    assert json.loads(args) == TOOL_ARGS and finish == "tool_calls"
    assert upstream.last().path == "/v1/messages" and upstream.last().headers["x-api-key"] == REAL_KEY_A


def test_calls_are_recorded_and_verbose_goes_to_stderr(running_proxy, upstream, tmp_path):
    url, proc, env = running_proxy
    client = anthropic.Anthropic(base_url=url, api_key="x", max_retries=0)
    assert client.messages.create(model="claude-x", max_tokens=5,
                                  messages=[{"role": "user", "content": "hi"}]).content[0].text == ANSWER
    line = proc.stderr.readline()
    assert re.match(r"dario: 200 anthropic +claude-x +plain +in=21 out=9 cache_r=5 cache_w=3 +\d+ms$", line), line
    proc.send_signal(signal.SIGTERM)  # flushes the store
    proc.wait(10)
    r = subprocess.run(dario_cmd("log", "--json"), env=env, capture_output=True, text=True, timeout=30)
    rows = [json.loads(x) for x in r.stdout.splitlines() if x.strip()]
    assert rows and rows[0]["source"] == "proxy" and rows[0]["model"] == "claude-x" and rows[0]["status"] == 200
    db = (tmp_path / "telemetry.db").read_bytes()
    assert REAL_KEY_A.encode() not in db and REAL_KEY_O.encode() not in db


def test_the_event_loop_is_uvloop_where_it_is_installed_and_asyncio_own_elsewhere(monkeypatch):
    """uvloop is a dependency where it runs (pyproject.toml): bench/ab.py measured asyncio's own loop ~20 %
    slower at p50. Where it cannot be installed (Windows, PyPy) the same code takes asyncio's loop."""
    import asyncio
    import sys

    import uvloop

    from dario.cli import _install_uvloop
    from dario.loop_thread import new_loop

    before = asyncio.get_event_loop_policy()
    try:
        _install_uvloop()
        assert isinstance(asyncio.get_event_loop_policy(), uvloop.EventLoopPolicy)
        loop = new_loop()
        assert isinstance(loop, uvloop.Loop)
        loop.close()
        asyncio.set_event_loop_policy(before)
        monkeypatch.setitem(sys.modules, "uvloop", None)  # `import uvloop` raises ImportError, as without it
        _install_uvloop()
        assert asyncio.get_event_loop_policy() is before
        loop = new_loop()
        assert not isinstance(loop, uvloop.Loop) and isinstance(loop, asyncio.AbstractEventLoop)
        loop.close()
    finally:
        asyncio.set_event_loop_policy(before)


def test_the_proxy_serves_sdk_calls_on_asyncio_own_loop_too(tmp_path, upstream):
    """The path a Windows or PyPy user takes: no uvloop at all."""
    import sys
    env = base_env(tmp_path)
    r = subprocess.run(dario_cmd("backend", "add", "anthropic", "--base-url", upstream.url, "--kind", "anthropic",
                                 "--key", REAL_KEY_A), env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    boot = ("import sys; sys.modules['uvloop'] = None; sys.argv = ['dario', 'proxy', '--port', '0']; "
            "from dario.cli import main; main()")
    proc = subprocess.Popen([sys.executable, "-c", boot], env=env, stderr=subprocess.PIPE, text=True)
    try:
        m = re.search(r"listening on (http://127\.0\.0\.1:\d+)", proc.stderr.readline())
        assert m
        client = anthropic.Anthropic(base_url=m.group(1), api_key="x", max_retries=0)
        for _ in range(2):  # the second on the kept-alive connection
            msg = client.messages.create(model="claude-x", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
            assert msg.content[0].text == ANSWER
        with client.messages.stream(model="claude-x", max_tokens=5, messages=[{"role": "user", "content": "hi"}]) as s:
            assert s.get_final_message().content[0].text == ANSWER
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
