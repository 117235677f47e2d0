"""Reference proxies for the bench's reference phase: what any proxy costs on this machine, beside dario.

usage: python bench/reference.py relay|stack UPSTREAM_URL   (prints "listening on http://127.0.0.1:PORT")

- relay: a byte relay on the same event loop dario uses (uvloop when installed): each client connection gets
  one upstream connection and bytes go both ways untouched, with no HTTP parsing. The floor of any Python
  process in the path: its two extra socket writes and two wake-ups a call, nothing else.
- stack: dario's own HTTP server and client (dario/net) relaying each request with no pipeline: no routing,
  credentials, metering or telemetry. What dario's network layer costs before any stage runs.

bench/run.py's reference phase gives these, nginx (when installed) and dario the same calls in the same
rounds, so its rows say how much of dario's ratio any proxy costs, how much the HTTP layer and how much the
pipeline.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


class _Up(asyncio.Protocol):
    def __init__(self, down: asyncio.Transport) -> None:
        self.down = down

    def data_received(self, data: bytes) -> None:
        self.down.write(data)

    def connection_lost(self, exc) -> None:
        self.down.close()


def relay_factory(host: str, port: int):
    class Down(asyncio.Protocol):
        def connection_made(self, transport) -> None:
            self.transport, self.up, self.early = transport, None, []
            asyncio.get_running_loop().create_task(self.connect())

        async def connect(self) -> None:
            try:
                self.up, _ = await asyncio.get_running_loop().create_connection(
                    lambda: _Up(self.transport), host, port)
            except OSError:
                self.transport.close()
                return
            for data in self.early:
                self.up.write(data)
            self.early = None

        def data_received(self, data: bytes) -> None:
            if self.up is None:
                self.early.append(data)
            else:
                self.up.write(data)

        def connection_lost(self, exc) -> None:
            if self.up is not None:
                self.up.close()
    return Down


def stack_handler(upstream: str):
    from dario.net import server as web
    from dario.net.client import Pool
    pool = Pool(5.0)
    drop = {"host", "content-length", "connection", "transfer-encoding", "keep-alive"}

    async def handler(request: web.Request) -> web.Response | web.StreamResponse:
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in drop}
        up = await pool.request(request.method, upstream + request.path_qs, headers, body, None, 60.0)
        ctype = up.headers.get("content-type", "application/octet-stream")
        if not ctype.startswith("text/event-stream"):
            return web.Response(status=up.status, body=await up.read(), headers={"Content-Type": ctype})
        resp = web.StreamResponse(status=up.status, headers={"Content-Type": ctype})
        await resp.prepare(request)
        async for chunk in up.iter_any():  # events as they come, as dario relays them
            await resp.write(chunk)
        await resp.write_eof()
        return resp
    return handler


async def main(kind: str, upstream: str) -> None:
    loop = asyncio.get_running_loop()
    if kind == "relay":
        u = urlsplit(upstream)
        server = await loop.create_server(relay_factory(u.hostname, u.port), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
    else:
        from dario.net import server as web
        port = await web.Runner(web.Server(stack_handler(upstream.rstrip("/")), max_body=1 << 26)).tcp("127.0.0.1", 0)
    print(f"listening on http://127.0.0.1:{port}", file=sys.stderr, flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("relay", "stack"):
        sys.exit(__doc__.split("\n\n")[1])
    try:
        import uvloop  # as dario itself runs (dario/cli.py)
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass
    asyncio.run(main(sys.argv[1], sys.argv[2]))
