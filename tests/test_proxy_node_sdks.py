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
