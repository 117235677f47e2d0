"""Checks of the machine and the install: versions, Node, and the two injectables.

The payload and the injector are loaded for real in a child, with no DARIO_SHIM_*
variables: that is what every shimmed program does first, and a file that throws or
prints on load would break (or pollute) every one of them.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

from dario.doctor import FAIL, OK, WARN, Context, Row

MIN_NODE = 18
CHILD_TIMEOUT = 15.0


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment minus anything a surrounding `dario shim` put there."""
    drop = {"NODE_OPTIONS", "BUN_OPTIONS", "PYTHONPATH", "PYTHONSTARTUP"}
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("DARIO_SHIM_")}
    return {**env, **extra}


def _tail(text: str) -> str:
    """The telling line of a child's output: its last error line (Node ends with its version)."""
    lines = [ln.strip() for ln in (text or "").strip().splitlines() if ln.strip()]
    errors = [ln for ln in lines if re.search(r"\w*(Error|Exception)\b", ln)]
    return (errors or lines or [""])[-1][:200]


def check_dario(ctx: Context) -> Row:
    from dario import __file__ as pkg_file, __version__
    from importlib.metadata import PackageNotFoundError, version

    where = Path(pkg_file).parent
    try:
        installed = version("dario")
    except PackageNotFoundError:
        return Row("dario", OK, f"{__version__} (from source: {where})")
    if installed != __version__:  # code and metadata disagree: a half-upgraded install
        return Row("dario", WARN, f"code is {__version__} but the installed package says {installed} "
                                  f"({where}): reinstall dario")
    return Row("dario", OK, f"{__version__} ({where})")


def check_python(ctx: Context) -> Row:
    detail = f"{platform.python_version()} ({sys.executable})"
    return Row("python", OK if sys.version_info >= (3, 10) else FAIL, detail)


def check_platform(ctx: Context) -> Row:
    detail = f"{platform.system()} {platform.release()} {platform.machine()}"
    if os.name == "nt":  # the shim relays over unix sockets
        return Row("platform", WARN, detail + ": `dario shim` needs unix sockets; use `dario proxy`")
    return Row("platform", OK, detail)


def node_version(node: str) -> str:
    out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=CHILD_TIMEOUT,
                         env=_clean_env())
    return out.stdout.strip()


def check_node(ctx: Context) -> Row:
    node = shutil.which("node")
    if not node:
        return Row("node", WARN, "not found on PATH: Node programs can't be shimmed (Python ones still can)")
    ver = node_version(node)
    m = re.match(r"v?(\d+)\.", ver)
    if not m:
        return Row("node", FAIL, f"{node} --version printed {ver!r}, not a Node version")
    if int(m.group(1)) < MIN_NODE:
        return Row("node", FAIL, f"{ver} at {node}: the shim needs Node >= {MIN_NODE}")
    return Row("node", OK, f"{ver} at {node}")


def _child_result(name: str, what: str, r: subprocess.CompletedProcess, ok_detail: str) -> Row:
    if r.returncode != 0:
        return Row(name, FAIL, f"{what} exited {r.returncode}: {_tail(r.stderr) or _tail(r.stdout)}")
    if r.stdout.strip() or r.stderr.strip():
        return Row(name, FAIL, f"{what} printed on load (would pollute every shimmed program): "
                               f"{_tail(r.stdout) or _tail(r.stderr)}")
    return Row(name, OK, ok_detail)


def check_payload(ctx: Context) -> Row:
    from dario.launcher.env import PAYLOAD  # read at call time: it follows the dario package in use

    if not PAYLOAD.is_file():
        return Row("payload", FAIL, f"missing: {PAYLOAD}: Node and Bun programs won't be shimmed; reinstall dario")
    node = shutil.which("node")
    if not node:
        return Row("payload", WARN, f"present but not load-tested (no node): {PAYLOAD}")
    # the stub at start-up, and the relay it loads on a program's first call (beside it)
    r = subprocess.run([node, "--require", str(PAYLOAD), "-e", "require(process.argv[1])",
                        str(PAYLOAD.parent / "relay.cjs")], capture_output=True, text=True,
                       timeout=CHILD_TIMEOUT, env=_clean_env(), stdin=subprocess.DEVNULL)
    return _child_result("payload", "node --require payload", r, f"loads cleanly in node ({PAYLOAD})")


def check_injector(ctx: Context) -> Row:
    from dario.launcher.env import INJECTOR_DIR

    src = INJECTOR_DIR / "sitecustomize.py"
    if not src.is_file():
        return Row("injector", FAIL, f"missing: {src}: Python programs won't be shimmed; reinstall dario")
    r = subprocess.run([sys.executable, "-c", "import sitecustomize"], capture_output=True, text=True,
                       timeout=CHILD_TIMEOUT, env=_clean_env(PYTHONPATH=str(INJECTOR_DIR)),
                       stdin=subprocess.DEVNULL)
    return _child_result("injector", "python -c 'import sitecustomize'", r, f"loads cleanly ({src})")
