"""dario's benchmark: what dario adds to every call, measured side by side in one run on this machine.

usage: python bench/run.py [--quick] [--no-litellm] [--json PATH] [--compare OLD.json]

Processes (each its own, so none shares a GIL with another):
  fake upstream (bench/upstream.py)  <-  direct calls
                                     <-  `python -m dario proxy --port 0`      <- load generator (bench/load.py)
                                     <-  `litellm --config ...` (own venv)     <-
                                     <-  `python -m dario shim -- CLIENT`      (clients in bench/clients/)
                                     <-  reference proxies: bench/reference.py's byte relay and bare dario/net
                                         stack, and nginx when installed (their own phase, beside dario)
Direct and via-dario calls are interleaved (sequential latency: every round calls every target once in
random order; throughput: rounds alternate targets; shim and start-up: alternating runs), so machine
noise falls on both sides alike. Telemetry stays on (dario's default): its SQLite writes are part of
the cost; one extra throughput row shows dario with its recorder replaced by a no-op.
The reference rows are not targets: they show, in rounds of their own where dario and each of them get the
same calls, what any proxy costs on this machine (nginx; a Python byte relay) and what dario's HTTP layer
costs before any pipeline stage runs.
Every target is a ratio (via dario / direct, both measured in this run): absolute times swing 2-3x
between runs on shared machines, ratios do not. Also measured: scaling (calls/s and p99 at 1, 8, 64
and 256 concurrent), added latency against request size (1 KB, 100 KB, 1 MB), and the HTTPS proxy's
blind tunnel against a direct connection. Prints a table, writes bench/results.json, and draws
bench/scaling.png when matplotlib is installed (pip install -e '.[bench]').
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
CACHE = BENCH / ".cache"
PY = sys.executable
KEY_A, KEY_O = "sk-ant-bench-upstream-key", "sk-bench-upstream-key"
LITELLM_KEY = "sk-bench-" + os.urandom(16).hex()

TARGETS = {  # name: (op, threshold); every one but the last two a ratio via dario / direct, same run
    "proxy plain p50 (x direct)": ("<=", 2.0),  # a proxy must receive and resend: ~one extra round trip
    "proxy plain p99 (x direct)": ("<=", 2.5),
    "proxy stream TTFB p50 (x direct)": ("<=", 2.0),
    "translated p50 (x direct)": ("<=", 2.2),
    "shim p50 (x direct)": ("<=", 1.25),
    "64-conc calls/s (x direct)": (">=", 0.5),
    "64-conc p99 (x direct)": ("<=", 3.0),
    "Node start-up (x without payload)": ("<=", 1.03),
    "Python start-up (x without injector)": ("<=", 1.02),
    "tunnel 10 MB (x direct)": ("<=", 1.1),
    "calls/s dario / LiteLLM (x)": (">=", 5.0),
    "peak RSS at 64-conc (MB)": ("<=", 80.0),
    "RSS growth over the soak (MB)": ("<=", 8.0),  # the soak's 100k calls (quick: 5k), after its first tenth
}

MODES = {
    "quick": dict(lat_n=150, lat_warmup=20, tp_seconds=1.0, tp_warmup=0.3, tp_rounds=1, shim_rounds=2, shim_n=25,
                  ref_n=50, shim_warmup=5, start_n=20, scale_seconds=0.4, size_n=20, tunnel_n=5, soak_calls=5000,
                  soak_max_s=10, instr_calls=0),
    "full": dict(lat_n=1500, lat_warmup=100, tp_seconds=3.0, tp_warmup=0.5, tp_rounds=5, shim_rounds=4, shim_n=150,
                 ref_n=600, shim_warmup=20, start_n=200, scale_seconds=2.0, size_n=150, tunnel_n=40, soak_calls=100_000,
                 soak_max_s=150, instr_calls=300),
}


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


# -- statistics ------------------------------------------------------------------------------------------
def pct(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, int(round(q / 100 * len(s) + 0.5)) - 1))]  # nearest rank


def summary(xs: list[float]) -> dict:
    return {"n": len(xs), "p50": pct(xs, 50), "p99": pct(xs, 99),
            "mean": statistics.fmean(xs) if xs else None}


def compare(direct: dict, via: dict, key: str) -> dict:
    d, v = direct.get(key), via.get(key)
    if d is None or v is None:
        return {"direct": d, "dario": v, "diff": None, "ratio": None}
    return {"direct": d, "dario": v, "diff": v - d, "ratio": v / d if d else None}


# -- processes ---------------------------------------------------------------------------------------------
class Procs:
    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []

    def start(self, cmd, ready: re.Pattern | None = None, stream: str = "stdout", timeout: float = 30,
              **kw) -> tuple[subprocess.Popen, re.Match | None]:
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             start_new_session=True, **kw)
        self.procs.append(p)
        if ready is None:
            return p, None
        pipe = p.stdout if stream == "stdout" else p.stderr
        found: list[re.Match] = []
        seen: list[str] = []

        def reader() -> None:
            for line in pipe:
                seen.append(line)
                m = ready.search(line)
                if m and not found:
                    found.append(m)
            # keep draining so the child never blocks on a full pipe

        threading.Thread(target=reader, daemon=True).start()
        other = p.stderr if stream == "stdout" else p.stdout
        threading.Thread(target=lambda: [None for _ in other], daemon=True).start()
        deadline = time.time() + timeout
        while not found and time.time() < deadline and p.poll() is None:
            time.sleep(0.02)
        if not found:
            raise RuntimeError(f"{cmd[0]} did not start: {''.join(seen)[-2000:]}")
        return p, found[0]

    def stop(self, p: subprocess.Popen) -> None:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)  # its own session: only what we started
                p.wait(10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def stop_all(self) -> None:
        for p in reversed(self.procs):
            self.stop(p)


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ANTHROPIC_", "OPENAI_", "DARIO_", "NODE_OPTIONS", "BUN_OPTIONS", "PYTHONPATH"))}
    env.update(extra)
    return env


def configure_home(home: Path, upstream: str) -> None:
    sys.path.insert(0, str(ROOT))
    from dario.store.config import load_config
    cfg = load_config(home)
    cfg.add_backend("anthropic", [KEY_A], upstream, "anthropic")
    cfg.add_backend("openai", [KEY_O], upstream + "/v1", "openai")
    cfg.save()


def peak_rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def rss_mb(pid: int) -> float | None:
    try:
        import psutil
        return psutil.Process(pid).memory_info().rss / (1024 * 1024)
    except Exception:
        return None


class RssSampler:
    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, 0.0, threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            r = rss_mb(self.pid)
            if r:
                self.peak = max(self.peak, r)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *a) -> None:
        self._stop.set()
        self._t.join()


def run_json(cmd: list[str], timeout: float, env: dict | None = None, **kw) -> dict:
    """A bench child's JSON result, from the file it writes (bench/result.py: why not stdout)."""
    fd, out = tempfile.mkstemp(prefix="dario-bench-result-", suffix=".json")
    os.close(fd)
    os.unlink(out)  # the child creates it, whole, or it never exists
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                           env={**(env if env is not None else os.environ), "BENCH_RESULT": out}, **kw)
        try:
            return json.loads(Path(out).read_text())
        except (OSError, ValueError):
            raise RuntimeError(f"{' '.join(cmd[:4])} ... wrote no result (rc {r.returncode}): "
                               f"{r.stdout[-1000:]} {r.stderr[-2000:]}") from None
    finally:
        Path(out).unlink(missing_ok=True)


