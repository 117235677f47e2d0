"""The Python injector (dario/shim/injector/: sitecustomize.py + _dario_injector.py), tested through real
child processes.

Each test runs a script from tests/py_clients/ with the injector on PYTHONPATH and a stand-in host's
DARIO_SHIM_* variables; the stand-in forwards relayed calls to the fake upstream. Children print one
JSON line on stdout, so any stdout pollution by the injector breaks the parse.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
from aiohttp import web

from tests.support.fake_upstream import TOOL_ARGS
from tests.support.standin_host import StandinHost

ROOT = Path(__file__).resolve().parent.parent
INJECTOR = str(ROOT / "dario" / "shim" / "injector")
CLIENTS = ROOT / "tests" / "py_clients"
PYTHON = sys.executable
ANTHROPIC = "https://api.anthropic.com/v1/messages"
OPENAI = "https://api.openai.com/v1/chat/completions"
CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


# -- helpers -------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def _standin(_upstream_server):
    host = StandinHost(_upstream_server.url).start()
    yield host
    host.stop()


@pytest.fixture
def standin(_standin, upstream):
    _standin.clear_hellos()
    _standin.relayed.clear()
    return _standin


def child_env(dario: dict | None, pythonpath: str = INJECTOR, **extra) -> dict:
    """The test's environment without provider/proxy/dario settings, plus `dario` and `extra`."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ANTHROPIC_", "OPENAI_", "DARIO_", "PYTHON")) and "proxy" not in k.lower()}
    env.update(PYTHONPATH=pythonpath, ANTHROPIC_API_KEY="sk-ant-user", OPENAI_API_KEY="sk-user")
    env.update(dario or {})
    env.update(extra)
    return env


