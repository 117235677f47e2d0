"""OpenAI Responses <-> the internal form (Anthropic Messages): requests and answers, pure functions.

The Responses adapter (dario/protocols/openai_responses.py) calls these only when a call is
translated. Items dario cannot carry to the other side are a TranslationError (a 400 naming
them), never dropped without a word. Two carriers make round trips exact:

- a `reasoning` item's `encrypted_content` carries an Anthropic thinking block's signature
  (redacted thinking as `dario-redacted:<data>`), so a Responses client that sends reasoning
  back (Codex asks for `include: ["reasoning.encrypted_content"]`) replays valid thinking;
- tools of a `namespace` are offered flat as `NS__NAME`, and `custom` (free-text) tools as a
  function taking `{"input": "..."}`; `ToolNames` maps the calls back to the client's forms.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from dario.core.text import text_of
from dario.core.usage import Usage
from dario.pipeline.translate import TranslationError
from dario.pipeline.translate._common import as_dict as _dict, dumps, parse_arguments
from dario.pipeline.translate.requests import (
    DEFAULT_MAX_TOKENS,
    TOOL_ERROR_MARK,
    _apply_effort,
    _apply_sampling,
    _effort_from_anthropic,
    _image_source_to_url,
    _num,
    _o_image,
    _DATA_URL,
)

NS_SEP = "__"
REDACTED = "dario-redacted:"
# tools a backend runs itself: no other provider can run them, so they are not offered there
HOSTED_TOOLS = frozenset({"web_search", "web_search_preview", "file_search", "code_interpreter", "computer_use",
                          "computer_use_preview", "image_generation", "mcp", "local_shell", "shell",
                          "apply_patch", "tool_search"})


# request fields a translated call carries (or honours itself: store, include, previous_response_id)
CARRIED = frozenset({"model", "input", "instructions", "tools", "tool_choice", "parallel_tool_calls", "reasoning",
                     "max_output_tokens", "temperature", "top_p", "text", "stream", "store", "include",
                     "previous_response_id", "user", "safety_identifier", "metadata", "stream_options"})


def not_carried(body: dict) -> list[str]:
    """What of a Responses request another backend is not given: tools only OpenAI runs, and settings
    with no counterpart (prompt_cache_key, service_tier, ...), named so nothing goes without a word."""
    tools = [t.get("type") for t in body.get("tools") or [] if isinstance(t, dict) and t.get("type") in HOSTED_TOOLS]
    fields = sorted(k for k in body if k not in CARRIED and k not in _REFUSED and body[k] is not None)
    if _dict(body.get("text")).get("verbosity"):
        fields.append("text.verbosity")
    return tools + fields




def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


# ------------------------------------------------------------------ tool names

class ToolNames:
    """A Responses request's tools as the flat names another backend is offered, and back."""

    def __init__(self, body: Any) -> None:
        self.custom: set[str] = set()
        self.namespaced: dict[str, tuple[str, str]] = {}  # flat -> (namespace, name)
        for t in _dict(body).get("tools") or []:
            if not isinstance(t, dict):
                continue
            if t.get("type") == "custom":
                self.custom.add(str(t.get("name", "")))
            elif t.get("type") == "namespace":
                for sub in t.get("tools") or []:
                    if isinstance(sub, dict):
                        flat = f"{t.get('name', '')}{NS_SEP}{sub.get('name', '')}"
                        self.namespaced[flat] = (str(t.get("name", "")), str(sub.get("name", "")))
                        if sub.get("type") == "custom":
                            self.custom.add(flat)

    @staticmethod
    def flat(name: Any, namespace: Any) -> str:
        return f"{namespace}{NS_SEP}{name}" if isinstance(namespace, str) and namespace else str(name or "")

    def call_item(self, block: dict, item_id: str | None = None) -> dict:
        """An internal tool_use block as the client's function_call / custom_tool_call item."""
        flat = str(block.get("name", ""))
        ns, name = self.namespaced.get(flat, (None, flat))
        inp = block.get("input") if isinstance(block.get("input"), dict) else {}
        if flat in self.custom:
            raw = inp.get("input")
            item = {"type": "custom_tool_call", "id": item_id or new_id("ctc"), "call_id": str(block.get("id", "")),
                    "name": name, "input": raw if isinstance(raw, str) else dumps(inp), "status": "completed"}
        else:
            item = {"type": "function_call", "id": item_id or new_id("fc"), "call_id": str(block.get("id", "")),
                    "name": name, "arguments": dumps(inp), "status": "completed"}
        if ns:
            item["namespace"] = ns
        return item


