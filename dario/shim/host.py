"""The shim host: the pipeline served inside the launcher to its children.

Two doors, one handler (docs/architecture.md, "The shim relay protocol"):
- a unix socket in a private 0700 directory (socket 0600) for the payload and the injector,
  which name the original URL in `x-dario-target`;
- a loopback TCP listener for the base-URL fallback, where the run token is part of the path.
Both accept only this run's token. Children say hello by writing hello-<pid>.json into the
same private directory (a file write costs the child far less start-up than a connection).
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
import shutil
import stat
import tempfile
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from dario.net.server import Request, Response, Runner, Server, StreamResponse

from dario.core.call import CallContext
from dario.core.defaults import MAX_REQUEST_BODY as MAX_BODY
from dario.pipeline import protocol as proto
from dario.pipeline.backends import KNOWN
from dario.pipeline.engine import Pipeline
from dario.protocols import adapter
from dario.proxy.security import BrowserGuard

# where each provider's calls go when the user had no base URL of their own
PUBLIC_BASE = {name: KNOWN[name][0] for name in ("anthropic", "openai", "gemini")}


@dataclass
class ChildProcess:
    pid: int
    ppid: int | None
    runtime: str
    argv0: str
    argv: list[str]
    how: str  # "in-process" | "fallback" | "https-proxy"
    seen: float = field(default_factory=time.time)


def _no_websocket() -> Response:
    """dario carries HTTP, not WebSockets: refused at once, so a client that tries one first (Codex's
    Responses WebSocket) falls back to HTTPS streaming straight away."""
    return Response(status=404, body=proto.error_bytes(proto.OPENAI, 404, "dario: WebSocket upgrades are "
                        "not carried; use HTTP streaming"), content_type="application/json",
                        headers={"x-dario-error": "1"})


def _error_body(status: int, message: str) -> bytes:
    return proto.error_bytes(proto.ANTHROPIC, status, message)


def _deny(message: str, status: int = 401) -> Response:
    return Response(status=status, body=proto.error_bytes(proto.ANTHROPIC, status, message),
                        content_type="application/json", headers={"x-dario-error": "1"})


class ShimHost:
    def __init__(self, pipeline: Pipeline, *, run_id: str, observe: bool = False,
                 forced_model: str | None = None, original_bases: dict[str, str] | None = None,
                 on_process=None, guard: BrowserGuard | None = None) -> None:
        self.pipeline = pipeline
        self.guard = guard or BrowserGuard()
        self.run_id = run_id
        self.observe = observe
        self.forced_model = forced_model
        self.original_bases = {k: v.rstrip("/") for k, v in (original_bases or {}).items() if v}
        self.token = "dario-run-" + secrets.token_urlsafe(24)
        self.processes: dict[int, ChildProcess] = {}
        self._on_process = on_process
        self.dir: str | None = None
        self.socket_path: str | None = None
        self.port = 0
        self._runner: Runner | None = None
        self._peer_pids: dict[int, int | None] = {}
        self.connect = None  # shim/connect.ConnectProxy, once start_https_proxy() ran
        self._tls_servers: dict[str, Server] = {}

    @property
    def fallback_prefix(self) -> str:
        return f"http://127.0.0.1:{self.port}/t/{self.token}/"

    # -- lifecycle -------------------------------------------------------------
    async def start(self) -> "ShimHost":
        parents = runtime_parents()
        for p in parents:  # a killed launcher's dir may be in any of them (/tmp before this rule)
            sweep_stale_dirs(p)
        self.dir = tempfile.mkdtemp(prefix="dario-", dir=parents[0])
        os.chmod(self.dir, 0o700)
        with open(os.path.join(self.dir, OWNER), "w") as f:  # who may sweep it: see sweep_stale_dirs
            f.write(f"{os.getpid()} {_started(os.getpid())}")
        self.socket_path = os.path.join(self.dir, "host.sock")
        # a client that disconnects cancels its handler, which aborts the upstream call
        self._runner = Runner(Server(self._route, max_body=MAX_BODY, error_body=_error_body))
        await self._runner.unix(self.socket_path)
        self.port = await self._runner.tcp("127.0.0.1", 0)
        return self

    async def start_https_proxy(self, home, intercepted_hosts, environ: dict[str, str]) -> tuple[str, str]:
        """Also listen as an HTTPS (CONNECT) proxy, chaining blind tunnels through the user's own
        HTTPS_PROXY when there is one; returns the child's (CA bundle, Node extra CAs) paths."""
        from dario.shim.ca import LeafMint
        from dario.shim.connect import ConnectProxy
        hosts = {h.lower() for h in intercepted_hosts}
        mint = LeafMint(home, self.dir)

        def intercepted(host: str, port: int) -> bool:  # a bare host: any port; host:port: that one
            h = host.lower()
            return h in hosts or f"{h}:{port}" in hosts or f"[{h}]:{port}" in hosts

        upstream_proxy = environ.get("HTTPS_PROXY") or environ.get("https_proxy")  # chained, not replaced
        self.connect = await ConnectProxy(self.token, intercepted, mint.context, self._tls_handler,
                                          upstream_proxy).start()
        return mint.bundles(environ)

    def _tls_handler(self, host: str):
        """A request handler for the TLS stream of one intercepted CONNECT to `host`."""
        server = self._tls_servers.get(host)
        if server is None:
            async def handle(request: Request) -> Response | StreamResponse:
                return await self._through_proxy(request, host)

            server = self._tls_servers[host] = Server(handle, max_body=MAX_BODY, error_body=_error_body)
        return server()

    async def _through_proxy(self, request: Request, host: str) -> StreamResponse:
        if request.headers.get("upgrade", "").lower() == "websocket":
            return _no_websocket()
        target = f"https://{host}{request.path_qs}"
        return await self._call(request, target, self._peer_pid(request, self.connect.port), "https-proxy")

    async def _call(self, request, target: str, pid: int | None, how: str | None = None) -> StreamResponse:
        """The call to `target` through the pipeline; `how`: the door it came by, for a process that did
        not say hello (a native child on the fallback or the HTTPS proxy)."""
        if how is not None and pid is not None:
            proc = self.known(pid)
            if proc is None:
                self._remember(_describe(pid, how))
            elif proc.how == "in-process" and _exec_replaced(pid, proc.runtime):
                # the same pid, now another program: a Node launcher that exec'd its native binary
                # (Node >= 22.15 has process.execve; Codex's launcher uses it), whose calls come this way
                self._remember(_describe(pid, how), replace=True)
        return await self.pipeline.handle(request, self._ctx(target, pid, how or "in-process"),
                                          proto.protocol_for_path(urlsplit(target).path))

    async def close(self) -> None:
        self.collect_hellos()  # processes that never made a call were intercepted all the same
        if self.connect is not None:
            await self.connect.close()
        if self._runner is not None:
            await self._runner.cleanup()
        for server in self._tls_servers.values():  # intercepted TLS connections kept alive by the child
            await server.shutdown()
        await self.pipeline.close()
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    # -- handlers ----------------------------------------------------------------
    def _token_ok(self, given: str | None) -> bool:
        return bool(given) and hmac.compare_digest(given.encode(), self.token.encode())

    def _ctx(self, target: str, pid: int | None, door: str) -> CallContext:
        proc = self.known(pid)
        return CallContext(source="shim", run_id=self.run_id, pid=pid, client=proc.argv0 if proc else None,
                           forced_model=self.forced_model, observe=self.observe, target=target,
                           run_tokens=(self.token,), door=door)

    # -- hellos: each child's payload/injector writes hello-<pid>.json into our private dir --------
    def _hello_from(self, path: str) -> ChildProcess | None:
        try:
            with open(path, "rb") as f:
                info = json.loads(f.read())
            return ChildProcess(int(info["pid"]), info.get("ppid"), str(info.get("runtime", "?")),
                                str(info.get("argv0", "")), [str(a) for a in info.get("argv") or []], "in-process")
        except (OSError, ValueError, KeyError, TypeError):
            return None  # absent, or not ours to trust: the process stays unknown

    def known(self, pid: int | None) -> ChildProcess | None:
        """The process with this pid, reading its hello the first time it is met."""
        if pid is None:
            return None
        proc = self.processes.get(pid)
        if proc is None and self.dir:
            proc = self._hello_from(os.path.join(self.dir, f"hello-{pid}.json"))
            if proc is not None:
                self._remember(proc)
        return proc

    def collect_hellos(self) -> None:
        if not self.dir:
            return
        try:
            names = sorted(os.listdir(self.dir))
        except OSError:
            return
        for name in names:
            if name.startswith("hello-") and name.endswith(".json"):
                pid = name[6:-5]
                if pid.isdigit() and int(pid) not in self.processes:
                    self.known(int(pid))

    def _remember(self, proc: ChildProcess, replace: bool = False) -> None:
        if proc.pid in self.processes and not replace:
            return
        self.processes[proc.pid] = proc
        if self._on_process is not None:
            try:
                self._on_process(proc)
            except Exception:
                pass

    def _refused(self, request: Request, llm: bool) -> Response | None:
        """The browser rules, for the loopback TCP door only (the unix socket is ours alone)."""
        peer = request.transport.get_extra_info("peername") if request.transport else None
        if not isinstance(peer, tuple):
            return None
        refused = self.guard.refusal(request.method, request.headers, llm)
        return _deny(refused[1], refused[0]) if refused else None

    async def _route(self, request: Request) -> Response | StreamResponse:
        """/t/{token}/{provider}/{tail}: the fallback base URLs; anything else: a payload's relay."""
        if request.path.startswith("/t/"):
            parts = request.path[3:].split("/", 2)
            if len(parts) >= 2:
                request.match_info.update(token=parts[0], provider=parts[1], tail=parts[2] if len(parts) > 2 else "")
                return await self._fallback(request)
        return await self._relay(request)

    async def _relay(self, request: Request) -> StreamResponse:
        if not self._token_ok(request.headers.get("x-dario-token")):
            return _deny("dario: unknown run token")
        refused = self._refused(request, False)
        if refused is not None:
            return refused
        target = request.headers.get("x-dario-target", "")
        parts = urlsplit(target)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return _deny(f"dario: x-dario-target must be an absolute URL, got {target!r}", 400)
        if target.startswith(self.fallback_prefix):  # a payload relaying a fallback URL
            provider, _, tail = target[len(self.fallback_prefix):].partition("/")
            target = self._original_url(provider, tail)
            if target is None:
                return _deny(f"dario: unknown provider {provider!r} in fallback URL", 404)
        try:
            pid = int(request.headers.get("x-dario-pid", ""))
        except ValueError:
            pid = None
        return await self._call(request, target, pid)

    async def _fallback(self, request: Request) -> StreamResponse:
        if "x-dario-target" in request.headers:  # a payload relaying a fallback URL: it says who it is
            return await self._relay(request)
        if not self._token_ok(request.match_info["token"]):
            return _deny("dario: unknown run token")
        target = self._original_url(request.match_info["provider"], request.match_info["tail"])
        if target is None:
            return _deny(f"dario: unknown provider {request.match_info['provider']!r}", 404)
        refused = self._refused(request, proto.protocol_for_path(urlsplit(target).path) is not None)
        if refused is not None:
            return refused
        if request.query_string:
            target += "?" + request.query_string
        return await self._call(request, target, self._peer_pid(request), "fallback")

    def _original_url(self, provider: str, tail: str) -> str | None:
        """Map a fallback path back to where the child meant to call."""
        if provider not in PUBLIC_BASE:
            return None
        base = self.original_bases.get(provider) or PUBLIC_BASE[provider]
        # the fallback URL carries the provider's own path (/v1/...); the base may carry its prefix
        return adapter(provider).join(base, "/" + tail.lstrip("/"))

    def _peer_pid(self, request: Request, door: int | None = None) -> int | None:
        """Which child process owns this loopback connection to `door` (default: the fallback's
        port), so calls that did not come through the payload are attributed."""
        peer = request.transport.get_extra_info("peername") if request.transport else None
        if not peer:
            return None
        port = peer[1]
        if port in self._peer_pids:
            return self._peer_pids[port]
        pid = None
        try:
            import psutil
            for c in psutil.net_connections(kind="tcp4"):
                if c.laddr and c.laddr.port == port and c.raddr and c.raddr.port == (door or self.port):
                    pid = c.pid
                    break
        except Exception:  # psutil may be denied other users' sockets: attribution is best effort
            pid = None
        if len(self._peer_pids) > 4096:
            self._peer_pids.clear()
        self._peer_pids[port] = pid
        return pid