def run(args: list[str], env: dict, timeout: float = 30) -> dict:
    p = subprocess.run([PYTHON, *args], env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert len(lines) == 1, f"stdout polluted: {p.stdout!r}"  # the client's own JSON line only
    out = json.loads(lines[0])
    out["_stderr"] = p.stderr
    return out


def sdk(provider: str, mode: str, env: dict) -> dict:
    return run([str(CLIENTS / "sdk_client.py"), provider, mode], env)


def http(env: dict, lib: str, url: str, timeout: float = 30, **spec) -> dict:
    return run([str(CLIENTS / "http_client.py"), json.dumps({"lib": lib, "url": url, **spec})], env, timeout)


LIBS = [("httpx", False), ("httpx", True), ("httpx2", False), ("httpx2", True), ("requests", False),
        ("urllib", False), ("http.client", False), ("aiohttp", True), ("urllib3", False)]
LIB_IDS = ["httpx", "httpx-async", "httpx2", "httpx2-async", "requests", "urllib", "http.client", "aiohttp",
           "urllib3"]


# -- official SDKs, default base URLs ------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["sync", "async", "stream", "astream", "tools", "atools"])
@pytest.mark.parametrize("provider,target", [("anthropic", ANTHROPIC), ("openai", OPENAI)])
def test_official_sdks_are_relayed(standin, upstream, provider, target, mode):
    out = sdk(provider, mode, child_env(standin.env()))
    assert "error" not in out, out
    if mode in ("sync", "async"):
        assert out["url"] == target  # response.url is the original URL
        assert out["text"] == upstream.answer
    elif "tools" in mode:
        assert out["tool_input"] == TOOL_ARGS
        assert len(out["deltas"]) > 1 and json.loads("".join(out["deltas"])) == TOOL_ARGS
    else:
        assert len(out["deltas"]) > 1 and "".join(out["deltas"]) == out["text"] == upstream.answer
    assert [(r["target"], r["pid"]) for r in standin.relayed] == [(target, str(out["pid"]))]
    assert standin.relayed[0]["headers"]["x-dario-token"] == standin.token
    assert "x-dario-token" not in {k.lower() for k in upstream.last().headers}


# -- plain HTTP clients --------------------------------------------------------------------------------

@pytest.mark.parametrize("lib,is_async", LIBS, ids=LIB_IDS)
def test_plain_clients_are_relayed(standin, upstream, lib, is_async):
    out = http(child_env(standin.env()), lib, OPENAI + "?x=1", json=CHAT, **{"async": is_async})
    assert "error" not in out, out
    assert out["patched"] and out["status"] == 200
    assert json.loads(out["text"])["choices"][0]["message"]["content"] == upstream.answer
    if lib not in ("urllib3", "http.client"):
        assert out["url"] == OPENAI + "?x=1"
    assert [(r["target"], r["pid"]) for r in standin.relayed] == [(OPENAI + "?x=1", str(out["pid"]))]
    assert upstream.last().path == "/v1/chat/completions?x=1"


@pytest.mark.parametrize("lib", ["httpx", "httpx2"])
def test_mounted_transports_are_relayed(standin, lib):
    out = http(child_env(standin.env()), lib, OPENAI, json=CHAT, mount=True)
    assert out["status"] == 200 and [r["target"] for r in standin.relayed] == [OPENAI]


@pytest.mark.parametrize("lib", ["httpx2", "requests"])
def test_fallback_prefix_is_relayed(standin, lib):
    url = standin.env()["DARIO_SHIM_FALLBACK"] + "openai/v1/chat/completions"
    out = http(child_env(standin.env()), lib, url, json=CHAT)
    assert "error" not in out and out["url"] == url and out["status"] == 200
    assert [(r["target"], r["pid"]) for r in standin.relayed] == [(url, str(out["pid"]))]


@pytest.mark.parametrize("lib,is_async", [l for l in LIBS if l[0] != "urllib3"], ids=LIB_IDS[:-1])
def test_streamed_responses_and_4xx_pass_through(standin, upstream, lib, is_async):
    env = child_env(standin.env())
    out = http(env, lib, ANTHROPIC, json={**CHAT, "stream": True}, stream=True, **{"async": is_async})
    assert out["status"] == 200 and out.get("url", ANTHROPIC) == ANTHROPIC
    events = [json.loads(line[6:]) for line in "".join(c for c, _ in out["chunks"]).splitlines()
              if line.startswith("data: ")]
    assert "".join(e["delta"]["text"] for e in events if e["type"] == "content_block_delta") == upstream.answer
    assert events[-1]["type"] == "message_stop"
    upstream.fail_next(status=429)
    out = http(env, lib, ANTHROPIC, json=CHAT, **{"async": is_async})
    assert out["status"] == 429 and json.loads(out["text"])["error"]["type"] == "rate_limit_error"


# -- streaming both ways, no buffering -----------------------------------------------------------------

class SlowHost:
    """A unix-socket host that timestamps request-body chunks as they arrive and answers SSE with a gap
    between two events: buffering on either side shows up as missing gaps."""

    GAP = 0.5

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="dario-slow-")
        self.sock = os.path.join(self.dir, "host.sock")
        self.arrivals: list[tuple[float, bytes]] = []
        self.ready = threading.Event()
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self._run, daemon=True).start()
        assert self.ready.wait(10)

    def _run(self):
        async def handle(request):
            async for chunk in request.content.iter_any():
                self.arrivals.append((time.monotonic(), chunk))
            resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
            await resp.prepare(request)
            await resp.write(b"data: 1\n\n")
            await asyncio.sleep(self.GAP)
            await resp.write(b"data: 2\n\n")
            await resp.write_eof()
            return resp

        async def start():
            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", handle)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.UnixSite(runner, self.sock).start()

        self.loop.run_until_complete(start())
        self.ready.set()
        self.loop.run_forever()

    def env(self):
        return {"DARIO_SHIM_SOCK": self.sock, "DARIO_SHIM_TOKEN": "dario-run-slow",
                "DARIO_SHIM_HOSTS": "api.openai.com"}


@pytest.fixture(scope="module")
def slow_host():
    host = SlowHost()
    yield host
    host.loop.call_soon_threadsafe(host.loop.stop)


@pytest.mark.parametrize("lib,is_async", [l for l in LIBS if l[0] != "urllib3"], ids=LIB_IDS[:-1])
def test_bodies_stream_both_ways(slow_host, lib, is_async):
    slow_host.arrivals.clear()
    out = http(child_env(slow_host.env()), lib, OPENAI, slow_body=[["part1", "part2"], SlowHost.GAP],
               stream=True, **{"async": is_async})
    assert out["status"] == 200, out
    # request body: the host saw the first part a gap before the second
    sent = [(t, c) for t, c in slow_host.arrivals if c]
    assert b"".join(c for _, c in sent) == b"part1part2"
    assert sent[-1][0] - sent[0][0] >= SlowHost.GAP * 0.6
    # response body: the first event reached the caller a gap before the second
    got = out["chunks"]
    assert "".join(c for c, _ in got) == "data: 1\n\ndata: 2\n\n"
    assert got[-1][1] - got[0][1] >= SlowHost.GAP * 0.6


