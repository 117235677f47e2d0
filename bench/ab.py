"""A/B: this working tree's dario against another revision's, each given the same calls, in one run.

usage: python bench/ab.py [--base REV] [--quick] [--no-instructions] [--json PATH]

Why not two runs of bench/run.py: a change's effect on latency is usually smaller than the swing between
two runs of the same code, and smaller than what the mix of calls does to one process. An A/A run here
(two identical darios, one of them also given the streamed calls) measured the other 10-20 % slower on the
same plain calls: a process called more often stays warmer. So both trees run side by side and get exactly
the same calls, in random order among the direct ones, every round:

- latency: Anthropic and OpenAI, plain and streamed, and the translated pair, sequential; p50 of each
  kind for base and work, and work / base;
- throughput: 64 concurrent, plain calls and then streamed ones, rounds alternating direct / base / work;
  the median of each round's work / base ratio (totals drift with the machine), and p99 over all rounds;
- instructions per same-protocol call, plain and streamed, under callgrind, when valgrind is installed: the
  same on every run, so the one figure here that a small change cannot hide in.

--base defaults to HEAD, so with uncommitted changes this measures them. The base tree is `git archive REV
dario` unpacked under a temporary directory and run from there (PYTHONPATH first); both use this tree's
bench, fake upstream and load generator. Each tree's proxy is started twice, in the other order the second
time (the one started second measured a few per cent slower in A/A runs). The noise floor, from a full A/A
run on a clean tree here: latency work/base 0.975-1.018, calls/s 1.021, instructions 1.000; a change that
moves latency less than ~3 % is not seen here, except in its instructions.
"""

from __future__ import annotations

import argparse
import re
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench  # noqa: E402  (the fake, the load generator, the homes: one definition of each)

MODES = {"quick": dict(n=40, warmup=5, tp_rounds=2, tp_seconds=0.5, instr_calls=0),
         "full": dict(n=800, warmup=50, tp_rounds=6, tp_seconds=2.0, instr_calls=300)}
KINDS = {  # name: (path, body, stream, header set)
    "anthropic plain": ("/v1/messages", "a_plain", False, "a"),
    "openai plain": ("/v1/chat/completions", "o_plain", False, "o"),
    "anthropic stream TTFB": ("/v1/messages", "a_stream", True, "a"),
    "openai stream TTFB": ("/v1/chat/completions", "o_stream", True, "o"),
    "translated plain": ("/v1/messages", "t_plain", False, "a"),
    "translated stream TTFB": ("/v1/messages", "t_stream", True, "a"),
    "anthropic 300 KB history": ("/v1/messages", "a_history", False, "a"),  # a coding agent's call
}
# measured in rounds of their own: a long call's after-answer work (its conversation) delays a call that
# arrives meanwhile (short calls mixed back to back with 300 KB ones measured 16x direct, against 1.6x alone)
LONG = ("anthropic 300 KB history",)


def unpack(rev: str, into: Path) -> Path:
    """The `dario` package of `rev`, under `into`; raises with git's words when it cannot."""
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(bench.ROOT), "archive", rev, "dario"], capture_output=True)
    if archive.returncode != 0:
        raise SystemExit(f"ab: git archive {rev} failed: {archive.stderr.decode(errors='replace').strip()}")
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def latency_raw(up: str, proxies: dict[str, str], n: int, m: dict) -> dict:
    b = bench.bodies()
    hs = bench.CLIENT_HEADERS
    out = {}
    for group in ([k for k in KINDS if k not in LONG], list(LONG)):
        targets = [{"name": f"direct|{kind}", "url": up + path, "headers": hs[h], "body": b[body], "stream": st}
                   for kind, (path, body, st, h) in KINDS.items() if kind in group and not kind.startswith("translated")]
        targets += [{"name": f"{who}|{kind}", "url": url + path, "headers": hs[h], "body": b[body], "stream": st}
                    for who, url in proxies.items() for kind, (path, body, st, h) in KINDS.items() if kind in group]
        out.update(bench.run_load({"mode": "latency", "n": n, "warmup": m["warmup"], "targets": targets}, timeout=1800))
    return out


