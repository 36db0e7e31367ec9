"""Stop requests (Ctrl-C, SIGTERM): one policy for the whole process.

A stop request raises ``KeyboardInterrupt`` while the run is interruptible (opening, steps), but
never inside a write to the results store: it takes effect once the write is committed. While
the safe state and the run's final records are being written it is *held* instead: interrupting
them would leave a rack switched on or a run record open, and a late Ctrl-C must not turn a
finished run into a lost one. A request is also remembered, because Python only prints an
exception raised inside a weakref callback or ``__del__``: the runner acts on a request that was
swallowed that way at its next checkpoint, so no Ctrl-C is ever lost.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType


class StopRequests:
    """The process's stop requests: signal handlers call ``request``; the runner reads ``requested``."""

    def __init__(self) -> None:
        self.requested: str | None = None  # what asked to stop (kept until a new run clears it)
        self.held_requests: list[str] = []  # requests that arrived while held
        self._held = 0
        self._deferring = 0  # main thread only: inside writes that must not be cut in half
        self._deferred: str | None = None
        self.on_held: Callable[[str], None] | None = None  # tells the operator why nothing happened yet

    def reset(self) -> None:
        """A new run starts: earlier requests were for an earlier run."""
        self.requested, self.held_requests, self._deferred = None, [], None

    @property
    def is_held(self) -> bool:
        return self._held > 0

    def request(self, what: str) -> None:
        """Called from a signal handler (main thread): stop now, or once the held section is done."""
        if self._held:
            self.held_requests.append(what)
            if self.on_held is not None:
                self.on_held(what)
            return
        if self._deferring:
            self._deferred = what
            return
        self.requested = what
        raise KeyboardInterrupt(what)

    def check(self) -> None:
        """A checkpoint: a request Python swallowed (raised where exceptions are only printed) stops here.
        Main thread only, where a signal would have raised it: a worker thread ends its job normally."""
        if self.requested is not None and not self._held and threading.current_thread() is threading.main_thread():
            raise KeyboardInterrupt(self.requested)

    def defer_begin(self) -> None:
        """Start a section (a store write) that a request interrupts only once it is over."""
        if threading.current_thread() is threading.main_thread():
            self._deferring += 1

    def defer_end(self) -> None:
        """End it: a request that came meanwhile takes effect now (unless the run is finishing)."""
        if threading.current_thread() is not threading.main_thread():
            return
        self._deferring -= 1
        if not self._deferring and self._deferred is not None and not self._held:
            what, self._deferred = self._deferred, None
            self.requested = what
            raise KeyboardInterrupt(what)

    @contextmanager
    def deferred(self) -> Iterator[None]:
        self.defer_begin()
        try:
            yield
        finally:
            self.defer_end()

    @contextmanager
    def held(self) -> Iterator[None]:
        """Requests arriving inside are recorded in ``held_requests`` instead of interrupting."""
        self._held += 1
        try:
            yield
        finally:
            self._held -= 1


STOP = StopRequests()


def install_stop_signals() -> Callable[[], None]:
    """Route SIGTERM, and SIGINT where nobody has claimed it (plain ``pytest``), through ``STOP``;
    returns the function that puts the previous handlers back.

    ``rackval run`` installs its own SIGINT handler (it asks before aborting) that ends in
    ``STOP.request`` too. Only the main thread may install handlers; elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def on_signal(signum: int, frame: FrameType | None) -> None:
        STOP.request("Ctrl-C" if signum == signal.SIGINT else f"signal {signal.Signals(signum).name}")

    previous = {signal.SIGTERM: signal.signal(signal.SIGTERM, on_signal)}
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        previous[signal.SIGINT] = signal.signal(signal.SIGINT, on_signal)

    def restore() -> None:
        for signum, handler in previous.items():
            signal.signal(signum, handler)

    return restore
