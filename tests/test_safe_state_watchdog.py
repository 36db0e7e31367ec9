"""The safe state is bounded: a device that stops answering during it ends the run with the safe state
reported NOT verified, naming the device, instead of hanging the run (harness/safety.py)."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from harness.clock import VirtualClock, monotonic
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


def test_budget_expires_on_wall_time_when_the_run_clock_stands_still() -> None:
    clock = VirtualClock()  # nobody sleeps: simulated time never moves, as during a hung request
    budget = Budget.of(clock, 1000.0, 0.2)
    assert not budget.expired()
    threading.Event().wait(0.3)
    assert budget.expired() and budget.remaining() == 0.0
    try:
        budget.check("pdu1")
    except SafeStateTimeout as exc:
        assert exc.device == "pdu1" and "pdu1" in str(exc)
    else:
        raise AssertionError("an expired budget must refuse further exchanges")


def test_a_bmc_that_stops_answering_during_the_safe_state_does_not_hang_the_run(tmp_path: Path) -> None:
    session = RunSession(load_plan(ROOT / "tests" / "plans" / "mini_probe.yaml", STEP_KINDS),
                         RunOptions(sim=True, seed=5, rack_serial="SIM-0001", operator="ci", out_dir=tmp_path / "run",
                                    store_url=f"sqlite:///{tmp_path}/r.db", yes=True))
    result: RunResult | None = None
    try:
        session.open()
        session.run_step(0)  # sensor_sanity: the rack is up, hosts On
        assert session.rack is not None and session.sim is not None
        # From now on compute01's BMC accepts requests but never answers (each one outlasts the 5 s
        # driver timeout): the safe state's "hosts Off" cannot switch or verify it.
        session.sim.fleet.inject("compute01", "slow", delay_s=3600)
        session.rack.safe_state_wall_s = 5.0  # the production default (safety.SIM_WALL_S) is 120 s
        t0 = monotonic()
        result = session.finish()
        wall = monotonic() - t0
    finally:
        if result is None:
            session.finish()
    assert result.safe_state is not None and not result.safe_state.ok
    bad = result.safe_state.failures()
    assert [o.name for o in bad] == ["hosts Off"], result.safe_state.outcomes
    assert "compute01" in bad[0].detail and "compute02" not in bad[0].detail, bad[0].detail
    assert result.verdict == "ERROR"
    # bounded: 5 s of wall ceiling, the exchanges in flight when it passed (5 s each), the readback
    # (its own ceiling, at most the phase's) and closing the rack
    assert wall < 60.0, wall
    con = sqlite3.connect(tmp_path / "r.db")
    (status, message), = con.execute("select verdict, message from steps where kind = 'safe_state'").fetchall()
    assert status == "ERROR" and "compute01" in message
