"""`dario cassette show|diff|redact`: read and clean cassettes (dario/cassette/format.py)."""

from __future__ import annotations

from typing import Any

import typer

from dario.cassette import match
from dario.cassette.format import CassetteError, answer_bytes, load, write_all


def _asked(client: dict) -> str:
    """The last thing the user said (the last text block of the last user turn that has one)."""
    body = client.get("body") or {}
    msgs = body.get("messages") or body.get("contents") or body.get("input") or []
    if isinstance(msgs, str):
        return msgs
    for m in reversed(msgs if isinstance(msgs, list) else []):
        if not isinstance(m, dict) or m.get("role", "user") != "user":
            continue
        content = m.get("content") if "content" in m else m.get("parts")
        if isinstance(content, str) and content.strip():
            return content
        for b in reversed(content if isinstance(content, list) else []):
            if isinstance(b, dict) and isinstance(b.get("text"), str) and b["text"].strip():
                return b["text"]
    return ""


def _answer_text(resp: dict) -> str:
    """The answer's text, whatever its protocol: through the report's transcript reader."""
    from dario.report.transcript import parse_response
    r = parse_response(answer_bytes(resp))
    if r.message is None:
        return r.error or ""
    return " ".join(p.text for p in r.message.parts if p.kind in ("text", "tool_call"))


def _line(c: dict) -> str:
    cl, route, resp = c["client"], c["route"], c["response"]
    u = c.get("usage") or {}
    where = f"{cl.get('protocol')}→{route.get('backend')}({route.get('protocol')})"
    tokens = f"in={u.get('input_tokens', '-')} out={u.get('output_tokens', '-')}"
    ask = " ".join(_asked(cl).split())[:50]
    return (f"#{c.get('n', '?'):<3} {where:<34} {str(cl.get('model'))[:28]:<28} "
            f"{'stream' if cl.get('stream') else 'plain':<6} {resp.get('status')} {tokens:<16} {ask}")


def _redact_all(obj: Any, secrets: tuple[str, ...]) -> Any:
    from dario.redact import redact
    if isinstance(obj, str):
        return redact(obj, secrets)
    if isinstance(obj, list):
        return [_redact_all(x, secrets) for x in obj]
    if isinstance(obj, dict):
        return {k: _redact_all(v, secrets) for k, v in obj.items()}
    return obj


def register(app: typer.Typer, config, fail) -> None:
    cassette = typer.Typer(help="Read and clean cassettes written by --record.", no_args_is_help=True)
    app.add_typer(cassette, name="cassette")

    def read(path: str) -> list[dict]:
        try:
            return load(path)
        except CassetteError as e:
            fail(str(e))

    @cassette.command("show")
    def show(path: str = typer.Argument(..., metavar="FILE")) -> None:
        """The calls of a cassette, one line each: what asked, where it went, what it got.

        Example: dario cassette show run.jsonl
        """
        calls = read(path)
        for c in calls:
            typer.echo(_line(c))
        typer.echo(f"{len(calls)} call(s) in {path}")

    @cassette.command("diff")
    def diff(a: str = typer.Argument(..., metavar="A"), b: str = typer.Argument(..., metavar="B")) -> None:
        """The first call where two cassettes differ, and what differs (exit 1 when they do).

        Example: dario cassette diff yesterday.jsonl today.jsonl
        """
        ca, cb = read(a), read(b)
        for i, (x, y) in enumerate(zip(ca, cb), 1):
            ask_x, ask_y = match.normalise(x["client"]), match.normalise(y["client"])
            if ask_x != ask_y:
                typer.echo(f"call #{i}: the requests differ:")
                for d in match.diff(ask_x, ask_y, a, b)[:20]:
                    typer.echo(f"  {d}")
                raise typer.Exit(1)
            ans_x, ans_y = _answer_text(x["response"]), _answer_text(y["response"])
            if x["response"].get("status") != y["response"].get("status") or ans_x != ans_y:
                typer.echo(f"call #{i}: same request, different answers:")
                typer.echo(f"  - {x['response'].get('status')} {ans_x[:200]}")
                typer.echo(f"  + {y['response'].get('status')} {ans_y[:200]}")
                raise typer.Exit(1)
        if len(ca) != len(cb):
            typer.echo(f"the first {min(len(ca), len(cb))} calls agree; {a} has {len(ca)}, {b} has {len(cb)}")
            raise typer.Exit(1)
        typer.echo(f"no difference in {len(ca)} call(s)")

    @cassette.command("redact")
    def redact_cmd(path: str = typer.Argument(..., metavar="FILE")) -> None:
        """Mask every key dario knows (its shapes and the configured keys) in a cassette, in place.

        Example: dario cassette redact run.jsonl
        """
        calls = read(path)
        try:
            secrets = tuple(config().secret_values())
        except SystemExit:
            secrets = ()
        cleaned = [_redact_all(c, secrets) for c in calls]
        changed = sum(1 for x, y in zip(calls, cleaned) if x != y)
        if changed:
            write_all(path, cleaned)
        typer.echo(f"{changed} of {len(calls)} call(s) had something to mask" + (f"; {path} rewritten" if changed
                                                                                     else ""))
