"""Answer stage: the upstream's answer goes back to the client, metered as it passes.

Same protocol: every chunk is written as it arrives and a copy is parsed for usage, never
held back. Translated: each backend event becomes internal events, then client frames.
An answer ends the call one way: the client got it, or it got an error in its own
protocol (a JSON error body, or a final SSE error event when the stream had begun).
"""

from __future__ import annotations

import asyncio

from dario.net import server as web

from dario.core import fastjson
from dario.core.call import Call
from dario.core.defaults import ERROR_BODY_CAP
from dario.core.errors import CallError
from dario.pipeline import adapt
from dario.net.client import ClientError, Disconnected
from dario.pipeline.credentials import response_headers
from dario.pipeline.sse import SSEParser
from dario.pipeline.upstream import UpstreamResponse
from dario.redact import redact, redact_bytes


class ClientGone(Exception):
    pass


def error_answer(call: Call, status: int, data: bytes, headers: dict[str, str]) -> web.Response:
    """The upstream's own error (already redacted), in the client's protocol."""
    call.fail(status, data.decode("utf-8", "replace")[:2000])
    if call.translated:
        data = adapt.error_body(call, status, data)
        headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
        headers["Content-Type"] = "application/json"
    call.response_body = data
    return web.Response(status=status, body=data, headers=headers)


def dario_error(call: Call, e: CallError, secrets: tuple[str, ...]) -> web.Response:
    """An error dario itself reports, in the client's protocol (Anthropic's for non-LLM paths)."""
    from dario.protocols import adapter
    call.fail(e.status, redact(e.args[0], secrets))
    shape = call.inbound or adapter("anthropic")
    body = shape.error_bytes(e.status, call.error, etype=e.etype, code=e.code)
    call.response_body = body
    return web.Response(status=e.status, body=body, content_type="application/json",
                        headers={**e.headers, "x-dario-error": "1"})


async def answer(call: Call, up: UpstreamResponse, secrets: tuple[str, ...], capture: int,
                 keepalive: float = 0.0) -> web.StreamResponse:
    headers = response_headers(up.headers)
    if call.notes.get("not_carried"):  # said, not silently lost
        headers["x-dario-not-carried"] = ",".join(call.notes["not_carried"])
    call.status = up.status
    call.response_headers = headers
    if call.inbound is None:
        return await _relay_raw(call, up, headers)
    if up.status >= 400:
        # an upstream may echo the key it was sent: the client must never see dario's keys
        data = redact_bytes(await up.read(ERROR_BODY_CAP), secrets)
        return error_answer(call, up.status, data, headers)
    if up.headers.get("content-type", "").startswith("text/event-stream"):
        return await _stream(call, up, headers, secrets, capture, keepalive)
    data = await up.read()
    call.ttft_ms = call.elapsed_ms()
    if call.translated:
        parsed = fastjson.loads_object(data)
        if parsed is None:
            raise CallError(502, f"dario: upstream {call.backend} answered HTTP {up.status} with a body that is "
                                 f"not a JSON object")
        call.usage = call.outbound.usage_from_body(parsed)
        data = adapt.response_body(call, parsed)
    elif up.headers.get("content-type", "").startswith("application/json"):
        call.notes["usage_in_body"] = data  # read once the client has its answer: settle_usage()
    call.response_body = data
    return web.Response(status=up.status, body=data, headers=headers)


def settle_usage(call: Call) -> None:
    """The usage of a same-protocol JSON answer, taken from its body after it was relayed."""
    data = call.notes.pop("usage_in_body", None)
    if data is not None:
        call.usage = call.outbound.usage_from_bytes(data)


async def _relay_raw(call: Call, up: UpstreamResponse, headers: dict[str, str]) -> web.StreamResponse:
    """Not an LLM endpoint: the bytes as they come, nothing parsed."""
    resp = web.StreamResponse(status=up.status, headers=headers)
    await resp.prepare(call.request)
    async for chunk in up.chunks():
        await resp.write(chunk)
    await resp.write_eof()
    return resp


