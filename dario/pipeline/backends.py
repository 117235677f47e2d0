"""Backends: where calls go. Known providers come with their base URL and protocol kind.

An anthropic-kind base URL is the origin (requests go to {base}/v1/messages); an
openai-kind base URL includes the version prefix (requests go to {base}/chat/completions).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from urllib.parse import urlsplit

# name -> (base_url, kind, needs_key)
KNOWN: dict[str, tuple[str, str, bool]] = {
    "anthropic": ("https://api.anthropic.com", "anthropic", True),
    "openai": ("https://api.openai.com/v1", "openai", True),
    "groq": ("https://api.groq.com/openai/v1", "openai", True),
    "openrouter": ("https://openrouter.ai/api/v1", "openai", True),
    "deepseek": ("https://api.deepseek.com/v1", "openai", True),
    "mistral": ("https://api.mistral.ai/v1", "openai", True),
    "together": ("https://api.together.xyz/v1", "openai", True),
    "xai": ("https://api.x.ai/v1", "openai", True),
    "ollama": ("http://127.0.0.1:11434/v1", "openai", False),
    "lmstudio": ("http://127.0.0.1:1234/v1", "openai", False),
    "vllm": ("http://127.0.0.1:8000/v1", "openai", False),
}
KINDS = ("anthropic", "openai")
LOOPBACK = {"127.0.0.1", "localhost", "::1", "0.0.0.0"}


class KeyUnavailable(Exception):
    pass


def resolve_key(raw: str) -> str:
    """A stored key, or `env:VAR` read from the environment at use time (never written to disk)."""
    if raw.startswith("env:"):
        var = raw[4:]
        value = os.environ.get(var)
        if not value:
            raise KeyUnavailable(f"environment variable {var} (named by its key env:{var}) is not set in the "
                                 f"environment dario runs in: export {var}=… there and start dario again")
        return value
    return raw


@dataclass
class Backend:
    name: str
    kind: str  # "anthropic" | "openai"
    base_url: str
    keys: list[str] = field(default_factory=list)  # raw: literal or env:VAR
    models: list[str] | None = None  # optional static model list

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).netloc

    @property
    def is_local(self) -> bool:
        return (urlsplit(self.base_url).hostname or "") in LOOPBACK

    @property
    def adapter(self):
        from dario.protocols import adapter
        return adapter(self.kind)

    def url(self, path: str) -> str:
        """The URL of a provider path (/v1/...) on this backend (the adapter's one URL rule)."""
        return self.adapter.join(self.base_url, path)

    def models_url(self) -> str:
        return self.url("/v1/models")
