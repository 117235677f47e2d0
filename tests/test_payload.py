"""The Node payload (dario/js_payload/payload.cjs) in real Node processes, against the stand-in host.

Each test runs `node tests/node_clients/<client>` with NODE_OPTIONS=--require <payload> and the stand-in's
DARIO_SHIM_* variables; the stand-in relays to the fake upstream, so the official npm clients
talk to their DEFAULT base URLs and still get the fake's answers.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from aiohttp import web

from tests.support.fake_upstream import ANSWER, TOOL_ARGS
from tests.support.standin_host import StandinHost

ROOT = Path(__file__).resolve().parent.parent
PAYLOAD = ROOT / "dario" / "js_payload" / "payload.cjs"
JS = ROOT / "tests" / "node_clients"
SDK_CLIENT = JS / "sdk_client.mjs"
NODE = "node"

pytestmark = pytest.mark.skipif(
    subprocess.run([NODE, "--version"], capture_output=True).returncode != 0
    or not (ROOT / "node_modules" / "openai").is_dir(),
    reason="node and the npm test clients are needed")


class Standin(StandinHost):
    """The stand-in plus two routes the fake upstream lacks: a slow SSE stream that notes
    when its client goes away, and a 204."""

    def __init__(self, upstream_url: str) -> None:
        super().__init__(upstream_url)
        self.slow_closed = False

    async def _relay(self, request):
        target = request.headers.get("x-dario-target", "")
        if request.headers.get("x-dario-token") == self.token and target.endswith("/nocontent"):
            self.relayed.append({"target": target, "pid": request.headers.get("x-dario-pid"),
                                 "headers": dict(request.headers), "body": await request.read()})
            return web.Response(status=204)
        if request.headers.get("x-dario-token") == self.token and target.endswith("/slow"):
            self.relayed.append({"target": target, "pid": request.headers.get("x-dario-pid"),
                                 "headers": dict(request.headers), "body": await request.read()})
            resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
            await resp.prepare(request)
            try:
                for i in range(100):
                    await resp.write(f"data: {i}\n\n".encode())
                    await asyncio.sleep(0.05)
                    if request.transport is None or request.transport.is_closing():
                        raise ConnectionResetError
            except (ConnectionResetError, asyncio.CancelledError):
                self.slow_closed = True
                raise
            return resp
        return await super()._relay(request)


@pytest.fixture
def host(upstream):
    h = Standin(upstream.url).start()
    yield h
    h.stop()


def child_env(extra: dict) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ANTHROPIC_", "OPENAI_", "DARIO_", "NODE_OPTIONS", "HTTP_PROXY", "HTTPS_PROXY",
                                "http_proxy", "https_proxy"))}
    env.update({"NODE_OPTIONS": f"--require {PAYLOAD}", "ANTHROPIC_API_KEY": "sk-ant-test",
                "OPENAI_API_KEY": "sk-test"})
    env.update(extra)
    return env


def run(args: list, env: dict, timeout: float = 20) -> subprocess.CompletedProcess:
    p = subprocess.run([NODE, *map(str, args)], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=timeout)
    assert p.returncode == 0, p.stderr
    return p


def run_json(args: list, env: dict, timeout: float = 20) -> dict:
    p = run(args, env, timeout)
    lines = p.stdout.splitlines()
    assert len(lines) == 1, p.stdout  # the payload itself prints nothing
    return json.loads(lines[0])


def hdrs(rel: dict) -> dict:
    return {k.lower(): v for k, v in rel["headers"].items()}


def wait_for(cond, timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


# -- official SDKs, default base URLs -------------------------------------------------------

@pytest.mark.parametrize("mode", ["plain", "stream", "tools"])
def test_anthropic_sdk(host, upstream, mode):
    p = subprocess.Popen([NODE, SDK_CLIENT, json.dumps({"sdk": "anthropic", "mode": mode, "model": "claude-test"})],
                         cwd=ROOT, env=child_env(host.env()),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = p.communicate(timeout=20)
    assert p.returncode == 0, err
    res = json.loads(out)
    if mode == "plain":
        assert res["text"] == ANSWER
    elif mode == "stream":
        assert res["deltas"] > 1 and res["text"] == ANSWER
    else:
        assert res["partial"] > 1 and res["tool"]["input"] == TOOL_ARGS
    [rel] = host.relayed
    assert rel["target"] == "https://api.anthropic.com/v1/messages"
    assert rel["pid"] == str(p.pid)
    h = hdrs(rel)  # this SDK version sends the key as a bearer token
    assert h.get("x-api-key") == "sk-ant-test" or h.get("authorization") == "Bearer sk-ant-test"
    assert json.loads(rel["body"])["messages"][0]["content"] == "Say hello"
    assert upstream.last().path == "/v1/messages"


@pytest.mark.parametrize("mode", ["plain", "stream", "tools"])
def test_openai_sdk(host, upstream, mode):
    res = run_json([SDK_CLIENT, json.dumps({"sdk": "openai", "mode": mode, "model": "gpt-test"})], child_env(host.env()))
    if mode == "plain":
        assert res["text"] == ANSWER
    elif mode == "stream":
        assert res["deltas"] > 1 and res["text"] == ANSWER
    else:
        assert res["tool"]["name"] == "get_weather" and res["partial"] > 1 and res["tool"]["input"] == TOOL_ARGS
    [rel] = host.relayed
    assert rel["target"] == "https://api.openai.com/v1/chat/completions"
    assert hdrs(rel)["authorization"] == "Bearer sk-test"
    assert hdrs(rel)["x-dario-token"] == host.token


# -- raw fetch ------------------------------------------------------------------------------

def test_fetch_url_status_headers(host):
    res = run_json([JS / "fetch_raw.mjs", "basic"], child_env(host.env()))
    assert res["url"] == res["cloneUrl"] == "https://api.anthropic.com/v1/messages?beta=true"
    assert res["status"] == 200 and res["statusText"] == "OK"
    assert res["ctype"].startswith("application/json") and res["rate"] == "1000"
    assert json.loads(res["text"])["content"][0]["text"] == ANSWER
    assert host.relayed[0]["target"] == "https://api.anthropic.com/v1/messages?beta=true"


def test_fetch_body_kinds(host):
    res = run_json([JS / "fetch_raw.mjs", "bodies"], child_env(host.env()))
    for kind in ("string", "buffer", "uint8", "arraybuffer", "blob", "stream", "request"):
        assert res[kind][:2] == [200, ANSWER], kind
    assert res["request"][2] == "https://api.anthropic.com/v1/messages?beta=true"
    assert res["form"] == [400, "invalid_request_error"]  # the fake wants JSON: a 4xx passes through
    bodies = [r["body"] for r in host.relayed]
    assert all(json.loads(b)["messages"] for b in bodies[:7])
    assert bodies[7] == b"a=1&b=x+y"
    assert hdrs(host.relayed[7])["content-type"].startswith("application/x-www-form-urlencoded")
    assert hdrs(host.relayed[5]).get("transfer-encoding") == "chunked"  # the stream is streamed
    assert hdrs(host.relayed[0])["content-length"] == str(len(bodies[0]))


def test_fetch_4xx_passthrough(host):
    res = run_json([JS / "fetch_raw.mjs", "error4xx"], child_env(host.env()))
    assert res["status"] == 400 and res["ok"] is False
    assert res["url"] == "https://api.openai.com/v1/chat/completions"
    assert res["body"]["error"]["type"] == "invalid_request_error"


def test_fetch_head_and_204(host):
    res = run_json([JS / "fetch_raw.mjs", "head"], child_env(host.env()))
    assert res["head"] == [200, None, "https://api.openai.com/v1/models"]
    assert res["nocontent"] == [204, None, ""]


def test_fetch_abort_mid_stream(host):
    t0 = time.monotonic()
    res = run_json([JS / "fetch_raw.mjs", "abort"], child_env(host.env()))
    assert res == {"first": "data: 0\n\n", "err": "AbortError", "pre": "AbortError"}
    assert time.monotonic() - t0 < 4  # the 5 s stream was not waited for
    assert wait_for(lambda: host.slow_closed), "the host never saw the relay connection close"
    assert len(host.relayed) == 1  # the pre-aborted call never reached the host


def test_https_request_forms(host):
    env = child_env(host.env())
    post = run_json([JS / "https_request.mjs", "post"], env)
    assert post["status"] == 200 and json.loads(post["body"])["choices"][0]["message"]["content"] == ANSWER
    get = run_json([JS / "https_request.mjs", "get"], env)
    assert get["status"] == 200 and json.loads(get["body"])["data"][0]["id"] == "fake-model-1"
    opts = run_json([JS / "https_request.mjs", "opts"], env)
    assert opts["status"] == 200
    targets = [r["target"] for r in host.relayed]
    assert targets == ["https://api.openai.com/v1/chat/completions?x=1", "https://api.openai.com/v1/models",
                       "https://api.openai.com/v1/chat/completions"]
    assert json.loads(host.relayed[0]["body"])["model"] == "gpt-test"  # written in two pieces
    assert hdrs(host.relayed[0])["host"] == "api.openai.com"


def test_other_hosts_untouched(host, upstream):
    res = run_json([JS / "fetch_raw.mjs", "url", upstream.url + "/v1/models"], child_env(host.env()))
    assert res["status"] == 200 and "fake-model-1" in res["text"]
    assert host.relayed == [] and upstream.requests[-1].path == "/v1/models"
    assert "x-dario-token" not in {k.lower() for k in upstream.requests[-1].headers}


def test_fallback_prefix_is_intercepted(host):
    url = host.env()["DARIO_SHIM_FALLBACK"] + "anthropic/v1/messages"
    res = run_json([JS / "fetch_raw.mjs", "post", url], child_env(host.env(hosts="")))
    assert res["status"] == 200 and ANSWER in res["text"], res
    [rel] = host.relayed
    assert rel["target"] == url and hdrs(rel)["x-dario-token"] == host.token


# -- hello, grandchildren, loading ----------------------------------------------------------

def test_hello_and_grandchild(host):
    p = subprocess.Popen([NODE, JS / "spawn_child.mjs"], cwd=ROOT, env=child_env(host.env()),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = p.communicate(timeout=20)
    assert p.returncode == 0, err
    res = json.loads(out)
    assert res["child"]["status"] == 200
    assert wait_for(lambda: len(host.hellos) == 2)
    by_pid = {h["pid"]: h for h in host.hellos}
    parent = by_pid[p.pid]
    assert parent["ppid"] == os.getpid() and parent["runtime"] == "node"
    assert parent["argv0"] == NODE and parent["argv"][1].endswith("spawn_child.mjs")
    [child] = [h for h in host.hellos if h["pid"] != p.pid]
    assert child["ppid"] == p.pid and child["argv"][1].endswith("fetch_raw.mjs")
    [rel] = host.relayed  # the grandchild's call was intercepted too
    assert rel["pid"] == str(child["pid"])


def test_double_require_loads_once_and_quiet(host):
    env = child_env(host.env())
    env["NODE_OPTIONS"] = f"--require {PAYLOAD} --require {PAYLOAD}"
    p = run(["-e", "process.stdout.write(String(typeof fetch) + '\\n')"], env)
    assert p.stdout == "function\n" and p.stderr == ""
    assert wait_for(lambda: len(host.hellos) == 1)
    time.sleep(0.2)
    assert len(host.hellos) == 1
    res = run_json([JS / "fetch_raw.mjs", "error4xx"], env)
    assert res["status"] == 400 and len(host.relayed) == 1


def test_node_e_empty_is_quick_and_silent(host):
    env = child_env(host.env())
    run(["-e", ""], env)  # warm the disk cache
    t0 = time.monotonic()
    p = run(["-e", ""], env, timeout=10)
    assert time.monotonic() - t0 < 2.0  # loose sanity bound; bench/ measures the real cost
    assert p.stdout == "" and p.stderr == ""
    assert wait_for(lambda: len(host.hellos) >= 1)  # even a process that exits at once says hello


def test_startup_stays_light_and_debug_goes_to_stderr(host):
    env = child_env({**host.env(), "DARIO_DEBUG": "1"})
    code = ("const l = process.moduleLoadList.join(' ');"
            "process.stdout.write(['NativeModule tls', 'NativeModule https', 'deps/undici'].filter(m => l.includes(m)).join() + '|')")
    p = run(["-e", code], env)
    assert p.stdout == "|"  # https/tls and fetch's undici are loaded only when a program uses them
    assert "dario-payload: installed" in p.stderr


def test_http_is_patched_lazily_where_node_can(host):
    """Node >= 22.15 (module.registerHooks): net and _http_agent load only when the program first imports
    http or https, by require or by an ESM import, and the patch is in place before its first request.
    Older Node patches at start-up. Either way the https_request/http tests above hold."""
    env = child_env(host.env())
    lazy = run(["-e", "process.stdout.write(String(typeof require('module').registerHooks === 'function'))"],
               child_env({})).stdout == "true"
    # listed before process.stdout is touched: a pipe's stream loads net itself
    loaded = run(["-e", "const l = process.moduleLoadList.filter((m) => /NativeModule (net|_http_agent)$/.test(m));"
                  "process.stdout.write(l.join())"], env).stdout
    assert loaded == ("" if lazy else "NativeModule net,NativeModule _http_agent")
    for how in ("cjs", "esm"):
        code = ("import https from 'node:https'; console.log(String(https.Agent.prototype.addRequest).includes('matches'))"
                if how == "esm" else "console.log(String(require('https').Agent.prototype.addRequest).includes('matches'))")
        args = ["--input-type=module", "-e", code] if how == "esm" else ["-e", code]
        assert run(args, env).stdout == "true\n", how


def test_no_patching_without_env(upstream):
    env = child_env({})
    code = ("const f = globalThis.fetch, h = require('https').request;"
            "process.stdout.write(String(f.toString().includes('lazy') || f.toString().includes('undici')) + ' '"
            " + String(Symbol.for('dario.shim.payload') in globalThis) + '\\n')")
    p = run(["-e", code], env)
    assert p.stdout == "true false\n"


# -- host gone ------------------------------------------------------------------------------

@pytest.fixture(params=["missing", "refused"])
def dead_sock(request):
    """A socket path with no host behind it: absent (ENOENT) or a stale file (ECONNREFUSED)."""
    d = tempfile.mkdtemp(prefix="dario-dead-")
    path = os.path.join(d, "host.sock")
    if request.param == "refused":
        s = socket.socket(socket.AF_UNIX)
        s.bind(path)
        s.close()
    yield path
    shutil.rmtree(d)  # may hold the hello a child wrote beside a stale socket


def gone_env(sock: str, hosts: str, strict: str = "") -> dict:
    return child_env({"DARIO_SHIM_SOCK": sock, "DARIO_SHIM_TOKEN": "dario-run-tok",
                      "DARIO_SHIM_HOSTS": hosts, "DARIO_SHIM_STRICT": strict,
                      "DARIO_SHIM_FALLBACK": "http://127.0.0.1:9/t/dario-run-tok/"})


def test_host_gone_fails_open(upstream, dead_sock):
    hostport = upstream.url.split("//")[1]
    env = gone_env(dead_sock, hostport)
    t0 = time.monotonic()
    res = run_json([JS / "fetch_raw.mjs", "post", upstream.url + "/v1/messages"], env, timeout=10)
    assert res["status"] == 200 and ANSWER in res["text"]
    res = run_json([JS / "http_request.cjs", upstream.url + "/v1/chat/completions"], env, timeout=10)
    assert res["status"] == 200 and ANSWER in res["text"]
    assert time.monotonic() - t0 < 5
    assert all("x-dario-token" not in {k.lower() for k in r.headers} for r in upstream.requests)
    assert len(upstream.requests) == 2


@pytest.mark.parametrize("why", ["strict", "star", "token", "fallback"])
def test_host_gone_strict_rejects(upstream, dead_sock, why):
    hostport = upstream.url.split("//")[1]
    env = gone_env(dead_sock, hostport, strict={"strict": hostport, "star": "*"}.get(why, ""))
    if why == "token":
        env["KEY"] = "dario-run-tok"
    url = ("http://127.0.0.1:9/t/dario-run-tok/anthropic/v1/messages" if why == "fallback"
           else upstream.url + "/v1/messages")
    res = run_json([JS / "fetch_raw.mjs", "post", url], env, timeout=10)
    assert res["error"].startswith("dario:") and "gone" in res["error"], res
    res = run_json([JS / "http_request.cjs", url], env, timeout=10)
    assert res["error"].startswith("dario:") and "gone" in res["error"], res
    assert upstream.requests == []


@pytest.mark.parametrize("strict", [True, False])
def test_host_dying_during_a_fetch(upstream, strict):
    """The host takes the relayed call and dies without answering: strict calls get the dario error,
    others fail open to their original URL (the body was in memory, so it can go again)."""
    host = Standin(upstream.url).start()
    try:
        host.die_on_next = True
        target = upstream.url + "/v1/messages"
        env = child_env(host.env(hosts=upstream.url.split("//")[1], strict="*" if strict else ""))
        t0 = time.monotonic()
        res = run_json([JS / "fetch_raw.mjs", "post", target], env)
        assert time.monotonic() - t0 < 10
        assert len(host.relayed) == 1  # the call did reach the host before it died
        if strict:
            assert res["error"].startswith("dario: the dario host is gone"), res
        else:
            assert res["status"] == 200 and ANSWER in res["text"], res
    finally:
        host.stop()


# -- the undici package ---------------------------------------------------------------------------

UNDICI = JS / "undici_client.mjs"
UNDICI_WAYS = ["request", "fetch", "stream", "global-agent", "pool"]


def undici(env: dict, how: str, url: str, **spec) -> dict:
    return run_json([UNDICI, json.dumps({"how": how, "url": url, **spec})], env)


@pytest.mark.parametrize("how", UNDICI_WAYS)
def test_undici_package_is_relayed(host, upstream, how):
    """undici.request/fetch/stream, a global Agent set by the child and its own Pool: each caught,
    with the module loaded by an ESM import after start-up."""
    res = undici(child_env(host.env()), how, "https://api.anthropic.com/v1/messages?beta=true")
    assert res.get("status") == 200 and ANSWER in res["text"], res
    if how == "fetch":
        assert res["url"] == "https://api.anthropic.com/v1/messages?beta=true"
    [rel] = host.relayed
    assert rel["target"] == "https://api.anthropic.com/v1/messages?beta=true" and rel["pid"] == str(res["pid"])
    assert hdrs(rel)["host"] == "api.anthropic.com" and hdrs(rel)["x-api-key"] == "sk-own"
    assert upstream.last().path == "/v1/messages?beta=true"
    assert "x-dario-token" not in {k.lower() for k in upstream.last().headers}


def test_undici_streams_and_leaves_other_hosts_alone(host, upstream):
    res = undici(child_env(host.env()), "request", "https://api.anthropic.com/v1/messages", sse=True)
    assert res["status"] == 200 and res["events"] > 3 and "message_stop" in res["text"]
    res = undici(child_env(host.env()), "request", upstream.url + "/v1/messages")
    assert res["status"] == 200 and len(host.relayed) == 1  # the second went direct
    assert "x-dario-token" not in {k.lower() for k in upstream.last().headers}


def test_undici_host_gone(upstream, dead_sock):
    hostport = upstream.url.split("//")[1]
    res = undici(gone_env(dead_sock, hostport), "request", upstream.url + "/v1/messages")
    assert res["status"] == 200 and len(upstream.requests) == 1  # failed open, untouched
    assert "x-dario-token" not in {k.lower() for k in upstream.last().headers}
    res = undici(gone_env(dead_sock, hostport, strict=hostport), "fetch", upstream.url + "/v1/messages")
    assert res["error"]["message"].startswith("dario: the dario host is gone") or \
        "dario: the dario host is gone" in res["error"]["message"], res
    assert len(upstream.requests) == 1


@pytest.mark.parametrize("client", ["fetch", "http", "undici"])
def test_the_run_token_never_leaves_for_a_host_dario_does_not_intercept(host, upstream, client):
    """A call holding the run token as its key, to a host no door of dario's covers, fails with a dario
    error before anything is sent."""
    env = child_env({**host.env(), "KEY": host.token})
    url = upstream.url + "/v1/messages"
    if client == "fetch":
        code = ("fetch(process.argv[1], {method: 'POST', headers: {'x-api-key': process.env.KEY}, body: '{}'})"
                ".then((r) => console.log(JSON.stringify({status: r.status})),"
                " (e) => console.log(JSON.stringify({error: e.message})))")
        res = run_json(["-e", code, url], env)
    elif client == "http":
        res = run_json([JS / "http_request.cjs", url], env)
    else:
        res = undici(env, "request", url, key=host.token)
        res["error"] = res.get("error", {}).get("message")
    assert (res.get("error") or "").startswith("dario: refusing to send this run's token to 127.0.0.1:"), res
    assert upstream.requests == [] and host.relayed == []


# -- kept-alive connections to the host --------------------------------------------------------

class CountingHost(Standin):
    """Notes which connection each relayed call came on; `drop_reused` aborts the first call that
    arrives on a connection used before, without an answer (a host that closed it as the call came)."""

    def __init__(self, upstream_url: str) -> None:
        super().__init__(upstream_url)
        self.conns: list[int] = []  # per call: which connection (1, 2, ...), -1 for the dropped one
        self._seen: list = []  # the protocols themselves: kept, so no id is reused
        self.drop_reused = False

    async def _relay(self, request):
        proto = request.protocol
        known = any(p is proto for p in self._seen)
        if self.drop_reused and known:
            self.drop_reused = False
            self.conns.append(-1)
            request.transport.abort()
            return web.Response(status=500)
        if not known:
            self._seen.append(proto)
        self.conns.append(next(i for i, p in enumerate(self._seen, 1) if p is proto))
        return await super()._relay(request)


FETCH_THRICE = """
(async () => {
  const out = [];
  for (let i = 0; i < 3; i++) {
    const r = await fetch('https://api.openai.com/v1/chat/completions', { method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer sk-test' },
      body: JSON.stringify({ model: 'gpt-test', messages: [{ role: 'user', content: 'Say hello' }] }) });
    out.push(r.status);
    await r.json();
  }
  process.stdout.write(JSON.stringify(out) + '\\n');
})();
"""


@pytest.mark.parametrize("drop", [False, True])
def test_calls_reuse_a_kept_alive_connection_and_survive_one_the_host_dropped(upstream, drop):
    h = CountingHost(upstream.url).start()
    try:
        h.drop_reused = drop
        t = time.monotonic()
        p = run(["-e", FETCH_THRICE], child_env(h.env()))
        assert json.loads(p.stdout) == [200, 200, 200]
        assert time.monotonic() - t < 10  # idle pooled sockets never hold the program open
        if drop:  # the second call lost its reused connection and went again on a fresh one
            assert h.conns[1] == -1 and len(set(h.conns) - {-1}) == 2 and len(h.conns) == 4
        else:
            assert len(h.conns) == 3 and len(set(h.conns)) == 1  # one connection for all three calls
    finally:
        h.stop()
