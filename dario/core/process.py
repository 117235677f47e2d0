"""dario's own process: it holds real keys in memory, so it must never leave a core file; and
it serves calls for hours, so what start-up built is kept out of the garbage collector's way.

On Linux `prctl(PR_SET_DUMPABLE, 0)` stops core dumps (and ptrace by other processes of the
user) for dario alone: the kernel resets the flag when a child execs, so children keep their
own core settings. Elsewhere RLIMIT_CORE 0 does the same for dario, and `child_preexec`
gives a child back the limit dario started with.
"""

from __future__ import annotations

import sys

PR_SET_DUMPABLE = 4
_saved_core_limit = None


def no_core_dumps() -> bool:
    """Make this process non-dumpable; True when that took effect."""
    global _saved_core_limit
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            libc = ctypes.CDLL(None, use_errno=True)
            return libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0
        except (OSError, AttributeError):
            pass
    try:
        import resource
        _saved_core_limit = resource.getrlimit(resource.RLIMIT_CORE)
        resource.setrlimit(resource.RLIMIT_CORE, (0, _saved_core_limit[1]))
        return True
    except (ImportError, OSError, ValueError):
        return False


def child_preexec() -> None:
    """Run in a child before exec: its core limit as dario found it (non-Linux only)."""
    if _saved_core_limit is not None:
        import resource
        try:
            resource.setrlimit(resource.RLIMIT_CORE, _saved_core_limit)
        except (OSError, ValueError):
            pass


def dumpable() -> bool | None:
    """Whether this process may dump core now (None: cannot tell here)."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            return ctypes.CDLL(None).prctl(3, 0, 0, 0, 0) == 1  # PR_GET_DUMPABLE
        except (OSError, AttributeError):
            return None
    try:
        import resource
        return resource.getrlimit(resource.RLIMIT_CORE)[0] != 0
    except ImportError:
        return None


def settle_heap() -> None:
    """Once serving: move everything start-up made (modules, config, typer's and rich's objects) out of
    the collector's generations, so the collections that calls' garbage triggers do not walk it again
    (bench/: ~12 % of a proxied call's CPU)."""
    import gc
    gc.collect()
    gc.freeze()
