"""Model name -> (backend, model as sent upstream).

Order: an explicit `NAME:` prefix (any configured backend, plus `claude:` and `local:`),
then aliases (built-in opus/sonnet/haiku and the user's own), then name patterns, then
the default backend.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from dario.core.errors import CallError
from dario.pipeline.backends import Backend
from dario.protocols import adapter

# Floating aliases, as Claude Code resolves them (late 2026); users override in config "aliases".
BUILTIN_ALIASES = {
    "opus": "claude-opus-5-5",
    "sonnet": "claude-sonnet-5-5",
    "haiku": "claude-haiku-5-5",
}
OPENAI_PATTERNS = ("gpt-", "o1", "o3", "o4", "chatgpt-")


class RoutingError(Exception):
    pass


@dataclass(frozen=True)
class Route:
    backend: Backend
    model: str  # as sent upstream (prefix stripped, alias resolved); "" leaves the body's model
    passthrough: bool = False  # to the host the client meant, with the client's own credentials


class Router:
    def __init__(self, backends: dict[str, Backend], default: str | None = None,
                 aliases: dict[str, str] | None = None) -> None:
        self.backends = backends
        self.default = default
        self.aliases = {**BUILTIN_ALIASES, **(aliases or {})}
        # (model asked for, client protocol, endpoint, path, stream, target, observe, not forced) ->
        # (route, model, outbound, url):
        # a run's calls ask for a few models, and the backends do not change while it runs
        self.decided: dict[tuple, tuple] = {}

    def resolve(self, model: str) -> Route:
        if not isinstance(model, str) or not model.strip():
            raise RoutingError("model must be a non-empty string")
        seen: set[str] = set()
        while model in self.aliases and model not in seen:  # aliases may chain; loops stop
            seen.add(model)
            model = self.aliases[model]

        prefix, sep, rest = model.partition(":")
        if sep and rest:
            backend = self._by_prefix(prefix)
            if backend is not None:
                return Route(backend, self.aliases.get(rest, rest))

        if model.startswith("claude-"):
            return Route(self._anthropic(model), model)
        if model.startswith("gemini-"):
            return Route(self._of_kind("gemini", model), model)
        if model.startswith(OPENAI_PATTERNS):
            return Route(self._named("openai", model), model)
        if self.default and self.default in self.backends:
            return Route(self.backends[self.default], model)
        if len(self.backends) == 1:
            return Route(next(iter(self.backends.values())), model)
        raise RoutingError(f"model {model!r} matches no backend and no default backend is set. "
                           f"{self._configured()} Use NAME:{model} or set a default.")

    def for_host(self, host: str) -> Backend | None:
        """The backend that stands in for calls to `host` (the provider's other endpoints:
        models, files, batches), or None when dario has none for it."""
        for b in self.backends.values():
            if b.host == host:
                return b
        try:
            if host == "api.anthropic.com":
                return self._anthropic("claude-*")
            if host == "api.openai.com":
                return self._named("openai", "gpt-*")
            if host == "generativelanguage.googleapis.com":
                return self._of_kind("gemini", "gemini-*")
        except RoutingError:
            pass
        return None

    # -- helpers -----------------------------------------------------------
    def _configured(self) -> str:
        if not self.backends:
            return "No backends are configured (dario backend add NAME --key KEY)."
        return "Configured backends: " + ", ".join(
            f"{b.name} ({b.kind})" for b in self.backends.values()) + "."

    def _by_prefix(self, prefix: str) -> Backend | None:
        if prefix in self.backends:
            return self.backends[prefix]
        if prefix == "claude":
            return self._anthropic(prefix + ":")
        if prefix == "local":
            local = [b for b in self.backends.values() if b.is_local]
            if not local:
                raise RoutingError(f"'local:' names a local backend, but none is configured. {self._configured()}")
            return local[0]
        return None

    def _anthropic(self, model: str) -> Backend:
        return self._of_kind("anthropic", model)

    def _of_kind(self, kind: str, model: str) -> Backend:
        """The backend named after `kind`, else the only backend of that kind."""
        if kind in self.backends:
            return self.backends[kind]
        kinds = [b for b in self.backends.values() if b.kind == kind]
        if len(kinds) == 1:
            return kinds[0]
        why = "several are configured, name one" if kinds else "none is configured"
        raise RoutingError(f"model {model!r} needs a {kind}-kind backend ({why}). {self._configured()}")

    def _named(self, name: str, model: str) -> Backend:
        if name in self.backends:
            return self.backends[name]
        raise RoutingError(f"model {model!r} routes to the backend named {name!r}, which is not configured. "
                           f"{self._configured()}")


# -- the route stage --------------------------------------------------------------------------

def passthrough(target: str, kind: str) -> Route:
    """To the original host, untouched: model "" leaves the body's model as it is."""
    parts = urlsplit(target)
    return Route(Backend(f"passthrough:{parts.netloc}", kind, f"{parts.scheme}://{parts.netloc}"), "", True)


