"""`dario shim` as a user runs it: transparency, the child's environment, the fallback door,
and real Claude Code builds end to end against the fake upstream."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from tests.support.fake_upstream import ANSWER
from tests.support.shim import (CLAUDE_BIN_LINK, CLAUDE_NATIVE, CLAUDE_NODE, ENV_KEY_VALUE, ENV_KEY_VAR, REAL_KEY_A,
                                REAL_KEY_G, REAL_KEY_O, base_env, configure, dario_cmd, run_shim)

PY = sys.executable


# -- transparency ---------------------------------------------------------------------
def test_exit_code_and_exact_stdout(home):
    r = run_shim(home, PY, "-c", "import sys; sys.stdout.buffer.write(b'\\x00bin\\xffary\\n'); sys.exit(3)")
    assert r.returncode == 3
    assert r.stdout == b"\x00bin\xffary\n"
    assert r.stderr == b""  # dario says nothing without -v


def test_stdin_untouched(home):
    data = b"line one\nline two\n" * 1000
    r = run_shim(home, "cat", input=data)
    assert r.returncode == 0 and r.stdout == data


def test_child_killed_by_signal_kills_dario_with_the_same_signal(home):
    r = run_shim(home, "sh", "-c", "kill -TERM $$")
    assert r.returncode == -signal.SIGTERM
    r = run_shim(home, "sh", "-c", "kill -KILL $$")
    assert r.returncode == -signal.SIGKILL
    # through a shell the status reads 128+N
    r = subprocess.run(["sh", "-c", " ".join(dario_cmd("shim", "--", "sh", "-c", "'kill -USR1 $$'")) + "; echo $?"],
                       env=base_env(home), capture_output=True, timeout=30)
    assert r.stdout.strip() == str(128 + signal.SIGUSR1).encode()


def _child_ready(path, timeout=15):
    end = time.time() + timeout
    while time.time() < end:
        if path.exists() and path.read_text().strip():
            return True
        time.sleep(0.05)
    return False


def test_sigterm_and_sighup_are_forwarded(home, tmp_path):
    for sig in (signal.SIGTERM, signal.SIGHUP):
        marker = tmp_path / f"got-{sig}"
        ready = tmp_path / f"ready-{sig}"
        script = (f"import signal, sys, time, pathlib\n"
                  f"def h(n, f):\n    pathlib.Path({str(marker)!r}).write_text(str(n)); sys.exit(7)\n"
                  f"signal.signal({int(sig)}, h)\n"
                  f"pathlib.Path({str(ready)!r}).write_text('1')\n"
                  f"time.sleep(30)\n")
        p = subprocess.Popen(dario_cmd("shim", "--", PY, "-c", script), env=base_env(home))
        assert _child_ready(ready)
        p.send_signal(sig)
        assert p.wait(15) == 7
        assert marker.read_text() == str(int(sig))


def test_ctrl_c_reaches_the_child_once_and_dario_waits(home, tmp_path):
    """The terminal signals the whole foreground group: the child must see one SIGINT, not two."""
    count = tmp_path / "count"
    ready = tmp_path / "ready"
    script = (f"import signal, sys, time, pathlib\n"
              f"n = []\n"
              f"def h(s, f):\n    n.append(s)\n"
              f"signal.signal(signal.SIGINT, h)\n"
              f"pathlib.Path({str(ready)!r}).write_text('1')\n"
              f"end = time.time() + 1.5\n"
              f"while time.time() < end: time.sleep(0.05)\n"
              f"pathlib.Path({str(count)!r}).write_text(str(len(n)))\n"
              f"sys.exit(5)\n")
    p = subprocess.Popen(dario_cmd("shim", "--", PY, "-c", script), env=base_env(home), start_new_session=True)
    assert _child_ready(ready)
    os.killpg(p.pid, signal.SIGINT)  # what a TTY does on Ctrl-C
    assert p.wait(15) == 5
    assert count.read_text() == "1"


def test_missing_command(home):
    r = run_shim(home, "definitely-not-a-command-xyz")
    assert r.returncode == 127 and b"dario: definitely-not-a-command-xyz: command not found" in r.stderr


# -- the child's environment --------------------------------------------------------------
def test_child_env_has_the_shim_and_never_a_real_key(tmp_path, upstream):
    home = tmp_path / "h"
    home.mkdir()
    configure(home, upstream.url, env_key_backend=True)
    env = base_env(home, **{ENV_KEY_VAR: ENV_KEY_VALUE, "NODE_OPTIONS": "--max-old-space-size=200"})
    script = ("import json, os; s = os.environ['DARIO_SHIM_SOCK']; "
              "print(json.dumps({**os.environ, 'modes': [oct(os.stat(os.path.dirname(s)).st_mode & 0o777), "
              "oct(os.stat(s).st_mode & 0o777)]}))")
    r = run_shim(home, PY, "-c", script, env=env)
    child = json.loads(r.stdout)
    dump = r.stdout.decode()
    for secret in (REAL_KEY_A, REAL_KEY_O, REAL_KEY_G, ENV_KEY_VALUE):
        assert secret not in dump
    assert ENV_KEY_VAR not in child
    token = child["DARIO_SHIM_TOKEN"]
    assert token.startswith("dario-run-")
    assert child["ANTHROPIC_API_KEY"] == child["OPENAI_API_KEY"] == child["GEMINI_API_KEY"] == token
    assert "generativelanguage.googleapis.com" in child["DARIO_SHIM_HOSTS"].split(",")
    assert child["NODE_OPTIONS"].startswith("--require ") and child["NODE_OPTIONS"].endswith("--max-old-space-size=200")
    assert child["PYTHONPATH"].split(os.pathsep)[0].endswith(os.path.join("dario", "shim", "injector"))
    assert not {"ANTHROPIC_BASE_URL", "OPENAI_BASE_URL", "OPENAI_API_BASE", "GOOGLE_GEMINI_BASE_URL"} & set(child)
    assert child["SSL_CERT_FILE"] == child["REQUESTS_CA_BUNDLE"] == child["CURL_CA_BUNDLE"]
    assert child["NODE_EXTRA_CA_CERTS"].endswith("node-extra-ca.pem")
    assert child["modes"] == ["0o700", "0o600"]  # private dir, private socket
    assert not os.path.exists(child["DARIO_SHIM_SOCK"])  # cleaned up at exit


def test_child_keeps_its_own_key(home):
    env = base_env(home, ANTHROPIC_API_KEY="sk-ant-childs-own-key-1234")
    r = run_shim(home, PY, "-c", "import os; print(os.environ['ANTHROPIC_API_KEY'])", env=env)
    assert r.stdout.strip() == b"sk-ant-childs-own-key-1234"


def test_print_env_runs_nothing(home, tmp_path):
    marker = tmp_path / "ran"
    r = subprocess.run(dario_cmd("shim", "--print-env", "--", "touch", str(marker)), env=base_env(home),
                       capture_output=True, timeout=30)
    assert r.returncode == 0 and not marker.exists()
    out = r.stdout.decode()
    for var in ("NODE_OPTIONS=--require", "BUN_OPTIONS=--preload=", "PYTHONPATH=", "DARIO_SHIM_HOSTS=",
                "HTTPS_PROXY=http://dario:<token>@127.0.0.1:", "SSL_CERT_FILE=", "NO_PROXY=", "# "):
        assert var in out
    assert "ANTHROPIC_BASE_URL=" not in out and "unchanged: ANTHROPIC_BASE_URL, OPENAI_BASE_URL" in out
    assert "touch: " in out and "--base-url sets them" in out
    assert REAL_KEY_A not in out
    forced = subprocess.run(dario_cmd("shim", "--print-env", "--base-url", "--", "touch", str(marker)),
                            env=base_env(home), capture_output=True, timeout=30).stdout.decode()
    assert "ANTHROPIC_BASE_URL=http://127.0.0.1:<port>/t/<token>/anthropic" in forced
    assert "GOOGLE_GEMINI_BASE_URL=http://127.0.0.1:<port>/t/<token>/gemini" in forced


BASE_VARS = ("ANTHROPIC_BASE_URL", "OPENAI_BASE_URL", "OPENAI_API_BASE", "GOOGLE_GEMINI_BASE_URL")
SHOW_BASES = {"python": [PY, "-c", "import json, os; print(json.dumps({v: os.environ.get(v) for v in %r}))"
                         % (BASE_VARS,)],
              "node": ["node", "-e", "console.log(JSON.stringify(Object.fromEntries(%s.map((v) => "
                       "[v, process.env[v] ?? null]))))" % json.dumps(list(BASE_VARS))]}


@pytest.mark.parametrize("runtime", list(SHOW_BASES))
@pytest.mark.parametrize("own", [False, True], ids=["none-set", "own-set"])
def test_children_see_their_own_base_url_variables(home, runtime, own):
    """Caught in-process, a child sees the base-URL variables it would see without dario: none, or its
    own (whose host dario then intercepts)."""
    mine = {"ANTHROPIC_BASE_URL": "https://gateway.example.test/anthropic"} if own else {}
    env = base_env(home, **mine)
    for v in BASE_VARS:
        if v not in mine:
            env.pop(v, None)
    without = json.loads(subprocess.run(SHOW_BASES[runtime], env=env, capture_output=True, timeout=30).stdout)
    r = run_shim(home, *SHOW_BASES[runtime], env=env)
    assert json.loads(r.stdout) == without == {v: mine.get(v) for v in BASE_VARS}
    if own:
        hosts = subprocess.run(dario_cmd("shim", "--print-env", "--", PY), env=env, capture_output=True,
                               timeout=30).stdout.decode()
        assert re.search(r"DARIO_SHIM_HOSTS=.*gateway\.example\.test", hosts)
        assert "unchanged: ANTHROPIC_BASE_URL" in hosts


# -- the fallback door --------------------------------------------------------------------------
CURL_MESSAGE = ('curl -sS -X POST "$ANTHROPIC_BASE_URL/v1/messages" -H "x-api-key: $ANTHROPIC_API_KEY" '
                '-H "anthropic-version: 2023-06-01" -H "content-type: application/json" '
                '-d \'{"model":"claude-x","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}\'')


def test_fallback_routes_with_the_real_key(home, upstream):
    r = run_shim(home, "sh", "-c", CURL_MESSAGE, options=("--base-url",))
    assert json.loads(r.stdout)["content"][0]["text"] == ANSWER
    seen = upstream.last()
    assert seen.headers["x-api-key"] == REAL_KEY_A  # the run token never goes upstream
    assert "dario-run-" not in json.dumps(seen.headers)


def test_fallback_rejects_a_wrong_token(home):
    bad = CURL_MESSAGE.replace('"$ANTHROPIC_BASE_URL', '"$(echo $ANTHROPIC_BASE_URL | sed s/dario-run-/dario-run-x/)')
    r = run_shim(home, "sh", "-c", bad + ' -w "\\n%{http_code}"', options=("--base-url",))
    body, code = r.stdout.decode().rsplit("\n", 1)
    assert code == "401" and json.loads(body)["type"] == "error"


def test_fallback_forwards_to_the_users_own_base_url_in_observe_mode(home, upstream):
    env = base_env(home, ANTHROPIC_BASE_URL=upstream.url, ANTHROPIC_API_KEY="sk-ant-childs-own-key-5678")
    r = run_shim(home, "sh", "-c", CURL_MESSAGE, options=("--observe", "--base-url"), env=env)
    assert json.loads(r.stdout)["content"][0]["text"] == ANSWER
    seen = upstream.last()
    assert seen.headers["x-api-key"] == "sk-ant-childs-own-key-5678"  # observe changes nothing
    assert seen.body["model"] == "claude-x"


# -- real Claude Code builds ------------------------------------------------------------------------
def _claude_env(home, **kw):
    return base_env(home, **kw)


needs_native = pytest.mark.skipif(not CLAUDE_NATIVE.exists(),
                                  reason="npm install did not provide the native Claude Code build")


def _messages_calls(upstream):
    return [s for s in upstream.requests if s.path.startswith("/v1/messages")]


DOORS = {  # what each case takes away with an `env -u` wrapper, leaving only the door under test
    "bun-preload": [],
    "https-proxy": ["BUN_OPTIONS"],  # no base URL either: dario sets none by default
    "fallback": ["BUN_OPTIONS", "HTTPS_PROXY", "https_proxy"],  # with --base-url
}


@needs_native
@pytest.mark.parametrize("door", list(DOORS))
def test_native_claude_code(home, upstream, door):
    strip = [a for v in DOORS[door] for a in ("-u", v)]
    cmd = ["env", *strip, str(CLAUDE_NATIVE)] if strip else [str(CLAUDE_NATIVE)]
    r = run_shim(home, *cmd, "--print", "hi", options=("-v", "--base-url") if door == "fallback" else ("-v",),
                 env=_claude_env(home))
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout.decode() == ANSWER + "\n"
    calls = _messages_calls(upstream)
    assert calls and all(c.headers.get("x-api-key") == REAL_KEY_A for c in calls)
    err = r.stderr.decode()
    assert {"bun-preload": "in-process: pid", "https-proxy": "https-proxy: pid", "fallback": "fallback: pid"}[door] in err
    assert re.search(r"dario: 200 anthropic +\S+ +stream .*pid=\d+", err), err


@needs_native
def test_native_claude_code_on_another_provider(home, upstream):
    r = run_shim(home, str(CLAUDE_NATIVE), "--print", "hi", options=("--model", "oai:gpt-4o-mini"),
                 env=_claude_env(home))
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout.decode() == ANSWER + "\n"
    chat = [s for s in upstream.requests if s.path == "/v1/chat/completions"]
    assert chat and chat[-1].body["model"] == "gpt-4o-mini"
    assert chat[-1].headers["Authorization"] == f"Bearer {REAL_KEY_O}"


@pytest.mark.parametrize("how", ["node-cli.js", "bin-link"])
def test_node_claude_code_under_the_shim(home, upstream, how):
    if not CLAUDE_NODE.exists():
        pytest.skip("npm install did not provide @anthropic-ai/claude-code@2.1.100")
    cmd = ["node", str(CLAUDE_NODE)] if how == "node-cli.js" else [str(CLAUDE_BIN_LINK)]
    r = run_shim(home, *cmd, "--print", "hi", options=("-v",), env=_claude_env(home))
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout.decode() == ANSWER + "\n"
    err = r.stderr.decode()
    assert "in-process: pid" in err  # the payload, not the fallback, carried the call
    # the exit summary counts chat calls apart from Claude Code's other requests (unreachable here)
    summary = re.search(r"(\d+) call\(s\), 0 error\(s\), (\d+) in / (\d+) out", err)
    assert summary and int(summary[1]) == len(_messages_calls(upstream)) and int(summary[3]) == 9 * int(summary[1])
    assert all(s.headers.get("x-api-key") == REAL_KEY_A for s in upstream.requests
               if s.path.startswith("/v1/messages"))


def test_children_that_make_no_call_are_still_known(home):
    """Each runtime's hello (a file in the host's private dir) is collected at exit and stored."""
    script = "import subprocess; subprocess.run(['node', '-e', ''])"
    r = run_shim(home, PY, "-c", script, options=("-v",))
    err = r.stderr.decode()
    assert r.returncode == 0 and re.search(r"in-process: pid \d+ \(python\)", err) and re.search(
        r"in-process: pid \d+ \(node\)", err), err
    from dario.store.telemetry import TelemetryStore
    store = TelemetryStore(home / "telemetry.db")
    run_id = store.last_run_id()
    procs = store.processes(run_id)
    py = next(p for p in procs if p["runtime"] == "python")
    node = next(p for p in procs if p["runtime"] == "node")
    assert node["ppid"] == py["pid"] and {p["how"] for p in procs} == {"in-process"}
