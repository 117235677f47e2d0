"""A minimal stand-in for the shim host, for testing the payload and the injector alone.

It speaks the relay protocol of docs/architecture.md on a unix socket: checks the token,
reads the hello files children write beside its socket, keeps every relayed request, and forwards each to the fake
upstream (the target's origin swapped for the fake's), streaming the answer back.
The real host (dario.shim.host) replaces it in the end-to-end tests.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import tempfile
import threading
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

HOP = {"host", "content-length", "transfer-encoding", "connection", "keep-alive", "content-encoding"}


class StandinHost:
    def __init__(self, upstream_url: str) -> None:
        self.upstream_url = upstream_url
        self.token = "dario-run-" + secrets.token_urlsafe(16)
        self.dir = tempfile.mkdtemp(prefix="dario-standin-")
        os.chmod(self.dir, 0o700)
        self.sock = os.path.join(self.dir, "host.sock")
        self.relayed: list[dict] = []  # {"target","pid","headers","body"}
        self._loop = None
        self._runner = None
        self.die_on_next = False  # the next relayed call kills the host: socket gone, no answer

    def env(self, hosts: str = "api.anthropic.com,api.openai.com", strict: str = "") -> dict:
        return {"DARIO_SHIM_SOCK": self.sock, "DARIO_SHIM_TOKEN": self.token,
                "DARIO_SHIM_HOSTS": hosts, "DARIO_SHIM_STRICT": strict,
                "DARIO_SHIM_FALLBACK": f"http://127.0.0.1:9/t/{self.token}/"}

    def start(self) -> "StandinHost":
        ready = threading.Event()

        def run():
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(self._start())
            ready.set()
            self._loop.run_forever()

        threading.Thread(target=run, daemon=True).start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._session.close(), self._loop).result(5)
        try:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(5)
        except FileNotFoundError:  # the socket is already gone (die_on_next)
            pass
        self._loop.call_soon_threadsafe(self._loop.stop)

    async def _start(self):
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._relay)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.UnixSite(self._runner, self.sock).start()
        os.chmod(self.sock, 0o600)
        self._session = aiohttp.ClientSession(auto_decompress=True)

    @property
    def hellos(self) -> list[dict]:
        """Every hello-<pid>.json a child wrote beside the socket (the real host's contract)."""
        out = []
        for name in sorted(os.listdir(self.dir)):
            if name.startswith("hello-") and name.endswith(".json"):
                with open(os.path.join(self.dir, name)) as f:
                    out.append(json.load(f))
        return out

    def clear_hellos(self) -> None:
        for name in os.listdir(self.dir):
            if name.startswith("hello-"):
                os.unlink(os.path.join(self.dir, name))

    async def _relay(self, request):
        if request.headers.get("x-dario-token") != self.token:
            return web.json_response({"error": {"message": "dario: bad token"}}, status=401,
                                     headers={"x-dario-error": "1"})
        target = request.headers.get("x-dario-target", "")
        body = await request.read()
        self.relayed.append({"target": target, "pid": request.headers.get("x-dario-pid"),
                             "headers": dict(request.headers), "body": body})
        if self.die_on_next:  # a host dying mid-call: nothing listens any more, the call gets no answer
            os.unlink(self.sock)
            request.transport.close()
            return web.Response(status=500)
        parts = urlsplit(target)
        url = self.upstream_url + parts.path + (("?" + parts.query) if parts.query else "")
        if parts.path.startswith("/t/"):  # fallback URL: /t/<token>/<provider>/<the provider's own path>
            rest = parts.path.split("/", 4)[4] if parts.path.count("/") >= 4 else ""
            url = self.upstream_url + "/" + rest
        headers = {k: v for k, v in request.headers.items()
                   if k.lower() not in HOP and not k.lower().startswith("x-dario-")}
        async with self._session.request(request.method, url, data=body, headers=headers) as up:
            resp = web.StreamResponse(status=up.status, headers={
                k: v for k, v in up.headers.items() if k.lower() not in HOP})
            await resp.prepare(request)
            async for chunk in up.content.iter_any():
                await resp.write(chunk)
            await resp.write_eof()
            return resp
