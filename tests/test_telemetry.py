"""Telemetry store, background recorder, pricing and the log/usage commands."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from dario.cli_telemetry import parse_since, register
from dario.pipeline.record import CallRecord
from dario.pipeline.sessions import Conversations
from dario.store import pricing
from dario.store.telemetry import (CALL_COLUMNS, SCHEMA_VERSION, BackgroundRecorder, TelemetryStore,
                                   apply_migrations, connect)

ANT_KEY = "sk-ant-api03-" + "Zq8vLr2mN5xT1yW4kP7j" * 3
BEARER = "Bearer " + "tok9A8b7C6d5E4f3G2h1" * 2
LITERAL = "hunter2-literal-secret"

SYSTEM = "You are a careful coding agent."
USER1 = "List the files in /tmp and summarise them."


def _sse(events: list[tuple[str | None, dict | str]]) -> bytes:
    out = []
    for ev, data in events:
        payload = data if isinstance(data, str) else json.dumps(data)
        out.append((f"event: {ev}\n" if ev else "") + f"data: {payload}\n\n")
    return "".join(out).encode()


def sample_run(run_id: str = "run-abc123", t0: float | None = None) -> list[CallRecord]:
    """A small agent run: two streamed Anthropic turns with a tool, an OpenAI call, an error, an unpriced model."""
    t0 = t0 or time.time() - 60
    req1 = {"model": "claude-sonnet-4-5", "stream": True, "system": SYSTEM,
            "tools": [{"name": "list_files", "input_schema": {}}],
            "messages": [{"role": "user", "content": [{"type": "text", "text": USER1}]}]}
    tool_use = {"type": "tool_use", "id": "toolu_01", "name": "list_files", "input": {}}
    resp1 = _sse([
        ("message_start", {"type": "message_start", "message": {"model": "claude-sonnet-4-5-20250929",
                                                                "usage": {"input_tokens": 200}}}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "text", "text": ""}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "text_delta", "text": "I'll look in "}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "text_delta", "text": "the directory."}}),
        ("content_block_start", {"type": "content_block_start", "index": 1, "content_block": tool_use}),
        ("content_block_delta", {"type": "content_block_delta", "index": 1,
                                 "delta": {"type": "input_json_delta", "partial_json": "{\"path\": \"/t"}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 1,
                                 "delta": {"type": "input_json_delta", "partial_json": "mp\"}"}}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "tool_use"},
                           "usage": {"output_tokens": 80}}),
        ("message_stop", {"type": "message_stop"}),
    ])
    req2 = dict(req1, messages=req1["messages"] + [
        {"role": "assistant", "content": [{"type": "text", "text": "I'll look in the directory."},
                                          dict(tool_use, input={"path": "/tmp"})]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01",
                                      "content": "a.txt\nnotes.md"}]}])
    resp2 = _sse([
        ("message_start", {"type": "message_start", "message": {"model": "claude-sonnet-4-5-20250929"}}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "text", "text": ""}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "text_delta", "text": "Two files: a.txt and notes.md."}}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"}}),
    ])
    req3 = {"model": "gpt-4o-mini", "messages": [
        {"role": "system", "content": "You translate."},
        {"role": "user", "content": "Say <script>alert(1)</script><img src=x onerror=alert(2)> in French"}]}
    resp3 = {"model": "gpt-4o-mini-2024-07-18", "choices": [{"finish_reason": "tool_calls", "message": {
        "role": "assistant", "content": "Dites bonjour",
        "tool_calls": [{"id": "call_9", "type": "function",
                        "function": {"name": "lookup_word", "arguments": "{\"word\": \"hello\"}"}}]}}]}
    err = {"error": {"message": "Rate limit reached", "type": "rate_limit_error"}}
    convs = Conversations()  # as the pipeline assigns them: turn 2 extends turn 1

    def conversation_key(protocol, body):
        return convs.key(run_id, protocol, body)

    common = dict(run_id=run_id, source="shim", client="claude", pid=4242, method="POST")
    return [
        CallRecord(ts=t0, backend="anthropic", model_requested="claude-sonnet-4-5",
                   model="claude-sonnet-4-5-20250929", protocol_in="anthropic", protocol_out="anthropic",
                   stream=True, status=200, input_tokens=200, output_tokens=80, cache_write_tokens=1000,
                   latency_ms=2100, ttft_ms=450, path="/v1/messages", conversation=conversation_key("anthropic", req1),
                   request_body=json.dumps(req1).encode(), response_body=resp1, **common),
        CallRecord(ts=t0 + 5, backend="anthropic", model_requested="claude-sonnet-4-5",
                   model="claude-sonnet-4-5-20250929", protocol_in="anthropic", protocol_out="anthropic",
                   stream=True, status=200, input_tokens=60, output_tokens=20, cache_read_tokens=1000,
                   latency_ms=1500, ttft_ms=300, path="/v1/messages", conversation=conversation_key("anthropic", req2),
                   request_body=json.dumps(req2).encode(), response_body=resp2, **common),
        CallRecord(ts=t0 + 12, backend="openai", model_requested="gpt-4o-mini", model="gpt-4o-mini",
                   protocol_in="openai", protocol_out="openai", status=200, input_tokens=30, output_tokens=12,
                   latency_ms=800, ttft_ms=800, path="/v1/chat/completions",
                   conversation=conversation_key("openai", req3),
                   request_body=json.dumps(req3).encode(), response_body=json.dumps(resp3).encode(), **common),
        CallRecord(ts=t0 + 20, backend="openai", model_requested="gpt-4o-mini", model="gpt-4o-mini",
                   protocol_in="openai", protocol_out="openai", status=429, error="upstream 429: Rate limit reached",
                   latency_ms=90, path="/v1/chat/completions", request_body=json.dumps(req3).encode(),
                   response_body=json.dumps(err).encode(), **common),
        CallRecord(ts=t0 + 30, backend="ollama", model="mystery-model-1", protocol_in="openai",
                   protocol_out="openai", status=200, input_tokens=10, output_tokens=5, latency_ms=300, **common),
    ]


def record_sample(db: Path, run_id: str = "run-abc123", **kw) -> list[CallRecord]:
    rec = BackgroundRecorder(db, **kw)
    rec.record_run(run_id, source="shim", argv=["claude", "-p", "list /tmp"], pid=4242)
    rec.record_process(run_id, 4243, ppid=4242, runtime="node", argv0="claude")
    records = sample_run(run_id)
    for r in records:  # priced as the pipeline's finish stage prices every call, once
        r.cost_usd = pricing.cost(r.model or r.model_requested, r.input_tokens, r.output_tokens,
                                  r.cache_read_tokens, r.cache_write_tokens)
        rec.submit(r)
    assert rec.flush()
    rec.close()
    return records


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path


def _cli(home: Path) -> typer.Typer:
    app = typer.Typer()
    register(app, lambda: home)
    return app


# -- pricing ------------------------------------------------------------------

def test_cost_arithmetic_with_cache_prices():
    # sonnet 4.x: 3 in, 15 out, 0.30 cache read, 3.75 cache write per MTok (a prompt under 200K tokens)
    c = pricing.cost("claude-sonnet-4-5-20250929", 10_000, 1_000, 20_000, 4_000)
    assert c == pytest.approx((3.0 + 1.5 + 0.6 + 1.5) / 100)
    assert pricing.cost("claude-opus-4-1-20250805", 1000, 1000) == pytest.approx((15 + 75) / 1000)
    assert pricing.cost("claude-opus-4-5-20251101", 1000, 1000) == pytest.approx((5 + 25) / 1000)
    assert pricing.cost("claude-3-5-haiku-20241022", 1_000_000, 0) == pytest.approx(0.8)
    assert pricing.cost("gpt-4o-mini-2024-07-18", 1_000_000, 1_000_000, 1_000_000) == pytest.approx(0.15 + 0.6 + 0.075)
    assert pricing.cost("gpt-4o-2024-08-06", 1_000_000, 0) == pytest.approx(2.5)
    assert pricing.cost("gpt-4.1-mini", 0, 1_000_000) == pytest.approx(1.6)
    assert pricing.cost("openai/gpt-5", 1_000_000, 0, 1_000_000) == pytest.approx(1.25 + 0.125)


def test_unknown_model_costs_none_and_overrides_win():
    assert pricing.cost("mystery-model-1", 100, 100) is None
    assert pricing.cost("gpt-4o-but-not-really-xyz", 100, 100) is not None  # prefix family match
    assert pricing.cost("gpt-5.3-codex", 100, 100) is None  # a new minor is not silently gpt-5
    assert pricing.cost(None, 100, 100) is None
    assert pricing.cost("gpt-4o", None, None) is None  # no counts: unknown, not 0
    over = {"mystery-model-1": {"input": 1.0, "output": 2.0, "cache_read": 0.1}}
    assert pricing.cost("mystery-model-1", 1_000_000, 1_000_000, 1_000_000, 0, over) == pytest.approx(3.1)
    assert pricing.cost("gpt-4o", 1_000_000, 0, overrides={"gpt-4o": {"input": 9, "output": 9}}) == 9


# -- sessions -----------------------------------------------------------------

def test_conversation_key_same_across_protocols_and_turns():
    c = Conversations()
    ant = {"system": [{"type": "text", "text": "Be brief."}],
           "messages": [{"role": "user", "content": [{"type": "text", "text": "Hello   there"}]}]}
    oai = {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello there"},
                        {"role": "assistant", "content": "Hi"}, {"role": "user", "content": "more"}]}
    k = c.key("run", "anthropic", ant)
    assert k and len(k) == 32 and k == c.key("run", "openai", oai)  # the same history, in the other shape
    later = dict(ant, messages=ant["messages"] + [{"role": "assistant", "content": "Hi"},
                                                  {"role": "user", "content": "more"},
                                                  {"role": "assistant", "content": "ok"},
                                                  {"role": "user", "content": "and?"}])
    assert c.key("run", "anthropic", later) == k
    other = {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Bye"}]}
    assert c.key("run", "openai", other) != k
    assert c.key("run", "openai", {"messages": []}) is None
    assert c.key("run", "openai", {"model": "x"}) is None


# -- store --------------------------------------------------------------------

def test_rows_for_plain_streamed_and_error_records(tmp_path):
    db = tmp_path / "telemetry.db"
    records = record_sample(db)
    store = TelemetryStore(db)
    rows = {r["id"]: r for r in store.recent(50)}
    assert len(rows) == 5
    streamed, plain, error, unpriced = (rows[records[i].id] for i in (0, 2, 3, 4))
    assert streamed["stream"] is True and streamed["ttft_ms"] == 450 and streamed["cache_write_tokens"] == 1000
    assert streamed["cost_usd"] == pytest.approx((200 * 3 + 80 * 15 + 1000 * 3.75) / 1e6)
    assert plain["stream"] is False and plain["cost_usd"] == pytest.approx((30 * 0.15 + 12 * 0.6) / 1e6)
    assert error["status"] == 429 and "Rate limit" in error["error"] and error["cost_usd"] is None
    assert unpriced["cost_usd"] is None
    assert set(CALL_COLUMNS) <= set(streamed)
    assert streamed["conversation"] == rows[records[1].id]["conversation"] != plain["conversation"]
    bodies = store.calls_for_run("run-abc123")
    assert [b["id"] for b in bodies] == [r.id for r in records]
    assert b"text_delta" in bodies[0]["response_body"] and bodies[4]["request_body"] is None
    assert store.last_run_id() == "run-abc123"
    run = store.runs()[0]
    assert run["argv"] == "claude -p list /tmp" and run["calls"] == 5 and run["processes"] == 1
    assert store.processes("run-abc123")[0]["how"] == "in-process"
    assert store.schema_version() == SCHEMA_VERSION and store.size_bytes() > 0


def test_usage_grouping(tmp_path):
    db = tmp_path / "telemetry.db"
    record_sample(db)
    store = TelemetryStore(db)
    by_model = {r["model"]: r for r in store.usage("model")}
    assert by_model["gpt-4o-mini"]["requests"] == 2 and by_model["gpt-4o-mini"]["errors"] == 1
    assert by_model["claude-sonnet-4-5-20250929"]["input_tokens"] == 260
    assert by_model["claude-sonnet-4-5-20250929"]["cache_read_tokens"] == 1000
    assert by_model["mystery-model-1"]["cost_usd"] is None  # all rows unpriced: null, not 0
    by_backend = {r["backend"]: r["requests"] for r in store.usage("backend")}
    assert by_backend == {"anthropic": 2, "openai": 2, "ollama": 1}
    assert [r["run"] for r in store.usage("run")] == ["run-abc123"]
    assert store.usage("day")[0]["requests"] == 5 and store.usage("client")[0]["client"] == "claude"
    assert store.usage("model", since_seconds=1) == []  # the sample is a minute old
    with pytest.raises(ValueError):
        store.usage("nope")


def test_call_ids_begin_with_the_time_and_end_in_random_digits(tmp_path):
    """telemetry.db indexes calls and bodies by id: ids that sort by time are appended to both indexes,
    where random ones put every insert on a random page (the writer's cost a call doubled by 400k calls).
    People name a call by the random end (`dario log`'s id column, `dario show`)."""
    import subprocess
    from dario.core.ids import new_id
    ids = [new_id() for _ in range(300)]
    time.sleep(0.003)
    later = new_id()
    assert all(re.fullmatch("[0-9a-f]{32}", i) for i in ids + [later])
    assert len(set(ids)) == len(ids) and max(ids) < later  # a call made later sorts after
    assert abs(int(later[:12], 16) / 1000 - time.time()) < 5
    assert len({i[-8:] for i in ids}) == len(ids)  # the short ids differ (80 random bits at the end)
    # a forked process (the writer, a worker) draws other random digits than its parent
    code = ("import os, sys; from dario.core.ids import new_id\npid = os.fork()\nprint(new_id()[12:]); "
            "sys.stdout.flush()\nif pid == 0:\n    os._exit(0)\nos.waitpid(pid, 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30).stdout.split()
    assert len(out) == 2 and out[0] != out[1]


def test_conversation_ids_begin_with_the_time_as_call_ids_do():
    """telemetry.db indexes calls by conversation too: where each call opens a conversation of its own (a
    gateway's one-shot calls), random ids put each insert on a random page of that index, as random call ids
    did (the writer's cost a call 21 -> 29 us over 500k calls). A conversation opened later sorts after."""
    c = Conversations()
    first = [c.key("run", "openai", {"messages": [{"role": "user", "content": f"task {i}"}]}) for i in range(50)]
    time.sleep(0.003)
    later = c.key("run", "openai", {"messages": [{"role": "user", "content": "one more"}]})
    assert all(re.fullmatch("[0-9a-f]{32}", k) for k in first + [later]) and len(set(first)) == len(first)
    assert max(first) < later and abs(int(later[:12], 16) / 1000 - time.time()) < 5


def test_bodies_redacted_in_db_and_wal(tmp_path):
    db = tmp_path / "telemetry.db"
    body = json.dumps({"messages": [{"role": "user", "content": f"key {ANT_KEY} auth {BEARER} lit {LITERAL}"}]})
    rec = BackgroundRecorder(db, secrets=(LITERAL,))
    rec.submit(CallRecord(run_id="r", request_body=body.encode(), response_body=f"echo {ANT_KEY}".encode(),
                          error=f"failed with {BEARER}", path=f"/v1/x?key={ANT_KEY}"))
    assert rec.flush()
    secrets = [ANT_KEY.encode(), BEARER.split()[1].encode(), LITERAL.encode(), b"Zq8vLr2mN5xT1yW4kP7j"]

    def on_disk() -> bytes:
        return b"".join(p.read_bytes() for p in tmp_path.glob("telemetry.db*"))

    assert Path(f"{db}-wal").exists()  # the WAL holds the fresh pages: check it too
    for data in (on_disk(),):
        for s in secrets:
            assert s not in data
    rec.close()
    data = on_disk()
    for s in secrets:
        assert s not in data
    row = TelemetryStore(db).calls_for_run("r")[0]
    assert b"[REDACTED]" in row["request_body"] and b"[REDACTED]" in row["response_body"]
    assert "[REDACTED]" in row["error"] and "[REDACTED]" in row["path"]


def test_body_cap_and_capture_off(tmp_path):
    db = tmp_path / "telemetry.db"
    big = b"x" * 5000 + ANT_KEY.encode() + b"y" * 5000
    rec = BackgroundRecorder(db, body_cap=5010)
    rec.submit(CallRecord(id="capped", run_id="r", request_body=big, response_body=b"short"))
    rec.flush()
    rec.close()
    row = TelemetryStore(db).calls_for_run("r")[0]
    assert len(row["request_body"]) == 5010 and row["request_truncated"] == 1 and row["request_size"] == len(big)
    assert b"Zq8vLr2m" not in row["request_body"]  # the key straddled the cut and was still masked
    assert row["response_body"] == b"short" and row["response_truncated"] == 0

    db2 = tmp_path / "off.db"
    rec = BackgroundRecorder(db2, capture_bodies=False)
    rec.submit(CallRecord(run_id="r", request_body=b"secret prompt text", response_body=b"answer text",
                          input_tokens=1, output_tokens=1, model="gpt-4o"))
    rec.flush()
    rec.close()
    row = TelemetryStore(db2).calls_for_run("r")[0]
    assert row["request_body"] is None and row["input_tokens"] == 1
    assert b"secret prompt text" not in b"".join(p.read_bytes() for p in tmp_path.glob("off.db*"))


def test_file_mode_0600(tmp_path):
    db = tmp_path / "telemetry.db"
    old = os.umask(0o022)
    try:
        record_sample(db)
        rec = BackgroundRecorder(db)  # reopen keeps WAL files present while we look
        rec.submit(CallRecord(run_id="x"))
        rec.flush()
        files = list(tmp_path.glob("telemetry.db*"))
        assert len(files) >= 2
        for p in files:
            assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
        rec.close()
    finally:
        os.umask(old)
    os.chmod(db, 0o644)  # a loosened file is tightened on open
    TelemetryStore(db).close()
    assert stat.S_IMODE(db.stat().st_mode) == 0o600


def test_migrates_from_older_schema(tmp_path):
    db = tmp_path / "telemetry.db"
    conn = connect(db, migrate=False)
    assert apply_migrations(conn, upto=1) == 1
    conn.execute("INSERT INTO calls (id, ts, run_id, model, input_tokens, stream) VALUES ('old', 1.0, 'r0', 'gpt-4o', 5, 0)")
    conn.close()
    store = TelemetryStore(db)
    assert store.schema_version() == SCHEMA_VERSION
    old = store.recent(5)[0]
    assert old["id"] == "old" and old["conversation"] is None and old["key_id"] is None
    cols = {r[1] for r in sqlite3.connect(db).execute("PRAGMA table_info(calls)")}
    assert {"conversation", "key_id", "method", "path"} <= cols
    versions = [r[0] for r in sqlite3.connect(db).execute("SELECT version FROM schema_version ORDER BY version")]
    assert versions == list(range(1, SCHEMA_VERSION + 1))
    rec = BackgroundRecorder(db)
    rec.submit(CallRecord(id="new", run_id="r0", conversation="abc", key_id="k1"))
    rec.flush()
    rec.close()
    assert {r["id"] for r in TelemetryStore(db).recent(5)} == {"old", "new"}


async def test_submit_never_blocks_while_writer_is_slow(tmp_path):
    """The writer is stuck (not slow: stuck until released), and submit and the loop go on all the
    same. No timing threshold: a submit that waited for the writer would still be waiting when the
    safety timer frees it, and the gate would be open."""
    import threading
    rec = BackgroundRecorder(tmp_path / "telemetry.db", process=False)  # the in-thread writer, held up
    real = rec.rows.write_batch
    gate = threading.Event()

    def stuck(rows):
        gate.wait(30)
        real(rows)

    rec.rows.write_batch = stuck
    safety = threading.Timer(20, gate.set)  # frees a writer that a blocking submit would wait on
    safety.start()
    for i in range(200):
        rec.submit(CallRecord(run_id="slow", input_tokens=i))
    ticks = 0
    for _ in range(5):  # the loop keeps running while the writer is stuck
        await asyncio.sleep(0.01)
        ticks += 1
    assert ticks == 5 and not gate.is_set()  # all of it happened while the writer was still stuck
    safety.cancel()
    gate.set()
    rec.submit(object())  # garbage is dropped quietly, not raised
    assert await asyncio.to_thread(rec.flush)
    rec.close()
    assert len(TelemetryStore(tmp_path / "telemetry.db").recent(500, run_id="slow")) == 200


def test_otlp_hook_exports_off_the_loop_and_contains_failures(tmp_path):
    from dario.otlp import OTLPHook

    got = []

    class Good:
        def export(self, records):
            got.append((threading.current_thread().name, list(records)))

        def shutdown(self):
            got.append("shutdown")

    class Bad:
        def export(self, records):
            raise RuntimeError("collector down")

        def shutdown(self):
            raise RuntimeError("still down")

    bad, good = OTLPHook(Bad()), OTLPHook(Good())
    record = CallRecord(model="gpt-4o", input_tokens=1_000_000, output_tokens=0)
    for hook in (bad, good):
        hook.call_finish(None, record)  # returns at once, never raises
        assert hook.flush(5)
        hook.close()
    assert got[0] == ("dario-otlp", [record]) and got[-1] == "shutdown"


def test_flush_at_interpreter_exit(tmp_path):
    db = tmp_path / "telemetry.db"
    code = (f"from dario.store.telemetry import BackgroundRecorder\n"
            f"from dario.pipeline.record import CallRecord\n"
            f"r = BackgroundRecorder({str(db)!r})\n"
            f"[r.submit(CallRecord(run_id='exit')) for _ in range(50)]\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=20, cwd=Path(__file__).parent.parent)
    assert len(TelemetryStore(db).recent(100, run_id="exit")) == 50


# -- CLI ----------------------------------------------------------------------

def test_usage_json_shape(home):
    record_sample(home / "telemetry.db")
    runner = CliRunner()
    res = runner.invoke(_cli(home), ["usage", "--by", "backend", "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert {r["backend"] for r in rows} == {"anthropic", "openai", "ollama"}
    for r in rows:
        assert set(r) == {"backend", "requests", "input_tokens", "output_tokens", "cache_read_tokens",
                          "cache_write_tokens", "cost_usd", "errors", "unpriced", "complete"}
    ollama = next(r for r in rows if r["backend"] == "ollama")
    assert ollama["cost_usd"] is None and ollama["complete"] is False
    res = runner.invoke(_cli(home), ["usage", "--since", "30m", "--json"])
    assert res.exit_code == 0 and {r["model"] for r in json.loads(res.stdout)} >= {"gpt-4o-mini"}
    res = runner.invoke(_cli(home), ["usage", "--since", "1s", "--json"])
    assert json.loads(res.stdout) == []
    res = runner.invoke(_cli(home), ["usage"])
    assert res.exit_code == 0 and "gpt-4o-mini" in res.stdout and "total" in res.stdout
    assert runner.invoke(_cli(home), ["usage", "--by", "colour"]).exit_code != 0
    assert runner.invoke(_cli(home), ["usage", "--since", "soon"]).exit_code != 0


def test_log_json_fields_and_table(home):
    records = record_sample(home / "telemetry.db")
    runner = CliRunner()
    res = runner.invoke(_cli(home), ["log", "-n", "3", "--json"])
    assert res.exit_code == 0, res.output
    lines = [json.loads(x) for x in res.stdout.splitlines()]
    assert [x["id"] for x in lines] == [r.id for r in records[-3:]]  # newest three, oldest first
    for x in lines:
        assert set(x) == set(CALL_COLUMNS) | {"kind"}
        assert "request_body" not in x and "response_body" not in x and "seq" not in x
    assert lines[1]["status"] == 429 and lines[1]["error"]
    res = runner.invoke(_cli(home), ["log", "--run", "nope", "--json"])
    assert res.exit_code == 1 and res.stdout == ""  # a run that matches nothing is an error, said on stderr
    res = runner.invoke(_cli(home), ["log"])
    assert res.exit_code == 0 and "mystery-model-1" in res.stdout and "429" in res.stdout


def test_log_follow_prints_new_calls(home):
    db = home / "telemetry.db"
    record_sample(db)
    cmd = [sys.executable, "-c", "import typer, sys; from pathlib import Path; from dario.cli_telemetry import "
           "register; app = typer.Typer(); register(app, lambda: Path(sys.argv[1])); app(sys.argv[2:])",
           str(home), "log", "-n", "1", "--json", "--follow"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, cwd=Path(__file__).parent.parent, text=True)
    guard = threading.Timer(20, proc.kill)  # a stuck follow fails the test instead of hanging it
    guard.start()
    try:
        first = json.loads(proc.stdout.readline())
        assert first["model"] == "mystery-model-1"
        rec = BackgroundRecorder(db)
        rec.submit(CallRecord(id="followed", run_id="later", model="gpt-4o"))
        rec.flush()
        rec.close()
        assert json.loads(proc.stdout.readline())["id"] == "followed"
    finally:
        guard.cancel()
        proc.terminate()
        proc.wait(5)


def test_parse_since():
    assert parse_since("7d") == 7 * 86400 and parse_since("24h") == 86400 and parse_since("30m") == 1800
    assert parse_since(None) is None


def test_no_db_yet(home):
    runner = CliRunner()
    assert json.loads(runner.invoke(_cli(home), ["usage", "--json"]).stdout) == []
    assert "No calls" in runner.invoke(_cli(home), ["log"]).stdout
    assert runner.invoke(_cli(home), ["report"]).exit_code == 1
    assert not (home / "telemetry.db").exists()


def test_otel_not_imported_without_endpoint():
    code = ("import sys, dario.store.telemetry, dario.otlp, dario.cli_telemetry, dario.pipeline.sessions\n"
            "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).parent.parent).stdout
    assert out.strip() == "[]"


def test_open_recorder_from_config(tmp_path, monkeypatch):
    from dario.pipeline.backends import Backend
    from dario.store.config import Config
    from dario.store.telemetry import open_recorder

    monkeypatch.setenv("MY_ODD_KEY", "odd-shaped-key-value-123")
    monkeypatch.delenv("DARIO_OTLP_ENDPOINT", raising=False)
    backend = Backend("x", "openai", "http://x/v1", ["plainweirdkey987654", "env:MY_ODD_KEY", "env:UNSET_VAR_XYZ"])
    cfg = Config(home=tmp_path, backends={"x": backend}, prices={"my-model": {"input": 1, "output": 2}},
                 telemetry={"capture_bodies": True, "body_cap_bytes": 100, "otlp_endpoint": None})
    rec = open_recorder(tmp_path, cfg)
    assert rec.body_cap == 100
    rec.submit(CallRecord(run_id="c", model="my-model", input_tokens=1_000_000, output_tokens=0, cost_usd=1.0,
                          request_body=b"plainweirdkey987654 odd-shaped-key-value-123 " + b"z" * 200))
    rec.flush()
    rec.close()
    row = TelemetryStore(tmp_path / "telemetry.db").calls_for_run("c")[0]
    assert row["cost_usd"] == 1.0 and row["request_truncated"] == 1
    assert row["request_body"].startswith(b"[REDACTED] [REDACTED] zzz")


def test_usage_totals_are_equal_under_every_grouping(home):
    """Costs whose exact sum sits on a rounding boundary: float sums in different orders would print
    $0.000789 for one grouping and $0.000790 for another; whole units print the same everywhere."""
    units = [999095, 2486716, 2283662, 548032, 1552704, 24791]  # 1e-10 USD each
    rec = BackgroundRecorder(home / "telemetry.db")
    t0 = time.time() - 60
    for i, u in enumerate(units):
        rec.submit(CallRecord(ts=t0 + i, run_id=f"run-{i % 2}", model=f"model-{i // 2}", backend=f"b{i % 3}",
                              client=f"c{i % 4}", status=200, input_tokens=1, output_tokens=1, cost_usd=u / 1e10,
                              protocol_in="anthropic"))
    assert rec.flush()
    rec.close()
    totals = set()
    for by in ("model", "backend", "day", "run", "client"):
        r = CliRunner().invoke(_cli(home), ["usage", "--by", by], terminal_width=200)
        line = next(l for l in r.output.splitlines() if l.strip().strip("│┃ ").startswith("total"))
        totals.add(re.search(r"\$[0-9.]+", line).group(0))
        rows = json.loads(CliRunner().invoke(_cli(home), ["usage", "--by", by, "--json"]).output)
        assert pricing.total_usd(r["cost_usd"] for r in rows) * 1e10 == pytest.approx(sum(units), abs=0.5)
    assert totals == {"$0.000790"}


def test_partial_totals_say_they_are_partial(home):
    """The sample run has an answered call of a model with no price: every total says '≥' and how many."""
    record_sample(home / "telemetry.db")
    r = CliRunner().invoke(_cli(home), ["usage", "--by", "day"], terminal_width=200)
    total = next(l for l in r.output.splitlines() if "total" in l)
    assert "≥ $" in total and "(1 call unpriced)" in total
    rows = json.loads(CliRunner().invoke(_cli(home), ["usage", "--by", "model", "--json"]).output)
    by_model = {row["model"]: row for row in rows}
    assert by_model["mystery-model-1"]["complete"] is False and by_model["mystery-model-1"]["unpriced"] == 1
    assert all(row["complete"] for m, row in by_model.items() if m != "mystery-model-1")
    from dario.report.html import render
    store = TelemetryStore(home / "telemetry.db")
    html = render(store.run("run-abc123"), store.calls_for_run("run-abc123"))
    assert "≥ $" in html and "1 call unpriced" in html


def test_the_run_summary_says_when_its_cost_is_partial():
    from dario.verbose import Tally
    t = Tally()
    t.call_finish(None, CallRecord(protocol_in="anthropic", status=200, input_tokens=1, output_tokens=1,
                                   cost_usd=0.25))
    t.call_finish(None, CallRecord(protocol_in="anthropic", status=200, input_tokens=1, output_tokens=1))
    t.call_finish(None, CallRecord(protocol_in="anthropic", status=500, error="upstream down"))
    assert "≥ $0.2500 (1 call unpriced)" in t.summary("r")


def test_run_ids_round_trip_from_what_log_shows(home):
    """The table shows a run's short id; --run takes it back, as it takes a prefix or the whole id."""
    record_sample(home / "telemetry.db", run_id="20261202-001510-c1eba7")
    record_sample(home / "telemetry.db", run_id="20261202-001511-d2fcb8")
    table = CliRunner().invoke(_cli(home), ["log", "-n", "50"], terminal_width=200).output
    assert "c1eba7" in table and "d2fcb8" in table
    for given in ("c1eba7", "20261202-001510", "20261202-001510-c1eba7"):
        res = CliRunner().invoke(_cli(home), ["log", "--run", given, "--json"])
        runs = {json.loads(x)["run_id"] for x in res.stdout.splitlines()}
        assert res.exit_code == 0 and runs == {"20261202-001510-c1eba7"}, given
    res = CliRunner().invoke(_cli(home), ["log", "--run", "20261202-00151"])
    assert res.exit_code == 1 and "matches 2 runs" in res.output


def test_verbose_lines_align_and_other_requests_show_their_path():
    from dario.verbose import describe
    a = describe(CallRecord(protocol_in="anthropic", status=200, backend="anthropic", model_requested="claude-x",
                            stream=True, input_tokens=21, output_tokens=9, latency_ms=5, pid=7))
    b = describe(CallRecord(protocol_in="openai", status=429, backend="oai", model_requested="gpt-4o",
                            model="gpt-4o-2024", latency_ms=1234, error='rate "limited"'))
    assert a.index("stream") == b.index("plain") and a.index("ms") == b.index("ms")  # columns line up
    assert b.endswith('error="rate \\"limited\\""')  # one quoting style: JSON's
    other = describe(CallRecord(protocol_in=None, status=404, backend="anthropic", method="GET",
                                path="/api/bootstrap", latency_ms=3), dim=True)
    assert other.startswith("\x1b[2m") and "GET /api/bootstrap" in other and other.endswith("\x1b[0m")


def test_a_conversation_is_a_message_list_that_extends_an_earlier_one():
    from dario.pipeline.sessions import Conversations
    c = Conversations()
    hi = {"messages": [{"role": "user", "content": "hi"}]}
    a, b = c.key("run", "anthropic", hi), c.key("run", "anthropic", hi)
    assert a and b and a != b  # two independent "hi" calls: two conversations
    turn2 = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Hello!"},
                          {"role": "user", "content": "more"}]}
    assert c.key("run", "anthropic", turn2) == b  # continues the latest call it extends
    turn3 = {"messages": turn2["messages"] + [{"role": "assistant", "content": "x"}, {"role": "user", "content": "y"}]}
    assert c.key("run", "anthropic", turn3) == b
    # the same history in another protocol's shape is the same conversation
    oai = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Hello!"},
                        {"role": "user", "content": "more"}, {"role": "assistant", "content": "x"},
                        {"role": "user", "content": "y"}, {"role": "assistant", "content": "z"},
                        {"role": "user", "content": "w"}]}
    assert c.key("run", "openai", oai) == b
    sub = {"system": "You are a sub-agent.", "messages": [{"role": "user", "content": "hi"}]}
    assert c.key("run", "anthropic", sub) not in (a, b)  # a sub-agent: its own conversation
    assert c.key("other-run", "anthropic", turn2) != b  # per run
    gem = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    g1 = c.key("run", "gemini", gem)
    g2 = c.key("run", "gemini", {"contents": gem["contents"] + [{"role": "model", "parts": [{"text": "yo"}]},
                                                                {"role": "user", "parts": [{"text": "?"}]}]})
    assert g1 == g2
    assert c.key("run", "anthropic", {"messages": []}) is None


def test_the_writer_process_writes_and_the_thread_takes_over_when_it_dies(tmp_path):
    """Rows are written by the writer process (the thread's own writer would fail here), and when that
    process is killed the thread writes the rest itself: nothing submitted is lost."""
    rec = BackgroundRecorder(tmp_path / "telemetry.db")
    assert rec._child is not None and rec._child.poll() is None

    def not_here(rows):
        raise AssertionError("written in-process while the writer process runs")

    real, rec.rows.write_batch = rec.rows.write_batch, not_here
    for i in range(50):
        rec.submit(CallRecord(run_id="proc", input_tokens=i, request_body=b'{"k": "sk-ant-api03-ZZZZsecretZZZZ0000"}'))
    assert rec.flush()
    assert len(TelemetryStore(tmp_path / "telemetry.db").recent(500, run_id="proc")) == 50
    rec.rows.write_batch = real
    rec._child.kill()
    rec._child.wait(5)
    for i in range(20):
        rec.submit(CallRecord(run_id="after", input_tokens=i))
    assert rec.flush() and rec._child is None
    rec.close()
    store = TelemetryStore(tmp_path / "telemetry.db")
    assert len(store.recent(500, run_id="after")) == 20
    for f in tmp_path.glob("telemetry.db*"):  # the WAL too: the child redacts as the thread does
        assert b"ZZZZsecret" not in f.read_bytes()


def test_a_record_marshal_cannot_carry_is_written_by_the_thread(tmp_path):
    class Name(str):  # sqlite takes a str subclass, marshal does not
        pass
    rec = BackgroundRecorder(tmp_path / "telemetry.db")
    rec.submit(CallRecord(run_id="odd", model=Name("m")))  # not the pipeline's, but never lost
    rec.submit(CallRecord(run_id="odd", input_tokens=3))
    assert rec.flush()
    rec.close()
    assert len(TelemetryStore(tmp_path / "telemetry.db").recent(10, run_id="odd")) == 2


def test_the_writer_process_outlives_a_ctrl_c_and_ends_with_its_input(tmp_path):
    """A Ctrl-C reaches the terminal's process group: the writer, in a session of its own and ignoring
    SIGINT, keeps what it was sent; it ends when dario's end of the pipe closes."""
    import os
    import signal
    rec = BackgroundRecorder(tmp_path / "telemetry.db")
    child = rec._child
    assert os.getsid(child.pid) == child.pid != os.getsid(0)
    rec.submit(CallRecord(run_id="int", input_tokens=1))
    assert rec.flush()
    child.send_signal(signal.SIGINT)
    rec.submit(CallRecord(run_id="int", input_tokens=2))
    assert rec.flush() and rec._child is child and child.poll() is None
    rec.close()
    assert child.wait(5) == 0
    assert len(TelemetryStore(tmp_path / "telemetry.db").recent(10, run_id="int")) == 2
