"""Run tests/node_clients/sdk_client.mjs: the official Node SDKs as real clients."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "tests" / "node_clients" / "sdk_client.mjs"

needs_node = pytest.mark.skipif(
    shutil.which("node") is None or not (ROOT / "node_modules" / "openai").exists(),
    reason="node and the npm test packages (npm ci) are required")


def node_sdk(opts: dict, *, env: dict | None = None, prefix: list[str] = (), timeout: float = 60) -> dict:
    r = subprocess.run([*prefix, "node", str(CLIENT), json.dumps(opts)], env=env, capture_output=True,
                       text=True, timeout=timeout, cwd=str(ROOT))
    try:
        return {**json.loads(r.stdout.strip().splitlines()[-1]), "_stderr": r.stderr, "_rc": r.returncode}
    except (ValueError, IndexError):
        raise AssertionError(f"node client printed no result (rc {r.returncode}):\n{r.stdout}\n{r.stderr}")
