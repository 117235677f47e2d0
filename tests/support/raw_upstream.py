"""An upstream that answers exactly the bytes a test gives it (status, headers, body chunks),
for malformed and hostile answers the realistic fake upstream never sends."""

from __future__ import annotations

import asyncio

from aiohttp import web

from tests.support.threaded import ThreadedApp


class RawUpstream:
    def __init__(self) -> None:
        self.answer: tuple[int, dict, list[bytes]] = (200, {"Content-Type": "application/json"}, [b"{}"])
        self.seen: list[bytes] = []
        self.server = ThreadedApp(self._app)

    def set(self, status: int, content_type: str, *chunks: bytes) -> None:
        self.answer = (status, {"Content-Type": content_type}, list(chunks))

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.seen.append(await request.read())
        status, headers, chunks = self.answer
        resp = web.StreamResponse(status=status, headers=headers)
        await resp.prepare(request)
        for c in chunks:
            await resp.write(c)
            await asyncio.sleep(0)
        await resp.write_eof()
        return resp

    def start(self) -> "RawUpstream":
        self.server.start()
        return self

    @property
    def url(self) -> str:
        return self.server.url

    def stop(self) -> None:
        self.server.stop()
