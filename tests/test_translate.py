"""Anthropic <-> OpenAI translation of request, response and error bodies."""

from __future__ import annotations

import json

import anthropic.types as at
import openai.types.chat as oc
import pytest
from anthropic.types import message_create_params as mcp
from openai.types.chat import completion_create_params as ccp

from dario.pipeline.translate import (
    TranslationError,
    anthropic_to_openai_request,
    anthropic_to_openai_response,
    openai_to_anthropic_request,
    openai_to_anthropic_response,
    translate_error,
)


def _keys(td) -> set[str]:
    return set(td.__required_keys__) | set(td.__optional_keys__)


# Field names the SDKs define; anything we emit outside them is a typo or an invention.
A_TOP = _keys(mcp.MessageCreateParamsStreaming) | {"temperature", "top_p"}  # sampling: pre-4.7 models
O_TOP = _keys(ccp.CompletionCreateParamsStreaming)
O_MSG = {"system": oc.ChatCompletionSystemMessageParam, "user": oc.ChatCompletionUserMessageParam,
         "assistant": oc.ChatCompletionAssistantMessageParam, "tool": oc.ChatCompletionToolMessageParam}
A_BLOCK = {"text": at.TextBlockParam, "image": at.ImageBlockParam, "tool_use": at.ToolUseBlockParam,
           "tool_result": at.ToolResultBlockParam, "document": at.DocumentBlockParam}


def check_openai_request(out: dict) -> None:
    assert set(out) <= O_TOP, set(out) - O_TOP
    for m in out["messages"]:
        extra = {"reasoning_content"} if m["role"] == "assistant" else set()  # de-facto field (DeepSeek, vLLM)
        assert set(m) <= _keys(O_MSG[m["role"]]) | extra, m


def check_anthropic_request(out: dict) -> None:
    assert set(out) <= A_TOP, set(out) - A_TOP
    assert isinstance(out["max_tokens"], int)
    for m in out["messages"]:
        assert set(m) == {"role", "content"} and m["role"] in ("user", "assistant")
        for b in m["content"] if isinstance(m["content"], list) else []:
            assert set(b) <= _keys(A_BLOCK[b["type"]]), b
            if b["type"] == "text":
                assert b["text"], "Anthropic rejects empty text blocks"
    for i, m in enumerate(out["messages"][1:], 1):
        assert m["role"] != out["messages"][i - 1]["role"], "turns must alternate"


# ------------------------------------------------------------------ requests: Anthropic -> OpenAI

def test_a2o_basic_fields_and_system_blocks():
    body = {
        "model": "claude-x", "max_tokens": 300, "temperature": 0.3, "top_p": 0.9, "top_k": 5,
        "stop_sequences": ["END"], "stream": True, "metadata": {"user_id": "u-1"},
        "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}},
                   {"type": "text", "text": "Be kind."}],
        "messages": [{"role": "user", "content": "hi"},
                     {"role": "assistant", "content": "hello"},
                     {"role": "user", "content": [{"type": "text", "text": "again"}]}],
        "some_future_field": {"x": 1},
    }
    out = anthropic_to_openai_request(body, "gpt-4o")
    check_openai_request(out)
    assert out["model"] == "gpt-4o"
    assert out["messages"] == [
        {"role": "system", "content": "Be brief.\n\nBe kind."},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "again"},
    ]
    assert out["max_completion_tokens"] == 300 and "max_tokens" not in out
    assert (out["temperature"], out["top_p"], out["stop"]) == (0.3, 0.9, ["END"])
    assert out["stream"] is True and out["stream_options"] == {"include_usage": True}
    assert out["user"] == "u-1"
    assert "top_k" not in out and "some_future_field" not in out


