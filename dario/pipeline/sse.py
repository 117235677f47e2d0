"""Incremental Server-Sent Events parsing and framing.

Upstream chunks split events anywhere (mid-line, mid-UTF-8 sequence); the parser
keeps the tail and yields only complete events. Relaying never waits on it: the
pipeline forwards each chunk first and parses a copy.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class SSEEvent:
    event: str | None  # the `event:` field, None when absent
    data: str  # the `data:` lines joined by "\n"


class SSEParser:
    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        buf = self._buf + chunk
        if b"\r" in buf:
            buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        events: list[SSEEvent] = []
        while True:
            end = buf.find(b"\n\n")
            if end < 0:
                break
            block, buf = buf[:end], buf[end + 2:]
            ev = _parse_block(block)
            if ev is not None:
                events.append(ev)
        self._buf = buf
        return events

    @property
    def at_boundary(self) -> bool:
        """No partial event is held: something may be written between two events here."""
        return not self._buf.strip(b"\n")

    def flush(self) -> list[SSEEvent]:
        """Parse whatever is left when the stream ends without a final blank line."""
        block, self._buf = self._buf.strip(b"\n"), b""
        ev = _parse_block(block) if block else None
        return [ev] if ev is not None else []


def _parse_block(block: bytes) -> SSEEvent | None:
    event = None
    data: list[str] = []
    for raw in block.split(b"\n"):
        if not raw or raw.startswith(b":"):
            continue
        name, _, value = raw.partition(b":")
        if value.startswith(b" "):
            value = value[1:]
        if name == b"data":
            data.append(value.decode("utf-8", "replace"))
        elif name == b"event":
            event = value.decode("utf-8", "replace")
    if event is None and not data:
        return None
    return SSEEvent(event, "\n".join(data))


def frame(data: str, event: str | None = None) -> bytes:
    """Encode one SSE event."""
    head = f"event: {event}\n" if event else ""
    return (head + "data: " + data.replace("\n", "\ndata: ") + "\n\n").encode("utf-8")
