"""report.html: one self-contained page a partner can open offline, built from the results store only
(so ``rackval report RUN_ID`` gives the same page later). Verdict first, failing components first, then
the plots (inline SVG drawn here), the step table, the identity and calibration table and the
traceability block. Inline CSS and a few lines of inline script (filters); nothing is fetched.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from harness.results.store import (
    AttemptRow,
    DeviceRow,
    EventRow,
    MeasurementRow,
    RunRow,
    SeriesPointRow,
    SeriesRow,
    StepRow,
    find_run,
    open_store,
    utc,
)
from harness.results.svg import Bound, Line, chart


@dataclass
class SeriesData:
    row: SeriesRow
    t: list[float] = field(default_factory=list)
    v: list[float] = field(default_factory=list)


@dataclass
class ReportData:
    run: RunRow
    steps: list[StepRow]
    attempts: dict[int, list[AttemptRow]]
    measurements: dict[int, list[MeasurementRow]]  # attempt id -> rows
    devices: list[DeviceRow]
    events: list[EventRow]
    series: list[SeriesData]

    def final_measurements(self) -> list[tuple[StepRow, MeasurementRow]]:
        """The run's measurements: each step's last attempt (superseded steps left out)."""
        out = []
        for step in self.steps:
            atts = self.attempts.get(step.id, [])
            if step.superseded or not atts:
                continue
            out += [(step, m) for m in self.measurements.get(atts[-1].id, [])]
        return out


def load(db: Session, run_id: str) -> ReportData | None:
    run = find_run(db, run_id)
    if run is None:
        return None
    steps = list(db.scalars(select(StepRow).where(StepRow.run_id == run.id).order_by(StepRow.superseded,
                                                                                     StepRow.index, StepRow.id)))
    attempts: dict[int, list[AttemptRow]] = defaultdict(list)
    for a in db.scalars(select(AttemptRow).where(AttemptRow.run_id == run.id).order_by(AttemptRow.number)):
        attempts[a.step_id].append(a)
    measurements: dict[int, list[MeasurementRow]] = defaultdict(list)
    for m in db.scalars(select(MeasurementRow).where(MeasurementRow.run_id == run.id).order_by(MeasurementRow.id)):
        measurements[m.attempt_id or 0].append(m)
    series = {s.id: SeriesData(s) for s in db.scalars(select(SeriesRow).where(SeriesRow.run_id == run.id)
                                                          .order_by(SeriesRow.id))}
    if series:
        q = (select(SeriesPointRow.series_id, SeriesPointRow.t, SeriesPointRow.value)
             .where(SeriesPointRow.series_id.in_(list(series))).order_by(SeriesPointRow.series_id, SeriesPointRow.t,
                                                                         SeriesPointRow.id))
        for sid, t, v in db.execute(q):
            series[sid].t.append(t)
            series[sid].v.append(v)
    devices = list(db.scalars(select(DeviceRow).where(DeviceRow.run_id == run.id).order_by(DeviceRow.id)))
    events = list(db.scalars(select(EventRow).where(EventRow.run_id == run.id).order_by(EventRow.id)))
    return ReportData(run, steps, dict(attempts), dict(measurements), devices, events, list(series.values()))


def write_report(store_url: str, run_id: str, path: Path) -> Path:
    engine = open_store(store_url)
    try:
        with Session(engine) as db:
            data = load(db, run_id)
            if data is None:
                raise KeyError(run_id)
            html = render(data)
    finally:
        engine.dispose()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------- plots
def _telemetry(data: ReportData, name: str) -> list[SeriesData]:
    return [s for s in data.series if s.row.source == "telemetry" and s.row.name == name and s.t]


def _bounds(rows: list[SeriesRow] | list[MeasurementRow], label: str) -> list[Bound]:
    for r in rows:
        low, high = r.low, r.high
        if low is not None or high is not None:
            return ([Bound(f"{label} min {low:g}", low)] if low is not None else []) + (
                [Bound(f"{label} max {high:g}", high)] if high is not None else [])
    return []


def plots(data: ReportData) -> list[str]:
    out: list[str] = []
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
                             [Bound(f"limit max {s.row.high / 1000:g} kW", s.row.high / 1000)
                              for s in steps[:1] if s.row.high is not None]))
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
    return [p for p in out if p]


SWEEP_AXES = {"setpoint_a": "load setpoint (A)", "setpoint_pct": "GPU load setpoint (% of TDP)"}


def sweep_plots(final: list[tuple[StepRow, MeasurementRow]]) -> list[str]:
    """The load-sweep curves: rack AC power and PSU efficiency against load, one line per sweep step.

    A sweep's measurements carry their setpoint in ``meta``: amps on the electronic load, or percent
    of GPU TDP for a workload sweep; each axis kind gets its own chart (a plan may sweep both ways)."""
    out: list[str] = []
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
                ys = [(float(m.meta.get("mean", m.value)) if name == "rack_ac_power_w" else float(m.value or 0)) / scale
                      for m in rows]
                lines.append(Line(step_name, xs, ys, markers=True))
            rows = [m for ms in by_step.values() for m in ms]
            bounds = [Bound(f"limit {'min' if ' min ' in b.label else 'max'} {b.value / scale:g} {unit}",
                            b.value / scale) for b in _bounds(rows, "limit")]
            out.append(chart(f"plot-sweep-{name}{suffix}", title, xlabel, unit, lines, bounds))
    return out


def _align(x: SeriesData, y: SeriesData) -> list[tuple[float, float]]:
    """Pair each y sample with the latest x sample at or before it."""
    out, j = [], 0
    for t, v in zip(y.t, y.v, strict=True):
        while j + 1 < len(x.t) and x.t[j + 1] <= t:
            j += 1
        if x.t and x.t[j] <= t:
            out.append((x.v[j], v))
    return out


# ---------------------------------------------------------------------------------------------- page
CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}
h1{margin:0 0 4px}h2{margin-top:28px;border-bottom:1px solid #ddd}
.verdict{display:inline-block;padding:6px 16px;border-radius:4px;color:#fff;font-size:28px;font-weight:700}
.PASS{background:#2e7d32}.FAIL{background:#c62828}.ERROR{background:#6a1b9a}.ABORTED{background:#ef6c00}
.SKIP{background:#9e9e9e}
td .PASS,td .FAIL,td .ERROR,td .ABORTED,td .SKIP,td .INFO{color:#fff;padding:1px 6px;border-radius:3px}
.INFO{background:#607d8b}
table{border-collapse:collapse;margin:8px 0;width:100%}td,th{border:1px solid #ddd;padding:3px 6px;text-align:left;
vertical-align:top}th{background:#f5f5f5}tr.fail td{background:#fff0f0}
.plot .title{font-weight:700;font-size:13px}.plot .tick,.plot .legend,.plot .limit-label{font-size:11px}
.plot .limit-label{fill:#d62728}.plot .axis{font-size:12px}
.muted{color:#777}code{font-size:12px}
"""

