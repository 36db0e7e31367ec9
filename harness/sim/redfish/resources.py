"""Redfish resource bodies of one simulated tray BMC, built from the twin at request time.

Nothing is cached, so every GET shows the twin's state at the clock's now. The server modules own
HTTP, sessions, accounts and events; this module owns the tray's data model (URIs, @odata.type
versions) and the helpers shared with the rack manager model (``redfish_rackmgr.py``).

A tray BMC has a *personality*: ``"new"`` serves PowerSubsystem/ThermalSubsystem/EnvironmentMetrics/
Sensors, ``"legacy"`` only the deprecated ``Power``/``Thermal`` resources, ``"both"`` all of them
(as many real BMCs do). Clients must cope with each.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from harness.sim.physics import RackTwin
from harness.sim.redfish.registry import error_body, message
from harness.sim.redfish.thresholds import WatchedSensor

Body = dict[str, Any]
Personality = Literal["new", "legacy", "both"]

V1 = "/redfish/v1"
SIM_EPOCH = datetime(2025, 1, 1, tzinfo=UTC)  # simulated t=0 as wall time: deterministic records
RESET_ALLOWED = ["On", "ForceOff", "GracefulShutdown", "GracefulRestart", "ForceRestart", "PowerCycle", "Nmi"]
FULL_POWER_CYCLE_OUTAGE_S = 20.0
POWER_EVENTS = {"PoweringOn": "ResourcePoweringOn", "On": "ResourcePoweredOn", "PoweringOff": "ResourcePoweringOff",
                "Off": "ResourcePoweredOff"}
LEAK_EVENTS = {"Critical": "LeakDetectedCritical", "Warning": "LeakDetectedWarning", "OK": "LeakDetectedNormal"}  # simulated seconds the BMC answers 503 after a FullPowerCycle

__all__ = ["SIM_EPOCH", "TYPES", "V1", "ActionError", "BmcModel", "Body", "error_body", "message"]

# @odata.type versions, also listed in $metadata (the validator resolves them against DSP8010 2025.4).
TYPES = {
    "ServiceRoot": "ServiceRoot.v1_17_0",
    "ComputerSystem": "ComputerSystem.v1_22_0",
    "Chassis": "Chassis.v1_28_0",
    "Manager": "Manager.v1_19_0",
    "SessionService": "SessionService.v1_1_9",
    "Session": "Session.v1_7_0",
    "AccountService": "AccountService.v1_15_0",
    "ManagerAccount": "ManagerAccount.v1_12_0",
    "Role": "Role.v1_3_2",
    "EventService": "EventService.v1_10_0",
    "EventDestination": "EventDestination.v1_14_0",
    "Event": "Event.v1_10_0",
    "TaskService": "TaskService.v1_2_1",
    "Task": "Task.v1_7_3",
    "LogService": "LogService.v1_5_0",
    "LogEntry": "LogEntry.v1_16_0",
    "EnvironmentMetrics": "EnvironmentMetrics.v1_3_2",
    "PowerSubsystem": "PowerSubsystem.v1_1_0",
    "ThermalSubsystem": "ThermalSubsystem.v1_3_0",
    "ThermalMetrics": "ThermalMetrics.v1_3_0",
    "Fan": "Fan.v1_5_0",
    "Sensor": "Sensor.v1_9_0",
    "ActionInfo": "ActionInfo.v1_4_0",
    "Processor": "Processor.v1_20_0",
    "Power": "Power.v1_7_1",
    "Thermal": "Thermal.v1_7_1",
    "PowerEquipment": "PowerEquipment.v1_2_0",
    "PowerDistribution": "PowerDistribution.v1_4_0",
    "PowerDistributionMetrics": "PowerDistributionMetrics.v1_3_0",
    "PowerSupply": "PowerSupply.v1_6_0",
    "PowerSupplyMetrics": "PowerSupplyMetrics.v1_1_0",
    "ThermalEquipment": "ThermalEquipment.v1_1_0",
    "CoolingUnit": "CoolingUnit.v1_2_0",
    "CoolantConnector": "CoolantConnector.v1_1_0",
    "Pump": "Pump.v1_1_0",
    "LeakDetection": "LeakDetection.v1_1_0",
    "LeakDetector": "LeakDetector.v1_2_0",
}
COLLECTIONS = ["ComputerSystemCollection", "ChassisCollection", "ManagerCollection", "SessionCollection",
               "SensorCollection", "ManagerAccountCollection", "RoleCollection", "EventDestinationCollection",
               "TaskCollection", "LogServiceCollection", "LogEntryCollection", "ProcessorCollection",
               "FanCollection", "PowerDistributionCollection", "PowerSupplyCollection", "CoolingUnitCollection",
               "CoolantConnectorCollection", "PumpCollection", "LeakDetectorCollection"]


class ActionError(Exception):
    """An action or PATCH refused with a registry message (HTTP ``status``)."""

    def __init__(self, status: int, key: str, *args: object, detail: str | None = None) -> None:
        super().__init__(key)
        self.status, self.key, self.args_, self.detail = status, key, args, detail

    def body(self) -> Body:
        return error_body(self.key, *self.args_, detail=self.detail)


@dataclass
class ActionSpec:
    """A POST target: ``run(body)`` acts or raises ActionError; the returned callable (if any) says
    when the operation is complete, for a 202 task monitor."""

    name: str
    run: Callable[[Body], Callable[[], bool] | None]


# A writable property: setter(value) applies it or raises ActionError.
Setter = Callable[[Any], None]


def link(uri: str) -> Body:
    return {"@odata.id": uri}


_link = link


def otype(kind: str) -> str:
    return f"#{TYPES[kind]}.{kind}" if kind in TYPES else f"#{kind}.{kind}"


_otype = otype


def collection(uri: str, kind: str, name: str, members: list[str]) -> Body:
    return {"@odata.id": uri, "@odata.type": f"#{kind}.{kind}", "Name": name,
            "Members@odata.count": len(members), "Members": [link(m) for m in members]}


def iso(t: float, epoch: datetime = SIM_EPOCH) -> str:
    return (epoch + timedelta(seconds=float(t))).isoformat().replace("+00:00", "Z")


def reading(value: float | None, digits: int = 2) -> float | None:
    """A JSON-safe reading: NaN/inf (an unavailable sensor) becomes null."""
    if value is None or not math.isfinite(value):
        return None
    return round(value, digits)


def service_root_doc() -> Body:
    return {"v1": f"{V1}/"}


def odata_doc(entries: list[tuple[str, str]]) -> Body:
    return {"@odata.context": f"{V1}/$metadata",
            "value": [{"name": n, "kind": "Singleton", "url": u} for n, u in [("Service", f"{V1}/"), *entries]]}


def metadata_xml() -> str:
    """CSDL $metadata: a reference per schema the service uses, plus the Service container."""
    refs: dict[str, list[str]] = {}
    for kind, versioned in TYPES.items():
        refs.setdefault(kind, [kind]).append(versioned)
    for kind in COLLECTIONS:
        refs[kind] = [kind]
    refs["Message"] = ["Message", "Message.v1_3_0"]
    refs["Resource"] = ["Resource", "Resource.v1_0_0"]
    refs["RedfishExtensions"] = ["RedfishExtensions.v1_0_0"]
    lines = ['<?xml version="1.0" encoding="UTF-8"?>',
             '<edmx:Edmx xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx" Version="4.0">']
    for schema, namespaces in refs.items():
        lines.append(f'  <edmx:Reference Uri="http://redfish.dmtf.org/schemas/v1/{schema}_v1.xml">')
        for ns in namespaces:
            alias = ' Alias="Redfish"' if ns.startswith("RedfishExtensions") else ""
            lines.append(f'    <edmx:Include Namespace="{ns}"{alias}/>')
        lines.append("  </edmx:Reference>")
    lines += ["  <edmx:DataServices>",
              '    <Schema xmlns="http://docs.oasis-open.org/odata/ns/edm" Namespace="Service">',
              f'      <EntityContainer Name="Service" Extends="{TYPES["ServiceRoot"]}.ServiceContainer"/>',
              "    </Schema>", "  </edmx:DataServices>", "</edmx:Edmx>", ""]
    return "\n".join(lines)


@dataclass(frozen=True)
class SensorDef:
    """A sensor: where its reading comes from in the twin and its limits."""

    id: str
    name: str
    reading_type: str
    units: str
    context: str
    read: Callable[[], float]
    thresholds: dict[str, float] = field(default_factory=dict)


def sensor_body(uri: str, d: SensorDef) -> Body:
    """A Sensor; an unavailable reading (NaN from a sensor fault) is null with UnavailableOffline."""
    value = reading(d.read())
    health = "OK"
    if value is not None:
        if value >= d.thresholds.get("UpperCritical", math.inf):
            health = "Critical"
        elif value >= d.thresholds.get("UpperCaution", math.inf):
            health = "Warning"
    state = "Enabled" if value is not None else "UnavailableOffline"
    body: Body = {"@odata.id": uri, "@odata.type": otype("Sensor"), "Id": d.id, "Name": d.name,
                  "ReadingType": d.reading_type, "Reading": value, "ReadingUnits": d.units,
                  "PhysicalContext": d.context, "Status": {"State": state, "Health": health}}
    if d.thresholds:
        body["Thresholds"] = {k: {"Reading": v, "Activation": "Increasing"} for k, v in d.thresholds.items()}
    return body


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
        self.max_w, self.idle_w = spec.max_w, spec.idle_w
        self.system_uri = f"{V1}/Systems/{self.SYSTEM_ID}"
        self.chassis_uri = f"{V1}/Chassis/{tray}"
        self.manager_uri = f"{V1}/Managers/{self.MANAGER_ID}"
        self.reset_target = f"{self.system_uri}/Actions/ComputerSystem.Reset"
        self.reset_info_uri = f"{self.system_uri}/ResetActionInfo"
        self.sensors_uri = f"{self.chassis_uri}/Sensors"
        self.em_uri = f"{self.chassis_uri}/EnvironmentMetrics"
        self.uuid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"rackval-sim/{twin.serial}/{tray}"))
        self.reset_allowed = [*RESET_ALLOWED, "FullPowerCycle"]
        self.sensor_defs = self._sensor_defs()
        # set by the server: called with an outage length (s) when a FullPowerCycle takes the BMC away
        self.on_bmc_outage: Callable[[float], None] = lambda seconds: None
        self.routes: dict[str, Callable[[], Body]] = self._routes()
        self.actions: dict[str, ActionSpec] = {self.reset_target: ActionSpec("ComputerSystem.Reset", self._reset)}
        self.writable: dict[str, dict[str, Setter]] = {}
        if self.new_tree:
            self.writable[self.em_uri] = {"PowerLimitWatts": self._set_power_limit}

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
    def _sensor_defs(self) -> dict[str, SensorDef]:
        twin, tray = self.twin, self.tray
        defs = [SensorDef("TotalPower", f"{tray} total power", "Power", "W", "Chassis",
                          lambda: twin.tray_power_w(tray), {"UpperCritical": self.max_w}),
                SensorDef("InletTemp", f"{tray} inlet temperature", "Temperature", "Cel", "Intake",
                          _reader(twin, tray, "inlet"),
                          {"UpperCaution": 35.0, "UpperCritical": 40.0, "UpperFatal": 45.0})]
        for key in twin.tray_temperatures_c(tray):
            if key.startswith("gpu"):
                n = key[3:]
                defs.append(SensorDef(f"GPU{n}Temp", f"GPU {n} temperature", "Temperature", "Cel", "GPU",
                                      _reader(twin, tray, key),
                                      {"UpperCaution": 80.0, "UpperCritical": 87.0, "UpperFatal": 95.0}))
            elif key == "asic":
                defs.append(SensorDef("ASICTemp", "Switch ASIC temperature", "Temperature", "Cel", "ASIC",
                                      _reader(twin, tray, key),
                                      {"UpperCaution": 85.0, "UpperCritical": 95.0, "UpperFatal": 105.0}))
        if self.kind != "compute":
            for i in (1, 2):
                defs.append(SensorDef(f"Fan{i}Speed", f"Fan {i} speed", "Percent", "%", "Fan",
                                      _fan_reader(twin, tray, i)))
        return {d.id: d for d in defs}

    def sensor_uri(self, sensor_id: str) -> str:
        return f"{self.sensors_uri}/{sensor_id}"

    def threshold_sensors(self) -> list[WatchedSensor]:
        """The sensors this BMC judges against its Thresholds (crossing events, redfish_thresholds.py)."""
        keys = {"TotalPower": "power", "InletTemp": "inlet", "ASICTemp": "asic"}
        tray = self.twin.trays[self.tray]
        out = []
        for d in self.sensor_defs.values():
            key = keys.get(d.id) or (f"gpu{d.id[3:-4]}" if d.id.startswith("GPU") else None)
            if key is None or not d.thresholds:
                continue
            quantity = "Power" if d.reading_type == "Power" else "Temperature"
            origin = self.sensor_uri(d.id) if self.new_tree else \
                f"{self.chassis_uri}/{'Power' if quantity == 'Power' else 'Thermal'}"
            out.append(WatchedSensor(f"{self.tray}/{key}", self.name, f"{self.tray}/{d.id}", origin, quantity,
                                     dict(d.thresholds), ready=lambda tr=tray: tr.bmc == "Ready"))
        return out

    def sensor(self, d: SensorDef) -> Body:
        return sensor_body(self.sensor_uri(d.id), d)

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
        if self.new_tree:
            body.update({"PowerSubsystem": link(f"{self.chassis_uri}/PowerSubsystem"),
                         "ThermalSubsystem": link(f"{self.chassis_uri}/ThermalSubsystem"),
                         "EnvironmentMetrics": link(self.em_uri), "Sensors": link(self.sensors_uri)})
        if self.legacy_tree:
            body.update({"Power": link(f"{self.chassis_uri}/Power"), "Thermal": link(f"{self.chassis_uri}/Thermal")})
        return body

    def environment_metrics(self) -> Body:
        temps = self.twin.tray_temperatures_c(self.tray)
        cap = self.twin.tray_info(self.tray).get("power_cap_w")
        limit: Body = {"AllowableMin": round(self.idle_w * 0.6, 1), "AllowableMax": self.max_w,
                       "ControlMode": "Disabled" if cap is None else "Automatic"}
        limit["SetPoint"] = self.max_w if cap is None else cap
        return {"@odata.id": self.em_uri, "@odata.type": otype("EnvironmentMetrics"),
                "Id": "EnvironmentMetrics", "Name": f"{self.tray} environment metrics",
                "PowerWatts": {"Reading": reading(self.twin.tray_power_w(self.tray)),
                               "DataSourceUri": self.sensor_uri("TotalPower")},
                "TemperatureCelsius": {"Reading": reading(temps["inlet"]),
                                       "DataSourceUri": self.sensor_uri("InletTemp")},
                "PowerLimitWatts": limit}

    def _set_power_limit(self, value: Any) -> None:
        prop = "PowerLimitWatts"
        if not isinstance(value, dict):
            raise ActionError(400, "PropertyValueTypeError", _js(value), prop)
        mode = value.get("ControlMode", "Automatic")
        if mode not in ("Automatic", "Disabled", "Override", "Manual"):
            raise ActionError(400, "PropertyValueNotInList", _js(mode), f"{prop}/ControlMode")
        if mode == "Disabled":
            self.twin.set_power_cap(self.tray, None)
            return
        if "SetPoint" not in value:
            cap = self.twin.tray_info(self.tray).get("power_cap_w")
            if cap is None:
                raise ActionError(400, "PropertyMissing", f"{prop}/SetPoint")
            return
        sp = value["SetPoint"]
        if isinstance(sp, bool) or not isinstance(sp, int | float) or not math.isfinite(float(sp)):
            raise ActionError(400, "PropertyValueTypeError", _js(sp), f"{prop}/SetPoint")
        if not self.idle_w * 0.6 <= float(sp) <= self.max_w:
            raise ActionError(400, "PropertyValueOutOfRange", _js(sp), f"{prop}/SetPoint")
        self.twin.set_power_cap(self.tray, float(sp))

    def power_subsystem(self) -> Body:
        return {"@odata.id": f"{self.chassis_uri}/PowerSubsystem", "@odata.type": otype("PowerSubsystem"),
                "Id": "PowerSubsystem", "Name": f"{self.tray} power subsystem", "CapacityWatts": self.max_w,
                "Status": {"State": "Enabled", "Health": "OK"}}

    def thermal_subsystem(self) -> Body:
        body: Body = {"@odata.id": f"{self.chassis_uri}/ThermalSubsystem", "@odata.type": otype("ThermalSubsystem"),
                      "Id": "ThermalSubsystem", "Name": f"{self.tray} thermal subsystem",
                      "ThermalMetrics": link(f"{self.chassis_uri}/ThermalSubsystem/ThermalMetrics"),
                      "Status": {"State": "Enabled", "Health": "OK"}}
        if self.kind != "compute":
            body["Fans"] = link(f"{self.chassis_uri}/ThermalSubsystem/Fans")
        return body

    def thermal_metrics(self) -> Body:
        readings = [{"DataSourceUri": self.sensor_uri(d.id), "Reading": reading(d.read()), "DeviceName": d.name}
                    for d in self.sensor_defs.values() if d.reading_type == "Temperature"]
        return {"@odata.id": f"{self.chassis_uri}/ThermalSubsystem/ThermalMetrics",
                "@odata.type": otype("ThermalMetrics"), "Id": "ThermalMetrics",
                "Name": f"{self.tray} thermal metrics", "TemperatureReadingsCelsius": readings}

    def fan(self, i: int) -> Body:
        d = self.sensor_defs[f"Fan{i}Speed"]
        return {"@odata.id": f"{self.chassis_uri}/ThermalSubsystem/Fans/{i}", "@odata.type": otype("Fan"),
                "Id": str(i), "Name": f"Fan {i}", "Status": {"State": "Enabled", "Health": "OK"},
                "SpeedPercent": {"Reading": reading(d.read()), "DataSourceUri": self.sensor_uri(d.id)}}

    def legacy_power(self) -> Body:
        watts = reading(self.twin.tray_power_w(self.tray))
        cap = self.twin.tray_info(self.tray).get("power_cap_w")
        uri = f"{self.chassis_uri}/Power"
        control: Body = {"@odata.id": f"{uri}#/PowerControl/0", "MemberId": "0", "Name": "Tray power",
                         "PowerConsumedWatts": watts, "PowerCapacityWatts": self.max_w,
                         "PowerLimit": {"LimitInWatts": cap}, "Status": {"State": "Enabled", "Health": "OK"}}
        return {"@odata.id": uri, "@odata.type": otype("Power"), "Id": "Power", "Name": f"{self.tray} power",
                "PowerControl": [control]}

    def legacy_thermal(self) -> Body:
        uri = f"{self.chassis_uri}/Thermal"
        temps = []
        for i, d in enumerate(d for d in self.sensor_defs.values() if d.reading_type == "Temperature"):
            t: Body = {"@odata.id": f"{uri}#/Temperatures/{i}", "MemberId": str(i), "Name": d.name,
                       "ReadingCelsius": reading(d.read()), "PhysicalContext": d.context,
                       "Status": {"State": "Enabled", "Health": "OK"}}
            for src, dst in (("UpperCaution", "UpperThresholdNonCritical"), ("UpperCritical", "UpperThresholdCritical"),
                             ("UpperFatal", "UpperThresholdFatal")):
                if src in d.thresholds:
                    t[dst] = d.thresholds[src]
            temps.append(t)
        fans = []
        if self.kind != "compute":
            for i in (1, 2):
                fans.append({"@odata.id": f"{uri}#/Fans/{i - 1}", "MemberId": str(i - 1), "Name": f"Fan {i}",
                             "Reading": reading(self.sensor_defs[f"Fan{i}Speed"].read(), 0),
                             "ReadingUnits": "Percent", "Status": {"State": "Enabled", "Health": "OK"}})
        return {"@odata.id": uri, "@odata.type": otype("Thermal"), "Id": "Thermal", "Name": f"{self.tray} thermal",
                "Temperatures": temps, "Fans": fans}

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
            raise ActionError(400, "ActionParameterValueTypeError", _js(value), "ResetType", action)
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
                routes[f"{procs}/GPU_{n}"] = _bind(self.processor, n)
        if self.new_tree:
            routes.update({
                self.em_uri: self.environment_metrics,
                f"{c}/PowerSubsystem": self.power_subsystem,
                f"{c}/ThermalSubsystem": self.thermal_subsystem,
                f"{c}/ThermalSubsystem/ThermalMetrics": self.thermal_metrics,
                self.sensors_uri: lambda: collection(self.sensors_uri, "SensorCollection", "Sensors",
                                                     [self.sensor_uri(i) for i in self.sensor_defs]),
            })
            for d in self.sensor_defs.values():
                routes[self.sensor_uri(d.id)] = _sensor_builder(self, d)
            if self.kind != "compute":
                fans = f"{c}/ThermalSubsystem/Fans"
                routes[fans] = lambda: collection(fans, "FanCollection", "Fans", [f"{fans}/1", f"{fans}/2"])
                for i in (1, 2):
                    routes[f"{fans}/{i}"] = _bind(self.fan, i)
        if self.legacy_tree:
            routes[f"{c}/Power"] = self.legacy_power
            routes[f"{c}/Thermal"] = self.legacy_thermal
        return routes


def _js(value: object) -> str:
    import json

    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)


def _bind(fn: Callable[[int], Body], i: int) -> Callable[[], Body]:
    return lambda: fn(i)


def _reader(twin: RackTwin, tray: str, key: str) -> Callable[[], float]:
    return lambda: twin.tray_temperatures_c(tray)[key]


def _fan_reader(twin: RackTwin, tray: str, i: int) -> Callable[[], float]:
    """Air-cooled switch trays: fan duty follows the ASIC temperature (30 % cool .. 100 % at 95 C)."""
    def read() -> float:
        asic = twin.tray_temperatures_c(tray).get("asic", float("nan"))
        if not math.isfinite(asic):
            return asic
        return max(30.0, min(100.0, 30.0 + (asic - 40.0) * 70.0 / 55.0)) + (i - 1) * 0.5
    return read


def _sensor_builder(model: BmcModel, d: SensorDef) -> Callable[[], Body]:
    return lambda: model.sensor(d)
