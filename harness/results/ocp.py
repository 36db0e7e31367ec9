"""OCP Test & Validation (TAP) 2.0 output: one JSON object per line, streamed as the run goes.

Mirrors the spec's artifacts; sequence numbers are assigned here and every line is flushed when
written, so a crashed run still leaves a readable (if unterminated) stream.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from harness.clock import Clock
from harness.envelopes import Measurement

SCHEMA_DIR = Path(__file__).parent / "ocp_schema"  # the spec's JSON schemas (tests validate against them)


def _value(v: float | str | bool) -> float | str | bool:
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    return v


def validators_for(m: Measurement) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if isinstance(m.value, bool):
        return [{"type": "EQUAL", "value": True, "name": "required"}]
    if m.low is not None:
        out.append({"type": "GREATER_THAN_OR_EQUAL", "value": m.low, "name": m.limit or ""})
    if m.high is not None:
        out.append({"type": "LESS_THAN_OR_EQUAL", "value": m.high, "name": m.limit or ""})
    return out


class OcpWriter:
    def __init__(self, path: Path, clock: Clock, *, resume: bool = False) -> None:
        self.path, self.clock = path, clock
        self._seq = 0
        self._series = 0
        self._steps = 0
        if resume and path.exists():
            self._reopen()
        self._fh: IO[str] = path.open("a", encoding="utf-8")

    def _reopen(self) -> None:
        """Continue a stream after an abort: keep every whole line but the testRunEnd, so the
        resumed run ends as one stream with one testRunEnd and unbroken sequence numbers."""
        kept: list[str] = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                break  # a line cut by a crash: everything after it is lost anyway
            if "testRunEnd" in obj.get("testRunArtifact", {}):
                continue
            step = obj.get("testStepArtifact", {})
            self._steps += "testStepStart" in step
            self._series += "measurementSeriesStart" in step
            kept.append(line)
        self.path.write_text("".join(k + "\n" for k in kept), encoding="utf-8")
        self._seq = len(kept)

    def new_step_id(self) -> str:
        """Unique within the stream, also across attempts and resumed sessions."""
        self._steps += 1
        return f"s{self._steps}"

    def _emit(self, artifact: dict[str, Any]) -> None:
        line = {**artifact, "sequenceNumber": self._seq, "timestamp": self._ts()}
        self._fh.write(json.dumps(line, separators=(",", ":"), allow_nan=False) + "\n")
        self._fh.flush()
        self._seq += 1

    def _ts(self, t: float | None = None) -> str:
        wall = self.clock.wall()
        if t is not None:
            from datetime import timedelta

            wall = wall + timedelta(seconds=t - self.clock.now())
        return wall.isoformat().replace("+00:00", "Z")

    def _run(self, body: dict[str, Any]) -> None:
        self._emit({"testRunArtifact": body})

    def _step(self, step_id: str, body: dict[str, Any]) -> None:
        self._emit({"testStepArtifact": {"testStepId": step_id, **body}})

    # ---------------------------------------------------------------- run
    def schema_version(self) -> None:
        self._emit({"schemaVersion": {"major": 2, "minor": 0}})

    def run_start(self, *, name: str, version: str, command_line: str, parameters: dict[str, Any],
                  dut_info: dict[str, Any], metadata: dict[str, Any] | None = None) -> None:
        body: dict[str, Any] = {"name": name, "version": version, "commandLine": command_line,
                                "parameters": parameters, "dutInfo": dut_info}
        if metadata:
            body["metadata"] = metadata
        self._run({"testRunStart": body})

    def run_end(self, *, status: str, result: str) -> None:
        self._run({"testRunEnd": {"status": status, "result": result}})

    def run_log(self, *, severity: str, message: str) -> None:
        self._run({"log": {"severity": severity, "message": message}})

    def run_error(self, *, symptom: str, message: str) -> None:
        self._run({"error": {"symptom": symptom, "message": message}})

    # ---------------------------------------------------------------- step
    def step_start(self, step_id: str, *, name: str) -> None:
        self._step(step_id, {"testStepStart": {"name": name}})

    def step_end(self, step_id: str, *, status: str) -> None:
        self._step(step_id, {"testStepEnd": {"status": status}})

    def measurement(self, step_id: str, m: Measurement, *, hardware_info_id: str | None,
                    subcomponent: str | None) -> None:
        body: dict[str, Any] = {"name": m.name, "value": _value(m.value), "unit": m.unit,
                                "validators": validators_for(m)}
        if hardware_info_id:
            body["hardwareInfoId"] = hardware_info_id
        if subcomponent:
            body["subcomponent"] = {"name": subcomponent}
        meta = {k: (v if isinstance(v, (str, int, float, bool)) else str(v)) for k, v in m.meta.items()}
        meta = {k: _value(v) if isinstance(v, float) else v for k, v in meta.items()}
        if m.component:
            meta["component"] = m.component
        meta["verdict"] = m.verdict
        body["metadata"] = meta
        self._step(step_id, {"measurement": body})

    def series(self, step_id: str, *, name: str, unit: str, times: Sequence[float], values: Sequence[float],
               validators: list[dict[str, Any]], hardware_info_id: str | None) -> None:
        sid = f"{step_id}_s{self._series}"
        self._series += 1
        start: dict[str, Any] = {"measurementSeriesId": sid, "name": name, "unit": unit, "validators": validators}
        if hardware_info_id:
            start["hardwareInfoId"] = hardware_info_id
        self._step(step_id, {"measurementSeriesStart": start})
        for i, (t, v) in enumerate(zip(times, values, strict=True)):
            self._step(step_id, {"measurementSeriesElement": {"measurementSeriesId": sid, "index": i,
                                                              "value": _value(v), "timestamp": self._ts(t)}})
        self._step(step_id, {"measurementSeriesEnd": {"measurementSeriesId": sid, "totalCount": len(values)}})

    def diagnosis(self, step_id: str, *, verdict: str, kind: str, message: str,
                  hardware_info_id: str | None) -> None:
        body: dict[str, Any] = {"verdict": verdict, "type": kind, "message": message}
        if hardware_info_id:
            body["hardwareInfoId"] = hardware_info_id
        self._step(step_id, {"diagnosis": body})

    def step_error(self, step_id: str, *, symptom: str, message: str) -> None:
        self._step(step_id, {"error": {"symptom": symptom, "message": message}})

    def step_log(self, step_id: str, *, severity: str, message: str) -> None:
        self._step(step_id, {"log": {"severity": severity, "message": message}})

    def close(self) -> None:
        self._fh.close()

