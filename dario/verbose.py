"""-v: one line per call on stderr (never stdout: that belongs to the shimmed program)."""

from __future__ import annotations

import sys

from dario.pipeline.record import CallRecord, Recorder


def describe(rec: CallRecord) -> str:
    toks = ""
    if rec.input_tokens is not None or rec.output_tokens is not None:
        toks = f" in={rec.input_tokens or 0} out={rec.output_tokens or 0}"
        if rec.cache_read_tokens or rec.cache_write_tokens:
            toks += f" cache_r={rec.cache_read_tokens or 0} cache_w={rec.cache_write_tokens or 0}"
    model = rec.model_requested or "-"
    if rec.model and rec.model != rec.model_requested:
        model += f"->{rec.model}"
    err = f" error={rec.error[:120]!r}" if rec.error else ""
    pid = f" pid={rec.pid}" if rec.pid else ""
    return (f"dario: {rec.status or '-'} {rec.backend or '-'} {model}"
            f"{' stream' if rec.stream else ''}{toks} {rec.latency_ms or 0:.0f}ms{pid}{err}")


class VerboseRecorder:
    """Prints each call, then hands it on."""

    def __init__(self, inner: Recorder) -> None:
        self.inner = inner

    def submit(self, record: CallRecord) -> None:
        try:
            print(describe(record), file=sys.stderr, flush=True)
        except Exception:
            pass
        self.inner.submit(record)

    def __getattr__(self, name):
        return getattr(self.inner, name)


class Tally:
    """Counts a run's calls for the one-line summary `dario shim -v` prints at exit."""

    def __init__(self, prices: dict | None = None) -> None:
        self.prices = prices or {}
        self.inner: Recorder | None = None
        self.calls = self.errors = self.input = self.output = self.cache = 0
        self.other = self.other_failed = 0  # non-chat requests (models, telemetry, bootstrap...)
        self.cost: float | None = None

    def wrap(self, inner: Recorder) -> "Tally":
        self.inner = inner
        return self

    def submit(self, rec: CallRecord) -> None:
        failed = bool(rec.error or (rec.status or 0) >= 400)
        if rec.protocol_in is None:
            self.other += 1
            self.other_failed += failed
            self.inner.submit(rec)
            return
        self.calls += 1
        self.errors += failed
        self.input += rec.input_tokens or 0
        self.output += rec.output_tokens or 0
        self.cache += (rec.cache_read_tokens or 0) + (rec.cache_write_tokens or 0)
        if rec.cost_usd is None:  # priced once here; the store keeps it rather than pricing again
            try:
                from dario.store.pricing import cost
                rec.cost_usd = cost(rec.model or rec.model_requested, rec.input_tokens, rec.output_tokens,
                                    rec.cache_read_tokens, rec.cache_write_tokens, self.prices)
            except Exception:
                pass
        if rec.cost_usd is not None:
            self.cost = (self.cost or 0.0) + rec.cost_usd
        self.inner.submit(rec)

    def summary(self, run_id: str) -> str:
        cost = f"${self.cost:.4f}" if self.cost is not None else "cost unknown"
        other = f", {self.other} other request(s) ({self.other_failed} failed)" if self.other else ""
        return (f"dario: run {run_id}: {self.calls} call(s), {self.errors} error(s), "
                f"{self.input} in / {self.output} out / {self.cache} cache tokens, {cost}{other}")

    def __getattr__(self, name):
        inner = self.__dict__.get("inner")
        if inner is None:
            raise AttributeError(name)
        return getattr(inner, name)
