"""What keeps a local listener from being used by the network or by a web page.

- Binding: only a loopback address may be served without DARIO_API_KEY. The address is read
  strictly: "" and "0" mean every interface, a name counts as loopback only if every address
  it resolves to is one.
- Browsers: a keyless listener is reachable from any page the user opens (a CORS "simple"
  request needs no preflight) and, through DNS rebinding, under any Host name. So without a
  key only loopback Host names are served, any Origin is refused unless allowed in config,
  preflights are refused, and LLM endpoints take only JSON bodies (a page can send text/plain
  without a preflight, never application/json).
"""

from __future__ import annotations

import functools
import ipaddress
import socket
from dataclasses import dataclass, field

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})


def _ip_is_loopback(text: str) -> bool:
    try:
        ip = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    return ip.is_loopback


def is_loopback(host: str) -> bool:
    """True only for an address (or a name resolving only to addresses) on the loopback interface."""
    h = (host or "").strip()
    if h.startswith("[") and h.endswith("]"):
        h = h[1:-1]
    if not h:
        return False  # "" binds every interface
    try:
        ipaddress.ip_address(h.split("%", 1)[0])
        return _ip_is_loopback(h)
    except ValueError:
        pass
    try:
        addrs = {info[4][0] for info in socket.getaddrinfo(h, None)}
    except (OSError, UnicodeError):
        return False
    return bool(addrs) and all(_ip_is_loopback(a) for a in addrs)


def _host_name(host_header: str) -> str:
    h = host_header.strip().lower()
    if h.startswith("["):
        return h[1:h.find("]")] if "]" in h else h
    return h.rsplit(":", 1)[0] if h.count(":") == 1 else h


@functools.lru_cache(maxsize=256)  # a listener meets a handful of Host values, on every call
def is_loopback_name(name: str) -> bool:
    """Loopback by its spelling alone, with no DNS: a loopback name or address (a Host header; an
    upstream URL's host, which never goes through the user's proxy)."""
    if name in LOOPBACK_NAMES or name.endswith(".localhost"):
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False  # a name: it could be rebound to 127.0.0.1 by its owner
    return _ip_is_loopback(name)


JSON_TYPES = ("application/json",)


@dataclass
class BrowserGuard:
    allowed_hosts: frozenset = field(default_factory=frozenset)
    allowed_origins: frozenset = field(default_factory=frozenset)

    @classmethod
    def from_config(cls, cfg) -> "BrowserGuard":
        sec = (getattr(cfg, "extra", None) or {}).get("security") or {}
        return cls(frozenset(h.lower() for h in sec.get("allowed_hosts") or ()),
                   frozenset(o.rstrip("/").lower() for o in sec.get("allowed_origins") or ()))

    def refusal(self, method: str, headers, llm_endpoint: bool) -> tuple[int, str] | None:
        """(status, message) when a request to a keyless listener must be refused, else None."""
        name, loopback = _host_verdict(headers.get("Host", ""))
        if not (loopback or name in self.allowed_hosts):
            return 403, (f"dario: Host {name!r} is not a loopback name; a keyless dario answers only "
                         "localhost/127.0.0.1 (add it to config.json security.allowed_hosts to allow it)")
        origin = headers.get("Origin")
        if method == "OPTIONS":
            return 403, "dario: cross-origin requests are refused (no CORS preflight is answered)"
        if origin is not None and origin.rstrip("/").lower() not in self.allowed_origins:
            return 403, (f"dario: requests from a web page (Origin {origin!r}) are refused; "
                         "add it to config.json security.allowed_origins to allow it")
        if llm_endpoint and method == "POST":
            ctype, is_json = _ctype_verdict(headers.get("Content-Type", ""))
            if not is_json:
                return 415, f"dario: the body must be application/json, not {ctype or 'untyped'}"
        return None


# A listener meets a handful of Host and Content-Type values, on every call: each is judged once.
@functools.lru_cache(maxsize=256)
def _host_verdict(host_header: str) -> tuple[str, bool]:
    name = _host_name(host_header)
    return name, is_loopback_name(name)


@functools.lru_cache(maxsize=256)
def _ctype_verdict(header: str) -> tuple[str, bool]:
    ctype = header.split(";", 1)[0].strip().lower()
    return ctype, ctype in JSON_TYPES or (ctype.startswith("application/") and ctype.endswith("+json"))
