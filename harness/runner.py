"""RunSession: one plan run against one rack, from opening the station to the verified safe state.

The pytest plugin drives it (one pytest item per step) and so does ``rackval run`` (through
pytest), so there is one code path for hardware, CI and the command line.

Order of opening, so nothing is powered before the rack is known to be the right one: station (or
simulator) -> rack drivers -> instrument locks -> instrument links -> identities -> serial interlock
-> recorder -> telemetry sampler. ``finish()`` stops the sampler, then reaches the safe state.
"""

from __future__ import annotations

import logging
import re
import secrets
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import harness
from harness.clock import Clock, RealClock, VirtualClock
from harness.config.plan import LoadedPlan, StepBase
from harness.config.profile import load_profile
from harness.config.station import Credentials, Station, load_station, select_rack
from harness.envelopes import Measurement, coverage
from harness.errors import ConfigError, DriverError, PowerActionUncertain, RackvalError, TransientDriverError
from harness.event_monitor import EventMonitor
from harness.interlock import check_serial
from harness.interrupts import STOP, install_stop_signals
from harness.locks import InstrumentLocks, RunLock
from harness.rack import Rack
from harness.results.recorder import Recorder, RunInfo, StepRecord
from harness.results.store import default_store_url
from harness.safety import SafeStateReport
from harness.steps import STEP_KINDS
from harness.steps.base import StepContext, StepTimeout
from harness.yaml_loader import field_line

log = logging.getLogger(__name__)

from harness.pytest_plugin import COVERAGE_STEP  # noqa: E402  (one name, shared)

# In-process --sim serves Redfish over plain HTTP: HTTPS (verified, per-run CA) costs more of the
# nvl72_l11 60 s budget than it has to spare (docs/architecture.md); `rackval sim` serves HTTPS.
SIM_TLS = False


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
    fault: str | None = None  # a fault scenario applied to the simulated rack (--sim only)
    rack: str | None = None  # which rack of a multi-rack station file
    resume: str | None = None  # run id to continue after its last completed step
    yes: bool = False  # unattended: accept what would otherwise be asked (an unverifiable serial)
    confirm: Callable[[str], bool] | None = None  # ask the operator a yes/no question (interactive only)


@dataclass
class RunResult:
    run_id: str
    verdict: str  # PASS | FAIL | ERROR | ABORTED
    run_dir: Path
    steps: list[StepRecord] = field(default_factory=list)
    safe_state: SafeStateReport | None = None
    bad_input: str | None = None  # the run could not start because a file or option is wrong
    store_url: str = ""

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


def retryable(step: StepBase, status: str, verdict: str, error: BaseException | None) -> bool:
    """Does the plan's ``retry`` cover how this attempt ended?"""
    if step.retry is None:
        return False
    # A power action that read-back showed did not take effect (PowerActionUncertain after its
    # confirmation window) is safe to try again as a whole step: the step re-reads the states first.
    if status == "ERROR" and isinstance(error, (TransientDriverError, StepTimeout, PowerActionUncertain)):
        return "transient" in step.retry.on
    return verdict == "FAIL" and "fail" in step.retry.on


