"""`dario shim -- CMD`: host the pipeline, run CMD with its calls intercepted, mirror its exit.

Transparency rules: the child shares dario's process group, TTY, stdin, stdout and stderr,
so Ctrl-C reaches it directly (dario ignores SIGINT/SIGQUIT and waits); SIGTERM, SIGHUP and
SIGUSR1/2 sent to dario are forwarded; dario exits with the child's code, and a child killed
by a signal makes dario die of the same signal.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from urllib.parse import urlsplit

from dario.launcher.detect import detect
from dario.launcher.env import DEFAULT_HOSTS, ChildEnv, build_child_env, original_bases, precompile_injector
from dario.core.process import settle_heap
from dario.loop_thread import LoopThread
from dario.runtime import open_runtime
from dario.proxy.security import BrowserGuard
from dario.shim.host import ShimHost
from dario.store.config import Config
from dario.verbose import Tally, VerboseHook

FORWARDED = (signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2)
IGNORED = (signal.SIGINT, signal.SIGQUIT)  # the terminal sends these to the child itself


@dataclass
class ShimOptions:
    forced_model: str | None = None
    observe: bool = False
    verbose: bool = False
    print_env: bool = False
    otlp_endpoint: str | None = None
    intercept: tuple[str, ...] = ()
    queue_timeout: float | None = None
    budget_usd: float | None = None
    cassette: object = None  # dario.cassette.CassetteOptions
    base_url: bool = False  # --base-url: also point the base-URL variables at the fallback door


def intercepted_hosts(cfg: Config, environ: dict[str, str], extra: tuple[str, ...]) -> list[str]:
    hosts = list(DEFAULT_HOSTS)
    hosts += [b.host for b in cfg.backends.values()]
    hosts += [urlsplit(u).netloc for u in original_bases(environ).values()]
    hosts += list(extra)
    return list(dict.fromkeys(h for h in hosts if h))


def strict_hosts(cfg: Config, opts: ShimOptions) -> list[str]:
    """Calls that dario would route: if the host is gone they must not silently go elsewhere."""
    if opts.observe:
        return []
    if opts.forced_model:
        return ["*"]
    hosts = [b.host for b in cfg.backends.values()]
    if any(b.kind == "anthropic" for b in cfg.backends.values()):
        hosts.append("api.anthropic.com")
    if "openai" in cfg.backends:
        hosts.append("api.openai.com")
    if any(b.kind == "gemini" for b in cfg.backends.values()):
        hosts.append("generativelanguage.googleapis.com")
    return list(dict.fromkeys(hosts))


def key_env_refs(cfg: Config) -> list[str]:
    return [k[4:] for b in cfg.backends.values() for k in b.keys if k.startswith("env:")]


def print_env(cmd: list[str], cfg: Config, opts: ShimOptions, out=sys.stdout) -> int:
    import tempfile
    from dario.shim.host import runtime_parents
    kind = detect(cmd[0])
    private = f"{runtime_parents()[0]}/dario-XXXXXX"
    with tempfile.TemporaryDirectory() as scratch:  # where a payload under a spaced path would be copied
        child = build_child_env(dict(os.environ), socket_path=f"{private}/host.sock", token="<token>",
                                fallback="http://127.0.0.1:<port>/t/<token>/",
                                hosts=intercepted_hosts(cfg, dict(os.environ), opts.intercept),
                                strict=strict_hosts(cfg, opts), private_dir=scratch, observe=opts.observe,
                                key_env_refs=key_env_refs(cfg), https_proxy="http://dario:<token>@127.0.0.1:<port>",
                                ca_bundle=f"{private}/ca-bundle.pem", node_ca=f"{private}/node-extra-ca.pem",
                                base_url=opts.base_url, kind=kind.kind)
    print(f"# {cmd[0]}: {kind.kind} ({kind.why})", file=out)
    for name, (value, why) in child.set.items():
        print(f"{name}={value}\n    # {why}", file=out)
    for name, why in child.removed.items():
        print(f"unset {name}\n    # {why}", file=out)
    for name, why in child.kept.items():
        print(f"unchanged: {name}\n    # {why}", file=out)
    return 0


def run_shim(cmd: list[str], cfg: Config, opts: ShimOptions) -> int:
    """Run the command; returns its exit code (or dies of the signal that killed it)."""
    kind = detect(cmd[0])
    if kind.kind == "missing":
        print(f"dario: {kind.why}", file=sys.stderr)
        return 127
    _quiet_logs(opts.verbose)
    warn = (lambda m: print(m, file=sys.stderr, flush=True)) if opts.verbose else None
    rt = open_runtime(cfg, otlp_endpoint=opts.otlp_endpoint, queue_timeout=opts.queue_timeout,
                      budget_usd=opts.budget_usd, on_budget_warning=warn, cassette=opts.cassette)
    tally = Tally() if opts.verbose else None  # the -v summary only: no per-call work without it
    if tally is not None:
        rt.pipeline.hooks.add(VerboseHook(), tally)
    record_process = getattr(rt.recorder, "record_process", None)

    def on_process(proc) -> None:
        if record_process:
            record_process(rt.run_id, pid=proc.pid, ppid=proc.ppid, runtime=proc.runtime, argv0=proc.argv0,
                           how=proc.how)
        if opts.verbose:
            print(f"dario: {proc.how}: pid {proc.pid} ({proc.runtime}) {proc.argv0}", file=sys.stderr)

    environ = dict(os.environ)
    host = ShimHost(rt.pipeline, run_id=rt.run_id, observe=opts.observe, forced_model=opts.forced_model,
                    original_bases=original_bases(environ), on_process=on_process,
                    guard=BrowserGuard.from_config(cfg))
    loop = LoopThread("dario-shim-host")
    try:
        loop.run(host.start())
        hosts = intercepted_hosts(cfg, environ, opts.intercept)
        # every kind: a Node or Python child is caught in-process first, but it may start a native
        # program (Codex's npm launcher starts its Rust binary), which only the proxy reaches
        bundle, node_ca = loop.run(host.start_https_proxy(cfg.home, hosts, environ))
        proxy = host.connect.proxy_url()
        precompile_injector()
        settle_heap()
        child_env = build_child_env(environ, socket_path=host.socket_path, token=host.token,
                                    fallback=host.fallback_prefix, hosts=hosts,
                                    strict=strict_hosts(cfg, opts), private_dir=host.dir,
                                    observe=opts.observe, key_env_refs=key_env_refs(cfg),
                                    https_proxy=proxy, ca_bundle=bundle, node_ca=node_ca,
                                    base_url=opts.base_url, kind=kind.kind)
        record_run = getattr(rt.recorder, "record_run", None)
        if record_run:
            record_run(rt.run_id, source="shim", argv=cmd, pid=os.getpid())
        if opts.verbose:
            print(f"dario: run {rt.run_id}: {cmd[0]} is {kind.kind} ({kind.why})", file=sys.stderr)
        returncode = _spawn_and_wait(cmd, child_env)
    finally:
        try:
            loop.run(host.close(), timeout=10)
        except Exception:
            pass
        loop.stop()
        tunnels = dict(host.connect.tunnels) if host.connect is not None else {}
        record_tunnels = getattr(rt.recorder, "record_tunnels", None)
        if record_tunnels:
            record_tunnels(rt.run_id, tunnels)
        rt.close()
    if tally is not None:
        from dario.shim.coverage import coverage_lines
        print(tally.summary(rt.run_id), file=sys.stderr)
        for line in coverage_lines(tally.doors, tunnels):
            print(f"dario: {line}", file=sys.stderr)
    tape = rt.pipeline.cassette
    if tape is not None and tape.misses:  # said even without -v: a replay that missed is not a replay
        print(f"dario: {tape.misses} call(s) matched nothing recorded in {tape.path}"
              + (f" ({tape.on_miss})" if tape.on_miss != "error" else ""), file=sys.stderr)
    return returncode


def _quiet_logs(verbose: bool) -> None:
    """dario shares the child's stderr: without -v its own and aiohttp's logs print nothing
    (Python would otherwise print warnings through logging's last-resort handler)."""
    import logging
    for name in ("dario", "aiohttp"):
        lg = logging.getLogger(name)
        lg.propagate = False
        lg.addHandler(logging.StreamHandler() if verbose and name == "dario" else logging.NullHandler())


def _spawn_and_wait(cmd: list[str], child_env: ChildEnv) -> int:
    previous = {s: signal.getsignal(s) for s in FORWARDED + IGNORED}
    try:
        from dario.core import process
        preexec = process.child_preexec if process._saved_core_limit is not None else None
        child = subprocess.Popen(cmd, env=child_env.env, preexec_fn=preexec)
    except OSError as e:
        print(f"dario: cannot run {cmd[0]}: {e.strerror or e}", file=sys.stderr)
        return 126 if isinstance(e, PermissionError) else 127
    # ignored only after the spawn: an ignored signal would stay ignored in the child across exec
    for s in IGNORED:
        signal.signal(s, signal.SIG_IGN)

    def forward(signum, _frame) -> None:
        try:
            child.send_signal(signum)
        except ProcessLookupError:
            pass

    for s in FORWARDED:
        signal.signal(s, forward)
    try:
        return child.wait()
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def exit_like(returncode: int) -> None:
    """Leave the way the child did: same code, or death by the same signal (the shell sees 128+N)."""
    if returncode < 0:
        sig = -returncode
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            signal.signal(sig, signal.SIG_DFL)
        except (OSError, ValueError):  # SIGKILL/SIGSTOP cannot be set, and need not be
            pass
        os.kill(os.getpid(), sig)
        sys.exit(128 + sig)  # only if the signal did not end us (e.g. SIGCHLD-like ones)
    sys.exit(returncode)
