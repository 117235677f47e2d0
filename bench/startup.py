"""Start-up cost of the payload and the injector, run under `dario shim` (so the environment is the one
dario gives a child, with a live host for the hello).

usage: python bench/startup.py '{"n": N}'   prints JSON: per variant, the wall times in ms.
Each iteration runs, in a fresh random order, `node -e ''` and `python -c ''` (this Python, and /usr/bin/python3
where there is one) with dario's injection
(the inherited environment) and without it (NODE_OPTIONS / BUN_OPTIONS / PYTHONPATH removed), and the floor
of the mechanism itself: `--require` of an empty file, and (this Python, which has no sitecustomize of its
own to shadow) a PYTHONPATH directory holding an empty, precompiled sitecustomize. What the payload or the
injector costs beyond that floor is theirs; the floor is any preload's.
"""
import json
import os
import py_compile
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

opts = json.loads(sys.argv[1])
SYSTEM_PYTHON = "/usr/bin/python3"
with_env = dict(os.environ)
without_env = {k: v for k, v in with_env.items() if k not in ("NODE_OPTIONS", "BUN_OPTIONS", "PYTHONPATH")}
cmds = {"node": ["node", "-e", ""], "python": [sys.executable, "-c", ""]}
# Debian's own python3 too where there is one: no editable install's .pth importing half the stdlib before
# the injector runs (as this venv's does), and a sitecustomize of its own that the injector chains to
if os.path.exists(SYSTEM_PYTHON):
    cmds["python_system"] = [SYSTEM_PYTHON, "-c", ""]
# the floors' files beside the payload's, on the same file system (bench/.cache, not the package)
cache = Path(__file__).resolve().parent / ".cache"
cache.mkdir(exist_ok=True)
floor_dir = Path(tempfile.mkdtemp(prefix="startup-floor-", dir=cache))
(floor_dir / "empty.cjs").write_text("\n")
(floor_dir / "site").mkdir()
(floor_dir / "site" / "sitecustomize.py").write_text("\n")
py_compile.compile(str(floor_dir / "site" / "sitecustomize.py"), doraise=True)  # as dario precompiles its own
envs = {"with": with_env, "without": without_env,
        "floor": {"node": {**without_env, "NODE_OPTIONS": f"--require {floor_dir / 'empty.cjs'}"},
                  "python": {**without_env, "PYTHONPATH": str(floor_dir / "site")}}}
variants = [(kind, v) for kind in cmds for v in ("with", "without", "floor") if v != "floor" or kind in envs["floor"]]
out = {f"{kind}_{v}": [] for kind, v in variants}
try:
    for i in range(opts.get("warmup", 3) + opts["n"]):
        random.shuffle(variants)
        for kind, v in variants:
            env = envs[v][kind] if v == "floor" else envs[v]
            t0 = time.perf_counter()
            subprocess.run(cmds[kind], env=env, check=True)
            dt = (time.perf_counter() - t0) * 1000
            if i >= opts.get("warmup", 3):
                out[f"{kind}_{v}"].append(dt)
finally:
    shutil.rmtree(floor_dir, ignore_errors=True)
out["injected"] = {"NODE_OPTIONS": with_env.get("NODE_OPTIONS", ""), "PYTHONPATH": with_env.get("PYTHONPATH", "")}
sys.path.insert(0, str(Path(__file__).resolve().parent))
from result import report  # noqa: E402  (bench/result.py: a file, not stdout)

report(out)
