"""Which key of a backend a call uses. One key per backend today; pools extend this."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from dario.pipeline.backends import Backend, resolve_key


@dataclass(frozen=True)
class KeyChoice:
    key_id: str  # non-secret fingerprint, safe for logs and the store
    secret: str


def key_id(secret: str) -> str:
    return "key-" + hashlib.sha256(secret.encode()).hexdigest()[:10]


class KeyPool:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self._next = 0

    def pick(self, conversation: str | None = None) -> KeyChoice | None:
        """A key for the next call, or None when the backend has none (local, passthrough)."""
        if not self.backend.keys:
            return None
        raw = self.backend.keys[self._next % len(self.backend.keys)]
        self._next += 1
        secret = resolve_key(raw)
        return KeyChoice(key_id(secret), secret)

    def observe(self, choice: KeyChoice | None, status: int, headers) -> None:
        """Told each upstream answer's status and headers (rate-limit state lives here)."""
