"""A fast fake LLM provider for the benchmark: a raw asyncio protocol (uvloop when available).

Speaks just enough HTTP/1.1 (keep-alive, Content-Length bodies) and just enough of both wire formats:
- POST .../messages          -> an Anthropic message, or its SSE stream when the body asks to stream;
- POST .../chat/completions  -> an OpenAI chat completion, or its SSE stream (ending in [DONE]);
- GET  .../models, /health   -> small JSON;
- GET  /bytes/N              -> N bytes (the HTTPS proxy's blind-tunnel bench).

Streams send their first event at once, then the rest after STREAM_GAP seconds, so a proxy that
buffered the stream would show it as a first-byte delay. Whether a call streams is read from the
raw body bytes (no JSON parse): this server's own cost must not dominate the figures.

usage: python bench/upstream.py [--port 0] [--host 127.0.0.1]   (prints "PORT <n>" on stdout once listening)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys

STREAM_GAP = float(os.environ.get("BENCH_STREAM_GAP", "0.005"))
TEXT = "Hello from the bench upstream."
USAGE_A = {"input_tokens": 21, "output_tokens": 9}
USAGE_O = {"prompt_tokens": 21, "completion_tokens": 9, "total_tokens": 30}


def _head(status: str, ctype: bytes, length: int | None) -> bytes:
    framing = b"Content-Length: %d\r\n" % length if length is not None else b"Transfer-Encoding: chunked\r\n"
    return (b"HTTP/1.1 " + status.encode() + b"\r\nContent-Type: " + ctype + b"\r\n" + framing
            + b"request-id: req_bench\r\nx-ratelimit-remaining-requests: 999\r\n\r\n")


def _json(obj) -> bytes:
    body = json.dumps(obj, separators=(",", ":")).encode()
    return _head("200 OK", b"application/json", len(body)) + body


def _sse(event: str | None, data) -> bytes:
    text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return ((f"event: {event}\n" if event else "") + f"data: {text}\n\n").encode()


def _chunk(b: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(b), b)


ANTHROPIC_PLAIN = _json({"id": "msg_bench", "type": "message", "role": "assistant", "model": "claude-bench",
                         "content": [{"type": "text", "text": TEXT}], "stop_reason": "end_turn",
                         "stop_sequence": None, "usage": USAGE_A})
OPENAI_PLAIN = _json({"id": "chatcmpl-bench", "object": "chat.completion", "created": 1700000000,
                      "model": "gpt-bench", "choices": [{"index": 0, "message": {"role": "assistant", "content": TEXT},
                                                         "finish_reason": "stop", "logprobs": None}],
                      "usage": USAGE_O})
ANTHROPIC_STREAM_FIRST = _sse("message_start", {"type": "message_start", "message": {
    "id": "msg_bench", "type": "message", "role": "assistant", "model": "claude-bench", "content": [],
    "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 21, "output_tokens": 1}}})
ANTHROPIC_STREAM_REST = b"".join([
    _sse("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "text", "text": ""}}),
    *[_sse("content_block_delta", {"type": "content_block_delta", "index": 0,
                                   "delta": {"type": "text_delta", "text": w}}) for w in TEXT.split(" ")],
    _sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
    _sse("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                           "usage": {"output_tokens": 9}}),
    _sse("message_stop", {"type": "message_stop"}),
])


def _oai_chunk(delta, finish=None, usage=None):
    return _sse(None, {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1700000000,
                       "model": "gpt-bench", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                       **({"usage": usage} if usage else {})})


OPENAI_STREAM_FIRST = _oai_chunk({"role": "assistant", "content": ""})
OPENAI_STREAM_REST = b"".join([
    *[_oai_chunk({"content": w + " "}) for w in TEXT.split(" ")],
    _oai_chunk({}, "stop", USAGE_O),
    _sse(None, "[DONE]"),
])
STREAM_HEAD = _head("200 OK", b"text/event-stream", None)
MODELS = _json({"object": "list", "data": [{"id": "gpt-bench", "object": "model", "created": 0, "owned_by": "bench"}]})
HEALTH = _json({"status": "ok"})
NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"


_BLOBS: dict[int, bytes] = {}


def _blob(n: int) -> bytes:
    if n not in _BLOBS:
        _BLOBS[n] = _head("200 OK", b"application/octet-stream", n) + b"x" * n
    return _BLOBS[n]


class FakeLLM(asyncio.Protocol):
    __slots__ = ("transport", "buf", "loop")

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.buf = b""
        self.loop = asyncio.get_running_loop()

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data if self.buf else data
        while True:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                break
            head = buf[:end]
            length = 0
            lower = head.lower()
            i = lower.find(b"\r\ncontent-length:")
            if i >= 0:
                j = lower.find(b"\r\n", i + 2)
                length = int(head[i + 17:j if j >= 0 else len(head)])
            elif b"\r\ntransfer-encoding: chunked" in lower:
                # chunked request body (some clients stream it): wait for the terminating chunk
                k = buf.find(b"\r\n0\r\n\r\n", end)
                if k < 0:
                    break
                body, buf = buf[end + 4:k + 7], buf[k + 7:]
                self._answer(head, body)
                continue
            if len(buf) < end + 4 + length:
                break
            body = buf[end + 4:end + 4 + length]
            buf = buf[end + 4 + length:]
            self._answer(head, body)
        self.buf = buf

    def _answer(self, head: bytes, body: bytes) -> None:
        line = head[:head.find(b"\r\n")] if b"\r\n" in head else head
        path = line.split(b" ")[1].split(b"?")[0]
        stream = b'"stream":true' in body or b'"stream": true' in body
        if path.endswith(b"/messages"):
            if stream:
                self._stream(ANTHROPIC_STREAM_FIRST, ANTHROPIC_STREAM_REST)
            else:
                self.transport.write(ANTHROPIC_PLAIN)
        elif path.endswith(b"/chat/completions"):
            if stream:
                self._stream(OPENAI_STREAM_FIRST, OPENAI_STREAM_REST)
            else:
                self.transport.write(OPENAI_PLAIN)
        elif path.endswith(b"/models"):
            self.transport.write(MODELS)
        elif path.startswith(b"/health"):
            self.transport.write(HEALTH)
        elif path.startswith(b"/bytes/"):
            self.transport.write(_blob(int(path[7:])))
        else:
            self.transport.write(NOT_FOUND)

    def _stream(self, first: bytes, rest: bytes) -> None:
        self.transport.write(STREAM_HEAD + _chunk(first))
        tail = _chunk(rest) + b"0\r\n\r\n"
        if STREAM_GAP > 0:
            self.loop.call_later(STREAM_GAP, self._write_if_open, tail)
        else:
            self.transport.write(tail)

    def _write_if_open(self, data: bytes) -> None:
        if not self.transport.is_closing():
            self.transport.write(data)


async def main(port: int, host: str = "127.0.0.1") -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(FakeLLM, host, port, backlog=1024)
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--host", default="127.0.0.1")
    args = ap.parse_args()
    try:
        import uvloop
        run = uvloop.run
    except ImportError:
        run = asyncio.run
    try:
        run(main(args.port, args.host))
    except KeyboardInterrupt:
        sys.exit(0)
