"""Fault scenarios: data files (``fixtures/faults/*.yaml``) that inject one fault into a simulated station.

A scenario names what to break and when, and what a plan run must then show (the verdict, the
step, the component the diagnosis names). Targets: the twin (physics: a PSU, fan, pump, leak,
sensor, breaker, a tray that does not boot), or one simulator's own fault hook (a BMC that is
unreachable or slow, lost SNMP packets, an instrument that drops its connection).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from harness.config.loader import load_model
from harness.errors import ConfigError
from harness.paths import fixtures_dir

if TYPE_CHECKING:
    from harness.sim.station import SimStation


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Injection(Strict):
    target: Literal["twin", "redfish", "snmp", "scpi"]
    action: str = Field(description="twin method, or the simulator's fault name")
    device: str | None = Field(default=None, description="BMC, PDU or instrument name (simulator targets)")
    args: dict[str, Any] = Field(default_factory=dict)
    at_s: float = Field(default=0.0, ge=0, description="simulated seconds after the station starts")


class Expectation(Strict):
    """What a run of ``plan`` on the faulty station must show."""

    plan: str
    verdict: Literal["PASS", "FAIL", "ERROR"]
    step: str | None = None
    component: str | None = Field(default=None, description="named by the failing measurement or error")
    retried: bool = Field(default=False, description="passes only after a recorded retry")
    safe_state_reached: bool = Field(default=True, description="False where the fault itself prevents it "
                                                                "(a tripped breaker keeps its outlets dark)")


class FaultScenario(Strict):
    name: str
    description: str
    profile: str = "mini"
    inject: list[Injection] = Field(min_length=1)
    expect: list[Expectation] = Field(default_factory=list)


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


def apply(station: SimStation, scenario: FaultScenario) -> None:
    """Inject every fault of the scenario (twin faults at their simulated time, the others at once)."""
    twin = station.twin
    for inj in scenario.inject:
        if inj.target == "twin":
            method = getattr(twin, inj.action, None)
            if method is None or inj.action.startswith("_"):
                raise ConfigError(scenario.name, None, "inject.action", f"the twin has no fault {inj.action!r}")
            if inj.at_s > 0:
                twin.after(inj.at_s, lambda m=method, a=inj.args: m(**a))
            else:
                method(**inj.args)
            continue
        if inj.at_s > 0:
            raise ConfigError(scenario.name, None, "inject.at_s", "simulator faults are injected at start (at_s: 0)")
        hook = station.fault_hook(inj.target, inj.device)
        hook(inj.action, **inj.args)