# -- scope: untouched hosts, hello, grandchildren, no env ----------------------------------------------

@pytest.mark.parametrize("lib,is_async", [("httpx", False), ("httpx2", True), ("requests", False),
                                          ("urllib", False), ("http.client", False), ("aiohttp", True)])
def test_other_hosts_are_untouched(standin, upstream, lib, is_async):
    out = http(child_env(standin.env()), lib, upstream.url + "/v1/chat/completions", json=CHAT,
               **{"async": is_async})
    assert out["patched"] and out["status"] == 200
    assert standin.relayed == []
    assert not any(k.lower().startswith("x-dario") for k in upstream.last().headers)


def test_hello(standin):
    out = http(child_env(standin.env()), "requests", OPENAI, json=CHAT)
    deadline = time.monotonic() + 5
    while not standin.hellos and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(standin.hellos) == 1
    hello = standin.hellos[0]
    assert hello["pid"] == out["pid"] and hello["ppid"] == os.getpid() and hello["runtime"] == "python"
    assert hello["argv0"] == PYTHON and hello["argv"][:2] == [PYTHON, str(CLIENTS / "http_client.py")]


def test_grandchild_is_intercepted(standin):
    out = run([str(CLIENTS / "spawn.py"), str(CLIENTS / "sdk_client.py"), "openai", "sync"],
              child_env(standin.env()))
    grandchild = out["child"]
    assert out["rc"] == 0 and grandchild["text"], out
    assert [(r["target"], r["pid"]) for r in standin.relayed] == [(OPENAI, str(grandchild["pid"]))]
    time.sleep(0.2)
    assert {(h["pid"], h["ppid"]) for h in standin.hellos} == {
        (out["pid"], os.getpid()), (grandchild["pid"], out["pid"])}


def test_inert_without_dario_env(upstream):
    out = http(child_env(None), "httpx", upstream.url + "/v1/chat/completions", json=CHAT)
    assert out["status"] == 200 and out["patched"] is False


def test_empty_program_prints_nothing(standin):
    def timed(env):
        t = time.monotonic()
        p = subprocess.run([PYTHON, "-c", ""], env=env, capture_output=True, timeout=10)
        return p, time.monotonic() - t

    env = child_env(standin.env())
    p, _ = timed(env)
    assert (p.returncode, p.stdout, p.stderr) == (0, b"", b"")
    # loose sanity bound only; the real start-up figure is bench/'s job
    with_dario = min(timed(env)[1] for _ in range(5))
    without = min(timed(child_env(None, pythonpath=""))[1] for _ in range(5))
    assert with_dario - without < 0.05


# -- chaining to the sitecustomize the child would have loaded -----------------------------------------

USER_SITECUSTOMIZE = """
import os, sys
with open(os.environ["MARKER"], "a") as f:
    f.write("%s %s\\n" % (__name__, __file__))
{extra}
"""


@pytest.mark.parametrize("with_dario", [True, False])
def test_chains_to_next_sitecustomize_once(standin, tmp_path, with_dario):
    user = tmp_path / "user"
    user.mkdir()
    (user / "sitecustomize.py").write_text(USER_SITECUSTOMIZE.format(extra=""))
    marker = tmp_path / "marker"
    env = child_env(standin.env() if with_dario else None, pythonpath=os.pathsep.join([INJECTOR, str(user)]),
                    MARKER=str(marker))
    out = http(env, "httpx", OPENAI if with_dario else standin.upstream_url + "/v1/chat/completions", json=CHAT)
    assert out["status"] == 200 and out["patched"] is with_dario and out["_stderr"] == ""
    assert marker.read_text() == f"sitecustomize {user / 'sitecustomize.py'}\n"
    assert len(standin.relayed) == (1 if with_dario else 0)


