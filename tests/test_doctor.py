"""`dario doctor --json` as a real subprocess: every row's ok path and its warn/fail path."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

import dario
from dario import subagent
from dario.pipeline.record import CallRecord
from dario.store.config import Config
from dario.store.telemetry import BackgroundRecorder

GOOD_KEY = "sk-doctor-good-key-1234567890"
BAD_KEY = "sk-doctor-rejected-key-0987654321"
ROOT = Path(__file__).resolve().parents[1]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_home(tmp_path: Path, backends: dict | None = None) -> Path:
    """A DARIO_HOME as dario itself writes it (0700 dir, 0600 files)."""
    home = tmp_path / "home"
    cfg = Config(home=home)
    for name, (kind, url, keys) in (backends or {}).items():
        cfg.add_backend(name, keys, url, kind)
    cfg.save()
    return home


def fill_store(home: Path, n: int = 3) -> None:
    rec = BackgroundRecorder(home / "telemetry.db", secrets=[GOOD_KEY])
    for i in range(n):
        rec.submit(CallRecord(run_id="run-1", backend="oai", model="gpt-4o-mini", status=200,
                              input_tokens=10 + i, output_tokens=5))
    rec.flush()
    rec.close()


@contextmanager
def proxy_process(home: Path):
    """A real `dario proxy` for this home on a free port: yields (port, its stderr pipe)."""
    env = {**os.environ, "DARIO_HOME": str(home)}
    env.pop("DARIO_API_KEY", None)
    p = subprocess.Popen([sys.executable, "-m", "dario", "proxy", "--port", "0"], env=env,
                         stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        yield int(re.search(r"127\.0\.0\.1:(\d+)", p.stderr.readline()).group(1)), p.stderr
    finally:
        p.terminate()
        p.wait(10)


def doctor(tmp_path: Path, home: Path, *, proxy_port: int | None = None, env: dict | None = None,
           json_out: bool = True) -> tuple[int, dict[str, dict], str]:
    full_env = {**os.environ, "DARIO_HOME": str(home), "CLAUDE_CONFIG_DIR": str(tmp_path / "claude"),
                **(env or {})}
    args = [sys.executable, "-m", "dario", "doctor", "--proxy-port", str(proxy_port or closed_port())]
    r = subprocess.run(args + (["--json"] if json_out else []), capture_output=True, text=True,
                       env=full_env, timeout=60, cwd=tmp_path)
    assert "Traceback" not in r.stderr + r.stdout
    rows = {c["name"]: c for c in json.loads(r.stdout)["checks"]} if json_out else {}
    if json_out:
        for c in rows.values():
            assert set(c) == {"name", "status", "detail"} and c["status"] in ("ok", "warn", "fail")
    return r.returncode, rows, r.stdout


def test_healthy_setup_every_row_ok(tmp_path, upstream):
    home = make_home(tmp_path, {"ant": ("anthropic", upstream.url, [GOOD_KEY]),
                                "oai": ("openai", upstream.url + "/v1", [GOOD_KEY, "env:DOCTOR_TEST_KEY"]),
                                "local": ("openai", upstream.url + "/v1", [])})
    fill_store(home)
    os.environ["CLAUDE_CONFIG_DIR"] = str(tmp_path / "claude")
    try:
        subagent.install()
    finally:
        del os.environ["CLAUDE_CONFIG_DIR"]
    rc, rows, out = doctor(tmp_path, home, env={"DOCTOR_TEST_KEY": GOOD_KEY + "-env"})
    not_ok = {n: r for n, r in rows.items() if r["status"] != "ok"}
    assert not not_ok and rc == 0
    assert list(rows)[:6] == ["dario", "python", "platform", "node", "payload", "injector"]
    assert rows["dario"]["detail"].startswith(dario.__version__)
    assert "0700" in rows["home"]["detail"]
    assert "3 backend(s), default ant" in rows["config"]["detail"]
    assert "3 key(s) for 2 backend(s)" in rows["credentials"]["detail"]
    assert "2 key(s) accepted" in rows["backend oai"]["detail"]
    assert "no key" in rows["backend local"]["detail"]
    assert re.search(r"schema v\d+, .* 3 call\(s\)", rows["telemetry"]["detail"])
    assert "not running" in rows["proxy"]["detail"]
    assert "current" in rows["subagent"]["detail"]
    # every key was sent upstream, none printed
    sent = {s.headers.get("x-api-key") or s.headers.get("Authorization", "")[7:] for s in upstream.requests}
    assert {GOOD_KEY, GOOD_KEY + "-env"} <= sent
    assert GOOD_KEY not in out


def test_fresh_machine_is_ok_without_creating_anything(tmp_path):
    home = tmp_path / "dario-dev-checkout" / "nothing-here"
    rc, rows, _ = doctor(tmp_path, home)
    assert rc == 0
    assert f"{home} not created yet" in rows["home"]["detail"]  # paths are never mistaken for keys
    assert rows["backends"]["status"] == "warn"
    assert rows["telemetry"]["detail"] == "no calls recorded yet"
    assert "not installed" in rows["subagent"]["detail"] and rows["subagent"]["status"] == "ok"
    assert not home.exists()  # doctor only looks


def test_loose_permissions_fail_with_the_chmod(tmp_path):
    home = make_home(tmp_path)
    os.chmod(home, 0o755)
    os.chmod(home / "config.json", 0o644)
    rc, rows, _ = doctor(tmp_path, home)
    assert rc == 1 and rows["home"]["status"] == "fail"
    detail = rows["home"]["detail"]
    assert f"chmod 700 {home}" in detail and f"chmod 600 {home / 'config.json'}" in detail
    assert home.stat().st_mode & 0o777 == 0o755  # reported, not fixed


def test_corrupt_config_fails_and_stays_put(tmp_path):
    home = make_home(tmp_path)
    (home / "config.json").write_text("{not json")
    rc, rows, _ = doctor(tmp_path, home)
    assert rc == 1 and rows["config"]["status"] == "fail"
    assert "not valid JSON" in rows["config"]["detail"]
    assert rows["credentials"]["status"] == "ok"
    assert rows["backends"]["status"] == "warn"  # can't be checked without a config
    assert (home / "config.json").read_text() == "{not json"  # not moved aside
    assert not list(home.glob("*.corrupt-*"))


def test_corrupt_credentials_fail(tmp_path):
    home = make_home(tmp_path)
    (home / "credentials.json").write_text('{"backends": {"oai": {"keys": [1, 2]}}}')
    rc, rows, _ = doctor(tmp_path, home)
    assert rc == 1 and rows["credentials"]["status"] == "fail" and "malformed" in rows["credentials"]["detail"]
    (home / "credentials.json").write_text("[1, 2")
    rc, rows, _ = doctor(tmp_path, home)
    assert rc == 1 and rows["credentials"]["status"] == "fail"
    assert rows["config"]["status"] == "ok"


def test_backend_unreachable_rejected_and_missing_env_key(tmp_path, upstream):
    dead = f"http://127.0.0.1:{closed_port()}/v1"
    upstream.reject_keys.add(BAD_KEY)
    home = make_home(tmp_path, {"dead": ("openai", dead, [GOOD_KEY]),
                                "bad": ("anthropic", upstream.url, [BAD_KEY]),
                                "pool": ("openai", upstream.url + "/v1", [GOOD_KEY, BAD_KEY]),
                                "nokey": ("openai", upstream.url + "/v1", ["env:DOCTOR_UNSET_VAR"])})
    t0 = time.monotonic()
    rc, rows, out = doctor(tmp_path, home, env={"DOCTOR_UNSET_VAR": ""})
    assert time.monotonic() - t0 < 15
    assert rc == 1
    assert rows["backend dead"]["status"] == "fail" and "unreachable" in rows["backend dead"]["detail"]
    assert rows["backend bad"]["status"] == "fail" and "key rejected" in rows["backend bad"]["detail"]
    assert "key #2 of 2" in rows["backend pool"]["detail"]
    assert rows["backend nokey"]["status"] == "fail" and "DOCTOR_UNSET_VAR" in rows["backend nokey"]["detail"]
    assert GOOD_KEY not in out and BAD_KEY not in out


def test_telemetry_store_unreadable_fails(tmp_path):
    home = make_home(tmp_path)
    (home / "telemetry.db").write_bytes(b"this is not a database" * 100)
    os.chmod(home / "telemetry.db", 0o600)
    rc, rows, _ = doctor(tmp_path, home)
    assert rc == 1 and rows["telemetry"]["status"] == "fail"
    assert "unreadable" in rows["telemetry"]["detail"]


def _fake_node(tmp_path: Path, version: str) -> str:
    bindir = tmp_path / "fakebin"
    bindir.mkdir()
    node = bindir / "node"
    node.write_text(f"#!/bin/sh\necho {version}\n")
    node.chmod(0o755)
    return str(bindir)


def test_node_too_old_fails_and_missing_warns(tmp_path):
    home = make_home(tmp_path)
    bindir = _fake_node(tmp_path, "v16.20.0")
    rc, rows, _ = doctor(tmp_path, home, env={"PATH": f"{bindir}:{os.environ['PATH']}"})
    assert rc == 1 and rows["node"]["status"] == "fail" and ">= 18" in rows["node"]["detail"]
    # a node that prints on load is what a payload must never do
    assert rows["payload"]["status"] == "fail" and "printed" in rows["payload"]["detail"]
    rc, rows, _ = doctor(tmp_path, home, env={"PATH": str(tmp_path / "empty")})
    assert rows["node"]["status"] == "warn" and "not found" in rows["node"]["detail"]
    assert rows["payload"]["status"] == "warn"


def test_broken_install_payload_missing_injector_throws(tmp_path):
    """A real broken install: a copy of the package without the payload and with a failing injector."""
    site = tmp_path / "site"
    pkg = site / "dario"
    shutil.copytree(ROOT / "dario", pkg, ignore=shutil.ignore_patterns("__pycache__"))
    (pkg / "js_payload" / "payload.cjs").unlink(missing_ok=True)
    (pkg / "shim" / "injector" / "sitecustomize.py").write_text("raise RuntimeError('injector broke')\n")
    init = pkg / "__init__.py"
    init.write_text(init.read_text().replace(f'"{dario.__version__}"', '"0.0.0-copy"'))
    home = make_home(tmp_path)
    rc, rows, _ = doctor(tmp_path, home, env={"PYTHONPATH": str(site)})
    assert str(pkg) in rows["dario"]["detail"]  # the copy is what ran
    assert rows["dario"]["status"] == "warn" and "reinstall" in rows["dario"]["detail"]
    assert rc == 1
    assert rows["payload"]["status"] == "fail" and "missing" in rows["payload"]["detail"]
    assert rows["injector"]["status"] == "fail" and "injector broke" in rows["injector"]["detail"]


def test_proxy_row(tmp_path, upstream):
    home = make_home(tmp_path, {"ant": ("anthropic", upstream.url, [GOOD_KEY])})
    # something else on the port: warn
    rc, rows, _ = doctor(tmp_path, home, proxy_port=upstream.port)
    assert rows["proxy"]["status"] == "warn" and "not a dario proxy" in rows["proxy"]["detail"]
    # a real dario proxy: ok, with its backends
    with proxy_process(home) as (port, _):
        rc, rows, _ = doctor(tmp_path, home, proxy_port=port)
    assert rows["proxy"]["status"] == "ok", rows["proxy"]
    assert "running" in rows["proxy"]["detail"] and "ant" in rows["proxy"]["detail"]


def test_subagent_row_stale_warns(tmp_path):
    home = make_home(tmp_path)
    agent = tmp_path / "claude" / "agents" / "dario.md"
    agent.parent.mkdir(parents=True)
    agent.write_text(subagent.render("0.0.1"))
    rc, rows, _ = doctor(tmp_path, home)
    assert rows["subagent"]["status"] == "warn" and "stale" in rows["subagent"]["detail"]
    assert "0.0.1" in rows["subagent"]["detail"] and "dario subagent install" in rows["subagent"]["detail"]


def test_text_output(tmp_path):
    home = make_home(tmp_path)
    os.chmod(home, 0o750)
    rc, _, out = doctor(tmp_path, home, json_out=False)
    assert rc == 1
    assert re.search(r"^FAIL\s+home\s+readable by others", out, re.M)
    assert re.search(r"^ok\s+python\s", out, re.M) and "1 failed" in out


def test_a_crashing_check_is_a_fail_row(tmp_path):
    from dario.doctor import Row, make_context, run_checks

    def check_boom(ctx):
        raise KeyError("nope")

    def check_fine(ctx):
        return Row("fine", "ok", f"uses {GOOD_KEY}")

    home = make_home(tmp_path, {"oai": ("openai", "http://127.0.0.1:9/v1", [GOOD_KEY])})
    rows = run_checks(make_context(home), [check_boom, check_fine])
    assert [(r.name, r.status) for r in rows] == [("boom", "fail"), ("fine", "ok")]
    assert "check crashed: KeyError" in rows[0].detail
    assert rows[1].detail == "uses [REDACTED]"  # configured keys are masked in every detail


@pytest.mark.parametrize("script,expect", [
    ("throw new Error('payload exploded')", "payload exploded"),
    ("console.log('hello from payload')", "printed on load"),
])
def test_payload_that_throws_or_prints_fails(tmp_path, monkeypatch, script, expect):
    from dario.doctor import env, make_context
    from dario.launcher import env as launcher_env

    if not shutil.which("node"):
        pytest.skip("node not installed")
    bad = tmp_path / "payload.cjs"
    bad.write_text(script)
    shutil.copy(launcher_env.PAYLOAD.parent / "relay.cjs", tmp_path / "relay.cjs")
    monkeypatch.setattr(launcher_env, "PAYLOAD", bad)
    row = env.check_payload(make_context(tmp_path / "h"))
    assert row.status == "fail" and expect in row.detail


def test_payload_whose_relay_is_missing_fails(tmp_path, monkeypatch):
    """The stub loads its relay only on a program's first call: the doctor loads it too, or a broken
    install would look fine until then (and every call would go unseen)."""
    from dario.doctor import env, make_context
    from dario.launcher import env as launcher_env

    if not shutil.which("node"):
        pytest.skip("node not installed")
    shutil.copy(launcher_env.PAYLOAD, tmp_path / "payload.cjs")
    monkeypatch.setattr(launcher_env, "PAYLOAD", tmp_path / "payload.cjs")
    ctx = make_context(tmp_path / "h")
    row = env.check_payload(ctx)
    assert row.status == "fail" and "relay.cjs" in row.detail
    shutil.copy(ROOT / "dario" / "js_payload" / "relay.cjs", tmp_path)
    assert env.check_payload(ctx).status == "ok"


def test_security_rows_ok_for_a_loopback_proxy_and_no_ca(tmp_path):
    home = make_home(tmp_path)
    with proxy_process(home) as (port, _):
        rc, rows, _ = doctor(tmp_path, home, proxy_port=port, env={"DARIO_API_KEY": ""})
    assert rows["security: binding"]["status"] == "ok" and "loopback only" in rows["security: binding"]["detail"]
    assert rows["security: gate"]["status"] == "ok" and "loopback only" in rows["security: gate"]["detail"]
    assert rows["security: CA"]["status"] == "ok" and "no dario CA" in rows["security: CA"]["detail"]


def test_security_rows_fail_for_an_ungated_wildcard_listener_and_a_loose_ca(tmp_path):
    """An older dario (or anything claiming to be one) on every interface with no key: fail."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Health(BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"status": "ok", "version": dario.__version__, "backends": [], "gate": False}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    server = ThreadingHTTPServer(("0.0.0.0", 0), Health)  # reached over loopback only in this test
    threading.Thread(target=server.serve_forever, daemon=True).start()
    home = make_home(tmp_path)
    from dario.shim.ca import ca_paths, load_or_create
    load_or_create(home)
    os.chmod(ca_paths(home)[0], 0o644)
    try:
        rc, rows, _ = doctor(tmp_path, home, proxy_port=server.server_address[1])
    finally:
        server.shutdown()
    assert rc == 1
    assert rows["security: binding"]["status"] == "fail" and "NO key" in rows["security: binding"]["detail"]
    assert rows["security: CA"]["status"] == "fail" and "chmod 600" in rows["security: CA"]["detail"]


