"""RunSession: one plan run against one rack, from opening the station to the verified safe state.

The pytest plugin drives it (one pytest item per step) and so does ``rackval run`` (through
pytest), so there is one code path for hardware, CI and the command line.

Order of opening, so nothing is powered before the rack is known to be the right one: station (or
simulator) -> rack drivers -> instrument locks -> instrument links -> identities -> serial interlock
-> recorder -> telemetry sampler -> event monitor. ``finish()`` stops the sampler, then reaches the
safe state.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import harness
from harness.clock import Clock, RealClock, VirtualClock
from harness.config.plan import LoadedPlan
from harness.errors import ConfigError
from harness.interrupts import STOP, install_stop_signals
from harness.locks import InstrumentLocks, RunLock
from harness.rack import Rack
from harness.results.recorder import Recorder, RunInfo, StepRecord
from harness.results.store import default_store_url
from harness.run.event_monitor import EventMonitor
from harness.run.finish import record_safe_state, run_verdict, write_report
from harness.run.interlock import check_serial
from harness.run.opening import open_station
from harness.run.opening_log import OpeningLog
from harness.run.options import COVERAGE_STEP, RunOptions, RunResult, git_sha, new_run_id
from harness.run.resume import PriorRun, find_prior_run, replay_to_resume_point
from harness.run.steps import StepRunner
from harness.safety import SafeStateReport
from harness.stepkit.registry import StepKinds
from harness.steps import STEP_KINDS
from harness.telemetry import TelemetrySampler

log = logging.getLogger(__name__)


class RunSession:
    def __init__(self, plan: LoadedPlan, options: RunOptions, kinds: StepKinds = STEP_KINDS) -> None:
        self.plan, self.opt, self.kinds = plan, options, kinds  # the kinds the plan was loaded with
        self.clock: Clock = VirtualClock() if options.sim else RealClock()
        self.sim: Any = None
        self.rack: Rack | None = None
        self.recorder: Recorder | None = None
        self.sampler: TelemetrySampler | None = None
        self.events: EventMonitor | None = None  # a leak or critical event fails the running step
        self.steps: StepRunner | None = None
        self.locks: InstrumentLocks | None = None
        self.aborted = False
        self.result: RunResult | None = None
        self._restore_signals: Callable[[], None] | None = None
        self.bad_input: str | None = None
        self.store_url = options.store_url or default_store_url()
        self._run_lock: RunLock | None = None  # held from open to the end of finish (a crash frees it)
        self._opening_log: OpeningLog | None = None  # rackval.log until the Recorder exists
        self.run_id, self.run_dir = "", options.out_dir or Path(".")  # known once the station is open

    # ------------------------------------------------------------------ open
    def open(self) -> None:
        STOP.reset()
        self._restore_signals = install_stop_signals()
        try:
            self._open()
        except ConfigError as exc:
            self.bad_input = str(exc)
            raise
        except Exception as exc:
            if self._opening_log is not None:
                self._opening_log.failed(exc)
            raise

    def _open(self) -> None:
        opt = self.opt
        prior: PriorRun | None = None
        if opt.resume:
            prior = find_prior_run(self.store_url, opt, self.plan)
            self._run_lock = prior.lock
        if not opt.rack_serial:
            raise ConfigError("command line", None, "--rack-serial", "the rack serial is required")
        if opt.fault and not opt.sim:
            raise ConfigError("command line", None, "--fault", "fault scenarios apply to simulated racks (--sim) only")
        opened = open_station(opt, self.plan, self.clock, prior)
        self.clock, self.sim, station, profile = opened.clock, opened.sim, opened.station, opened.profile
        run_id = prior.run_id if prior else new_run_id(self.clock, opt.rack_serial)
        run_dir = Path(prior.out_dir) if prior else (opt.out_dir or Path.cwd() / "runs" / run_id)
        made_dir = not run_dir.exists()
        if self._run_lock is None:  # before anything is connected: one process per run directory
            self._run_lock = RunLock(run_dir)
            if not self._run_lock.try_acquire():
                raise ConfigError("command line", None, "--out", f"{run_dir} is in use by another run")
        self.run_id, self.run_dir = run_id, run_dir
        self._opening_log = OpeningLog(run_dir, opened.secret_values, made_dir=made_dir)
        rack = Rack(station, profile, opened.credentials, self.clock, policy=self.plan.plan.safe_state)
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
        self.recorder = Recorder(run_dir, self.store_url, self.clock, info, opened.secret_values,
                                 envelope=self.plan.envelope, resume=prior is not None)
        self._opening_log.handover()
        self.recorder.start_run(identities)
        self.recorder.event("serial_check", serial_check, serial=opt.rack_serial)
        if opt.fault:
            self.recorder.event("fault", f"fault scenario {opt.fault} applied to the simulated rack")
        if prior is not None and opt.sim:
            replay_to_resume_point(self.recorder, self.clock, len(self.plan.steps))
        if self.plan.plan.telemetry.enabled:
            self.sampler = TelemetrySampler(rack, self.clock, self.recorder, self.plan.plan.telemetry)
            self.sampler.start()
        self.events = EventMonitor(rack, self.clock).open() if rack.bmcs else None
        self.steps = StepRunner(plan=self.plan, kinds=self.kinds, rack=rack, clock=self.clock,
                                recorder=self.recorder, events=self.events, sampler=self.sampler)

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
        assert self.steps is not None and self.recorder is not None, "open() first"
        try:
            return self.steps.run_step(index)
        except KeyboardInterrupt:  # the step (whichever of its records it was writing) ends ABORTED
            self.aborted = self.steps.stopped = True
            rec = self.recorder.abort_open_step("aborted by the operator")
            if rec is not None:
                self.recorder.event("aborted", f"aborted by the operator during {rec.name}")
            raise

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
            rec = self.recorder
            steps = list(rec.steps) if rec else []
            verdict = run_verdict(steps, report, aborted=self.aborted, expected=len(self.step_names))
            run_dir = rec.run_dir if rec else self.run_dir
            run_id = rec.info.run_id if rec else self.run_id
            self.result = RunResult(run_id, verdict, run_dir, steps, report, self.bad_input, self.store_url)
            if rec is not None:
                record_safe_state(rec, report, len(self.plan.steps) + 1, self.clock)
                if STOP.held_requests:
                    rec.event("stop_held", f"{', '.join(STOP.held_requests)} while the run was finishing: held "
                              "until the safe state was verified and the records written; the verdict stands")
                status = "ABORTED" if self.aborted else ("COMPLETE" if verdict in ("PASS", "FAIL") else "ERROR")
                rec.end_run(status=status, verdict=verdict)
                rec.close()
                write_report(self.store_url, run_id, run_dir)
            self._release()
        return self.result

    def _stop_sampler(self) -> None:
        if self.sampler is None:
            return
        try:
            self.sampler.stop()
        except Exception:  # the safe state must still run
            log.exception("telemetry sampler did not stop cleanly")

    def _release(self) -> None:
        """Everything the run held, in reverse order of taking it."""
        if self.rack is not None:
            self.rack.close()
        if self.locks is not None:
            self.locks.release()
        if self.sim is not None:
            self.sim.stop()
        if self._run_lock is not None:
            self._run_lock.release()
        if self._opening_log is not None and self.recorder is None:  # it never started: its cause, or nothing
            self._opening_log.close(keep_log=self.bad_input is None and not self.aborted)
        if self._restore_signals is not None:
            self._restore_signals()
