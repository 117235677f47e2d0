"""One run -> one self-contained HTML page (inline CSS, JS and SVG; nothing fetched).

Every piece of stored content is escaped here and only here; the page also carries a
Content-Security-Policy that forbids any network fetch, so even a bug in escaping
could not make the browser load anything.
"""

from __future__ import annotations

import time
from html import escape
from typing import Any, Sequence

from dario.report import charts
from dario.store import pricing
from dario.report.transcript import Message, Part, Response, parse_request, parse_response

CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"
FOLD_AT = 2400  # longer text starts folded

CSS = """
:root{--bg:#fafafa;--fg:#1d1d1f;--muted:#6e6e73;--card:#fff;--line:#e3e3e8;--user:#eef4ff;--asst:#f3fbf1;
--sys:#f6f1ff;--tool:#fff8ec;--err:#ffeeee}
*{box-sizing:border-box}body{margin:0;font:14px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;
background:var(--bg);color:var(--fg)}main{max-width:1160px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 10px}code,pre{font:12.5px/1.45 ui-monospace,
SFMono-Regular,Menlo,Consolas,monospace}pre{white-space:pre-wrap;word-break:break-word;margin:4px 0}
.muted{color:var(--muted)}.stats{display:flex;flex-wrap:wrap;gap:10px;margin:14px 0}
.stat{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:8px 14px;min-width:120px}
.stat b{display:block;font-size:18px}.chart{width:100%;height:auto;background:var(--card);border:1px solid
var(--line);border-radius:8px;margin:6px 0}.chart .ct{font-weight:600;font-size:13px}.chart .yl{font-size:11px;
text-anchor:end;fill:#6e6e73}.chart .xl{font-size:11px;fill:#6e6e73}.chart .lg{font-size:11px}
.chart .grid{stroke:#ececf0}table{border-collapse:collapse;width:100%;background:var(--card);font-size:13px}
th,td{border-bottom:1px solid var(--line);padding:4px 8px;text-align:left}td.n,th.n{text-align:right}
tr.bad td{background:var(--err)}.coverage .miss{background:var(--err)}.call{background:var(--card);border:1px solid var(--line);border-radius:10px;
padding:12px 14px;margin:12px 0}.callhead{font-size:12.5px;color:var(--muted);margin-bottom:8px}
.callhead b{color:var(--fg)}.msg{border-radius:8px;padding:8px 12px;margin:8px 0;border:1px solid var(--line)}
.msg .role{font-size:11px;font-weight:700;text-transform:uppercase;letter-spacing:.05em;color:var(--muted)}
.role-user{background:var(--user)}.role-assistant{background:var(--asst)}.role-system{background:var(--sys)}
.role-tool{background:var(--tool)}.text{white-space:pre-wrap;word-break:break-word}
.tool-call,.tool-result{border-left:3px solid #f58518;padding:2px 10px;margin:6px 0;background:#fffdf8}
.tool-result{border-color:#72b7b2}.tool-result.error{border-color:#e45756;background:var(--err)}
.thinking{color:#555}.error-box{background:var(--err);border:1px solid #f3b9b9;border-radius:8px;padding:8px 12px}
summary{cursor:pointer}.toolbar{position:sticky;top:0;background:var(--bg);padding:6px 0;z-index:1}
button{font:inherit;border:1px solid var(--line);background:var(--card);border-radius:6px;padding:3px 10px;
cursor:pointer}a{color:#2457c5}
"""

JS = """
document.querySelectorAll('[data-fold]').forEach(function(b){b.addEventListener('click',function(){
var open=b.getAttribute('data-fold')==='open';document.querySelectorAll('details').forEach(function(d){d.open=open;});});});
"""


