"""Stored request/response bodies -> a protocol-neutral transcript.

One tolerant parser covers the Anthropic and OpenAI Chat shapes (content blocks, parts and
tool_calls), so such a body is read by what it contains. Responses and Gemini bodies (stored
as their client sent and received them) are first read into the internal form by their own
adapter: the same mapping the pipeline uses, so the report shows what the backend was asked.
Streamed responses are rebuilt from the relayed SSE text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from dario.pipeline.sse import SSEParser


@dataclass
class Part:
    kind: str  # text | thinking | tool_call | tool_result | image | raw
    text: str = ""
    name: str | None = None  # tool name
    id: str | None = None  # tool call id
    is_error: bool = False


@dataclass
class Message:
    role: str  # system | user | assistant | tool
    parts: list[Part] = field(default_factory=list)


@dataclass
class Response:
    message: Message | None = None
    model: str | None = None
    stop_reason: str | None = None
    error: str | None = None
    raw: str | None = None  # shown when the body could not be parsed (truncated, not JSON)


def _json(data: Any) -> Any:
    if isinstance(data, (bytes, bytearray, memoryview)):
        data = bytes(data).decode("utf-8", "replace")
    try:
        return json.loads(data)
    except (TypeError, ValueError):
        return None


def _dump(v: Any) -> str:
    if isinstance(v, str):
        return v
    return json.dumps(v, indent=2, ensure_ascii=False)


def _pretty_args(args: Any) -> str:
    """Tool arguments: OpenAI sends a JSON string, Anthropic an object; show both indented."""
    if isinstance(args, str):
        parsed = _json(args)
        return _dump(parsed) if parsed is not None and args.strip() else args
    return _dump(args if args is not None else {})


def _blocks(content: Any) -> list[Part]:
    if content is None:
        return []
    if isinstance(content, str):
        return [Part("text", content)]
    if not isinstance(content, list):
        return [Part("raw", _dump(content))]
    parts = []
    for b in content:
        if isinstance(b, str):
            parts.append(Part("text", b))
            continue
        if not isinstance(b, dict):
            continue
        t = b.get("type")
        if t in ("text", "input_text", "output_text"):
            parts.append(Part("text", str(b.get("text", ""))))
        elif t in ("thinking", "reasoning"):
            parts.append(Part("thinking", str(b.get("thinking") or b.get("text") or "")))
        elif t == "redacted_thinking":
            parts.append(Part("thinking", "[redacted thinking]"))
        elif t in ("tool_use", "server_tool_use"):
            parts.append(Part("tool_call", _pretty_args(b.get("input")), name=b.get("name"), id=b.get("id")))
        elif t == "tool_result":
            inner = b.get("content")
            text = "\n".join(p.text for p in _blocks(inner)) if isinstance(inner, list) else _dump(inner or "")
            parts.append(Part("tool_result", text, id=b.get("tool_use_id"), is_error=bool(b.get("is_error"))))
        elif t in ("image", "image_url", "input_image", "document", "input_audio", "file"):
            src = b.get("source") or {}
            desc = src.get("media_type") or src.get("type") or t
            parts.append(Part("image", f"[{t}: {desc}]"))
        else:
            parts.append(Part("raw", _dump(b)))
    return parts


def _message(m: dict) -> Message:
    role = str(m.get("role") or "user")
    if role == "developer":
        role = "system"
    parts = _blocks(m.get("content"))
    for tc in m.get("tool_calls") or []:
        fn = tc.get("function") or {}
        parts.append(Part("tool_call", _pretty_args(fn.get("arguments")), name=fn.get("name"), id=tc.get("id")))
    if role == "tool":  # OpenAI tool result: its own message
        text = "\n".join(p.text for p in parts)
        return Message("tool", [Part("tool_result", text, id=m.get("tool_call_id"), name=m.get("name"))])
    if m.get("reasoning_content"):
        parts.insert(0, Part("thinking", str(m["reasoning_content"])))
    return Message(role, parts)


_VIA_INTERNAL = ("responses", "gemini")  # protocols read through their adapter


def _internal_request(data: dict, protocol: str) -> dict | None:
    from dario.protocols import adapter
    try:  # previous_response_id names state this process does not hold: the transcript shows the call's own part
        internal = adapter(protocol).request_to_internal({k: v for k, v in data.items()
                                                          if k != "previous_response_id"}, str(data.get("model") or ""))
    except Exception:
        return None
    internal["tools"] = [{"name": t.get("name")} for t in internal.get("tools") or []]
    return internal


def parse_request(body: bytes | None, protocol: str | None = None) -> tuple[list[Message], dict[str, Any]]:
    """(messages including any system prompt first, other facts: model, tools, stream)."""
    data = _json(body) if body else None
    if not isinstance(data, dict):
        return [], {}
    if protocol in _VIA_INTERNAL:
        stream = bool(data.get("stream"))
        data = _internal_request(data, protocol) or data
        data["stream"] = data.get("stream") or stream
    msgs: list[Message] = []
    system = data.get("system")
    if system:
        msgs.append(Message("system", _blocks(system)))
    for m in data.get("messages") or []:
        if isinstance(m, dict):
            msgs.append(_message(m))
    tools = []
    for t in data.get("tools") or []:
        if isinstance(t, dict):
            tools.append(t.get("name") or (t.get("function") or {}).get("name") or t.get("type") or "?")
    return msgs, {"model": data.get("model"), "tools": tools, "stream": bool(data.get("stream"))}


def _error_text(err: Any) -> str:
    if isinstance(err, dict):
        return str(err.get("message") or err.get("type") or _dump(err))
    return str(err)


def _internal_response(text: str, protocol: str) -> str | None:
    """A Responses or Gemini answer (JSON, or the SSE the client got) as an internal-form one."""
    from dario.protocols import adapter
    a = adapter(protocol)
    try:
        if text.lstrip()[:16].startswith(("event:", "data:", ":")):
            parser, reader = SSEParser(), a.stream_to_internal("")
            events = [ie for ev in parser.feed(text.encode()) + parser.flush() for ie in reader.events(ev)]
            return "".join(f"event: {e.event}\ndata: {e.data}\n\n" for e in events + reader.finish_events())
        data = _json(text)
        if isinstance(data, dict) and "error" not in data:
            return json.dumps(a.response_to_internal(data, str(data.get("model") or data.get("modelVersion") or "")))
    except Exception:
        return None
    return None


def parse_response(body: bytes | None, protocol: str | None = None) -> Response:
    if not body:
        return Response()
    text = bytes(body).decode("utf-8", "replace")
    if protocol in _VIA_INTERNAL:
        text = _internal_response(text, protocol) or text
    head = text.lstrip()[:16]
    if head.startswith(("event:", "data:", ":")):
        return _parse_sse(text)
    data = _json(text)
    if not isinstance(data, dict):
        return Response(raw=text)
    if "error" in data and not data.get("choices") and not data.get("content"):
        return Response(error=_error_text(data["error"]))
    if "choices" in data:  # OpenAI
        choice = (data.get("choices") or [{}])[0] or {}
        msg = _message({"role": "assistant", **(choice.get("message") or {})})
        return Response(msg, data.get("model"), choice.get("finish_reason"))
    if "content" in data:  # Anthropic
        return Response(Message("assistant", _blocks(data.get("content"))), data.get("model"),
                        data.get("stop_reason"))
    return Response(raw=text)


def _parse_sse(text: str) -> Response:
    parser = SSEParser()
    events = parser.feed(text.encode("utf-8")) + parser.flush()
    resp = Response()
    blocks: dict[int, dict] = {}  # Anthropic: index -> block being built
    oa_text: list[str] = []
    oa_reason: list[str] = []
    oa_tools: dict[int, dict] = {}
    for ev in events:
        if ev.data.strip() == "[DONE]":
            continue
        d = _json(ev.data)
        if not isinstance(d, dict):
            continue
        t = d.get("type")
        if t == "message_start":
            resp.model = (d.get("message") or {}).get("model")
        elif t == "content_block_start":
            blocks[d.get("index", len(blocks))] = dict(d.get("content_block") or {}, _json="")
        elif t == "content_block_delta":
            b = blocks.setdefault(d.get("index", 0), {"type": "text", "text": "", "_json": ""})
            delta = d.get("delta") or {}
            dt = delta.get("type")
            if dt == "text_delta":
                b["text"] = b.get("text", "") + delta.get("text", "")
            elif dt == "thinking_delta":
                b["thinking"] = b.get("thinking", "") + delta.get("thinking", "")
            elif dt == "input_json_delta":
                b["_json"] += delta.get("partial_json", "")
        elif t == "message_delta":
            resp.stop_reason = (d.get("delta") or {}).get("stop_reason") or resp.stop_reason
        elif t == "error" or ("error" in d and "choices" not in d):
            resp.error = _error_text(d.get("error"))
        elif "choices" in d:  # OpenAI chunk
            resp.model = resp.model or d.get("model")
            for ch in d.get("choices") or []:
                delta = ch.get("delta") or {}
                if delta.get("content"):
                    oa_text.append(delta["content"])
                if delta.get("reasoning_content"):
                    oa_reason.append(delta["reasoning_content"])
                for tc in delta.get("tool_calls") or []:
                    slot = oa_tools.setdefault(tc.get("index", len(oa_tools)), {"id": None, "name": "", "args": ""})
                    slot["id"] = tc.get("id") or slot["id"]
                    fn = tc.get("function") or {}
                    slot["name"] += fn.get("name") or ""
                    slot["args"] += fn.get("arguments") or ""
                resp.stop_reason = ch.get("finish_reason") or resp.stop_reason
    if blocks:
        content = []
        for _, b in sorted(blocks.items()):
            raw = b.pop("_json", "")
            if b.get("type") in ("tool_use", "server_tool_use") and raw:
                b["input"] = _json(raw) if _json(raw) is not None else raw
            content.append(b)
        resp.message = Message("assistant", _blocks(content))
    elif oa_text or oa_tools or oa_reason:
        parts = [Part("thinking", "".join(oa_reason))] if oa_reason else []
        if oa_text:
            parts.append(Part("text", "".join(oa_text)))
        for _, tc in sorted(oa_tools.items()):
            parts.append(Part("tool_call", _pretty_args(tc["args"]), name=tc["name"] or None, id=tc["id"]))
        resp.message = Message("assistant", parts)
    return resp
