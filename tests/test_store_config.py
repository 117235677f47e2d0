"""DARIO_HOME, config and credentials files, and the `dario backend` commands."""

from __future__ import annotations

import json
import os
import stat
import subprocess

import pytest

from dario.store.config import ConfigError, load_config
from dario.store.home import CorruptFileError, atomic_write, ensure_home
from tests.support.shim import base_env, dario_cmd


def mode(p) -> int:
    return stat.S_IMODE(os.stat(p).st_mode)


def dario(home, *args, env=None):
    return subprocess.run(dario_cmd(*args), env=env or base_env(home), capture_output=True, text=True, timeout=30)


def test_home_is_private_and_files_are_0600(tmp_path):
    home = tmp_path / "new" / "home"
    ensure_home(home)
    assert mode(home) == 0o700
    os.chmod(home, 0o755)
    ensure_home(home)  # tightened again
    assert mode(home) == 0o700
    cfg = load_config(home)
    cfg.add_backend("openai", ["sk-proj-abcdefgh12345678"])
    cfg.save()
    for name in ("config.json", "credentials.json"):
        assert mode(home / name) == 0o600
    assert list(home.glob(".*tmp")) == []  # no temp files left behind


def test_keys_live_only_in_credentials(tmp_path):
    cfg = load_config(tmp_path)
    cfg.add_backend("anthropic", ["sk-ant-secret-0123456789"])
    cfg.save()
    assert "sk-ant-secret" not in (tmp_path / "config.json").read_text()
    assert json.loads((tmp_path / "credentials.json").read_text())["backends"]["anthropic"]["keys"] == [
        "sk-ant-secret-0123456789"]
    again = load_config(tmp_path)
    assert again.backends["anthropic"].keys == ["sk-ant-secret-0123456789"]
    assert again.default_backend == "anthropic"


def test_atomic_write_never_leaves_a_partial_file(tmp_path, monkeypatch):
    target = tmp_path / "config.json"
    atomic_write(target, b'{"old": true}')

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        atomic_write(target, b'{"new": true}')
    assert target.read_bytes() == b'{"old": true}'
    assert [p.name for p in tmp_path.iterdir()] == ["config.json"]


def test_corrupt_file_is_kept_aside_with_a_clear_error(tmp_path):
    (tmp_path / "config.json").write_text("{ this is not json")
    with pytest.raises(CorruptFileError) as e:
        load_config(tmp_path)
    msg = str(e.value)
    assert "config.json" in msg and ".corrupt-" in msg
    aside = list(tmp_path.glob("config.json.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_text() == "{ this is not json"
    assert load_config(tmp_path).backends == {}  # starts empty, the bad file untouched beside it


def test_cli_reports_a_corrupt_file_without_traceback(tmp_path):
    ensure_home(tmp_path)
    (tmp_path / "credentials.json").write_text("[1, 2")
    r = dario(tmp_path, "backend", "list")
    assert r.returncode == 2 and "credentials.json" in r.stderr and "Traceback" not in r.stderr


def test_backend_add_list_remove(tmp_path):
    assert dario(tmp_path, "backend", "add", "anthropic", "--key", "sk-ant-clisecret-12345678").returncode == 0
    r = dario(tmp_path, "backend", "add", "mine", "--base-url", "http://127.0.0.1:8000/v1")
    assert r.returncode == 0 and "openai" in r.stdout  # unknown names default to the openai kind
    r = dario(tmp_path, "backend", "add", "gw", "--base-url", "https://gw.example/anthropic", "--kind", "anthropic",
              "--key", "env:GW_KEY")
    assert r.returncode == 0
    r = dario(tmp_path, "backend", "list", "--json")
    rows = {row["name"]: row for row in json.loads(r.stdout)}
    assert rows["anthropic"]["keys"] == 1 and rows["anthropic"]["default"]
    assert rows["gw"]["kind"] == "anthropic" and rows["gw"]["key_refs"] == ["env:GW_KEY"]
    assert rows["mine"]["base_url"] == "http://127.0.0.1:8000/v1"
    for out in (r.stdout, dario(tmp_path, "backend", "list").stdout):
        assert "clisecret" not in out and "sk-ant" not in out  # not even a prefix
    assert dario(tmp_path, "backend", "remove", "anthropic").returncode == 0
    names = [row["name"] for row in json.loads(dario(tmp_path, "backend", "list", "--json").stdout)]
    assert sorted(names) == ["gw", "mine"]
    r = dario(tmp_path, "backend", "remove", "anthropic")
    assert r.returncode == 2 and "no backend named" in r.stderr


@pytest.mark.parametrize("args,needle", [
    (["backend", "add", "somewhere"], "--base-url"),
    (["backend", "add", "openai"], "needs --key"),
    (["backend", "add", "x", "--base-url", "ftp://nope"], "http://"),
    (["backend", "add", "x", "--base-url", "http://h/v1", "--kind", "grpc"], "--kind"),
    (["backend", "add", "bad:name", "--base-url", "http://h/v1"], "invalid backend name"),
])
def test_backend_add_errors_are_clear(tmp_path, args, needle):
    r = dario(tmp_path, *args)
    assert r.returncode == 2 and needle in r.stderr and "Traceback" not in r.stderr


def test_known_local_backend_needs_no_key(tmp_path):
    cfg = load_config(tmp_path)
    b = cfg.add_backend("ollama", [])
    assert b.is_local and b.base_url == "http://127.0.0.1:11434/v1"
    with pytest.raises(ConfigError):
        cfg.add_backend("groq", [])


def test_proxy_refuses_a_public_bind_without_dario_api_key(tmp_path):
    r = dario(tmp_path, "proxy", "--host", "0.0.0.0", "--port", "0")
    assert r.returncode == 2 and "DARIO_API_KEY" in r.stderr


def test_backend_responses_setting_and_the_gemini_kind(tmp_path):
    r = dario(tmp_path, "backend", "add", "gw", "--base-url", "https://gw.example/v1", "--key", "k", "--responses")
    assert r.returncode == 0, r.stderr
    r = dario(tmp_path, "backend", "add", "gemini", "--key", "env:GEMINI_API_KEY")
    assert r.returncode == 0 and "gemini at https://generativelanguage.googleapis.com" in r.stdout
    cfg = load_config(tmp_path)
    assert cfg.backends["gw"].responses is True and cfg.backends["gw"].serves_responses
    assert cfg.backends["gemini"].kind == "gemini" and cfg.backends["gemini"].responses is None
    r = dario(tmp_path, "backend", "add", "g2", "--base-url", "https://g", "--kind", "gemini", "--key", "k",
              "--no-responses")
    assert r.returncode == 2 and "openai-kind" in r.stderr