class RunSession:
    def __init__(self, plan: LoadedPlan, options: RunOptions) -> None:
        self.plan, self.opt = plan, options
        self.clock: Clock = VirtualClock() if options.sim else RealClock()
        self.sim: Any = None
        self.rack: Rack | None = None
        self.recorder: Recorder | None = None
        self.sampler: Any = None
        self.events: EventMonitor | None = None  # a leak or critical event fails the running step
        self.locks: InstrumentLocks | None = None
        self.aborted = False
        self.stopped = False
        self.result: RunResult | None = None
        self._restore_signals: Callable[[], None] | None = None
        self.bad_input: str | None = None
        self.store_url = options.store_url or default_store_url()
        self._run_lock: RunLock | None = None  # held from open to the end of finish (a crash frees it)

    # ------------------------------------------------------------------ open
    def open(self) -> None:
        STOP.reset()
        self._restore_signals = install_stop_signals()
        try:
            self._open()
        except ConfigError as exc:
            self.bad_input = str(exc)
            raise

    def _open(self) -> None:
        opt = self.opt
        prior = self._prior_run() if opt.resume else None
        if not opt.rack_serial:
            raise ConfigError("command line", None, "--rack-serial", "the rack serial is required")
        if opt.fault and not opt.sim:
            raise ConfigError("command line", None, "--fault", "fault scenarios apply to simulated racks (--sim) only")
        if opt.sim:
            from harness.sim.station import SimStation

            if prior is not None:  # same simulated wall time line as the first session
                self.clock = VirtualClock(start_wall=prior["started_at"])
            profile = load_profile(opt.profile or self.plan.plan.profile or "mini")
            self.sim = SimStation(profile, clock=self.clock, seed=opt.seed, rack_serial=opt.rack_serial,
                                  tls=SIM_TLS)
            station: Station = self.sim.start()
            if opt.fault:
                self.sim.apply_fault(opt.fault)
            credentials = self.sim.credentials()
            secret_values = self.sim.secret_values()
        else:
            if opt.station_path is None:
                raise ConfigError("command line", None, "--station", "give --station FILE or --sim")
            station = select_rack(load_station(opt.station_path), opt.rack, str(opt.station_path))
            if station.speed != 1.0:  # a `rackval sim --speed N` station: plan seconds are simulated seconds
                self.clock = RealClock(speed=station.speed)
            profile = load_profile(station.profile, Path(station.base_dir))
            credentials = Credentials(station)
            secret_values = credentials.values()
        if self.plan.plan.profile and self.plan.plan.profile != profile.sku:
            raise ConfigError(str(self.plan.path), field_line(self.plan.path, "profile"), "profile",
                              f"plan is written for {self.plan.plan.profile!r} but the station has a {profile.sku!r} rack")
        run_id = prior["id"] if prior else new_run_id(self.clock, opt.rack_serial)
        run_dir = Path(prior["out_dir"]) if prior else (opt.out_dir or Path.cwd() / "runs" / run_id)
        if self._run_lock is None:  # before anything is connected: one process per run directory
            self._run_lock = RunLock(run_dir)
            if not self._run_lock.try_acquire():
                raise ConfigError("command line", None, "--out", f"{run_dir} is in use by another run")
        rack = Rack(station, profile, credentials, self.clock, policy=self.plan.plan.safe_state)
        rack.check_calibration(date.today())
        self.locks = InstrumentLocks([i.resource for i in station.instruments])
        self.locks.acquire()
        try:
            rack.connect()
            identities = rack.identities()
            serial_check = check_serial(opt.rack_serial, identities, simulated=station.simulated,
                                        accept_unverified=opt.yes, confirm=opt.confirm)
        except BaseException:
            rack.close()  # nothing was switched: no safe state to run on a rack that may be the wrong one
            self.locks.release()
            raise
        self.rack = rack
        info = RunInfo(run_id=run_id, plan_name=self.plan.name, plan_path=str(self.plan.path),
                       plan_sha256=self.plan.plan_sha256, envelope_sha256=self.plan.envelope_sha256,
                       envelope_version=self.plan.envelope.version, station_id=station.station_id,
                       rack_serial=opt.rack_serial, operator=opt.operator, harness_version=harness.__version__,
                       git_sha=git_sha(), seed=opt.seed if opt.sim else None, simulated=station.simulated,
                       sku=profile.sku, command_line=opt.command_line,
                       station_path=str(opt.station_path or ""), rack_name=opt.rack or "",
                       serial_check=serial_check, fault=opt.fault)
        self.recorder = Recorder(run_dir, self.store_url, self.clock, info, secret_values,
                                 envelope=self.plan.envelope, resume=prior is not None)
        self.recorder.start_run(identities)
        self.recorder.event("serial_check", serial_check, serial=opt.rack_serial)
        if opt.fault:
            self.recorder.event("fault", f"fault scenario {opt.fault} applied to the simulated rack")
        if prior is not None and opt.sim:
            self._replay_to_resume_point()
        self._start_sampler()
        self.events = EventMonitor(rack, self.clock).open() if rack.bmcs else None

    def _prior_run(self) -> dict[str, Any]:
        """The run to resume, checked: same plan (by hash), not finished."""
        from sqlalchemy.orm import Session

        from harness.results.store import find_run, open_store

        engine = open_store(self.store_url)
        try:
            with Session(engine) as db:
                row = find_run(db, self.opt.resume or "")
                if row is None:
                    raise ConfigError("command line", None, "--resume", f"no run {self.opt.resume!r} in the store")
                if row.status == "COMPLETE" or row.verdict in ("PASS", "FAIL"):
                    raise ConfigError("command line", None, "--resume",
                                      f"run {row.id} is {row.status} ({row.verdict}); only an aborted, errored or "
                                      "crashed run can be resumed")
                lock = RunLock(Path(row.out_dir))
                if not lock.try_acquire():  # RUNNING with its lock held: its process is alive
                    raise ConfigError("command line", None, "--resume",
                                      f"run {row.id} is still running (another process holds {lock.path})")
                self._run_lock = lock  # RUNNING with a free lock: the process that ran it died (crash, SIGKILL)
                if row.plan_sha256 != self.plan.plan_sha256 or row.envelope_sha256 != self.plan.envelope_sha256:
                    raise ConfigError(str(self.plan.path), None, "plan",
                                      f"the plan or its envelope changed since run {row.id} started; resume refused")
                if self.opt.rack_serial and self.opt.rack_serial != row.rack_serial:
                    raise ConfigError("command line", None, "--rack-serial",
                                      f"run {row.id} is for rack {row.rack_serial!r}, not {self.opt.rack_serial!r}")
                self.opt.rack_serial = row.rack_serial
                if row.simulated and row.seed is not None and row.station_path == "":
                    self.opt.sim, self.opt.seed = True, row.seed
                    self.opt.fault = self.opt.fault or row.fault
                return {"id": row.id, "out_dir": row.out_dir, "started_at": row.started_at}
        finally:
            engine.dispose()

    def _replay_to_resume_point(self) -> None:
        """--sim resume: bring simulated time to where the first unfinished step started before.

        Replaying the earlier steps is not possible (nor wanted); the simulated rack starts powered
        and idle, which is the state every step boundary leaves it in, and noise is a function of
        (seed, source, time), so the re-run step sees the readings it would have seen."""
        assert self.recorder is not None
        for index in range(len(self.plan.steps) + 1):
            if self.recorder._restored.get(index) is None:  # noqa: SLF001 - the runner's own recorder
                t = self.recorder.step_t_start(index)
                if t is not None and t > self.clock.now():
                    self.clock.sleep(t - self.clock.now())
                return

    def _start_sampler(self) -> None:
        import harness.telemetry as telemetry

        cls = getattr(telemetry, "TelemetrySampler", None)
        if cls is None or not self.plan.plan.telemetry.enabled or self.rack is None:
            return
        self.sampler = cls(self.rack, self.clock, self.recorder, self.plan.plan.telemetry)
        self.sampler.start()

    def live_readings(self) -> dict[str, Any]:
        """Key live readings for the operator's display (rack kW, hottest component, coolant dT)."""
        if self.sampler is None:
            return {}
        try:
            return dict(self.sampler.latest())
        except Exception:  # the display must never stop a run
            return {}

    # ------------------------------------------------------------------ steps
    @property
    def step_names(self) -> list[str]:
        return [s.title for s in self.plan.steps] + [COVERAGE_STEP]

    def run_step(self, index: int) -> StepRecord:
        assert self.rack is not None and self.recorder is not None, "open() first"
        try:
            return self._run_step(index)
        except KeyboardInterrupt:  # the step (whichever of its records it was writing) ends ABORTED
            self.aborted = self.stopped = True
            rec = self.recorder.abort_open_step("aborted by the operator")
            if rec is not None:
                self.recorder.event("aborted", f"aborted by the operator during {rec.name}")
            raise

    def _run_step(self, index: int) -> StepRecord:
        assert self.recorder is not None
        restored = self.recorder.restored(index)
        if restored is not None:  # finished by an earlier session of this run: not run again
            if restored.verdict in ("FAIL", "ERROR") and self.plan.plan.stop_on_fail:
                self.stopped = True
            return restored
        if index == len(self.plan.steps):
            return self._coverage_step(index)
        step = self.plan.steps[index]
        attempts = step.retry.attempts if step.retry else 1
        rec_ = self.recorder
        STOP.check()
        rec_.start_step(index, step.title, step.kind, attempts=attempts)
        if self.stopped:
            return rec_.end_step(status="SKIP", verdict="SKIP", message="not run: an earlier step did not pass")
        for number in range(1, attempts + 1):
            if number > 1:
                rec_.start_attempt(number, attempts)
            status, verdict, message, error = self._attempt(step)
            if number < attempts and retryable(step, status, verdict, error):
                rec_.end_attempt(status=status, verdict=verdict, message=message, retried=True)
                continue
            break
        if verdict in ("FAIL", "ERROR") and self.plan.plan.stop_on_fail:
            self.stopped = True
        return rec_.end_step(status=status, verdict=verdict, message=message)

    def _attempt(self, step: StepBase) -> tuple[str, str, str, BaseException | None]:
        """One attempt of a step: (status, verdict, message, the error that ended it)."""
        assert self.rack is not None and self.recorder is not None
        ctx = StepContext(rack=self.rack, clock=self.clock, envelope=self.plan.envelope, sink=self.recorder,
                          step=step.title, timeout_s=step.timeout_s, sampler=self.sampler)
        kind = STEP_KINDS[step.kind]
        try:
            if self.events is not None:
                self.events.guard(ctx, getattr(kind, "EXPECTED_EVENTS", ()), lambda: kind.run(ctx, step))
            else:
                kind.run(ctx, step)
            STOP.check()  # a Ctrl-C that Python swallowed mid-step still aborts this step (run_step)
        except (DriverError, RackvalError) as exc:
            return "ERROR", "ERROR", f"{type(exc).__name__}: {exc}", exc
        except Exception as exc:  # a bug, not a rack problem: record it, keep the run's records whole
            log.exception("step %s crashed", step.title)
            return "ERROR", "ERROR", f"internal error: {type(exc).__name__}: {exc}", exc
        failed = self.recorder.steps[-1].failures
        return "COMPLETE", "FAIL" if failed else "PASS", "", None

    def _coverage_step(self, index: int) -> StepRecord:
        """A limit the plan's steps check but never measured is a failure, not a pass (see
        harness.envelopes.coverage)."""
        assert self.recorder is not None
        rec = self.recorder.start_step(index, COVERAGE_STEP, COVERAGE_STEP)
        if self.stopped:
            return self.recorder.end_step(status="SKIP", verdict="SKIP", message="not run: an earlier step did not pass")
        taken = [m for s in self.recorder.steps for m in s.measurements]
        for m in coverage(self.plan.envelope, self.plan.steps, taken, t=self.clock.now()):
            self.recorder.measurement(m)
        return self.recorder.end_step(status="COMPLETE", verdict="FAIL" if rec.failures else "PASS")

    # ------------------------------------------------------------------ finish
    def finish(self) -> RunResult:
        """Sampler stopped, safe state (verified), final records, report, simulators stopped. Safe to
        call once; never raises before the safe state has been attempted. A stop request that came
        before (while opening, between steps) makes the run ABORTED; one that comes during the finish
        is held until it is done (harness.interrupts): the finish is what makes the rack safe."""
        if self.result is not None:
            return self.result
        if STOP.requested is not None:
            self.aborted = True
        try:
            with STOP.held():
                return self._finish()
        finally:
            STOP.reset()  # this run's requests are spent: none may stop a later run in this process

    def _finish(self) -> RunResult:
        report: SafeStateReport | None = None
        try:
            self._stop_sampler()
            if self.events is not None:
                self.events.close()
            if self.rack is not None:
                report = self.rack.safe_state()
        finally:
            verdict = self._verdict(report)
            rec = self.recorder
            run_dir = rec.run_dir if rec else (self.opt.out_dir or Path("."))
            run_id = rec.info.run_id if rec else ""
            self.result = RunResult(run_id, verdict, run_dir, list(rec.steps) if rec else [], report, self.bad_input,
                                    self.store_url)
            if rec is not None:
                self._record_safe_state(report)
                if STOP.held_requests:
                    rec.event("stop_held", f"{', '.join(STOP.held_requests)} while the run was finishing: held "
                              "until the safe state was verified and the records written; the verdict stands")
                status = "ABORTED" if self.aborted else ("COMPLETE" if verdict in ("PASS", "FAIL") else "ERROR")
                rec.end_run(status=status, verdict=verdict)
                rec.close()
                self._write_report(run_id, run_dir)
            if self.rack is not None:
                self.rack.close()
            if self.locks is not None:
                self.locks.release()
            if self.sim is not None:
                self.sim.stop()
            if self._run_lock is not None:
                self._run_lock.release()
            if self._restore_signals is not None:
                self._restore_signals()
        return self.result

    def _stop_sampler(self) -> None:
        if self.sampler is None:
            return
        try:
            self.sampler.stop()
        except Exception:  # the safe state must still run
            log.exception("telemetry sampler did not stop cleanly")

    def _write_report(self, run_id: str, run_dir: Path) -> None:
        from harness.results.report import write_report

        try:
            write_report(self.store_url, run_id, run_dir / "report.html")
        except Exception:  # the records are in the store: `rackval report RUN_ID` can write it again
            log.exception("report.html could not be written")

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
        self.recorder.start_step(len(self.plan.steps) + 1, "safe_state", "safe_state")
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
