"""telemetry.db: one row per call, bodies apart, written off the hot path.

The request path only ever calls `BackgroundRecorder.submit`, which appends the record to
a deque and returns. A thread hands what came to the writer process (store/writer.py),
which redacts and caps bodies and inserts a whole batch in one transaction (one fsync per
batch, not per call). Several dario processes may share the file: WAL lets readers (`dario
log --follow`) run beside a writer, and busy_timeout rides out the other's commits.
Nothing unredacted is ever written, so neither the file nor its WAL holds a secret.
"""

from __future__ import annotations

import atexit
import logging
import os
import sqlite3
import threading
import time
from collections import deque
from dataclasses import fields
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from dario.core.defaults import CAPTURE_CAP
from dario.pipeline.record import CallRecord
from dario.store import pricing
from dario.redact import redact, redact_bytes

log = logging.getLogger("dario.telemetry")

DEFAULT_BODY_CAP = CAPTURE_CAP
# Column names of `calls`, in CallRecord order, bodies excluded (they live in `bodies`).
CALL_COLUMNS = [f.name for f in fields(CallRecord) if f.name not in ("request_body", "response_body")]
_INSERT_CALL = f"INSERT OR IGNORE INTO calls ({', '.join(CALL_COLUMNS)}) VALUES ({', '.join('?' * len(CALL_COLUMNS))})"
# What `dario log --json` shows: the record's own fields.
RECORD_FIELDS = CALL_COLUMNS[:CALL_COLUMNS.index("error") + 1]

# Each step runs once, in order, in one transaction with the version bump. Append only:
# never edit a released step, add a new one.
MIGRATIONS: list[list[str]] = [
    [  # 1: calls
        """CREATE TABLE calls (
            id TEXT PRIMARY KEY, ts REAL NOT NULL, run_id TEXT NOT NULL DEFAULT '', pid INTEGER,
            source TEXT, client TEXT, backend TEXT, model_requested TEXT, model TEXT,
            protocol_in TEXT, protocol_out TEXT, stream INTEGER NOT NULL DEFAULT 0, status INTEGER,
            input_tokens INTEGER, output_tokens INTEGER, cache_read_tokens INTEGER,
            cache_write_tokens INTEGER, cost_usd REAL, latency_ms REAL, ttft_ms REAL, error TEXT,
            method TEXT, path TEXT)""",
        "CREATE INDEX calls_ts ON calls(ts)",
        "CREATE INDEX calls_run ON calls(run_id, ts)",
        "CREATE INDEX calls_model ON calls(model)",
    ],
    [  # 2: bodies, redacted and capped
        """CREATE TABLE bodies (
            call_id TEXT PRIMARY KEY REFERENCES calls(id) ON DELETE CASCADE,
            request BLOB, request_size INTEGER, request_truncated INTEGER NOT NULL DEFAULT 0,
            response BLOB, response_size INTEGER, response_truncated INTEGER NOT NULL DEFAULT 0)""",
    ],
    [  # 3: runs and the processes that said hello
        """CREATE TABLE runs (
            run_id TEXT PRIMARY KEY, started REAL NOT NULL, source TEXT, argv TEXT, pid INTEGER)""",
        """CREATE TABLE processes (
            run_id TEXT NOT NULL, pid INTEGER NOT NULL, ppid INTEGER, runtime TEXT, argv0 TEXT,
            how TEXT, ts REAL NOT NULL, PRIMARY KEY (run_id, pid))""",
    ],
    [  # 4: conversation grouping and key fingerprints
        "ALTER TABLE calls ADD COLUMN conversation TEXT",
        "ALTER TABLE calls ADD COLUMN key_id TEXT",
        "CREATE INDEX calls_conversation ON calls(conversation)",
    ],
    [  # 5: reasoning tokens (a part of output_tokens)
        "ALTER TABLE calls ADD COLUMN reasoning_tokens INTEGER",
    ],
    [  # 6: calls answered from a cassette (dario shim/proxy --replay)
        "ALTER TABLE calls ADD COLUMN replayed INTEGER NOT NULL DEFAULT 0",
    ],
    [  # 7: how each shim call was caught, and the hosts a run only tunnelled (the coverage report)
        "ALTER TABLE calls ADD COLUMN door TEXT",
        """CREATE TABLE tunnels (
            run_id TEXT NOT NULL, host TEXT NOT NULL, connections INTEGER NOT NULL,
            PRIMARY KEY (run_id, host))""",
    ],
    [  # 8: branches: the call each call extends, and sub-agent conversations linked to their parent call
        "ALTER TABLE calls ADD COLUMN parent_call TEXT",
        "ALTER TABLE calls ADD COLUMN subagents TEXT",
    ],
]
SCHEMA_VERSION = len(MIGRATIONS)