SCRIPT = """
(function(){
  var box=document.getElementById('only-failures');
  box.addEventListener('change',function(){
    var rows=document.querySelectorAll('#measurements tbody tr');
    for(var i=0;i<rows.length;i++){rows[i].style.display=(box.checked&&!rows[i].classList.contains('fail'))?'none':'';}
  });
  document.body.setAttribute('data-ready','1');
  document.getElementById('plot-count').textContent=document.querySelectorAll('svg.plot').length;
})();
"""


def _v(verdict: str | None) -> str:
    v = verdict or "RUNNING"
    return f'<span class="{escape(v)}">{escape(v)}</span>'


def _when(dt: Any) -> str:
    d = utc(dt)
    return d.strftime("%Y-%m-%d %H:%M:%S UTC") if d else ""


def _value(m: MeasurementRow) -> str:
    return escape(m.value_text) if m.value_text is not None else f"{m.value:.6g}" if m.value is not None else ""


def _limits(m: MeasurementRow) -> str:
    if m.low is None and m.high is None:
        return ""
    parts = ([f"≥ {m.low:g}"] if m.low is not None else []) + ([f"≤ {m.high:g}"] if m.high is not None else [])
    return escape(f"{m.limit_name or ''}: {' and '.join(parts)} {m.unit}")