# ------------------------------------------------------------------ Responses -> internal (requests)

def input_items(body: dict) -> list:
    inp = body.get("input")
    if inp is None:
        return []
    if isinstance(inp, str):
        return [{"type": "message", "role": "user", "content": inp}]
    if not isinstance(inp, list):
        raise TranslationError("input: must be a string or a list of items")
    return inp


def _file_block(p: dict) -> dict:
    m = _DATA_URL.match(p.get("file_data") or "") if isinstance(p.get("file_data"), str) else None
    if m and m.group(1) == "application/pdf":
        doc: dict = {"type": "document", "source": {"type": "base64", "media_type": "application/pdf",
                                                     "data": m.group(2)}}
        if isinstance(p.get("filename"), str):
            doc["title"] = p["filename"]
        return doc
    if isinstance(p.get("file_url"), str) and p["file_url"].startswith(("http://", "https://")):
        return {"type": "document", "source": {"type": "url", "url": p["file_url"]}}
    raise TranslationError("input_file: only inline PDF data (file_data) or a file_url can be carried; "
                           "file_id refers to OpenAI's file store")


def _part(p: Any) -> dict | None:
    if isinstance(p, str):
        return {"type": "text", "text": p} if p else None
    if not isinstance(p, dict):
        raise TranslationError("content parts must be objects")
    t = p.get("type")
    if t in ("input_text", "output_text", "text"):
        return {"type": "text", "text": p["text"]} if isinstance(p.get("text"), str) and p["text"] else None
    if t == "refusal":
        return {"type": "text", "text": p["refusal"]} if isinstance(p.get("refusal"), str) and p["refusal"] else None
    if t == "input_image":
        if p.get("image_url") is None:
            raise TranslationError("input_image: only image_url can be carried; file_id refers to OpenAI's file store")
        return _o_image(p.get("image_url"))
    if t == "input_file":
        return _file_block(p)
    raise TranslationError(f"content part type {t!r} cannot be carried to this backend")


def _parts(content: Any) -> list[dict]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    if isinstance(content, list):
        return [b for b in map(_part, content) if b]
    raise TranslationError("message content must be a string or a list of parts")


def _tool_result(item: dict, kind: str) -> dict:
    out = item.get("output")
    block: dict = {"type": "tool_result", "tool_use_id": str(item.get("call_id", ""))}
    if isinstance(out, list):
        content = _parts(out)
        if content:
            block["content"] = content
    elif out not in (None, ""):
        text = out if isinstance(out, str) else dumps(out)
        if text.startswith(TOOL_ERROR_MARK):  # Responses has no is_error: it rides in the text
            text, block["is_error"] = text[len(TOOL_ERROR_MARK):], True
        if text:
            block["content"] = text
    if not item.get("call_id"):
        raise TranslationError(f"{kind}: call_id is required")
    return block


def _thinking(item: dict) -> dict | None:
    enc = item.get("encrypted_content")
    if not isinstance(enc, str) or not enc:
        # reasoning without its encrypted form cannot be replayed to any backend (it is the
        # model's own state, which only the provider that made it can read back)
        return None
    if enc.startswith(REDACTED):
        return {"type": "redacted_thinking", "data": enc[len(REDACTED):]}
    summary = item.get("summary") if isinstance(item.get("summary"), list) else []
    text = "\n\n".join(s.get("text", "") for s in summary if isinstance(s, dict) and isinstance(s.get("text"), str))
    return {"type": "thinking", "thinking": text, "signature": enc}


