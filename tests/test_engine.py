"""The engine through its upstream seam: the real proxy app on loopback, answers made in memory
(MemoryUpstream), so each stage's rule is checked in milliseconds. End-to-end tests with real
fake servers and real clients are in test_proxy*.py and test_shim*.py."""

from __future__ import annotations

import json

import aiohttp
import pytest

from dario.core.usage import Usage
from dario.pipeline.backends import Backend
from dario.pipeline.engine import Pipeline
from dario.pipeline.upstream import MemoryResponse, MemoryUpstream
from dario.protocols import ADAPTERS, adapter
from dario.proxy.server import build_app, start as start_proxy

KEY_A, KEY_O = "sk-ant-engine-key-AAAA", "sk-engine-openai-key-OOOO"
BACKENDS = {"anthropic": Backend("anthropic", "anthropic", "http://a.test", [KEY_A]),
            "oai": Backend("oai", "openai", "http://o.test/v1", [KEY_O])}


class Watch:
    """A call hook that notes every event it is given."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []
        self.records = []
        self.decoded_before_answer: list[bool] = []

    def call_start(self, call) -> None:
        self.events.append(("start", call.id))

    def response_headers(self, call) -> None:
        self.events.append(("headers", call.id))
        self.decoded_before_answer.append(vars(call).get("_body") is not None)  # `Call.body` not yet asked for

    def call_finish(self, call, record) -> None:
        self.events.append(("finish", call.id))
        self.records.append(record)


def sse(*events: tuple[str | None, dict | str]) -> list[bytes]:
    out = []
    for name, data in events:
        head = f"event: {name}\n" if name else ""
        out.append((head + "data: " + (data if isinstance(data, str) else json.dumps(data)) + "\n\n").encode())
    return out


@pytest.fixture
async def serve():
    servers = []

    async def start(answer, **kw):
        up = MemoryUpstream(lambda *a: answer() if callable(answer) else answer)
        watch = Watch()
        pipeline = Pipeline(BACKENDS, default_backend="oai", hooks=[watch], upstream=up,
                            secrets=(KEY_A, KEY_O), **kw)
        runner, port = await start_proxy(build_app(pipeline), "127.0.0.1", 0)
        servers.append(runner)
        return f"http://127.0.0.1:{port}", up, watch

    yield start
    for s in servers:
        await s.cleanup()


async def post(url, path, body, raw=False):
    async with aiohttp.ClientSession() as s:
        async with s.post(url + path, data=body if raw else json.dumps(body),
                          headers={"Content-Type": "application/json"}) as r:
            return r.status, await r.read()


ANT = {"model": "claude-x", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
OAI = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
CHAT_OK = {"id": "c1", "object": "chat.completion", "created": 1, "model": "gpt-x",
           "choices": [{"index": 0, "message": {"role": "assistant", "content": "yo"}, "finish_reason": "stop"}]}


# -- one Usage: each provider field has one rule -------------------------------------------------

USAGE_CASES = [  # (adapter, wire usage, expected Usage) -- shapes from each provider's API reference
    ("anthropic", {"input_tokens": 50, "output_tokens": 20, "cache_read_input_tokens": 1000,
                   "cache_creation_input_tokens": 300}, Usage(50, 20, 1000, 300)),
    ("openai", {"prompt_tokens": 1200, "completion_tokens": 300, "total_tokens": 1500,
                "prompt_tokens_details": {"cached_tokens": 1000},
                "completion_tokens_details": {"reasoning_tokens": 256}}, Usage(200, 300, 1000, None, 256)),
    ("openai", {"prompt_tokens": 900, "completion_tokens": 10, "prompt_cache_hit_tokens": 640,
                "prompt_cache_miss_tokens": 260}, Usage(260, 10, 640, None)),  # DeepSeek
    ("openai", {"prompt_tokens": 7, "completion_tokens": 3}, Usage(7, 3, 0, None)),
]


@pytest.mark.parametrize("name,wire,expected", USAGE_CASES)
def test_usage_rule_per_provider_field(name, wire, expected):
    assert adapter(name).usage_from_wire(wire) == expected


@pytest.mark.parametrize("name,wire,expected", USAGE_CASES)
def test_usage_survives_the_wire_both_ways(name, wire, expected):
    """What an adapter writes for its clients reads back as the same Usage."""
    from dario.protocols import anthropic, openai_chat
    to_wire = {"anthropic": anthropic.usage_to_wire, "openai": openai_chat.usage_to_wire}[name]
    back = adapter(name).usage_from_wire(to_wire(expected))
    assert back == Usage(expected.input_tokens, expected.output_tokens, expected.cache_read_tokens or 0,
                         expected.cache_write_tokens if name == "openai" else expected.cache_write_tokens or 0,
                         expected.reasoning_tokens)


async def test_deepseek_cache_hits_metered_and_translated_agree(serve):
    """An Anthropic client on a DeepSeek-style backend: the row and the client's usage say the same."""
    usage = {"prompt_tokens": 900, "completion_tokens": 10, "prompt_cache_hit_tokens": 640}
    url, _, watch = await serve(MemoryResponse(200, {"Content-Type": "application/json"},
                                               [json.dumps(dict(CHAT_OK, usage=usage)).encode()]))
    status, body = await post(url, "/v1/messages", dict(ANT, model="oai:deepseek-chat"))
    u = json.loads(body)["usage"]
    rec = watch.records[-1]
    assert status == 200 and (u["input_tokens"], u["cache_read_input_tokens"]) == (260, 640)
    assert (rec.input_tokens, rec.cache_read_tokens, rec.output_tokens) == (260, 640, 10)


