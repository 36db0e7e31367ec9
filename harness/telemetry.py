"""Telemetry: one rack-wide sample taken from every source, and series of them.

A sample reads the analyzer, the PDUs, every BMC (concurrently, one client per BMC) and the load.
Sources a station lacks are left out (None) rather than invented.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.rack import Rack


@dataclass(frozen=True)
class Sample:
    t: float
    ac_w: float | None  # power analyzer at the PDU inlet
    pdu_w: float | None  # sum of the declared outlets (SNMP)
    bmc_w: float | None  # sum of the trays' own power readings (Redfish)
    busbar_v: float | None
    load_w: float | None  # electronic load on the busbar
    hottest_c: float | None
    hottest_at: str | None
    outlet_w: dict[str, float] = field(default_factory=dict)


@dataclass
class Series:
    samples: list[Sample] = field(default_factory=list)

    def times(self) -> list[float]:
        return [s.t for s in self.samples]

    def values(self, attr: str) -> tuple[list[float], list[float]]:
        pairs = [(s.t, getattr(s, attr)) for s in self.samples if getattr(s, attr) is not None]
        return [p[0] for p in pairs], [p[1] for p in pairs]


def _is_component_temperature(reading_type: str, name: str, context: str | None) -> bool:
    return reading_type == "Temperature" and "inlet" not in name.lower() and context not in ("Intake", "Room")


class RackSampler:
    def __init__(self, rack: Rack, *, sensors: bool = True) -> None:
        self.rack, self.sensors = rack, sensors

    def sample(self) -> Sample:
        rack = self.rack
        t = rack.clock.now()
        ac_w = rack.analyzer.measure()["W"] if rack.analyzer else None
        outlets = rack.outlet_powers_w() if rack.pdus else {}
        pdu_w = sum(outlets.values()) if outlets else None
        bmc = rack.tray_powers_w() if rack.trays else {}
        busbar_v = load_w = None
        if rack.eload is not None:
            busbar_v, _, load_w = rack.eload.measure()
        hottest_c = hottest_at = None
        if self.sensors and rack.trays:
            for tray, readings in rack.tray_sensors().items():
                for r in readings:
                    if r.reading is not None and _is_component_temperature(r.reading_type, r.name, r.physical_context):
                        if hottest_c is None or r.reading > hottest_c:
                            hottest_c, hottest_at = r.reading, f"{tray}/{r.name}"
        return Sample(t, ac_w, pdu_w, sum(bmc.values()) if bmc else None, busbar_v, load_w, hottest_c, hottest_at,
                      {o.label: w for o, w in outlets.items()})