OWNER = "owner"


def _started(pid: int) -> str:
    """When a process started (so a reused pid is not taken for the launcher): /proc's start time."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError):
        return "?"


def _owner_alive(path: str) -> bool | None:
    """Whether the launcher that made this runtime dir still runs (None: no owner file)."""
    try:
        with open(os.path.join(path, OWNER)) as f:
            pid_s, _, started = f.read().partition(" ")
        pid = int(pid_s)
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return started in ("?", "") or _started(pid) in ("?", started)  # a reused pid is another process


def _shareable(path: str, private: bool) -> bool:
    """A directory dario may make its private dir in: ours and 0700 (XDG_RUNTIME_DIR), or a shared
    one that is sticky, so no other user can move our dir away (/dev/shm, /tmp)."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    if not stat.S_ISDIR(st.st_mode) or not os.access(path, os.W_OK | os.X_OK):
        return False
    if private:
        return st.st_uid == os.getuid() and not st.st_mode & 0o077
    return not st.st_mode & 0o002 or bool(st.st_mode & stat.S_ISVTX)


def runtime_parents() -> list[str]:
    """Where a run's private dir may go, best first: a memory-backed directory when there is one
    (XDG_RUNTIME_DIR, else /dev/shm), since every child that loads the payload or the injector creates
    its hello file there (~0.5 ms of each child's start-up on a disk-backed /tmp, ~15 us in memory;
    bench/ start-up), then /tmp. Short paths: unix socket paths are limited to ~104 bytes."""
    xdg = os.environ.get("XDG_RUNTIME_DIR", "")
    found = [p for p, private in ((xdg, True), ("/dev/shm", False), ("/tmp", False))
             if p and len(p) <= 76 and _shareable(p, private)]  # + /dario-XXXXXXXX/host.sock
    return list(dict.fromkeys(found)) or [tempfile.gettempdir()]


