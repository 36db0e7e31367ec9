"""What a step gets to work with, and how it reports: every value goes through ``measure``,
which checks it against the envelope and hands it to the recorder at once (write-through)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from harness.clock import Clock, Deadline
from harness.config.plan import Envelope
from harness.envelopes import Measurement, SeriesStats, check
from harness.errors import RackvalError
from harness.interrupts import STOP

if TYPE_CHECKING:
    from harness.rack import Rack
    from harness.stepkit.registry import StepKinds
    from harness.telemetry import TelemetrySampler


class StepTimeout(RackvalError):
    """The step ran past its deadline (``timeout_s`` in the plan)."""


class StepInterrupted(RackvalError):
    """Something outside the step (a leak, a critical event) stopped it at a checkpoint; the step's
    records say why (see harness/run/event_monitor.py)."""


class Sink(Protocol):
    """Where a step's records go (the Recorder)."""

    def measurement(self, m: Measurement) -> None: ...
    def series(self, name: str, unit: str, times: Sequence[float], values: Sequence[float], *,
               component: str | None, limit: str | None, envelope: Envelope) -> None: ...
    def log(self, message: str, severity: str = "INFO") -> None: ...
    def diagnosis(self, verdict: str, kind: str, message: str, component: str | None) -> None: ...


class StepContext:
    def __init__(self, *, rack: Rack, clock: Clock, envelope: Envelope, sink: Sink, step: str,
                 timeout_s: float, sampler: TelemetrySampler | None = None, kinds: StepKinds | None = None) -> None:
        self.rack, self.clock, self.envelope, self.sink, self.step = rack, clock, envelope, sink, step
        self.sampler = sampler
        self.kinds = kinds  # the registry, for kinds that run other steps (group)
        self.deadline = Deadline.after(clock, timeout_s)
        self.measurements: list[Measurement] = []
        self.started = clock.now()
        # set by the runner's event monitor: a reason to stop now (checked with the deadline), or None
        self.interrupt: Callable[[], str | None] | None = None

    def measure(self, name: str, value: float, unit: str, *, limit: str | None = None,
                component: str | None = None, meta: dict[str, object] | None = None) -> Measurement:
        m = check(name, value, unit, limit_name=limit, envelope=self.envelope, component=component,
                  t=self.clock.now(), meta=meta)
        self.measurements.append(m)
        self.sink.measurement(m)
        return m

    def require(self, name: str, ok: bool, *, component: str | None = None, message: str = "",
                meta: dict[str, object] | None = None) -> Measurement:
        """A built-in condition that fails regardless of the envelope (a tray that never came back)."""
        m = Measurement(name, bool(ok), "", component, None, None, None, "PASS" if ok else "FAIL",
                        self.clock.now(), {**(meta or {}), **({"message": message} if message else {})})
        self.measurements.append(m)
        self.sink.measurement(m)
        return m

    def skip(self, name: str, reason: str, *, limit: str | None = None, component: str | None = None,
             meta: dict[str, object] | None = None) -> Measurement | None:
        """A check the station cannot make: recorded as SKIP with the reason, never as a pass.
        A check against a limit the envelope does not declare is simply not made (nothing recorded)."""
        if limit is not None and limit not in self.envelope.limits:
            return None
        m = Measurement(name, "not measured", "", component, limit, None, None, "SKIP", self.clock.now(),
                        {**(meta or {}), "message": reason})
        self.measurements.append(m)
        self.sink.measurement(m)
        return m

    def series(self, name: str, unit: str, times: Sequence[float], values: Sequence[float], *,
               component: str | None = None, limit: str | None = None) -> SeriesStats | None:
        """Record a series; judge its max against ``limit`` (and min, for a lower bound)."""
        if not values:
            return None
        self.sink.series(name, unit, times, values, component=component, limit=limit, envelope=self.envelope)
        return SeriesStats.of(times, values)

    def log(self, message: str, severity: str = "INFO") -> None:
        self.sink.log(message, severity)

    def check_deadline(self) -> None:
        """A step's checkpoint: past its deadline, or stopped from outside (a leak event)?"""
        STOP.check()  # a Ctrl-C swallowed where Python only prints exceptions
        if self.deadline.expired():
            raise StepTimeout(f"step {self.step} ran past its deadline")
        reason = self.interrupt() if self.interrupt is not None else None
        if reason:
            raise StepInterrupted(reason)

    @property
    def failed(self) -> list[Measurement]:
        return [m for m in self.measurements if m.verdict == "FAIL"]
