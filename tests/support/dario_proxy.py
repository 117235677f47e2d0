"""A real dario proxy (the production app and pipeline) on loopback, for tests."""

from __future__ import annotations

from dario.pipeline.backends import Backend
from dario.pipeline.engine import Pipeline
from dario.proxy.server import build_app
from tests.support.threaded import ThreadedApp

UPSTREAM_KEY_A = "sk-ant-upstream-secret-AAAA1111"
UPSTREAM_KEY_O = "sk-proj-upstream-secret-OOOO2222"
UPSTREAM_KEY_G = "AIzaSyUpstreamSecretGGGG3333gggg4444hhh"


class ListRecorder:
    def __init__(self) -> None:
        self.records = []

    def submit(self, record) -> None:
        self.records.append(record)


def fake_backends(upstream_url: str) -> dict[str, Backend]:
    """Every kind of backend, served by the one fake upstream: `oai` speaks Chat Completions only,
    `oair` serves /v1/responses too."""
    return {
        "anthropic": Backend("anthropic", "anthropic", upstream_url, [UPSTREAM_KEY_A]),
        "oai": Backend("oai", "openai", upstream_url + "/v1", [UPSTREAM_KEY_O]),
        "oair": Backend("oair", "openai", upstream_url + "/v1", [UPSTREAM_KEY_O], responses=True),
        "gemini": Backend("gemini", "gemini", upstream_url, [UPSTREAM_KEY_G]),
    }


def start_proxy(upstream_url: str, *, backends=None, default="oai", api_key=None, forced_model=None,
                timeouts=None, recorder=None, **kw) -> tuple[ThreadedApp, ListRecorder]:
    recorder = recorder or ListRecorder()
    backends = fake_backends(upstream_url) if backends is None else backends

    def make():
        pipeline = Pipeline(backends, default_backend=default, recorder=recorder, timeouts=timeouts,
                            secrets=(UPSTREAM_KEY_A, UPSTREAM_KEY_O, UPSTREAM_KEY_G), **kw)
        return build_app(pipeline, api_key=api_key, forced_model=forced_model, run_id="test-run")

    return ThreadedApp(make).start(), recorder
