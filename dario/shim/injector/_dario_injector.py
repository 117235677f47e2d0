"""dario's Python injector, the part that runs at start-up (Python 3.6+ only): imported by this
directory's sitecustomize.py when the DARIO_SHIM_* variables are set, it says hello and sets a meta-path
hook; the relays (_dario_patches.py) are loaded when the program first imports a library they patch.
See sitecustomize.py for the rules it keeps."""


import os
import sys

_ENV = os.environ
_SOCK = _ENV.get("DARIO_SHIM_SOCK", "")
_TOKEN = _ENV.get("DARIO_SHIM_TOKEN", "")
_DEBUG = _ENV.get("DARIO_DEBUG") == "1"


def _debug(msg):
    if _DEBUG:
        try:
            sys.stderr.write("dario[py %d]: %s\n" % (os.getpid(), msg))
        except Exception:
            pass


# -- lazy patching -------------------------------------------------------------------------------------

_PATCHED = frozenset(("httpx", "httpx2", "urllib3", "http.client", "aiohttp"))
_patchers = None


def _load_patchers():
    """The relays, imported once. Their bytecode is written even under PYTHONDONTWRITEBYTECODE, as
    sitecustomize does for this module: compiling them in every process would cost it ~10 ms."""
    global _patchers
    if _patchers is None:
        dont_write = sys.dont_write_bytecode
        try:
            sys.dont_write_bytecode = False
            import _dario_patches
        finally:
            sys.dont_write_bytecode = dont_write
        _patchers = _dario_patches.PATCHERS
    return _patchers


def _patch(name, module):
    try:
        _load_patchers()[name](module)
        _debug("patched %s" % name)
    except Exception as e:  # a half-applied patch is impossible: each assigns its methods last
        _debug("could not patch %s: %r" % (name, e))


class _Finder:
    """Meta-path hook: lets the normal finders find httpx/httpx2/urllib3, then patches each right after
    its package has executed. Every other import costs one set lookup."""

    def find_spec(self, name, path=None, target=None):
        if name not in _PATCHED:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        exec_module = getattr(loader, "exec_module", None)
        if exec_module is None:
            return spec
        if getattr(exec_module, "_dario", False):
            return spec

        def patched_exec_module(module):
            exec_module(module)
            _patch(name, module)

        patched_exec_module._dario = True
        try:
            loader.exec_module = patched_exec_module
        except Exception:
            pass
        return spec


# -- hello ---------------------------------------------------------------------------------------------

def _json(value):
    """Minimal JSON for str/int/list (no json import at start-up)."""
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_json(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join("%s:%s" % (_json(k), _json(v)) for k, v in value.items()) + "}"
    out = []
    for ch in str(value):
        o = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif 0x20 <= o < 0x7f:
            out.append(ch)
        elif o < 0x10000:  # also lone surrogates from undecodable argv bytes
            out.append("\\u%04x" % o)
        else:
            o -= 0x10000
            out.append("\\u%04x\\u%04x" % (0xD800 + (o >> 10), 0xDC00 + (o & 0x3FF)))
    return '"' + "".join(out) + '"'


def _hello():
    """Write hello-<pid>.json into the host's private directory: one small synchronous write, no socket,
    nothing to wait for. Renamed into place so the host never reads half a file; the host reads it when
    it first meets this pid, and at exit. If the host is gone the hello is simply lost."""
    argv = list(getattr(sys, "orig_argv", None) or [sys.executable] + getattr(sys, "argv", []))
    argv = [a[:4096] for a in argv[:256]]
    body = _json({"pid": os.getpid(), "ppid": os.getppid(), "runtime": "python",
                  "argv0": argv[0] if argv else sys.executable, "argv": argv}).encode("ascii")
    path = os.path.join(os.path.dirname(_SOCK), "hello-%d.json" % os.getpid())
    try:
        fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, body)
        finally:
            os.close(fd)
        os.rename(path + ".tmp", path)
    except OSError as e:
        _debug("hello not written: %s" % e)


# -- start-up ------------------------------------------------------------------------------------------

def _install():
    if not (_SOCK and _TOKEN):
        return
    sys.meta_path.insert(0, _Finder())
    for name in _PATCHED:  # imported before us (e.g. by a .pth file)
        if name in sys.modules:
            _patch(name, sys.modules[name])
    try:
        _hello()
    except Exception as e:
        _debug("hello failed: %r" % e)
    _debug("installed")


try:
    _install()
except Exception as _e:
    _debug("install failed: %r" % _e)
