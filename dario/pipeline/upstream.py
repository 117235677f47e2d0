"""The one seam between dario and the network: `Upstream.send()`.

It owns the pooled aiohttp session, the connect and first-byte timeouts and the idle
watchdog on answers. Engine tests swap in `MemoryUpstream`, which answers from a
function without a socket; everything else talks to real servers.
"""

from __future__ import annotations

import asyncio
from typing import AsyncIterator, Awaitable, Callable, Mapping

import aiohttp

from dario.core.defaults import TIMEOUTS
from dario.core.errors import CallError, upstream_error

_TIMEOUT = getattr(asyncio, "timeout", None)


async def within(coro, seconds: float):
    """`asyncio.wait_for`, minus the extra Task per call it makes before Python 3.12 (bench/profile.py)."""
    if _TIMEOUT is None:
        return await asyncio.wait_for(coro, seconds)
    async with _TIMEOUT(seconds):
        return await coro


class UpstreamResponse:
    """An upstream answer being read: status, headers, body chunks under an idle watchdog."""

    def __init__(self, resp: aiohttp.ClientResponse, idle: float) -> None:
        self._resp = resp
        self.status = resp.status
        self.headers = resp.headers
        self.idle = idle
        self.idle_fired = False

    async def read(self, cap: int | None = None) -> bytes:
        return await (self._resp.content.read(cap) if cap is not None else self._resp.read())

    async def chunks(self) -> AsyncIterator[bytes]:
        """Body chunks as they arrive; the connection is closed when none came for `idle` s."""
        loop = asyncio.get_running_loop()
        handle = None

        def fire() -> None:
            self.idle_fired = True
            self._resp.close()

        try:
            handle = loop.call_later(self.idle, fire)
            async for chunk in self._resp.content.iter_any():
                handle.cancel()
                handle = loop.call_later(self.idle, fire)
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
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # one pooled session for every upstream; bodies come back decoded
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, enable_cleanup_closed=True),
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=self.connect_timeout),
                auto_decompress=True, skip_auto_headers=("User-Agent",))
        return self._session

    async def send(self, method: str, url: str, headers: Mapping[str, str], body: bytes | None) -> UpstreamResponse:
        """The answer's head, within the first-byte timeout. Raises what aiohttp raises: map it with error()."""
        resp = await within(self.session.request(method, url, data=body, headers=headers, allow_redirects=False,
                                                 proxy=self.proxy_for(url)), self.first_byte_timeout)
        return UpstreamResponse(resp, self.idle_timeout)

    def error(self, e: BaseException, who: str | None, during: str = "send") -> CallError | None:
        return upstream_error(e, who, connect_timeout=self.connect_timeout,
                              first_byte_timeout=self.first_byte_timeout, during=during)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


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
