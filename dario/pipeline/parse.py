"""Parse stage: read the client's body and learn what the call is (model, stream, conversation).

Whatever the client sends, the answer is a clean 4xx in its protocol: a body that never
arrives (408), one too large (413), a bad content encoding, invalid or too deeply nested
JSON, or a body that is not a request of its protocol (400).
"""

from __future__ import annotations

import asyncio

from dario.net import server as web

from dario.core import fastjson
from dario.core.call import Call
from dario.core.errors import CallError
from dario.core.defaults import MAX_REQUEST_BODY
from dario.net.client import within


async def read_body(call: Call, timeout: float) -> None:
    try:
        req = call.request  # a body already whole (most are: one segment) needs no timer
        call.raw = await (req.read() if req.body_complete else within(req.read(), timeout))
    except asyncio.TimeoutError:
        raise CallError(408, f"dario: the request body did not arrive within {timeout:g}s "
                             "(is Content-Length larger than the body?)") from None
    except web.BodyTooLarge:
        raise CallError(413, f"dario: request body larger than {MAX_REQUEST_BODY // (1024 * 1024)} MiB") from None
    except Exception as e:  # a broken Content-Encoding (gzip/deflate/br that is not), a reset mid-body
        if isinstance(e, ConnectionResetError):
            raise
        raise CallError(400, f"dario: the request body could not be read ({_why(e)}); "
                             "check its Content-Encoding") from None


def _why(e: BaseException) -> str:
    text = str(e).split("\n", 1)[0][:200]
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def parse(call: Call) -> None:
    """Fill body, model and stream; an LLM call only."""
    try:
        body, exact = fastjson.decode(call.raw) if call.raw else (None, True)
        if not exact:
            call.notes["json_inexact"] = True  # re-serialised by json.dumps, which refuses inf (adapt.py)
    except RecursionError:
        raise CallError(400, "request body is nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise CallError(400, f"request body is not valid JSON: {e}") from None
    if not isinstance(body, dict):
        raise CallError(400, "request body must be a JSON object")
    call.body = body
    call.model_requested, call.stream = call.inbound.read_request(body, call.path)


def conversation(call, conversations) -> None:
    """Which conversation the call is a turn of (pipeline/sessions.py); once a call."""
    if "assigned" in call.notes:
        return
    call.notes["assigned"] = True
    try:
        turn = conversations.assign(call.ctx.run_id, call.inbound.name, call.body, call.id)
    except Exception:  # a key for grouping calls: never a reason to fail one
        call.conversation = None
        return
    call.conversation, call.parent_call = turn.conversation, turn.parent_call
    call.subagents = ",".join(turn.subagents) or None
