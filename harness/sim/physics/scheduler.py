"""The twin's discrete-event core: one lock, simulated time, and the transitions due later.

Commands and the transitions they schedule change the discrete state at known simulated times. They
are processed in (time, order scheduled) order whenever anyone looks at the twin, so the state at a
time does not depend on who looked when. Two hooks let the subsystems keep up: ``before_advance(t)``
runs before time moves to ``t`` (energy integrates up to it), ``after_event(t)`` after each transition
(lagged signals head for the new steady state).
"""

from __future__ import annotations

import heapq
import threading
from collections.abc import Callable

from harness.clock import Clock

Listener = Callable[[str, dict[str, object]], None]


def _nothing(_t: float) -> None:
    return None


class Scheduler:
    """Thread-safe: every reader takes :attr:`lock` and calls :meth:`now` first."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.lock = threading.RLock()
        self.t = 0.0  # simulated time up to which the discrete state is processed
        self._events: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = 0
        self.listeners: list[Listener] = []
        self.before_advance: Callable[[float], None] = _nothing
        self.after_event: Callable[[float], None] = _nothing

    def now(self) -> float:
        """Process every scheduled transition up to the clock's now; caller holds the lock."""
        now = self.clock.now()
        while self._events and self._events[0][0] <= now:
            t, _, action = heapq.heappop(self._events)
            self.before_advance(t)
            self.t = max(self.t, t)
            action()
            self.after_event(self.t)
        self.before_advance(now)
        self.t = max(self.t, now)
        return now

    def schedule(self, delay: float, action: Callable[[], None]) -> None:
        """Run ``action`` (under the lock) ``delay`` simulated seconds after the current state time."""
        self._seq += 1
        heapq.heappush(self._events, (self.t + max(0.0, delay), self._seq, action))

    def emit(self, kind: str, **data: object) -> None:
        """Tell every listener (event logs of the simulators) about a state change, stamped with its time."""
        for listener in list(self.listeners):
            listener(kind, {"t": self.t, **data})
