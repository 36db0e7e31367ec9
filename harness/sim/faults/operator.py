"""The operator's Ctrl-C at a simulated moment: a fault scenario's ``{target: process, action: sigint, at_s: N}``.

Tests of what a Ctrl-C does to a run must not depend on when a signal sent from outside happens to land
(a loaded machine runs the same plan slower). A :class:`~harness.sim.faults.timer.FaultTimer` fires at
simulated time ``at_s`` and :func:`send_signal` sends SIGINT to the run's own process, to its main
thread (where Python runs signal handlers, and whose blocking wait the signal must break). On a
:class:`~harness.clock.VirtualClock` simulated time is held at that moment until the main thread has
left the wait it was in (:meth:`~harness.clock.VirtualClock.interrupt`). The run then sees an ordinary
Ctrl-C (``rackval run``'s handler, or ``harness.interrupts`` under plain pytest) at the same simulated
moment on any machine.

``sigstop`` freezes the process at the simulated moment instead (every thread stops where it is): a
test then inspects what the run left (its store, its sockets) and SIGKILLs it there, a crash at a
moment chosen in simulated time rather than by when a poll from outside happened to notice.
"""

from __future__ import annotations

import os
import signal
import threading

from harness.clock import Clock, VirtualClock

SIGNALS = {"sigint": signal.SIGINT, "sigstop": signal.SIGSTOP}


def send_signal(clock: Clock, action: str) -> str:
    """Send the signal ``action`` names to this process's main thread; returns what was done."""
    signum = SIGNALS[action]
    main = threading.main_thread()

    def deliver() -> None:  # thread-directed: a process-directed signal may be taken by the calling thread
        signal.pthread_kill(main.ident or 0, signum)

    if isinstance(clock, VirtualClock):
        clock.interrupt(main, deliver)
    else:
        deliver()
    return f"{signal.Signals(signum).name} sent to the run's process (pid {os.getpid()}, main thread)"
