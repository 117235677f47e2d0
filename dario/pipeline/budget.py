"""Budget stage: a call that could take spending over a cap is refused before it leaves.

Caps (config.json "budgets", `--budget USD` for a run): per run, per day, per month, and the same per
backend. Before a call is sent its worst case is reserved: its input estimated from the body
(chars/4, priced at the dearer of input and cache-write) plus its max_tokens of output, at the model's
price. When the call ends the reservation is settled to the real cost. Concurrent calls therefore
cannot overshoot a cap by more than one call's worst case. Daily and monthly spend start from what the
telemetry store already holds for the day / month (other dario processes add to it only as they
record). Refusals are not retryable and say which cap, what was spent and how to raise it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from dario.core.call import Call
from dario.store import pricing

DEFAULT_MAX_OUTPUT = 8192  # a call that names no max_tokens may still answer at length
WARN_AT = 0.8


@dataclass
class Cap:
    name: str  # "per-run", "daily", "monthly", "daily for backend openai"
    limit: float  # USD
    period: str  # "run" | "day" | "month"
    backend: str | None = None
    hint: str = ""  # how to raise it
    spent: int = 0  # whole pricing units, settled calls
    reserved: int = 0  # whole pricing units, calls in flight
    window: str = ""  # the day or month the spend belongs to
    warned: bool = False

    def applies(self, call: Call) -> bool:
        return self.backend is None or self.backend == call.backend


def _window(period: str, now: float) -> str:
    t = time.localtime(now)
    return {"day": time.strftime("%Y-%m-%d", t), "month": time.strftime("%Y-%m", t)}.get(period, "run")


def _window_start(period: str, now: float) -> float | None:
    t = time.localtime(now)
    if period == "day":
        return time.mktime((t.tm_year, t.tm_mon, t.tm_mday, 0, 0, 0, 0, 0, -1))
    if period == "month":
        return time.mktime((t.tm_year, t.tm_mon, 1, 0, 0, 0, 0, 0, -1))
    return None


def caps_from_config(budgets: dict, run_cap: float | None) -> list[Cap]:
    caps = []
    per_run = run_cap if run_cap is not None else budgets.get("per_run_usd")
    if per_run is not None:
        caps.append(Cap("per-run", float(per_run), "run", hint="--budget USD, or budgets.per_run_usd in config.json"))
    for key, period in (("daily_usd", "day"), ("monthly_usd", "month")):
        if budgets.get(key) is not None:
            caps.append(Cap("daily" if period == "day" else "monthly", float(budgets[key]), period,
                            hint=f"budgets.{key} in config.json"))
    for name, spec in (budgets.get("backends") or {}).items():
        for key, period in (("daily_usd", "day"), ("monthly_usd", "month"), ("per_run_usd", "run")):
            if isinstance(spec, dict) and spec.get(key) is not None:
                caps.append(Cap(f"{'daily' if period == 'day' else 'monthly' if period == 'month' else 'per-run'}"
                                f" for backend {name}", float(spec[key]), period, name,
                                hint=f"budgets.backends.{name}.{key} in config.json"))
    return caps


@dataclass
class Budget:
    caps: list[Cap]
    prices: dict = field(default_factory=dict)
    refuse_unpriced: bool = False
    on_warn: Callable[[str], None] | None = None
    spent_since: Callable[[float, str | None], float] | None = None  # (ts, backend) -> USD already recorded
    _lock: threading.Lock = field(default_factory=threading.Lock)
    unpriced_warned: set = field(default_factory=set)

    @property
    def active(self) -> bool:
        return bool(self.caps)

    def _roll(self, cap: Cap, now: float) -> None:
        w = _window(cap.period, now)
        if cap.window == w:
            return
        cap.window, cap.spent, cap.warned = w, 0, False
        start = _window_start(cap.period, now)
        if start is not None and self.spent_since is not None:
            try:
                cap.spent = pricing.to_units(self.spent_since(start, cap.backend) or 0.0)
            except Exception:
                cap.spent = 0

    def worst_case(self, call: Call) -> int | None:
        p = pricing.price_for(call.model or call.model_requested, self.prices)
        if p is None:
            return None
        body = call.head or {}  # the whole body, or its head fields, which hold these (Adapter.head_fields)
        out = next((body[k] for k in ("max_tokens", "max_completion_tokens", "max_output_tokens")
                    if isinstance(body.get(k), int) and not isinstance(body.get(k), bool)), DEFAULT_MAX_OUTPUT)
        inp = len(call.payload or call.raw or b"") / 4
        return pricing.to_units((inp * max(p[0], p[3]) + out * p[1]) / 1_000_000)

    def reserve(self, call: Call) -> None:
        """Reserve the call's worst case on every cap it falls under, or refuse it (CallError)."""
        caps = [c for c in self.caps if c.applies(call)]
        if not caps or call.inbound is None:
            return
        worst = self.worst_case(call)
        model = call.model or call.model_requested
        if worst is None:
            if self.refuse_unpriced:
                raise call.inbound.budget_error(
                    f"dario: budget: model {model!r} has no known price, and budgets.unpriced is \"refuse\"; "
                    f"add its price under \"prices\" in config.json")
            if model not in self.unpriced_warned and self.on_warn:
                self.unpriced_warned.add(model)
                self.on_warn(f"dario: budget: model {model!r} has no known price; its calls are not counted")
            return
        now = time.time()
        with self._lock:
            for cap in caps:
                self._roll(cap, now)
                if cap.spent + cap.reserved + worst > pricing.to_units(cap.limit):
                    raise call.inbound.budget_error(
                        f"dario: budget: the {cap.name} cap of ${cap.limit:g} would be exceeded: "
                        f"${cap.spent / pricing.UNITS_PER_USD:.4f} spent"
                        + (f", ${cap.reserved / pricing.UNITS_PER_USD:.4f} in flight" if cap.reserved else "")
                        + f", and this call may cost up to ${worst / pricing.UNITS_PER_USD:.4f}. "
                          f"Raise it with {cap.hint}.")
            for cap in caps:
                cap.reserved += worst
        call.notes["budget"] = (caps, worst)

    def settle(self, call: Call) -> None:
        held = call.notes.pop("budget", None)
        if held is None:
            return
        caps, worst = held
        actual = pricing.to_units(call.cost_usd) if call.cost_usd is not None else 0
        warn = []
        with self._lock:
            for cap in caps:
                cap.reserved -= worst
                cap.spent += actual
                if not cap.warned and cap.spent >= WARN_AT * pricing.to_units(cap.limit):
                    cap.warned = True
                    warn.append(f"dario: budget: {cap.spent / pricing.UNITS_PER_USD:.4f} of the {cap.name} cap "
                                f"of ${cap.limit:g} spent (80 %)")
        for w in warn:
            if self.on_warn:
                self.on_warn(w)

    def status(self) -> list[dict]:
        now = time.time()
        with self._lock:
            for cap in self.caps:
                self._roll(cap, now)
            return [{"cap": c.name, "limit_usd": c.limit, "spent_usd": c.spent / pricing.UNITS_PER_USD,
                     "headroom_usd": max(0.0, c.limit - c.spent / pricing.UNITS_PER_USD)} for c in self.caps]


def from_config(cfg, run_cap: float | None = None, spent_since=None, on_warn=None) -> Budget | None:
    budgets = (getattr(cfg, "extra", None) or {}).get("budgets") or {}
    caps = caps_from_config(budgets, run_cap)
    if not caps:
        return None
    return Budget(caps, dict(getattr(cfg, "prices", None) or {}), budgets.get("unpriced") == "refuse",
                  on_warn, spent_since)
