"""pytest plugin: plan YAML files become test files, their steps become test items.

``pytest test_plans/mini_smoke.yaml --sim --rack-serial SIM-1`` runs a plan on the simulated
station; ``--station FILE`` runs it on hardware. The run session opens when the plan's first step
is set up and its safe state runs in the plan's teardown: after the last step, on failure, on
Ctrl-C (pytest tears down on KeyboardInterrupt) and on SIGTERM.

Fixtures for harness tests: ``sim_station`` (a started SimStation on a VirtualClock).
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from harness.config.plan import LoadedPlan, is_plan_file, load_plan
from harness.errors import ConfigError, RackvalError
from harness.run.options import COVERAGE_STEP, RunOptions

if TYPE_CHECKING:  # the run machinery loads only when a plan actually runs
    from harness.run.options import RunResult
    from harness.run.session import RunSession
RESULTS_KEY = pytest.StashKey[list["RunResult"]]()
HOOKS_KEY = pytest.StashKey[dict[str, Any]]()  # RunOptions callbacks set by `rackval run` (confirm, live)
OPEN_RUNS: list[RunSession] = []  # runs whose safe state is still to come (this process)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("rackval", "rack validation")
    group.addoption("--sim", action="store_true", help="run plans on an in-process simulated station")
    group.addoption("--station", metavar="FILE", help="station file (hardware or a `rackval sim` station)")
    group.addoption("--profile", metavar="SKU", help="rack profile of the simulated station (default: the plan's)")
    group.addoption("--rack-serial", metavar="SN", default=None, help="serial number of the rack under test")
    group.addoption("--seed", type=int, default=0, help="simulation seed")
    group.addoption("--operator", default="", help="operator id recorded with the run")
    group.addoption("--rackval-out", metavar="DIR", help="run directory (default runs/<run-id>)")
    group.addoption("--store", metavar="URL", help="results store URL (default sqlite:///runs/results.db)")
    group.addoption("--fault", metavar="SCENARIO", default=None,
                    help="fault scenario applied to the simulated rack (--sim only)")
    group.addoption("--rack", metavar="NAME", default=None, help="which rack of a multi-rack station file")
    group.addoption("--resume", metavar="RUN_ID", default=None,
                    help="continue an aborted run after its last completed step")
    group.addoption("--yes", dest="rackval_yes", action="store_true",
                    help="unattended: accept what would be asked (e.g. a rack serial that cannot be verified)")


def pytest_configure(config: pytest.Config) -> None:
    config.stash[RESULTS_KEY] = []


def pytest_keyboard_interrupt(excinfo: pytest.ExceptionInfo[BaseException]) -> None:
    """Ctrl-C between two steps is an abort too (inside a step the runner sees it first)."""
    for run in OPEN_RUNS:
        if run.result is None:
            run.aborted = True


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """An interrupted session tears down after the JUnit writer has run (both are sessionfinish hooks),
    so finish the runs here first: the aborted step gets its testcase and junit.xml its run properties,
    as the store, OCP and report have them. After a run that ended normally this finds nothing to do."""
    for item in session.items:
        if isinstance(item, StepItem) and item.aborted is not None:
            report = pytest.TestReport(nodeid=item.nodeid, location=item.location, keywords={}, outcome="failed",
                                       longrepr=f"ABORTED: {item.aborted}", when="call")
            session.config.hook.pytest_runtest_logreport(report=report)
            item.aborted = None
    for plan in {item.parent for item in session.items if isinstance(item.parent, PlanFile)}:
        plan.finish_run_once()


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix in (".yaml", ".yml") and is_plan_file(file_path):
        return PlanFile.from_parent(parent, path=file_path)
    return None


class PlanCollectError(Exception):
    """A plan file that cannot be loaded: shown as its one-line file:line message."""


class PlanFile(pytest.File):
    session_run: RunSession | None = None
    loaded: LoadedPlan | None = None
    finished: bool = False

    def collect(self) -> Iterator[pytest.Item]:
        from harness.steps import STEP_KINDS  # loaded only when a plan file is collected

        try:
            self.loaded = load_plan(self.path, STEP_KINDS)
        except ConfigError as exc:
            raise self.CollectError(str(exc)) from None
        for i, step in enumerate(self.loaded.steps):
            yield StepItem.from_parent(self, name=step.title, index=i)
        yield StepItem.from_parent(self, name=COVERAGE_STEP, index=len(self.loaded.steps))

    def setup(self) -> None:
        config = self.config
        if not (config.getoption("--sim") or config.getoption("--station")):
            pytest.skip("no station: pass --sim or --station FILE to run plans")
        from harness.run.session import RunSession

        out = config.getoption("--rackval-out")
        options = RunOptions(
            sim=bool(config.getoption("--sim")),
            station_path=Path(config.getoption("--station")) if config.getoption("--station") else None,
            profile=config.getoption("--profile"), seed=config.getoption("--seed"),
            rack_serial=config.getoption("--rack-serial") or ("SIM-0001" if config.getoption("--sim") else ""),
            operator=config.getoption("--operator"), out_dir=Path(out) if out else None,
            store_url=config.getoption("--store"), command_line=shlex.join(sys.argv),
            fault=config.getoption("--fault"), rack=config.getoption("--rack"), resume=config.getoption("--resume"),
            yes=bool(config.getoption("rackval_yes")), **config.stash.get(HOOKS_KEY, {}))
        assert self.loaded is not None
        self.session_run = RunSession(self.loaded, options)
        OPEN_RUNS.append(self.session_run)
        try:
            self.session_run.open()
        except BaseException:
            result = self.session_run.finish()
            config.stash[RESULTS_KEY].append(result)
            raise

    def teardown(self) -> None:
        self.finish_run_once()

    def finish_run_once(self) -> None:
        """The run's finish (safe state, records), from the plan's teardown or from an interrupted session's
        end, whichever comes first."""
        from harness.interrupts import STOP

        with STOP.held():  # the safe state and the result's hand-over to `rackval run` are not interruptible
            self._finish_run()

    def _finish_run(self) -> None:
        if self.session_run is not None and not self.finished:
            self.finished = True
            result = self.session_run.finish()
            if self.session_run in OPEN_RUNS:
                OPEN_RUNS.remove(self.session_run)
            self.config.stash[RESULTS_KEY].append(result)
            _add_junit_properties(self.config, self.session_run)
            if result.safe_state is not None and not result.safe_state.ok and not self.session_run.aborted:
                raise SafeStateFailed("; ".join(f"{o.name}: {o.detail}" for o in result.safe_state.failures()))


class SafeStateFailed(RackvalError):
    """The rack could not be brought to (or shown to be in) the plan's safe state."""


