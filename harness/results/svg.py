"""Charts for the report: data scaled to a fixed SVG canvas, in Python, so the page needs no network and
no script to plot. The geometry is computed here; the markup is the ``chart`` macro of
``templates/chart.svg.j2``.

A line chart draws each label once in its legend, however many pieces it is drawn in (one per session
of a resumed run; an earlier session's points that a later session ran again are drawn faded). Points
whose order means nothing (coolant dT against power) are drawn as points, not joined. A time axis reads
h:mm (h:mm:ss for a short one), a number axis never in exponent notation. More series than a legend
can hold (27 trays) are drawn as a heat view instead: one row per series, its peak printed beside it
(``svg_heat.py``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"]
W, H = 720, 300
ML, MR, MT, MB = 64, 150, 28, 44  # margins: legend on the right
LEGEND_LEN = 22  # characters of a line's label shown in the legend
LEGEND_STEP = 16
MAX_LEGEND = (H - MT - MB) // LEGEND_STEP  # entries that fit beside the plot; more: the heat view
TIME_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)


@dataclass
class Line:
    label: str
    xs: Sequence[float]
    ys: Sequence[float]
    markers: bool = False
    joined: bool = True  # False: a scatter (the order of the points means nothing)
    faded: bool = False  # points a later session of the run ran again


@dataclass
class Bound:
    label: str
    value: float


@dataclass(frozen=True)
class Marker:
    """A vertical line at ``x`` (data units) with a label: where a session of a resumed run started."""

    x: float
    label: str


@dataclass(frozen=True)
class Mark:
    """A labelled position on one axis (a tick), or a limit's height (in canvas units)."""

    pos: float
    label: str


@dataclass(frozen=True)
class Piece:
    """Part of a trace as drawn: its canvas points, joined or not, faded or not."""

    points: list[tuple[float, float]]
    joined: bool
    markers: bool
    faded: bool

    @property
    def path(self) -> str:
        """The points as an SVG ``points`` attribute, to a tenth of a canvas unit."""
        return " ".join(f"{x:.1f},{y:.1f}" for x, y in self.points)


@dataclass(frozen=True)
class Trace:
    """One legend entry: its colour, where the entry sits, and every piece drawn in that colour."""

    label: str
    color: str
    pieces: list[Piece]
    legend_y: int

    @property
    def legend(self) -> str:
        return self.label[:LEGEND_LEN]


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
    markers: list[Mark] = field(default_factory=list)  # x positions (canvas) of session starts
    width: int = W
    height: int = H
    left: int = ML
    top: int = MT
    plot_w: int = W - ML - MR
    plot_h: int = H - MT - MB
    legend_x: int = W - MR
    kind: str = "lines"


def _decimals(step: float) -> int:
    """Digits after the point that show every tick of this step exactly (2.5 -> 1, 0.25 -> 2, 500 -> 0)."""
    for d in range(7):
        scaled = step * 10 ** d
        if abs(scaled - round(scaled)) < 1e-6 * max(1.0, scaled):
            return d
    return 6


def nice_ticks(lo: float, hi: float, n: int = 5) -> tuple[list[float], int]:
    """Round tick values over [lo, hi] (about ``n``), and the decimals their labels need."""
    if hi <= lo:
        hi = lo + 1.0
    step = 10 ** math.floor(math.log10((hi - lo) / n))
    for mult in (1, 2, 2.5, 5, 10):
        if (hi - lo) / (step * mult) <= n:
            step *= mult
            break
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)], _decimals(step)


