"""Runs one call with the official anthropic or openai SDK, default base URL, and prints one JSON line.

usage: sdk_client.py anthropic|openai sync|async|stream|astream|tools|atools
"""
import asyncio
import json
import os
import sys

provider, mode = sys.argv[1], sys.argv[2]
MESSAGES = [{"role": "user", "content": "hi"}]
out = {"pid": os.getpid()}


def error(e):
    cause = e.__cause__ or e.__context__
    return {"type": type(e).__name__, "message": str(e),
            "cause": None if cause is None else {"type": type(cause).__name__, "message": str(cause)}}


if provider == "anthropic":
    import anthropic

    WEATHER = [{"name": "get_weather", "description": "weather", "input_schema": {
        "type": "object", "properties": {"city": {"type": "string"}}}}]
    kw = dict(model="claude-fake", max_tokens=64, messages=MESSAGES)

    def run_sync():
        c = anthropic.Anthropic(max_retries=0)
        if mode == "sync":
            raw = c.messages.with_raw_response.create(**kw)
            out["url"] = str(raw.http_response.url)
            out["text"] = raw.parse().content[0].text
        elif mode in ("stream", "tools"):
            extra = {"tools": WEATHER} if mode == "tools" else {}
            deltas = []
            with c.messages.stream(**kw, **extra) as s:
                for ev in s:
                    if ev.type == "content_block_delta":
                        d = ev.delta
                        deltas.append(d.text if d.type == "text_delta" else d.partial_json)
                final = s.get_final_message()
            out["deltas"] = deltas
            block = final.content[0]
            out["text" if block.type == "text" else "tool_input"] = (
                block.text if block.type == "text" else block.input)

    async def run_async():
        c = anthropic.AsyncAnthropic(max_retries=0)
        if mode == "async":
            raw = await c.messages.with_raw_response.create(**kw)
            out["url"] = str(raw.http_response.url)
            out["text"] = (await raw.parse()).content[0].text
        else:
            extra = {"tools": WEATHER} if mode == "atools" else {}
            deltas = []
            async with c.messages.stream(**kw, **extra) as s:
                async for ev in s:
                    if ev.type == "content_block_delta":
                        d = ev.delta
                        deltas.append(d.text if d.type == "text_delta" else d.partial_json)
                final = await s.get_final_message()
            out["deltas"] = deltas
            block = final.content[0]
            out["text" if block.type == "text" else "tool_input"] = (
                block.text if block.type == "text" else block.input)
else:
    import openai

    TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}}}}]
    kw = dict(model="gpt-fake", messages=MESSAGES)

    def collect(chunks):
        deltas, args, text = [], "", ""
        for ch in chunks:
            if not ch.choices:
                continue
            d = ch.choices[0].delta
            if d.content:
                deltas.append(d.content)
                text += d.content
            for tc in d.tool_calls or []:
                if tc.function and tc.function.arguments:
                    deltas.append(tc.function.arguments)
                    args += tc.function.arguments
        out["deltas"] = deltas
        if args:
            out["tool_input"] = json.loads(args)
        else:
            out["text"] = text

    def run_sync():
        c = openai.OpenAI(max_retries=0)
        if mode == "sync":
            raw = c.chat.completions.with_raw_response.create(**kw)
            out["url"] = str(raw.http_response.url)
            out["text"] = raw.parse().choices[0].message.content
        else:
            extra = {"tools": TOOLS} if mode == "tools" else {}
            collect(list(c.chat.completions.create(**kw, **extra, stream=True)))

    async def run_async():
        c = openai.AsyncOpenAI(max_retries=0)
        if mode == "async":
            raw = await c.chat.completions.with_raw_response.create(**kw)
            out["url"] = str(raw.http_response.url)
            out["text"] = raw.parse().choices[0].message.content
        else:
            extra = {"tools": TOOLS} if mode == "atools" else {}
            collect([ch async for ch in await c.chat.completions.create(**kw, **extra, stream=True)])

try:
    if mode in ("sync", "stream", "tools"):
        run_sync()
    else:
        asyncio.run(run_async())
except Exception as e:
    out["error"] = error(e)
print(json.dumps(out))
