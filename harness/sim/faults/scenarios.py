"""Fault scenarios: data files (``fixtures/faults/*.yaml``) that inject one fault into a simulated station.

A scenario names what to break and when, and what a plan run must then show (the verdict, the
step, the component the diagnosis names). Targets: the twin (physics: a PSU, fan, pump, leak,
sensor, breaker, a tray that does not boot), one simulator's own fault hook (a BMC that is
unreachable or slow, lost SNMP packets, an instrument that drops its connection), or the run's own
process (``sigint``: the operator's Ctrl-C at a simulated moment; ``sigstop``: the process freezes there, for a
test that then kills it; both for tests).

It also names its evidence, because a verdict alone (PASS above all) would follow just as well from a
hook that did nothing: ``acted``, the fault log entries that show the fault *injected* (it acted), and
per expectation and matrix cell what shows it *observed* (a diagnosis naming the component, a recorded
retry, records in the run's log). :meth:`FaultScenario.evidence_gaps` lists what is missing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from harness.config.plan import LoadedPlan
from harness.errors import ConfigError
from harness.paths import fixtures_dir
from harness.sim.faults.operator import SIGNALS
from harness.yaml_loader import field_line, load_model

if TYPE_CHECKING:
    from harness.sim.station import SimStation


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Injection(Strict):
    target: Literal["twin", "redfish", "snmp", "scpi", "process"]
    action: str = Field(description="twin method, the simulator's fault name, or (process) the signal: sigint, sigstop")
    device: str | None = Field(default=None, description="BMC, PDU or instrument name (simulator targets)")
    args: dict[str, Any] = Field(default_factory=dict)
    at_s: float = Field(default=0.0, ge=0, allow_inf_nan=False,
                        description="simulated seconds after the fault is applied (at the station's start, or just "
                                    "before a step in the fault matrix)")

    @model_validator(mode="after")
    def _fits_target(self) -> Injection:
        if self.target == "process" and (self.action not in SIGNALS or self.device or self.args):
            raise ValueError(f"a process fault is one of {sorted(SIGNALS)} with no device or args "
                             "(the operator's Ctrl-C: {target: process, action: sigint, at_s: N})")
        return self

    @property
    def fault(self) -> str:
        """Its name in the station's fault log."""
        return f"{self.target}.{self.action}"


class Acted(Strict):
    """*Injected* evidence: the station's fault log (``harness/sim/faults/log.py``) shows the fault acting
    (attributed to this scenario), not merely armed."""

    fault: str = Field(pattern=r"^(twin|redfish|snmp|scpi|process)\.\w+$",
                       description="<target>.<action> as logged: twin.fail_psu, redfish.unreachable, snmp.loss")
    device: str | None = Field(default=None, description="what it acted on, or a part of it (server01 covers "
                                                         "server01.fan1)")
    effect: str | None = Field(default=None, description="text of the logged effect, e.g. 'request dropped'")
    at_least: int = Field(default=1, ge=1, description="times it acted")

    def describe(self) -> str:
        return (self.fault + (f" on {self.device}" if self.device else "") + (f" ({self.effect})" if self.effect else "")
                + (f" x{self.at_least}" if self.at_least > 1 else ""))


class LogLine(Strict):
    """*Observed* evidence: a record of the run's log (rackval.log) written by the harness (the simulators
    log into the same file; their loggers, harness.sim.*, do not count). A plain string is ``{contains:
    [string]}``."""

    contains: list[str] = Field(min_length=1, description="texts one record must all hold")
    after_step: str | None = Field(default=None, description="only records after this step started (default: "
                                   "after the fault was applied), where a healthy run has none")

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, data: Any) -> Any:
        return {"contains": [data]} if isinstance(data, str) else data

    @property
    def after(self) -> str | None:
        """The text of the record from which on it counts (``Recorder.start_step`` logs it), if any."""
        return f"step {self.after_step} (" if self.after_step else None

    def describe(self) -> str:
        return " + ".join(repr(t) for t in self.contains) + (f" after {self.after_step} started" if self.after_step
                                                              else "")


class Evidence(Strict):
    """What shows that the fault was *injected* (``acted``: the fault log) and *observed* (the run shows it:
    a diagnosis naming the component, a recorded retry, lines in the run's log). Each expectation and each
    fault-matrix cell needs at least one of each, PASS included: a PASS alone would also follow from a
    fault hook that did nothing."""

    component: str | None = Field(default=None, description="named by the failing measurement or error")
    retried: bool = Field(default=False, description="passes only after a recorded retry")
    logged: list[LogLine] = Field(default_factory=list, description="records the run's log must hold: a recovery "
                                  "inside a driver, a wait, recorded there")
    acted: list[Acted] | None = Field(default=None, description="injected evidence; default: the scenario's")
    safe_state_reached: bool = Field(default=True, description="False where the fault itself prevents it "
                                                                "(a tripped breaker keeps its outlets dark)")

    def observations(self) -> list[str]:
        """The observed assertions this declares."""
        return ([f"a diagnosis naming {self.component}"] if self.component else []) + \
            (["a recorded retry"] if self.retried else []) + [f"run log: {line.describe()}" for line in self.logged]


