"""The progress line of `rackval run`: a pytest plugin that shows one line over the plan's steps instead
of pytest's output: the running step (its name and k/N), the wall time elapsed, the rack time (simulated
runs), the ETA worked out from the plan's durations, and the live readings of the run's telemetry sampler.

It moves on its own: a thread re-reads the run twice a second and rich redraws the line ten times a
second on the terminal `harness.cli.terminal` keeps out of pytest's capture, whatever the step is
doing; a step's start is drawn at once, so even a step that takes no time shows up. Until the first
step starts the line says the run is opening (the station, the serial check).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import pytest
from rich.progress import Progress

from harness.clock import RealClock, VirtualClock
from harness.pytest_plugin import OPEN_RUNS, RESULTS_KEY, PlanFile, StepItem

POLL_S = 0.5  # wall seconds between two reads of the run (rich redraws in between as well)


class ProgressPlugin:
    """pytest plugin that drives one rich progress task over a plan's steps."""

    def __init__(self, progress: Progress, live: LiveReadings) -> None:
        self.progress, self.live = progress, live
        self.hooks: dict[str, Any] = {}
        self.hooks_key: Any = None
        self.task = progress.add_task("collecting the plan", total=None, live="", clock="", eta="")
        self.eta = PlanEta()
        self._stop = threading.Event()
        self._names: list[str] = []
        self.collect_errors: list[str] = []
        self.results: list[Any] = []
        self.setup_errors: list[str] = []

    def pytest_configure(self, config: pytest.Config) -> None:
        if self.hooks_key is not None:
            config.stash[self.hooks_key] = {"confirm": self.hooks.get("confirm")}
        threading.Thread(target=self._poll, name="progress-line", daemon=True).start()

    def _poll(self) -> None:
        """Re-read the run (real time: this is what the operator sees), whatever the main thread does."""
        while not self._stop.wait(POLL_S):
            self.refresh()

    def refresh(self) -> None:
        runs = list(OPEN_RUNS)  # read-only: the runs this process has open
        if runs:
            run = runs[0]
            self.live(run.live_readings())
            self.eta.observe(run, time.monotonic())
        done, total = self.eta.progress()
        self.progress.update(self.task, live=self.live.text(), clock=self.eta.clock_text(), eta=self.eta.text(),
                             completed=done, total=total or None)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self._names = [item.name for item in session.items]
        self.progress.update(self.task, description=f"opening the run ({len(self._names)} steps)", refresh=True)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.collect_errors.append(str(report.longrepr).strip().splitlines()[-1])

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_call(self, item: pytest.Item) -> None:
        """A step starts (its setup, the first one's opening the run, is done): drawn at once, with the
        rack time it starts at."""
        run = item.parent.session_run if isinstance(item.parent, PlanFile) else None
        if run is None or not isinstance(item, StepItem):
            return
        self.eta.step_started(item.index, run.clock.now())
        self.progress.update(self.task, description=f"step {item.index + 1}/{len(self._names)} {item.name}",
                             refresh=True)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "setup" and report.failed and error_text(report) not in self.setup_errors:
            self.setup_errors.append(error_text(report))  # once: every step's setup re-raises the run's error

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        self._stop.set()
        self.results = list(config.stash.get(RESULTS_KEY, []))


@dataclass
class PlanEta:
    """Where the run is against the plan's durations (``StepKind.planned_s``, rack seconds), and how
    long the rest should take in wall time at the pace the run has kept so far (a simulated rack runs
    faster than real time, a `rackval sim --speed N` station N times faster)."""

    planned: list[float] = field(default_factory=list)  # per pytest item (steps, then envelope_coverage)
    index: int = -1  # the running step
    step_t0: float | None = None  # its start, rack seconds
    rack_now: float | None = None
    simulated: bool = False
    speed: float | None = None  # rack seconds per wall second, known in advance (RealClock)
    _first: tuple[float, float] | None = None  # (wall, rack) when the run was first seen open
    _pace: float | None = None  # rack seconds per wall second, observed

    def observe(self, run: Any, wall: float) -> None:
        if not self.planned:
            self.planned = [run.kinds.planned_s(s) for s in run.plan.steps] + [0.0]
        if run.steps is None:  # not open yet (or it never opened)
            return
        clock = run.clock
        self.simulated = isinstance(clock, VirtualClock)
        self.speed = clock.speed if isinstance(clock, RealClock) else None
        self.rack_now = clock.now()
        if self._first is None:
            self._first = (wall, self.rack_now)
        elif wall - self._first[0] >= 1.0 and self.rack_now > self._first[1]:
            self._pace = (self.rack_now - self._first[1]) / (wall - self._first[0])

    def step_started(self, index: int, rack_t: float) -> None:
        self.index, self.step_t0 = index, rack_t

    def _in_step(self) -> float:
        if self.step_t0 is None or self.rack_now is None:
            return 0.0
        return max(0.0, self.rack_now - self.step_t0)

    def progress(self) -> tuple[float, float]:
        """(done, total) in planned rack seconds: the bar moves within a long step too."""
        if not self.planned or self.index < 0:
            return 0.0, sum(self.planned)
        current = min(self._in_step(), self.planned[self.index]) if self.index < len(self.planned) else 0.0
        return sum(self.planned[:self.index]) + current, sum(self.planned)

    def remaining_rack_s(self) -> float | None:
        if not self.planned or self.index < 0:
            return None
        i = min(self.index, len(self.planned) - 1)
        return max(self.planned[i] - self._in_step(), 0.0) + sum(self.planned[i + 1:])

    def text(self) -> str:
        remaining, pace = self.remaining_rack_s(), self.speed or self._pace
        if remaining is None or not pace:
            return "ETA -:--:--"
        return f"ETA ~{hms(remaining / pace)}"

    def clock_text(self) -> str:
        """The rack's own time where it is not the wall clock's."""
        if self.rack_now is None or (not self.simulated and (self.speed or 1.0) == 1.0):
            return ""
        return f"{'sim' if self.simulated else f'rack x{self.speed:g}'} {hms(self.rack_now)}"


def hms(seconds: float) -> str:
    s = int(max(0.0, seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def error_text(report: pytest.TestReport) -> str:
    """What went wrong, for the operator: the exception's own message (it names the device and the
    request), not the last line of a traceback (a source location)."""
    crash = getattr(report.longrepr, "reprcrash", None)
    message = getattr(crash, "message", None)
    if isinstance(message, str) and message.strip():
        first, _, rest = message.strip().partition(": ")
        return f"{first.rsplit('.', 1)[-1]}: {rest}" if rest else first  # harness.errors.X -> X
    return last_line(report.longreprtext)


def last_line(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else text


class LiveReadings:
    """The live part of the progress line: key readings from the telemetry sampler."""

    def __init__(self) -> None:
        self.readings: dict[str, Any] = {}

    def __call__(self, readings: dict[str, Any]) -> None:
        self.readings = readings

    def text(self) -> str:
        r = self.readings
        parts = []
        if "rack_kw" in r:
            parts.append(f"rack {float(r['rack_kw']):.2f} kW")
        if "hottest_c" in r:
            parts.append(f"hottest {float(r['hottest_c']):.1f} °C at {r.get('hottest_at', '?')}")
        if "coolant_dt_c" in r:
            parts.append(f"coolant dT {float(r['coolant_dt_c']):.1f} K")
        return "  ".join(parts)