def run_load(spec: dict, timeout: float) -> dict:
    """bench/load.py's result. Its spec goes in a file too: the size phase's bodies are over argv's limit."""
    fd, spec_file = tempfile.mkstemp(prefix="dario-bench-load-", suffix=".spec")
    os.close(fd)
    Path(spec_file).write_text(json.dumps(spec))
    try:
        return run_json([PY, str(BENCH / "load.py"), "@" + spec_file], timeout=timeout)
    finally:
        Path(spec_file).unlink(missing_ok=True)


# -- LiteLLM -----------------------------------------------------------------------------------------------
def litellm_start(procs: Procs, upstream: str, tmp: Path) -> tuple[str | None, str | None]:
    """(base URL, None) or (None, why LiteLLM figures are missing)."""
    venv = CACHE / "litellm-venv"
    exe = venv / "bin" / "litellm"
    if not exe.exists():
        log("installing litellm[proxy] into bench/.cache/litellm-venv (once)…")
        try:
            if not (venv / "bin" / "python").exists():
                subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True,
                               timeout=120)
            r = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "litellm[proxy]"],
                               capture_output=True, text=True, timeout=900)
        except (subprocess.SubprocessError, OSError) as e:
            return None, f"could not install litellm[proxy]: {e}"
        if r.returncode != 0 or not exe.exists():
            return None, f"pip install litellm[proxy] failed: {(r.stderr or r.stdout).strip()[-400:]}"
    cfg = tmp / "litellm.yaml"
    cfg.write_text(
        "model_list:\n"
        "  - model_name: gpt-bench\n"
        "    litellm_params:\n"
        "      model: openai/gpt-bench\n"
        f"      api_base: {upstream}/v1\n"
        f"      api_key: {KEY_O}\n"
        "litellm_settings:\n"
        "  telemetry: false\n"
        "  drop_params: true\n")
    port = free_port()
    # LiteLLM refuses to start without a master key; the load generator sends it as the bearer
    env = clean_env(LITELLM_LOCAL_MODEL_COST_MAP="True", LITELLM_LOG="ERROR", LITELLM_TELEMETRY="False",
                    DISABLE_SCHEMA_UPDATE="true", NO_DOCS="true", LITELLM_MASTER_KEY=LITELLM_KEY)
    errlog = tmp / "litellm.log"
    try:
        with open(errlog, "w") as f:
            p = subprocess.Popen([str(exe), "--config", str(cfg), "--host", "127.0.0.1", "--port", str(port),
                                  "--num_workers", "1"], env=env, cwd=str(tmp), stdout=f, stderr=subprocess.STDOUT,
                                 start_new_session=True)
        procs.procs.append(p)
    except OSError as e:
        return None, f"litellm did not start: {e}"
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        if p.poll() is not None:
            tail = " ".join(errlog.read_text(errors="replace").strip().splitlines()[-3:])[-300:]
            return None, f"litellm exited with code {p.returncode} during start-up: {tail}"
        try:
            with urllib.request.urlopen(url + "/health/liveliness", timeout=2) as r:
                if r.status == 200:
                    return url, None
        except OSError:
            time.sleep(0.5)
    procs.stop(p)
    return None, "litellm did not answer /health/liveliness within 120 s"


# -- reference proxies ---------------------------------------------------------------------------------------
def references_start(procs: Procs, upstream: str, tmp: Path) -> tuple[dict[str, str], dict[str, str], dict[str, int]]:
    """({name: base URL}, {name: why it is missing}, {name: pid}) of the proxies measured beside dario for
    reference: bench/reference.py's byte relay and bare HTTP stack, and nginx when it is installed."""
    urls, missing, pids = {}, {}, {}
    for kind in ("relay", "stack"):
        try:
            p, mt = procs.start([PY, str(BENCH / "reference.py"), kind, upstream],
                                re.compile(r"listening on (http://\S+)"), stream="stderr", env=clean_env(),
                                cwd=str(ROOT))
            urls[kind], pids[kind] = mt.group(1), p.pid
        except RuntimeError as e:
            missing[kind] = str(e)[:300]
    nginx = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)
    if nginx is None:
        missing["nginx"] = "nginx is not installed (apt-get install nginx-light)"
        return urls, missing, pids
    u = urllib.parse.urlsplit(upstream)
    port, d = free_port(), tmp / "nginx"
    d.mkdir()
    # one worker, upstream connections kept alive, answers relayed as they come: a plain reverse proxy
    (d / "nginx.conf").write_text(
        f"worker_processes 1; daemon off; pid {d}/nginx.pid; error_log {d}/error.log;\n"
        "events { worker_connections 1024; }\n"
        f"http {{ access_log off; client_body_temp_path {d}; proxy_temp_path {d};\n"
        f"  upstream fake {{ server {u.hostname}:{u.port}; keepalive 64; }}\n"
        f"  server {{ listen 127.0.0.1:{port}; location / {{ proxy_pass http://fake; proxy_http_version 1.1;\n"
        "    proxy_set_header Connection \"\"; proxy_buffering off; } } }\n")
    p, _ = procs.start([nginx, "-c", str(d / "nginx.conf"), "-p", str(d)])
    deadline = time.time() + 10
    while time.time() < deadline and p.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1):
                pass
            break
        except urllib.error.HTTPError:
            break  # it answered (the fake's own 404 through it)
        except OSError:
            time.sleep(0.05)
    if p.poll() is None:
        urls["nginx"], pids["nginx"] = f"http://127.0.0.1:{port}", p.pid
    else:
        why = (d / "error.log").read_text(errors="replace")[-300:]
        missing["nginx"] = f"nginx exited with code {p.returncode}: {why}"
    return urls, missing, pids


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- the phases --------------------------------------------------------------------------------------------
CLIENT_HEADERS = {"a": {"x-api-key": "client-key", "anthropic-version": "2023-06-01"},  # an Anthropic client
                  "o": {"Authorization": "Bearer client-key"}}  # an OpenAI one


def history_body(n: int) -> str:
    """An Anthropic request carrying an agent's history of about `n` bytes: many short turns (tool calls,
    their results, a line of text), as a coding agent sends on every call. Decoding it builds thousands of
    objects, where a prompt of one long string builds one."""
    msgs: list[dict] = [{"role": "user", "content": "Fix the failing test in src/."}]
    size, i = 0, 0
    while size < n:
        pair = [{"role": "assistant", "content": [
                    {"type": "text", "text": "Reading the next file."},
                    {"type": "tool_use", "id": f"toolu_{i:06d}", "name": "read_file", "input": {"path": f"src/m{i}.py"}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": f"toolu_{i:06d}",
                                              "content": f"def f{i}(x):\n    return x + {i}\n" * 3}]}]
        msgs += pair
        size += len(json.dumps(pair))
        i += 1
    return json.dumps({"model": "claude-bench", "max_tokens": 64, "messages": msgs})


def bodies() -> dict[str, str]:
    msgs = [{"role": "user", "content": "Say hello"}]
    return {
        "a_plain": json.dumps({"model": "claude-bench", "max_tokens": 64, "messages": msgs}),
        "a_stream": json.dumps({"model": "claude-bench", "max_tokens": 64, "messages": msgs, "stream": True}),
        "o_plain": json.dumps({"model": "gpt-bench", "messages": msgs}),
        "o_stream": json.dumps({"model": "gpt-bench", "messages": msgs, "stream": True}),
        # an Anthropic client whose model routes to the OpenAI-shaped backend: dario translates both ways
        "t_plain": json.dumps({"model": "openai:gpt-bench", "max_tokens": 64, "messages": msgs}),
        "t_stream": json.dumps({"model": "openai:gpt-bench", "max_tokens": 64, "messages": msgs, "stream": True}),
        "a_history": history_body(300 << 10),  # a coding agent's call: 300 KB of history
    }


