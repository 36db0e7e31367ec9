"""The progress line of `rackval run`: a pytest plugin that shows one bar over the plan's steps
instead of pytest's output, with the live readings of the run's telemetry sampler."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from rich.progress import Progress

from harness.pytest_plugin import OPEN_RUNS, RESULTS_KEY


class ProgressPlugin:
    """pytest plugin that shows one progress bar over a plan's steps instead of pytest's output,
    with the live readings of the run's telemetry sampler."""

    def __init__(self, progress: Progress, live: LiveReadings) -> None:
        self.progress, self.live = progress, live
        self.hooks: dict[str, Any] = {}
        self.hooks_key: Any = None
        self.task = progress.add_task("collecting", total=None, live="")
        self._stop = threading.Event()
        self._runs: list[Any] = []
        self.collect_errors: list[str] = []
        self.results: list[Any] = []
        self.setup_errors: list[str] = []

    def pytest_configure(self, config: pytest.Config) -> None:
        if self.hooks_key is not None:
            config.stash[self.hooks_key] = {"confirm": self.hooks.get("confirm")}
        self._runs = OPEN_RUNS  # read-only: the runs this process has open
        threading.Thread(target=self._poll, name="live-readings", daemon=True).start()

    def _poll(self) -> None:
        """Refresh the live readings twice a second (real time: this is what the operator sees)."""
        while not self._stop.wait(0.5):
            for run in list(self._runs):
                self.live(run.live_readings())
            self.progress.update(self.task, live=self.live.text())

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.progress.update(self.task, total=len(session.items), description="starting")

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.collect_errors.append(str(report.longrepr).strip().splitlines()[-1])

    def pytest_runtest_logstart(self, nodeid: str, location: tuple[str, int | None, str]) -> None:
        self.progress.update(self.task, description=f"step {nodeid.split('::')[-1]}")

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "setup" and report.failed and error_text(report) not in self.setup_errors:
            self.setup_errors.append(error_text(report))  # once: every step's setup re-raises the run's error
        if report.when == "call" or (report.when == "setup" and (report.failed or report.skipped)):
            self.progress.advance(self.task)

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        self._stop.set()
        self.results = list(config.stash.get(RESULTS_KEY, []))


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
    """The live part of the progress line: ETA and key readings from the telemetry sampler."""

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
