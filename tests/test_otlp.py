"""OTLP export to a real local OTLP/HTTP receiver that decodes the protobuf."""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("opentelemetry.sdk", reason="the otlp extra (opentelemetry-sdk) is not installed")
from aiohttp import web  # noqa: E402
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (  # noqa: E402
    ExportTraceServiceRequest, ExportTraceServiceResponse)

from dario.otlp import ENV_VAR, OTLPExporter, OTLPHook, hooks_for, resolve_endpoint, traces_url  # noqa: E402
from dario.pipeline.record import CallRecord  # noqa: E402
from dario.store import pricing  # noqa: E402


def _value(v):
    kind = v.WhichOneof("value")
    return getattr(v, kind) if kind else None


@pytest.fixture
async def receiver():
    spans: list[tuple[dict, object, dict]] = []  # (attributes, span, resource attributes)
    got = asyncio.Event()

    async def traces(request: web.Request) -> web.Response:
        assert request.headers["Content-Type"] == "application/x-protobuf"
        req = ExportTraceServiceRequest()
        req.ParseFromString(await request.read())
        for rs in req.resource_spans:
            res = {a.key: _value(a.value) for a in rs.resource.attributes}
            for ss in rs.scope_spans:
                for s in ss.spans:
                    spans.append(({a.key: _value(a.value) for a in s.attributes}, s, res))
        got.set()
        return web.Response(body=ExportTraceServiceResponse().SerializeToString(),
                            content_type="application/x-protobuf")

    app = web.Application()
    app.router.add_post("/v1/traces", traces)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}", spans, got
    await runner.cleanup()


async def test_spans_follow_genai_conventions(receiver, tmp_path):
    endpoint, spans, got = receiver
    exporter = OTLPExporter(endpoint, schedule_delay_ms=50)
    hook = OTLPHook(exporter)
    ok = CallRecord(ts=1_700_000_000.0, run_id="run-otlp", backend="anthropic", model_requested="claude-sonnet-4-5",
                    model="claude-sonnet-4-5-20250929", protocol_in="anthropic", protocol_out="anthropic",
                    stream=True, status=200, input_tokens=100, output_tokens=50, cache_read_tokens=400,
                    cache_write_tokens=30, latency_ms=1500, ttft_ms=200, conversation="abcd1234abcd1234")
    bad = CallRecord(ts=1_700_000_010.0, run_id="run-otlp", backend="passthrough:api.openai.com",
                     model_requested="gpt-4o-mini", model="gpt-4o-mini", protocol_in="openai", protocol_out="openai",
                     status=429, error="upstream 429: rate limited", latency_ms=80)
    models = CallRecord(run_id="run-otlp", backend="openai", method="GET", path="/v1/models", status=200)
    ok.cost_usd = pricing.cost(ok.model, 100, 50, 400, 30)  # records reach hooks priced (the pipeline's finish)
    for r in (ok, bad, models):
        hook.call_finish(None, r)
    assert await asyncio.to_thread(hook.flush, 5)
    await asyncio.wait_for(got.wait(), 10)
    await asyncio.to_thread(hook.close)

    by_model = {a["gen_ai.request.model"]: (a, s, res) for a, s, res in spans}
    assert set(by_model) == {"claude-sonnet-4-5", "gpt-4o-mini"}  # /v1/models is not a chat span
    a, s, res = by_model["claude-sonnet-4-5"]
    assert s.name == "chat claude-sonnet-4-5" and s.kind == s.SPAN_KIND_CLIENT
    assert res["service.name"] == "dario"
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.provider.name"] == "anthropic" and a["gen_ai.system"] == "anthropic"
    assert a["gen_ai.response.model"] == "claude-sonnet-4-5-20250929"
    assert a["gen_ai.usage.input_tokens"] == 100 and a["gen_ai.usage.output_tokens"] == 50
    assert a["gen_ai.usage.cache_read.input_tokens"] == 400
    assert a["gen_ai.usage.cache_creation.input_tokens"] == 30
    assert a["gen_ai.request.stream"] is True
    assert a["gen_ai.conversation.id"] == "abcd1234abcd1234"
    assert a["server.address"] == "api.anthropic.com" and "error.type" not in a
    assert a["dario.cost_usd"] == pytest.approx((100 * 3 + 50 * 15 + 400 * 0.3 + 30 * 3.75) / 1e6)
    assert s.start_time_unix_nano == 1_700_000_000 * 10**9
    assert s.end_time_unix_nano - s.start_time_unix_nano == 1_500_000_000

    a, s, _ = by_model["gpt-4o-mini"]
    assert a["gen_ai.provider.name"] == "openai" and a["server.address"] == "api.openai.com"
    assert a["error.type"] == "429" and a["http.response.status_code"] == 429
    assert s.status.code == s.status.STATUS_CODE_ERROR and "rate limited" in s.status.message


def test_endpoint_resolution(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert resolve_endpoint(None, {"otlp_endpoint": None}) is None and hooks_for(None, {}) == []
    assert resolve_endpoint(None, {"otlp_endpoint": "http://cfg:4318"}) == "http://cfg:4318"
    monkeypatch.setenv(ENV_VAR, "http://env:4318")
    assert resolve_endpoint(None, {"otlp_endpoint": "http://cfg:4318"}) == "http://env:4318"
    assert resolve_endpoint("http://cli:4318", {}) == "http://cli:4318"
    assert traces_url("http://x:4318/") == "http://x:4318/v1/traces"
    assert traces_url("http://x:4318/v1/traces") == "http://x:4318/v1/traces"


def test_provider_names_for_every_protocol():
    from dario.otlp import provider_name, span_attributes
    gem = CallRecord(backend="gemini", model="gemini-2.5-flash", protocol_in="responses", protocol_out="gemini",
                     status=200, input_tokens=21, output_tokens=9, reasoning_tokens=3)
    assert provider_name(gem) == "gcp.gemini"
    assert span_attributes(gem)["server.address"] == "generativelanguage.googleapis.com"
    own = CallRecord(backend="my-gateway", protocol_in="gemini", protocol_out="responses", status=200)
    assert provider_name(own) == "openai"  # a Responses backend of no known provider
    own.protocol_out = "gemini"
    assert provider_name(own) == "gcp.gemini"