def latency_phase(up: str, dario: str, m: dict) -> dict:
    b = bodies()
    ah, oh = CLIENT_HEADERS["a"], CLIENT_HEADERS["o"]
    t = [
        ("a_plain_direct", f"{up}/v1/messages", ah, b["a_plain"], False),
        ("a_plain_dario", f"{dario}/v1/messages", ah, b["a_plain"], False),
        ("o_plain_direct", f"{up}/v1/chat/completions", oh, b["o_plain"], False),
        ("o_plain_dario", f"{dario}/v1/chat/completions", oh, b["o_plain"], False),
        ("a_stream_direct", f"{up}/v1/messages", ah, b["a_stream"], True),
        ("a_stream_dario", f"{dario}/v1/messages", ah, b["a_stream"], True),
        ("o_stream_direct", f"{up}/v1/chat/completions", oh, b["o_stream"], True),
        ("o_stream_dario", f"{dario}/v1/chat/completions", oh, b["o_stream"], True),
        ("t_plain_dario", f"{dario}/v1/messages", ah, b["t_plain"], False),
        ("t_stream_dario", f"{dario}/v1/messages", ah, b["t_stream"], True),
    ]
    spec = {"mode": "latency", "n": m["lat_n"], "warmup": m["lat_warmup"],
            "targets": [{"name": n, "url": u, "headers": h, "body": bd, "stream": s} for n, u, h, bd, s in t]}
    raw = run_load(spec, timeout=900)
    errors = {k: v.get("error") for k, v in raw.items() if v.get("errors")}
    s = {k: {"total": summary(v["total_ms"]), "ttfb": summary(v["ttfb_ms"])} for k, v in raw.items()}

    def pair(direct: str, via: str, what: str) -> dict:
        return {q: compare(s[direct][what], s[via][what], q) for q in ("p50", "p99")}

    return {
        "proxy": {
            "anthropic_plain": pair("a_plain_direct", "a_plain_dario", "total"),
            "openai_plain": pair("o_plain_direct", "o_plain_dario", "total"),
            "anthropic_stream_ttfb": pair("a_stream_direct", "a_stream_dario", "ttfb"),
            "openai_stream_ttfb": pair("o_stream_direct", "o_stream_dario", "ttfb"),
            "anthropic_stream_total": pair("a_stream_direct", "a_stream_dario", "total"),
        },
        "translation": {  # the direct side: the same Anthropic client on a native Anthropic backend
            "plain": pair("a_plain_direct", "t_plain_dario", "total"),
            "stream_ttfb": pair("a_stream_direct", "t_stream_dario", "ttfb"),
        },
        "errors": errors,
        "n": m["lat_n"],
    }


def cpu_seconds(pid: int) -> float | None:
    """CPU time of a process, its threads and its children (dario's writer, nginx's worker) so far: the
    scheduler's own count in ns (/proc/.../schedstat), not the 10 ms ticks of /proc/.../stat, which over a
    phase's few seconds of CPU are too coarse to divide by its calls."""
    import psutil  # dario's own dependency
    try:
        ps = [psutil.Process(pid)]
        ps += ps[0].children(recursive=True)
        total = 0
        for p in ps:
            for t in os.listdir(f"/proc/{p.pid}/task"):
                with open(f"/proc/{p.pid}/task/{t}/schedstat") as f:
                    total += int(f.read().split()[0])
        return total / 1e9
    except (OSError, ValueError, psutil.Error):
        return None


def reference_phase(up: str, proxies: dict[str, str], m: dict, pids: dict[str, int] | None = None) -> dict:
    """dario and the reference proxies, each given the same four same-protocol calls (Anthropic and OpenAI,
    plain and streamed) in every round, in random order among the direct ones. The same mix matters: on
    this machine a process called more often stays warmer and answers faster (an identical second dario
    given only the plain call measured 10-20 % slower), so the main latency phase, where dario also
    translates, is not the place to set a proxy beside it."""
    b = bodies()
    ah, oh = CLIENT_HEADERS["a"], CLIENT_HEADERS["o"]
    calls = [("a_plain", "/v1/messages", ah, False), ("o_plain", "/v1/chat/completions", oh, False),
             ("a_stream", "/v1/messages", ah, True), ("o_stream", "/v1/chat/completions", oh, True)]
    targets = [{"name": f"{c}_{who}", "url": base + path, "headers": h, "body": b[c], "stream": st}
               for who, base in {"direct": up, **proxies}.items() for c, path, h, st in calls]
    pids = pids or {}
    before = {who: cpu_seconds(pid) for who, pid in pids.items()}
    raw = run_load({"mode": "latency", "n": m["ref_n"], "warmup": m["lat_warmup"], "targets": targets}, timeout=900)
    after = {who: cpu_seconds(pid) for who, pid in pids.items()}
    served = len(calls) * (m["ref_n"] + m["lat_warmup"])  # by each proxy, warm-up included (so is its CPU)
    # CPU a call, each proxy's own process (and children): the work behind its added time, with no other
    # process's wait in it. Calls arrive as they do in this phase, among the others' (caches cold).
    cpu = {who: (after[who] - before[who]) / served * 1e6 if None not in (before[who], after[who]) else None
           for who in pids}
    s = {k: {"total": summary(v["total_ms"]), "ttfb": summary(v["ttfb_ms"])} for k, v in raw.items()}
    return {who: {"openai_plain": compare(s["o_plain_direct"]["total"], s[f"o_plain_{who}"]["total"], "p50"),
                  "anthropic_plain": compare(s["a_plain_direct"]["total"], s[f"a_plain_{who}"]["total"], "p50"),
                  "openai_stream_ttfb": compare(s["o_stream_direct"]["ttfb"], s[f"o_stream_{who}"]["ttfb"], "p50"),
                  "cpu_us_per_call": cpu.get(who)}
            for who in proxies} | {"n": m["ref_n"],
                                   "errors": {k: v.get("error") for k, v in raw.items() if v.get("errors")}}


def throughput_phase(up: str, dario: str, dario_norec: str | None, litellm: str | None, m: dict,
                     dario_pid: int) -> dict:
    b = bodies()
    ah, oh = CLIENT_HEADERS["a"], CLIENT_HEADERS["o"]
    t = [("direct", f"{up}/v1/chat/completions", oh, b["o_plain"]),
         ("dario", f"{dario}/v1/chat/completions", oh, b["o_plain"])]
    if dario_norec:
        t.append(("dario_no_telemetry", f"{dario_norec}/v1/chat/completions", oh, b["o_plain"]))
    if litellm:
        t.append(("litellm", f"{litellm}/v1/chat/completions", {"Authorization": f"Bearer {LITELLM_KEY}"},
                  b["o_plain"]))
    t += [("anthropic_direct", f"{up}/v1/messages", ah, b["a_plain"]),
          ("translation_dario", f"{dario}/v1/messages", ah, b["t_plain"])]
    spec = {"mode": "throughput", "concurrency": 64, "seconds": m["tp_seconds"], "warmup": m["tp_warmup"],
            "rounds": m["tp_rounds"],
            "targets": [{"name": n, "url": u, "headers": h, "body": bd, "stream": False} for n, u, h, bd in t]}
    with RssSampler(dario_pid) as sampler:
        raw = run_load(spec, timeout=1800)
    out = {}
    for name, rounds in raw.items():
        lat = [x for r in rounds for x in r["latency_ms"]]
        secs = sum(r["seconds"] for r in rounds)
        out[name] = {"calls_per_s": len(lat) / secs if secs else None, "p50_ms": pct(lat, 50),
                     "p99_ms": pct(lat, 99), "errors": sum(r["errors"] for r in rounds),
                     "error": next((r["error"] for r in rounds if r["error"]), None),
                     "per_round_calls_per_s": [r["calls"] / r["seconds"] for r in rounds]}
    # Rounds alternate the systems, so a round's own ratio to the direct round beside it cancels the
    # machine's drift; the target reads their median (totals over rounds swung +-20 % round to round here).
    for name, v in out.items():
        base = out["anthropic_direct" if name == "translation_dario" else "direct"]["per_round_calls_per_s"]
        pairs = [a / b for a, b in zip(v["per_round_calls_per_s"], base) if b]
        v["round_ratio"] = statistics.median(pairs) if pairs else None
    return {"concurrency": 64, "systems": out, "rss_sampled_peak_mb": sampler.peak or None}