def latency(raw: dict) -> dict:
    proxies = ("base", "work")
    out = {}
    for kind, (_, _, stream, _) in KINDS.items():
        key = "ttfb_ms" if stream else "total_ms"
        p50 = {who: bench.pct(raw[f"{who}|{kind}"][key], 50) for who in proxies}
        direct = raw.get(f"direct|{kind.replace('translated', 'anthropic')}")
        out[kind] = {**p50, "direct": bench.pct(direct[key], 50) if direct else None,
                     "work/base": p50["work"] / p50["base"] if p50["base"] and p50["work"] else None}
    out["errors"] = {k: v.get("error") for k, v in raw.items() if v.get("errors")}
    return out


TP_KINDS = {"plain": "o_plain", "stream": "o_stream"}  # throughput's calls: OpenAI Chat, plain and streamed
INSTR_KINDS = {"plain": "a_plain", "stream": "a_stream"}  # callgrind's: Anthropic, plain and streamed


def throughput_raw(up: str, proxies: dict[str, str], rounds: int, m: dict, kind: str) -> dict:
    body, (path, h) = bench.bodies()[TP_KINDS[kind]], ("/v1/chat/completions", bench.CLIENT_HEADERS["o"])
    spec = {"mode": "throughput", "concurrency": 64, "seconds": m["tp_seconds"], "warmup": 0.3,
            "rounds": rounds, "targets": [{"name": who, "url": url + path, "headers": h, "body": body,
                                                    "stream": kind == "stream"}
                                                   for who, url in {"direct": up, **proxies}.items()]}
    return bench.run_load(spec, timeout=1800)


def throughput(raw: dict) -> dict:
    per_round = {who: [r["calls"] / r["seconds"] for r in rounds] for who, rounds in raw.items()}
    ratios = [w / b for w, b in zip(per_round["work"], per_round["base"]) if b]
    p99 = {who: bench.pct([x for r in rounds for x in r["latency_ms"]], 99) for who, rounds in raw.items()}
    return {"calls_per_s": {who: statistics.median(v) for who, v in per_round.items()}, "p99_ms": p99,
            "p99 work/base": p99["work"] / p99["base"] if p99["base"] and p99["work"] else None,
            "work/base": statistics.median(ratios) if ratios else None, "rounds": per_round,
            "errors": {who: sum(r["errors"] for r in rounds) for who, rounds in raw.items()}}


