"""dario's HTTP/1.1 wire (dario/net/): the server against raw sockets, the client against aiohttp's
server and a CONNECT proxy. The pipeline's own tests run over both; these pin the wire's edges."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import gzip
import ssl
import zlib

import pytest
from aiohttp import web

from dario.net import client as net
from dario.net.server import BodyTooLarge, Request, Response, Runner, Server, StreamResponse
from tests.support.streams import join


# -- the server ----------------------------------------------------------------------------------
async def _serve(handler, max_body: int = 1 << 20) -> tuple[Runner, int]:
    runner = Runner(Server(handler, max_body=max_body, error_body=lambda st, msg: ('{"e": "%s"}' % msg).encode()))
    return runner, await runner.tcp("127.0.0.1", 0)


async def _exchange(port: int, data: bytes, until: bytes = b"", timeout: float = 5) -> bytes:
    """Send raw bytes; read until `until` has been seen (or the server closes)."""
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(data)
    got = b""
    try:
        while not (until and until in got):
            chunk = await asyncio.wait_for(r.read(65536), timeout)
            if not chunk:
                break
            got += chunk
    finally:
        w.close()
    return got


async def _echo(request: Request) -> Response:
    body = await request.read()
    return Response(body=b"%s %s %s|" % (request.method.encode(), request.raw_path.encode(), body),
                    content_type="text/plain")


async def _ok(request: Request) -> Response:
    return Response(body=b"ok", content_type="text/plain")


async def test_the_server_closes_a_kept_alive_connection_idle_past_its_keepalive_and_only_then():
    runner = Runner(Server(_ok, max_body=1 << 20, keepalive=0.4))
    port = await runner.tcp("127.0.0.1", 0)
    try:
        r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 5)).startswith(b"HTTP/1.1 200")
        await asyncio.wait_for(r.readexactly(2), 5)
        await asyncio.sleep(0.2)  # idle, not for long enough: still served on the same connection
        w.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 5)).startswith(b"HTTP/1.1 200")
        await asyncio.wait_for(r.readexactly(2), 5)
        t0 = asyncio.get_running_loop().time()
        assert await asyncio.wait_for(r.read(), 5) == b""  # then closed by the server, idle
        waited = asyncio.get_running_loop().time() - t0
        assert 0.35 <= waited <= 1.5, waited  # its keep-alive, give or take scheduling
        w.close()
        # a connection that never sends a request is closed too
        r2, w2 = await asyncio.open_connection("127.0.0.1", port)
        assert await asyncio.wait_for(r2.read(), 5) == b""
        w2.close()
    finally:
        await runner.cleanup()


async def test_kept_alive_connections_share_one_task_that_ends_when_the_server_shuts_down():
    """A kept-alive connection is served by one task, idle between requests; shutdown ends it and closes
    the connection, so no task is left pending when the loop stops."""
    runner, port = await _serve(_echo)
    r, w = await asyncio.open_connection("127.0.0.1", port)
    try:
        tasks = []
        for path in (b"/one", b"/two"):
            w.write(b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n\r\n")
            head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 5)
            n = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
            assert (await asyncio.wait_for(r.readexactly(n), 5)).startswith(b"GET " + path)
            [conn] = runner.server.connections
            tasks.append(conn._task)
        assert tasks[0] is tasks[1] and not tasks[0].done()  # idle now, waiting for a next request
        await asyncio.wait_for(runner.cleanup(), 1.0)  # not the 2 s it gives answers still under way
        assert tasks[0].done() and not runner.server.connections
        assert await asyncio.wait_for(r.read(), 5) == b""  # the idle connection was closed
    finally:
        w.close()


async def test_pipelined_requests_are_answered_in_order_on_one_connection():
    runner, port = await _serve(_echo)
    try:
        got = await _exchange(port, b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\none"
                                    b"GET /b?q=1 HTTP/1.1\r\nHost: x\r\n\r\n"
                                    b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                                    b"3\r\nthr\r\n2\r\nee\r\n0\r\n\r\n", until=b"POST /c three|")
        bodies = [part.split(b"\r\n\r\n", 1)[1] for part in got.split(b"HTTP/1.1 200 OK")[1:]]
        assert [b.split(b"|")[0] + b"|" for b in bodies] == [b"POST /a one|", b"GET /b?q=1 |", b"POST /c three|"]
    finally:
        await runner.cleanup()


async def test_expect_100_continue_is_answered_before_the_body_and_a_too_large_one_is_refused():
    seen = []

    async def handler(request: Request) -> Response:
        try:
            return Response(body=await request.read())
        except BodyTooLarge as e:
            seen.append(str(e))
            return Response(status=413, body=b"too large")

    runner, port = await _serve(handler, max_body=10)
    try:
        r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        assert await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 5) == b"HTTP/1.1 100 Continue\r\n\r\n"
        w.write(b"hello")
        head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 200 OK") and await r.readexactly(5) == b"hello"
        w.close()
        got = await _exchange(port, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99\r\nExpect: 100-continue\r\n\r\n")
        assert got.startswith(b"HTTP/1.1 413") and b"100 Continue" not in got and b"Connection: close" in got
        assert seen == ["request body larger than 10 bytes"]
    finally:
        await runner.cleanup()


async def test_what_is_not_http_gets_a_400_and_a_huge_head_a_431_in_the_servers_error_shape():
    runner, port = await _serve(_echo)
    try:
        got = await _exchange(port, b"\x16\x03\x01 this is TLS, not HTTP\r\n\r\n")
        assert got.startswith(b"HTTP/1.1 400 Bad Request") and b'{"e": "dario: not a valid HTTP request' in got
        got = await _exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n")
        assert got.startswith(b"HTTP/1.1 431") and b"request head larger than 64 KiB" in got
    finally:
        await runner.cleanup()


async def test_a_client_that_leaves_cancels_its_handler():
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def handler(request: Request) -> Response:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return Response(body=b"late")

    runner, port = await _serve(handler)
    try:
        r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        await asyncio.wait_for(started.wait(), 5)
        w.close()
        await asyncio.wait_for(cancelled.wait(), 5)
    finally:
        await runner.cleanup()


async def test_request_bodies_are_decoded_and_head_answers_carry_no_body():
    runner, port = await _serve(_echo)
    try:
        z = gzip.compress(b"squeezed")
        got = await _exchange(port, b"POST /z HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s"
                              % (len(z), z), until=b"squeezed|")
        assert got.endswith(b"POST /z squeezed|")
        got = await _exchange(port, b"HEAD /h HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        head, body = got.split(b"\r\n\r\n", 1)
        assert b"Content-Length: 9" in head and body == b""  # "HEAD /h |": what it would send, unsent
    finally:
        await runner.cleanup()


class _Recording(asyncio.Transport):
    """A transport that keeps each write() apart: what one syscall would carry."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []

    def write(self, data) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass


async def test_a_streams_head_goes_with_its_first_chunk_when_that_is_ready_and_alone_when_not():
    gate = asyncio.Event()

    async def handler(request: Request) -> StreamResponse:
        resp = StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        if request.path == "/ready":
            await resp.write(b"first")  # in the same turn: one write for head and chunk
        else:
            await gate.wait()  # the first chunk is late: the head must not wait for it
            await resp.write(b"late")
        return resp

    for path in ("/ready", "/late"):
        conn, t = Server(handler, max_body=1024)(), _Recording()
        conn.connection_made(t)
        conn.data_received(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path.encode())
        for _ in range(5):
            await asyncio.sleep(0)
        if path == "/ready":
            assert len(t.writes) >= 1 and t.writes[0].startswith(b"HTTP/1.1 200 OK")
            assert t.writes[0].endswith(b"\r\n\r\n5\r\nfirst\r\n")
        else:
            assert len(t.writes) == 1 and t.writes[0].endswith(b"Transfer-Encoding: chunked\r\n\r\n")
            gate.set()
            for _ in range(5):
                await asyncio.sleep(0)
            assert t.writes[1] == b"4\r\nlate\r\n" and t.writes[-1] == b"0\r\n\r\n"
        conn.connection_lost(None)


async def test_write_now_sends_a_ping_at_once_but_never_behind_a_stalled_client_or_after_the_end():
    seen: list[bool] = []
    release = asyncio.Event()

    async def handler(request: Request) -> StreamResponse:
        resp = StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        seen.append(resp.write_now(b": ping\n\n"))  # the head has not gone yet: it goes with this
        request._conn.pause_writing()  # the client is not taking what was sent
        seen.append(resp.write_now(b": ping\n\n"))
        request._conn.resume_writing()
        await release.wait()
        await resp.write_eof()
        seen.append(resp.write_now(b": ping\n\n"))
        return resp

    conn, t = Server(handler, max_body=1024)(), _Recording()
    conn.connection_made(t)
    conn.data_received(b"GET /s HTTP/1.1\r\nHost: x\r\n\r\n")
    for _ in range(5):
        await asyncio.sleep(0)
    assert seen == [True, False] and len(t.writes) == 1
    assert t.writes[0].startswith(b"HTTP/1.1 200 OK") and t.writes[0].endswith(b"\r\n\r\n8\r\n: ping\n\n\r\n")
    release.set()
    for _ in range(5):
        await asyncio.sleep(0)
    assert seen == [True, False, False] and t.writes[1:] == [b"0\r\n\r\n"]
    conn.connection_lost(None)


