"""`dario prices [MODEL]` and `dario prices import FILE`: what a model costs and where that comes from."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, List

import typer

from dario.store import pricing

FIELDS = ("input", "output", "cache_read", "cache_write")


def _row(model: str, overrides: dict) -> dict[str, Any] | None:
    p = pricing.price_for(model, overrides)
    if p is None:
        return None
    row: dict[str, Any] = {"model": model, "source": pricing.price_source(model, overrides),
                           **dict(zip(FIELDS, p)), "unit": "USD per million tokens"}
    entry = pricing.table_entry(model) if row["source"] != "config.json prices" else None
    if entry in pricing.TIERS:
        above, tier = pricing.TIERS[entry]
        row["long_context"] = {"above_prompt_tokens": above, **dict(zip(FIELDS, tier))}
    if (entry or "").startswith("claude"):
        row["cache_write_1h"] = p[0] * pricing.ONE_HOUR_WRITE
    return row


def litellm_prices(table: dict) -> tuple[dict[str, dict[str, float]], list[str]]:
    """A LiteLLM model_prices_and_context_window.json (USD per token) as config prices (per Mtok)."""
    out, skipped = {}, []
    for name, spec in table.items():
        if name == "sample_spec" or not isinstance(spec, dict):
            continue
        try:
            price = {"input": float(spec["input_cost_per_token"]) * 1e6,
                     "output": float(spec.get("output_cost_per_token") or 0) * 1e6}
            for src, dst in (("cache_read_input_token_cost", "cache_read"),
                             ("cache_creation_input_token_cost", "cache_write")):
                if spec.get(src) is not None:
                    price[dst] = float(spec[src]) * 1e6
        except (KeyError, TypeError, ValueError):
            skipped.append(name)
            continue
        out[name] = {k: round(v, 6) for k, v in price.items()}
    return out, skipped


def register(app: typer.Typer, config, edited_config, fail) -> None:
    @app.command("prices")
    def prices_cmd(args: List[str] = typer.Argument(None, metavar="[MODEL] | import FILE"),
                   as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
        """What a model costs (USD per million tokens) and where the price comes from.

        Examples: dario prices claude-sonnet-4-5 · dario prices import model_prices_and_context_window.json
        """
        args = list(args or [])
        if args[:1] == ["import"]:
            if len(args) != 2:
                fail("usage: dario prices import FILE (a LiteLLM model_prices_and_context_window.json)")
            try:
                table = json.loads(Path(args[1]).read_text())
            except (OSError, ValueError) as e:
                fail(f"cannot read {args[1]}: {e}")
            if not isinstance(table, dict):
                fail(f"{args[1]}: not a LiteLLM price table (a JSON object of models)")
            new, skipped = litellm_prices(table)
            with edited_config() as cfg:
                cfg.prices = {**cfg.prices, **new}  # imported prices join config; later imports win
            typer.echo(f"imported {len(new)} model(s) into config.json prices"
                       + (f", {len(skipped)} skipped (no usable price): {', '.join(skipped[:5])}" if skipped else ""))
            return
        overrides = config().prices
        if not args:
            models = sorted({*pricing.PRICES, *overrides})
            rows = [r for r in (_row(m, overrides) for m in models) if r]
        else:
            row = _row(args[0], overrides)
            if row is None:
                typer.echo(f"{args[0]}: no price (built-in or config.json); add it under \"prices\" in config.json",
                           err=not as_json)
                raise typer.Exit(1)
            rows = [row]
        if as_json:
            typer.echo(json.dumps(rows[0] if args else rows, indent=2))
            return
        from rich.console import Console
        from rich.table import Table
        t = Table(header_style="bold")
        for col in ("model", "input", "output", "cache read", "cache write", "source"):
            t.add_column(col, justify="left" if col in ("model", "source") else "right")
        for r in rows:
            t.add_row(r["model"], *(f"${r[k]:g}" for k in FIELDS), r["source"])
        Console().print(t)
        if args and "long_context" in rows[0]:
            lc = rows[0]["long_context"]
            typer.echo(f"prompts over {lc['above_prompt_tokens']:,} tokens: ${lc['input']:g} in, ${lc['output']:g} out")
