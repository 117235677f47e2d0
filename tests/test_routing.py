"""Model name -> backend, in the documented order."""

from __future__ import annotations

import pytest

from dario.pipeline.backends import Backend
from dario.pipeline.routing import BUILTIN_ALIASES, Router, RoutingError
from dario.redact import redact


def b(name, kind="openai", url=None):
    return Backend(name, kind, url or f"https://{name}.example/v1", ["k"])


BACKENDS = {
    "anthropic": b("anthropic", "anthropic", "https://api.anthropic.com"),
    "openai": b("openai"),
    "groq": b("groq"),
    "ollama": Backend("ollama", "openai", "http://127.0.0.1:11434/v1"),
}


def route(model, backends=BACKENDS, default="groq", aliases=None):
    r = Router(backends, default, aliases).resolve(model)
    return r.backend.name, r.model


def test_explicit_prefix_wins_and_is_stripped():
    assert route("groq:llama-3.3-70b") == ("groq", "llama-3.3-70b")
    assert route("openai:claude-lookalike") == ("openai", "claude-lookalike")
    assert route("ollama:llama3:8b") == ("ollama", "llama3:8b")  # only the first colon is the prefix


def test_claude_and_local_prefixes():
    assert route("claude:claude-x") == ("anthropic", "claude-x")
    assert route("local:qwen") == ("ollama", "qwen")
    with pytest.raises(RoutingError, match="local"):
        route("local:qwen", {"openai": b("openai")})


def test_aliases_builtin_and_user():
    assert route("sonnet") == ("anthropic", BUILTIN_ALIASES["sonnet"])
    assert route("fast", aliases={"fast": "groq:llama-3.1-8b"}) == ("groq", "llama-3.1-8b")
    assert route("opus", aliases={"opus": "claude-opus-custom"}) == ("anthropic", "claude-opus-custom")
    assert route("groq:sonnet") == ("groq", BUILTIN_ALIASES["sonnet"])
    assert route("a", aliases={"a": "b", "b": "a"})[0] == "groq"  # a loop ends, then the default


def test_patterns():
    for m in ("gpt-4o-mini", "o1-preview", "o3-mini", "o4-mini", "chatgpt-4o-latest"):
        assert route(m) == ("openai", m)
    assert route("claude-sonnet-4-5") == ("anthropic", "claude-sonnet-4-5")
    assert route("llama-3.3") == ("groq", "llama-3.3")


def test_claude_goes_to_the_only_anthropic_kind_backend():
    bs = {"gw": b("gw", "anthropic"), "groq": b("groq")}
    assert route("claude-x", bs) == ("gw", "claude-x")
    bs["gw2"] = b("gw2", "anthropic")
    with pytest.raises(RoutingError, match="several"):
        route("claude-x", bs)


def test_unroutable_lists_the_configured_backends():
    with pytest.raises(RoutingError) as e:
        route("gpt-4o", {"groq": b("groq")}, default=None)
    assert "groq (openai)" in str(e.value) and "'openai'" in str(e.value)
    with pytest.raises(RoutingError, match="No backends are configured"):
        route("anything", {}, default=None)
    with pytest.raises(RoutingError, match="non-empty"):
        route("")


def test_single_backend_is_the_default():
    assert route("whatever", {"groq": b("groq")}, default=None) == ("groq", "whatever")


@pytest.mark.parametrize("secret", [
    "sk-ant-api03-AbCdEf0123456789xyz", "sk-proj-0123456789abcdefgh", "gsk_0123456789abcdefghij",
    "dario-run-AbCdEf0123456789", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
])
def test_redact_known_shapes(secret):
    text = f"failed with {secret} in it; Authorization: Bearer {secret}"
    out = redact(text)
    assert secret not in out and "[REDACTED]" in out and out.startswith("failed with")


def test_redact_literal_and_fields():
    assert "hunter2hunter2" not in redact('{"api_key": "hunter2hunter2"}')
    assert redact("custom-key-value ok", ["custom-key-value"]) == "[REDACTED] ok"
    assert redact("plain text stays") == "plain text stays"


def test_redact_leaves_ordinary_words_and_paths():
    text = "/home/me/dario-dev-checkout and task-runner-12345678 and skeleton-keys"
    assert redact(text) == text


def test_gemini_keys_in_the_query_never_leave_as_dario_tokens():
    """Gemini's ?key= is dropped on the way to a backend (which gets dario's key), and a run token
    in it is taken off a passthrough URL, while the child's own key stays on its own call."""
    from dario.core.call import Call, CallContext
    from dario.pipeline.routing import Router, route_call
    from dario.protocols import adapter

    gem = Backend("gemini", "gemini", "https://generativelanguage.googleapis.com", ["AIzaDario"])
    base = "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:streamGenerateContent"

    def routed(router, query, observe=False):
        ctx = CallContext(source="shim", target=f"{base}?{query}", run_tokens=("dario-run-abc",), observe=observe)
        call = Call(None, ctx, adapter("gemini"), "generate", base.split(".com", 1)[1], query)
        call.model_requested, call.stream = "gemini-2.5-flash", True
        route_call(router, call)
        return call.url

    assert routed(Router({"gemini": gem}), "alt=sse&key=dario-run-abc") == base + "?alt=sse"
    assert routed(Router({"gemini": gem}), "key=users-own&alt=sse") == base + "?alt=sse"  # dario's key instead
    assert routed(Router({}), "alt=sse&key=dario-run-abc") == base + "?alt=sse"  # passthrough: no token
    assert routed(Router({}), "alt=sse&key=users-own") == base + "?alt=sse&key=users-own"
    assert routed(Router({"gemini": gem}), "alt=sse&key=users-own", observe=True).endswith("key=users-own")


