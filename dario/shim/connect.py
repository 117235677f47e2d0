"""The shim host's HTTPS proxy: for programs that honour HTTPS_PROXY and nothing else (Codex CLI,
Go and Rust CLIs, curl).

`CONNECT host:port` with the run token as proxy credentials (`http://dario:TOKEN@127.0.0.1:PORT`;
anything else is a 407). For an intercepted LLM host, dario answers the TLS handshake itself
with a leaf its CA signed (shim/ca.py) and serves the requests inside with the host's own aiohttp
app, so each call takes the same pipeline as every other. Every other host is a blind tunnel:
bytes copied both ways (by splice(2) on Linux, in threads, so they never enter Python), nothing
read, only counted. HTTP/1.1 inside the tunnel (ALPN offers http/1.1 only).
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import os
import socket
import threading
from typing import Callable

TUNNEL_BUFFER = 256 * 1024
SPLICE = hasattr(os, "splice")  # Linux: tunnels copy in the kernel, never through Python buffers


class ConnectProxy:
    def __init__(self, token: str, intercepted: Callable[[str, int], bool], tls_for: Callable[[str], object],
                 make_handler: Callable[[str], asyncio.Protocol], upstream_proxy: str | None = None) -> None:
        self.token = token
        self.upstream_proxy = upstream_proxy  # the user's own HTTPS_PROXY: blind tunnels go through it
        self.intercepted = intercepted  # (host, port) -> is it one dario terminates?
        self.tls_for = tls_for  # host -> server SSLContext
        self.make_handler = make_handler  # host -> an aiohttp request handler protocol for it
        self.tunnels: dict[str, int] = {}  # blind tunnels asked for, by host:port: all that is kept of them
        self.intercepted_hosts: dict[str, int] = {}
        self.refused = 0
        self._live: set[socket.socket] = set()  # spliced tunnels' sockets, shut down at close
        self._server: asyncio.AbstractServer | None = None
        self.port = 0

    async def start(self) -> "ConnectProxy":
        self._server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for s in list(self._live):  # wakes the splicing threads, which then close them
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._server is not None:
            await self._server.wait_closed()

    def proxy_url(self) -> str:
        return f"http://dario:{self.token}@127.0.0.1:{self.port}"

    def _authorised(self, headers: dict[str, str]) -> bool:
        value = headers.get("proxy-authorization", "")
        scheme, _, blob = value.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            _, _, password = base64.b64decode(blob.strip()).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return hmac.compare_digest(password.encode(), self.token.encode())

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError, ConnectionError):
            writer.close()
            return
        lines = head.decode("latin-1").split("\r\n")
        method, _, rest = lines[0].partition(" ")
        target = rest.rsplit(" ", 1)[0]
        headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
        if not self._authorised(headers):
            self.refused += 1
            writer.write(b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"dario\"\r\n"
                         b"Content-Type: text/plain\r\nConnection: close\r\nContent-Length: 52\r\n\r\n"
                         b"dario: this proxy takes only this run's token, sorry")
            await _drain_close(writer)
            return
        if method.upper() != "CONNECT":
            writer.write(b"HTTP/1.1 405 Method Not Allowed\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
            await _drain_close(writer)
            return
        host, _, port_s = target.rpartition(":")
        host, port = (host.strip("[]"), int(port_s)) if port_s.isdigit() else (target, 443)
        if self.intercepted(host, port):
            await self._terminate(host, port, writer)
        else:
            await self._tunnel(host, port, reader, writer)

    async def _terminate(self, host: str, port: int, writer: asyncio.StreamWriter) -> None:
        name = host if port == 443 else f"{host}:{port}"
        self.intercepted_hosts[name] = self.intercepted_hosts.get(name, 0) + 1
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()
        loop = asyncio.get_running_loop()
        transport = writer.transport
        handler = self.make_handler(name)
        try:
            tls = await loop.start_tls(transport, handler, self.tls_for(host), server_side=True,
                                       ssl_handshake_timeout=30)
        except (OSError, ConnectionError, asyncio.TimeoutError):  # the client gave up, or did not trust us
            transport.close()
            return
        if tls is None:
            return
        handler.connection_made(tls)

    async def _open(self, host: str, port: int):
        """A connection to host:port: direct, or through the user's own proxy (CONNECT, chained)."""
        if not self.upstream_proxy:
            return await asyncio.wait_for(asyncio.open_connection(host, port), 30)
        from urllib.parse import unquote, urlsplit
        u = urlsplit(self.upstream_proxy if "://" in self.upstream_proxy else "http://" + self.upstream_proxy)
        r, w = await asyncio.wait_for(asyncio.open_connection(u.hostname, u.port or 8080), 30)
        head = f"CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        if u.username is not None:
            cred = base64.b64encode(f"{unquote(u.username)}:{unquote(u.password or '')}".encode()).decode()
            head += f"Proxy-Authorization: Basic {cred}\r\n"
        w.write((head + "\r\n").encode())
        answer = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 30)
        status = answer.split(b"\r\n", 1)[0].decode("latin-1")
        if " 200" not in status[:13]:
            w.close()
            raise OSError(f"your proxy {u.hostname}:{u.port} answered {status!r}")
        return r, w

    async def _tunnel(self, host: str, port: int, reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> None:
        # counted as tried, reached or not: the coverage report names hosts the child wanted
        self.tunnels[f"{host}:{port}"] = self.tunnels.get(f"{host}:{port}", 0) + 1
        try:
            up_reader, up_writer = await self._open(host, port)
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as e:
            why = (e.strerror or str(e)) if isinstance(e, OSError) else "timed out" if isinstance(
                e, asyncio.TimeoutError) else "the connection closed"
            body = f"dario: cannot reach {host}:{port}: {why}".encode()
            writer.write(b"HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\nContent-Length: "
                         + str(len(body)).encode() + b"\r\n\r\n" + body)
            await _drain_close(writer)
            return
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()
        if SPLICE:
            try:
                a, a_pending = _detach(reader, writer)
                b, b_pending = _detach(up_reader, up_writer)
            except (OSError, AttributeError, ValueError):  # not a plain socket transport: copy in Python
                pass
            else:
                return await self._splice(a, a_pending, b, b_pending)
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer), return_exceptions=True)

    async def _splice(self, a: socket.socket, a_pending: bytes, b: socket.socket, b_pending: bytes) -> None:
        """Both directions, each in a thread of its own blocked in splice(2): the bytes stay in the kernel,
        so the tunnel costs about what the two connections do (bench/: tunnel ratio)."""
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        left = [2]
        self._live.update((a, b))

        def finished() -> None:
            left[0] -= 1
            if left[0] == 0:
                for s in (a, b):
                    self._live.discard(s)
                    s.close()
                if not done.done():
                    done.set_result(None)

        def run(src: socket.socket, dst: socket.socket, pending: bytes) -> None:
            try:
                _splice_one(src, dst, pending)
            finally:
                loop.call_soon_threadsafe(finished)

        for src, dst, pending in ((a, b, a_pending), (b, a, b_pending)):
            threading.Thread(target=run, args=(src, dst, pending), name="dario-tunnel", daemon=True).start()
        await done


