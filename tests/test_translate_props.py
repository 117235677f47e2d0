"""Property tests: what a conversation means survives translation both ways.

Requests and responses go A -> O -> A and O -> A -> O; streams are cut at random
points, translated, and reassembled with the SDKs' own accumulators. Known,
documented lossy spots are normalised explicitly (and only those).
"""

from __future__ import annotations

import json
import string

import anthropic.types as at
import openai.types.chat as oc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dario.pipeline.translate import (
    AnthropicToOpenAIStream,
    OpenAIToAnthropicStream,
    anthropic_to_openai_request,
    anthropic_to_openai_response,
    openai_to_anthropic_request,
    openai_to_anthropic_response,
)
from dario.pipeline.translate.requests import TOOL_ERROR_MARK
from tests.test_translate import check_anthropic_request, check_openai_request
from tests.test_translate_streams import a_event, anthropic_final, chunk, o_event, openai_final, run

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CLAUDE = "claude-sonnet-4-5"  # a model that still takes temperature, so sampling round-trips too

texts = st.text(min_size=1, max_size=40)
ids = st.text(string.ascii_letters + string.digits + "_-", min_size=1, max_size=24)
names = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_-]{0,20}", fullmatch=True)
scalars = st.none() | st.booleans() | st.integers(-10**12, 10**12) | \
    st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12)
json_values = st.recursive(scalars, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6), c,
                                                                                        max_size=3), max_leaves=8)
arg_objects = st.dictionaries(st.text(max_size=8), json_values, max_size=4)
counts = st.integers(0, 10**6)


def unique_ids(n):
    return st.lists(ids, min_size=n, max_size=n, unique=True)


# ------------------------------------------------------------------ Anthropic requests

@st.composite
def tool_calls_a(draw):
    n = draw(st.integers(0, 3))
    return [{"type": "tool_use", "id": i, "name": draw(names), "input": draw(arg_objects)}
            for i in draw(unique_ids(n))]


@st.composite
def anthropic_requests(draw):
    messages = []
    pending: list[str] = []  # tool_use ids the next user turn must answer
    for turn in range(draw(st.integers(1, 6))):
        if turn % 2 == 0:
            blocks = []
            for tid in pending:
                res: dict = {"type": "tool_result", "tool_use_id": tid}
                # A result whose own text starts with the error marker reads back as an error: the
                # one documented ambiguity of carrying is_error in OpenAI's text-only tool message.
                content = draw(st.none() | st.text(max_size=30) |
                               st.lists(texts.map(lambda t: {"type": "text", "text": t}), min_size=1, max_size=2))
                if (content if isinstance(content, str) else "\n".join(b["text"] for b in content or [])) \
                        .startswith(TOOL_ERROR_MARK):
                    content = None
                if content is not None:
                    res["content"] = content
                if draw(st.booleans()):
                    res["is_error"] = draw(st.booleans())
                blocks.append(res)
            blocks += [{"type": "text", "text": t} for t in draw(st.lists(texts, min_size=0 if pending else 1,
                                                                          max_size=3))]
            plain = not pending and len(blocks) == 1 and draw(st.booleans())
            messages.append({"role": "user", "content": blocks[0]["text"] if plain else blocks})
            pending = []
        else:
            calls = draw(tool_calls_a())
            blocks = [{"type": "text", "text": t} for t in draw(st.lists(texts, min_size=0 if calls else 1,
                                                                         max_size=2))] + calls
            messages.append({"role": "assistant", "content": blocks})
            pending = [c["id"] for c in calls]
    body: dict = {"model": "client-model", "messages": messages, "max_tokens": draw(st.integers(1, 64000))}
    system = draw(st.none() | texts | st.lists(texts.map(lambda t: {"type": "text", "text": t}), min_size=1,
                                               max_size=3))
    if system is not None:
        body["system"] = system
    if draw(st.booleans()):
        body["stop_sequences"] = draw(st.lists(texts, min_size=1, max_size=3))
    if draw(st.booleans()):
        body["temperature"] = draw(st.floats(0, 1))
    tool_names = draw(st.lists(names, max_size=3, unique=True))
    if tool_names:
        body["tools"] = [{"name": n, "description": draw(texts), "input_schema": {
            "type": "object", "properties": {draw(names): {"type": "string"}}}} for n in tool_names]
        choice = draw(st.sampled_from(["auto", "any", "tool", "none", None]))
        if choice:
            tc: dict = {"type": choice}
            if choice == "tool":
                tc["name"] = draw(st.sampled_from(tool_names))
            if choice != "none" and draw(st.booleans()):
                tc["disable_parallel_tool_use"] = True
            body["tool_choice"] = tc
    return body


