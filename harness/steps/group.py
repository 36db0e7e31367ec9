"""group: several steps run as one, so a declared retry can wrap them together (for example
"power-cycle, then re-measure"). The group's verdict is the verdict of everything measured inside;
it checks the limits its children check and expects the events they expect."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from harness.config.plan import StepBase
from harness.stepkit.context import StepContext
from harness.stepkit.kind import StepKind
from harness.stepkit.registry import CONTEXT_KEY, StepKinds


class Params(StepBase):
    kind: Literal["group"]
    steps: list[Any] = Field(min_length=1)

    @field_validator("steps")
    @classmethod
    def _validate_children(cls, v: list[Any], info: ValidationInfo) -> list[Any]:
        kinds = (info.context or {}).get(CONTEXT_KEY)
        if not isinstance(kinds, StepKinds):
            raise ValueError("a group's steps are validated with the plan (harness.config.plan.load_plan)")
        return kinds.validate_steps(v)


class Group(StepKind[Params]):
    name = "group"
    Params = Params

    def planned_s(self, p: Params, kinds: StepKinds) -> float:
        return sum(kinds.planned_s(child) for child in p.steps)

    def run(self, ctx: StepContext, p: Params) -> None:
        assert ctx.kinds is not None, "the runner hands the step-kind registry to the context"
        for child in p.steps:
            ctx.check_deadline()
            ctx.log(f"group {p.title}: {child.title}")
            ctx.kinds[child.kind].run(ctx, child)
            if ctx.failed:
                return

    def limits_of(self, params: Params, kinds: StepKinds) -> frozenset[str]:
        return frozenset().union(*(kinds.limits_of(child) for child in params.steps))

    def events_expected_by(self, params: Params, kinds: StepKinds) -> frozenset[str]:
        return frozenset().union(*(kinds.events_expected_by(child) for child in params.steps))
