"""The official Node SDKs (@anthropic-ai/sdk, openai) as clients of the proxy, both directions."""

from __future__ import annotations

import os

import pytest

from tests.support.dario_proxy import UPSTREAM_KEY_A, UPSTREAM_KEY_O, start_proxy
from tests.support.fake_upstream import ANSWER, TOOL_ARGS, USAGE
from tests.support.node import needs_node, node_sdk

pytestmark = needs_node


@pytest.fixture(scope="module")
def proxy_url(_upstream_server):
    server, _ = start_proxy(_upstream_server.url)
    yield server.url
    server.stop()


CASES = [  # sdk, model: same protocol and translated, each way
    ("anthropic", "claude-test-1"), ("anthropic", "oai:gpt-4o-mini"),
    ("openai", "oai:gpt-4o-mini"), ("openai", "claude-test-1"),
]


def base(sdk, url):
    return url if sdk == "anthropic" else url + "/v1"


@pytest.mark.parametrize("sdk,model", CASES)
def test_plain(proxy_url, upstream, sdk, model):
    out = node_sdk({"sdk": sdk, "mode": "plain", "model": model, "baseURL": base(sdk, proxy_url), "apiKey": "client-key"}, env=dict(os.environ))
    assert out.get("text") == ANSWER, out
    assert out["stop"] == ("end_turn" if sdk == "anthropic" else "stop")
    seen = upstream.last()
    if model.startswith("oai:"):
        assert seen.headers["Authorization"] == f"Bearer {UPSTREAM_KEY_O}"
    else:
        assert seen.headers["x-api-key"] == UPSTREAM_KEY_A


@pytest.mark.parametrize("sdk,model", CASES)
def test_stream(proxy_url, upstream, sdk, model):
    out = node_sdk({"sdk": sdk, "mode": "stream", "model": model, "baseURL": base(sdk, proxy_url), "apiKey": "client-key"}, env=dict(os.environ))
    assert out.get("text") == ANSWER and out["deltas"] > 1, out
    if sdk == "openai":
        assert out["usage"]["completion_tokens"] == USAGE["output"]
    else:
        assert out["usage"]["output_tokens"] == USAGE["output"]


@pytest.mark.parametrize("sdk,model", CASES)
def test_tools_with_streamed_arguments(proxy_url, upstream, sdk, model):
    out = node_sdk({"sdk": sdk, "mode": "tools", "model": model, "baseURL": base(sdk, proxy_url), "apiKey": "client-key"}, env=dict(os.environ))
    assert out.get("tool") == {"name": "get_weather", "input": TOOL_ARGS}, out
    assert out["partial"] > 1
    assert out["stop"] == ("tool_use" if sdk == "anthropic" else "tool_calls")


# -- the Responses API (openai's responses.*) and Gemini (@google/genai), natively and translated -----
NEW_CASES = [("responses", "oair:gpt-5"), ("responses", "claude-test-1"), ("responses", "gemini-2.5-flash"),
             ("genai", "gemini-2.5-flash"), ("genai", "claude-test-1"), ("genai", "oai:gpt-4o-mini")]


def new_base(sdk, url):
    return url + "/v1" if sdk == "responses" else url


@pytest.mark.parametrize("sdk,model", NEW_CASES)
def test_new_protocols_plain(proxy_url, upstream, sdk, model):
    out = node_sdk({"sdk": sdk, "mode": "plain", "model": model, "baseURL": new_base(sdk, proxy_url),
                    "apiKey": "client-key"}, env=dict(os.environ))
    assert out.get("text") == ANSWER, out
    assert out["stop"] == ("completed" if sdk == "responses" else "STOP")
    assert "client-key" not in str(upstream.last().headers)


@pytest.mark.parametrize("sdk,model", NEW_CASES)
def test_new_protocols_stream_with_a_tool_turn(proxy_url, upstream, sdk, model):
    out = node_sdk({"sdk": sdk, "mode": "tools", "model": model, "baseURL": new_base(sdk, proxy_url),
                    "apiKey": "client-key"}, env=dict(os.environ))
    assert out.get("tool") == {"name": "get_weather", "input": TOOL_ARGS}, out
    assert out["after"] == ANSWER  # the tool-result turn went through too
    if sdk == "responses":
        assert out["partial"] >= 1  # arguments streamed, not just delivered at the end
