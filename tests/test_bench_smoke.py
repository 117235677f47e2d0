"""The benchmark runs end to end (quick mode, no LiteLLM) and writes every section. Structure only:
timings depend on the machine and are never asserted here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bench_quick_writes_every_section(tmp_path):
    out = tmp_path / "results.json"
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--no-litellm",
                        "--json", str(out)], capture_output=True, text=True, timeout=300, cwd=str(ROOT))
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    res = json.loads(out.read_text())
    for section in ("meta", "latency", "reference", "throughput", "memory", "shim", "startup", "targets", "scaling", "sizes",
                    "tunnel", "soak", "instructions"):
        assert section in res, section
    lat = res["latency"]
    for k in ("anthropic_plain", "openai_plain", "anthropic_stream_ttfb", "openai_stream_ttfb"):
        assert set(lat["proxy"][k]) == {"p50", "p99"}
        assert {"direct", "dario", "diff", "ratio"} <= set(lat["proxy"][k]["p50"])
    assert {"plain", "stream_ttfb"} <= set(lat["translation"])
    # the reference phase: dario, the relay and the bare stack always, nginx where installed, same calls each
    ref = res["reference"]
    proxies = set(ref) - {"n", "errors", "missing"}
    assert {"dario", "relay", "stack"} <= proxies and proxies | set(ref["missing"]) == {"dario", "relay", "stack", "nginx"}
    assert not ref["errors"] and all(ref[p][k]["ratio"] > 0 for p in proxies
                                     for k in ("openai_plain", "anthropic_plain", "openai_stream_ttfb"))
    assert "ref    byte relay, Python: openai plain p50 ms" in r.stdout
    # each one's own CPU a call over that phase (schedstat of the process and its children)
    assert all(ref[p]["cpu_us_per_call"] > 0 for p in proxies) and "ref    dario: CPU us a call" in r.stdout
    systems = res["throughput"]["systems"]
    assert {"direct", "dario", "dario_no_telemetry", "anthropic_direct", "translation_dario"} <= set(systems)
    assert "litellm" not in systems and "--no-litellm" in res["throughput"]["litellm_missing"]
    assert all(systems[s]["calls_per_s"] for s in systems)
    assert res["memory"]["dario_peak_rss_mb"]
    assert {"python_openai"} <= set(res["shim"])
    for c in res["shim"].values():  # each SDK client also through `dario proxy`: the door told apart from the host
        assert "skipped" in c or (c["proxy_plain"]["p50"]["ratio"] > 0 and not c["errors"])
    assert "shim   python_openai via proxy plain p50 ms" in r.stdout
    assert {"node", "python"} <= set(res["startup"])
    # the mechanism's own floor beside each: an empty --require, an empty sitecustomize, same rounds
    assert all(res["startup"][k]["floor"]["median_ms"] > 0 for k in ("node", "python"))
    assert "start-up floor: --require of an empty file" in r.stdout
    names = {t["target"] for t in res["targets"]}
    assert len(names) == 13 and all(t["result"] in ("PASS", "FAIL", "n/a") for t in res["targets"])
    link = res["tunnel"]["link"]  # a shaped link to a second host needs root and iproute2: else it says why
    assert ("bulk_10mb" in link and link["bulk_10mb"]["ratio"]) or link["skipped"]
    assert all(t["result"] != "n/a" for t in res["targets"] if "LiteLLM" not in t["target"]
               and ("tunnel" not in t["target"] or "bulk_10mb" in link))  # each measured
    assert sum("(x direct)" in n or "(x without" in n for n in names) == 10  # targets are ratios
    assert set(res["scaling"]) == {"1", "8", "64", "256"} and all(
        v["dario"]["calls_per_s"] and v["direct"]["calls_per_s"] for v in res["scaling"].values())
    assert set(res["sizes"]) == {"1 KB", "100 KB", "1 MB", "100 KB history", "1 MB history"}
    assert all(c["ratio"] for c in res["sizes"].values())
    assert res["tunnel"]["bulk_10mb"]["ratio"] and res["tunnel"]["ttfb"]["ratio"]
    soak = res["soak"]
    assert soak["calls"] > 0 and not soak["errors"] and soak["growth_mb"] is not None
    assert soak["cpu_us_per_call_first_tenth"] > 0 and soak["cpu_us_per_call_rest"] > 0
    assert res["instructions"] == {"skipped": "quick run"}  # callgrind runs in full runs only
    assert "LiteLLM figures missing" in r.stdout and "proxy  anthropic plain p50 ms" in r.stdout
    assert "targets (ratios via dario / direct, this run):" in r.stdout


def test_a_result_survives_a_stdout_pipe_left_non_blocking(tmp_path):
    """The smoke flake's mechanism: a pipe's O_NONBLOCK is shared by every process holding it (a running
    Node process sets it), and a Python child printing a big result into it while the reader lags loses
    the rest silently, still exiting 0. Shown here on stdout; bench/result.py's file is immune."""
    import os
    import time
    child = tmp_path / "child.py"
    child.write_text(
        "import os, sys\n"
        f"sys.path.insert(0, {str(ROOT / 'bench')!r})\n"
        "from result import report\n"
        "os.set_blocking(1, False)  # as a Node sibling on the same pipe leaves it\n"
        "big = {'x': list(range(200000))}\n"
        "if sys.argv[1] == 'stdout':\n"
        "    import json; print(json.dumps(big))\n"
        "else:\n"
        "    report(big)\n")

    def run(how: str, env: dict) -> tuple[int, bytes]:
        p = subprocess.Popen([sys.executable, str(child), how], stdout=subprocess.PIPE, env=env)
        time.sleep(0.5)  # a reader that lags: the 64 KiB pipe fills
        out, _ = p.communicate(timeout=30)
        return p.returncode, out

    rc, out = run("stdout", dict(os.environ))
    assert rc == 0 and len(out) < 200000 * 6 and not out.rstrip().endswith(b"]}")  # cut short, rc 0: the flake
    path = tmp_path / "result.json"
    rc, _ = run("file", {**os.environ, "BENCH_RESULT": str(path)})
    assert rc == 0 and json.loads(path.read_text()) == {"x": list(range(200000))}


