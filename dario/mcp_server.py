"""`dario mcp`: dario's read-only questions as MCP tools over stdio.

Only questions, never actions: adding or removing backends and keys stays a CLI
command the user types. The tool set is fixed in READ_ONLY_TOOLS and a test holds it
there. Results reuse what the CLI prints for `--json` (doctor report, usage rows, log
rows), and every configured key is masked in every string of them.

stdout carries protocol frames only: the SDK owns it, children's output is captured,
and once serving, sys.stdout points at stderr so a stray print() can't corrupt a frame.
"""

from __future__ import annotations

import sys
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Callable, Optional

from dario import __version__

READ_ONLY_TOOLS = ("doctor", "backends_list", "usage", "recent_calls", "status")
MAX_CALLS = 1000


def _sdk():
    """(server class, ToolError) across the SDK's rename: FastMCP (1.x) became MCPServer (2.x)."""
    try:
        from mcp.server.mcpserver import MCPServer
        from mcp.server.mcpserver.exceptions import ToolError
        return MCPServer, ToolError
    except ImportError:
        from mcp.server.fastmcp import FastMCP
        from mcp.server.fastmcp.exceptions import ToolError
        return FastMCP, ToolError


@asynccontextmanager
async def _stdout_to_stderr(_server):
    saved, sys.stdout = sys.stdout, sys.stderr  # the transport already holds the real stdout
    try:
        yield {}
    finally:
        sys.stdout = saved


def _scrub(value: Any, secrets: list[str]) -> Any:
    """Mask the configured keys anywhere in a result (store rows were already redacted on write)."""
    from dario.redact import mask_literals as mask

    if isinstance(value, str):
        return mask(value, secrets)
    if isinstance(value, dict):
        return {k: _scrub(v, secrets) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_scrub(v, secrets) for v in value]
    return value


class Tools:
    """The tools' bodies, plain functions over DARIO_HOME (tested without the protocol too)."""

    def __init__(self, home_fn: Callable[[], Path]) -> None:
        self.home_fn = home_fn

    def _ctx(self):
        from dario.doctor import make_context
        return make_context(self.home_fn())

    def _store(self):
        from dario.store.telemetry import TelemetryStore
        db = Path(self.home_fn()) / "telemetry.db"
        return TelemetryStore(db) if db.exists() else None

    def _config(self, ctx):
        if ctx.config is None:
            raise ValueError(f"dario's config does not load: {ctx.config_error}")
        return ctx.config

    def doctor(self) -> dict:
        from dario.doctor import report
        return report(self.home_fn())

    def backends_list(self) -> dict:
        ctx = self._ctx()
        cfg = self._config(ctx)
        rows = [{"name": b.name, "kind": b.kind, "base_url": b.base_url, "keys": len(b.keys),
                 "default": b.name == cfg.default_backend} for b in cfg.backends.values()]
        return _scrub({"backends": rows}, ctx.secrets)

    def usage(self, by: str = "model", since: str | None = None) -> dict:
        from dario.cli_telemetry import BY_CHOICES, parse_since

        if by not in BY_CHOICES:
            raise ValueError(f"by must be one of {', '.join(BY_CHOICES)}, not {by!r}")
        try:
            seconds = parse_since(since)
        except Exception as e:  # typer.BadParameter: not a ValueError
            raise ValueError(f"since: {e}") from None
        store = self._store()
        try:
            rows = store.usage(by, seconds) if store else []
        finally:
            store and store.close()
        return _scrub({"by": by, "since": since, "rows": rows}, self._ctx().secrets)

    def recent_calls(self, n: int = 20, run: str | None = None) -> dict:
        from dario.cli_telemetry import _json_row  # the `dario log --json` row

        n = max(1, min(int(n), MAX_CALLS))
        store = self._store()
        try:
            rows = [_json_row(r) for r in reversed(store.recent(n, run_id=run))] if store else []
        finally:
            store and store.close()
        return _scrub({"calls": rows}, self._ctx().secrets)

    def status(self) -> dict:
        import asyncio

        from dario import subagent
        from dario.doctor import DEFAULT_PROXY_PORT, net

        ctx = self._ctx()
        cfg = ctx.config
        store = self._store()
        try:
            last = store.recent(1) if store else []
            runs = len(store.runs()) if store else 0
        finally:
            store and store.close()
        proxy = asyncio.run(net.proxy_health(DEFAULT_PROXY_PORT, ctx.home))
        return _scrub({
            "version": __version__, "home": str(ctx.home),
            "config": "ok" if cfg is not None else f"error: {ctx.config_error}",
            "backends": sorted(cfg.backends) if cfg else [],
            "default_backend": cfg.default_backend if cfg else None,
            "runs": runs, "last_call": last[0]["ts"] if last else None,
            "proxy": {"status": proxy.status, "detail": proxy.detail},
            "subagent": subagent.state().describe(),
        }, ctx.secrets)


_DESCRIPTIONS = {
    "doctor": "Run dario's health checks (dario and Node versions, payload, injector, DARIO_HOME, config, "
              "backends reachable and keys accepted, telemetry store, proxy, sub-agent). Returns one row per "
              "check with status ok/warn/fail and a detail.",
    "backends_list": "List configured backends: name, kind (anthropic/openai), base URL, how many keys, "
                     "and which one is the default. Never returns key material.",
    "usage": "Requests, tokens and cost from dario's call store, grouped by model, backend, day, run or "
             "client; optionally only the last `since` (30m, 24h, 7d, 2w). Same rows as `dario usage --json`.",
    "recent_calls": "The newest n recorded LLM API calls (oldest first), optionally of one run: model, "
                    "backend, status, tokens, cost, latency, error. Same rows as `dario log --json`.",
    "status": "A short summary: dario version, DARIO_HOME, configured backends, runs recorded, time of the "
              "last call, whether a proxy is running on the default port, sub-agent state.",
}


def build_server(home_fn: Callable[[], Path] | None = None):
    from mcp.types import ToolAnnotations

    from dario.store.home import dario_home

    tools = Tools(home_fn or dario_home)
    server_class, tool_error = _sdk()
    server = server_class(name="dario", instructions="Read-only view of dario: health, backends, usage "
                             "and recent LLM calls. Changes (backends, keys) are made by the user with "
                             "the dario CLI.", lifespan=_stdout_to_stderr, log_level="WARNING")
    ro = ToolAnnotations(readOnlyHint=True, destructiveHint=False, idempotentHint=True, openWorldHint=False)

    def tool(fn):
        return server.tool(name=fn.__name__, description=_DESCRIPTIONS[fn.__name__], annotations=ro)(fn)

    async def off_loop(fn, **kw) -> dict:  # the checks block (children, network): keep the loop free
        import anyio
        try:
            return await anyio.to_thread.run_sync(lambda: fn(**kw))
        except ValueError as e:  # a bad argument or config: the caller should see why (typer's too)
            raise tool_error(str(e)) from None

    @tool
    async def doctor() -> dict:
        return await off_loop(tools.doctor)

    @tool
    async def backends_list() -> dict:
        return await off_loop(tools.backends_list)

    @tool
    async def usage(by: str = "model", since: Optional[str] = None) -> dict:
        return await off_loop(tools.usage, by=by, since=since)

    @tool
    async def recent_calls(n: int = 20, run: Optional[str] = None) -> dict:
        return await off_loop(tools.recent_calls, n=n, run=run)

    @tool
    async def status() -> dict:
        return await off_loop(tools.status)

    return server


def serve() -> None:
    build_server().run()
