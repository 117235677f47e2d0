"""dario's Python injector, loaded as `sitecustomize` because `dario shim` puts this directory first
on the child's PYTHONPATH.

Contract: docs/architecture.md, "The shim relay protocol". In short: calls to DARIO_SHIM_HOSTS or under
DARIO_SHIM_FALLBACK are relayed as plain HTTP/1.1 over the unix socket DARIO_SHIM_SOCK with
x-dario-token / x-dario-target / x-dario-pid, bodies streamed both ways; the caller sees the host's
status, headers and body with the original request (so `response.url` is unchanged).

Rules this file keeps:
- stdlib only, and cheap at start-up: only os and sys (and the import system's own modules) are touched here;
  httpx, httpx2 and urllib3 are patched by a meta-path hook right after the program imports them.
- never stdout, never a crash or hang of the child: every patch and every relay decision is wrapped; a
  failure leaves the library as it was (debug lines to stderr only with DARIO_DEBUG=1).
- fail open when the host is gone, except for strict calls, which get the library's own connect error
  with a message starting "dario:".
- chain to the `sitecustomize` the child would have loaded without us, exactly once, last, and without
  catching its errors, so they surface through site.py exactly as they would have.

This file only bootstraps, and parses under any Python (a Python 2 grandchild must not see an "import
sitecustomize failed" line): the work is in _dario_injector.py, imported on Python 3.6+ when
DARIO_SHIM_SOCK and DARIO_SHIM_TOKEN are set.
"""

import os
import sys


def _next_sitecustomize_path():
    """sys.path after this directory (never this directory again, however often it is listed): where
    the sitecustomize the child would have loaded without us is looked for."""
    def norm(p):
        return os.path.normcase(os.path.abspath(p or os.curdir))

    here = norm(os.path.dirname(__file__))
    entries = [p for p in sys.path if isinstance(p, str)]
    normed = [norm(p) for p in entries]
    start = normed.index(here) + 1 if here in normed else 0
    return [p for p, n in zip(entries[start:], normed[start:]) if n != here]


def _import_system():
    """PathFinder and module_from_spec from the import system's own modules, loaded in every Python 3.5+
    before site.py runs. Importing importlib.util instead loads contextlib, collections and functools into
    a child that may never use them: +45 % of a bare Debian python3's start-up, whose own sitecustomize
    (apport's) makes every child chain."""
    external, bootstrap = sys.modules.get("_frozen_importlib_external"), sys.modules.get("_frozen_importlib")
    if hasattr(external, "PathFinder") and hasattr(bootstrap, "module_from_spec"):
        return external.PathFinder, bootstrap.module_from_spec
    from importlib.machinery import PathFinder
    from importlib.util import module_from_spec

    return PathFinder, module_from_spec


def _chain():
    py2 = sys.version_info[0] < 3
    try:
        path = _next_sitecustomize_path()
        if py2:
            import imp

            found = imp.find_module("sitecustomize", path)  # ImportError: there is none
        else:
            path_finder, module_from_spec = _import_system()
            spec = path_finder.find_spec("sitecustomize", path)
            if spec is None or spec.loader is None:
                return
            module = module_from_spec(spec)
    except Exception:
        return
    # It takes our place as `sitecustomize`; its errors propagate to site.py, which reports them exactly
    # as it would have without dario (and the import system drops the half-made module).
    if py2:
        try:
            imp.load_module("sitecustomize", *found)
        finally:
            if found[0]:
                found[0].close()
    else:
        sys.modules["sitecustomize"] = module
        spec.loader.exec_module(module)


if __name__ == "sitecustomize":
    if sys.version_info >= (3, 6) and os.environ.get("DARIO_SHIM_SOCK") and os.environ.get("DARIO_SHIM_TOKEN"):
        # its bytecode is written even under PYTHONDONTWRITEBYTECODE (into dario's own __pycache__, when
        # writable): compiling it at every start would cost each process ~10 ms
        _dont_write = sys.dont_write_bytecode
        try:
            sys.dont_write_bytecode = False
            import _dario_injector  # noqa: F401  (installs the hooks; never raises)
        except Exception:
            pass
        finally:
            sys.dont_write_bytecode = _dont_write
    _chain()
