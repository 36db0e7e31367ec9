"""Simulated power analyzers on a PDU inlet: Yokogawa WT5000 (``:NUMeric`` item lists) and
Chroma 66205 (``MEAS? <item>``), both with energy integration and inrush capture.

What the analyzer sees comes from :class:`InletMonitor`, which both personalities share:

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
from collections.abc import Callable
from typing import TYPE_CHECKING

from harness.sim.visa.device import NO_DATA, Call, Reply, ScpiDevice, Wiring, scpi
from harness.sim.visa.parser import ScpiFault, boolean, choice, number

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


def _apparent(r: dict[str, float]) -> float:
    return r["W"] / r["PF"] if r["PF"] else 0.0


#: WT5000 numeric functions the simulator computes (from the twin's analyzer reading, plus "WP"
#: energy and "IPPEAK" peak current added by the personality when an item asks for them).
WT_FUNCTIONS: dict[str, Callable[[dict[str, float]], float]] = {
    "URMS": lambda r: r["V"],
    "IRMS": lambda r: r["A"],
    "P": lambda r: r["W"],
    "LAMBDA": lambda r: r["PF"],
    "S": _apparent,
    "Q": lambda r: math.sqrt(max(0.0, _apparent(r) ** 2 - r["W"] ** 2)),
    "WP": lambda r: r["WP"],
    "IPPEAK": lambda r: r["IPPEAK"],
}
WT_NOTATION = ("URMS", "IRMS", "P", "LAMBDA", "S", "Q", "WP", "IPPeak")  # manual notation: IPP|IPPEAK


class YokogawaWT5000(ScpiDevice):
    """A Yokogawa WT5000 whose element 1 (and SIGMA) is wired to one PDU inlet.

    Numeric items default to NONE after *RST, so an analyzer nobody configured answers the
    no-data value, as a mis-set real one would. Only ASCII numeric format is simulated.
    Energy: ``:INTEGrate:STARt|STOP|RESet`` and the ``WP`` item (Wh). Inrush: the ``IPPeak`` item
    (I+pk) with ``:MEASure:MHOLd ON`` (max hold, restarted by OFF then ON) [A: verify the hold
    command name on the WT5000; the WT1800 family calls it MHOLd].
    """

    ELEMENTS = 1
    MAX_ITEMS = 255

    def __init__(self, twin: RackTwin, wiring: Wiring) -> None:
        if not wiring.measures:
            raise ValueError("a simulated power analyzer needs `measures` (the PDU it is wired to)")
        super().__init__(f"YOKOGAWA,WT5000,{wiring.serial},F1.01")
        self.twin, self.measures = twin, wiring.measures
        self.monitor = InletMonitor(twin, wiring.measures)
        self.reset()

    def reset(self) -> None:
        self.number = 15
        self.items: dict[int, tuple[str, str]] = {}
        self.header = False
        self.monitor.hold(False)
        self.monitor.stop()
        self.monitor.reset()

    def attach(self) -> None:
        self.monitor.attach()

    def detach(self) -> None:
        self.monitor.detach()

    def _item(self, call: Call) -> int:
        if not 1 <= call.suffix <= self.MAX_ITEMS:
            raise ScpiFault(-114, call.header)
        return call.suffix

    @scpi(":NUMeric:FORMat")
    def _format(self, call: Call) -> Reply:
        if choice(call.args[0], ("ASCii", "FLOat")) != "ASCII":
            raise ScpiFault(-221, "only ASCii is simulated")
        return None

    @scpi(":NUMeric:FORMat?")
    def _format_q(self, call: Call) -> Reply:
        return "ASCII"

    @scpi(":NUMeric[:NORMal]:NUMBer")
    def _number(self, call: Call) -> Reply:
        self.number = int(number(call.args[0], 1, self.MAX_ITEMS))
        return None

    @scpi(":NUMeric[:NORMal]:NUMBer?")
    def _number_q(self, call: Call) -> Reply:
        return str(self.number)

    @scpi(":NUMeric[:NORMal]:ITEM#", args=(1, 2))
    def _set_item(self, call: Call) -> Reply:
        k = self._item(call)
        func = choice(call.args[0], ("NONE", *WT_NOTATION))
        element = call.args[1].strip().upper() if len(call.args) > 1 else "1"
        if element not in ("SIGMA", "SIGMAA"):
            element = str(int(number(element, 1, self.ELEMENTS)))
        if func == "NONE":
            self.items.pop(k, None)
        else:
            self.items[k] = (func, element)
        return None

    @scpi(":NUMeric[:NORMal]:ITEM#?")
    def _item_q(self, call: Call) -> Reply:
        func, element = self.items.get(self._item(call), ("NONE", ""))
        return f"{func},{element}" if element else func

    @scpi(":NUMeric[:NORMal]:VALue?", args=(0, 1), measurement=True)
    def _value(self, call: Call) -> Reply:
        wanted = [int(number(call.args[0], 1, self.MAX_ITEMS))] if call.args else range(1, self.number + 1)
        funcs = {self.items[k][0] for k in wanted if k in self.items}
        reading = self.monitor.reading()
        if "WP" in funcs:
            reading["WP"] = self.monitor.energy_wh()
        if "IPPEAK" in funcs:
            reading["IPPEAK"] = self.monitor.peak_a(reading["A"])
        out = []
        for k in wanted:
            item = self.items.get(k)
            out.append(f"{WT_FUNCTIONS[item[0]](reading):+.5E}" if item else NO_DATA)
        return ",".join(out)

    @scpi(":INTEGrate:STARt", args=0)
    def _integ_start(self, call: Call) -> Reply:
        self.monitor.start()
        return None

    @scpi(":INTEGrate:STOP", args=0)
    def _integ_stop(self, call: Call) -> Reply:
        self.monitor.stop()
        return None

    @scpi(":INTEGrate:RESet", args=0)
    def _integ_reset(self, call: Call) -> Reply:
        self.monitor.reset()
        return None

    @scpi(":INTEGrate:STATe?")
    def _integ_state(self, call: Call) -> Reply:
        return self.monitor.integration

    @scpi(":MEASure:MHOLd[:STATe]")
    def _mhold(self, call: Call) -> Reply:
        self.monitor.hold(boolean(call.args[0]))
        return None

    @scpi(":MEASure:MHOLd[:STATe]?")
    def _mhold_q(self, call: Call) -> Reply:
        return "1" if self.monitor.hold_since is not None else "0"

    @scpi(":COMMunicate:HEADer")
    def _header(self, call: Call) -> Reply:
        self.header = boolean(call.args[0])
        return None

    @scpi(":COMMunicate:HEADer?")
    def _header_q(self, call: Call) -> Reply:
        return "1" if self.header else "0"


class Chroma66205(ScpiDevice):
    """A Chroma 66205 digital power meter on one PDU inlet: ``MEAS? V,I,W,VA,PF,WH``; energy with
    ``TRIG:MODE INTEGRATION`` + ``TRIG ON`` (a new integration) / ``TRIG OFF`` (stop, value kept);
    inrush with ``TRIG:MODE INRUSH`` + ``TRIG ON`` then ``FETCH? IS`` (peak since armed; the
    no-data value if never armed). One trigger mode at a time: changing it ends what ran.
    [Command forms from public drivers; verify against the 66205 manual.]
    """

    ITEMS = ("V", "I", "W", "VA", "PF", "WH", "IS")
    MODES = ("NORMal", "INRush", "INTEGration")

    def __init__(self, twin: RackTwin, wiring: Wiring) -> None:
        if not wiring.measures:
            raise ValueError("a simulated power analyzer needs `measures` (the PDU it is wired to)")
        super().__init__(f"CHROMA,66205,{wiring.serial},1.00")
        self.twin, self.measures = twin, wiring.measures
        self.monitor = InletMonitor(twin, wiring.measures)
        self.reset()

    def reset(self) -> None:
        self.trigger_mode = "NORMAL"
        self.trigger_on = False
        self.inrush_armed = False
        self.monitor.hold(False)
        self.monitor.stop()
        self.monitor.reset()

    def attach(self) -> None:
        self.monitor.attach()

    def detach(self) -> None:
        self.monitor.detach()

    def _values(self, call: Call) -> str:
        names = [a.strip().upper() for a in call.args]
        bad = [n for n in names if n not in self.ITEMS]
        if bad:
            raise ScpiFault(-224, f"item {bad[0][:8]!r} not simulated")
        r = self.monitor.reading()
        out = []
        for name in names:
            if name == "IS":
                out.append(f"{self.monitor.peak_a(r['A']):.4f}" if self.inrush_armed else NO_DATA)
            elif name == "WH":
                out.append(f"{self.monitor.energy_wh():.4f}")
            else:
                value = {"V": r["V"], "I": r["A"], "W": r["W"], "VA": _apparent(r), "PF": r["PF"]}[name]
                out.append(f"{value:.4f}")
        return ",".join(out)

    @scpi("MEASure?", "FETCh?", args=(1, len(ITEMS)), measurement=True)
    def _meas(self, call: Call) -> Reply:
        return self._values(call)

    @scpi("TRIGger:MODE")
    def _trig_mode(self, call: Call) -> Reply:
        mode = choice(call.args[0], self.MODES)
        if mode != self.trigger_mode:
            self._trigger(False)
            self.trigger_mode = mode
        return None

    @scpi("TRIGger:MODE?")
    def _trig_mode_q(self, call: Call) -> Reply:
        return self.trigger_mode

    def _trigger(self, on: bool) -> None:
        if on:
            if self.trigger_mode == "INTEGRATION":
                self.monitor.stop()
                self.monitor.reset()
                self.monitor.start()
            elif self.trigger_mode == "INRUSH":
                self.monitor.hold(True)
                self.inrush_armed = True
        elif self.trigger_on and self.trigger_mode == "INTEGRATION":
            self.monitor.stop()
        self.trigger_on = on

    @scpi("TRIGger[:STATe]")
    def _trig(self, call: Call) -> Reply:
        self._trigger(boolean(call.args[0]))
        return None

    @scpi("TRIGger[:STATe]?")
    def _trig_q(self, call: Call) -> Reply:
        return "ON" if self.trigger_on else "OFF"
