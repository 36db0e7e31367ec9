"""The safety registry: whatever can energize or load the rack registers how to make it safe and
how to prove it by reading back. ``run()`` tries every entry, even after one fails."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SafeAction:
    name: str
    act: Callable[[], None]
    readback: Callable[[], str | None]  # None = verified safe; otherwise what is wrong
    order: int = 0  # lower runs first: loads off before hosts before outlets


@dataclass
class SafeOutcome:
    name: str
    ok: bool
    detail: str = ""


@dataclass
class SafeStateReport:
    outcomes: list[SafeOutcome] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(o.ok for o in self.outcomes)

    def failures(self) -> list[SafeOutcome]:
        return [o for o in self.outcomes if not o.ok]


class SafetyRegistry:
    def __init__(self) -> None:
        self._actions: list[SafeAction] = []

    def register(self, action: SafeAction) -> None:
        self._actions.append(action)

    def run(self) -> SafeStateReport:
        report = SafeStateReport()
        for action in sorted(self._actions, key=lambda a: a.order):
            try:
                action.act()
            except Exception as exc:  # keep going: every other device must still be made safe
                log.error("safe state: %s: action failed: %s", action.name, exc)
                detail = f"action failed: {exc}"
                try:
                    problem = action.readback()
                except Exception as rb_exc:
                    problem = f"readback failed: {rb_exc}"
                report.outcomes.append(SafeOutcome(action.name, problem is None,
                                                   detail if problem else f"{detail}; readback shows safe"))
                continue
            try:
                problem = action.readback()
            except Exception as exc:
                problem = f"readback failed: {exc}"
            report.outcomes.append(SafeOutcome(action.name, problem is None, problem or "verified"))
        return report
