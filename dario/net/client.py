"""dario's HTTP/1.1 client for upstream calls: keep-alive connections on asyncio, parsed by llhttp.

Why not aiohttp's ClientSession: a proxied call pays for a client and a server on top of the
call itself, and aiohttp's client objects (ClientRequest, ClientResponse, the connector's
keys, the tracing hooks) were about a third of dario's time per call (bench/profile.py).
This is the least that dario's upstream calls need, and no more:

- a pool of idle connections per (scheme, host, port, proxy), most recently used first, each
  closed after KEEPALIVE s idle; TCP_NODELAY (asyncio and uvloop set it on TCP sockets);
- TLS verified against the default trust store (SSL_CERT_FILE and SSL_CERT_DIR honoured);
- the user's own proxy: CONNECT for https, the absolute URL for http, Basic auth from its URL;
- gzip and deflate answers decoded (br when the brotli package is there: net/codec.py), as aiohttp did;
- an answer's body as chunks under flow control: reading pauses above HIGH_WATER buffered bytes.

Every failure is one of the exceptions below; core/errors.upstream_error words them.
"""

from __future__ import annotations

import asyncio
import base64
import ssl
from collections import deque
from functools import lru_cache
from typing import AsyncIterator, Mapping
from urllib.parse import unquote, urlsplit

import httptools
from multidict import CIMultiDict, CIMultiDictProxy

from dario.net.codec import ACCEPT_ENCODING, DecodeError, decoder, head_bytes
from dario.net.waker import Waker

KEEPALIVE = 15.0  # s an idle connection is kept (aiohttp's default)


