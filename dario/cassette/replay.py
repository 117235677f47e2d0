"""Record and replay in the pipeline: which calls a cassette answers, and how it is written.

Replay replaces two stages of a call that matches: route (the route is the recorded one, so no
backend need be configured) and send (the answer is the recorded upstream answer, event by event
at the chosen pace). Everything else runs as on a live call: the request is translated, the
answer is translated back, metered and recorded, so a replayed run shows in `dario log` with
its recorded usage, marked replayed, at no cost. Record taps the upstream answer as it passes
and writes one line per finished LLM call.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict, deque
from dataclasses import asdict
from pathlib import Path
from typing import Any, AsyncIterator

from dario.cassette import format as fmt
from dario.cassette import match
from dario.core.errors import CallError
from dario.pipeline.sse import SSEParser, frame
from dario.redact import redact

ON_MISS = ("error", "passthrough", "record")
MISS_PREFIX = "dario: no recorded call matches"


def parse_timing(value: str) -> float | None:
    """'none' -> None (as fast as the client reads), 'recorded' -> 1.0, 'xN' -> N (N times faster)."""
    v = (value or "none").strip().lower()
    if v == "none":
        return None
    if v == "recorded":
        return 1.0
    if v.startswith("x"):
        try:
            speed = float(v[1:])
        except ValueError:
            speed = 0.0
        if speed > 0:
            return speed
    raise fmt.CassetteError(f"--replay-timing must be recorded, none or xN (N > 0), not {value!r}")


class ReplayResponse:
    """A recorded upstream answer, with the surface of UpstreamResponse."""

    def __init__(self, recorded: dict, speed: float | None) -> None:
        from multidict import CIMultiDict
        self.status = int(recorded.get("status") or 200)
        self.headers = CIMultiDict(recorded.get("headers") or {})
        self._rec, self._speed = recorded, speed
        self.idle, self.idle_fired = 0.0, False

    async def read(self, cap: int | None = None) -> bytes:
        data = fmt.answer_bytes(self._rec)
        return data if cap is None else data[:cap]

    async def chunks(self) -> AsyncIterator[bytes]:
        if "events" not in self._rec:
            yield fmt.body_bytes(self._rec)
            return
        start = time.monotonic()
        for offset, event, data in self._rec["events"]:
            if self._speed:
                wait = start + float(offset) / 1000.0 / self._speed - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
            yield frame(data, event)

    def close(self) -> None:
        pass


class Tape:
    """An upstream answer passing through, its chunks kept with their offsets from the call's start."""

    def __init__(self, inner, t0: float) -> None:
        self._inner, self._t0 = inner, t0
        self.status, self.headers = inner.status, inner.headers
        self.chunks_seen: list[tuple[float, bytes]] = []
        self.body: bytes | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def read(self, cap: int | None = None) -> bytes:
        data = await self._inner.read(cap)
        self.body = data
        return data

    async def chunks(self) -> AsyncIterator[bytes]:
        async for c in self._inner.chunks():
            self.chunks_seen.append(((time.perf_counter() - self._t0) * 1000.0, c))
            yield c

    def close(self) -> None:
        self._inner.close()

    def recorded(self, secrets: tuple[str, ...]) -> dict:
        headers = {k.lower(): v for k, v in self.headers.items() if k.lower() in fmt.KEPT_HEADERS}
        out: dict[str, Any] = {"status": self.status, "headers": headers}
        if self.chunks_seen and headers.get("content-type", "").startswith("text/event-stream"):
            parser, events = SSEParser(), []
            for offset, chunk in self.chunks_seen:
                events += [[round(offset, 1), ev.event, redact(ev.data, secrets)] for ev in parser.feed(chunk)]
            events += [[round(self.chunks_seen[-1][0], 1), ev.event, redact(ev.data, secrets)]
                       for ev in parser.flush()]
            out["events"] = events
        else:
            data = self.body if self.body is not None else b"".join(c for _, c in self.chunks_seen)
            out["body"] = _json_or_text(redact(data.decode("utf-8", "replace"), secrets))
        return out


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