def table(res: dict) -> str:
    rows = [("metric", "base", "work", "work/base")]
    for kind in KINDS:
        c = res["latency"][kind]
        rows.append((f"{kind} p50 ms", bench.fmt(c["base"], 3), bench.fmt(c["work"], 3),
                     bench.fmt(c["work/base"], 3)))
    for kind in TP_KINDS:
        tp = res["throughput"][kind]
        rows.append((f"64-conc {kind} calls/s", bench.fmt(tp["calls_per_s"]["base"], 0),
                     bench.fmt(tp["calls_per_s"]["work"], 0), bench.fmt(tp["work/base"], 3)))
        rows.append((f"64-conc {kind} p99 ms", bench.fmt(tp["p99_ms"]["base"], 2), bench.fmt(tp["p99_ms"]["work"], 2),
                     bench.fmt(tp["p99 work/base"], 3)))
    ins = res["instructions"]
    for kind in INSTR_KINDS:
        if "base" in ins:
            b, w = ins["base"][kind]["per_call_M"], ins["work"][kind]["per_call_M"]
            rows.append((f"instructions per {kind} call (M)", bench.fmt(b, 3), bench.fmt(w, 3), bench.fmt(w / b, 3)))
        else:
            rows.append((f"instructions per {kind} call (M)", ins.get("skipped", "—"), "", ""))
    return bench.render(rows)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--base", default="HEAD", help="the revision to compare against (default: HEAD)")
    ap.add_argument("--quick", action="store_true", help="small N: a smoke run")
    ap.add_argument("--no-instructions", action="store_true", help="skip the callgrind count")
    ap.add_argument("--tp-seconds", type=float, help="seconds a throughput round (default 2, quick 0.5): longer "
                                                      "for a change that moves work after the calls, e.g. "
                                                      "telemetry batching, whose backlog would fall in the next round")
    ap.add_argument("--json", default=str(bench.CACHE / "ab.json"), help="where to write the results")
    args = ap.parse_args()
    m = MODES["quick" if args.quick else "full"]
    if args.tp_seconds:
        m = {**m, "tp_seconds": args.tp_seconds}
    procs = bench.Procs()
    tmp = Path(tempfile.mkdtemp(prefix="dario-ab-"))
    res: dict = {"base": args.base, "mode": "quick" if args.quick else "full"}
    lat_raw: dict = {}
    tp_raw: dict = {kind: {} for kind in TP_KINDS}
    try:
        trees = {"base": unpack(args.base, tmp / "base"), "work": bench.ROOT}
        _, mt = procs.start([bench.PY, str(bench.BENCH / "upstream.py")], re.compile(r"PORT (\d+)"))
        up = f"http://127.0.0.1:{mt.group(1)}"
        envs = {}
        for who, root in trees.items():
            home = tmp / f"home-{who}"
            bench.configure_home(home, up)
            envs[who] = bench.clean_env(DARIO_HOME=str(home), PYTHONPATH=str(root))
            where = subprocess.run([bench.PY, "-c", "import dario; print(dario.__file__)"], env=envs[who],
                                   cwd=str(root), capture_output=True, text=True).stdout.strip()
            if not where.startswith(str(root)):
                raise SystemExit(f"ab: the {who} tree's dario did not load from {root} (got {where!r})")
        # Two passes, the proxies started afresh in the other order for the second: in A/A runs the one
        # started second measured a few per cent slower, which one pass would have put on the change.
        for i, order in enumerate((("base", "work"), ("work", "base"))):
            started, proxies = [], {}
            for who in order:
                p, dm = procs.start([bench.PY, "-m", "dario", "proxy", "--port", "0"],
                                    re.compile(r"listening on (http://\S+)"), stream="stderr", env=envs[who],
                                    cwd=str(trees[who]))
                started.append(p)
                proxies[who] = dm.group(1)
            bench.log(f"pass {i + 1}/2: latency, base ({args.base}) and work given the same calls each round…")
            for k, v in latency_raw(up, proxies, m["n"] // 2, m).items():
                merged = lat_raw.setdefault(k, {"total_ms": [], "ttfb_ms": [], "errors": 0, "error": None})
                merged["total_ms"] += v["total_ms"]
                merged["ttfb_ms"] += v["ttfb_ms"]
                merged["errors"] += v.get("errors") or 0
                merged["error"] = merged["error"] or v.get("error")
            for kind in TP_KINDS:
                bench.log(f"pass {i + 1}/2: throughput at 64 concurrent, {kind} calls, rounds alternating…")
                for k, v in throughput_raw(up, proxies, max(1, m["tp_rounds"] // 2), m, kind).items():
                    tp_raw[kind].setdefault(k, []).extend(v)
            for p in started:
                procs.stop(p)
        res["latency"] = latency(lat_raw)
        res["throughput"] = {kind: throughput(raw) for kind, raw in tp_raw.items()}
        if args.no_instructions or not m["instr_calls"]:
            res["instructions"] = {"skipped": "--no-instructions" if args.no_instructions else "quick run"}
        elif not bench.callgrind_available():
            res["instructions"] = {"skipped": "valgrind not installed"}
        else:
            bench.log("instructions per call under callgrind, base then work…")
            res["instructions"] = {
                who: {kind: bench.instructions_per_call([bench.PY, "-m", "dario", "proxy", "--port", "0"], envs[who],
                                                        root, tmp / f"callgrind-{who}-{kind}.out", m["instr_calls"],
                                                        procs, body)
                      for kind, body in INSTR_KINDS.items()}
                for who, root in trees.items()}
    finally:
        procs.stop_all()
        subprocess.run(["rm", "-rf", str(tmp)])
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(res, indent=1))
    print(table(res))
    print(f"\nwork / base below 1 is faster (calls/s: above 1 is more); base = {args.base}; results in {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
