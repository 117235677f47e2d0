"""`dario mcp` through the official MCP client over stdio: read-only tools, CLI-identical rows, no keys."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import pytest

pytest.importorskip("mcp")
from mcp import ClientSession, StdioServerParameters, stdio_client  # noqa: E402

from dario.pipeline.record import CallRecord  # noqa: E402
from dario.store.config import Config  # noqa: E402
from dario.store.telemetry import BackgroundRecorder  # noqa: E402

KEY = "sk-mcp-secret-key-ABCDEF123456"
ENV_KEY = "sk-mcp-env-secret-ZYXW98765"
EXPECTED_TOOLS = {"doctor", "backends_list", "usage", "recent_calls", "status"}
MUTATING = re.compile(r"\b(add|remove|set|delete|write|update|create|edit|install|rotate)\w*", re.I)


@pytest.fixture
def home(tmp_path, upstream):
    home = tmp_path / "home"
    cfg = Config(home=home)
    cfg.add_backend("ant", [KEY], upstream.url, "anthropic")
    cfg.add_backend("oai", ["env:MCP_TEST_KEY"], upstream.url + "/v1", "openai")
    cfg.save()
    rec = BackgroundRecorder(home / "telemetry.db", secrets=[KEY, ENV_KEY])
    t0 = time.time() - 3600
    for i, (backend, model) in enumerate([("ant", "claude-sonnet-4-5"), ("oai", "gpt-4o-mini"),
                                          ("oai", "gpt-4o-mini"), ("ant", "claude-haiku-4-5")]):
        rec.submit(CallRecord(ts=t0 + i, run_id=f"run-{i % 2}", backend=backend, model=model, status=200,
                              protocol_in="anthropic" if backend == "ant" else "openai",
                              input_tokens=100 * (i + 1), output_tokens=10 * (i + 1),
                              error=f"upstream said: bad key {KEY}" if i == 3 else None))
    rec.submit(CallRecord(ts=time.time() - 10 * 86400, run_id="old", backend="oai", model="gpt-4o", status=500,
                          protocol_in="openai"))
    rec.flush()
    rec.close()
    return home


def _env(home, tmp_path) -> dict[str, str]:
    return {**os.environ, "DARIO_HOME": str(home), "CLAUDE_CONFIG_DIR": str(tmp_path / "claude"),
            "MCP_TEST_KEY": ENV_KEY}


def _cli_json(env, *args) -> list:
    out = subprocess.run([sys.executable, "-m", "dario", *args, "--json"], capture_output=True, text=True,
                         env=env, timeout=30, check=True).stdout
    return json.loads(out) if out.lstrip().startswith("[") else [json.loads(ln) for ln in out.splitlines() if ln]


def _ro(tool) -> bool:
    ann = tool.annotations
    return bool(getattr(ann, "read_only_hint", None) or getattr(ann, "readOnlyHint", None))


async def test_tools_over_stdio(home, tmp_path):
    env = _env(home, tmp_path)
    params = StdioServerParameters(command=sys.executable, args=["-m", "dario", "mcp"], env=env)
    texts: list[str] = []
    with open(tmp_path / "server.err", "w") as errlog:
        async with stdio_client(params, errlog=errlog) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()

                async def call(name, args=None, ok=True):
                    res = await session.call_tool(name, args or {})
                    text = "".join(getattr(c, "text", "") for c in res.content)
                    texts.append(text)
                    assert bool(getattr(res, "is_error", getattr(res, "isError", False))) is (not ok), text
                    return json.loads(text) if ok else text

                tools = (await session.list_tools()).tools
                assert {t.name for t in tools} == EXPECTED_TOOLS
                for t in tools:
                    assert not MUTATING.search(t.name) and not MUTATING.search(t.description or ""), t.name
                    assert _ro(t), f"{t.name} is not annotated read-only"

                rows = {c["name"]: c for c in (await call("doctor"))["checks"]}
                assert rows["backend ant"]["status"] == "ok" and rows["backend oai"]["status"] == "ok"
                assert rows["telemetry"]["status"] == "ok"

                backends = (await call("backends_list"))["backends"]
                assert backends == [
                    {"name": "ant", "kind": "anthropic", "base_url": backends[0]["base_url"], "keys": 1,
                     "default": True},
                    {"name": "oai", "kind": "openai", "base_url": backends[1]["base_url"], "keys": 1,
                     "default": False}]

                usage = await call("usage")
                assert usage["rows"] == _cli_json(env, "usage")
                assert sum(r["requests"] for r in usage["rows"]) == 5
                week = await call("usage", {"by": "backend", "since": "7d"})
                assert week["rows"] == _cli_json(env, "usage", "--by", "backend", "--since", "7d")
                assert {r["backend"]: r["requests"] for r in week["rows"]} == {"ant": 2, "oai": 2}
                assert "since" in await call("usage", {"since": "soon"}, ok=False)
                assert "by must be one of" in await call("usage", {"by": "colour"}, ok=False)

                calls = (await call("recent_calls", {"n": 3}))["calls"]
                assert calls == _cli_json(env, "log", "-n", "3")
                assert len(calls) == 3 and calls[-1]["model"] == "claude-haiku-4-5"
                run0 = (await call("recent_calls", {"run": "run-0"}))["calls"]
                assert {c["run_id"] for c in run0} == {"run-0"} and len(run0) == 2

                status = await call("status")
                assert status["backends"] == ["ant", "oai"] and status["default_backend"] == "ant"
                assert status["runs"] == 3 and status["last_call"] is not None
                assert status["proxy"]["status"] in ("ok", "warn")
    joined = "\n".join(texts)
    assert KEY not in joined and ENV_KEY not in joined and "MCP_TEST_KEY" not in joined
    assert "[REDACTED]" in joined  # the stored error quoted the key; it arrives masked
    assert "Traceback" not in (tmp_path / "server.err").read_text()


def test_stdout_carries_only_protocol_frames(home, tmp_path):
    """Raw stdio: even a doctor run (children, network) puts nothing but JSON-RPC lines on stdout."""
    msgs = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "doctor", "arguments": {}}},
    ]
    p = subprocess.Popen([sys.executable, "-m", "dario", "mcp"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=_env(home, tmp_path), text=True)
    try:
        lines = []
        for m in msgs:
            p.stdin.write(json.dumps(m) + "\n")
            p.stdin.flush()
            if "id" in m:
                while True:
                    line = p.stdout.readline()
                    assert line, p.stderr.read()
                    lines.append(line)
                    if json.loads(line).get("id") == m["id"]:
                        break
        p.stdin.close()
        rest = p.stdout.read()
        p.wait(15)
    finally:
        if p.poll() is None:
            p.kill()
    for line in lines + rest.splitlines():
        assert json.loads(line)["jsonrpc"] == "2.0"
    assert "checks" in json.loads(lines[-1])["result"]["content"][0]["text"]


def test_dario_startup_does_not_import_mcp():
    out = subprocess.run([sys.executable, "-c", "import sys, dario.cli; print('mcp' in sys.modules)"],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
