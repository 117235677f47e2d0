"""The benchmark's load generator: its own process, an aiohttp client on uvloop.

usage: python bench/load.py '<json spec>'|@SPEC.json   reports one JSON object through bench/result.py
(a file named by BENCH_RESULT, written whole; why not stdout: see there).

spec {"mode": "latency", "targets": [T...], "n": N, "warmup": W}
    Sequential calls. Each round calls every target once, in a fresh random order, so direct and
    via-dario calls interleave and machine noise falls on both alike. Plain targets report the time
    to the whole body; streaming targets the time to the first body byte (ttfb) and to the end.
spec {"mode": "throughput", "targets": [T...], "concurrency": C, "seconds": S, "rounds": R, "warmup": W}
    For each round, for each target in turn: C workers call it back to back for S seconds
    (the first W seconds are not counted). Reports completed calls, errors and per-call latencies.
T = {"name", "url", "headers": {...}, "body": "<json text>", "stream": bool}
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time

import aiohttp


async def _call(session: aiohttp.ClientSession, t: dict) -> tuple[float, float | None]:
    """(seconds to the end of the body, seconds to the first body byte for streams)."""
    t0 = time.perf_counter()
    async with session.post(t["url"], data=t["_body"], headers=t["headers"]) as r:
        first = None
        if t.get("stream"):
            chunk = await r.content.readany()
            first = time.perf_counter() - t0
            while chunk:
                chunk = await r.content.readany()
        else:
            await r.read()
        if r.status != 200:
            raise RuntimeError(f"{t['name']}: HTTP {r.status}")
    return time.perf_counter() - t0, first


async def latency(spec: dict, session: aiohttp.ClientSession) -> dict:
    targets = spec["targets"]
    out = {t["name"]: {"total_ms": [], "ttfb_ms": [], "errors": 0} for t in targets}
    order = list(targets)
    for i in range(spec.get("warmup", 20) + spec["n"]):
        random.shuffle(order)
        for t in order:
            try:
                total, first = await _call(session, t)
            except Exception as e:  # counted, and the first one is shown
                out[t["name"]]["errors"] += 1
                out[t["name"]].setdefault("error", repr(e))
                continue
            if i >= spec.get("warmup", 20):
                out[t["name"]]["total_ms"].append(total * 1000)
                if first is not None:
                    out[t["name"]]["ttfb_ms"].append(first * 1000)
    return out


async def _phase(session: aiohttp.ClientSession, t: dict, conc: int, seconds: float, warmup: float) -> dict:
    lat: list[float] = []
    errors = 0
    first_error = None
    start = time.perf_counter()
    count_from, stop = start + warmup, start + warmup + seconds

    async def worker() -> None:
        nonlocal errors, first_error
        while True:
            t0 = time.perf_counter()
            if t0 >= stop:
                return
            try:
                total, _ = await _call(session, t)
            except Exception as e:
                errors += 1
                first_error = first_error or repr(e)
                await asyncio.sleep(0.01)
                continue
            if t0 >= count_from and t0 + total <= stop:
                lat.append(total * 1000)

    await asyncio.gather(*(worker() for _ in range(conc)))
    return {"calls": len(lat), "seconds": seconds, "errors": errors, "error": first_error, "latency_ms": lat}


async def throughput(spec: dict, session: aiohttp.ClientSession) -> dict:
    out = {t["name"]: [] for t in spec["targets"]}
    for _ in range(spec.get("rounds", 1)):
        for t in spec["targets"]:
            out[t["name"]].append(await _phase(session, t, spec["concurrency"], spec["seconds"],
                                               spec.get("warmup", 0.5)))
    return out


async def main(spec: dict) -> dict:
    for t in spec["targets"]:
        t["_body"] = t["body"].encode()
        t.setdefault("headers", {})["Content-Type"] = "application/json"
    conn = aiohttp.TCPConnector(limit=0, force_close=False)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=conn, timeout=timeout, skip_auto_headers=("User-Agent",)) as s:
        if spec["mode"] == "latency":
            return await latency(spec, s)
        return await throughput(spec, s)


if __name__ == "__main__":
    arg = sys.argv[1]
    spec = json.loads(open(arg[1:]).read() if arg.startswith("@") else arg)
    try:
        import uvloop
        run = uvloop.run
    except ImportError:
        run = asyncio.run
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))
    from result import report
    report(run(main(spec)))
