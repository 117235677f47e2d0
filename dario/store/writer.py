"""The telemetry writer: redacts, caps and inserts batches of call records, in a process of its own.

Why a process: redaction and SQLite cost ~0.3 M instructions a call (bench/, callgrind), as much as the
whole proxied call, and a writer thread paid for them under the proxy's GIL. `BackgroundRecorder`
(telemetry.py) starts `python -m dario.store.writer`, sends it batches over its stdin and, only for
flush(), reads acknowledgements from its stdout; when the process cannot start or dies, the same
`RowWriter` runs in the recorder's thread instead. The child holds unredacted bodies in memory, so it
is non-dumpable like dario itself, and it ends when its stdin does (the parent exited, however).

Frames: 4-byte big-endian length, then `marshal` (plain data only: no code is ever unmarshalled from
anyone but the parent, over a pipe only it holds). The first frame is the settings
(path, capture_bodies, body_cap, secrets): secrets never go on a command line.
Each later frame is a list of items: ("call", values in CallRecord field order), ("meta", kind, dict),
("flush", n) (answered by n on stdout, 8 bytes), or ("close",).
"""

from __future__ import annotations

import logging
import marshal
import operator
import struct
import sys
from dataclasses import fields
from functools import lru_cache
from typing import Any, BinaryIO, Sequence

from dario.pipeline.record import CallRecord
from dario.redact import redact
from dario.store.telemetry import CALL_COLUMNS, prepare_body

log = logging.getLogger("dario.telemetry")
FIELDS = tuple(f.name for f in fields(CallRecord))  # CallRecord's, in order: a call item's values
_LEN = struct.Struct(">I")
_COL_IDX = tuple(FIELDS.index(c) for c in CALL_COLUMNS)  # the calls table's, in its order
_STREAM, _REQ, _RESP = CALL_COLUMNS.index("stream"), FIELDS.index("request_body"), FIELDS.index("response_body")
_MAY_ECHO_A_KEY = tuple(CALL_COLUMNS.index(c) for c in ("error", "path", "client"))  # query strings, error texts


def frame(obj: Any) -> bytes:
    data = marshal.dumps(obj)
    return _LEN.pack(len(data)) + data


def read_frame(f: BinaryIO) -> Any | None:
    """The next frame, or None at the end of the stream."""
    head = f.read(4)
    if len(head) < 4:
        return None
    n = _LEN.unpack(head)[0]
    data = f.read(n)
    if len(data) < n:
        return None
    return marshal.loads(data)


_VALUES = operator.itemgetter(*FIELDS)  # in C: a record's values, for every record the thread hands on


def as_values(rec: CallRecord) -> tuple:
    return _VALUES(rec.__dict__)


class RowWriter:
    """Records (as their values, in FIELDS order) to rows: redacted, bodies capped, a batch a transaction."""

    def __init__(self, store, *, capture_bodies: bool, body_cap: int, secrets: Sequence[str]) -> None:
        self.store = store
        self.capture_bodies = capture_bodies
        self.body_cap = int(body_cap)
        self.secrets = tuple(s for s in secrets if s)
        # a run's paths and client names repeat on every call: each short text is redacted once
        self._redact_short = lru_cache(maxsize=4096)(lambda text: redact(text, self.secrets))

    def _redacted(self, text: str) -> str:
        return self._redact_short(text) if len(text) <= 512 else redact(text, self.secrets)

    def write_meta(self, kind: str, item: dict) -> None:
        try:
            {"run": self.store.insert_run, "process": self.store.insert_process,
             "tunnels": self.store.insert_tunnels}[kind](item)
        except Exception as e:
            log.warning("telemetry: could not record %s: %s", kind, e)

    def row(self, values: Sequence) -> tuple[list, tuple | None]:
        """(the calls row, in CALL_COLUMNS order; the bodies row, or None) of one record's values."""
        if len(values) != len(FIELDS):
            raise ValueError(f"{len(values)} values, not {len(FIELDS)}")
        call = [values[i] for i in _COL_IDX]
        call[_STREAM] = int(bool(call[_STREAM]))
        for i in _MAY_ECHO_A_KEY:
            if call[i]:
                call[i] = self._redacted(str(call[i]))
        body = None
        req, resp = values[_REQ], values[_RESP]
        if self.capture_bodies and (req is not None or resp is not None):
            req = prepare_body(req, self.body_cap, self.secrets)
            resp = prepare_body(resp, self.body_cap, self.secrets)
            body = (req[0], req[1], int(req[2]), resp[0], resp[1], int(resp[2]))
        return call, body

    def write_records(self, records: list[CallRecord]) -> None:
        self.write_values([as_values(r) for r in records])

    def write_values(self, records: list[Sequence]) -> None:
        rows = []
        for values in records:
            try:
                rows.append(self.row(values))
            except Exception as e:
                log.warning("telemetry: dropped a malformed record: %s", e)
        try:
            self.write_batch(rows)
        except Exception as e:
            log.warning("telemetry: could not write %d call(s): %s", len(rows), e)

    def write_batch(self, rows: list[tuple[list, tuple | None]]) -> None:
        self.store.insert_calls(rows)


def main() -> int:
    import signal
    from dario.core.process import no_core_dumps
    from dario.store.telemetry import TelemetryStore
    no_core_dumps()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the end of stdin is this process's only stop signal
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    settings = read_frame(inp)
    if not isinstance(settings, tuple):
        return 2
    path, capture, cap, secrets = settings
    store = TelemetryStore(path)
    # The writer's own connection: a page cache that holds the indexes' pages (models are spread over
    # theirs, and so are the random call and conversation ids of stores written before ids began with the
    # time) and fewer, larger checkpoints (each one writes the pages back and syncs); commits themselves
    # stay durable as before (WAL, synchronous=NORMAL).
    store.conn.execute("PRAGMA cache_size=-16384")
    store.conn.execute("PRAGMA wal_autocheckpoint=4000")
    writer = RowWriter(store, capture_bodies=capture, body_cap=cap, secrets=secrets)
    try:
        while True:
            items = read_frame(inp)
            if items is None:  # the parent is gone: what came is written, nothing more will
                return 0
            records, acks, stop = [], [], False
            for it in items:
                if it[0] == "call":
                    records.append(it[1])
                elif it[0] == "meta":
                    writer.write_meta(it[1], it[2])
                elif it[0] == "flush":
                    acks.append(it[1])
                elif it[0] == "close":
                    stop = True
            if records:
                writer.write_values(records)
            for n in acks:
                out.write(struct.pack(">Q", n))
                out.flush()
            if stop:
                return 0
    finally:
        writer.store.close()


if __name__ == "__main__":
    sys.exit(main())
