"""What the rack reports about its shared equipment: power shelves, PSUs, the CDU and its leak
detectors (through the rack manager's Redfish service, or thermocouples on a DAQ for the coolant),
and the inventory of every device the station can see."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.drivers.redfish import equipment
from harness.errors import Refused

if TYPE_CHECKING:
    from harness.rack.rack import Rack


@dataclass(frozen=True)
class InventoryItem:
    """One device found in the rack (inventory step)."""

    name: str
    kind: str  # compute_tray | switch_tray | power_shelf | psu | gpu | cdu
    serial: str
    firmware: str
    part_number: str
    health: str | None


class Equipment:
    def __init__(self, rack: Rack) -> None:
        self.rack = rack

    @property
    def rack_manager(self) -> str | None:
        return next((n for n, r in self.rack.roles.items() if r == "rack_manager"), None)

    def rack_serial(self) -> str | None:
        """The Rack chassis SerialNumber from the rack manager; None if the station has none."""
        mgr = self.rack_manager
        return self.rack.bmc(mgr, equipment.rack_serial) if mgr else None

    def inventory(self) -> list[InventoryItem]:
        """Every device the station can see: trays, GPUs, power shelves, PSUs, CDU, with serial,
        firmware and health."""
        rack = self.rack
        items: list[InventoryItem] = []
        for ident in rack.identities(with_equipment=False):  # the rack manager's is read below
            if ident.kind in ("compute_tray", "switch_tray"):
                items.append(InventoryItem(ident.name, ident.kind, ident.serial, ident.firmware, ident.part_number,
                                           None))
        for tray, found in rack.each_bmc(equipment.inventory, rack.trays).items():
            items += [InventoryItem(f"{tray}/{i.name}", "gpu", i.serial or "", i.firmware or "", i.part_number or "",
                                    None)
                      for i in found if i.kind == "gpu"]
        mgr = self.rack_manager
        if mgr is not None:
            found = {i.uri: i for i in rack.bmc(mgr, equipment.inventory)}
            for shelf in rack.bmc(mgr, equipment.power_shelves):
                sid = shelf.uri.rsplit("/", 1)[-1]
                items.append(InventoryItem(sid, "power_shelf", "", "", "", shelf.health))
                for psu in shelf.psus:
                    inv = found.get(psu.uri)
                    items.append(InventoryItem(psu_name(sid, psu.uri), "psu", (inv.serial if inv else None) or "",
                                               (inv.firmware if inv else None) or "", (inv.part_number if inv else None)
                                               or "", psu.health))
            cdu = rack.bmc(mgr, equipment.cdu_status)
            if cdu is not None:
                items.append(InventoryItem(cdu.uri.rsplit("/", 1)[-1], "cdu", "", "", "", cdu.health))
        return items

    def leak_states(self) -> dict[str, str]:
        """Leak detector -> OK | Warning | Critical | Unavailable, for every detector the station reads."""
        mgr = self.rack_manager
        cdu = self.rack.bmc(mgr, equipment.cdu_status) if mgr else None
        return {name: state or "Unavailable" for name, state in cdu.leaks.items()} if cdu else {}

    # ------------------------------------------------------------------ power shelves
    def has_shelf_telemetry(self) -> bool:
        """Whether the station reads the power shelves themselves (Redfish PowerEquipment)."""
        return self.rack_manager is not None

    def _shelves(self) -> list[equipment.ShelfReading]:
        mgr = self.rack_manager
        if mgr is None:
            raise Refused("this station has no power-shelf telemetry")
        return self.rack.bmc(mgr, equipment.power_shelves)

    def shelf_output_w(self) -> dict[str, float]:
        """DC output of each power shelf (sum of its PSUs)."""
        return {s.uri.rsplit("/", 1)[-1]: sum(p.output_w or 0.0 for p in s.psus) for s in self._shelves()}

    def shelf_redundancy(self, shelf: str) -> bool | None:
        """True when every PSU of the shelf is healthy with normal input (redundancy intact)."""
        for s in self._shelves():
            if s.uri.rsplit("/", 1)[-1] == shelf:
                return all(p.health == "OK" and p.line_input in (None, "Normal") for p in s.psus)
        return None

    # ------------------------------------------------------------------ cooling
    def has_cooling(self) -> bool:
        """Whether the station can read the coolant loop (a CDU over Redfish, or thermocouples)."""
        return self._coolant_reader() is not None

    def coolant(self) -> dict[str, float | None]:
        """Coolant supply/return temperature (Cel) and flow (L/min); None where not measured."""
        reader = self._coolant_reader()
        if reader is None:
            raise Refused("this station has no coolant instrumentation (no CDU endpoint, no thermocouple DAQ)")
        return reader()

    def _coolant_reader(self) -> Callable[[], dict[str, float | None]] | None:
        mgr = self.rack_manager
        if mgr is not None and self.rack.profile.cdu is not None:
            def from_cdu() -> dict[str, float | None]:
                cdu = self.rack.bmc(mgr, equipment.cdu_status)
                if cdu is None:
                    raise Refused(f"{mgr} reports no CDU")
                return {"supply_c": cdu.supply_c, "return_c": cdu.return_c, "flow_lpm": cdu.flow_lpm}
            return from_cdu
        daq = self.rack.daq
        if daq is not None:
            def from_thermocouples() -> dict[str, float | None]:
                points = daq.read()
                return {"supply_c": points.get("coolant_supply"), "return_c": points.get("coolant_return"),
                        "flow_lpm": None}
            return from_thermocouples
        return None


def psu_name(shelf: str, uri: str) -> str:
    """PSU name as the station's outlet map writes it (shelf1.psu3) from its Redfish Id (shelf1_psu3 or psu3)."""
    last = uri.rsplit("/", 1)[-1]
    return last.replace("_", ".") if last.startswith(shelf) else f"{shelf}.{last}"
