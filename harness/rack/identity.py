"""Who took part in a run: the identity (model, serial, firmware, calibration) of every declared device,
and of the equipment the rack manager reports (power shelves, their PSUs, the CDU).

Read once when the run opens, before anything is switched, for traceability and the serial interlock.
A device whose identity does not answer is recorded as "unreachable at start" rather than refusing the
run: the step that needs it fails on it, naming it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.drivers.redfish import equipment
from harness.drivers.redfish.client import BmcClient
from harness.drivers.snmp.pdu import Pdu
from harness.errors import TransientDriverError
from harness.rack.equipment import psu_name

if TYPE_CHECKING:
    from harness.rack.rack import Rack

log = logging.getLogger(__name__)
UNREACHABLE = {"model": "unreachable at start"}


@dataclass(frozen=True)
class DeviceIdentity:
    """What traceability records for one device."""

    name: str
    kind: str
    model: str = ""
    serial: str = ""
    firmware: str = ""
    manufacturer: str = ""
    part_number: str = ""
    calibration_due: str = ""
    uri: str = ""


def _bmc_identity(client: BmcClient) -> dict[str, str]:
    try:
        return client.identity()
    except TransientDriverError as exc:  # recorded as such; the step that needs the BMC will fail on it
        log.error("%s: identity not readable: %s", client.name, exc)
        return dict(UNREACHABLE)


def _pdu_identity(name: str, pdu: Pdu) -> dict[str, str]:
    """A read, so asked twice; a PDU that still does not answer is recorded as unreachable at start."""
    for attempt in (1, 2):
        try:
            return pdu.identity()
        except TransientDriverError as exc:
            if attempt == 1:
                log.warning("%s: identity not answered (%s); asking again", name, exc)
            else:
                log.error("%s: identity not readable: %s", name, exc)
    return dict(UNREACHABLE)


def _equipment_identities(rack: Rack) -> list[DeviceIdentity]:
    """The power shelves, PSUs and CDU the rack manager reports (named as the profile, the outlet map and
    the steps name them: shelf1, shelf1.psu3, cdu1); none on a station without a rack manager."""
    mgr = next((n for n, r in rack.roles.items() if r == "rack_manager"), None)
    if mgr is None:
        return []
    try:
        items = rack.bmc(mgr, equipment.inventory)
    except TransientDriverError as exc:  # recorded as missing; the steps that need the equipment fail on it
        log.error("%s: equipment identities not readable: %s", mgr, exc)
        return []
    shelves = set(rack.profile.shelf_names())
    cdu = rack.profile.cdu.name if rack.profile.cdu is not None else None
    out: list[DeviceIdentity] = []
    for i in items:
        chassis = i.uri.split("/Chassis/", 1)[-1].split("/", 1)[0] if "/Chassis/" in i.uri else ""
        if i.kind == "chassis" and chassis in shelves:
            name, kind = chassis, "power_shelf"
        elif i.kind == "chassis" and cdu is not None and chassis.lower() == cdu.lower():
            name, kind = cdu, "cdu"
        elif i.kind == "psu" and chassis in shelves:
            name, kind = psu_name(chassis, i.uri), "psu"
        else:
            continue
        out.append(DeviceIdentity(name, kind, i.model or "", i.serial or "", i.firmware or "", "",
                                  i.part_number or "", uri=i.uri))
    return out


def identities(rack: Rack, *, with_equipment: bool = True) -> list[DeviceIdentity]:
    """Every declared BMC, then (``with_equipment``) the shelves, PSUs and CDU its rack manager reports,
    then every PDU and connected instrument."""
    out: list[DeviceIdentity] = []
    for name, ident in rack.each_bmc(_bmc_identity, list(rack.bmcs)).items():
        out.append(DeviceIdentity(name, rack.roles[name], ident.get("model", ""), ident.get("serial_number", ""),
                                  ident.get("firmware_version", ""), ident.get("manufacturer", ""),
                                  ident.get("part_number", ""), uri=ident.get("chassis_uri", "")))
    if with_equipment:
        out += _equipment_identities(rack)
    for name, pdu in rack.feeds.pdus.items():
        ident = _pdu_identity(name, pdu)
        out.append(DeviceIdentity(name, "pdu", ident.get("model", ""), ident.get("serial", ""),
                                  ident.get("firmware", "")))
    for link in rack.instruments.links:
        inst = rack.instrument_endpoints[link.name]
        parts = [p.strip() for p in (link.idn or "").split(",")] + ["", "", "", ""]
        out.append(DeviceIdentity(link.name, inst.role, parts[1], parts[2], parts[3], parts[0],
                                  calibration_due=str(inst.calibration_due or ("simulated" if inst.simulated
                                                                               else ""))))
    return out
