"""What kind of program a command is: decides which injection will reach it, and is shown
by --print-env. Every kind gets the whole environment anyway, since grandchildren may differ."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass

BUN_MARKER = b"---- Bun! ----"  # trailer of `bun build --compile` executables


@dataclass(frozen=True)
class ChildKind:
    kind: str  # "node" | "bun" | "python" | "native" | "script" | "missing"
    path: str | None
    why: str


def _tail(path: str, n: int = 256 * 1024) -> bytes:
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        f.seek(max(0, size - n))
        return f.read()


def detect(argv0: str) -> ChildKind:
    path = shutil.which(argv0) if os.sep not in argv0 else argv0
    if not path or not os.path.exists(path):
        return ChildKind("missing", None, f"{argv0}: command not found")
    real = os.path.realpath(path)
    name = os.path.basename(real)
    try:
        with open(real, "rb") as f:
            head = f.read(256)
    except OSError as e:
        return ChildKind("native", real, f"cannot read {real}: {e.strerror}")
    if head.startswith(b"#!"):
        line = head.split(b"\n", 1)[0].decode("utf-8", "replace")
        if "node" in line or "bun" in line:
            return ChildKind("node" if "node" in line else "bun", real, f"script run by `{line[2:].strip()}`")
        if "python" in line:
            return ChildKind("python", real, f"script run by `{line[2:].strip()}`")
        return ChildKind("script", real, f"script run by `{line[2:].strip()}`")
    if name.startswith("node") or name.endswith((".js", ".cjs", ".mjs")):
        return ChildKind("node", real, "the Node.js runtime or a Node script")
    if name.startswith("python"):
        return ChildKind("python", real, "the Python interpreter")
    if name.startswith("bun"):
        return ChildKind("bun", real, "the Bun runtime")
    if head.startswith(b"\x7fELF") or head[:4] in (b"\xcf\xfa\xed\xfe", b"\xca\xfe\xba\xbe"):
        try:
            if BUN_MARKER in _tail(real):
                return ChildKind("bun", real, "a Bun-compiled executable: BUN_OPTIONS preloads the payload, "
                                              "the base-URL fallback catches what it does not see")
        except OSError:
            pass
        return ChildKind("native", real, "a native executable: served by the base-URL fallback")
    return ChildKind("script", real, "not a known runtime: served by the base-URL fallback")
