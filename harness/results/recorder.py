"""Recorder: the one place steps and the telemetry sampler report to. It fans every record out, as it
happens, to the results store, the OCP TAP stream and the run log, and keeps the in-memory summary
the CLI prints. Secrets known to the station are scrubbed from every text before it leaves.

One store row per step, one per attempt of it (retries, a step re-run after a resume); OCP shows
each attempt as its own test step (named ``"<step> (attempt k/N)"`` when the plan allows N > 1).
Thread-safe: the telemetry sampler's threads call :meth:`telemetry` while the main thread runs steps.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from harness.clock import Clock, monotonic
from harness.config.plan import Envelope
from harness.envelopes import Measurement
from harness.interrupts import STOP
from harness.rack import DeviceIdentity
from harness.results.ocp import OcpWriter, validators_for
from harness.results.scrub import Scrubber, ScrubFilter
from harness.results.store import (
    AttemptRow,
    DeviceRow,
    EventRow,
    MeasurementRow,
    RunRow,
    SeriesPointRow,
    SeriesRow,
    StepRow,
    open_store,
)

log = logging.getLogger("rackval")

# telemetry metric -> envelope limit it is drawn against (the metric's own name when the envelope has it)
TELEMETRY_LIMITS = {"tray_hottest_c": "component_temp_c"}
TELEMETRY_FLUSH_ROWS = 500
TELEMETRY_FLUSH_S = 1.0


@dataclass
class RunInfo:
    """What traceability records about a run before it starts."""

    run_id: str
    plan_name: str
    plan_path: str
    plan_sha256: str
    envelope_sha256: str
    envelope_version: str
    station_id: str
    rack_serial: str
    operator: str
    harness_version: str
    git_sha: str
    seed: int | None
    simulated: bool
    sku: str
    command_line: str
    station_path: str = ""
    rack_name: str = ""
    serial_check: str = ""
    fault: str | None = None


@dataclass
class AttemptRecord:
    number: int
    of: int
    status: str = "RUNNING"
    verdict: str = ""
    message: str = ""
    measurements: list[Measurement] = field(default_factory=list)


@dataclass
class StepRecord:
    index: int
    name: str
    kind: str
    status: str = "RUNNING"  # COMPLETE | ERROR | SKIP
    verdict: str = ""  # PASS | FAIL | ERROR | SKIP
    message: str = ""
    attempts: list[AttemptRecord] = field(default_factory=list)
    restored: bool = False  # recorded by an earlier session of a resumed run, not re-run

    @property
    def measurements(self) -> list[Measurement]:
        """The step's measurements are its last attempt's (that attempt gives the verdict)."""
        return self.attempts[-1].measurements if self.attempts else []

    @property
    def failures(self) -> list[Measurement]:
        return [m for m in self.measurements if m.verdict == "FAIL"]


@dataclass
class _Telemetry:
    series_id: int
    unit: str
    component: str | None
    limit: str | None
    low: float | None
    high: float | None
    ocp_t: list[float] = field(default_factory=list)  # points not yet written to OCP
    ocp_v: list[float] = field(default_factory=list)


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
        self._lock = _WriteLock()
        self._step_row: StepRow | None = None
        self._attempt_row: AttemptRow | None = None
        self._ocp_step: str | None = None
        self._hw_ids: dict[str, str] = {}
        self._telemetry: dict[tuple[str, str | None], _Telemetry] = {}
        self._points: list[SeriesPointRow] = []
        self._last_flush = monotonic()
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
            self._hw_ids = {d.name: f"hw{n}" for n, d in enumerate(devices)}

    def _new_run(self, devices: list[DeviceIdentity]) -> None:
        i = self.info
        self.db.add(RunRow(id=i.run_id, plan_name=i.plan_name, plan_path=i.plan_path, plan_sha256=i.plan_sha256,
                           envelope_sha256=i.envelope_sha256, envelope_version=i.envelope_version,
                           station_id=i.station_id, station_path=i.station_path, rack_name=i.rack_name,
                           rack_serial=i.rack_serial, serial_check=self.scrub(i.serial_check), sku=i.sku,
                           operator=i.operator, harness_version=i.harness_version, git_sha=i.git_sha, seed=i.seed,
                           fault=i.fault, simulated=i.simulated, command_line=self.scrub(i.command_line),
                           started_at=self.clock.wall(), status="RUNNING", out_dir=str(self.run_dir)))
        self.db.commit()
        for d in devices:
            self.db.add(DeviceRow(run_id=i.run_id, name=d.name, kind=d.kind, model=d.model, serial=d.serial,
                                  firmware=d.firmware, manufacturer=d.manufacturer, part_number=d.part_number,
                                  calibration_due=d.calibration_due))
        self.db.commit()
        hardware, software = [], []
        for n, d in enumerate(devices):
            hw: dict[str, Any] = {"hardwareInfoId": f"hw{n}", "name": d.name}
            for key, val in (("serialNumber", d.serial), ("partNumber", d.part_number),
                             ("manufacturer", d.manufacturer), ("version", d.model), ("odataId", d.uri)):
                if val:
                    hw[key] = val
            hardware.append(hw)
            if d.firmware:
                software.append({"softwareInfoId": f"sw{n}", "name": f"{d.name} firmware", "version": d.firmware,
                                 "softwareType": "FIRMWARE"})
        self.ocp.schema_version()
        self.ocp.run_start(
            name=f"rackval:{i.plan_name}", version=i.harness_version, command_line=self.scrub(i.command_line),
            parameters={"plan": i.plan_name, "plan_sha256": i.plan_sha256, "envelope_sha256": i.envelope_sha256,
                        "envelope_version": i.envelope_version, "station_id": i.station_id,
                        "seed": i.seed if i.seed is not None else "", "simulated": i.simulated,
                        "fault": i.fault or ""},
            dut_info={"dutInfoId": i.rack_serial, "name": i.sku, "platformInfos": [{"info": i.sku}],
                      "hardwareInfos": hardware, "softwareInfos": software},
            metadata={"run_id": i.run_id, "operator": i.operator, "git_sha": i.git_sha,
                      "harness_version": i.harness_version, "serial_check": self.scrub(i.serial_check),
                      "calibration": {d.name: d.calibration_due for d in devices if d.calibration_due}})
        log.info("run %s started: plan %s on rack %s at station %s", i.run_id, i.plan_name, i.rack_serial,
                 i.station_id)

    def _resume_run(self, devices: list[DeviceIdentity]) -> None:
        """Reopen a run: keep its finished steps, supersede the aborted session's safe state."""
        i = self.info
        row = self.db.get(RunRow, i.run_id)
        assert row is not None, "the runner checks the run exists before resuming"
        row.sessions += 1
        self.session = row.sessions
        row.status, row.verdict, row.ended_at = "RUNNING", None, None
        crashed = 0
        for step in row.steps:
            if step.kind == "safe_state" and not step.superseded:
                step.superseded = True
            for att in step.attempts:
                if att.status == "RUNNING":  # its session died with it (SIGKILL, crash): no outcome was recorded
                    att.status, att.verdict, crashed = "ABORTED", "ABORTED", crashed + 1
                    att.message = "the session running it ended without recording an outcome (killed or crashed)"
        self.db.commit()
        known = {d.name: (d.serial, d.firmware) for d in self.db.scalars(select(DeviceRow)
                                                                          .where(DeviceRow.run_id == i.run_id))}
        changed = [d.name for d in devices if known.get(d.name, (d.serial, d.firmware)) != (d.serial, d.firmware)]
        if crashed:
            self.event("crashed", "the previous session ended without a safe state or an outcome (killed or "
                                  "crashed); its unfinished attempt is marked ABORTED")
        self.event("resumed", f"session {self.session} resumes the run",
                   changed_devices=", ".join(changed))
        if changed:
            self.event("identity_changed", "device identity differs from the first session: " + ", ".join(changed))
        self._restored = self._load_finished(row)
        self.ocp.run_log(severity="INFO", message=f"run resumed (session {self.session})")
        log.info("run %s resumed (session %d)", i.run_id, self.session)

    def _load_finished(self, row: RunRow) -> dict[int, StepRecord]:
        out: dict[int, StepRecord] = {}
        for step in row.steps:
            if step.superseded or step.kind == "safe_state" or step.status in ("RUNNING", "ABORTED"):
                continue
            rec = StepRecord(step.index, step.name, step.kind, step.status, step.verdict or "", step.message,
                             restored=True)
            for a in step.attempts:
                att = AttemptRecord(a.number, a.of, a.status, a.verdict or "", a.message)
                rows = self.db.scalars(select(MeasurementRow).where(MeasurementRow.attempt_id == a.id)
                                       .order_by(MeasurementRow.id))
                att.measurements = [_measurement(m) for m in rows]
                rec.attempts.append(att)
            out[step.index] = rec
        return out

    def restored(self, index: int) -> StepRecord | None:
        """A step an earlier session of this run finished (it is not run again)."""
        rec = self._restored.get(index)
        if rec is not None:
            with self._lock:
                self.steps.append(rec)
        return rec

    def step_t_start(self, index: int) -> float | None:
        """Run-clock time at which the step with this index first started (for resuming in --sim)."""
        row = self.db.scalar(select(StepRow).where(StepRow.run_id == self.info.run_id, StepRow.index == index,
                                                   StepRow.kind != "safe_state"))
        return row.t_start if row is not None else None

    def end_run(self, *, status: str, verdict: str) -> None:
        """status: COMPLETE | ERROR | ABORTED; verdict: PASS | FAIL | ERROR | ABORTED."""
        with self._lock:
            self._flush_points()
            ocp_status, ocp_result = (("COMPLETE", verdict) if verdict in ("PASS", "FAIL")
                                      else ("ERROR", "NOT_APPLICABLE"))
            self.ocp.run_end(status=ocp_status, result=ocp_result)
            row = self.db.get(RunRow, self.info.run_id)
            if row is not None:
                row.status, row.verdict, row.ended_at = status, verdict, self.clock.wall()
                self.db.commit()
            log.info("run %s ended: %s", self.info.run_id, verdict)

    def close(self) -> None:
        with self._lock:
            self._flush_points()
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
            if row is None or kind == "safe_state":
                row = StepRow(run_id=self.info.run_id, index=index, name=name, kind=kind,
                              t_start=self.clock.now(), started_at=self.clock.wall())
                self.db.add(row)
            else:  # the step an aborted session was in: this session's run of it is its next attempt
                row.status, row.verdict, row.message, row.ended_at = "RUNNING", None, "", None
            self.db.commit()
            self._step_row = row
            log.info("step %s (%s) started", name, kind)
            self.start_attempt(1, attempts)
            return rec

    def start_attempt(self, number: int, of: int) -> AttemptRecord:
        with self._lock:
            rec = self.steps[-1]
            att = AttemptRecord(number, of)
            rec.attempts.append(att)
            assert self._step_row is not None
            prior = self.db.scalars(select(AttemptRow).where(AttemptRow.step_id == self._step_row.id)).all()
            self._attempt_row = AttemptRow(run_id=self.info.run_id, step_id=self._step_row.id,
                                           number=len(prior) + 1, of=of, session=self.session,
                                           started_at=self.clock.wall())
            self.db.add(self._attempt_row)
            self.db.commit()
            title = rec.name
            if of > 1:
                title += f" (attempt {number}/{of})"
            if prior:
                title += f" (resumed, session {self.session})" if of == 1 else ""
            self._ocp_step = self.ocp.new_step_id()
            self.ocp.step_start(self._ocp_step, name=title)
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
                    self.ocp.diagnosis(sid, verdict=f"{m.name}-fail" + ("-retried" if retried else ""), kind="FAIL",
                                       message=self.scrub(m.describe()), hardware_info_id=self._hw_for(m.component)[0])
            if status in ("ERROR", "ABORTED"):
                self.ocp.step_error(sid, symptom="aborted" if status == "ABORTED" else "driver-error",
                                    message=att.message or status.lower())
            elif verdict == "PASS":
                self.ocp.diagnosis(sid, verdict=f"{self.steps[-1].name}-pass", kind="PASS",
                                   message="all checks passed", hardware_info_id=None)
            self.ocp.step_end(sid, status="ERROR" if status == "ABORTED" else status)
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
            numeric = isinstance(m.value, (int, float)) and not isinstance(m.value, bool)
            self.db.add(MeasurementRow(
                run_id=self.info.run_id, step_id=self._step_row.id if self._step_row else 0,
                attempt_id=self._attempt_row.id if self._attempt_row else None, name=m.name,
                value=float(m.value) if numeric else (1.0 if m.value is True else 0.0 if m.value is False else None),
                value_text=None if numeric else str(m.value), unit=m.unit, limit_name=m.limit, low=m.low,
                high=m.high, verdict=m.verdict, component=m.component, t_sim=m.t, taken_at=self.clock.wall(),
                meta=meta))
            self.db.commit()  # write-through
            hw, sub = self._hw_for(m.component)
            self.ocp.measurement(self._sid, m, hardware_info_id=hw, subcomponent=sub)
        if m.verdict == "FAIL":
            log.warning("FAIL %s", self.scrub(m.describe()))

    def series(self, name: str, unit: str, times: Sequence[float], values: Sequence[float], *,
               component: str | None, limit: str | None, envelope: Envelope) -> None:
        lim = envelope.limits.get(limit) if limit else None
        validators: list[dict[str, Any]] = []
        if lim is not None:
            validators = validators_for(Measurement(name, 0.0, unit, low=lim.min, high=lim.max, limit=limit))
        with self._lock:
            row = SeriesRow(run_id=self.info.run_id, step_id=self._step_row.id if self._step_row else None,
                            attempt_id=self._attempt_row.id if self._attempt_row else None, source="step", name=name,
                            unit=unit, component=component, limit_name=limit if lim else None,
                            low=lim.min if lim else None, high=lim.max if lim else None)
            self.db.add(row)
            self.db.flush()
            self.db.add_all([SeriesPointRow(series_id=row.id, t=t, value=v) for t, v in zip(times, values, strict=True)])
            self.db.commit()
            self.ocp.series(self._sid, name=name, unit=unit, times=times, values=values, validators=validators,
                            hardware_info_id=self._hw_for(component)[0])

    def telemetry(self, metric: str, unit: str, component: str | None, t: float, value: float) -> None:
        """The telemetry sampler's sink: one reading. Stored in batches (every second of wall time or
        every few hundred rows); written to OCP as a series when the current attempt ends."""
        if value != value:  # NaN: a sensor that answered nonsense is not a point on a plot
            return
        with self._lock:
            key = (metric, component)
            tel = self._telemetry.get(key)
            if tel is None:
                limit = TELEMETRY_LIMITS.get(metric, metric)
                lim = self.envelope.limits.get(limit) if self.envelope is not None else None
                row = SeriesRow(run_id=self.info.run_id, source="telemetry", name=metric, unit=unit,
                                component=component, limit_name=limit if lim else None,
                                low=lim.min if lim else None, high=lim.max if lim else None)
                self.db.add(row)
                self.db.flush()
                tel = self._telemetry[key] = _Telemetry(row.id, unit, component, row.limit_name, row.low, row.high)
            self._points.append(SeriesPointRow(series_id=tel.series_id, t=t, value=float(value)))
            tel.ocp_t.append(t)
            tel.ocp_v.append(float(value))
            if len(self._points) >= TELEMETRY_FLUSH_ROWS or monotonic() - self._last_flush >= TELEMETRY_FLUSH_S:
                self._flush_points()

    def _flush_points(self) -> None:
        if self._points:
            self.db.add_all(self._points)
            self._points = []
        self.db.commit()
        self._last_flush = monotonic()

    def _telemetry_to_ocp(self) -> None:
        """Telemetry taken since the last attempt ended, as OCP measurement series of this step."""
        self._flush_points()
        for (metric, component), tel in sorted(self._telemetry.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
            if not tel.ocp_t:
                continue
            validators: list[dict[str, Any]] = []
            if tel.limit is not None:
                validators = validators_for(Measurement(metric, 0.0, tel.unit, low=tel.low, high=tel.high,
                                                        limit=tel.limit))
            name = f"telemetry.{metric}" + (f"[{component}]" if component else "")
            self.ocp.series(self._sid, name=name, unit=tel.unit, times=tel.ocp_t, values=tel.ocp_v,
                            validators=validators, hardware_info_id=self._hw_for(component)[0])
            tel.ocp_t, tel.ocp_v = [], []

    def log(self, message: str, severity: str = "INFO") -> None:
        message = self.scrub(message)
        with self._lock:
            self.ocp.step_log(self._sid, severity=severity, message=message)
        level = logging.getLevelName(severity)
        log.log(level if isinstance(level, int) else logging.INFO, "%s", message)

    def diagnosis(self, verdict: str, kind: str, message: str, component: str | None) -> None:
        with self._lock:
            self.ocp.diagnosis(self._sid, verdict=verdict, kind=kind, message=self.scrub(message),
                               hardware_info_id=self._hw_for(component)[0])


def _measurement(row: MeasurementRow) -> Measurement:
    """A stored measurement back as the value object the steps produced."""
    value: float | str | bool
    if row.value_text is None:
        value = float(row.value or 0.0)
    elif row.value_text in ("True", "False"):
        value = row.value_text == "True"
    else:
        value = row.value_text
    return Measurement(row.name, value, row.unit, row.component, row.limit_name, row.low, row.high,
                       row.verdict, row.t_sim, dict(row.meta or {}))  # type: ignore[arg-type]