def soak_phase(dario: str, dario_pid: int, rate: float | None, m: dict) -> dict:
    """`soak_calls` calls at 64 concurrent (bounded to soak_max_s): dario's RSS after the first tenth and at
    the end. Growth past the first tenth (pools, caches, the heap settled) would be a leak."""
    b = bodies()
    target = {"name": "dario", "url": f"{dario}/v1/chat/completions", "headers": {"Authorization": "Bearer k"},
              "body": b["o_plain"], "stream": False}
    total = m["soak_max_s"] if not rate else min(m["soak_max_s"], m["soak_calls"] / rate)
    spec = {"mode": "throughput", "concurrency": 64, "warmup": 0, "rounds": 1, "targets": [target]}
    cpu0 = cpu_seconds(dario_pid)
    first = run_load({**spec, "seconds": total / 10}, timeout=600)["dario"][0]
    rss_start, cpu1 = rss_mb(dario_pid), cpu_seconds(dario_pid)
    rest = run_load({**spec, "seconds": total * 9 / 10}, timeout=1200)["dario"][0]
    rss_end, cpu2 = rss_mb(dario_pid), cpu_seconds(dario_pid)
    # dario's CPU a call (its writer's included) in each part: a cost that grows with the database (an
    # index written at random places) shows here as RSS growth would for a leak
    per_call = lambda a, b, n: (b - a) / n * 1e6 if None not in (a, b) and n else None  # noqa: E731
    return {"calls": first["calls"] + rest["calls"], "seconds": round(total, 1),
            "errors": first["errors"] + rest["errors"], "rss_after_first_tenth_mb": rss_start,
            "rss_end_mb": rss_end, "growth_mb": None if rss_start is None or rss_end is None else rss_end - rss_start,
            "cpu_us_per_call_first_tenth": per_call(cpu0, cpu1, first["calls"]),
            "cpu_us_per_call_rest": per_call(cpu1, cpu2, rest["calls"])}


def instructions_phase(up: str, m: dict, tmp: Path, procs: "Procs") -> dict:
    """Instructions per proxied call under callgrind, dario's process only: unlike times, the same on
    every run (a change's cost, not the machine's mood). Same-protocol plain call, sequential."""
    if not m["instr_calls"] or not callgrind_available():
        return {"skipped": "valgrind not installed" if m["instr_calls"] else "quick run"}
    out = {}
    for name, script in (("dario", ["-m", "dario"]), ("dario_no_telemetry", [str(BENCH / "dario_norec.py")])):
        home = tmp / f"home-instr-{name}"
        configure_home(home, up)
        out[name] = instructions_per_call([PY, *script, "proxy", "--port", "0"], clean_env(DARIO_HOME=str(home)),
                                          ROOT, tmp / f"callgrind-{name}.out", m["instr_calls"], procs)
    return out


def callgrind_available() -> bool:
    return bool(shutil.which("valgrind") and shutil.which("callgrind_control"))


def instructions_per_call(cmd: list[str], env: dict, cwd: Path, out: Path, calls: int, procs: "Procs",
                          kind: str = "a_plain") -> dict:
    """`cmd` (a `dario proxy --port 0`) under callgrind: instructions per same-protocol Anthropic call
    (`kind`: a_plain or a_stream), counted after 50 calls that warm its pools and caches."""
    import glob
    p, mm = procs.start(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}.%p", "--instr-atstart=no",
                         *cmd], re.compile(r"listening on (http://\S+)"), stream="stderr", env=env, cwd=str(cwd),
                        timeout=300)
    target = {"name": "d", "url": mm.group(1) + "/v1/messages", "headers": {"x-api-key": "k",
              "anthropic-version": "2023-06-01"}, "body": bodies()[kind], "stream": kind.endswith("stream")}
    spec = {"mode": "latency", "warmup": 0, "targets": [target]}
    run_load({**spec, "n": 50}, timeout=300)  # pools and caches warm, untouched by the count
    subprocess.run(["callgrind_control", "-i", "on", str(p.pid)], capture_output=True, check=True)
    errors = run_load({**spec, "n": calls}, timeout=600)["d"]["errors"]
    subprocess.run(["callgrind_control", "-i", "off", str(p.pid)], capture_output=True, check=True)
    subprocess.run(["callgrind_control", "-d", str(p.pid)], capture_output=True, check=True)
    procs.stop(p)
    total = 0
    for f in glob.glob(f"{out}.*"):
        for line in open(f):
            if line.startswith("totals:"):
                total += int(line.split()[1])
    return {"per_call_M": round(total / calls / 1e6, 3), "errors": errors}


def shim_phase(up: str, home: Path, m: dict, proxy: str | None = None) -> dict:
    """A Node and a Python client looping N calls, run plainly (base URL at the fake), under `dario shim`
    (default host, intercepted in-process) and, given `proxy`, with its base URL at `dario proxy`: the same
    client through either door, so the relay in the client is told apart from the host's pipeline."""
    res: dict = {}
    node = shutil.which("node")
    clients = []
    if node and (ROOT / "node_modules" / "@anthropic-ai" / "sdk").exists():
        clients.append(("node_anthropic", [node, str(BENCH / "clients" / "node_loop.mjs")],
                        {"sdk": "anthropic", "baseURL": up}))
    else:
        res["node_anthropic"] = {"skipped": "node or node_modules (npm ci) missing"}
    clients.append(("python_openai", [PY, str(BENCH / "clients" / "py_loop.py")],
                    {"sdk": "openai", "base_url": up + "/v1"}))
    sides = ("direct", "dario", "proxy") if proxy else ("direct", "dario")
    for name, cmd, direct_opts in clients:
        runs = {side: {"plain_ms": [], "ttfb_ms": [], "stream_ms": []} for side in sides}
        errors = []
        for _ in range(m["shim_rounds"]):
            for side in sides:
                # direct: the base URL at the fake; proxy: the same URL at dario's port; dario: none (the SDK's
                # default host, which the shim intercepts)
                base = {"direct": up, "proxy": proxy}.get(side)
                opts = {k: v.replace(up, base) if k in ("baseURL", "base_url") else v
                        for k, v in direct_opts.items() if base or k not in ("baseURL", "base_url")}
                opts.update(n=m["shim_n"], warmup=m["shim_warmup"])
                argv = [*cmd, json.dumps(opts)]
                env = clean_env(DARIO_HOME=str(home))
                if side == "dario":
                    argv = [PY, "-m", "dario", "shim", "--", *argv]
                r = run_json(argv, timeout=600, env=env, cwd=str(ROOT))
                if r.get("errors"):
                    errors.append(f"{side}: {r['errors']} errors, first: {r.get('error')}")
                for k in runs[side]:
                    runs[side][k] += r[k]
        s = {side: {k: summary(v) for k, v in d.items()} for side, d in runs.items()}
        res[name] = {
            "plain": {q: compare(s["direct"]["plain_ms"], s["dario"]["plain_ms"], q) for q in ("p50", "p99")},
            "stream_ttfb": {q: compare(s["direct"]["ttfb_ms"], s["dario"]["ttfb_ms"], q) for q in ("p50", "p99")},
            "n": len(runs["dario"]["plain_ms"]), "errors": errors,
        }
        if proxy:
            res[name]["proxy_plain"] = {"p50": compare(s["direct"]["plain_ms"], s["proxy"]["plain_ms"], "p50")}
    return res