def items_to_messages(items: list) -> tuple[list[str], list[dict]]:
    system: list[str] = []
    msgs: list[dict] = []

    def add(role: str, blocks: list[dict]) -> None:
        if not blocks:
            return
        if msgs and msgs[-1]["role"] == role:
            msgs[-1]["content"].extend(blocks)
        else:
            msgs.append({"role": role, "content": list(blocks)})

    for n, it in enumerate(items):
        if not isinstance(it, dict):
            raise TranslationError(f"input[{n}]: items must be objects")
        t = it.get("type", "message" if "role" in it else None)
        if t == "message":
            role = it.get("role")
            if role in ("system", "developer"):
                text = text_of(it.get("content"), "\n\n")
                if text:
                    system.append(text)
            elif role in ("user", "assistant"):
                add(role, _parts(it.get("content")))
            else:
                raise TranslationError(f"input[{n}]: message role {role!r} is not one of user, assistant, "
                                       "system, developer")
        elif t == "function_call":
            add("assistant", [{"type": "tool_use", "id": str(it.get("call_id") or it.get("id") or ""),
                               "name": ToolNames.flat(it.get("name"), it.get("namespace")),
                               "input": parse_arguments(it.get("arguments"), f"input[{n}] function_call")}])
        elif t == "custom_tool_call":
            add("assistant", [{"type": "tool_use", "id": str(it.get("call_id") or it.get("id") or ""),
                               "name": ToolNames.flat(it.get("name"), it.get("namespace")),
                               "input": {"input": it.get("input") if isinstance(it.get("input"), str) else ""}}])
        elif t in ("function_call_output", "custom_tool_call_output"):
            add("user", [_tool_result(it, f"input[{n}] {t}")])
        elif t == "reasoning":
            block = _thinking(it)
            if block:
                add("assistant", [block])
        elif t == "item_reference":
            raise TranslationError(f"input[{n}]: item_reference {it.get('id')!r} refers to items stored at "
                                   "OpenAI; on a translated call send the items themselves")
        else:
            raise TranslationError(f"input[{n}]: item type {t!r} cannot be carried to this backend")
    return system, msgs


def _tools(body: dict) -> tuple[list[dict], list[str]]:
    tools: list[dict] = []
    dropped: list[str] = []

    def add(t: dict, name: str) -> None:
        if t.get("type") == "custom":
            desc = t.get("description") or ""
            fmt = _dict(t.get("format"))
            if fmt.get("type") == "grammar" and isinstance(fmt.get("definition"), str):
                desc += f"\n\nThe input must follow this {fmt.get('syntax', 'grammar')} grammar:\n{fmt['definition']}"
            tools.append({"name": name, "description": desc.strip() or name,
                          "input_schema": {"type": "object", "properties": {"input": {"type": "string"}},
                                           "required": ["input"]}})
            return
        tool: dict = {"name": name, "input_schema": t.get("parameters") or {"type": "object", "properties": {}}}
        if t.get("description"):
            tool["description"] = t["description"]
        tools.append(tool)

    for t in body.get("tools") or []:
        if not isinstance(t, dict):
            raise TranslationError("tools: each tool must be an object")
        kind = t.get("type")
        if kind in ("function", "custom"):
            add(t, str(t.get("name", "")))
        elif kind == "namespace":
            for sub in t.get("tools") or []:
                if isinstance(sub, dict) and sub.get("type") in ("function", "custom"):
                    add(sub, ToolNames.flat(sub.get("name"), t.get("name")))
        elif kind in HOSTED_TOOLS:
            dropped.append(kind)
        else:
            raise TranslationError(f"tools: tool type {kind!r} cannot be carried to this backend")
    return tools, dropped


def _tool_choice(body: dict, tools: list[dict]) -> tuple[list[dict], dict | None]:
    tc = body.get("tool_choice")
    choice: dict | None = None
    if tc in ("auto", "required", "none"):
        choice = {"type": {"auto": "auto", "required": "any", "none": "none"}[tc]}
    elif isinstance(tc, dict) and tc.get("type") in ("function", "custom") and tc.get("name"):
        choice = {"type": "tool", "name": ToolNames.flat(tc["name"], tc.get("namespace"))}
    elif isinstance(tc, dict) and tc.get("type") == "allowed_tools":
        names = {ToolNames.flat(a.get("name"), a.get("namespace")) for a in tc.get("tools") or [] if isinstance(a, dict)}
        tools = [t for t in tools if t["name"] in names]
        choice = {"type": "any" if tc.get("mode") == "required" else "auto"}
    elif isinstance(tc, dict) and tc.get("type") in HOSTED_TOOLS:
        choice = None  # a hosted tool that is not offered: the model chooses
    if body.get("parallel_tool_calls") is False and tools:
        choice = choice or {"type": "auto"}
        if choice["type"] != "none":
            choice["disable_parallel_tool_use"] = True
    return tools, choice


