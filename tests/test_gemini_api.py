"""The Gemini API through `dario proxy`: the google-genai Python SDK natively (a gemini-kind
backend) and translated (Anthropic, Chat, Responses backends), and the Anthropic and OpenAI
SDKs reaching a Gemini backend. The fake upstream refuses what Google refuses: JSON Schema
keywords outside Gemini's Schema subset, an empty toolConfig, and a model function call
replayed without its thoughtSignature."""

from __future__ import annotations

import json
import time

import anthropic
import openai
import pytest
import requests
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from tests.support.dario_proxy import UPSTREAM_KEY_G, start_proxy
from tests.support.fake_upstream import ANSWER, GEMINI_SIGNATURE, GEMINI_THOUGHTS, TOOL_ARGS, USAGE

SCHEMA = {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object", "additionalProperties": False,
          "properties": {"city": {"type": "string", "description": "the city"},
                         "unit": {"type": ["string", "null"], "enum": ["celsius", "fahrenheit"]},
                         "kind": {"const": "weather"}, "when": {"$ref": "#/$defs/day"}},
          "required": ["city", "gone"], "$defs": {"day": {"type": "string", "format": "date-time"}}}
TRANSLATED = ["anthropic:claude-sonnet-4-5", "oai:fake-model-1", "oair:gpt-5"]


_ALIVE: list = []  # a genai.Client closes its HTTP client when collected, even mid-expression


def gclient(proxy, key="client-key-not-for-upstream") -> genai.Client:
    c = genai.Client(api_key=key, http_options=types.HttpOptions(
        base_url=proxy.url, retry_options=types.HttpRetryOptions(attempts=1)))
    _ALIVE[:] = [c]
    return c


def records(proxy, n, timeout=5.0):
    end = time.time() + timeout
    while len(proxy.records) < n and time.time() < end:
        time.sleep(0.01)
    return proxy.records


def weather_config() -> types.GenerateContentConfig:
    fd = types.FunctionDeclaration(name="get_weather", description="Weather", parameters_json_schema=SCHEMA)
    return types.GenerateContentConfig(tools=[types.Tool(function_declarations=[fd])],
                                       automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True))


# -- native -------------------------------------------------------------------------------------
def test_native_generate_content_swaps_the_key_and_counts_thoughts(proxy, upstream):
    r = gclient(proxy).models.generate_content(model="gemini-2.5-flash", contents="Say hello")
    assert r.text == ANSWER
    seen = upstream.last()
    assert seen.path == "/v1beta/models/gemini-2.5-flash:generateContent" or seen.path.endswith(
        "/models/gemini-2.5-flash:generateContent")
    assert seen.headers["x-goog-api-key"] == UPSTREAM_KEY_G and "client-key-not-for-upstream" not in json.dumps(
        seen.headers)
    rec = records(proxy, 1)[0]
    assert (rec.protocol_in, rec.protocol_out, rec.backend, rec.model) == ("gemini", "gemini", "gemini",
                                                                           "gemini-2.5-flash")
    # promptTokenCount includes the cached tokens; thoughts are output, and counted as reasoning
    assert (rec.input_tokens, rec.cache_read_tokens, rec.output_tokens, rec.reasoning_tokens) == (
        USAGE["input"], USAGE["cache_read"], USAGE["output"], GEMINI_THOUGHTS)


def test_native_stream_and_a_key_in_the_query_never_reach_upstream(proxy, upstream):
    text = "".join(c.text or "" for c in gclient(proxy).models.generate_content_stream(
        model="gemini-2.5-flash", contents="hi"))
    assert text == ANSWER and upstream.last().path.endswith(":streamGenerateContent?alt=sse")
    r = requests.post(proxy.url + "/v1beta/models/gemini-2.5-flash:generateContent?key=client-key-xyz",
                      json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}]})
    assert r.status_code == 200 and "client-key-xyz" not in upstream.last().path
    assert upstream.last().key == UPSTREAM_KEY_G
    rec = records(proxy, 2)[0]
    assert rec.stream and rec.output_tokens == USAGE["output"]


def test_native_count_tokens_passes_through(proxy, upstream):
    r = gclient(proxy).models.count_tokens(model="gemini-2.5-flash", contents="hello there")
    assert r.total_tokens > 0 and upstream.last().path.endswith(":countTokens")


# -- a Gemini client on other backends ----------------------------------------------------------
@pytest.mark.parametrize("model", TRANSLATED)
def test_genai_sdk_on_a_translated_backend(proxy, upstream, model):
    g = gclient(proxy)
    r = g.models.generate_content(model=model, contents="hi", config=types.GenerateContentConfig(
        system_instruction="Be brief.", max_output_tokens=64, temperature=0.5, stop_sequences=["END"]))
    assert r.text == ANSWER and r.candidates[0].finish_reason == types.FinishReason.STOP
    assert r.usage_metadata.prompt_token_count >= USAGE["input"] + USAGE["cache_read"]
    assert r.usage_metadata.cached_content_token_count == USAGE["cache_read"]
    body = upstream.last().body
    assert "Be brief." in json.dumps(body)
    text = "".join(c.text or "" for c in g.models.generate_content_stream(model=model, contents="hi"))
    assert text == ANSWER
    assert upstream.last().body["stream"] is True  # the path said stream; the translated body says it too
    r = requests.post(f"{proxy.url}/v1beta/models/{model}:streamGenerateContent?alt=sse",
                      json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}]})
    assert r.headers["content-type"].startswith("text/event-stream") and r.text.count("data: ") >= 2


