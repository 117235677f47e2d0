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
    """A call as `dario log --json` prints it: every column, no bodies, and its kind: an LLM `call`,
    or an `other` request to a provider host (bootstrap, models, telemetry)."""
    return {**{c: r.get(c) for c in CALL_COLUMNS}, "kind": "call" if r.get("protocol_in") else "other",
            "replayed": bool(r.get("replayed"))}


_json_row = json_row  # older name, used by the MCP server


def short_id(call_id: str) -> str:
    """What tables show of a call id, and what `dario show` takes: its last characters (an id begins
    with the time, so its first characters are shared by the calls of the same minutes: dario/core/ids.py)."""
    return call_id[-8:]


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


def make_console():
    """A rich console as wide as the terminal ($COLUMNS wins); output that is not a terminal is
    machine output: wide enough that nothing is cut."""
    import os
    from rich.console import Console  # rich only when a table is drawn
    cols = os.environ.get("COLUMNS")
    if cols and cols.isdigit():
        return Console(width=int(cols))
    return Console(width=None if sys.stdout.isatty() else 400)


# (name, justify, width it needs), in the order columns are dropped last-first when the terminal is narrow
_CALL_COLUMNS = [("time", "left", 14), ("model", "left", 22), ("status", "right", 6), ("cost", "right", 10),
                 ("in", "right", 7), ("out", "right", 6), ("backend", "left", 10), ("ms", "right", 6),
                 ("error", "left", 16), ("id", "left", 8), ("client", "left", 12), ("run", "left", 7),
                 ("cache r/w", "right", 11), ("ttft", "right", 6)]
_ORDER = ["time", "id", "run", "client", "backend", "model", "status", "in", "out", "cache r/w", "cost", "ms",
          "ttft", "error"]


def calls_table(rows: list[dict[str, Any]], width: int, header: bool = True):
    """The calls as a rich table that fits `width`: columns dropped by priority, cost never cut.
    Other requests (not LLM calls) are dimmed and show as METHOD /path."""
    from rich.table import Table
    keep, used = set(), 0
    for name, _, need in _CALL_COLUMNS:
        if used + need + 1 <= width or name in ("time", "model", "status", "cost"):
            keep.add(name)
            used += need + 1
    just = {name: j for name, j, _ in _CALL_COLUMNS}
    t = Table(box=None, header_style="bold", pad_edge=False, show_header=header, width=None)
    cols = [c for c in _ORDER if c in keep]
    for col in cols:
        t.add_column(col, justify=just[col], no_wrap=col in ("cost", "time", "status", "ms", "in", "out"),
                     overflow="fold" if col in ("error", "model") else "ellipsis",
                     min_width=len(_fmt_cost(0.0)) if col == "cost" else None)
    for r in rows:
        other = not r.get("protocol_in")
        bad = (r.get("status") or 0) >= 400 or r.get("error")
        cache = (f"{_fmt_int(r.get('cache_read_tokens'))}/{_fmt_int(r.get('cache_write_tokens'))}"
                 if r.get("cache_read_tokens") or r.get("cache_write_tokens") else "")
        what = f"{r.get('method') or ''} {r.get('path') or ''}".strip() if other else \
            str(r.get("model") or r.get("model_requested") or "")
        cells = {"time": time.strftime("%m-%d %H:%M:%S", time.localtime(r["ts"])), "id": short_id(r["id"]),
                 "run": short_run(r.get("run_id")),
                 "client": str(r.get("client") or "")[:24], "backend": str(r.get("backend") or ""), "model": what,
                 "status": f"[red]{r.get('status')}[/]" if bad and not other else str(r.get("status") or "-"),
                 "in": _fmt_int(r.get("input_tokens")), "out": _fmt_int(r.get("output_tokens")), "cache r/w": cache,
                 "cost": "" if other else _fmt_cost(r.get("cost_usd")), "ms": _fmt_ms(r.get("latency_ms")),
                 "ttft": _fmt_ms(r.get("ttft_ms")), "error": (r.get("error") or "")[:80]}
        t.add_row(*(cells[c] for c in cols), style="dim" if other else None)
    return t


def _text(data: Any) -> str:
    if data is None or isinstance(data, str):
        return data or ""
    return bytes(data).decode("utf-8", "replace")


def _pretty(data: Any) -> str:
    text = _text(data)
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text


