"""Credentials stage: the headers a call goes upstream with, and auth by backend kind.

Whatever the client sent as its credential (dario's gate key, a run token, a dummy) never goes
to a configured backend: that gets dario's key, or no auth header when it has none (a local
server). Only a passthrough to the host the client meant gets the client's own credential,
and never a dario token.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dario.core.call import Call
    from dario.pipeline.backends import Backend
    from dario.pipeline.keys import KeyChoice

# never forwarded upstream: hop-by-hop, framing, and what dario replaces
DROP_REQUEST = frozenset({"host", "content-length", "transfer-encoding", "connection", "keep-alive",
                          "proxy-authorization", "proxy-connection", "te", "upgrade", "accept-encoding",
                          "x-api-key", "authorization", "x-goog-api-key", "trailer", "content-encoding"})
DROP_RESPONSE = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive",
                           "content-encoding", "trailer", "upgrade"})
CLIENT_CREDENTIALS = ("x-api-key", "authorization", "x-goog-api-key")


def response_headers(up_headers) -> dict[str, str]:
    """An upstream answer's headers as they go back to the client (no framing, no encoding)."""
    return {k: v for k, v in up_headers.items() if k.lower() not in DROP_RESPONSE}


def backend_headers(b: "Backend", key: str | None) -> dict[str, str]:
    """What any request to backend `b` carries: its protocol's fixed headers and, with a key, auth."""
    headers = dict(b.adapter.fixed_headers())
    if key:
        headers.update(b.adapter.auth_headers(key))
    return headers


def upstream_headers(call: "Call", choice: "KeyChoice | None") -> dict[str, str]:
    headers: dict[str, str] = {}
    drop_prefixes = call.inbound.client_header_prefixes if call.translated else ()
    for k, v in call.request.headers.items():
        lk = k.lower()
        if lk in DROP_REQUEST or lk.startswith("x-dario-") or (drop_prefixes and lk.startswith(drop_prefixes)):
            continue
        headers[k] = v
    out = call.outbound
    if choice is not None:
        headers.update(out.auth_headers(choice.secret))
    elif call.route is not None and call.route.passthrough:
        tokens = call.ctx.run_tokens
        for name in CLIENT_CREDENTIALS:
            v = call.request.headers.get(name)
            if v and not any(t and t in v for t in tokens):
                headers[name] = v
    if out is not None:
        present = {k.lower() for k in headers}
        for k, v in out.fixed_headers().items():
            if k.lower() not in present:
                headers[k] = v
    if call.inbound is not None:  # an LLM call: dario may have re-serialised the body
        headers["Content-Type"] = "application/json"
    return headers