def norm_anthropic_request(req: dict) -> dict:
    def result_text(c):
        return c if isinstance(c, str) else "\n".join(b["text"] for b in c or [])

    msgs = []
    for m in req["messages"]:
        blocks = [{"type": "text", "text": m["content"]}] if isinstance(m["content"], str) else m["content"]
        msgs.append({
            "role": m["role"],
            # one turn's text blocks are one text on the OpenAI side (documented)
            "text": "".join(b["text"] for b in blocks if b["type"] == "text"),
            "tool_uses": [(b["id"], b["name"], b["input"]) for b in blocks if b["type"] == "tool_use"],
            "results": [(b["tool_use_id"], result_text(b.get("content")), bool(b.get("is_error")))
                        for b in blocks if b["type"] == "tool_result"],
        })
    system = req.get("system")
    tc = req.get("tool_choice")
    if tc and not req.get("tools"):
        tc = None
    return {
        "messages": msgs,
        "system": system if isinstance(system, str) or system is None else "\n\n".join(b["text"] for b in system),
        "max_tokens": req["max_tokens"], "stop": req.get("stop_sequences"), "temperature": req.get("temperature"),
        "tools": req.get("tools"), "tool_choice": tc,
    }


@SETTINGS
@given(anthropic_requests())
def test_anthropic_request_round_trip(req):
    mid = anthropic_to_openai_request(req, "gpt-x")
    check_openai_request(mid)
    back = openai_to_anthropic_request(mid, CLAUDE)
    check_anthropic_request(back)
    assert norm_anthropic_request(back) == norm_anthropic_request(req)


# ------------------------------------------------------------------ OpenAI requests

@st.composite
def openai_requests(draw):
    messages: list[dict] = []
    if draw(st.booleans()):
        messages.append({"role": draw(st.sampled_from(["system", "developer"])), "content": draw(texts)})
    role = "user"
    for _ in range(draw(st.integers(1, 6))):
        if role == "user":
            messages.append({"role": "user", "content": draw(texts)})
            role = "assistant"
            continue
        calls = [{"id": f"call_{i}", "type": "function",
                  "function": {"name": draw(names), "arguments": json.dumps(draw(arg_objects))}}
                 for i in draw(unique_ids(draw(st.integers(0, 3))))]
        msg: dict = {"role": "assistant", "content": draw(st.none() | texts) if calls else draw(texts)}
        if calls:
            msg["tool_calls"] = calls
        messages.append(msg)
        messages += [{"role": "tool", "tool_call_id": c["id"], "content": draw(st.text(max_size=30))}
                     for c in calls]
        role = draw(st.sampled_from(["user", "assistant"])) if calls else "user"
    body: dict = {"model": "client", "messages": messages}
    limit = draw(st.none() | st.integers(1, 64000))
    if limit is not None:
        body[draw(st.sampled_from(["max_tokens", "max_completion_tokens"]))] = limit
    if draw(st.booleans()):
        body["stop"] = draw(texts | st.lists(texts, min_size=1, max_size=3))
    if draw(st.booleans()):
        body["temperature"] = draw(st.floats(0, 1))
    tool_names = draw(st.lists(names, max_size=3, unique=True))
    if tool_names:
        body["tools"] = [{"type": "function", "function": {"name": n, "parameters": {"type": "object"}}}
                         for n in tool_names]
        choice = draw(st.sampled_from(["auto", "required", "none", "function", None]))
        if choice == "function":
            body["tool_choice"] = {"type": "function", "function": {"name": draw(st.sampled_from(tool_names))}}
        elif choice:
            body["tool_choice"] = choice
        if choice != "none" and draw(st.booleans()):
            body["parallel_tool_calls"] = False
    return body