def show_text(r: dict[str, Any], *, as_json: bool = False, raw: bool = False) -> str:
    """`dario show`: one call, for a person (or as one JSON object)."""
    req, resp = _text(r.get("request_body")), _text(r.get("response_body"))
    if as_json:
        return json.dumps({**json_row(r), "caught_by": r.get("caught_by"), "request": req or None,
                           "response": resp or None, "request_truncated": bool(r.get("request_truncated")),
                           "response_truncated": bool(r.get("response_truncated"))}, indent=2)
    from dario.store.pricing import fmt_usd
    kind = "call" if r.get("protocol_in") else "other request"
    how = ", ".join(x for x in (r.get("source"), f"pid {r['pid']}" if r.get("pid") else "",
                                f"caught {r['caught_by']}" if r.get("caught_by") else "", r.get("runtime")) if x)
    model = r.get("model_requested") or "-"
    if r.get("model") and r.get("model") != r.get("model_requested"):
        model += f" → {r['model']}"
    lines = [f"{kind} {r['id']}  {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(r['ts']))}  "
             f"run {short_run(r.get('run_id'))}  ({how})",
             f"  {r.get('method')} {r.get('path')}  client {r.get('client') or '-'}",
             f"  {r.get('protocol_in') or '-'} → {r.get('backend') or '-'} ({r.get('protocol_out') or '-'})  "
             f"model {model}{'  stream' if r.get('stream') else ''}{'  replayed' if r.get('replayed') else ''}",
             f"  status {r.get('status') or '-'}  latency {_fmt_ms(r.get('latency_ms'))} ms  "
             f"ttft {_fmt_ms(r.get('ttft_ms'))} ms"]
    if r.get("protocol_in"):
        lines.append(f"  tokens in {_fmt_int(r.get('input_tokens'))} · out {_fmt_int(r.get('output_tokens'))} · "
                     f"cache read {_fmt_int(r.get('cache_read_tokens'))} · cache write "
                     f"{_fmt_int(r.get('cache_write_tokens'))} · reasoning {_fmt_int(r.get('reasoning_tokens'))}  "
                     f"cost {fmt_usd(r.get('cost_usd'))}")
    if r.get("error"):
        lines.append(f"  error: {r['error']}")
    for title, body, size, cut in (("request", req, r.get("request_size"), r.get("request_truncated")),
                                   ("response", resp, r.get("response_size"), r.get("response_truncated"))):
        note = f" ({_fmt_int(size)} bytes{', cut at the capture cap' if cut else ''})" if size else ""
        if not body:
            lines.append(f"{title}: not captured" if size is None else f"{title}{note}: empty")
            continue
        if raw:
            text = body
        elif title == "response" and body.lstrip()[:6] in ("event:", "data: ", "data:{"):
            text = _stream_summary(body, r.get("protocol_in"))
            note += ", a stream, rebuilt (--raw: as relayed)"
        else:
            text = _pretty(body)
        lines.append(f"{title}{note}:")
        lines += ["  " + x for x in text.splitlines()]
    return "\n".join(lines)


def _stream_summary(body: str, protocol: str | None) -> str:
    from dario.report.transcript import parse_response
    resp = parse_response(body.encode(), protocol)
    out = [f"[stop: {resp.stop_reason}]"] if resp.stop_reason else []
    if resp.error:
        out.append(f"[error] {resp.error}")
    for p in (resp.message.parts if resp.message else []):
        label = {"text": "", "thinking": "[thinking] ", "tool_call": f"[tool call {p.name} {p.id}] "}.get(p.kind, "")
        out.append(label + p.text)
    return "\n".join(out) or body


