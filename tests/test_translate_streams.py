"""Stream translators, checked by reassembling their output with the official SDKs' own accumulators."""

from __future__ import annotations

import json

from anthropic.lib.streaming._messages import accumulate_event
from anthropic.types import RawMessageStreamEvent
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletionChunk
from pydantic import TypeAdapter

from dario.core.usage import Usage
from dario.pipeline.sse import SSEEvent, SSEParser
from dario.pipeline.translate import AnthropicToOpenAIStream, OpenAIToAnthropicStream

A_EVENT = TypeAdapter(RawMessageStreamEvent)


# ------------------------------------------------------------------ helpers (shared with the property tests)

def o_event(obj) -> SSEEvent:
    return SSEEvent(None, obj if isinstance(obj, str) else json.dumps(obj))


def a_event(obj) -> SSEEvent:
    return SSEEvent(obj["type"], json.dumps(obj))


def run(translator, events, *, finish: bool = True) -> list[SSEEvent]:
    """Feed events one by one; parse what comes out exactly as a client would."""
    out = b""
    for ev in events:
        frames = translator.feed(ev)
        assert all(isinstance(f, bytes) and f.endswith(b"\n\n") for f in frames)
        out += b"".join(frames)
    if finish:
        out += b"".join(translator.finish())
    p = SSEParser()
    return p.feed(out) + p.flush()


def anthropic_final(events: list[SSEEvent]):
    """Validate every event against the SDK union and fold them with the SDK's accumulator."""
    snap, bufs = None, {}
    types = []
    for ev in events:
        obj = json.loads(ev.data)
        assert ev.event == obj["type"], "SSE event name must match the payload type"
        types.append(obj["type"])
        if obj["type"] == "error":
            continue
        snap = accumulate_event(event=A_EVENT.validate_python(obj), current_snapshot=snap, json_bufs=bufs)
    return snap, types


def openai_final(events: list[SSEEvent]):
    """Validate every chunk as ChatCompletionChunk and fold them with the SDK's stream state."""
    state = ChatCompletionStreamState()
    reasoning = ""
    datas = [ev.data for ev in events]
    assert datas and datas[-1] == "[DONE]", "an OpenAI stream ends with [DONE]"
    assert datas.count("[DONE]") == 1
    chunks = []
    for ev in events[:-1]:
        assert ev.event is None
        chunk = ChatCompletionChunk.model_validate_json(ev.data)
        chunks.append(chunk)
        for ch in chunk.choices:
            reasoning += (ch.delta.model_extra or {}).get("reasoning_content") or ""
        state.handle_chunk(chunk)
    # the snapshot, not get_final_completion(): that one raises on finish_reason "length"
    return state.current_completion_snapshot, chunks, reasoning


def chunk(delta=None, finish=None, usage=None, cid="chatcmpl-1"):
    obj = {"id": cid, "object": "chat.completion.chunk", "created": 1, "model": "up",
           "choices": [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]}
    if usage is not None:
        obj["usage"] = usage
    return obj


# ------------------------------------------------------------------ OpenAI upstream -> Anthropic client