async def test_streams_are_chunked_for_http11_and_close_delimited_for_http10_and_headers_cannot_be_split():
    async def handler(request: Request) -> StreamResponse:
        resp = StreamResponse(headers={"X-Note": "one\r\nSet-Cookie: injected"})
        await resp.prepare(request)
        for part in (b"ab", b"cd"):
            await resp.write(part)
        await resp.write_eof()
        return resp

    runner, port = await _serve(handler)
    try:
        got = await _exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", until=b"0\r\n\r\n")
        head, body = got.split(b"\r\n\r\n", 1)
        assert b"Transfer-Encoding: chunked" in head and body == b"2\r\nab\r\n2\r\ncd\r\n0\r\n\r\n"
        assert b"\r\nSet-Cookie" not in head and b"X-Note: one  Set-Cookie: injected" in head
        got = await _exchange(port, b"GET / HTTP/1.0\r\n\r\n")
        head, body = got.split(b"\r\n\r\n", 1)
        assert b"chunked" not in head and b"Connection: close" in head and body == b"abcd"
    finally:
        await runner.cleanup()


# -- the client ------------------------------------------------------------------------------------
@pytest.fixture
async def origin():
    """aiohttp's server: what it saw, and answers chosen by path."""
    seen: list[tuple[str, dict, int]] = []

    async def handle(request: web.Request) -> web.StreamResponse:
        seen.append((request.path, dict(request.headers), request.transport.get_extra_info("peername")[1]))
        body = await request.read()
        if request.path == "/gzip":
            return web.Response(body=gzip.compress(b"unzipped " + body), headers={"Content-Encoding": "gzip"})
        if request.path == "/deflate-raw":
            c = zlib.compressobj(wbits=-zlib.MAX_WBITS)
            return web.Response(body=c.compress(b"raw deflate") + c.flush(), headers={"Content-Encoding": "deflate"})
        if request.path == "/big":
            resp = web.StreamResponse()
            await resp.prepare(request)
            for i in range(40):
                await resp.write(bytes([65 + i % 26]) * 131072)
            await resp.write_eof()
            return resp
        if request.path == "/cut":
            resp = web.StreamResponse(headers={"Content-Length": "100"})
            await resp.prepare(request)
            await resp.write(b"only part")
            request.transport.close()
            return resp
        return web.Response(body=b"ok " + body)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}", seen
    await runner.cleanup()


async def test_connections_are_kept_alive_and_idle_ones_expire(origin):
    url, seen = origin
    pool = net.Pool(2.0, keepalive=0.3)
    try:
        for _ in range(3):
            r = await pool.request("POST", url + "/x", {}, b"hi")
            assert (r.status, await r.read()) == (200, b"ok hi")
        assert len({port for _, _, port in seen}) == 1  # one connection for all three
        await asyncio.sleep(0.5)  # longer than the keep-alive: that connection is closed
        r = await pool.request("GET", url + "/y", {}, None)
        assert await r.read() == b"ok " and len({port for _, _, port in seen}) == 2
    finally:
        await pool.close()


