"""Which plots the report draws from a stored run: rack and shelf power and the hottest component over
time (background telemetry, with their envelope limits), the load-sweep curves, and coolant dT against
rack power. Each is a :class:`~harness.results.svg.Chart`; a plot with no data is left out.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from harness.results.report_data import ReportData, SeriesData
from harness.results.store import MeasurementRow, SeriesRow, StepRow
from harness.results.svg import Bound, Chart, Line, chart

SWEEP_AXES = {"setpoint_a": "load setpoint (A)", "setpoint_pct": "GPU load setpoint (% of TDP)"}


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


def plots(data: ReportData) -> list[Chart]:
    out: list[Chart | None] = []
    rack = _telemetry(data, "rack_ac_power_w") or _telemetry(data, "pdu_total_w")
    if rack:
        out.append(chart("plot-rack-power", "Rack AC power over time", "run time (s)", "kW",
                         [Line(s.row.name, s.t, [v / 1000 for v in s.v]) for s in rack],
                         [Bound(b.label.replace(f"{b.value:g}", f"{b.value / 1000:g} kW"), b.value / 1000)
                          for b in _bounds([s.row for s in rack], "limit")]))
    else:  # no background telemetry: the load sweep's own series
        steps = [s for s in data.series if s.row.source == "step" and s.row.name.startswith("rack_ac_power_w") and s.t]
        if steps:
            out.append(chart("plot-rack-power", "Rack AC power over time (load-sweep dwells)", "run time (s)", "kW",
                             [Line(s.row.name, s.t, [v / 1000 for v in s.v]) for s in steps],
                             [Bound(f"limit max {high / 1000:g} kW", high / 1000)
                              for high in (s.row.high for s in steps[:1]) if high is not None]))
    shelves = _telemetry(data, "shelf_ac_w")
    if shelves:
        out.append(chart("plot-shelf-power", "AC power per power shelf", "run time (s)", "kW",
                         [Line(s.row.component or "shelf", s.t, [v / 1000 for v in s.v]) for s in shelves]))
    temps = _telemetry(data, "tray_hottest_c")
    if temps:
        out.append(chart("plot-temperatures", "Hottest component per tray", "run time (s)", "°C",
                         [Line(s.row.component or "tray", s.t, s.v) for s in temps],
                         _bounds([s.row for s in temps], "component_temp_c")))
    out += sweep_plots(data.final_measurements())
    dt = _telemetry(data, "coolant_dt_c")
    if dt and rack:
        pairs = _align(rack[0], dt[0])
        if pairs:
            pairs.sort()
            out.append(chart("plot-coolant-dt", "Coolant dT against rack power", "rack AC power (kW)", "dT (°C)",
                             [Line("coolant dT", [p[0] / 1000 for p in pairs], [p[1] for p in pairs], markers=True)]))
    return [c for c in out if c is not None]


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