def test_a2o_images_base64_and_url():
    body = {"max_tokens": 10, "messages": [{"role": "user", "content": [
        {"type": "text", "text": "what is this"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0K"}},
        {"type": "image", "source": {"type": "url", "url": "https://x.test/cat.jpg"}},
    ]}]}
    out = anthropic_to_openai_request(body, "m")
    check_openai_request(out)
    parts = out["messages"][0]["content"]
    assert parts[0] == {"type": "text", "text": "what is this"}
    assert parts[1] == {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0K"}}
    assert parts[2] == {"type": "image_url", "image_url": {"url": "https://x.test/cat.jpg"}}


def test_a2o_pdf_document_becomes_file_part():
    body = {"max_tokens": 10, "messages": [{"role": "user", "content": [
        {"type": "document", "title": "r.pdf",
         "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBER"}}]}]}
    part = anthropic_to_openai_request(body, "m")["messages"][0]["content"][0]
    assert part == {"type": "file", "file": {"filename": "r.pdf", "file_data": "data:application/pdf;base64,JVBER"}}


TOOLS_A = [{"name": "get_weather", "description": "Weather.",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}},
           {"type": "web_search_20250305", "name": "web_search"}]


@pytest.mark.parametrize("choice,expected", [
    ({"type": "auto"}, "auto"),
    ({"type": "any"}, "required"),
    ({"type": "none"}, "none"),
    ({"type": "tool", "name": "get_weather"}, {"type": "function", "function": {"name": "get_weather"}}),
])
def test_a2o_tools_and_tool_choice(choice, expected):
    out = anthropic_to_openai_request(
        {"max_tokens": 5, "tools": TOOLS_A, "tool_choice": choice, "messages": [{"role": "user", "content": "x"}]},
        "m")
    check_openai_request(out)
    assert out["tools"] == [{"type": "function", "function": {
        "name": "get_weather", "description": "Weather.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]  # server tool dropped
    assert out["tool_choice"] == expected
    assert "parallel_tool_calls" not in out


def test_a2o_disable_parallel_and_choice_without_tools():
    msgs = [{"role": "user", "content": "x"}]
    out = anthropic_to_openai_request({"max_tokens": 5, "tools": TOOLS_A, "messages": msgs,
                                       "tool_choice": {"type": "auto", "disable_parallel_tool_use": True}}, "m")
    assert out["parallel_tool_calls"] is False
    bare = anthropic_to_openai_request({"max_tokens": 5, "messages": msgs, "tool_choice": {"type": "any"}}, "m")
    assert "tool_choice" not in bare and "tools" not in bare and "parallel_tool_calls" not in bare


def test_a2o_tool_use_history_thinking_and_results():
    body = {"max_tokens": 50, "messages": [
        {"role": "user", "content": "weather in Paris and Rome?"},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "Need two calls.", "signature": "sig"},
            {"type": "redacted_thinking", "data": "opaque"},
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": {"city": "Rome"}},
        ]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"},
            {"type": "tool_result", "tool_use_id": "toolu_2", "is_error": True,
             "content": [{"type": "text", "text": "timeout"}]},
            {"type": "text", "text": "and tomorrow?"},
        ]},
    ]}
    out = anthropic_to_openai_request(body, "m")
    check_openai_request(out)
    _, asst, t1, t2, user = out["messages"]
    assert asst["content"] == "Checking." and asst["reasoning_content"] == "Need two calls."
    assert [(c["id"], c["function"]["name"], json.loads(c["function"]["arguments"])) for c in asst["tool_calls"]] \
        == [("toolu_1", "get_weather", {"city": "Paris"}), ("toolu_2", "get_weather", {"city": "Rome"})]
    assert all(isinstance(c["function"]["arguments"], str) for c in asst["tool_calls"])
    assert t1 == {"role": "tool", "tool_call_id": "toolu_1", "content": "18C"}
    assert t2["tool_call_id"] == "toolu_2" and "timeout" in t2["content"] and t2["content"] != "timeout"
    assert user == {"role": "user", "content": "and tomorrow?"}


