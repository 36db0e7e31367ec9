"""Every fault scenario in fixtures/faults/, end to end on the simulated station: the plan ends with the
verdict the scenario names, at the right step, with a diagnosis naming the component; transient faults
pass. The probe plans also pass with no fault at all (so a FAIL below is the fault's doing).

Every expectation also shows its evidence, PASS included (a PASS alone would follow just as well from a
fault hook that did nothing): the fault was *injected* (the station's fault log shows it acting) and
*observed* (the run shows it). Each check is shown able to fail: scenarios with a fault hook disabled
leave no evidence, and a healthy run holds none of the log records a scenario names."""

from __future__ import annotations

from pathlib import Path

import pytest
from fault_evidence import evidence_problems, harness_loggers_enabled, injected_problems, observed_problems

from harness.config.plan import load_plan
from harness.run.options import RunOptions, RunResult
from harness.run.session import RunSession
from harness.sim.faults.evidence import unobserved
from harness.sim.faults.log import FaultActed
from harness.sim.faults.scenarios import Expectation, FaultScenario, all_scenarios, load_scenario, matrix_cells
from harness.sim.physics import RackTwin
from harness.sim.redfish.server import RedfishFleet
from harness.sim.snmp.agent import PduAgent
from harness.sim.visa.server import ScpiServer
from harness.steps import STEP_KINDS

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.usefixtures(harness_loggers_enabled.__name__)  # tests/fault_evidence.py
SCENARIOS = all_scenarios()
CASES = [(s, e) for s in SCENARIOS for e in s.expect]


def run_plan(plan: str, tmp_path: Path, fault: str | None,
             profile: str | None = None) -> tuple[RunResult, list[FaultActed]]:
    """The run's result and the station's fault log."""
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
    return result, session.sim.fault_log.entries() if session.sim is not None else []


def first_bad_step(result: RunResult):  # type: ignore[no-untyped-def]
    return next((s for s in result.steps if s.verdict in ("FAIL", "ERROR")), None)


def test_every_blueprint_fault_has_a_scenario() -> None:
    names = {s.name for s in SCENARIOS}
    assert {"psu_failure", "fan_failure", "pump_failure", "leak", "bmc_unreachable", "session_expiry",
            "snmp_packet_loss", "instrument_disconnect", "pdu_breaker_trip", "tray_fails_to_boot",
            "stuck_sensor"} <= names
    assert all(s.expect for s in SCENARIOS), "every scenario says what a run must show"


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_every_scenario_declares_injected_and_observed_evidence(scenario: FaultScenario) -> None:
    """Each expectation and each matrix cell, PASS included."""
    assert scenario.evidence_gaps() == []


def test_a_scenario_file_without_evidence_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bare.yaml"
    path.write_text("name: bare\ndescription: a fault with nothing to show for it\n"
                    "inject: [{target: twin, action: fail_psu, args: {psu: shelf1.psu3}}]\n"
                    "expect: [{plan: tests/plans/mini_probe.yaml, verdict: PASS}]\n"
                    "affects: {load_sweep: {verdict: FAIL, component: shelf1.psu3}}\n")
    assert load_scenario(str(path)).evidence_gaps() == [
        "expect[0] (tests/plans/mini_probe.yaml): no injected evidence (acted: the fault log entries it must leave)",
        "expect[0] (tests/plans/mini_probe.yaml): no observed evidence (component, retried or logged)",
        "affects.load_sweep: no injected evidence (acted: the fault log entries it must leave)"]
    path.write_text("name: bare\ndescription: x\ninject: [{target: twin, action: fail_psu, args: {psu: p}}]\n")
    assert load_scenario(str(path)).evidence_gaps() == ["no expectation and no matrix cell (expect, affects)"]


@pytest.mark.parametrize("plan", sorted({e.plan for _, e in CASES}))
def test_probe_plans_pass_without_faults(plan: str, tmp_path: Path) -> None:
    """The plan passes, nothing acts in the fault log, and no record a scenario names as its observed
    evidence on this plan (expectations and matrix cells) is in the healthy run's log."""
    result, entries = run_plan(plan, tmp_path, None)
    bad = first_bad_step(result)
    assert result.verdict == "PASS", (bad.name, bad.message, [m.describe() for m in bad.failures]) if bad else result
    assert entries == []
    log_text = (result.run_dir / "rackval.log").read_text(encoding="utf-8")
    loaded = load_plan(ROOT / plan, STEP_KINDS)
    declared = [(f"{s.name} expect", e.logged, None) for s, e in CASES if e.plan == plan]
    declared += [(c.id, c.effect.logged, f"step {c.step} (") for s in SCENARIOS if s.matrix_plan == plan
                 for c in matrix_cells(s, loaded)]
    found = [(where, line.describe()) for where, logged, applied in declared for line in logged
             if not unobserved([line], log_text, applied)]
    assert found == [], "a healthy run shows this too: it is no evidence of the fault"


@pytest.mark.parametrize(("scenario", "expect"), CASES, ids=[f"{s.name}-{Path(e.plan).stem}" for s, e in CASES])
def test_fault_scenario_gives_its_verdict(scenario: FaultScenario, expect: Expectation, tmp_path: Path) -> None:
    result, entries = run_plan(expect.plan, tmp_path, scenario.name)
    bad = first_bad_step(result)
    detail = (bad.name, bad.verdict, bad.message, [m.describe() for m in bad.failures]) if bad else None
    assert result.verdict == expect.verdict, detail
    assert result.safe_state is not None and result.safe_state.ok == expect.safe_state_reached, result.safe_state
    if expect.verdict != "PASS":
        assert bad is not None and bad.name == expect.step, detail
    assert evidence_problems(scenario, expect, result, entries, step=expect.step) == []


# A scenario per fault family whose hook is made to do nothing: the fault is armed (and, for the PASS
# ones, the verdict is still the expected PASS), but neither the injected nor the observed check passes.
DISABLED = [("session_expiry", RedfishFleet, "inject"), ("snmp_packet_loss", PduAgent, "set_faults"),
            ("instrument_disconnect", ScpiServer, "inject"), ("psu_failure", RackTwin, "fail_psu")]


@pytest.mark.parametrize(("name", "cls", "hook"), DISABLED, ids=[d[0] for d in DISABLED])
def test_a_scenario_whose_hook_does_nothing_fails_its_evidence(name: str, cls: type, hook: str, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    scenario = load_scenario(name)
    expect = scenario.expect[0]
    monkeypatch.setattr(cls, hook, lambda self, *args, **kwargs: None)
    result, entries = run_plan(expect.plan, tmp_path, scenario.name)
    if expect.verdict == "PASS":
        assert result.verdict == "PASS", "the verdict alone cannot tell a dead hook from a handled fault"
    injected = injected_problems(scenario, expect, entries)
    observed = observed_problems(expect, result, expect.step, None)
    assert injected and all(p.startswith("injected:") for p in injected), injected
    assert observed and all(p.startswith("observed:") for p in observed), observed