def route_call(router: Router, call) -> None:
    """Fill route, outbound adapter, model and URL of a call.

    An LLM call routes by model name (or --model). Under the shim, a call goes to its original
    URL, with the client's own credentials, when it was made to a host dario has no backend for
    (whatever its model says), when its model matches no backend, or with --observe. A request
    to a provider host that is not an LLM endpoint but is of its API (/v1/models, files) goes to
    that provider's backend when dario holds a key for it; any other (the product's own paths:
    bootstrap, telemetry) goes to its original URL with the child's own credentials.
    """
    ctx = call.ctx
    if call.inbound is None:
        backend = None if ctx.observe else router.for_host(urlsplit(ctx.target).netloc)
        if backend is not None and not call.path.startswith(backend.adapter.api_prefixes):
            backend = None  # not the provider's API: its own host, never a backend with dario's key
        if backend is not None and backend.keys:
            call.route, call.outbound = Route(backend, ""), backend.adapter
            call.url = backend.adapter.with_query(backend.url(call.path), call.query)
        else:
            call.route, call.url = passthrough(ctx.target, "other"), _own_query(call, ctx.target)
        return
    asked = ctx.forced_model or call.model_requested
    # under the shim the decision also rests on the URL the client meant (its host, and a passthrough's
    # own query) and on --observe / --model
    key = (asked, call.inbound.name, call.endpoint, call.path, call.stream, ctx.target, ctx.observe,
           not ctx.forced_model)
    decided = router.decided.get(key)
    if decided is None:
        decided = _decide(router, call, asked)
        if len(router.decided) >= 1024:  # model names made up per call: a cache that never hits, kept small
            router.decided.clear()
        router.decided[key] = decided
    call.route, call.model, call.outbound, call.url = decided
    if call.query and call.url is not None and not call.translated and not call.route.passthrough:
        call.url = call.outbound.with_query(call.url, call.query)


def _decide(router: Router, call, asked: str) -> tuple:
    """(route, model sent upstream, the backend's adapter, URL without the call's own query) of an LLM call."""
    ctx = call.ctx
    if ctx.observe or (ctx.target and not ctx.forced_model
                       and router.for_host(urlsplit(ctx.target).netloc) is None):
        route = passthrough(ctx.target, call.inbound.name)
    else:
        try:
            route = router.resolve(asked)
        except RoutingError as e:
            if not (ctx.target and not ctx.forced_model):
                raise CallError(404, str(e), etype="not_found_error" if call.inbound.name == "anthropic"
                                else None) from None
            route = passthrough(ctx.target, call.inbound.name)
    model = route.model or call.model_requested
    outbound = adapter(call.inbound.name) if route.passthrough else route.backend.adapter_for(call.inbound.name, model)
    if route.passthrough:  # the original URL, minus a dario token posing as a key
        url = _own_query(call, ctx.target)
    elif call.endpoint not in outbound.paths or (call.endpoint == "count_tokens" and outbound is not call.inbound):
        url = None  # no such endpoint in the backend's protocol: estimated locally
    else:
        url = outbound.url(route.backend.base_url, call.endpoint, call.path, model, call.stream)
    return route, model, outbound, url

def _own_query(call, target: str) -> str:
    """A passthrough URL: the client's own query, minus any parameter that is a dario token
    standing in for its key (Gemini's ?key=RUN_TOKEN)."""
    from urllib.parse import parse_qsl, urlencode
    base, sep, q = target.partition("?")
    tokens = [t for t in call.ctx.run_tokens if t]
    if not sep or not tokens or not any(t in q for t in tokens):
        return target
    kept = [(k, v) for k, v in parse_qsl(q, keep_blank_values=True) if not any(t in v for t in tokens)]
    return base + ("?" + urlencode(kept) if kept else "")
