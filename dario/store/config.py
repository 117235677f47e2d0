"""config.json (everything but secrets) and credentials.json (the keys), both 0600.

Keys live apart from the rest so config.json can be shown, copied or diffed freely.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dario.core.defaults import CAPTURE_CAP, TIMEOUTS
from dario.pipeline.backends import KINDS, KNOWN, Backend
from dario.store.home import dario_home, read_json, write_json

DEFAULT_TELEMETRY = {"capture_bodies": True, "body_cap_bytes": CAPTURE_CAP, "otlp_endpoint": None}
DEFAULT_TIMEOUTS = dict(TIMEOUTS)


class ConfigError(Exception):
    pass


@dataclass
class Config:
    home: Path
    backends: dict[str, Backend] = field(default_factory=dict)
    default_backend: str | None = None
    aliases: dict[str, str] = field(default_factory=dict)
    telemetry: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_TELEMETRY))
    prices: dict[str, dict[str, float]] = field(default_factory=dict)
    timeouts: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_TIMEOUTS))
    limits: dict[str, dict[str, int]] = field(default_factory=dict)  # backend -> {"rpm", "max_concurrency"}
    extra: dict[str, Any] = field(default_factory=dict)  # sections other modules own

    @property
    def config_path(self) -> Path:
        return self.home / "config.json"

    @property
    def credentials_path(self) -> Path:
        return self.home / "credentials.json"

    def secret_values(self) -> list[str]:
        """Every key dario knows of, stored or read from env:VAR now: what must never appear in output.
        The one source of the secret set: the pipeline, the recorder and doctor all start from it."""
        out = []
        for b in self.backends.values():
            for k in b.keys:
                value = os.environ.get(k[4:]) if k.startswith("env:") else k
                if value:
                    out.append(value)
        return out

    def save(self) -> None:
        backends = {
            name: {"kind": b.kind, "base_url": b.base_url, **({"models": b.models} if b.models else {}),
                   **({"responses": b.responses} if b.responses is not None else {}),
                   **self.limits.get(name, {})}
            for name, b in self.backends.items()
        }
        data = {**self.extra, "backends": backends, "default_backend": self.default_backend,
                "aliases": self.aliases, "telemetry": self.telemetry, "prices": self.prices,
                "timeouts": self.timeouts}
        write_json(self.config_path, data)
        write_json(self.credentials_path,
                   {"backends": {n: {"keys": b.keys} for n, b in self.backends.items() if b.keys}})

    # -- backend edits (the CLI's verbs) ----------------------------------
    def add_backend(self, name: str, keys: list[str], base_url: str | None = None,
                    kind: str | None = None, rpm: int | None = None,
                    max_concurrency: int | None = None, responses: bool | None = None) -> Backend:
        if not name or ":" in name or "/" in name:
            raise ConfigError(f"invalid backend name {name!r}: use letters, digits, '-' or '_'")
        known = KNOWN.get(name)
        if base_url is None:
            if known is None:
                raise ConfigError(f"{name!r} is not a known provider ({', '.join(sorted(KNOWN))}); "
                                  f"give its --base-url (and --kind if it speaks the Anthropic protocol)")
            base_url = known[0]
        if kind is None:
            kind = known[1] if known else "openai"
        if kind not in KINDS:
            raise ConfigError(f"--kind must be one of {', '.join(KINDS)}, not {kind!r}")
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"--base-url must start with http:// or https://, got {base_url!r}")
        needs_key = known[2] if known else not Backend(name, kind, base_url).is_local
        if needs_key and not keys:
            raise ConfigError(f"backend {name!r} needs --key KEY (or --key env:VAR)")
        limits = {k: v for k, v in (("rpm", rpm), ("max_concurrency", max_concurrency)) if v is not None}
        if any(not isinstance(v, int) or v < 1 for v in limits.values()):
            raise ConfigError("--rpm and --max-concurrency must be whole numbers of at least 1")
        if responses is not None and kind != "openai":
            raise ConfigError("--responses/--no-responses is a setting of openai-kind backends")
        backend = Backend(name, kind, base_url.rstrip("/"), list(dict.fromkeys(keys)), responses=responses)
        self.backends[name] = backend
        if limits:
            self.limits[name] = limits
        else:
            self.limits.pop(name, None)  # add replaces: limits go with the old definition
        if self.default_backend is None:
            self.default_backend = name
        return backend

    def remove_backend(self, name: str) -> None:
        if name not in self.backends:
            raise ConfigError(f"no backend named {name!r}; configured: {', '.join(self.backends) or 'none'}")
        del self.backends[name]
        self.limits.pop(name, None)
        if self.default_backend == name:
            self.default_backend = next(iter(self.backends), None)

    def _backend(self, name: str) -> Backend:
        if name not in self.backends:
            raise ConfigError(f"no backend named {name!r}; configured: {', '.join(self.backends) or 'none'}")
        return self.backends[name]

    def add_key(self, name: str, key: str) -> Backend:
        """One more key in a backend's pool (a literal key or env:VAR)."""
        b = self._backend(name)
        if not key or key.strip() != key or key == "env:":
            raise ConfigError("the key must be non-empty, without surrounding spaces")
        if key in b.keys:
            raise ConfigError(f"backend {name!r} already has that key")
        b.keys.append(key)
        return b

    def remove_key(self, name: str, key: str) -> Backend:
        """Drop a key, named by itself, its env:VAR reference or its fingerprint (key-…)."""
        from dario.pipeline.keys import key_id
        b = self._backend(name)
        match = [k for k in b.keys if k == key or (not k.startswith("env:") and key_id(k) == key)]
        if not match:
            raise ConfigError(f"backend {name!r} has no such key (give the key, its env:VAR or its key id)")
        rest = [k for k in b.keys if k not in match]
        known = KNOWN.get(name)
        needs_key = known[2] if known else not b.is_local
        if needs_key and not rest:
            raise ConfigError(f"that is the last key of backend {name!r}; add another first, "
                              f"or `dario backend remove {name}`")
        b.keys[:] = rest
        return b


def load_config(home: Path | None = None) -> Config:
    home = home or dario_home()
    raw = read_json(home / "config.json", {})
    creds = read_json(home / "credentials.json", {})
    cfg = Config(home=home)
    key_map = {n: (v or {}).get("keys", []) for n, v in (creds.get("backends") or {}).items()}
    for name, b in (raw.get("backends") or {}).items():
        try:
            cfg.backends[name] = Backend(name, b["kind"], b["base_url"], list(key_map.get(name, [])),
                                         b.get("models"),
                                         b["responses"] if isinstance(b.get("responses"), bool) else None)
        except (KeyError, TypeError) as e:
            raise ConfigError(f"{cfg.config_path}: backend {name!r} lacks {e}") from None
        limits = {k: b[k] for k in ("rpm", "max_concurrency") if isinstance(b.get(k), int) and b[k] > 0}
        if limits:
            cfg.limits[name] = limits
    cfg.default_backend = raw.get("default_backend")
    cfg.aliases = dict(raw.get("aliases") or {})
    cfg.telemetry = {**DEFAULT_TELEMETRY, **(raw.get("telemetry") or {})}
    cfg.prices = dict(raw.get("prices") or {})
    cfg.timeouts = {**DEFAULT_TIMEOUTS, **(raw.get("timeouts") or {})}
    cfg.extra = {k: v for k, v in raw.items()
                 if k not in {"backends", "default_backend", "aliases", "telemetry", "prices", "timeouts"}}
    return cfg
