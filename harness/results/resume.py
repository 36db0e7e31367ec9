"""Reopening a stored run for ``rackval run --resume``: what the earlier sessions left in the store.

The aborted session's safe state is superseded (this session runs its own), an attempt still RUNNING
belonged to a session that was killed or crashed and becomes ABORTED, and the steps the earlier
sessions finished come back as records, so they are reported but not run again.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from harness.rack import DeviceIdentity
from harness.results.records import AttemptRecord, StepRecord
from harness.results.store import DeviceRow, MeasurementRow, RunRow
from harness.results.store_rows import measurement_from_row

CRASHED_ATTEMPT = "the session running it ended without recording an outcome (killed or crashed)"


def reopen(db: Session, run_id: str) -> tuple[RunRow, int]:
    """The run back to RUNNING in a new session; returns its row and how many attempts a crash left open."""
    row = db.get(RunRow, run_id)
    assert row is not None, "the runner checks the run exists before resuming"
    row.sessions += 1
    row.status, row.verdict, row.ended_at = "RUNNING", None, None
    crashed = 0
    for step in row.steps:
        if step.kind == "safe_state" and not step.superseded:
            step.superseded = True
        for att in step.attempts:
            if att.status == "RUNNING":  # its session died with it (SIGKILL, crash): no outcome was recorded
                att.status, att.verdict, crashed = "ABORTED", "ABORTED", crashed + 1
                att.message = CRASHED_ATTEMPT
    db.commit()
    return row, crashed


def changed_devices(db: Session, run_id: str, devices: Sequence[DeviceIdentity]) -> list[str]:
    """Devices whose serial or firmware differ from what the first session recorded."""
    known = {d.name: (d.serial, d.firmware) for d in db.scalars(select(DeviceRow).where(DeviceRow.run_id == run_id))}
    return [d.name for d in devices if known.get(d.name, (d.serial, d.firmware)) != (d.serial, d.firmware)]


def finished_steps(db: Session, row: RunRow) -> dict[int, StepRecord]:
    """Plan step index -> the step an earlier session finished, with every attempt and its measurements."""
    out: dict[int, StepRecord] = {}
    for step in row.steps:
        if step.superseded or step.kind == "safe_state" or step.status in ("RUNNING", "ABORTED"):
            continue
        rec = StepRecord(step.index, step.name, step.kind, step.status, step.verdict or "", step.message,
                         restored=True)
        for a in step.attempts:
            att = AttemptRecord(a.number, a.of, a.status, a.verdict or "", a.message)
            rows = db.scalars(select(MeasurementRow).where(MeasurementRow.attempt_id == a.id)
                              .order_by(MeasurementRow.id))
            att.measurements = [measurement_from_row(m) for m in rows]
            rec.attempts.append(att)
        out[step.index] = rec
    return out