class Expectation(Evidence):
    """What a run of ``plan`` on the faulty station must show."""

    plan: str
    verdict: Literal["PASS", "FAIL", "ERROR"]
    step: str | None = None


class StepEffect(Evidence):
    """What the fault does to a step of one kind when it is injected just before that step (a cell of the
    fault matrix, ``tests/test_fault_matrix.py``). The fault stays in for the rest of the run; ``retried``
    means a recorded retry of that step."""

    verdict: Literal["PASS", "FAIL", "ERROR"] = Field(description="the step's verdict")
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

    acted: list[Acted] = Field(default_factory=list, description="injected evidence every expectation and "
                               "matrix cell must show (unless it names its own)")

    def acted_for(self, evidence: Evidence) -> list[Acted]:
        return self.acted if evidence.acted is None else evidence.acted

    def evidence_gaps(self) -> list[str]:
        """What the scenario fails to declare: every expectation and matrix cell needs injected and observed
        evidence (``tests/test_faults_e2e.py`` refuses a scenario file with gaps)."""
        cases: list[tuple[str, Evidence]] = [(f"expect[{i}] ({e.plan})", e) for i, e in enumerate(self.expect)]
        cases += [(f"affects.{kind}", effect) for kind, effect in self.affects.items()]
        gaps = [] if cases else ["no expectation and no matrix cell (expect, affects)"]
        for where, ev in cases:
            if not self.acted_for(ev):
                gaps.append(f"{where}: no injected evidence (acted: the fault log entries it must leave)")
            if not ev.observations():
                gaps.append(f"{where}: no observed evidence (component, retried or logged)")
        return gaps

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


# A twin fault's argument that names a part of the rack -> what is it, and the names this rack has.
_PARTS: dict[str, tuple[str, Callable[[Any, dict[str, Any]], list[str]]]] = {
    "detector": ("leak detector", lambda twin, a: sorted(twin.leak_states())),
    "pump": ("pump", lambda twin, a: sorted(twin.pump_states())),
    "psu": ("PSU", lambda twin, a: sorted(twin.psus)),
    "tray_name": ("tray", lambda twin, a: sorted(twin.trays)),
    "pdu": ("PDU", lambda twin, a: sorted(twin.pdu_specs)),
    "branch": ("breaker", lambda twin, a: sorted(b.name for b in twin.pdu_specs[a["pdu"]].branches)
               if a.get("pdu") in twin.pdu_specs else []),
}


def check_fits(scenario: FaultScenario, twin: Any, path: Path, sku: str) -> None:
    """Refuse (ConfigError naming the fault, its line, and what this rack has) a scenario that names a
    part the simulated rack does not have, before anything of it is armed: a leak scenario written for
    nvl72's compute03 applied to the mini rack."""
    for i, inj in enumerate(scenario.inject):
        if inj.target != "twin":
            continue
        for arg, value in inj.args.items():
            if arg not in _PARTS:
                continue
            what, has = _PARTS[arg]
            names = has(twin, inj.args)
            if str(value) in names:
                continue
            written = f" (written for the {scenario.profile} rack)" if scenario.profile != sku else ""
            raise ConfigError(str(path), field_line(path, "inject", i, "args", arg), f"inject[{i}].args.{arg}",
                              f"fault scenario {scenario.name!r}{written} names {what} {value!r}, which this {sku} "
                              f"rack does not have (it has: {', '.join(names) or 'none'})")


def apply(station: SimStation, scenario: FaultScenario, *, resumed: bool = False) -> None:
    """Inject every fault of the scenario, each ``at_s`` from now (twin faults on the twin's schedule, the
    others on a timer of the run's clock: :mod:`harness.sim.faults.timer`). Called at the station's start
    (``--fault``), or between two steps to aim the fault at the next one (the matrix). A resumed session
    gets the rack's faults again but not the operator's Ctrl-C: that belonged to the session it ended."""
    twin = station.twin
    for inj in scenario.inject:
        if inj.target == "process":
            if not resumed:
                station.fault_log.arm(scenario.name, inj.fault)
                station.at(inj.at_s, lambda a=inj.action: station.signal(a), inj.fault)
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
        if inj.at_s > 0:
            station.at(inj.at_s, lambda h=hook, i=inj: h(i.action, **i.args), f"{inj.fault}@{inj.device}")
        else:
            hook(inj.action, **inj.args)
