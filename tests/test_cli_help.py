"""The CLI's help reads like the README: no Python types, defaults shown, an example in each command."""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.support.shim import base_env, dario_cmd

COMMANDS = [("shim",), ("proxy",), ("log",), ("show",), ("usage",), ("report",), ("prices",), ("doctor",),
            ("mcp",), ("backend", "add"), ("backend", "list"), ("backend", "remove"), ("backend", "keys", "add"),
            ("cassette", "show"), ("cassette", "diff"), ("cassette", "redact"), ("subagent", "install")]


@pytest.mark.parametrize("cmd", COMMANDS, ids=[" ".join(c) for c in COMMANDS])
def test_help_has_no_python_types_and_an_example(tmp_path, cmd):
    r = subprocess.run(dario_cmd(*cmd, "--help"), env={**base_env(tmp_path), "COLUMNS": "120"},
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert not re.search(r"<(str|int|float|bool|list\[[a-z]+\]|path)>", r.stdout, re.I), r.stdout
    assert "Example" in r.stdout, r.stdout
    assert f"Usage: dario {' '.join(cmd)}" in r.stdout


def test_shim_usage_line_and_defaults(tmp_path):
    r = subprocess.run(dario_cmd("shim", "--help"), env={**base_env(tmp_path), "COLUMNS": "120"},
                       capture_output=True, text=True, timeout=30)
    assert "Usage: dario shim [OPTIONS] -- CMD [ARGS]..." in r.stdout
    p = subprocess.run(dario_cmd("proxy", "--help"), env={**base_env(tmp_path), "COLUMNS": "160"},
                       capture_output=True, text=True, timeout=30).stdout
    assert "[default: 127.0.0.1]" in p and "[default: 3456]" in p and "SECONDS" in p
