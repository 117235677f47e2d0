"""Backends: where calls go. Known providers come with their base URL and protocol kind.

An anthropic- or gemini-kind base URL is the origin (requests go to {base}/v1/messages,
{base}/v1beta/models/...); an openai-kind base URL includes the version prefix (requests go to
{base}/chat/completions). An openai-kind backend that serves /responses (`responses`) answers
Responses clients natively, and every client on models OpenAI serves only there.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

# name -> (base_url, kind, needs_key)
KNOWN: dict[str, tuple[str, str, bool]] = {
    "anthropic": ("https://api.anthropic.com", "anthropic", True),
    "gemini": ("https://generativelanguage.googleapis.com", "gemini", True),
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
KINDS = ("anthropic", "openai", "gemini")
# known names whose servers answer /v1/responses themselves (others get Chat Completions translation)
SERVES_RESPONSES = frozenset({"openai"})
# models OpenAI serves only on /v1/responses: any client reaches them through it
RESPONSES_ONLY = re.compile(r"(^|[-/])(o1-pro|o3-pro|o3-deep-research|o4-mini-deep-research|gpt-5(\.\d+)?-pro|"
                            r"computer-use|codex)")
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
    responses: bool | None = None  # serves /v1/responses (None: by its known name)

    @property
    def serves_responses(self) -> bool:
        if self.kind != "openai":
            return False
        return self.name in SERVES_RESPONSES if self.responses is None else self.responses

    def adapter_for(self, client: str | None, model: str):
        """The protocol this backend is spoken to in, for a call from a `client` protocol."""
        from dario.protocols import adapter
        if self.serves_responses and (client == "responses" or RESPONSES_ONLY.search(model or "")):
            return adapter("responses")
        return adapter(self.kind)

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
        return self.url(self.adapter.models_path)
