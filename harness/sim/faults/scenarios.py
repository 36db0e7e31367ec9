"""Fault scenarios: data files (``fixtures/faults/*.yaml``) that inject one fault into a simulated station.

A scenario names what to break and when, and what a plan run must then show (the verdict, the
step, the component the diagnosis names). Targets: the twin (physics: a PSU, fan, pump, leak,
sensor, breaker, a tray that does not boot), or one simulator's own fault hook (a BMC that is
unreachable or slow, lost SNMP packets, an instrument that drops its connection).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from harness.config.plan import LoadedPlan
from harness.errors import ConfigError
from harness.paths import fixtures_dir
from harness.sim.faults.operator import SIGNALS
from harness.yaml_loader import load_model

if TYPE_CHECKING:
    from harness.sim.station import SimStation


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Injection(Strict):
    target: Literal["twin", "redfish", "snmp", "scpi", "process"]
    action: str = Field(description="twin method, the simulator's fault name, or (process) the signal: sigint")
    device: str | None = Field(default=None, description="BMC, PDU or instrument name (simulator targets)")
    args: dict[str, Any] = Field(default_factory=dict)
    at_s: float = Field(default=0.0, ge=0, allow_inf_nan=False,
                        description="simulated seconds after the fault is applied (at the station's start, or just "
                                    "before a step in the fault matrix); twin and process targets only")

    @model_validator(mode="after")
    def _fits_target(self) -> Injection:
        if self.target == "process" and (self.action not in SIGNALS or self.device or self.args):
            raise ValueError(f"a process fault is one of {sorted(SIGNALS)} with no device or args "
                             "(the operator's Ctrl-C: {target: process, action: sigint, at_s: N})")
        if self.at_s > 0 and self.target not in ("twin", "process"):
            raise ValueError("simulator faults are injected when applied (at_s: 0)")
        return self

    @property
    def fault(self) -> str:
        """Its name in the station's fault log."""
        return f"{self.target}.{self.action}"


class Expectation(Strict):
    """What a run of ``plan`` on the faulty station must show."""

    plan: str
    verdict: Literal["PASS", "FAIL", "ERROR"]
    step: str | None = None
    component: str | None = Field(default=None, description="named by the failing measurement or error")
    retried: bool = Field(default=False, description="passes only after a recorded retry")
    log_contains: str | None = Field(default=None, description="a line the run's log (rackval.log) must hold: "
                                                               "a recovery inside a driver, recorded there")
    safe_state_reached: bool = Field(default=True, description="False where the fault itself prevents it "
                                                                "(a tripped breaker keeps its outlets dark)")


class StepEffect(Strict):
    """What the fault does to a step of one kind when it is injected just before that step (a cell of the
    fault matrix, ``tests/test_fault_matrix.py``). The fault stays in for the rest of the run."""

    verdict: Literal["PASS", "FAIL", "ERROR"] = Field(description="the step's verdict")
    component: str | None = Field(default=None, description="named by the failing measurement or error")
    retried: bool = Field(default=False, description="passes only after a recorded retry of the step")
    safe_state_reached: bool = True
    known_issue: str | None = Field(default=None, description="the harness does not do this yet: why (the "
                                                              "matrix expects the cell to fail until it is fixed)")

    @property
    def run_verdict(self) -> str:
        """The run's verdict that follows (stop_on_fail: a failing step ends the plan; an unverified safe
        state makes any run ERROR)."""
        return "ERROR" if self.verdict == "ERROR" or not self.safe_state_reached else self.verdict


class FaultScenario(Strict):
    name: str
    description: str
    profile: str = "mini"
    inject: list[Injection] = Field(min_length=1)
    expect: list[Expectation] = Field(default_factory=list)
    affects: dict[str, StepEffect] = Field(
        default_factory=dict, description="step kind -> what the fault does to a step of that kind when "
                                          "injected just before it (kinds it cannot affect are left out)")

    @property
    def matrix_plan(self) -> str | None:
        """The probe plan the fault matrix runs this scenario on (that of its first expectation)."""
        return self.expect[0].plan if self.expect else None


@dataclass(frozen=True)
class MatrixCell:
    """One fault injected just before one step of a plan."""

    scenario: FaultScenario
    plan: str
    step_index: int
    step: str  # the step's title
    kind: str
    effect: StepEffect

    @property
    def id(self) -> str:
        return f"{self.scenario.name}@{self.step}"


def matrix_cells(scenario: FaultScenario, plan: LoadedPlan) -> list[MatrixCell]:
    """Every step of ``plan`` whose kind the scenario says it can affect."""
    return [MatrixCell(scenario, str(plan.path), i, step.title, step.kind, scenario.affects[step.kind])
            for i, step in enumerate(plan.steps) if step.kind in scenario.affects]


def scenario_path(name_or_path: str) -> Path:
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml"):
        return p
    return fixtures_dir() / "faults" / f"{name_or_path}.yaml"


def load_scenario(name_or_path: str) -> FaultScenario:
    path = scenario_path(name_or_path)
    if not path.exists():
        known = sorted(q.stem for q in (fixtures_dir() / "faults").glob("*.yaml"))
        raise ConfigError(str(path), None, "fault", f"unknown fault scenario {name_or_path!r} (known: {', '.join(known)})")
    return load_model(FaultScenario, path)


def all_scenarios() -> list[FaultScenario]:
    return [load_scenario(str(p)) for p in sorted((fixtures_dir() / "faults").glob("*.yaml"))]


def apply(station: SimStation, scenario: FaultScenario, *, resumed: bool = False) -> None:
    """Inject every fault of the scenario (twin and process faults ``at_s`` from now, the others at once).
    Called at the station's start (``--fault``), or between two steps to aim the fault at the next one
    (the matrix). A resumed session gets the rack's faults again but not the operator's Ctrl-C: that
    belonged to the session it ended."""
    twin = station.twin
    for inj in scenario.inject:
        if inj.target == "process":
            if not resumed:
                station.fault_log.arm(scenario.name, inj.fault)
                station.signal_at(inj.action, inj.at_s)
            continue
        station.fault_log.arm(scenario.name, inj.fault, inj.device)
        if inj.target == "twin":
            method = getattr(twin, inj.action, None)
            if method is None or inj.action.startswith("_"):
                raise ConfigError(scenario.name, None, "inject.action", f"the twin has no fault {inj.action!r}")
            if inj.at_s > 0:
                twin.after(inj.at_s, lambda m=method, a=inj.args: m(**a))
            else:
                method(**inj.args)
            continue
        hook = station.fault_hook(inj.target, inj.device)
        hook(inj.action, **inj.args)
