"""Optional client-side limits per backend: requests per minute and calls in flight.

Some providers (and local servers) fall over, or bill, before they send a 429; these
let a user keep dario under a budget of their own. A call waits for room up to its
deadline (the queue timeout), then fails with a 429 of dario's own.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque

WINDOW = 60.0


class LimitTimeout(Exception):
    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Limiter:
    def __init__(self, name: str, rpm: int | None = None, max_concurrency: int | None = None,
                 clock=time.monotonic) -> None:
        self.name = name
        self.rpm = int(rpm) if rpm else None
        self.max_concurrency = int(max_concurrency) if max_concurrency else None
        self._sent: deque[float] = deque()  # send times within the last minute
        self._sem = asyncio.Semaphore(self.max_concurrency) if self.max_concurrency else None
        self._clock = clock

    @property
    def active(self) -> bool:
        return bool(self.rpm or self.max_concurrency)

    async def enter(self, deadline: float) -> None:
        """Take a concurrency slot (held for the whole call, stream included); see `leave`."""
        if self._sem is None:
            return
        if not self._sem.locked():
            await self._sem.acquire()
            return
        try:
            await asyncio.wait_for(self._sem.acquire(), max(0.0, deadline - self._clock()))
        except asyncio.TimeoutError:
            raise LimitTimeout(f"dario: backend {self.name!r} has {self.max_concurrency} calls in flight "
                               f"(its max-concurrency); no slot freed in time", 1.0) from None

    def leave(self) -> None:
        if self._sem is not None:
            self._sem.release()

    async def tick(self, deadline: float) -> None:
        """Count one upstream request against the per-minute budget, waiting for room if needed."""
        if not self.rpm:
            return
        while True:
            now = self._clock()
            while self._sent and self._sent[0] <= now - WINDOW:
                self._sent.popleft()
            if len(self._sent) < self.rpm:
                self._sent.append(now)
                return
            free_at = self._sent[0] + WINDOW
            if free_at > deadline:
                raise LimitTimeout(f"dario: backend {self.name!r} is at its limit of {self.rpm} requests "
                                   f"per minute", free_at - now)
            await asyncio.sleep(free_at - now)
