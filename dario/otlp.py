"""Each call as an OpenTelemetry span (GenAI semantic conventions), sent over OTLP/HTTP.

opentelemetry is imported only when an endpoint is configured, so a plain `dario`
start never pays for it. `OTLPHook` is a call hook: it queues each finished record and
returns; its own thread builds the spans, and the SDK's BatchSpanProcessor thread sends
them, so neither the request path nor the SQLite writer waits on the collector.
"""

from __future__ import annotations

import os
from typing import Any, Mapping, Sequence
from urllib.parse import urlsplit

from dario.pipeline.record import CallRecord
from dario.redact import redact

ENV_VAR = "DARIO_OTLP_ENDPOINT"

# dario backend name -> gen_ai.provider.name well-known value
_PROVIDERS = {"anthropic": "anthropic", "openai": "openai", "gemini": "gcp.gemini", "groq": "groq", "deepseek": "deepseek",
              "mistral": "mistral_ai", "xai": "x_ai", "perplexity": "perplexity", "cohere": "cohere"}
# protocol -> provider name, for backends of no known provider (OTel GenAI names)
_PROTOCOL_PROVIDERS = {"anthropic": "anthropic", "openai": "openai", "responses": "openai", "gemini": "gcp.gemini"}
_HOST_PROVIDERS = {"api.anthropic.com": "anthropic", "api.openai.com": "openai", "api.groq.com": "groq",
                   "generativelanguage.googleapis.com": "gcp.gemini",
                   "api.deepseek.com": "deepseek", "api.mistral.ai": "mistral_ai", "api.x.ai": "x_ai"}


def resolve_endpoint(cli_value: str | None = None, telemetry_cfg: Mapping[str, Any] | None = None) -> str | None:
    """--otlp, then $DARIO_OTLP_ENDPOINT, then config telemetry.otlp_endpoint."""
    return cli_value or os.environ.get(ENV_VAR) or (telemetry_cfg or {}).get("otlp_endpoint") or None


def traces_url(endpoint: str) -> str:
    """A collector base URL (http://host:4318) gets the OTLP traces path; a full one is kept."""
    endpoint = endpoint.rstrip("/")
    return endpoint if endpoint.endswith("/v1/traces") else endpoint + "/v1/traces"


def hooks_for(cli_value: str | None = None, telemetry_cfg: Mapping[str, Any] | None = None) -> list:
    """[OTLPHook] when an endpoint is configured, else [] (opentelemetry not even imported)."""
    endpoint = resolve_endpoint(cli_value, telemetry_cfg)
    return [OTLPHook(OTLPExporter(endpoint))] if endpoint else []


def _server(rec: CallRecord) -> tuple[str | None, int | None]:
    backend = rec.backend or ""
    if backend.startswith("passthrough:"):
        netloc = backend.split(":", 1)[1]
    else:
        from dario.pipeline.backends import KNOWN
        known = KNOWN.get(backend)
        netloc = urlsplit(known[0]).netloc if known else ""
    if not netloc:
        return None, None
    u = urlsplit("//" + netloc)
    return u.hostname, u.port


def provider_name(rec: CallRecord) -> str | None:
    backend = rec.backend or ""
    if backend in _PROVIDERS:
        return _PROVIDERS[backend]
    host, _ = _server(rec)
    proto = rec.protocol_out or rec.protocol_in
    return _HOST_PROVIDERS.get(host or "") or _PROTOCOL_PROVIDERS.get(proto or "", proto)


def span_attributes(rec: CallRecord) -> dict[str, Any]:
    provider = provider_name(rec)
    host, port = _server(rec)
    attrs: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": provider,
        "gen_ai.system": provider,  # pre-1.37 name, still what many backends read
        "gen_ai.request.model": rec.model_requested or rec.model,
        "gen_ai.response.model": rec.model,
        "gen_ai.request.stream": bool(rec.stream),
        "gen_ai.usage.input_tokens": rec.input_tokens,
        "gen_ai.usage.output_tokens": rec.output_tokens,
        "gen_ai.usage.cache_read.input_tokens": rec.cache_read_tokens,
        "gen_ai.usage.cache_creation.input_tokens": rec.cache_write_tokens,
        "gen_ai.conversation.id": rec.conversation,
        "server.address": host,
        "server.port": port,
        "http.request.method": rec.method,
        "http.response.status_code": rec.status,
        "dario.run_id": rec.run_id or None,
        "dario.source": rec.source,
        "dario.backend": rec.backend,
        "dario.client": rec.client,
        "dario.cost_usd": rec.cost_usd,
        "dario.ttft_ms": rec.ttft_ms,
        "dario.call_id": rec.id,
    }
    if rec.error or (rec.status or 0) >= 400:
        # low-cardinality: the HTTP status when there is one, else a generic class
        attrs["error.type"] = str(rec.status) if (rec.status or 0) >= 400 else "_OTHER"
    return {k: v for k, v in attrs.items() if v is not None}


