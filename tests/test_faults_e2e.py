"""Every fault scenario in fixtures/faults/, end to end on the simulated station: the plan ends with the
verdict the scenario names, at the right step, with a diagnosis naming the component; transient faults
pass. The probe plans also pass with no fault at all (so a FAIL below is the fault's doing)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.config.plan import load_plan
from harness.run.options import RunOptions, RunResult
from harness.run.session import RunSession
from harness.sim.faults.scenarios import Expectation, FaultScenario, all_scenarios
from harness.steps import STEP_KINDS

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = all_scenarios()
CASES = [(s, e) for s in SCENARIOS for e in s.expect]


def run_plan(plan: str, tmp_path: Path, fault: str | None, profile: str | None = None) -> RunResult:
    loaded = load_plan(ROOT / plan, STEP_KINDS)
    session = RunSession(loaded, RunOptions(sim=True, seed=11, rack_serial="SIM-0001", operator="ci",
                                            out_dir=tmp_path / "run", store_url=f"sqlite:///{tmp_path}/r.db",
                                            fault=fault, profile=profile, yes=True))
    try:
        session.open()
        for i in range(len(session.step_names)):
            session.run_step(i)
    finally:
        result = session.finish()
    return result


def first_bad_step(result: RunResult):  # type: ignore[no-untyped-def]
    return next((s for s in result.steps if s.verdict in ("FAIL", "ERROR")), None)


def names_component(step, component: str) -> bool:  # type: ignore[no-untyped-def]
    texts = [m.component or "" for m in step.failures] + [m.describe() for m in step.failures] + [step.message]
    return any(component in t for t in texts)


def test_every_blueprint_fault_has_a_scenario() -> None:
    names = {s.name for s in SCENARIOS}
    assert {"psu_failure", "fan_failure", "pump_failure", "leak", "bmc_unreachable", "session_expiry",
            "snmp_packet_loss", "instrument_disconnect", "pdu_breaker_trip", "tray_fails_to_boot",
            "stuck_sensor"} <= names
    assert all(s.expect for s in SCENARIOS), "every scenario says what a run must show"


@pytest.mark.parametrize("plan", sorted({e.plan for _, e in CASES}))
def test_probe_plans_pass_without_faults(plan: str, tmp_path: Path) -> None:
    result = run_plan(plan, tmp_path, None)
    bad = first_bad_step(result)
    assert result.verdict == "PASS", (bad.name, bad.message, [m.describe() for m in bad.failures]) if bad else result


@pytest.mark.parametrize(("scenario", "expect"), CASES, ids=[f"{s.name}-{Path(e.plan).stem}" for s, e in CASES])
def test_fault_scenario_gives_its_verdict(scenario: FaultScenario, expect: Expectation, tmp_path: Path) -> None:
    result = run_plan(expect.plan, tmp_path, scenario.name)
    bad = first_bad_step(result)
    detail = (bad.name, bad.verdict, bad.message, [m.describe() for m in bad.failures]) if bad else None
    assert result.verdict == expect.verdict, detail
    assert result.safe_state is not None and result.safe_state.ok == expect.safe_state_reached, result.safe_state
    retried = [s.name for s in result.steps if len(s.attempts) > 1]
    if expect.retried:
        assert retried, "a transient fault must show as a recorded retry"
    if expect.log_contains:
        assert expect.log_contains in (result.run_dir / "rackval.log").read_text(encoding="utf-8")
    if expect.verdict == "PASS":
        return
    assert bad is not None and bad.name == expect.step, detail
    assert expect.component and names_component(bad, expect.component), detail