@pytest.mark.parametrize("model", TRANSLATED)
def test_genai_function_call_and_response_turn_translated(proxy, upstream, model):
    g = gclient(proxy)
    r = g.models.generate_content(model=model, contents="Weather in Paris?", config=weather_config())
    (call,) = r.function_calls
    assert call.name == "get_weather" and call.args == TOOL_ARGS
    history = [types.Content(role="user", parts=[types.Part(text="Weather in Paris?")]), r.candidates[0].content,
               types.Content(role="user", parts=[types.Part(function_response=types.FunctionResponse(
                   id=call.id, name="get_weather", response={"output": "18C and sunny"}))])]
    r2 = g.models.generate_content(model=model, contents=history, config=weather_config())
    assert r2.text == ANSWER
    sent = json.dumps(upstream.last().body)
    assert "18C and sunny" in sent and call.id in sent


def test_genai_stream_of_a_function_call_translated(proxy, upstream):
    chunks = list(gclient(proxy).models.generate_content_stream(model="anthropic:claude-x", contents="w?",
                                                                config=weather_config()))
    calls = [fc for c in chunks for fc in (c.function_calls or [])]
    assert [(c.name, c.args) for c in calls] == [("get_weather", TOOL_ARGS)]
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP


def test_settings_with_no_counterpart_are_named(proxy, upstream):
    r = requests.post(proxy.url + "/v1beta/models/anthropic:claude-sonnet-4-5:generateContent", json={
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}], "tools": [{"googleSearch": {}}],
        "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
        "generationConfig": {"temperature": 0.2, "seed": 7, "presencePenalty": 0.5}})
    assert r.status_code == 200
    assert r.headers["x-dario-not-carried"] == ("googleSearch,safetySettings,generationConfig.presencePenalty,"
                                                "generationConfig.seed")
    assert "tools" not in upstream.last().body and upstream.last().body["temperature"] == 0.2


def test_translated_count_tokens_is_an_estimate_in_gemini_shape(proxy, upstream):
    r = gclient(proxy).models.count_tokens(model="anthropic:claude-x", contents="hello there")
    assert r.total_tokens > 0


# -- other clients on a Gemini backend ----------------------------------------------------------
def test_anthropic_client_on_gemini_with_tools_and_a_tool_result_turn(proxy, upstream):
    """Claude Code's shape on a Gemini backend: the schema is cleaned for Gemini, and the call's
    thoughtSignature survives the tool turn (the fake refuses a replayed call without it)."""
    a = anthropic.Anthropic(base_url=proxy.url, api_key="x", max_retries=0)
    tools = [{"name": "get_weather", "description": "Weather", "input_schema": SCHEMA}]
    m = a.messages.create(model="gemini-2.5-flash", max_tokens=100, tools=tools,
                          messages=[{"role": "user", "content": "Weather?"}])
    (use,) = [b for b in m.content if b.type == "tool_use"]
    assert use.input == TOOL_ARGS and m.stop_reason == "tool_use"
    params = upstream.last().body["tools"][0]["functionDeclarations"][0]["parameters"]
    assert params == {"type": "object", "required": ["city"], "properties": {
        "city": {"type": "string", "description": "the city"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "nullable": True},
        "kind": {"type": "string", "enum": ["weather"]}, "when": {"type": "string", "format": "date-time"}}}
    assert "toolConfig" not in upstream.last().body  # never an empty one
    m2 = a.messages.create(model="gemini-2.5-flash", max_tokens=100, tools=tools, messages=[
        {"role": "user", "content": "Weather?"}, {"role": "assistant", "content": [b.model_dump() for b in m.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "sunny"}]}])
    assert m2.content[0].text == ANSWER
    model_turn = upstream.last().body["contents"][1]["parts"][0]
    assert model_turn["thoughtSignature"] == GEMINI_SIGNATURE and "__gs_" not in model_turn["functionCall"]["id"]
    reply = upstream.last().body["contents"][2]["parts"][0]["functionResponse"]
    assert reply == {"id": model_turn["functionCall"]["id"], "name": "get_weather", "response": {"output": "sunny"}}


def test_tool_choice_reaches_gemini_as_function_calling_config(proxy, upstream):
    a = anthropic.Anthropic(base_url=proxy.url, api_key="x", max_retries=0)
    a.messages.create(model="gemini-2.5-flash", max_tokens=10, messages=[{"role": "user", "content": "w"}],
                      tools=[{"name": "get_weather", "input_schema": SCHEMA}],
                      tool_choice={"type": "tool", "name": "get_weather"})
    assert upstream.last().body["toolConfig"] == {"functionCallingConfig": {
        "mode": "ANY", "allowedFunctionNames": ["get_weather"]}}