def test_a2o_tool_result_image_moves_to_user_message():
    body = {"max_tokens": 5, "messages": [{"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "t", "content": [
            {"type": "text", "text": "shot:"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AA"}}]}]}]}
    tool, user = anthropic_to_openai_request(body, "m")["messages"]
    assert tool == {"role": "tool", "tool_call_id": "t", "content": "shot:"}
    assert user["role"] == "user"
    assert {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}} in user["content"]


def test_a2o_assistant_only_tool_calls_has_null_content():
    body = {"max_tokens": 5, "messages": [{"role": "assistant", "content": [
        {"type": "tool_use", "id": "a", "name": "f", "input": {}}]}]}
    msg = anthropic_to_openai_request(body, "m")["messages"][0]
    assert msg["content"] is None and msg["tool_calls"][0]["function"]["arguments"] == "{}"


@pytest.mark.parametrize("extra,effort", [
    ({"thinking": {"type": "enabled", "budget_tokens": 2000}}, "low"),
    ({"thinking": {"type": "enabled", "budget_tokens": 8000}}, "medium"),
    ({"thinking": {"type": "enabled", "budget_tokens": 30000}}, "high"),
    ({"thinking": {"type": "adaptive"}, "output_config": {"effort": "medium"}}, "medium"),
    ({"thinking": {"type": "adaptive"}, "output_config": {"effort": "max"}}, "high"),
    ({"thinking": {"type": "adaptive"}}, None),
    ({"thinking": {"type": "disabled"}, "output_config": {"effort": "high"}}, None),
])
def test_a2o_thinking_to_reasoning_effort(extra, effort):
    out = anthropic_to_openai_request({"max_tokens": 5, "messages": [{"role": "user", "content": "x"}], **extra}, "m")
    assert out.get("reasoning_effort") == effort
    assert "thinking" not in out and "output_config" not in out


def test_a2o_structured_output():
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    out = anthropic_to_openai_request({"max_tokens": 5, "messages": [{"role": "user", "content": "x"}],
                                       "output_config": {"format": {"type": "json_schema", "schema": schema}}}, "m")
    assert out["response_format"]["type"] == "json_schema"
    assert out["response_format"]["json_schema"]["schema"] == schema


@pytest.mark.parametrize("body,needle", [
    ("not a dict", "object"),
    ([], "object"),
    ({"messages": "hi"}, "messages"),
    ({}, "messages"),
    ({"messages": [{"role": "tool", "content": "x"}]}, "role"),
    ({"messages": [{"role": "user", "content": 5}]}, "content"),
    ({"messages": [{"role": "user", "content": [{"type": "hologram"}]}]}, "hologram"),
    ({"messages": [{"role": "user", "content": ["bare string"]}]}, "type"),
    ({"messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "file", "file_id": "f"}}]}]},
     "file"),
    ({"messages": [{"role": "assistant", "content": [{"type": "hologram"}]}]}, "hologram"),
])
def test_a2o_invalid_input_raises(body, needle):
    with pytest.raises(TranslationError) as e:
        anthropic_to_openai_request(body, "m")
    assert needle in e.value.message


# ------------------------------------------------------------------ requests: OpenAI -> Anthropic

def test_o2a_basic_fields_and_defaults():
    body = {"model": "gpt", "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "developer", "content": [{"type": "text", "text": "Use metric."}]},
        {"role": "user", "content": "hi", "name": "bob"},
    ], "temperature": 1.7, "top_p": 0.5, "stop": "END", "user": "u-9", "stream": True,
        "stream_options": {"include_usage": True}, "frequency_penalty": 1, "seed": 3, "logprobs": True}
    out = openai_to_anthropic_request(body, "claude-sonnet-4-5")
    check_anthropic_request(out)
    assert out["model"] == "claude-sonnet-4-5"
    assert out["max_tokens"] == 4096
    assert out["system"] == [{"type": "text", "text": "Be brief."}, {"type": "text", "text": "Use metric."}]
    assert out["messages"] == [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]
    assert out["temperature"] == 1  # clamped to Anthropic's range
    assert out["top_p"] == 0.5 and out["stop_sequences"] == ["END"]
    assert out["metadata"] == {"user_id": "u-9"} and out["stream"] is True


def test_o2a_single_system_is_string_and_max_tokens_fields():
    msgs = [{"role": "system", "content": "S"}, {"role": "user", "content": "u"}]
    assert openai_to_anthropic_request({"messages": msgs, "max_tokens": 77}, "m")["max_tokens"] == 77
    out = openai_to_anthropic_request({"messages": msgs, "max_tokens": 77, "max_completion_tokens": 55}, "m")
    assert out["max_tokens"] == 55 and out["system"] == "S"


def test_o2a_sampling_dropped_for_models_that_reject_it():
    body = {"messages": [{"role": "user", "content": "u"}], "temperature": 0.2, "top_p": 0.9}
    out = openai_to_anthropic_request(body, "claude-opus-4-7")
    assert "temperature" not in out and "top_p" not in out
    assert openai_to_anthropic_request(body, "claude-sonnet-4-5")["temperature"] == 0.2


def test_o2a_images():
    body = {"messages": [{"role": "user", "content": [
        {"type": "text", "text": "see"},
        {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQ", "detail": "high"}},
        {"type": "image_url", "image_url": {"url": "https://x.test/a.png"}},
    ]}]}
    out = openai_to_anthropic_request(body, "m")
    check_anthropic_request(out)
    assert out["messages"][0]["content"] == [
        {"type": "text", "text": "see"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/4AAQ"}},
        {"type": "image", "source": {"type": "url", "url": "https://x.test/a.png"}},
    ]


def test_o2a_tool_conversation():
    body = {"messages": [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": None, "reasoning_content": "hmm", "tool_calls": [
            {"id": "call_A", "type": "function", "function": {"name": "w", "arguments": '{"city": "Oslo"}'}},
            {"id": "call_B", "type": "function", "function": {"name": "w", "arguments": "{not json"}},
        ]},
        {"role": "tool", "tool_call_id": "call_A", "content": "cold"},
        {"role": "tool", "tool_call_id": "call_B", "content": [{"type": "text", "text": "[tool error] boom"}]},
        {"role": "user", "content": "thanks"},
    ], "tools": [{"type": "function", "function": {"name": "w", "description": "d",
                                                   "parameters": {"type": "object"}}},
                 {"type": "custom", "custom": {"name": "free"}}],
        "tool_choice": "required", "parallel_tool_calls": False}
    out = openai_to_anthropic_request(body, "m")
    check_anthropic_request(out)
    user, asst, results = out["messages"]
    assert asst["content"] == [  # reasoning_content dropped: Anthropic wants its own signature
        {"type": "tool_use", "id": "call_A", "name": "w", "input": {"city": "Oslo"}},
        {"type": "tool_use", "id": "call_B", "name": "w", "input": {"_raw_arguments": "{not json"}},
    ]
    assert results["role"] == "user" and results["content"] == [
        {"type": "tool_result", "tool_use_id": "call_A", "content": "cold"},
        {"type": "tool_result", "tool_use_id": "call_B", "content": "boom", "is_error": True},
        {"type": "text", "text": "thanks"},
    ]
    assert out["tools"] == [{"name": "w", "description": "d", "input_schema": {"type": "object"}}]
    assert out["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}


@pytest.mark.parametrize("choice,expected", [
    ("auto", {"type": "auto"}),
    ("none", {"type": "none"}),
    ({"type": "function", "function": {"name": "w"}}, {"type": "tool", "name": "w"}),
])
def test_o2a_tool_choice(choice, expected):
    body = {"messages": [{"role": "user", "content": "x"}], "tool_choice": choice,
            "tools": [{"type": "function", "function": {"name": "w"}}]}
    out = openai_to_anthropic_request(body, "m")
    assert out["tool_choice"] == expected
    assert out["tools"][0]["input_schema"] == {"type": "object", "properties": {}}
    del body["tools"]
    assert "tool_choice" not in openai_to_anthropic_request(body, "m")


def test_o2a_allowed_tools_filters():
    tools = [{"type": "function", "function": {"name": n}} for n in ("a", "b", "c")]
    body = {"messages": [{"role": "user", "content": "x"}], "tools": tools,
            "tool_choice": {"type": "allowed_tools", "allowed_tools": {
                "mode": "required", "tools": [{"type": "function", "function": {"name": "b"}}]}}}
    out = openai_to_anthropic_request(body, "m")
    assert [t["name"] for t in out["tools"]] == ["b"] and out["tool_choice"] == {"type": "any"}


def test_o2a_reasoning_effort_adaptive_models():
    body = {"messages": [{"role": "user", "content": "x"}], "reasoning_effort": "high", "temperature": 0.5}
    out = openai_to_anthropic_request(body, "claude-opus-4-6")
    assert out["thinking"] == {"type": "adaptive"} and out["output_config"] == {"effort": "high"}
    assert "temperature" not in out and out["max_tokens"] > 4096  # headroom: thinking counts toward it
    check_anthropic_request(out)
    assert openai_to_anthropic_request({**body, "reasoning_effort": "xhigh"}, "claude-opus-4-6")["output_config"] \
        == {"effort": "high"}
    assert openai_to_anthropic_request({**body, "reasoning_effort": "xhigh"}, "claude-opus-4-7")["output_config"] \
        == {"effort": "xhigh"}
    given = openai_to_anthropic_request({**body, "max_tokens": 900}, "claude-opus-4-7")
    assert given["max_tokens"] == 900 and given["thinking"] == {"type": "adaptive"}


def test_o2a_reasoning_effort_budget_models():
    body = {"messages": [{"role": "user", "content": "x"}], "reasoning_effort": "medium"}
    out = openai_to_anthropic_request(body, "claude-sonnet-4-5-20250929")
    assert out["thinking"] == {"type": "enabled", "budget_tokens": 8192}
    assert out["max_tokens"] > out["thinking"]["budget_tokens"]
    tight = openai_to_anthropic_request({**body, "max_completion_tokens": 3000}, "claude-sonnet-4-5")
    assert tight["max_tokens"] == 3000 and tight["thinking"]["budget_tokens"] == 2999
    tiny = openai_to_anthropic_request({**body, "max_completion_tokens": 500}, "claude-sonnet-4-5")
    assert "thinking" not in tiny and tiny["max_tokens"] == 500


def test_o2a_reasoning_effort_none_and_forced_tools():
    msgs = [{"role": "user", "content": "x"}]
    assert openai_to_anthropic_request({"messages": msgs, "reasoning_effort": "none"}, "m")["thinking"] \
        == {"type": "disabled"}
    forced = openai_to_anthropic_request({"messages": msgs, "reasoning_effort": "high", "tool_choice": "required",
                                          "tools": [{"type": "function", "function": {"name": "w"}}]},
                                         "claude-opus-4-7")
    assert "thinking" not in forced and forced["tool_choice"] == {"type": "any"}


def test_o2a_structured_output_and_pdf():
    schema = {"type": "object"}
    body = {"messages": [{"role": "user", "content": [
        {"type": "file", "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,JVB"}}]}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}}
    out = openai_to_anthropic_request(body, "m")
    check_anthropic_request(out)
    assert out["output_config"] == {"format": {"type": "json_schema", "schema": schema}}
    assert out["messages"][0]["content"][0] == {
        "type": "document", "title": "a.pdf",
        "source": {"type": "base64", "media_type": "application/pdf", "data": "JVB"}}


def test_o2a_empty_messages_are_dropped_not_sent_empty():
    body = {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": ""},
                         {"role": "user", "content": "b"}]}
    out = openai_to_anthropic_request(body, "m")
    check_anthropic_request(out)
    assert out["messages"] == [{"role": "user", "content": [{"type": "text", "text": "a"},
                                                            {"type": "text", "text": "b"}]}]


@pytest.mark.parametrize("body,needle", [
    (None, "object"),
    ({"messages": {"role": "user"}}, "messages"),
    ({"messages": ["hi"]}, "object"),
    ({"messages": [{"role": "function", "name": "f", "content": "x"}]}, "function"),
    ({"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]}, "input_audio"),
    ({"messages": [{"role": "user", "content": [{"type": "file", "file": {"file_id": "file-1"}}]}]}, "PDF"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url",
                                                 "image_url": {"url": "data:image/tiff;base64,AA"}}]}]}, "tiff"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "ftp://x"}}]}]},
     "data:"),
    ({"messages": [{"role": "assistant", "tool_calls": [{"id": "c", "type": "custom",
                                                         "custom": {"name": "f", "input": "x"}}]}]}, "function"),
    ({"messages": [{"role": "user", "content": "x"}], "n": 3}, "n > 1"),
])
def test_o2a_invalid_input_raises(body, needle):
    with pytest.raises(TranslationError) as e:
        openai_to_anthropic_request(body, "m")
    assert needle in e.value.message