async def test_a_burst_past_64_concurrent_calls_keeps_its_connections_for_the_next(origin):
    # 64 was the old idle cap: a burst of 200 then redialled 136 connections on every round
    url, seen = origin
    pool = net.Pool(5.0)
    n = 200
    assert net.MAX_IDLE_PER_HOST >= n  # the suite's fd limit allows it (a quarter of RLIMIT_NOFILE)

    async def one() -> bytes:
        r = await pool.request("POST", url + "/x", {}, b"b")
        return await r.read()

    try:
        for _ in range(2):
            assert await asyncio.gather(*(one() for _ in range(n))) == [b"ok b"] * n
        first, second = seen[:n], seen[n:]
        assert len({p for _, _, p in second} - {p for _, _, p in first}) == 0  # no new connection
        assert len(pool.idle[("http", "127.0.0.1", int(url.rsplit(":", 1)[1]), None)]) == len({p for _, _, p in first})
    finally:
        await pool.close()


async def test_answers_are_decoded_and_big_bodies_flow_through_the_high_water_mark(origin):
    url, _ = origin
    pool = net.Pool(2.0)
    try:
        r = await pool.request("POST", url + "/gzip", {}, b"body")
        assert await r.read() == b"unzipped body"
        r = await pool.request("GET", url + "/deflate-raw", {}, None)
        assert await r.read() == b"raw deflate"
        r = await pool.request("GET", url + "/big", {}, None)
        got, n = bytearray(), 0
        async for chunk in r.iter_any():
            got += chunk
            n += 1
            await asyncio.sleep(0.001)  # a slow reader: the connection pauses instead of buffering it all
        assert len(got) == 40 * 131072 and got[:1] == b"A" and got[-1:] == bytes([65 + 39 % 26]) and n > 1
    finally:
        await pool.close()


async def test_a_cut_answer_is_an_error_not_a_short_body(origin):
    url, _ = origin
    pool = net.Pool(2.0)
    try:
        r = await pool.request("GET", url + "/cut", {}, None)
        with pytest.raises(net.Disconnected):
            await r.read()
        with pytest.raises(net.ConnectError) as e:
            await pool.request("GET", "http://127.0.0.1:9/", {}, None)  # the discard port: nobody listens
        assert isinstance(e.value.os_error, ConnectionRefusedError)
    finally:
        await pool.close()


async def test_headers_go_once_whatever_their_case_and_cannot_be_split(origin):
    url, seen = origin
    pool = net.Pool(2.0)
    try:
        r = await pool.request("POST", url + "/h", {"content-type": "text/plain", "Content-Type": "application/json",
                                                   "X-Evil": "a\r\nX-Injected: 1"}, b"{}")
        await r.read()
        headers = seen[-1][1]
        assert headers["Content-Type"] == "application/json" and "X-Injected" not in headers
        assert headers["X-Evil"] == "a  X-Injected: 1" and headers["Accept-Encoding"] == net.ACCEPT_ENCODING
        r = await pool.request("HEAD", url + "/h", {}, None)
        assert r.status == 200 and await asyncio.wait_for(r.read(), 2) == b""  # Content-Length, no body
    finally:
        await pool.close()


