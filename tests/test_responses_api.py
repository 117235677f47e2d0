"""The OpenAI Responses API through `dario proxy`, driven by the official openai Python SDK:
natively on a backend that serves /v1/responses, and translated to Anthropic, Chat Completions
and Gemini backends (the fake upstream speaks all four protocols)."""

from __future__ import annotations

import json
import time

import openai
import pytest
import requests

from dario.protocols.openai_responses import STORE
from tests.support.dario_proxy import UPSTREAM_KEY_A, UPSTREAM_KEY_O
from tests.support.fake_upstream import ANSWER, TOOL_ARGS, USAGE

WEATHER = {"type": "function", "name": "get_weather", "description": "Weather for a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "unit": {"type": "string"}},
                          "required": ["city"], "additionalProperties": False}}
TRANSLATED = ["anthropic:claude-sonnet-4-5", "oai:fake-model-1", "gemini:gemini-2.5-flash"]
UPSTREAM_PATH = {"anthropic": "/v1/messages", "oai": "/v1/chat/completions",
                 "gemini": "/v1beta/models/gemini-2.5-flash:generateContent"}


def client(proxy) -> openai.OpenAI:
    return openai.OpenAI(base_url=proxy.url + "/v1", api_key="client-key-not-for-upstream", max_retries=0)


def records(proxy, n, timeout=5.0):
    end = time.time() + timeout
    while len(proxy.records) < n and time.time() < end:
        time.sleep(0.01)
    return proxy.records


@pytest.fixture(autouse=True)
def _fresh_store():
    STORE.clear()
    yield
    STORE.clear()


# -- native: an OpenAI-kind backend that serves /v1/responses -----------------------------------
def test_native_responses_pass_through_byte_for_byte(proxy, upstream):
    r = client(proxy).responses.create(model="oair:gpt-5", input="Say hello", instructions="Be brief.")
    assert r.output_text == ANSWER and r.id == "resp_fake01"  # the backend's own answer
    seen = upstream.last()
    assert seen.path == "/v1/responses" and seen.key == UPSTREAM_KEY_O
    assert seen.body["model"] == "gpt-5" and seen.body["input"] == "Say hello"
    assert "client-key-not-for-upstream" not in json.dumps(seen.headers)
    rec = records(proxy, 1)[0]
    assert (rec.protocol_in, rec.protocol_out, rec.backend) == ("responses", "responses", "oair")
    # Responses counts cached tokens inside input_tokens: the record holds them apart
    assert (rec.input_tokens, rec.cache_read_tokens, rec.output_tokens) == (
        USAGE["input"], USAGE["cache_read"], USAGE["output"])


def test_native_stream_is_metered(proxy, upstream):
    with client(proxy).responses.stream(model="oair:gpt-5", input="hi") as s:
        text = "".join(e.delta for e in s if e.type == "response.output_text.delta")
        final = s.get_final_response()
    assert text == ANSWER and final.status == "completed"
    rec = records(proxy, 1)[0]
    assert rec.stream and rec.status == 200 and (rec.input_tokens, rec.output_tokens) == (USAGE["input"], 9)


def test_a_chat_only_openai_backend_gets_responses_as_chat_completions(proxy, upstream):
    r = client(proxy).responses.create(model="oai:fake-model-1", input="hi")
    assert r.output_text == ANSWER and r.id.startswith("resp_")
    assert upstream.last().path == "/v1/chat/completions"
    assert upstream.last().body["messages"] == [{"role": "user", "content": "hi"}]


# -- translated ---------------------------------------------------------------------------------
@pytest.mark.parametrize("model", TRANSLATED)
def test_translated_tool_call_and_tool_result_turn(proxy, upstream, model):
    c = client(proxy)
    first = c.responses.create(model=model, input="Weather in Paris?", tools=[WEATHER], instructions="Use tools.")
    calls = [i for i in first.output if i.type == "function_call"]
    assert len(calls) == 1 and calls[0].name == "get_weather" and json.loads(calls[0].arguments) == TOOL_ARGS
    assert first.usage.input_tokens >= USAGE["input"] + USAGE["cache_read"]
    assert first.usage.input_tokens_details.cached_tokens == USAGE["cache_read"]
    backend = model.split(":")[0]
    assert upstream.last().path == UPSTREAM_PATH[backend]
    second = c.responses.create(model=model, tools=[WEATHER], input=[
        {"role": "user", "content": "Weather in Paris?"},
        *[i.model_dump(exclude_none=True) for i in first.output],
        {"type": "function_call_output", "call_id": calls[0].call_id, "output": "18C and sunny"}])
    assert second.output_text == ANSWER and second.status == "completed"
    sent = json.dumps(upstream.last().body)
    assert "18C and sunny" in sent and "Use tools." not in sent  # instructions belong to one call only
    if backend == "anthropic":
        body = upstream.last().body
        assert body["messages"][1]["content"][0] == {"type": "tool_use", "id": calls[0].call_id,
                                                     "name": "get_weather", "input": TOOL_ARGS}
        assert body["messages"][2]["content"][0]["type"] == "tool_result"


