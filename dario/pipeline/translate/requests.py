"""Request bodies: Anthropic Messages <-> OpenAI Chat Completions.

Fields with no counterpart on the other side are dropped; content that would be
silently lost (audio, file ids, unknown block types) raises TranslationError so
the caller gets a 400 instead of a wrong answer.
"""

from __future__ import annotations

import re
from typing import Any

from dario.core.text import text_of
from dario.pipeline.translate import TranslationError
from dario.pipeline.translate._common import dumps, parse_arguments

DEFAULT_MAX_TOKENS = 4096  # Anthropic requires max_tokens; OpenAI clients often omit it
TOOL_ERROR_MARK = "[tool error] "  # OpenAI tool messages have no is_error flag; it rides in the text

_IMAGE_TYPES = {"image/jpeg", "image/png", "image/gif", "image/webp"}
_DATA_URL = re.compile(r"^data:([\w.+-]+/[\w.+-]+)(?:;[^,;]*)*?;base64,(.*)$", re.S)
# Anthropic server-executed blocks in assistant history: another backend cannot
# replay them, and their gist is already in the text that follows.
_SERVER_BLOCK = re.compile(r"^(server_tool_use|.*_tool_result|container_upload)$")


def _need_dict(body: Any) -> dict:
    if not isinstance(body, dict):
        raise TranslationError("request body must be a JSON object")
    return body


def _need_list(body: dict) -> list:
    msgs = body.get("messages")
    if not isinstance(msgs, list):
        raise TranslationError("'messages' must be a list")
    return msgs


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _block_type(b: Any) -> str:
    if not isinstance(b, dict) or not isinstance(b.get("type"), str):
        raise TranslationError("content blocks must be objects with a 'type'")
    return b["type"]


# ---------------------------------------------------------------- thinking

_BUDGETS = {"minimal": 1024, "low": 2048, "medium": 8192, "high": 16384, "xhigh": 24576, "max": 32000}
_EFFORTS = {"minimal": "low", "low": "low", "medium": "medium", "high": "high", "xhigh": "xhigh", "max": "max"}
_CLAUDE_VER = re.compile(r"claude-(?:[a-z]+-)*?(\d+)(?:[-.](\d{1,2}))?(?=$|[-@:._])")


def _generation(model: str) -> tuple[int, int]:
    """Which Claude API generation a model name belongs to.

    Claude 4.6 added adaptive thinking; 4.7 dropped budget_tokens and the sampling
    knobs (temperature/top_p/top_k are a 400 there). A Claude name we cannot place
    (an alias, a preview) is taken as current; a non-Claude name on an
    Anthropic-compatible server is taken as the classic API.
    """
    name = (model or "").lower()
    if "claude" not in name:
        return (0, 0)
    m = _CLAUDE_VER.search(name)
    if not m:
        return (99, 0)
    return (int(m.group(1)), int(m.group(2) or 0))


def _effort_from_anthropic(body: dict) -> str | None:
    thinking = body.get("thinking") if isinstance(body.get("thinking"), dict) else {}
    oc = body.get("output_config") if isinstance(body.get("output_config"), dict) else {}
    kind = thinking.get("type")
    if kind == "disabled":
        return None  # not "none": most OpenAI-compatible servers reject it
    if kind == "enabled" and _num(thinking.get("budget_tokens")):
        b = thinking["budget_tokens"]
        return "low" if b < 4096 else "medium" if b < 16384 else "high"
    effort = oc.get("effort")
    if effort in ("low", "medium", "high"):
        return effort
    if effort in ("xhigh", "max"):
        return "high"  # the widely accepted ceiling among OpenAI-compatible servers
    return None


