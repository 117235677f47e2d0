"""The coverage report of a shim run: how each call was caught, and the hosts the child reached that
dario only tunnelled. A tunnelled host that looks like an LLM API is a silent miss made visible (zero
captures with no word is the failure users of such tools report most)."""

from __future__ import annotations

from collections.abc import Mapping
from fnmatch import fnmatch

DOORS = (("in-process", "in-process"), ("https-proxy", "HTTPS proxy"), ("fallback", "base URL"))
# Hosts of LLM APIs dario knows by name; a tunnel to one of them is a call dario did not see.
LLM_HOSTS = (
    "api.anthropic.com", "api.openai.com", "generativelanguage.googleapis.com", "*aiplatform.googleapis.com",
    "bedrock-runtime.*.amazonaws.com", "*.openai.azure.com", "*.services.ai.azure.com", "*.cognitiveservices.azure.com",
    "api.mistral.ai", "api.groq.com", "api.together.xyz", "api.together.ai", "api.deepseek.com", "api.x.ai",
    "openrouter.ai", "api.cohere.com", "api.cohere.ai", "api.fireworks.ai", "api.perplexity.ai", "api.cerebras.ai",
    "api.moonshot.ai", "api.moonshot.cn", "*dashscope*.aliyuncs.com", "api.z.ai", "open.bigmodel.cn",
    "api-inference.huggingface.co", "router.huggingface.co", "api.replicate.com", "api.deepinfra.com",
    "api.minimax.io", "api.minimaxi.com", "ollama.com", "api.githubcopilot.com", "models.github.ai",
    "api.sambanova.ai", "api.hyperbolic.xyz", "api.novita.ai", "api.lambdalabs.com", "api.ai21.com",
)
# Words that mark an LLM endpoint of a host dario does not know by name (a gateway, a self-hosted server).
# Not provider names: statsig.anthropic.com or cdn.openai.com are a client's telemetry and downloads.
LLM_WORDS = ("llm", "inference")


def looks_like_llm(host: str) -> bool:
    name = host.rsplit(":", 1)[0].lower() if not host.startswith("[") else host.lower()
    return any(fnmatch(name, p) for p in LLM_HOSTS) or any(w in name for w in LLM_WORDS)


def coverage_lines(doors: Mapping[str | None, int], tunnels: Mapping[str, int]) -> list[str]:
    """What `dario shim -v` prints at exit and the report shows: one line for the doors, one for the
    tunnels, and one warning per LLM-looking host dario did not see inside."""
    caught = ", ".join(f"{doors[k]} {label}" for k, label in DOORS if doors.get(k))
    out = [f"caught: {caught}" if caught else "caught: no LLM call"]
    if tunnels:
        n = sum(tunnels.values())
        out.append(f"tunnelled untouched: {n} connection(s) to {len(tunnels)} host(s): "
                   + ", ".join(sorted(tunnels, key=lambda h: (-tunnels[h], h))[:8])
                   + (" …" if len(tunnels) > 8 else ""))
    for host in sorted(h for h in tunnels if looks_like_llm(h)):
        name = host.rsplit(":", 1)[0]
        out.append(f"not seen: {host} looks like an LLM API, and its calls went by unrecorded "
                   f"(dario shim --intercept {name} catches them)")
    return out
