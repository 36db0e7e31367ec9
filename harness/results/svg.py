"""Line charts for the report: data scaled to a fixed SVG canvas, in Python, so the page needs no network
and no script to plot. The geometry is computed here; the markup is the ``chart`` macro of
``templates/chart.svg.j2``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"]
W, H = 720, 300
ML, MR, MT, MB = 64, 150, 28, 44  # margins: legend on the right
LEGEND_LEN = 22  # characters of a line's label shown in the legend


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


@dataclass(frozen=True)
class Mark:
    """A labelled position on one axis (a tick), or a limit's height (in canvas units)."""

    pos: float
    label: str


@dataclass(frozen=True)
class Trace:
    """One drawn line: its canvas points, colour, and where its legend entry sits."""

    label: str
    color: str
    points: list[tuple[float, float]]
    markers: bool
    legend_y: int

    @property
    def legend(self) -> str:
        return self.label[:LEGEND_LEN]

    @property
    def path(self) -> str:
        """The points as an SVG ``points`` attribute, to a tenth of a canvas unit."""
        return " ".join(f"{x:.1f},{y:.1f}" for x, y in self.points)


@dataclass(frozen=True)
class Chart:
    plot_id: str
    title: str
    xlabel: str
    ylabel: str
    y_ticks: list[Mark] = field(default_factory=list)
    x_ticks: list[Mark] = field(default_factory=list)
    traces: list[Trace] = field(default_factory=list)
    limits: list[Mark] = field(default_factory=list)
    width: int = W
    height: int = H
    left: int = ML
    top: int = MT
    plot_w: int = W - ML - MR
    plot_h: int = H - MT - MB
    legend_x: int = W - MR


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


def _finite(xs: Sequence[float], ys: Sequence[float]) -> list[tuple[float, float]]:
    return [(x, y) for x, y in zip(xs, ys, strict=True) if math.isfinite(x) and math.isfinite(y)]


def chart(plot_id: str, title: str, xlabel: str, ylabel: str, lines: Sequence[Line],
          bounds: Sequence[Bound] = ()) -> Chart | None:
    """One chart, or None when no line has a finite point. ``bounds`` are limits drawn as dashed lines
    across the plot (the y range is widened to show them)."""
    pts = [p for ln in lines for p in _finite(ln.xs, ln.ys)]
    if not pts:
        return None
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

    traces: list[Trace] = []
    legend_y = MT + 10
    for i, ln in enumerate(lines):
        points = [(sx(x), sy(y)) for x, y in _finite(ln.xs, ln.ys)]
        if not points:
            continue
        traces.append(Trace(ln.label, PALETTE[i % len(PALETTE)], points, ln.markers or len(points) == 1, legend_y))
        legend_y += 16
    return Chart(plot_id, title, xlabel, ylabel,
                 y_ticks=[Mark(sy(t), _fmt(t)) for t in _nice_ticks(y0, y1)],
                 x_ticks=[Mark(sx(t), _fmt(t)) for t in _nice_ticks(x0, x1, 6)],
                 traces=traces, limits=[Mark(sy(b.value), b.label) for b in bounds])
