"""Small inline-SVG charts drawn here: no chart library, no network, no JS needed.

Every label goes through html.escape; hover text uses SVG <title> (native tooltips).
"""

from __future__ import annotations

import math
from html import escape
from typing import Any, Callable, Sequence

W, H = 1100, 220
L, R, T, B = 64, 16, 28, 34  # plot margins
COLORS = {"input": "#4c78a8", "cache_read": "#72b7b2", "cache_write": "#b279a2", "output": "#f58518",
          "cost": "#54a24b", "latency": "#9d755d", "failed": "#e45756", "ttft": "#1f1f1f"}


def _nice(v: float) -> float:
    if v <= 0:
        return 1.0
    exp = 10 ** math.floor(math.log10(v))
    for m in (1, 2, 4, 6, 8, 10):  # quarters of these read cleanly
        if v <= m * exp:
            return m * exp
    return 10 * exp


def _fmt_num(v: float) -> str:
    if v >= 1e6:
        return f"{v / 1e6:g}M"
    if v >= 1e3:
        return f"{v / 1e3:g}k"
    return f"{v:g}"


def _fmt_usd(v: float) -> str:
    return f"${v:.6f}" if 0 < v < 0.01 else f"${v:.4f}" if v < 1 else f"${v:,.2f}"


def _elapsed(s: float) -> str:
    """+0s, +1.5s, +2m05s, +1h02m: the x-axis of a run's charts."""
    if s < 60:
        return f"+{s:.1f}s".replace(".0s", "s") if s < 10 else f"+{s:.0f}s"
    if s < 3600:
        return f"+{int(s // 60)}m{int(s % 60):02d}s"
    return f"+{int(s // 3600)}h{int(s % 3600 // 60):02d}m"


def _fmt_ms(v: float) -> str:
    return f"{v / 1000:g}s" if v >= 1000 else f"{v:g}ms"


class _Axes:
    def __init__(self, title: str, t0: float, t1: float, ymax: float, yfmt: Callable[[float], str]) -> None:
        self.t0, self.span = t0, max(t1 - t0, 1e-9)
        self.ymax, self.yfmt = _nice(ymax), yfmt
        self.pw, self.ph = W - L - R, H - T - B
        self.out = [f'<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="{escape(title)}" '
                    '>',
                    f'<text x="{L}" y="16" class="ct">{escape(title)}</text>']
        for i in range(5):  # y grid
            v = self.ymax * i / 4
            y = self.y(v)
            self.out.append(f'<line x1="{L}" x2="{W - R}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
                            f'<text x="{L - 6}" y="{y + 4:.1f}" class="yl">{escape(yfmt(v))}</text>')
        for i in range(6):  # time ticks: elapsed from the first call, so a short run's labels differ
            t = t0 + self.span * i / 5
            x = self.x(t)
            label = _elapsed(self.span * i / 5)
            anchor = "start" if i == 0 else "end" if i == 5 else "middle"
            self.out.append(f'<text x="{x:.1f}" y="{H - 12}" class="xl" text-anchor="{anchor}">{label}</text>')

    def x(self, t: float) -> float:
        return L + (t - self.t0) / self.span * self.pw

    def y(self, v: float) -> float:
        return T + self.ph - (v / self.ymax) * self.ph

    def svg(self) -> str:
        return "".join(self.out) + "</svg>"


def _bounds(calls: Sequence[dict[str, Any]]) -> tuple[float, float]:
    t0 = min(c["ts"] for c in calls)
    t1 = max(c["ts"] + (c.get("latency_ms") or 0) / 1000 for c in calls)
    pad = max((t1 - t0) * 0.02, 0.5)
    return t0 - pad, t1 + pad


def _bar_w(n: int) -> float:
    return max(3.0, min(28.0, (W - L - R) / max(n, 1) * 0.6))


