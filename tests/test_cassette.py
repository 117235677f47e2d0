"""Record and replay (`--record` / `--replay`): real programs recorded against a fake upstream of
their own, then replayed with that upstream stopped and the backends removed."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from dario.cassette import match
from dario.cassette.format import CassetteError, load
from dario.cassette.replay import Cassette
from tests.support.dario_proxy import UPSTREAM_KEY_A, UPSTREAM_KEY_G, UPSTREAM_KEY_O, start_proxy
from tests.support.fake_upstream import ANSWER, FakeUpstream
from tests.support.node import needs_node
from tests.support.shim import (CLAUDE_NODE, REAL_KEY_A, REAL_KEY_G, REAL_KEY_O, ROOT, base_env, configure,
                                dario_cmd, run_shim)

PY_CLIENT = ROOT / "tests" / "py_clients" / "sdk_client.py"
NODE_CLIENT = ROOT / "tests" / "node_clients" / "sdk_client.mjs"
NO_BASE_URL = ("env", "-u", "ANTHROPIC_BASE_URL", "-u", "OPENAI_BASE_URL", "-u", "OPENAI_API_BASE",
               "-u", "GOOGLE_GEMINI_BASE_URL")
TEST_KEYS = (REAL_KEY_A, REAL_KEY_O, REAL_KEY_G, UPSTREAM_KEY_A, UPSTREAM_KEY_O, UPSTREAM_KEY_G)
WRITTEN: list[Path] = []  # every cassette these tests write, for the key grep at the end


@pytest.fixture(scope="module", autouse=True)
def no_cassette_holds_a_key():
    """After the module's tests: a grep of every cassette they wrote finds none of the test keys
    and no run token (a failure here is an error in the last test's teardown)."""
    yield
    for p in (p for p in WRITTEN if p.exists()):
        text = p.read_text()
        for key in TEST_KEYS:
            assert key not in text, f"{key[:12]}… in {p}"
        assert "dario-run-" not in text, p


@pytest.fixture
def own_upstream():
    """An upstream this test may stop: replay must not need it."""
    up = FakeUpstream().start()
    yield up
    up.stop()


def cassette(tmp_path, name="c.jsonl") -> Path:
    p = tmp_path / name
    WRITTEN.append(p)
    return p


def remove_backends(home) -> None:
    for b in ("anthropic", "openai", "oai", "gemini"):
        subprocess.run(dario_cmd("backend", "remove", b), env=base_env(home), capture_output=True, timeout=30)
    assert json.loads(subprocess.run(dario_cmd("backend", "list", "--json"), env=base_env(home),
                                     capture_output=True, text=True, timeout=30).stdout or "[]") == []


def log_rows(home) -> list[dict]:
    r = subprocess.run(dario_cmd("log", "--json", "-n", "100"), env=base_env(home), capture_output=True, text=True,
                       timeout=30)
    return [json.loads(x) for x in r.stdout.splitlines() if x.strip()]


# -- whole programs -------------------------------------------------------------------------------
@pytest.mark.slow
def test_claude_code_session_replays_offline_byte_for_byte(tmp_path, own_upstream):
    if not CLAUDE_NODE.exists():
        pytest.skip("npm install did not provide @anthropic-ai/claude-code@2.1.100")
    home = tmp_path / "home"
    home.mkdir()
    configure(home, own_upstream.url)
    tape = cassette(tmp_path)
    cmd = ("node", str(CLAUDE_NODE), "--print", "What is the weather in Paris?")
    live = run_shim(home, *cmd, options=("--record", str(tape)), env=base_env(home))
    assert live.returncode == 0, live.stderr.decode()[-2000:]
    calls = load(tape)
    assert len(calls) >= 2  # a tool call, then the turn with its result: multi-turn
    assert any(b.get("type") == "tool_result" for m in calls[-1]["client"]["body"]["messages"]
               for b in (m["content"] if isinstance(m["content"], list) else []))
    own_upstream.stop()
    remove_backends(home)
    replay = run_shim(home, *cmd, options=("--replay", str(tape), "-v"), env=base_env(home))
    assert replay.returncode == 0, replay.stderr.decode()[-2000:]
    assert replay.stdout == live.stdout
    rows = [r for r in log_rows(home) if r["protocol_in"] and r["replayed"]]
    assert len(rows) == len(calls) and all(r["status"] == 200 and r["cost_usd"] == 0 for r in rows)
    assert all(r["output_tokens"] == 9 for r in rows)  # the recorded usage

    changed = run_shim(home, "node", str(CLAUDE_NODE), "--print", "And in Rome?", options=("--replay", str(tape)),
                       env=base_env(home))
    err = changed.stderr.decode()
    assert changed.returncode != 0 and "matched nothing recorded" in err
    miss = next(r["error"] for r in log_rows(home) if r["error"] and "no recorded call matches" in r["error"])
    assert miss.startswith("dario: no recorded call matches") and "nearest is call #1" in miss
    assert '-' in miss and "What is the weather in Paris?" in miss and "And in Rome?" in miss


SCRIPTS = [("py", "anthropic", "sync"), ("py", "anthropic", "stream"), ("py", "openai", "sync"),
           ("py", "openai", "stream"), ("node", "anthropic", "plain"), ("node", "anthropic", "stream"),
           ("node", "openai", "plain"), ("node", "openai", "stream")]


@pytest.mark.slow
@needs_node
def test_sdk_scripts_replay_with_the_same_output(tmp_path, own_upstream):
    home = tmp_path / "home"
    home.mkdir()
    configure(home, own_upstream.url)
    tape = cassette(tmp_path)

    def run(kind, sdk, mode, opt):
        if kind == "py":
            cmd = (*NO_BASE_URL, sys.executable, str(PY_CLIENT), sdk, mode)
        else:
            cmd = (*NO_BASE_URL, "node", str(NODE_CLIENT), json.dumps({"sdk": sdk, "mode": mode, "model": f"{sdk}-m"}))
        r = run_shim(home, *cmd, options=opt, env=base_env(home))
        assert r.returncode == 0, r.stderr.decode()
        out = json.loads(r.stdout.decode().strip().splitlines()[-1])
        out.pop("pid", None)  # the one field that is the process's own
        return out

    recorded = [run(*s, ("--record", str(tape))) for s in SCRIPTS]
    assert all(o.get("text") == ANSWER for o in recorded), recorded
    own_upstream.stop()
    remove_backends(home)
    assert [run(*s, ("--replay", str(tape))) for s in SCRIPTS] == recorded
    assert len(load(tape)) == len(SCRIPTS)


# -- the proxy, in-process ------------------------------------------------------------------------
def test_on_miss_record_grows_the_cassette_and_equal_calls_replay_in_order(tmp_path, upstream):
    tape = cassette(tmp_path)
    body = {"model": "claude-x", "max_tokens": 10, "messages": [{"role": "user", "content": "one"}]}
    proxy, _ = start_proxy(upstream.url, cassette=Cassette(tape, replay=False))
    try:
        upstream.answer = "first answer"
        requests.post(proxy.url + "/v1/messages", json=body)
        upstream.answer = "second answer"  # the same question asked twice, answered differently
        requests.post(proxy.url + "/v1/messages", json=body)
    finally:
        proxy.stop()
    assert len(load(tape)) == 2
    proxy, rec = start_proxy(upstream.url, cassette=Cassette(tape, replay=True, on_miss="record"))
    try:
        n = len(upstream.requests)
        got = [requests.post(proxy.url + "/v1/messages", json=body).json()["content"][0]["text"] for _ in range(2)]
        assert got == ["first answer", "second answer"] and len(upstream.requests) == n  # in recorded order
        upstream.answer = "new"
        other = {**body, "messages": [{"role": "user", "content": "two"}]}
        assert requests.post(proxy.url + "/v1/messages", json=other).json()["content"][0]["text"] == "new"
        assert len(upstream.requests) == n + 1  # the miss went upstream
    finally:
        proxy.stop()
    assert len(load(tape)) == 3 and [c["n"] for c in load(tape)] == [1, 2, 3]
    proxy, _ = start_proxy("http://127.0.0.1:9", backends={}, cassette=Cassette(tape, replay=True))
    try:  # no backend at all, and an upstream that is not there: the grown cassette answers
        r = requests.post(proxy.url + "/v1/messages", json={**body, "messages": [{"role": "user", "content": "two"}]})
        assert r.status_code == 200 and r.json()["content"][0]["text"] == "new"
        r = requests.post(proxy.url + "/v1/messages", json=body)
        assert r.status_code == 200 and r.json()["content"][0]["text"] == "first answer"
    finally:
        proxy.stop()


def test_secrets_in_a_prompt_are_masked_and_the_call_still_replays(tmp_path, upstream):
    tape = cassette(tmp_path)
    leaky = {"model": "claude-x", "max_tokens": 5, "messages": [{"role": "user", "content":
             f"my keys: {UPSTREAM_KEY_A} and dario-run-0123456789abcdef, and AIzaSyA1234567890abcdefghijklmnopqrstu"}]}
    proxy, _ = start_proxy(upstream.url, cassette=Cassette(tape, replay=False, secrets=(UPSTREAM_KEY_A,)))
    try:
        assert requests.post(proxy.url + "/v1/messages", json=leaky).status_code == 200
    finally:
        proxy.stop()
    text = tape.read_text()
    assert UPSTREAM_KEY_A not in text and "dario-run-0123" not in text and "AIzaSyA123" not in text
    assert "[REDACTED]" in text
    proxy, _ = start_proxy(upstream.url, backends={}, cassette=Cassette(tape, replay=True, secrets=(UPSTREAM_KEY_A,)))
    try:  # the live request is masked the same way before it is compared
        r = requests.post(proxy.url + "/v1/messages", json=leaky)
        assert r.status_code == 200 and r.json()["content"][0]["text"] == ANSWER
    finally:
        proxy.stop()


def test_on_miss_passthrough_sends_misses_upstream_and_writes_nothing(tmp_path, upstream):
    tape = cassette(tmp_path)
    proxy, _ = start_proxy(upstream.url, cassette=Cassette(tape, replay=False))
    try:
        requests.post(proxy.url + "/v1/messages", json={"model": "claude-sonnet-4-5", "max_tokens": 5,
                                                        "messages": [{"role": "user", "content": "a"}]})
    finally:
        proxy.stop()
    before = tape.read_bytes()
    cas = Cassette(tape, replay=True, on_miss="passthrough")
    proxy, rec = start_proxy(upstream.url, cassette=cas)
    try:
        upstream.answer = "live"
        r = requests.post(proxy.url + "/v1/messages", json={"model": "claude-sonnet-4-5", "max_tokens": 5,
                                                            "messages": [{"role": "user", "content": "b"}]})
        assert r.json()["content"][0]["text"] == "live" and cas.misses == 1
        assert not rec.records[-1].replayed and rec.records[-1].cost_usd is not None
    finally:
        proxy.stop()
    assert tape.read_bytes() == before


def test_a_miss_is_an_error_in_the_callers_protocol_with_a_diff(tmp_path, upstream):
    tape = cassette(tmp_path)
    proxy, _ = start_proxy(upstream.url, cassette=Cassette(tape, replay=False))
    try:
        requests.post(proxy.url + "/v1/chat/completions", json={"model": "oai:m", "messages": [
            {"role": "user", "content": "the original question"}]})
    finally:
        proxy.stop()
    proxy, rec = start_proxy(upstream.url, cassette=Cassette(tape, replay=True))
    try:
        n = len(upstream.requests)
        r = requests.post(proxy.url + "/v1/chat/completions", json={"model": "oai:m", "messages": [
            {"role": "user", "content": "a changed question"}]})
        assert r.status_code == 400 and r.headers["x-should-retry"] == "false"
        msg = r.json()["error"]["message"]
        assert msg.startswith("dario: no recorded call matches this openai call to 'oai:m'")
        assert '\n-    "content": "the original question"' in msg and '\n+    "content": "a changed question"' in msg
        assert len(upstream.requests) == n  # nothing went upstream
        assert rec.records[-1].status == 400
    finally:
        proxy.stop()


def test_recorded_timing_is_honoured(tmp_path, upstream):
    tape = cassette(tmp_path)
    body = {"model": "claude-x", "max_tokens": 10, "stream": True, "messages": [{"role": "user", "content": "t"}]}
    proxy, _ = start_proxy(upstream.url, cassette=Cassette(tape, replay=False))
    try:
        upstream.fail_next(stall_after_events=3, stall=0.8)  # the upstream pauses mid-stream
        assert ANSWER[:5] in requests.post(proxy.url + "/v1/messages", json=body).text
    finally:
        proxy.stop()
    offsets = [e[0] for e in load(tape)[0]["response"]["events"]]
    assert offsets[-1] - offsets[0] >= 700 and offsets == sorted(offsets)

    def elapsed(timing):
        p, _ = start_proxy(upstream.url, backends={}, cassette=Cassette(tape, replay=True, timing=timing))
        try:
            t = time.perf_counter()
            text = requests.post(p.url + "/v1/messages", json=body).text
            assert "message_stop" in text
            return time.perf_counter() - t
        finally:
            p.stop()

    # lower bounds are the recorded pause itself; the rest compare runs of the same request, so
    # machine load, which slows all of them, does not decide the outcome
    recorded, fast, none = elapsed("recorded"), elapsed("x4"), elapsed("none")
    assert recorded >= 0.79 and fast >= 0.19  # the 0.8 s pause, and a quarter of it
    assert fast < recorded - 0.3 and none < recorded - 0.4


def test_bad_cassettes_are_refused_at_start_and_left_alone(tmp_path, upstream):
    good = '{"dario_cassette": 1}\n{"n": 1, "client": {}, "route": {}, "response": {}}\n'
    cases = {"corrupt.jsonl": (good + '{"n": 2, "client": \n' + good.splitlines()[1] + "\n", ":3: line not valid JSON"),
             "truncated.jsonl": (good + '{"n": 2, "client": {', ":3: line truncated"),
             "future.jsonl": ('{"dario_cassette": 99}\n', ":1: cassette format version 99"),
             "other.jsonl": ('{"hello": 1}\n', ":1: not a dario cassette")}
    home = tmp_path / "home"
    home.mkdir()
    configure(home, upstream.url)
    for name, (text, needle) in cases.items():
        p = tmp_path / name
        p.write_text(text)
        with pytest.raises(CassetteError, match=needle.replace("(", r"\(")):
            Cassette(p, replay=True)
        for opt in ("--replay", "--record"):
            r = run_shim(home, sys.executable, "-c", "print('ran')", options=(opt, str(p)), env=base_env(home))
            if opt == "--record" and name in ("corrupt.jsonl", "truncated.jsonl", "future.jsonl", "other.jsonl"):
                assert r.returncode == 2 and str(p) in r.stderr.decode(), r.stderr  # not appended to either
            assert r.stdout == b"" and str(p) in r.stderr.decode() and needle in r.stderr.decode()
        assert p.read_text() == text  # nothing overwritten
    r = run_shim(home, "true", options=("--replay", str(tmp_path / "missing.jsonl")), env=base_env(home))
    assert r.returncode == 2 and "cannot read the cassette" in r.stderr.decode()
    r = run_shim(home, "true", options=("--replay", str(tmp_path / "c"), "--replay-timing", "fast"), env=base_env(home))
    assert r.returncode == 2 and "--replay-timing" in r.stderr.decode()


def test_cassette_commands(tmp_path, upstream):
    a, b = cassette(tmp_path, "a.jsonl"), cassette(tmp_path, "b.jsonl")
    for path, answer in ((a, "one"), (b, "two")):
        proxy, _ = start_proxy(upstream.url, cassette=Cassette(path, replay=False))
        try:
            upstream.answer = answer
            requests.post(proxy.url + "/v1/messages", json={"model": "claude-x", "max_tokens": 5,
                                                            "messages": [{"role": "user", "content": "hello"}]})
        finally:
            proxy.stop()
    env = base_env(tmp_path)
    show = subprocess.run(dario_cmd("cassette", "show", str(a)), env=env, capture_output=True, text=True, timeout=30)
    assert show.returncode == 0 and "#1" in show.stdout and "anthropic→anthropic(anthropic)" in show.stdout
    assert "hello" in show.stdout and "1 call(s)" in show.stdout
    diff = subprocess.run(dario_cmd("cassette", "diff", str(a), str(b)), env=env, capture_output=True, text=True,
                          timeout=30)
    assert diff.returncode == 1 and "same request, different answers" in diff.stdout and "two" in diff.stdout
    same = subprocess.run(dario_cmd("cassette", "diff", str(a), str(a)), env=env, capture_output=True, text=True,
                          timeout=30)
    assert same.returncode == 0 and "no difference in 1 call(s)" in same.stdout
    # a key that got in some other way (an old dario, a hand edit) is masked by redact
    text = a.read_text().replace("hello", "hello sk-ant-api03-leaked-key-AAAAAAAAAAAAAAAAAAAA")
    a.write_text(text)
    red = subprocess.run(dario_cmd("cassette", "redact", str(a)), env=env, capture_output=True, text=True, timeout=30)
    assert red.returncode == 0 and "1 of 1 call(s)" in red.stdout
    assert "leaked-key-AAAA" not in a.read_text() and len(load(a)) == 1


def test_pytest_plugin_records_then_replays_offline(tmp_path, own_upstream):
    home = tmp_path / "home"
    home.mkdir()
    configure(home, own_upstream.url)
    (tmp_path / "test_agent.py").write_text(f"""
import json, subprocess, sys
def test_agent(dario_cassette):
    r = dario_cassette.run(*{list(NO_BASE_URL)!r}, sys.executable, {str(PY_CLIENT)!r}, "anthropic", "stream",
                           capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.splitlines()[-1])["text"] == {ANSWER!r}
""")
    env = base_env(home)

    def pytest_run(*args):
        return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args,
                               str(tmp_path / "test_agent.py")], cwd=str(tmp_path), env=env, capture_output=True,
                              text=True, timeout=120)

    none_yet = pytest_run()
    assert none_yet.returncode == 1 and "no cassette at" in none_yet.stdout and "--dario-record=new" in none_yet.stdout
    first = pytest_run("--dario-record=new")
    assert first.returncode == 0, first.stdout + first.stderr
    tape = tmp_path / "cassettes" / "test_agent" / "test_agent.jsonl"
    WRITTEN.append(tape)
    assert len(load(tape)) == 1
    own_upstream.stop()
    remove_backends(home)
    offline = pytest_run()
    assert offline.returncode == 0, offline.stdout + offline.stderr
    again = pytest_run("--dario-record=all")  # records from scratch: the upstream is gone, so it fails
    assert again.returncode == 1


