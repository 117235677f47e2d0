"""No way in from the network or a web page, no key leaves its place, pools don't stampede,
long streams survive, no core file, no stale runtime directory."""

from __future__ import annotations

import asyncio
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import requests
from hypothesis import example, given, settings
from hypothesis import strategies as st

from dario.pipeline.backends import Backend
from dario.proxy.security import BrowserGuard, is_loopback
from dario.redact import MASK, redact
from tests.support.dario_proxy import start_proxy
from tests.support.shim import base_env, dario_cmd, run_shim

ANT = {"model": "claude-x", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}


# -- binding -------------------------------------------------------------------------------------

@pytest.mark.parametrize("host", ["", " ", "0", "0.0.0.0", "::", "[::]", "no-such-host.invalid"])
def test_every_wildcard_or_unknown_spelling_is_not_loopback(host):
    assert not is_loopback(host)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.9.9.9", "::1", "[::1]", "::ffff:127.0.0.1", "localhost"])
def test_loopback_spellings(host):
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["", "0", "0.0.0.0", "::", "[::]"])
def test_proxy_refuses_a_wildcard_bind_without_a_key(home, host):
    r = subprocess.run(dario_cmd("proxy", "--host", host, "--port", "0"), env=base_env(home),
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "DARIO_API_KEY" in r.stderr and "listening" not in r.stderr


# -- browsers ------------------------------------------------------------------------------------

def _post(server, headers=None, data=None):
    return requests.post(server.url + "/v1/messages", data=data if data is not None else json.dumps(ANT),
                         headers={"Content-Type": "application/json", **(headers or {})}, timeout=10)


@pytest.mark.parametrize("headers,status,words", [
    ({"Origin": "http://evil.example"}, 403, "web page"),
    ({"Host": "rebind.evil.example:3456"}, 403, "not a loopback name"),
    ({"Origin": "http://evil.example", "Host": "rebind.evil.example:3456", "Content-Type": "text/plain"}, 403, ""),
    ({"Content-Type": "text/plain"}, 415, "application/json"),
    ({"Content-Type": "application/x-www-form-urlencoded"}, 415, "application/json"),
])
def test_keyless_proxy_refuses_what_a_web_page_can_send(proxy, upstream, headers, status, words):
    r = _post(proxy, headers)
    body = r.json()
    assert r.status_code == status and body["type"] == "error" and words in body["error"]["message"]
    assert upstream.requests == []  # nothing reached the provider, no key spent


def test_keyless_proxy_refuses_cors_preflight(proxy, upstream):
    r = requests.options(proxy.url + "/v1/messages", headers={
        "Origin": "http://evil.example", "Access-Control-Request-Method": "POST"}, timeout=10)
    assert r.status_code == 403 and "access-control-allow-origin" not in {k.lower() for k in r.headers}


def test_loopback_clients_and_allowed_origins_still_work(upstream):
    assert _post_ok(upstream, {})
    from tests.support.dario_proxy import fake_backends
    from dario.pipeline.engine import Pipeline
    from dario.proxy.server import build_app
    from tests.support.threaded import ThreadedApp
    guard = BrowserGuard(frozenset({"dario.internal"}), frozenset({"http://ok.example"}))
    server = ThreadedApp(lambda: build_app(Pipeline(fake_backends(upstream.url), default_backend="anthropic"),
                                           guard=guard)).start()
    try:
        for h in ({"Origin": "http://ok.example"}, {"Host": "dario.internal"},
                  {"Host": "localhost:1234"}, {"Host": "[::1]:9"}):
            assert _post(server, h).status_code == 200, h
        assert _post(server, {"Origin": "http://other.example"}).status_code == 403
    finally:
        server.stop()


def _post_ok(upstream, headers) -> bool:
    server, _ = start_proxy(upstream.url)
    try:
        return _post(server, headers).status_code == 200
    finally:
        server.stop()


def test_with_a_gate_key_the_key_decides(upstream):
    server, _ = start_proxy(upstream.url, api_key="gate-key-0123456789")
    try:
        r = _post(server, {"Origin": "http://evil.example", "x-api-key": "gate-key-0123456789"})
        assert r.status_code == 200
        assert _post(server, {"x-api-key": "wrong"}).status_code == 401
    finally:
        server.stop()


def test_shim_loopback_listener_refuses_a_foreign_host(home, upstream):
    """The base-URL fallback door: a rebinding page that learnt the URL still gets nothing."""
    script = ("import os, requests; p = os.environ['DARIO_SHIM_FALLBACK'];"
              "r = requests.post(p + 'anthropic/v1/messages', json=" + repr(ANT) + ","
              " headers={'Host': 'rebind.evil.example', 'x-api-key': 'x'}); print(r.status_code);"
              "r = requests.post(p + 'anthropic/v1/messages', data='{}', headers={'Content-Type': 'text/plain'});"
              "print(r.status_code)")
    env = base_env(home)
    r = run_shim(home, "env", "-u", "PYTHONPATH", sys.executable, "-c", script, env=env)
    assert r.stdout.decode().split() == ["403", "415"], r.stderr.decode()[-2000:]
    assert upstream.requests == []


# -- credentials ---------------------------------------------------------------------------------

def test_gate_key_never_goes_upstream_and_a_keyless_backend_gets_no_auth(upstream):
    backends = {"local": Backend("local", "anthropic", upstream.url, [])}
    server, _ = start_proxy(upstream.url, backends=backends, default="local", api_key="gate-key-0123456789")
    try:
        r = _post(server, {"Authorization": "Bearer gate-key-0123456789"})
        assert r.status_code == 200
        seen = upstream.last()
        assert seen.key is None and "gate-key" not in json.dumps(seen.headers)
    finally:
        server.stop()


def test_a_dummy_client_key_never_reaches_a_configured_backend(upstream):
    backends = {"local": Backend("local", "openai", upstream.url + "/v1", [])}
    server, _ = start_proxy(upstream.url, backends=backends, default="local")
    try:
        r = requests.post(server.url + "/v1/chat/completions", timeout=10,
                          json={"model": "m", "messages": [{"role": "user", "content": "hi"}]},
                          headers={"Authorization": "Bearer sk-dummy-client-key-000"})
        assert r.status_code == 200 and upstream.last().key is None
    finally:
        server.stop()


def test_a_host_with_no_backend_goes_where_the_child_meant_whatever_the_model(home, upstream):
    """The child calls its own server (no backend of dario's is there) with a claude-* model: it goes
    there, with the child's own key, and is still recorded."""
    from tests.support.raw_upstream import RawUpstream
    own = RawUpstream().start()
    own.set(200, "application/json", json.dumps({"id": "x", "type": "message", "role": "assistant",
                                                 "content": [], "stop_reason": "end_turn",
                                                 "usage": {"input_tokens": 1, "output_tokens": 1}}).encode())
    try:
        script = ("import anthropic, os; c = anthropic.Anthropic(api_key='sk-ant-childs-own-key-000', base_url="
                  f"{own.url!r}, max_retries=0); c.messages.create(model='claude-x', max_tokens=5,"
                  " messages=[{'role': 'user', 'content': 'hi'}]); print('ok')")
        host = own.url.split("//")[1]
        r = run_shim(home, sys.executable, "-c", script, options=("--intercept", host))
        assert r.stdout.decode().strip() == "ok", r.stderr.decode()[-2000:]
        assert len(own.seen) == 1 and upstream.requests == []
    finally:
        own.stop()


# -- redaction -----------------------------------------------------------------------------------

KEYS = st.one_of(
    st.from_regex(r"sk-ant-api03-[A-Za-z0-9_\-]{20,40}", fullmatch=True),
    st.from_regex(r"sk-proj-[A-Za-z0-9_\-]{20,40}", fullmatch=True),
    st.from_regex(r"gsk_[A-Za-z0-9]{30,52}", fullmatch=True),
    st.from_regex(r"AIza[0-9A-Za-z_\-]{35}", fullmatch=True),
    st.from_regex(r"AKIA[0-9A-Z]{16}", fullmatch=True),
    st.from_regex(r"xai-[A-Za-z0-9]{30,60}", fullmatch=True),
)


def _escape(key: str, which: list[bool]) -> str:
    """JSON-escape some characters of a key as \\uXXXX (as a JSON writer may)."""
    return "".join(f"\\u{ord(c):04x}" if w else c for c, w in zip(key, which + [False] * len(key)))


@settings(max_examples=300, deadline=None)
@given(key=KEYS, before=st.text(max_size=40), after=st.text(max_size=40), data=st.data())
def test_a_key_anywhere_in_a_body_escaped_or_not_is_masked(key, before, after, data):
    which = data.draw(st.lists(st.booleans(), max_size=len(key)))
    # as a token: shapes are matched at word starts, so "task-manager" is never taken for an sk- key
    body = json.dumps({"messages": [{"role": "user", "content": before + " "}]})[:-4] + _escape(key, which) + \
        json.dumps(" " + after)[1:-1] + '"}]}'
    out = redact(body)
    assert key not in out and _escape(key, which) not in out and MASK in out
    assert key not in json.loads(out)["messages"][0]["content"]  # still JSON, still masked when decoded


def test_generic_key_assignments_and_known_shapes_are_masked():
    text = "export TOGETHER_API_KEY=3f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c and x-goog-api-key: AIzaSyDUMMY-1234567890abcdefghijklmnopq"
    out = redact(text)
    assert "3f9a8b7c6d5e" not in out and "AIzaSy" not in out
    assert redact('{"max_tokens": 4096, "input_tokens": 1234567}') == '{"max_tokens": 4096, "input_tokens": 1234567}'


def test_an_escaped_key_in_a_prompt_never_reaches_the_db(tmp_path):
    from dario.pipeline.record import CallRecord
    from dario.store.telemetry import BackgroundRecorder, TelemetryStore
    key = "sk-ant-api03-escapedKEYvalue0123456789"
    rec = BackgroundRecorder(tmp_path / "t.db")
    rec.submit(CallRecord(run_id="r", request_body=json.dumps({"k": _escape(key, [True] * 8)}).encode()
                          .replace(b"\\\\u", b"\\u")))
    rec.flush()
    rec.close()
    raw = (tmp_path / "t.db").read_bytes()
    row = TelemetryStore(tmp_path / "t.db").calls_for_run("r")[0]
    assert b"escapedKEYvalue" not in raw and b"escapedKEYvalue" not in row["request_body"]


# -- pools: half-open probing ------------------------------------------------------------------

def test_after_cooldown_one_call_probes_the_exhausted_key():
    from dario.pipeline.keys import KeyPool
    now = [100.0]
    pool = KeyPool(Backend("p", "anthropic", "http://x", ["sk-key-A-000000", "sk-key-B-000000"]), clock=lambda: now[0])
    a = pool.pick()
    pool.observe(a, 429, {"retry-after": "1"})
    now[0] += 1.01
    picks = [pool.pick() for _ in range(64)]  # 64 calls in flight at once, none answered yet
    assert sum(p.index == a.index for p in picks) == 1
    probe = next(p for p in picks if p.index == a.index)
    pool.observe(probe, 429, {"retry-after": "1"})  # still exhausted: backs off, 2 s now
    now[0] += 1.5
    assert all(pool.pick().index != a.index for _ in range(10))
    now[0] += 0.6
    probe = pool.pick()
    assert probe.index == a.index and pool.pick().index != a.index
    pool.observe(probe, 200, {})  # the probe got through: the key is healthy again
    assert pool.states[a.index].strikes == 0
    assert pool.pick().index == a.index  # healthy, and it has the fewest calls in flight (B has 63)


async def test_64_concurrent_calls_send_the_exhausted_key_at_most_one_per_cooldown():
    import aiohttp
    from dario.pipeline.engine import Pipeline
    from dario.pipeline.upstream import MemoryResponse, MemoryUpstream
    from dario.proxy.server import build_app, start
    ok = json.dumps({"id": "m", "type": "message", "role": "assistant", "content": [],
                     "stop_reason": "end_turn", "usage": {"input_tokens": 1, "output_tokens": 1}}).encode()
    hits = {"A": [], "B": []}

    async def answer(method, url, headers, body):
        which = "A" if headers["x-api-key"].endswith("A-000000") else "B"
        hits[which].append(time.monotonic())
        await asyncio.sleep(0.01)
        if which == "A":
            return MemoryResponse(429, {"retry-after": "1", "Content-Type": "application/json"},
                                  [b'{"type":"error","error":{"type":"rate_limit_error","message":"no"}}'])
        return MemoryResponse(200, {"Content-Type": "application/json"}, [ok])

    pipeline = Pipeline({"p": Backend("p", "anthropic", "http://x", ["sk-key-A-000000", "sk-key-B-000000"])},
                        default_backend="p", upstream=MemoryUpstream(answer))
    runner, port = await start(build_app(pipeline), "127.0.0.1", 0)
    try:
        async with aiohttp.ClientSession() as s:
            async def one():
                async with s.post(f"http://127.0.0.1:{port}/v1/messages", json=ANT) as r:
                    return r.status
            assert {await one() for _ in range(2)} == {200}  # A got its 429 and cools for 1 s
            first_a = len(hits["A"])
            await asyncio.sleep(1.05)
            start = time.monotonic()
            statuses = await asyncio.gather(*(one() for _ in range(64)))
            took = time.monotonic() - start
        assert set(statuses) == {200}
        burst = [t for t in hits["A"][first_a:] if t >= start]
        assert len(burst) <= 1 + int(took / 1.0), (len(burst), took)
    finally:
        await runner.cleanup()


# -- streams: keep-alive -------------------------------------------------------------------------

def test_a_silent_translated_stream_gets_pings(upstream):
    server, rec = start_proxy(upstream.url, timeouts={"keepalive": 0.2})
    try:
        upstream.fail_next(stall_after_events=0, stall=1.0)
        r = requests.post(server.url + "/v1/messages", json=dict(ANT, model="oai:gpt-x", stream=True), timeout=10)
        events = [e for e in r.text.split("\n\n") if e.strip()]
        assert r.status_code == 200 and sum(e.startswith("event: ping") for e in events) >= 3
        assert events[-1].startswith("event: message_stop")
    finally:
        server.stop()


def test_a_silent_same_protocol_stream_gets_sse_comments_between_events(upstream):
    server, _ = start_proxy(upstream.url, timeouts={"keepalive": 0.2})
    try:
        upstream.fail_next(stall_after_events=2, stall=0.7)
        r = requests.post(server.url + "/v1/chat/completions", timeout=10, json={
            "model": "oai:gpt-x", "stream": True, "messages": [{"role": "user", "content": "hi"}]})
        blocks = [b for b in r.text.split("\n\n") if b.strip()]
        assert any(b == ": keep-alive" for b in blocks)
        assert blocks[-1] == "data: [DONE]"
        assert all(b == ": keep-alive" or b.startswith("data: ") for b in blocks)  # never inside an event
    finally:
        server.stop()


@pytest.mark.slow
def test_claude_code_survives_a_backend_that_thinks_for_20_seconds(home, upstream):
    """Claude Code 2.1.100 on an OpenAI-kind backend whose first token comes after 20 s: the pings reach
    it (they are in what was relayed) and it still completes. (2.1.100 --print did not cancel a stream
    silent for 20 s here even without pings; the ping is what this asserts, for clients that do.)"""
    from tests.support.shim import CLAUDE_NODE
    if not CLAUDE_NODE.exists():
        pytest.skip("npm ci not run")
    upstream.fail_next(stall_after_events=0, stall=20.0)
    r = run_shim(home, "node", str(CLAUDE_NODE), "--print", "hi", options=("--model", "oai:gpt-x"), timeout=120)
    assert r.returncode == 0 and "Hello from the fake upstream" in r.stdout.decode(), r.stderr.decode()[-2000:]
    from dario.store.telemetry import TelemetryStore
    rows = TelemetryStore(home / "telemetry.db").calls_for_run(TelemetryStore(home / "telemetry.db").last_run_id())
    streamed = [row for row in rows if row["stream"] and row["status"] == 200]
    assert streamed and any(b"event: ping" in (row["response_body"] or b"") for row in streamed)


# -- no core dumps -------------------------------------------------------------------------------

def test_dario_leaves_no_core_file_when_its_child_dies_of_sigsegv(home, tmp_path):
    work, sub = tmp_path / "work", tmp_path / "work" / "child"
    sub.mkdir(parents=True)

    def unlimited_cores():
        resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))

    r = subprocess.run(dario_cmd("shim", "--", "sh", "-c", f"cd {sub} && kill -SEGV $$"), env=base_env(home),
                       cwd=str(work), preexec_fn=unlimited_cores, capture_output=True, timeout=60)
    assert r.returncode == -signal.SIGSEGV  # the exit status is still the child's signal death
    assert not [p for p in work.iterdir() if p.name.startswith("core")], "dario dumped core (with the keys in it)"
    if Path("/proc/sys/kernel/core_pattern").read_text().strip() == "core":
        assert [p for p in sub.iterdir() if p.name.startswith("core")], "the child's own core settings were changed"


