"""A fake LLM provider on loopback that speaks the real wire formats: Anthropic Messages, OpenAI
Chat Completions, OpenAI Responses and Gemini (generateContent, streamGenerateContent?alt=sse).

It runs a real aiohttp server in a thread of its own, so synchronous SDKs, subprocesses
and the asyncio code under test can all reach it. Answers are deterministic:

- no tools in the request (or the last message already carries a tool result): a text answer, ANSWER;
- tools given: a call of the first tool with TOOL_ARGS, its arguments streamed in fragments.

Where the real providers refuse a request shape dario must not send, so does this fake: Gemini
refuses JSON Schema keywords outside its Schema subset and an empty toolConfig, and answers a
function call with a thoughtSignature that must come back on it (GEMINI_SIGNATURE).

Faults are queued with `fail_next(...)` and consumed one per request.
Every request received is kept in `.requests` for assertions.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

ANSWER = "Hello from the fake upstream."
TOOL_ARGS = {"city": "Paris", "unit": "celsius"}
USAGE = {"input": 21, "output": 9, "cache_read": 5, "cache_write": 3}
GEMINI_THOUGHTS = 3  # of the 9 output tokens, Gemini reports these as thoughtsTokenCount
GEMINI_SIGNATURE = "c2lnLWZha2UtMDE="
_GEMINI_REFUSED_SCHEMA_KEYS = ("$schema", "additionalProperties", "const", "$ref", "$defs", "exclusiveMinimum")
RATE_HEADERS = {
    "anthropic-ratelimit-requests-limit": "1000",
    "anthropic-ratelimit-requests-remaining": "999",
    "anthropic-ratelimit-requests-reset": "2030-01-01T00:00:00Z",
    "x-ratelimit-limit-requests": "1000",
    "x-ratelimit-remaining-requests": "999",
    "x-ratelimit-reset-requests": "1s",
}


@dataclass
class Fault:
    status: int | None = None  # answer this status with an error body
    body: Any = None  # error body (default: the protocol's error shape)
    headers: dict = field(default_factory=dict)
    drop_after_events: int | None = None  # stream: cut the connection after N events
    delay: float = 0.0  # seconds before the first byte
    reset: bool = False  # close the connection without answering
    stall_after_events: int | None = None  # stream: go quiet for `stall` seconds after N events
    stall: float = 0.0
    event_gap: float = 0.0  # stream: seconds between events
    rechunk: int | None = None  # stream: the bytes cut every N bytes, wherever that falls in an event


@dataclass
class Seen:
    method: str
    path: str
    headers: dict
    body: Any
    key: str | None = None  # the API key it carried (x-api-key or bearer)


def _chunks(text: str, n: int = 3) -> list[str]:
    step = max(1, len(text) // n)
    return [text[i:i + step] for i in range(0, len(text), step)]


def _wants_tool(body: dict, protocol: str) -> dict | None:
    tools = body.get("tools") or []
    if not tools:
        return None
    msgs = body.get("messages") or []
    last = msgs[-1] if msgs else {}
    if protocol == "anthropic":
        content = last.get("content")
        if isinstance(content, list) and any(
                isinstance(b, dict) and b.get("type") == "tool_result" for b in content):
            return None
        t = tools[0]
        return {"name": t.get("name")}
    if protocol == "responses":
        items = body.get("input") if isinstance(body.get("input"), list) else []
        if items and isinstance(items[-1], dict) and items[-1].get("type") == "function_call_output":
            return None
        return {"name": tools[0].get("name")}
    if protocol == "gemini":
        contents = body.get("contents") or []
        parts = (contents[-1] or {}).get("parts") or [] if contents else []
        if any(isinstance(p, dict) and "functionResponse" in p for p in parts):
            return None
        decls = [d for t in tools for d in (t.get("functionDeclarations") or [])]
        return {"name": decls[0].get("name")} if decls else None
    if last.get("role") == "tool":
        return None
    t = tools[0]
    return {"name": (t.get("function") or {}).get("name")}


def _schema_keys(obj, found: set) -> set:
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k in _GEMINI_REFUSED_SCHEMA_KEYS:
                found.add(k)
            _schema_keys(v, found)
    elif isinstance(obj, list):
        for v in obj:
            _schema_keys(v, found)
    return found


class FakeUpstream:
    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self.port = 0
        self.reset()

    def reset(self) -> None:
        """Back to the default behaviour, with nothing seen: each test starts from here."""
        self.requests: list[Seen] = []
        self.faults: list[Fault] = []
        self.answer = ANSWER
        self.models = ["fake-model-1", "fake-model-2"]
        self.always_429_keys: set[str] = set()  # chat calls with these keys always get a 429
        self.retry_after_429 = "30"  # retry-after sent with those 429s (None: no header)
        self.key_headers: dict[str, dict] = {}  # key -> extra (rate-limit) headers on its answers
        self.reject_keys: set[str] = set()  # GET /v1/models answers 401 to these keys

    # -- control ------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def fail_next(self, **kw) -> None:
        self.faults.append(Fault(**kw))

    def last(self) -> Seen:
        return self.requests[-1]

    def start(self) -> "FakeUpstream":
        ready = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(self._start())
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="fake-upstream", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fake upstream did not start")
        return self

    def stop(self) -> None:
        if self._loop is None:
            return
        fut = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop)
        try:
            fut.result(5)
        except Exception:
            pass
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop = None  # stopped: a second stop() is a no-op

    async def _start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/messages", self._anthropic)
        app.router.add_post("/v1/messages/count_tokens", self._count_tokens)
        app.router.add_post("/v1/chat/completions", self._openai)
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/v1/responses", self._responses)
        for version in ("v1beta", "v1"):
            app.router.add_post(f"/{version}/models/{{tail:.+}}", self._gemini)
        app.router.add_get("/v1beta/models", self._gemini_models)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]

    # -- handlers -----------------------------------------------------------
    async def _take(self, request: web.Request) -> tuple[Any, Fault | None]:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        key = (request.headers.get("x-api-key") or request.headers.get("authorization", "")[7:]
               or request.headers.get("x-goog-api-key") or request.query.get("key") or None)
        self.requests.append(Seen(request.method, request.path_qs, dict(request.headers), body, key))
        if key in self.always_429_keys:
            headers = {"retry-after": self.retry_after_429} if self.retry_after_429 is not None else {}
            return body, Fault(status=429, headers=headers)
        fault = self.faults.pop(0) if self.faults else None
        if fault and fault.delay:
            await asyncio.sleep(fault.delay)
        return body, fault

    def _error(self, protocol: str, fault: Fault) -> web.Response:
        body = fault.body
        if body is None:
            msg = f"fake upstream error {fault.status}"
            if protocol == "anthropic":
                etype = "rate_limit_error" if fault.status == 429 else "api_error"
                body = {"type": "error", "error": {"type": etype, "message": msg}}
            elif protocol == "gemini":
                body = {"error": {"code": fault.status, "message": msg,
                                  "status": "RESOURCE_EXHAUSTED" if fault.status == 429 else "INTERNAL"}}
            else:
                body = {"error": {"message": msg, "type": "rate_limit_exceeded" if fault.status == 429
                                  else "server_error", "param": None, "code": None}}
        text = body if isinstance(body, str) else json.dumps(body)
        return web.Response(status=fault.status, text=text, content_type="application/json",
                            headers=fault.headers)

    async def _models(self, request: web.Request) -> web.Response:
        self.requests.append(Seen(request.method, request.path_qs, dict(request.headers), None))
        key = request.headers.get("x-api-key") or request.headers.get("authorization", "")[7:]
        if key and key in self.reject_keys:
            return web.json_response({"error": {"message": "invalid api key", "type": "authentication_error"}},
                                     status=401)
        if "anthropic-version" in request.headers:
            data = [{"type": "model", "id": m, "display_name": m, "created_at": "2025-01-01T00:00:00Z"}
                    for m in self.models]
            return web.json_response({"data": data, "has_more": False, "first_id": data[0]["id"],
                                      "last_id": data[-1]["id"]})
        return web.json_response({"object": "list", "data": [
            {"id": m, "object": "model", "created": 1700000000, "owned_by": "fake"} for m in self.models]})

    async def _count_tokens(self, request: web.Request) -> web.Response:
        body, _ = await self._take(request)
        return web.json_response({"input_tokens": len(json.dumps(body)) // 4})

    async def _anthropic(self, request: web.Request) -> web.StreamResponse:
        body, fault = await self._take(request)
        if fault and fault.reset:
            request.transport.close()
            return web.Response(status=500)
        if fault and fault.status:
            return self._error("anthropic", fault)
        if not isinstance(body, dict) or "messages" not in body:
            return web.json_response({"type": "error", "error": {
                "type": "invalid_request_error", "message": "messages: field required"}}, status=400)
        tool = _wants_tool(body, "anthropic")
        model = body.get("model")
        usage = {"input_tokens": USAGE["input"], "output_tokens": USAGE["output"],
                 "cache_read_input_tokens": USAGE["cache_read"],
                 "cache_creation_input_tokens": USAGE["cache_write"]}
        if tool:
            content = [{"type": "tool_use", "id": "toolu_fake01", "name": tool["name"], "input": TOOL_ARGS}]
            stop = "tool_use"
        else:
            content = [{"type": "text", "text": self.answer}]
            stop = "end_turn"
        if not body.get("stream"):
            return web.json_response({
                "id": "msg_fake01", "type": "message", "role": "assistant", "model": model,
                "content": content, "stop_reason": stop, "stop_sequence": None, "usage": usage,
            }, headers=self._rate_headers(request))

        events: list[tuple[str, dict]] = [("message_start", {"type": "message_start", "message": {
            "id": "msg_fake01", "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": None, "stop_sequence": None,
            "usage": {**usage, "output_tokens": 1}}}), ("ping", {"type": "ping"})]
        if tool:
            events.append(("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {
                "type": "tool_use", "id": "toolu_fake01", "name": tool["name"], "input": {}}}))
            for frag in _chunks(json.dumps(TOOL_ARGS), 4):
                events.append(("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {
                    "type": "input_json_delta", "partial_json": frag}}))
        else:
            events.append(("content_block_start", {"type": "content_block_start", "index": 0,
                                                   "content_block": {"type": "text", "text": ""}}))
            for frag in _chunks(self.answer):
                events.append(("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                       "delta": {"type": "text_delta", "text": frag}}))
        events.append(("content_block_stop", {"type": "content_block_stop", "index": 0}))
        events.append(("message_delta", {"type": "message_delta", "delta": {
            "stop_reason": stop, "stop_sequence": None}, "usage": {"output_tokens": USAGE["output"]}}))
        events.append(("message_stop", {"type": "message_stop"}))
        frames = [f"event: {name}\ndata: {json.dumps(data)}\n\n".encode() for name, data in events]
        return await self._stream(request, frames, fault)

    async def _openai(self, request: web.Request) -> web.StreamResponse:
        body, fault = await self._take(request)
        if fault and fault.reset:
            request.transport.close()
            return web.Response(status=500)
        if fault and fault.status:
            return self._error("openai", fault)
        if not isinstance(body, dict) or "messages" not in body:
            return web.json_response({"error": {"message": "messages is required", "type":
                                                "invalid_request_error", "param": "messages",
                                                "code": None}}, status=400)
        tool = _wants_tool(body, "openai")
        model = body.get("model")
        prompt = USAGE["input"] + USAGE["cache_read"]
        usage = {"prompt_tokens": prompt, "completion_tokens": USAGE["output"],
                 "total_tokens": prompt + USAGE["output"],
                 "prompt_tokens_details": {"cached_tokens": USAGE["cache_read"]}}
        created = int(time.time())
        if not body.get("stream"):
            if tool:
                msg = {"role": "assistant", "content": None, "tool_calls": [{
                    "id": "call_fake01", "type": "function",
                    "function": {"name": tool["name"], "arguments": json.dumps(TOOL_ARGS)}}]}
                finish = "tool_calls"
            else:
                msg = {"role": "assistant", "content": self.answer}
                finish = "stop"
            return web.json_response({
                "id": "chatcmpl-fake01", "object": "chat.completion", "created": created, "model": model,
                "choices": [{"index": 0, "message": msg, "finish_reason": finish, "logprobs": None}],
                "usage": usage}, headers=self._rate_headers(request))

        def chunk(delta: dict, finish: str | None = None, **extra) -> dict:
            return {"id": "chatcmpl-fake01", "object": "chat.completion.chunk", "created": created,
                    "model": model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish,
                                                 "logprobs": None}], **extra}

        datas: list[dict | str] = [chunk({"role": "assistant", "content": ""})]
        if tool:
            frags = _chunks(json.dumps(TOOL_ARGS), 4)
            datas.append(chunk({"tool_calls": [{"index": 0, "id": "call_fake01", "type": "function",
                                                "function": {"name": tool["name"], "arguments": ""}}]}))
            for frag in frags:
                datas.append(chunk({"tool_calls": [{"index": 0, "function": {"arguments": frag}}]}))
            datas.append(chunk({}, "tool_calls"))
        else:
            for frag in _chunks(self.answer):
                datas.append(chunk({"content": frag}))
            datas.append(chunk({}, "stop"))
        if (body.get("stream_options") or {}).get("include_usage"):
            datas.append({"id": "chatcmpl-fake01", "object": "chat.completion.chunk", "created": created,
                          "model": model, "choices": [], "usage": usage})
        datas.append("[DONE]")
        frames = [f"data: {d if isinstance(d, str) else json.dumps(d)}\n\n".encode() for d in datas]
        return await self._stream(request, frames, fault)

    async def _responses(self, request: web.Request) -> web.StreamResponse:
        body, fault = await self._take(request)
        if fault and fault.reset:
            request.transport.close()
            return web.Response(status=500)
        if fault and fault.status:
            return self._error("openai", fault)
        bad = None
        if not isinstance(body, dict) or not isinstance(body.get("input"), (str, list)):
            bad = "input: a string or a list of items is required"
        else:
            for it in body["input"] if isinstance(body["input"], list) else []:
                if it.get("type") == "function_call_output" and not it.get("call_id"):
                    bad = "function_call_output: call_id is required"
        if bad:
            return web.json_response({"error": {"message": bad, "type": "invalid_request_error", "param": "input",
                                                "code": None}}, status=400)
        tool = _wants_tool(body, "responses")
        model = body.get("model")
        usage = {"input_tokens": USAGE["input"] + USAGE["cache_read"],
                 "input_tokens_details": {"cached_tokens": USAGE["cache_read"]},
                 "output_tokens": USAGE["output"], "output_tokens_details": {"reasoning_tokens": 0},
                 "total_tokens": USAGE["input"] + USAGE["cache_read"] + USAGE["output"]}
        if tool:
            item = {"type": "function_call", "id": "fc_fake01", "call_id": "call_fake01", "name": tool["name"],
                    "arguments": json.dumps(TOOL_ARGS), "status": "completed"}
        else:
            item = {"type": "message", "id": "msg_fake01", "status": "completed", "role": "assistant",
                    "content": [{"type": "output_text", "text": self.answer, "annotations": []}]}
        resp = {"id": "resp_fake01", "object": "response", "created_at": int(time.time()), "status": "completed",
                "model": model, "output": [item], "usage": usage, "error": None, "incomplete_details": None,
                "parallel_tool_calls": True, "tool_choice": "auto", "tools": body.get("tools") or []}
        if not body.get("stream"):
            return web.json_response(resp, headers=self._rate_headers(request))
        seq = iter(range(1000))
        events = [{"type": "response.created", "response": {**resp, "status": "in_progress", "output": [],
                                                            "usage": None}}]
        if tool:
            events.append({"type": "response.output_item.added", "output_index": 0,
                           "item": {**item, "arguments": "", "status": "in_progress"}})
            for frag in _chunks(json.dumps(TOOL_ARGS), 4):
                events.append({"type": "response.function_call_arguments.delta", "item_id": "fc_fake01",
                               "output_index": 0, "delta": frag})
            events.append({"type": "response.function_call_arguments.done", "item_id": "fc_fake01",
                           "output_index": 0, "arguments": json.dumps(TOOL_ARGS)})
        else:
            events.append({"type": "response.output_item.added", "output_index": 0,
                           "item": {**item, "content": [], "status": "in_progress"}})
            events.append({"type": "response.content_part.added", "item_id": "msg_fake01", "output_index": 0,
                           "content_index": 0, "part": {"type": "output_text", "text": "", "annotations": []}})
            for frag in _chunks(self.answer):
                events.append({"type": "response.output_text.delta", "item_id": "msg_fake01", "output_index": 0,
                               "content_index": 0, "delta": frag})
            events.append({"type": "response.output_text.done", "item_id": "msg_fake01", "output_index": 0,
                           "content_index": 0, "text": self.answer})
        events.append({"type": "response.output_item.done", "output_index": 0, "item": item})
        events.append({"type": "response.completed", "response": resp})
        frames = [f"event: {e['type']}\ndata: {json.dumps({**e, 'sequence_number': next(seq)})}\n\n".encode()
                  for e in events]
        return await self._stream(request, frames, fault)

    async def _gemini_models(self, request: web.Request) -> web.Response:
        self.requests.append(Seen(request.method, request.path_qs, dict(request.headers), None))
        return web.json_response({"models": [{"name": f"models/{m}"} for m in self.models]})

    async def _gemini(self, request: web.Request) -> web.StreamResponse:
        body, fault = await self._take(request)
        model, _, method = request.match_info["tail"].rpartition(":")
        if fault and fault.reset:
            request.transport.close()
            return web.Response(status=500)
        if fault and fault.status:
            return self._error("gemini", fault)

        def invalid(msg: str) -> web.Response:
            return web.json_response({"error": {"code": 400, "message": msg, "status": "INVALID_ARGUMENT"}},
                                     status=400)
        if method == "countTokens":
            return web.json_response({"totalTokens": len(json.dumps(body)) // 4})
        if method not in ("generateContent", "streamGenerateContent"):
            return invalid(f"unknown method {method}")
        if not isinstance(body, dict) or not isinstance(body.get("contents"), list) or not body["contents"]:
            return invalid("* GenerateContentRequest.contents: contents is not specified")
        # `parameters` is Gemini's Schema subset; `parametersJsonSchema` takes full JSON Schema
        refused = _schema_keys([d.get("parameters") for t in body.get("tools") or []
                                for d in t.get("functionDeclarations") or []], set())
        if refused:
            return invalid(f'Invalid JSON payload received. Unknown name "{sorted(refused)[0]}" at '
                           "'tools[0].function_declarations[0].parameters'")
        if "toolConfig" in body and not (body["toolConfig"] or {}).get("functionCallingConfig"):
            return invalid("toolConfig: function_calling_config must be set")
        for c in body["contents"]:
            for p in c.get("parts") or []:
                if "functionCall" in p and c.get("role") == "model" and p.get("thoughtSignature") != GEMINI_SIGNATURE:
                    return invalid("Function call is missing a thought_signature in functionCall parts.")
        tool = _wants_tool(body, "gemini")
        usage = {"promptTokenCount": USAGE["input"] + USAGE["cache_read"],
                 "cachedContentTokenCount": USAGE["cache_read"],
                 "candidatesTokenCount": USAGE["output"] - GEMINI_THOUGHTS, "thoughtsTokenCount": GEMINI_THOUGHTS,
                 "totalTokenCount": USAGE["input"] + USAGE["cache_read"] + USAGE["output"]}
        base = {"modelVersion": model, "responseId": "fake01"}
        if tool:
            parts = [{"functionCall": {"name": tool["name"], "args": TOOL_ARGS}, "thoughtSignature": GEMINI_SIGNATURE}]
        else:
            parts = [{"text": self.answer}]
        if method == "generateContent":
            return web.json_response({"candidates": [{"content": {"role": "model", "parts": parts},
                                                      "finishReason": "STOP", "index": 0}],
                                      "usageMetadata": usage, **base}, headers=self._rate_headers(request))
        if request.query.get("alt") != "sse":
            return invalid("dario's fake upstream streams only with alt=sse")
        chunks = []
        if tool:
            chunks.append({"candidates": [{"content": {"role": "model", "parts": parts}, "index": 0}], **base})
        else:
            for frag in _chunks(self.answer):
                chunks.append({"candidates": [{"content": {"role": "model", "parts": [{"text": frag}]},
                                               "index": 0}], **base})
        chunks.append({"candidates": [{"content": {"role": "model", "parts": [{"text": ""}]},
                                       "finishReason": "STOP", "index": 0}], "usageMetadata": usage, **base})
        frames = [f"data: {json.dumps(c)}\r\n\r\n".encode() for c in chunks]
        return await self._stream(request, frames, fault)

    def _rate_headers(self, request: web.Request) -> dict:
        key = request.headers.get("x-api-key") or request.headers.get("authorization", "")[7:]
        return {**RATE_HEADERS, **self.key_headers.get(key, {})}

    async def _stream(self, request: web.Request, frames: list[bytes], fault: Fault | None) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"content-type": "text/event-stream", "cache-control": "no-cache",
                                           **self._rate_headers(request)})
        await resp.prepare(request)
        if fault and fault.rechunk:
            data = b"".join(frames)
            for i in range(0, len(data), fault.rechunk):
                await resp.write(data[i:i + fault.rechunk])
                await asyncio.sleep(0.002)  # each piece its own read on the other side
            await resp.write_eof()
            return resp
        for i, f in enumerate(frames):
            if fault and fault.drop_after_events is not None and i >= fault.drop_after_events:
                request.transport.close()
                return resp
            if fault and fault.stall_after_events is not None and i == fault.stall_after_events:
                await asyncio.sleep(fault.stall)
            await resp.write(f)
            await asyncio.sleep(fault.event_gap if fault else 0)  # let each event go out as its own chunk
        await resp.write_eof()
        return resp
