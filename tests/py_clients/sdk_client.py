"""Runs one call with an official SDK (anthropic, openai Chat, openai Responses, google-genai),
default base URL, and prints one JSON line.

usage: sdk_client.py anthropic|openai sync|async|stream|astream|tools|atools
       sdk_client.py responses|genai sync|stream
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
elif provider == "responses":
    import openai

    def run_sync():
        c = openai.OpenAI(max_retries=0)
        if mode == "sync":
            raw = c.responses.with_raw_response.create(model="gpt-5", input="hi")
            out["url"] = str(raw.http_response.url)
            out["text"] = raw.parse().output_text
        else:
            with c.responses.stream(model="gpt-5", input="hi") as s:
                out["deltas"] = [e.delta for e in s if e.type == "response.output_text.delta"]
                out["text"] = s.get_final_response().output_text

    async def run_async():
        raise SystemExit("responses: sync and stream only")
elif provider == "genai":
    from google import genai
    from google.genai import types

    def run_sync():
        c = genai.Client(http_options=types.HttpOptions(retry_options=types.HttpRetryOptions(attempts=1)))
        if mode == "sync":
            r = c.models.generate_content(model="gemini-2.5-flash", contents="hi")
            out["text"] = r.text
        else:
            chunks = list(c.models.generate_content_stream(model="gemini-2.5-flash", contents="hi"))
            out["deltas"] = [ch.text for ch in chunks if ch.text]
            out["text"] = "".join(out["deltas"])

    async def run_async():
        raise SystemExit("genai: sync and stream only")
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
