"""`dario proxy` driven by the official Python SDKs against the fake upstream."""

from __future__ import annotations

import json
import time

import anthropic
import openai
import pytest
import requests

from tests.support.dario_proxy import UPSTREAM_KEY_A, UPSTREAM_KEY_O, start_proxy
from tests.support.fake_upstream import ANSWER, TOOL_ARGS, USAGE

WEATHER_A = {"name": "get_weather", "description": "Weather for a city",
             "input_schema": {"type": "object", "properties": {"city": {"type": "string"},
                                                               "unit": {"type": "string"}},
                              "required": ["city"]}}
WEATHER_O = {"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
                                              "parameters": WEATHER_A["input_schema"]}}
MSG = [{"role": "user", "content": "Say hello"}]


def wait_records(server, n, timeout=5.0):
    end = time.time() + timeout
    while len(server.records) < n and time.time() < end:
        time.sleep(0.01)
    return server.records


def ant(proxy, **kw):
    return anthropic.Anthropic(base_url=proxy.url, api_key="client-key-not-for-upstream", max_retries=0, **kw)


def oai(proxy, **kw):
    return openai.OpenAI(base_url=proxy.url + "/v1", api_key="client-key-not-for-upstream", max_retries=0, **kw)


# -- same protocol: passthrough ------------------------------------------------
def test_anthropic_plain_passthrough_swaps_key_and_model(proxy, upstream):
    msg = ant(proxy).messages.create(model="anthropic:claude-test-1", max_tokens=50, messages=MSG)
    assert msg.content[0].text == ANSWER
    seen = upstream.last()
    assert seen.path == "/v1/messages"
    assert seen.headers["x-api-key"] == UPSTREAM_KEY_A  # dario's key, never the client's
    assert "client-key-not-for-upstream" not in json.dumps(seen.headers)
    assert seen.body["model"] == "claude-test-1"  # prefix stripped
    assert seen.body["messages"] == MSG
    rec = wait_records(proxy, 1)[0]
    assert (rec.status, rec.backend, rec.model_requested, rec.model) == (
        200, "anthropic", "anthropic:claude-test-1", "claude-test-1")
    assert (rec.input_tokens, rec.output_tokens, rec.cache_read_tokens, rec.cache_write_tokens) == (
        USAGE["input"], USAGE["output"], USAGE["cache_read"], USAGE["cache_write"])


def test_anthropic_body_unchanged_when_model_routes_as_is(proxy, upstream):
    raw = b'{"model": "claude-x",   "max_tokens": 5, "messages": [{"role":"user","content":"hi"}]}'
    r = requests.post(proxy.url + "/v1/messages", data=raw, headers={"content-type": "application/json",
                                                                      "anthropic-version": "2023-06-01"})
    assert r.status_code == 200
    assert upstream.last().body == json.loads(raw)


def test_anthropic_streaming(proxy, upstream):
    with ant(proxy).messages.stream(model="claude-test-1", max_tokens=50, messages=MSG) as s:
        chunks = list(s.text_stream)
        final = s.get_final_message()
    assert len(chunks) > 1 and "".join(chunks) == ANSWER
    assert final.stop_reason == "end_turn"
    rec = wait_records(proxy, 1)[0]
    assert rec.stream and rec.status == 200 and rec.error is None
    assert rec.output_tokens == USAGE["output"] and rec.cache_read_tokens == USAGE["cache_read"]
    assert rec.ttft_ms is not None and rec.ttft_ms <= rec.latency_ms


def test_anthropic_streaming_tool_call(proxy, upstream):
    with ant(proxy).messages.stream(model="claude-test-1", max_tokens=50, messages=MSG, tools=[WEATHER_A]) as s:
        partial = [e.partial_json for e in s if e.type == "input_json"]
        final = s.get_final_message()
    assert len(partial) > 1
    assert final.stop_reason == "tool_use"
    assert final.content[0].name == "get_weather" and final.content[0].input == TOOL_ARGS


