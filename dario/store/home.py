"""DARIO_HOME: where dario keeps config, credentials and telemetry.

The directory is 0700 and every file in it 0600. Writes are atomic (temp file in the
same directory, fsync, rename), so a crash never leaves half a file. A file that no
longer parses is moved aside, never overwritten, and the error names both paths.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any


class CorruptFileError(Exception):
    """A file under DARIO_HOME does not parse."""


def dario_home() -> Path:
    return Path(os.environ.get("DARIO_HOME") or Path.home() / ".dario").expanduser()


def home_fingerprint(home: Path) -> str:
    """A short, non-reversible name for a DARIO_HOME (the proxy's /health says which home it serves)."""
    import hashlib
    return hashlib.sha256(str(Path(home).expanduser().resolve()).encode()).hexdigest()[:12]


def ensure_home(home: Path | None = None) -> Path:
    home = home or dario_home()
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    if home.stat().st_mode & 0o077:
        os.chmod(home, 0o700)
    return home


def atomic_write(path: Path, data: bytes) -> None:
    ensure_home(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_json(path: Path, value: Any) -> None:
    atomic_write(path, (json.dumps(value, indent=2, sort_keys=True) + "\n").encode())


def load_json(path: Path, kind: type) -> Any:
    """The file's JSON value of type `kind`, None when it does not exist.

    A file that does not parse raises ValueError naming it, and is left as it is.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        value = json.loads(raw)
    except ValueError as e:
        raise ValueError(f"{path} is not valid JSON ({e})") from None
    if not isinstance(value, kind):
        raise ValueError(f"{path} holds a JSON {type(value).__name__}, not a JSON {kind.__name__}")
    return value


def read_json(path: Path, default: Any) -> Any:
    """The parsed file, `default` when it does not exist; a corrupt file is moved aside."""
    try:
        value = load_json(path, type(default))
    except ValueError as e:
        aside = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
        os.replace(path, aside)
        raise CorruptFileError(
            f"{e}. It was kept as {aside}; dario starts from an empty "
            f"{path.name} until you restore or fix it.") from None
    return default if value is None else value
