"""The child's environment as built for awkward installs."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from dario.launcher import env as child_env_mod
from tests.support.node import needs_node


@needs_node
def test_payload_path_with_spaces_still_loads(tmp_path, monkeypatch):
    """NODE_OPTIONS splits on spaces: an install under such a path gets a private copy without."""
    spaced = tmp_path / "My Apps" / "dario"
    spaced.mkdir(parents=True)
    for part in child_env_mod.PAYLOAD.parent.glob("*.cjs"):
        shutil.copy(part, spaced / part.name)
    monkeypatch.setattr(child_env_mod, "PAYLOAD", spaced / "payload.cjs")
    private = tmp_path / "private"
    private.mkdir()
    built = child_env_mod.build_child_env(
        {"PATH": "/usr/bin:/bin", "NODE_OPTIONS": "--max-old-space-size=128"},
        socket_path=str(private / "host.sock"), token="dario-run-test0000", fallback="http://127.0.0.1:9/t/x/",
        hosts=["api.anthropic.com"], strict=[], private_dir=str(private))
    opts = built.env["NODE_OPTIONS"]
    assert opts == f"--require {private / 'payload.cjs'} --max-old-space-size=128"
    # the payload really loads from there: it marks itself on globalThis
    r = subprocess.run(["node", "-e", "process.stdout.write(String(Object.getOwnPropertySymbols(globalThis)"
                        ".some(s => String(s).includes('dario'))))"], env=built.env, capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0 and r.stdout == "true", r.stderr
    # and the relay it loads on the first fetch comes from beside it, in the private copy
    relay = str(private / "relay.cjs")
    r = subprocess.run(["node", "-e", "fetch('http://127.0.0.1:9/').catch(() => {}).finally(() => "
                        f"process.stdout.write(String(Object.keys(require.cache).includes({relay!r}))))"],
                       env=built.env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and r.stdout == "true", r.stderr


def test_missing_payload_is_not_injected(tmp_path, monkeypatch):
    monkeypatch.setattr(child_env_mod, "PAYLOAD", tmp_path / "gone.cjs")
    built = child_env_mod.build_child_env({"NODE_OPTIONS": "--x"}, socket_path="s", token="dario-run-t",
                                          fallback="http://127.0.0.1:9/t/x/", hosts=[], strict=[],
                                          private_dir=str(tmp_path))
    assert built.env["NODE_OPTIONS"] == "--x" and "BUN_OPTIONS" not in built.env
    assert any("missing" in why for why in built.removed.values())


@pytest.mark.parametrize("existing", [None, "/user/site"])
def test_injector_first_on_pythonpath(tmp_path, existing):
    base = {"PYTHONPATH": existing} if existing else {}
    built = child_env_mod.build_child_env(base, socket_path="s", token="dario-run-t", fallback="f", hosts=[],
                                          strict=[], private_dir=str(tmp_path))
    parts = built.env["PYTHONPATH"].split(":")
    assert parts[0] == str(child_env_mod.INJECTOR_DIR) and parts[1:] == ([existing] if existing else [])
