"""Streaming translation, one upstream SSE event in, zero or more client frames out.

Nothing is buffered beyond what a single event needs, so time-to-first-token
survives translation. Each translator also keeps `.usage`: the upstream's own
counts as read so far, as a `Usage` (input EXCLUDES cache reads/writes).

OpenAIToAnthropicStream is the OpenAI Chat adapter's way INTO the internal form (whose
events are Anthropic Messages events): `events()` yields SSEEvent objects, so another
adapter can consume them without re-parsing; `feed()` frames them for an Anthropic client.
AnthropicToOpenAIStream is the way OUT of it, to an OpenAI Chat client.
"""

from __future__ import annotations

import time
import uuid

from dario.core.fastjson import loads_object
from dario.pipeline.protocol import ANTHROPIC, OPENAI, error_body
from dario.pipeline.sse import SSEEvent, frame
from dario.core.usage import Usage
from dario.pipeline.translate._common import (
    typed_event,
    InternalEvents,
    anthropic_usage,
    dumps,
    finish_reason,
    openai_usage,
    stop_reason,
    usage_from_anthropic,
    usage_from_openai,
)
from dario.pipeline.translate.responses import anthropic_id, reasoning_of


def _error_message(obj: dict) -> str:
    err = obj.get("error")
    if isinstance(err, dict) and err.get("message"):
        return str(err["message"])
    return str(err) if err else "upstream stream error"


class OpenAIToAnthropicStream(InternalEvents):
    """OpenAI chat.completion.chunk events -> Anthropic Messages stream events."""

    def __init__(self, model: str) -> None:
        super().__init__()
        self.model = model
        self.usage = Usage()
        self._started = False
        self._done = False
        self._tools: dict[int, dict] = {}  # OpenAI tool index -> {"block", "id", "name", "pending"}
        self._finish: str | None = None
        self._refused = False
        self._retired = 0  # tool blocks whose index a later call reused

    # -- helpers
    def _start(self, chunk: dict) -> list[SSEEvent]:
        if self._started:
            return []
        self._started = True
        msg = {"id": anthropic_id(chunk.get("id")), "type": "message", "role": "assistant",
               "model": self.model, "content": [], "stop_reason": None, "stop_sequence": None,
               "usage": {**anthropic_usage(self.usage), "output_tokens": 0}}
        return [self._ev({"type": "message_start", "message": msg})]

    def _tool_delta(self, tc: dict) -> list[SSEEvent]:
        idx = tc.get("index") if isinstance(tc.get("index"), int) else 0
        fn = tc.get("function") if isinstance(tc.get("function"), dict) else {}
        st = self._tools.get(idx)
        if st is not None and tc.get("id") and st["id"] and tc["id"] != st["id"]:
            # Some servers number every call index 0; a new id means a new call.
            if st["block"] is not None:
                self._retired += 1
            st = None
        if st is None:
            st = self._tools[idx] = {"block": None, "id": None, "name": None, "pending": ""}
        st["id"] = st["id"] or tc.get("id")
        st["name"] = st["name"] or fn.get("name")
        args = fn.get("arguments")
        args = args if isinstance(args, str) else dumps(args) if isinstance(args, dict) else ""
        out: list[SSEEvent] = []
        if st["block"] is None:
            if not st["name"]:
                st["pending"] += args  # a block cannot start without its name; hold the few bytes
                return out
            out, st["block"] = self._open_block("tool", {"type": "tool_use", "name": st["name"], "input": {},
                                                         "id": st["id"] or f"toolu_{uuid.uuid4().hex[:24]}"})
            args, st["pending"] = st["pending"] + args, ""
        if args:
            # A server that interleaves parallel calls gets deltas addressed by block
            # index even if that block was already stopped; readers key on index.
            out.append(self._ev({"type": "content_block_delta", "index": st["block"],
                                 "delta": {"type": "input_json_delta", "partial_json": args}}))
        return out

    def _end(self) -> list[SSEEvent]:
        out = self._close()
        has_tools = self._retired > 0 or any(t["block"] is not None for t in self._tools.values())
        reason = "refusal" if self._refused and self._finish in (None, "stop", "content_filter") else \
            stop_reason(self._finish, has_tool_calls=has_tools)
        usage: dict[str, int] = {"output_tokens": self.usage.output_tokens or 0}
        if self.usage.input_tokens is not None:
            usage.update(anthropic_usage(self.usage))
        out.append(self._ev({"type": "message_delta", "delta": {"stop_reason": reason, "stop_sequence": None},
                             "usage": usage}))
        out.append(self._ev({"type": "message_stop"}))
        self._done = True
        return out

    # -- public
    def feed(self, ev: SSEEvent) -> list[bytes]:
        return [frame(e.data, e.event) for e in self.events(ev)]

    def finish(self) -> list[bytes]:
        return [frame(e.data, e.event) for e in self.finish_events()]

    def events(self, ev: SSEEvent) -> list[SSEEvent]:
        if self._done:
            return []
        data = ev.data.strip()
        if data == "[DONE]":
            return self._start({}) + self._end()
        chunk = loads_object(data)
        if chunk is None:
            return []
        if "error" in chunk and "choices" not in chunk:
            self._done = True
            body = error_body(ANTHROPIC, 500, _error_message(chunk))
            return [SSEEvent("error", dumps(body))]
        self.usage.merge(usage_from_openai(chunk.get("usage")))
        out = self._start(chunk)
        choices = chunk.get("choices")
        if choices is not None and not isinstance(choices, list):
            raise ValueError("a chunk's choices is not a list")  # the engine ends the stream with an error event
        for choice in choices or []:
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") if isinstance(choice.get("delta"), dict) else {}
            reasoning = reasoning_of(delta)
            if reasoning:
                out += self._delta("thinking", {"type": "thinking_delta", "thinking": reasoning})
            for key in ("content", "refusal"):
                if isinstance(delta.get(key), str) and delta[key]:
                    self._refused |= key == "refusal"
                    out += self._delta("text", {"type": "text_delta", "text": delta[key]})
            calls = delta.get("tool_calls")
            if calls is not None and not isinstance(calls, list):
                raise ValueError("a delta's tool_calls is not a list")
            for tc in calls or []:
                if isinstance(tc, dict):
                    out += self._tool_delta(tc)
            if choice.get("finish_reason"):
                # Hold message_delta until usage (a later choices:[] chunk) or [DONE].
                self._finish = choice["finish_reason"]
                out += self._flush_pending() + self._close()
        return out

    def _flush_pending(self) -> list[SSEEvent]:
        out: list[SSEEvent] = []
        for idx, st in self._tools.items():
            if st["block"] is None:
                st["name"] = st["name"] or "unknown"
                out += self._tool_delta({"index": idx})
        return out

    def finish_events(self) -> list[SSEEvent]:
        """Upstream ended: close whatever is open (idempotent)."""
        if self._done:
            return []
        return self._start({}) + self._flush_pending() + self._end()


