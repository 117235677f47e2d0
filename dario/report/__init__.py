"""`dario report`: a run's calls as one self-contained HTML page."""

from __future__ import annotations

from pathlib import Path

from dario.report.html import render
from dario.store.telemetry import TelemetryStore


def render_run(store: TelemetryStore, run_id: str, include_other: bool = False) -> str:
    """The run's LLM calls (and its other requests to provider hosts too, with include_other)."""
    calls = [c for c in store.calls_for_run(run_id) if include_other or c.get("protocol_in")]
    return render(store.run(run_id), calls, store.processes(run_id), store.tunnels(run_id))


def write_report(store: TelemetryStore, run_id: str, out: Path, include_other: bool = False) -> Path:
    """Write the page (0600: it holds prompts) and return its path."""
    import os

    html = render_run(store, run_id, include_other).encode("utf-8")
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(html)
    return out


__all__ = ["render", "render_run", "write_report"]
