"""The fault matrix: every fault scenario in fixtures/faults/ against every step it can affect.

Which steps a scenario can affect, and what it must then do to the step, is data: the scenario's
``affects`` (step kind -> verdict, component, retried, safe state), never computed from the result.
A cell injects the fault just before one step of the scenario's probe plan (the earlier steps run on
a healthy rack) and leaves it in for the rest of the run. For each cell:

- the run ends: in a wall-time guard (the cell runs on a thread; a cell still running after
  ``GUARD_S`` fails as hung) and within its deadline on the run's clock (every step's ``timeout_s``
  plus the bound of the safe state);
- the step gets the verdict the scenario names, with a diagnosis naming the component (a FAIL or
  ERROR stops the plan there), or passes, after a recorded retry where the scenario says so;
- the fault was injected and observed, PASS included: the station's fault log shows it acting as the
  scenario's ``acted`` says, and the run shows what the cell declares (diagnosis, retry, run-log records
  written after the fault was applied; tests/test_faults_e2e.py shows a healthy run holds none of them);
- the safe state is reached and verified by readback, or not where the scenario says the fault
  itself prevents it;
- the store holds every measurement the run's sink was handed (same step, attempt, name, component,
  value and verdict, in order).

The table of cells (scenario rows x step columns) is printed at the end of the session
(tests/fault_matrix_summary.py, also under pytest-xdist).
"""

from __future__ import annotations

import math
import sqlite3
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fault_evidence import evidence_problems, harness_loggers_enabled, names_component

from harness.config.plan import load_plan
from harness.envelopes import Measurement
from harness.run.options import RunOptions, RunResult
from harness.run.session import RunSession
from harness.safety import PHASE_S
from harness.sim.faults.log import FaultActed
from harness.sim.faults.scenarios import MatrixCell, all_scenarios, matrix_cells
from harness.steps import STEP_KINDS

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.usefixtures(harness_loggers_enabled.__name__)  # tests/fault_evidence.py
GUARD_S = 300.0  # wall seconds, a hang guard only: a cell takes 1-12 s on a quiet machine, several times that loaded
SCENARIOS = all_scenarios()
PLANS = {s.matrix_plan: load_plan(ROOT / s.matrix_plan, STEP_KINDS) for s in SCENARIOS if s.matrix_plan}
CELLS = [c for s in SCENARIOS if s.matrix_plan for c in matrix_cells(s, PLANS[s.matrix_plan])]


@dataclass
class CellRun:
    result: RunResult | None = None
    sim_end_s: float = 0.0
    deadline_s: float = 0.0
    seen: list[tuple[str, int, Measurement]] = field(default_factory=list)  # (step, attempt, measurement)
    fault_log: list[FaultActed] = field(default_factory=list)  # what the fault did (the station's fault log)
    error: BaseException | None = None


def run_cell(cell: MatrixCell, tmp_path: Path, out: CellRun) -> None:
    """The plan with the fault injected just before the cell's step (on this thread: the run's clock is
    built here, so this thread is its participant)."""
    plan = PLANS[cell.scenario.matrix_plan]
    session = RunSession(plan, RunOptions(sim=True, seed=11, rack_serial="SIM-0001", operator="ci",
                                          out_dir=tmp_path / "run", store_url=f"sqlite:///{tmp_path}/r.db", yes=True))
    try:
        try:
            session.open()
            recorder = session.recorder
            assert recorder is not None and session.sim is not None
            sink = recorder.measurement

            def spy(m: Measurement) -> None:  # what the run's sink is handed, before the store sees it
                step = recorder.steps[-1]
                out.seen.append((step.name, len(step.attempts), m))
                sink(m)

            recorder.measurement = spy  # type: ignore[method-assign]
            for i in range(len(session.step_names)):
                if i == cell.step_index:
                    session.sim.apply_fault(cell.scenario.name)
                session.run_step(i)
        finally:
            out.result = session.finish()
            out.sim_end_s = session.clock.now()
            out.fault_log = session.sim.fault_log.entries() if session.sim is not None else []
    except BaseException as exc:  # noqa: BLE001 - reported by the test's thread
        out.error = exc


