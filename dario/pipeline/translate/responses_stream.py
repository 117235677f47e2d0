"""OpenAI Responses streams <-> internal (Anthropic Messages) stream events, one event at a time.

`FromInternal` writes the Responses event sequence a Responses client expects, each event
with its `sequence_number`: response.created, in_progress, output_item.added/done,
content_part.*, output_text.delta/done, function_call_arguments.delta/done, reasoning summary
events, and response.completed / response.incomplete (or `error`). `ToInternal` reads a
Responses backend's events into internal events. Nothing is held beyond one event, except
a custom tool's input (sent whole when its call is done).
"""

from __future__ import annotations

import time
from typing import Any, Callable

from dario.core.usage import Usage
from dario.pipeline.sse import SSEEvent, frame
from dario.pipeline.translate._common import as_dict as _d, InternalEvents, dumps, typed_event, parse_arguments
from dario.pipeline.translate.responses_api import (
    ToolNames,
    message_item,
    new_id,
    reasoning_item,
    response_object,
    status_of,
    usage_to_wire,
)




class FromInternal:
    """Internal events -> a Responses client's SSE frames. `on_complete(response)` is called with
    the final response object (dario keeps it for previous_response_id when the request stores)."""

    def __init__(self, model: str, req: dict, resp_id: str, on_complete: Callable[[dict], None] | None = None) -> None:
        from dario.protocols.anthropic import usage_from_wire
        self._usage_from = usage_from_wire
        self.model, self.req, self.id = model, req if isinstance(req, dict) else {}, resp_id
        self.names = ToolNames(self.req)
        self.usage = Usage()
        self.on_complete = on_complete
        self._seq = 0
        self._created = int(time.time())
        self._output: list[dict] = []  # final items, by output_index
        self._blocks: dict[int, dict] = {}  # internal block index -> state
        self._msg: dict | None = None  # the open message item: {"out": index, "id", "parts": [...]}
        self._stop: str | None = None
        self._started = self._done = False

    # -- framing
    def _ev(self, kind: str, **fields) -> bytes:
        obj = {"type": kind, **fields, "sequence_number": self._seq}
        self._seq += 1
        return frame(dumps(obj), kind)

    def _response(self, status: str, **kw) -> dict:
        return response_object(self.req, self.model, self.id, status=status, output=list(self._output),
                               created=self._created, **kw)

    def _start(self) -> list[bytes]:
        if self._started:
            return []
        self._started = True
        r = self._response("in_progress", usage=None)
        return [self._ev("response.created", response=r), self._ev("response.in_progress", response=r)]

    def _close_message(self) -> list[bytes]:
        m, self._msg = self._msg, None
        if m is None:
            return []
        item = message_item([p for p in m["parts"]], m["id"])
        self._output[m["out"]] = item
        return [self._ev("response.output_item.done", output_index=m["out"], item=item)]

    def _add_item(self, item: dict) -> tuple[int, bytes]:
        self._output.append(item)
        out = len(self._output) - 1
        return out, self._ev("response.output_item.added", output_index=out, item=item)

    # -- public
    def feed(self, ev: SSEEvent) -> list[bytes]:
        got = None if self._done else typed_event(ev)
        if got is None:
            return []
        obj, kind = got
        out = self._start()
        if kind == "message_start":
            self.usage.merge(self._usage_from(_d(obj.get("message")).get("usage")))
        elif kind == "content_block_start":
            out += self._block_start(obj.get("index"), _d(obj.get("content_block")))
        elif kind == "content_block_delta":
            out += self._block_delta(obj.get("index"), _d(obj.get("delta")))
        elif kind == "content_block_stop":
            out += self._block_stop(obj.get("index"))
        elif kind == "message_delta":
            self.usage.merge(self._usage_from(obj.get("usage")))
            self._stop = _d(obj.get("delta")).get("stop_reason") or self._stop
        elif kind == "message_stop":
            out += self._end()
        elif kind == "error":
            err = _d(obj.get("error"))
            self._done = True
            out.append(self._ev("error", code=err.get("type") or "server_error",
                                message=str(err.get("message") or "upstream stream error"), param=None))
        return out

    def finish(self) -> list[bytes]:
        return [] if self._done else self._start() + self._end()

    def _block_start(self, index: Any, block: dict) -> list[bytes]:
        t = block.get("type")
        out: list[bytes] = []
        if t == "text":
            if self._msg is None:
                mid = new_id("msg")
                n, added = self._add_item(message_item([], mid, "in_progress"))
                self._msg = {"out": n, "id": mid, "parts": []}
                out.append(added)
            m = self._msg
            st = self._blocks[index] = {"kind": "text", "out": m["out"], "id": m["id"], "part": len(m["parts"]),
                                        "text": ""}
            m["parts"].append("")
            out.append(self._ev("response.content_part.added", item_id=m["id"], output_index=m["out"],
                                content_index=st["part"], part={"type": "output_text", "text": "",
                                                                "annotations": [], "logprobs": []}))
            if block.get("text"):
                out += self._block_delta(index, {"type": "text_delta", "text": block["text"]})
            return out
        out += self._close_message()
        if t in ("thinking", "redacted_thinking"):
            rid = new_id("rs")
            n, added = self._add_item({"type": "reasoning", "id": rid, "summary": []})
            self._blocks[index] = {"kind": "reasoning", "out": n, "id": rid, "text": block.get("thinking", ""),
                                   "sig": block.get("signature", ""), "redacted": t == "redacted_thinking",
                                   "data": block.get("data", "")}
            out.append(added)
            if t == "thinking":
                out.append(self._ev("response.reasoning_summary_part.added", item_id=rid, output_index=n,
                                    summary_index=0, part={"type": "summary_text", "text": ""}))
        elif t == "tool_use":
            item = self.names.call_item({"id": block.get("id"), "name": block.get("name"), "input": {}})
            custom = item["type"] == "custom_tool_call"
            item.update({"status": "in_progress", ("input" if custom else "arguments"): ""})
            n, added = self._add_item(item)
            self._blocks[index] = {"kind": "tool", "out": n, "id": item["id"], "block": block, "args": "",
                                   "custom": custom}
            out.append(added)
        return out

    def _block_delta(self, index: Any, d: dict) -> list[bytes]:
        st = self._blocks.get(index)
        if st is None:
            return []
        t = d.get("type")
        if st["kind"] == "text" and t == "text_delta" and d.get("text"):
            st["text"] += d["text"]
            return [self._ev("response.output_text.delta", item_id=st["id"], output_index=st["out"],
                             content_index=st["part"], delta=d["text"], logprobs=[])]
        if st["kind"] == "reasoning" and t == "thinking_delta" and d.get("thinking"):
            st["text"] += d["thinking"]
            return [self._ev("response.reasoning_summary_text.delta", item_id=st["id"], output_index=st["out"],
                             summary_index=0, delta=d["thinking"])]
        if st["kind"] == "reasoning" and t == "signature_delta":
            st["sig"] += d.get("signature") or ""
            return []
        if st["kind"] == "tool" and t == "input_json_delta" and d.get("partial_json"):
            st["args"] += d["partial_json"]
            if st["custom"]:
                return []  # a custom tool's input is the "input" string inside: sent whole when done
            return [self._ev("response.function_call_arguments.delta", item_id=st["id"], output_index=st["out"],
                             delta=d["partial_json"])]
        return []

    def _block_stop(self, index: Any) -> list[bytes]:
        st = self._blocks.pop(index, None)
        if st is None:
            return []
        if st["kind"] == "text":
            if self._msg is not None and self._msg["id"] == st["id"]:
                self._msg["parts"][st["part"]] = st["text"]
            part = {"type": "output_text", "text": st["text"], "annotations": [], "logprobs": []}
            return [self._ev("response.output_text.done", item_id=st["id"], output_index=st["out"],
                             content_index=st["part"], text=st["text"], logprobs=[]),
                    self._ev("response.content_part.done", item_id=st["id"], output_index=st["out"],
                             content_index=st["part"], part=part)]
        out: list[bytes] = []
        if st["kind"] == "reasoning":
            block = ({"type": "redacted_thinking", "data": st["data"]} if st["redacted"] else
                     {"type": "thinking", "thinking": st["text"], "signature": st["sig"]})
            item = reasoning_item(block, st["id"])
            if not st["redacted"]:
                out.append(self._ev("response.reasoning_summary_text.done", item_id=st["id"],
                                    output_index=st["out"], summary_index=0, text=st["text"]))
                out.append(self._ev("response.reasoning_summary_part.done", item_id=st["id"],
                                    output_index=st["out"], summary_index=0,
                                    part={"type": "summary_text", "text": st["text"]}))
        else:
            item = self.names.call_item({**st["block"], "input": parse_arguments(st["args"])}, st["id"])
            if st["custom"]:
                out.append(self._ev("response.custom_tool_call_input.delta", item_id=st["id"],
                                    output_index=st["out"], delta=item["input"]))
                out.append(self._ev("response.custom_tool_call_input.done", item_id=st["id"],
                                    output_index=st["out"], input=item["input"]))
            else:
                out.append(self._ev("response.function_call_arguments.done", item_id=st["id"],
                                    output_index=st["out"], name=item["name"], arguments=item["arguments"]))
        self._output[st["out"]] = item
        out.append(self._ev("response.output_item.done", output_index=st["out"], item=item))
        return out

    def _end(self) -> list[bytes]:
        out: list[bytes] = []
        for index in list(self._blocks):
            out += self._block_stop(index)
        out += self._close_message()
        status, incomplete = status_of(self._stop)
        r = self._response(status, usage=usage_to_wire(self.usage), incomplete=incomplete)
        self._done = True
        if self.on_complete is not None:
            self.on_complete(r)
        out.append(self._ev("response.completed" if status == "completed" else "response.incomplete", response=r))
        return out