# fields a translated call cannot honour: a 400 names them rather than answer something else
_REFUSED = {"background": "background responses are kept by OpenAI",
            "conversation": "conversations are stored by OpenAI",
            "prompt": "prompt templates are stored by OpenAI"}


def to_internal_request(body: dict, model: str, history: list | None = None) -> tuple[dict, list[str]]:
    """(internal request, hosted tools not offered) of a Responses request; `history`: the items of
    the responses its previous_response_id chain stands for, oldest first."""
    if not isinstance(body, dict):
        raise TranslationError("request body must be a JSON object")
    for k, why in _REFUSED.items():
        if body.get(k):
            raise TranslationError(f"{k}: {why}, so it cannot be used on a call dario translates")
    system, messages = items_to_messages(list(history or []) + input_items(body))
    if isinstance(body.get("instructions"), str) and body["instructions"]:
        system.insert(0, body["instructions"])
    out: dict = {"model": model, "messages": messages}
    limit = body.get("max_output_tokens")
    max_given = _num(limit)
    out["max_tokens"] = int(limit) if max_given else DEFAULT_MAX_TOKENS
    if system:
        out["system"] = system[0] if len(system) == 1 else [{"type": "text", "text": s} for s in system]
    _apply_sampling(out, body, model)
    if body.get("stream") is True:
        out["stream"] = True
    user = body.get("safety_identifier") or body.get("user")
    if isinstance(user, str) and user:
        out["metadata"] = {"user_id": user}
    tools, dropped = _tools(body)
    tools, choice = _tool_choice(body, tools)
    if tools:
        out["tools"] = tools
        if choice:
            out["tool_choice"] = choice
    fmt = _dict(_dict(body.get("text")).get("format"))
    if fmt.get("type") == "json_schema" and isinstance(fmt.get("schema"), dict):
        out["output_config"] = {"format": {"type": "json_schema", "schema": fmt["schema"]}}
    _apply_effort(out, _dict(body.get("reasoning")).get("effort"), model, max_given)
    return out, dropped


# ------------------------------------------------------------------ internal -> Responses (answers)

def usage_to_wire(u: Usage) -> dict:
    read, write = u.cache_read_tokens or 0, u.cache_write_tokens or 0
    inp = (u.input_tokens or 0) + read + write
    out = u.output_tokens or 0
    return {"input_tokens": inp, "input_tokens_details": {"cached_tokens": read},
            "output_tokens": out, "output_tokens_details": {"reasoning_tokens": u.reasoning_tokens or 0},
            "total_tokens": inp + out}


def status_of(stop_reason: Any) -> tuple[str, dict | None]:
    if stop_reason in ("max_tokens", "model_context_window_exceeded"):
        return "incomplete", {"reason": "max_output_tokens"}
    if stop_reason == "refusal":
        return "incomplete", {"reason": "content_filter"}
    return "completed", None


def reasoning_item(block: dict, item_id: str | None = None) -> dict:
    if block.get("type") == "redacted_thinking":
        return {"type": "reasoning", "id": item_id or new_id("rs"), "summary": [],
                "encrypted_content": REDACTED + str(block.get("data", ""))}
    item = {"type": "reasoning", "id": item_id or new_id("rs"),
            "summary": [{"type": "summary_text", "text": block.get("thinking", "")}] if block.get("thinking") else []}
    if block.get("signature"):
        item["encrypted_content"] = block["signature"]
    return item


def message_item(texts: list[str], item_id: str | None = None, status: str = "completed") -> dict:
    return {"type": "message", "id": item_id or new_id("msg"), "status": status, "role": "assistant",
            "content": [{"type": "output_text", "text": t, "annotations": [], "logprobs": []} for t in texts]}


def output_items(content: list, names: ToolNames) -> list[dict]:
    out: list[dict] = []
    texts: list[str] = []
    for b in content:
        t = b.get("type") if isinstance(b, dict) else None
        if t == "text":
            texts.append(b.get("text", ""))
            continue
        if texts:
            out.append(message_item(texts))
            texts = []
        if t in ("thinking", "redacted_thinking"):
            out.append(reasoning_item(b))
        elif t == "tool_use":
            out.append(names.call_item(b))
        # server tool blocks: already answered upstream, their gist is in the text
    if texts:
        out.append(message_item(texts))
    return out


