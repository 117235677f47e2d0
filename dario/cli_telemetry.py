"""`dario log`, `dario usage`, `dario report`: reading telemetry.db.

The main cli calls `register(app, home_fn)`; home_fn gives DARIO_HOME at call time,
so tests and --home overrides are honoured.
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path
from typing import Any, Callable, Optional

import typer

from dario.store.telemetry import CALL_COLUMNS, TelemetryStore

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
BY_CHOICES = ("model", "backend", "day", "run", "client")


def parse_since(text: str | None) -> float | None:
    """'7d', '24h', '30m', '90s', '2w' -> seconds."""
    if not text:
        return None
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", text.lower())
    if not m:
        raise typer.BadParameter(f"{text!r}: use a number and a unit, e.g. 30m, 24h, 7d, 2w")
    return float(m.group(1)) * _UNITS[m.group(2)]


def _fmt_cost(v: float | None) -> str:
    from dario.store.pricing import fmt_usd
    return fmt_usd(v)


def _fmt_int(v: int | None) -> str:
    return "-" if v is None else f"{v:,}"


def _fmt_ms(v: float | None) -> str:
    return "-" if v is None else f"{v:,.0f}"


def json_row(r: dict[str, Any]) -> dict[str, Any]:
    """A call as `dario log --json` prints it: every column, no bodies."""
    return {c: r.get(c) for c in CALL_COLUMNS}


_json_row = json_row  # older name, used by the MCP server


def short_run(run_id: str | None) -> str:
    """What tables show of a run id: its random part (20261202-001510-ad3c27 -> ad3c27)."""
    return (run_id or "").rsplit("-", 1)[-1]


def resolve_run(store: TelemetryStore, text: str) -> str:
    """The one run `text` names: its id, a unique prefix, or the short id tables show. Exit 1 otherwise."""
    ids = [r["run_id"] for r in store.runs()]
    matches = ([i for i in ids if i == text] or [i for i in ids if i.startswith(text)]
               or [i for i in ids if short_run(i) == text or i.endswith(text)])
    if len(matches) != 1:
        typer.echo(f"No run {text!r}." if not matches else
                   f"{text!r} matches {len(matches)} runs ({', '.join(matches[:3])}…); give more of the id.",
                   err=True)
        raise typer.Exit(1)
    return matches[0]


def register(app: typer.Typer, home_fn: Callable[[], Path]) -> None:
    def store_or_none() -> TelemetryStore | None:
        db = Path(home_fn()) / "telemetry.db"
        return TelemetryStore(db) if db.exists() else None

    def console():
        from rich.console import Console  # rich only when a table is drawn
        # piped output has no width to fit: keep rows whole rather than rich's 80 columns
        return Console(width=None if sys.stdout.isatty() else 180)

    def call_table(rows: list[dict[str, Any]], header: bool = True):
        from rich.table import Table
        t = Table(box=None, header_style="bold", pad_edge=False, show_header=header)
        for col, just in [("time", "left"), ("run", "left"), ("client", "left"), ("backend", "left"),
                          ("model", "left"), ("status", "right"), ("in", "right"), ("out", "right"),
                          ("cache r/w", "right"), ("cost", "right"), ("ms", "right"), ("ttft", "right"),
                          ("error", "left")]:
            t.add_column(col, justify=just, overflow="fold" if col in ("error", "model") else "ellipsis")
        for r in rows:
            bad = (r.get("status") or 0) >= 400 or r.get("error")
            cache = (f"{_fmt_int(r.get('cache_read_tokens'))}/{_fmt_int(r.get('cache_write_tokens'))}"
                     if r.get("cache_read_tokens") or r.get("cache_write_tokens") else "")
            t.add_row(time.strftime("%m-%d %H:%M:%S", time.localtime(r["ts"])), short_run(r.get("run_id")),
                      str(r.get("client") or "")[:24], str(r.get("backend") or ""),
                      str(r.get("model") or r.get("model_requested") or ""),
                      f"[red]{r.get('status')}[/]" if bad else str(r.get("status") or "-"),
                      _fmt_int(r.get("input_tokens")), _fmt_int(r.get("output_tokens")), cache,
                      _fmt_cost(r.get("cost_usd")), _fmt_ms(r.get("latency_ms")), _fmt_ms(r.get("ttft_ms")),
                      (r.get("error") or "")[:80])
        return t

    @app.command("log")
    def log_cmd(
        n: int = typer.Option(20, "-n", "--lines", help="How many of the newest calls to show."),
        as_json: bool = typer.Option(False, "--json", help="One JSON object per line (no bodies)."),
        follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new calls until Ctrl-C."),
        run: Optional[str] = typer.Option(None, "--run", metavar="RUN",
                                          help="Only calls of this run: its id, a unique prefix or its short id."),
    ) -> None:
        """Show the newest recorded calls."""
        store = store_or_none()
        while store is None and follow:  # nothing recorded yet: wait for the first call
            time.sleep(0.5)
            store = store_or_none()
        if store is None:
            if not as_json:
                typer.echo("No calls recorded yet.")
            return
        if run is not None:
            run = resolve_run(store, run)
        rows = list(reversed(store.recent(n, run_id=run)))
        last_seq = max((r["seq"] for r in rows), default=0)
        if as_json:
            for r in rows:
                typer.echo(json.dumps(_json_row(r)))
        elif rows:
            console().print(call_table(rows))
        elif not follow:
            typer.echo("No calls recorded yet." if run is None else f"No calls for run {run}.")
        if not follow:
            return
        if last_seq == 0:
            last_seq = (store.recent(1)[:1] or [{"seq": 0}])[0]["seq"]
        try:
            while True:
                time.sleep(0.5)
                new = store.recent(1000, run_id=run, after_seq=last_seq)
                if not new:
                    continue
                last_seq = new[-1]["seq"]
                if as_json:
                    for r in new:
                        typer.echo(json.dumps(_json_row(r)))
                else:
                    console().print(call_table(new, header=False))
        except KeyboardInterrupt:
            pass

    @app.command("usage")
    def usage_cmd(
        by: str = typer.Option("model", "--by", help="Group by: " + "|".join(BY_CHOICES)),
        since: Optional[str] = typer.Option(None, "--since", help="Only the last 30m, 24h, 7d, ..."),
        as_json: bool = typer.Option(False, "--json", help="Print a JSON array of rows."),
        budget: bool = typer.Option(False, "--budget", help="Show the budget caps, spend and headroom instead."),
    ) -> None:
        """Requests, tokens and cost, grouped."""
        if budget:
            return _budget_status(as_json)
        if by not in BY_CHOICES:
            raise typer.BadParameter(f"use one of {', '.join(BY_CHOICES)}", param_hint="--by")
        seconds = parse_since(since)
        store = store_or_none()
        rows = store.usage(by, seconds) if store else []
        if as_json:
            typer.echo(json.dumps(rows, indent=2))
            return
        if not rows:
            typer.echo("No calls recorded" + (f" in the last {since}." if since else " yet."))
            return
        from rich.table import Table
        t = Table(title=f"usage by {by}" + (f", last {since}" if since else ""), header_style="bold")
        t.add_column(by, overflow="fold")
        for col in ("requests", "input", "output", "cache read", "cache write", "cost", "errors"):
            t.add_column(col, justify="right")
        keys = ("requests", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")
        for r in rows:
            t.add_row(str(r[by] if r[by] is not None else "-"), *(_fmt_int(r[k]) for k in keys),
                      _fmt_cost(r["cost_usd"]), _fmt_int(r["errors"]))
        from dario.store.pricing import spend_text, total_usd
        t.add_section()
        t.add_row("total", *(_fmt_int(sum(r[k] for r in rows)) for k in keys),
                  spend_text(total_usd(r["cost_usd"] for r in rows), sum(r["unpriced"] for r in rows)),
                  _fmt_int(sum(r["errors"] for r in rows)))
        console().print(t)
        if any(r["cost_usd"] is None for r in rows):
            typer.echo("('-' cost: no known price for those models; add them under \"prices\" in config.json)")

    def _budget_status(as_json: bool) -> None:
        from dario.pipeline import budget as budgets
        from dario.store.config import load_config
        store = store_or_none()
        b = budgets.from_config(load_config(Path(home_fn())), None,
                                spent_since=(lambda ts, backend: store.spent_since(ts, backend)) if store else None)
        rows = b.status() if b is not None else []
        if as_json:
            typer.echo(json.dumps(rows, indent=2))
            return
        if not rows:
            typer.echo('No budget caps: set "budgets" in config.json (daily_usd, monthly_usd, per_run_usd, '
                       'backends.NAME.*), or run with --budget USD.')
            return
        from rich.table import Table
        t = Table(title="budget caps", header_style="bold")
        for col in ("cap", "limit", "spent", "headroom"):
            t.add_column(col, justify="left" if col == "cap" else "right")
        for r in rows:  # a per-run cap has no spend outside its run
            t.add_row(r["cap"], _fmt_cost(r["limit_usd"]), _fmt_cost(r["spent_usd"]), _fmt_cost(r["headroom_usd"]))
        console().print(t)

    @app.command("report")
    def report_cmd(
        run: Optional[str] = typer.Option(None, "--run", help="Run id (or a unique prefix)."),
        last: bool = typer.Option(False, "--last", help="The most recent run (the default)."),
        out: Optional[Path] = typer.Option(None, "--out", help="HTML file to write."),
    ) -> None:
        """Write a self-contained HTML report of one run and print its path."""
        from dario.report import write_report

        if run and last:
            raise typer.BadParameter("give --run ID or --last, not both")
        store = store_or_none()
        if store is None:
            typer.echo("No calls recorded yet: nothing to report.", err=True)
            raise typer.Exit(1)
        if run:
            run_id = resolve_run(store, run)
        else:
            run_id = store.last_run_id()
            if run_id is None:
                typer.echo("No runs recorded yet: nothing to report.", err=True)
                raise typer.Exit(1)
        if out is None:
            reports = Path(home_fn()) / "reports"
            reports.mkdir(mode=0o700, parents=True, exist_ok=True)
            out = reports / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', run_id) or 'run'}.html"
        path = write_report(store, run_id, out)
        typer.echo(str(path.resolve()))
