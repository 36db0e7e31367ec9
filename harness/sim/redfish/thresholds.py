"""Threshold-crossing events of the simulated BMCs, derived from the twin exactly.

A real BMC scans its sensors and logs (SEL) and sends (EventService) a registry message when a
reading crosses one of its ``Thresholds`` and when it comes back: ``Environmental.x.
TemperatureAboveUpperCriticalThreshold``, ``...BelowUpperCriticalThreshold``, ``...Normal``, and the
``Power.x.Power*`` equivalents. Here the crossing is judged on the twin's noise-free value (a real
BMC applies hysteresis; the simulated noise is far below it), and its time is found exactly: the twin
calls the watch at every state change (``RackTwin.watchers``), the watch keeps each value's curve
from the previous change (``RackTwin.exact_sources``/``exact_signals``) and solves for the instant the curve crossed a
level in between. The event carries that instant, whoever read the twin and when, so records are
the same run after run under a VirtualClock; only when an SSE client sees it depends on wall time.

Which sensors and thresholds: each Redfish model names them (``threshold_sensors()``), from the same
``SensorDef`` that serves the Sensor resource, so the events agree with what a client reads.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.sim.physics.curves import source_curve
from harness.sim.redfish.registry import message

LEVELS = ("UpperCaution", "UpperCritical", "UpperFatal")
REGISTRY = {"Temperature": "Environmental", "Power": "Power"}
UNITS = {"Temperature": "Cel", "Power": "W"}
BISECT_STEPS = 60  # far below the ms the time is rounded to, whatever interval it starts from
NON_MONOTONE_SEGMENTS = 32
Curve = Callable[[float], float]
Record = Callable[[str, float, dict[str, Any], str], None]  # service, t, message, origin


@dataclass(frozen=True)
class WatchedSensor:
    """One thresholded sensor of one service, as its model declares it."""

    key: str  # the twin's exact_signals() key
    service: str  # the listener that logs and streams its events
    label: str  # %1 of the message, e.g. "compute03/GPU0Temp"
    origin: str  # OriginOfCondition: the Sensor (or legacy Thermal/Power) URI
    quantity: str  # "Temperature" | "Power"
    thresholds: dict[str, float]
    ready: Callable[[], bool] = field(default=lambda: True)  # may the BMC log now (read under the twin lock)


@dataclass
class _State:
    sensor: WatchedSensor
    levels: list[tuple[str, float]]  # ascending
    ref: float = 0.0  # value = ref + gain * (source - ref)
    gain: float = 1.0
    state: int = 0  # how many levels the value is above
    curve: Curve | None = None
    monotone: bool = True
    active: bool = False  # can the current curve still cross a level (else advance() skips it)

    def level_of(self, value: float) -> int:
        return sum(1 for _, lv in self.levels if value > lv)

    def follow(self, source: Curve, monotone: bool, settles_at: float | None) -> None:
        ref, gain = self.ref, self.gain
        self.curve = source if (ref, gain) == (0.0, 1.0) else (lambda t: ref + gain * (source(t) - ref))
        self.monotone = monotone
        self.active = settles_at is None or not monotone or \
            self.level_of(ref + gain * (settles_at - ref)) != self.state


def transition_message(quantity: str, label: str, reading: float, old: int, new: int,
                       levels: list[tuple[str, float]]) -> dict[str, Any]:
    """The registry message for a change of threshold state ``old`` -> ``new`` (counts of levels exceeded)."""
    prefix, value = REGISTRY[quantity], round(reading, 1)
    if new > old:
        name, limit = levels[new - 1]
        return message(f"{prefix}.{quantity}Above{name}Threshold", label, value, limit)
    if new == 0:
        return message(f"{prefix}.{quantity}Normal", label, value)
    name, limit = levels[new]  # fell below the level just above the new state (Critical or Fatal)
    return message(f"{prefix}.{quantity}Below{name}Threshold", label, value, limit)


def same_curve(old: tuple[object, ...] | None, new: tuple[object, ...]) -> bool:
    """Does a source still follow the same function? A lag retargeted to the same target does (it is
    memoryless), so most changes (another tray's load) cost nothing here."""
    if old is None or old[0] != new[0]:
        return False
    if new[0] == "lag":
        return old[3:] == new[3:]
    if new[0] == "ramp_lag":
        return old[1:4] == new[1:4] and old[6:] == new[6:]
    return old == new


class ThresholdWatch:
    """Turns the twin's exact curves into crossing events for the services that own the sensors."""

    def __init__(self, twin: Any, sensors: list[WatchedSensor], record: Record, t0: float) -> None:
        self._twin, self._record, self._source_curve = twin, record, source_curve
        signals = twin.exact_signals()
        self._states: list[_State] = []
        self._by_source: dict[str, list[_State]] = {}
        for s in sensors:
            levels = sorted(((n, v) for n, v in s.thresholds.items() if n in LEVELS), key=lambda nv: nv[1])
            if not levels or s.quantity not in REGISTRY or s.key not in signals:
                continue
            source, ref, gain = signals[s.key]
            st = _State(s, levels, ref, gain)
            self._states.append(st)
            self._by_source.setdefault(source, []).append(st)
        self._t = t0
        self._params: dict[str, tuple[object, ...]] = {}
        for name, params in twin.exact_sources().items():
            self._params[name] = params
            curve, monotone, settles = source_curve(params)
            for st in self._by_source.get(name, []):
                st.state = st.level_of(st.ref + st.gain * (curve(t0) - st.ref))  # the start is not an event
                st.follow(curve, monotone, settles)

    @property
    def sensors(self) -> list[WatchedSensor]:
        return [st.sensor for st in self._states]

    def on_change(self, t: float) -> None:
        """The twin changed state at ``t``: commit crossings up to ``t``, then follow the sources whose
        curve changed (a value that jumps at ``t``, such as power, crosses at ``t``)."""
        self.advance(t)
        for name, params in self._twin.exact_sources().items():
            if same_curve(self._params.get(name), params):
                continue
            self._params[name] = params
            dependents = self._by_source.get(name)
            if not dependents:
                continue
            curve, monotone, settles = self._source_curve(params)
            for st in dependents:
                st.follow(curve, monotone, settles)
                value = st.curve(t)  # type: ignore[misc]
                new = st.level_of(value)
                if new != st.state:
                    self._emit(st, t, value, new)
                    st.follow(curve, monotone, settles)

    def advance(self, t: float) -> None:
        """Commit every crossing of the current curves in (last, t], in time order."""
        if t <= self._t:
            return
        a, self._t = self._t, t
        found: list[tuple[float, int, _State, int, float]] = []
        for i, st in enumerate(self._states):
            if st.active:
                for when, new, value in self._crossings(st, a, t):
                    found.append((when, i, st, new, value))
        for when, _, st, new, value in sorted(found, key=lambda x: (x[0], x[1])):
            self._emit(st, when, value, new)

    def _crossings(self, st: _State, a: float, b: float) -> list[tuple[float, int, float]]:
        f = st.curve
        assert f is not None
        points = [a, b] if st.monotone else [a + (b - a) * k / NON_MONOTONE_SEGMENTS
                                             for k in range(NON_MONOTONE_SEGMENTS + 1)]
        out: list[tuple[float, int, float]] = []
        state = st.state
        for lo, hi in itertools.pairwise(points):
            target = st.level_of(f(hi))
            while target != state:  # one level at a time, each at its own instant
                step = 1 if target > state else -1
                level = st.levels[state if step > 0 else state - 1][1]
                when = _bisect(f, lo, hi, level, rising=step > 0)
                state += step
                out.append((when, state, f(when)))
                lo = when
        return out

    def _emit(self, st: _State, t: float, value: float, new: int) -> None:
        old, st.state = st.state, new
        s = st.sensor
        if not s.ready():  # a BMC without power logs nothing; its view starts afresh when it is back
            return
        self._record(s.service, t, transition_message(s.quantity, s.label, value, old, new, st.levels), s.origin)


def _bisect(f: Curve, lo: float, hi: float, level: float, *, rising: bool) -> float:
    """The first instant in (lo, hi] at which a monotone piece of ``f`` passes ``level``."""
    for _ in range(BISECT_STEPS):
        mid = (lo + hi) / 2
        if (f(mid) > level) == rising:
            hi = mid
        else:
            lo = mid
    return round(hi, 3)
