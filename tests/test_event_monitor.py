"""The run's event monitor and the cycling steps' event checks, end to end on the simulated mini station:
a critical SEL entry during a DC cycle fails it naming the detector; the inrush peak is judged against
its limit (FAIL above it) and is SKIP without an analyzer; a failing run's event records are the same run
after run (the SEL decides, not when SSE arrived)."""

from __future__ import annotations

from pathlib import Path

from harness.config.plan import load_plan
from harness.run.options import RunOptions, RunResult
from harness.run.session import RunSession
from harness.steps import STEP_KINDS

ROOT = Path(__file__).resolve().parent.parent
ENVELOPE = (ROOT / "tests/plans/envelopes/mini_probe.yaml").read_text(encoding="utf-8")


def write_plan(tmp_path: Path, steps: str, envelope: str = ENVELOPE) -> Path:
    (tmp_path / "env.yaml").write_text(envelope, encoding="utf-8")
    plan = tmp_path / "plan.yaml"
    plan.write_text(f"name: events_probe\nprofile: mini\nenvelope: env.yaml\n"
                    f"telemetry: {{enabled: false}}\nsteps:\n{steps}", encoding="utf-8")
    return plan


def run(plan: Path, tmp_path: Path, *, before=None, fault: str | None = None) -> RunResult:  # type: ignore[no-untyped-def]
    session = RunSession(load_plan(plan, STEP_KINDS), RunOptions(sim=True, seed=5, rack_serial="SIM-0001", operator="ci",
                                                     out_dir=tmp_path / "run", store_url=f"sqlite:///{tmp_path}/r.db",
                                                     fault=fault, yes=True))
    try:
        session.open()
        if before is not None:
            before(session)
        for i in range(len(session.step_names)):
            session.run_step(i)
    finally:
        result = session.finish()
    return result


def step(result: RunResult, name: str):  # type: ignore[no-untyped-def]
    return next(s for s in result.steps if s.name == name)


def test_critical_sel_entry_during_a_dc_cycle_fails_it(tmp_path: Path) -> None:
    plan = write_plan(tmp_path, "  - {kind: dc_cycle, cycles: 3}\n")

    def leak_in_second_cycle(session: RunSession) -> None:
        twin = session.sim.twin
        twin.after(40.0, lambda: twin.set_leak("compute02.coldplate", "Critical"))

    result = run(plan, tmp_path, before=leak_in_second_cycle)
    dc = step(result, "dc_cycle")
    assert result.verdict == "FAIL" and dc.verdict == "FAIL"
    sel_fails = [m for m in dc.failures if m.name == "sel_no_new_critical"]
    assert [m.component for m in sel_fails] == ["compute02.coldplate"]
    assert "LeakDetectedCritical" in str(sel_fails[0].meta["message"]) and sel_fails[0].meta["bmc"] == "compute02"
    cycles_passed = [m.meta["cycle"] for m in dc.measurements if m.name == "sel_no_new_critical" and m.verdict == "PASS"]
    assert cycles_passed and max(cycles_passed) < sel_fails[0].meta["cycle"]  # type: ignore[operator]
    assert any(m.name == "no_critical_event" and m.component == "compute02.coldplate" for m in dc.failures)


def test_clean_dc_cycle_passes_its_sel_checks(tmp_path: Path) -> None:
    result = run(write_plan(tmp_path, "  - {kind: dc_cycle, cycles: 2}\n"), tmp_path)
    dc = step(result, "dc_cycle")
    assert result.verdict == "PASS", [m.describe() for m in dc.failures]
    checks = [m for m in dc.measurements if m.name == "sel_no_new_critical"]
    assert [(m.meta["cycle"], m.verdict) for m in checks] == [(1, "PASS"), (2, "PASS")]


def test_inrush_above_its_limit_fails_the_ac_cycle(tmp_path: Path) -> None:
    low = ENVELOPE.replace("inrush_peak_a: {max: 80, unit: A}", "inrush_peak_a: {max: 20, unit: A}")
    assert low != ENVELOPE
    result = run(write_plan(tmp_path, "  - {kind: ac_cycle, cycles: 1, off_s: 5}\n", low), tmp_path)
    ac = step(result, "ac_cycle")
    inrush = [m for m in ac.measurements if m.name == "inrush_peak_a"]
    assert len(inrush) == 1 and inrush[0].verdict == "FAIL" and inrush[0].component == "pdu1 inlet"
    assert 40.0 < float(inrush[0].value) < 80.0  # one 5.5 kW PSU's inrush on top of the steady peak
    assert result.verdict == "FAIL"


def test_station_without_analyzer_records_inrush_as_skip(tmp_path: Path) -> None:
    def no_analyzer(session: RunSession) -> None:
        session.rack.instruments.meter = None  # type: ignore[union-attr]

    result = run(write_plan(tmp_path, "  - {kind: ac_cycle, cycles: 1, off_s: 5}\n"), tmp_path, before=no_analyzer)
    ac = step(result, "ac_cycle")
    skipped = [m for m in ac.measurements if m.name == "inrush_peak_a"]
    assert [m.verdict for m in skipped] == ["SKIP"] and "no power analyzer" in str(skipped[0].meta["message"])
    assert ac.verdict == "PASS"
    assert step(result, "envelope_coverage").verdict == "FAIL"  # never measured: the envelope says so


def test_failing_run_event_records_are_reproducible(tmp_path: Path) -> None:
    plan = ROOT / "tests/plans/mini_probe.yaml"
    seen = []
    for k in range(2):
        result = run(plan, tmp_path / str(k), fault="leak_during_ac_cycle")
        ac = step(result, "ac_cycle")
        seen.append(sorted((m.name, m.component, str(m.meta.get("message", ""))) for m in ac.failures))
    assert seen[0] == seen[1]
    assert {c for _, c, _ in seen[0]} == {"compute01.coldplate"}
    assert {n for n, _, _ in seen[0]} == {"sel_no_new_critical", "no_critical_event"}


def test_what_counts_as_a_step_failing_event() -> None:
    from harness.stepkit.event_policy import counts

    assert counts("LeakDetectedWarning", "Warning") and counts("LeakDetectedCritical", "Critical")
    assert counts("TemperatureAboveUpperCriticalThreshold", "Critical") and counts("PowerSupplyFailed", "Critical")
    assert not counts("PowerSupplyFailed", "Critical", frozenset({"PowerSupplyFailed"}))  # declared expected
    assert not counts("TemperatureAboveUpperCautionThreshold", "Warning")
    assert not counts("LossOfInputPower", "Warning") and not counts("ResourcePoweredOff", "OK")
    assert not counts("LeakDetectedNormal", "OK")