@pytest.mark.parametrize("model", TRANSLATED)
def test_translated_stream_events_reassemble_with_the_sdk(proxy, upstream, model):
    with client(proxy).responses.stream(model=model, input="hi") as s:
        events = list(s)
        final = s.get_final_response()
    kinds = [e.type for e in events]
    assert kinds[:2] == ["response.created", "response.in_progress"] and kinds[-1] == "response.completed"
    for k in ("response.output_item.added", "response.content_part.added", "response.output_text.delta",
              "response.output_text.done", "response.content_part.done", "response.output_item.done"):
        assert k in kinds
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert final.output_text == ANSWER and final.usage.output_tokens == USAGE["output"]
    rec = records(proxy, 1)[0]
    assert (rec.protocol_in, rec.status, rec.output_tokens) == ("responses", 200, USAGE["output"])


@pytest.mark.parametrize("model", TRANSLATED)
def test_translated_streamed_tool_call(proxy, upstream, model):
    with client(proxy).responses.stream(model=model, input="Weather?", tools=[WEATHER]) as s:
        deltas = "".join(e.delta for e in s if e.type == "response.function_call_arguments.delta")
        final = s.get_final_response()
    (call,) = [i for i in final.output if i.type == "function_call"]
    assert json.loads(deltas) == json.loads(call.arguments) == TOOL_ARGS and call.status == "completed"


def test_previous_response_id_is_resolved_on_a_translated_call(proxy, upstream):
    c = client(proxy)
    first = c.responses.create(model="anthropic:claude-sonnet-4-5", input="My name is Ada.")
    second = c.responses.create(model="anthropic:claude-sonnet-4-5", input="What is my name?",
                                previous_response_id=first.id)
    assert second.previous_response_id == first.id
    assert upstream.last().body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "My name is Ada."}]},
        {"role": "assistant", "content": [{"type": "text", "text": ANSWER}]},
        {"role": "user", "content": [{"type": "text", "text": "What is my name?"}]}]
    third = c.responses.create(model="anthropic:claude-sonnet-4-5", input="And again?",
                               previous_response_id=second.id)  # a chain of three
    assert len(upstream.last().body["messages"]) == 5 and third.output_text == ANSWER


def test_previous_response_id_of_a_streamed_answer(proxy, upstream):
    c = client(proxy)
    with c.responses.stream(model="gemini:gemini-2.5-flash", input="Remember 42.") as s:
        first = s.get_final_response()
    c.responses.create(model="gemini:gemini-2.5-flash", input="Which number?", previous_response_id=first.id)
    texts = [p["text"] for c_ in upstream.last().body["contents"] for p in c_["parts"]]
    assert texts == ["Remember 42.", ANSWER, "Which number?"]


def test_unknown_or_unstored_previous_response_is_a_clear_400(proxy, upstream):
    c = client(proxy)
    unstored = c.responses.create(model="anthropic:claude-x", input="hi", store=False)
    for rid in (unstored.id, "resp_never_seen"):
        with pytest.raises(openai.BadRequestError) as e:
            c.responses.create(model="anthropic:claude-x", input="again", previous_response_id=rid)
        err = e.value.body
        assert err["code"] == "previous_response_not_found" and rid in err["message"]
    assert all(s.path != "/v1/messages" or s.body["messages"][0]["content"][0]["text"] != "again"
               for s in upstream.requests)  # never sent upstream without its history


def test_native_previous_response_id_goes_to_the_backend(proxy, upstream):
    client(proxy).responses.create(model="oair:gpt-5", input="more", previous_response_id="resp_abc")
    assert upstream.last().body["previous_response_id"] == "resp_abc"  # OpenAI keeps its own state


def test_reasoning_round_trips_through_encrypted_content(proxy, upstream):
    """Anthropic thinking reaches a Responses client as a reasoning item whose encrypted_content is
    the signature; sent back, it is thinking with that signature again."""
    thinking = {"type": "thinking", "thinking": "Paris is in France.", "signature": "sig-ABC"}
    item_in = {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": thinking["thinking"]}],
               "encrypted_content": thinking["signature"]}
    client(proxy).responses.create(model="anthropic:claude-x", input=[
        {"role": "user", "content": "q"}, item_in, {"type": "message", "role": "assistant", "content": [
            {"type": "output_text", "text": "a"}]}, {"role": "user", "content": "q2"}])
    assert upstream.last().body["messages"][1]["content"][0] == thinking
    from dario.pipeline.translate.responses_api import from_internal_response
    out = from_internal_response({"content": [thinking, {"type": "text", "text": "a"}], "stop_reason": "end_turn",
                                  "usage": {}}, "m", {}, "resp_1")["output"]
    assert out[0]["type"] == "reasoning" and out[0]["encrypted_content"] == "sig-ABC"
    assert out[0]["summary"] == item_in["summary"]


