"""Gemini API (generateContent) <-> the internal form (Anthropic Messages): bodies and streams.

Pure functions and one-event-at-a-time stream translators, used by dario/protocols/gemini.py
only when a call is translated. Two rules make tool turns round-trip:

- Gemini's `thoughtSignature`, which Gemini 3 requires back on the function call it came
  with, rides in that call's id (`<id>__gs_<signature, URL-safe>`): every client returns
  tool-call ids unchanged, even those that drop reasoning (OpenAI Chat clients). A signature
  on a text part rides as a signed thinking block placed before it; going back to Gemini, a
  signed thinking block's signature goes onto the next part. Thought text is not sent back
  (Gemini does not need it); unsigned thinking from other providers is dropped.
- Function calls without ids (Gemini often sends none) get `toolu_gemini_<turn>_<n>` ids,
  and a `functionResponse` without an id answers the earliest open call of its name.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from dario.core.text import text_of
from dario.core.usage import Usage
from dario.pipeline.sse import SSEEvent, frame
from dario.pipeline.translate import TranslationError
from dario.pipeline.translate._common import as_dict as _d, InternalEvents, dumps, typed_event, parse_arguments
from dario.pipeline.translate.requests import (
    DEFAULT_MAX_TOKENS,
    _BUDGETS,
    _IMAGE_TYPES,
    _apply_effort,
    _apply_sampling,
    _effort_from_anthropic,
    _generation,
    _num,
)

# tools Google runs itself: not offered to other backends (named in x-dario-not-carried)
HOSTED_TOOLS = ("googleSearch", "googleSearchRetrieval", "codeExecution", "urlContext", "fileSearch",
                "googleMaps", "computerUse", "retrieval", "enterpriseWebSearch")
_FINISH_TO_STOP = {"STOP": "end_turn", "MAX_TOKENS": "max_tokens", "SAFETY": "refusal", "RECITATION": "refusal",
                   "PROHIBITED_CONTENT": "refusal", "BLOCKLIST": "refusal", "SPII": "refusal",
                   "IMAGE_SAFETY": "refusal", "LANGUAGE": "refusal"}
_STOP_TO_FINISH = {"max_tokens": "MAX_TOKENS", "model_context_window_exceeded": "MAX_TOKENS", "refusal": "SAFETY"}




def _l(v: Any) -> list:
    return v if isinstance(v, list) else []


# ------------------------------------------------------------------ thought signatures in call ids

_SIG_B64 = "__gs_"  # a standard-base64 signature, made URL-safe (tool ids allow [A-Za-z0-9_-])
_SIG_RAW = "__gx_"  # any other signature, base64url-encoded


def id_with_signature(cid: str, sig: Any) -> str:
    if not isinstance(sig, str) or not sig:
        return cid
    import base64
    import re
    if len(sig) % 4 == 0 and re.fullmatch(r"[A-Za-z0-9+/]*={0,2}", sig):  # padding can be recomputed
        return cid + _SIG_B64 + sig.replace("+", "-").replace("/", "_").rstrip("=")
    return cid + _SIG_RAW + base64.urlsafe_b64encode(sig.encode()).decode().rstrip("=")


def split_signature(cid: str) -> tuple[str, str | None]:
    """(the call's own id, the thoughtSignature it carries or None)."""
    import base64
    for marker in (_SIG_B64, _SIG_RAW):
        head, sep, tail = cid.partition(marker)
        if sep:
            pad = "=" * (-len(tail) % 4)
            if marker == _SIG_B64:
                return head, tail.replace("-", "+").replace("_", "/") + pad
            try:
                return head, base64.urlsafe_b64decode(tail + pad).decode()
            except ValueError:
                return cid, None
    return cid, None


# ------------------------------------------------------------------ JSON Schema -> Gemini Schema

_SCHEMA_KEYS = {"type", "format", "title", "description", "nullable", "enum", "maxItems", "minItems",
                "properties", "required", "minProperties", "maxProperties", "minLength", "maxLength",
                "pattern", "example", "anyOf", "propertyOrdering", "default", "items", "minimum", "maximum"}
_FORMATS = {"string": {"enum", "date-time"}, "integer": {"int32", "int64"}, "number": {"float", "double"}}


def gemini_schema(schema: Any, root: Any = None, depth: int = 0) -> dict:
    """A JSON Schema as the OpenAPI subset Gemini's `parameters` accepts: no $schema, $ref,
    const, additionalProperties or other keywords it refuses; refs inlined, const as a
    one-value enum, type lists as nullable."""
    root = schema if root is None else root
    if not isinstance(schema, dict) or depth > 12:
        return {"type": "object"} if depth > 12 else {}
    s = dict(schema)
    ref = s.pop("$ref", None)
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = _d(target).get(part)
        merged = {**_d(target), **s}
        return gemini_schema(merged, root, depth + 1)
    if "const" in s:
        s["enum"] = [s.pop("const")]
    if isinstance(s.get("oneOf"), list) and "anyOf" not in s:
        s["anyOf"] = s.pop("oneOf")
    if isinstance(s.get("allOf"), list):  # merged: the common case is one schema plus a description
        for sub in s.pop("allOf"):
            for k, v in _d(sub).items():
                s.setdefault(k, v)
        return gemini_schema(s, root, depth + 1)
    t = s.get("type")
    if isinstance(t, list):
        kinds = [x for x in t if x != "null"]
        if "null" in t:
            s["nullable"] = True
        s["type"] = kinds[0] if kinds else "string"
    if isinstance(s.get("type"), str):
        s["type"] = s["type"].lower()
    if "enum" in s:
        s["enum"] = [v if isinstance(v, str) else json.dumps(v) for v in _l(s["enum"]) if v is not None]
        s["type"] = "string"  # Gemini's enums are strings
    out: dict = {}
    for k, v in s.items():
        if k not in _SCHEMA_KEYS:
            continue
        if k == "properties" and isinstance(v, dict):
            out[k] = {name: gemini_schema(p, root, depth + 1) for name, p in v.items()}
        elif k == "items":
            out[k] = gemini_schema(v, root, depth + 1)
        elif k == "anyOf" and isinstance(v, list):
            subs = [gemini_schema(x, root, depth + 1) for x in v if _d(x).get("type") != "null"]
            if any(_d(x).get("type") == "null" for x in v):
                out["nullable"] = True
            if len(subs) == 1:
                out.update({kk: vv for kk, vv in subs[0].items() if kk not in out})
            elif subs:
                out[k] = subs
        elif k == "format" and v not in _FORMATS.get(str(s.get("type")), ()):
            continue
        else:
            out[k] = v
    if isinstance(out.get("required"), list) and isinstance(out.get("properties"), dict):
        out["required"] = [r for r in out["required"] if r in out["properties"]]
        if not out["required"]:
            del out["required"]
    return out


def json_schema_of(schema: Any) -> Any:
    """A Gemini (OpenAPI-style, often UPPERCASE types) schema as JSON Schema."""
    if isinstance(schema, list):
        return [json_schema_of(x) for x in schema]
    if not isinstance(schema, dict):
        return schema
    out = {}
    for k, v in schema.items():
        if k == "type" and isinstance(v, str):
            out[k] = v.lower()
        elif k in ("properties",) and isinstance(v, dict):
            out[k] = {n: json_schema_of(p) for n, p in v.items()}
        elif k in ("items", "anyOf"):
            out[k] = json_schema_of(v)
        elif k == "nullable":
            continue
        else:
            out[k] = v
    if schema.get("nullable") is True and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


# ------------------------------------------------------------------ Gemini -> internal (requests)

def _text_of_content(c: Any) -> str:
    if isinstance(c, str):
        return c
    return "\n".join(p["text"] for p in _l(_d(c).get("parts")) if isinstance(_d(p).get("text"), str))


def _media(mime: str, data: str, where: str) -> dict:
    mime = (mime or "").lower()
    if mime in _IMAGE_TYPES:
        return {"type": "image", "source": {"type": "base64", "media_type": mime, "data": data}}
    if mime == "application/pdf":
        return {"type": "document", "source": {"type": "base64", "media_type": mime, "data": data}}
    if mime.startswith("text/"):
        import base64
        try:
            text = base64.b64decode(data).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            raise TranslationError(f"{where}: inlineData of type {mime} is not valid base64 text") from None
        return {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": text}}
    raise TranslationError(f"{where}: inlineData of type {mime!r} cannot be carried to this backend")


def _response_content(resp: Any) -> tuple[str, bool]:
    """A functionResponse's `response` as tool-result text, and whether it reports an error."""
    r = _d(resp)
    if set(r) == {"error"}:
        v = r["error"]
        return (v if isinstance(v, str) else dumps(v)), True
    for key in ("output", "content", "result"):
        if set(r) == {key} and isinstance(r[key], str):
            return r[key], False
    return (dumps(resp) if resp not in (None, {}) else ""), False


def to_internal_request(body: dict, model: str) -> dict:
    if not isinstance(body, dict):
        raise TranslationError("request body must be a JSON object")
    if "generateContentRequest" in body and "contents" not in body:  # countTokens' wrapped form
        body = _d(body["generateContentRequest"])
    contents = body.get("contents")
    if isinstance(contents, dict):
        contents = [contents]
    if not isinstance(contents, list):
        raise TranslationError("contents: must be a list of Content objects")
    if body.get("cachedContent"):
        raise TranslationError("cachedContent refers to a cache stored at Google; it cannot be carried")
    messages: list[dict] = []
    open_calls: list[tuple[str, str]] = []  # (name, id) of the calls awaiting a response

    def add(role: str, blocks: list[dict]) -> None:
        if not blocks:
            return
        if messages and messages[-1]["role"] == role:
            messages[-1]["content"].extend(blocks)
        else:
            messages.append({"role": role, "content": blocks})

    for turn_no, turn in enumerate(contents):
        if not isinstance(turn, dict):
            raise TranslationError(f"contents[{turn_no}]: must be an object")
        role = "assistant" if turn.get("role") == "model" else "user"
        parts = turn.get("parts")
        if not isinstance(parts, list):
            raise TranslationError(f"contents[{turn_no}].parts: must be a list")
        blocks: list[dict] = []
        calls_here = 0
        for n, p in enumerate(parts):
            where = f"contents[{turn_no}].parts[{n}]"
            if not isinstance(p, dict):
                raise TranslationError(f"{where}: must be an object")
            sig = p.get("thoughtSignature")
            if p.get("thought") is True:
                if isinstance(sig, str) and sig and isinstance(p.get("text"), str):
                    blocks.append({"type": "thinking", "thinking": p["text"], "signature": sig})
                continue  # unsigned thoughts are the model's own notes: no backend takes them back
            if isinstance(p.get("text"), str):
                if p["text"]:
                    blocks.append({"type": "text", "text": p["text"]})
            elif "inlineData" in p:
                d = _d(p["inlineData"])
                blocks.append(_media(d.get("mimeType", ""), str(d.get("data", "")), where))
            elif "fileData" in p:
                uri = str(_d(p["fileData"]).get("fileUri", ""))
                if not uri.startswith(("http://", "https://")) or "generativelanguage.googleapis.com" in uri:
                    raise TranslationError(f"{where}: fileData {uri!r} refers to Google's file store; "
                                           "send the file inline (inlineData) on a translated call")
                mime = str(_d(p["fileData"]).get("mimeType", ""))
                kind = "document" if mime == "application/pdf" else "image"
                blocks.append({"type": kind, "source": {"type": "url", "url": uri}})
            elif "functionCall" in p:
                fc = _d(p["functionCall"])
                args = fc.get("args", {})
                if not isinstance(args, dict):
                    raise TranslationError(f"{where}: functionCall.args must be an object")
                cid = str(fc.get("id") or f"toolu_gemini_{turn_no}_{calls_here}")
                calls_here += 1
                open_calls.append((str(fc.get("name", "")), cid))
                blocks.append({"type": "tool_use", "id": cid, "name": str(fc.get("name", "")), "input": args})
            elif "functionResponse" in p:
                fr = _d(p["functionResponse"])
                name = str(fr.get("name", ""))
                cid = fr.get("id")
                match = next((c for c in open_calls if (cid and c[1] == cid) or (not cid and c[0] == name)), None)
                if match is None and not cid:
                    raise TranslationError(f"{where}: functionResponse {name!r} answers no functionCall before it")
                if match is not None:
                    open_calls.remove(match)
                text, is_error = _response_content(fr.get("response"))
                block: dict = {"type": "tool_result", "tool_use_id": str(cid or match[1])}
                if text:
                    block["content"] = text
                if is_error:
                    block["is_error"] = True
                blocks.append(block)
            elif "executableCode" in p or "codeExecutionResult" in p:
                raise TranslationError(f"{where}: code execution parts are Google's own tool; they cannot be carried")
            else:
                known = [k for k in p if k not in ("thoughtSignature", "thought", "partMetadata")]
                if known:
                    raise TranslationError(f"{where}: part {known[0]!r} cannot be carried to this backend")
        if role == "user":  # tool results first, as Anthropic wants them
            blocks.sort(key=lambda b: b["type"] != "tool_result")
        add(role, blocks)

    out: dict = {"model": model, "messages": messages}
    cfg = _d(body.get("generationConfig"))
    if _num(cfg.get("candidateCount")) and cfg["candidateCount"] > 1:
        raise TranslationError("generationConfig.candidateCount > 1 is not supported on a translated call")
    max_given = _num(cfg.get("maxOutputTokens"))
    out["max_tokens"] = int(cfg["maxOutputTokens"]) if max_given else DEFAULT_MAX_TOKENS
    system = _text_of_content(body.get("systemInstruction") or body.get("system_instruction"))
    if system:
        out["system"] = system
    _apply_sampling(out, {"temperature": cfg.get("temperature"), "top_p": cfg.get("topP")}, model)
    if _num(cfg.get("topK")) and _generation(model) < (4, 7):  # removed with the sampling knobs in 4.7
        out["top_k"] = int(cfg["topK"])
    stops = [s for s in _l(cfg.get("stopSequences")) if isinstance(s, str) and s]
    if stops:
        out["stop_sequences"] = stops
    tools, choice = _tools_in(body)
    if tools:
        out["tools"] = tools
        if choice:
            out["tool_choice"] = choice
    schema = cfg.get("responseJsonSchema") or cfg.get("responseSchema")
    if cfg.get("responseMimeType") == "application/json" and isinstance(schema, dict):
        out["output_config"] = {"format": {"type": "json_schema", "schema": json_schema_of(schema)}}
    tc = _d(cfg.get("thinkingConfig"))
    effort = None
    if _num(tc.get("thinkingBudget")):
        b = tc["thinkingBudget"]
        effort = "none" if b == 0 else "medium" if b < 0 else "low" if b <= 2048 else "medium" if b <= 8192 else "high"
    elif tc.get("thinkingLevel") in ("minimal", "low", "medium", "high"):
        effort = str(tc["thinkingLevel"])
    if effort and effort != "none":
        _apply_effort(out, effort, model, max_given)
    return out


def _tools_in(body: dict) -> tuple[list[dict], dict | None]:
    tools: list[dict] = []
    for t in _l(body.get("tools")):
        for fd in _l(_d(t).get("functionDeclarations") or _d(t).get("function_declarations")):
            fd = _d(fd)
            schema = fd.get("parametersJsonSchema")
            schema = json_schema_of(fd.get("parameters")) if schema is None else schema
            tool = {"name": str(fd.get("name", "")),
                    "input_schema": schema if isinstance(schema, dict) and schema else {"type": "object",
                                                                                       "properties": {}}}
            if fd.get("description"):
                tool["description"] = fd["description"]
            tools.append(tool)
    fcc = _d(_d(body.get("toolConfig")).get("functionCallingConfig"))
    mode = str(fcc.get("mode") or "").upper()
    names = [n for n in _l(fcc.get("allowedFunctionNames")) if isinstance(n, str)]
    choice = None
    if mode in ("ANY", "VALIDATED") and len(names) == 1:
        choice = {"type": "tool", "name": names[0]}
    elif mode == "ANY":
        choice = {"type": "any"}
    elif mode == "NONE":
        choice = {"type": "none"}
    elif mode == "AUTO":
        choice = {"type": "auto"}
    if names and choice and choice["type"] != "tool":
        tools = [t for t in tools if t["name"] in names]
    return tools, choice


_CARRIED = frozenset({"contents", "systemInstruction", "system_instruction", "tools", "toolConfig",
                      "generationConfig", "model", "generateContentRequest"})
_CARRIED_CONFIG = frozenset({"maxOutputTokens", "temperature", "topP", "topK", "stopSequences", "responseMimeType",
                             "responseSchema", "responseJsonSchema", "thinkingConfig", "candidateCount"})


def not_carried(body: dict) -> list[str]:
    """Tools Google runs itself, and settings with no counterpart (safetySettings, seed, penalties),
    named in x-dario-not-carried rather than dropped without a word."""
    tools = [k for t in _l(body.get("tools")) for k in _d(t) if k in HOSTED_TOOLS]
    fields = sorted(k for k in body if k not in _CARRIED and body[k] is not None)
    cfg = _d(body.get("generationConfig"))
    fields += sorted(f"generationConfig.{k}" for k in cfg if k not in _CARRIED_CONFIG and cfg[k] is not None)
    return tools + fields


# ------------------------------------------------------------------ internal -> Gemini (requests)

def _blob(b: dict) -> dict:
    src = _d(b.get("source"))
    if src.get("type") == "base64":
        return {"inlineData": {"mimeType": src.get("media_type", "application/octet-stream"),
                               "data": src.get("data", "")}}
    if src.get("type") == "url":
        return {"fileData": {"fileUri": src.get("url", ""),
                             "mimeType": "application/pdf" if b.get("type") == "document" else "image/*"}}
    if src.get("type") == "text":
        return {"text": src.get("data", "")}
    if src.get("type") == "content":
        return {"text": text_of(src.get("content"), "\n")}
    raise TranslationError(f"{b.get('type')} source type {src.get('type')!r} cannot be sent to a Gemini backend")


def from_internal_request(body: dict, model: str) -> dict:
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
        raise TranslationError("'messages' must be a list")
    names: dict[str, str] = {}  # tool_use id -> name (functionResponse names its function)
    contents: list[dict] = []
    system: list[str] = [text_of(body.get("system"), "\n\n")] if body.get("system") else []
    for m in body["messages"]:
        if not isinstance(m, dict):
            raise TranslationError("each message must be an object")
        if m.get("role") == "system":
            system.append(text_of(m.get("content"), "\n\n"))
            continue
        role = "model" if m.get("role") == "assistant" else "user"
        content = m.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        if not isinstance(blocks, list):
            raise TranslationError("message content must be a string or a list of blocks")
        parts: list[dict] = []
        sig: str | None = None
        for b in blocks:
            t = b.get("type") if isinstance(b, dict) else None
            part: dict | None = None
            extra: list[dict] = []
            if t == "thinking":
                sig = b.get("signature") or None  # goes on the next part
                continue
            if t == "text":
                if b.get("text"):
                    part = {"text": b["text"]}
            elif t in ("image", "document"):
                part = _blob(b)
            elif t == "tool_use":
                cid, call_sig = split_signature(str(b.get("id", "")))
                names[cid] = str(b.get("name", ""))
                part = {"functionCall": {"id": cid, "name": b.get("name", ""),
                                         "args": b.get("input") if isinstance(b.get("input"), dict) else {}}}
                sig = call_sig or sig
            elif t == "tool_result":
                inner = b.get("content")
                text = text_of(inner, "\n")
                tid = split_signature(str(b.get("tool_use_id", "")))[0]
                part = {"functionResponse": {"id": tid, "name": names.get(tid, tid),
                                             "response": {"error": text} if b.get("is_error") else {"output": text}}}
                extra = [_blob(x) for x in _l(inner) if _d(x).get("type") == "image"]
            elif t == "redacted_thinking" or role == "model":
                continue  # redacted thinking and server tool blocks: nothing Gemini can read
            else:
                raise TranslationError(f"content block type {t!r} cannot be sent to a Gemini backend")
            if part is None:
                continue
            if sig:
                part["thoughtSignature"], sig = sig, None
            parts.append(part)
            parts.extend(extra)
        if parts:
            if contents and contents[-1]["role"] == role:
                contents[-1]["parts"].extend(parts)
            else:
                contents.append({"role": role, "parts": parts})
    out: dict = {"contents": contents}
    system = [s for s in system if s]
    if system:
        out["systemInstruction"] = {"parts": [{"text": "\n\n".join(system)}]}
    cfg: dict = {}
    if _num(body.get("max_tokens")):
        cfg["maxOutputTokens"] = body["max_tokens"]
    for src, dst in (("temperature", "temperature"), ("top_p", "topP"), ("top_k", "topK")):
        if _num(body.get(src)):
            cfg[dst] = body[src]
    stops = [s for s in _l(body.get("stop_sequences")) if isinstance(s, str)]
    if stops:
        cfg["stopSequences"] = stops
    thinking = _d(body.get("thinking"))
    if thinking.get("type") == "enabled" and _num(thinking.get("budget_tokens")):
        cfg["thinkingConfig"] = {"thinkingBudget": int(thinking["budget_tokens"]), "includeThoughts": True}
    elif thinking.get("type") == "adaptive" or _effort_from_anthropic(body):
        effort = _effort_from_anthropic(body)
        budget = _BUDGETS.get(effort, -1) if thinking.get("type") != "adaptive" else -1
        cfg["thinkingConfig"] = {"thinkingBudget": budget, "includeThoughts": True}
    fmt = _d(_d(body.get("output_config")).get("format"))
    if fmt.get("type") == "json_schema" and isinstance(fmt.get("schema"), dict):
        cfg["responseMimeType"] = "application/json"
        cfg["responseJsonSchema"] = fmt["schema"]
    if cfg:
        out["generationConfig"] = cfg
    decls = []
    for t in _l(body.get("tools")):
        if isinstance(t, dict) and "input_schema" in t:
            d: dict = {"name": t.get("name", ""), "description": t.get("description", "")}
            params = gemini_schema(t.get("input_schema") or {})
            if params.get("properties"):
                d["parameters"] = params
            decls.append(d)
    if decls:
        out["tools"] = [{"functionDeclarations": decls}]
        tc = _d(body.get("tool_choice"))
        mode = {"auto": "AUTO", "any": "ANY", "tool": "ANY", "none": "NONE"}.get(tc.get("type"))
        if mode:  # never an empty toolConfig: Gemini refuses one
            fcc: dict = {"mode": mode}
            if tc.get("type") == "tool":
                fcc["allowedFunctionNames"] = [tc.get("name", "")]
            out["toolConfig"] = {"functionCallingConfig": fcc}
    return out


# ------------------------------------------------------------------ usage

from dario.protocols.gemini import usage_from_wire  # noqa: E402  (the one rule, with the adapter)


def usage_to_wire(u: Usage) -> dict:
    read, write = u.cache_read_tokens or 0, u.cache_write_tokens or 0
    prompt = (u.input_tokens or 0) + read + write
    thoughts = u.reasoning_tokens or 0
    cand = max((u.output_tokens or 0) - thoughts, 0)
    out = {"promptTokenCount": prompt, "candidatesTokenCount": cand, "totalTokenCount": prompt + cand + thoughts}
    if read:
        out["cachedContentTokenCount"] = read
    if thoughts:
        out["thoughtsTokenCount"] = thoughts
    return out


# ------------------------------------------------------------------ answers

def _blocks_of_parts(parts: list, call_ids: list[str], turn: str) -> list[dict]:
    blocks: list[dict] = []
    for p in parts:
        p = _d(p)
        sig = p.get("thoughtSignature")
        if p.get("thought") is True:
            blocks.append({"type": "thinking", "thinking": str(p.get("text") or ""), "signature": sig or ""})
            continue
        if isinstance(sig, str) and sig and "functionCall" not in p:
            blocks.append({"type": "thinking", "thinking": "", "signature": sig})
        if isinstance(p.get("text"), str) and p["text"]:
            blocks.append({"type": "text", "text": p["text"]})
        elif "functionCall" in p:
            fc = _d(p["functionCall"])
            cid = id_with_signature(str(fc.get("id") or f"toolu_{turn}_{len(call_ids)}"), sig)
            call_ids.append(cid)
            blocks.append({"type": "tool_use", "id": cid, "name": str(fc.get("name", "")),
                           "input": fc.get("args") if isinstance(fc.get("args"), dict) else {}})
    return blocks


def stop_of(finish: Any, has_calls: bool) -> str:
    if has_calls and finish in (None, "STOP"):
        return "tool_use"
    return _FINISH_TO_STOP.get(str(finish or "STOP"), "end_turn")


def to_internal_response(body: dict, model: str) -> dict:
    from dario.protocols.anthropic import usage_to_wire as anthropic_usage
    body = _d(body)
    cand = _d(_l(body.get("candidates"))[0]) if _l(body.get("candidates")) else {}
    ids: list[str] = []
    content = _blocks_of_parts(_l(_d(cand.get("content")).get("parts")), ids, uuid.uuid4().hex[:12])
    if not cand and _d(body.get("promptFeedback")).get("blockReason"):
        stop = "refusal"
    else:
        stop = stop_of(cand.get("finishReason"), bool(ids))
    rid = str(body.get("responseId") or uuid.uuid4().hex)
    return {"id": f"msg_{rid}", "type": "message", "role": "assistant", "model": model, "content": content,
            "stop_reason": stop, "stop_sequence": None, "usage": anthropic_usage(usage_from_wire(body.get("usageMetadata")))}


def _parts_of_blocks(content: list) -> list[dict]:
    parts: list[dict] = []
    sig = None
    for b in content:
        t = _d(b).get("type")
        part = None
        if t == "thinking":
            if b.get("thinking"):
                parts.append({"text": b["thinking"], "thought": True})
            sig = b.get("signature") or None
            continue
        if t == "text":
            part = {"text": b.get("text", "")}
        elif t == "tool_use":
            part = {"functionCall": {"id": str(b.get("id", "")), "name": b.get("name", ""),
                                     "args": b.get("input") if isinstance(b.get("input"), dict) else {}}}
        if part is not None:
            if sig:
                part["thoughtSignature"], sig = sig, None
            parts.append(part)
    if sig:
        parts.append({"text": "", "thoughtSignature": sig})
    return parts


def from_internal_response(msg: dict, model: str) -> dict:
    from dario.protocols.anthropic import usage_from_wire as anthropic_usage_from
    msg = _d(msg)
    parts = _parts_of_blocks(_l(msg.get("content")))
    mid = str(msg.get("id") or uuid.uuid4().hex)
    return {"candidates": [{"content": {"role": "model", "parts": parts or [{"text": ""}]},
                            "finishReason": _STOP_TO_FINISH.get(msg.get("stop_reason"), "STOP"), "index": 0}],
            "usageMetadata": usage_to_wire(anthropic_usage_from(msg.get("usage"))),
            "modelVersion": model, "responseId": mid.removeprefix("msg_")}


# ------------------------------------------------------------------ streams

class FromInternal:
    """Internal events -> a Gemini client's `alt=sse` frames (each a GenerateContentResponse)."""

    def __init__(self, model: str) -> None:
        from dario.protocols.anthropic import usage_from_wire as anthropic_usage_from
        self._usage_from = anthropic_usage_from
        self.model = model
        self.usage = Usage()
        self._id = uuid.uuid4().hex
        self._blocks: dict[Any, dict] = {}
        self._sig: str | None = None
        self._stop: str | None = None
        self._done = False

    def _chunk(self, parts: list[dict], finish: str | None = None) -> bytes:
        cand: dict = {"content": {"role": "model", "parts": parts}, "index": 0}
        obj: dict = {"candidates": [cand], "modelVersion": self.model, "responseId": self._id}
        if finish:
            cand["finishReason"] = finish
            obj["usageMetadata"] = usage_to_wire(self.usage)
        return frame(dumps(obj))

    def _part(self, part: dict) -> bytes:
        if self._sig:
            part["thoughtSignature"], self._sig = self._sig, None
        return self._chunk([part])

    def feed(self, ev: SSEEvent) -> list[bytes]:
        got = None if self._done else typed_event(ev)
        if got is None:
            return []
        obj, kind = got
        if kind == "message_start":
            self.usage.merge(self._usage_from(_d(obj.get("message")).get("usage")))
            mid = _d(obj.get("message")).get("id")
            if isinstance(mid, str):
                self._id = mid.removeprefix("msg_")
        elif kind == "content_block_start":
            block = _d(obj.get("content_block"))
            self._blocks[obj.get("index")] = {"type": block.get("type"), "block": block, "args": "", "sig": ""}
            if block.get("type") == "text" and block.get("text"):
                return [self._part({"text": block["text"]})]
        elif kind == "content_block_delta":
            st, d = self._blocks.get(obj.get("index")), _d(obj.get("delta"))
            if st is None:
                return []
            if d.get("type") == "text_delta" and d.get("text"):
                return [self._part({"text": d["text"]})]
            if d.get("type") == "thinking_delta" and d.get("thinking"):
                return [self._chunk([{"text": d["thinking"], "thought": True}])]
            if d.get("type") == "signature_delta":
                st["sig"] += d.get("signature") or ""
            if d.get("type") == "input_json_delta":
                st["args"] += d.get("partial_json") or ""
        elif kind == "content_block_stop":
            st = self._blocks.pop(obj.get("index"), None)
            if st is None:
                return []
            if st["type"] == "thinking":
                self._sig = st["sig"] or st["block"].get("signature") or None
            elif st["type"] == "tool_use":
                b = st["block"]
                return [self._part({"functionCall": {"id": str(b.get("id", "")), "name": b.get("name", ""),
                                                     "args": parse_arguments(st["args"])}})]
        elif kind == "message_delta":
            self.usage.merge(self._usage_from(obj.get("usage")))
            self._stop = _d(obj.get("delta")).get("stop_reason") or self._stop
        elif kind == "message_stop":
            return self._end()
        elif kind == "error":
            from dario.protocols.gemini import ADAPTER
            self._done = True
            err = _d(obj.get("error"))
            return [frame(dumps(ADAPTER.error_body(500, str(err.get("message") or "upstream stream error"))))]
        return []

    def _end(self) -> list[bytes]:
        self._done = True
        parts = [{"text": "", "thoughtSignature": self._sig}] if self._sig else [{"text": ""}]
        return [self._chunk(parts, _STOP_TO_FINISH.get(self._stop, "STOP"))]

    def finish(self) -> list[bytes]:
        return [] if self._done else self._end()


class ToInternal(InternalEvents):
    """A Gemini backend's `alt=sse` chunks -> internal events. Gemini sends no end event: the
    chunk that carries a finishReason is the last."""

    def __init__(self, model: str) -> None:
        super().__init__()
        self.model = model
        self.usage = Usage()
        self._calls: list[str] = []
        self._turn = uuid.uuid4().hex[:12]
        self._started = self._done = False

    def events(self, ev: SSEEvent) -> list[SSEEvent]:
        if self._done:
            return []
        try:
            obj = json.loads(ev.data)
        except (ValueError, RecursionError):
            return []
        if isinstance(obj, list) and obj:
            obj = obj[0]
        if not isinstance(obj, dict):
            return []
        out: list[SSEEvent] = []
        if not self._started:
            self._started = True
            out.append(self._ev({"type": "message_start", "message": {
                "id": f"msg_{obj.get('responseId') or uuid.uuid4().hex}", "type": "message", "role": "assistant",
                "model": self.model, "content": [], "stop_reason": None, "stop_sequence": None,
                "usage": {"input_tokens": 0, "output_tokens": 0}}}))
        if "error" in obj and "candidates" not in obj:
            self._done = True
            err = _d(obj["error"])
            return out + [self._ev({"type": "error", "error": {"type": "api_error",
                                                               "message": str(err.get("message") or "upstream error")}})]
        self.usage.merge(usage_from_wire(obj.get("usageMetadata")))
        cands = _l(obj.get("candidates"))
        cand = _d(cands[0]) if cands else {}
        for p in _l(_d(cand.get("content")).get("parts")):
            p = _d(p)
            sig = p.get("thoughtSignature")
            if p.get("thought") is True:
                if p.get("text"):
                    out += self._delta("thinking", {"type": "thinking_delta", "thinking": str(p["text"])})
                if sig:
                    out += self._delta("thinking", {"type": "signature_delta", "signature": str(sig)})
                continue
            if isinstance(sig, str) and sig and "functionCall" not in p:  # a signed text part: a thinking block
                o, index = self._open_block("thinking", {"type": "thinking", "thinking": "", "signature": ""})
                out += o + [self._ev({"type": "content_block_delta", "index": index,
                                      "delta": {"type": "signature_delta", "signature": sig}})]
                out += self._close()
            if isinstance(p.get("text"), str) and p["text"]:
                out += self._delta("text", {"type": "text_delta", "text": p["text"]})
            elif "functionCall" in p:
                fc = _d(p["functionCall"])
                cid = id_with_signature(str(fc.get("id") or f"toolu_{self._turn}_{len(self._calls)}"), sig)
                self._calls.append(cid)
                o, index = self._open_block("tool", {"type": "tool_use", "id": cid, "name": str(fc.get("name", "")),
                                                     "input": {}})
                args = fc.get("args") if isinstance(fc.get("args"), dict) else {}
                out += o + [self._ev({"type": "content_block_delta", "index": index,
                                      "delta": {"type": "input_json_delta", "partial_json": dumps(args)}})]
                out += self._close()
        finish = cand.get("finishReason")
        blocked = not cands and _d(obj.get("promptFeedback")).get("blockReason")
        if finish or blocked:
            out += self._end("refusal" if blocked else stop_of(finish, bool(self._calls)))
        return out

    def _end(self, stop: str) -> list[SSEEvent]:
        from dario.protocols.anthropic import usage_to_wire as anthropic_usage
        self._done = True
        return self._close() + [
            self._ev({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
                      "usage": anthropic_usage(self.usage)}),
            self._ev({"type": "message_stop"})]

    def finish_events(self) -> list[SSEEvent]:
        if self._done:
            return []
        out = [] if self._started else self.events(SSEEvent(None, "{}"))
        return out + self._end("tool_use" if self._calls else "end_turn")

