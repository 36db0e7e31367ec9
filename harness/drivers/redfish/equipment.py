"""Rack-level reads over a :class:`BmcClient`: rack serial, power shelves, CDU, inventory.

Everything is discovered by following links from the service root (no hard-coded Ids). A resource
the service does not have is "not available": ``None`` or an empty list, never an exception; an
unreachable service still raises :class:`RedfishUnreachable`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.drivers.redfish.client import BmcClient
from harness.drivers.redfish.views import JsonObj, first_link, link, number, path, text


@dataclass(frozen=True)
class InventoryItem:
    """One field-replaceable unit, for traceability."""

    kind: str  # chassis | gpu | psu | manager
    name: str
    uri: str
    serial: str | None
    part_number: str | None
    model: str | None
    firmware: str | None


@dataclass(frozen=True)
class PsuReading:
    name: str
    uri: str
    health: str | None
    line_input: str | None
    input_w: float | None
    output_w: float | None
    output_v: float | None


@dataclass(frozen=True)
class ShelfReading:
    name: str
    uri: str
    health: str | None
    input_w: float | None
    psus: list[PsuReading] = field(default_factory=list)


@dataclass(frozen=True)
class CduStatus:
    name: str
    uri: str
    health: str | None
    supply_c: float | None
    return_c: float | None
    flow_lpm: float | None
    supply_kpa: float | None
    return_kpa: float | None
    pumps: dict[str, float | None]  # pump -> speed percent (None: not reported)
    leaks: dict[str, str | None]  # detector -> DetectorState


def _item(kind: str, uri: str, body: JsonObj) -> InventoryItem:
    return InventoryItem(kind, text(body.get("Name")) or text(body.get("Id")) or uri.rsplit("/", 1)[-1], uri,
                         text(body.get("SerialNumber")), text(body.get("PartNumber")), text(body.get("Model")),
                         text(body.get("FirmwareVersion")))


def rack_serial(client: BmcClient) -> str | None:
    """SerialNumber of the service's ``Rack`` chassis; None when the service has no Rack chassis."""
    for _, body in client.members(link(client.service_root(), "Chassis")):
        if text(body.get("ChassisType")) == "Rack":
            return text(body.get("SerialNumber"))
    return None


def inventory(client: BmcClient) -> list[InventoryItem]:
    """Chassis, GPUs, PSUs and managers the service reports, with serials, part numbers and firmware."""
    root = client.service_root()
    items: list[InventoryItem] = []
    for uri, body in client.members(link(root, "Chassis")):
        items.append(_item("chassis", uri, body))
        psus = link(client.get_optional(link(body, "PowerSubsystem")), "PowerSupplies")
        items += [_item("psu", u, b) for u, b in client.members(psus)]
    for _, system in client.members(link(root, "Systems")):
        for uri, proc in client.members(link(system, "Processors")):
            if text(proc.get("ProcessorType")) == "GPU":
                items.append(_item("gpu", uri, proc))
    items += [_item("manager", u, b) for u, b in client.members(link(root, "Managers"))]
    return items


def power_shelves(client: BmcClient) -> list[ShelfReading]:
    """Every power shelf under PowerEquipment with its PSUs' metrics; [] if the service has none."""
    equipment = client.get_optional(link(client.service_root(), "PowerEquipment"))
    out: list[ShelfReading] = []
    for uri, shelf in client.members(link(equipment, "PowerShelves")):
        metrics = client.get_optional(link(shelf, "Metrics"))
        psus: list[PsuReading] = []
        chassis = client.get_optional(first_link(shelf, "Links", "Chassis"))
        subsystem = client.get_optional(link(chassis, "PowerSubsystem"))
        for puri, psu in client.members(link(subsystem, "PowerSupplies")):
            m = client.get_optional(link(psu, "Metrics"))
            rails = path(m, "RailVoltage")
            out_v = number(path(rails[0], "Reading")) if isinstance(rails, list) and rails else None
            psus.append(PsuReading(text(psu.get("Name")) or puri, puri, text(path(psu, "Status", "Health")),
                                   text(psu.get("LineInputStatus")), number(path(m, "InputPowerWatts", "Reading")),
                                   number(path(m, "OutputPowerWatts", "Reading")), out_v))
        out.append(ShelfReading(text(shelf.get("Name")) or uri, uri, text(path(shelf, "Status", "HealthRollup"))
                                or text(path(shelf, "Status", "Health")), number(path(metrics, "PowerWatts", "Reading")),
                                psus))
    return out


def cdu_status(client: BmcClient) -> CduStatus | None:
    """The first CDU under ThermalEquipment; None if the service has no CDU."""
    equipment = client.get_optional(link(client.service_root(), "ThermalEquipment"))
    cdus = client.members(link(equipment, "CDUs"))
    if not cdus:
        return None
    uri, cdu = cdus[0]
    secondary = client.members(link(cdu, "SecondaryCoolantConnectors"))
    conn = secondary[0][1] if secondary else {}
    pumps = {text(b.get("Id")) or u: number(path(b, "PumpSpeedPercent", "Reading"))
             for u, b in client.members(link(cdu, "Pumps"))}
    leak = client.get_optional(link(cdu, "LeakDetection"))
    leaks: dict[str, str | None] = {}
    groups = path(leak, "LeakDetectorGroups")
    for group in groups if isinstance(groups, list) else []:
        detectors = path(group, "Detectors")
        for d in detectors if isinstance(detectors, list) else []:
            name = text(path(d, "DeviceName")) or text(path(d, "DataSourceUri"))
            if name:
                leaks[name] = text(path(d, "DetectorState"))

    def reading(key: str) -> float | None:
        return number(path(conn, key, "Reading"))
    return CduStatus(text(cdu.get("Name")) or uri, uri, text(path(cdu, "Status", "Health")),
                     reading("SupplyTemperatureCelsius"), reading("ReturnTemperatureCelsius"),
                     reading("FlowLitersPerMinute"), reading("SupplyPressurekPa"), reading("ReturnPressurekPa"),
                     pumps, leaks)