def _idle_cap() -> int:
    """Idle connections kept per host: enough for the concurrency a run reaches (each call past the cap
    would dial anew: 256 concurrent calls against a cap of 64 halved the calls/s, bench/), within a
    quarter of the file descriptors this process may open."""
    try:
        import resource  # POSIX only
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        if soft == resource.RLIM_INFINITY:
            soft = 1 << 16
    except (ImportError, OSError, ValueError):
        soft = 1024
    return max(64, min(1024, soft // 4))


MAX_IDLE_PER_HOST = _idle_cap()
HIGH_WATER = 1 << 20


_TIMEOUT = getattr(asyncio, "timeout", None)


async def within(coro, seconds: float):
    """`asyncio.wait_for`, minus the extra Task per call it makes before Python 3.12."""
    if _TIMEOUT is None:
        return await asyncio.wait_for(coro, seconds)
    async with _TIMEOUT(seconds):
        return await coro


class ClientError(Exception):
    """Anything that went wrong talking to an upstream."""


class ConnectError(ClientError):
    """No connection: the OS's or TLS's reason is `os_error`."""

    def __init__(self, host: str, port: int, os_error: BaseException) -> None:
        super().__init__(f"cannot connect to {host}:{port}: {os_error}")
        self.host, self.port, self.os_error = host, port, os_error


class ConnectTimeout(ClientError, asyncio.TimeoutError):
    pass


class FirstByteTimeout(ClientError, asyncio.TimeoutError):
    pass


class Disconnected(ClientError):
    """The server closed the connection before its answer was whole."""


class BadResponse(ClientError):
    """What came back is not HTTP, or its body cannot be decoded."""


class ProxyError(ClientError):
    pass


class BadURL(ClientError, ValueError):
    """Not an absolute http(s) URL (a backend configured wrong): answered 502 like any unreachable upstream."""


@lru_cache(maxsize=512)
def _target(url: str) -> tuple[str, str, int, str, str]:
    """(scheme, host, port, path?query, Host header) of an absolute http(s) URL."""
    u = urlsplit(url)
    if u.scheme not in ("http", "https") or not u.hostname:  # the URL itself is not quoted: it may hold a key
        raise BadURL(f"not an absolute http(s) URL (scheme {u.scheme!r})")
    default = 443 if u.scheme == "https" else 80
    port = u.port or default
    host = u.hostname
    shown = f"[{host}]" if ":" in host else host
    path = (u.path or "/") + (f"?{u.query}" if u.query else "")
    return u.scheme, host, port, path, shown if port == default else f"{shown}:{port}"


_FRAMING = frozenset({"host", "content-length", "transfer-encoding", "connection"})  # the client's own to set


class Response:
    """An answer being read: status and headers at once, the body as it comes."""

    def __init__(self, conn: "_Conn", status: int, headers: CIMultiDictProxy) -> None:
        self._conn = conn
        self.status = status
        self.headers = headers
        self._chunks: deque[bytes] = deque()
        self._size = 0
        self._eof = False
        self._error: BaseException | None = None
        self._waker = Waker()
        self._decoder = decoder(headers.get("content-encoding", ""))

    # fed by the connection
    def _feed(self, data: bytes) -> None:
        if self._decoder is not None:
            try:
                data = self._decoder.feed(data)
            except DecodeError as e:
                self._fail(BadResponse(f"the answer's {e}"))
                self._conn.abort()
                return
        if data:
            self._chunks.append(data)
            self._size += len(data)
            if self._size > HIGH_WATER:
                self._conn.pause()
            self._wake()

    def _end(self) -> None:
        self._eof = True
        self._wake()

    def _fail(self, e: BaseException) -> None:
        if not self._eof and self._error is None:
            self._error = e
            self._wake()

    def _wake(self) -> None:
        self._waker.wake()

    # read by dario
    async def _next(self) -> bytes:
        """The chunks buffered so far, joined; b"" at the end of the body."""
        while not self._chunks:
            if self._error is not None:
                raise self._error
            if self._eof:
                return b""
            await self._waker.wait(self._conn.loop)
        return self._take()

    def _take(self) -> bytes:
        data = self._chunks.popleft() if len(self._chunks) == 1 else b"".join(self._chunks)
        self._chunks.clear()
        self._size = 0
        self._conn.resume()
        return data

    async def iter_any(self) -> AsyncIterator[bytes]:
        while True:
            data = await self._next()
            if not data:
                return
            yield data

    async def read(self, cap: int | None = None) -> bytes:
        """The whole body, or its first `cap` bytes (the rest is dropped, with the connection)."""
        if self._eof and self._error is None and cap is None:  # it all came with the head (most do): no await
            return self._take()
        parts, n = [], 0
        while cap is None or n < cap:
            data = await self._next()
            if not data:
                break
            parts.append(data)
            n += len(data)
        body = b"".join(parts)
        if cap is not None and len(body) > cap:
            body = body[:cap]
        return body

    def close(self) -> None:
        """Done with this answer: a connection still carrying its body cannot be reused."""
        if not self._eof:
            self._fail(Disconnected("the answer was closed before its end"))
            self._conn.abort()


class _Conn(asyncio.Protocol):
    """One connection to an upstream: one request at a time."""

    def __init__(self, pool: "Pool", key: tuple, loop: asyncio.AbstractEventLoop) -> None:
        self.pool, self.key, self.loop = pool, key, loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.head: asyncio.Future | None = None
        self.response: Response | None = None
        self.raw_headers: list[tuple[bytes, bytes]] = []
        self.head_only = False
        self.until_close = False  # the answer's body ends when the connection does
        self.reusable = False
        self.closed = False
        self.idle_handle: asyncio.TimerHandle | None = None
        self._paused = False

    # asyncio.Protocol
    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as e:
            self._lost(BadResponse(f"the upstream's answer is not valid HTTP ({e})"))
            self.abort()

    def eof_received(self):
        return None  # close: connection_lost follows

    def connection_lost(self, exc) -> None:
        self.closed = True
        self.pool.forget(self)
        r = self.response
        if r is not None and self.until_close and exc is None:
            r._end()  # no length, not chunked: the body is what came before the close (HTTP/1.0 style)
            self.response = None
            return
        self._lost(Disconnected("the server closed the connection"
                                + (f" ({exc})" if exc else "")))

    def _lost(self, e: BaseException) -> None:
        if self.head is not None and not self.head.done():
            self.head.set_exception(e)
        elif self.response is not None:
            self.response._fail(e)

    # llhttp callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self.raw_headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if 100 <= status < 200 and status != 101:  # 100 Continue and friends: the real answer follows
            self.raw_headers = []
            return
        headers = CIMultiDict([(k.decode("latin-1"), v.decode("latin-1")) for k, v in self.raw_headers])
        self.raw_headers = []
        self.response = Response(self, status, CIMultiDictProxy(headers))
        self.until_close = ("content-length" not in headers and "chunked" not in headers.get("transfer-encoding", "")
                            and status not in (204, 304))
        if self.head is not None and not self.head.done():
            self.head.set_result(self.response)
        if self.head_only:  # a HEAD's answer has no body, whatever its Content-Length says
            self.response._end()
            self.reusable = False
            self.abort()

    def on_body(self, body: bytes) -> None:
        if self.response is not None:
            self.response._feed(body)

    def on_message_complete(self) -> None:
        r = self.response
        if r is None or r._eof:
            return
        self.reusable = self.parser.should_keep_alive()
        r._end()
        self.response = None
        self.pool.release(self)

    # flow control of the answer's body
    def pause(self) -> None:
        if not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()

    def resume(self) -> None:
        if self._paused and self.transport is not None and not self.closed:
            self._paused = False
            self.transport.resume_reading()

    def abort(self) -> None:
        self.reusable = False
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def send(self, head: bytes, body: bytes | None, head_only: bool) -> asyncio.Future:
        self.head = self.loop.create_future()
        self.head_only = head_only
        self.response = None
        self.transport.write(head + body if body else head)
        return self.head


class _HeadReader(asyncio.Protocol):
    """Reads a proxy's answer to CONNECT."""

    def __init__(self, loop) -> None:
        self.buf = b""
        self.done = loop.create_future()

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if b"\r\n\r\n" in self.buf and not self.done.done():
            self.done.set_result(self.buf)

    def connection_lost(self, exc) -> None:
        if not self.done.done():
            self.done.set_exception(ProxyError("the proxy closed the connection during CONNECT"))


class Pool:
    def __init__(self, connect_timeout: float, keepalive: float = KEEPALIVE,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.connect_timeout = connect_timeout
        self.keepalive = keepalive
        self.idle: dict[tuple, list[_Conn]] = {}
        self._all: set[_Conn] = set()
        self._ssl = ssl_context  # default: the system's trust store, made on the first TLS connection

    @property
    def ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = ssl.create_default_context()
        return self._ssl

    def release(self, conn: _Conn) -> None:
        if not conn.reusable or conn.closed or conn.transport is None or conn.transport.is_closing():
            conn.abort()
            return
        idle = self.idle.setdefault(conn.key, [])
        if len(idle) >= MAX_IDLE_PER_HOST:
            conn.abort()
            return
        conn.head = None
        conn.idle_handle = conn.loop.call_later(self.keepalive, conn.abort)
        idle.append(conn)

    def forget(self, conn: _Conn) -> None:
        self._all.discard(conn)
        idle = self.idle.get(conn.key)
        if idle and conn in idle:
            idle.remove(conn)
        if conn.idle_handle is not None:
            conn.idle_handle.cancel()

    async def acquire(self, scheme: str, host: str, port: int, proxy: str | None) -> _Conn:
        key = (scheme, host, port, proxy)
        idle = self.idle.get(key)
        while idle:
            conn = idle.pop()
            if conn.idle_handle is not None:
                conn.idle_handle.cancel()
                conn.idle_handle = None
            if not conn.closed and not conn.transport.is_closing():
                return conn
        loop = asyncio.get_running_loop()
        conn = _Conn(self, key, loop)
        try:
            await within(self._connect(loop, conn, scheme, host, port, proxy), self.connect_timeout)
        except asyncio.TimeoutError:
            raise ConnectTimeout(f"no connection to {host}:{port} within {self.connect_timeout:g}s") from None
        except (OSError, ssl.SSLError) as e:
            raise ConnectError(host, port, e) from None
        self._all.add(conn)
        return conn

    async def _connect(self, loop, conn: _Conn, scheme: str, host: str, port: int, proxy: str | None) -> None:
        tls = self.ssl_context if scheme == "https" else None
        if proxy is None:
            await loop.create_connection(lambda: conn, host, port, ssl=tls,
                                         server_hostname=host if tls else None)
            return
        p = urlsplit(proxy)
        if scheme == "http":  # a plain request goes to the proxy with the absolute URL (see request())
            await loop.create_connection(lambda: conn, p.hostname, p.port or 80)
            return
        reader = _HeadReader(loop)
        transport, _ = await loop.create_connection(lambda: reader, p.hostname, p.port or 80)
        try:
            auth = proxy_auth(proxy)
            transport.write(f"CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n".encode()
                            + (b"Proxy-Authorization: " + auth.encode() + b"\r\n" if auth else b"") + b"\r\n")
            head = await reader.done
            status = head.split(b"\r\n", 1)[0].split(b" ")
            if len(status) < 2 or status[1] != b"200":
                first = head.split(b"\r\n", 1)[0].decode("latin-1")
                raise ProxyError(f"the proxy refused CONNECT {host}:{port} ({first})")
            tls_transport = await loop.start_tls(transport, conn, tls, server_hostname=host)
        except BaseException:  # refused, timed out or cancelled: the socket to the proxy goes too
            transport.close()
            raise
        conn.connection_made(tls_transport)

    async def request(self, method: str, url: str, headers: Mapping[str, str], body: bytes | None,
                      proxy: str | None = None, timeout: float | None = None) -> Response:
        """The answer's head. `timeout`: seconds for it once connected (FirstByteTimeout)."""
        scheme, host, port, path, host_header = _target(url)
        conn = await self.acquire(scheme, host, port, proxy)
        target = url if proxy is not None and scheme == "http" else path
        lines = [f"{method} {target} HTTP/1.1\r\n", f"Host: {host_header}\r\n"]
        unique: dict[str, tuple[str, str]] = {}  # one value a name, whatever its case: the last one set
        for k, v in headers.items():
            unique[k.lower()] = (k, v)
        for lk, (k, v) in unique.items():
            if lk not in _FRAMING:
                lines.append(f"{k}: {v}\r\n")
        if "accept-encoding" not in unique:
            lines.append(f"Accept-Encoding: {ACCEPT_ENCODING}\r\n")
        if proxy is not None and scheme == "http":
            auth = proxy_auth(proxy)
            if auth:
                lines.append(f"Proxy-Authorization: {auth}\r\n")
        if body is not None or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(body or b'')}\r\n")
        lines.append("\r\n")
        head = conn.send(head_bytes(lines), body, method == "HEAD")
        # a timer on the future, not asyncio.timeout(): that one costs a Timeout and two loop look-ups a call
        timer = conn.loop.call_later(timeout, _expire, head, timeout) if timeout is not None else None
        try:
            return await head
        except BaseException:
            conn.abort()  # cancelled, timed out or broken mid-answer: this connection's state is unknown
            raise
        finally:
            if timer is not None:
                timer.cancel()

    async def close(self) -> None:
        for conn in list(self._all):
            conn.abort()
        self._all.clear()
        self.idle.clear()


def _expire(head: asyncio.Future, timeout: float) -> None:
    if not head.done():
        head.set_exception(FirstByteTimeout(f"no answer within {timeout:g}s"))


def proxy_auth(proxy: str) -> str | None:
    """Basic credentials from a proxy URL's user:password, as urllib and aiohttp take them."""
    p = urlsplit(proxy)
    if p.username is None:
        return None
    pair = f"{unquote(p.username)}:{unquote(p.password or '')}"
    return "Basic " + base64.b64encode(pair.encode()).decode()
