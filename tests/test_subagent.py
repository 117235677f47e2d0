"""`dario subagent install|status|remove` and the file it writes."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from dario import __version__, subagent
from dario.cli import app

runner = CliRunner()


@pytest.fixture
def claude_dir(tmp_path, monkeypatch):
    d = tmp_path / "claude-config"
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(d))
    return d


def cli(*args: str):
    return runner.invoke(app, ["subagent", *args])


def front_matter(text: str) -> dict[str, str]:
    m = re.match(r"---\n(.*?)\n---\n", text, re.S)
    assert m, "no front matter"
    out = {}
    for line in m.group(1).splitlines():
        key, _, value = line.partition(": ")
        assert ": " not in value, f"{key}: an unquoted ': ' breaks YAML"
        out[key] = value
    return out


def test_install_status_remove_cycle(claude_dir):
    path = claude_dir / "agents" / "dario.md"
    assert "not installed" in cli("status").output
    r = cli("install")
    assert r.exit_code == 0 and "current" in r.output
    text = path.read_text()
    fm = front_matter(text)
    assert fm["name"] == "dario" and fm["tools"] == "Bash, Read" and fm["description"]
    assert f"<!-- dario-subagent v{__version__} -->" in text
    for cmd in ("dario doctor", "dario usage", "dario log", "dario report"):
        assert cmd in text
    assert "Never" in text and "dario backend" in text.split("Never", 1)[1]
    assert json.loads(cli("status", "--json").output) == {"path": str(path), "status": subagent.CURRENT,
                                                          "version": __version__}
    # stale: written by another version
    path.write_text(text.replace(f"v{__version__} -->", "v0.0.1 -->"))
    assert "stale" in cli("status").output
    assert subagent.state().status == subagent.STALE
    assert "current" in cli("install").output  # refreshes
    r = cli("remove")
    assert r.exit_code == 0 and not path.exists()
    r = cli("remove")  # idempotent
    assert r.exit_code == 0 and "nothing to remove" in r.output


def test_foreign_file_is_left_alone(claude_dir):
    path = claude_dir / "agents" / "dario.md"
    path.parent.mkdir(parents=True)
    path.write_text("---\nname: dario\n---\nmy own agent\n")
    assert cli("install").exit_code == 1
    assert cli("remove").exit_code == 1
    assert path.read_text().endswith("my own agent\n")
    assert "not written by dario" in cli("status").output
    assert cli("install", "--force").exit_code == 0
    assert subagent.state().status == subagent.CURRENT


def test_default_is_home_dot_claude(tmp_path, monkeypatch):
    monkeypatch.delenv("CLAUDE_CONFIG_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cli("install").exit_code == 0
    assert (tmp_path / ".claude" / "agents" / "dario.md").is_file()
