"""The OCP TAP 2.0 stream of a run (ocp.jsonl): one JSON object per line, written as the run goes.

The writer owns what makes the artifacts (``ocp_artifacts``) a stream: sequence numbers, timestamps on
the run's clock, step and series ids, and continuing the stream of a resumed run. Every line is
flushed when written, so a crashed run still leaves a readable (if unterminated) stream.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

from harness.clock import Clock
from harness.results.ocp_artifacts import (
    MeasurementSeriesElement,
    MeasurementSeriesEnd,
    MeasurementSeriesStart,
    RunArtifact,
    StepArtifact,
    Validator,
    json_value,
    run_line,
    schema_version_line,
    step_line,
)


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

    def _emit(self, body: dict[str, Any]) -> None:
        line = {**body, "sequenceNumber": self._seq, "timestamp": self._ts()}
        self._fh.write(json.dumps(line, separators=(",", ":"), allow_nan=False) + "\n")
        self._fh.flush()
        self._seq += 1

    def _ts(self, t: float | None = None) -> str:
        """Wall time now, or of run-clock time ``t``, as RFC 3339 in UTC."""
        wall = self.clock.wall()
        if t is not None:
            wall = wall + timedelta(seconds=t - self.clock.now())
        return wall.isoformat().replace("+00:00", "Z")

    def schema_version(self) -> None:
        self._emit(schema_version_line())

    def run(self, artifact: RunArtifact) -> None:
        self._emit(run_line(artifact))

    def step(self, step_id: str, artifact: StepArtifact) -> None:
        self._emit(step_line(step_id, artifact))

    def series(self, step_id: str, *, name: str, unit: str, times: Sequence[float], values: Sequence[float],
               validators: list[Validator], hardware_info_id: str | None) -> None:
        """A whole measurement series (start, one element per point, end) in the given test step."""
        sid = f"{step_id}_s{self._series}"
        self._series += 1
        self.step(step_id, MeasurementSeriesStart(series_id=sid, name=name, unit=unit, validators=validators,
                                                  hardware_info_id=hardware_info_id))
        for i, (t, v) in enumerate(zip(times, values, strict=True)):
            self.step(step_id, MeasurementSeriesElement(series_id=sid, index=i, value=json_value(v),
                                                        timestamp=self._ts(t)))
        self.step(step_id, MeasurementSeriesEnd(series_id=sid, total_count=len(values)))

    def close(self) -> None:
        self._fh.close()
