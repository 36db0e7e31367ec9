"""Plan (ordered steps with parameters) and envelope (limits as data) files."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from harness.errors import ConfigError
from harness.yaml_loader import DOCUMENT, config_error, line_of, load_model, read_yaml, to_plain, validate


class Strict(BaseModel):
    # no NaN or infinity anywhere: a NaN limit never fails, an infinite dwell or timeout never ends
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Limit(Strict):
    """One limit. ``min``/``max`` are inclusive; a limit needs at least one."""

    min: float | None = None
    max: float | None = None
    unit: str = ""
    source: str = Field(default="proposed", description="where the number comes from")

    @model_validator(mode="after")
    def _has_bound(self) -> Limit:
        if self.min is None and self.max is None:
            raise ValueError("a limit needs min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self


class Envelope(Strict):
    sku: str
    version: str = "1"
    limits: dict[str, Limit] = Field(min_length=1)


class SafeState(Strict):
    """Where every run leaves the rack, on success, failure, Ctrl-C or timeout."""

    loads: Literal["off"] = "off"
    hosts: Literal["on", "off", "unchanged"] = "off"
    outlets: Literal["on", "off"] = "on"


class Retry(Strict):
    """Declared retries: every attempt is recorded; none is silent.

    ``on``: ``transient`` retries an attempt that ended in a transient driver error (timeout, BMC
    rebooting, SNMP loss); ``fail`` also retries an attempt whose checks failed.
    """

    attempts: int = Field(ge=1, le=10)
    on: list[Literal["transient", "fail"]] = Field(default=["transient"], min_length=1)


class StepBase(Strict):
    """Fields every step kind has."""

    kind: str
    name: str = ""
    timeout_s: float = Field(default=3600.0, gt=0, description="deadline for the whole step (simulated or real s)")
    retry: Retry | None = None

    @property
    def title(self) -> str:
        return self.name or self.kind


class Telemetry(Strict):
    """Background sampling while the plan runs (seconds between samples, per source)."""

    analyzer_s: float = Field(default=5.0, gt=0)
    pdus_s: float = Field(default=10.0, gt=0)
    bmc_power_s: float = Field(default=10.0, gt=0)
    bmc_sensors_s: float = Field(default=30.0, gt=0)
    cooling_s: float = Field(default=30.0, gt=0)
    enabled: bool = True


class Plan(Strict):
    name: str
    description: str = ""
    profile: str | None = Field(default=None, description="the rack SKU the plan is written for")
    envelope: str = Field(description="envelope file, relative to the plan")
    safe_state: SafeState = SafeState()
    stop_on_fail: bool = True
    telemetry: Telemetry = Telemetry()
    steps: list[Any] = Field(min_length=1)


class LoadedPlan:
    """A validated plan with its envelope, their paths and their hashes (recorded with each run)."""

    def __init__(self, plan: Plan, steps: list[StepBase], envelope: Envelope, path: Path, envelope_path: Path) -> None:
        self.plan, self.steps, self.envelope = plan, steps, envelope
        self.path, self.envelope_path = path, envelope_path
        self.plan_sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
        self.envelope_sha256 = hashlib.sha256(envelope_path.read_bytes()).hexdigest()

    @property
    def name(self) -> str:
        return self.plan.name


def is_plan_file(path: Path) -> bool:
    """Cheap test used by the pytest collector: a YAML mapping with a ``steps`` list."""
    try:
        node = read_yaml(path)
    except ConfigError:
        return path.parent.name == "test_plans"  # broken plans still get collected, to report them
    return isinstance(node, dict) and "steps" in node


class StepCatalog(Protocol):
    """The step kinds a plan may use (harness.steps.STEP_KINDS); handed in, so configuration does
    not depend on the kinds."""

    def names(self) -> list[str]: ...
    def validate_steps(self, data: Any) -> list[StepBase]: ...


def load_plan(path: Path, kinds: StepCatalog) -> LoadedPlan:
    """Load and validate a plan (its steps against ``kinds``) and the envelope it names; errors point at
    file:line:field."""
    path = Path(path)
    node = read_yaml(path)
    if node is None or not isinstance(node, dict):
        raise ConfigError(str(path), 1, DOCUMENT, "expected a plan (a mapping with name, envelope and steps)")
    plain = to_plain(node)
    plan = validate(Plan, plain, name=str(path), node=node)
    try:
        steps = kinds.validate_steps(plain["steps"])
    except ValidationError as exc:
        raise config_error(exc, name=str(path), data=plain, node=node, prefix=("steps",),
                           tag_names=kinds.names()) from None
    names = [s.title for s in steps]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup:
        idx = len(names) - 1 - names[::-1].index(dup)
        raise ConfigError(str(path), line_of(node, ("steps", idx)), f"steps[{idx}].name",
                          f"step name {dup!r} is used twice; give each step a unique name")
    env_path = (path.parent / plan.envelope).resolve()
    if not env_path.is_file():  # the plan is what is wrong: point at its envelope line
        raise ConfigError(str(path), line_of(node, ("envelope",)), "envelope", f"no such file: {env_path}")
    envelope = load_model(Envelope, env_path)
    return LoadedPlan(plan, steps, envelope, path, env_path)
