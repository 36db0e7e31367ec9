"""The step kinds a plan may use, as one registry handed to whoever needs them.

The plan loader (``harness.config.plan.load_plan``) gets the registry as an argument rather than
importing the kinds, so configuration sits below the kinds with no import cycle; the runner uses the
same registry to run each step and ``envelope_coverage`` to know every limit any kind measures.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Annotated, Any, Union

from pydantic import Field, TypeAdapter

from harness.config.plan import StepBase
from harness.stepkit.kind import StepKind

CONTEXT_KEY = "step_kinds"  # pydantic validation context entry: a group validates its children with it


class StepKinds:
    """Step kinds by name."""

    def __init__(self, kinds: Iterable[StepKind[Any]]) -> None:
        self._kinds: dict[str, StepKind[Any]] = {}
        for kind in kinds:
            if kind.name in self._kinds:
                raise ValueError(f"two step kinds are named {kind.name!r}")
            if kind.Params.model_fields["kind"].annotation is str:
                raise ValueError(f"step kind {kind.name!r}: Params.kind must be Literal[{kind.name!r}]")
            self._kinds[kind.name] = kind
        models = tuple(k.Params for k in self._kinds.values())
        union = Annotated[Union[models], Field(discriminator="kind")]  # noqa: UP007 (a runtime tuple)
        self._steps = TypeAdapter(list[union])  # type: ignore[valid-type]

    def __getitem__(self, name: str) -> StepKind[Any]:
        return self._kinds[name]

    def __contains__(self, name: object) -> bool:
        return name in self._kinds

    def __iter__(self) -> Iterator[StepKind[Any]]:
        return iter(self._kinds.values())

    def names(self) -> list[str]:
        return list(self._kinds)

    def validate_steps(self, data: Any) -> list[StepBase]:
        """Validate a plan's ``steps`` list (pydantic ValidationError on a bad one)."""
        return self._steps.validate_python(data, context={CONTEXT_KEY: self})

    @property
    def known_limits(self) -> frozenset[str]:
        """Every envelope limit some kind measures (an envelope limit outside it is a typo)."""
        return frozenset().union(*(k.limits for k in self._kinds.values()))

    def limits_of(self, step: StepBase) -> frozenset[str]:
        """The limits one configured step checks."""
        return self._kinds[step.kind].limits_of(step, self)

    def planned_s(self, step: StepBase) -> float:
        """Rack seconds one configured step is expected to take (the progress line's ETA)."""
        return max(0.0, float(self._kinds[step.kind].planned_s(step, self)))

    def events_expected_by(self, step: StepBase) -> frozenset[str]:
        return self._kinds[step.kind].events_expected_by(step, self)