# -- the matcher ----------------------------------------------------------------------------------
BASE = {"protocol": "anthropic", "endpoint": "generate", "model": "claude-x", "stream": True,
        "body": {"model": "claude-x", "max_tokens": 100, "system": "be brief",
                 "messages": [{"role": "user", "content": "hello"}], "tools": [{"name": "t", "input_schema": {}}]}}
volatile = st.fixed_dictionaries({}, optional={
    "metadata": st.fixed_dictionaries({"user_id": st.text(max_size=20)}),
    "stream_options": st.fixed_dictionaries({"include_usage": st.booleans()}),
    "user": st.text(max_size=10), "prompt_cache_key": st.text(max_size=10), "service_tier": st.just("auto")})
content_changes = st.one_of(
    st.tuples(st.just("system"), st.text(min_size=1, max_size=10).filter(lambda t: t != "be brief")),
    st.tuples(st.just("max_tokens"), st.integers(1, 99)),
    st.tuples(st.just("temperature"), st.floats(0, 1)),
    st.tuples(st.just("messages"), st.text(min_size=1, max_size=10).filter(lambda t: t != "hello").map(
        lambda t: [{"role": "user", "content": t}])),
    st.tuples(st.just("tools"), st.just([])))


@settings(max_examples=80, deadline=None)
@given(volatile, st.one_of(st.none(), content_changes))
def test_matcher_ignores_volatile_fields_and_sees_every_content_change(noise, change):
    asked = {**BASE, "body": {**BASE["body"], **noise}}
    if change is None:
        assert match.key(asked) == match.key(BASE)
    else:
        asked["body"][change[0]] = change[1]
        assert match.key(asked) != match.key(BASE)


