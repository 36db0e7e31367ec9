"""Recorder: the one place steps and the telemetry sampler report to. It fans every record out, as it
happens, to the results store, the OCP TAP stream and the run log, and keeps the in-memory summary
the CLI prints. Secrets known to the station are scrubbed from every text before it leaves.

One store row per step, one per attempt of it (retries, a step re-run after a resume); OCP shows
each attempt as its own test step (named ``"<step> (attempt k/N)"`` when the plan allows N > 1).
Thread-safe: the telemetry sampler's threads call :meth:`telemetry` while the main thread runs steps.

What a record says is decided elsewhere (``store_rows`` for the store, ``ocp_mapping`` for OCP); the
recorder decides when it is written, and in what order.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from harness.clock import Clock
from harness.config.plan import Envelope
from harness.envelopes import Measurement
from harness.interrupts import STOP
from harness.rack import DeviceIdentity
from harness.results import ocp_artifacts as ocp
from harness.results import ocp_mapping, store_rows
from harness.results.ocp import OcpWriter
from harness.results.records import AttemptRecord, RunInfo, StepRecord
from harness.results.resume import changed_devices, finished_steps, reopen, rerun_notes
from harness.results.scrub import Scrubber, ScrubFilter
from harness.results.store import AttemptRow, EventRow, RunRow, SeriesPointRow, SessionRow, StepRow, open_store, utc
from harness.results.telemetry_buffer import TelemetryBuffer

__all__ = ["AttemptRecord", "Recorder", "RunInfo", "StepRecord"]

log = logging.getLogger("rackval")


class _WriteLock:
    """The recorder's lock. A Ctrl-C that arrives while a row is being written takes effect once
    it is committed: a KeyboardInterrupt inside a flush would leave the session needing a rollback
    and every later write (the step's end, the safe state, the run's end) failing."""

    def __init__(self) -> None:
        self._lock = threading.RLock()

    def __enter__(self) -> _WriteLock:
        STOP.defer_begin()
        self._lock.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self._lock.release()
        STOP.defer_end()


class Recorder:
    def __init__(self, run_dir: Path, store_url: str, clock: Clock, info: RunInfo, secrets: Sequence[str], *,
                 envelope: Envelope | None = None, resume: bool = False) -> None:
        self.run_dir, self.clock, self.info, self.envelope = run_dir, clock, info, envelope
        self.resume = resume
        run_dir.mkdir(parents=True, exist_ok=True)
        self.scrub = Scrubber(secrets)
        self.engine = open_store(store_url)
        self.db = Session(self.engine, expire_on_commit=False)
        self.ocp = OcpWriter(run_dir / "ocp.jsonl", clock, resume=resume)
        self.steps: list[StepRecord] = []
        self.session = 1
        self._session_row: SessionRow | None = None
        self._lock = _WriteLock()
        self._step_row: StepRow | None = None
        self._attempt_base = 0  # attempts earlier sessions made of the current step (numbering continues)
        self._attempt_row: AttemptRow | None = None
        self._ocp_step: str | None = None
        self._hw_ids: dict[str, str] = {}
        self._telemetry = TelemetryBuffer(self.db, info.run_id, envelope)  # session set when the run starts
        self._restored: dict[int, StepRecord] = {}
        self._log_handler = logging.FileHandler(run_dir / "rackval.log", encoding="utf-8")
        self._log_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        self._log_handler.addFilter(ScrubFilter(self.scrub))
        logging.getLogger().addHandler(self._log_handler)
        logging.getLogger("redfish").setLevel(logging.WARNING)  # the DMTF client logs every request at INFO
        if logging.getLogger().level > logging.INFO or logging.getLogger().level == logging.NOTSET:
            logging.getLogger().setLevel(logging.INFO)

    # ------------------------------------------------------------------ run
    def start_run(self, devices: list[DeviceIdentity]) -> None:
        with self._lock:
            if self.resume:
                self._resume_run(devices)
            else:
                self._new_run(devices)
            self._hw_ids = ocp_mapping.hardware_ids(devices)

    def _new_run(self, devices: list[DeviceIdentity]) -> None:
        i = self.info
        row = store_rows.run_row(i, scrub=self.scrub, started_at=self.clock.wall(), out_dir=str(self.run_dir))
        self.db.add(row)
        self.db.commit()
        self._session_row = store_rows.session_row(i, 1, self.clock, run_started_at=row.started_at, scrub=self.scrub)
        self.db.add(self._session_row)
        self.db.add_all([store_rows.device_row(i.run_id, d) for d in devices])
        self.db.commit()
        self.ocp.schema_version()
        self.ocp.run(ocp_mapping.run_start(i, devices, self.scrub))
        log.info("run %s started: plan %s on rack %s at station %s", i.run_id, i.plan_name, i.rack_serial,
                 i.station_id)

    def _resume_run(self, devices: list[DeviceIdentity]) -> None:
        """Reopen a run in a new session (its operator recorded): keep its finished steps, supersede the
        aborted session's safe state; a step that ended ERROR (and the steps it kept from running) runs again."""
        row, crashed = reopen(self.db, self.info.run_id)
        self.session = self._telemetry.session = row.sessions
        self._session_row = store_rows.session_row(self.info, self.session, self.clock,
                                                   run_started_at=utc(row.started_at) or row.started_at,
                                                   scrub=self.scrub)
        self.db.add(self._session_row)
        self.db.commit()
        found = changed_devices(self.db, self.info.run_id, devices)
        self.db.add_all([store_rows.device_row(self.info.run_id, d, session=self.session) for d in found])
        self.db.commit()
        changed = [d.name for d in found]
        if crashed:
            self.event("crashed", "the previous session ended without a safe state or an outcome (killed or "
                                  "crashed); its unfinished attempt is marked ABORTED")
        who = self.info.operator or "-"
        self.event("resumed", f"session {self.session} resumes the run (operator {who})", operator=who,
                   changed_devices=", ".join(changed))
        if changed:
            self.event("identity_changed", "device identity differs from what the run recorded before "
                                           "(recorded again for this session): " + ", ".join(changed))
        self._restored = finished_steps(self.db, row)
        self.ocp.run(ocp.Log(severity=ocp.LogSeverity.INFO,
                             message=f"run resumed (session {self.session}) by operator {who}"))
        log.info("run %s resumed (session %d) by operator %s", self.info.run_id, self.session, who)
        for note in rerun_notes(row, self.session):
            self.event("rerun", note)
            self.ocp.run(ocp.Log(severity=ocp.LogSeverity.WARNING, message=self.scrub(note)))

    def session_started(self) -> None:
        """This session's own work starts now: a --sim resume first brings simulated time to where the
        interrupted step started, and the session is placed on the run's time line there."""
        with self._lock:
            if self._session_row is not None:
                self._session_row.started_at = self.clock.wall()
                self.db.commit()

    def restored(self, index: int) -> StepRecord | None:
        """A step an earlier session of this run finished (it is not run again)."""
        rec = self._restored.get(index)
        if rec is not None:
            with self._lock:
                self.steps.append(rec)
        return rec

    def finished_earlier(self, index: int) -> bool:
        """Whether an earlier session of this run finished the step with this index."""
        return index in self._restored

    def step_t_start(self, index: int) -> float | None:
        """Run-clock time at which the step with this index first started (for resuming in --sim)."""
        row = self.db.scalar(select(StepRow).where(StepRow.run_id == self.info.run_id, StepRow.index == index,
                                                   StepRow.kind != "safe_state"))
        return row.t_start if row is not None else None

    def end_run(self, *, status: str, verdict: str) -> None:
        """status: COMPLETE | ERROR | ABORTED; verdict: PASS | FAIL | ERROR | ABORTED."""
        with self._lock:
            self._telemetry.flush()
            self.ocp.run(ocp_mapping.run_end(verdict))
            row = self.db.get(RunRow, self.info.run_id)
            if row is not None:
                row.status, row.verdict, row.ended_at = status, verdict, self.clock.wall()
            if self._session_row is not None:
                s = self._session_row
                s.status, s.verdict, s.ended_at = status, verdict, self.clock.wall()
            self.db.commit()
            log.info("run %s ended: %s", self.info.run_id, verdict)

    def close(self) -> None:
        with self._lock:
            self._telemetry.flush()
            self.ocp.close()
            self.db.close()
            self.engine.dispose()
            logging.getLogger().removeHandler(self._log_handler)
            self._log_handler.close()

    def event(self, kind: str, message: str, **data: object) -> None:
        """Something that happened to the run (aborted, resumed, fault applied, serial check)."""
        with self._lock:
            self.db.add(EventRow(run_id=self.info.run_id, at=self.clock.wall(), t_sim=self.clock.now(), kind=kind,
                                 message=self.scrub(message), data={k: self.scrub.value(v) for k, v in data.items()}))
            self.db.commit()
        log.info("event %s: %s", kind, self.scrub(message))

    # ------------------------------------------------------------------ steps and attempts
    def start_step(self, index: int, name: str, kind: str, *, attempts: int = 1) -> StepRecord:
        with self._lock:
            rec = StepRecord(index, name, kind)
            self.steps.append(rec)
            row = self.db.scalar(select(StepRow).where(StepRow.run_id == self.info.run_id, StepRow.index == index,
                                                       StepRow.name == name, StepRow.superseded.is_(False)))
            self._attempt_base = 0
            if row is None or kind == "safe_state":
                row = StepRow(run_id=self.info.run_id, index=index, name=name, kind=kind,
                              t_start=self.clock.now(), started_at=self.clock.wall())
                self.db.add(row)
            else:  # a step an earlier session did not finish (aborted, errored, or not run because of
                # it): this session's run of it is its next attempt, numbered on from the earlier ones
                self._attempt_base = len(row.attempts)
                if row.status == "ERROR":
                    rec.earlier = f"ERROR in session {row.attempts[-1].session if row.attempts else '?'}, run again"
                row.status, row.verdict, row.message, row.ended_at = "RUNNING", None, "", None
            self.db.commit()
            self._step_row = row
            log.info("step %s (%s) started", name, kind)
            self.start_attempt(1, attempts)
            return rec

    def start_attempt(self, number: int, of: int) -> AttemptRecord:
        """Attempt ``number`` of the ``of`` this session may make; numbered per step across sessions (a
        step an aborted session was in on attempt 1 of 2 continues with attempt 2 of 3)."""
        with self._lock:
            rec = self.steps[-1]
            base = self._attempt_base
            att = AttemptRecord(base + number, base + of)
            rec.attempts.append(att)
            assert self._step_row is not None
            self._attempt_row = AttemptRow(run_id=self.info.run_id, step_id=self._step_row.id, number=att.number,
                                           of=att.of, session=self.session, started_at=self.clock.wall())
            self.db.add(self._attempt_row)
            self.db.commit()
            title = rec.name
            if att.of > 1:
                title += f" (attempt {att.number}/{att.of})"
            if base:
                title += f" (resumed, session {self.session})"
            self._ocp_step = self.ocp.new_step_id()
            self.ocp.step(self._ocp_step, ocp.TestStepStart(name=title))
            return att

    def end_attempt(self, *, status: str, verdict: str, message: str = "", retried: bool = False) -> AttemptRecord:
        """Close the current attempt in OCP and the store. ``retried``: another attempt follows."""
        with self._lock:
            att = self.steps[-1].attempts[-1]
            att.status, att.verdict, att.message = status, verdict, self.scrub(message)
            sid = self._sid
            self._telemetry_to_ocp()
            for m in att.measurements:
                if m.verdict == "FAIL":
                    self.ocp.step(sid, ocp.Diagnosis(verdict=f"{m.name}-fail" + ("-retried" if retried else ""),
                                                     type=ocp.DiagnosisType.FAIL, message=self.scrub(m.describe()),
                                                     hardware_info_id=self._hw_for(m.component)[0]))
            if status in ("ERROR", "ABORTED"):
                self.ocp.step(sid, ocp.Error(symptom="aborted" if status == "ABORTED" else "driver-error",
                                             message=att.message or status.lower()))
            elif verdict == "PASS":
                self.ocp.step(sid, ocp.Diagnosis(verdict=f"{self.steps[-1].name}-pass", type=ocp.DiagnosisType.PASS,
                                                 message="all checks passed"))
            self.ocp.step(sid, ocp.TestStepEnd(status=ocp_mapping.step_status(status)))
            if self._attempt_row is not None:
                row = self._attempt_row
                row.status, row.verdict, row.message = status, verdict, att.message
                row.retried, row.ended_at = retried, self.clock.wall()
                self.db.commit()
            if retried:
                log.warning("step %s attempt %d/%d ended %s; retrying", self.steps[-1].name, att.number, att.of,
                            verdict)
            return att

    def end_step(self, *, status: str, verdict: str, message: str = "") -> StepRecord:
        """End the current attempt and the step; the step takes the attempt's verdict."""
        with self._lock:
            rec = self.steps[-1]
            self.end_attempt(status=status, verdict=verdict, message=message)
            rec.status, rec.verdict, rec.message = status, verdict, self.scrub(message)
            if self._step_row is not None:
                self._step_row.status, self._step_row.verdict = status, verdict
                self._step_row.message, self._step_row.ended_at = rec.message, self.clock.wall()
                self.db.commit()
            log.info("step %s ended: %s %s", rec.name, verdict, rec.message)
            return rec

    def abort_open_step(self, message: str) -> StepRecord | None:
        """End the step that is still running (a Ctrl-C between two of its records) as ABORTED."""
        with self._lock:
            if not self.steps or self.steps[-1].status != "RUNNING":
                return None
            return self.end_step(status="ABORTED", verdict="ABORTED", message=message)

    @property
    def _sid(self) -> str:
        return self._ocp_step or "s0"

    def _hw_for(self, component: str | None) -> tuple[str | None, str | None]:
        """The hardwareInfoId of the device a component names ("pdu1 inlet", "compute01/GPU 0") and the
        subcomponent after the slash."""
        if not component:
            return None, None
        head, _, sub = component.partition("/")
        head = head.split()[0] if head else head
        return self._hw_ids.get(head), (sub or None) if head in self._hw_ids else None

    # ------------------------------------------------------------------ records (the Sink protocol)
    def measurement(self, m: Measurement) -> None:
        with self._lock:
            meta = {k: self.scrub.value(v) for k, v in m.meta.items()}
            if meta != m.meta:
                m = Measurement(m.name, m.value, m.unit, m.component, m.limit, m.low, m.high, m.verdict, m.t, meta)
            self.steps[-1].attempts[-1].measurements.append(m)
            self.db.add(store_rows.measurement_row(
                m, run_id=self.info.run_id, step_id=self._step_row.id if self._step_row else 0,
                attempt_id=self._attempt_row.id if self._attempt_row else None, taken_at=self.clock.wall(), meta=meta))
            self.db.commit()  # write-through
            hw, sub = self._hw_for(m.component)
            self.ocp.step(self._sid, ocp_mapping.measurement(m, hardware_info_id=hw, subcomponent=sub))
        if m.verdict == "FAIL":
            log.warning("FAIL %s", self.scrub(m.describe()))

    def series(self, name: str, unit: str, times: Sequence[float], values: Sequence[float], *,
               component: str | None, limit: str | None, envelope: Envelope) -> None:
        """A step's own series. A point that is not a number (a NaN reading) is not stored (the store's
        points are numbers, and a failed insert would leave every later write failing); OCP gets them all."""
        lim = envelope.limits.get(limit) if limit else None
        with self._lock:
            row = store_rows.series_row(self.info.run_id, source="step", name=name, unit=unit, component=component,
                                        limit=limit, lim=lim, step_id=self._step_row.id if self._step_row else None,
                                        attempt_id=self._attempt_row.id if self._attempt_row else None,
                                        session=self.session)
            self.db.add(row)
            self.db.flush()
            self.db.add_all([SeriesPointRow(series_id=row.id, t=t, value=v) for t, v in zip(times, values, strict=True)
                             if math.isfinite(t) and math.isfinite(v)])
            self.db.commit()
            self.ocp.series(self._sid, name=name, unit=unit, times=times, values=values,
                            validators=ocp_mapping.limit_validators(row.limit_name, row.low, row.high),
                            hardware_info_id=self._hw_for(component)[0])

    def telemetry(self, metric: str, unit: str, component: str | None, t: float, value: float) -> None:
        """The telemetry sampler's sink: one reading. Stored in batches (every second of wall time or
        every few hundred rows); written to OCP as a series when the current attempt ends."""
        if value != value:  # NaN: a sensor that answered nonsense is not a point on a plot
            return
        with self._lock:
            self._telemetry.add(metric, unit, component, t, float(value))

    def _telemetry_to_ocp(self) -> None:
        """Telemetry taken since the last attempt ended, as OCP measurement series of this step."""
        for tel in self._telemetry.take_for_ocp():
            self.ocp.series(self._sid, name=tel.ocp_name, unit=tel.unit, times=tel.times, values=tel.values,
                            validators=ocp_mapping.limit_validators(tel.limit, tel.low, tel.high),
                            hardware_info_id=self._hw_for(tel.component)[0])

    def log(self, message: str, severity: str = "INFO") -> None:
        message = self.scrub(message)
        with self._lock:
            self.ocp.step(self._sid, ocp.Log(severity=ocp.LogSeverity(severity), message=message))
        level = logging.getLevelName(severity)
        log.log(level if isinstance(level, int) else logging.INFO, "%s", message)

    def diagnosis(self, verdict: str, kind: str, message: str, component: str | None) -> None:
        with self._lock:
            self.ocp.step(self._sid, ocp.Diagnosis(verdict=verdict, type=ocp.DiagnosisType(kind),
                                                   message=self.scrub(message),
                                                   hardware_info_id=self._hw_for(component)[0]))
