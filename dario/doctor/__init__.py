"""`dario doctor`: one row per check, each ok / warn / fail with a one-line detail.

Checks only look: nothing is created, migrated, chmod-ed or moved aside (a corrupt
config is reported, not quarantined), so the MCP server can offer the same report.
Every check runs isolated (a crash is a `fail` row, never a traceback) and the slow
ones (children, network) run side by side, so the whole report takes about as long
as its slowest check. Every configured key (stored or read from env:VAR) is masked
in every detail, so a key can't reach the output even if some error message quotes
it. Only those literal keys: redact()'s shape patterns would also eat path segments
such as ~/dario-dev-checkout, and the details are full of paths.
"""

from __future__ import annotations

import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from dario.redact import mask_literals

OK, WARN, FAIL = "ok", "warn", "fail"
DEFAULT_PROXY_PORT = 3456


@dataclass
class Row:
    name: str
    status: str
    detail: str


@dataclass
class Context:
    home: Path
    proxy_port: int = DEFAULT_PROXY_PORT
    config: object | None = None  # dario.store.config.Config, when it loads
    config_error: str | None = None
    secrets: list[str] = field(default_factory=list)


Check = Callable[[Context], "Row | list[Row]"]


def make_context(home: Path, proxy_port: int = DEFAULT_PROXY_PORT) -> Context:
    from dario.doctor.files import read_config
    ctx = Context(Path(home), proxy_port)
    try:
        ctx.config = read_config(ctx.home)
    except Exception as e:
        ctx.config_error = str(e)
        return ctx
    ctx.secrets.extend(ctx.config.secret_values())
    return ctx


def all_checks() -> list[Check]:
    from dario.doctor import env, files, net, security
    return [env.check_dario, env.check_python, env.check_platform, env.check_node, env.check_payload,
            env.check_injector, files.check_home, files.check_config, files.check_credentials,
            net.check_backends, files.check_telemetry, net.check_proxy, security.check_security,
            files.check_subagent]


def _isolated(check: Check, ctx: Context) -> list[Row]:
    name = getattr(check, "__name__", "check").removeprefix("check_")
    try:
        out = check(ctx)
        return list(out) if isinstance(out, (list, tuple)) else [out]
    except Exception as e:  # one broken check must not hide the others
        where = traceback.extract_tb(e.__traceback__)[-1]
        return [Row(name, FAIL, f"check crashed: {type(e).__name__}: {e} "
                                f"({Path(where.filename).name}:{where.lineno})")]


def run_checks(ctx: Context, checks: Iterable[Check] | None = None) -> list[Row]:
    checks = list(all_checks() if checks is None else checks)
    with ThreadPoolExecutor(max_workers=max(1, len(checks))) as pool:
        results = list(pool.map(lambda c: _isolated(c, ctx), checks))
    rows = [r for rs in results for r in rs]
    for r in rows:
        r.detail = mask_literals(str(r.detail), ctx.secrets)
    return rows


def report(home: Path, proxy_port: int = DEFAULT_PROXY_PORT) -> dict:
    """The `--json` shape: {"checks": [{"name", "status", "detail"}, ...]}."""
    return {"checks": [asdict(r) for r in run_checks(make_context(home, proxy_port))]}


def exit_code(checks: list[dict]) -> int:
    return 1 if any(c["status"] == FAIL for c in checks) else 0
