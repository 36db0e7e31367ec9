"""Reopening a stored run for ``rackval run --resume``: what the earlier sessions left in the store.

The aborted session's safe state is superseded (this session runs its own), an attempt still RUNNING
belonged to a session that was killed or crashed and becomes ABORTED (and that session CRASHED), and
the steps the earlier sessions finished come back as records, so they are reported but not run again.
A step that ended ERROR did not finish: it runs again (what a technician who fixed the cause and
resumes expects), and so do the steps an ERROR kept from running (SKIP under ``stop_on_fail``).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from harness.rack import DeviceIdentity
from harness.results.records import AttemptRecord, StepRecord
from harness.results.store import DeviceRow, MeasurementRow, RunRow, SessionRow, StepRow
from harness.results.store_rows import measurement_from_row

CRASHED_ATTEMPT = "the session running it ended without recording an outcome (killed or crashed)"
FINISHED = ("PASS", "FAIL")  # a step with one of these verdicts is handed back, not run again


def unfinished(row: RunRow) -> list[StepRow]:
    """The plan steps earlier sessions did not finish: aborted, crashed, errored, or kept from running by
    one of those (a SKIP after a FAIL stays: the FAIL still stops the plan)."""
    out, failed = [], False
    for step in sorted(row.steps, key=lambda s: (s.index, s.id)):
        if step.superseded or step.kind == "safe_state":
            continue
        if step.verdict in FINISHED or (step.verdict == "SKIP" and failed):
            failed = failed or step.verdict == "FAIL"
            continue
        out.append(step)
    return out


def reopen(db: Session, run_id: str) -> tuple[RunRow, int]:
    """The run back to RUNNING in a new session; returns its row and how many attempts a crash left open."""
    row = db.get(RunRow, run_id)
    assert row is not None, "the runner checks the run exists before resuming"
    row.sessions += 1
    row.status, row.verdict, row.ended_at = "RUNNING", None, None
    crashed = 0
    for session in db.scalars(select(SessionRow).where(SessionRow.run_id == run_id, SessionRow.status == "RUNNING")):
        session.status = "CRASHED"  # it never recorded its end: the process was killed or crashed
    for step in row.steps:
        if step.kind == "safe_state" and not step.superseded:
            step.superseded = True
        for att in step.attempts:
            if att.status == "RUNNING":  # its session died with it (SIGKILL, crash): no outcome was recorded
                att.status, att.verdict, crashed = "ABORTED", "ABORTED", crashed + 1
                att.message = CRASHED_ATTEMPT
    db.commit()
    return row, crashed


def changed_devices(db: Session, run_id: str, devices: Sequence[DeviceIdentity]) -> list[DeviceIdentity]:
    """Devices whose model, serial or firmware differ from what the run last recorded for them, or that it
    had not recorded (a device that did not answer before, equipment an older rackval did not read)."""
    known = {d.name: (d.model, d.serial, d.firmware)
             for d in db.scalars(select(DeviceRow).where(DeviceRow.run_id == run_id).order_by(DeviceRow.id))}
    return [d for d in devices if known.get(d.name) != (d.model, d.serial, d.firmware)]


def finished_steps(db: Session, row: RunRow) -> dict[int, StepRecord]:
    """Plan step index -> the step an earlier session finished, with every attempt and its measurements."""
    out: dict[int, StepRecord] = {}
    again = {s.id for s in unfinished(row)}
    for step in row.steps:
        if step.superseded or step.kind == "safe_state" or step.id in again:
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


def rerun_notes(row: RunRow, session: int) -> list[str]:
    """Why this session runs again steps an earlier session ran to an end: each step that ended ERROR (with
    its message), and, in one note, the steps that were not run because of it."""
    notes, skipped = [], []
    for step in unfinished(row):
        if step.status == "ERROR":
            last = step.attempts[-1].session if step.attempts else session - 1
            notes.append(f"step {step.name} ended ERROR in session {last}"
                         f"{f' ({step.message})' if step.message else ''}: session {session} runs it again")
        elif step.status == "SKIP":
            skipped.append(step.name)
    if skipped:
        notes.append(f"steps not run after it ({', '.join(skipped)}): session {session} runs them")
    return notes
