"""RunSession: one plan run against one rack, from opening the station to the verified safe state.

The pytest plugin drives it (one pytest item per step) and so does ``rackval run`` (through
pytest), so there is one code path for hardware, CI and the command line.
"""

from __future__ import annotations

import logging
import re
import secrets
import signal
import subprocess
import threading
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from types import FrameType

import harness
from harness.clock import Clock, RealClock, VirtualClock
from harness.config.plan import LoadedPlan
from harness.config.profile import load_profile
from harness.config.station import Credentials, Station, load_station
from harness.errors import ConfigError, DriverError, RackvalError
from harness.rack import Rack
from harness.results.recorder import Recorder, RunInfo, StepRecord
from harness.results.store import default_store_url
from harness.safety import SafeStateReport
from harness.steps import STEP_KINDS
from harness.steps.base import StepContext

log = logging.getLogger(__name__)

from harness.pytest_plugin import COVERAGE_STEP  # noqa: E402  (one name, shared)


@dataclass
class RunOptions:
    sim: bool = False
    station_path: Path | None = None
    profile: str | None = None
    seed: int = 0
    rack_serial: str = ""
    operator: str = ""
    out_dir: Path | None = None
    store_url: str | None = None
    command_line: str = ""


@dataclass
class RunResult:
    run_id: str
    verdict: str  # PASS | FAIL | ERROR | ABORTED
    run_dir: Path
    steps: list[StepRecord] = field(default_factory=list)
    safe_state: SafeStateReport | None = None
    bad_input: str | None = None  # the run could not start because a file or option is wrong

    @property
    def exit_code(self) -> int:
        if self.bad_input is not None:
            return 2
        return {"PASS": 0, "FAIL": 1}.get(self.verdict, 3)


def git_sha() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(harness.__file__).parent, capture_output=True,
                             text=True, timeout=5, check=False)
        return out.stdout.strip() if out.returncode == 0 else ""
    except (OSError, subprocess.SubprocessError):
        return ""


def new_run_id(clock: Clock, rack_serial: str) -> str:
    serial = re.sub(r"[^A-Za-z0-9_.-]", "_", rack_serial)[:40] or "rack"
    return f"{clock.wall():%Y%m%d-%H%M%S}-{serial}-{secrets.token_hex(2)}"


