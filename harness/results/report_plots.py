"""Which plots the report draws from a stored run: rack and shelf power and the hottest component over
time (background telemetry, with their envelope limits), the load-sweep curves, and coolant dT against
rack power. Each is a :class:`~harness.results.svg.Chart` (or, for more series than a legend holds, a
:class:`~harness.results.svg_heat.HeatChart`); a plot with no data is left out.

Time is seconds since the run started, read h:mm, and the axis says which clock it is (wall clock or
simulated). A resumed run is one time line: each session's points are placed on it (its ``t_offset``),
a vertical line marks where each later session started, and an earlier session's points that a later
one ran again are drawn faded.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from harness.results.report_data import ReportData, SeriesData, clock_of
from harness.results.store import MeasurementRow, SeriesRow, StepRow, utc
from harness.results.svg import MAX_LEGEND, Bound, Chart, Line, Marker, chart
from harness.results.svg_heat import HeatChart, heat

SWEEP_AXES = {"setpoint_a": "load setpoint (A)", "setpoint_pct": "GPU load setpoint (% of TDP)"}
TIME_AXIS = {"simulated": "simulated time since the run started",
             "wall": "time since the run started (wall clock)"}


@dataclass(frozen=True)
class Timeline:
    """Where each session's clock times lie on the run's time line, and where later sessions began."""

    offsets: dict[int, float]
    starts: dict[int, float]  # session -> its start on the run's time line (sessions after the first)
    markers: list[Marker]
    xlabel: str

    def place(self, s: SeriesData, label: str, scale: float = 1.0, **style: bool) -> list[Line]:
        """A series on the run's time line: the part a later session ran again is a faded line of its own."""
        off = self.offsets.get(s.row.session, 0.0)
        cut = min((x for n, x in self.starts.items() if n > s.row.session), default=None)
        pts = [(t + off, v / scale) for t, v in zip(s.t, s.v, strict=True)]
        kept = [p for p in pts if cut is None or p[0] < cut]
        again = [p for p in pts if cut is not None and p[0] >= cut]
        return [Line(label, [p[0] for p in part], [p[1] for p in part], faded=faded, **style)
                for part, faded in ((kept, False), (again, True)) if part]


def timeline(data: ReportData) -> Timeline:
    start = utc(data.run.started_at)
    starts = {s.number: (utc(s.started_at) - start).total_seconds()  # type: ignore[operator]
              for s in data.sessions if s.number > 1 and start is not None}
    who = {s.number: s.operator for s in data.sessions}
    markers = [Marker(x, f"session {n}" + (f" · {who[n]}" if who.get(n) else "")) for n, x in sorted(starts.items())]
    clock = clock_of(data)
    label = TIME_AXIS.get(clock, f"time since the run started ({clock})" if clock.startswith("wall x")
                          else "time since the run started")
    return Timeline({s.number: s.t_offset for s in data.sessions}, starts, markers, label)


def _telemetry(data: ReportData, name: str) -> list[SeriesData]:
    return [s for s in data.series if s.row.source == "telemetry" and s.row.name == name and s.t]


def _bounds(rows: Sequence[SeriesRow | MeasurementRow], label: str) -> list[Bound]:
    """The limits of the first row that has any, as ``"<label> min <low>"`` / ``"<label> max <high>"``."""
    for r in rows:
        low, high = r.low, r.high
        if low is not None or high is not None:
            return ([Bound(f"{label} min {low:g}", low)] if low is not None else []) + (
                [Bound(f"{label} max {high:g}", high)] if high is not None else [])
    return []


def _over_time(tl: Timeline, series: Sequence[SeriesData], label: Callable[[SeriesData], str],
               scale: float = 1.0) -> list[Line]:
    return [ln for s in series for ln in tl.place(s, label(s), scale)]