def test_o2a_stream_text_tools_usage():
    t = OpenAIToAnthropicStream("claude-alias")
    upstream = [
        chunk({"role": "assistant", "content": ""}),
        chunk({"reasoning_content": "Let me "}), chunk({"reasoning_content": "think."}),
        chunk({"content": "Hel"}), chunk({"content": "lo"}),
        chunk({"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                               "function": {"name": "w", "arguments": ""}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"ci'}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": 'ty":"Oslo"}'}}]}),
        chunk({"tool_calls": [{"index": 1, "id": "call_2", "type": "function",
                               "function": {"name": "t", "arguments": "{}"}}]}),
        chunk({}, "tool_calls"),
        chunk(usage={"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150,
                     "prompt_tokens_details": {"cached_tokens": 100}}),
        "[DONE]",
    ]
    events = run(t, [o_event(c) for c in upstream])
    msg, types = anthropic_final(events)
    assert types == ["message_start",
                     "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
                     "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
                     "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
                     "content_block_start", "content_block_delta", "content_block_stop",
                     "message_delta", "message_stop"]
    assert [b.type for b in msg.content] == ["thinking", "text", "tool_use", "tool_use"]
    assert msg.content[0].thinking == "Let me think." and msg.content[1].text == "Hello"
    assert (msg.content[2].id, msg.content[2].name, msg.content[2].input) == ("call_1", "w", {"city": "Oslo"})
    assert (msg.content[3].id, msg.content[3].name, msg.content[3].input) == ("call_2", "t", {})
    assert msg.stop_reason == "tool_use" and msg.model == "claude-alias"
    assert (msg.usage.input_tokens, msg.usage.cache_read_input_tokens, msg.usage.output_tokens) == (20, 100, 30)
    assert t.usage == Usage(input_tokens=20, output_tokens=30, cache_read_tokens=100, cache_write_tokens=None)
    # indexes are dense and in order, as Anthropic sends them
    starts = [json.loads(e.data)["index"] for e in events if e.event == "content_block_start"]
    assert starts == [0, 1, 2, 3]
    assert t.finish() == [] and t.feed(o_event(chunk({"content": "late"}))) == []


def test_o2a_stream_is_incremental():
    t = OpenAIToAnthropicStream("m")
    first = t.feed(o_event(chunk({"role": "assistant", "content": "Hi"})))
    assert b"message_start" in first[0] and any(b'"text_delta"' in f for f in first)
    assert t.feed(o_event(chunk({"content": " there"})))  # a delta per chunk, nothing held back
    # finish_reason closes the block at once; message_delta waits for the usage chunk / [DONE]
    stop = b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n'
    assert t.feed(o_event(chunk({}, "stop"))) == [stop]


def test_o2a_stream_without_finish_or_done_closes_once():
    t = OpenAIToAnthropicStream("m")
    events = run(t, [o_event(chunk({"content": "partial"}))])
    msg, types = anthropic_final(events)
    assert types[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert msg.content[0].text == "partial" and msg.stop_reason == "end_turn"
    assert t.finish() == []


def test_o2a_stream_empty_upstream_still_valid():
    t = OpenAIToAnthropicStream("m")
    msg, types = anthropic_final(run(t, []))
    assert types == ["message_start", "message_delta", "message_stop"] and msg.content == []


def test_o2a_stream_finish_then_done_without_usage_chunk():
    t = OpenAIToAnthropicStream("m")
    msg, _ = anthropic_final(run(t, [o_event(chunk({"content": "x"})), o_event(chunk({}, "length")),
                                     o_event("[DONE]")], finish=False))
    assert msg.stop_reason == "max_tokens"


def test_o2a_stream_tool_name_arrives_late_and_usage_on_finish_chunk():
    t = OpenAIToAnthropicStream("m")
    upstream = [chunk({"tool_calls": [{"index": 0, "id": "call_z", "function": {"arguments": '{"a":'}}]}),
                chunk({"tool_calls": [{"index": 0, "function": {"name": "f", "arguments": "1}"}}]}),
                chunk({}, "stop", usage={"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7})]
    msg, _ = anthropic_final(run(t, [o_event(c) for c in upstream]))
    assert (msg.content[0].id, msg.content[0].name, msg.content[0].input) == ("call_z", "f", {"a": 1})
    assert msg.stop_reason == "tool_use"  # "stop" with tool calls still means the client must run them
    assert (msg.usage.input_tokens, msg.usage.output_tokens) == (5, 2)


def test_o2a_stream_object_arguments():
    # Some servers (Ollama-style) send arguments as an object rather than a JSON string.
    t = OpenAIToAnthropicStream("m")
    msg, _ = anthropic_final(run(t, [o_event(chunk({"tool_calls": [{"index": 0, "id": "c", "function": {
        "name": "f", "arguments": {"k": [1, "v"]}}}]}, "tool_calls"))]))
    assert msg.content[0].input == {"k": [1, "v"]} and msg.stop_reason == "tool_use"


def test_o2a_stream_reused_tool_index():
    t = OpenAIToAnthropicStream("m")
    calls = [chunk({"tool_calls": [{"index": 0, "id": "a", "function": {"name": "f", "arguments": '{"n":1}'}}]}),
             chunk({"tool_calls": [{"index": 0, "id": "b", "function": {"name": "g", "arguments": '{"n":'}}]}),
             chunk({"tool_calls": [{"index": 0, "function": {"arguments": "2}"}}]}),
             chunk({}, "stop")]
    msg, _ = anthropic_final(run(t, [o_event(c) for c in calls]))
    assert [(b.id, b.name, b.input) for b in msg.content] == [("a", "f", {"n": 1}), ("b", "g", {"n": 2})]
    assert msg.stop_reason == "tool_use"


def test_o2a_stream_error_chunk_and_junk():
    t = OpenAIToAnthropicStream("m")
    events = run(t, [o_event(": comment"), o_event("not json"), o_event(chunk({"content": "a"})),
                     o_event({"error": {"message": "upstream exploded", "type": "server_error"}})])
    _, types = anthropic_final(events)
    assert types[-1] == "error"
    err = json.loads(events[-1].data)
    assert err == {"type": "error", "error": {"type": "api_error", "message": "upstream exploded"}}
    assert "message_stop" not in types


def test_o2a_stream_refusal():
    t = OpenAIToAnthropicStream("m")
    msg, _ = anthropic_final(run(t, [o_event(chunk({"refusal": "No."})), o_event(chunk({}, "stop")),
                                     o_event("[DONE]")]))
    assert msg.content[0].text == "No." and msg.stop_reason == "refusal"


# ------------------------------------------------------------------ Anthropic upstream -> OpenAI client

def anthropic_stream(blocks, stop="end_turn", usage_start=None, usage_end=None):
    evs = [{"type": "message_start", "message": {
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude", "content": [],
        "stop_reason": None, "stop_sequence": None,
        "usage": usage_start or {"input_tokens": 10, "output_tokens": 1}}}, {"type": "ping"}]
    for i, (start, deltas) in enumerate(blocks):
        evs.append({"type": "content_block_start", "index": i, "content_block": start})
        evs += [{"type": "content_block_delta", "index": i, "delta": d} for d in deltas]
        evs.append({"type": "content_block_stop", "index": i})
    evs.append({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
                "usage": usage_end or {"output_tokens": 5}})
    evs.append({"type": "message_stop"})
    return evs


def test_a2o_stream_full():
    blocks = [
        ({"type": "thinking", "thinking": "", "signature": ""},
         [{"type": "thinking_delta", "thinking": "hmm "}, {"type": "thinking_delta", "thinking": "ok"},
          {"type": "signature_delta", "signature": "sig"}]),
        ({"type": "text", "text": ""}, [{"type": "text_delta", "text": "Hi "}, {"type": "text_delta", "text": "you"}]),
        ({"type": "tool_use", "id": "toolu_1", "name": "w", "input": {}},
         [{"type": "input_json_delta", "partial_json": ""}, {"type": "input_json_delta", "partial_json": '{"c":'},
          {"type": "input_json_delta", "partial_json": ' "x"}'}]),
        ({"type": "redacted_thinking", "data": "zz"}, []),
        ({"type": "tool_use", "id": "toolu_2", "name": "v", "input": {}},
         [{"type": "input_json_delta", "partial_json": "{}"}]),
    ]
    evs = anthropic_stream(blocks, "tool_use",
                           {"input_tokens": 10, "output_tokens": 1, "cache_read_input_tokens": 90,
                            "cache_creation_input_tokens": 5}, {"output_tokens": 42})
    t = AnthropicToOpenAIStream("gpt-alias", include_usage=True)
    completion, chunks, reasoning = openai_final(run(t, [a_event(e) for e in evs]))
    assert chunks[0].choices[0].delta.role == "assistant"
    msg = completion.choices[0].message
    assert msg.content == "Hi you" and reasoning == "hmm ok"
    assert [(c.id, c.function.name, json.loads(c.function.arguments)) for c in msg.tool_calls] == \
        [("toolu_1", "w", {"c": "x"}), ("toolu_2", "v", {})]
    assert completion.choices[0].finish_reason == "tool_calls" and completion.model == "gpt-alias"
    usage_chunks = [c for c in chunks if c.usage is not None]
    assert len(usage_chunks) == 1 and usage_chunks[0].choices == [] and chunks[-1] is usage_chunks[0]
    u = usage_chunks[0].usage
    assert (u.prompt_tokens, u.completion_tokens, u.prompt_tokens_details.cached_tokens) == (105, 42, 90)
    assert t.usage == Usage(input_tokens=10, output_tokens=42, cache_read_tokens=90, cache_write_tokens=5)
    # the tool call's first chunk carries id + name; later ones only arguments
    tool_chunks = [c.choices[0].delta.tool_calls[0] for c in chunks if c.choices and c.choices[0].delta.tool_calls]
    assert tool_chunks[0].id == "toolu_1" and tool_chunks[0].function.name == "w"
    assert all(tc.id is None and tc.function.name is None for tc in tool_chunks[1:3])
    assert t.finish() == []


def test_a2o_stream_without_usage_and_stop_sequence():
    evs = anthropic_stream([({"type": "text", "text": ""}, [{"type": "text_delta", "text": "x"}])], "stop_sequence")
    t = AnthropicToOpenAIStream("g", include_usage=False)
    completion, chunks, _ = openai_final(run(t, [a_event(e) for e in evs]))
    assert completion.choices[0].finish_reason == "stop" and completion.choices[0].message.content == "x"
    assert all(c.usage is None for c in chunks)
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]


def test_a2o_stream_error_event():
    t = AnthropicToOpenAIStream("g", include_usage=True)
    out = run(t, [a_event(anthropic_stream([])[0]),
                  a_event({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})])
    err = json.loads(out[-1].data)
    assert err["error"]["message"] == "Overloaded" and err["error"]["type"] == "server_error"
    assert out[-1].event is None and "[DONE]" not in [e.data for e in out]


def test_a2o_stream_truncated_upstream_finishes_once():
    t = AnthropicToOpenAIStream("g", include_usage=True)
    evs = anthropic_stream([({"type": "text", "text": ""}, [{"type": "text_delta", "text": "half"}])])[:-2]
    completion, chunks, _ = openai_final(run(t, [a_event(e) for e in evs]))
    assert completion.choices[0].message.content == "half" and completion.choices[0].finish_reason == "stop"
    assert chunks[-1].usage.prompt_tokens == 10
    assert t.finish() == []


def test_a2o_stream_ignores_unknown_and_bad_events():
    t = AnthropicToOpenAIStream("g", include_usage=False)
    assert t.feed(SSEEvent("ping", '{"type": "ping"}')) == []
    assert t.feed(SSEEvent(None, "garbage")) == []
    assert t.feed(SSEEvent("future_event", '{"type": "future_event"}')) == []
