"""dario's HTTP/1.1 server: the proxy's and the shim host's listeners, on asyncio, parsed by llhttp.

Why not aiohttp's web server: per call it built a request, a payload stream, a router match,
middleware chains and a writer, which with aiohttp's client made a proxied call cost 3-4
direct calls (bench/). This is what dario's listeners need:

- `Request`: method, path (decoded) and raw_path, query, headers (case-insensitive), the body
  read whole by `read()` (Content-Encoding decoded, capped at `max_body`: `BodyTooLarge`);
- `Response` (a whole body) and `StreamResponse` (`prepare`, `write`, `write_eof`: chunked; `write_now`
  for a ping that must not wait); a write to a client that left raises ConnectionResetError;
- keep-alive and pipelined requests answered in order; `Expect: 100-continue`;
- the handler is cancelled when its client disconnects (the pipeline records a 499);
- a request that is not HTTP, or whose head is too large, gets a 400/431 in `error_body`'s
  shape and the connection is closed.
"""

from __future__ import annotations

import asyncio
import email.utils
import http
import json
import logging
import os
import time
from collections import deque
from typing import Awaitable, Callable
from urllib.parse import parse_qsl, unquote

import httptools
from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy

from dario.net.codec import DecodeError, decoder, head_bytes
from dario.net.waker import Waker

log = logging.getLogger("dario.net")
MAX_HEAD = 64 * 1024  # bytes of request line and headers
KEEPALIVE = 75.0  # s an idle client connection is kept (aiohttp's default)
HIGH_WATER = 1 << 20


class BodyTooLarge(Exception):
    pass


class BodyError(Exception):
    """The body could not be read: its Content-Encoding is broken, or the client left mid-body."""


_REASONS = {s.value: s.phrase for s in http.HTTPStatus}
_date = [0, b""]


def _http_date() -> bytes:
    now = int(time.time())
    if _date[0] != now:
        _date[0], _date[1] = now, email.utils.formatdate(now, usegmt=True).encode()
    return _date[1]


class Request:
    __slots__ = ("method", "raw_path", "path", "query_string", "headers", "version", "keep_alive",
                 "transport", "match_info", "_conn", "_chunks", "_size", "_max", "_done", "_error",
                 "_waker", "_query")

    def __init__(self, conn: "_Connection", method: str, url: bytes, headers: CIMultiDictProxy,
                 version: str, keep_alive: bool, max_body: int) -> None:
        self._conn = conn
        self.method = method
        self.raw_path = url.decode("latin-1")
        path, _, qs = self.raw_path.partition("?")
        self.path = unquote(path) if "%" in path else path
        self.query_string = qs
        self.headers = headers
        self.version = version
        self.keep_alive = keep_alive
        self.transport = conn.transport
        self.match_info: dict[str, str] = {}
        self._chunks: list[bytes] = []
        self._size = 0
        self._max = max_body
        self._done = False
        self._error: BaseException | None = None
        self._waker = Waker()
        self._query: MultiDictProxy | None = None

    @property
    def path_qs(self) -> str:
        return self.raw_path

    @property
    def query(self) -> MultiDictProxy:
        if self._query is None:
            self._query = MultiDictProxy(MultiDict(parse_qsl(self.query_string, keep_blank_values=True)))
        return self._query

    @property
    def body_complete(self) -> bool:
        return self._done or self._error is not None

    @property
    def content_length(self) -> int | None:
        v = self.headers.get("content-length")
        return int(v) if v and v.isdigit() else None

    # fed by the connection
    def _feed(self, data: bytes) -> None:
        if self._error is not None:
            return
        self._size += len(data)
        if self._size > self._max:
            self._chunks = []
            self._fail(BodyTooLarge(f"request body larger than {self._max} bytes"))
            self.keep_alive = False  # the rest of it is not read: this connection cannot go on
            return
        self._chunks.append(data)
        if self._size > HIGH_WATER and not self._waker.waiting:
            self._conn.pause()  # nobody reads it yet: stop taking more than the cap allows quickly

    def _complete(self) -> None:
        self._done = True
        self._wake()

    def _fail(self, e: BaseException) -> None:
        if self._error is None and not (self._done and not isinstance(e, BodyTooLarge)):
            self._error = e
            self._wake()

    def _wake(self) -> None:
        self._waker.wake()

    async def read(self) -> bytes:
        """The whole body, decoded by its Content-Encoding."""
        self._conn.resume()
        while not self._done and self._error is None:
            await self._waker.wait(self._conn.loop)
        if self._error is not None:
            raise self._error
        body = self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)
        self._chunks = [body] if body else []
        enc = self.headers.get("content-encoding")
        if enc and body:
            d = decoder(enc)
            if d is not None:
                try:
                    body = d.decode(body)
                except DecodeError as e:
                    raise BodyError(f"the request's {e}") from None
                if len(body) > self._max:
                    raise BodyTooLarge(f"request body larger than {self._max} bytes")
        return body


