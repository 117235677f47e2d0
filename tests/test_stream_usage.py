"""A streamed Chat Completions call the client made without `stream_options.include_usage` still
records its tokens: dario asks the OpenAI-kind backend for usage and hides the extra chunk, so the
client gets exactly the stream it asked for. With the official openai SDK, through the proxy and
under the shim."""

from __future__ import annotations

import json
import sys

import openai

from tests.support.dario_proxy import start_proxy
from tests.support.fake_upstream import ANSWER, USAGE
from tests.support.shim import base_env, run_shim

MSG = [{"role": "user", "content": "hi"}]
# the fake upstream's usage as dario records it (cached tokens counted apart from input)
RECORDED = (USAGE["input"], USAGE["output"], USAGE["cache_read"])


def _wait(records, n):
    import time
    end = time.time() + 5
    while len(records) < n and time.time() < end:
        time.sleep(0.01)
    return records


def test_proxy_adds_usage_upstream_and_hides_it_from_the_client(upstream):
    server, rec = start_proxy(upstream.url)
    try:
        client = openai.OpenAI(base_url=server.url + "/v1", api_key="x", max_retries=0)
        chunks = list(client.chat.completions.create(model="oai:gpt-4o-mini", messages=MSG, stream=True))
        r = _wait(rec.records, 1)[-1]
    finally:
        server.stop()
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == ANSWER
    assert all(c.usage is None for c in chunks) and all(c.choices for c in chunks)  # no usage chunk
    assert upstream.last().body["stream_options"] == {"include_usage": True}
    assert (r.input_tokens, r.output_tokens, r.cache_read_tokens) == RECORDED and r.cost_usd is not None


def test_a_client_that_asked_for_usage_gets_its_usage_chunk_and_its_body_unchanged(upstream):
    server, rec = start_proxy(upstream.url)
    try:
        client = openai.OpenAI(base_url=server.url + "/v1", api_key="x", max_retries=0)
        chunks = list(client.chat.completions.create(model="m", messages=MSG, stream=True,
                                                     stream_options={"include_usage": True}))
        # the default backend (oai), same model: the body went out as the client sent it
        sent = upstream.requests[-1]
        r = _wait(rec.records, 1)[-1]
    finally:
        server.stop()
    usage = [c.usage for c in chunks if c.usage is not None]
    assert len(usage) == 1 and usage[0].completion_tokens == USAGE["output"]
    assert sent.body == {"model": "m", "messages": MSG, "stream": True, "stream_options": {"include_usage": True}}
    assert (r.input_tokens, r.output_tokens) == RECORDED[:2]


def test_shim_records_tokens_of_a_stream_without_include_usage(home, upstream):
    script = ("import openai, json; c = openai.OpenAI(max_retries=0);"
              "cs = list(c.chat.completions.create(model='gpt-4o-mini', messages=[{'role': 'user', 'content': 'hi'}],"
              " stream=True)); print(json.dumps({'usage': [x.usage is not None for x in cs],"
              " 'text': ''.join(x.choices[0].delta.content or '' for x in cs if x.choices)}))")
    r = run_shim(home, sys.executable, "-c", script, env=base_env(home))
    out = json.loads(r.stdout.decode().strip().splitlines()[-1])
    assert out["text"] == ANSWER and not any(out["usage"]), r.stderr.decode()[-2000:]
    from dario.store.telemetry import TelemetryStore
    store = TelemetryStore(home / "telemetry.db")
    row = store.calls_for_run(store.last_run_id())[-1]
    assert (row["input_tokens"], row["output_tokens"], row["cache_read_tokens"]) == RECORDED


def test_the_usage_request_is_added_to_the_clients_own_bytes_when_the_model_is_unchanged(upstream):
    from dario.protocols import adapter
    oai = adapter("openai")
    raw = b'{"model": "m", "messages": [{"role": "user", "content": "h\\u00e9"}], "stream": true}\n'
    spliced = oai.usage_request_spliced(raw, json.loads(raw))
    assert spliced.startswith(raw.rstrip()[:-1]) and json.loads(spliced) == {**json.loads(raw),
                                                                               "stream_options": {"include_usage": True}}
    assert oai.usage_request_spliced(b'{"model":"m","stream":true,"stream_options":{}}',
                                     {"model": "m", "stream": True, "stream_options": {}}) is None
    utf16 = json.dumps({"model": "m", "stream": True}).encode("utf-16")
    assert oai.usage_request_spliced(utf16, {"model": "m", "stream": True}) is None
    server, rec = start_proxy(upstream.url)
    try:  # the default backend, same model: the client's body, plus the one field
        client = openai.OpenAI(base_url=server.url + "/v1", api_key="x", max_retries=0)
        chunks = list(client.chat.completions.create(model="m", messages=MSG, stream=True))
        sent = upstream.requests[-1]
        r = _wait(rec.records, 1)[-1]
    finally:
        server.stop()
    assert all(c.usage is None for c in chunks)
    assert sent.body == {"model": "m", "messages": MSG, "stream": True, "stream_options": {"include_usage": True}}
    assert (r.input_tokens, r.output_tokens) == RECORDED[:2]


def test_the_hidden_usage_chunk_stays_hidden_however_the_stream_is_cut(upstream):
    # whole events without usage are relayed as they came; a cut event, or one naming usage, is parsed
    for size in (7, 64, 10_000):
        upstream.fail_next(rechunk=size)
        server, rec = start_proxy(upstream.url)
        try:
            client = openai.OpenAI(base_url=server.url + "/v1", api_key="x", max_retries=0)
            chunks = list(client.chat.completions.create(model="m", messages=MSG, stream=True))
            r = _wait(rec.records, 1)[-1]
        finally:
            server.stop()
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == ANSWER, size
        assert all(c.usage is None for c in chunks) and all(c.choices for c in chunks), size
        assert (r.input_tokens, r.output_tokens) == RECORDED[:2], size