def norm_openai_request(req: dict) -> dict:
    msgs = []
    for m in req["messages"]:
        msgs.append({
            "role": "system" if m["role"] == "developer" else m["role"],
            "content": m.get("content") or "",
            "calls": [(c["id"], c["function"]["name"], json.loads(c["function"]["arguments"]))
                      for c in m.get("tool_calls") or []],
            "tool_call_id": m.get("tool_call_id"),
        })
    stop = req.get("stop")
    tc = req.get("tool_choice")
    if tc is None and req.get("parallel_tool_calls") is False:
        tc = "auto"  # Anthropic carries the parallel flag on an (implicit auto) tool_choice
    return {
        "messages": msgs, "limit": req.get("max_completion_tokens", req.get("max_tokens", 4096)),
        "stop": [stop] if isinstance(stop, str) else stop, "temperature": req.get("temperature"),
        "tools": [(t["function"]["name"], t["function"]["parameters"]) for t in req.get("tools") or []],
        "tool_choice": tc, "parallel": req.get("parallel_tool_calls", True),
    }


@SETTINGS
@given(openai_requests())
def test_openai_request_round_trip(req):
    mid = openai_to_anthropic_request(req, CLAUDE)
    check_anthropic_request(mid)
    back = anthropic_to_openai_request(mid, "gpt-x")
    check_openai_request(back)
    assert norm_openai_request(back) == norm_openai_request(req)


# ------------------------------------------------------------------ responses

@st.composite
def anthropic_responses(draw):
    content = []
    if draw(st.booleans()):
        content.append({"type": "thinking", "thinking": draw(texts), "signature": draw(ids)})
    content += [{"type": "text", "text": t} for t in draw(st.lists(texts, max_size=3))]
    calls = draw(tool_calls_a())
    content += calls
    stop = draw(st.sampled_from(["tool_use", "max_tokens"] if calls else ["end_turn", "max_tokens", "refusal"]))
    return {"id": "msg_" + draw(ids), "type": "message", "role": "assistant", "model": "claude", "content": content,
            "stop_reason": stop, "stop_sequence": None,
            "usage": {"input_tokens": draw(counts), "output_tokens": draw(counts),
                      "cache_read_input_tokens": draw(counts), "cache_creation_input_tokens": draw(counts)}}


def norm_anthropic_response(msg: at.Message) -> dict:
    u = msg.usage
    return {
        "text": "".join(b.text for b in msg.content if b.type == "text"),
        "thinking": "\n\n".join(b.thinking for b in msg.content if b.type == "thinking"),
        "tools": [(b.id, b.name, b.input) for b in msg.content if b.type == "tool_use"],
        "stop": msg.stop_reason,
        "usage": (u.input_tokens, u.output_tokens, u.cache_read_input_tokens or 0, u.cache_creation_input_tokens or 0),
    }


@SETTINGS
@given(anthropic_responses())
def test_anthropic_response_round_trip(resp):
    mid = anthropic_to_openai_response(resp, "gpt-x")
    oc.ChatCompletion.model_validate(mid)
    back = at.Message.model_validate(openai_to_anthropic_response(mid, "claude"))
    assert norm_anthropic_response(back) == norm_anthropic_response(at.Message.model_validate(resp))


@st.composite
def openai_responses(draw):
    calls = [{"id": f"call_{i}", "type": "function",
              "function": {"name": draw(names), "arguments": json.dumps(draw(arg_objects))}}
             for i in draw(unique_ids(draw(st.integers(0, 3))))]
    msg: dict = {"role": "assistant", "content": draw(st.none() | st.text(max_size=40))}
    if calls:
        msg["tool_calls"] = calls
    if draw(st.booleans()):
        msg["reasoning_content"] = draw(texts)
    finish = draw(st.sampled_from(["tool_calls", "length"] if calls else ["stop", "length", "content_filter"]))
    prompt = draw(counts)
    return {"id": "chatcmpl-" + draw(ids), "object": "chat.completion", "created": 1, "model": "gpt",
            "choices": [{"index": 0, "finish_reason": finish, "message": msg}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": draw(counts), "total_tokens": 0,
                      "prompt_tokens_details": {"cached_tokens": draw(st.integers(0, prompt))}}}