def test_openai_chat_stream_on_gemini_keeps_the_signature_in_the_call_id(proxy, upstream):
    o = openai.OpenAI(base_url=proxy.url + "/v1", api_key="x", max_retries=0)
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": SCHEMA}}]
    stream = o.chat.completions.create(model="gemini-2.5-flash", stream=True, tools=tools,
                                       messages=[{"role": "user", "content": "w?"}])
    args, call_id = "", None
    for c in stream:
        for ch in c.choices:
            for tc in ch.delta.tool_calls or []:
                call_id = call_id or tc.id
                args += tc.function.arguments or ""
    assert json.loads(args) == TOOL_ARGS
    r = o.chat.completions.create(model="gemini-2.5-flash", tools=tools, messages=[
        {"role": "user", "content": "w?"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": call_id, "type": "function",
                                                               "function": {"name": "get_weather", "arguments": args}}]},
        {"role": "tool", "tool_call_id": call_id, "content": "sunny"}])
    assert r.choices[0].message.content == ANSWER  # the fake accepted the replayed call: signature intact


def test_gemini_usage_through_a_translation_is_the_same_usage(proxy, upstream):
    a = anthropic.Anthropic(base_url=proxy.url, api_key="x", max_retries=0)
    with a.messages.stream(model="gemini-2.5-flash", max_tokens=10, messages=[{"role": "user", "content": "hi"}]) as s:
        final = s.get_final_message()
    assert final.usage.input_tokens == USAGE["input"] and final.usage.cache_read_input_tokens == USAGE["cache_read"]
    assert final.usage.output_tokens == USAGE["output"]
    rec = records(proxy, 1)[0]
    assert (rec.protocol_in, rec.protocol_out, rec.reasoning_tokens) == ("anthropic", "gemini", GEMINI_THOUGHTS)


# -- bad input and errors -----------------------------------------------------------------------
@pytest.mark.parametrize("model, body, needle", [
    ("gemini-2.5-flash", {"contents": "hi"}, "contents: a list"),
    ("anthropic:claude-x", {"contents": [{"role": "user", "parts": [{"fileData": {
        "fileUri": "https://generativelanguage.googleapis.com/v1beta/files/abc"}}]}]}, "Google's file store"),
    ("anthropic:claude-x", {"contents": [{"role": "user", "parts": [{"inlineData": {
        "mimeType": "audio/wav", "data": "AAAA"}}]}]}, "audio/wav"),
    ("anthropic:claude-x", {"contents": [{"role": "model", "parts": [{"functionCall": {
        "name": "f", "args": "not an object"}}]}]}, "args must be an object"),
    ("anthropic:claude-x", {"contents": [{"role": "user", "parts": [{"functionResponse": {
        "name": "f", "response": {}}}]}]}, "answers no functionCall"),
    ("anthropic:claude-x", {"contents": [{"role": "user", "parts": [{"text": "x"}]}],
                            "generationConfig": {"candidateCount": 2}}, "candidateCount"),
    ("anthropic:claude-x", {"contents": [{"role": "user", "parts": [{"videoMetadata": {}}]}]}, "videoMetadata"),
])
def test_bad_gemini_bodies_get_a_4xx_in_the_gemini_shape(proxy, upstream, model, body, needle):
    r = requests.post(f"{proxy.url}/v1beta/models/{model}:generateContent", json=body)
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["code"] == 400 and err["status"] == "INVALID_ARGUMENT" and needle in err["message"], err
    assert records(proxy, 1)[0].status == 400


def test_upstream_error_reaches_a_gemini_client_in_its_shape(proxy, upstream):
    upstream.fail_next(status=500)
    with pytest.raises(genai_errors.ServerError) as e:
        gclient(proxy).models.generate_content(model="anthropic:claude-x", contents="hi")
    assert e.value.code == 500 and e.value.status == "INTERNAL" and "fake upstream error 500" in e.value.message


def test_the_gate_key_works_in_gemini_places(upstream):
    proxy, rec = start_proxy(upstream.url, api_key="gate-key-123456789")
    try:
        with pytest.raises(genai_errors.ClientError) as e:
            gclient(proxy, key="wrong").models.generate_content(model="gemini-2.5-flash", contents="hi")
        assert e.value.code == 401 and e.value.status == "UNAUTHENTICATED"
        assert gclient(proxy, key="gate-key-123456789").models.generate_content(
            model="gemini-2.5-flash", contents="hi").text == ANSWER
        r = requests.post(proxy.url + "/v1beta/models/gemini-2.5-flash:generateContent?key=gate-key-123456789",
                          json={"contents": [{"parts": [{"text": "hi"}]}]})
        assert r.status_code == 200 and "gate-key" not in upstream.last().path
        assert upstream.last().key == UPSTREAM_KEY_G
    finally:
        proxy.stop()


def test_models_list_includes_gemini_models(proxy, upstream):
    ids = [m["id"] for m in requests.get(proxy.url + "/v1/models").json()["data"]]
    assert "gemini:fake-model-1" in ids