def test_openai_plain_and_stream_with_prefix(proxy, upstream):
    client = oai(proxy)
    out = client.chat.completions.create(model="oai:gpt-4o-mini", messages=MSG)
    assert out.choices[0].message.content == ANSWER
    seen = upstream.last()
    assert seen.path == "/v1/chat/completions" and seen.body["model"] == "gpt-4o-mini"
    assert seen.headers["Authorization"] == f"Bearer {UPSTREAM_KEY_O}"
    stream = client.chat.completions.create(model="oai:gpt-4o-mini", messages=MSG, stream=True,
                                            stream_options={"include_usage": True})
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == ANSWER
    rec = wait_records(proxy, 2)[1]
    assert rec.stream and rec.input_tokens == USAGE["input"] and rec.cache_read_tokens == USAGE["cache_read"]


def test_openai_streaming_tool_call(proxy, upstream):
    stream = oai(proxy).chat.completions.create(model="oai:gpt-4o-mini", messages=MSG, tools=[WEATHER_O],
                                                stream=True)
    frags, name = [], None
    for c in stream:
        for tc in (c.choices[0].delta.tool_calls or []) if c.choices else []:
            name = name or tc.function.name
            if tc.function.arguments:
                frags.append(tc.function.arguments)
    assert name == "get_weather" and len(frags) > 1 and json.loads("".join(frags)) == TOOL_ARGS


# -- translation: both directions ----------------------------------------------
def test_anthropic_client_on_openai_backend_streams_tool_call(proxy, upstream):
    with ant(proxy).messages.stream(model="oai:gpt-4o-mini", max_tokens=50, messages=MSG, tools=[WEATHER_A]) as s:
        partial = [e.partial_json for e in s if e.type == "input_json"]
        final = s.get_final_message()
    seen = upstream.last()
    assert seen.path == "/v1/chat/completions" and seen.body["model"] == "gpt-4o-mini"
    assert seen.body["tools"][0]["function"]["name"] == "get_weather"
    assert seen.headers["Authorization"] == f"Bearer {UPSTREAM_KEY_O}"
    assert len(partial) > 1
    assert final.stop_reason == "tool_use"
    assert final.content[0].type == "tool_use" and final.content[0].input == TOOL_ARGS
    rec = wait_records(proxy, 1)[0]
    assert (rec.protocol_in, rec.protocol_out) == ("anthropic", "openai")
    assert rec.input_tokens == USAGE["input"] and rec.cache_read_tokens == USAGE["cache_read"]


def test_anthropic_client_on_openai_backend_plain_text(proxy, upstream):
    msg = ant(proxy).messages.create(model="oai:gpt-4o-mini", max_tokens=50, messages=MSG,
                                     system="Be brief.")
    assert msg.content[0].text == ANSWER and msg.stop_reason == "end_turn"
    assert upstream.last().body["messages"][0] == {"role": "system", "content": "Be brief."}


def test_openai_client_on_anthropic_backend_streams_tool_call(proxy, upstream):
    stream = oai(proxy).chat.completions.create(model="claude-test-1", messages=MSG, tools=[WEATHER_O],
                                                stream=True, stream_options={"include_usage": True})
    frags, name, finish, usage = [], None, None, None
    for c in stream:
        usage = c.usage or usage
        for ch in c.choices:
            finish = ch.finish_reason or finish
            for tc in ch.delta.tool_calls or []:
                name = name or tc.function.name
                if tc.function.arguments:
                    frags.append(tc.function.arguments)
    seen = upstream.last()
    assert seen.path == "/v1/messages" and seen.headers["x-api-key"] == UPSTREAM_KEY_A
    assert seen.body["tools"][0]["name"] == "get_weather" and seen.body["max_tokens"] > 0
    assert name == "get_weather" and json.loads("".join(frags)) == TOOL_ARGS and finish == "tool_calls"
    assert usage is not None and usage.completion_tokens == USAGE["output"]


def test_openai_client_on_anthropic_backend_plain(proxy, upstream):
    out = oai(proxy).chat.completions.create(model="claude-test-1", messages=[
        {"role": "system", "content": "Be brief."}, *MSG])
    assert out.choices[0].message.content == ANSWER and out.choices[0].finish_reason == "stop"
    assert upstream.last().body["system"] in ("Be brief.", [{"type": "text", "text": "Be brief."}])


