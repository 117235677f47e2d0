"""Real coding CLIs no one here wrote, end to end against the fake upstream: Codex CLI (a native
binary speaking the Responses API) through `dario proxy` on an Anthropic backend, Gemini CLI
under `dario shim` and through the proxy, natively and translated, and Claude Code 2.1.100 on a
Gemini backend. The fake answers the first turn with a call of the CLI's first tool, so each
run includes a tool-result turn."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time

import pytest

from tests.support.fake_upstream import ANSWER, GEMINI_SIGNATURE
from tests.support.shim import CLAUDE_NODE, CODEX, GEMINI_CLI, REAL_KEY_G, base_env, run_shim

needs_codex = pytest.mark.skipif(not CODEX.exists(), reason="npm ci did not provide @openai/codex")
needs_gemini = pytest.mark.skipif(not GEMINI_CLI.exists(), reason="npm ci did not provide @google/gemini-cli")


def records(proxy, n, timeout=5.0):
    end = time.time() + timeout
    while len(proxy.records) < n and time.time() < end:
        time.sleep(0.01)
    return proxy.records


def clean_env(home, **extra) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ANTHROPIC_", "OPENAI_", "GEMINI_", "GOOGLE_", "CODEX_", "NODE_OPTIONS"))}
    env.update(HOME=str(home), NO_COLOR="1", **extra)
    return env


def codex(proxy, home, model: str) -> subprocess.CompletedProcess:
    """The README's recipe: Codex takes its provider from config; dario is one more provider."""
    home.mkdir(exist_ok=True)
    return subprocess.run(
        [str(CODEX), "exec", "--skip-git-repo-check", "--ephemeral",
         "-c", f"model_providers.dario.base_url={proxy.url}/v1", "-c", "model_providers.dario.name=dario",
         "-c", "model_providers.dario.env_key=DARIO_API_KEY", "-c", "model_provider=dario",
         "-c", "model_providers.dario.request_max_retries=0", "-c", "model_providers.dario.stream_max_retries=0",
         "-m", model, "say hi"],
        env=clean_env(home, CODEX_HOME=str(home), DARIO_API_KEY="not-a-real-key"), cwd=str(home),
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


@needs_codex
def test_codex_exec_through_the_proxy_on_an_anthropic_backend(proxy, upstream, tmp_path):
    r = codex(proxy, tmp_path / "codex", "anthropic:claude-sonnet-4-5")
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.strip() == ANSWER
    calls = [s for s in upstream.requests if s.path == "/v1/messages"]
    assert len(calls) == 2  # the tool call, then the turn with its result
    first, second = calls[0].body, calls[1].body
    assert first["stream"] is True and first["system"] and "Codex" in json.dumps(first["system"])
    names = [t["name"] for t in first["tools"]]
    assert "exec_command" in names and any("__" in n for n in names)  # namespace tools, flattened
    assert all(t.get("type") is None for t in first["tools"])  # web_search was not offered
    (use,) = [b for b in second["messages"][-2]["content"] if b["type"] == "tool_use"]
    (result,) = [b for b in second["messages"][-1]["content"] if b["type"] == "tool_result"]
    assert result["tool_use_id"] == use["id"] and use["name"] == first["tools"][0]["name"]
    recs = records(proxy, 2)
    assert [(x.protocol_in, x.protocol_out, x.status, x.error) for x in recs] == [("responses", "anthropic", 200, None)] * 2
    assert all(x.output_tokens == 9 for x in recs)


@needs_codex
def test_codex_exec_through_the_proxy_natively(proxy, upstream, tmp_path):
    r = codex(proxy, tmp_path / "codex", "oair:gpt-5")
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.strip() == ANSWER
    calls = [s for s in upstream.requests if s.path == "/v1/responses"]
    assert len(calls) == 2 and calls[0].body["model"] == "gpt-5"
    assert {"type": "web_search", "external_web_access": False} in calls[0].body["tools"]  # untouched


def gemini_home(home):
    (home / ".gemini").mkdir(parents=True, exist_ok=True)
    (home / ".gemini" / "settings.json").write_text(json.dumps({
        "security": {"auth": {"selectedType": "gemini-api-key"}}, "general": {"disableAutoUpdate": True},
        "privacy": {"usageStatisticsEnabled": False}, "telemetry": {"enabled": False}}))
    return home


@needs_gemini
@pytest.mark.parametrize("model, backend_path", [
    ("gemini-2.5-flash", "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"),
    ("anthropic:claude-sonnet-4-5", "/v1/messages"),
    ("oai:gpt-4o", "/v1/chat/completions")])
def test_gemini_cli_through_the_proxy(proxy, upstream, tmp_path, model, backend_path):
    home = gemini_home(tmp_path / "g")
    r = subprocess.run([str(GEMINI_CLI), "-p", "say hi", "-m", model], capture_output=True, text=True,
                       timeout=120, cwd=str(home), stdin=subprocess.DEVNULL,
                       env=clean_env(home, GEMINI_API_KEY="not-a-real-key", GOOGLE_GEMINI_BASE_URL=proxy.url,
                                     GEMINI_CLI_TRUST_WORKSPACE="true"))
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.strip() == ANSWER
    calls = [s for s in upstream.requests if s.path == backend_path]
    assert len(calls) >= 2 and all(c.body.get("stream", True) is True for c in calls)
    if model.startswith("gemini"):
        replay = [p for c in calls[-1].body["contents"] for p in c["parts"] if "functionCall" in p]
        assert replay and replay[0]["thoughtSignature"] == GEMINI_SIGNATURE
        assert all(c.key not in ("not-a-real-key",) for c in calls)
    recs = records(proxy, len(calls))
    assert recs and all(x.protocol_in == "gemini" and x.status == 200 for x in recs)


@needs_gemini
def test_gemini_cli_under_the_shim_in_process(home, upstream):
    gemini_home(home)
    env = base_env(home, GEMINI_CLI_TRUST_WORKSPACE="true")
    r = run_shim(home, str(GEMINI_CLI), "-p", "say hi", "-m", "gemini-2.5-flash", options=("-v",), env=env,
                 timeout=120, stdin=subprocess.DEVNULL)
    err = r.stderr.decode()
    assert r.returncode == 0, err[-3000:]
    assert r.stdout.decode().strip() == ANSWER
    calls = [s for s in upstream.requests if ":streamGenerateContent" in s.path]
    assert len(calls) >= 2 and all(c.headers.get("x-goog-api-key") == REAL_KEY_G for c in calls)
    assert "in-process: pid" in err and re.search(r"200 gemini\s", err)


def test_claude_code_on_a_gemini_backend_with_a_tool_turn(home, upstream):
    if not CLAUDE_NODE.exists():
        pytest.skip("npm install did not provide @anthropic-ai/claude-code@2.1.100")
    r = run_shim(home, "node", str(CLAUDE_NODE), "--print", "hi", options=("--model", "gemini:gemini-2.5-flash"),
                 env=base_env(home))
    assert r.returncode == 0, r.stderr.decode()[-3000:]
    assert r.stdout.decode() == ANSWER + "\n"
    calls = [s for s in upstream.requests if ":streamGenerateContent" in s.path or ":generateContent" in s.path]
    turns = [c for c in calls if any("functionResponse" in p for m in c.body["contents"] for p in m["parts"])]
    assert turns, "Claude Code never sent the tool result back"
    # the fake refuses schemas outside Gemini's subset and a replayed call without its signature
    replay = [p for m in turns[-1].body["contents"] for p in m["parts"] if "functionCall" in p]
    assert replay[0]["thoughtSignature"] == GEMINI_SIGNATURE
    assert all(c.headers["x-goog-api-key"] == REAL_KEY_G for c in calls)


def test_claude_code_conversations_are_separate_runs_of_turns(home, upstream):
    """Two independent `claude --print hi` in one shim run: each is a tool turn and its follow-up,
    and the two are two conversations, though both open with "hi"."""
    if not CLAUDE_NODE.exists():
        pytest.skip("npm install did not provide @anthropic-ai/claude-code@2.1.100")
    script = f"node {CLAUDE_NODE} --print hi && node {CLAUDE_NODE} --print hi"
    r = run_shim(home, "sh", "-c", script, env=base_env(home))
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    assert r.stdout.decode() == (ANSWER + "\n") * 2
    from tests.support.shim import dario_cmd
    rows = [json.loads(x) for x in subprocess.run(dario_cmd("log", "--json", "--calls", "-n", "50"),
                                                   env=base_env(home), capture_output=True, text=True).stdout.split("\n")
            if x.strip()]
    convs = [x["conversation"] for x in rows]
    assert len(rows) == 4 and len(set(convs)) == 2, convs
    assert convs[0] == convs[1] and convs[2] == convs[3]  # each: the tool call, then the turn with its result