# ------------------------------------------------------------------ responses

OPENAI_RESPONSE = {
    "id": "chatcmpl-123", "object": "chat.completion", "created": 1, "model": "gpt-4o",
    "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
        "role": "assistant", "content": "Let me check.", "reasoning_content": "thinking...",
        "tool_calls": [{"id": "call_abc", "type": "function",
                        "function": {"name": "w", "arguments": '{"city":"Oslo"}'}}]}}],
    "usage": {"prompt_tokens": 1000, "completion_tokens": 50, "total_tokens": 1050,
              "prompt_tokens_details": {"cached_tokens": 800}},
}


def test_o2a_response():
    out = openai_to_anthropic_response(OPENAI_RESPONSE, "claude-alias")
    msg = at.Message.model_validate(out)
    assert msg.model == "claude-alias" and msg.id.startswith("msg_")
    assert [b.type for b in msg.content] == ["thinking", "text", "tool_use"]
    assert msg.content[0].thinking == "thinking..." and msg.content[1].text == "Let me check."
    assert (msg.content[2].id, msg.content[2].name, msg.content[2].input) == ("call_abc", "w", {"city": "Oslo"})
    assert msg.stop_reason == "tool_use"
    assert (msg.usage.input_tokens, msg.usage.cache_read_input_tokens, msg.usage.output_tokens) == (200, 800, 50)