class Response:
    """A whole answer. `after`, when set, runs once it has been written (or the write failed)."""

    after: Callable[[], None] | None = None

    def __init__(self, *, status: int = 200, body: bytes | str | None = None, headers=None,
                 content_type: str | None = None, text: str | None = None) -> None:
        self.status = status
        self.headers = CIMultiDict(headers or {})
        if text is not None:
            body = text
            content_type = content_type or "text/plain; charset=utf-8"
        if isinstance(body, str):
            body = body.encode()
        self.body = body or b""
        if content_type is not None:
            self.headers["Content-Type"] = content_type
        elif "Content-Type" not in self.headers:
            self.headers["Content-Type"] = "application/octet-stream"


def json_response(data, *, status: int = 200, headers=None) -> Response:
    return Response(status=status, body=json.dumps(data).encode(), headers=headers,
                    content_type="application/json")


_FRAMING = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive"})


def _head(status: int, headers, extra: bytes) -> bytes:
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}\r\n"]
    lines += [f"{k}: {v}\r\n" for k, v in headers.items() if k.lower() not in _FRAMING]
    return head_bytes(lines) + b"Date: " + _http_date() + b"\r\n" + extra + b"\r\n"


class StreamResponse:
    """An answer written as it comes (chunked); `after` as for Response, once it has ended.

    The head waits for the rest of the loop's turn: when the first chunk is already there (as it
    is when the upstream sent its head and first event together), head and chunk go in one write,
    so the client wakes once for both, not twice (bench/: stream TTFB). Otherwise it goes alone."""

    after: Callable[[], None] | None = None

    def __init__(self, *, status: int = 200, headers=None) -> None:
        self.status = status
        self.headers = CIMultiDict(headers or {})
        self.prepared = False
        self._conn: _Connection | None = None
        self._chunked = True
        self._head_only = False
        self._head: bytes | None = None  # prepared, not yet written
        self.eof = False

    async def prepare(self, request: Request) -> "StreamResponse":
        conn = request._conn
        if conn.closed:
            raise ConnectionResetError("the client closed the connection")
        self._conn = conn
        self._head_only = request.method == "HEAD"
        self._chunked = request.version == "1.1" and not self._head_only
        keep = request.keep_alive and self._chunked
        request.keep_alive = keep
        framing = b"Transfer-Encoding: chunked\r\n" if self._chunked else b""
        self._head = _head(self.status, self.headers, framing + (b"" if keep else b"Connection: close\r\n"))
        self.prepared = True
        conn.loop.call_soon(self._flush_head)
        return self

    def _flush_head(self) -> None:
        head, self._head = self._head, None
        if head is not None:
            try:
                self._conn.write(head)
            except ConnectionResetError:  # the client left: the next write says so
                pass

    def _out(self, data: bytes) -> None:
        head, self._head = self._head, None
        self._conn.write(head + data if head is not None else data)

    def _framed(self, data: bytes) -> bytes:
        return b"%x\r\n%s\r\n" % (len(data), data) if self._chunked else data

    async def write(self, data: bytes) -> None:
        if not data or self._head_only:
            return
        conn = self._conn
        self._out(self._framed(data))
        if conn.paused_writing:
            await conn.drain()

    def write_now(self, data: bytes) -> bool:
        """Write a small chunk without waiting (a keep-alive ping): False, with nothing written, after the
        end or while the client is not taking what was sent (it would only queue behind that)."""
        if self.eof or self._head_only or self._conn.paused_writing:
            return False
        self._out(self._framed(data))
        return True

    async def write_eof(self) -> None:
        if self.eof:
            return
        self.eof = True
        if self._chunked or self._head is not None:
            self._out(b"0\r\n\r\n" if self._chunked else b"")
        await self._conn.drain()


Handler = Callable[[Request], Awaitable["Response | StreamResponse"]]


