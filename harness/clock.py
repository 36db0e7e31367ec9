"""The one clock every wait and timestamp in rackval goes through.

Hardware runs use :class:`RealClock`. Simulated runs use :class:`VirtualClock`: simulated time
advances only when every participating thread is waiting, and then jumps straight to the earliest
wake-up, so a three-hour plan runs in seconds and the same seed gives the same records.
`rackval sim` serves in real or scaled time with :class:`ScaledClock`.

No module outside this one may call ``time.sleep`` or read wall time for the run.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol, TypeVar

T = TypeVar("T")


class Clock(Protocol):
    """What the harness and the simulators need from time."""

    def now(self) -> float:
        """Seconds since the clock started (monotonic)."""

    def sleep(self, seconds: float, cancel: threading.Event | None = None) -> None:
        """Wait; on a virtual clock this lets simulated time advance. Returns early once ``cancel``
        is set (and the setter has called :meth:`wake`)."""

    def wake(self) -> None:
        """Let sleepers re-check their ``cancel`` events."""

    def wall(self) -> datetime:
        """Timezone-aware wall time for records (the virtual clock derives it from `now`)."""

    @contextlib.contextmanager
    def participant(self) -> Iterator[None]:
        """Mark the calling thread as one whose waits gate simulated time."""

    @contextlib.contextmanager
    def idle(self) -> Iterator[None]:
        """The calling participant is blocked on other participants (not on I/O)."""


def wall_now() -> datetime:
    """Real wall time: for record keeping outside a run (e.g. store timestamps of a listing)."""
    return datetime.now(UTC)


def monotonic() -> float:
    """Real monotonic seconds: for measuring wall durations (benchmarks, watchdogs)."""
    return time.monotonic()


class RealClock:
    """Real time. ``speed`` > 1 scales it (a `rackval sim --speed 10` station)."""

    def __init__(self, speed: float = 1.0) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self._t0 = time.monotonic()
        self._wall0 = datetime.now(UTC)

    def now(self) -> float:
        return (time.monotonic() - self._t0) * self.speed

    def sleep(self, seconds: float, cancel: threading.Event | None = None) -> None:
        if seconds > 0:
            if cancel is None:
                time.sleep(seconds / self.speed)
            else:
                cancel.wait(seconds / self.speed)

    def wake(self) -> None:
        """Nothing to do: a cancelled real sleep returns as soon as its event is set."""

    def wall(self) -> datetime:
        return self._wall0 + timedelta(seconds=self.now())

    @contextlib.contextmanager
    def participant(self) -> Iterator[None]:
        yield

    @contextlib.contextmanager
    def idle(self) -> Iterator[None]:
        yield


class VirtualClock:
    """Discrete-event time shared by the harness threads of one simulated run.

    Participating threads (the main thread, plus any registered with :meth:`participant`) gate
    time: it advances only when each of them is inside :meth:`sleep` (or has stepped aside with
    :meth:`idle`), and then jumps to the earliest wake-up. A thread blocked in socket I/O is not
    sleeping, so a request in flight freezes simulated time; the simulators never participate.
    """

    def __init__(self, start_wall: datetime | None = None) -> None:
        self._now = 0.0
        self._cond = threading.Condition()
        self._participants = 1  # the thread that builds the clock
        self._sleepers: dict[int, float] = {}
        self._sleeping: dict[int, int] = {}  # thread ident -> token of the sleep it is in
        self._idle = 0
        self._wall0 = start_wall or datetime.now(UTC)
        self._token = 0

    def now(self) -> float:
        with self._cond:
            return self._now

    def wall(self) -> datetime:
        return self._wall0 + timedelta(seconds=self.now())

    def sleep(self, seconds: float, cancel: threading.Event | None = None) -> None:
        with self._cond:
            self._token += 1
            token = self._token
            wake = self._now + max(0.0, seconds)
            self._sleepers[token] = wake
            ident = threading.get_ident()
            self._sleeping[ident] = token
            try:
                while self._now < wake and not (cancel is not None and cancel.is_set()):
                    if self._advance_if_all_waiting():
                        continue
                    self._cond.wait(0.5)
            finally:
                del self._sleepers[token]
                if self._sleeping.get(ident) == token:
                    del self._sleeping[ident]
                self._cond.notify_all()

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def interrupt(self, thread: threading.Thread, deliver: Callable[[], None], *, hold_s: float = 10.0) -> None:
        """Call ``deliver`` (a signal to ``thread``) now and keep simulated time here until ``thread`` has
        left the sleep it was in, so it takes the interrupt at this simulated moment on any machine.

        The caller must be an active participant (it holds time still meanwhile). A thread that was not
        sleeping holds time still itself until it next waits, by which time it has run the handler. At
        most ``hold_s`` wall seconds: a handler that does not raise (an operator asked to confirm) leaves
        the thread in its sleep, and time must not stay frozen for good."""
        with self._cond:
            token = self._sleeping.get(thread.ident or 0)
        deliver()
        if token is None:
            return
        give_up = time.monotonic() + hold_s
        with self._cond:
            while self._sleeping.get(thread.ident or 0) == token and time.monotonic() < give_up:
                self._cond.wait(min(0.5, max(0.0, give_up - time.monotonic())))

    def _advance_if_all_waiting(self) -> bool:
        """Jump to the earliest wake-up if every participant waits and none is already due.

        A sleeper whose wake-up has come but who has not yet re-taken the lock still counts as
        due: time must not move past it before it has run.
        """
        if not self._sleepers or len(self._sleepers) + self._idle < self._participants:
            return False
        earliest = min(self._sleepers.values())
        if earliest <= self._now:
            self._cond.notify_all()
            return False
        self._now = earliest
        self._cond.notify_all()
        return True

    @contextlib.contextmanager
    def participant(self) -> Iterator[None]:
        with self._cond:
            self._participants += 1
        try:
            yield
        finally:
            with self._cond:
                self._participants -= 1
                self._advance_if_all_waiting()

    @contextlib.contextmanager
    def idle(self) -> Iterator[None]:
        with self._cond:
            self._idle += 1
            self._advance_if_all_waiting()
        try:
            yield
        finally:
            with self._cond:
                self._idle -= 1


@dataclass(frozen=True)
class Deadline:
    """A point in clock time; waits are written against deadlines, never bare sleeps."""

    clock: Clock
    at: float

    @classmethod
    def after(cls, clock: Clock, seconds: float) -> Deadline:
        return cls(clock, clock.now() + seconds)

    def remaining(self) -> float:
        return max(0.0, self.at - self.clock.now())

    def expired(self) -> bool:
        return self.clock.now() >= self.at


def wait_until(
    clock: Clock,
    predicate: Callable[[], T],
    *,
    timeout: float | None = None,
    deadline: Deadline | None = None,
    poll: float,
    stop: Callable[[], bool] | None = None,
) -> T | None:
    """Poll ``predicate`` until it returns something truthy, the deadline passes or ``stop()`` is true.

    The one deadline-wait of the harness (drivers confirming a power action, the rack waiting for its
    BMCs and hosts): the predicate is always asked at least once, and once more after the last sleep,
    which never runs past the deadline. Give ``timeout`` (seconds from now) or a ``deadline``.
    Returns the truthy value, or ``None`` on timeout or stop. The predicate may raise; exceptions
    propagate (callers decide which errors mean "not yet").
    """
    if deadline is None:
        if timeout is None:
            raise TypeError("wait_until needs timeout= or deadline=")
        deadline = Deadline.after(clock, timeout)
    while True:
        value = predicate()
        if value:
            return value
        if deadline.expired() or (stop is not None and stop()):
            return None
        clock.sleep(min(poll, max(deadline.remaining(), 1e-3)))


def run_parallel(clock: Clock, jobs: list[Callable[[], T]], max_workers: int | None = None,
                 executor: Executor | None = None) -> list[T]:
    """Run jobs on threads that participate in the clock while the caller waits for them.

    On a VirtualClock the caller counts as stepped aside only while one of its jobs is still
    running: it becomes active again atomically with the last job finishing, so simulated time can
    never slip forward between "the jobs are done" and "the caller goes on". Exceptions are re-raised
    (the first one, after every job has finished) so no thread is left running against the rack.
    """
    from concurrent.futures import ThreadPoolExecutor

    if not jobs:
        return []
    workers = min(max_workers or len(jobs), len(jobs))
    virtual = clock if isinstance(clock, VirtualClock) else None
    # One participant per worker thread, not per job: a queued job is not running, so it must not
    # hold time still while the running ones sleep (a retry back-off).
    remaining = [len(jobs)]
    if virtual is not None:
        with virtual._cond:  # noqa: SLF001 - the clock's own helper
            virtual._participants += workers
            virtual._idle += 1

    def wrap(job: Callable[[], T]) -> Callable[[], T]:
        def run() -> T:
            try:
                return job()
            finally:
                if virtual is not None:
                    with virtual._cond:
                        remaining[0] -= 1
                        if remaining[0] < workers:  # no queued job will take this thread's slot
                            virtual._participants -= 1
                        if remaining[0] == 0:
                            virtual._idle -= 1  # the caller is active again, before time can move
                        virtual._advance_if_all_waiting()
        return run

    if executor is not None:  # a long-lived pool (at least ``workers`` threads): no thread start-up per call
        futures = [executor.submit(wrap(job)) for job in jobs]
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(wrap(job)) for job in jobs]
    for f in futures:
        f.exception()
    return [f.result() for f in futures]


@contextlib.contextmanager
def _pre_registered(clock: Clock, n: int) -> Iterator[Callable[[], contextlib.AbstractContextManager[None]]]:
    """Hold ``n`` participant slots from now until each thread that takes one over ends."""
    if not isinstance(clock, VirtualClock):
        yield contextlib.nullcontext
        return
    with clock._cond:  # noqa: SLF001 - the clock's own helper
        clock._participants += n

    @contextlib.contextmanager
    def take_over() -> Iterator[None]:
        try:
            yield
        finally:
            with clock._cond:
                clock._participants -= 1
                clock._advance_if_all_waiting()

    yield take_over
