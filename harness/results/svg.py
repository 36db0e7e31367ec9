"""Line charts as inline SVG, drawn in Python: a report that needs no network and no script to plot."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"]
W, H = 720, 300
ML, MR, MT, MB = 64, 150, 28, 44  # margins: legend on the right


@dataclass
class Line:
    label: str
    xs: Sequence[float]
    ys: Sequence[float]
    markers: bool = False


@dataclass
class Bound:
    label: str
    value: float


def _nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        hi = lo + 1.0
    step = 10 ** math.floor(math.log10((hi - lo) / n))
    for mult in (1, 2, 2.5, 5, 10):
        if (hi - lo) / (step * mult) <= n:
            step *= mult
            break
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step) + 1)]


def _fmt(v: float) -> str:
    return f"{v:.4g}"


def chart(plot_id: str, title: str, xlabel: str, ylabel: str, lines: Sequence[Line],
          bounds: Sequence[Bound] = ()) -> str:
    """One chart. ``bounds`` are limits drawn as dashed red lines across the plot."""
    pts = [(x, y) for ln in lines for x, y in zip(ln.xs, ln.ys, strict=True) if math.isfinite(x) and math.isfinite(y)]
    if not pts:
        return ""
    xs = [p[0] for p in pts]
    ys = [p[1] for p in pts] + [b.value for b in bounds]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    pad = (y1 - y0) * 0.08 or abs(y1) * 0.05 or 1.0
    y0, y1 = y0 - pad, y1 + pad
    if x1 == x0:
        x0, x1 = x0 - 1, x1 + 1
    pw, ph = W - ML - MR, H - MT - MB

    def sx(x: float) -> float:
        return ML + (x - x0) / (x1 - x0) * pw

    def sy(y: float) -> float:
        return MT + ph - (y - y0) / (y1 - y0) * ph

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="plot" id="{escape(plot_id)}" viewBox="0 0 {W} {H}" '
           f'width="{W}" height="{H}" role="img" aria-label="{escape(title)}">',
           f'<text x="{ML}" y="18" class="title">{escape(title)}</text>',
           f'<rect x="{ML}" y="{MT}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>']
    for t in _nice_ticks(y0, y1):
        out.append(f'<line x1="{ML}" x2="{ML + pw}" y1="{sy(t):.1f}" y2="{sy(t):.1f}" stroke="#eee"/>'
                   f'<text x="{ML - 6}" y="{sy(t) + 4:.1f}" text-anchor="end" class="tick">{_fmt(t)}</text>')
    for t in _nice_ticks(x0, x1, 6):
        out.append(f'<text x="{sx(t):.1f}" y="{MT + ph + 16}" text-anchor="middle" class="tick">{_fmt(t)}</text>')
    out.append(f'<text x="{ML + pw / 2}" y="{H - 6}" text-anchor="middle" class="axis">{escape(xlabel)}</text>')
    out.append(f'<text transform="translate(14 {MT + ph / 2}) rotate(-90)" text-anchor="middle" '
               f'class="axis">{escape(ylabel)}</text>')
    legend_y = MT + 10
    for i, ln in enumerate(lines):
        color = PALETTE[i % len(PALETTE)]
        pairs = [(sx(x), sy(y)) for x, y in zip(ln.xs, ln.ys, strict=True) if math.isfinite(x) and math.isfinite(y)]
        if not pairs:
            continue
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in pairs)
        out.append(f'<polyline class="series" data-label="{escape(ln.label)}" points="{path}" fill="none" '
                   f'stroke="{color}" stroke-width="1.5"/>')
        if ln.markers or len(pairs) == 1:
            out += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}"/>' for x, y in pairs]
        out.append(f'<rect x="{W - MR + 10}" y="{legend_y - 8}" width="10" height="10" fill="{color}"/>'
                   f'<text x="{W - MR + 24}" y="{legend_y + 1}" class="legend">{escape(ln.label[:22])}</text>')
        legend_y += 16
    for b in bounds:
        out.append(f'<line class="limit" x1="{ML}" x2="{ML + pw}" y1="{sy(b.value):.1f}" y2="{sy(b.value):.1f}" '
                   f'stroke="#d62728" stroke-dasharray="6 4"/>'
                   f'<text x="{ML + pw - 4}" y="{sy(b.value) - 4:.1f}" text-anchor="end" class="limit-label">'
                   f'{escape(b.label)}</text>')
    out.append("</svg>")
    return "".join(out)