class RunSession:
    def __init__(self, plan: LoadedPlan, options: RunOptions) -> None:
        self.plan, self.opt = plan, options
        self.clock: Clock = VirtualClock() if options.sim else RealClock()
        self.sim = None
        self.rack: Rack | None = None
        self.recorder: Recorder | None = None
        self.aborted = False
        self.stopped = False
        self.result: RunResult | None = None
        self._prev_sigterm: object = None
        self.bad_input: str | None = None

    # ------------------------------------------------------------------ open
    def open(self) -> None:
        try:
            self._open()
        except ConfigError as exc:
            self.bad_input = str(exc)
            raise

    def _open(self) -> None:
        opt = self.opt
        if not opt.rack_serial:
            raise ConfigError("command line", None, "--rack-serial", "the rack serial is required")
        if opt.sim:
            from harness.sim.station import SimStation

            profile = load_profile(opt.profile or self.plan.plan.profile or "mini")
            self.sim = SimStation(profile, clock=self.clock, seed=opt.seed, rack_serial=opt.rack_serial)
            station: Station = self.sim.start()
            credentials = self.sim.credentials()
            secret_values = self.sim.secret_values()
        else:
            if opt.station_path is None:
                raise ConfigError("command line", None, "--station", "give --station FILE or --sim")
            station = load_station(opt.station_path)
            if station.speed != 1.0:  # a `rackval sim --speed N` station: plan seconds are simulated seconds
                self.clock = RealClock(speed=station.speed)
            profile = load_profile(station.profile, Path(station.base_dir))
            credentials = Credentials(station)
            secret_values = credentials.values()
        if self.plan.plan.profile and self.plan.plan.profile != profile.sku:
            raise ConfigError(str(self.plan.path), None, "profile",
                              f"plan is written for {self.plan.plan.profile!r} but the station has a {profile.sku!r} rack")
        self.rack = Rack(station, profile, credentials, self.clock, policy=self.plan.plan.safe_state)
        self.rack.check_calibration(date.today())
        run_id = new_run_id(self.clock, opt.rack_serial)
        run_dir = opt.out_dir or Path.cwd() / "runs" / run_id
        info = RunInfo(run_id=run_id, plan_name=self.plan.name, plan_path=str(self.plan.path),
                       plan_sha256=self.plan.plan_sha256, envelope_sha256=self.plan.envelope_sha256,
                       envelope_version=self.plan.envelope.version, station_id=station.station_id,
                       rack_serial=opt.rack_serial, operator=opt.operator, harness_version=harness.__version__,
                       git_sha=git_sha(), seed=opt.seed if opt.sim else None, simulated=station.simulated,
                       sku=profile.sku, command_line=opt.command_line)
        self.recorder = Recorder(run_dir, opt.store_url or default_store_url(), self.clock, info, secret_values)
        self._install_sigterm()
        self.rack.connect()
        self.recorder.start_run(self.rack.identities())

    def _install_sigterm(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return

        def on_term(signum: int, frame: FrameType | None) -> None:
            raise KeyboardInterrupt(f"signal {signum}")

        self._prev_sigterm = signal.signal(signal.SIGTERM, on_term)

    # ------------------------------------------------------------------ steps
    @property
    def step_names(self) -> list[str]:
        return [s.title for s in self.plan.steps] + [COVERAGE_STEP]

    def run_step(self, index: int) -> StepRecord:
        assert self.rack is not None and self.recorder is not None, "open() first"
        rec_ = self.recorder
        if index == len(self.plan.steps):
            return self._coverage_step(index)
        step = self.plan.steps[index]
        rec = rec_.start_step(index, step.title, step.kind)
        if self.stopped:
            return rec_.end_step(status="SKIP", verdict="SKIP", message="not run: an earlier step did not pass")
        ctx = StepContext(rack=self.rack, clock=self.clock, envelope=self.plan.envelope, sink=rec_, step=step.title,
                          timeout_s=step.timeout_s)
        try:
            STEP_KINDS[step.kind].run(ctx, step)
        except KeyboardInterrupt:
            self.aborted = self.stopped = True
            rec_.end_step(status="ERROR", verdict="ERROR", message="aborted by the operator")
            raise
        except (DriverError, RackvalError) as exc:
            self.stopped = self.plan.plan.stop_on_fail
            return rec_.end_step(status="ERROR", verdict="ERROR", message=f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # a bug, not a rack problem: record it, keep the run's records whole
            log.exception("step %s crashed", step.title)
            self.stopped = self.plan.plan.stop_on_fail
            return rec_.end_step(status="ERROR", verdict="ERROR", message=f"internal error: {type(exc).__name__}: {exc}")
        verdict = "FAIL" if rec.failures else "PASS"
        if verdict == "FAIL" and self.plan.plan.stop_on_fail:
            self.stopped = True
        return rec_.end_step(status="COMPLETE", verdict=verdict)

    def _coverage_step(self, index: int) -> StepRecord:
        """A limit declared but never measured is a failure, not a pass."""
        assert self.recorder is not None
        rec = self.recorder.start_step(index, COVERAGE_STEP, COVERAGE_STEP)
        if self.stopped:
            return self.recorder.end_step(status="SKIP", verdict="SKIP", message="not run: an earlier step did not pass")
        measured = {m.limit for s in self.recorder.steps for m in s.measurements if m.limit}
        for name in self.plan.envelope.limits:
            ctx_ok = name in measured
            from harness.envelopes import Measurement

            self.recorder.measurement(Measurement(
                "limit_measured", ctx_ok, "", name, None, None, None, "PASS" if ctx_ok else "FAIL", self.clock.now(),
                {} if ctx_ok else {"message": f"envelope limit {name} was declared but no step measured it"}))
        return self.recorder.end_step(status="COMPLETE", verdict="FAIL" if rec.failures else "PASS")

    # ------------------------------------------------------------------ finish
    def finish(self) -> RunResult:
        """Safe state (verified), final records, simulators stopped. Safe to call once; never raises
        before the safe state has been attempted."""
        if self.result is not None:
            return self.result
        report: SafeStateReport | None = None
        try:
            if self.rack is not None:
                report = self.rack.safe_state()
        finally:
            verdict = self._verdict(report)
            rec = self.recorder
            run_dir = rec.run_dir if rec else (self.opt.out_dir or Path("."))
            run_id = rec.info.run_id if rec else ""
            self.result = RunResult(run_id, verdict, run_dir, list(rec.steps) if rec else [], report, self.bad_input)
            if rec is not None:
                self._record_safe_state(report)
                status = "ABORTED" if self.aborted else ("COMPLETE" if verdict in ("PASS", "FAIL") else "ERROR")
                rec.end_run(status=status, verdict=verdict)
                rec.close()
            if self.rack is not None:
                self.rack.close()
            if self.sim is not None:
                self.sim.stop()
            if self._prev_sigterm is not None:
                signal.signal(signal.SIGTERM, self._prev_sigterm)  # type: ignore[arg-type]
        return self.result

    def _verdict(self, report: SafeStateReport | None) -> str:
        steps = self.recorder.steps if self.recorder else []
        if self.aborted:
            return "ABORTED"
        if (report is not None and not report.ok) or any(s.verdict == "ERROR" for s in steps) or not steps:
            return "ERROR"
        if any(s.verdict == "FAIL" for s in steps):
            return "FAIL"
        expected = len(self.step_names)
        return "PASS" if len(steps) == expected and all(s.verdict == "PASS" for s in steps) else "ERROR"

    def _record_safe_state(self, report: SafeStateReport | None) -> None:
        assert self.recorder is not None
        from harness.envelopes import Measurement

        index = (self.recorder.steps[-1].index + 1) if self.recorder.steps else 0
        self.recorder.start_step(index, "safe_state", "safe_state")
        if report is None:
            self.recorder.end_step(status="ERROR", verdict="ERROR", message="safe state was not attempted")
            return
        for o in report.outcomes:
            self.recorder.measurement(Measurement("safe_state_verified", o.ok, "", o.name, None, None, None,
                                                  "PASS" if o.ok else "FAIL", self.clock.now(), {"detail": o.detail}))
        if report.ok:
            self.recorder.end_step(status="COMPLETE", verdict="PASS")
        else:
            self.recorder.end_step(status="ERROR", verdict="ERROR",
                                   message="; ".join(f"{o.name}: {o.detail}" for o in report.failures()))