def test_failing_chained_sitecustomize_behaves_as_without_dario(standin, tmp_path):
    user = tmp_path / "user"
    user.mkdir()
    (user / "sitecustomize.py").write_text(USER_SITECUSTOMIZE.format(extra="raise RuntimeError('boom')"))
    marker = tmp_path / "marker"

    def stderr(pythonpath, dario):
        p = subprocess.run([PYTHON, "-c", "import sys; print('sitecustomize' in sys.modules)"],
                           env=child_env(dario, pythonpath=pythonpath, MARKER=str(marker)),
                           capture_output=True, text=True, timeout=10)
        return p.returncode, p.stdout, p.stderr

    alone = stderr(str(user), None)
    assert "Error in sitecustomize" in alone[2] and "RuntimeError: boom" in alone[2]
    assert stderr(os.pathsep.join([INJECTOR, str(user)]), standin.env()) == alone
    assert marker.read_text().count("\n") == 2  # once per run
    # and dario still works in that child
    out = http(child_env(standin.env(), pythonpath=os.pathsep.join([INJECTOR, str(user)]),
                         MARKER=str(marker)), "requests", OPENAI, json=CHAT)
    assert out["status"] == 200 and len(standin.relayed) == 1


def test_chaining_loads_no_module_the_child_did_not_ask_for(standin, tmp_path):
    """Debian's and Ubuntu's python3 ship a sitecustomize (apport's), so every child there chains. Doing
    that through importlib.util loaded contextlib, collections and functools into each one (+45 % of a
    bare python3's start-up). -S keeps this interpreter's own .pth files (this venv's editable install
    imports importlib.util) out of it; site.execsitecustomize() then runs the real start-up step."""
    user = tmp_path / "user"
    user.mkdir()
    (user / "sitecustomize.py").write_text(USER_SITECUSTOMIZE.format(extra=""))
    code = ("import site, sys; before = set(sys.modules); site.execsitecustomize(); "
            "print(' '.join(sorted(set(sys.modules) - before)))")
    p = subprocess.run([PYTHON, "-S", "-c", code], capture_output=True, text=True, timeout=10,
                       env=child_env(standin.env(), pythonpath=os.pathsep.join([INJECTOR, str(user)]),
                                     MARKER=str(tmp_path / "marker")))
    assert (p.stdout.split(), p.stderr) == (["_dario_injector", "sitecustomize"], "")
    assert (tmp_path / "marker").read_text() == f"sitecustomize {user / 'sitecustomize.py'}\n"


# -- the host is gone ----------------------------------------------------------------------------------

@pytest.fixture
def dead_sock(tmp_path):
    """Makes a socket path for a gone host: "missing" (ENOENT), "refused" (bound, not listening:
    ECONNREFUSED) or "backlog-full" (listening, never accepting; an async connect waits for its 2 s)."""
    held = []

    def make(state):
        path = str(tmp_path / "host.sock")
        if state != "missing":
            srv = socket.socket(socket.AF_UNIX)
            srv.bind(path)
            held.append(srv)
            if state == "backlog-full":
                srv.listen(0)
                for _ in range(64):
                    c = socket.socket(socket.AF_UNIX)
                    c.setblocking(False)
                    try:
                        c.connect(path)
                    except BlockingIOError:
                        c.close()
                        break
                    held.append(c)
        return path

    yield make
    for s in held:
        s.close()


def gone_env(sock, hosts, strict=""):
    return child_env({"DARIO_SHIM_SOCK": sock, "DARIO_SHIM_TOKEN": "dario-run-gone",
                      "DARIO_SHIM_HOSTS": hosts, "DARIO_SHIM_STRICT": strict,
                      "DARIO_SHIM_FALLBACK": "http://127.0.0.1:9/t/dario-run-gone/"})


GONE_ERRORS = {"httpx": "httpx.ConnectError", "httpx2": "httpx2.ConnectError",
               "requests": "requests.exceptions.ConnectionError", "urllib": "urllib.error.URLError",
               "http.client": "builtins.OSError", "aiohttp": "ClientConnectionError"}


GONE_CASES = [pytest.param(state, lib, is_async, id=f"{state}-{name}")
              for state in ("missing", "refused")
              for (lib, is_async), name in zip(LIBS[:-1], LIB_IDS[:-1])] + [
    pytest.param("backlog-full", "httpx2", True, id="backlog-full-httpx2-async"),
    pytest.param("backlog-full", "requests", False, id="backlog-full-requests")]


