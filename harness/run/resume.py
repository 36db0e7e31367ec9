"""Resuming a run (``--resume RUN_ID``): the checks that make it safe, and the simulated time line.

A run may be resumed when it was aborted, errored or crashed (its process died: the store still says
RUNNING but its run directory's lock is free); not when it finished, nor while its process still holds
the lock; only with the same plan and envelope (by hash) and the same rack. Resuming an errored run
runs the step that ended ERROR again (and the steps it kept from running); the run's events and OCP
log say so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session

from harness.clock import Clock
from harness.config.plan import LoadedPlan
from harness.errors import ConfigError
from harness.locks import RunLock
from harness.results.recorder import Recorder
from harness.results.store import find_run, open_store, utc
from harness.run.options import RunOptions


@dataclass(frozen=True)
class PriorRun:
    run_id: str
    out_dir: str
    started_at: datetime
    lock: RunLock  # held: this process now owns the run directory


def find_prior_run(store_url: str, opt: RunOptions, plan: LoadedPlan) -> PriorRun:
    """The run to resume, checked, with its run-directory lock taken. Completes ``opt`` from the first
    session (rack serial; for a simulated run its seed and fault)."""
    engine = open_store(store_url)
    try:
        with Session(engine) as db:
            row = find_run(db, opt.resume or "")
            if row is None:
                raise ConfigError("command line", None, "--resume", f"no run {opt.resume!r} in the store")
            if row.status == "COMPLETE" or row.verdict in ("PASS", "FAIL"):
                raise ConfigError("command line", None, "--resume",
                                  f"run {row.id} is {row.status} ({row.verdict}); only an aborted, errored or "
                                  "crashed run can be resumed")
            lock = RunLock(Path(row.out_dir))
            if not lock.try_acquire():  # RUNNING with its lock held: its process is alive
                raise ConfigError("command line", None, "--resume",
                                  f"run {row.id} is still running (another process holds {lock.path})")
            try:  # RUNNING with a free lock: the process that ran it died (crash, SIGKILL)
                if row.plan_sha256 != plan.plan_sha256 or row.envelope_sha256 != plan.envelope_sha256:
                    raise ConfigError(str(plan.path), None, "plan",
                                      f"the plan or its envelope changed since run {row.id} started; resume refused")
                if opt.rack_serial and opt.rack_serial != row.rack_serial:
                    raise ConfigError("command line", None, "--rack-serial",
                                      f"run {row.id} is for rack {row.rack_serial!r}, not {opt.rack_serial!r}")
            except BaseException:
                lock.release()
                raise
            opt.rack_serial = row.rack_serial
            if row.simulated and row.seed is not None and row.station_path == "":
                opt.sim, opt.seed = True, row.seed
                opt.fault = opt.fault or row.fault
            return PriorRun(row.id, row.out_dir, utc(row.started_at) or row.started_at, lock)
    finally:
        engine.dispose()


def replay_to_resume_point(recorder: Recorder, clock: Clock, steps: int) -> None:
    """--sim resume: bring simulated time to where the first unfinished step started before.

    Replaying the earlier steps is not possible (nor wanted); the simulated rack starts powered and
    idle, which is the state every step boundary leaves it in, and noise is a function of
    (seed, source, time), so the re-run step sees the readings it would have seen."""
    for index in range(steps + 1):
        if not recorder.finished_earlier(index):
            t = recorder.step_t_start(index)
            if t is not None and t > clock.now():
                clock.sleep(t - clock.now())
            break
    recorder.session_started()
