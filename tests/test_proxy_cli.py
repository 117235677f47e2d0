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