class _Connection(asyncio.Protocol):
    def __init__(self, server: "Server") -> None:
        self.server = server
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.closed = False
        self.paused_writing = False
        self._drain: asyncio.Future | None = None
        self._reading_paused = False
        self._url = b""
        self._raw: list[tuple[bytes, bytes]] = []
        self._head_size = 0
        self._parsing: Request | None = None
        self._queue: deque[Request] = deque()
        self._task: asyncio.Task | None = None  # serves this connection's requests while it is kept alive
        self._next: asyncio.Future | None = None  # set while that task waits for the next request
        self._busy = False  # a request is being answered
        self._idle: asyncio.TimerHandle | None = None

    # asyncio.Protocol
    def connection_made(self, transport) -> None:
        self.transport = transport
        self.server.connections.add(self)
        self._idle = self.loop.call_later(self.server.keepalive, self._idle_close)

    def connection_lost(self, exc) -> None:
        self.closed = True
        self.server.connections.discard(self)
        if self._idle is not None:
            self._idle.cancel()
        gone = ConnectionResetError("the client closed the connection")
        for r in ([self._parsing] if self._parsing else []) + list(self._queue):
            r._fail(ConnectionResetError("the client left before its body was whole"))
        if self._drain is not None and not self._drain.done():
            self._drain.set_exception(gone)
        if self._task is not None and not self._task.done():
            self._task.cancel()  # the client left: its handler (and the upstream call) stop
        self._queue.clear()

    def pause_writing(self) -> None:
        self.paused_writing = True

    def resume_writing(self) -> None:
        self.paused_writing = False
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:  # no upgrades here: answered as any other request (handlers
            if self._queue:                   # refuse WebSockets), and the connection ends after it
                self._queue[-1].keep_alive = False
        except httptools.HttpParserError as e:  # a callback's own exception arrives wrapped in one
            if self._head_size > MAX_HEAD:
                self._bad(431, f"dario: request head larger than {MAX_HEAD // 1024} KiB")
            else:
                self._bad(400, f"dario: not a valid HTTP request ({e})")

    # llhttp callbacks
    def on_message_begin(self) -> None:
        self._url = b""
        self._raw = []
        self._head_size = 0
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._head_size += len(url)
        if self._head_size > MAX_HEAD:
            raise _HeadTooLarge()

    def on_header(self, name: bytes, value: bytes) -> None:
        self._raw.append((name, value))
        self._head_size += len(name) + len(value) + 4
        if self._head_size > MAX_HEAD:
            raise _HeadTooLarge()

    def on_headers_complete(self) -> None:
        p = self.parser
        headers = CIMultiDictProxy(CIMultiDict([(k.decode("latin-1"), v.decode("latin-1")) for k, v in self._raw]))
        self._raw = []
        r = Request(self, p.get_method().decode(), self._url, headers, p.get_http_version(), p.should_keep_alive(),
                    self.server.max_body)
        self._parsing = r
        if headers.get("expect", "").lower() == "100-continue":
            n = r.content_length
            if n is not None and n > self.server.max_body:
                r._fail(BodyTooLarge(f"request body larger than {self.server.max_body} bytes"))
                r.keep_alive = False
            else:
                self.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        self._queue.append(r)
        if self._task is None:
            self._task = self.loop.create_task(self._serve())
        elif self._next is not None and not self._next.done():
            self._next.set_result(None)

    def on_body(self, body: bytes) -> None:
        if self._parsing is not None:
            self._parsing._feed(body)

    def on_message_complete(self) -> None:
        if self._parsing is not None:
            self._parsing._complete()
            self._parsing = None

    # writing
    def write(self, data: bytes) -> None:
        if self.closed or self.transport.is_closing():
            raise ConnectionResetError("the client closed the connection")
        self.transport.write(data)

    async def drain(self) -> None:
        if self.closed:
            raise ConnectionResetError("the client closed the connection")
        if self.paused_writing:
            if self._drain is None or self._drain.done():
                self._drain = self.loop.create_future()
            await self._drain

    def pause(self) -> None:
        if not self._reading_paused and not self.closed:
            self._reading_paused = True
            self.transport.pause_reading()

    def resume(self) -> None:
        if self._reading_paused and not self.closed:
            self._reading_paused = False
            self.transport.resume_reading()

    def _bad(self, status: int, message: str) -> None:
        if not self.closed and not self.transport.is_closing() and not self._busy:
            body = self.server.error_body(status, message)
            self.transport.write(_head(status, {"Content-Type": "application/json"},
                                       b"Content-Length: %d\r\nConnection: close\r\n" % len(body)) + body)
        self.transport.close()

    def _idle_close(self) -> None:
        if not self._busy and not self.closed:
            self.transport.close()

    # the requests of this connection, in order, by one task for as long as it is kept alive (a task a
    # request cost a Task, its registration and a first step each: ~3 us of a call's path, bench/)
    async def _serve(self) -> None:
        try:
            while True:
                while self._queue and not self.closed:
                    self._busy = True
                    r = self._queue[0]
                    keep = await self._answer(r)
                    self._queue.popleft()
                    if not keep or not r._done:  # a body not read to its end: the stream's framing is lost
                        self.transport.close()
                        return
                self._busy = False
                if self.closed or self.server.closing:
                    return
                self._idle = self.loop.call_later(self.server.keepalive, self._idle_close)
                self._next = self.loop.create_future()
                try:
                    await self._next  # the next request's head (on_headers_complete), or shutdown
                finally:
                    self._next = None
        except asyncio.CancelledError:
            pass
        finally:
            self._task = None
            self._busy = False

    async def _answer(self, r: Request) -> bool:
        try:
            resp = await self.server.handler(r)
        except asyncio.CancelledError:
            raise
        except ConnectionResetError:
            return False
        except Exception:
            log.error("dario: internal error on %s %s", r.method, r.path, exc_info=True)
            body = self.server.error_body(500, "dario: internal error")
            resp = Response(status=500, body=body, content_type="application/json")
        try:
            return await self._write(r, resp)
        finally:
            if resp.after is not None:
                try:
                    resp.after()
                except Exception:
                    log.error("dario: error after answering %s %s", r.method, r.path, exc_info=True)

    async def _write(self, r: Request, resp: "Response | StreamResponse") -> bool:
        try:
            if isinstance(resp, StreamResponse):
                if not resp.prepared:
                    await resp.prepare(r)
                await resp.write_eof()
                return r.keep_alive
            keep = r.keep_alive
            body = b"" if r.method == "HEAD" else resp.body
            extra = b"Content-Length: %d\r\n" % len(resp.body)
            if not keep:
                extra += b"Connection: close\r\n"
            self.write(_head(resp.status, resp.headers, extra) + body)
            await self.drain()
            return keep
        except ConnectionResetError:
            return False


