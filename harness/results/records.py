"""What a run is recorded as in memory: its traceability (``RunInfo``) and the step and attempt summary
the runner decides verdicts on and the CLI prints (``StepRecord``, ``AttemptRecord``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.envelopes import Measurement


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
    earlier: str = ""  # it ended ERROR in an earlier session and runs again: says so ("ERROR in session 1, run again")

    @property
    def measurements(self) -> list[Measurement]:
        """The step's measurements are its last attempt's (that attempt gives the verdict)."""
        return self.attempts[-1].measurements if self.attempts else []

    @property
    def failures(self) -> list[Measurement]:
        return [m for m in self.measurements if m.verdict == "FAIL"]