@pytest.mark.parametrize("finish,tools,expected", [
    ("stop", False, "end_turn"), ("length", False, "max_tokens"), ("tool_calls", True, "tool_use"),
    ("content_filter", False, "refusal"), ("stop", True, "tool_use"), (None, False, "end_turn"),
    ("function_call", True, "tool_use"),
])
def test_o2a_finish_reasons(finish, tools, expected):
    msg = {"role": "assistant", "content": "x"}
    if tools:
        msg["tool_calls"] = [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]
    out = openai_to_anthropic_response({"id": "i", "choices": [{"index": 0, "finish_reason": finish,
                                                                "message": msg}]}, "m")
    assert out["stop_reason"] == expected
    at.Message.model_validate(out)


def test_o2a_refusal_and_missing_usage():
    body = {"id": "x", "choices": [{"index": 0, "finish_reason": "stop",
                                    "message": {"role": "assistant", "content": None, "refusal": "I can't."}}]}
    out = openai_to_anthropic_response(body, "m")
    assert out["stop_reason"] == "refusal" and out["content"] == [{"type": "text", "text": "I can't."}]
    assert out["usage"]["input_tokens"] == 0
    at.Message.model_validate(out)


def test_o2a_usage_with_cache_writes_and_deepseek_hits():
    u = openai_to_anthropic_response({"usage": {"prompt_tokens": 100, "completion_tokens": 1, "prompt_tokens_details":
                                                {"cached_tokens": 30, "cache_write_tokens": 50}}}, "m")["usage"]
    assert (u["input_tokens"], u["cache_read_input_tokens"], u["cache_creation_input_tokens"]) == (20, 30, 50)
    d = openai_to_anthropic_response({"usage": {"prompt_tokens": 100, "completion_tokens": 1,
                                                "prompt_cache_hit_tokens": 64}}, "m")["usage"]
    assert (d["input_tokens"], d["cache_read_input_tokens"]) == (36, 64)


