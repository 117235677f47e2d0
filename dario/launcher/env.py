"""The child's environment: every injection dario uses, each with the reason it is there.

Real keys never enter it: dario's own keys stay in the host, variables that dario reads
keys from (`env:VAR`) are removed, and a child with no key of its own gets the per-run
token, which is worthless anywhere but this run's host.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import dario

PAYLOAD = Path(dario.__file__).parent / "js_payload" / "payload.cjs"
INJECTOR_DIR = Path(dario.__file__).parent / "shim" / "injector"
BASE_URL_VARS = {"ANTHROPIC_BASE_URL": "anthropic", "OPENAI_BASE_URL": "openai", "OPENAI_API_BASE": "openai",
                 "GOOGLE_GEMINI_BASE_URL": "gemini"}
KEY_VARS = {"anthropic": ("ANTHROPIC_API_KEY", ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN")),
            "openai": ("OPENAI_API_KEY", ("OPENAI_API_KEY",)),
            "gemini": ("GEMINI_API_KEY", ("GEMINI_API_KEY", "GOOGLE_API_KEY"))}
FALLBACK_TAILS = {"anthropic": "anthropic", "openai": "openai/v1", "gemini": "gemini"}  # under the fallback prefix
# What reaches a child of each kind without a base URL (launcher/detect.py); every kind gets every
# door anyway, since a Node launcher may start a native binary and a script may start anything.
_CAUGHT_BY = {"node": "a Node child: the payload catches its calls in-process",
              "bun": "a Bun child: the payload (BUN_OPTIONS) or the HTTPS proxy catches its calls",
              "python": "a Python child: the injector catches its calls in-process",
              "native": "a native child: the HTTPS proxy catches its calls",
              "script": "the payload, the injector or the HTTPS proxy catches the calls of whatever it runs"}
DEFAULT_HOSTS = ("api.anthropic.com", "api.openai.com", "generativelanguage.googleapis.com")


@dataclass
class ChildEnv:
    env: dict[str, str]
    set: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (value shown, why)
    removed: dict[str, str] = field(default_factory=dict)  # name -> why
    kept: dict[str, str] = field(default_factory=dict)  # name -> why dario left it as it was


def original_bases(environ: dict[str, str]) -> dict[str, str]:
    """The user's own base URLs: the fallback forwards there instead of the public API."""
    out = {}
    for var, provider in BASE_URL_VARS.items():
        if environ.get(var) and provider not in out:
            out[provider] = environ[var]
    return out


def _payload_path(private_dir: str) -> str:
    # NODE_OPTIONS splits on spaces; a path with one is copied somewhere without
    path = str(PAYLOAD)
    if " " in path:
        for part in PAYLOAD.parent.glob("*.cjs"):  # the stub and the relay it loads from beside it
            (Path(private_dir) / part.name).write_bytes(part.read_bytes())
        path = str(Path(private_dir) / PAYLOAD.name)
    return path


def precompile_injector() -> None:
    """Write the injector's bytecode for this Python when it is missing or stale. Python reads a .pyc
    even under PYTHONDONTWRITEBYTECODE (set in many containers) but never writes one then, and compiling
    the injector cost each Python child ~12 ms of start-up (bench/). Best effort: a read-only install
    just compiles as before. The injector writes its own for other Python versions (sitecustomize.py)."""
    try:
        import importlib.util
        import py_compile
        for name in ("sitecustomize.py", "_dario_injector.py", "_dario_patches.py"):
            src = INJECTOR_DIR / name
            pyc = Path(importlib.util.cache_from_source(str(src)))
            if not pyc.exists() or pyc.stat().st_mtime < src.stat().st_mtime:
                py_compile.compile(str(src), cfile=str(pyc), doraise=True)
    except Exception:
        pass


