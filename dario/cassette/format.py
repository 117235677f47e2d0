"""The cassette file: JSON Lines, one call per line after a header line, readable and diffable.

    {"dario_cassette": 1, "created": "2026-12-02T01:00:00Z", "dario": "0.1.0"}
    {"n": 1, "client": {...}, "route": {...}, "upstream": {...}, "response": {...}, "usage": {...}}

- `client`: what the program asked: protocol, endpoint, path, model, stream, body (redacted).
- `route`: where it went: backend name, the protocol spoken to it, base URL, model as sent.
- `upstream`: the request as sent upstream (body, redacted; no headers: they carry the keys).
- `response`: status, the headers that matter, and `body` (JSON or text) or, for a stream,
  `events`: [[ms from the request start, event name or null, data], ...].

Secrets never enter it: every text is masked by dario/redact.py (key shapes, bearer tokens, run
tokens, every configured key) before it is written, and no request header is kept. Appends are
whole lines, one write each, so a cassette is never left half-written; loading refuses a corrupt
or truncated line or an unknown version, naming the file and line.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

VERSION = 1
KEPT_HEADERS = ("content-type", "request-id", "x-request-id", "openai-processing-ms")


class CassetteError(Exception):
    pass


def body_bytes(response: dict) -> bytes:
    """A recorded plain answer's body as it was sent (JSON re-serialised, text as is)."""
    body = response.get("body")
    if isinstance(body, str):
        return body.encode()
    return json.dumps(body).encode() if body is not None else b""


def answer_bytes(response: dict) -> bytes:
    """A recorded answer as one byte string: the body, or every stream event framed again."""
    if "events" not in response:
        return body_bytes(response)
    from dario.pipeline.sse import frame
    return b"".join(frame(data, event) for _, event, data in response["events"])


def _header() -> dict:
    return {"dario_cassette": VERSION, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "dario": _version()}


def load(path: Path) -> list[dict]:
    """The calls of a cassette, in recorded order; CassetteError naming the file and line."""
    try:
        lines = Path(path).read_bytes().split(b"\n")
    except OSError as e:
        raise CassetteError(f"{path}: cannot read the cassette ({e.strerror or e})") from None
    if lines and lines[-1] == b"":
        lines.pop()
    if not lines:
        raise CassetteError(f"{path}: empty file, not a dario cassette")
    calls: list[dict] = []
    for n, raw in enumerate(lines, 1):
        try:
            obj = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as e:
            why = "truncated" if n == len(lines) and not raw.endswith(b"}") else "not valid JSON"
            raise CassetteError(f"{path}:{n}: line {why} ({e}); the cassette is corrupt") from None
        if not isinstance(obj, dict):
            raise CassetteError(f"{path}:{n}: expected a JSON object")
        if n == 1:
            version = obj.get("dario_cassette")
            if version is None:
                raise CassetteError(f"{path}:1: not a dario cassette (no dario_cassette header)")
            if version != VERSION:
                raise CassetteError(f"{path}:1: cassette format version {version!r}; this dario reads version "
                                    f"{VERSION}")
            continue
        for key in ("client", "route", "response"):
            if not isinstance(obj.get(key), dict):
                raise CassetteError(f"{path}:{n}: a call without its {key!r}")
        calls.append(obj)
    return calls


class Appender:
    """Appends whole lines to a cassette (creating it, with its header, when new)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.count = len(load(self.path)) if self.path.exists() and self.path.stat().st_size else 0
        self._fd: int | None = None

    def _open(self) -> int:
        if self._fd is None:
            new = not self.path.exists() or self.path.stat().st_size == 0
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            if new:
                self._write(_header())
        return self._fd

    def _write(self, obj: dict) -> None:
        line = (json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
        os.write(self._fd, line)  # one write of a whole line

    def append(self, call: dict[str, Any]) -> None:
        self._open()
        self.count += 1
        self._write({"n": self.count, **call})

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _version() -> str:
    from dario import __version__
    return __version__


def write_all(path: Path, calls: list[dict]) -> None:
    """Replace a cassette atomically (dario cassette redact)."""
    import tempfile
    text = "".join(json.dumps(o, ensure_ascii=False, separators=(",", ":")) + "\n" for o in [_header(), *calls])
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(text.encode())
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
