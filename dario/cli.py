"""The `dario` command. Thin: parse, then call into the modules that do the work."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from contextlib import contextmanager
from typing import List, Optional

import typer

from dario import __version__, cli_cassette, cli_prices, cli_telemetry, cli_tools
from dario.store.config import ConfigError, load_config
from dario.store.home import CorruptFileError, dario_home, ensure_home

app = typer.Typer(add_completion=False, no_args_is_help=True, context_settings={"show_default": True},
                  help="See and steer every LLM API call a command-line program makes.")
backend_app = typer.Typer(no_args_is_help=True, help="Configure where calls go (keys stay under DARIO_HOME, 0600).")
app.add_typer(backend_app, name="backend")


def fail(message: str, code: int = 2) -> None:
    typer.echo(f"dario: {message}", err=True)
    raise typer.Exit(code)


def config():
    try:
        return load_config(ensure_home())
    except (ConfigError, CorruptFileError) as e:
        fail(str(e))


@contextmanager
def edited_config():
    """Load, let the command change it, save; a refused change is a clear error and saves nothing."""
    cfg = config()
    try:
        yield cfg
        cfg.save()
    except ConfigError as e:
        fail(str(e))


def _version(value: bool) -> None:
    if value:
        typer.echo(f"dario {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")) -> None:
    pass


# -- the local CA (the shim's HTTPS proxy) -----------------------------------------------------------
ca_app = typer.Typer(no_args_is_help=True, help="The local dario CA that signs intercepted hosts' certificates.")
app.add_typer(ca_app, name="ca")


@ca_app.command("show")
def ca_show() -> None:
    """Where the CA is, its fingerprint and expiry (made on the first `dario shim`).

    Example: dario ca show
    """
    from dario.shim.ca import describe
    info = describe(dario_home())
    if info is None:
        typer.echo("No dario CA yet: the first `dario shim` makes one.")
        raise typer.Exit(1)
    typer.echo(f"{info['subject']}\n  cert {info['cert']}\n  key  {info['key']} (key mode {info['key_mode']}, "
               f"never copied elsewhere)\n  sha256 {info['sha256']}\n  expires {info['expires']}")


@ca_app.command("rotate")
def ca_rotate() -> None:
    """Replace the CA with a new one (children of later runs trust the new one).

    Example: dario ca rotate
    """
    from dario.shim.ca import describe, load_or_create, remove
    remove(dario_home())
    load_or_create(dario_home())
    typer.echo(f"new CA: sha256 {describe(dario_home())['sha256']}")


@ca_app.command("remove")
def ca_remove() -> None:
    """Delete the CA (the next `dario shim` makes a new one).

    Example: dario ca remove
    """
    from dario.shim.ca import remove
    typer.echo("removed the dario CA" if remove(dario_home()) else "no dario CA to remove")


# -- backends ----------------------------------------------------------------
@backend_app.command("add")
def backend_add(name: str = typer.Argument(..., help="anthropic, openai, groq, openrouter, ollama, deepseek, "
                                                     "mistral, together, … or a name of your own"),
                key: List[str] = typer.Option([], "--key", help="API key, or env:VAR to read it from the "
                                                                "environment at use time. Repeatable."),
                base_url: Optional[str] = typer.Option(None, "--base-url", help="Needed for unknown names."),
                kind: Optional[str] = typer.Option(None, "--kind", help="anthropic, openai or gemini (default: "
                                                                        "openai for unknown names)"),
                responses: Optional[bool] = typer.Option(None, "--responses/--no-responses",
                                                         help="openai kind: the server answers /v1/responses "
                                                              "itself (default: only for openai); else Responses "
                                                              "calls are translated to Chat Completions"),
                rpm: Optional[int] = typer.Option(None, "--rpm", help="Client-side limit: requests per minute."),
                max_concurrency: Optional[int] = typer.Option(None, "--max-concurrency",
                                                              help="Client-side limit: calls in flight.")) -> None:
    """Add or replace a backend. Several --key make a pool: calls go to the key with most headroom.

    Examples: dario backend add anthropic --key env:ANTHROPIC_API_KEY · dario backend add ollama ·
    dario backend add gw --base-url https://gw.example/v1 --key env:GW_KEY --responses
    """
    with edited_config() as cfg:
        b = cfg.add_backend(name, key, base_url, kind, rpm=rpm, max_concurrency=max_concurrency,
                            responses=responses)
    typer.echo(f"backend {b.name}: {b.kind} at {b.base_url}, {len(b.keys)} key(s)"
               + (" (default)" if cfg.default_backend == b.name else ""))
    for ref in b.keys:  # saved all the same: the variable is read when a call needs it
        if ref.startswith("env:") and not os.environ.get(ref[4:]):
            typer.echo(f"warning: {ref[4:]} is not set here. Set it where dario runs (export {ref[4:]}=…), "
                       f"or calls to {b.name} will get a 401 that names it.", err=True)


@backend_app.command("list")
def backend_list(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List backends. Keys are never shown, only how many there are and env: references.

    Examples: dario backend list · dario backend list --json
    """
    cfg = config()
    rows = [{"name": b.name, "kind": b.kind, "base_url": b.base_url, "keys": len(b.keys),
             "key_refs": [k for k in b.keys if k.startswith("env:")], "default": b.name == cfg.default_backend,
             **({"limits": cfg.limits[b.name]} if b.name in cfg.limits else {})}
            for b in cfg.backends.values()]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        typer.echo("no backends configured: dario backend add NAME --key KEY")
        return
    from rich.console import Console
    from rich.table import Table
    t = Table("name", "kind", "base url", "keys", "default")
    for r in rows:
        keys = f"{r['keys']}" + (f" ({', '.join(r['key_refs'])})" if r["key_refs"] else "")
        t.add_row(r["name"], r["kind"], r["base_url"], keys, "*" if r["default"] else "")
    Console().print(t)


