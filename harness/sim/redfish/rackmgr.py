"""The rack manager's Redfish tree: the ``Rack`` chassis, its tray summaries, and (in their own
modules) the power shelves and the CDU it aggregates.

The rack manager also serves a summary chassis per tray (serial, part number, power state,
``ContainedBy`` the rack), so ``Rack.Links.Contains`` resolves on this service; the trays' full trees
live on their own BMCs. It is powered from its own supply (not the busbar), so it is always up unless
a fault says otherwise.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from functools import partial

from harness.sim.physics import RackTwin
from harness.sim.redfish.actions import ActionSpec, Setter
from harness.sim.redfish.cdu import CduModel
from harness.sim.redfish.documents import SIM_EPOCH, V1, Body, collection, iso, link, otype
from harness.sim.redfish.power_shelves import PowerShelves
from harness.sim.redfish.thresholds import WatchedSensor

RACK_ID = "Rack1"
MANAGER_ID = "RackManager"


class RackManagerModel:
    """Redfish tree of the rack manager (Rack chassis, PowerEquipment, ThermalEquipment)."""

    role = "rack_manager"

    def __init__(self, twin: RackTwin, name: str) -> None:
        self.twin, self.name = twin, name
        self.epoch = SIM_EPOCH
        self.uuid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"rackval-sim/{twin.serial}/{name}"))
        self.rack_uri = f"{V1}/Chassis/{RACK_ID}"
        self.manager_uri = f"{V1}/Managers/{MANAGER_ID}"
        self.shelves = PowerShelves(twin, rack_uri=self.rack_uri, manager_uri=self.manager_uri)
        cdu = twin.profile.cdu
        self.cdu = CduModel(twin, cdu.name, rack_uri=self.rack_uri, manager_uri=self.manager_uri) \
            if cdu is not None and cdu.name else None
        self.actions: dict[str, ActionSpec] = {}
        self.writable: dict[str, dict[str, Setter]] = {}
        self.routes = self._routes()

    # ------------------------------------------------------------------ service protocol
    def ready(self) -> bool:
        return True

    def boot_id(self) -> int:
        return 0

    def root_links(self) -> Body:
        body: Body = {"Chassis": link(f"{V1}/Chassis"), "Managers": link(f"{V1}/Managers"),
                      "PowerEquipment": link(f"{V1}/PowerEquipment")}
        if self.cdu:
            body["ThermalEquipment"] = link(f"{V1}/ThermalEquipment")
        return body

    def odata_entries(self) -> list[tuple[str, str]]:
        return [(k, v["@odata.id"]) for k, v in self.root_links().items()]

    def events_for(self, kind: str, data: dict[str, object]) -> list[tuple[Body, str]]:
        """Registry messages (and their origin URI) for a twin event the rack manager reports."""
        return self.shelves.events_for(kind, data) + (self.cdu.events_for(kind, data) if self.cdu else [])

    def threshold_sensors(self) -> list[WatchedSensor]:
        """The sensors judged against their Thresholds (crossing events, ``thresholds.py``): the CDU's."""
        return self.cdu.threshold_sensors(self.name) if self.cdu else []

    # ------------------------------------------------------------------ rack and tray summaries
    def _chassis_uris(self) -> list[str]:
        uris = [self.rack_uri, *(f"{V1}/Chassis/{t}" for t in self.twin.trays), *self.shelves.chassis_uris()]
        if self.cdu:
            uris.append(self.cdu.cdu_chassis)
        return uris

    def rack(self) -> Body:
        contains = [u for u in self._chassis_uris() if u != self.rack_uri]
        return {"@odata.id": self.rack_uri, "@odata.type": otype("Chassis"), "Id": RACK_ID,
                "Name": f"{self.twin.profile.sku} rack", "ChassisType": "Rack", "Manufacturer": "rackval",
                "Model": f"SIM-{self.twin.profile.sku.upper()}", "SerialNumber": self.twin.serial,
                "PartNumber": f"RV-RACK-{self.twin.profile.sku.upper()}",
                "Status": {"State": "Enabled", "Health": "OK"},
                "Links": {"Contains": [link(u) for u in contains], "ManagedBy": [link(self.manager_uri)]}}

    def tray_summary(self, tray: str) -> Body:
        tr = self.twin.trays[tray]
        kind = tr.spec.kind
        return {"@odata.id": f"{V1}/Chassis/{tray}", "@odata.type": otype("Chassis"), "Id": tray,
                "Name": f"{tray} {kind} tray", "ChassisType": "Sled" if kind == "compute" else "Drawer",
                "Manufacturer": "rackval", "Model": f"SIM-{self.twin.profile.sku.upper()}-{kind.upper()}",
                "PartNumber": f"RV-{kind[:3].upper()}-{self.twin.profile.sku.upper()}",
                "SerialNumber": self.twin.serial_of(tray), "PowerState": self.twin.host_state(tray),
                "Status": {"State": "Enabled" if self.twin.bmc_state(tray) == "Ready" else "UnavailableOffline",
                           "Health": "OK"},
                "Links": {"ContainedBy": link(self.rack_uri)}}

    def manager(self) -> Body:
        return {"@odata.id": self.manager_uri, "@odata.type": otype("Manager"), "Id": MANAGER_ID,
                "Name": "Rack manager", "ManagerType": "RackManager", "Manufacturer": "rackval",
                "Model": "SIM-RACKMGR", "FirmwareVersion": self.twin.firmware_of("rackmgr"), "UUID": self.uuid,
                "PowerState": "On", "Status": {"State": "Enabled", "Health": "OK"},
                "DateTime": iso(self.twin.clock.now(), self.epoch), "DateTimeLocalOffset": "+00:00",
                "LogServices": link(f"{self.manager_uri}/LogServices"),
                "Links": {"ManagerForChassis": [link(self.rack_uri)]}}

    # ------------------------------------------------------------------ routing
    def _routes(self) -> dict[str, Callable[[], Body]]:
        r: dict[str, Callable[[], Body]] = {
            f"{V1}/Chassis": lambda: collection(f"{V1}/Chassis", "ChassisCollection", "Chassis Collection",
                                                self._chassis_uris()),
            self.rack_uri: self.rack,
            f"{V1}/Managers": lambda: collection(f"{V1}/Managers", "ManagerCollection", "Manager Collection",
                                                 [self.manager_uri]),
            self.manager_uri: self.manager,
        }
        for tray in self.twin.trays:
            r[f"{V1}/Chassis/{tray}"] = partial(self.tray_summary, tray)
        r.update(self.shelves.routes())
        if self.cdu:
            r.update(self.cdu.routes())
        return r