def register(app: typer.Typer, home_fn: Callable[[], Path]) -> None:
    def store_or_none() -> TelemetryStore | None:
        db = Path(home_fn()) / "telemetry.db"
        return TelemetryStore(db) if db.exists() else None

    def console():
        return make_console()

    def call_table(rows: list[dict[str, Any]], header: bool = True):
        return calls_table(rows, make_console().width, header)

    @app.command("log")
    def log_cmd(
        n: int = typer.Option(20, "-n", "--lines", help="How many of the newest calls to show."),
        as_json: bool = typer.Option(False, "--json", help="One JSON object per line (no bodies)."),
        follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new calls until Ctrl-C."),
        run: Optional[str] = typer.Option(None, "--run", metavar="RUN",
                                          help="Only calls of this run: its id, a unique prefix or its short id."),
        model: Optional[str] = typer.Option(None, "--model", metavar="TEXT",
                                            help="Only calls whose model (asked or sent) contains TEXT."),
        backend: Optional[str] = typer.Option(None, "--backend", metavar="NAME", help="Only calls to this backend."),
        status: Optional[str] = typer.Option(None, "--status", metavar="CODE", help="Only this status: 200, 429, 4xx."),
        errors: bool = typer.Option(False, "--errors", help="Only calls that failed."),
        since: Optional[str] = typer.Option(None, "--since", metavar="AGE", help="Only the last 30m, 24h, 7d, ..."),
        calls_only: bool = typer.Option(False, "--calls", help="Only LLM calls, not other requests to provider hosts."),
    ) -> None:
        """Show the newest recorded calls. Other requests to provider hosts (Claude Code's bootstrap,
        /v1/models) show dimmed, as METHOD /path.

        Examples: dario log -n 50 · dario log --errors --since 1h · dario log --run ad3c27 --model sonnet
        """
        if status is not None and not re.fullmatch(r"\d{3}|[1-5]xx", status.lower()):
            raise typer.BadParameter("a status code (200) or a class (4xx)", param_hint="--status")
        seconds = parse_since(since)
        filters = dict(model=model, backend=backend, status=status, errors=errors, include_other=not calls_only,
                       after_ts=time.time() - seconds if seconds is not None else None)
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
        rows = list(reversed(store.recent(n, run_id=run, **filters)))
        last_seq = max((r["seq"] for r in rows), default=0)
        if as_json:
            for r in rows:
                typer.echo(json.dumps(_json_row(r)))
        elif rows:
            console().print(call_table(rows))
        elif not follow:
            filtered = any(v for k, v in filters.items() if k != "include_other") or calls_only
            typer.echo("No calls match." if filtered else
                       "No calls recorded yet." if run is None else f"No calls for run {run}.")
            if filtered:
                raise typer.Exit(1)
        if not follow:
            return
        if last_seq == 0:
            last_seq = (store.recent(1)[:1] or [{"seq": 0}])[0]["seq"]
        try:
            while True:
                time.sleep(0.5)
                new = store.recent(1000, run_id=run, after_seq=last_seq,
                                   **{k: v for k, v in filters.items() if k != "after_ts"})
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

    @app.command("show")
    def show_cmd(
        call_id: str = typer.Argument(..., metavar="ID", help="A call's id, the short id `dario log` shows "
                                                             "(its last characters), or any unique start or end of it."),
        as_json: bool = typer.Option(False, "--json", help="One JSON object: the row and both bodies."),
        raw: bool = typer.Option(False, "--raw", help="The bodies as stored (a stream as relayed), not pretty."),
    ) -> None:
        """One call: its request and response (redacted), timings, tokens, cost and how it was caught.

        Examples: dario show 7c1e04b9 · dario show 7c1e04b9 --raw · dario log --json | jq -r .id
        """
        store = store_or_none()
        found = store.find_calls(call_id) if store is not None and call_id else []
        if len(found) != 1:
            typer.echo(f"No call {call_id!r}." if not found else
                       f"{call_id!r} matches more than one call; give more of the id.", err=True)
            raise typer.Exit(1)
        typer.echo(show_text(found[0], as_json=as_json, raw=raw))

    @app.command("usage")
    def usage_cmd(
        by: str = typer.Option("model", "--by", help="Group by: " + "|".join(BY_CHOICES)),
        since: Optional[str] = typer.Option(None, "--since", help="Only the last 30m, 24h, 7d, ..."),
        as_json: bool = typer.Option(False, "--json", help="Print a JSON array of rows."),
        budget: bool = typer.Option(False, "--budget", help="Show the budget caps, spend and headroom instead."),
        include_other: bool = typer.Option(False, "--all", help="Count other requests to provider hosts too."),
    ) -> None:
        """LLM calls, tokens and cost, grouped.

        Examples: dario usage · dario usage --by day --since 7d · dario usage --budget
        """
        if budget:
            return _budget_status(as_json)
        if by not in BY_CHOICES:
            raise typer.BadParameter(f"use one of {', '.join(BY_CHOICES)}", param_hint="--by")
        seconds = parse_since(since)
        store = store_or_none()
        rows = store.usage(by, seconds, include_other) if store else []
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
        include_other: bool = typer.Option(False, "--all", help="Show other requests to provider hosts too."),
    ) -> None:
        """Write a self-contained HTML report of one run and print its path.

        Examples: dario report · dario report --run ad3c27 --out run.html
        """
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
        path = write_report(store, run_id, out, include_other)
        typer.echo(str(path.resolve()))