class Cassette:
    """One run's cassette: `replay` answers matching calls from it, `record` appends every call."""

    def __init__(self, path: Path, *, replay: bool, on_miss: str = "error", timing: str = "none",
                 ignore: tuple[str, ...] = (), secrets: tuple[str, ...] = ()) -> None:
        if on_miss not in ON_MISS:
            raise fmt.CassetteError(f"--on-miss must be one of {', '.join(ON_MISS)}, not {on_miss!r}")
        self.path = Path(path)
        self.replaying = replay
        self.on_miss = on_miss
        self.speed = parse_timing(timing)
        self.ignore = tuple(ignore)
        self.secrets = tuple(s for s in secrets if s)
        self.calls: list[dict] = fmt.load(self.path) if replay else []
        self._queues: dict[str, deque] = defaultdict(deque)
        for c in self.calls:
            self._queues[match.key(c["client"], self.ignore)].append(c)
        self.misses = 0
        self.replayed = 0
        # record: all calls; replay: only misses sent upstream under --on-miss record
        self.appender = fmt.Appender(self.path) if (not replay or on_miss == "record") else None

    @property
    def records(self) -> bool:
        return self.appender is not None

    # -- replay -------------------------------------------------------------------------------
    def _client(self, call) -> dict:
        body = call.body if isinstance(call.body, dict) else {}
        body = json.loads(redact(json.dumps(body), self.secrets))  # as it would have been written
        return {"protocol": call.inbound.name, "endpoint": call.endpoint, "path": call.path,
                "model": call.model_requested, "stream": call.stream, "body": body}

    def answer(self, call) -> bool:
        """Route `call` from the cassette (True), or say it must go upstream (False); a miss under
        --on-miss error is a CallError in the caller's protocol."""
        from dario.pipeline.backends import Backend
        from dario.pipeline.routing import Route
        from dario.protocols import adapter
        client = self._client(call)
        queue = self._queues.get(match.key(client, self.ignore))
        if not queue:
            self.misses += 1
            call.notes["replay_miss"] = True
            if self.on_miss != "error":
                return False
            raise self._miss(client)
        rec = queue.popleft()
        r = rec["route"]
        proto = r.get("protocol") or "anthropic"
        kind = "openai" if proto == "responses" else proto
        backend = Backend(str(r.get("backend") or "replay"), kind, str(r.get("base_url") or "http://replay.invalid"),
                          responses=proto == "responses" or None)
        call.route = Route(backend, str(r.get("model") or call.model_requested))
        call.outbound = adapter(proto)
        call.model = call.route.model
        call.url = str(r.get("url") or backend.base_url)
        call.notes["replay"] = rec
        call.cost_usd = 0.0  # answered from a file: nothing was spent
        self.replayed += 1
        return True

    def _miss(self, client: dict) -> CallError:
        near, diff = match.nearest(client, [c for c in self.calls if c["client"].get("protocol") == client["protocol"]]
                                   or self.calls, self.ignore)
        msg = f"{MISS_PREFIX} this {client['protocol']} call to {client['model']!r} in {self.path}"
        if near is not None:
            msg += f"; the nearest is call #{near.get('n')} ({near['client'].get('model')!r}), which differs:\n"
            msg += "\n".join(diff) if diff else "(only in fields dario ignores)"
        # 400, not 404: clients read a 404 as "no such model"; this names the cassette instead
        return CallError(400, msg, headers={"x-should-retry": "false"})

    def response(self, call) -> ReplayResponse:
        return ReplayResponse(call.notes["replay"]["response"], self.speed)

    # -- record -------------------------------------------------------------------------------
    def write(self, call, tape: Tape) -> None:
        route = call.route
        payload = call.payload or b""
        try:
            upstream_body = json.loads(redact(payload.decode("utf-8", "replace"), self.secrets)) if payload else None
        except ValueError:
            upstream_body = None
        self.appender.append({
            "client": self._client(call),
            "route": {"backend": route.backend.name, "protocol": call.outbound.name,
                      "base_url": route.backend.base_url, "model": call.model,
                      "url": redact(call.url or "", self.secrets)},
            "upstream": {"body": upstream_body},
            "response": tape.recorded(self.secrets),
            "usage": {k: v for k, v in asdict(call.usage).items() if v is not None},
        })

    def close(self) -> None:
        if self.appender is not None:
            self.appender.close()