async def test_stream_usage_with_reasoning_is_recorded(serve):
    chunks = sse((None, dict(CHAT_OK, object="chat.completion.chunk", choices=[
        {"index": 0, "delta": {"content": "yo"}, "finish_reason": "stop"}])),
        (None, {"id": "c1", "object": "chat.completion.chunk", "choices": [], "usage": {
            "prompt_tokens": 120, "completion_tokens": 40, "prompt_tokens_details": {"cached_tokens": 100},
            "completion_tokens_details": {"reasoning_tokens": 32}}}), (None, "[DONE]"))
    url, _, watch = await serve(MemoryResponse(200, {"Content-Type": "text/event-stream"}, chunks))
    status, body = await post(url, "/v1/chat/completions",
                              dict(OAI, stream=True, stream_options={"include_usage": True}))
    rec = watch.records[-1]
    assert status == 200 and body == b"".join(chunks)  # same protocol, usage asked for: byte for byte
    assert (rec.input_tokens, rec.cache_read_tokens, rec.output_tokens, rec.reasoning_tokens) == (20, 100, 40, 32)


# -- the Call through the stages --------------------------------------------------------------

async def test_hooks_see_each_call_once_and_it_is_priced_once(serve):
    usage = {"prompt_tokens": 1_000_000, "completion_tokens": 0}
    url, up, watch = await serve(MemoryResponse(200, {"Content-Type": "application/json"},
                                                [json.dumps(dict(CHAT_OK, usage=usage)).encode()]),
                                 prices={"my-model": {"input": 2.0, "output": 4.0}})
    status, _ = await post(url, "/v1/chat/completions", dict(OAI, model="my-model"))
    assert status == 200
    cid = watch.events[0][1]
    assert watch.events == [("start", cid), ("headers", cid), ("finish", cid)]
    rec = watch.records[0]
    assert rec.id == cid and rec.cost_usd == pytest.approx(2.0) and rec.status == 200 and rec.error is None