class ToInternal(InternalEvents):
    """A Responses backend's events -> internal (Anthropic Messages) events."""

    def __init__(self, model: str) -> None:
        from dario.protocols.openai_responses import usage_from_wire
        super().__init__()
        self._usage_from = usage_from_wire
        self.model = model
        self.usage = Usage()
        self._tool_args: dict[int, str] = {}  # block index -> arguments streamed so far
        self._custom: dict[int, str] = {}  # block index -> custom input
        self._has_calls = False
        self._started = self._done = False

    def _start(self, resp: dict) -> list[SSEEvent]:
        if self._started:
            return []
        self._started = True
        rid = str(resp.get("id") or new_id("msg"))
        msg = {"id": rid if rid.startswith("msg_") else f"msg_{rid}", "type": "message", "role": "assistant",
               "model": self.model, "content": [], "stop_reason": None, "stop_sequence": None,
               "usage": {"input_tokens": 0, "output_tokens": 0}}
        return [self._ev({"type": "message_start", "message": msg})]

    def events(self, ev: SSEEvent) -> list[SSEEvent]:
        got = None if self._done else typed_event(ev)
        if got is None:
            return []
        obj, kind = got
        out = self._start(_d(obj.get("response")))
        if kind in ("response.output_text.delta", "response.refusal.delta") and obj.get("delta"):
            out += self._delta("text", {"type": "text_delta", "text": str(obj["delta"])})
        elif kind in ("response.reasoning_summary_text.delta", "response.reasoning_text.delta") and obj.get("delta"):
            out += self._delta("thinking", {"type": "thinking_delta", "thinking": str(obj["delta"])})
        elif kind == "response.output_item.added":
            item = _d(obj.get("item"))
            if item.get("type") in ("function_call", "custom_tool_call"):
                self._has_calls = True
                o, index = self._open_block("tool", {"type": "tool_use", "id": str(item.get("call_id") or new_id("toolu")),
                                                     "name": ToolNames.flat(item.get("name"), item.get("namespace")),
                                                     "input": {}})
                self._tool_args[index] = ""
                if item.get("type") == "custom_tool_call":
                    self._custom[index] = ""
                out += o
            elif item.get("type") == "reasoning":
                out += self._open_block("thinking", {"type": "thinking", "thinking": "", "signature": ""})[0]
        elif kind == "response.function_call_arguments.delta" and self._open and self._open[0] == "tool":
            index = self._open[1]
            if obj.get("delta"):
                self._tool_args[index] += str(obj["delta"])
                out.append(self._ev({"type": "content_block_delta", "index": index,
                                     "delta": {"type": "input_json_delta", "partial_json": str(obj["delta"])}}))
        elif kind == "response.custom_tool_call_input.delta" and self._open and self._open[1] in self._custom:
            self._custom[self._open[1]] += str(obj.get("delta") or "")
        elif kind == "response.output_item.done":
            item = _d(obj.get("item"))
            if self._open is not None:
                kind_open, index = self._open
                if kind_open == "thinking" and item.get("encrypted_content"):
                    out.append(self._ev({"type": "content_block_delta", "index": index, "delta": {
                        "type": "signature_delta", "signature": str(item["encrypted_content"])}}))
                if kind_open == "tool":
                    out += self._tool_rest(index, item)
            out += self._close()
        elif kind in ("response.completed", "response.incomplete"):
            resp = _d(obj.get("response"))
            self.usage.merge(self._usage_from(resp.get("usage")))
            reason = _d(resp.get("incomplete_details")).get("reason")
            stop = ("max_tokens" if reason == "max_output_tokens" else "refusal" if reason == "content_filter"
                    else "tool_use" if self._has_calls else "end_turn")
            from dario.protocols.anthropic import usage_to_wire
            out += self._close()
            out.append(self._ev({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
                                 "usage": usage_to_wire(self.usage)}))
            out.append(self._ev({"type": "message_stop"}))
            self._done = True
        elif kind in ("response.failed", "error"):
            err = _d(_d(obj.get("response")).get("error")) if kind == "response.failed" else obj
            self._done = True
            out.append(self._ev({"type": "error", "error": {"type": "api_error",
                                                            "message": str(err.get("message") or "upstream error")}}))
        return out

    def _tool_rest(self, index: int, item: dict) -> list[SSEEvent]:
        """What of a call's input was not streamed: a custom tool's input, or arguments sent only at the end."""
        if index in self._custom:
            raw = self._custom.pop(index) or (item.get("input") if isinstance(item.get("input"), str) else "")
            rest = dumps({"input": raw})
        elif not self._tool_args.get(index) and isinstance(item.get("arguments"), str):
            rest = item["arguments"]
        else:
            return []
        return [self._ev({"type": "content_block_delta", "index": index,
                          "delta": {"type": "input_json_delta", "partial_json": rest}})]

    def finish_events(self) -> list[SSEEvent]:
        if self._done:
            return []
        self._done = True
        return self._start({}) + self._close() + [
            self._ev({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                      "usage": {"output_tokens": self.usage.output_tokens or 0}}),
            self._ev({"type": "message_stop"})]