# -- runtime directories -------------------------------------------------------------------------

def test_stale_runtime_dirs_are_swept_and_live_ones_kept(tmp_path):
    from dario.shim.host import sweep_stale_dirs
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale, live, legacy, foreign = (tmp_path / n for n in ("dario-stale", "dario-live", "dario-legacy", "dario-x"))
    for d in (stale, live, legacy, foreign):
        d.mkdir()
    (stale / "owner").write_text(f"{dead.pid} 1.00")
    (live / "owner").write_text(f"{os.getpid()} ?")
    (legacy / "host.sock").write_text("")  # no owner file, nothing listening: a SIGKILLed older dario
    old = time.time() - 3600
    for d in (stale, live, legacy, foreign):
        os.utime(d, (old, old))
    removed = sweep_stale_dirs(str(tmp_path))
    assert sorted(removed) == sorted([str(stale), str(legacy)])
    assert live.exists() and foreign.exists()


def test_runtime_dir_parent_is_memory_backed_when_there_is_one(request, monkeypatch):
    """The private dir goes where each child's hello file is cheap to create: XDG_RUNTIME_DIR when it is
    ours and 0700, else a sticky /dev/shm, else /tmp; never a shared dir anyone could move it out of."""
    from dario.shim.host import runtime_parents
    short = Path(tempfile.mkdtemp(prefix="rt-", dir="/tmp"))  # a runtime dir's path must stay short
    request.addfinalizer(lambda: shutil.rmtree(short, ignore_errors=True))
    xdg = short / "xdg"
    xdg.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(xdg))
    assert runtime_parents()[0] == str(xdg)
    xdg.chmod(0o755)  # readable by others: not a private runtime dir
    assert str(xdg) not in runtime_parents()
    shared = short / "shared"
    shared.mkdir()
    shared.chmod(0o777)  # world-writable without the sticky bit: refused
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(shared))
    assert str(shared) not in runtime_parents()
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    expected = [p for p in ("/dev/shm", "/tmp") if os.path.isdir(p) and os.stat(p).st_mode & 0o1000]
    assert runtime_parents() == expected


