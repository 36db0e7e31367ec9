"""Faults that act later: ``at_s`` simulated seconds after a scenario is applied, on the run's clock.

The twin's own faults are scheduled on the twin (``RackTwin.after``: its transitions are exact in
simulated time whoever reads it first). Everything else (a simulator's fault hook, the operator's
Ctrl-C) runs on a :class:`FaultTimer`: a thread of its own that takes part in the run's clock, sleeps
until ``at_s`` and, being awake, holds simulated time at that moment while the fault acts. So the fault
lands at the same simulated moment on any machine, and never on a simulator's thread (an SNMP agent's
restart must not run on the agent's own loop).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from harness.clock import Clock

log = logging.getLogger(__name__)


class FaultTimer:
    """Runs ``action`` once, ``at_s`` simulated seconds after :meth:`arm`, unless :meth:`cancel` came first."""

    def __init__(self, clock: Clock, at_s: float, action: Callable[[], None], name: str) -> None:
        self.clock, self.at_s, self.action, self.name = clock, at_s, action, name
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None

    def arm(self) -> None:
        """Start; returns once the timer takes part in the clock (time cannot pass ``at_s`` unseen)."""
        joined = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(joined,), name=f"fault-{self.name}", daemon=True)
        self._thread.start()
        joined.wait()

    def cancel(self) -> None:
        """The station stops: a timer that has not fired never will."""
        self._cancel.set()
        self.clock.wake()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)

    def _run(self, joined: threading.Event) -> None:
        with self.clock.participant():
            joined.set()
            self.clock.sleep(self.at_s, cancel=self._cancel)
            if self._cancel.is_set():
                return
            try:
                self.action()
            except Exception:  # the fault log then shows it never acted
                log.exception("fault %s at %g s failed", self.name, self.at_s)