def response_object(req: dict, model: str, resp_id: str, *, status: str, output: list, usage: dict | None,
                    incomplete: dict | None = None, error: dict | None = None, created: int | None = None) -> dict:
    """The Responses `response` object, echoing the request's settings as OpenAI does."""
    text = _dict(req.get("text")) or {"format": {"type": "text"}}
    return {"id": resp_id, "object": "response", "created_at": created or int(time.time()), "status": status,
            "background": False, "error": error, "incomplete_details": incomplete,
            "instructions": req.get("instructions"), "max_output_tokens": req.get("max_output_tokens"),
            "model": model, "output": output, "parallel_tool_calls": req.get("parallel_tool_calls", True),
            "previous_response_id": req.get("previous_response_id"),
            "reasoning": _dict(req.get("reasoning")) or {"effort": None, "summary": None},
            "store": req.get("store", True), "temperature": req.get("temperature"), "text": text,
            "tool_choice": req.get("tool_choice", "auto"), "tools": req.get("tools") or [],
            "top_p": req.get("top_p"), "truncation": req.get("truncation", "disabled"),
            "usage": usage, "user": req.get("user"), "metadata": req.get("metadata") or {}}


def from_internal_response(msg: dict, model: str, req: dict, resp_id: str) -> dict:
    from dario.protocols.anthropic import usage_from_wire
    msg = _dict(msg)
    status, incomplete = status_of(msg.get("stop_reason"))
    content = msg.get("content") if isinstance(msg.get("content"), list) else []
    return response_object(req, model, resp_id, status=status, output=output_items(content, ToolNames(req)),
                           usage=usage_to_wire(usage_from_wire(msg.get("usage"))), incomplete=incomplete)


# ------------------------------------------------------------------ internal -> Responses (requests)

def _out_part(b: dict) -> dict:
    t = b.get("type")
    if t == "text":
        return {"type": "input_text", "text": b.get("text", "")}
    if t == "image":
        return {"type": "input_image", "image_url": _image_source_to_url(b.get("source")), "detail": "auto"}
    if t == "document":
        src = _dict(b.get("source"))
        if src.get("type") == "base64" and src.get("media_type") == "application/pdf":
            return {"type": "input_file", "filename": b.get("title") or "document.pdf",
                    "file_data": f"data:application/pdf;base64,{src.get('data', '')}"}
        if src.get("type") == "url":
            return {"type": "input_file", "file_url": src.get("url")}
        if src.get("type") in ("text", "content"):
            return {"type": "input_text", "text": src.get("data") if src.get("type") == "text"
                    else text_of(src.get("content"), "\n")}
    raise TranslationError(f"content block type {t!r} cannot be sent to a Responses backend")


