"""Wiring shared by `dario proxy` and `dario shim`: config -> recorder -> pipeline."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field

from dario.pipeline.engine import Pipeline
from dario.pipeline.record import Recorder
from dario.store.config import Config


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)


@dataclass
class Runtime:
    config: Config
    pipeline: Pipeline
    recorder: Recorder
    run_id: str
    exporters: list = field(default_factory=list)

    def close(self) -> None:
        for part in (self.pipeline.cassette, self.recorder, *self.exporters):
            close = getattr(part, "close", None)
            if close:
                close()


def open_runtime(cfg: Config, *, otlp_endpoint: str | None = None, extra_secrets: tuple[str, ...] = (),
                 run_id: str | None = None, queue_timeout: float | None = None, budget_usd: float | None = None,
                 on_budget_warning=None, cassette=None) -> Runtime:
    """`cassette`: dario.cassette.CassetteOptions (--record/--replay); a bad cassette raises before
    anything is opened (CassetteError)."""
    from dario.core.process import no_core_dumps
    from dario.cassette import open_cassette
    from dario.otlp import hooks_for
    tape = open_cassette(cassette, tuple(cfg.secret_values()) + tuple(extra_secrets))
    no_core_dumps()  # this process holds the real keys: never in a core file
    recorder = make_recorder(cfg, extra_secrets=extra_secrets)
    kw = {"queue_timeout": queue_timeout} if queue_timeout is not None else {}
    otlp = hooks_for(otlp_endpoint, cfg.telemetry)  # its own thread: never the SQLite writer's
    pipeline = Pipeline.from_config(cfg, recorder, extra_secrets=extra_secrets, hooks=otlp,
                                    budget=make_budget(cfg, budget_usd, on_budget_warning), cassette=tape, **kw)
    return Runtime(cfg, pipeline, recorder, run_id or new_run_id(), otlp)


def make_budget(cfg: Config, run_cap: float | None, on_warn):
    from dario.pipeline import budget

    def spent_since(ts: float, backend: str | None) -> float:
        from dario.store.telemetry import TelemetryStore
        path = cfg.home / "telemetry.db"
        if not path.exists():
            return 0.0
        store = TelemetryStore(path)
        try:
            return store.spent_since(ts, backend)
        finally:
            store.close()

    return budget.from_config(cfg, run_cap, spent_since, on_warn)


def make_recorder(cfg: Config, *, extra_secrets: tuple[str, ...] = ()) -> Recorder:
    from dario.store.telemetry import open_recorder
    return open_recorder(cfg.home, cfg, extra_secrets=extra_secrets)