def test_gemini_names_route_to_the_gemini_backend_and_responses_to_a_backend_that_serves_it():
    gem = Backend("gemini", "gemini", "https://generativelanguage.googleapis.com", ["k"])
    other = Backend("vertexish", "gemini", "https://gw.example", ["k"])
    oai = Backend("openai", "openai", "https://api.openai.com/v1", ["k"])
    groq = Backend("groq", "openai", "https://api.groq.com/openai/v1", ["k"])
    r = Router({"gemini": gem, "vertexish": other, "openai": oai, "groq": groq})
    assert r.resolve("gemini-2.5-pro").backend is gem
    assert Router({"vertexish": other}).resolve("gemini-2.5-pro").backend is other  # the only one of its kind
    with pytest.raises(RoutingError, match="gemini-kind"):
        Router({"a": other, "b": Backend("b", "gemini", "https://b", ["k"])}).resolve("gemini-x")
    assert r.for_host("generativelanguage.googleapis.com") is gem
    assert oai.adapter_for("responses", "gpt-5").name == "responses"  # OpenAI serves /v1/responses
    assert oai.adapter_for("openai", "gpt-5").name == "openai"
    assert oai.adapter_for("anthropic", "gpt-5.1-codex").name == "responses"  # served only there
    assert groq.adapter_for("responses", "llama").name == "openai"  # translated to Chat Completions
    assert Backend("g2", "openai", "https://x/v1", responses=True).adapter_for("responses", "m").name == "responses"
    assert gem.adapter_for("responses", "gemini-x").name == "gemini"


def test_other_requests_go_to_a_backend_only_when_they_are_of_its_api():
    """/v1/models on api.anthropic.com goes to the anthropic backend (with dario's key); Claude Code's
    bootstrap and telemetry go to their own host with the child's credentials, whatever the backend."""
    from dario.core.call import Call, CallContext
    from dario.pipeline.routing import route_call

    gw = Backend("anthropic", "anthropic", "https://gw.example/anthropic", ["k"])
    r = Router({"anthropic": gw})

    def url(path):
        call = Call(None, CallContext(source="shim", target=f"https://api.anthropic.com{path}"), None, None, path, "")
        route_call(r, call)
        return call.url, call.route.passthrough

    assert url("/v1/models") == ("https://gw.example/anthropic/v1/models", False)
    assert url("/api/claude_cli/bootstrap") == ("https://api.anthropic.com/api/claude_cli/bootstrap", True)
    assert url("/api/event_logging/batch")[1] is True


def test_a_routing_decision_is_made_once_a_model_and_each_calls_own_query_still_applies():
    from dario.core.call import Call, CallContext
    from dario.pipeline.routing import route_call
    from dario.protocols import adapter

    gem = Backend("gemini", "gemini", "https://generativelanguage.googleapis.com", ["AIzaDario"])
    router = Router({"gemini": gem, **BACKENDS})

    def routed(path, query="", stream=False, forced=None, model="gemini-2.5-flash", proto="gemini"):
        call = Call(None, CallContext(forced_model=forced), adapter(proto), "generate", path, query)
        call.model_requested, call.stream = model, stream
        route_call(router, call)
        return call

    gen = "/v1beta/models/gemini-2.5-flash:generateContent"
    first, again = routed(gen, "alt=json"), routed(gen, "x=1")
    assert first.route is again.route and len(router.decided) == 1  # the second call was not routed anew
    assert first.url.endswith(":generateContent?alt=json") and again.url.endswith(":generateContent?x=1")
    assert routed(gen).url.endswith(":generateContent")  # no query: none carried over from an earlier call
    streamed = routed("/v1beta/models/gemini-2.5-flash:streamGenerateContent", stream=True)
    assert streamed.url.endswith(":streamGenerateContent?alt=sse") and len(router.decided) == 2
    chat = routed("/v1/chat/completions", model="gpt-4o", proto="openai")
    forced = routed("/v1/chat/completions", model="gpt-4o", proto="openai", forced="groq:llama-3")
    assert chat.route.backend.name == "openai" and forced.route.backend.name == "groq" and forced.model == "llama-3"


def test_a_shim_calls_routing_is_decided_once_per_target_observe_and_model():
    """Under the shim the decision rests on the URL the client meant too: each (target, --observe,
    --model) is decided once, and a passthrough still drops a run token standing in for its key."""
    from urllib.parse import urlsplit

    from dario.core.call import Call, CallContext
    from dario.pipeline.routing import route_call
    from dario.protocols import adapter

    router = Router(dict(BACKENDS), default="groq")

    def routed(target, model="claude-sonnet-4-5", observe=False, forced=None):
        u = urlsplit(target)
        ctx = CallContext(source="shim", target=target, observe=observe, forced_model=forced,
                          run_tokens=("dario-run-t0k",))
        call = Call(None, ctx, adapter("anthropic"), "generate", u.path, u.query)
        call.model_requested = model
        route_call(router, call)
        return call

    own = "https://api.anthropic.com/v1/messages?beta=true"
    first, again = routed(own), routed(own)
    assert first.route is again.route and not first.route.passthrough and len(router.decided) == 1
    assert first.url == "https://api.anthropic.com/v1/messages?beta=true"
    elsewhere = routed("https://llm.example.com/v1/messages?key=dario-run-t0k&x=1")  # no backend for that host
    assert elsewhere.route.passthrough and elsewhere.url == "https://llm.example.com/v1/messages?x=1"
    watched = routed(own, observe=True)
    assert watched.route.passthrough and watched.url == own
    forced = routed("https://llm.example.com/v1/messages", forced="groq:llama-3")
    assert forced.route.backend.name == "groq" and forced.model == "llama-3"
    assert len(router.decided) == 4
    assert routed(own).route is first.route  # the first decision still stands beside the others
