"""Closed-form curves of the continuous quantities between two state changes.

A lagged signal is snapshotted at each change (:class:`Lagged`), so its value at any later time is a
formula, not an integration that depends on how often it was read. :func:`source_curve` turns the
parameters of a source (as :func:`harness.sim.physics.signals.exact_sources` hands them to a threshold
watch) back into that formula.
"""

from __future__ import annotations

import math
from collections.abc import Callable


class Lagged:
    """A first-order lag toward a piecewise-constant target, snapshotted at each state change."""

    __slots__ = ("tau", "t0", "v0", "target")

    def __init__(self, tau: float, value: float) -> None:
        self.tau, self.t0, self.v0, self.target = tau, 0.0, value, value

    def at(self, t: float) -> float:
        return self.target + (self.v0 - self.target) * math.exp(-max(0.0, t - self.t0) / self.tau)

    def retarget(self, t: float, target: float) -> None:
        self.v0, self.t0, self.target = self.at(t), t, target


def source_curve(params: tuple[object, ...]) -> tuple[Callable[[float], float], bool, float | None]:
    """(value at t, monotone?, the value it settles at or None if it does not) for exact_sources() params."""
    kind = params[0]
    if kind == "const":
        v = float(params[1])  # type: ignore[arg-type]
        return (lambda t: v), True, v
    if kind == "lag":
        t0, v0, target, tau = (float(x) for x in params[1:])  # type: ignore[arg-type]
        return (lambda t: target + (v0 - target) * math.exp(-max(0.0, t - t0) / tau)), True, target
    base, rate = float(params[1]), float(params[2])  # type: ignore[arg-type]
    since = params[3]

    def supply(t: float) -> float:
        return base + (rate * max(0.0, t - since) if since is not None else 0.0)  # type: ignore[operator]
    if kind == "ramp":
        return supply, True, (base if since is None or rate == 0 else None)
    t0, v0, target, tau = (float(x) for x in params[4:])  # type: ignore[arg-type]

    def ret(t: float) -> float:  # supply ramp plus the lagged rise over it
        return supply(t) + target + (v0 - target) * math.exp(-max(0.0, t - t0) / tau) - base
    return ret, since is None, (target if since is None else None)