def _tls_pair(tmp_path):
    """A CA and a leaf for 'tls.test', both from cryptography; (server context, client context)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test ca")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True).sign(ca_key, hashes.SHA256()))
    leaf = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tls.test")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(2).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("tls.test"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    (tmp_path / "leaf.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(tmp_path / "leaf.pem", tmp_path / "key.pem")
    client = ssl.create_default_context(cadata=ca.public_bytes(serialization.Encoding.PEM).decode())
    return server, client


async def test_https_through_a_connect_proxy_with_basic_auth_and_tls_verified(tmp_path):
    server_ctx, client_ctx = _tls_pair(tmp_path)
    asked: list[bytes] = []

    async def origin(r, w):
        await r.readuntil(b"\r\n\r\n")
        w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecret")
        await w.drain()
        w.close()

    tls_origin = await asyncio.start_server(origin, "127.0.0.1", 0, ssl=server_ctx)
    origin_port = tls_origin.sockets[0].getsockname()[1]

    async def proxy(r, w):  # answers CONNECT tls.test:443 by joining the TLS origin
        head = await r.readuntil(b"\r\n\r\n")
        asked.append(head)
        r2, w2 = await asyncio.open_connection("127.0.0.1", origin_port)
        w.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await join(r, w, r2, w2)

    proxy_server = await asyncio.start_server(proxy, "127.0.0.1", 0)
    proxy_url = f"http://me:s%40cret@127.0.0.1:{proxy_server.sockets[0].getsockname()[1]}"
    pool = net.Pool(2.0, ssl_context=client_ctx)
    try:
        r = await pool.request("GET", "https://tls.test/v1/x", {}, None, proxy=proxy_url)
        assert (r.status, await r.read()) == (200, b"secret")
        assert asked[0].startswith(b"CONNECT tls.test:443 HTTP/1.1\r\n")
        assert b"Proxy-Authorization: Basic bWU6c0BjcmV0\r\n" in asked[0]  # me:s@cret
        with pytest.raises(net.ConnectError) as e:  # the same origin, not trusted by the default store
            await net.Pool(2.0).request("GET", "https://tls.test/v1/x", {}, None, proxy=proxy_url)
        assert isinstance(e.value.os_error, ssl.SSLCertVerificationError)
    finally:
        await pool.close()
        proxy_server.close()
        tls_origin.close()


async def test_an_answer_without_length_ends_with_its_connection():
    """HTTP/1.0-style servers (Python's http.server, some local model servers) send neither a length
    nor chunks: the body is what came before the close."""
    async def old_server(r, w):
        await r.readuntil(b"\r\n\r\n")
        w.write(b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{\"ok\": ")
        await w.drain()
        await asyncio.sleep(0.05)
        w.write(b"true}")
        await w.drain()
        w.close()

    server = await asyncio.start_server(old_server, "127.0.0.1", 0)
    pool = net.Pool(2.0)
    try:
        url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
        r = await pool.request("POST", url, {}, b"{}")
        assert (r.status, await r.read()) == (200, b'{"ok": true}')
        assert not pool.idle.get(("http", "127.0.0.1", server.sockets[0].getsockname()[1], None))  # not reused
    finally:
        await pool.close()
        server.close()


async def test_https_straight_to_an_origin_verified_and_kept_alive(tmp_path):
    server_ctx, client_ctx = _tls_pair(tmp_path)
    peers = []

    async def origin(r, w):
        peers.append(w.get_extra_info("peername"))
        while True:
            try:
                await r.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await w.drain()

    server = await asyncio.start_server(origin, "127.0.0.1", 0, ssl=server_ctx)
    url = f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1/x"
    pool = net.Pool(2.0, ssl_context=client_ctx)
    try:
        for _ in range(3):
            r = await pool.request("GET", url, {}, None)
            assert (r.status, await r.read()) == (200, b"ok")
        assert len(peers) == 1  # one TLS connection for the three
    finally:
        await pool.close()
        server.close()


def test_a_backend_url_that_is_not_http_is_a_502_in_the_clients_shape_naming_no_url(upstream):
    import requests
    from dario.pipeline.backends import Backend
    from tests.support.dario_proxy import start_proxy
    server, rec = start_proxy(upstream.url, backends={"odd": Backend("odd", "openai", "ftp://user:pw@odd.test/v1",
                                                                     ["sk-odd-key-000000"])}, default="odd")
    try:
        r = requests.post(server.url + "/v1/chat/completions", timeout=10,
                          json={"model": "odd:m", "messages": [{"role": "user", "content": "hi"}]})
        assert r.status_code == 502, r.text
        msg = r.json()["error"]["message"]
        assert "cannot reach upstream odd" in msg and "not an absolute http(s) URL" in msg and "pw" not in msg
    finally:
        server.stop()
