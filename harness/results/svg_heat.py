"""The heat view: many series over time (27 trays of an nvl72 rack) as one row each, colour for value,
with each row's label on the left and its peak on the right, so every tray is named and none is hidden
behind a clipped legend. Values at or over the limit are drawn in the limit colour.

Each sample's colour holds until the next sample of its row (telemetry is sampled, not continuous);
samples that fall into one pixel column are merged keeping the highest, so the markup stays small on
a long run.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from harness.results.svg import MB, MT, Line, Mark, Marker, Scale, hms, number, x_marks, x_range

W = 720
ML, MR = 96, 110  # row labels on the left; peaks and the colour scale on the right
ROW_H = 11
RAMP = ["#313695", "#4575b4", "#74add1", "#abd9e9", "#fee090", "#fdae61", "#f46d43"]  # low -> high
OVER = "#a50026"  # at or over the limit
MIN_SPAN = 10.0  # the colour scale spans at least this much (°C, kW)


@dataclass(frozen=True)
class Cell:
    x: float
    w: float
    color: str
    title: str


@dataclass(frozen=True)
class HeatRow:
    label: str
    y: float
    cells: list[Cell]
    peak: str
    over: bool  # its peak is at or over the limit


@dataclass(frozen=True)
class HeatChart:
    plot_id: str
    title: str
    xlabel: str
    unit: str
    rows: list[HeatRow]
    x_ticks: list[Mark]
    scale: list[tuple[str, str, bool]]  # (colour, label, is it the limit) from high to low: the colour key
    markers: list[Mark] = field(default_factory=list)
    limit_label: str = ""
    width: int = W
    height: int = 0
    left: int = ML
    top: int = MT
    plot_w: int = W - ML - MR
    plot_h: int = 0
    row_h: int = ROW_H
    legend_x: int = W - MR
    kind: str = "heat"


def ramp(v: float, lo: float, hi: float, limit: float | None) -> str:
    if limit is not None and v >= limit:
        return OVER
    f = 0.0 if hi <= lo else min(1.0, max(0.0, (v - lo) / (hi - lo)))
    return RAMP[min(len(RAMP) - 1, int(f * len(RAMP)))]


def _merged(scale: Scale, xs: Sequence[float], ys: Sequence[float]) -> list[tuple[float, float]]:
    """(canvas x, value) per pixel column: the highest sample that falls into it."""
    out: list[tuple[float, float]] = []
    for x, y in sorted(zip(xs, ys, strict=True)):
        if not (math.isfinite(x) and math.isfinite(y)):
            continue
        cx = scale.x(x)
        if out and int(cx) == int(out[-1][0]):
            out[-1] = (out[-1][0], max(out[-1][1], y))
        else:
            out.append((cx, y))
    return out


def heat(plot_id: str, title: str, xlabel: str, unit: str, lines: Sequence[Line], *, limit: float | None = None,
         limit_label: str = "", markers: Sequence[Marker] = (), digits: int = 1) -> HeatChart | None:
    """A heat view of ``lines`` (one row per label, pieces of one label merged), or None with no data."""
    rows: dict[str, tuple[list[float], list[float]]] = {}
    for ln in lines:
        xs, ys = rows.setdefault(ln.label, ([], []))
        xs += list(ln.xs)
        ys += list(ln.ys)
    values = [y for _, ys in rows.values() for y in ys if math.isfinite(y)]
    times = [x for xs, _ in rows.values() for x in xs if math.isfinite(x)]
    if not values:
        return None
    lo, hi = min(values), max(values)
    top_of_scale = max(hi, lo + MIN_SPAN)  # a spread of a degree must not look like a hot spot
    if limit is not None and limit > lo:
        top_of_scale = min(top_of_scale, limit)
    plot_h = ROW_H * len(rows)
    scale = Scale(*x_range(times, time_axis=True), 0, 1, left=ML, top=MT, width=W - ML - MR, height=plot_h)
    out = []
    for n, (label, (xs, ys)) in enumerate(rows.items()):
        merged = _merged(scale, xs, ys)
        if not merged:
            continue
        gap = (merged[-1][0] - merged[0][0]) / max(1, len(merged) - 1) or 3.0  # a lone sample: a stripe
        cells = []
        for i, (cx, v) in enumerate(merged):
            nxt = merged[i + 1][0] if i + 1 < len(merged) else min(cx + gap, ML + scale.width)
            t = scale.x0 + (cx - ML) / scale.width * (scale.x1 - scale.x0)
            cells.append(Cell(cx, max(1.0, nxt - cx), ramp(v, lo, top_of_scale, limit),
                              f"{label} {hms(t)} {number(v, digits)} {unit}"))
        peak = max(v for _, v in merged)
        out.append(HeatRow(label, MT + n * ROW_H, cells, number(peak, digits), limit is not None and peak >= limit))
    key = [(OVER, f"≥ {number(limit, digits)}", True)] if limit is not None else []
    steps = len(RAMP)
    key += [(RAMP[i], number(lo + (top_of_scale - lo) * i / steps, digits), False) for i in reversed(range(steps))]
    x_ticks, session_marks = x_marks(scale, time_axis=True, markers=markers)
    title = f"{title} (limit: {limit_label})" if limit_label else title
    return HeatChart(plot_id, title, xlabel, unit, out, x_ticks, key, session_marks, limit_label,
                     height=MT + max(plot_h, 14 * len(key)) + MB, plot_h=plot_h)
