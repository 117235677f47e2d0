"""An asyncio loop on a thread of its own: the shim host serves while the main thread
waits on the child and handles signals, which Python only delivers to the main thread."""

from __future__ import annotations

import asyncio
import threading


def new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop  # a dependency where it runs (pyproject.toml); asyncio's own loop elsewhere
        return uvloop.new_event_loop()
    except ImportError:
        return asyncio.new_event_loop()


class LoopThread:
    def __init__(self, name: str = "dario-loop") -> None:
        self.loop = new_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coro, timeout: float | None = 30):
        """Run a coroutine on the loop and wait for its result here."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        if self.loop.is_running():
            self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
