"""Network checks: every backend's models URL (each key tried), and a proxy on the default port.

A models list is the cheapest authenticated call every provider has: it costs no
tokens and tells "unreachable" from "key rejected". All probes run at once with a
short timeout, so ten backends take as long as the slowest one.
"""

from __future__ import annotations

import asyncio

from dario.doctor import FAIL, OK, WARN, Context, Row

TIMEOUT = 5.0


async def _probe(session, b, key: str | None) -> tuple[int | None, str]:
    """(HTTP status, "") or (None, why it could not connect)."""
    import aiohttp

    from dario.pipeline.credentials import backend_headers  # the proxy's /v1/models sends exactly these

    try:
        async with session.get(b.models_url(), headers=backend_headers(b, key), allow_redirects=False,
                               timeout=aiohttp.ClientTimeout(total=TIMEOUT)) as r:
            return r.status, ""
    except asyncio.TimeoutError:
        return None, f"no answer within {TIMEOUT:.0f}s"
    except aiohttp.ClientError as e:
        return None, str(e) or type(e).__name__


async def _check_backend(session, b) -> Row:
    from dario.pipeline.backends import KeyUnavailable, resolve_key

    name, url = f"backend {b.name}", b.models_url()
    keys = []
    for raw in b.keys:
        try:
            keys.append(resolve_key(raw))
        except KeyUnavailable as e:
            return Row(name, FAIL, f"a key is unavailable: {e}")
    results = await asyncio.gather(*(_probe(session, b, k) for k in (keys or [None])))
    down = [why for status, why in results if status is None]
    if down:
        return Row(name, FAIL, f"unreachable: {url}: {down[0]}")
    statuses = [s for s, _ in results]
    if not keys:  # nothing to authenticate: answering at all is what we check
        if statuses[0] in (401, 403) and not b.is_local:
            return Row(name, FAIL, f"key rejected: {url} answered HTTP {statuses[0]} and no key is configured")
        return Row(name, OK, f"reachable, no key ({url}, HTTP {statuses[0]})")
    rejected = [i + 1 for i, s in enumerate(statuses) if s in (401, 403)]
    if rejected:
        which = "the key" if len(keys) == 1 else f"key #{', #'.join(map(str, rejected))} of {len(keys)}"
        return Row(name, FAIL, f"key rejected: {which} (HTTP {statuses[rejected[0] - 1]} from {url})")
    odd = sorted({s for s in statuses if s != 200})
    if odd:
        return Row(name, WARN, f"reachable, but {url} answered HTTP {', '.join(map(str, odd))}")
    return Row(name, OK, f"reachable, {len(keys)} key(s) accepted ({url})")


async def _check_all(backends) -> list[Row]:
    import aiohttp

    async with aiohttp.ClientSession() as session:
        return list(await asyncio.gather(*(_check_backend(session, b) for b in backends)))


def check_backends(ctx: Context) -> list[Row]:
    if ctx.config is None:
        return [Row("backends", WARN, "not checked: the config does not load (see config/credentials)")]
    backends = list(ctx.config.backends.values())
    if not backends:
        return [Row("backends", WARN, "none configured: dario backend add NAME --key KEY")]
    return asyncio.run(_check_all(backends))


async def proxy_health(port: int, home=None) -> Row:
    import aiohttp

    from dario import __version__

    where = f"127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as s:
            async with s.get(f"http://{where}/health", allow_redirects=False,
                             timeout=aiohttp.ClientTimeout(total=2)) as r:
                body = await r.json(content_type=None) if r.status == 200 else None
    except (aiohttp.ClientConnectorError, ConnectionError):
        return Row("proxy", OK, f"not running (nothing on {where})")
    except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as e:
        return Row("proxy", WARN, f"something on {where} is not a dario proxy ({type(e).__name__})")
    if not isinstance(body, dict) or body.get("status") != "ok" or "version" not in body:
        return Row("proxy", WARN, f"something on {where} answers /health but is not a dario proxy")
    running = f"dario proxy {body['version']} running on {where}"
    if home is not None and body.get("home"):
        from dario.store.home import home_fingerprint
        if body["home"] != home_fingerprint(home):
            return Row("proxy", WARN, f"{running} serves another DARIO_HOME, not {home}: its calls are recorded "
                                      "there, and it uses that home's backends and keys")
    if body["version"] != __version__:
        return Row("proxy", WARN, f"{running}; this dario is {__version__}: restart it")
    return Row("proxy", OK, f"{running}, backends: {', '.join(body.get('backends') or []) or 'none'}")


def check_proxy(ctx: Context) -> Row:
    return asyncio.run(proxy_health(ctx.proxy_port, ctx.home))
