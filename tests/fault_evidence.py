"""Judging a fault scenario's evidence on a finished run, for tests/test_faults_e2e.py and
tests/test_fault_matrix.py: the fault was *injected* (it acted: the station's fault log) and *observed*
(the run shows it: a diagnosis naming the component, a recorded retry, records in the run's log)."""

from __future__ import annotations

import logging

import pytest

from harness.results.recorder import StepRecord
from harness.run.options import RunResult
from harness.sim.faults.evidence import unacted, unobserved
from harness.sim.faults.log import FaultActed
from harness.sim.faults.scenarios import Evidence, FaultScenario


@pytest.fixture
def harness_loggers_enabled() -> None:
    """The run's log is evidence, so the harness's loggers must write to it. tests/test_architecture.py
    runs import-linter in process, whose logging.config.dictConfig disables every logger that existed
    then (disable_existing_loggers defaults to True): a later run in the same pytest process would miss
    its driver records. Turn them back on."""
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if isinstance(logger, logging.Logger) and name.split(".")[0] in ("harness", "rackval"):
            logger.disabled = False


def names_component(step: StepRecord, component: str) -> bool:
    texts = [m.component or "" for m in step.failures] + [m.describe() for m in step.failures] + [step.message]
    return any(component in t for t in texts)


def injected_problems(scenario: FaultScenario, evidence: Evidence, entries: list[FaultActed]) -> list[str]:
    return unacted(scenario.acted_for(evidence), entries, scenario.name)


def observed_problems(evidence: Evidence, result: RunResult, step: str | None, applied: str | None) -> list[str]:
    """What the run fails to show. ``step``: the step the fault is aimed at (None: any); ``applied``: the
    run-log record from which on the fault was in (None: from the start)."""
    problems = []
    steps = [s for s in result.steps if step is None or s.name == step]
    if evidence.component:
        bad = [s for s in steps if s.verdict in ("FAIL", "ERROR")]
        if not any(names_component(s, evidence.component) for s in bad):
            problems.append(f"observed: no failing {step or 'step'} names {evidence.component} "
                            f"({[(s.name, s.verdict, s.message) for s in bad]})")
    if evidence.retried and not any(len(s.attempts) > 1 for s in steps):
        problems.append(f"observed: no recorded retry of {step or 'any step'}")
    log_text = (result.run_dir / "rackval.log").read_text(encoding="utf-8")
    return problems + unobserved(evidence.logged, log_text, applied)


def evidence_problems(scenario: FaultScenario, evidence: Evidence, result: RunResult, entries: list[FaultActed],
                      *, step: str | None = None, applied: str | None = None) -> list[str]:
    return injected_problems(scenario, evidence, entries) + observed_problems(evidence, result, step, applied)