def test_a_sigkilled_launcher_dir_is_swept_by_the_next_run(home):
    from dario.shim.host import runtime_parents
    proc = subprocess.Popen(dario_cmd("shim", "--", "sleep", "30"), env=base_env(home), cwd=str(home))
    try:
        end = time.time() + 20
        mine = []
        while time.time() < end and not mine:
            mine = [p for p in Path(runtime_parents()[0]).glob("dario-*") if (p / "owner").exists()
                    and (p / "owner").read_text().split()[0] == str(proc.pid)]
            time.sleep(0.05)
        assert mine
    finally:
        import psutil
        children = psutil.Process(proc.pid).children(recursive=True)
        proc.kill()  # the launcher dies without cleaning up; its child is ended here
        proc.wait()
        for c in children:
            c.kill()
    old = time.time() - 3600
    os.utime(mine[0], (old, old))
    r = run_shim(home, "true")
    assert r.returncode == 0 and not mine[0].exists()
    shutil.rmtree(mine[0], ignore_errors=True)


def test_redaction_is_linear_on_long_runs_of_letters():
    """A 1 MB prompt of letters once held the telemetry writer for minutes (a quadratic pattern); now it
    takes milliseconds. The bound is a hang detector, far from any speed target (those live in bench/)."""
    code = ("from dario.redact import redact; import os, base64; "
            "redact('x' * (1 << 20)); redact(os.urandom(1 << 19).hex()); redact('API_' * 300000)")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)


