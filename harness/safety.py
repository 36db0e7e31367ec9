"""The safety registry: whatever can energize or load the rack registers how to make it safe and
how to prove it by reading back. ``run()`` tries every entry, even after one fails.

The safe state is bounded (a watchdog): a dead device must end the run with the safe state reported
NOT verified, naming the device, never hang it. Each action gets a :class:`Budget` (a deadline on the
run's clock, inside the bound of the whole phase, plus a wall-time ceiling) that ends the rack's
waits (``Rack.wait_bmcs_up``, ``Rack.wait_hosts``, ``Rack._hosts_to``), and every single exchange is
bounded by its driver's timeout; once the phase is spent, the remaining actions are only read back. Each readback gets a budget of its own, so
an action that ran out of time is still read back. The wall ceiling matters on a VirtualClock,
where a request that hangs until its driver timeout does not move simulated time: without it a BMC
that accepts connections but never answers would be polled, five real seconds a time, for as long as
the simulated deadline allows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from harness.clock import Clock, monotonic
from harness.errors import SafetyError

log = logging.getLogger(__name__)

PHASE_S = 1200.0  # run-clock bound of the whole safe state (BMCs rebooting after an AC cycle take up to ~180 s)
ACTION_S = 900.0  # run-clock bound of one action (a host Off after its BMC came back)
READBACK_S = 120.0  # run-clock bound of one readback (a few reads, each bounded by its driver timeout)
SIM_WALL_S = 120.0  # wall ceiling of the phase on a clock that does not follow wall time (VirtualClock)
SIM_READBACK_WALL_S = 30.0  # the same for one readback


class SafeStateTimeout(SafetyError):
    """The safe state's time ran out while it still needed ``device``."""

    def __init__(self, device: str, what: str) -> None:
        self.device = device
        super().__init__(f"{device}: safe-state {what} ran out of time (device not answering)")


@dataclass
class Budget:
    """How long a part of the safe state may take: a run-clock deadline and a wall-time ceiling."""

    clock: Clock
    until: float  # run-clock time
    wall_until: float  # clock.monotonic() time
    what: str = "action"

    @classmethod
    def of(cls, clock: Clock, run_s: float, wall_s: float, what: str = "action") -> Budget:
        return cls(clock, clock.now() + run_s, monotonic() + wall_s, what)

    def within(self, outer: Budget) -> Budget:
        """This budget, cut to end no later than ``outer``."""
        return Budget(self.clock, min(self.until, outer.until), min(self.wall_until, outer.wall_until), self.what)

    def remaining(self) -> float:
        """Run-clock seconds left (0 once either bound has passed)."""
        return 0.0 if self.expired() else max(0.0, self.until - self.clock.now())

    def expired(self) -> bool:
        return self.clock.now() >= self.until or monotonic() >= self.wall_until

    def check(self, device: str) -> None:
        """Raise :class:`SafeStateTimeout` naming ``device`` if no time is left to talk to it."""
        if self.expired():
            raise SafeStateTimeout(device, self.what)


def wall_ceiling(clock: Clock, run_s: float, sim_wall_s: float = SIM_WALL_S) -> float:
    """Wall seconds a phase of ``run_s`` run-clock seconds may take: the same time at the clock's speed on a
    real (or scaled) clock, a fixed ceiling on a VirtualClock (its time jumps; a simulated safe state
    that is not stuck takes well under a second of wall time)."""
    speed = getattr(clock, "speed", None)
    return run_s / speed + 30.0 if isinstance(speed, (int, float)) and speed > 0 else sim_wall_s


@dataclass(frozen=True)
class SafeAction:
    name: str
    act: Callable[[], None]
    readback: Callable[[], str | None]  # None = verified safe; otherwise what is wrong
    order: int = 0  # lower runs first: loads off before hosts before outlets


@dataclass
class SafeOutcome:
    name: str
    ok: bool
    detail: str = ""


@dataclass
class SafeStateReport:
    outcomes: list[SafeOutcome] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(o.ok for o in self.outcomes)

    def failures(self) -> list[SafeOutcome]:
        return [o for o in self.outcomes if not o.ok]


class SafetyRegistry:
    def __init__(self) -> None:
        self._actions: list[SafeAction] = []
        self._current: Budget | None = None

    def register(self, action: SafeAction) -> None:
        self._actions.append(action)

    @property
    def current(self) -> Budget | None:
        """The budget in force while the safe state runs (None otherwise): devices check it before each
        exchange and waits are capped by it."""
        return self._current

    def run(self, clock: Clock | None = None, *, phase_s: float = PHASE_S, action_s: float = ACTION_S,
            readback_s: float = READBACK_S, wall_s: float | None = None) -> SafeStateReport:
        """Every action, then its readback, each bounded; never raises (without ``clock``: unbounded,
        for registries that hold no device actions)."""
        report = SafeStateReport()
        phase, rb_wall = None, SIM_READBACK_WALL_S
        if clock is not None:
            phase = Budget.of(clock, phase_s, wall_s if wall_s is not None else wall_ceiling(clock, phase_s), "phase")
            rb_wall = wall_ceiling(clock, readback_s, SIM_READBACK_WALL_S)
            rb_wall = min(rb_wall, wall_s) if wall_s is not None else rb_wall
        try:
            for action in sorted(self._actions, key=lambda a: a.order):
                report.outcomes.append(self._one(action, clock, phase, action_s, readback_s, rb_wall))
        finally:
            self._current = None
        return report

    def _one(self, action: SafeAction, clock: Clock | None, phase: Budget | None, action_s: float,
             readback_s: float, readback_wall_s: float) -> SafeOutcome:
        detail = ""
        if phase is not None and phase.expired():
            detail = "not attempted: the safe-state phase ran out of time"
        else:
            if clock is not None and phase is not None:
                self._current = Budget.of(clock, action_s, phase.wall_until - monotonic(), "action").within(phase)
            try:
                action.act()
            except Exception as exc:  # noqa: BLE001 - keep going: every other device must still be made safe
                log.error("safe state: %s: action failed: %s", action.name, exc)
                detail = f"action failed: {exc}"
        if clock is not None:  # the readback gets time of its own, also when the action used all of its own
            self._current = Budget.of(clock, readback_s, readback_wall_s, "readback")
        try:
            problem = action.readback()
        except Exception as exc:  # noqa: BLE001 - a readback that cannot read is a finding
            problem = f"readback failed: {exc}"
        finally:
            self._current = None
        if not detail:
            return SafeOutcome(action.name, problem is None, problem or "verified")
        return SafeOutcome(action.name, problem is None, f"{detail}; {problem}" if problem
                           else f"{detail}; readback shows safe")