# -- routing ---------------------------------------------------------------------
def test_unroutable_model_lists_backends_in_callers_shape(upstream):
    server, _ = start_proxy(upstream.url, default=None)
    try:
        r = requests.post(server.url + "/v1/chat/completions", json={"model": "gpt-4o", "messages": MSG})
        assert r.status_code == 404
        err = r.json()["error"]
        assert "openai" in err["message"] and "anthropic (anthropic)" in err["message"] and "oai (openai)" in err["message"]
        r = requests.post(server.url + "/v1/messages", json={"model": "mystery", "max_tokens": 5, "messages": MSG})
        assert r.status_code == 404 and r.json()["type"] == "error"
        assert r.json()["error"]["type"] == "not_found_error"
    finally:
        server.stop()


def test_forced_model(upstream):
    server, _ = start_proxy(upstream.url, forced_model="anthropic:claude-forced")
    try:
        r = requests.post(server.url + "/v1/messages", json={"model": "whatever", "max_tokens": 5, "messages": MSG})
        assert r.status_code == 200 and upstream.last().body["model"] == "claude-forced"
    finally:
        server.stop()


# -- errors ------------------------------------------------------------------------
@pytest.mark.parametrize("path,shape", [("/v1/messages", "anthropic"), ("/v1/chat/completions", "openai")])
def test_bad_input_gets_protocol_shaped_4xx(proxy, upstream, path, shape):
    def check(r, status):
        assert r.status_code == status, r.text
        body = r.json()
        if shape == "anthropic":
            assert body["type"] == "error" and body["error"]["type"] and body["error"]["message"]
        else:
            assert body["error"]["message"] and body["error"]["type"]
        return body

    check(requests.post(proxy.url + path, data=b"{not json", headers={"content-type": "application/json"}), 400)
    check(requests.post(proxy.url + path, json=["a list"]), 400)
    body = check(requests.post(proxy.url + path, json={"messages": MSG}), 400)
    assert "model" in json.dumps(body)
    check(requests.get(proxy.url + path), 405)
    assert upstream.requests == []  # nothing bad went upstream


def test_unknown_path_and_oversized_body(upstream):
    server, _ = start_proxy(upstream.url)
    try:
        r = requests.post(server.url + "/v1/nope", json={})
        assert r.status_code == 404 and r.json()["type"] == "error"
        r = requests.post(server.url + "/v1/chat/completions", data=b"x" * (65 * 1024 * 1024),
                          headers={"content-type": "application/json"})
        assert r.status_code == 413 and "MiB" in r.json()["error"]["message"]
    finally:
        server.stop()


def test_upstream_429_keeps_status_body_and_retry_after(upstream):
    # queue_timeout=0: no waiting for the key to cool down (tests/test_resilience.py covers the queue)
    proxy, rec = start_proxy(upstream.url, queue_timeout=0)
    proxy.records = rec.records
    try:
        upstream.fail_next(status=429, headers={"retry-after": "7"})
        with pytest.raises(anthropic.RateLimitError) as e:
            ant(proxy).messages.create(model="claude-test-1", max_tokens=5, messages=MSG)
        assert e.value.status_code == 429 and e.value.response.headers["retry-after"] == "7"
        assert e.value.body["error"]["type"] == "rate_limit_error"
        rec = wait_records(proxy, 1)[0]
        assert rec.status == 429 and "fake upstream error 429" in rec.error
    finally:
        proxy.stop()


def test_upstream_error_translated_to_openai_shape(proxy, upstream):
    upstream.fail_next(status=500)
    with pytest.raises(openai.InternalServerError) as e:
        oai(proxy).chat.completions.create(model="claude-test-1", messages=MSG)
    assert "fake upstream error 500" in e.value.body["message"]