def startup_phase(home: Path, m: dict) -> dict:
    """`node -e ''` and `python -c ''` with and without the payload / injector, under a live shim host."""
    r = run_json([PY, "-m", "dario", "shim", "--", PY, str(BENCH / "startup.py"), json.dumps({"n": m["start_n"]})],
                 timeout=900, env=clean_env(DARIO_HOME=str(home)), cwd=str(ROOT))
    out = {}
    for kind in ("node", "python", "python_system"):
        if f"{kind}_with" not in r:  # no /usr/bin/python3 here
            continue
        w, wo = r[f"{kind}_with"], r[f"{kind}_without"]
        # Each round runs both back to back (startup.py), so the round's own difference cancels the
        # machine's drift over the run; its median, over the median start-up, is the ratio. Two medians'
        # ratio swung by +-3 % between runs of 40 rounds here, for the same payload.
        paired = statistics.median(a - b for a, b in zip(w, wo))
        out[kind] = {"without_ms": {"mean": statistics.fmean(wo), "median": statistics.median(wo)},
                     "with_ms": {"mean": statistics.fmean(w), "median": statistics.median(w)},
                     "added_mean_ms": statistics.fmean(w) - statistics.fmean(wo),
                     "added_median_ms": statistics.median(w) - statistics.median(wo),
                     "added_paired_ms": paired, "ratio": 1 + paired / statistics.median(wo), "n": len(w)}
        fl = r.get(f"{kind}_floor")
        if fl:  # the mechanism alone (an empty --require / sitecustomize), same rounds: any preload's cost
            fpaired = statistics.median(a - b for a, b in zip(fl, wo))
            out[kind]["floor"] = {"median_ms": statistics.median(fl), "added_paired_ms": fpaired,
                                  "ratio": 1 + fpaired / statistics.median(wo)}
    out["injected"] = r["injected"]
    return out


SCALE = (1, 8, 64, 256)
# prompt sizes: one string of that size, or (history) an agent's history of many short turns (history_body)
SIZES = {"1 KB": (1 << 10, False), "100 KB": (100 << 10, False), "1 MB": (1 << 20, False),
         "100 KB history": (100 << 10, True), "1 MB history": (1 << 20, True)}


def scaling_phase(up: str, dario: str, m: dict) -> dict:
    """Calls/s and p99 at each concurrency, direct and via dario (rounds alternate)."""
    b = bodies()["o_plain"]
    oh = CLIENT_HEADERS["o"]
    out = {}
    for conc in SCALE:
        spec = {"mode": "throughput", "concurrency": conc, "seconds": m["scale_seconds"], "warmup": 0.2, "rounds": 1,
                "targets": [{"name": n, "url": u, "headers": oh, "body": b, "stream": False}
                            for n, u in (("direct", f"{up}/v1/chat/completions"),
                                         ("dario", f"{dario}/v1/chat/completions"))]}
        raw = run_load(spec, timeout=600)
        out[str(conc)] = {name: {"calls_per_s": len(r[0]["latency_ms"]) / r[0]["seconds"],
                                 "p99_ms": pct(r[0]["latency_ms"], 99), "errors": r[0]["errors"]}
                          for name, r in raw.items()}
    return out


def size_phase(up: str, dario: str, m: dict) -> dict:
    """Added latency (p50, via dario - direct) against the prompt's size, same-protocol plain calls. Each size
    in rounds of its own: what dario does after answering a long call (its conversation, ~3 ms at 300 KB of
    history) delays a call that arrives meanwhile, which would put a 1 MB call's work on the 1 KB row."""
    ah = CLIENT_HEADERS["a"]
    out = {}
    for label, (n, history) in SIZES.items():
        body = history_body(n) if history else json.dumps({"model": "claude-bench", "max_tokens": 64,
                                                            "messages": [{"role": "user", "content": "x" * n}]})
        targets = [{"name": side, "url": f"{url}/v1/messages", "headers": ah, "body": body}
                   for side, url in (("direct", up), ("dario", dario))]
        raw = run_load({"mode": "latency", "n": m["size_n"], "warmup": 5, "targets": targets}, timeout=900)
        out[label] = compare(summary(raw["direct"]["total_ms"]), summary(raw["dario"]["total_ms"]), "p50")
    return out


LINK_RATE = "1gbit"


class ShapedLink:
    """A second host for the tunnel bench: a network namespace behind a veth pair shaped to LINK_RATE both
    ways, so "direct" crosses a link as real traffic does, not loopback (needs root and iproute2)."""

    def __init__(self) -> None:
        n = os.getpid() % 200 + 20
        self.ns, self.host_if, self.peer_if = f"dario-bench-{os.getpid()}", f"dbh{os.getpid() % 100000}", \
            f"dbu{os.getpid() % 100000}"
        self.host_ip, self.peer_ip = f"10.78.{n}.1", f"10.78.{n}.2"

    @staticmethod
    def why_not() -> str | None:
        if os.geteuid() != 0:
            return "not root"
        if not (shutil.which("ip") and shutil.which("tc")):
            return "iproute2 (ip, tc) is not installed"
        return None

    def up(self) -> None:
        ns = ["ip", "-n", self.ns]
        for cmd in (["ip", "netns", "add", self.ns],
                    ["ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.peer_if],
                    ["ip", "link", "set", self.peer_if, "netns", self.ns],
                    ["ip", "addr", "add", f"{self.host_ip}/24", "dev", self.host_if],
                    ["ip", "link", "set", self.host_if, "up"],
                    [*ns, "addr", "add", f"{self.peer_ip}/24", "dev", self.peer_if],
                    [*ns, "link", "set", self.peer_if, "up"], [*ns, "link", "set", "lo", "up"],
                    ["tc", "qdisc", "add", "dev", self.host_if, "root", "tbf", "rate", LINK_RATE, "burst", "256kb",
                     "latency", "50ms"],
                    ["tc", "-n", self.ns, "qdisc", "add", "dev", self.peer_if, "root", "tbf", "rate", LINK_RATE,
                     "burst", "256kb", "latency", "50ms"]):
            subprocess.run(cmd, check=True, capture_output=True, timeout=30)

    def down(self) -> None:
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True, timeout=30)  # takes the veth pair


