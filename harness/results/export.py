"""`rackval results export RUN_ID --format csv|json`: a run's records as files partners can load."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from sqlalchemy.orm import Session

from harness.results import wording
from harness.results.report_data import load
from harness.results.store import utc

CSV_COLUMNS = ["run_id", "rack_serial", "step_index", "step", "attempt", "session", "operator", "final", "seq",
               "measurement", "component", "setpoint", "value", "unit", "limit", "low", "high", "verdict",
               "diagnosis", "detail", "t_s", "taken_at"]


def _iso(dt: Any) -> str | None:
    d = utc(dt)
    return d.isoformat() if d else None


def export_csv(db: Session, run_id: str) -> str | None:
    """One row per measurement of every attempt; ``final`` marks the ones the verdict rests on, ``seq`` is
    its place in its attempt. ``setpoint`` and ``diagnosis`` read as in the report; ``detail`` is the rest
    of what the step recorded with it (JSON), which tells apart checks that share a name and component."""
    data = load(db, run_id)
    if data is None:
        return None
    operators = {s.number: s.operator for s in data.sessions}
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for step in data.steps:
        atts = data.attempts.get(step.id, [])
        for n, a in enumerate(atts):
            final = not step.superseded and n == len(atts) - 1
            for seq, m in enumerate(data.measurements.get(a.id, []), 1):
                value = m.value_text if m.value_text is not None else m.value
                w.writerow([data.run.id, data.run.rack_serial, step.index, step.name, a.number, a.session,
                            operators.get(a.session, ""), int(final), seq, m.name, m.component or "",
                            wording.setpoint(m.meta), value, m.unit, m.limit_name or "", m.low, m.high, m.verdict,
                            wording.diagnosis(m), wording.detail(m.meta), m.t_sim, _iso(m.taken_at)])
    return buf.getvalue()


def export_json(db: Session, run_id: str) -> str | None:
    """Everything the store has on the run: traceability, devices, steps, attempts, measurements,
    series (with points) and events."""
    data = load(db, run_id)
    if data is None:
        return None
    r = data.run
    run = {c.name: getattr(r, c.name) for c in r.__table__.columns}
    run["started_at"], run["ended_at"] = _iso(r.started_at), _iso(r.ended_at)
    steps = []
    for step in data.steps:
        atts = []
        for a in data.attempts.get(step.id, []):
            atts.append({"number": a.number, "of": a.of, "session": a.session, "status": a.status,
                         "verdict": a.verdict, "message": a.message, "retried": a.retried,
                         "measurements": [{"name": m.name, "value": m.value_text if m.value_text is not None
                                           else m.value, "unit": m.unit, "limit": m.limit_name, "low": m.low,
                                           "high": m.high, "verdict": m.verdict, "component": m.component,
                                           "t_s": m.t_sim, "taken_at": _iso(m.taken_at), "meta": m.meta}
                                          for m in data.measurements.get(a.id, [])]})
        steps.append({"index": step.index, "name": step.name, "kind": step.kind, "status": step.status,
                      "verdict": step.verdict, "message": step.message, "superseded": step.superseded,
                      "attempts": atts})
    doc = {"run": run,
           "devices": [{k: getattr(d, k) for k in ("name", "kind", "manufacturer", "model", "serial", "firmware",
                                                   "part_number", "calibration_due", "session")} for d in data.devices],
           "steps": steps,
           "series": [{"source": s.row.source, "name": s.row.name, "unit": s.row.unit, "component": s.row.component,
                       "limit": s.row.limit_name, "low": s.row.low, "high": s.row.high, "t": s.t, "values": s.v}
                      for s in data.series],
           "sessions": [{"number": s.number, "operator": s.operator, "clock": s.clock, "started_at": _iso(s.started_at),
                         "ended_at": _iso(s.ended_at), "status": s.status, "verdict": s.verdict,
                         "t_offset": s.t_offset, "command_line": s.command_line} for s in data.sessions],
           "events": [{"at": _iso(e.at), "kind": e.kind, "message": e.message, "data": e.data} for e in data.events]}
    return json.dumps(doc, indent=1, default=str) + "\n"
