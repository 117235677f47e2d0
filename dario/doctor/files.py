"""Checks of what lives on disk: DARIO_HOME's modes, config, credentials, the store, the sub-agent."""

from __future__ import annotations

import os
import shlex
import sqlite3
import stat
from pathlib import Path

from dario.doctor import FAIL, OK, WARN, Context, Row
from dario.store.home import load_json


def _parse(path: Path) -> dict | None:
    """The file's JSON object, None if absent. Unlike store.home.read_json, a bad file stays put."""
    try:
        return load_json(path, dict)
    except ValueError as e:
        raise ValueError(f"{e}: fix it, or move it aside to start empty") from None


def read_config(home: Path):
    """load_config, minus its side effect of moving a corrupt file aside (doctor only looks)."""
    from dario.store.config import load_config

    for name in ("config.json", "credentials.json"):
        _parse(home / name)
    return load_config(home)


def check_home(ctx: Context) -> Row:
    home = ctx.home
    try:
        st = home.lstat()
    except FileNotFoundError:
        return Row("home", OK, f"{home} not created yet (made 0700 on first use)")
    if not stat.S_ISDIR(st.st_mode):
        return Row("home", FAIL, f"{home} is not a directory")
    if st.st_uid != os.getuid():
        return Row("home", FAIL, f"{home} belongs to uid {st.st_uid}, not you ({os.getuid()})")
    fixes: list[tuple[str, Path, int]] = []  # (chmod mode, path, current mode)
    if st.st_mode & 0o077:
        fixes.append(("700", home, st.st_mode))
    for p in sorted(home.rglob("*")):
        try:
            m = p.lstat().st_mode
        except FileNotFoundError:  # a -wal/-shm or temp file that came and went
            continue
        if stat.S_ISLNK(m) or stat.S_ISSOCK(m) or not m & 0o077:
            continue
        fixes.append(("700" if stat.S_ISDIR(m) else "600", p, m))
    if not fixes:
        return Row("home", OK, f"{home} (0700, files 0600)")
    loose = ", ".join(f"{p.name or p} is {oct(m & 0o777)[2:]}" for _, p, m in fixes[:3])
    cmd = " && ".join(f"chmod {mode} {shlex.quote(str(p))}" for mode, p, _ in fixes)
    return Row("home", FAIL, f"readable by others ({loose}{', …' if len(fixes) > 3 else ''}); fix: {cmd}")


def check_config(ctx: Context) -> Row:
    path = ctx.home / "config.json"
    try:
        raw = _parse(path)
    except ValueError as e:
        return Row("config", FAIL, str(e))
    if raw is None:
        return Row("config", OK, "no config.json yet (defaults)")
    cfg = ctx.config
    if cfg is None:  # valid JSON, yet it didn't load: a bad credentials.json (its own row) or a bad shape
        if _credentials_fault(ctx):
            return Row("config", OK, f"{path} parses")
        return Row("config", FAIL, ctx.config_error or "does not load")
    default = f", default {cfg.default_backend}" if cfg.default_backend else ""
    return Row("config", OK, f"{len(cfg.backends)} backend(s){default}, {len(cfg.aliases)} alias(es)")


def _credentials_fault(ctx: Context) -> bool:
    try:
        _parse(ctx.home / "credentials.json")
        return False
    except ValueError:
        return True


def check_credentials(ctx: Context) -> Row:
    path = ctx.home / "credentials.json"
    try:
        creds = _parse(path)
    except ValueError as e:
        return Row("credentials", FAIL, str(e))
    if creds is None:
        return Row("credentials", OK, "no credentials.json (no stored keys)")
    backends = creds.get("backends") or {}
    if not isinstance(backends, dict):
        return Row("credentials", FAIL, f"{path}: \"backends\" must be an object")
    bad = [n for n, v in backends.items()
           if not isinstance(v, dict) or not all(isinstance(k, str) for k in v.get("keys", []) or [])]
    if bad:
        return Row("credentials", FAIL, f"{path}: malformed entries for {', '.join(bad)} "
                                        f"(expected {{\"keys\": [\"…\"]}})")
    n_keys = sum(len(v.get("keys") or []) for v in backends.values())
    detail = f"{n_keys} key(s) for {len(backends)} backend(s)"
    cfg = ctx.config
    orphans = [n for n in backends if cfg is not None and n not in cfg.backends]
    if orphans:
        return Row("credentials", WARN, f"{detail}; keys for unconfigured backend(s): {', '.join(orphans)}")
    return Row("credentials", OK, detail)


def check_telemetry(ctx: Context) -> Row:
    from dario.store.telemetry import SCHEMA_VERSION

    db = ctx.home / "telemetry.db"
    if not db.exists():
        return Row("telemetry", OK, "no calls recorded yet")
    size = sum(os.path.getsize(f"{db}{s}") for s in ("", "-wal", "-shm") if os.path.exists(f"{db}{s}"))
    # read-only: opening a TelemetryStore would migrate, and doctor changes nothing
    try:
        conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
        try:
            version = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] or 0
            calls = conn.execute("SELECT COUNT(*) FROM calls").fetchone()[0] if version else 0
        finally:
            conn.close()
    except sqlite3.DatabaseError as e:
        if "no such table" in str(e):
            return Row("telemetry", WARN, f"{db}: schema not initialised yet (done on next use)")
        return Row("telemetry", FAIL, f"{db} is unreadable ({e}): move it aside and dario starts a new one")
    detail = f"schema v{version}, {size / 1e6:.1f} MB, {calls} call(s)"
    if version > SCHEMA_VERSION:
        return Row("telemetry", FAIL, f"{detail}: written by a newer dario (this one knows v{SCHEMA_VERSION}); "
                                      f"upgrade dario")
    if version < SCHEMA_VERSION:
        return Row("telemetry", WARN, f"{detail}: upgraded to v{SCHEMA_VERSION} on next use")
    return Row("telemetry", OK, detail)


def check_subagent(ctx: Context) -> Row:
    from dario import subagent

    st = subagent.state()
    detail = f"{st.path}: {st.describe()}"
    if st.status == subagent.CURRENT or st.status == subagent.ABSENT:
        return Row("subagent", OK, detail)
    return Row("subagent", WARN, detail)