def plots(data: ReportData) -> list[Chart | HeatChart]:
    tl = timeline(data)
    out: list[Chart | HeatChart | None] = []
    rack = _telemetry(data, "rack_ac_power_w") or _telemetry(data, "pdu_total_w")
    if rack:
        out.append(chart("plot-rack-power", "Rack AC power over time", tl.xlabel, "kW",
                         _over_time(tl, rack, lambda s: s.row.name, 1000.0),
                         [Bound(b.label.replace(f"{b.value:g}", f"{b.value / 1000:g} kW"), b.value / 1000)
                          for b in _bounds([s.row for s in rack], "limit")], time_axis=True, markers=tl.markers))
    else:  # no background telemetry: the load sweep's own series, one legend entry per sweep step
        steps = [s for s in data.series if s.row.source == "step" and s.row.name.startswith("rack_ac_power_w") and s.t]
        names = {s.id: s.name for s in data.steps}
        if steps:
            out.append(chart("plot-rack-power", "Rack AC power over time (load-sweep dwells)", tl.xlabel, "kW",
                             _over_time(tl, steps, lambda s: names.get(s.row.step_id or 0, s.row.name), 1000.0),
                             [Bound(f"limit max {high / 1000:g} kW", high / 1000)
                              for high in (s.row.high for s in steps[:1]) if high is not None],
                             time_axis=True, markers=tl.markers))
    shelves = _telemetry(data, "shelf_ac_w")
    if shelves:
        out.append(_many("plot-shelf-power", "AC power per power shelf", tl, shelves, "kW", 1000.0, []))
    temps = _telemetry(data, "tray_hottest_c")
    if temps:
        out.append(_many("plot-temperatures", "Hottest component per tray", tl, temps, "°C", 1.0,
                         _bounds([s.row for s in temps], "component_temp_c")))
    out += sweep_plots(data.final_measurements())
    dt = _telemetry(data, "coolant_dt_c")
    if dt and rack:
        pairs = [p for d in dt for r in rack if r.row.session == d.row.session for p in _align(r, d)]
        if pairs:
            out.append(chart("plot-coolant-dt", "Coolant dT against rack power", "rack AC power (kW)", "dT (°C)",
                             [Line("coolant dT", [p[0] / 1000 for p in pairs], [p[1] for p in pairs], joined=False)]))
    return [c for c in out if c is not None]


def _many(plot_id: str, title: str, tl: Timeline, series: Sequence[SeriesData], unit: str, scale: float,
          bounds: list[Bound]) -> Chart | HeatChart | None:
    """One line per component while a legend holds them; more (27 trays) as a heat view, one row each."""
    lines = _over_time(tl, series, lambda s: s.row.component or s.row.name, scale)
    if len({ln.label for ln in lines}) <= MAX_LEGEND:
        return chart(plot_id, title, tl.xlabel, unit, lines, bounds, time_axis=True, markers=tl.markers)
    high = next((b for b in bounds if " max " in b.label), None)
    return heat(plot_id, title, tl.xlabel, unit, lines, limit=high.value if high else None,
                limit_label=high.label if high else "", markers=tl.markers)


def sweep_plots(final: list[tuple[StepRow, MeasurementRow]]) -> list[Chart | None]:
    """The load-sweep curves: rack AC power and PSU efficiency against load, one line per sweep step.

    A sweep's measurements carry their setpoint in ``meta``: amps on the electronic load, or percent
    of GPU TDP for a workload sweep; each axis kind gets its own chart (a plan may sweep both ways)."""
    out: list[Chart | None] = []
    for axis, xlabel in SWEEP_AXES.items():
        suffix = "" if axis == "setpoint_a" else "-pct"
        for name, title, unit, scale in (("rack_ac_power_w", "Load sweep: rack AC power", "kW", 1000.0),
                                         ("psu_efficiency_pct", "Load sweep: PSU efficiency", "%", 1.0)):
            by_step: dict[str, list[MeasurementRow]] = defaultdict(list)
            for step, m in final:
                if m.name == name and m.value is not None and axis in (m.meta or {}):
                    by_step[step.name].append(m)
            if not by_step:
                continue
            lines = []
            for step_name, rows in by_step.items():
                rows.sort(key=lambda m: float(m.meta[axis]))
                xs = [float(m.meta[axis]) for m in rows]
                ys = [_sweep_y(m) / scale for m in rows]
                lines.append(Line(step_name, xs, ys, markers=True))
            rows = [m for ms in by_step.values() for m in ms]
            bounds = [Bound(f"limit {'min' if ' min ' in b.label else 'max'} {b.value / scale:g} {unit}",
                            b.value / scale) for b in _bounds(rows, "limit")]
            out.append(chart(f"plot-sweep-{name}{suffix}", title, xlabel, unit, lines, bounds))
    return out


def _sweep_y(m: MeasurementRow) -> float:
    """A sweep point's height: a dwell's mean power when recorded (the value may be its maximum)."""
    y = m.meta.get("mean", m.value) if m.name == "rack_ac_power_w" else m.value
    return float(y or 0)


def _align(x: SeriesData, y: SeriesData) -> list[tuple[float, float]]:
    """Pair each y sample with the latest x sample at or before it."""
    out, j = [], 0
    for t, v in zip(y.t, y.v, strict=True):
        while j + 1 < len(x.t) and x.t[j + 1] <= t:
            j += 1
        if x.t and x.t[j] <= t:
            out.append((x.v[j], v))
    return out
