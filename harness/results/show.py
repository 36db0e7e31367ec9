"""`rackval results show`: one run as plain lines, from the store only. The lines hold no store ids
and no database-specific formatting, so a run stored in SQLite and in PostgreSQL shows the same."""

from __future__ import annotations

from sqlalchemy.orm import Session

from harness.results import wording
from harness.results.report_data import load, session_lines, traceability
from harness.results.store import MeasurementRow


def _bounds(m: MeasurementRow) -> str:
    if m.low is None and m.high is None:
        return ""
    return f"[{'' if m.low is None else f'{m.low:g}'}..{'' if m.high is None else f'{m.high:g}'}]"


def show_lines(db: Session, run_id: str, *, all_attempts: bool = False) -> list[str] | None:
    data = load(db, run_id)
    if data is None:
        return None
    r = data.run
    out = [f"run {r.id}: {r.verdict or r.status}"]
    out += [f"  {key}: {val}" for key, val in traceability(data) if key not in ("run id", "started", "ended")]
    out.append("sessions:")
    out += [f"  {line}" for line in session_lines(data)] or [f"  (not recorded) operator {r.operator or '-'}"]
    out.append("devices:")
    for d in data.devices:
        out.append(f"  {d.name} ({d.kind}) maker={d.manufacturer or '-'} model={d.model or '-'} "
                   f"sn={d.serial or '-'} fw={d.firmware or '-'} pn={d.part_number or '-'} "
                   f"cal_due={d.calibration_due or '-'}" + (f" (session {d.session})" if d.session > 1 else ""))
    out.append("steps:")
    for step in data.steps:
        atts = data.attempts.get(step.id, [])
        flag = " (superseded)" if step.superseded else ""
        out.append(f"  {step.index} {step.name}{flag}: {step.verdict or step.status} {step.message}".rstrip())
        for n, a in enumerate(atts):
            last = n == len(atts) - 1
            if len(atts) > 1:
                out.append(f"    attempt {a.number}/{a.of} session {a.session}: {a.verdict or a.status}"
                           f"{' (retried)' if a.retried else ''} {a.message}".rstrip())
            if not (last or all_attempts):
                continue
            for m in data.measurements.get(a.id, []):
                at = wording.setpoint(m.meta)
                why = wording.diagnosis(m) if m.verdict == "FAIL" else ""
                out.append(f"    {m.verdict:<4} {m.name} {wording.measured(m)} {m.unit} {_bounds(m)} {m.component or ''}"
                           f"{f' at {at}' if at else ''}{f': {why}' if why else ''}".rstrip())
    series = [s for s in data.series if s.v]
    if series:
        out.append("series:")
        for s in series:
            where = f" [{s.row.component}]" if s.row.component else ""
            out.append(f"  {s.row.source} {s.row.name}{where}: {len(s.v)} points, min {min(s.v):.6g} "
                       f"max {max(s.v):.6g} {s.row.unit}")
    if data.events:
        out.append("events:")
        out += [f"  {e.kind}: {e.message}" for e in data.events]
    return out
