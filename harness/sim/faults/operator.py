"""The operator's Ctrl-C at a simulated moment: a fault scenario's ``{target: process, action: sigint, at_s: N}``.

Tests of what a Ctrl-C does to a run must not depend on when a signal sent from outside happens to land
(a loaded machine runs the same plan slower). This sends SIGINT to the run's own process, to its main
thread (where Python runs signal handlers, and whose blocking wait the signal must break), at simulated
time ``at_s`` after the fault is applied: a thread that takes part in the run's clock sleeps until then,
and on a :class:`~harness.clock.VirtualClock` it holds simulated time at that moment until the main
thread has left the wait it was in (:meth:`~harness.clock.VirtualClock.interrupt`). The run then sees an
ordinary Ctrl-C (``rackval run``'s handler, or ``harness.interrupts`` under plain pytest) at the same
simulated moment on any machine.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable

from harness.clock import Clock, VirtualClock

SIGNALS = {"sigint": signal.SIGINT}


class ProcessSignal:
    """One signal to this process's main thread ``at_s`` simulated seconds after :meth:`arm`.

    ``acted`` is called (on the timer thread) once the signal was sent, with a description; :meth:`cancel`
    (the station stops) ends the timer if it has not fired."""

    def __init__(self, clock: Clock, action: str, at_s: float, acted: Callable[[str], None]) -> None:
        if action not in SIGNALS:
            raise ValueError(f"unknown process action {action!r} (known: {', '.join(SIGNALS)})")
        self.clock, self.action, self.at_s, self.acted = clock, action, at_s, acted
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None

    def arm(self) -> None:
        """Start the timer; returns once it takes part in the clock (so time cannot pass ``at_s`` unseen)."""
        joined = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(joined,), name=f"fault-{self.action}", daemon=True)
        self._thread.start()
        joined.wait()

    def cancel(self) -> None:
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
            main = threading.main_thread()
            signum = SIGNALS[self.action]

            def deliver() -> None:  # thread-directed: a process-directed signal may go to this thread
                signal.pthread_kill(main.ident or 0, signum)

            if isinstance(self.clock, VirtualClock):
                self.clock.interrupt(main, deliver)
            else:
                deliver()
            self.acted(f"{signal.Signals(signum).name} sent to the run's process (pid {os.getpid()}, main thread)")