_STATUS_OF = {"invalid_request_error": 400, "authentication_error": 401, "permission_error": 403,
              "not_found_error": 404, "request_too_large": 413, "rate_limit_error": 429,
              "api_error": 500, "overloaded_error": 529, "timeout_error": 504}


class AnthropicToOpenAIStream:
    """Anthropic Messages stream events -> OpenAI chat.completion.chunk frames."""

    def __init__(self, model: str, include_usage: bool) -> None:
        self.model = model
        self.include_usage = include_usage
        self.usage = Usage()
        self._id = f"chatcmpl-{uuid.uuid4().hex}"
        self._created = int(time.time())
        self._role_sent = False
        self._finish_sent = False
        self._done = False
        self._tool_of_block: dict[int, int] = {}  # Anthropic block index -> OpenAI tool_calls index

    def _chunk(self, delta: dict | None, finish: str | None = None, usage: dict | None = None) -> bytes:
        obj: dict = {"id": self._id, "object": "chat.completion.chunk", "created": self._created,
                     "model": self.model, "choices": []}
        if delta is not None:
            obj["choices"] = [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
        if usage is not None:
            obj["usage"] = usage
        return frame(dumps(obj))

    def _role(self) -> list[bytes]:
        if self._role_sent:
            return []
        self._role_sent = True
        return [self._chunk({"role": "assistant", "content": ""})]

    def _tail(self, reason: str | None) -> list[bytes]:
        out = self._role()
        if not self._finish_sent:
            self._finish_sent = True
            out.append(self._chunk({}, finish_reason(reason)))
        if self.include_usage:
            out.append(self._chunk(None, usage=openai_usage(self.usage)))
        out.append(frame("[DONE]"))
        self._done = True
        return out

    def feed(self, ev: SSEEvent) -> list[bytes]:
        got = None if self._done else typed_event(ev)
        if got is None:
            return []
        obj, kind = got
        if kind == "message_start":
            msg = obj.get("message") if isinstance(obj.get("message"), dict) else {}
            if isinstance(msg.get("id"), str):
                self._id = f"chatcmpl-{msg['id']}"
            self.usage.merge(usage_from_anthropic(msg.get("usage")))
            return self._role()
        if kind == "content_block_start":
            block = obj.get("content_block") if isinstance(obj.get("content_block"), dict) else {}
            out = self._role()
            if block.get("type") == "tool_use":
                i = self._tool_of_block[obj.get("index")] = len(self._tool_of_block)
                out.append(self._chunk({"tool_calls": [{"index": i, "id": block.get("id", ""), "type": "function",
                                                        "function": {"name": block.get("name", ""),
                                                                     "arguments": ""}}]}))
            elif block.get("type") == "text" and block.get("text"):
                out.append(self._chunk({"content": block["text"]}))
            return out
        if kind == "content_block_delta":
            d = obj.get("delta") if isinstance(obj.get("delta"), dict) else {}
            t = d.get("type")
            if t == "text_delta" and d.get("text"):
                return self._role() + [self._chunk({"content": d["text"]})]
            if t == "thinking_delta" and d.get("thinking"):
                return self._role() + [self._chunk({"reasoning_content": d["thinking"]})]
            if t == "input_json_delta" and d.get("partial_json") and obj.get("index") in self._tool_of_block:
                i = self._tool_of_block[obj["index"]]
                return self._role() + [self._chunk({"tool_calls": [{"index": i,
                                                                    "function": {"arguments": d["partial_json"]}}]})]
            return []  # signature / citations deltas have no OpenAI form
        if kind == "message_delta":
            self.usage.merge(usage_from_anthropic(obj.get("usage")))
            d = obj.get("delta") if isinstance(obj.get("delta"), dict) else {}
            if d.get("stop_reason") and not self._finish_sent:
                self._finish_sent = True
                return self._role() + [self._chunk({}, finish_reason(d["stop_reason"]))]
            return []
        if kind == "message_stop":
            return self._tail(None)
        if kind == "error":
            err = obj.get("error") if isinstance(obj.get("error"), dict) else {}
            status = _STATUS_OF.get(err.get("type"), 500)
            self._done = True
            return [frame(dumps(error_body(OPENAI, status, str(err.get("message") or "upstream stream error"))))]
        return []  # ping, content_block_stop, unknown future events

    def finish(self) -> list[bytes]:
        """Upstream ended: finish the OpenAI stream if message_stop never came (idempotent)."""
        if self._done:
            return []
        return self._tail(None)