def sweep_stale_dirs(parent: str, min_age: float = 10.0) -> list[str]:
    """Remove dario-* runtime dirs of this user whose launcher is gone (a SIGKILLed launcher
    cannot clean up after itself). A dir without an owner file (older dario) is stale when
    nothing listens on its socket any more."""
    import socket
    removed = []
    try:
        names = [n for n in os.listdir(parent) if n.startswith("dario-")]
    except OSError:
        return removed
    now = time.time()
    for name in names:
        path = os.path.join(parent, name)
        try:
            st = os.lstat(path)
        except OSError:
            continue
        if not os.path.isdir(path) or os.path.islink(path) or st.st_uid != os.getuid() or now - st.st_mtime < min_age:
            continue
        alive = _owner_alive(path)
        if alive is None:  # no owner file: ours only if it has a socket, stale if nothing answers there
            sock = os.path.join(path, "host.sock")
            if not os.path.exists(sock):
                continue
            probe = socket.socket(socket.AF_UNIX)
            try:
                probe.connect(sock)
                alive = True
            except OSError:
                alive = False
            finally:
                probe.close()
        if alive is False:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _exec_replaced(pid: int, runtime: str) -> bool:
    """Whether the process that said hello as `runtime` now runs another executable."""
    try:
        import psutil
        name = os.path.basename(psutil.Process(pid).exe())
    except Exception:
        return False
    return not name.startswith({"node": "node", "bun": "bun", "python": "python"}.get(runtime, runtime))


def _describe(pid: int, how: str = "fallback") -> ChildProcess:
    try:
        import psutil
        p = psutil.Process(pid)
        argv = p.cmdline()
        return ChildProcess(pid, p.ppid(), "native", argv[0] if argv else p.name(), argv, how)
    except Exception:
        return ChildProcess(pid, None, "native", "?", [], how)
