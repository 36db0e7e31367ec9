"""group: several steps run as one, so a declared retry can wrap them together (for example
"power-cycle, then re-measure"). The group's verdict is the verdict of everything measured inside."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from harness.config.plan import StepBase
from harness.steps.base import StepContext

LIMITS: tuple[str, ...] = ()  # the union of its children, see harness.envelopes.limits_of


class Params(StepBase):
    kind: Literal["group"]
    steps: list[Any] = Field(min_length=1)

    @field_validator("steps")
    @classmethod
    def _validate_children(cls, v: list[Any]) -> list[Any]:
        from pydantic import TypeAdapter

        from harness.config.plan import step_union

        return TypeAdapter(list[step_union()]).validate_python(v)  # type: ignore[misc]


def run(ctx: StepContext, p: Params) -> None:
    from harness.steps import STEP_KINDS

    for child in p.steps:
        ctx.check_deadline()
        ctx.log(f"group {p.title}: {child.title}")
        STEP_KINDS[child.kind].run(ctx, child)
        if ctx.failed:
            return
