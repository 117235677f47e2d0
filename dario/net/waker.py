"""One waiter on a body being fed from the protocol's callbacks (the server's requests, the client's answers)."""

from __future__ import annotations

import asyncio


class Waker:
    __slots__ = ("_waiter",)

    def __init__(self) -> None:
        self._waiter: asyncio.Future | None = None

    @property
    def waiting(self) -> bool:
        return self._waiter is not None

    def wake(self) -> None:
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    async def wait(self, loop: asyncio.AbstractEventLoop) -> None:
        self._waiter = loop.create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None