@backend_app.command("remove")
def backend_remove(name: str) -> None:
    """Remove a backend and its keys.

    Example: dario backend remove groq
    """
    with edited_config() as cfg:
        cfg.remove_backend(name)
    typer.echo(f"removed backend {name}")


keys_app = typer.Typer(no_args_is_help=True, help="Manage the key pool of a configured backend.")
backend_app.add_typer(keys_app, name="keys")


def _key_label(raw: str) -> str:
    from dario.pipeline.keys import key_id
    return raw if raw.startswith("env:") else key_id(raw)


@keys_app.command("add")
def keys_add(name: str, key: str = typer.Argument(..., help="API key, or env:VAR.")) -> None:
    """Add a key to a backend's pool.

    Example: dario backend keys add anthropic env:ANTHROPIC_KEY_2
    """
    with edited_config() as cfg:
        b = cfg.add_key(name, key)
    typer.echo(f"backend {name}: added {_key_label(key)}, {len(b.keys)} key(s)")


@keys_app.command("remove")
def keys_remove(name: str, key: str = typer.Argument(..., help="The key, its env:VAR, or its key id.")) -> None:
    """Remove a key from a backend's pool.

    Example: dario backend keys remove anthropic key-1a2b3c4d5e
    """
    with edited_config() as cfg:
        b = cfg.remove_key(name, key)
    typer.echo(f"backend {name}: removed a key, {len(b.keys)} left")


@keys_app.command("list")
def keys_list(name: str) -> None:
    """A backend's keys, as fingerprints (key-…) or env: references; never the keys themselves.

    Example: dario backend keys list anthropic
    """
    cfg = config()
    b = cfg.backends.get(name)
    if b is None:
        fail(f"no backend named {name!r}")
    for raw in b.keys:
        typer.echo(_key_label(raw))


# -- proxy -------------------------------------------------------------------
def _install_uvloop() -> None:
    try:
        import uvloop  # a dependency where it runs (not Windows, not PyPy): ~20 % off a proxied call's p50
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


# --record / --replay: the same options on `dario proxy` and `dario shim`
RECORD = typer.Option(None, "--record", metavar="FILE", help="Write every LLM call to this cassette (appends).")
REPLAY = typer.Option(None, "--replay", metavar="FILE", help="Answer every LLM call from this cassette: no "
                                                             "network, no key, no backend needed.")
ON_MISS = typer.Option("error", "--on-miss", metavar="error|passthrough|record",
                       help="A call the cassette does not hold: an error (default), sent upstream, or sent "
                            "upstream and appended.")
REPLAY_TIMING = typer.Option("none", "--replay-timing", metavar="recorded|none|xN",
                             help="Stream pace: as recorded, as fast as the client reads (default), or N times "
                                  "faster than recorded.")
REPLAY_IGNORE = typer.Option([], "--replay-ignore", metavar="PATH",
                             help="A body path matching ignores (dotted, * for any element). Repeatable.")


def cassette_options(record, replay, on_miss, timing, ignore):
    from dario.cassette import CassetteOptions
    return CassetteOptions(record=record, replay=replay, on_miss=on_miss, timing=timing, ignore=tuple(ignore))