def norm_openai_response(cc: oc.ChatCompletion) -> dict:
    ch = cc.choices[0]
    return {
        "content": ch.message.content or "",
        "reasoning": (ch.message.model_extra or {}).get("reasoning_content"),
        "calls": [(c.id, c.function.name, json.loads(c.function.arguments)) for c in ch.message.tool_calls or []],
        "finish": ch.finish_reason,
        "usage": (cc.usage.prompt_tokens, cc.usage.completion_tokens, cc.usage.prompt_tokens_details.cached_tokens),
    }


@SETTINGS
@given(openai_responses())
def test_openai_response_round_trip(resp):
    mid = openai_to_anthropic_response(resp, "claude")
    at.Message.model_validate(mid)
    back = oc.ChatCompletion.model_validate(anthropic_to_openai_response(mid, "gpt"))
    assert norm_openai_response(back) == norm_openai_response(oc.ChatCompletion.model_validate(resp))


# ------------------------------------------------------------------ streams

@st.composite
def pieces(draw, s: str) -> list[str]:
    """`s` cut at random points (possibly into empty pieces, which servers also send)."""
    cuts = sorted(draw(st.lists(st.integers(0, len(s)), max_size=6)))
    bounds = [0, *cuts, len(s)]
    return [s[a:b] for a, b in zip(bounds, bounds[1:])]


@st.composite
def openai_streams(draw):
    reasoning = draw(st.none() | texts)
    text = draw(st.text(max_size=60))
    calls = [(f"call_{i}", draw(names), draw(arg_objects)) for i in draw(unique_ids(draw(st.integers(0, 3))))]
    finish = draw(st.sampled_from(["tool_calls", "length"] if calls else ["stop", "length"]))
    usage = {"prompt_tokens": draw(st.integers(100, 1000)), "completion_tokens": draw(counts),
             "total_tokens": 0, "prompt_tokens_details": {"cached_tokens": draw(st.integers(0, 100))}}
    chunks = [chunk({"role": "assistant", "content": ""})]
    chunks += [chunk({"reasoning_content": p}) for p in draw(pieces(reasoning or ""))]
    chunks += [chunk({"content": p}) for p in draw(pieces(text))]
    for i, (cid, name, args) in enumerate(calls):
        frags = draw(pieces(json.dumps(args)))
        chunks.append(chunk({"tool_calls": [{"index": i, "id": cid, "type": "function",
                                             "function": {"name": name, "arguments": frags[0]}}]}))
        chunks += [chunk({"tool_calls": [{"index": i, "function": {"arguments": f}}]}) for f in frags[1:]]
    chunks.append(chunk({}, finish))
    chunks.append(chunk(usage=usage))
    done = draw(st.booleans())
    if done:
        chunks.append("[DONE]")
    return {"chunks": chunks, "reasoning": reasoning or "", "text": text, "calls": calls, "finish": finish,
            "usage": usage, "done": done}


@SETTINGS
@given(openai_streams())
def test_openai_stream_reassembles_as_anthropic(case):
    t = OpenAIToAnthropicStream("claude")
    events = run(t, [o_event(c) for c in case["chunks"]])  # finish() after [DONE] must add nothing
    msg, types = anthropic_final(events)
    assert types[0] == "message_start" and types[-2:] == ["message_delta", "message_stop"]
    assert "".join(b.thinking for b in msg.content if b.type == "thinking") == case["reasoning"]
    assert "".join(b.text for b in msg.content if b.type == "text") == case["text"]
    assert [(b.id, b.name, b.input) for b in msg.content if b.type == "tool_use"] == case["calls"]
    assert msg.stop_reason == {"tool_calls": "tool_use", "stop": "end_turn", "length": "max_tokens"}[case["finish"]]
    cached = case["usage"]["prompt_tokens_details"]["cached_tokens"]
    assert (msg.usage.input_tokens, msg.usage.cache_read_input_tokens, msg.usage.output_tokens) == \
        (case["usage"]["prompt_tokens"] - cached, cached, case["usage"]["completion_tokens"])
    assert t.finish() == []