ANTHROPIC_RESPONSE = {
    "id": "msg_01", "type": "message", "role": "assistant", "model": "claude-x",
    "content": [{"type": "thinking", "thinking": "plan", "signature": "s"},
                {"type": "redacted_thinking", "data": "zz"},
                {"type": "text", "text": "Sure, "}, {"type": "text", "text": "checking."},
                {"type": "tool_use", "id": "toolu_9", "name": "w", "input": {"city": "Oslo", "n": [1, 2]}}],
    "stop_reason": "tool_use", "stop_sequence": None,
    "usage": {"input_tokens": 20, "output_tokens": 7, "cache_read_input_tokens": 300,
              "cache_creation_input_tokens": 100},
}


def test_a2o_response():
    out = anthropic_to_openai_response(ANTHROPIC_RESPONSE, "gpt-alias")
    cc = oc.ChatCompletion.model_validate(out)
    assert cc.model == "gpt-alias" and cc.object == "chat.completion"
    ch = cc.choices[0]
    assert ch.finish_reason == "tool_calls" and ch.message.content == "Sure, checking."
    assert out["choices"][0]["message"]["reasoning_content"] == "plan"
    call = ch.message.tool_calls[0]
    assert (call.id, call.function.name, json.loads(call.function.arguments)) == \
        ("toolu_9", "w", {"city": "Oslo", "n": [1, 2]})
    u = cc.usage
    assert (u.prompt_tokens, u.completion_tokens, u.total_tokens) == (420, 7, 427)
    assert u.prompt_tokens_details.cached_tokens == 300 and u.prompt_tokens_details.cache_write_tokens == 100