def number(v: float, decimals: int) -> str:
    """A tick label: fixed point, never exponent notation ("10000", "2.5"), no "-0"."""
    text = f"{v:.{decimals}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def hms(t: float, seconds: bool = False) -> str:
    """Seconds as h:mm (or h:mm:ss): 3725 -> "1:02"."""
    sign, t = ("-" if t < 0 else ""), abs(round(t))
    h, m, s = int(t // 3600), int(t % 3600 // 60), int(t % 60)
    return f"{sign}{h}:{m:02d}:{s:02d}" if seconds else f"{sign}{h}:{m:02d}"


def time_ticks(lo: float, hi: float, n: int = 6) -> list[tuple[float, str]]:
    """Ticks on a time axis (seconds) at whole seconds, minutes or hours, labelled h:mm (h:mm:ss under a minute)."""
    step = next((s for s in TIME_STEPS if (hi - lo) / s <= n), TIME_STEPS[-1])
    first = math.ceil(lo / step) * step
    return [(first + i * step, hms(first + i * step, seconds=step < 60))
            for i in range(int((hi - first) / step + 1e-9) + 1)]


def _finite(xs: Sequence[float], ys: Sequence[float]) -> list[tuple[float, float]]:
    return [(x, y) for x, y in zip(xs, ys, strict=True) if math.isfinite(x) and math.isfinite(y)]


@dataclass(frozen=True)
class Scale:
    """Data range -> canvas, for one chart."""

    x0: float
    x1: float
    y0: float
    y1: float
    left: int = ML
    top: int = MT
    width: int = W - ML - MR
    height: int = H - MT - MB

    def x(self, v: float) -> float:
        return self.left + (v - self.x0) / (self.x1 - self.x0) * self.width

    def y(self, v: float) -> float:
        return self.top + self.height - (v - self.y0) / (self.y1 - self.y0) * self.height


MIN_TIME_SPAN = 60.0  # a time axis shows at least a minute, from the run's start


def x_range(xs: Sequence[float], *, time_axis: bool = False) -> tuple[float, float]:
    """The x range of the points: a time axis starts at the run's start (0) and spans at least a minute."""
    x0, x1 = min(xs), max(xs)
    if time_axis:
        x0 = min(x0, 0.0)
        return x0, max(x1, x0 + MIN_TIME_SPAN)
    return (x0 - 1, x1 + 1) if x1 == x0 else (x0, x1)


def x_marks(scale: Scale, *, time_axis: bool, markers: Sequence[Marker] = ()) -> tuple[list[Mark], list[Mark]]:
    """The x-axis ticks (h:mm on a time axis) and the session markers inside the range, in canvas units."""
    if time_axis:
        ticks = [Mark(scale.x(t), label) for t, label in time_ticks(scale.x0, scale.x1)]
    else:
        values, decimals = nice_ticks(scale.x0, scale.x1, 6)
        ticks = [Mark(scale.x(t), number(t, decimals)) for t in values]
    inside = [Mark(scale.x(m.x), m.label) for m in markers if scale.x0 <= m.x <= scale.x1]
    return ticks, inside


def chart(plot_id: str, title: str, xlabel: str, ylabel: str, lines: Sequence[Line],
          bounds: Sequence[Bound] = (), *, time_axis: bool = False, markers: Sequence[Marker] = ()) -> Chart | None:
    """One line chart, or None when no line has a finite point. ``bounds`` are limits drawn as dashed lines
    across the plot (the y range is widened to show them). Lines that share a label share a colour and
    one legend entry."""
    pts = [p for ln in lines for p in _finite(ln.xs, ln.ys)]
    if not pts:
        return None
    ys = [p[1] for p in pts] + [b.value for b in bounds]
    y0, y1 = min(ys), max(ys)
    pad = (y1 - y0) * 0.08 or abs(y1) * 0.05 or 1.0
    scale = Scale(*x_range([p[0] for p in pts], time_axis=time_axis), y0 - pad, y1 + pad)
    pieces: dict[str, list[Piece]] = {}
    for ln in lines:
        points = [(scale.x(x), scale.y(y)) for x, y in _finite(ln.xs, ln.ys)]
        if points:
            pieces.setdefault(ln.label, []).append(Piece(points, ln.joined and len(points) > 1,
                                                         ln.markers or not ln.joined or len(points) == 1, ln.faded))
    traces = [Trace(label, PALETTE[i % len(PALETTE)], ps, MT + 10 + LEGEND_STEP * i)
              for i, (label, ps) in enumerate(pieces.items())]
    values, decimals = nice_ticks(scale.y0, scale.y1)
    x_ticks, session_marks = x_marks(scale, time_axis=time_axis, markers=markers)
    return Chart(plot_id, title, xlabel, ylabel, y_ticks=[Mark(scale.y(t), number(t, decimals)) for t in values],
                 x_ticks=x_ticks, traces=traces, limits=[Mark(scale.y(b.value), b.label) for b in bounds],
                 markers=session_marks)
