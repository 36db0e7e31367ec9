"""The safe state is bounded: a device that stops answering during it ends the run with the safe state
reported NOT verified, naming the device, instead of hanging the run (harness/safety.py).

Its wall-time ceiling is tested with an injected wall clock (``harness.safety.monotonic``), never by
letting real time pass: a loaded machine would move a real one differently."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from harness.clock import VirtualClock
from harness.config.plan import load_plan
from harness.run.options import RunOptions, RunResult
from harness.run.session import RunSession
from harness.safety import Budget, SafeAction, SafeStateTimeout, SafetyRegistry
from harness.steps import STEP_KINDS

ROOT = Path(__file__).resolve().parent.parent


def test_an_action_that_never_ends_is_cut_by_the_run_clock_and_later_actions_are_still_read_back() -> None:
    clock = VirtualClock()
    registry = SafetyRegistry()
    calls: list[str] = []

    def poll_forever() -> None:  # a wait for a device that never comes back, checking in as rack.bmc does
        while True:
            budget = registry.current
            assert budget is not None
            budget.check("bmc7")
            clock.sleep(5.0)

    registry.register(SafeAction("hosts Off", poll_forever, lambda: "bmc7 is Unreachable", order=0))
    registry.register(SafeAction("outlets on", lambda: calls.append("act"), lambda: calls.append("rb") and None,
                                 order=1))
    report = registry.run(clock, phase_s=100.0, action_s=1000.0, wall_s=60.0)
    first, second = report.outcomes
    assert not first.ok and "bmc7" in first.detail and "ran out of time" in first.detail
    assert 100.0 <= clock.now() < 110.0, "the phase bound (run clock) cut the action"
    # the phase is spent: the next action is not attempted, but it is still read back
    assert calls == ["rb"] and second.ok and "not attempted" in second.detail
    assert registry.current is None


class FakeWall:
    """A wall clock that moves only when the test moves it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_budget_expires_on_wall_time_when_the_run_clock_stands_still(monkeypatch: pytest.MonkeyPatch) -> None:
    wall = FakeWall()
    monkeypatch.setattr("harness.safety.monotonic", wall)
    clock = VirtualClock()  # nobody sleeps: simulated time never moves, as during a hung request
    budget = Budget.of(clock, 1000.0, 0.2)
    wall.now += 0.19
    assert not budget.expired() and budget.remaining() == 1000.0
    wall.now += 0.01
    assert budget.expired() and budget.remaining() == 0.0
    with pytest.raises(SafeStateTimeout) as exc:
        budget.check("pdu1")
    assert exc.value.device == "pdu1" and "pdu1" in str(exc.value), "an expired budget refuses further exchanges"
    assert clock.now() == 0.0, "it was wall time, not the run clock, that ran out"


def test_a_bmc_that_stops_answering_during_the_safe_state_does_not_hang_the_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """compute01's BMC accepts requests but never answers (each outlasts the driver's 5 s timeout); while
    such a request hangs, simulated time stands still, so only the wall ceiling can end the wait for it.
    The wall clock the safety budget reads is injected: each request the dead BMC swallows moves it past
    any ceiling (the production one, ``safety.SIM_WALL_S``), as a long enough hang would."""
    session = RunSession(load_plan(ROOT / "tests" / "plans" / "mini_probe.yaml", STEP_KINDS),
                         RunOptions(sim=True, seed=5, rack_serial="SIM-0001", operator="ci", out_dir=tmp_path / "run",
                                    store_url=f"sqlite:///{tmp_path}/r.db", yes=True))
    result: RunResult | None = None
    swallowed = 0
    budgets_cut: list[str] = []
    real_expired = Budget.expired

    def expired(budget: Budget) -> bool:
        gone = real_expired(budget)
        if gone and budget.clock.now() < budget.until:
            budgets_cut.append(budget.what)  # the run clock still had time: the wall ceiling ended it
        return gone

    try:
        session.open()
        session.run_step(0)  # sensor_sanity: the rack is up, hosts On
        assert session.rack is not None and session.sim is not None
        log = session.sim.fault_log

        def hung_requests() -> int:
            return sum(e.count for e in log.find("redfish.slow", "compute01"))

        monkeypatch.setattr("harness.safety.monotonic", lambda: time.monotonic() + 1e6 * hung_requests())
        monkeypatch.setattr(Budget, "expired", expired)
        session.sim.fleet.inject("compute01", "slow", delay_s=3600)
        result = session.finish()
        swallowed = hung_requests()
    finally:
        if result is None:
            session.finish()
    assert swallowed >= 1, "the fault acted: compute01 held back at least one request"
    assert "phase" in budgets_cut or "action" in budgets_cut, f"the wall ceiling ended the wait: {budgets_cut}"
    assert result.safe_state is not None and not result.safe_state.ok
    bad = result.safe_state.failures()
    assert [o.name for o in bad] == ["hosts Off"], result.safe_state.outcomes
    assert "compute01" in bad[0].detail and "compute02" not in bad[0].detail, bad[0].detail
    assert result.verdict == "ERROR"
    con = sqlite3.connect(tmp_path / "r.db")
    (status, message), = con.execute("select verdict, message from steps where kind = 'safe_state'").fetchall()
    assert status == "ERROR" and "compute01" in message