def test_hosted_tools_are_not_offered_and_the_answer_says_so(proxy, upstream):
    r = requests.post(proxy.url + "/v1/responses", json={
        "model": "anthropic:claude-x", "input": "hi", "tools": [WEATHER, {"type": "web_search"}],
        "prompt_cache_key": "k", "service_tier": "flex", "store": False, "include": ["reasoning.encrypted_content"]})
    assert r.status_code == 200 and r.headers["x-dario-not-carried"] == "web_search,prompt_cache_key,service_tier"
    assert [t["name"] for t in upstream.last().body["tools"]] == ["get_weather"]


def test_namespace_and_custom_tools_map_back_to_their_forms(proxy, upstream):
    body = {"model": "anthropic:claude-x", "input": "hi", "tools": [
        {"type": "namespace", "name": "crm", "description": "CRM", "tools": [WEATHER]}]}
    r = requests.post(proxy.url + "/v1/responses", json=body).json()
    assert upstream.last().body["tools"][0]["name"] == "crm__get_weather"
    (call,) = r["output"]
    assert (call["type"], call["namespace"], call["name"]) == ("function_call", "crm", "get_weather")
    custom = {"type": "custom", "name": "apply_patch", "description": "Patch files"}
    r = requests.post(proxy.url + "/v1/responses", json={"model": "anthropic:claude-x", "input": "hi",
                                                         "tools": [custom]}).json()
    assert upstream.last().body["tools"][0]["input_schema"]["required"] == ["input"]
    assert r["output"][0]["type"] == "custom_tool_call"


@pytest.mark.parametrize("body, needle", [
    ({"model": "anthropic:claude-x", "input": 42}, "input: must be a string or a list"),
    ({"model": "anthropic:claude-x", "input": [{"type": "function_call", "call_id": "c1", "name": "f",
                                                 "arguments": "{not json"}]}, "not valid JSON"),
    ({"model": "anthropic:claude-x", "input": [{"type": "computer_call_output", "call_id": "c"}]},
     "'computer_call_output' cannot be carried"),
    ({"model": "anthropic:claude-x", "input": [{"type": "item_reference", "id": "msg_1"}]}, "item_reference"),
    ({"model": "anthropic:claude-x", "input": "hi", "background": True}, "background"),
    ({"model": "anthropic:claude-x", "input": [{"role": "tool", "content": "x"}]}, "message role 'tool'"),
    ({"model": "anthropic:claude-x", "input": [{"role": "user", "content": [{"type": "input_image",
                                                                              "file_id": "file-1"}]}]}, "file_id"),
])
def test_bad_responses_bodies_get_a_400_in_the_responses_shape(proxy, upstream, body, needle):
    r = requests.post(proxy.url + "/v1/responses", json=body)
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert needle in err["message"] and err["type"] == "invalid_request_error"
    assert records(proxy, 1)[0].status == 400  # every call leaves a row


def test_responses_error_from_a_translated_backend_keeps_the_responses_shape(proxy, upstream):
    upstream.fail_next(status=500)
    with pytest.raises(openai.InternalServerError) as e:
        client(proxy).responses.create(model="anthropic:claude-x", input="hi")
    assert "fake upstream error 500" in e.value.body["message"] and e.value.body["type"] == "server_error"


def test_input_tokens_endpoint_answers(proxy, upstream):
    r = requests.post(proxy.url + "/v1/responses/input_tokens", json={"model": "anthropic:claude-x",
                                                                      "input": "hello there"})
    assert r.status_code == 200 and r.json()["object"] == "response.input_tokens"
    assert r.json()["input_tokens"] > 0 and r.headers["x-dario-estimate"] == "chars/4"


def test_responses_only_models_take_the_responses_api_from_any_client(proxy, upstream):
    """OpenAI serves some models only on /v1/responses: a Chat client reaches them through it."""
    r = openai.OpenAI(base_url=proxy.url + "/v1", api_key="x", max_retries=0).chat.completions.create(
        model="oair:gpt-5-codex", messages=[{"role": "user", "content": "hi"}])
    assert r.choices[0].message.content == ANSWER
    seen = upstream.last()
    assert seen.path == "/v1/responses" and seen.body["input"][0]["content"] == [{"type": "input_text",
                                                                                  "text": "hi"}]
    assert seen.body["store"] is False  # a Chat client asked nothing to be kept at OpenAI
    assert upstream.requests[-1].key == UPSTREAM_KEY_O and UPSTREAM_KEY_A not in json.dumps(seen.headers)