def _apply_effort(out: dict, effort: Any, model: str, max_given: bool) -> None:
    """OpenAI reasoning_effort -> Anthropic thinking (+ output_config.effort)."""
    if effort == "none":
        out["thinking"] = {"type": "disabled"}
        return
    if effort not in _BUDGETS:
        return
    tc = out.get("tool_choice", {})
    if tc.get("type") in ("any", "tool"):
        return  # Anthropic refuses thinking with forced tool use; the tool choice is the harder constraint
    if not max_given:
        out["max_tokens"] = DEFAULT_MAX_TOKENS + _BUDGETS[effort]  # thinking counts toward max_tokens
    gen = _generation(model)
    if gen >= (4, 6):
        level = _EFFORTS[effort]
        if level == "xhigh" and gen < (4, 7):
            level = "high"  # xhigh arrived with 4.7
        out["thinking"] = {"type": "adaptive"}
        out["output_config"] = {**out.get("output_config", {}), "effort": level}
    else:
        budget = min(_BUDGETS[effort], out["max_tokens"] - 1)  # must stay below max_tokens
        if budget < 1024:
            return  # below Anthropic's minimum budget: answer without thinking
        out["thinking"] = {"type": "enabled", "budget_tokens": budget}
    # Thinking rejects a non-default temperature and narrows top_p.
    out.pop("temperature", None)
    out.pop("top_p", None)


def _apply_sampling(out: dict, body: dict, model: str) -> None:
    if _generation(model) >= (4, 7):
        return  # removed from the API for these models: sending them is a 400
    if _num(body.get("temperature")):
        out["temperature"] = min(max(body["temperature"], 0), 1)  # OpenAI allows up to 2
    if _num(body.get("top_p")):
        out["top_p"] = body["top_p"]


# ------------------------------------------------ Anthropic -> OpenAI

def _image_source_to_url(src: Any) -> str:
    if not isinstance(src, dict):
        raise TranslationError("image block needs a 'source'")
    if src.get("type") == "base64":
        return f"data:{src.get('media_type', 'image/png')};base64,{src.get('data', '')}"
    if src.get("type") == "url" and isinstance(src.get("url"), str):
        return src["url"]
    raise TranslationError(f"image source type {src.get('type')!r} cannot be sent to an OpenAI backend")


def _a_part(b: dict) -> dict:
    t = _block_type(b)
    if t == "text":
        return {"type": "text", "text": b.get("text", "")}
    if t == "image":
        return {"type": "image_url", "image_url": {"url": _image_source_to_url(b.get("source"))}}
    if t == "document":
        src = b.get("source") if isinstance(b.get("source"), dict) else {}
        if src.get("type") == "base64" and src.get("media_type") == "application/pdf":
            return {"type": "file", "file": {"filename": b.get("title") or "document.pdf",
                                             "file_data": f"data:application/pdf;base64,{src.get('data', '')}"}}
        if src.get("type") == "text":
            return {"type": "text", "text": src.get("data", "")}
        if src.get("type") == "content":
            return {"type": "text", "text": text_of(src.get("content"), "\n")}
        raise TranslationError(f"document source type {src.get('type')!r} cannot be sent to an OpenAI backend")
    raise TranslationError(f"content block type {t!r} cannot be sent to an OpenAI backend")


def _a_user(blocks: list) -> list[dict]:
    """One Anthropic user turn -> tool messages first (OpenAI wants them right after
    the assistant's tool_calls), then one user message for the rest."""
    tools: list[dict] = []
    parts: list[dict] = []
    for b in blocks:
        t = _block_type(b)
        if t == "tool_result":
            content = b.get("content")
            text = text_of(content, "\n")
            if b.get("is_error"):
                text = TOOL_ERROR_MARK + text
            tools.append({"role": "tool", "tool_call_id": str(b.get("tool_use_id", "")), "content": text})
            # OpenAI tool messages are text-only: images ride along in the user message.
            for sub in content if isinstance(content, list) else []:
                if isinstance(sub, dict) and sub.get("type") == "image":
                    parts.append({"type": "text", "text": f"[image from tool result {b.get('tool_use_id')}]"})
                    parts.append(_a_part(sub))
        elif t in ("thinking", "redacted_thinking"):
            continue
        else:
            parts.append(_a_part(b))
    out = tools
    if len(parts) == 1 and parts[0]["type"] == "text":
        out.append({"role": "user", "content": parts[0]["text"]})
    elif parts:
        out.append({"role": "user", "content": parts})
    return out


