"""What a power analyzer on a PDU inlet sees, from the twin: readings, energy and peak current.

* V, A, W, PF: :meth:`RackTwin.analyzer_reading` of the PDU at the moment of the query;
* energy: the twin's exact outlet energy counters plus the PDU's own overhead, so an
  integration over any simulated interval is what the twin delivered in it (deterministic);
* inrush: the monitor listens to the twin's ``("outlet", {... "on": True})`` events for its PDU.
  A PSU switching on draws, on top of the inlet's steady peak current (sqrt(2) x rms), an inrush
  peak of :data:`INRUSH_A_PER_KW` amperes per kW of its rating (5.5 kW PSU -> 44 A) [A: a
  plausible bulk-capacitor charging peak; set per PSU spec if one is known]. A peak-hold /
  inrush capture armed before the outlet closes holds it until re-armed.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from typing import TYPE_CHECKING

from harness.sim.visa.parser import ScpiFault

if TYPE_CHECKING:
    from harness.sim.physics import RackTwin

SQRT2 = math.sqrt(2.0)
INRUSH_A_PER_KW = 8.0  # inrush peak of a PSU switching on, amperes per kW of its rating [A]
UPDATE_S = 0.5  # analyzer update interval: an unheld peak covers the last update only


class InletMonitor:
    """Energy integration and peak-current capture at one PDU inlet, from the twin.

    Thread-safety: the twin calls :meth:`_on_event` under its own lock, from any thread; that path
    touches only the event deque (behind a leaf lock), never the twin or the device, so the
    device -> twin lock order is the only one.
    """

    def __init__(self, twin: RackTwin, pdu: str) -> None:
        if pdu not in twin.pdu_specs:
            raise ValueError(f"analyzer wired to unknown PDU {pdu!r} (known: {', '.join(twin.pdu_specs)})")
        self.twin, self.pdu = twin, pdu
        self._events: deque[tuple[float, float]] = deque(maxlen=4096)  # (t, inrush peak A)
        self._ev_lock = threading.Lock()
        # energy integration: RESET -> START <-> STOP
        self.integration = "RESET"
        self._acc_wh = 0.0
        self._run_from_wh = 0.0
        # peak hold / inrush capture
        self.hold_since: float | None = None
        self._held_a = 0.0

    # ------------------------------------------------------------------ twin hook-up
    def attach(self) -> None:
        if self._on_event not in self.twin.listeners:
            self.twin.listeners.append(self._on_event)

    def detach(self) -> None:
        if self._on_event in self.twin.listeners:
            self.twin.listeners.remove(self._on_event)

    def _on_event(self, kind: str, data: dict[str, object]) -> None:
        if kind != "outlet" or data.get("pdu") != self.pdu or not data.get("on"):
            return
        psu = self.twin.pdu_specs[self.pdu].feeds.get(int(data["outlet"]))  # type: ignore[call-overload]
        rated_w = self.twin.psus[psu].rated_w if psu in self.twin.psus else 0.0
        with self._ev_lock:
            self._events.append((float(data["t"]), INRUSH_A_PER_KW * rated_w / 1000.0))  # type: ignore[arg-type]

    # ------------------------------------------------------------------ readings
    def reading(self) -> dict[str, float]:
        return self.twin.analyzer_reading(self.pdu)

    def inlet_wh(self) -> float:
        """Energy through the inlet since the twin started (exact: outlets plus the PDU's overhead)."""
        spec = self.twin.pdu_specs[self.pdu]
        now = self.twin.clock.now()
        outlets_kwh = sum(self.twin.outlet_energy_kwh(self.pdu, n) for n in range(1, spec.outlets + 1))
        return outlets_kwh * 1000.0 + self.twin.PDU_OVERHEAD_W * now / 3600.0

    def energy_wh(self) -> float:
        running = self.inlet_wh() - self._run_from_wh if self.integration == "START" else 0.0
        return self._acc_wh + running

    def start(self) -> None:
        if self.integration != "START":
            self._run_from_wh = self.inlet_wh()
            self.integration = "START"

    def stop(self) -> None:
        if self.integration == "START":
            self._acc_wh += self.inlet_wh() - self._run_from_wh
            self.integration = "STOP"

    def reset(self) -> None:
        if self.integration == "START":
            raise ScpiFault(-221, "integration running; stop it first")
        self._acc_wh, self.integration = 0.0, "RESET"

    def hold(self, on: bool) -> None:
        """Peak hold on (from now, starting afresh) or off."""
        if on:
            self.hold_since, self._held_a = self.twin.clock.now(), 0.0
        else:
            self.hold_since = None

    def peak_a(self, steady_rms_a: float) -> float:
        """Instantaneous peak current: the steady sine peak plus any inrush in the window (the last
        update interval, or everything since the hold was switched on, held)."""
        now = self.twin.clock.now()
        steady = SQRT2 * steady_rms_a
        with self._ev_lock:
            events = list(self._events)
            if self.hold_since is not None:
                self._events.clear()  # consumed into the held value
            else:
                while self._events and self._events[0][0] < now - UPDATE_S:
                    self._events.popleft()
        if self.hold_since is not None:
            since = self.hold_since
            value = steady + max((a for t, a in events if since <= t <= now), default=0.0)
            self._held_a = max(self._held_a, value)
            return self._held_a
        return steady + max((a for t, a in events if now - UPDATE_S <= t <= now), default=0.0)