class OTLPExporter:
    """A telemetry exporter: `export(records)` and `shutdown()`, called by BackgroundRecorder."""

    def __init__(self, endpoint: str, *, headers: Mapping[str, str] | None = None, timeout: float = 10.0,
                 service_name: str = "dario", schedule_delay_ms: float = 1000) -> None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.trace import SpanKind, Status, StatusCode

        self.endpoint = traces_url(endpoint)
        self._kind, self._status, self._code = SpanKind.CLIENT, Status, StatusCode
        # A private provider: dario must not change the global tracer of a host process.
        self._provider = TracerProvider(resource=Resource.create({"service.name": service_name}),
                                        shutdown_on_exit=False)
        self._provider.add_span_processor(BatchSpanProcessor(
            OTLPSpanExporter(endpoint=self.endpoint, headers=dict(headers or {}), timeout=timeout),
            schedule_delay_millis=schedule_delay_ms))
        self._tracer = self._provider.get_tracer("dario")

    def export(self, records: Sequence[CallRecord]) -> None:
        for rec in records:
            if not rec.protocol_in:  # not an LLM call (e.g. /v1/models): no chat span
                continue
            start = int(rec.ts * 1e9)
            end = start + int((rec.latency_ms or 0) * 1e6)
            model = rec.model_requested or rec.model or "unknown"
            span = self._tracer.start_span(f"chat {model}", kind=self._kind, attributes=span_attributes(rec),
                                           start_time=start)
            if rec.error or (rec.status or 0) >= 400:
                span.set_status(self._status(self._code.ERROR, redact(rec.error or f"HTTP {rec.status}")[:500]))
            span.end(end_time=end)

    def force_flush(self, timeout_ms: int = 10000) -> bool:
        return self._provider.force_flush(timeout_ms)

    def shutdown(self) -> None:
        self._provider.shutdown()


class OTLPHook:
    """A call hook that exports each finished call off the event loop, on a thread of its own."""

    def __init__(self, exporter, *, max_queue: int = 10_000) -> None:
        import queue
        import threading
        self.exporter = exporter
        self.dropped = 0
        self._q: "queue.Queue" = queue.Queue(maxsize=max_queue)
        self._full = queue.Full
        self._thread = threading.Thread(target=self._run, name="dario-otlp", daemon=True)
        self._thread.start()

    def call_finish(self, call, record: CallRecord) -> None:
        try:
            self._q.put_nowait(record)
        except self._full:
            self.dropped += 1

    def _run(self) -> None:
        import logging
        import threading
        log = logging.getLogger("dario.otlp")
        stop = False
        while not stop:
            items = [self._q.get()]
            while True:  # take the whole burst: one export call per burst
                try:
                    items.append(self._q.get_nowait())
                except Exception:
                    break
            batch = [it for it in items if isinstance(it, CallRecord)]
            if batch:
                try:
                    self.exporter.export(batch)
                except Exception as e:
                    log.warning("dario: OTLP export failed: %s", e)
            for it in items:
                if isinstance(it, threading.Event):
                    it.set()
                stop |= it is None

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every call queued so far went to the exporter, then flush the exporter."""
        import threading
        done = threading.Event()
        try:
            self._q.put(done, timeout=timeout)
        except Exception:
            return False
        if not done.wait(timeout):
            return False
        flush = getattr(self.exporter, "force_flush", None)
        return bool(flush(int(timeout * 1000))) if flush else True

    def close(self, timeout: float = 10.0) -> None:
        try:
            self._q.put(None, timeout=timeout)
        except Exception:
            pass
        self._thread.join(timeout)
        try:
            self.exporter.shutdown()
        except Exception:
            pass