def assistant_message(blocks: list, *, strict: bool = True) -> dict:
    """An Anthropic assistant turn as one OpenAI assistant message.

    strict (requests): a block no OpenAI backend can take is an error. Not strict (responses,
    already paid for): such blocks are skipped quietly.
    """
    texts: list[str] = []
    reasoning: list[str] = []
    calls: list[dict] = []
    for b in blocks:
        t = _block_type(b) if strict else (b.get("type") if isinstance(b, dict) else None)
        if t == "text":
            texts.append(b.get("text", ""))
        elif t == "thinking":
            reasoning.append(b.get("thinking", ""))
        elif t == "tool_use":
            calls.append({"id": str(b.get("id", "")), "type": "function",
                          "function": {"name": b.get("name", ""), "arguments": dumps(b.get("input") or {})}})
        elif strict and not (t == "redacted_thinking" or _SERVER_BLOCK.match(t)):
            # (redacted thinking and server-side blocks: nothing another backend can use)
            raise TranslationError(f"assistant content block type {t!r} cannot be sent to an OpenAI backend")
    # Text blocks of one turn are one reply (citations split it mid-sentence): join with "".
    msg: dict = {"role": "assistant", "content": "".join(texts) if texts or not calls else None}
    if reasoning:
        msg["reasoning_content"] = "\n\n".join(reasoning)
    if calls:
        msg["tool_calls"] = calls
    return msg


def _a_tool(t: Any) -> dict | None:
    if not isinstance(t, dict) or "input_schema" not in t:
        return None  # server tools (web_search, bash, ...) have no OpenAI equivalent
    fn: dict = {"name": t.get("name", ""), "parameters": t.get("input_schema") or {"type": "object"}}
    if t.get("description"):
        fn["description"] = t["description"]
    if isinstance(t.get("strict"), bool):
        fn["strict"] = t["strict"]
    return {"type": "function", "function": fn}


def _a_tool_choice(tc: Any) -> Any:
    if not isinstance(tc, dict):
        return None
    kind = tc.get("type")
    if kind == "tool":
        return {"type": "function", "function": {"name": tc.get("name", "")}}
    return {"auto": "auto", "any": "required", "none": "none"}.get(kind)


def anthropic_to_openai_request(body: dict, model: str) -> dict:
    body = _need_dict(body)
    messages: list[dict] = []
    system = body.get("system")
    sys_text = text_of(system, "\n\n")
    if sys_text:
        messages.append({"role": "system", "content": sys_text})
    for m in _need_list(body):
        if isinstance(m, dict) and m.get("role") == "system":
            # mid-conversation system messages (Claude Code >= 2.1.2xx sends them) keep their place
            text = text_of(m.get("content"), "\n\n")
            if text:
                messages.append({"role": "system", "content": text})
            continue
        if not isinstance(m, dict) or m.get("role") not in ("user", "assistant"):
            raise TranslationError("each message needs role 'user', 'assistant' or 'system'")
        content = m.get("content")
        if isinstance(content, str):
            messages.append({"role": m["role"], "content": content})
        elif not isinstance(content, list):
            raise TranslationError("message content must be a string or a list of blocks")
        elif m["role"] == "user":
            messages.extend(_a_user(content))
        else:
            messages.append(assistant_message(content))

    out: dict = {"model": model, "messages": messages}
    if _num(body.get("max_tokens")):
        out["max_completion_tokens"] = body["max_tokens"]  # max_tokens is rejected by OpenAI reasoning models
    for k in ("temperature", "top_p"):
        if _num(body.get(k)):
            out[k] = body[k]
    stops = body.get("stop_sequences")
    if isinstance(stops, list) and stops:
        out["stop"] = [s for s in stops if isinstance(s, str)]
    if body.get("stream") is True:
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}  # else OpenAI sends no usage on streams
    meta = body.get("metadata")
    if isinstance(meta, dict) and isinstance(meta.get("user_id"), str):
        out["user"] = meta["user_id"]
    tools = [t for t in map(_a_tool, body.get("tools") or []) if t]
    if tools:
        out["tools"] = tools
        choice = _a_tool_choice(body.get("tool_choice"))
        if choice is not None:
            out["tool_choice"] = choice
        tc = body.get("tool_choice")
        if isinstance(tc, dict) and tc.get("disable_parallel_tool_use") is True:
            out["parallel_tool_calls"] = False  # only valid alongside tools
    effort = _effort_from_anthropic(body)
    if effort:
        out["reasoning_effort"] = effort
    oc = body.get("output_config")
    fmt = oc.get("format") if isinstance(oc, dict) else None
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema" and isinstance(fmt.get("schema"), dict):
        out["response_format"] = {"type": "json_schema",
                                  "json_schema": {"name": "output", "schema": fmt["schema"], "strict": True}}
    return out


