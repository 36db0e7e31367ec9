"""Limits as data, checked on single values and on series aggregates.

A check produces a :class:`Measurement`: the value, its unit, the limit it was held against, the
component it belongs to, and the verdict. Nothing passes without being measured: a limit the plan
declared but no step measured is reported as a failure at the end of the run.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from harness.config.plan import Envelope, Limit, StepBase

Verdict = Literal["PASS", "FAIL", "INFO", "SKIP"]


@dataclass(frozen=True)
class Measurement:
    """One recorded value. ``limit`` names the envelope limit it was checked against (if any)."""

    name: str
    value: float | str | bool
    unit: str = ""
    component: str | None = None
    limit: str | None = None
    low: float | None = None
    high: float | None = None
    verdict: Verdict = "INFO"
    t: float = 0.0
    meta: dict[str, object] = field(default_factory=dict)

    def describe(self) -> str:
        """One line a technician can act on: what, where, measured, allowed."""
        bound = []
        if self.low is not None:
            bound.append(f">= {self.low:g}")
        if self.high is not None:
            bound.append(f"<= {self.high:g}")
        value = f"{self.value:.4g}" if isinstance(self.value, float) else str(self.value)
        where = f" on {self.component}" if self.component else ""
        limit = f" (limit {self.limit}: {' and '.join(bound)} {self.unit})" if bound else ""
        return f"{self.name}{where} = {value} {self.unit}{limit}".replace("  ", " ")


def within(value: float, limit: Limit) -> bool:
    if isinstance(value, float) and math.isnan(value):
        return False
    if limit.min is not None and value < limit.min:
        return False
    return not (limit.max is not None and value > limit.max)


def check(name: str, value: float, unit: str, *, limit_name: str | None, envelope: Envelope | None,
          component: str | None = None, t: float = 0.0, meta: dict[str, object] | None = None) -> Measurement:
    """Hold ``value`` against the envelope's limit ``limit_name`` (INFO when there is none)."""
    limit = envelope.limits.get(limit_name) if (envelope is not None and limit_name) else None
    if limit is None:
        return Measurement(name, value, unit, component, None, None, None, "INFO", t, meta or {})
    verdict: Verdict = "PASS" if within(value, limit) else "FAIL"
    return Measurement(name, value, limit.unit or unit, component, limit_name, limit.min, limit.max,
                       verdict, t, meta or {})


@dataclass(frozen=True)
class SeriesStats:
    """Aggregates a series is judged by: extremes, mean, and the slope over the window."""

    count: int
    min: float
    max: float
    mean: float
    slope_per_s: float

    @classmethod
    def of(cls, times: Sequence[float], values: Sequence[float]) -> SeriesStats:
        if not values:
            raise ValueError("empty series")
        n = len(values)
        mean = sum(values) / n
        if n > 1 and times[-1] > times[0]:
            tm = sum(times) / n
            num = sum((t - tm) * (v - mean) for t, v in zip(times, values, strict=True))
            den = sum((t - tm) ** 2 for t in times)
            slope = num / den if den else 0.0
        else:
            slope = 0.0
        return cls(n, min(values), max(values), mean, slope)


def is_steady(times: Sequence[float], values: Sequence[float], *, window_s: float, tolerance: float) -> bool:
    """Steady state: over the last ``window_s`` the spread is within ``tolerance`` (relative to the mean)."""
    if len(values) < 3 or times[-1] - times[0] < window_s:
        return False
    recent = [v for t, v in zip(times, values, strict=True) if t >= times[-1] - window_s]
    if len(recent) < 3:
        return False
    mean = sum(recent) / len(recent)
    scale = max(abs(mean), 1e-9)
    return (max(recent) - min(recent)) / scale <= tolerance


class LimitCatalog(Protocol):
    """What the step kinds measure (harness.stepkit.registry.StepKinds)."""

    @property
    def known_limits(self) -> frozenset[str]: ...
    def limits_of(self, step: StepBase) -> frozenset[str]: ...


def coverage(envelope: Envelope, steps: Sequence[StepBase], measurements: Sequence[Measurement], *,
             kinds: LimitCatalog, t: float = 0.0) -> list[Measurement]:
    """Judge the envelope as a whole: every limit the plan's steps check must have been measured.

    - a limit no step kind knows is a FAIL (a typo in the envelope would otherwise never be checked);
    - a limit this plan's steps do not check is INFO (the envelope serves several plans of one SKU);
    - a limit whose every check was SKIPped (the station lacks the instrument) is a FAIL naming the
      reasons: the checks stay SKIP, and a run cannot pass without them;
    - a limit checked by the plan but never measured is a FAIL.
    """
    known = kinds.known_limits
    checked = set().union(*(kinds.limits_of(s) for s in steps)) if steps else set()
    out: list[Measurement] = []
    for name in envelope.limits:
        verdicts = {m.verdict for m in measurements if m.limit == name}
        reasons = sorted({str(m.meta.get("message", "")) for m in measurements if m.limit == name and m.verdict == "SKIP"})
        if name not in known:
            out.append(Measurement("limit_measured", False, "", name, None, None, None, "FAIL", t,
                                   {"message": f"no step kind checks a limit named {name} (typo?)"}))
        elif name not in checked:
            out.append(Measurement("limit_measured", False, "", name, None, None, None, "INFO", t,
                                   {"message": "not checked by this plan's steps"}))
        elif verdicts & {"PASS", "FAIL"}:
            out.append(Measurement("limit_measured", True, "", name, None, None, None, "PASS", t, {}))
        elif "SKIP" in verdicts:
            why = "; ".join(r for r in reasons if r) or "skipped"
            out.append(Measurement("limit_measured", False, "", name, None, None, None, "FAIL", t,
                                   {"message": f"every check of {name} was skipped: {why}"}))
        else:
            out.append(Measurement("limit_measured", False, "", name, None, None, None, "FAIL", t,
                                   {"message": f"envelope limit {name} was declared but no step measured it"}))
    return out
