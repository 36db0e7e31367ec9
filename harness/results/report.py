"""report.html: one self-contained page a partner can open offline, built from the results store only
(so ``rackval report RUN_ID`` gives the same page later).

The page is the jinja2 template ``templates/report.html.j2`` (the plots: the ``chart`` macro of
``templates/chart.svg.j2`` over the geometry of ``svg.py``). Autoescape is on: every stored text is
escaped where it is printed. This module prepares what the template shows (failures by component,
each step's attempts) and formats values; the template lays them out.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup
from sqlalchemy.orm import Session

from harness.results.report_data import ReportData, load, traceability, when
from harness.results.report_plots import plots
from harness.results.store import AttemptRow, MeasurementRow, StepRow, open_store

_BETWEEN_TAGS = re.compile(r">\s*\n\s*<")


@dataclass(frozen=True)
class StepLine:
    """One row of the steps table."""

    row: StepRow
    attempts: list[AttemptRow]
    measurements: int  # in the last attempt


def measured(m: MeasurementRow) -> str:
    """A measurement's value as the tables show it: its text, or the number to six significant digits."""
    return m.value_text if m.value_text is not None else f"{m.value:.6g}" if m.value is not None else ""


def limits(m: MeasurementRow) -> str:
    """``"<limit>: ≥ low and ≤ high <unit>"``, or nothing for a measurement without bounds."""
    if m.low is None and m.high is None:
        return ""
    parts = ([f"≥ {m.low:g}"] if m.low is not None else []) + ([f"≤ {m.high:g}"] if m.high is not None else [])
    return f"{m.limit_name or ''}: {' and '.join(parts)} {m.unit}"


def spaceless(markup: str) -> Markup:
    """Join markup written one element per line (newlines and indentation between tags removed)."""
    return Markup(_BETWEEN_TAGS.sub("><", str(markup)).strip())


@cache
def environment() -> Environment:
    env = Environment(loader=PackageLoader("harness.results", "templates"), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(measured=measured, limits=limits, spaceless=spaceless, when=when)
    return env


def render(data: ReportData) -> str:
    r = data.run
    final = data.final_measurements()
    by_component: dict[str, list[tuple[StepRow, MeasurementRow]]] = defaultdict(list)
    for s, m in final:
        if m.verdict == "FAIL":
            by_component[m.component or "(rack)"].append((s, m))
    failing = [(comp, s, m) for comp in sorted(by_component, key=lambda c: (-len(by_component[c]), c))
               for s, m in by_component[comp]]
    steps = []
    for s in data.steps:
        atts = data.attempts.get(s.id, [])
        steps.append(StepLine(s, atts, len(data.measurements.get(atts[-1].id, [])) if atts else 0))
    return environment().get_template("report.html.j2").render(
        run=r, verdict=r.verdict or r.status, failing=failing,
        unfinished=[s for s in data.steps if not s.superseded and s.verdict in ("ERROR", "ABORTED")],
        steps=steps, charts=plots(data), final=final, devices=data.devices, traceability=traceability(data),
        events=data.events)


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
