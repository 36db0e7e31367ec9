"""report.html: one self-contained page a partner can open offline, built from the results store only
(so ``rackval report RUN_ID`` gives the same page later).

The page is the jinja2 template ``templates/report.html.j2`` (the plots: the ``chart`` and ``heat``
macros of ``templates/chart.svg.j2`` over the geometry of ``svg.py`` and ``svg_heat.py``). Autoescape
is on: every stored text is escaped where it is printed. This module prepares what the template shows
(failing components cause first, each step's attempts and measurements, the devices in a useful
order); the template lays them out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup
from sqlalchemy.orm import Session

from harness.results import wording
from harness.results.causes import failing_components
from harness.results.report_data import ReportData, clock_of, load, session_lines, traceability, when, when_on
from harness.results.report_measurements import StepMeasurements, step_measurements
from harness.results.report_plots import plots
from harness.results.store import AttemptRow, DeviceRow, MeasurementRow, StepRow, open_store

_BETWEEN_TAGS = re.compile(r">\s*\n\s*<")
DEVICE_ORDER = ["rack_manager", "compute_tray", "switch_tray", "power_shelf", "psu", "cdu", "pdu"]  # then instruments


@dataclass(frozen=True)
class StepLine:
    """One row of the steps table, and that step's measurements (its last attempt's)."""

    row: StepRow
    attempts: list[AttemptRow]
    measurements: list[MeasurementRow]

    @property
    def shown(self) -> StepMeasurements:
        return step_measurements(self.measurements)


def value(m: MeasurementRow) -> str:
    """A value with its unit as the page shows it ("41.2 °C", "False")."""
    return f"{wording.measured(m)} {wording.unit(m.unit)}".strip()


def limit_text(m: MeasurementRow) -> str:
    return wording.limits(m).replace(f" {m.unit}", f" {wording.unit(m.unit)}") if m.unit else wording.limits(m)


def spaceless(markup: str) -> Markup:
    """Join markup written one element per line (newlines and indentation between tags removed)."""
    return Markup(_BETWEEN_TAGS.sub("><", str(markup)).strip())


@cache
def environment() -> Environment:
    env = Environment(loader=PackageLoader("harness.results", "templates"), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(measured=wording.measured, value=value, limits=limit_text, setpoint=wording.setpoint,
                       unit=wording.unit,
                       diagnosis=wording.diagnosis, spaceless=spaceless, when=when)
    return env


def _devices(devices: list[DeviceRow]) -> list[DeviceRow]:
    """Rack manager, trays, shelves, PSUs, CDU, PDUs, then the instruments; each kind in recorded order (a
    device a resumed session recorded again right after its first record)."""
    rank = {k: i for i, k in enumerate(DEVICE_ORDER)}
    first = {}
    for n, d in enumerate(devices):
        first.setdefault(d.name, n)
    return sorted(devices, key=lambda d: (rank.get(d.kind, len(rank)), first[d.name], d.session))


def render(data: ReportData) -> str:
    r = data.run
    clock = clock_of(data)
    steps = []
    for s in data.steps:
        atts = data.attempts.get(s.id, [])
        rows = data.measurements.get(atts[-1].id, []) if atts else []
        steps.append(StepLine(s, atts, rows))
    return environment().get_template("report.html.j2").render(
        run=r, verdict=r.verdict or r.status, failing=failing_components(data.final_measurements()),
        unfinished=[s for s in data.steps if not s.superseded and s.verdict in ("ERROR", "ABORTED")],
        steps=steps, charts=plots(data), devices=_devices(data.devices), traceability=traceability(data),
        events=data.events, sessions=session_lines(data) if len(data.sessions) > 1 else [],
        started=when_on(r.started_at, clock, start=True), simulated_clock=clock == "simulated",
        at=lambda dt: when_on(dt, clock),
        measurement_count=sum(len(s.measurements) for s in steps if not s.row.superseded))


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
