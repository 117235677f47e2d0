"""-v: one line per call on stderr (never stdout: that belongs to the shimmed program)."""

from __future__ import annotations

import sys

from dario.pipeline.record import CallRecord
from dario.store.pricing import spend_text, total_usd, unpriced


def quoted(text: str, limit: int = 120) -> str:
    """The one way dario quotes a text in a line: JSON's double quotes and escapes."""
    import json
    return json.dumps(text[:limit], ensure_ascii=False)


def describe(rec: CallRecord, dim: bool = False) -> str:
    """One aligned line per call; an other request (not an LLM call) shows its METHOD /path, dimmed
    when stderr is a terminal."""
    status = str(rec.status or "-")
    if rec.protocol_in is None:
        line = f"dario: {status:>3} {rec.backend or '-':<14} {rec.method} {rec.path or ''}"
        line += f"  {rec.latency_ms or 0:.0f}ms" + (f"  pid={rec.pid}" if rec.pid else "")
        return f"\x1b[2m{line}\x1b[0m" if dim else line
    model = rec.model_requested or "-"
    if rec.model and rec.model != rec.model_requested:
        model += f"->{rec.model}"
    toks = ""
    if rec.input_tokens is not None or rec.output_tokens is not None:
        toks = f"in={rec.input_tokens or 0} out={rec.output_tokens or 0}"
        if rec.cache_read_tokens or rec.cache_write_tokens:
            toks += f" cache_r={rec.cache_read_tokens or 0} cache_w={rec.cache_write_tokens or 0}"
    line = (f"dario: {status:>3} {rec.backend or '-':<14} {model:<28} {'stream' if rec.stream else 'plain':<6} "
            f"{toks:<36} {rec.latency_ms or 0:>5.0f}ms")
    line += (f"  pid={rec.pid}" if rec.pid else "") + ("  replayed" if rec.replayed else "")
    return line + (f"  error={quoted(rec.error)}" if rec.error else "")


class VerboseHook:
    """-v: prints each finished call."""

    def __init__(self) -> None:
        import os
        self.dim = sys.stderr.isatty() and not os.environ.get("NO_COLOR")

    def call_finish(self, call, rec: CallRecord) -> None:
        print(describe(rec, self.dim), file=sys.stderr, flush=True)


class Tally:
    """Counts a run's calls for the one-line summary `dario shim -v` prints at exit (a call hook)."""

    def __init__(self) -> None:
        self.calls = self.errors = self.input = self.output = self.cache = 0
        self.other = self.other_failed = 0  # non-chat requests (models, telemetry, bootstrap...)
        self.refused = 0  # calls a budget cap refused
        self.cost: float | None = None
        self.unpriced = 0  # answered calls with no known cost: the total is then a lower bound
        self.doors: dict[str | None, int] = {}  # how the calls were caught (the coverage report)

    def call_finish(self, call, rec: CallRecord) -> None:
        failed = bool(rec.error or (rec.status or 0) >= 400)
        if rec.protocol_in is None:
            self.other += 1
            self.other_failed += failed
            return
        self.calls += 1
        self.doors[rec.door] = self.doors.get(rec.door, 0) + 1
        self.errors += failed
        self.refused += bool(rec.error and rec.error.startswith("dario: budget:"))
        self.input += rec.input_tokens or 0
        self.output += rec.output_tokens or 0
        self.cache += (rec.cache_read_tokens or 0) + (rec.cache_write_tokens or 0)
        if rec.cost_usd is not None:  # priced once, by the pipeline
            self.cost = total_usd((self.cost or 0.0, rec.cost_usd))
        self.unpriced += unpriced(rec)

    def summary(self, run_id: str) -> str:
        cost = spend_text(self.cost, self.unpriced)
        other = f", {self.other} other request(s) ({self.other_failed} failed)" if self.other else ""
        refused = f"; {self.refused} call(s) refused by a budget cap" if self.refused else ""
        return (f"dario: run {run_id}: {self.calls} call(s), {self.errors} error(s), "
                f"{self.input} in / {self.output} out / {self.cache} cache tokens, {cost}{other}{refused}")
