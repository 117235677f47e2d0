"""Property tests for the Responses and Gemini adapters: requests, answers and streams go
internal -> protocol -> internal and keep what they mean; streams are translated one event at a
time (internal events -> the protocol's frames -> back), and fold with the Anthropic SDK's own
accumulator. The documented lossy spots are normalised explicitly (and only those)."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from dario.pipeline.sse import SSEParser
from dario.pipeline.translate import gemini as gm
from dario.pipeline.translate import responses_api as ra
from dario.pipeline.translate import responses_stream as rs
from dario.protocols import adapter
from tests.test_translate_props import (
    CLAUDE,
    SETTINGS,
    anthropic_requests,
    arg_objects,
    counts,
    names,
    texts,
    unique_ids,
)
from tests.test_translate_streams import a_event, anthropic_final, anthropic_stream


def norm(req: dict, *, stop: bool = True) -> dict:
    """What a request means, in the terms every protocol can say."""
    msgs = []
    for m in req["messages"]:
        blocks = [{"type": "text", "text": m["content"]}] if isinstance(m["content"], str) else m["content"]
        text = "".join(b["text"] for b in blocks if b["type"] == "text")
        uses = [(b["id"], b["name"], b["input"]) for b in blocks if b["type"] == "tool_use"]
        results = [(b["tool_use_id"], b.get("content") if isinstance(b.get("content"), str) else
                    "\n".join(x["text"] for x in b.get("content") or []), bool(b.get("is_error")))
                   for b in blocks if b["type"] == "tool_result"]
        if msgs and msgs[-1]["role"] == m["role"]:  # protocols without strict alternation merge turns
            msgs[-1]["text"] += text
            msgs[-1]["uses"] += uses
            msgs[-1]["results"] += results
        else:
            msgs.append({"role": m["role"], "text": text, "uses": uses, "results": results})
    system = req.get("system")
    system = "\n\n".join(b["text"] for b in system) if isinstance(system, list) else system
    tc = req.get("tool_choice") if req.get("tools") else None
    return {"messages": msgs, "system": system or None, "max_tokens": req["max_tokens"],
            "stop": req.get("stop_sequences") if stop else None,
            "tools": [(t["name"], t.get("description") or "") for t in req.get("tools") or []],
            "tool_choice": tc}


@SETTINGS
@given(anthropic_requests())
def test_internal_request_round_trips_through_gemini(req):
    """Gemini has no tool-call ids of its own: dario sends and reads them back in `id`."""
    wire = gm.from_internal_request(req, "gemini-x")
    json.dumps(wire)
    assert "toolConfig" not in wire or wire["toolConfig"]["functionCallingConfig"]
    back = gm.to_internal_request(wire, CLAUDE)
    want = norm(req)
    if want["tool_choice"]:
        want["tool_choice"] = {k: v for k, v in want["tool_choice"].items() if k != "disable_parallel_tool_use"}
    assert norm(back) == want


@SETTINGS
@given(anthropic_requests())
def test_internal_request_round_trips_through_responses(req):
    """The Responses API has no stop sequences: a request with them is refused, never sent without."""
    if req.get("stop_sequences"):
        try:
            ra.from_internal_request(req, "gpt-x")
        except ValueError as e:
            assert "stop_sequences" in str(e)
            return
        raise AssertionError("stop_sequences were dropped without a word")
    wire = ra.from_internal_request(req, "gpt-x")
    json.dumps(wire)
    back, dropped = ra.to_internal_request(wire, CLAUDE)
    assert dropped == []
    assert norm(back, stop=False) == norm(req, stop=False)


blocks_out = st.lists(st.one_of(
    texts.map(lambda t: {"type": "text", "text": t}),
    st.tuples(names, arg_objects).map(lambda p: {"type": "tool_use", "name": p[0], "input": p[1]})),
    min_size=1, max_size=5)


def with_ids(blocks, ids):
    out, k = [], 0
    for b in blocks:
        if b["type"] == "tool_use":
            b = {**b, "id": ids[k]}
            k += 1
        out.append(b)
    return out


def norm_answer(content: list[dict]) -> tuple:
    """Adjacent text blocks are one text (every protocol but Anthropic's joins them)."""
    out: list = []
    for b in content:
        if b["type"] == "text":
            if out and out[-1][0] == "text":
                out[-1] = ("text", out[-1][1] + b["text"])
            else:
                out.append(("text", b["text"]))
        elif b["type"] == "tool_use":
            out.append(("tool", b["id"], b["name"], b["input"]))
    return tuple(out)


@st.composite
def answers(draw):
    blocks = draw(blocks_out)
    ids = draw(unique_ids(sum(b["type"] == "tool_use" for b in blocks)))
    usage = {"input_tokens": draw(counts), "output_tokens": draw(counts),
             "cache_read_input_tokens": draw(counts), "cache_creation_input_tokens": 0}
    stop = "tool_use" if ids else draw(st.sampled_from(["end_turn", "max_tokens"]))
    return {"id": "msg_1", "type": "message", "role": "assistant", "model": "m", "content": with_ids(blocks, ids),
            "stop_reason": stop, "stop_sequence": None, "usage": usage}


@SETTINGS
@given(answers(), st.sampled_from(["responses", "gemini"]))
def test_answers_round_trip(msg, proto):
    a = adapter(proto)
    wire = a.response_from_internal(msg, "m", {"store": False})
    back = a.response_to_internal(json.loads(json.dumps(wire)), "m")
    assert norm_answer(back["content"]) == norm_answer(msg["content"])
    assert back["stop_reason"] == msg["stop_reason"]
    for k in ("input_tokens", "output_tokens", "cache_read_input_tokens"):
        assert back["usage"][k] == msg["usage"][k]


def stream_of(msg, cut: int) -> list:
    """An Anthropic stream of `msg`, text in pieces of `cut` characters, tool input in pieces too."""
    blocks = []
    for b in msg["content"]:
        if b["type"] == "text":
            t = b["text"]
            blocks.append(({"type": "text", "text": ""}, [{"type": "text_delta", "text": t[i:i + cut]}
                                                          for i in range(0, len(t), cut)]))
        else:
            j = json.dumps(b["input"])
            blocks.append(({"type": "tool_use", "id": b["id"], "name": b["name"], "input": {}},
                           [{"type": "input_json_delta", "partial_json": j[i:i + cut]} for i in range(0, len(j), cut)]))
    u = msg["usage"]
    return [a_event(e) for e in anthropic_stream(blocks, msg["stop_reason"],
                                                 usage_start={**u, "output_tokens": 0},
                                                 usage_end={"output_tokens": u["output_tokens"]})]


@SETTINGS
@given(answers(), st.integers(1, 7), st.sampled_from(["responses", "gemini"]))
def test_streams_translate_event_by_event_and_back(msg, cut, proto):
    a = adapter(proto)
    writer = a.stream_from_internal("m", {"store": False})
    reader = a.stream_to_internal("m")
    parser = SSEParser()
    internal = []
    for ev in stream_of(msg, cut):
        frames = writer.feed(ev)
        assert all(f.endswith(b"\n\n") for f in frames)  # whole events, as they are made
        for wire_ev in parser.feed(b"".join(frames)):
            internal += reader.events(wire_ev)
    for wire_ev in parser.feed(b"".join(writer.finish())) + parser.flush():
        internal += reader.events(wire_ev)
    internal += reader.finish_events()
    snap, types = anthropic_final(internal)
    assert types[0] == "message_start" and types[-1] == "message_stop" and types.count("message_stop") == 1
    content = [b.model_dump() for b in snap.content]
    assert norm_answer(content) == norm_answer(msg["content"])
    assert snap.stop_reason == msg["stop_reason"]
    assert snap.usage.output_tokens == msg["usage"]["output_tokens"]


def test_responses_sequence_numbers_count_every_event():
    msg = {"content": [{"type": "text", "text": "hello"}, {"type": "tool_use", "id": "t1", "name": "f",
                                                          "input": {"a": 1}}],
           "stop_reason": "tool_use", "usage": {"input_tokens": 1, "output_tokens": 2}}
    writer = rs.FromInternal("m", {}, "resp_1")
    p = SSEParser()
    evs = [e for ev in stream_of({**msg, "usage": {**msg["usage"], "cache_read_input_tokens": 0,
                                                  "cache_creation_input_tokens": 0}}, 2)
           for e in p.feed(b"".join(writer.feed(ev)))]
    seq = [json.loads(e.data)["sequence_number"] for e in evs]
    assert seq == list(range(len(evs))) and all(e.event == json.loads(e.data)["type"] for e in evs)


def test_gemini_schema_cleaning_keeps_meaning():
    schema = {"type": "object", "properties": {
        "a": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
        "b": {"type": "array", "items": {"$ref": "#/$defs/x"}},
        "c": {"oneOf": [{"type": "string"}, {"type": "number"}]},
        "d": {"allOf": [{"type": "string"}], "description": "d"}},
        "$defs": {"x": {"type": "object", "additionalProperties": {"type": "string"},
                        "properties": {"y": {"type": "string", "format": "uri"}}}}}
    assert gm.gemini_schema(schema) == {"type": "object", "properties": {
        "a": {"type": "integer", "nullable": True},
        "b": {"type": "array", "items": {"type": "object", "properties": {"y": {"type": "string"}}}},
        "c": {"anyOf": [{"type": "string"}, {"type": "number"}]},
        "d": {"type": "string", "description": "d"}}}
    recursive = {"type": "object", "properties": {"n": {"$ref": "#"}}}
    assert json.dumps(gm.gemini_schema(recursive))  # a recursive ref ends, it does not loop


def test_signatures_ride_in_call_ids_both_ways():
    for sig in ("c2lnLWZha2UtMDE=", "a+b/c==", "not base64 at all!"):
        cid = gm.id_with_signature("toolu_1", sig)
        assert all(ch.isalnum() or ch in "_-" for ch in cid)  # a valid Anthropic tool id
        assert gm.split_signature(cid) == ("toolu_1", sig)
    assert gm.split_signature("toolu_plain") == ("toolu_plain", None)