# ------------------------------------------------ OpenAI -> Anthropic

def _o_image(url: Any) -> dict:
    if not isinstance(url, str) or not url:
        raise TranslationError("image_url needs a url")
    m = _DATA_URL.match(url)
    if m:
        media = m.group(1).lower()
        if media not in _IMAGE_TYPES:
            raise TranslationError(f"image type {media!r} is not supported by Anthropic")
        return {"type": "image", "source": {"type": "base64", "media_type": media, "data": m.group(2)}}
    if url.startswith(("http://", "https://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    raise TranslationError("image_url must be an http(s) or base64 data: URL")


def _o_part(p: Any) -> dict | None:
    if isinstance(p, str):
        return {"type": "text", "text": p} if p else None
    if not isinstance(p, dict):
        raise TranslationError("content parts must be objects")
    t = p.get("type")
    if t in ("text", "refusal"):
        text = p.get(t)
        return {"type": "text", "text": text} if isinstance(text, str) and text else None
    if t == "image_url":
        iu = p.get("image_url")
        return _o_image(iu.get("url") if isinstance(iu, dict) else iu)
    if t == "file":
        f = p.get("file") if isinstance(p.get("file"), dict) else {}
        m = _DATA_URL.match(f.get("file_data") or "")
        if m and m.group(1) == "application/pdf":
            doc: dict = {"type": "document", "source": {"type": "base64", "media_type": "application/pdf",
                                                         "data": m.group(2)}}
            if f.get("filename"):
                doc["title"] = f["filename"]
            return doc
        raise TranslationError("only inline PDF files (file_data) can be sent to an Anthropic backend")
    raise TranslationError(f"content part type {t!r} cannot be sent to an Anthropic backend")


def _o_content(content: Any) -> list[dict]:
    # Anthropic rejects empty text blocks, so empty strings vanish here.
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    if isinstance(content, list):
        return [b for b in map(_o_part, content) if b]
    raise TranslationError("message content must be a string or a list of parts")


def _o_tool_call(c: Any) -> dict:
    if not isinstance(c, dict) or not isinstance(c.get("function"), dict):
        raise TranslationError("only function tool calls can be sent to an Anthropic backend")
    fn = c["function"]
    return {"type": "tool_use", "id": str(c.get("id", "")), "name": fn.get("name", ""),
            "input": parse_arguments(fn.get("arguments"))}


def _o_tool_result(m: dict) -> dict:
    text = text_of(m.get("content"), "\n")
    block: dict = {"type": "tool_result", "tool_use_id": str(m.get("tool_call_id", ""))}
    if text.startswith(TOOL_ERROR_MARK):
        text, block["is_error"] = text[len(TOOL_ERROR_MARK):], True
    if text:
        block["content"] = text
    return block


def _o_messages(msgs: list) -> tuple[list[str], list[dict]]:
    system: list[str] = []
    out: list[dict] = []
    for m in msgs:
        if not isinstance(m, dict):
            raise TranslationError("each message must be an object")
        role = m.get("role")
        if role in ("system", "developer"):
            # Anthropic has one top-level system prompt; instructions given mid-chat join it.
            text = text_of(m.get("content"), "\n\n")
            if text:
                system.append(text)
            continue
        if role == "user":
            blocks = _o_content(m.get("content"))
        elif role == "assistant":
            # reasoning_content is dropped: Anthropic only accepts thinking it signed itself.
            blocks = _o_content(m.get("content")) + [_o_tool_call(c) for c in m.get("tool_calls") or []]
            role = "assistant"
        elif role == "tool":
            blocks, role = [_o_tool_result(m)], "user"
        else:
            raise TranslationError(f"message role {role!r} cannot be sent to an Anthropic backend")
        if not blocks:
            continue
        if out and out[-1]["role"] == role:  # keep turns alternating (tool results + follow-up text)
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})
    return system, out


