"""The one seam between dario and the network: `Upstream.send()`.

It owns the connection pool (dario/net/client.py), the connect and first-byte timeouts and
the idle watchdog on answers. Engine tests swap in `MemoryUpstream`, which answers from a
function without a socket; everything else talks to real servers.
"""

from __future__ import annotations

import asyncio
from typing import AsyncIterator, Awaitable, Callable, Mapping

from dario.core.defaults import TIMEOUTS
from dario.core.errors import CallError, upstream_error
from dario.net.client import Pool, Response


class UpstreamResponse:
    """An upstream answer being read: status, headers, body chunks under an idle watchdog."""

    def __init__(self, resp: Response, idle: float) -> None:
        self._resp = resp
        self.status = resp.status
        self.headers = resp.headers
        self.idle = idle
        self.idle_fired = False

    async def read(self, cap: int | None = None) -> bytes:
        return await self._resp.read(cap)

    async def chunks(self) -> AsyncIterator[bytes]:
        """Body chunks as they arrive; the connection is closed when none came for `idle` s.
        One timer for the whole stream, not one a chunk: when it fires it looks at when the last
        chunk came and, if that was less than `idle` ago, sets itself again for the rest."""
        loop = asyncio.get_running_loop()
        last = [loop.time()]
        handle = None

        def check() -> None:
            nonlocal handle
            left = last[0] + self.idle - loop.time()
            if left > 0:
                handle = loop.call_later(left, check)
                return
            handle = None
            self.idle_fired = True
            self._resp.close()

        try:
            handle = loop.call_later(self.idle, check)
            async for chunk in self._resp.iter_any():
                last[0] = loop.time()
                yield chunk
        finally:
            if handle is not None:
                handle.cancel()

    def close(self) -> None:
        self._resp.close()


class UserProxy:
    """The user's own proxy for dario's upstream calls: <scheme>_proxy / ALL_PROXY and NO_PROXY, read once
    at start the way urllib reads them (lowercase first). Loopback never goes through a proxy (local
    servers are local; Go's and most tools' rule too)."""

    def __init__(self) -> None:
        import urllib.request
        self.proxies = urllib.request.getproxies_environment()
        self._no = self.proxies.pop("no", "")
        self._bypass = urllib.request.proxy_bypass_environment

    def __call__(self, url: str) -> str | None:
        if not self.proxies:
            return None
        from urllib.parse import urlsplit
        from dario.proxy.security import is_loopback_name
        u = urlsplit(url)
        proxy = self.proxies.get(u.scheme) or self.proxies.get("all")
        if not proxy or is_loopback_name(u.hostname or ""):
            return None
        if self._no and self._bypass(u.netloc, {"no": self._no}):
            return None
        return proxy


class Upstream:
    def __init__(self, timeouts: Mapping[str, float] | None = None) -> None:
        self.proxy_for = UserProxy()
        t = {**TIMEOUTS, **(timeouts or {})}
        self.connect_timeout = float(t["connect"])
        self.first_byte_timeout = float(t["first_byte"])
        self.idle_timeout = float(t["idle"])
        self.pool = Pool(self.connect_timeout)  # one pool for every upstream; bodies come back decoded

    async def send(self, method: str, url: str, headers: Mapping[str, str], body: bytes | None) -> UpstreamResponse:
        """The answer's head, within the first-byte timeout. Raises net.client's errors: map them with error()."""
        resp = await self.pool.request(method, url, headers, body, self.proxy_for(url), self.first_byte_timeout)
        return UpstreamResponse(resp, self.idle_timeout)

    def error(self, e: BaseException, who: str | None, during: str = "send") -> CallError | None:
        return upstream_error(e, who, connect_timeout=self.connect_timeout,
                              first_byte_timeout=self.first_byte_timeout, during=during)

    async def close(self) -> None:
        await self.pool.close()


class MemoryResponse:
    """An answer made in memory (tests): the same surface as UpstreamResponse."""

    def __init__(self, status: int, headers: Mapping[str, str], chunks: list[bytes]) -> None:
        from multidict import CIMultiDict
        self.status = status
        self.headers = CIMultiDict(headers)
        self._chunks = chunks
        self.idle, self.idle_fired = 0.0, False

    async def read(self, cap: int | None = None) -> bytes:
        data = b"".join(self._chunks)
        return data if cap is None else data[:cap]

    async def chunks(self) -> AsyncIterator[bytes]:
        for c in self._chunks:
            yield c

    def close(self) -> None:
        pass


class MemoryUpstream(Upstream):
    """An Upstream that answers from `handler(method, url, headers, body)` with no socket."""

    def __init__(self, handler: Callable[[str, str, Mapping[str, str], bytes | None],
                                         Awaitable[MemoryResponse] | MemoryResponse],
                 timeouts: Mapping[str, float] | None = None) -> None:
        super().__init__(timeouts)
        self.handler = handler
        self.sent: list[tuple[str, str, dict, bytes | None]] = []

    async def send(self, method, url, headers, body):
        self.sent.append((method, url, dict(headers), body))
        got = self.handler(method, url, headers, body)
        return await got if asyncio.iscoroutine(got) else got