@pytest.mark.parametrize("stop,finish", [
    ("end_turn", "stop"), ("stop_sequence", "stop"), ("max_tokens", "length"), ("tool_use", "tool_calls"),
    ("refusal", "content_filter"), ("pause_turn", "stop"), ("model_context_window_exceeded", "length"),
    (None, "stop"), ("brand_new_reason", "stop"),
])
def test_a2o_stop_reasons(stop, finish):
    out = anthropic_to_openai_response({"id": "m", "content": [{"type": "text", "text": "x"}],
                                        "stop_reason": stop, "usage": {"input_tokens": 1, "output_tokens": 1}}, "g")
    assert out["choices"][0]["finish_reason"] == finish
    oc.ChatCompletion.model_validate(out)


def test_responses_tolerate_garbage():
    # A response is already paid for: odd shapes degrade, they do not raise.
    at.Message.model_validate(openai_to_anthropic_response({"choices": "nope", "usage": "x"}, "m"))
    odd = {"content": [None, {"type": "web_search_tool_result"}]}
    oc.ChatCompletion.model_validate(anthropic_to_openai_response(odd, "m"))


# ------------------------------------------------------------------ errors

def test_error_openai_to_anthropic():
    body = json.dumps({"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}})
    out = json.loads(translate_error(body.encode(), 429, "openai", "anthropic"))
    assert out == {"type": "error", "error": {"type": "rate_limit_error", "message": "Rate limit reached"}}


def test_error_anthropic_to_openai():
    body = b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'
    out = json.loads(translate_error(body, 529, "anthropic", "openai"))
    assert out["error"]["message"] == "Overloaded" and out["error"]["type"] == "server_error"
    assert set(out["error"]) == {"message", "type", "param", "code"}


@pytest.mark.parametrize("body,message", [
    (b"<html>Bad Gateway</html>", "<html>Bad Gateway</html>"),
    (b"", "upstream returned HTTP 502"),
    (b'{"error": "plain string"}', "plain string"),
    (b'{"detail": "Not authenticated"}', "Not authenticated"),
    (b'[1, 2]', "[1, 2]"),
    (b'\xff\xfe broken', "\ufffd\ufffd broken"),
])
def test_error_loose_bodies(body, message):
    out = json.loads(translate_error(body, 502, "openai", "anthropic"))
    assert out["error"]["message"] == message and out["type"] == "error"


def test_error_message_is_redacted():
    body = b'{"error":{"message":"bad key sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789"}}'
    out = translate_error(body, 401, "anthropic", "openai")
    assert b"abcdefghijklmnopqrstuvwxyz0123456789" not in out


def test_mid_conversation_system_message_keeps_its_place():
    # Claude Code >= 2.1.2xx sends {"role": "system"} inside messages
    out = anthropic_to_openai_request({"model": "m", "max_tokens": 5, "system": "top", "messages": [
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
        {"role": "system", "content": "reminder"},
        {"role": "user", "content": "c"}]}, "gpt-x")
    assert [(m["role"], m["content"] if isinstance(m["content"], str) else None) for m in out["messages"]][::2] == [
        ("system", "top"), ("system", "reminder")]
    assert out["messages"][2] == {"role": "system", "content": "reminder"}
    with pytest.raises(TranslationError, match="role"):
        anthropic_to_openai_request({"model": "m", "max_tokens": 5, "messages": [{"role": "tool", "content": "x"}]}, "g")
