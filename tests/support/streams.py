"""Stream helpers for the tests' own proxies."""

from __future__ import annotations

import asyncio


async def pipe(a: asyncio.StreamReader, b: asyncio.StreamWriter) -> None:
    """Copy a to b until a ends, then close b."""
    while data := await a.read(65536):
        b.write(data)
        await b.drain()
    b.close()


async def join(r1, w1, r2, w2) -> None:
    """Both directions between two streams, until both have ended."""
    await asyncio.gather(pipe(r1, w2), pipe(r2, w1), return_exceptions=True)
