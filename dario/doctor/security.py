"""Security rows: where the proxy listens and whether it is gated, the gate key, the CA."""

from __future__ import annotations

import asyncio
import os
import stat

from dario.doctor import FAIL, OK, WARN, Context, Row


def _listeners(port: int) -> list[str]:
    try:
        import psutil
        return sorted({c.laddr.ip for c in psutil.net_connections(kind="inet")
                       if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port})
    except Exception:  # psutil may be denied other users' sockets
        return []


async def _health(port: int) -> dict | None:
    import aiohttp
    try:
        async with aiohttp.ClientSession() as s:
            async with s.get(f"http://127.0.0.1:{port}/health", timeout=aiohttp.ClientTimeout(total=2)) as r:
                body = await r.json(content_type=None) if r.status == 200 else None
                return body if isinstance(body, dict) else None
    except (aiohttp.ClientError, asyncio.TimeoutError, ValueError, ConnectionError):
        return None


def check_security(ctx: Context) -> list[Row]:
    from dario.proxy.security import is_loopback

    rows = []
    addrs = _listeners(ctx.proxy_port)
    health = asyncio.run(_health(ctx.proxy_port)) if addrs else None
    exposed = [a for a in addrs if not is_loopback(a)]
    if not addrs:
        rows.append(Row("security: binding", OK, f"nothing listens on port {ctx.proxy_port}"))
    elif not exposed:
        rows.append(Row("security: binding", OK, f"port {ctx.proxy_port} listens on loopback only ({', '.join(addrs)})"))
    elif health is not None and health.get("gate") is True:
        rows.append(Row("security: binding", OK, f"port {ctx.proxy_port} listens on {', '.join(exposed)}, "
                                                 "gated by DARIO_API_KEY"))
    elif health is not None and health.get("gate") is False:
        rows.append(Row("security: binding", FAIL, f"a dario proxy listens on {', '.join(exposed)} with NO key: "
                                                   "anyone who reaches it spends your keys; restart it on 127.0.0.1"))
    else:
        rows.append(Row("security: binding", WARN, f"something listens on {', '.join(exposed)}:{ctx.proxy_port} "
                                                   "that does not say whether it is gated"))
    rows.append(Row("security: gate", OK, "DARIO_API_KEY is set: a proxy started here requires it" if
                    os.environ.get("DARIO_API_KEY") else "DARIO_API_KEY not set: a proxy serves loopback only, "
                    "and refuses web pages (Origin), foreign Host names and non-JSON bodies"))
    rows.append(_ca_row(ctx))
    rows.append(_proxy_mode_row())
    return rows


def _proxy_mode_row() -> Row:
    """How `dario shim` will reach a child that only honours HTTPS_PROXY: the CA bundle it merges and
    the user's own proxy it chains."""
    from dario.shim.ca import SYSTEM_BUNDLES, USER_BUNDLE_VARS
    system = next((b for b in SYSTEM_BUNDLES if os.path.isfile(b)), None)
    own = os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy")
    mine = [v for v in USER_BUNDLE_VARS if os.environ.get(v)]
    missing = [v for v in mine if not os.path.isfile(os.environ[v])]
    chain = ("blind tunnels and dario's upstream calls chain through your HTTPS_PROXY " + _host_of(own)) if own \
        else "no HTTPS_PROXY of yours to chain"
    if system is None:
        return Row("shim: proxy mode", WARN, "no system CA bundle found (" + ", ".join(SYSTEM_BUNDLES) + "): "
                   "children given dario's bundle would trust only dario's CA and yours; " + chain)
    if missing:
        return Row("shim: proxy mode", WARN, ", ".join(missing) + " names a missing file: it is left out of the "
                   "child's bundle; " + chain)
    return Row("shim: proxy mode", OK, f"children get HTTPS_PROXY and a bundle of {system}"
               + (" + " + ", ".join(mine) if mine else "") + " + the dario CA; no base URL is changed unless "
               "--base-url; " + chain)


def _host_of(url: str) -> str:
    from urllib.parse import urlsplit
    u = urlsplit(url if "://" in url else "http://" + url)
    return f"({u.hostname}:{u.port or 80})"  # never its credentials


def _ca_row(ctx: Context) -> Row:
    """The shim's HTTPS-proxy CA: present, its key private, not about to expire."""
    import datetime as dt
    from dario.shim.ca import ca_paths, describe
    key, _ = ca_paths(ctx.home)
    try:
        info = describe(ctx.home)
    except Exception as e:  # a damaged certificate file
        return Row("security: CA", FAIL, f"{key.parent}: the CA certificate does not load ({e}): dario ca rotate")
    if info is None:
        return Row("security: CA", OK, "no dario CA yet: the first `dario shim` makes one (HTTPS proxy mode)")
    if not key.exists():
        return Row("security: CA", FAIL, f"{key} is missing: dario ca rotate")
    if stat.S_IMODE(key.stat().st_mode) & 0o077:
        return Row("security: CA", FAIL, f"{key} is readable by others: chmod 600 {key}, or dario ca rotate")
    left = dt.datetime.fromisoformat(info["expires"]) - dt.datetime.now(dt.timezone.utc)
    if left.days < 30:
        return Row("security: CA", WARN, f"the dario CA expires in {left.days} day(s): dario ca rotate")
    return Row("security: CA", OK, f"{key.parent}: key 0600, expires {info['expires'][:10]}, sha256 "
                                   f"{info['sha256'][:23]}…")