def test_the_ab_bench_runs_both_trees_on_the_same_calls(tmp_path):
    """bench/ab.py: HEAD's dario (unpacked by git archive) and this tree's, side by side. Structure only."""
    if not (ROOT / ".git").exists():
        import pytest
        pytest.skip("bench/ab.py takes its base from git: this tree is not a git checkout")
    out = tmp_path / "ab.json"
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "ab.py"), "--quick", "--json", str(out)],
                       capture_output=True, text=True, timeout=300, cwd=str(ROOT))
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    res = json.loads(out.read_text())
    assert res["base"] == "HEAD" and not res["latency"]["errors"]
    for kind in ("anthropic plain", "openai plain", "anthropic stream TTFB", "openai stream TTFB",
                 "translated plain", "translated stream TTFB", "anthropic 300 KB history"):
        c = res["latency"][kind]
        assert c["base"] > 0 and c["work"] > 0 and c["direct"] > 0 and c["work/base"] > 0
    assert set(res["throughput"]) == {"plain", "stream"}
    for tp in res["throughput"].values():
        assert tp["work/base"] > 0 and len(tp["rounds"]["work"]) == len(tp["rounds"]["base"]) == 2  # one a pass
        assert tp["p99_ms"]["work"] > 0 and tp["p99 work/base"] > 0
        assert not any(tp["errors"].values())
    assert res["instructions"] == {"skipped": "quick run"}
    assert "work/base" in r.stdout
    bad = subprocess.run([sys.executable, str(ROOT / "bench" / "ab.py"), "--quick", "--base", "no-such-rev"],
                         capture_output=True, text=True, timeout=60, cwd=str(ROOT))
    assert bad.returncode != 0 and "ab: git archive no-such-rev failed" in bad.stderr
