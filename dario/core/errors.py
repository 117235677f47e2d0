"""Errors dario reports itself, and the one map from upstream exceptions to them.

A CallError is answered in the caller's own protocol (its adapter's error shape) and
recorded with its status. `upstream_error` is the only place that turns an exception of
dario's HTTP client (dario/net/client.py) or of a socket into words, so no internals
(reprs of objects, addresses of connection keys) reach a client.
"""

from __future__ import annotations

import asyncio
import os
import ssl


class CallError(Exception):
    """A failure dario reports to the client itself, in the client's protocol."""

    def __init__(self, status: int, message: str, etype: str | None = None, headers: dict | None = None,
                 code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.etype = etype
        self.headers = headers or {}
        self.code = code


def _reason(e: BaseException) -> str:
    """A short, stable cause: the OS's words for socket errors, the class name otherwise."""
    os_err = getattr(e, "os_error", None)  # net.client.ConnectError
    if isinstance(os_err, BaseException):
        e = os_err
    if isinstance(e, ssl.SSLCertVerificationError):
        return f"TLS certificate not trusted ({e.verify_message})"
    if isinstance(e, ssl.SSLError):
        return f"TLS failed ({e.reason or type(e).__name__})"
    if isinstance(e, OSError) and isinstance(e.errno, int) and e.errno > 0:
        return os.strerror(e.errno)  # "Connection refused", not asyncio's "Connect call failed (...)"
    if isinstance(e, ConnectionResetError):
        return "connection reset"
    text = str(e).strip()
    name = type(e).__name__
    return text.split("\n", 1)[0][:200] if text and "ssl:" not in text and "<" not in text else name


def upstream_error(e: BaseException, backend: str | None, *, connect_timeout: float, first_byte_timeout: float,
                   during: str = "send") -> CallError | None:
    """The CallError for an exception raised while talking to an upstream; None: not ours
    to answer (cancellation: the client left)."""
    from dario.net.client import ClientError, ConnectError, ConnectTimeout
    from dario.pipeline.limits import LimitTimeout

    who = backend or "upstream"
    if isinstance(e, CallError):
        return e
    if isinstance(e, LimitTimeout):
        return CallError(429, str(e), headers={"retry-after": str(max(1, round(e.retry_after)))})
    if isinstance(e, ConnectTimeout):
        return CallError(504, f"dario: upstream {who} did not accept a connection within {connect_timeout:g}s")
    if isinstance(e, asyncio.TimeoutError):
        return CallError(504, f"dario: upstream {who} sent no response within {first_byte_timeout:g}s")
    if isinstance(e, ConnectError):
        where = f"{e.host}:{e.port}" if getattr(e, "host", None) else ""
        return CallError(502, f"dario: cannot reach upstream {who}" + (f" at {where}" if where else "")
                              + f": {_reason(e)}")
    if isinstance(e, (ClientError, OSError)):
        if during == "send":
            return CallError(502, f"dario: cannot reach upstream {who}: {_reason(e)}")
        return CallError(502, f"dario: upstream {who} failed: {_reason(e)}")
    return None