def tunnel_phase(up: str, home: Path, m: dict, procs: "Procs") -> dict:
    """The shim's HTTPS proxy as a blind tunnel (a host it does not intercept) against a direct connection:
    time to first byte of a fresh connection, and a 10 MB download; over loopback, and over a shaped link
    to a second host (ShapedLink) where this machine allows one."""
    bare = home.parent / "home-tunnel"  # no backends: the upstream's host:port must be one dario only tunnels
    bare.mkdir(exist_ok=True)

    def measure(hostport: str) -> dict:
        spec = {"upstream": hostport, "n": m["tunnel_n"], "size": 10 << 20}
        r = run_json([PY, "-m", "dario", "shim", "--", PY, str(BENCH / "clients" / "tunnel_client.py"),
                      json.dumps(spec)], timeout=600, env=clean_env(DARIO_HOME=str(bare)), cwd=str(ROOT))
        return {"ttfb": compare(summary(r["ttfb_direct_ms"]), summary(r["ttfb_tunnel_ms"]), "p50"),
                "bulk_10mb": compare(summary(r["bulk_direct_ms"]), summary(r["bulk_tunnel_ms"]), "p50"),
                "n": spec["n"]}

    out = measure(up.split("//", 1)[1])
    why = ShapedLink.why_not()
    if why is None:
        link = ShapedLink()
        try:
            link.up()
            p, mt = procs.start(["ip", "netns", "exec", link.ns, PY, str(BENCH / "upstream.py"), "--host",
                                 link.peer_ip], re.compile(r"PORT (\d+)"))
            try:
                out["link"] = {**measure(f"{link.peer_ip}:{mt.group(1)}"), "rate": LINK_RATE}
            finally:
                procs.stop(p)
        except (subprocess.SubprocessError, OSError, RuntimeError) as e:
            why = f"could not set up the link: {e}"
        finally:
            link.down()
    if why is not None:
        out["link"] = {"skipped": why}
    return out