def build_child_env(environ: dict[str, str], *, socket_path: str, token: str, fallback: str, hosts: list[str],
                    strict: list[str], private_dir: str, observe: bool = False,
                    key_env_refs: list[str] = (), https_proxy: str | None = None,
                    ca_bundle: str | None = None, node_ca: str | None = None, base_url: bool = False,
                    kind: str = "script") -> ChildEnv:
    env = dict(environ)
    out = ChildEnv(env)

    def put(name: str, value: str, why: str, shown: str | None = None) -> None:
        env[name] = value
        out.set[name] = (shown if shown is not None else value, why)

    for var in key_env_refs:
        if var in env:
            del env[var]
            out.removed[var] = "dario reads a backend key from it; the child never holds real keys"

    payload = _payload_path(private_dir) if PAYLOAD.is_file() else str(PAYLOAD)
    put("DARIO_SHIM_SOCK", socket_path, "the host's private unix socket (0600, in a 0700 dir)")
    put("DARIO_SHIM_TOKEN", token, "this run's token: the only credential the host accepts", "dario-run-…")
    put("DARIO_SHIM_HOSTS", ",".join(hosts), "calls to these hosts are relayed to the host")
    put("DARIO_SHIM_FALLBACK", fallback, "URLs under this prefix are the base-URL fallback",
        fallback.replace(token, "<token>"))
    put("DARIO_SHIM_STRICT", ",".join(strict),
        "if the host is gone, calls to these hosts fail with a dario error instead of going direct")
    node_opts = env.get("NODE_OPTIONS", "")
    if not PAYLOAD.is_file():  # a broken install must not stop every Node program from starting
        out.removed["NODE_OPTIONS/BUN_OPTIONS (not set)"] = f"the payload {PAYLOAD} is missing: reinstall dario"
    elif payload not in node_opts:
        put("NODE_OPTIONS", f"--require {payload}" + (f" {node_opts}" if node_opts else ""),
            "Node children load the payload, which patches fetch and http(s)")
    bun_opts = env.get("BUN_OPTIONS", "")
    if PAYLOAD.is_file() and payload not in bun_opts:
        put("BUN_OPTIONS", f"--preload={shlex.quote(payload) if ' ' in payload else payload}"
            + (f" {bun_opts}" if bun_opts else ""), "Bun-compiled children preload the payload")
    py = env.get("PYTHONPATH", "")
    put("PYTHONPATH", str(INJECTOR_DIR) + (os.pathsep + py if py else ""),
        "Python children import dario's sitecustomize, which patches httpx, httpx2 and requests")
    if base_url:  # --base-url: the old fallback, for programs that honour nothing else
        for var, provider in BASE_URL_VARS.items():
            tail = FALLBACK_TAILS[provider]
            put(var, fallback + tail, "--base-url: the fallback door, for programs that honour base URLs but "
                "neither NODE_OPTIONS/PYTHONPATH nor HTTPS_PROXY", (fallback + tail).replace(token, "<token>"))
    else:
        own = [v for v in BASE_URL_VARS if environ.get(v)]
        for var in own:
            out.kept[var] = "your own base URL, unchanged: dario intercepts its host"
        rest = [v for v in BASE_URL_VARS if v not in own]
        if rest:
            out.kept[", ".join(rest) + " (not set)"] = (
                f"{_CAUGHT_BY.get(kind, _CAUGHT_BY['script'])}, so no base URL is changed; "
                "--base-url sets them for programs that honour nothing else")
    if https_proxy:  # programs that honour only HTTPS_PROXY (Codex CLI, Go/Rust CLIs, curl)
        shown = https_proxy.replace(token, "<token>")
        own = env.get("HTTPS_PROXY") or env.get("https_proxy")
        why = ("the host's HTTPS proxy: intercepted LLM hosts are answered by dario, every other host is a "
               "blind tunnel" + (" through your own proxy, which it chains" if own else ""))
        for var in ("HTTPS_PROXY", "https_proxy"):
            put(var, https_proxy, why, shown)
        no_proxy = [h for h in (env.get("NO_PROXY") or env.get("no_proxy") or "").split(",") if h.strip()]
        for var in ("NO_PROXY", "no_proxy"):
            put(var, ",".join(dict.fromkeys(no_proxy + ["127.0.0.1", "localhost", "::1"])),
                "loopback (the host itself, local servers) never goes through the proxy")
    if ca_bundle:  # OpenSSL, Go and rustls-native-certs read SSL_CERT_FILE; curl and requests their own
        for var in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
            put(var, ca_bundle, "the system's CAs" + (" and yours" if environ.get(var) else "")
                + " plus this user's dario CA, which signs the certificates of intercepted hosts")
    if node_ca:  # Node adds these to its own roots
        put("NODE_EXTRA_CA_CERTS", node_ca, "this user's dario CA" + (" after yours" if environ.get(
            "NODE_EXTRA_CA_CERTS") else "") + ", for Node code the payload does not patch")
    if not observe:
        for provider, (var, any_of) in KEY_VARS.items():
            if not any(env.get(v) for v in any_of):
                put(var, token, f"the child had no {provider} key: the run token stands in, valid only "
                                f"against this host for this run", "dario-run-…")
    return out
