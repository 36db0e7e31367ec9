"""The resource tree of one simulated tray BMC: its host (ComputerSystem, Reset, GPUs), its chassis
and its manager, built from the twin at request time; power and thermal resources are in
``tray_environment.py``.

Nothing is cached, so every GET shows the twin's state at the clock's now. The service modules own
HTTP, sessions, accounts and events; this module owns the tray's data model (URIs and ids).

A tray BMC has a *personality*: ``"new"`` serves PowerSubsystem/ThermalSubsystem/EnvironmentMetrics/
Sensors, ``"legacy"`` only the deprecated ``Power``/``Thermal`` resources, ``"both"`` all of them
(as many real BMCs do). Clients must cope with each.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Literal

from harness.sim.physics import RackTwin
from harness.sim.redfish.actions import ActionError, ActionSpec, Setter, json_text
from harness.sim.redfish.documents import SIM_EPOCH, V1, Body, collection, iso, link, otype
from harness.sim.redfish.registry import message
from harness.sim.redfish.sensors import LEAK_EVENTS
from harness.sim.redfish.thresholds import WatchedSensor
from harness.sim.redfish.tray_environment import TrayEnvironment

Personality = Literal["new", "legacy", "both"]

RESET_ALLOWED = ["On", "ForceOff", "GracefulShutdown", "GracefulRestart", "ForceRestart", "PowerCycle", "Nmi"]
FULL_POWER_CYCLE_OUTAGE_S = 20.0  # simulated seconds the BMC answers 503 after a FullPowerCycle
POWER_EVENTS = {"PoweringOn": "ResourcePoweringOn", "On": "ResourcePoweredOn", "PoweringOff": "ResourcePoweringOff",
                "Off": "ResourcePoweredOff"}


class BmcModel:
    """The resource tree of one tray's BMC. Ids differ from the chassis name on purpose, so clients
    must discover URIs by following links."""

    SYSTEM_ID = "System_0"
    MANAGER_ID = "BMC_0"
    role: str

    def __init__(self, twin: RackTwin, tray: str, *, epoch: datetime = SIM_EPOCH,
                 personality: Personality = "new") -> None:
        self.twin, self.tray, self.epoch, self.personality = twin, tray, epoch, personality
        self.name = tray
        spec = twin.trays[tray].spec
        self.kind, self.gpus = spec.kind, spec.gpus
        self.role = "compute_tray" if spec.kind == "compute" else "switch_tray"
        self.system_uri = f"{V1}/Systems/{self.SYSTEM_ID}"
        self.chassis_uri = f"{V1}/Chassis/{tray}"
        self.manager_uri = f"{V1}/Managers/{self.MANAGER_ID}"
        self.reset_target = f"{self.system_uri}/Actions/ComputerSystem.Reset"
        self.reset_info_uri = f"{self.system_uri}/ResetActionInfo"
        self.uuid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"rackval-sim/{twin.serial}/{tray}"))
        self.reset_allowed = [*RESET_ALLOWED, "FullPowerCycle"]
        self.env = TrayEnvironment(twin, tray, self.chassis_uri, new_tree=self.new_tree, legacy_tree=self.legacy_tree)
        # set by the server: called with an outage length (s) when a FullPowerCycle takes the BMC away
        self.on_bmc_outage: Callable[[float], None] = lambda seconds: None
        self.routes: dict[str, Callable[[], Body]] = self._routes()
        self.actions: dict[str, ActionSpec] = {self.reset_target: ActionSpec("ComputerSystem.Reset", self._reset)}
        self.writable: dict[str, dict[str, Setter]] = self.env.writable()

    @property
    def new_tree(self) -> bool:
        return self.personality in ("new", "both")

    @property
    def legacy_tree(self) -> bool:
        return self.personality in ("legacy", "both")

    # ------------------------------------------------------------------ liveness
    def ready(self) -> bool:
        return self.twin.bmc_state(self.tray) == "Ready"

    def boot_id(self) -> int:
        return self.twin.trays[self.tray].boot_count

    def events_for(self, kind: str, data: dict[str, object]) -> list[tuple[Body, str]]:
        """Registry messages (and their origin URI) for a twin event that concerns this BMC."""
        if kind == "power" and data.get("tray") == self.tray:
            key = POWER_EVENTS.get(str(data.get("state")))
            return [(message(f"ResourceEvent.{key}", self.SYSTEM_ID), self.system_uri)] if key else []
        if kind == "leak" and data.get("detector") == f"{self.tray}.coldplate":
            key = LEAK_EVENTS.get(str(data.get("state")))
            return [(message(f"Environmental.{key}", data["detector"]), self.chassis_uri)] if key else []
        return []

    # ------------------------------------------------------------------ sensors
    def threshold_sensors(self) -> list[WatchedSensor]:
        """The sensors this BMC judges against its Thresholds (crossing events, ``thresholds.py``)."""
        return self.env.threshold_sensors(self.name)

    # ------------------------------------------------------------------ resources
    def root_links(self) -> Body:
        return {"Systems": link(f"{V1}/Systems"), "Chassis": link(f"{V1}/Chassis"),
                "Managers": link(f"{V1}/Managers")}

    def odata_entries(self) -> list[tuple[str, str]]:
        return [("Systems", f"{V1}/Systems"), ("Chassis", f"{V1}/Chassis"), ("Managers", f"{V1}/Managers")]

    def _status(self, host: str) -> Body:
        state = {"On": "Enabled", "PoweringOn": "Starting"}.get(host, "StandbyOffline")
        return {"State": state, "Health": "OK"}

    def system(self) -> Body:
        info = self.twin.tray_info(self.tray)
        host = str(info["host"])
        if host == "On":
            boot = "OSRunning" if info["os_running"] else "SystemHardwareInitializationComplete"
        elif host == "PoweringOn":
            boot = "PrimaryProcessorInitializationStarted"
        else:
            boot = "None"
        body: Body = {
            "@odata.id": self.system_uri, "@odata.type": otype("ComputerSystem"), "Id": self.SYSTEM_ID,
            "Name": f"{self.tray} host", "SystemType": "Physical", "Manufacturer": "rackval",
            "Model": self._model(), "SerialNumber": self.twin.serial_of(self.tray), "UUID": self.uuid,
            "PowerState": host, "Status": self._status(host), "BootProgress": {"LastState": boot},
            "BiosVersion": f"SIM-BIOS-{self.twin.firmware_of(self.tray)}",
            "Links": {"Chassis": [link(self.chassis_uri)], "ManagedBy": [link(self.manager_uri)]},
            "Actions": {"#ComputerSystem.Reset": {"target": self.reset_target,
                                                  "@Redfish.ActionInfo": self.reset_info_uri,
                                                  "ResetType@Redfish.AllowableValues": list(self.reset_allowed)}}}
        if self.gpus:
            body["Processors"] = link(f"{self.system_uri}/Processors")
        last = info.get("last_reset_time")
        if isinstance(last, int | float):
            body["LastResetTime"] = iso(last, self.epoch)
        return body

    def reset_action_info(self) -> Body:
        return {"@odata.id": self.reset_info_uri, "@odata.type": otype("ActionInfo"), "Id": "ResetActionInfo",
                "Name": "Reset action info", "Parameters": [{"Name": "ResetType", "Required": True,
                                                             "DataType": "String",
                                                             "AllowableValues": list(self.reset_allowed)}]}

    def processor(self, n: int) -> Body:
        what = f"{self.tray}.gpu{n}"
        return {"@odata.id": f"{self.system_uri}/Processors/GPU_{n}", "@odata.type": otype("Processor"),
                "Id": f"GPU_{n}", "Name": f"GPU {n}", "ProcessorType": "GPU", "Manufacturer": "rackval",
                "Model": "SIM-GPU", "SerialNumber": self.twin.serial_of(what),
                "PartNumber": f"RV-GPU-{self.twin.profile.sku.upper()}",
                "FirmwareVersion": self.twin.firmware_of(what), "Status": {"State": "Enabled", "Health": "OK"}}

    def _model(self) -> str:
        return f"SIM-{self.twin.profile.sku.upper()}-{self.kind.upper()}"

    def chassis(self) -> Body:
        host = self.twin.host_state(self.tray)
        body: Body = {
            "@odata.id": self.chassis_uri, "@odata.type": otype("Chassis"), "Id": self.tray,
            "Name": f"{self.tray} {self.kind} tray", "ChassisType": "Sled" if self.kind == "compute" else "Drawer",
            "Manufacturer": "rackval", "Model": self._model(),
            "PartNumber": f"RV-{self.kind[:3].upper()}-{self.twin.profile.sku.upper()}",
            "SerialNumber": self.twin.serial_of(self.tray), "PowerState": host,
            "Status": {"State": "Enabled", "Health": "OK"},
            "Links": {"ComputerSystems": [link(self.system_uri)], "ManagedBy": [link(self.manager_uri)]}}
        body.update(self.env.chassis_links())
        return body

    def manager(self) -> Body:
        return {"@odata.id": self.manager_uri, "@odata.type": otype("Manager"), "Id": self.MANAGER_ID,
                "Name": f"{self.tray} BMC", "ManagerType": "BMC", "Manufacturer": "rackval",
                "Model": "SIM-BMC", "FirmwareVersion": self.twin.firmware_of(self.tray), "UUID": self.uuid,
                "PowerState": "On", "Status": {"State": "Enabled", "Health": "OK"},
                "DateTime": iso(self.twin.clock.now(), self.epoch), "DateTimeLocalOffset": "+00:00",
                "LogServices": link(f"{self.manager_uri}/LogServices"),
                "Links": {"ManagerForServers": [link(self.system_uri)],
                          "ManagerForChassis": [link(self.chassis_uri)]}}

    # ------------------------------------------------------------------ actions
    def _reset(self, body: Body) -> Callable[[], bool] | None:
        action = "ComputerSystem.Reset"
        if "ResetType" not in body:
            raise ActionError(400, "ActionParameterMissing", action, "ResetType")
        value = body["ResetType"]
        if not isinstance(value, str):
            raise ActionError(400, "ActionParameterValueTypeError", json_text(value), "ResetType", action)
        if value not in self.reset_allowed:
            raise ActionError(400, "ActionParameterValueNotInList", value, "ResetType", action)
        before = self.twin.tray_info(self.tray).get("last_reset_time")
        try:
            # FullPowerCycle is AC-like: here it is the host's PowerCycle plus a BMC outage (503s),
            # not a real feed cut (the PDU outlets are the harness's business).
            self.twin.host_reset(self.tray, "PowerCycle" if value == "FullPowerCycle" else value)
        except (RuntimeError, ValueError) as exc:
            raise ActionError(500, "GeneralError", detail=str(exc)) from exc
        if value == "FullPowerCycle":
            self.on_bmc_outage(FULL_POWER_CYCLE_OUTAGE_S)
        target = {"ForceOff": "Off", "GracefulShutdown": "Off", "Nmi": None}.get(value, "On")
        if target is None:
            return None

        def done() -> bool:
            info = self.twin.tray_info(self.tray)
            if info["host"] != target:
                return False
            return target == "Off" or value in ("On", "ForceOn") or info.get("last_reset_time") != before
        return done

    # ------------------------------------------------------------------ routing
    def _routes(self) -> dict[str, Callable[[], Body]]:
        """Every static GET-able URI -> builder (service-wide resources are added by the server)."""
        c = self.chassis_uri
        routes: dict[str, Callable[[], Body]] = {
            f"{V1}/Systems": lambda: collection(f"{V1}/Systems", "ComputerSystemCollection",
                                                "Computer System Collection", [self.system_uri]),
            self.system_uri: self.system,
            self.reset_info_uri: self.reset_action_info,
            f"{V1}/Chassis": lambda: collection(f"{V1}/Chassis", "ChassisCollection", "Chassis Collection", [c]),
            c: self.chassis,
            f"{V1}/Managers": lambda: collection(f"{V1}/Managers", "ManagerCollection", "Manager Collection",
                                                 [self.manager_uri]),
            self.manager_uri: self.manager,
        }
        if self.gpus:
            procs = f"{self.system_uri}/Processors"
            routes[procs] = lambda: collection(procs, "ProcessorCollection", "Processors",
                                               [f"{procs}/GPU_{n}" for n in range(self.gpus)])
            for n in range(self.gpus):
                routes[f"{procs}/GPU_{n}"] = partial(self.processor, n)
        routes.update(self.env.routes())
        return routes