def render(data: ReportData) -> str:
    r = data.run
    verdict = r.verdict or r.status
    final = data.final_measurements()
    failing = [(s, m) for s, m in final if m.verdict == "FAIL"]
    by_component: dict[str, list[tuple[StepRow, MeasurementRow]]] = defaultdict(list)
    for s, m in failing:
        by_component[m.component or "(rack)"].append((s, m))
    h: list[str] = ["<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
                    f"<title>rackval {escape(r.id)}: {escape(verdict)}</title><style>{CSS}</style></head><body>"]
    h.append(f'<h1><span class="verdict {escape(verdict)}" id="verdict">{escape(verdict)}</span> '
             f'rack {escape(r.rack_serial)}</h1>')
    h.append(f'<p>{escape(r.plan_name)} on station {escape(r.station_id)} · run <code>{escape(r.id)}</code> · '
             f'{_when(r.started_at)} · operator {escape(r.operator or "-")}'
             f'{" · simulated" if r.simulated else ""}</p>')
    h.append('<h2>Failing components</h2>')
    if by_component:
        h.append('<table id="failures"><thead><tr><th>component</th><th>step</th><th>measurement</th><th>value</th>'
                 '<th>limit</th></tr></thead><tbody>')
        for comp in sorted(by_component, key=lambda c: (-len(by_component[c]), c)):
            for s, m in by_component[comp]:
                h.append(f'<tr class="fail"><td>{escape(comp)}</td><td>{escape(s.name)}</td><td>{escape(m.name)}</td>'
                         f'<td>{_value(m)} {escape(m.unit)}</td><td>{_limits(m)}</td></tr>')
        h.append("</tbody></table>")
    else:
        errors = [s for s in data.steps if not s.superseded and s.verdict in ("ERROR", "ABORTED")]
        h.append("<p>No measurement failed." + (" Steps that could not complete: " + ", ".join(
            f"{escape(s.name)} ({escape(s.message)})" for s in errors) if errors else "") + "</p>")
    h.append('<h2>Steps</h2><table id="steps"><thead><tr><th>#</th><th>step</th><th>kind</th><th>verdict</th>'
             '<th>attempts</th><th>measurements</th><th>message</th></tr></thead><tbody>')
    for s in data.steps:
        atts = data.attempts.get(s.id, [])
        n_meas = len(data.measurements.get(atts[-1].id, [])) if atts else 0
        att_text = ", ".join(f"{a.number}: {a.verdict or a.status}" + (f" (session {a.session})" if r.sessions > 1
                                                                       else "") for a in atts)
        name = escape(s.name) + (' <span class="muted">(superseded)</span>' if s.superseded else "")
        h.append(f'<tr class="{"fail" if s.verdict in ("FAIL", "ERROR") else ""}"><td>{s.index}</td><td>{name}</td>'
                 f'<td>{escape(s.kind)}</td><td>{_v(s.verdict)}</td><td>{escape(att_text)}</td><td>{n_meas}</td>'
                 f'<td>{escape(s.message)}</td></tr>')
    h.append("</tbody></table>")
    charts = plots(data)
    h.append(f'<h2>Plots (<span id="plot-count">{len(charts)}</span>)</h2>')
    h += [f"<figure>{c}</figure>" for c in charts] or ["<p>No series were recorded.</p>"]
    h.append('<h2>Measurements</h2><label><input type="checkbox" id="only-failures"> only failures</label>'
             '<table id="measurements"><thead><tr><th>step</th><th>measurement</th><th>component</th><th>value</th>'
             '<th>limit</th><th>verdict</th></tr></thead><tbody>')
    for s, m in final:
        h.append(f'<tr class="{"fail" if m.verdict == "FAIL" else ""}"><td>{escape(s.name)}</td><td>{escape(m.name)}'
                 f'</td><td>{escape(m.component or "")}</td><td>{_value(m)} {escape(m.unit)}</td><td>{_limits(m)}</td>'
                 f'<td>{_v(m.verdict)}</td></tr>')
    h.append("</tbody></table>")
    h.append('<h2>Devices, firmware and calibration</h2><table id="devices"><thead><tr><th>device</th><th>role</th>'
             '<th>manufacturer</th><th>model</th><th>serial</th><th>firmware</th><th>part number</th>'
             '<th>calibration due</th></tr></thead><tbody>')
    for d in data.devices:
        h.append("<tr>" + "".join(f"<td>{escape(x or '')}</td>" for x in (
            d.name, d.kind, d.manufacturer, d.model, d.serial, d.firmware, d.part_number, d.calibration_due)) + "</tr>")
    h.append("</tbody></table>")
    h.append('<h2>Traceability</h2><table id="traceability"><tbody>')
    for key, val in traceability(r):
        h.append(f"<tr><th>{escape(key)}</th><td><code>{escape(str(val))}</code></td></tr>")
    h.append("</tbody></table>")
    if data.events:
        h.append('<h2>Events</h2><table id="events"><tbody>')
        h += [f"<tr><td>{_when(e.at)}</td><td>{escape(e.kind)}</td><td>{escape(e.message)}</td></tr>"
              for e in data.events]
        h.append("</tbody></table>")
    h.append(f"<script>{SCRIPT}</script></body></html>")
    return "\n".join(h)


def traceability(r: RunRow) -> list[tuple[str, Any]]:
    """What `results show` and the report list about where a run's numbers come from."""
    return [("run id", r.id), ("rack serial", r.rack_serial), ("serial check", r.serial_check or "-"),
            ("rack (station entry)", r.rack_name or "-"), ("station", r.station_id), ("operator", r.operator or "-"),
            ("plan", f"{r.plan_name} ({r.plan_path})"), ("plan sha256", r.plan_sha256),
            ("envelope sha256", r.envelope_sha256), ("envelope version", r.envelope_version),
            ("harness version", r.harness_version), ("git sha", r.git_sha or "-"), ("sku", r.sku),
            ("simulated", f"yes, seed {r.seed}" if r.simulated else "no"), ("fault scenario", r.fault or "-"),
            ("sessions", r.sessions), ("started", _when(r.started_at)), ("ended", _when(r.ended_at)),
            ("status", r.status), ("command line", r.command_line)]
