"""The four official SDKs, unchanged and calling their default hosts, under the real `dario shim`:
the payload or injector relays to the real host, which routes to the fake upstream with the real key."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest

from tests.support.fake_upstream import ANSWER, TOOL_ARGS
from tests.support.node import CLIENT as NODE_CLIENT, needs_node
from tests.support.shim import REAL_KEY_A, REAL_KEY_G, REAL_KEY_O, ROOT, base_env, dario_cmd, run_shim

PY_CLIENT = ROOT / "tests" / "py_clients" / "sdk_client.py"
PY_SPAWN = ROOT / "tests" / "py_clients" / "spawn.py"


def log_rows(home) -> list[dict]:
    r = subprocess.run(dario_cmd("log", "--json", "-n", "50"), env=base_env(home), capture_output=True, text=True,
                       timeout=30)
    return [json.loads(x) for x in r.stdout.splitlines() if x.strip()]


def last_json(r) -> dict:
    lines = r.stdout.decode().strip().splitlines()
    assert lines, f"no output (rc {r.returncode}): {r.stderr.decode()}"
    return json.loads(lines[-1])


# dario sets no base-URL variable (only --base-url does); this wrapper also takes away any the test's own
# environment has, so the SDK calls its default host, which only the in-process payload/injector catches
NO_BASE_URL = ("env", "-u", "ANTHROPIC_BASE_URL", "-u", "OPENAI_BASE_URL", "-u", "OPENAI_API_BASE",
               "-u", "GOOGLE_GEMINI_BASE_URL")
DEFAULT_URL = {"anthropic": "https://api.anthropic.com/v1/messages",
               "openai": "https://api.openai.com/v1/chat/completions"}


def check_upstream_keys(upstream):
    calls = [s for s in upstream.requests if s.method == "POST"]
    assert calls
    for s in calls:
        if s.path == "/v1/messages":
            assert s.headers["x-api-key"] == REAL_KEY_A
        else:
            assert s.headers["Authorization"] == f"Bearer {REAL_KEY_O}"
        assert "dario-run-" not in json.dumps(s.headers)


# -- Python SDKs (httpx2 underneath) ---------------------------------------------------
@pytest.mark.parametrize("sdk", ["anthropic", "openai"])
@pytest.mark.parametrize("mode,via", [("sync", "default-host"), ("astream", "default-host"),
                                      ("tools", "default-host"), ("sync", "base-url-env")])
def test_python_sdk_under_the_shim(home, upstream, sdk, mode, via):
    forced = via == "base-url-env"  # `env -u` runs after dario: it would take --base-url's variables away
    r = run_shim(home, *(() if forced else NO_BASE_URL), sys.executable, str(PY_CLIENT), sdk, mode,
                 options=("--base-url",) if forced else ())
    assert r.returncode == 0, r.stderr.decode()
    out = last_json(r)
    if mode == "tools":
        assert out["tool_input"] == TOOL_ARGS and len(out["deltas"]) > 1
    else:
        assert out["text"] == ANSWER
    if mode == "sync":  # the SDK sees the URL it called: its default host, or dario's fallback
        if via == "default-host":
            assert out["url"] == DEFAULT_URL[sdk]
        else:
            assert out["url"].startswith("http://127.0.0.1:") and "/t/dario-run-" in out["url"]
    check_upstream_keys(upstream)
    rows = [x for x in log_rows(home) if x["protocol_in"]]
    assert rows[0]["source"] == "shim" and rows[0]["pid"] == out["pid"] and rows[0]["status"] == 200
    assert rows[0]["backend"] == ("anthropic" if sdk == "anthropic" else "openai")
    assert "python" in (rows[0]["client"] or "")
    # every call is metered: an OpenAI stream that did not ask for usage gets it asked for upstream
    # (and hidden from the client: tests/test_stream_usage.py)
    assert rows[0]["output_tokens"] == 9 and rows[0]["stream"] == (mode != "sync")


@pytest.mark.parametrize("sdk, backend, path", [
    ("responses", "openai", "/v1/responses"),
    ("genai", "gemini", "/models/gemini-2.5-flash:"),
], ids=["responses", "gemini"])
@pytest.mark.parametrize("mode", ["sync", "stream"])
def test_python_responses_and_genai_under_the_shim(home, upstream, sdk, backend, path, mode):
    """Their SDKs' default hosts (api.openai.com, generativelanguage.googleapis.com), caught in-process;
    the child holds no key: the run token stands in for OPENAI_API_KEY / GEMINI_API_KEY."""
    r = run_shim(home, *NO_BASE_URL, sys.executable, str(PY_CLIENT), sdk, mode)
    assert r.returncode == 0, r.stderr.decode()
    out = last_json(r)
    assert out.get("text") == ANSWER, out
    calls = [s for s in upstream.requests if path in s.path]
    assert calls, [s.path for s in upstream.requests]
    assert all("dario-run-" not in json.dumps(s.headers) + s.path for s in calls)
    if backend == "gemini":
        assert calls[-1].headers["x-goog-api-key"] == REAL_KEY_G
    rows = [x for x in log_rows(home) if x["protocol_in"]]
    assert rows[0]["protocol_in"] == rows[0]["protocol_out"] == ("gemini" if sdk == "genai" else sdk)
    assert rows[0]["backend"] == backend and rows[0]["status"] == 200
    assert rows[0]["output_tokens"] == 9 and rows[0]["source"] == "shim"


# -- Node SDKs (fetch underneath) ---------------------------------------------------------
@needs_node
@pytest.mark.parametrize("sdk,model", [("anthropic", "claude-test"), ("openai", "gpt-test")])
@pytest.mark.parametrize("mode,via", [("plain", "default-host"), ("stream", "default-host"),
                                      ("tools", "default-host"), ("stream", "base-url-env")])
def test_node_sdk_under_the_shim(home, upstream, sdk, model, mode, via):
    forced = via == "base-url-env"
    r = run_shim(home, *(() if forced else NO_BASE_URL), "node", str(NODE_CLIENT),
                 json.dumps({"sdk": sdk, "mode": mode, "model": model}),
                 options=("-v", "--base-url") if forced else ("-v",))
    assert r.returncode == 0, r.stderr.decode()
    out = last_json(r)
    if mode == "tools":
        assert out["tool"] == {"name": "get_weather", "input": TOOL_ARGS} and out["partial"] > 1
    else:
        assert out["text"] == ANSWER
    check_upstream_keys(upstream)
    rows = [x for x in log_rows(home) if x["protocol_in"]]
    assert rows[0]["source"] == "shim" and rows[0]["status"] == 200 and "node" in (rows[0]["client"] or "")
    assert "in-process: pid" in r.stderr.decode() and "fallback: pid" not in r.stderr.decode()


# -- translated routes ------------------------------------------------------------------------
@needs_node
def test_node_anthropic_sdk_on_an_openai_backend(home, upstream):
    r = run_shim(home, "node", str(NODE_CLIENT), json.dumps({"sdk": "anthropic", "mode": "tools", "model": "claude-x"}),
                 options=("--model", "oai:gpt-4o-mini"))
    out = last_json(r)
    assert out["tool"] == {"name": "get_weather", "input": TOOL_ARGS} and out["stop"] == "tool_use"
    assert upstream.last().path == "/v1/chat/completions" and upstream.last().body["model"] == "gpt-4o-mini"
    row = [x for x in log_rows(home) if x["protocol_in"]][0]
    assert (row["protocol_in"], row["protocol_out"], row["model_requested"], row["model"]) == (
        "anthropic", "openai", "claude-x", "gpt-4o-mini")
    assert row["input_tokens"] == 21 and row["cache_read_tokens"] == 5  # the backend's own usage


def test_python_openai_sdk_on_an_anthropic_backend(home, upstream):
    r = run_shim(home, sys.executable, str(PY_CLIENT), "openai", "stream", options=("--model", "anthropic:claude-y"))
    out = last_json(r)
    assert out["text"] == ANSWER and len(out["deltas"]) > 1
    assert upstream.last().path == "/v1/messages" and upstream.last().body["model"] == "claude-y"


# -- processes -----------------------------------------------------------------------------------
def test_grandchild_is_intercepted_and_attributed(home, upstream):
    r = run_shim(home, sys.executable, str(PY_SPAWN), str(PY_CLIENT), "anthropic", "sync", options=("-v",))
    out = last_json(r)
    parent_pid, child = out["pid"], out["child"]
    assert child["text"] == ANSWER
    err = r.stderr.decode()
    assert f"in-process: pid {parent_pid} " in err and f"in-process: pid {child['pid']} " in err
    row = [x for x in log_rows(home) if x["protocol_in"]][0]
    assert row["pid"] == child["pid"]


def test_host_dying_mid_run_fails_routed_calls_fast_and_clearly(home, upstream):
    r = run_shim(home, sys.executable, str(ROOT / "tests" / "py_clients" / "host_dies.py"), timeout=60)
    assert r.returncode == -signal.SIGKILL  # the launcher was killed by its child
    out = last_json(r)
    assert out["first"] == ANSWER
    assert "dario:" in out["second"] and "gone" in out["second"]
    assert out["seconds"] < 5  # no hang


LIST_MODELS = ("import anthropic, json; "
               "print(json.dumps([m.id for m in anthropic.Anthropic(max_retries=0).models.list()]))")


@pytest.mark.parametrize("observe", [False, True])
def test_other_provider_endpoints_get_the_backends_key(home, upstream, observe):
    """A shimmed SDK holding only the run token can still list models: dario puts its key on,
    unless --observe, where nothing changes."""
    r = run_shim(home, *NO_BASE_URL, sys.executable, "-c", LIST_MODELS, options=("--observe",) if observe else ())
    if observe:  # untouched: the call goes to the real host, unreachable from the test machine
        assert r.returncode != 0 and not [s for s in upstream.requests if s.path == "/v1/models"]
        return
    assert r.returncode == 0, r.stderr.decode()
    assert json.loads(r.stdout) == upstream.models
    seen = [s for s in upstream.requests if s.path == "/v1/models"][-1]
    assert seen.headers["x-api-key"] == REAL_KEY_A and "dario-run-" not in json.dumps(seen.headers)
    row = log_rows(home)[0]
    assert row["backend"] == "anthropic" and row["path"] == "/v1/models" and row["status"] == 200


# -- the other libraries a program may use, to a default host --------------------------------------------
HTTP_CLIENT = ROOT / "tests" / "py_clients" / "http_client.py"
UNDICI_CLIENT = ROOT / "tests" / "node_clients" / "undici_client.mjs"
MESSAGE = {"model": "claude-x", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize("lib", ["urllib", "http.client", "aiohttp", "undici"])
def test_stdlib_aiohttp_and_undici_calls_are_recorded(home, upstream, lib):
    url = "https://api.anthropic.com/v1/messages"
    if lib == "undici":
        cmd = ["node", str(UNDICI_CLIENT), json.dumps({"how": "request", "url": url, "key": "sk-ant-dummy"})]
    else:
        cmd = [sys.executable, str(HTTP_CLIENT), json.dumps({"lib": lib, "url": url, "json": MESSAGE, "async": True,
                                                             "headers": {"anthropic-version": "2023-06-01"}})]
    r = run_shim(home, *cmd, options=("-v",))
    out = last_json(r)
    assert out.get("status") == 200 and ANSWER in out["text"], out
    assert "in-process: pid" in r.stderr.decode()  # not the HTTPS proxy: caught inside the process
    check_upstream_keys(upstream)
    row = [x for x in log_rows(home) if x["protocol_in"]][0]
    assert row["status"] == 200 and row["backend"] == "anthropic" and row["pid"] == out["pid"]
    assert row["output_tokens"] == 9
