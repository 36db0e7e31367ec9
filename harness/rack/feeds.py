"""The rack's AC feeds: the PDU outlets the station file declares, and only those.

Implements :class:`~harness.rack.capabilities.PowerSwitch`. Every switch is confirmed by reading the
outlet back (the PDU driver does that); an outlet the station file does not declare is refused before
anything is sent; rack-wide switching tries every outlet and reports the failures together (a half-dark
rack is worse than a clear error).
"""

from __future__ import annotations

import logging

from harness.clock import Clock
from harness.drivers.snmp.pdu import Pdu
from harness.errors import DriverError, Refused
from harness.rack.capabilities import Outlet

log = logging.getLogger(__name__)


class Feeds:
    def __init__(self, pdus: dict[str, Pdu], outlets: list[Outlet], clock: Clock, stagger_s: float) -> None:
        self.pdus, self.outlets, self.clock, self.stagger_s = pdus, outlets, clock, stagger_s

    def declared(self, pdu: str, number: int) -> Outlet:
        for outlet in self.outlets:
            if outlet.pdu == pdu and outlet.number == number:
                return outlet
        raise Refused(f"{pdu} outlet {number} is not declared in the station file; refusing to switch it")

    def set_outlet(self, pdu: str, number: int, on: bool) -> None:
        self.declared(pdu, number)
        self.pdus[pdu].set_outlet(number, on)

    def states(self) -> dict[Outlet, bool]:
        out: dict[Outlet, bool] = {}
        for name, pdu in self.pdus.items():
            mine = [o for o in self.outlets if o.pdu == name]
            states = pdu.outlets_state([o.number for o in mine])
            out.update({o: states[o.number] for o in mine})
        return out

    def all_off(self) -> None:
        """Every declared feed off, each confirmed by reading back (all are tried; failures reported together)."""
        self.switch(self.outlets, False, 0.0)

    def all_on(self, stagger_s: float | None = None) -> None:
        """Sequenced power-on: one outlet at a time with the station's stagger (limits inrush). An outlet
        that will not switch does not stop the others (a dark rack is worse); its error is raised after."""
        self.switch(self.outlets, True, self.stagger_s if stagger_s is None else stagger_s)

    def switch(self, outlets: list[Outlet], on: bool, stagger_s: float) -> None:
        """Switch each of ``outlets``, ``stagger_s`` apart; every one is tried, the first error is raised."""
        errors: list[DriverError] = []
        for i, outlet in enumerate(outlets):
            if i and stagger_s:
                self.clock.sleep(stagger_s)
            try:
                self.pdus[outlet.pdu].set_outlet(outlet.number, on)
            except DriverError as exc:
                log.error("%s: %s", outlet.label, exc)
                errors.append(exc)
        if errors:
            first = errors[0]
            more = f" (and {len(errors) - 1} more outlet(s))" if len(errors) > 1 else ""
            raise type(first)(first.device, first.request, f"{first.problem}{more}")

    def outlet_for(self, feeds: str) -> Outlet:
        """The declared outlet feeding a PSU (e.g. shelf1.psu3)."""
        for outlet in self.outlets:
            if outlet.feeds == feeds:
                return outlet
        raise Refused(f"no outlet in the station file feeds {feeds}")

    def powers_w(self) -> dict[Outlet, float]:
        out: dict[Outlet, float] = {}
        for name, pdu in self.pdus.items():
            mine = [o for o in self.outlets if o.pdu == name]
            watts = pdu.outlets_power_w([o.number for o in mine])
            out.update({o: watts[o.number] for o in mine})
        return out

    def phase_imbalance_pct(self) -> dict[str, float]:
        """Per PDU: (max - min) / mean of its phase currents, in % (0 for a single phase)."""
        out: dict[str, float] = {}
        for name, pdu in self.pdus.items():
            amps = list(pdu.phase_currents_a().values())
            mean = sum(amps) / len(amps) if amps else 0.0
            out[name] = 100.0 * (max(amps) - min(amps)) / mean if len(amps) > 1 and mean > 0 else 0.0
        return out

    def close(self) -> None:
        for pdu in self.pdus.values():
            pdu.close()
