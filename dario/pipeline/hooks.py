"""Call hooks: what watches calls (the telemetry recorder, -v, the run tally, OTLP export).

A hook is any object with some of these methods, each called on the event loop and
expected to return at once (hand slow work to a thread of your own):

    call_start(call)                 parsed and routed, about to be sent (a call refused
                                     before that gets only call_finish)
    response_headers(call)           the upstream answered; status and headers are known
    call_finish(call, record)        the call ended; `record` is the CallRecord, priced once

A hook that raises is logged and skipped: watching a call never breaks it.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("dario.hooks")


class Hooks:
    def __init__(self, hooks: list[Any] | None = None) -> None:
        self._all: list[Any] = []
        self.add(*(hooks or ()))

    def add(self, *hooks: Any) -> None:
        self._all.extend(hooks)
        self._start = [h.call_start for h in self._all if hasattr(h, "call_start")]
        self._headers = [h.response_headers for h in self._all if hasattr(h, "response_headers")]
        self._finish = [h.call_finish for h in self._all if hasattr(h, "call_finish")]

    def __iter__(self):
        return iter(self._all)

    def start(self, call) -> None:
        for fn in self._start:
            _guarded(fn, call)

    def headers(self, call) -> None:
        for fn in self._headers:
            _guarded(fn, call)

    def finish(self, call, record) -> None:
        for fn in self._finish:
            _guarded(fn, call, record)


def _guarded(fn, *args) -> None:
    try:
        fn(*args)
    except Exception as e:
        log.warning("dario: call hook %s failed: %s", getattr(fn, "__qualname__", fn), e)


class RecorderHook:
    """Hands each finished record to a Recorder (the SQLite writer, or a test's list)."""

    def __init__(self, recorder) -> None:
        self.recorder = recorder

    def call_finish(self, call, record) -> None:
        self.recorder.submit(record)