def test_ignore_paths():
    a = {**BASE, "body": {**BASE["body"], "system": [{"type": "text", "text": "x", "cache_control": {"a": 1}}]}}
    b = {**BASE, "body": {**BASE["body"], "system": [{"type": "text", "text": "x"}]}}
    assert match.key(a) != match.key(b)
    assert match.key(a, ("system.*.cache_control",)) == match.key(b, ("system.*.cache_control",))
    assert match.key({**BASE, "model": "other"}) != match.key(BASE)  # the model is content


def test_dario_proxy_records_and_replays_from_the_command_line(tmp_path, own_upstream):
    import re
    import signal
    import anthropic
    home = tmp_path / "home"
    home.mkdir()
    configure(home, own_upstream.url)
    tape = cassette(tmp_path)

    def serve(*opts):
        proc = subprocess.Popen(dario_cmd("proxy", "--port", "0", *opts), env=base_env(home), stderr=subprocess.PIPE,
                                text=True)
        line = proc.stderr.readline()
        m = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
        assert m, line + proc.stderr.read()
        return proc, m.group(1)

    def ask(url):
        return anthropic.Anthropic(base_url=url, api_key="x", max_retries=0).messages.create(
            model="claude-x", max_tokens=5, messages=[{"role": "user", "content": "hi"}]).content[0].text

    for opts in (("--record", str(tape)), ("--replay", str(tape))):
        proc, url = serve(*opts)
        try:
            assert ask(url) == ANSWER
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(10)
        own_upstream.stop()  # after recording: the replay has no upstream
        remove_backends(home)
    assert len(load(tape)) == 1
    bad = subprocess.run(dario_cmd("proxy", "--port", "0", "--replay", str(tmp_path / "none.jsonl")),
                         env=base_env(home), capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2 and "cannot read the cassette" in bad.stderr