def test_proxy_of_another_home_is_not_taken_for_ours(tmp_path):
    mine, theirs = make_home(tmp_path / "mine"), make_home(tmp_path / "theirs")
    with proxy_process(theirs) as (port, stderr):
        exports = [stderr.readline() for _ in range(3)]
        assert exports[1:] == [f"export ANTHROPIC_BASE_URL=http://127.0.0.1:{port}\n",
                               f"export OPENAI_BASE_URL=http://127.0.0.1:{port}/v1\n"]
        _, rows, _ = doctor(tmp_path, mine, proxy_port=port)
        assert rows["proxy"]["status"] == "warn" and "another DARIO_HOME" in rows["proxy"]["detail"]
        _, rows, _ = doctor(tmp_path, theirs, proxy_port=port)
        assert rows["proxy"]["status"] == "ok", rows["proxy"]


def test_proxy_env_prints_only_the_export_lines(tmp_path):
    env = {**os.environ, "DARIO_HOME": str(make_home(tmp_path))}
    env.pop("DARIO_API_KEY", None)
    r = subprocess.run([sys.executable, "-m", "dario", "proxy", "--env", "--port", "4000"], env=env,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and r.stdout.splitlines() == [
        "export ANTHROPIC_BASE_URL=http://127.0.0.1:4000", "export OPENAI_BASE_URL=http://127.0.0.1:4000/v1",
        "export GOOGLE_GEMINI_BASE_URL=http://127.0.0.1:4000"]
    r = subprocess.run([sys.executable, "-m", "dario", "proxy", "--env"], capture_output=True, text=True, timeout=30,
                       env={**env, "DARIO_API_KEY": "gate-key-secret-123456"})
    assert 'export ANTHROPIC_API_KEY="$DARIO_API_KEY"' in r.stdout and "gate-key-secret" not in r.stdout
