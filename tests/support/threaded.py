"""Run a dario proxy app (or a test's own aiohttp app) on dario's loop thread, so sync clients and
subprocesses can reach it."""

from __future__ import annotations

from aiohttp import web

from dario.loop_thread import LoopThread


class ThreadedApp:
    def __init__(self, make_app, host: str = "127.0.0.1") -> None:
        self._make_app = make_app  # called on the server loop: aiohttp objects bind to it
        self.host = host
        self.port = 0
        self.app = None
        self._runner = None
        self._thread: LoopThread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def loop(self):
        return self._thread.loop

    def start(self) -> "ThreadedApp":
        from dario.proxy.server import start
        self._thread = LoopThread("dario-test-server")

        async def boot():
            self.app = self._make_app()
            if isinstance(self.app, web.Application):  # a test's own server
                self._runner = web.AppRunner(self.app, access_log=None)
                await self._runner.setup()
                site = web.TCPSite(self._runner, self.host, 0)
                await site.start()
                self.port = site._server.sockets[0].getsockname()[1]
            else:
                self._runner, self.port = await start(self.app, self.host, 0)

        self._thread.run(boot(), 10)
        return self

    def call(self, coro, timeout: float = 10):
        return self._thread.run(coro, timeout)

    def stop(self) -> None:
        if self._thread is None:
            return
        try:
            self.call(self._runner.cleanup())
        finally:
            self._thread.stop()
