"""One HTTP call with httpx, httpx2, requests, urllib3, urllib (urllib.request), http.client or aiohttp;
prints one JSON line.

usage: http_client.py '<json spec>'  spec: {"lib", "url", "async": bool, "stream": bool,
       "json": body (POST) or absent (GET), "slow_body": [chunks, seconds between], "headers": {...},
       "mount": bool (httpx: a mounted transport)}
Streaming output records each chunk and the seconds since the call started when it arrived.
"""
import asyncio
import json
import os
import sys
import time

spec = json.loads(sys.argv[1])
lib, url = spec["lib"], spec["url"]
out = {"pid": os.getpid()}
t0 = time.monotonic()
headers = spec.get("headers", {})
body = json.dumps(spec["json"]).encode() if "json" in spec else None
method = "POST" if body is not None or "slow_body" in spec else "GET"


def slow_body():
    chunks, gap = spec["slow_body"]
    for i, c in enumerate(chunks):
        if i:
            time.sleep(gap)
        yield c.encode()


async def aslow_body():
    chunks, gap = spec["slow_body"]
    for i, c in enumerate(chunks):
        if i:
            await asyncio.sleep(gap)
        yield c.encode()


def record(chunks):
    out["chunks"] = []
    for c in chunks:
        if c:
            out["chunks"].append([c.decode() if isinstance(c, bytes) else c, round(time.monotonic() - t0, 3)])


def error(e):
    return {"type": type(e).__module__ + "." + type(e).__name__, "message": str(e)}


def run_httpx(mod):
    out["patched"] = bool(getattr(mod.HTTPTransport.handle_request, "_dario", False))
    content = slow_body() if "slow_body" in spec else body
    # "mount": the call goes through a user-built transport mounted for the host, not the default one
    mounts = {"all://": mod.HTTPTransport(retries=1)} if spec.get("mount") else None
    with mod.Client(timeout=10, mounts=mounts) as c:
        if spec.get("stream"):
            with c.stream(method, url, content=content, headers=headers) as r:
                out["status"], out["url"] = r.status_code, str(r.url)
                record(r.iter_raw())
        else:
            r = c.request(method, url, content=content, headers=headers)
            out["status"], out["url"], out["text"] = r.status_code, str(r.url), r.text


async def arun_httpx(mod):
    out["patched"] = bool(getattr(mod.AsyncHTTPTransport.handle_async_request, "_dario", False))
    content = aslow_body() if "slow_body" in spec else body
    async with mod.AsyncClient(timeout=10) as c:
        if spec.get("stream"):
            async with c.stream(method, url, content=content, headers=headers) as r:
                out["status"], out["url"] = r.status_code, str(r.url)
                out["chunks"] = []
                async for c in r.aiter_raw():
                    if c:
                        out["chunks"].append([c.decode(), round(time.monotonic() - t0, 3)])
        else:
            r = await c.request(method, url, content=content, headers=headers)
            out["status"], out["url"], out["text"] = r.status_code, str(r.url), r.text


def run_requests():
    import requests
    import urllib3

    out["patched"] = bool(getattr(urllib3.HTTPConnectionPool.urlopen, "_dario", False))
    data = slow_body() if "slow_body" in spec else body
    r = requests.request(method, url, data=data, headers=headers, stream=bool(spec.get("stream")), timeout=10)
    out["status"], out["url"] = r.status_code, r.url
    if spec.get("stream"):
        record(r.iter_content(chunk_size=None))
    else:
        out["text"] = r.text


def run_urllib3():
    import urllib3

    out["patched"] = bool(getattr(urllib3.HTTPConnectionPool.urlopen, "_dario", False))
    r = urllib3.request(method, url, body=body, headers=headers, timeout=10)
    out["status"], out["text"] = r.status, r.data.decode()


def run_urllib():
    import http.client
    import urllib.error
    import urllib.request

    out["patched"] = bool(getattr(http.client.HTTPConnection.putrequest, "_dario", False))
    data = slow_body() if "slow_body" in spec else body
    req = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        r = urllib.request.urlopen(req, timeout=10)
    except urllib.error.HTTPError as e:  # a 4xx/5xx is an answer, not a failure
        r = e
    out["status"], out["url"] = r.status, r.url
    if spec.get("stream"):
        record(iter(lambda: r.read1(65536), b""))
    else:
        out["text"] = r.read().decode()


def run_http_client():
    import http.client
    from urllib.parse import urlsplit

    out["patched"] = bool(getattr(http.client.HTTPConnection.putrequest, "_dario", False))
    u = urlsplit(url)
    cls = http.client.HTTPSConnection if u.scheme == "https" else http.client.HTTPConnection
    conn = cls(u.hostname, u.port, timeout=10)
    path = u.path + ("?" + u.query if u.query else "")
    if "slow_body" in spec:
        conn.putrequest(method, path)
        for k, v in headers.items():
            conn.putheader(k, v)
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        for c in slow_body():
            conn.send(b"%x\r\n%s\r\n" % (len(c), c))
        conn.send(b"0\r\n\r\n")
    else:
        conn.request(method, path, body=body, headers=headers)
    r = conn.getresponse()
    out["status"] = r.status
    if spec.get("stream"):
        record(iter(lambda: r.read1(65536), b""))
    else:
        out["text"] = r.read().decode()
    conn.close()


async def run_aiohttp():
    import aiohttp
    from aiohttp import connector

    out["patched"] = bool(getattr(connector.BaseConnector.connect, "_dario", False))
    data = aslow_body() if "slow_body" in spec else body
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        async with session.request(method, url, data=data, headers=headers) as r:
            out["status"], out["url"] = r.status, str(r.url)
            if spec.get("stream"):
                out["chunks"] = []
                async for c in r.content.iter_any():
                    if c:
                        out["chunks"].append([c.decode(), round(time.monotonic() - t0, 3)])
            else:
                out["text"] = await r.text()


try:
    if lib == "urllib":
        run_urllib()
    elif lib == "http.client":
        run_http_client()
    elif lib == "aiohttp":
        asyncio.run(run_aiohttp())
    elif lib == "requests":
        run_requests()
    elif lib == "urllib3":
        run_urllib3()
    else:
        mod = __import__(lib)
        asyncio.run(arun_httpx(mod)) if spec.get("async") else run_httpx(mod)
except Exception as e:
    out["error"] = error(e)
out["elapsed"] = round(time.monotonic() - t0, 3)
print(json.dumps(out))
