"""Wiring shared by `dario proxy` and `dario shim`: config -> recorder -> pipeline."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

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

    def close(self) -> None:
        close = getattr(self.recorder, "close", None)
        if close:
            close()


def open_runtime(cfg: Config, *, otlp_endpoint: str | None = None, extra_secrets: tuple[str, ...] = (),
                 run_id: str | None = None, queue_timeout: float | None = None) -> Runtime:
    recorder = make_recorder(cfg, otlp_endpoint=otlp_endpoint, extra_secrets=extra_secrets)
    kw = {"queue_timeout": queue_timeout} if queue_timeout is not None else {}
    pipeline = Pipeline.from_config(cfg, recorder, extra_secrets=extra_secrets, **kw)
    return Runtime(cfg, pipeline, recorder, run_id or new_run_id())


def make_recorder(cfg: Config, *, otlp_endpoint: str | None = None, extra_secrets: tuple[str, ...] = ()) -> Recorder:
    from dario.store.telemetry import open_recorder
    return open_recorder(cfg.home, cfg, otlp_endpoint=otlp_endpoint, extra_secrets=extra_secrets)