def plot(res: dict, path: Path) -> str | None:
    """bench/scaling.png: calls/s and p99 against concurrency, and added latency against request size.
    None when written; else why not (matplotlib is the bench's own extra, not a dependency of dario)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (pip install -e '.[bench]')"
    sc, sz = res.get("scaling") or {}, res.get("sizes") or {}
    fig, (a, b, c) = plt.subplots(1, 3, figsize=(13, 3.8))
    xs = [int(k) for k in sc]
    for name, style in (("direct", "o-"), ("dario", "s-")):
        a.plot(xs, [sc[str(x)][name]["calls_per_s"] for x in xs], style, label=name)
        b.plot(xs, [sc[str(x)][name]["p99_ms"] for x in xs], style, label=name)
    for ax, title in ((a, "calls/s"), (b, "p99 ms")):
        ax.set_xscale("log", base=2)
        ax.set_xticks(xs, [str(x) for x in xs])
        ax.set_xlabel("concurrent calls")
        ax.set_title(title)
        ax.legend()
    labels = list(sz)
    c.bar([k.replace(" history", "\nhistory") for k in labels], [sz[k]["diff"] or 0 for k in labels])
    c.set_title("added latency p50 (ms) by prompt size")
    fig.suptitle(f"dario vs direct, same run ({res['meta']['date']}, {res['meta']['cpus']} CPUs)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None


# -- report --------------------------------------------------------------------------------------------------
def targets(res: dict) -> list[dict]:
    """Each target of TARGETS with its value from this run and PASS / FAIL (n/a when not measured)."""
    lat, tr = res["latency"]["proxy"], res["latency"]["translation"]

    def worst(*vals):
        vals = [v for v in vals if v is not None]
        return max(vals) if vals else None

    shim = [c["plain"]["p50"]["ratio"] for c in res.get("shim", {}).values() if isinstance(c, dict) and "plain" in c]
    tp = res["throughput"]["systems"]
    d = tp["direct"]
    st = res.get("startup", {})
    ratio = lambda a, b: a / b if a is not None and b else None  # noqa: E731
    values = {
        "proxy plain p50 (x direct)": worst(lat["anthropic_plain"]["p50"]["ratio"], lat["openai_plain"]["p50"]["ratio"]),
        "proxy plain p99 (x direct)": worst(lat["anthropic_plain"]["p99"]["ratio"], lat["openai_plain"]["p99"]["ratio"]),
        "proxy stream TTFB p50 (x direct)": worst(lat["anthropic_stream_ttfb"]["p50"]["ratio"],
                                                  lat["openai_stream_ttfb"]["p50"]["ratio"]),
        "translated p50 (x direct)": tr["plain"]["p50"]["ratio"],
        "shim p50 (x direct)": worst(*shim),
        "64-conc calls/s (x direct)": tp["dario"].get("round_ratio"),
        "64-conc p99 (x direct)": ratio(tp["dario"]["p99_ms"], d["p99_ms"]),
        "Node start-up (x without payload)": st.get("node", {}).get("ratio"),
        "Python start-up (x without injector)": st.get("python", {}).get("ratio"),
        # over a link to a second host, as a tunnel is used; loopback's figure is in the table too
        "tunnel 10 MB (x direct)": ((res.get("tunnel") or {}).get("link") or {}).get("bulk_10mb", {}).get("ratio"),
        "calls/s dario / LiteLLM (x)": ratio(tp["dario"]["calls_per_s"], tp.get("litellm", {}).get("calls_per_s")),
        "peak RSS at 64-conc (MB)": res["memory"]["dario_peak_rss_mb"],
        "RSS growth over the soak (MB)": (res.get("soak") or {}).get("growth_mb"),
    }
    out = []
    for name, (op, thr) in TARGETS.items():
        value = values[name]
        out.append({"target": name, "value": value, "op": op, "threshold": thr, "result": verdict(op, thr, value)})
    return out


def verdict(op: str, threshold: float, value: float | None) -> str:
    if value is None:
        return "n/a"
    return "PASS" if (value <= threshold if op == "<=" else value >= threshold) else "FAIL"


def targets_table(res: dict) -> str:
    rows = [("target", "value", "want", "result")]
    for t in res["targets"]:
        rows.append((t["target"], fmt(t["value"], 3), f"{t['op']} {t['threshold']:g}", t["result"]))
    return render(rows)


def fmt(x, nd=2) -> str:
    if x is None:
        return "—"
    if isinstance(x, float):
        return f"{x:.{nd}f}"
    return str(x)


def table(res: dict) -> str:
    rows = table_rows(res)
    head = ("metric", "direct", "dario", "diff", "ratio", "target", "result")
    notes = []
    if "litellm" not in res["throughput"]["systems"]:
        notes.append(f"LiteLLM figures missing: {res['throughput'].get('litellm_missing')}")
    return render([head, *rows]) + ("\n" + "\n".join(notes) if notes else "")


def render(rows: list[tuple]) -> str:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    line = lambda r: "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(r, widths)))  # noqa
    return "\n".join([line(rows[0]), "  ".join("-" * w for w in widths), *map(line, rows[1:])])


FLOORS = {"node": "start-up floor: --require of an empty file", "python": "start-up floor: an empty sitecustomize"}
REFERENCES = {"dario": "dario", "relay": "byte relay, Python", "stack": "dario/net alone",
              "nginx": "nginx"}
REGRESSION = 0.10  # a via/direct ratio more than 10 % worse than the baseline run's is a regression


def compare_runs(old: dict, new: dict) -> tuple[str, int]:
    """Every via/direct ratio of two runs side by side; (table, number of regressions).

    Ratios, not times: both runs measured direct and via dario together, so the machine's
    speed that day cancels. For calls/s a lower ratio is worse; for everything else, higher."""
    def ratios(res):
        out = {}
        for r in table_rows(res):
            try:
                out[r[0]] = float(str(r[4]).rstrip("x"))
            except ValueError:
                pass
        return out
    a, b = ratios(old), ratios(new)
    rows, bad = [("metric", "baseline", "now", "change", "verdict")], 0
    for label in a:
        if label not in b or "litellm" in label or label.startswith("ref "):
            continue
        higher_is_better = "calls/s" in label
        change = (b[label] - a[label]) / a[label] if a[label] else 0.0
        worse = -change if higher_is_better else change
        verdict = "REGRESSED" if worse > REGRESSION else ("better" if worse < -REGRESSION else "same")
        bad += verdict == "REGRESSED"
        rows.append((label, f"{a[label]:.3f}", f"{b[label]:.3f}", f"{change * 100:+.1f}%", verdict))
    return render(rows), bad


def table_rows(res: dict) -> list[tuple]:
    rows: list[tuple] = []
    lat, tr = res["latency"]["proxy"], res["latency"]["translation"]
    tmap = {t["target"]: t for t in res["targets"]}

    def tgt(name: str, value: float | None = None) -> tuple[str, str]:
        """A target's threshold and result; with `value`, that row's own result (a target over several
        rows, such as both protocols' p50, reads the worst of them)."""
        t = tmap.get(name)
        if not t:
            return ("", "")
        result = t["result"] if value is None else verdict(t["op"], t["threshold"], value)
        return (f"{t['op']} {t['threshold']:g}", result)

    def add(label, c, target_name=None, unit=""):
        rows.append((label, fmt(c["direct"]), fmt(c["dario"]), fmt(c["diff"]),
                     fmt(c["ratio"], 3) if c["ratio"] is not None else "—",
                     *(tgt(target_name, c["ratio"]) if target_name else ("", ""))))

    add("proxy  anthropic plain p50 ms", lat["anthropic_plain"]["p50"], "proxy plain p50 (x direct)")
    add("proxy  anthropic plain p99 ms", lat["anthropic_plain"]["p99"], "proxy plain p99 (x direct)")
    add("proxy  openai plain p50 ms", lat["openai_plain"]["p50"], "proxy plain p50 (x direct)")
    add("proxy  openai plain p99 ms", lat["openai_plain"]["p99"], "proxy plain p99 (x direct)")
    add("proxy  anthropic stream TTFB p50 ms", lat["anthropic_stream_ttfb"]["p50"], "proxy stream TTFB p50 (x direct)")
    add("proxy  openai stream TTFB p50 ms", lat["openai_stream_ttfb"]["p50"], "proxy stream TTFB p50 (x direct)")
    for name, label in REFERENCES.items():  # the reference phase: the same calls through each, same rounds
        c = res.get("reference", {}).get(name)
        if c is not None:
            add(f"ref    {label}: openai plain p50 ms", c["openai_plain"])
    for name, label in REFERENCES.items():  # each one's own CPU over that phase, a call (a mix of 4 kinds)
        c = res.get("reference", {}).get(name)
        if c is not None and c.get("cpu_us_per_call") is not None:
            rows.append((f"ref    {label}: CPU us a call", "", fmt(c["cpu_us_per_call"], 0), "", "", "", ""))
    for name, c in res.get("shim", {}).items():
        if "plain" not in c:
            rows.append((f"shim   {name}", c.get("skipped", "—"), "", "", "", "", ""))
            continue
        add(f"shim   {name} plain p50 ms", c["plain"]["p50"], "shim p50 (x direct)")
        add(f"shim   {name} plain p99 ms", c["plain"]["p99"])
        add(f"shim   {name} stream TTFB p50 ms", c["stream_ttfb"]["p50"])
        if "proxy_plain" in c:  # the same client with its base URL at `dario proxy`
            add(f"shim   {name} via proxy plain p50 ms", c["proxy_plain"]["p50"])
    add("transl anthropic->openai plain p50 ms", tr["plain"]["p50"], "translated p50 (x direct)")
    add("transl anthropic->openai plain p99 ms", tr["plain"]["p99"])
    add("transl anthropic->openai TTFB p50 ms", tr["stream_ttfb"]["p50"])
    tp = res["throughput"]["systems"]
    d = tp["direct"]
    for name in ("dario", "dario_no_telemetry", "litellm"):
        if name in tp:
            v = tp[name]
            main = name == "dario"
            rows.append((f"64-conc {name} calls/s", fmt(d["calls_per_s"], 0), fmt(v["calls_per_s"], 0),
                         fmt(v["calls_per_s"] - d["calls_per_s"], 0), fmt(v.get("round_ratio"), 3),
                         *(tgt("64-conc calls/s (x direct)") if main else ("", ""))))
            rows.append((f"64-conc {name} p99 ms", fmt(d["p99_ms"]), fmt(v["p99_ms"]), fmt(v["p99_ms"] - d["p99_ms"]),
                         fmt(v["p99_ms"] / d["p99_ms"], 3), *(tgt("64-conc p99 (x direct)") if main else ("", ""))))
    if "litellm" not in tp:
        rows.append(("64-conc litellm", "missing", "", "", "", "", ""))
    ad, tv = tp["anthropic_direct"], tp["translation_dario"]
    rows.append(("64-conc transl calls/s", fmt(ad["calls_per_s"], 0), fmt(tv["calls_per_s"], 0),
                 fmt(tv["calls_per_s"] - ad["calls_per_s"], 0), fmt(tv.get("round_ratio"), 3), "", ""))
    rows.append(("64-conc transl p99 ms", fmt(ad["p99_ms"]), fmt(tv["p99_ms"]), fmt(tv["p99_ms"] - ad["p99_ms"]),
                 fmt(tv["p99_ms"] / ad["p99_ms"], 3), "", ""))
    if "litellm" in tp:
        t = tmap["calls/s dario / LiteLLM (x)"]
        rows.append(("64-conc dario / litellm calls/s", fmt(tp["litellm"]["calls_per_s"], 0),
                     fmt(tp["dario"]["calls_per_s"], 0), "", fmt(t["value"], 2) + "x", *tgt(t["target"])))
    for kind, label, tname in (("node", "start-up node -e '' median ms", "Node start-up (x without payload)"),
                               ("python", "start-up python -c '' median ms", "Python start-up (x without injector)"),
                               ("python_system", "start-up /usr/bin/python3 -c '' median ms", None)):
        s = res.get("startup", {}).get(kind)
        if s:
            w, wo = s["with_ms"]["median"], s["without_ms"]["median"]
            rows.append((label, fmt(wo), fmt(w), fmt(s["added_paired_ms"]), fmt(s["ratio"], 3), *tgt(tname)))
            if "floor" in s:
                f = s["floor"]
                rows.append((FLOORS[kind], fmt(wo), fmt(f["median_ms"]), fmt(f["added_paired_ms"]),
                             fmt(f["ratio"], 3), "", ""))
    tun = res.get("tunnel")
    if tun:
        add("tunnel loopback first byte p50 ms", tun["ttfb"])
        add("tunnel loopback 10 MB p50 ms", tun["bulk_10mb"])
        link = tun.get("link") or {}
        if "bulk_10mb" in link:
            add(f"tunnel {link['rate']} link first byte p50 ms", link["ttfb"])
            add(f"tunnel {link['rate']} link 10 MB p50 ms", link["bulk_10mb"], "tunnel 10 MB (x direct)")
        else:
            rows.append(("tunnel link", link.get("skipped", "—"), "", "", "", "", ""))
    for conc, sys_ in (res.get("scaling") or {}).items():
        d2, v2 = sys_["direct"], sys_["dario"]
        rows.append((f"scale  {conc:>3}-conc calls/s", fmt(d2["calls_per_s"], 0), fmt(v2["calls_per_s"], 0),
                     fmt(v2["calls_per_s"] - d2["calls_per_s"], 0),
                     fmt(v2["calls_per_s"] / d2["calls_per_s"], 3) if d2["calls_per_s"] else "—", "", ""))
        rows.append((f"scale  {conc:>3}-conc p99 ms", fmt(d2["p99_ms"]), fmt(v2["p99_ms"]),
                     fmt(v2["p99_ms"] - d2["p99_ms"]) if d2["p99_ms"] and v2["p99_ms"] else "—",
                     fmt(v2["p99_ms"] / d2["p99_ms"], 3) if d2["p99_ms"] and v2["p99_ms"] else "—", "", ""))
    for label, c in (res.get("sizes") or {}).items():
        add(f"size   {label} prompt p50 ms", c)
    mem = res["memory"]
    rows.append(("dario peak RSS MB (64-conc run)", "", fmt(mem["dario_peak_rss_mb"], 1), "", "",
                 *tgt("peak RSS at 64-conc (MB)")))
    soak = res.get("soak") or {}
    if soak:
        rows.append((f"soak RSS MB, {soak['calls']} calls (first tenth -> end)", fmt(soak["rss_after_first_tenth_mb"], 1),
                     fmt(soak["rss_end_mb"], 1), fmt(soak["growth_mb"], 1), "", *tgt("RSS growth over the soak (MB)")))
        if soak.get("cpu_us_per_call_rest") is not None:
            a, z = soak["cpu_us_per_call_first_tenth"], soak["cpu_us_per_call_rest"]
            rows.append(("soak dario CPU us a call (first tenth -> rest)", fmt(a, 0), fmt(z, 0), fmt(z - a, 0),
                         fmt(z / a, 3), "", ""))
    for name, v in (res.get("instructions") or {}).items():
        if isinstance(v, dict):
            rows.append((f"instructions per call, {name} (M)", "", fmt(v["per_call_M"], 3), "", "", "", ""))
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small N: a smoke run in well under a minute")
    ap.add_argument("--no-litellm", action="store_true", help="skip the LiteLLM comparison")
    ap.add_argument("--skip-shim", action="store_true", help="skip the shim and start-up phases")
    ap.add_argument("--json", default=str(BENCH / "results.json"), help="where to write the results")
    ap.add_argument("--compare", metavar="OLD.json", help="also print every via/direct ratio against an earlier "
                                                          "run's results; exit 1 if any regressed by > 10%%")
    args = ap.parse_args()
    mode = "quick" if args.quick else "full"
    m = MODES[mode]
    procs = Procs()
    tmp = Path(tempfile.mkdtemp(prefix="dario-bench-"))
    t_start = time.time()
    res: dict = {"meta": {"mode": mode, "date": time.strftime("%Y-%m-%d %H:%M:%S"), "python": platform.python_version(),
                          "platform": platform.platform(), "cpus": os.cpu_count(),
                          "node": subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
                          if shutil.which("node") else None,
                          "telemetry": "on (dario default: SQLite writes in the writer process)",
                          "params": m}}
    try:
        p, mt = procs.start([PY, str(BENCH / "upstream.py")], re.compile(r"PORT (\d+)"))
        up = f"http://127.0.0.1:{mt.group(1)}"
        res["meta"]["upstream_pid"] = p.pid
        home = tmp / "home"
        configure_home(home, up)
        env = clean_env(DARIO_HOME=str(home))
        dp, dm = procs.start([PY, "-m", "dario", "proxy", "--port", "0"],
                             re.compile(r"listening on (http://\S+)"), stream="stderr", env=env, cwd=str(ROOT))
        dario = dm.group(1)
        # the same proxy with its recorder replaced by a no-op: what telemetry costs
        nhome = tmp / "home-norec"
        configure_home(nhome, up)
        np_, nm = procs.start([PY, str(BENCH / "dario_norec.py"), "proxy", "--port", "0"],
                              re.compile(r"listening on (http://\S+)"), stream="stderr",
                              env=clean_env(DARIO_HOME=str(nhome)), cwd=str(ROOT))
        litellm, why = (None, "--no-litellm given") if args.no_litellm else litellm_start(procs, up, tmp)
        if why:
            log(f"LiteLLM figures missing: {why}")

        log(f"{mode}: sequential latency (direct and via dario, interleaved)…")
        res["latency"] = latency_phase(up, dario, m)
        refs, refs_missing, ref_pids = references_start(procs, up, tmp)
        for name, why in refs_missing.items():
            log(f"reference {name} missing: {why}")
        log("reference proxies: dario beside a Python byte relay, dario/net alone and nginx, same calls each…")
        res["reference"] = reference_phase(up, {"dario": dario, **refs}, m, {"dario": dp.pid, **ref_pids})
        res["reference"]["missing"] = refs_missing
        log("throughput at 64 concurrent (direct / dario / LiteLLM rounds alternate)…")
        res["throughput"] = throughput_phase(up, dario, nm.group(1), litellm, m, dp.pid)
        res["throughput"]["litellm_missing"] = why
        res["memory"] = {"dario_peak_rss_mb": peak_rss_mb(dp.pid),
                         "sampled_peak_rss_mb": res["throughput"].pop("rss_sampled_peak_mb"),
                         "how": "VmHWM of the `dario proxy` process after the throughput run"}
        log("scaling: calls/s and p99 at " + ", ".join(map(str, SCALE)) + " concurrent…")
        res["scaling"] = scaling_phase(up, dario, m)
        log("added latency against prompt size (" + ", ".join(SIZES) + ")…")
        res["sizes"] = size_phase(up, dario, m)
        log(f"soak: {m['soak_calls']} calls at 64 concurrent (at most {m['soak_max_s']} s), dario's RSS…")
        res["soak"] = soak_phase(dario, dp.pid, res["throughput"]["systems"]["dario"]["calls_per_s"], m)
        log("instructions per call under callgrind (full runs, with valgrind)…")
        res["instructions"] = instructions_phase(up, m, tmp, procs)
        if not args.skip_shim:
            log("tunnel: the HTTPS proxy's blind tunnel against a direct connection…")
            res["tunnel"] = tunnel_phase(up, home, m, procs)
            log("shim: Node and Python SDK clients, plain, under `dario shim` and through `dario proxy` (alternating runs)…")
            res["shim"] = shim_phase(up, home, m, proxy=dario)
            log("start-up: node -e '' / python -c '' with and without the payload / injector…")
            res["startup"] = startup_phase(home, m)
        else:
            res["shim"], res["startup"] = {}, {}
    finally:
        procs.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)
    res["targets"] = targets(res)
    res["meta"]["seconds"] = round(time.time() - t_start, 1)
    png = Path(args.json).with_name("scaling.png")
    res["meta"]["plot"] = plot(res, png) or str(png)
    Path(args.json).write_text(json.dumps(res, indent=1))
    print(table(res))
    print("\ntargets (ratios via dario / direct, this run):\n" + targets_table(res))
    print(f"\n{mode} run, {res['meta']['seconds']} s; results in {args.json}")
    if res["latency"]["errors"]:
        print(f"errors during latency runs: {res['latency']['errors']}")
    if args.compare:
        text, bad = compare_runs(json.loads(Path(args.compare).read_text()), res)
        print(f"\nvia/direct ratios against {args.compare}:\n{text}")
        return 1 if bad else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