def from_internal_request(body: dict, model: str) -> dict:
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
        raise TranslationError("'messages' must be a list")
    items: list[dict] = []
    for m in body["messages"]:
        if not isinstance(m, dict):
            raise TranslationError("each message must be an object")
        role, content = m.get("role"), m.get("content")
        if role == "system":
            items.append({"type": "message", "role": "developer", "content": text_of(content, "\n\n")})
            continue
        if isinstance(content, str):
            content = [{"type": "text", "text": content}]
        if not isinstance(content, list):
            raise TranslationError("message content must be a string or a list of blocks")
        parts: list[dict] = []

        def flush() -> None:
            if parts:
                if role == "assistant":
                    items.append({"type": "message", "role": "assistant",
                                  "content": [{"type": "output_text", "text": p["text"]} for p in parts]})
                else:
                    items.append({"type": "message", "role": "user", "content": list(parts)})
                parts.clear()

        for b in content:
            t = b.get("type") if isinstance(b, dict) else None
            if t == "tool_use":
                flush()
                items.append({"type": "function_call", "call_id": str(b.get("id", "")), "name": b.get("name", ""),
                              "arguments": dumps(b.get("input") or {})})
            elif t == "tool_result":
                flush()
                inner = b.get("content")
                out: Any = text_of(inner, "\n") if not isinstance(inner, list) or all(
                    isinstance(x, dict) and x.get("type") == "text" for x in inner) else [_out_part(x) for x in inner]
                if b.get("is_error") and isinstance(out, str):
                    out = TOOL_ERROR_MARK + out
                items.append({"type": "function_call_output", "call_id": str(b.get("tool_use_id", "")),
                              "output": out})
            elif t in ("thinking", "redacted_thinking"):
                continue  # another provider's signed reasoning: OpenAI cannot read it back
            elif role == "assistant" and t == "text":
                parts.append({"text": b.get("text", "")})
            elif role == "assistant":
                continue  # server tool blocks: answered upstream already
            else:
                parts.append(_out_part(b))
        flush()
    out: dict = {"model": model, "input": items, "store": False}
    sys_text = text_of(body.get("system"), "\n\n")
    if sys_text:
        out["instructions"] = sys_text
    if _num(body.get("max_tokens")):
        out["max_output_tokens"] = body["max_tokens"]
    for k in ("temperature", "top_p"):
        if _num(body.get(k)):
            out[k] = body[k]
    if body.get("stop_sequences"):
        raise TranslationError("stop_sequences: the Responses API has no stop sequences")
    if body.get("stream") is True:
        out["stream"] = True
    tools = []
    for t in body.get("tools") or []:
        if isinstance(t, dict) and "input_schema" in t:
            tools.append({"type": "function", "name": t.get("name", ""), "description": t.get("description", ""),
                          "parameters": t.get("input_schema") or {"type": "object", "properties": {}},
                          "strict": False})
    if tools:
        out["tools"] = tools
        tc = _dict(body.get("tool_choice"))
        if tc.get("type") == "tool":
            out["tool_choice"] = {"type": "function", "name": tc.get("name", "")}
        elif tc.get("type") in ("auto", "any", "none"):
            out["tool_choice"] = {"auto": "auto", "any": "required", "none": "none"}[tc["type"]]
        if tc.get("disable_parallel_tool_use") is True:
            out["parallel_tool_calls"] = False
    effort = _effort_from_anthropic(body)
    if effort:
        out["reasoning"] = {"effort": effort, "summary": "auto"}
    fmt = _dict(_dict(body.get("output_config")).get("format"))
    if fmt.get("type") == "json_schema" and isinstance(fmt.get("schema"), dict):
        out["text"] = {"format": {"type": "json_schema", "name": "output", "schema": fmt["schema"], "strict": True}}
    return out


def to_internal_response(body: dict, model: str) -> dict:
    """A Responses answer (from a backend that speaks it) as an internal message."""
    from dario.protocols.anthropic import usage_to_wire as anthropic_usage
    from dario.protocols.openai_responses import usage_from_wire
    body = _dict(body)
    content: list[dict] = []
    has_calls = False
    for it in body.get("output") or []:
        it = _dict(it)
        t = it.get("type")
        if t == "message":
            for p in it.get("content") or []:
                p = _dict(p)
                text = p.get("text") if p.get("type") == "output_text" else p.get("refusal")
                if isinstance(text, str) and text:
                    content.append({"type": "text", "text": text})
        elif t == "reasoning":
            summary = "\n\n".join(s.get("text", "") for s in it.get("summary") or [] if isinstance(s, dict))
            content.append({"type": "thinking", "thinking": summary, "signature": it.get("encrypted_content") or ""})
        elif t in ("function_call", "custom_tool_call"):
            has_calls = True
            inp = parse_arguments(it.get("arguments")) if t == "function_call" else {"input": it.get("input", "")}
            content.append({"type": "tool_use", "id": str(it.get("call_id") or new_id("toolu")),
                            "name": ToolNames.flat(it.get("name"), it.get("namespace")), "input": inp})
    reason = _dict(body.get("incomplete_details")).get("reason")
    stop = ("max_tokens" if reason == "max_output_tokens" else "refusal" if reason == "content_filter"
            else "tool_use" if has_calls else "end_turn")
    rid = str(body.get("id") or uuid.uuid4().hex)
    return {"id": rid if rid.startswith("msg_") else f"msg_{rid}", "type": "message", "role": "assistant",
            "model": model, "content": content, "stop_reason": stop, "stop_sequence": None,
            "usage": anthropic_usage(usage_from_wire(body.get("usage")))}
