"""Recorder: the one place steps report to. It fans every record out, as it happens, to the
results store, the OCP TAP stream and the run log, and keeps the in-memory summary the CLI prints.
Secrets known to the station are scrubbed from every text before it leaves."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from harness.clock import Clock
from harness.config.plan import Envelope
from harness.envelopes import Measurement
from harness.rack import DeviceIdentity
from harness.results.ocp import OcpWriter, validators_for
from harness.results.store import DeviceRow, MeasurementRow, RunRow, StepRow, open_store

log = logging.getLogger("rackval")


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


@dataclass
class StepRecord:
    index: int
    name: str
    kind: str
    status: str = "RUNNING"  # COMPLETE | ERROR | SKIP
    verdict: str = ""  # PASS | FAIL | ERROR | SKIP
    message: str = ""
    measurements: list[Measurement] = field(default_factory=list)

    @property
    def failures(self) -> list[Measurement]:
        return [m for m in self.measurements if m.verdict == "FAIL"]


class Scrubber:
    def __init__(self, secrets: Sequence[str]) -> None:
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for s in self.secrets:
            text = text.replace(s, "***")
        return text


class ScrubFilter(logging.Filter):
    def __init__(self, scrub: Scrubber) -> None:
        super().__init__()
        self.scrub = scrub

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.scrub(record.getMessage())
        record.args = ()
        return True


class Recorder:
    def __init__(self, run_dir: Path, store_url: str, clock: Clock, info: RunInfo, secrets: Sequence[str]) -> None:
        self.run_dir, self.clock, self.info = run_dir, clock, info
        run_dir.mkdir(parents=True, exist_ok=True)
        self.scrub = Scrubber(secrets)
        self.engine = open_store(store_url)
        self.db = Session(self.engine, expire_on_commit=False)
        self.ocp = OcpWriter(run_dir / "ocp.jsonl", clock)
        self.steps: list[StepRecord] = []
        self._step_row: StepRow | None = None
        self._hw_ids: dict[str, str] = {}
        self._log_handler = logging.FileHandler(run_dir / "rackval.log", encoding="utf-8")
        self._log_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        self._log_handler.addFilter(ScrubFilter(self.scrub))
        logging.getLogger().addHandler(self._log_handler)
        logging.getLogger("redfish").setLevel(logging.WARNING)  # the DMTF client logs every request at INFO
        if logging.getLogger().level > logging.INFO or logging.getLogger().level == logging.NOTSET:
            logging.getLogger().setLevel(logging.INFO)

    # ------------------------------------------------------------------ run
    def start_run(self, devices: list[DeviceIdentity]) -> None:
        i = self.info
        self.db.add(RunRow(id=i.run_id, plan_name=i.plan_name, plan_path=i.plan_path, plan_sha256=i.plan_sha256,
                           envelope_sha256=i.envelope_sha256, station_id=i.station_id, rack_serial=i.rack_serial,
                           operator=i.operator, harness_version=i.harness_version, git_sha=i.git_sha, seed=i.seed,
                           simulated=i.simulated, started_at=self.clock.wall(), status="RUNNING",
                           out_dir=str(self.run_dir)))
        self.db.commit()
        for d in devices:
            self.db.add(DeviceRow(run_id=i.run_id, name=d.name, kind=d.kind, model=d.model, serial=d.serial,
                                  firmware=d.firmware, manufacturer=d.manufacturer, part_number=d.part_number,
                                  calibration_due=d.calibration_due))
        self.db.commit()
        hardware, software = [], []
        for n, d in enumerate(devices):
            hw_id = f"hw{n}"
            self._hw_ids[d.name] = hw_id
            hw: dict[str, Any] = {"hardwareInfoId": hw_id, "name": d.name}
            for key, val in (("serialNumber", d.serial), ("partNumber", d.part_number), ("manufacturer", d.manufacturer),
                             ("version", d.model), ("odataId", d.uri)):
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
                        "seed": i.seed if i.seed is not None else "", "simulated": i.simulated},
            dut_info={"dutInfoId": i.rack_serial, "name": i.sku, "platformInfos": [{"info": i.sku}],
                      "hardwareInfos": hardware, "softwareInfos": software},
            metadata={"run_id": i.run_id, "operator": i.operator, "git_sha": i.git_sha,
                      "calibration": {d.name: d.calibration_due for d in devices if d.calibration_due}})
        log.info("run %s started: plan %s on rack %s at station %s", i.run_id, i.plan_name, i.rack_serial,
                 i.station_id)

    def end_run(self, *, status: str, verdict: str) -> None:
        """status: COMPLETE | ERROR | ABORTED; verdict: PASS | FAIL | ERROR | ABORTED."""
        ocp_status, ocp_result = ("COMPLETE", verdict) if verdict in ("PASS", "FAIL") else ("ERROR", "NOT_APPLICABLE")
        self.ocp.run_end(status=ocp_status, result=ocp_result)
        row = self.db.get(RunRow, self.info.run_id)
        if row is not None:
            row.status, row.verdict, row.ended_at = status, verdict, self.clock.wall()
            self.db.commit()
        log.info("run %s ended: %s", self.info.run_id, verdict)

    def close(self) -> None:
        self.ocp.close()
        self.db.close()
        self.engine.dispose()
        logging.getLogger().removeHandler(self._log_handler)
        self._log_handler.close()

    # ------------------------------------------------------------------ steps
    @property
    def _sid(self) -> str:
        return str(self.steps[-1].index)

    def start_step(self, index: int, name: str, kind: str) -> StepRecord:
        rec = StepRecord(index, name, kind)
        self.steps.append(rec)
        self._step_row = StepRow(run_id=self.info.run_id, index=index, name=name, kind=kind,
                                 started_at=self.clock.wall())
        self.db.add(self._step_row)
        self.db.commit()
        self.ocp.step_start(str(index), name=name)
        log.info("step %s (%s) started", name, kind)
        return rec

    def end_step(self, *, status: str, verdict: str, message: str = "") -> StepRecord:
        rec = self.steps[-1]
        rec.status, rec.verdict, rec.message = status, verdict, self.scrub(message)
        for m in rec.failures:
            self.ocp.diagnosis(self._sid, verdict=f"{m.name}-fail", kind="FAIL", message=self.scrub(m.describe()),
                               hardware_info_id=self._hw_for(m.component)[0])
        if status == "ERROR":
            self.ocp.step_error(self._sid, symptom="driver-error" if message else "error", message=rec.message)
        elif verdict == "PASS":
            self.ocp.diagnosis(self._sid, verdict=f"{rec.name}-pass", kind="PASS", message="all checks passed",
                               hardware_info_id=None)
        self.ocp.step_end(self._sid, status=status)
        if self._step_row is not None:
            self._step_row.status, self._step_row.verdict = status, verdict
            self._step_row.message, self._step_row.ended_at = rec.message, self.clock.wall()
            self.db.commit()
        log.info("step %s ended: %s %s", rec.name, verdict, rec.message)
        return rec

    def _hw_for(self, component: str | None) -> tuple[str | None, str | None]:
        if not component:
            return None, None
        head, _, sub = component.partition("/")
        head = head.split()[0] if head else head
        return self._hw_ids.get(head), (sub or None) if head in self._hw_ids else None

    # ------------------------------------------------------------------ records (the Sink protocol)
    def measurement(self, m: Measurement) -> None:
        rec = self.steps[-1]
        rec.measurements.append(m)
        numeric = isinstance(m.value, (int, float)) and not isinstance(m.value, bool)
        self.db.add(MeasurementRow(
            run_id=self.info.run_id, step_id=self._step_row.id if self._step_row else 0, name=m.name,
            value=float(m.value) if numeric else (1.0 if m.value is True else 0.0 if m.value is False else None),
            value_text=None if numeric else str(m.value), unit=m.unit, limit_name=m.limit, low=m.low, high=m.high,
            verdict=m.verdict, component=m.component, t_sim=m.t, taken_at=self.clock.wall(),
            meta={k: (v if isinstance(v, (str, int, float, bool)) or v is None else str(v)) for k, v in m.meta.items()}))
        self.db.commit()  # write-through
        hw, sub = self._hw_for(m.component)
        self.ocp.measurement(self._sid, m, hardware_info_id=hw, subcomponent=sub)
        if m.verdict == "FAIL":
            log.warning("FAIL %s", m.describe())

    def series(self, name: str, unit: str, times: Sequence[float], values: Sequence[float], *,
               component: str | None, limit: str | None, envelope: Envelope) -> None:
        validators: list[dict[str, Any]] = []
        lim = envelope.limits.get(limit) if limit else None
        if lim is not None:
            validators = validators_for(Measurement(name, 0.0, unit, low=lim.min, high=lim.max, limit=limit))
        self.ocp.series(self._sid, name=name, unit=unit, times=times, values=values, validators=validators,
                        hardware_info_id=self._hw_for(component)[0])

    def log(self, message: str, severity: str = "INFO") -> None:
        message = self.scrub(message)
        self.ocp.step_log(self._sid, severity=severity, message=message)
        log.log(logging.getLevelName(severity) if isinstance(logging.getLevelName(severity), int) else logging.INFO,
                "%s", message)

    def diagnosis(self, verdict: str, kind: str, message: str, component: str | None) -> None:
        self.ocp.diagnosis(self._sid, verdict=verdict, kind=kind, message=self.scrub(message),
                           hardware_info_id=self._hw_for(component)[0])
