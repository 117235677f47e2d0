"""What a user reads, at the command line: `dario log` filters and tables that fit, `dario show`,
and other requests (not LLM calls) kept apart from usage and the report."""

from __future__ import annotations

import json
import time

from typer.testing import CliRunner

from dario.pipeline.record import CallRecord
from dario.store.telemetry import BackgroundRecorder
from tests.test_telemetry import _cli, record_sample


def sample(home):
    records = record_sample(home / "telemetry.db")
    rec = BackgroundRecorder(home / "telemetry.db")
    other = CallRecord(ts=time.time() - 5, run_id="run-abc123", source="shim", backend="anthropic", method="GET",
                       path="/api/claude_cli/bootstrap", status=404, latency_ms=3, pid=4242)
    rec.submit(other)
    assert rec.flush()
    rec.close()
    return records, other


def run(home, *args, width=None):
    env = {"COLUMNS": str(width)} if width else {}
    return CliRunner().invoke(_cli(home), list(args), env=env)


def test_log_filters(home):
    records, other = sample(home)
    ids = lambda *a: [json.loads(x)["id"] for x in run(home, "log", "--json", *a).stdout.splitlines()]  # noqa: E731
    assert ids("--model", "gpt-4o") == [r.id for r in records if "gpt-4o" in (r.model or "")]
    assert ids("--backend", "ollama") == [records[4].id]
    assert ids("--status", "429") == ids("--errors", "--calls") == [records[3].id]
    assert ids("--status", "4xx") == [records[3].id, other.id]
    assert ids("--calls") == [r.id for r in records]
    assert other.id in ids() and json.loads(run(home, "log", "--json", "-n", "1").stdout)["kind"] == "other"
    assert ids("--since", "1h") == [r.id for r in records] + [other.id]
    nothing = run(home, "log", "--model", "no-such-model")
    assert nothing.exit_code == 1 and "No calls match." in nothing.stdout
    bad = run(home, "log", "--status", "abc")
    assert bad.exit_code == 2 and "--status" in bad.output


def test_log_table_fits_80_and_200_columns(home):
    records, other = sample(home)
    narrow = run(home, "log", width=80).stdout
    assert all(len(line) <= 80 for line in narrow.splitlines()), narrow
    head = narrow.splitlines()[0].split()
    assert head[:4] == ["time", "model", "status", "in"] and "cost" in head and "run" not in head
    from dario.store.pricing import fmt_usd
    for r in records[:3]:  # the cost is whole, never cut to "$0.0…"
        assert fmt_usd(r.cost_usd) in narrow
    assert "…" not in narrow
    assert "GET" in narrow and "/api/claude_cli" in narrow  # an other request: its method and path
    wide = run(home, "log", width=200).stdout
    assert wide.splitlines()[0].split() == ["time", "id", "run", "client", "backend", "model", "status", "in", "out",
                                            "cache", "r/w", "cost", "ms", "ttft", "error"]
    assert all(r.id[-8:] in wide for r in records)  # the short id `dario show` takes
    assert "GET /api/claude_cli/bootstrap" in wide and "claude-sonnet-4-5-20250929" in wide
    assert all(len(line) <= 200 for line in wide.splitlines())


def test_show_one_call(home):
    records, other = sample(home)
    first = records[0]
    out = run(home, "show", first.id[-8:])  # the short id `dario log` shows
    assert out.exit_code == 0, out.output
    text = out.stdout
    assert text.startswith(f"call {first.id}") and "run abc123" in text and "(shim, pid 4242)" in text
    assert "anthropic → anthropic (anthropic)" in text and "model claude-sonnet-4-5 → claude-sonnet-4-5-20250929" in text
    assert "tokens in 200 · out 80" in text and "latency 2,100 ms" in text
    assert '\n        "role": "user",' in text  # the request, pretty-printed
    assert "a stream, rebuilt" in text and "[stop: tool_use]" in text and "[tool call list_files toolu_01]" in text
    as_json = json.loads(run(home, "show", first.id, "--json").stdout)
    assert as_json["id"] == first.id and as_json["kind"] == "call" and as_json["request"].startswith("{")
    raw = run(home, "show", first.id, "--raw").stdout
    assert "event: content_block_delta" in raw
    o = run(home, "show", other.id).stdout
    assert o.startswith(f"other request {other.id}") and "GET /api/claude_cli/bootstrap" in o and "tokens" not in o
    missing = run(home, "show", "zzzz")
    assert missing.exit_code == 1 and "No call 'zzzz'" in missing.output
    # any unique start or end of an id names it; a start every call of the hour shares does not
    assert run(home, "show", first.id[:24]).stdout == text == run(home, "show", first.id[-5:].upper()).stdout
    shared = run(home, "show", first.id[:6])
    assert shared.exit_code == 1 and "matches more than one call" in shared.output
    assert run(home, "show", "%").exit_code == run(home, "show", "*").exit_code == 1  # no wildcards


def test_other_requests_stay_out_of_usage_unless_asked(home):
    records, other = sample(home)
    rows = json.loads(run(home, "usage", "--by", "backend", "--json").stdout)
    anthropic = next(r for r in rows if r["backend"] == "anthropic")
    assert anthropic["requests"] == 2 and anthropic["errors"] == 0
    rows = json.loads(run(home, "usage", "--by", "backend", "--json", "--all").stdout)
    anthropic = next(r for r in rows if r["backend"] == "anthropic")
    assert anthropic["requests"] == 3 and anthropic["errors"] == 1


def test_report_leaves_other_requests_out_unless_asked(home, tmp_path):
    records, other = sample(home)
    out = tmp_path / "r.html"
    assert run(home, "report", "--run", "abc123", "--out", str(out)).exit_code == 0
    assert "/api/claude_cli/bootstrap" not in out.read_text()
    assert run(home, "report", "--run", "abc123", "--out", str(out), "--all").exit_code == 0
    assert "/api/claude_cli/bootstrap" in out.read_text()
