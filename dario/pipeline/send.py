"""Send stage: the call goes upstream, with failover across a key pool, client-side limits
and one deadline.

A 429/529 on a pooled key arrives before any byte went to the client, so the call is
retried at once on another key; when every key is cooling it waits for the soonest reset,
up to the deadline, and then hands back the provider's own 429 (`Limited`).
"""

from __future__ import annotations

import asyncio
import time

from dario.core.call import Call
from dario.core.defaults import ERROR_BODY_CAP
from dario.net.client import ClientError
from dario.pipeline.backends import KeyUnavailable
from dario.pipeline.credentials import response_headers, upstream_headers
from dario.pipeline.keys import LIMITED, KeyPool, Limited
from dario.pipeline.limits import Limiter
from dario.pipeline.upstream import Upstream, UpstreamResponse
from dario.redact import redact_bytes


async def send(call: Call, upstream: Upstream, pool: KeyPool | None, limiter: Limiter | None,
               deadline: float, secrets: tuple[str, ...]) -> UpstreamResponse | Limited:
    pooled = pool is not None and len(pool) > 0
    while True:
        choice = None
        if pooled:
            try:
                choice = pool.pick(call.conversation)
            except KeyUnavailable as e:
                raise (call.inbound or call.outbound).auth_error(
                    f"dario: backend {call.backend!r} has no usable key: {e}") from None
            if choice is None:  # every key cooling
                wait = pool.ready_in()
                if time.monotonic() + wait > deadline:
                    return limited_answer(pool, call)
                await asyncio.sleep(wait)
                continue
        call.key_id = choice.key_id if choice else None
        headers = upstream_headers(call, choice)
        try:
            if limiter is not None:
                await limiter.tick(deadline)
            up = await upstream.send(call.request.method, call.url, headers, call.payload)
        except BaseException as e:  # no answer: the key has no call in flight any more
            if pooled:
                pool.release(choice)
            err = upstream.error(e, call.backend)
            if err is None:
                raise  # cancelled: the client left
            raise err from None
        if not pooled:
            return up
        pool.observe(choice, up.status, up.headers)  # rate-limit headers of any endpoint count for the key
        if up.status not in LIMITED or call.inbound is None:
            return up
        # the key cools down; keep the provider's answer for when every key stays cooling
        try:
            data = redact_bytes(await up.read(ERROR_BODY_CAP), secrets)
        except (ClientError, OSError):
            data = b""
        finally:
            up.close()
        pool.last_limited = Limited(up.status, response_headers(up.headers), data)


def limited_answer(pool: KeyPool, call: Call) -> Limited:
    last = pool.last_limited or Limited(429, {"Content-Type": "application/json"}, call.outbound.error_bytes(
        429, f"dario: every key of backend {pool.backend.name!r} is rate-limited"))
    headers = {k: v for k, v in last.headers.items() if k.lower() != "retry-after"}
    headers["retry-after"] = str(pool.retry_after())  # the soonest reset among the keys
    return Limited(last.status, headers, last.body)
