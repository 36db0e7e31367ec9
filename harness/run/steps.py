"""Running a plan's steps: attempts and declared retries, stop-on-fail, steps an earlier session
finished, and the final ``envelope_coverage`` step.

Verdicts: a step FAILs if any of its measurements fails, is ERROR if a driver or refusal stopped it,
SKIP after an earlier step did not pass (``stop_on_fail``). Every attempt of a retried step is recorded.
"""

from __future__ import annotations

import logging
from typing import Any

from harness.clock import Clock
from harness.config.plan import LoadedPlan, StepBase
from harness.envelopes import coverage
from harness.errors import DriverError, PowerActionUncertain, RackvalError, TransientDriverError
from harness.interrupts import STOP
from harness.rack import Rack
from harness.results.recorder import Recorder, StepRecord
from harness.run.event_monitor import EventMonitor
from harness.run.options import COVERAGE_STEP
from harness.stepkit.context import StepContext, StepTimeout
from harness.stepkit.registry import StepKinds

log = logging.getLogger(__name__)
NOT_RUN = "not run: an earlier step did not pass"


def retryable(step: StepBase, status: str, verdict: str, error: BaseException | None) -> bool:
    """Does the plan's ``retry`` cover how this attempt ended?"""
    if step.retry is None:
        return False
    # A power action that read-back showed did not take effect (PowerActionUncertain after its
    # confirmation window) is safe to try again as a whole step: the step re-reads the states first.
    if status == "ERROR" and isinstance(error, (TransientDriverError, StepTimeout, PowerActionUncertain)):
        return "transient" in step.retry.on
    return verdict == "FAIL" and "fail" in step.retry.on


class StepRunner:
    """Runs the steps of one plan on one opened rack, recording everything through the recorder."""

    def __init__(self, *, plan: LoadedPlan, kinds: StepKinds, rack: Rack, clock: Clock, recorder: Recorder,
                 events: EventMonitor | None, sampler: Any) -> None:
        self.plan, self.kinds, self.rack, self.clock = plan, kinds, rack, clock
        self.recorder, self.events, self.sampler = recorder, events, sampler
        self.stopped = False  # a step did not pass under stop_on_fail (or the operator aborted)

    def run_step(self, index: int) -> StepRecord:
        rec = self.recorder
        restored = rec.restored(index)
        if restored is not None:  # finished by an earlier session of this run: not run again
            if restored.verdict in ("FAIL", "ERROR") and self.plan.plan.stop_on_fail:
                self.stopped = True
            return restored
        if index == len(self.plan.steps):
            return self._coverage_step(index)
        step = self.plan.steps[index]
        attempts = step.retry.attempts if step.retry else 1
        STOP.check()
        rec.start_step(index, step.title, step.kind, attempts=attempts)
        if self.stopped:
            return rec.end_step(status="SKIP", verdict="SKIP", message=NOT_RUN)
        for number in range(1, attempts + 1):
            if number > 1:
                rec.start_attempt(number, attempts)
            status, verdict, message, error = self._attempt(step)
            if number < attempts and retryable(step, status, verdict, error):
                rec.end_attempt(status=status, verdict=verdict, message=message, retried=True)
                continue
            break
        if verdict in ("FAIL", "ERROR") and self.plan.plan.stop_on_fail:
            self.stopped = True
        return rec.end_step(status=status, verdict=verdict, message=message)

    def _attempt(self, step: StepBase) -> tuple[str, str, str, BaseException | None]:
        """One attempt of a step: (status, verdict, message, the error that ended it)."""
        ctx = StepContext(rack=self.rack, clock=self.clock, envelope=self.plan.envelope, sink=self.recorder,
                          step=step.title, timeout_s=step.timeout_s, sampler=self.sampler, kinds=self.kinds)
        kind = self.kinds[step.kind]
        try:
            if self.events is not None:
                self.events.guard(ctx, self.kinds.events_expected_by(step), lambda: kind.run(ctx, step))
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
        rec = self.recorder.start_step(index, COVERAGE_STEP, COVERAGE_STEP)
        if self.stopped:
            return self.recorder.end_step(status="SKIP", verdict="SKIP", message=NOT_RUN)
        taken = [m for s in self.recorder.steps for m in s.measurements]
        for m in coverage(self.plan.envelope, self.plan.steps, taken, kinds=self.kinds, t=self.clock.now()):
            self.recorder.measurement(m)
        return self.recorder.end_step(status="COMPLETE", verdict="FAIL" if rec.failures else "PASS")