SHAPE_PIECES = ["sk-", "sk_", "gsk", "gsk_", "xai", "xai-", "dario-run-", "AIza", "AKIA", "ASIA", "ghp_", "gho_", "ghu_",
                "ghs_", "ghr_", "hf_", "pplx-", "nvapi-", "eyJ", "eyJhbGci", ".", "-", "_", " ", "x", "X", "7", "abcdefgh",
                "ABCDEFGH01234567", "0123456789abcdefghijklmnopqrstuv", "é", "\n", '"']


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.sampled_from(SHAPE_PIECES), max_size=40))
@example(["x", "sk-", "abcdefgh", "-", "sk-", "abcdefgh"])  # a would-be match inside one \b refuses
@example(["sk-", "abcdefgh", "gsk_", "abcdefgh"])  # matches that touch: the first eats the second's anchor
def test_shapes_tried_at_their_anchors_mask_what_the_pattern_masks(parts):
    """redact() tries the key shapes only where one of their anchors stands (6 ms -> 2.7 ms on a 300 KB agent
    history); it must mask exactly what _SHAPE.sub masks trying every position."""
    from dario import redact as r
    text = "".join(parts)
    first = next((a for a in r._SHAPE_ANCHORS if a in text), None)
    assert (r._shapes(text, first) if first else text) == r._SHAPE.sub(MASK, text)