def test_upstream_error_echoing_the_key_is_redacted(proxy, upstream):
    upstream.fail_next(status=401, body={"type": "error", "error": {
        "type": "authentication_error", "message": f"invalid x-api-key {UPSTREAM_KEY_A}"}})
    r = requests.post(proxy.url + "/v1/messages", json={"model": "claude-x", "max_tokens": 5, "messages": MSG})
    assert r.status_code == 401 and UPSTREAM_KEY_A not in r.text and "invalid x-api-key" in r.text
    rec = wait_records(proxy, 1)[0]
    assert UPSTREAM_KEY_A not in rec.error and UPSTREAM_KEY_A not in (rec.response_body or b"").decode()


def test_mid_stream_drop_ends_with_error_event(proxy, upstream):
    upstream.fail_next(drop_after_events=4)
    r = requests.post(proxy.url + "/v1/messages", json={"model": "claude-x", "max_tokens": 5, "messages": MSG,
                                                       "stream": True}, stream=True, timeout=10)
    text = r.content.decode()
    assert "event: error" in text and "dario" in text
    rec = wait_records(proxy, 1)[0]
    assert rec.status == 502 and "broke" in rec.error


def test_client_disconnect_aborts_upstream_wait(proxy, upstream):
    upstream.fail_next(delay=3)
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.post(proxy.url + "/v1/messages", json={"model": "claude-x", "max_tokens": 5, "messages": MSG},
                      timeout=0.5)
    rec = wait_records(proxy, 1, timeout=2.5)  # recorded long before the upstream would answer
    assert rec and rec[0].status == 499 and rec[0].error == "client disconnected"


def test_unreachable_upstream_is_502_in_shape(upstream):
    from dario.pipeline.backends import Backend
    server, recs = start_proxy(upstream.url, backends={"dead": Backend("dead", "openai", "http://127.0.0.1:9/v1",
                                                                       ["sk-dead-key-123456"])}, default="dead")
    try:
        r = requests.post(server.url + "/v1/chat/completions", json={"model": "m", "messages": MSG})
        assert r.status_code == 502 and "cannot reach upstream dead" in r.json()["error"]["message"]
        assert "sk-dead-key" not in r.text
    finally:
        server.stop()


# -- auth ----------------------------------------------------------------------------
def test_dario_api_key_guards_everything_but_health(upstream):
    server, _ = start_proxy(upstream.url, api_key="local-secret-123")
    try:
        assert requests.get(server.url + "/health").status_code == 200
        r = requests.post(server.url + "/v1/messages", json={"model": "claude-x", "max_tokens": 5, "messages": MSG})
        assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"
        r = requests.post(server.url + "/v1/chat/completions", json={"model": "claude-x", "messages": MSG},
                          headers={"authorization": "Bearer wrong"})
        assert r.status_code == 401 and "error" in r.json()
        assert requests.get(server.url + "/v1/models").status_code == 401
        ok = anthropic.Anthropic(base_url=server.url, api_key="local-secret-123", max_retries=0)
        assert ok.messages.create(model="claude-x", max_tokens=5, messages=MSG).content[0].text == ANSWER
        # the client's dario key is not dario's upstream key: it never leaves
        assert upstream.last().headers["x-api-key"] == UPSTREAM_KEY_A
        ok2 = openai.OpenAI(base_url=server.url + "/v1", api_key="local-secret-123", max_retries=0)
        assert ok2.chat.completions.create(model="oai:m", messages=MSG).choices[0].message.content == ANSWER
    finally:
        server.stop()


# -- models and health ------------------------------------------------------------------
def test_models_in_both_shapes(proxy, upstream):
    ids = [m.id for m in oai(proxy).models.list()]
    assert "oai:fake-model-1" in ids and "anthropic:fake-model-2" in ids and "sonnet" in ids
    ids2 = [m.id for m in ant(proxy).models.list()]
    assert ids2 == ids
    h = requests.get(proxy.url + "/health").json()
    assert h["status"] == "ok" and h["backends"] == ["anthropic", "gemini", "oai", "oair"]


def test_count_tokens_passes_through(proxy, upstream):
    n = ant(proxy).messages.count_tokens(model="claude-x", messages=MSG)
    assert n.input_tokens > 0 and upstream.last().path == "/v1/messages/count_tokens"
