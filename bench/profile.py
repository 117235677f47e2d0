"""Profile `dario proxy` under the bench's load (what the optimisations in dario/ were chosen from).

usage: python bench/profile.py [--tool cprofile|py-spy] [--mode throughput|latency] [--seconds S]
           [--path openai|anthropic|translation|stream]
cprofile prints the top functions by own time and cumulative time; py-spy (pip install py-spy) writes a
flame graph to bench/.cache/profile.svg and a collapsed-stack text file next to it.
"""

from __future__ import annotations

import argparse
import json
import pstats
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tool", default="cprofile", choices=("cprofile", "py-spy"))
    ap.add_argument("--mode", default="throughput", choices=("throughput", "latency"))
    ap.add_argument("--path", default="openai", choices=("openai", "anthropic", "translation", "stream"))
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--top", type=int, default=35)
    args = ap.parse_args()
    bench.CACHE.mkdir(exist_ok=True)
    procs = bench.Procs()
    tmp = Path(tempfile.mkdtemp(prefix="dario-prof-"))
    out = bench.CACHE / ("profile.prof" if args.tool == "cprofile" else "profile.txt")
    try:
        _, mt = procs.start([bench.PY, str(bench.BENCH / "upstream.py")], re.compile(r"PORT (\d+)"))
        up = f"http://127.0.0.1:{mt.group(1)}"
        home = tmp / "home"
        bench.configure_home(home, up)
        dario_cmd = [bench.PY, "-m", "dario", "proxy", "--port", "0"]
        if args.tool == "cprofile":
            cmd = [bench.PY, "-m", "cProfile", "-o", str(out), "-m", "dario", "proxy", "--port", "0"]
        else:
            cmd = [str(Path(bench.PY).parent / "py-spy"), "record", "-r", "500", "--format", "raw", "-o", str(out), "--", *dario_cmd]
        dp, dm = procs.start(cmd, re.compile(r"listening on (http://\S+)"), stream="stderr",
                             env=bench.clean_env(DARIO_HOME=str(home)), cwd=str(bench.ROOT))
        dario = dm.group(1)
        b = bench.bodies()
        path, body, stream = {"openai": ("/v1/chat/completions", b["o_plain"], False),
                              "anthropic": ("/v1/messages", b["a_plain"], False),
                              "translation": ("/v1/messages", b["t_plain"], False),
                              "stream": ("/v1/messages", b["a_stream"], True)}[args.path]
        target = {"name": "dario", "url": dario + path, "headers": {"x-api-key": "k"}, "body": body,
                  "stream": stream}
        if args.mode == "throughput":
            spec = {"mode": "throughput", "concurrency": 64, "seconds": args.seconds, "warmup": 0.2, "rounds": 1,
                    "targets": [target]}
        else:
            spec = {"mode": "latency", "n": int(args.seconds * 800), "warmup": 10, "targets": [target]}
        r = bench.run_load(spec, timeout=600)
        print(json.dumps({k: (v if not isinstance(v, list) else
                              [{kk: vv for kk, vv in x.items() if kk != "latency_ms"} for x in v])
                          for k, v in r.items()} if args.mode == "throughput" else
                         {k: bench.summary(v["total_ms"]) for k, v in r.items()}))
    finally:
        if args.tool == "py-spy" and "dp" in locals():  # end the profiled proxy only: py-spy then writes
            import psutil
            for c in psutil.Process(dp.pid).children():
                c.terminate()
            try:
                dp.wait(30)
            except subprocess.TimeoutExpired:
                pass
        procs.stop_all()  # SIGTERM: the proxy exits cleanly, so cProfile writes its output
    if args.tool == "cprofile":
        st = pstats.Stats(str(out))
        st.sort_stats("tottime").print_stats(args.top)
        st.sort_stats("cumulative").print_stats(args.top)
    else:
        print(f"flame graph: {out}")
    subprocess.run(["rm", "-rf", str(tmp)])


if __name__ == "__main__":
    main()
