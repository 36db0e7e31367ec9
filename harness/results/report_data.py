"""One stored run, read back whole: what the report, `results show` and `results export` are built from.

Everything comes from the results store (never from the run directory), so a run reads the same later,
on another machine, and from SQLite or PostgreSQL alike.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
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
    SessionRow,
    StepRow,
    find_run,
    utc,
)


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
    sessions: list[SessionRow] = field(default_factory=list)

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
    """A run by its id or a unique prefix of it, or None. Steps in plan order, superseded ones last."""
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
    sessions = list(db.scalars(select(SessionRow).where(SessionRow.run_id == run.id).order_by(SessionRow.number)))
    return ReportData(run, steps, dict(attempts), dict(measurements), devices, events, list(series.values()),
                      sessions)


def when(dt: datetime | None) -> str:
    """A stored time as the report and `results show` print it (UTC, to the second)."""
    d = utc(dt)
    return d.strftime("%Y-%m-%d %H:%M:%S UTC") if d else ""


CLOCK_NOTES = {"wall": "wall clock", "simulated": "simulated clock"}


def clock_of(data: ReportData) -> str:
    """Which clock the run's times are on: ``wall``, ``simulated`` (--sim: the run starts at the real time
    it was started, then advances in simulated time), ``wall x<speed>`` (a `rackval sim --speed` station),
    or ``""`` when the store did not record it (a run stored before sessions were)."""
    kinds = [s.clock for s in data.sessions if s.clock]
    if kinds:
        return "simulated" if "simulated" in kinds else kinds[-1]
    return "simulated" if data.run.simulated and not data.run.station_path else ""


def when_on(dt: datetime | None, clock: str, *, start: bool = False) -> str:
    """A time with the clock it was read on: "2026-12-02 13:07:03 UTC (simulated clock)". A simulated clock
    starts at the real time (``start``: that time is wall clock time)."""
    text = when(dt)
    note = CLOCK_NOTES.get("wall" if start else clock, f"station clock {clock[5:]}" if clock.startswith("wall x")
                           else "")
    return f"{text} ({note})" if text and note else text


def session_lines(data: ReportData) -> list[str]:
    """Each session as one line: who ran it, when it started and ended (on which clock), how it ended."""
    out = []
    for s in data.sessions:
        ended = when_on(s.ended_at, s.clock) if s.ended_at else ("unknown (killed or crashed)"
                                                                  if s.status == "CRASHED" else "-")
        outcome = s.verdict or s.status or "-"
        started = when_on(s.started_at, s.clock, start=s.number == 1)  # a --sim run starts at the real time
        out.append(f"session {s.number}: operator {s.operator or '-'}, started {started}, "
                   f"ended {ended}, {outcome}")
    return out


def traceability(data: ReportData) -> list[tuple[str, Any]]:
    """What `results show` and the report list about where a run's numbers come from."""
    r, clock = data.run, clock_of(data)
    clock_text = {"simulated": "simulated (--sim): the run starts at the real time it was started; every later "
                               "time is simulated time", "wall": "wall clock"}.get(clock, clock or "-")
    return [("run id", r.id), ("rack serial", r.rack_serial), ("serial check", r.serial_check or "-"),
            ("rack (station entry)", r.rack_name or "-"), ("station", r.station_id), ("operator", r.operators or "-"),
            ("plan", f"{r.plan_name} ({r.plan_path})"), ("plan sha256", r.plan_sha256),
            ("envelope sha256", r.envelope_sha256), ("envelope version", r.envelope_version),
            ("harness version", r.harness_version), ("git sha", r.git_sha or "-"), ("sku", r.sku),
            ("simulated", f"yes, seed {r.seed}" if r.simulated else "no"), ("fault scenario", r.fault or "-"),
            ("clock", clock_text), ("sessions", r.sessions), ("started", when_on(r.started_at, clock, start=True)),
            ("ended", when_on(r.ended_at, clock)), ("status", r.status), ("command line", r.command_line)]