async def _stream(call: Call, up: UpstreamResponse, headers: dict[str, str], secrets: tuple[str, ...],
                  cap: int, keepalive: float) -> web.StreamResponse:
    # per event when translating or hiding the usage dario asked for; else chunks relayed as they come
    translator = (adapt.StreamTranslator(call) if call.translated
                  else call.inbound.usage_hider() if call.notes.get("hide_usage") else None)
    hider = translator if call.notes.get("hide_usage") and not call.translated else None
    resp = web.StreamResponse(status=up.status, headers=headers)
    await resp.prepare(call.request)
    parser, meter = SSEParser(), call.outbound.meter()
    captured = bytearray()
    loop = asyncio.get_running_loop()
    last_sent = [loop.time()]

    def sent(data: bytes) -> None:
        last_sent[0] = loop.time()
        if len(captured) < cap:
            captured.extend(data[: cap - len(captured)])

    async def send(data: bytes) -> None:
        if not data:
            return
        try:
            await resp.write(data)
        except ConnectionResetError as e:  # the client left: stop reading upstream
            raise ClientGone() from e
        sent(data)

    ping = call.inbound.keepalive()
    pinger = None

    def keep_alive() -> None:
        """The protocol's own keep-alive while the upstream is silent, only between whole events. A timer,
        not a Task a stream with its sleeps: callgrind, a short stream's call 0.850 -> 0.829 M instructions."""
        nonlocal pinger
        if loop.time() - last_sent[0] >= keepalive and (translator is not None or parser.at_boundary):
            try:
                if resp.write_now(ping):
                    sent(ping)
            except ConnectionResetError:  # the client left: the relay loop finds out on its next write
                pinger = None
                return
        pinger = loop.call_later(max(0.01, last_sent[0] + keepalive - loop.time()), keep_alive)

    if keepalive > 0:
        pinger = loop.call_later(keepalive, keep_alive)
    try:
        async for chunk in up.chunks():
            # hiding the usage dario asked for: whole events that cannot hold it are relayed as they came
            if translator is None or (hider is not None and parser.at_boundary and hider.passes(chunk)):
                await send(chunk)  # relay first, then look
                for ev in parser.feed(chunk):
                    meter.feed(ev)
            else:
                out = []
                for ev in parser.feed(chunk):
                    meter.feed(ev)
                    out.extend(translator.feed(ev))
                await send(b"".join(out))
            if call.ttft_ms is None and meter.content_started:
                call.ttft_ms = call.elapsed_ms()
            if meter.finished:  # the final event is out: a client that hangs up now (Codex does) is done
                call.notes["delivered"] = True
        for ev in parser.flush():
            meter.feed(ev)
            if translator is not None:
                await send(b"".join(translator.feed(ev)))
        if not meter.finished and not meter.error:
            raise Disconnected("the stream ended before its final event")
        if translator is not None:
            await send(b"".join(translator.finish()))
        if meter.error:
            call.error = redact(meter.error, secrets)
        call.notes["delivered"] = True  # every event is out: a client that hangs up now (Codex does) is done
        try:
            await resp.write_eof()
        except ConnectionResetError:
            pass
    except ClientGone:
        if not call.notes.get("delivered"):
            call.fail(499, "client disconnected")
    except (ClientError, asyncio.TimeoutError, OSError) as e:
        why = (f"upstream idle for {up.idle:g}s" if up.idle_fired
               else f"upstream stream broke: {e or type(e).__name__}")
        await _end_with_error(call, resp, 502, redact(f"dario: {why}", secrets))
    except Exception as e:  # an upstream event the translator could not take: end cleanly, say so
        await _end_with_error(call, resp, 502, f"dario: upstream {call.backend} sent a stream event dario "
                                               f"cannot translate ({type(e).__name__})")
    finally:
        if pinger is not None:
            pinger.cancel()
        call.usage = meter.usage  # the backend's own count, whatever the client's protocol
        call.response_body = bytes(captured) if cap else None
    return resp


async def _end_with_error(call: Call, resp: web.StreamResponse, status: int, message: str) -> None:
    call.fail(status, message)
    try:  # end the stream the way the client's protocol reports errors
        await resp.write(call.inbound.sse_error(status, message))
        await resp.write_eof()
    except (ConnectionResetError, RuntimeError):
        pass
