"""The interface every step kind implements.

A kind is a small class: its ``name`` (the plan's ``kind:``), its ``Params`` model (the plan fields,
validated by pydantic), the envelope ``limits`` it measures (so ``envelope_coverage`` can tell a typo from a
limit the plan does not check), the Redfish ``expected_events`` it causes on purpose (message keys the
event monitor must not fail it for), and ``run``. Kinds are collected in a
:class:`~harness.stepkit.registry.StepKinds` registry that is handed to the plan loader and the runner.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, ClassVar, Generic, TypeVar

from harness.config.plan import StepBase

if TYPE_CHECKING:
    from harness.stepkit.context import StepContext
    from harness.stepkit.registry import StepKinds

P = TypeVar("P", bound=StepBase)


class StepKind(ABC, Generic[P]):
    """One kind of step. Subclasses set the class attributes and implement :meth:`run`."""

    name: ClassVar[str]
    Params: ClassVar[type[StepBase]]
    limits: ClassVar[tuple[str, ...]] = ()
    expected_events: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if not getattr(cls, "__abstractmethods__", None):  # a concrete kind must say what it is
            for attr in ("name", "Params"):
                if not hasattr(cls, attr):
                    raise TypeError(f"step kind {cls.__name__} has no {attr}")

    @abstractmethod
    def run(self, ctx: StepContext, params: P) -> None:
        """Do the step: measure through ``ctx``; raise a DriverError or RackvalError if it cannot go on."""

    def planned_s(self, params: P, kinds: StepKinds) -> float:
        """Rack seconds this configured step is expected to take, for the progress line's ETA: the dwells,
        holds and samples the plan asks for plus the typical waits. An estimate shown to the operator,
        never a limit or a deadline."""
        return 30.0

    def limits_of(self, params: P, kinds: StepKinds) -> frozenset[str]:
        """The limits this configured step checks (a group: those of its children)."""
        return frozenset(self.limits)

    def events_expected_by(self, params: P, kinds: StepKinds) -> frozenset[str]:
        """Message keys this configured step causes on purpose (a group: those of its children)."""
        return frozenset(self.expected_events)
