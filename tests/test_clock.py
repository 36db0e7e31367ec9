"""The virtual clock: time moves only when every participant waits, straight to the earliest wake-up."""

from __future__ import annotations

import threading

from conftest import wait_for

from harness.clock import Deadline, VirtualClock, run_parallel, wait_until


def test_sleep_jumps_to_the_wake_up() -> None:
    clock = VirtualClock()
    clock.sleep(3600.0)
    assert clock.now() == 3600.0


def test_time_waits_for_every_participant() -> None:
    clock = VirtualClock()
    seen: list[float] = []
    release = threading.Event()

    def worker() -> None:
        with clock.participant():
            release.wait(120)  # busy (not sleeping): the main thread's sleep must not advance time
            seen.append(clock.now())
            clock.sleep(1.0)

    def releaser() -> None:
        """Once the main thread is inside its sleep: note the time, then let the worker go on."""
        wait_for(lambda: _peek(clock, lambda: bool(clock._sleepers)), "the main thread sleeping")
        seen.append(clock.now())
        release.set()

    t = threading.Thread(target=worker)
    t.start()
    wait_for(lambda: _peek(clock, lambda: clock._participants >= 2), "the worker registered")
    r = threading.Thread(target=releaser)
    r.start()
    clock.sleep(10.0)
    t.join()
    r.join()
    assert seen == [0.0, 0.0]  # frozen while the main thread slept and the worker was busy, then still
    assert clock.now() == 10.0


def _peek(clock: VirtualClock, what: object) -> bool:
    """Read the clock's bookkeeping under its lock (the test looks inside on purpose)."""
    with clock._cond:
        return bool(what())  # type: ignore[operator]


def test_run_parallel_interleaves_sleepers_in_time_order() -> None:
    clock = VirtualClock()
    order: list[tuple[str, float]] = []
    lock = threading.Lock()

    def job(name: str, period: float) -> str:
        for _ in range(3):
            clock.sleep(period)
            with lock:
                order.append((name, clock.now()))
        return name

    assert run_parallel(clock, [lambda: job("a", 2.0), lambda: job("b", 3.0)]) == ["a", "b"]
    times = [t for _, t in order]
    assert times == sorted(times)
    assert clock.now() == 9.0


def test_wait_until_gives_up_at_the_deadline() -> None:
    clock = VirtualClock()
    assert wait_until(clock, lambda: clock.now() >= 50, timeout=100, poll=10) is True
    assert wait_until(clock, lambda: False, timeout=30, poll=7) is None
    d = Deadline.after(clock, 5)
    assert not d.expired() and d.remaining() == 5


def test_queued_jobs_do_not_hold_time_while_running_ones_sleep() -> None:
    clock = VirtualClock()
    # 6 jobs on 2 workers, each sleeping: with a participant per *job* the 4 queued ones would
    # count as busy and simulated time would never move (a hang).
    results = run_parallel(clock, [lambda i=i: (clock.sleep(10.0), i)[1] for i in range(6)], max_workers=2)
    assert results == list(range(6))
    assert clock.now() == 30.0  # three rounds of two