def _fmt_ts(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "?"


def _usd(v: float | None) -> str:
    return pricing.fmt_usd(v, "n/a")


def _n(v: int | None) -> str:
    return "" if v is None else f"{v:,}"


def _folded(text: str, cls: str = "text", tag: str = "div", fold_at: int = FOLD_AT, label: str = "") -> str:
    body = f'<{tag} class="{cls}">{escape(text)}</{tag}>'
    if len(text) <= fold_at:
        return body
    preview = " ".join(text[:200].split())
    return (f'<details><summary>{escape(label)}<span class="muted">{escape(preview)}… '
            f'({len(text):,} chars)</span></summary>{body}</details>')


def _part(p: Part) -> str:
    if p.kind == "text":
        return _folded(p.text)
    if p.kind == "thinking":
        return (f'<details class="thinking"><summary>thinking ({len(p.text):,} chars)</summary>'
                f'<div class="text">{escape(p.text)}</div></details>')
    if p.kind == "tool_call":
        ident = f' <code class="muted">{escape(p.id)}</code>' if p.id else ""
        return (f'<div class="tool-call"><div>&rarr; tool call <b>{escape(p.name or "?")}</b>{ident}</div>'
                f'{_folded(p.text, "args", "pre")}</div>')
    if p.kind == "tool_result":
        ident = f' <code class="muted">{escape(p.id)}</code>' if p.id else ""
        err = " error" if p.is_error else ""
        return (f'<div class="tool-result{err}"><div>&larr; tool result{" (error)" if p.is_error else ""}'
                f'{ident}</div>{_folded(p.text, "result", "pre")}</div>')
    if p.kind == "image":
        return f'<div class="muted">{escape(p.text)}</div>'
    return _folded(p.text, "raw", "pre")


def _message(m: Message) -> str:
    inner = "".join(_part(p) for p in m.parts) or '<span class="muted">(empty)</span>'
    if m.role == "system":
        text = "\n".join(p.text for p in m.parts)
        inner = _folded(text, fold_at=600, label="system prompt: ")
    return f'<div class="msg role-{escape(m.role)}"><div class="role">{escape(m.role)}</div>{inner}</div>'


def _response(r: Response, call: dict[str, Any]) -> str:
    out = []
    if r.message:
        out.append(_message(r.message))
    if r.error or call.get("error"):
        out.append(f'<div class="error-box"><b>error</b> {escape(r.error or call.get("error") or "")}</div>')
    if r.raw:
        out.append(_folded(r.raw, "raw", "pre", 800, "response body (not parsed): "))
    if call.get("response_truncated"):
        out.append(f'<div class="muted">response body truncated: kept {len(call.get("response_body") or b""):,} '
                   f'of {_n(call.get("response_size"))} bytes</div>')
    return "".join(out)


def _call_head(i: int, c: dict[str, Any]) -> str:
    toks = (f'in {_n(c.get("input_tokens")) or "?"} · out {_n(c.get("output_tokens")) or "?"}'
            + (f' · cache r {_n(c["cache_read_tokens"])}' if c.get("cache_read_tokens") else "")
            + (f' · cache w {_n(c["cache_write_tokens"])}' if c.get("cache_write_tokens") else ""))
    model = c.get("model") or c.get("model_requested") or "?"
    lat = f'{c["latency_ms"]:,.0f} ms' if c.get("latency_ms") is not None else "?"
    return (f'<div class="callhead"><b>#{i}</b> {escape(_fmt_ts(c.get("ts")))} · <b>{escape(model)}</b> via '
            f'{escape(str(c.get("backend") or "?"))} · {escape(str(c.get("method") or ""))} '
            f'{escape(str(c.get("path") or ""))} · status {escape(str(c.get("status")))} · '
            f'{"stream · " if c.get("stream") else ""}{escape(toks)} · {escape(_usd(c.get("cost_usd")))} · '
            f'{escape(lat)}</div>')


def _conversations(calls: Sequence[dict[str, Any]]) -> list[tuple[str, list[tuple[int, dict]]]]:
    groups: dict[str, list[tuple[int, dict]]] = {}
    for i, c in enumerate(calls, 1):
        groups.setdefault(c.get("conversation") or f"call:{c['id']}", []).append((i, c))
    return list(groups.items())


def _branches(calls: Sequence[dict[str, Any]]) -> tuple[dict[str, tuple[int, dict]], dict[str, int]]:
    """(sub-agent conversation -> (number, call) of the call that spawned it; call id -> its number)."""
    number = {c["id"]: i for i, c in enumerate(calls, 1)}
    by_id = {c["id"]: c for c in calls}
    spawned: dict[str, tuple[int, dict]] = {}
    for c in calls:
        parent = by_id.get(c.get("parent_call") or "") or c
        for conv in (c.get("subagents") or "").split(","):
            if conv:
                spawned[conv] = (number[parent["id"]], parent)
    return spawned, number


def _conversation_html(n: int, key: str, items: list[tuple[int, dict]], spawned: dict | None = None,
                       numbers: dict | None = None, conv_number: dict | None = None) -> str:
    spawned, numbers, conv_number = spawned or {}, numbers or {}, conv_number or {}
    parent = spawned.get(key)
    where = ""
    if parent is not None:
        pn, pc = parent
        where = (f' · sub-agent of <a href="#call-{escape(pc["id"])}">call #{pn}</a>'
                 f' (Conversation {conv_number.get(pc.get("conversation"), "?")})')
    out = [f'<h2 id="conv-{escape(key)}">Conversation {n} <span class="muted">· {len(items)} call(s) · '
           f'<code>{escape(key if not key.startswith("call:") else "ungrouped")}</code>{where}</span></h2>']
    seen = 0  # messages already shown in this conversation
    last_resp_shown = False
    previous = None
    for i, c in items:
        fork = c.get("parent_call") and previous is not None and c["parent_call"] != previous
        previous = c["id"]
        msgs, facts = parse_request(c.get("request_body"), c.get("protocol_in"))
        resp = parse_response(c.get("response_body"), c.get("protocol_in"))
        body = []
        if fork:
            body.append(f'<div class="muted branch">a branch: it continues <a href="#call-{escape(c["parent_call"])}">'
                        f'call #{numbers.get(c["parent_call"], "?")}</a>, not the call before it</div>')
        for conv in (c.get("subagents") or "").split(","):
            if conv:
                body.append(f'<div class="muted branch">spawned a sub-agent: <a href="#conv-{escape(conv)}">'
                            f'Conversation {conv_number.get(conv, "?")}</a></div>')
        if c.get("request_body") is None and c.get("response_body") is None:
            body.append('<div class="muted">bodies were not captured for this call</div>')
        elif not msgs and c.get("request_body"):
            raw = bytes(c["request_body"]).decode("utf-8", "replace")
            body.append(_folded(raw, "raw", "pre", 800, "request body (not parsed): "))
        if msgs and len(msgs) >= seen:
            new = msgs[seen:] if seen else msgs
        else:  # history shrank (compaction, a new branch): show it whole again
            new = msgs
            if seen and msgs:
                body.append('<div class="muted">history rewritten by the client; full request shown</div>')
        if seen and new and last_resp_shown and new[0].role == "assistant":
            new = new[1:]  # the previous response, echoed back as history
        body.extend(_message(m) for m in new)
        if facts.get("tools") and not seen:
            body.append(f'<div class="muted">tools offered: {escape(", ".join(map(str, facts["tools"])))}</div>')
        if c.get("request_truncated"):
            body.append(f'<div class="muted">request body truncated: kept {len(c.get("request_body") or b""):,} '
                        f'of {_n(c.get("request_size"))} bytes</div>')
        body.append(_response(resp, c))
        seen = max(len(msgs), seen) if msgs else seen
        last_resp_shown = resp.message is not None
        out.append(f'<article class="call" id="call-{escape(c["id"])}">{_call_head(i, c)}{"".join(body)}</article>')
    return "".join(out)


def _hit(inp: int | None, read: int | None, write: int | None) -> str:
    rate = pricing.cache_hit_rate(inp, read, write)
    return "" if rate is None else f"{rate:.0%}"


def _model_cache_table(calls: Sequence[dict[str, Any]]) -> str:
    """Per model: how much of the prompt the provider's cache served, and what that saved."""
    by: dict[str, list] = {}
    for c in calls:
        m = c.get("model") or c.get("model_requested")
        if m:
            by.setdefault(str(m), []).append(c)
    rows = []
    for m, cs in sorted(by.items()):
        inp, read, write = (sum(c.get(k) or 0 for c in cs) for k in
                            ("input_tokens", "cache_read_tokens", "cache_write_tokens"))
        saved = pricing.total_usd(pricing.cache_saving(m, c.get("cache_read_tokens")) for c in cs)
        rows.append(f'<tr><td>{escape(m)}</td><td class="n">{len(cs):,}</td>'
                    f'<td class="n">{_hit(inp, read, write)}</td><td class="n">{read:,}</td>'
                    f'<td class="n">{escape(_usd(saved))}</td></tr>')
    return ('<table><tr><th>model</th><th class="n">calls</th><th class="n">cache hit</th>'
            '<th class="n">cache read</th><th class="n">saved by cache</th></tr>' + "".join(rows) + "</table>")


def _calls_table(calls: Sequence[dict[str, Any]], processes: Sequence[dict[str, Any]] = ()) -> str:
    how = {p.get("pid"): p.get("how") for p in processes}  # how each process's calls were caught
    rows = []
    for i, c in enumerate(calls, 1):
        bad = ' class="bad"' if (c.get("status") or 0) >= 400 or c.get("error") else ""
        lat = f'{c["latency_ms"]:,.0f}' if c.get("latency_ms") is not None else ""
        rows.append(f'<tr{bad}><td><a href="#call-{escape(c["id"])}">#{i}</a></td>'
                    f'<td>{escape(time.strftime("%H:%M:%S", time.localtime(c["ts"])))}</td>'
                    f'<td>{escape(str(c.get("model") or c.get("model_requested") or ""))}</td>'
                    f'<td><code>{escape(str(c.get("path") or ""))}</code></td>'
                    f'<td>{escape(str(c.get("backend") or ""))}</td><td>{escape(str(c.get("status")))}</td>'
                    f'<td>{escape(_caught(c, how))}</td>'
                    f'<td class="n">{_n(c.get("input_tokens"))}</td><td class="n">{_n(c.get("output_tokens"))}</td>'
                    f'<td class="n">{_hit(c.get("input_tokens"), c.get("cache_read_tokens"), c.get("cache_write_tokens"))}</td>'
                    f'<td class="n">{escape(_usd(c.get("cost_usd")) if not pricing.unpriced(c) else "unpriced")}</td>'
                    f'<td class="n">{lat}</td></tr>')
    return ('<table class="calls"><tr><th>call</th><th>time</th><th>model</th><th>path</th><th>backend</th>'
            '<th>status</th><th>caught by</th><th class="n">input</th><th class="n">output</th>'
            '<th class="n">cache hit</th><th class="n">cost</th><th class="n">ms</th></tr>' + "".join(rows) + "</table>")


def _caught(c: dict[str, Any], how: dict) -> str:
    """How dario saw the call: the proxy, or the shim's in-process payload/injector or its fallback."""
    if c.get("source") == "proxy":
        return "proxy"
    if c.get("replayed"):
        return "replay"
    return str(c.get("door") or how.get(c.get("pid")) or c.get("source") or "")


def _coverage(calls: Sequence[dict[str, Any]], tunnels: dict[str, int]) -> str:
    """The shim run's coverage report: which door caught the calls, and what was only tunnelled."""
    from dario.shim.coverage import coverage_lines
    doors: dict[str | None, int] = {}
    for c in calls:
        if c.get("source") == "shim" and c.get("protocol_in"):
            doors[c.get("door") or "in-process"] = doors.get(c.get("door") or "in-process", 0) + 1
    items = []
    for ln in coverage_lines(doors, tunnels):
        cls = ' class="miss"' if ln.startswith("not seen") else ""
        items.append(f"<li{cls}>{escape(ln)}</li>")
    return '<ul class="coverage">' + "".join(items) + "</ul>"


def render(run: dict[str, Any] | None, calls: Sequence[dict[str, Any]],
           processes: Sequence[dict[str, Any]] = (), tunnels: dict[str, int] | None = None) -> str:
    run = run or {}
    run_id = str(run.get("run_id") or (calls[0]["run_id"] if calls else "?"))
    errors = sum(1 for c in calls if (c.get("status") or 0) >= 400 or c.get("error"))
    models = sorted({str(c.get("model") or c.get("model_requested")) for c in calls
                     if c.get("model") or c.get("model_requested")})
    stats = [("calls", f"{len(calls):,}"), ("errors", f"{errors:,}"),
             ("input tokens", f"{sum(c.get('input_tokens') or 0 for c in calls):,}"),
             ("output tokens", f"{sum(c.get('output_tokens') or 0 for c in calls):,}"),
             ("cache read", f"{sum(c.get('cache_read_tokens') or 0 for c in calls):,}"),
             ("cache write", f"{sum(c.get('cache_write_tokens') or 0 for c in calls):,}"),
             ("cost", pricing.spend_text(pricing.total_usd(c.get("cost_usd") for c in calls),
                                         sum(pricing.unpriced(c) for c in calls))),
             ("saved by cache", _usd(pricing.total_usd(pricing.cache_saving(c.get("model") or c.get("model_requested"),
                                                                            c.get("cache_read_tokens")) for c in calls)))]
    procs = "".join(f'<li><code>{escape(str(p.get("pid")))}</code> {escape(str(p.get("runtime") or "?"))} '
                    f'{escape(str(p.get("argv0") or ""))} <span class="muted">({escape(str(p.get("how")))})</span></li>'
                    for p in processes)
    convs = _conversations(calls)
    parts = [
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        f'<meta name="viewport" content="width=device-width,initial-scale=1">'
        f'<title>dario report · {escape(run_id)}</title><style>{CSS}</style></head><body><main>',
        f'<h1>dario run <code>{escape(run_id)}</code></h1>',
        f'<div class="muted">{escape(str(run.get("source") or ""))} · started {escape(_fmt_ts(run.get("started")))}'
        + (f' · <code>{escape(str(run["argv"]))}</code>' if run.get("argv") else "") + "</div>",
        '<div class="stats">' + "".join(f'<div class="stat"><span class="muted">{escape(k)}</span><b>{escape(v)}</b>'
                                        f'</div>' for k, v in stats) + "</div>",
        f'<div class="muted">models: {escape(", ".join(models) or "none")}</div>',
        f'<details><summary>{len(processes)} process(es) said hello</summary><ul>{procs}</ul></details>'
        if processes else "",
        ('<h2>Coverage</h2>' + _coverage(calls, tunnels or {})) if run.get("source") == "shim" else "",
    ]
    if not calls:
        parts.append('<p class="muted">This run made no calls.</p>')
    else:
        parts += ['<h2>Charts</h2>', charts.tokens_chart(calls), charts.cost_chart(calls),
                  charts.latency_chart(calls), '<h2>Prompt cache</h2>', _model_cache_table(calls),
                  '<h2>Calls</h2>', _calls_table(calls, processes),
                  '<div class="toolbar"><button data-fold="open">Expand all</button> '
                  '<button data-fold="close">Collapse all</button></div>']
        spawned, numbers = _branches(calls)
        conv_number = {key: n for n, (key, _) in enumerate(convs, 1)}
        parts += [_conversation_html(n, key, items, spawned, numbers, conv_number)
                  for n, (key, items) in enumerate(convs, 1)]
    parts.append(f'<p class="muted">Generated by dario at {escape(_fmt_ts(time.time()))}. Bodies are redacted '
                 f'and may be truncated.</p></main><script>{JS}</script></body></html>')
    return "".join(parts)
