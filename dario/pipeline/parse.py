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


# Bytes of body above which only its head is decoded before the send: below, decoding it whole at once costs
# less than the head now and the whole later (a 1 KB history: 2.4 us whole, 1.1 us the head; 99 B: 0.3, 0.6).
HEAD_ONLY_ABOVE = 1024


def parse(call: Call) -> None:
    """Fill head, model and stream; an LLM call only. A body of more than HEAD_ONLY_ABOVE bytes is decoded
    whole only where the client's adapter reads more than its head (`Adapter.head_fields`); otherwise
    `call.body` decodes it when asked (a coding agent's 300 KB call: 3.9 -> 2.0 ms through dario, bench/ab.py)."""
    fields = call.inbound.head_fields
    try:
        head = fastjson.head(call.raw, fields) if fields and len(call.raw) > HEAD_ONLY_ABOVE else None
        if head is None:  # the whole body, or what msgspec refuses (decided by decode(), as ever)
            body = call.decode_whole() if call.raw else None
            if not isinstance(body, dict):
                raise CallError(400, "request body must be a JSON object")
            call.body = head = body
    except RecursionError:
        raise CallError(400, "request body is nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise CallError(400, f"request body is not valid JSON: {e}") from None
    call.head = head
    call.model_requested, call.stream = call.inbound.read_request(head, call.path)


def conversation(call, conversations) -> None:
    """Which conversation the call is a turn of (pipeline/sessions.py); once a call."""
    if "assigned" in call.notes:
        return
    call.notes["assigned"] = True
    try:
        turn = conversations.assign(call.ctx.run_id, call.inbound.name, call.body_or_raw, call.id)
    except Exception:  # a key for grouping calls: never a reason to fail one
        call.conversation = None
        return
    call.conversation, call.parent_call = turn.conversation, turn.parent_call
    call.subagents = ",".join(turn.subagents) or None