async def test_same_protocol_body_goes_out_byte_for_byte(serve):
    raw = b'{"model":"m",  "messages":[{"role":"user","content":"hi"}], "x_unknown": [1,2,3]}'
    url, up, _ = await serve(MemoryResponse(200, {"Content-Type": "application/json"}, [json.dumps(CHAT_OK).encode()]))
    await post(url, "/v1/chat/completions", raw, raw=True)
    method, target, headers, body = up.sent[-1]
    assert body == raw and target == "http://o.test/v1/chat/completions"
    assert headers["Authorization"] == f"Bearer {KEY_O}"


async def test_a_same_protocol_call_is_sent_before_its_body_is_decoded_whole(serve):
    """parse.py decodes only the fields routing reads: the client's bytes go upstream as they came, and the
    conversation is read from them once the client has its answer. A renamed model and a translation need
    the whole body before the send."""
    history = [{"role": "user" if i % 2 == 0 else "assistant", "content": [{"type": "text", "text": f"turn {i}"}]}
               for i in range(41)]
    url, up, watch = await serve(MemoryResponse(200, {"Content-Type": "application/json"}, [json.dumps(CHAT_OK).encode()]),
                                 aliases={"renamed": "oai:gpt-y"})
    for model in ("m", "renamed", "claude-x"):
        status, _ = await post(url, "/v1/chat/completions", dict(OAI, model=model, messages=history))
        assert status == 200
    assert watch.decoded_before_answer == [False, True, True]
    assert json.loads(up.sent[1][3])["model"] == "gpt-y"  # re-serialised from the whole body
    same = watch.records[0]
    assert same.conversation and same.request_body == json.dumps(dict(OAI, messages=history)).encode()
    assert watch.records[1].conversation and watch.records[2].conversation


async def test_translated_request_gets_the_backends_url_auth_and_version(serve):
    ant_ok = {"id": "msg_1", "type": "message", "role": "assistant", "content": [{"type": "text", "text": "yo"}],
              "stop_reason": "end_turn", "usage": {"input_tokens": 3, "output_tokens": 1}}
    url, up, watch = await serve(MemoryResponse(200, {"Content-Type": "application/json"}, [json.dumps(ant_ok).encode()]))
    status, body = await post(url, "/v1/chat/completions", dict(OAI, model="claude-x"))
    _, target, headers, sent = up.sent[-1]
    assert target == "http://a.test/v1/messages" and headers["x-api-key"] == KEY_A
    assert headers["anthropic-version"] == "2023-06-01" and "Authorization" not in headers
    assert json.loads(sent)["max_tokens"] and json.loads(body)["choices"][0]["message"]["content"] == "yo"
    assert watch.records[-1].protocol_in == "openai" and watch.records[-1].protocol_out == "anthropic"


async def test_every_call_ends_in_a_response_or_an_error(serve):
    url, _, watch = await serve(MemoryResponse(503, {"Content-Type": "application/json"},
                                               [b'{"error": {"message": "busy ' + KEY_O.encode() + b'"}}']))
    s1, b1 = await post(url, "/v1/messages", dict(ANT, model="oai:gpt-x"))  # upstream error, translated
    s2, b2 = await post(url, "/v1/messages", {"model": 5})  # dario's own 400
    ok, bad = watch.records[-2:]
    assert (s1, ok.status) == (503, 503) and json.loads(b1)["error"]["type"] == "overloaded_error"
    assert KEY_O not in b1.decode() and ok.error and KEY_O not in ok.error  # the echoed key is masked
    assert (s2, bad.status) == (400, 400) and json.loads(b2)["type"] == "error" and bad.error


def test_adding_a_protocol_is_one_adapter():
    """Every adapter implements the whole interface the engine uses."""
    from dario.protocols.base import Adapter
    needed = [n for n, v in vars(Adapter).items() if callable(v) and not n.startswith("_")]
    for a in ADAPTERS.values():
        for n in needed:
            getattr(a, n)
        assert a.paths.get("generate") and a.error_body(400, "x")