@app.command()
def proxy(host: str = typer.Option("127.0.0.1", "--host", help="Address to bind."),
          port: int = typer.Option(3456, "--port", help="Port to bind (0: any free port)."),
          model: Optional[str] = typer.Option(None, "--model", help="Force every request to this model."),
          otlp: Optional[str] = typer.Option(None, "--otlp", help="Also export each call to this OTLP/HTTP "
                                                                  "endpoint."),
          queue_timeout: float = typer.Option(60.0, "--queue-timeout", help="Seconds a call may wait for a key "
                                                                            "with headroom before its 429."),
          connect_timeout: Optional[float] = typer.Option(None, "--connect-timeout", help="Upstream connect "
                                                                                          "timeout (s)."),
          first_byte_timeout: Optional[float] = typer.Option(None, "--first-byte-timeout",
                                                             help="Upstream time to first byte (s)."),
          idle_timeout: Optional[float] = typer.Option(None, "--idle-timeout", help="Upstream stream idle "
                                                                                    "timeout (s)."),
          budget: Optional[float] = typer.Option(None, "--budget", metavar="USD",
                                                 help="Refuse calls once this proxy has spent USD."),
          env_only: bool = typer.Option(False, "--env", help="Print the export lines for clients and exit."),
          record: Optional[str] = RECORD, replay: Optional[str] = REPLAY, on_miss: str = ON_MISS,
          replay_timing: str = REPLAY_TIMING, replay_ignore: List[str] = REPLAY_IGNORE,
          verbose: bool = typer.Option(False, "-v", "--verbose", help="Log each call to stderr.")) -> None:
    """Serve the pipeline over HTTP: /v1/messages, /v1/chat/completions, /v1/responses, Gemini's
    /v1beta/models/..., /v1/models, /health.

    Examples: dario proxy -v · dario proxy --port 4000 --model anthropic:claude-sonnet-4-5 · dario proxy --env
    """
    from dario.proxy.security import is_loopback
    from dario.proxy.server import build_app, start

    api_key = os.environ.get("DARIO_API_KEY") or None
    if env_only:
        from dario.proxy.server import export_lines
        typer.echo("\n".join(export_lines(host, port, bool(api_key))))
        return
    if not is_loopback(host) and not api_key:
        fail(f"refusing to serve on {host} (reachable from other machines) without DARIO_API_KEY set: "
             f"set DARIO_API_KEY to a secret clients must send, or bind 127.0.0.1")
    cfg = config()
    for k, v in (("connect", connect_timeout), ("first_byte", first_byte_timeout), ("idle", idle_timeout)):
        if v is not None:
            cfg.timeouts[k] = v  # this run only: not saved
    rt = _open(cfg, otlp_endpoint=otlp, extra_secrets=(api_key,) if api_key else (),
               queue_timeout=queue_timeout, budget_usd=budget,
               on_budget_warning=(lambda m: typer.echo(m, err=True)) if verbose else None,
               cassette=cassette_options(record, replay, on_miss, replay_timing, replay_ignore))
    if verbose:
        from dario.verbose import VerboseHook
        rt.pipeline.hooks.add(VerboseHook())
    record_run = getattr(rt.recorder, "record_run", None)
    if record_run:
        record_run(rt.run_id, source="proxy", argv=sys.argv, pid=os.getpid())

    async def serve() -> None:
        from dario.proxy.security import BrowserGuard
        from dario.proxy.server import export_lines
        from dario.store.home import home_fingerprint
        runner, bound = await start(build_app(rt.pipeline, api_key=api_key, forced_model=model, run_id=rt.run_id,
                                              guard=BrowserGuard.from_config(cfg), home=home_fingerprint(cfg.home)),
                                    host, port)
        from dario.core.process import settle_heap
        settle_heap()
        typer.echo(f"dario proxy listening on http://{host}:{bound} (run {rt.run_id})", err=True)
        typer.echo("\n".join(["point clients at it:", *export_lines(host, bound, bool(api_key))]), err=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await runner.cleanup()

    _install_uvloop()
    try:
        asyncio.run(serve())
    except OSError as e:
        fail(f"cannot listen on {host}:{port}: {e.strerror or e}")
    finally:
        rt.close()


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def shim(cmd: List[str] = typer.Argument(None, metavar="-- CMD [ARGS]...", help="The program to run."),
         model: Optional[str] = typer.Option(None, "--model", help="Force every routed call to this model "
                                                                   "(e.g. oai:gpt-4o-mini)."),
         observe: bool = typer.Option(False, "--observe", help="Change nothing; only record."),
         print_env: bool = typer.Option(False, "--print-env", help="Show what would be set, and why; run "
                                                                   "nothing."),
         base_url: bool = typer.Option(False, "--base-url", help="Also point ANTHROPIC_BASE_URL, "
                                       "OPENAI_BASE_URL and GOOGLE_GEMINI_BASE_URL at dario, for programs "
                                       "that honour nothing else."),
         intercept: List[str] = typer.Option([], "--intercept", help="Also intercept calls to this host. "
                                                                      "Repeatable."),
         queue_timeout: Optional[float] = typer.Option(None, "--queue-timeout", help="Seconds a call may wait "
                                                                                    "for a key with headroom."),
         otlp: Optional[str] = typer.Option(None, "--otlp", help="Also export each call to this OTLP/HTTP "
                                                                 "endpoint."),
         budget: Optional[float] = typer.Option(None, "--budget", metavar="USD",
                                                help="Refuse calls once this run has spent USD."),
         record: Optional[str] = RECORD, replay: Optional[str] = REPLAY, on_miss: str = ON_MISS,
         replay_timing: str = REPLAY_TIMING, replay_ignore: List[str] = REPLAY_IGNORE,
         verbose: bool = typer.Option(False, "-v", "--verbose", help="Calls and a summary on stderr.")) -> None:
    """Run CMD with its LLM calls intercepted in-process: dario shim [OPTIONS] -- CMD [ARGS]...

    Examples: dario shim -v -- claude --print hi · dario shim --model oai:gpt-4o-mini -- claude ·
    dario shim --record run.jsonl -- python agent.py
    """
    from dario.launcher.run import ShimOptions, exit_like, print_env as show_env, run_shim

    if not cmd:
        fail("nothing to run: dario shim [OPTIONS] -- CMD [ARGS]...")
    opts = ShimOptions(forced_model=model, observe=observe, verbose=verbose, print_env=print_env,
                       otlp_endpoint=otlp, intercept=tuple(intercept), queue_timeout=queue_timeout,
                       budget_usd=budget, base_url=base_url, cassette=cassette_options(record, replay, on_miss, replay_timing,
                                                                    replay_ignore))
    cfg = config()
    if print_env:
        raise typer.Exit(show_env(list(cmd), cfg, opts))
    from dario.cassette.format import CassetteError
    try:
        code = run_shim(list(cmd), cfg, opts)
    except CassetteError as e:
        fail(str(e))
    exit_like(code)


def _open(cfg, **kw):
    """open_runtime, with a bad cassette or cassette option a clean `dario:` error."""
    from dario.cassette.format import CassetteError
    from dario.runtime import open_runtime
    try:
        return open_runtime(cfg, **kw)
    except CassetteError as e:
        fail(str(e))


# log, usage, report; doctor, mcp, subagent: each module registers its own commands
cli_telemetry.register(app, dario_home)
cli_tools.register(app)
cli_prices.register(app, config, edited_config, fail)
cli_cassette.register(app, config, fail)


# readable metavars for options typer would show as Python types (<str>, <float>, <list[str]>)
METAVARS = {"model": "MODEL", "otlp": "URL", "host": "HOST", "port": "PORT", "intercept": "HOST", "n": "N",
            "queue_timeout": "SECONDS", "connect_timeout": "SECONDS", "first_byte_timeout": "SECONDS",
            "idle_timeout": "SECONDS", "key": "KEY", "base_url": "URL", "kind": "KIND", "rpm": "N",
            "max_concurrency": "N", "by": "GROUP", "since": "AGE", "out": "FILE", "run": "RUN", "name": "NAME"}


def readable(cmd) -> None:
    """Help that reads like the README: flags show no type, values a name (MODEL, SECONDS, URL)."""
    for p in getattr(cmd, "params", []):  # typer's own click: matched by kind, not by class
        kind = getattr(p, "param_type_name", "")
        if kind == "option" and p.metavar is None:
            p.metavar = "" if getattr(p, "is_flag", False) else METAVARS.get(p.name, p.name.upper())
        if kind == "argument":
            p.metavar = p.metavar or p.name.upper()
            p.display_type_rich = lambda ctx: None  # the metavar already says it
    orig = getattr(cmd, "get_help_option", None)
    if orig is not None:
        def help_option(ctx, _orig=orig):
            opt = _orig(ctx)
            if opt is not None:
                opt.metavar = ""
            return opt
        cmd.get_help_option = help_option
    for sub in getattr(cmd, "commands", {}).values():
        readable(sub)


def main() -> None:
    import typer.main
    cmd = typer.main.get_command(app)
    readable(cmd)
    shim_cmd = cmd.commands.get("shim")
    if shim_cmd is not None:  # not "[-- CMD [ARGS]...]...": the command is required, after --
        shim_cmd.collect_usage_pieces = lambda ctx: ["[OPTIONS]", "-- CMD [ARGS]..."]
    try:
        cmd(prog_name="dario")
    except KeyboardInterrupt:
        sys.exit(130)