def _detach(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> tuple[socket.socket, bytes]:
    """The connection as a blocking socket of its own (a dup), plus the bytes the reader had already
    taken off it; the asyncio transport is closed, which leaves the dup'ed connection open."""
    transport = writer.transport
    transport.pause_reading()
    sock = writer.get_extra_info("socket")
    fd = os.dup(sock.fileno())
    pending = bytes(reader._buffer)  # asyncio.StreamReader's own buffer: read past the CONNECT answer
    reader._buffer.clear()
    transport.close()  # closes the loop's fd, not the connection: the dup still holds it
    s = socket.socket(fileno=fd)
    s.setblocking(True)
    return s, pending


def _splice_one(src: socket.socket, dst: socket.socket, pending: bytes) -> None:
    """Copy src to dst until src's EOF, then half-close dst; on an error, shut both down (which also
    wakes the thread copying the other way)."""
    r = w = -1
    try:
        if pending:
            dst.sendall(pending)
        r, w = os.pipe()
        try:
            import fcntl
            fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, 1 << 20)
        except (ImportError, AttributeError, OSError):
            pass  # the default pipe size only means more rounds
        sfd, dfd = src.fileno(), dst.fileno()
        while True:
            n = os.splice(sfd, w, 1 << 20)
            if n == 0:
                break
            while n:
                n -= os.splice(r, dfd, n)
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
    finally:
        for fd in (r, w):
            if fd >= 0:
                os.close(fd)


async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
    try:
        while True:
            data = await src.read(TUNNEL_BUFFER)
            if not data:
                break
            dst.write(data)
            await dst.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        try:
            if dst.can_write_eof():
                dst.write_eof()
        except (OSError, RuntimeError):
            pass
        await _drain_close(dst)


async def _drain_close(w: asyncio.StreamWriter) -> None:
    try:
        await w.drain()
    except (ConnectionError, OSError):
        pass
    w.close()
