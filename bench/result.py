"""How a bench child hands its JSON result back: a file, written whole and then renamed, never stdout.

Why (the bench smoke flake of issue #15): a pipe's O_NONBLOCK flag belongs to the open file description,
which every process holding the pipe shares, and a running Node process sets it on its stdout. A Python
process printing into such a pipe while the reader is behind loses what did not fit, silently: the
result ended mid-number at 64 KiB and the exit status was still 0 (tests/test_bench_smoke.py shows it).
A file has no such mode. The path comes in BENCH_RESULT (run.py sets it; it passes through `dario shim`
to the child); without it the result is printed, for running a client by hand.
"""

from __future__ import annotations

import json
import os
import sys


def write_result(path: str, obj) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(json.dumps(obj))
    os.replace(tmp, path)


def report(obj) -> None:
    path = os.environ.get("BENCH_RESULT")
    if path:
        write_result(path, obj)
    else:
        print(json.dumps(obj))
        sys.stdout.flush()