class StepFailed(Exception):
    """A step's checks failed; the message names each failing measurement and component."""


class StepError(Exception):
    """A step could not complete (a driver error, a refused action, a timeout)."""


class StepItem(pytest.Item):
    def __init__(self, *, index: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.index = index
        self.aborted: str | None = None  # why, when a Ctrl-C ended this step (pytest then logs no report)

    def runtest(self) -> None:
        parent = self.parent
        assert isinstance(parent, PlanFile) and parent.session_run is not None
        try:
            rec = parent.session_run.run_step(self.index)
        except KeyboardInterrupt as exc:
            self.aborted = str(exc) or "aborted by the operator"
            raise
        if rec.verdict == "SKIP":
            pytest.skip(rec.message)
        if rec.verdict == "ERROR":
            raise StepError(rec.message)
        if rec.verdict == "FAIL":
            raise StepFailed("\n".join(m.describe() + (f" [{m.meta['message']}]" if m.meta.get("message") else "")
                                       for m in rec.failures))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, (StepFailed, StepError)):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"{self.path.name}::{self.name}"


def _add_junit_properties(config: pytest.Config, run: RunSession) -> None:
    from _pytest.junitxml import xml_key

    xml = config.stash.get(xml_key, None)
    if xml is None or run.recorder is None:
        return
    info = run.recorder.info
    for name, value in (("run_id", info.run_id), ("rack_serial", info.rack_serial), ("station_id", info.station_id),
                        ("plan", info.plan_name), ("plan_sha256", info.plan_sha256),
                        ("envelope_sha256", info.envelope_sha256), ("harness_version", info.harness_version),
                        ("git_sha", info.git_sha), ("operator", info.operator),
                        ("verdict", run.result.verdict if run.result else "")):
        xml.add_global_property(name, value)


@pytest.fixture
def sim_station() -> Iterator[Any]:
    """A started simulated `mini` station on a VirtualClock (stopped afterwards)."""
    from harness.clock import VirtualClock
    from harness.config.profile import load_profile
    from harness.sim.station import SimStation

    station = SimStation(load_profile("mini"), clock=VirtualClock(), seed=1)
    station.start()
    try:
        yield station
    finally:
        station.stop()
