"""Who took part in a run: the identity (model, serial, firmware, calibration) of every declared device.

Read once when the run opens, before anything is switched, for traceability and the serial interlock.
A device whose identity does not answer is recorded as "unreachable at start" rather than refusing the
run: the step that needs it fails on it, naming it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.drivers.redfish.client import BmcClient
from harness.drivers.snmp.pdu import Pdu
from harness.errors import TransientDriverError

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


def identities(rack: Rack) -> list[DeviceIdentity]:
    """Every declared BMC, PDU and connected instrument, in that order."""
    out: list[DeviceIdentity] = []
    for name, ident in rack.each_bmc(_bmc_identity, list(rack.bmcs)).items():
        out.append(DeviceIdentity(name, rack.roles[name], ident.get("model", ""), ident.get("serial_number", ""),
                                  ident.get("firmware_version", ""), ident.get("manufacturer", ""),
                                  ident.get("part_number", ""), uri=ident.get("chassis_uri", "")))
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
