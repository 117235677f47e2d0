"""The HTTPS proxy's blind tunnel against a direct connection, run under `dario shim` (which gives it
HTTPS_PROXY). Every sample opens a fresh connection: directly to the upstream, or to the proxy with a
CONNECT to the upstream (a host dario does not intercept, so a blind tunnel). Order is shuffled per round.

usage: tunnel_client.py '{"upstream": "127.0.0.1:PORT", "n": N, "size": BYTES}'   prints one JSON line:
    {"ttfb_direct_ms": [...], "ttfb_tunnel_ms": [...], "bulk_direct_ms": [...], "bulk_tunnel_ms": [...]}
ttfb: connect (+ CONNECT) and GET /bytes/1 up to the first answer byte; bulk: GET /bytes/SIZE to its end.
"""
import base64
import json
import os
import random
import socket
import sys
import time
from urllib.parse import urlsplit

spec = json.loads(sys.argv[1])
host, port = spec["upstream"].rsplit(":", 1)
proxy = urlsplit(os.environ["HTTPS_PROXY"])
auth = base64.b64encode(f"{proxy.username}:{proxy.password}".encode()).decode()


def open_conn(tunnel: bool) -> socket.socket:
    if not tunnel:
        s = socket.create_connection((host, int(port)))
    else:
        s = socket.create_connection((proxy.hostname, proxy.port))
        s.sendall(f"CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\nProxy-Authorization: Basic {auth}"
                  "\r\n\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += s.recv(4096)
        assert b" 200 " in head.split(b"\r\n")[0], head
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def get(tunnel: bool, n: int, first_only: bool) -> float:
    t0 = time.perf_counter()
    s = open_conn(tunnel)
    s.sendall(f"GET /bytes/{n} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    buf = s.recv(65536)
    if first_only:
        dt = time.perf_counter() - t0
        s.close()
        return dt * 1000
    head, _, body = buf.partition(b"\r\n\r\n")
    got = len(body)
    view = bytearray(1 << 20)
    while got < n:
        k = s.recv_into(view)
        if not k:
            raise RuntimeError(f"closed after {got} of {n} bytes")
        got += k
    dt = time.perf_counter() - t0
    s.close()
    return dt * 1000


out = {k: [] for k in ("ttfb_direct_ms", "ttfb_tunnel_ms", "bulk_direct_ms", "bulk_tunnel_ms")}
for i in range(spec.get("warmup", 3) + spec["n"]):
    cases = [(t, w) for t in (False, True) for w in ("ttfb", "bulk")]
    random.shuffle(cases)
    for tunnel, what in cases:
        ms = get(tunnel, 1 if what == "ttfb" else spec["size"], what == "ttfb")
        if i >= spec.get("warmup", 3):
            out[f"{what}_{'tunnel' if tunnel else 'direct'}_ms"].append(ms)
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))
from result import report  # noqa: E402  (bench/result.py: a file, not stdout)

report(out)