def tokens_chart(calls: Sequence[dict[str, Any]]) -> str:
    if not calls:
        return ""
    keys = [("input_tokens", "input"), ("cache_read_tokens", "cache_read"),
            ("cache_write_tokens", "cache_write"), ("output_tokens", "output")]
    totals = [sum(c.get(k) or 0 for k, _ in keys) for c in calls]
    ax = _Axes("Tokens per call (input · cache read · cache write · output)", *_bounds(calls),
               max(totals), _fmt_num)
    bw = _bar_w(len(calls))
    for c in calls:
        x, base = ax.x(c["ts"]) - bw / 2, 0.0
        for key, color in keys:
            v = c.get(key) or 0
            if not v:
                continue
            y0, y1 = ax.y(base), ax.y(base + v)
            ax.out.append(f'<rect x="{x:.1f}" y="{y1:.1f}" width="{bw:.1f}" height="{max(y0 - y1, 0.5):.1f}" '
                          f'fill="{COLORS[color]}"><title>{escape(color)}: {v:,} tokens '
                          f'({escape(str(c.get("model") or "?"))})</title></rect>')
            base += v
    ax.out.append(_legend([("input", COLORS["input"]), ("cache read", COLORS["cache_read"]),
                           ("cache write", COLORS["cache_write"]), ("output", COLORS["output"])]))
    return ax.svg()


def cost_chart(calls: Sequence[dict[str, Any]]) -> str:
    priced = [c for c in calls if c.get("cost_usd") is not None]
    if not priced:
        return '<p class="muted">No cost chart: none of these calls has a known price.</p>'
    t0, t1 = _bounds(calls)
    total, pts = 0.0, []
    for c in calls:
        total += c.get("cost_usd") or 0  # a running line for the chart; totals in text use pricing.total_usd
        pts.append((c["ts"], total, c))
    ax = _Axes("Cumulative cost (USD)", t0, t1, total, lambda v: f"${v:.4g}")
    path, prev = [f"M{ax.x(t0):.1f},{ax.y(0):.1f}"], 0.0
    for t, v, _ in pts:  # step line: cost lands when a call does
        path.append(f"L{ax.x(t):.1f},{ax.y(prev):.1f} L{ax.x(t):.1f},{ax.y(v):.1f}")
        prev = v
    path.append(f"L{ax.x(t1):.1f},{ax.y(prev):.1f}")
    ax.out.append(f'<path d="{" ".join(path)}" fill="none" stroke="{COLORS["cost"]}" stroke-width="2"/>')
    for t, v, c in pts:
        ax.out.append(f'<circle cx="{ax.x(t):.1f}" cy="{ax.y(v):.1f}" r="3" fill="{COLORS["cost"]}">'
                      f'<title>{escape(_fmt_usd(c.get("cost_usd") or 0))} this call, '
                      f'{escape(_fmt_usd(v))} so far</title></circle>')
    return ax.svg()


def latency_chart(calls: Sequence[dict[str, Any]]) -> str:
    timed = [c for c in calls if c.get("latency_ms") is not None]
    if not timed:
        return ""
    ax = _Axes("Latency per call (bar) and time to first token (mark)", *_bounds(calls),
               max(c["latency_ms"] for c in timed), _fmt_ms)
    bw = _bar_w(len(timed))
    for c in timed:
        x, lat = ax.x(c["ts"]) - bw / 2, c["latency_ms"]
        y = ax.y(lat)
        fill = COLORS["failed"] if (c.get("status") or 0) >= 400 or c.get("error") else COLORS["latency"]
        ax.out.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bw:.1f}" height="{max(ax.y(0) - y, 0.5):.1f}" '
                      f'fill="{fill}" opacity="0.8"><title>{escape(_fmt_ms(round(lat)))} · status '
                      f'{escape(str(c.get("status")))}</title></rect>')
        if c.get("ttft_ms") is not None:
            ty = ax.y(c["ttft_ms"])
            ax.out.append(f'<line x1="{x - 2:.1f}" x2="{x + bw + 2:.1f}" y1="{ty:.1f}" y2="{ty:.1f}" '
                          f'stroke="{COLORS["ttft"]}" stroke-width="2"><title>TTFT '
                          f'{escape(_fmt_ms(round(c["ttft_ms"])))}</title></line>')
    ax.out.append(_legend([("latency", COLORS["latency"]), ("failed call", COLORS["failed"]),
                           ("TTFT", COLORS["ttft"])]))
    return ax.svg()


def _legend(items: list[tuple[str, str]]) -> str:
    out, x = [], W - R - 110 * len(items)
    for label, color in items:
        out.append(f'<rect x="{x}" y="7" width="10" height="10" fill="{color}"/>'
                   f'<text x="{x + 14}" y="16" class="lg">{escape(label)}</text>')
        x += 110
    return "".join(out)
