"""The L11 plans on the simulated station: nvl72_l11 passes, covers at least three hours of rack time,
and gives identical measurement records when run twice with the same seed; hgx8_air_l11 passes."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.config.plan import load_plan
from harness.run.options import RunOptions
from harness.run.session import RunSession
from harness.steps import STEP_KINDS

ROOT = Path(__file__).resolve().parent.parent


def run(plan: str, tmp_path: Path, seed: int) -> tuple[str, float, list[tuple[object, ...]]]:
    session = RunSession(load_plan(ROOT / "test_plans" / plan, STEP_KINDS),
                         RunOptions(sim=True, seed=seed, rack_serial="SIM-1", operator="ci", out_dir=tmp_path / "run",
                                    store_url=f"sqlite:///{tmp_path}/results.db", yes=True))
    try:
        session.open()
        for i in range(len(session.step_names)):
            session.run_step(i)
        simulated = session.clock.now()
    finally:
        result = session.finish()
    records = [(s.name, m.name, m.value, m.unit, m.component, m.verdict, m.t)
               for s in result.steps for m in s.measurements]
    return result.verdict, simulated, records


@pytest.mark.slow
def test_nvl72_l11_passes_and_is_reproducible(tmp_path: Path) -> None:
    verdict, simulated, first = run("nvl72_l11.yaml", tmp_path / "a", seed=7)
    assert verdict == "PASS"
    assert simulated >= 3 * 3600
    assert len(first) > 1000
    _, _, second = run("nvl72_l11.yaml", tmp_path / "b", seed=7)
    assert first == second


@pytest.mark.slow
def test_hgx8_air_l11_passes(tmp_path: Path) -> None:
    verdict, simulated, records = run("hgx8_air_l11.yaml", tmp_path, seed=3)
    assert verdict == "PASS", [r for r in records if r[5] == "FAIL"][:5]
    assert simulated >= 2 * 3600