def _o_tools(body: dict) -> tuple[list[dict], Any]:
    tools = []
    for t in body.get("tools") or []:
        fn = t.get("function") if isinstance(t, dict) and t.get("type", "function") == "function" else None
        if not isinstance(fn, dict):
            continue  # custom (free-text) tools have no Anthropic form
        tool: dict = {"name": fn.get("name", ""),
                      "input_schema": fn.get("parameters") or {"type": "object", "properties": {}}}
        if fn.get("description"):
            tool["description"] = fn["description"]
        tools.append(tool)
    tc = body.get("tool_choice")
    choice: dict | None = None
    if tc in ("auto", "required", "none"):
        choice = {"type": {"auto": "auto", "required": "any", "none": "none"}[tc]}
    elif isinstance(tc, dict) and tc.get("type") == "function" and isinstance(tc.get("function"), dict):
        choice = {"type": "tool", "name": tc["function"].get("name", "")}
    elif isinstance(tc, dict) and tc.get("type") == "allowed_tools" and isinstance(tc.get("allowed_tools"), dict):
        allowed = tc["allowed_tools"]
        names = {(a.get("function") or {}).get("name") for a in allowed.get("tools") or [] if isinstance(a, dict)}
        tools = [t for t in tools if t["name"] in names]
        choice = {"type": "any" if allowed.get("mode") == "required" else "auto"}
    if body.get("parallel_tool_calls") is False and tools:
        choice = choice or {"type": "auto"}
        if choice["type"] != "none":
            choice["disable_parallel_tool_use"] = True
    return tools, choice


def openai_to_anthropic_request(body: dict, model: str) -> dict:
    body = _need_dict(body)
    if _num(body.get("n")) and body["n"] > 1:
        raise TranslationError("n > 1 is not supported by Anthropic backends")
    system, messages = _o_messages(_need_list(body))
    out: dict = {"model": model, "messages": messages}
    limit = body.get("max_completion_tokens")
    if not _num(limit):
        limit = body.get("max_tokens")
    max_given = _num(limit)
    out["max_tokens"] = int(limit) if max_given else DEFAULT_MAX_TOKENS
    if system:
        out["system"] = system[0] if len(system) == 1 else [{"type": "text", "text": s} for s in system]
    _apply_sampling(out, body, model)
    stop = body.get("stop")
    stops = [stop] if isinstance(stop, str) else stop if isinstance(stop, list) else []
    stops = [s for s in stops if isinstance(s, str) and s]
    if stops:
        out["stop_sequences"] = stops
    if body.get("stream") is True:
        out["stream"] = True
    if isinstance(body.get("user"), str):
        out["metadata"] = {"user_id": body["user"]}
    tools, choice = _o_tools(body)
    if tools:  # a tool_choice without tools is an Anthropic 400
        out["tools"] = tools
        if choice:
            out["tool_choice"] = choice
    rf = body.get("response_format")
    if isinstance(rf, dict) and rf.get("type") == "json_schema" and isinstance(rf.get("json_schema"), dict):
        schema = rf["json_schema"].get("schema")
        if isinstance(schema, dict):
            out["output_config"] = {"format": {"type": "json_schema", "schema": schema}}
    _apply_effort(out, body.get("reasoning_effort"), model, max_given)
    return out