@pytest.mark.parametrize("state,lib,is_async", GONE_CASES)
def test_host_gone_fails_open_or_strict(upstream, dead_sock, state, lib, is_async):
    dead_sock = dead_sock(state)
    hostport = upstream.url.split("//")[1]
    url = upstream.url + "/v1/chat/completions"
    # not strict: the call goes to its original URL untouched
    out = http(gone_env(dead_sock, hostport), lib, url, json=CHAT, **{"async": is_async})
    assert "error" not in out, out
    assert out["status"] == 200 and out["elapsed"] < 5
    assert not any(k.lower().startswith("x-dario") for k in upstream.last().headers)
    # strict: the library's own connect error, saying dario's host is gone; nothing reaches upstream
    seen = len(upstream.requests)
    out = http(gone_env(dead_sock, hostport, strict=hostport), lib, url, json=CHAT, **{"async": is_async})
    assert out["error"]["type"].endswith(GONE_ERRORS[lib]), out
    # urllib wraps the reason as "<urlopen error REASON>", its own form for every connect error
    assert out["error"]["message"].removeprefix("<urlopen error ").startswith("dario: the dario host is gone"), out
    assert out["elapsed"] < 5 and len(upstream.requests) == seen


@pytest.mark.parametrize("lib", ["httpx2", "requests", "urllib3"])
def test_host_gone_fallback_url_and_star_are_strict(upstream, dead_sock, lib):
    dead_sock = dead_sock("refused")
    out = http(gone_env(dead_sock, "api.openai.com"), lib, "http://127.0.0.1:9/t/dario-run-gone/openai/v1/models")
    assert out["error"]["message"].startswith("dario: the dario host is gone"), out
    out = http(gone_env(dead_sock, upstream.url.split("//")[1], strict="*"), lib, upstream.url + "/v1/models")
    assert out["error"]["message"].startswith("dario: the dario host is gone"), out


def test_host_gone_run_token_as_key_is_strict(upstream, tmp_path):
    env = gone_env(str(tmp_path / "nope.sock"), "api.anthropic.com", strict="")
    env["ANTHROPIC_API_KEY"] = "dario-run-gone"
    out = sdk("anthropic", "sync", env)
    assert out["error"]["type"] == "APIConnectionError"
    assert out["error"]["cause"]["type"] == "ConnectError"
    assert out["error"]["cause"]["message"].startswith("dario: the dario host is gone")