PIECES = ["key", "KEY", "_key", "api_key", "x-api-key", "X-Goog-Api-Key", "authorization", "Authorization: Bearer ",
          "access-token", "secret", "_password", "my_", "-", "_", ":", "=", " ", '"', ",", "}", "abcdefgh",
          "12345678", "sk-ant-abcdefghijk", "eyJhbGciOi.eyJzdWIi.sig", "Bearer abc.def_ghi", "\\u002d", "tokenize",
          "monkey: bananas123", "monkey: ", "api_key=", "x" * 70, "OPENAI_API_KEY", "İ", "é", "K"]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=30))
@example(["monkey: ", "api_key=", "abcdefgh"])  # a field inside a non-field's would-be value
def test_fast_field_redaction_equals_the_rule(parts):
    """redact() finds key fields from their end (5x faster on big bodies); it must mask exactly what the
    one-pattern rule (_FIELD) masks, for ASCII and non-ASCII text alike."""
    from dario import redact as r
    text = r._ESCAPE.sub(r._unescape, "".join(parts))  # redact() unescapes first, then masks
    rule = r._FIELD.sub(lambda m: m.group(1) + MASK, r._BEARER.sub(lambda m: m.group(1) + MASK, r._SHAPE.sub(MASK, text)))
    assert redact("".join(parts)) == rule
