"""Start-up cost of the payload and the injector, run under `dario shim` (so the environment is the one
dario gives a child, with a live host for the hello).

usage: python bench/startup.py '{"n": N}'   prints JSON: per variant, the wall times in ms.
Each iteration runs, in a fresh random order, `node -e ''` and `python -c ''` (this Python, and /usr/bin/python3
where there is one) with dario's injection
(the inherited environment) and without it (NODE_OPTIONS / BUN_OPTIONS / PYTHONPATH removed).
"""
import json
import os
import random
import subprocess
import sys
import time

opts = json.loads(sys.argv[1])
SYSTEM_PYTHON = "/usr/bin/python3"
with_env = dict(os.environ)
without_env = {k: v for k, v in with_env.items() if k not in ("NODE_OPTIONS", "BUN_OPTIONS", "PYTHONPATH")}
cmds = {"node": ["node", "-e", ""], "python": [sys.executable, "-c", ""]}
# Debian's own python3 too where there is one: no editable install's .pth importing half the stdlib before
# the injector runs (as this venv's does), and a sitecustomize of its own that the injector chains to
if os.path.exists(SYSTEM_PYTHON):
    cmds["python_system"] = [SYSTEM_PYTHON, "-c", ""]
variants = [(kind, inj) for kind in cmds for inj in (True, False)]
out = {f"{kind}_{'with' if inj else 'without'}": [] for kind, inj in variants}
for i in range(opts.get("warmup", 3) + opts["n"]):
    random.shuffle(variants)
    for kind, inj in variants:
        t0 = time.perf_counter()
        subprocess.run(cmds[kind], env=with_env if inj else without_env, check=True)
        dt = (time.perf_counter() - t0) * 1000
        if i >= opts.get("warmup", 3):
            out[f"{kind}_{'with' if inj else 'without'}"].append(dt)
out["injected"] = {"NODE_OPTIONS": with_env.get("NODE_OPTIONS", ""), "PYTHONPATH": with_env.get("PYTHONPATH", "")}
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))
from result import report  # noqa: E402  (bench/result.py: a file, not stdout)

report(out)