@pytest.mark.parametrize("lib", ["httpx", "httpx2", "requests"])
@pytest.mark.parametrize("strict", [True, False])
def test_host_dying_during_a_call(upstream, lib, strict):
    """The host dies while it holds a relayed call (after a first call left a pooled connection). That
    call must not fail as a mere transport error: strict, it is the dario error; otherwise it fails open."""
    host = StandinHost(upstream.url).start()
    target = f"{upstream.url}/v1/messages"  # interceptable, and reachable directly when failing open
    env = child_env(host.env(hosts=upstream.url.split("//")[1], strict="*" if strict else ""))
    p = subprocess.Popen([PYTHON, str(CLIENTS / "two_calls.py"), lib, target], env=env, cwd=ROOT,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = json.loads(p.stdout.readline())
        assert first["status"] == 200 and len(host.relayed) == 1
        host.die_on_next = True
        p.stdin.write("go\n")
        p.stdin.flush()
        second = json.loads(p.stdout.readline())
    finally:
        p.kill()
        p.wait(10)
        host.stop()
    assert second["seconds"] < 5
    if strict:
        assert "dario: the dario host is gone" in second["error"]
    else:
        assert second.get("status") == 200, second  # went to the original URL itself


@pytest.mark.parametrize("lib,is_async", LIBS, ids=LIB_IDS)
def test_the_run_token_never_leaves_for_a_host_dario_does_not_intercept(standin, upstream, lib, is_async):
    """A call holding the run token as its key, to a host no door of dario's covers, fails with a dario
    error before anything is sent: the token is worthless there, and no provider should see it."""
    out = http(child_env(standin.env()), lib, upstream.url + "/v1/messages", json=CHAT,
               headers={"x-api-key": standin.token}, **{"async": is_async})
    assert "error" in out, out
    assert "dario: refusing to send this run's token to 127.0.0.1" in out["error"]["message"], out
    assert upstream.requests == [] and standin.relayed == []
    out = http(child_env(standin.env()), lib, upstream.url + "/v1/messages", json=CHAT,
               headers={"x-api-key": "sk-own"}, **{"async": is_async})
    assert out["status"] == 200 and len(upstream.requests) == 1  # the child's own key goes as always


def test_the_injectors_bytecode_is_written_even_under_pythondontwritebytecode(tmp_path, monkeypatch):
    """Python reads a .pyc under PYTHONDONTWRITEBYTECODE but never writes one: without this, every Python
    child compiled the injector again (~12 ms of its start-up)."""
    import importlib.util
    import shutil
    import sys
    from dario.launcher import env as launcher_env
    copy = tmp_path / "injector"
    shutil.copytree(launcher_env.INJECTOR_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    names = ("sitecustomize.py", "_dario_injector.py", "_dario_patches.py")
    pyc = {n: importlib.util.cache_from_source(str(copy / n)) for n in names}
    child = {"PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(copy),
             "DARIO_SHIM_SOCK": str(tmp_path / "no-host.sock"), "DARIO_SHIM_TOKEN": "dario-run-x"}
    r = subprocess.run([sys.executable, "-c", "import sys; print('_dario_injector' in sys.modules, "
                        "'_dario_patches' in sys.modules)"], env=child, capture_output=True, text=True, timeout=30)
    assert r.stdout.split() == ["True", "False"], r.stderr  # the relays are not loaded at start-up
    assert os.path.exists(pyc["_dario_injector.py"])  # the child wrote its own, the flag notwithstanding
    assert not os.path.exists(pyc["_dario_patches.py"])
    r = subprocess.run([sys.executable, "-c", "import http.client, sys; print('_dario_patches' in sys.modules, "
                        "sys.dont_write_bytecode)"], env=child, capture_output=True, text=True, timeout=30)
    assert r.stdout.split() == ["True", "True"], r.stderr  # loaded with the first patched library; flag restored
    assert os.path.exists(pyc["_dario_patches.py"])
    assert not os.path.exists(pyc["sitecustomize.py"])  # site.py imported that one before any of our code ran
    monkeypatch.setattr(launcher_env, "INJECTOR_DIR", copy)
    launcher_env.precompile_injector()  # what `dario shim` does before starting the child
    assert all(os.path.exists(p) for p in pyc.values())


def test_the_hellos_json_reads_back_as_what_was_written():
    """The injector writes its hello with a JSON encoder of its own (no json import at start-up): every
    text, plain or not (quotes, control characters, non-ASCII, astral, undecodable argv bytes), reads back."""
    import importlib.util
    import json as std_json

    from hypothesis import given, settings
    from hypothesis import strategies as st

    from dario.launcher.env import INJECTOR_DIR

    spec = importlib.util.spec_from_file_location("_hello_json", INJECTOR_DIR / "_dario_injector.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # no DARIO_SHIM_* in this process: it installs nothing

    @settings(max_examples=300, deadline=None)
    @given(st.lists(st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF)), max_size=4),
           st.integers(min_value=0, max_value=2**31))
    def roundtrip(argv, pid):
        value = {"pid": pid, "argv": argv}
        text = mod._json(value)
        assert text.isascii() and std_json.loads(text) == value

    roundtrip()


def test_the_start_up_hook_watches_exactly_the_libraries_the_patches_patch():
    """_dario_injector names the patched libraries without importing the patches (that is their point):
    the two lists must not drift apart, or a library would be patched never, or looked for in vain."""
    import importlib.util
    import sys

    from dario.launcher.env import INJECTOR_DIR

    sys.path.insert(0, str(INJECTOR_DIR))
    try:
        spec = importlib.util.spec_from_file_location("_dario_injector", INJECTOR_DIR / "_dario_injector.py")
        injector = importlib.util.module_from_spec(spec)
        sys.modules["_dario_injector"] = injector
        spec.loader.exec_module(injector)  # no DARIO_SHIM_* in this process: it installs nothing
        import _dario_patches
        assert injector._PATCHED == frozenset(_dario_patches.PATCHERS)
    finally:
        sys.path.remove(str(INJECTOR_DIR))
        sys.modules.pop("_dario_injector", None)
        sys.modules.pop("_dario_patches", None)
