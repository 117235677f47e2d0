"""`dario report`: transcript parsing, escaping, and the page rendered in a real headless Chromium."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from dario.cli_telemetry import register
from dario.report.transcript import parse_request, parse_response
from dario.store.telemetry import TelemetryStore
from tests.test_telemetry import SYSTEM, USER1, record_sample

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
XSS = "<script>alert(1)</script>"


def _tags(html: str) -> list[tuple[str, list]]:
    tags = []

    class P(HTMLParser):
        def handle_starttag(self, tag, attrs):
            tags.append((tag, attrs))

    P().feed(html)
    return tags


def _report(home: Path, *args: str) -> Path:
    app = typer.Typer()
    register(app, lambda: home)
    res = CliRunner().invoke(app, ["report", *args])
    assert res.exit_code == 0, res.output
    path = Path(res.stdout.strip())
    assert path.is_file()
    return path


def test_parse_openai_stream_with_tool_calls():
    chunks = [{"model": "gpt-4o", "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hel"}}]},
              {"choices": [{"index": 0, "delta": {"content": "lo"}}]},
              {"choices": [{"index": 0, "delta": {"tool_calls": [
                  {"index": 0, "id": "call_1", "function": {"name": "get_weather", "arguments": "{\"ci"}}]}}]},
              {"choices": [{"index": 0, "delta": {"tool_calls": [
                  {"index": 0, "function": {"arguments": "ty\": \"Oslo\"}"}}]}, "finish_reason": "tool_calls"}]}]
    sse = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
    r = parse_response(sse.encode())
    assert r.model == "gpt-4o" and r.stop_reason == "tool_calls"
    text, call = r.message.parts
    assert text.text == "Hello" and call.name == "get_weather" and json.loads(call.text) == {"city": "Oslo"}


def test_parse_requests_of_both_protocols():
    msgs, facts = parse_request(json.dumps({"model": "gpt-4o", "tools": [{"type": "function", "function": {
        "name": "get_weather"}}], "messages": [
        {"role": "developer", "content": "Be terse."}, {"role": "user", "content": [{"type": "text", "text": "hi"}]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"}]}).encode())
    assert [m.role for m in msgs] == ["system", "user", "assistant", "tool"] and facts["tools"] == ["get_weather"]
    assert msgs[2].parts[0].kind == "tool_call" and msgs[3].parts[0].text == "sunny"
    msgs, _ = parse_request(json.dumps({"system": "S", "messages": [{"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "t", "is_error": True, "content": [{"type": "text", "text": "boom"}]},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}}]}]}).encode())
    assert msgs[0].role == "system" and msgs[1].parts[0].is_error and msgs[1].parts[0].text == "boom"
    assert "image/png" in msgs[1].parts[1].text and "AAAA" not in msgs[1].parts[1].text
    assert parse_request(b'{"messages": [{"role": "user", "content": "trunc') == ([], {})
    assert parse_response(b'{"error": {"type": "overloaded_error", "message": "Overloaded"}}').error == "Overloaded"
    assert parse_response(b"not json").raw == "not json"


def test_report_html_is_self_contained_and_escaped(tmp_path):
    record_sample(tmp_path / "telemetry.db")
    html = _report(tmp_path, "--last").read_text()
    assert XSS not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x" not in html
    # nothing to fetch: no remote URL in any attribute, no src at all, no @import/url() in the CSS
    tags = _tags(html)
    assert {t for t, _ in tags} >= {"svg", "details", "script", "style"}
    for tag, attrs in tags:
        for name, value in attrs:
            assert not re.match(r"\s*(?:https?:)?//", value or ""), (tag, name, value)
            assert name not in ("src", "srcset", "poster", "action", "onerror", "onload"), (tag, name)
    assert "img" not in {t for t, _ in tags}
    assert "@import" not in html and "url(" not in html
    assert "default-src 'none'" in html  # and the CSP forbids fetching anyway
    for text in (SYSTEM, USER1, "list_files", "/tmp", "a.txt\nnotes.md", "Two files: a.txt and notes.md.",
                 "lookup_word", "Dites bonjour", "Rate limit reached"):
        assert text.replace("'", "&#x27;") in html, text


def test_report_run_selection(tmp_path):
    record_sample(tmp_path / "telemetry.db", run_id="run-first")
    record_sample(tmp_path / "telemetry.db", run_id="run-second")
    store = TelemetryStore(tmp_path / "telemetry.db")
    assert store.last_run_id() == "run-second"
    out = tmp_path / "r.html"
    assert _report(tmp_path, "--run", "run-f", "--out", str(out)) == out
    assert "run-first" in out.read_text()
    app = typer.Typer()
    register(app, lambda: tmp_path)
    res = CliRunner().invoke(app, ["report", "--run", "run-"])
    assert res.exit_code == 1 and "matches 2 runs" in res.output


def _chromium(*args: str, user_dir: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", f"--user-data-dir={user_dir}", *args],
        capture_output=True, text=True, timeout=60)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)")
def test_report_renders_in_headless_chromium(tmp_path):
    record_sample(tmp_path / "telemetry.db")
    page = _report(tmp_path, "--last", "--out", str(tmp_path / "report.html"))
    url = page.resolve().as_uri()
    dom = _chromium("--dump-dom", url, user_dir=tmp_path / "profile").stdout
    assert "<h1>dario run" in dom
    for text in (SYSTEM, USER1, "list_files", "Two files: a.txt and notes.md.", "lookup_word", "Dites bonjour"):
        assert text in dom.replace("&#x27;", "'").replace("&quot;", '"'), text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom and XSS not in dom
    assert dom.count("<svg") == 3
    # the calls table: its path and "caught by" columns, the elapsed-time x-axis, unpriced calls said so
    head = dom.split('<table class="calls">', 1)[1].split("</tr>", 1)[0]
    assert "<th>path</th>" in head and "<th>caught by</th>" in head
    assert "<code>/v1/messages</code>" in dom and "<code>/v1/chat/completions</code>" in dom
    assert ">unpriced<" in dom  # mystery-model-1 has no price
    labels = re.findall(r'class="xl"[^>]*>([^<]+)<', dom)
    assert labels[:6] == sorted(set(labels[:6]), key=labels[:6].index) and labels[0].startswith("+")
    png = tmp_path / "report.png"
    res = _chromium(f"--screenshot={png}", "--window-size=1280,2000", url, user_dir=tmp_path / "profile")
    assert png.is_file() and png.stat().st_size > 10_000, res.stderr[-2000:]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_shows_cache_hit_rates_and_what_the_cache_saved(tmp_path):
    from dario.report.html import render
    calls = [{"id": "a", "ts": 1_700_000_000.0, "run_id": "r", "model": "claude-sonnet-4-5", "status": 200,
              "input_tokens": 100, "output_tokens": 10, "cache_read_tokens": 800, "cache_write_tokens": 100,
              "cost_usd": 0.001},
             {"id": "b", "ts": 1_700_000_001.0, "run_id": "r", "model": "claude-sonnet-4-5", "status": 200,
              "input_tokens": 100, "output_tokens": 10, "cache_read_tokens": 0, "cache_write_tokens": 0,
              "cost_usd": 0.0005}]
    html = render({"run_id": "r"}, calls)
    assert "Prompt cache" in html and "80%" in html  # call a: 800 of 1000 prompt tokens from the cache
    saved = 800 * (3.0 - 0.30) / 1e6  # Sonnet: input $3, cache read $0.30 per Mtok
    assert f"${saved:.6f}" in html
    # per model: 800 read of 1100 prompt tokens
    assert f"{800 / 1100:.0%}" in html


def test_transcripts_of_responses_and_gemini_calls_read_through_their_adapters():
    """The report reads a Responses or Gemini call as the backend was asked it: messages, tool calls
    and results, and the streamed answer rebuilt from the SSE the client got."""
    import json as _json
    from dario.pipeline.sse import SSEParser
    from dario.protocols import adapter
    from dario.report.transcript import parse_request, parse_response

    req = {"model": "m", "instructions": "Be brief.", "previous_response_id": "resp_gone", "input": [
        {"role": "user", "content": "Weather?"},
        {"type": "function_call", "call_id": "c1", "name": "get_weather", "arguments": '{"city": "Paris"}'},
        {"type": "function_call_output", "call_id": "c1", "output": "sunny"}], "stream": True}
    msgs, facts = parse_request(_json.dumps(req).encode(), "responses")
    kinds = [(m.role, [p.kind for p in m.parts]) for m in msgs]
    assert kinds == [("system", ["text"]), ("user", ["text"]), ("assistant", ["tool_call"]), ("user", ["tool_result"])]
    assert msgs[3].parts[0].text == "sunny" and facts["stream"] is True

    gem = {"systemInstruction": {"parts": [{"text": "sys"}]}, "contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    msgs, _ = parse_request(_json.dumps(gem).encode(), "gemini")
    assert [(m.role, m.parts[0].text) for m in msgs] == [("system", "sys"), ("user", "hi")]

    # a streamed answer, as the Gemini client received it
    internal = [{"type": "message_start", "message": {"id": "msg_1", "model": "m", "usage": {}}},
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
                {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hel"}},
                {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "lo"}},
                {"type": "content_block_stop", "index": 0},
                {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 2}},
                {"type": "message_stop"}]
    for proto in ("gemini", "responses"):
        w = adapter(proto).stream_from_internal("m", {"store": False})
        sent = b"".join(f for ev in internal for f in w.feed(SSEParser().feed(
            f"event: {ev['type']}\ndata: {_json.dumps(ev)}\n\n".encode())[0])) + b"".join(w.finish())
        resp = parse_response(sent, proto)
        assert resp.message and [p.text for p in resp.message.parts] == ["Hello"], proto
    plain = adapter("gemini").response_from_internal({"content": [{"type": "text", "text": "Hi"}],
                                                      "stop_reason": "end_turn", "usage": {}}, "m")
    assert parse_response(_json.dumps(plain).encode(), "gemini").message.parts[0].text == "Hi"