def _create_private(path: Path) -> None:
    """Create the db file 0600 before SQLite does (SQLite gives -wal/-shm the same mode)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if os.fstat(fd).st_mode & 0o077:
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


def connect(path: Path | str, *, migrate: bool = True) -> sqlite3.Connection:
    path = Path(path)
    _create_private(path)
    conn = sqlite3.connect(path, timeout=10.0, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA busy_timeout=10000")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable to the last commit on power loss, fast
    if migrate:
        apply_migrations(conn)
    return conn


def _version(conn: sqlite3.Connection) -> int:
    conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return row[0] or 0


def apply_migrations(conn: sqlite3.Connection, upto: int | None = None) -> int:
    upto = SCHEMA_VERSION if upto is None else upto
    if _version(conn) >= upto:
        return _version(conn)
    conn.execute("BEGIN IMMEDIATE")  # serialises two processes migrating at once
    try:
        current = _version(conn)  # re-read under the lock
        for n in range(current, upto):
            for sql in MIGRATIONS[n]:
                conn.execute(sql)
            conn.execute("INSERT INTO schema_version(version) VALUES (?)", (n + 1,))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return upto


def prepare_body(data: bytes | None, cap: int, secrets: Sequence[str] = ()) -> tuple[bytes | None, int | None, bool]:
    """(redacted body cut to `cap` bytes, original size, truncated?)."""
    if data is None:
        return None, None, False
    size = len(data)
    # Redact a little past the cap so a secret straddling the cut is still whole when masked.
    red = redact_bytes(bytes(data[:cap + 4096]), tuple(secrets))
    truncated = size > cap or len(red) > cap
    return red[:cap], size, truncated


class TelemetryStore:
    """Queries (and the writer's inserts) over one telemetry.db."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.conn = connect(self.path)
        self._lock = threading.Lock()

    def close(self) -> None:
        self.conn.close()

    # -- writes (the recorder's thread) ------------------------------------
    def insert_calls(self, rows: Iterable[tuple[list, tuple | None]]) -> None:
        """Rows from RowWriter.row: each (the call's values in CALL_COLUMNS order, its bodies or None)."""
        rows = list(rows)
        with self._lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:  # one statement a table per batch: executemany binds in C
                self.conn.executemany(_INSERT_CALL, [call for call, _ in rows])
                self.conn.executemany("INSERT OR REPLACE INTO bodies VALUES (?, ?, ?, ?, ?, ?, ?)",
                                      [(call[0], *body) for call, body in rows if body is not None])
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise

    def insert_run(self, run: Mapping[str, Any]) -> None:
        with self._lock:
            self.conn.execute("INSERT OR REPLACE INTO runs(run_id, started, source, argv, pid) VALUES (?,?,?,?,?)",
                              (run["run_id"], run["started"], run.get("source"), run.get("argv"), run.get("pid")))

    def insert_tunnels(self, t: Mapping[str, Any]) -> None:
        with self._lock:
            self.conn.executemany("INSERT OR REPLACE INTO tunnels(run_id, host, connections) VALUES (?,?,?)",
                                  [(t["run_id"], h, n) for h, n in t["hosts"].items()])

    def tunnels(self, run_id: str) -> dict[str, int]:
        """Hosts the run's HTTPS proxy only tunnelled (never saw inside), with their connection counts."""
        return {r["host"]: r["connections"] for r in self._all(
            "SELECT host, connections FROM tunnels WHERE run_id = ? ORDER BY connections DESC, host", [run_id])}

    def insert_process(self, p: Mapping[str, Any]) -> None:
        with self._lock:
            self.conn.execute(
                "INSERT OR REPLACE INTO processes(run_id, pid, ppid, runtime, argv0, how, ts) VALUES (?,?,?,?,?,?,?)",
                (p["run_id"], p["pid"], p.get("ppid"), p.get("runtime"), p.get("argv0"), p.get("how"), p["ts"]))

    # -- queries ------------------------------------------------------------
    def _all(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self.conn.execute(sql, args).fetchall()]

    def recent(self, n: int = 20, run_id: str | None = None, after_ts: float | None = None,
               after_seq: int | None = None, *, model: str | None = None, backend: str | None = None,
               status: str | None = None, errors: bool = False, include_other: bool = True) -> list[dict[str, Any]]:
        """Calls without bodies, newest first; with after_seq, those inserted since, oldest first.
        Filters: model (a substring of the model asked or sent), backend, status (200, or 4xx),
        errors only, and whether other requests (not LLM calls) are included."""
        where, args = [], []
        if run_id is not None:
            where.append("run_id = ?"), args.append(run_id)
        if model:
            where.append("(instr(lower(COALESCE(model, '')), ?) > 0 OR instr(lower(COALESCE(model_requested, '')), ?) > 0)")
            args += [model.lower(), model.lower()]
        if backend:
            where.append("backend = ?"), args.append(backend)
        if status:
            if status[1:].lower() == "xx" and status[0].isdigit():
                where.append("status / 100 = ?"), args.append(int(status[0]))
            else:
                where.append("status = ?"), args.append(int(status))
        if errors:
            where.append("(error IS NOT NULL OR status >= 400)")
        if not include_other:
            where.append("protocol_in IS NOT NULL")
        if after_ts is not None:
            where.append("ts > ?"), args.append(after_ts)
        if after_seq is not None:
            where.append("rowid > ?"), args.append(after_seq)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        order = "rowid ASC" if after_seq is not None else "ts DESC, rowid DESC"
        rows = self._all(f"SELECT rowid AS seq, * FROM calls {clause} ORDER BY {order} LIMIT ?", [*args, n])
        for r in rows:
            r["stream"] = bool(r["stream"])
        return rows

    _GROUPS = {
        "model": "COALESCE(model, model_requested)",
        "backend": "backend",
        "day": "date(ts, 'unixepoch', 'localtime')",
        "run": "run_id",
        "client": "client",
    }

    def usage(self, by: str = "model", since_seconds: float | None = None,
              include_other: bool = False) -> list[dict[str, Any]]:
        """Grouped totals of LLM calls (other requests to provider hosts too with include_other)."""
        if by not in self._GROUPS:
            raise ValueError(f"--by must be one of {', '.join(self._GROUPS)}, not {by!r}")
        conds, args = [], []
        if since_seconds is not None:
            conds.append("ts >= ?"), args.append(time.time() - since_seconds)
        if not include_other:
            conds.append("protocol_in IS NOT NULL")
        where = f"WHERE {' AND '.join(conds)}" if conds else ""
        order = "key ASC" if by == "day" else "cost_usd IS NULL, cost_usd DESC, requests DESC"
        # SUM over only NULLs is NULL: an all-unpriced group shows no cost instead of a false 0.
        rows = [{by: r.pop("key"), **r} for r in self._all(f"""
            SELECT {self._GROUPS[by]} AS key, COUNT(*) AS requests,
                   COALESCE(SUM(input_tokens), 0) AS input_tokens,
                   COALESCE(SUM(output_tokens), 0) AS output_tokens,
                   COALESCE(SUM(cache_read_tokens), 0) AS cache_read_tokens,
                   COALESCE(SUM(cache_write_tokens), 0) AS cache_write_tokens,
                   SUM({pricing.SQL_UNITS}) AS cost_usd,
                   SUM(CASE WHEN error IS NOT NULL OR status >= 400 THEN 1 ELSE 0 END) AS errors,
                   SUM(CASE WHEN {pricing.SQL_UNPRICED} THEN 1 ELSE 0 END) AS unpriced
            FROM calls {where} GROUP BY key ORDER BY {order}""", args)]
        for r in rows:  # whole units summed in SQL, back to dollars once
            r["cost_usd"] = None if r["cost_usd"] is None else r["cost_usd"] / pricing.UNITS_PER_USD
            r["complete"] = r["unpriced"] == 0  # False: cost_usd is only a lower bound (pricing.unpriced)
        return rows

    def spent_since(self, ts: float, backend: str | None = None) -> float:
        """USD recorded since `ts` (for one backend, or all), summed in whole units."""
        where, args = "ts >= ?", [ts]
        if backend is not None:
            where, args = where + " AND backend = ?", args + [backend]
        rows = self._all(f"SELECT SUM({pricing.SQL_UNITS}) AS units FROM calls WHERE {where}", args)
        return (rows[0]["units"] or 0) / pricing.UNITS_PER_USD

    def runs(self) -> list[dict[str, Any]]:
        """Every run (recorded or only seen in calls), newest activity first, with totals."""
        rows = self._all(f"""
            WITH agg AS (SELECT run_id, COUNT(*) AS calls, MIN(ts) AS first_ts, MAX(ts) AS last_ts,
                                SUM({pricing.SQL_UNITS}) AS cost_usd, COALESCE(SUM(input_tokens), 0) AS input_tokens,
                                COALESCE(SUM(output_tokens), 0) AS output_tokens
                         FROM calls GROUP BY run_id),
                 ids AS (SELECT run_id FROM runs UNION SELECT run_id FROM agg)
            SELECT ids.run_id, COALESCE(r.started, a.first_ts) AS started, r.source, r.argv, r.pid,
                   COALESCE(a.calls, 0) AS calls, a.last_ts, a.cost_usd,
                   COALESCE(a.input_tokens, 0) AS input_tokens, COALESCE(a.output_tokens, 0) AS output_tokens,
                   (SELECT COUNT(*) FROM processes p WHERE p.run_id = ids.run_id) AS processes
            FROM ids LEFT JOIN runs r ON r.run_id = ids.run_id LEFT JOIN agg a ON a.run_id = ids.run_id
            ORDER BY MAX(COALESCE(r.started, 0), COALESCE(a.last_ts, 0)) DESC""")
        for r in rows:
            r["cost_usd"] = None if r["cost_usd"] is None else r["cost_usd"] / pricing.UNITS_PER_USD
        return rows

    def run(self, run_id: str) -> dict[str, Any] | None:
        return next((r for r in self.runs() if r["run_id"] == run_id), None)

    def processes(self, run_id: str) -> list[dict[str, Any]]:
        return self._all("SELECT * FROM processes WHERE run_id = ? ORDER BY ts", [run_id])

    def find_calls(self, part: str) -> list[dict[str, Any]]:
        """Calls whose id starts or ends with `part` (ids begin with the time, so people give their last
        characters: `short_id`), with their bodies; at most two: enough to say ambiguous. GLOB, not LIKE:
        a prefix is then a range of the id index; a suffix reads that index through."""
        part = "".join(ch for ch in part.lower() if ch not in "*?[]")  # GLOB's wildcards; never in an id
        if not part:
            return []
        rows = self._all("""SELECT c.*, b.request AS request_body, b.request_size, b.request_truncated,
                                   b.response AS response_body, b.response_size, b.response_truncated,
                                   p.how AS caught_by, p.runtime AS runtime
                            FROM calls c LEFT JOIN bodies b ON b.call_id = c.id
                            LEFT JOIN processes p ON p.run_id = c.run_id AND p.pid = c.pid
                            WHERE c.id IN (SELECT id FROM calls WHERE id GLOB ?1
                                           UNION SELECT id FROM calls WHERE id GLOB ?2 LIMIT 2)
                            ORDER BY c.ts""", [part + "*", "*" + part])
        for r in rows:
            r["stream"] = bool(r["stream"])
        return rows

    def calls_for_run(self, run_id: str) -> list[dict[str, Any]]:
        """The run's calls, oldest first, with their (redacted) bodies."""
        rows = self._all("""SELECT c.*, b.request AS request_body, b.request_size, b.request_truncated,
                                   b.response AS response_body, b.response_size, b.response_truncated
                            FROM calls c LEFT JOIN bodies b ON b.call_id = c.id
                            WHERE c.run_id = ? ORDER BY c.ts, c.rowid""", [run_id])
        for r in rows:
            r["stream"] = bool(r["stream"])
        return rows

    def last_run_id(self) -> str | None:
        runs = self.runs()
        return runs[0]["run_id"] if runs else None

    def schema_version(self) -> int:
        with self._lock:
            return _version(self.conn)

    def size_bytes(self) -> int:
        """The file plus its WAL: what the store takes on disk."""
        total = 0
        for suffix in ("", "-wal", "-shm"):
            try:
                total += os.path.getsize(f"{self.path}{suffix}")
            except OSError:
                pass
        return total


_CLOSE = object()


class BackgroundRecorder:
    """The Recorder the pipeline calls: `submit` appends and returns; a thread does the rest.

    Why a deque and a timer, not a queue.Queue: a Queue takes a lock and signals a condition on
    every put, and a writer woken per call fought the event loop for the GIL. deque.append is
    atomic under the GIL; the thread wakes every `linger` s and takes what came. It hands the
    batch to the writer process (store/writer.py), which redacts and inserts it off dario's GIL;
    with `process=False`, or when that process cannot run, the thread writes it itself.
    """

    def __init__(self, store_path: Path | str, *, capture_bodies: bool = True, body_cap: int = DEFAULT_BODY_CAP,
                 secrets: Sequence[str] = (), max_queue: int = 10_000, batch: int = 500,
                 linger: float = 0.05, process: bool = True) -> None:
        from dario.store.writer import RowWriter
        self.store = TelemetryStore(store_path)  # created and migrated here: a bad home fails at once
        # the settings live in the RowWriter: the thread's, and the writer process's copy of them
        self.rows = RowWriter(self.store, capture_bodies=capture_bodies, body_cap=body_cap, secrets=secrets)
        self.dropped = 0  # records lost to a full queue (a writer stuck for a long time)
        self._max = max_queue
        self._batch = batch
        self._linger = linger
        self._q: deque = deque()
        self._wake = threading.Event()  # flush() and close(): write now, not at the next tick
        self._closed = False
        self._child = self._start_child() if process else None
        self._flushes = 0
        self._thread = threading.Thread(target=self._run, name="dario-telemetry", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    @property
    def capture_bodies(self) -> bool:
        return self.rows.capture_bodies

    @property
    def body_cap(self) -> int:
        return self.rows.body_cap

    @property
    def secrets(self) -> tuple[str, ...]:
        return self.rows.secrets

    def _start_child(self):
        import subprocess
        import sys
        from dario.store.writer import frame
        try:
            # its own session: a Ctrl-C in the terminal is for the program dario runs, never for the
            # writer, which ends when its stdin does (after dario flushed, or dario died)
            child = subprocess.Popen([sys.executable, "-m", "dario.store.writer"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, close_fds=True, start_new_session=True,
                                     env={**os.environ, "PYTHONPATH": _package_root()})
            child.stdin.write(frame((str(self.store.path), self.capture_bodies, self.body_cap, self.secrets)))
            child.stdin.flush()
            return child
        except Exception as e:  # no interpreter to start, no pipes: the thread writes instead
            log.debug("telemetry: writer process not started (%s); writing in-process", e)
            return None

    # -- hot path -------------------------------------------------------------
    def submit(self, record: CallRecord) -> None:
        if len(self._q) >= self._max:
            self.dropped += 1
            return
        self._q.append(record)

    def record_run(self, run_id: str, *, source: str, argv: Sequence[str] | str | None = None,
                   pid: int | None = None, started: float | None = None) -> None:
        argv_s = argv if isinstance(argv, str) or argv is None else " ".join(argv)
        self._put(("run", {"run_id": run_id, "started": started or time.time(), "source": source,
                           "argv": redact(argv_s, self.secrets) if argv_s else argv_s, "pid": pid}))

    def record_process(self, run_id: str, pid: int, *, ppid: int | None = None, runtime: str | None = None,
                       argv0: str | None = None, how: str = "in-process") -> None:
        self._put(("process", {"run_id": run_id, "pid": pid, "ppid": ppid, "runtime": runtime,
                               "argv0": argv0, "how": how, "ts": time.time()}))

    def record_tunnels(self, run_id: str, hosts: Mapping[str, int]) -> None:
        if hosts:
            self._put(("tunnels", {"run_id": run_id, "hosts": dict(hosts)}))

    def _put(self, item: Any) -> None:
        self._q.append(item)  # run and process rows are few: never dropped

    # -- lifecycle ------------------------------------------------------------
    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything submitted so far is written (tests, CLI one-shots)."""
        if self._closed or not self._thread.is_alive():
            return False
        done = threading.Event()
        self._q.append(done)
        self._wake.set()
        return done.wait(timeout)

    def close(self, timeout: float = 10.0) -> None:
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        self._q.append(_CLOSE)
        self._wake.set()
        self._thread.join(timeout)
        if self._child is not None:
            self._stop_child(timeout)
        if not self._thread.is_alive():
            self.store.close()

    def _stop_child(self, timeout: float) -> None:
        child, self._child = self._child, None
        try:
            child.stdin.close()  # its end of input: it writes what it has and exits
        except OSError:
            pass
        try:
            child.wait(timeout)
        except Exception:
            child.kill()

    # -- writer thread ---------------------------------------------------------
    def _run(self) -> None:
        stop, idle = False, self._linger
        while not stop:
            if not self._q:  # nothing came: look again later and later (up to 1 s), or when flushed
                self._wake.wait(max(idle, 0.001))
                self._wake.clear()
                idle = min(1.0, idle * 2)
                continue
            idle = self._linger
            items = []
            while self._q and len(items) < self._batch:
                items.append(self._q.popleft())
            stop = any(it is _CLOSE for it in items)
            try:
                self._hand_on(items)
            except Exception as e:  # the thread must outlive any one bad batch
                log.warning("telemetry: batch failed: %s", e)
            if not stop and self._linger > 0 and len(self._q) < self._batch:
                self._wake.wait(self._linger)  # a burst's worth per transaction, not one a call
                self._wake.clear()

    def _hand_on(self, items: list) -> None:
        """To the writer process; to this thread's RowWriter when there is none (or it died)."""
        events = [it for it in items if isinstance(it, threading.Event)]
        if self._child is not None:
            try:
                self._send(items, events)
                return
            except (OSError, ValueError, EOFError) as e:
                log.warning("telemetry: the writer process failed (%s); writing in-process", e)
                self._child = None
        records = []
        for it in items:
            if isinstance(it, CallRecord):
                records.append(it)
            elif isinstance(it, tuple) and len(it) == 2:
                self.rows.write_meta(*it)
            # anything else was handed to submit() by mistake: dropped, never raised
        if records:
            self.rows.write_records(records)
        for ev in events:
            ev.set()

    def _send(self, items: list, events: list) -> None:
        from dario.store.writer import as_values, frame
        calls = [it for it in items if isinstance(it, CallRecord)]
        out = [("call", as_values(it)) for it in calls]
        out += [("meta", it[0], it[1]) for it in items if isinstance(it, tuple) and len(it) == 2
                and isinstance(it[1], dict)]
        if events:
            self._flushes += 1
            out.append(("flush", self._flushes))
        here: list = []  # records holding a value marshal cannot carry (never the pipeline's own)
        try:
            data = frame(out)
        except ValueError:
            plain = [_plain(o) for o in out]
            here = [rec for rec, ok in zip(calls, plain) if not ok]  # calls lead `out`
            data = frame([o for o, ok in zip(out, plain) if ok])
        child = self._child
        child.stdin.write(data)
        child.stdin.flush()
        if here:
            self.rows.write_records(here)
        if events:
            if len(child.stdout.read(8)) < 8:
                raise EOFError("the writer process ended")
            for ev in events:
                ev.set()


def _plain(obj) -> bool:
    import marshal
    try:
        marshal.dumps(obj)
        return True
    except ValueError:
        return False


def _package_root() -> str:
    """The directory dario is imported from, first on the writer's PYTHONPATH (the same dario, even
    from a checkout that is not installed)."""
    import dario
    root = str(Path(dario.__file__).resolve().parent.parent)
    extra = os.environ.get("PYTHONPATH")
    return root + (os.pathsep + extra if extra else "")


def open_recorder(home: Path | str, config: Any = None, extra_secrets: Sequence[str] = ()) -> BackgroundRecorder:
    """The recorder a proxy or shim host uses, set up from config.json (telemetry, keys).

    Every key dario knows of, stored or named by env:VAR, is masked as a literal too,
    so even a key in an unusual shape never reaches the store. Records arrive priced
    (the pipeline prices each call once, as it finishes).
    """
    telemetry = dict(getattr(config, "telemetry", None) or {})
    secrets = [*(config.secret_values() if config is not None else ()), *extra_secrets]
    return BackgroundRecorder(Path(home) / "telemetry.db",
                              capture_bodies=bool(telemetry.get("capture_bodies", True)),
                              body_cap=int(telemetry.get("body_cap_bytes") or DEFAULT_BODY_CAP),
                              secrets=secrets)