class _HeadTooLarge(Exception):
    """Raised from a parser callback to stop parsing (httptools wraps it in an HttpParserError)."""


def _default_error_body(status: int, message: str) -> bytes:
    return json.dumps({"error": {"message": message}}).encode()


class Server:
    """A protocol factory: `loop.create_server(server, ...)`, or `server()` for a stream of one's own
    (the HTTPS proxy's TLS streams)."""

    def __init__(self, handler: Handler, *, max_body: int, error_body=_default_error_body,
                 keepalive: float = KEEPALIVE) -> None:
        self.handler = handler
        self.max_body = max_body
        self.error_body = error_body
        self.keepalive = keepalive
        self.connections: set[_Connection] = set()
        self.closing = False

    def __call__(self) -> _Connection:
        return _Connection(self)

    async def shutdown(self, timeout: float = 2.0) -> None:
        """Let answers in progress finish (up to `timeout`), then close every connection."""
        self.closing = True
        for c in self.connections:  # an idle connection's task ends now; a busy one after its answers
            if c._next is not None and not c._next.done():
                c._next.set_result(None)
        tasks = [c._task for c in self.connections if c._task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)
        for c in list(self.connections):
            if c.transport is not None:
                c.transport.close()


class Runner:
    """The listening sockets of one Server, and what to run when they close."""

    def __init__(self, server: Server, on_cleanup=()) -> None:
        self.server = server
        self.listeners: list[asyncio.AbstractServer] = []
        self.on_cleanup = list(on_cleanup)

    async def tcp(self, host: str, port: int) -> int:
        """Listen on host:port (port 0 picks one; every address of a name); returns the bound port."""
        s = await asyncio.get_running_loop().create_server(self.server, host or None, port, backlog=1024)
        self.listeners.append(s)
        return s.sockets[0].getsockname()[1]

    async def unix(self, path: str) -> None:
        s = await asyncio.get_running_loop().create_unix_server(self.server, path, backlog=1024)
        self.listeners.append(s)
        os.chmod(path, 0o600)

    async def cleanup(self) -> None:
        for s in self.listeners:
            s.close()
        await self.server.shutdown()
        for s in self.listeners:
            await s.wait_closed()
        self.listeners.clear()
        for fn in self.on_cleanup:
            await fn()
