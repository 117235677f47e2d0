"""Run the real `dario shim` command as a subprocess, with a DARIO_HOME whose backends are
served by the fake upstream."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from dario.store.config import load_config

ROOT = Path(__file__).resolve().parents[2]
NODE_MODULES = ROOT / "node_modules"
CLAUDE_NODE = NODE_MODULES / "@anthropic-ai" / "claude-code" / "cli.js"
CLAUDE_BIN_LINK = NODE_MODULES / ".bin" / "claude"
CLAUDE_NATIVE = NODE_MODULES / "claude-code-native" / "bin" / "claude.exe"
REAL_KEY_A = "sk-ant-api03-dario-test-REAL-anthropic-key-0001"
REAL_KEY_O = "sk-proj-dario-test-REAL-openai-key-0002"
REAL_KEY_G = "AIzaSyDarioTestREALgeminiKey000000004"
CODEX = NODE_MODULES / ".bin" / "codex"
GEMINI_CLI = NODE_MODULES / ".bin" / "gemini"
ENV_KEY_VAR = "DARIO_TEST_SECRET_KEY"
ENV_KEY_VALUE = "sk-env-dario-test-secret-from-env-0003"


def configure(home: Path, upstream_url: str, *, env_key_backend: bool = False) -> None:
    cfg = load_config(home)
    cfg.add_backend("anthropic", [REAL_KEY_A], upstream_url, "anthropic")
    cfg.add_backend("openai", [REAL_KEY_O], upstream_url + "/v1", "openai")  # what gpt-* routes to
    cfg.add_backend("oai", [REAL_KEY_O], upstream_url + "/v1", "openai")  # for explicit oai: prefixes
    cfg.add_backend("gemini", [REAL_KEY_G], upstream_url, "gemini")  # what gemini-* routes to
    if env_key_backend:
        cfg.add_backend("envkeyed", [f"env:{ENV_KEY_VAR}"], upstream_url + "/v1", "openai")
    cfg.save()


def base_env(home: Path, **extra: str) -> dict[str, str]:
    """A clean environment: no provider keys or base URLs leak in from the machine."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ANTHROPIC_", "OPENAI_", "GEMINI_", "GOOGLE_", "DARIO_", "NODE_OPTIONS",
                                "BUN_OPTIONS", "PYTHONPATH", "CODEX_"))}
    env.update({"DARIO_HOME": str(home), "HOME": str(home), "CLAUDE_CONFIG_DIR": str(home / ".claude"),
                "DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_AUTOUPDATER": "1", "NO_COLOR": "1"})
    env.update(extra)
    return env


def dario_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "dario", *args]


def run_shim(home: Path, *cmd: str, options: tuple[str, ...] = (), env: dict | None = None, timeout: float = 60,
             **kw) -> subprocess.CompletedProcess:
    return subprocess.run(dario_cmd("shim", *options, "--", *cmd), env=env or base_env(home), cwd=str(home),
                          capture_output=True, timeout=timeout, **kw)