@st.composite
def anthropic_streams(draw):
    blocks = []
    thinking = draw(st.none() | texts)
    if thinking:
        blocks.append(({"type": "thinking", "thinking": "", "signature": ""},
                       [{"type": "thinking_delta", "thinking": p} for p in draw(pieces(thinking))] +
                       [{"type": "signature_delta", "signature": "sig"}]))
    text_blocks = draw(st.lists(texts, max_size=2))
    for tb in text_blocks:
        blocks.append(({"type": "text", "text": ""}, [{"type": "text_delta", "text": p} for p in draw(pieces(tb))]))
    calls = [("toolu_" + i, draw(names), draw(arg_objects)) for i in draw(unique_ids(draw(st.integers(0, 3))))]
    for cid, name, args in calls:
        blocks.append(({"type": "tool_use", "id": cid, "name": name, "input": {}},
                       [{"type": "input_json_delta", "partial_json": p} for p in draw(pieces(json.dumps(args)))]))
    stop = draw(st.sampled_from(["tool_use", "max_tokens"] if calls else ["end_turn", "max_tokens", "stop_sequence"]))
    u_start = {"input_tokens": draw(counts), "output_tokens": 1, "cache_read_input_tokens": draw(counts),
               "cache_creation_input_tokens": draw(counts)}
    u_end = {"output_tokens": draw(counts)}
    evs = [{"type": "message_start", "message": {
        "id": "msg_x", "type": "message", "role": "assistant", "model": "claude", "content": [],
        "stop_reason": None, "stop_sequence": None, "usage": u_start}}]
    for i, (start, deltas) in enumerate(blocks):
        evs.append({"type": "content_block_start", "index": i, "content_block": start})
        evs += [{"type": "content_block_delta", "index": i, "delta": d} for d in deltas]
        if draw(st.booleans()):
            evs.append({"type": "ping"})
        evs.append({"type": "content_block_stop", "index": i})
    evs.append({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None}, "usage": u_end})
    complete = draw(st.booleans())
    if complete:
        evs.append({"type": "message_stop"})
    return {"events": evs, "thinking": thinking or "", "text": "".join(text_blocks), "calls": calls, "stop": stop,
            "u_start": u_start, "u_end": u_end, "include_usage": draw(st.booleans()), "complete": complete}


@SETTINGS
@given(anthropic_streams())
def test_anthropic_stream_reassembles_as_openai(case):
    t = AnthropicToOpenAIStream("gpt", include_usage=case["include_usage"])
    completion, chunks, reasoning = openai_final(run(t, [a_event(e) for e in case["events"]]))
    msg = completion.choices[0].message
    assert (msg.content or "") == case["text"] and reasoning == case["thinking"]
    assert [(c.id, c.function.name, json.loads(c.function.arguments)) for c in msg.tool_calls or []] == case["calls"]
    assert completion.choices[0].finish_reason == {"tool_use": "tool_calls", "max_tokens": "length",
                                                   "end_turn": "stop", "stop_sequence": "stop"}[case["stop"]]
    usage = [c.usage for c in chunks if c.usage is not None]
    if case["include_usage"]:
        s = case["u_start"]
        assert len(usage) == 1 and usage[0].prompt_tokens == \
            s["input_tokens"] + s["cache_read_input_tokens"] + s["cache_creation_input_tokens"]
        assert usage[0].completion_tokens == case["u_end"]["output_tokens"]
        assert usage[0].prompt_tokens_details.cached_tokens == s["cache_read_input_tokens"]
    else:
        assert usage == []
    assert t.usage.output_tokens == case["u_end"]["output_tokens"]