def stored(db: Path, run_id: str) -> list[tuple[str, int, str, str | None, str, object]]:
    rows = sqlite3.connect(db).execute(
        "select s.name, a.number, m.name, m.component, m.verdict, m.value, m.value_text from measurements m "
        "join steps s on s.id = m.step_id join attempts a on a.id = m.attempt_id where m.run_id = ? order by m.id",
        (run_id,)).fetchall()
    return [(st, n, name, comp, verdict, text if text is not None else value)
            for st, n, name, comp, verdict, value, text in rows]


def as_stored(step: str, attempt: int, m: Measurement) -> tuple[str, int, str, str | None, str, object]:
    v = m.value
    value: object = str(v) if isinstance(v, (bool, str)) else float(v)
    if isinstance(value, float) and math.isnan(value):
        value = None  # SQLite keeps no NaN (the stored row has NULL)
    return (step, attempt, m.name, m.component, m.verdict, value)


def params() -> list[object]:
    """Cells whose scenario names a known issue must fail (strict xfail), until the harness does it. The
    fault_matrix_cell mark puts the cell in the session's table (tests/fault_matrix_summary.py)."""
    return [pytest.param(c, id=c.id, marks=[pytest.mark.fault_matrix_cell(c.scenario.name, c.kind)]
                         + ([pytest.mark.xfail(strict=True, reason=c.effect.known_issue)] if c.effect.known_issue
                            else [])) for c in CELLS]


def test_every_scenario_is_in_the_matrix() -> None:
    """A new scenario file without ``affects`` (or without a probe plan) would silently stay out of the matrix."""
    missing = [s.name for s in SCENARIOS if not s.matrix_plan or not s.affects]
    assert not missing, f"fault scenarios outside the matrix: {missing}"


@pytest.mark.parametrize("cell", params())
def test_fault_matrix_cell(cell: MatrixCell, tmp_path: Path) -> None:
    out = CellRun()
    worker = threading.Thread(target=run_cell, args=(cell, tmp_path, out), name=f"cell-{cell.id}", daemon=True)
    worker.start()
    worker.join(GUARD_S)
    assert not worker.is_alive(), f"{cell.id}: the run did not end within {GUARD_S:g} s of wall time (hung)"
    if out.error is not None:
        raise out.error
    result = out.result
    assert result is not None
    effect = cell.effect
    plan = PLANS[cell.scenario.matrix_plan]
    deadline = sum(s.timeout_s for s in plan.steps) + PHASE_S
    assert out.sim_end_s <= deadline, f"run clock at {out.sim_end_s:.0f} s, past its deadline {deadline:.0f} s"

    steps = {s.name: s for s in result.steps}
    target = steps[cell.step]
    bad = [s for s in result.steps if s.verdict in ("FAIL", "ERROR")]
    detail = [(s.name, s.verdict, s.message, [m.describe() for m in s.failures]) for s in bad]
    assert target.verdict == effect.verdict, detail
    assert result.verdict == effect.run_verdict, detail
    if effect.verdict == "PASS":
        assert not bad, detail
        if effect.retried:
            assert len(target.attempts) > 1, "a transient fault must show as a recorded retry"
    else:
        assert [s.name for s in bad] == [cell.step], "the fault shows at the step it was aimed at, and stops the plan"
        assert effect.component and names_component(target, effect.component), detail

    evidence = evidence_problems(cell.scenario, effect, result, out.fault_log, step=cell.step,
                                 applied=f"step {cell.step} (")  # Recorder.start_step: just after the fault
    assert evidence == [], "\n".join(evidence)

    report = result.safe_state
    assert report is not None and report.outcomes
    assert report.ok == effect.safe_state_reached, report.outcomes
    if effect.safe_state_reached:
        assert all(o.detail == "verified" for o in report.outcomes), report.outcomes

    db = tmp_path / "r.db"
    want = [as_stored(step, n, m) for step, n, m in out.seen]
    assert want, "the run measured something"
    assert stored(db, result.run_id) == want, "the store holds every measurement the run took"
    checks = [m for step, _, m in out.seen if step == "safe_state"]
    assert [(m.component, m.value) for m in checks] == [(o.name, o.ok) for o in report.outcomes]
