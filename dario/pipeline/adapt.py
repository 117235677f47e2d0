"""Translate stage: a request, an answer or a stream from one protocol to another, through
the internal form (client adapter in, backend adapter out). Same protocol: the body goes
out byte for byte, only the model changing when the route renames it.
"""

from __future__ import annotations

from dario.core import fastjson
from dario.core.call import Call
from dario.core.errors import CallError

# what a malformed body can make the mapping code raise: always the client's 400, never a 500
_BAD_INPUT = (TypeError, ValueError, AttributeError, KeyError, IndexError, OverflowError, RecursionError)


def request_payload(call: Call) -> None:
    """Fill call.payload: the body as it goes upstream."""
    if call.inbound is None or call.route.passthrough:  # not an LLM call, or to the original URL as sent
        call.payload = call.raw or None
        return
    if not call.translated:
        # decided on the head (the fields it reads are there): the whole body only to re-serialise it
        if call.inbound.with_usage_requested(call.head) is not None:
            # the client's stream stays as it asked; the record gets its tokens
            call.notes["hide_usage"] = True
            spliced = call.inbound.usage_request_spliced(call.raw, call.head) \
                if call.model == call.model_requested else None
            call.payload = spliced or _dumps(call.inbound.with_model(call.inbound.with_usage_requested(call.body),
                                                                     call.model), call)
        elif call.model == call.model_requested:
            call.payload = call.raw  # nothing to change
        else:
            call.payload = _dumps(call.inbound.with_model(call.body, call.model), call)
        return
    from dario.pipeline.translate import TranslationError
    try:
        not_carried = call.inbound.not_carried(call.body)
        if not_carried:
            call.notes["not_carried"] = not_carried
        internal = call.inbound.request_to_internal(call.body, call.model)
        internal["stream"] = call.stream  # the call's own flag: Gemini says it in the path, not the body
        call.payload = _dumps(call.outbound.request_from_internal(internal, call.model), call)
    except TranslationError as e:
        raise CallError(400, f"cannot translate this request: {e}") from None
    except _BAD_INPUT as e:
        raise CallError(400, f"cannot translate this request: {type(e).__name__}: {str(e)[:200]}") from None


def _dumps(obj, call: Call) -> bytes:
    try:
        return fastjson.dumps(obj, exact="json_inexact" not in call.notes)
    except (ValueError, OverflowError) as e:
        raise CallError(400, f"cannot send this request: {e}") from None
    except RecursionError:
        raise CallError(400, "request body is nested too deeply") from None


def response_body(call: Call, parsed: dict) -> bytes:
    """A translated plain answer, in the client's protocol."""
    model = call.model_requested
    try:
        internal = call.outbound.response_to_internal(parsed, model)
        return fastjson.dumps(call.inbound.response_from_internal(internal, model, call.body))
    except _BAD_INPUT as e:
        raise CallError(502, f"dario: upstream {call.backend} answered with a body dario cannot translate: "
                             f"{type(e).__name__}") from None


class StreamTranslator:
    """Backend SSE events -> internal events -> the client's SSE bytes."""

    __slots__ = ("_in", "_out")

    def __init__(self, call: Call) -> None:
        self._in = call.outbound.stream_to_internal(call.model_requested)
        self._out = call.inbound.stream_from_internal(call.model_requested, call.body or {})

    def feed(self, ev) -> list[bytes]:
        out: list[bytes] = []
        for iev in self._in.events(ev):
            out.extend(self._out.feed(iev))
        return out

    def finish(self) -> list[bytes]:
        out: list[bytes] = []
        for iev in self._in.finish_events():
            out.extend(self._out.feed(iev))
        out.extend(self._out.finish())
        return out


def error_body(call: Call, status: int, data: bytes) -> bytes:
    """An upstream error body in the client's protocol."""
    from dario.pipeline.translate.responses import translate_error
    return translate_error(data, status, call.outbound.name, call.inbound.name)
