"""Runs another client script as a subprocess (inheriting the environment) and wraps its output.

usage: spawn.py <script> <args...>
"""
import json
import os
import subprocess
import sys

p = subprocess.run([sys.executable] + sys.argv[1:], capture_output=True, text=True, timeout=60)
print(json.dumps({"pid": os.getpid(), "rc": p.returncode, "stderr": p.stderr,
                  "child": json.loads(p.stdout) if p.stdout.strip() else None}))
