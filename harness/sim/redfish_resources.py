"""Redfish resource bodies of one simulated tray BMC, built from the twin at request time.

Pure functions of (twin, tray): nothing is cached, so every GET shows the twin's state at the
clock's now. The server module owns HTTP, sessions and the BMC-down behaviour; this module owns
the data model (URIs, @odata.type versions, registry messages).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from harness.sim.twin import RackTwin

Body = dict[str, Any]

V1 = "/redfish/v1"
SIM_EPOCH = datetime(2025, 1, 1, tzinfo=UTC)  # simulated t=0 as wall time: deterministic records
RESET_ALLOWED = ["On", "ForceOff", "GracefulShutdown", "GracefulRestart", "ForceRestart", "PowerCycle", "Nmi"]
REGISTRY = "Base.1.22.1"

# @odata.type versions, also listed in $metadata (the validator resolves them against DSP8010 2025.4).
TYPES = {
    "ServiceRoot": "ServiceRoot.v1_17_0",
    "ComputerSystem": "ComputerSystem.v1_22_0",
    "Chassis": "Chassis.v1_25_0",
    "Manager": "Manager.v1_19_0",
    "SessionService": "SessionService.v1_1_9",
    "Session": "Session.v1_7_0",
    "EnvironmentMetrics": "EnvironmentMetrics.v1_3_2",
    "PowerSubsystem": "PowerSubsystem.v1_1_0",
    "ThermalSubsystem": "ThermalSubsystem.v1_3_0",
    "ThermalMetrics": "ThermalMetrics.v1_3_0",
    "Sensor": "Sensor.v1_9_0",
    "ActionInfo": "ActionInfo.v1_4_0",
}
COLLECTIONS = ["ComputerSystemCollection", "ChassisCollection", "ManagerCollection", "SessionCollection",
               "SensorCollection"]

# Base.1.22.1 messages the simulator emits: (text with %n args, severity, resolution).
MESSAGES: dict[str, tuple[str, str, str]] = {
    "ActionParameterMissing": (
        "The action %1 requires the parameter %2 to be present in the request body.", "Critical",
        "Supply the action with the required parameter in the request body when the request is resubmitted."),
    "ActionParameterValueNotInList": (
        "The value '%1' for the parameter %2 in the action %3 is not in the list of acceptable values.", "Warning",
        "Choose a value from the enumeration list that the implementation can support and resubmit the request "
        "if the operation failed."),
    "ActionParameterValueTypeError": (
        "The value '%1' for the parameter %2 in the action %3 is not a type that the parameter can accept.",
        "Warning",
        "Correct the value for the parameter in the request body and resubmit the request if the operation failed."),
    "ResourceNotFound": (
        "The requested resource of type %1 named '%2' was not found.", "Critical",
        "Provide a valid resource identifier and resubmit the request."),
    "NoValidSession": (
        "There is no valid session established with the implementation.", "Critical",
        "Establish a session before attempting any operations."),
    "GeneralError": (
        "A general error has occurred.  See Resolution for information on how to resolve the error, or "
        "@Message.ExtendedInfo if Resolution is not provided.", "Critical", "None."),
    "MalformedJSON": (
        "The request body submitted was malformed JSON and could not be parsed by the receiving service.",
        "Critical", "Ensure that the request body is valid JSON and resubmit the request."),
    "OperationNotAllowed": ("The HTTP method is not allowed on this resource.", "Critical", "None."),
    "QueryNotSupported": (
        "Querying is not supported by the implementation.", "Warning",
        "Remove the query parameters and resubmit the request if the operation failed."),
    "QueryParameterValueFormatError": (
        "The value '%1' for the parameter %2 is not a format that the parameter can accept.", "Warning",
        "Correct the value for the query parameter in the request and resubmit the request if the operation "
        "failed."),
    "PropertyMissing": (
        "The property %1 is a required property and must be included in the request.", "Warning",
        "Ensure that the property is in the request body and has a valid value and resubmit the request if the "
        "operation failed."),
}


def message(message_id: str, *args: object) -> Body:
    """One @Message.ExtendedInfo entry from the Base registry."""
    text, severity, resolution = MESSAGES[message_id]
    str_args = [str(a) for a in args]
    for i, a in reversed(list(enumerate(str_args, start=1))):
        text = text.replace(f"%{i}", a)
    return {"@odata.type": "#Message.v1_3_0.Message", "MessageId": f"{REGISTRY}.{message_id}", "Message": text,
            "MessageArgs": str_args, "MessageSeverity": severity, "Resolution": resolution}


def error_body(message_id: str, *args: object) -> Body:
    """The Redfish error envelope (DSP0266 §9.6) around one registry message."""
    info = message(message_id, *args)
    return {"error": {"code": info["MessageId"], "message": info["Message"], "@Message.ExtendedInfo": [info]}}


def _link(uri: str) -> Body:
    return {"@odata.id": uri}


def _otype(kind: str) -> str:
    return f"#{TYPES[kind]}.{kind}" if kind in TYPES else f"#{kind}.{kind}"


def collection(uri: str, kind: str, name: str, members: list[str]) -> Body:
    return {"@odata.id": uri, "@odata.type": f"#{kind}.{kind}", "Name": name,
            "Members@odata.count": len(members), "Members": [_link(m) for m in members]}


def service_root_doc() -> Body:
    return {"v1": f"{V1}/"}


def odata_doc() -> Body:
    entries = [("Service", f"{V1}/"), ("Systems", f"{V1}/Systems"), ("Chassis", f"{V1}/Chassis"),
               ("Managers", f"{V1}/Managers"), ("SessionService", f"{V1}/SessionService"),
               ("Sessions", f"{V1}/SessionService/Sessions")]
    return {"@odata.context": f"{V1}/$metadata",
            "value": [{"name": n, "kind": "Singleton", "url": u} for n, u in entries]}


def metadata_xml() -> str:
    """Minimal CSDL $metadata: a reference per schema the service uses, plus the Service container."""
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
    """A sensor of the tray: where its reading comes from in the twin and its limits."""

    id: str
    name: str
    reading_type: str
    units: str
    context: str
    read: Callable[[], float]
    thresholds: dict[str, float] = field(default_factory=dict)


class BmcModel:
    """The resource tree of one tray's BMC. Ids differ from the chassis name on purpose, so clients
    must discover URIs by following links."""

    SYSTEM_ID = "System_0"
    MANAGER_ID = "BMC_0"

    def __init__(self, twin: RackTwin, tray: str, *, epoch: datetime = SIM_EPOCH) -> None:
        self.twin, self.tray, self.epoch = twin, tray, epoch
        spec = twin.trays[tray].spec
        self.kind, self.gpus = spec.kind, spec.gpus
        self.max_w = spec.max_w
        self.system_uri = f"{V1}/Systems/{self.SYSTEM_ID}"
        self.chassis_uri = f"{V1}/Chassis/{tray}"
        self.manager_uri = f"{V1}/Managers/{self.MANAGER_ID}"
        self.reset_target = f"{self.system_uri}/Actions/ComputerSystem.Reset"
        self.reset_info_uri = f"{self.system_uri}/ResetActionInfo"
        self.sensors_uri = f"{self.chassis_uri}/Sensors"
        self.uuid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"rackval-sim/{twin.serial}/{tray}"))
        self.sensor_defs = self._sensor_defs()
        self.routes: dict[str, Callable[[], Body]] = self._routes()

    # ------------------------------------------------------------------ sensors
    def _sensor_defs(self) -> dict[str, SensorDef]:
        twin, tray = self.twin, self.tray
        defs = [SensorDef("TotalPower", f"{tray} total power", "Power", "W", "Chassis",
                          lambda: twin.tray_power_w(tray), {"UpperCritical": self.max_w}),
                SensorDef("InletTemp", f"{tray} inlet temperature", "Temperature", "Cel", "Intake",
                          lambda: twin.tray_temperatures_c(tray)["inlet"],
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
        return {d.id: d for d in defs}

    def sensor_uri(self, sensor_id: str) -> str:
        return f"{self.sensors_uri}/{sensor_id}"

    def sensor(self, d: SensorDef) -> Body:
        reading = round(d.read(), 2)
        health = "OK"
        if reading >= d.thresholds.get("UpperCritical", float("inf")):
            health = "Critical"
        elif reading >= d.thresholds.get("UpperCaution", float("inf")):
            health = "Warning"
        return {"@odata.id": self.sensor_uri(d.id), "@odata.type": _otype("Sensor"), "Id": d.id, "Name": d.name,
                "ReadingType": d.reading_type, "Reading": reading, "ReadingUnits": d.units,
                "PhysicalContext": d.context, "Status": {"State": "Enabled", "Health": health},
                "Thresholds": {k: {"Reading": v, "Activation": "Increasing"} for k, v in d.thresholds.items()}}

    # ------------------------------------------------------------------ resources
    def service_root(self) -> Body:
        return {"@odata.id": f"{V1}/", "@odata.type": _otype("ServiceRoot"), "Id": "RootService",
                "Name": f"{self.tray} BMC", "RedfishVersion": "1.20.0", "UUID": self.uuid,
                "Systems": _link(f"{V1}/Systems"), "Chassis": _link(f"{V1}/Chassis"),
                "Managers": _link(f"{V1}/Managers"), "SessionService": _link(f"{V1}/SessionService"),
                "Links": {"Sessions": _link(f"{V1}/SessionService/Sessions")},
                "ProtocolFeaturesSupported": {
                    "ExpandQuery": {"ExpandAll": False, "Levels": True, "Links": False, "NoLinks": True,
                                    "MaxLevels": 1},
                    "SelectQuery": False, "FilterQuery": False, "OnlyMemberQuery": False,
                    "ExcerptQuery": False}}

    def _status(self, host: str) -> Body:
        state = {"On": "Enabled", "PoweringOn": "Starting"}.get(host, "StandbyOffline")
        return {"State": state, "Health": "OK"}

    def system(self) -> Body:
        info = self.twin.tray_info(self.tray)
        host = str(info["host"])
        if host == "On":
            boot = "OSRunning" if info["os_running"] else "SystemHardwareInitializationComplete"
        else:
            boot = "None"
        body: Body = {
            "@odata.id": self.system_uri, "@odata.type": _otype("ComputerSystem"), "Id": self.SYSTEM_ID,
            "Name": f"{self.tray} host", "SystemType": "Physical", "Manufacturer": "rackval",
            "Model": self._model(), "SerialNumber": self.twin.serial_of(self.tray), "UUID": self.uuid,
            "PowerState": host, "Status": self._status(host), "BootProgress": {"LastState": boot},
            "Links": {"Chassis": [_link(self.chassis_uri)], "ManagedBy": [_link(self.manager_uri)]},
            "Actions": {"#ComputerSystem.Reset": {"target": self.reset_target,
                                                  "@Redfish.ActionInfo": self.reset_info_uri,
                                                  "ResetType@Redfish.AllowableValues": list(RESET_ALLOWED)}}}
        last = info.get("last_reset_time")
        if isinstance(last, int | float):
            when = self.epoch + timedelta(seconds=float(last))
            body["LastResetTime"] = when.isoformat().replace("+00:00", "Z")
        return body

    def reset_action_info(self) -> Body:
        return {"@odata.id": self.reset_info_uri, "@odata.type": _otype("ActionInfo"), "Id": "ResetActionInfo",
                "Name": "Reset action info", "Parameters": [{"Name": "ResetType", "Required": True,
                                                             "DataType": "String",
                                                             "AllowableValues": list(RESET_ALLOWED)}]}

    def _model(self) -> str:
        return f"SIM-{self.twin.profile.sku.upper()}-{self.kind.upper()}"

    def chassis(self) -> Body:
        host = self.twin.host_state(self.tray)
        return {"@odata.id": self.chassis_uri, "@odata.type": _otype("Chassis"), "Id": self.tray,
                "Name": f"{self.tray} {self.kind} tray", "ChassisType": "Sled" if self.kind == "compute" else "Drawer",
                "Manufacturer": "rackval", "Model": self._model(),
                "PartNumber": f"RV-{self.kind[:3].upper()}-{self.twin.profile.sku.upper()}",
                "SerialNumber": self.twin.serial_of(self.tray), "PowerState": host,
                "Status": {"State": "Enabled", "Health": "OK"},
                "PowerSubsystem": _link(f"{self.chassis_uri}/PowerSubsystem"),
                "ThermalSubsystem": _link(f"{self.chassis_uri}/ThermalSubsystem"),
                "EnvironmentMetrics": _link(f"{self.chassis_uri}/EnvironmentMetrics"),
                "Sensors": _link(self.sensors_uri),
                "Links": {"ComputerSystems": [_link(self.system_uri)], "ManagedBy": [_link(self.manager_uri)]}}

    def environment_metrics(self) -> Body:
        temps = self.twin.tray_temperatures_c(self.tray)
        return {"@odata.id": f"{self.chassis_uri}/EnvironmentMetrics", "@odata.type": _otype("EnvironmentMetrics"),
                "Id": "EnvironmentMetrics", "Name": f"{self.tray} environment metrics",
                "PowerWatts": {"Reading": round(self.twin.tray_power_w(self.tray), 2),
                               "DataSourceUri": self.sensor_uri("TotalPower")},
                "TemperatureCelsius": {"Reading": round(temps["inlet"], 2),
                                       "DataSourceUri": self.sensor_uri("InletTemp")}}

    def power_subsystem(self) -> Body:
        return {"@odata.id": f"{self.chassis_uri}/PowerSubsystem", "@odata.type": _otype("PowerSubsystem"),
                "Id": "PowerSubsystem", "Name": f"{self.tray} power subsystem", "CapacityWatts": self.max_w,
                "Status": {"State": "Enabled", "Health": "OK"}}

    def thermal_subsystem(self) -> Body:
        return {"@odata.id": f"{self.chassis_uri}/ThermalSubsystem", "@odata.type": _otype("ThermalSubsystem"),
                "Id": "ThermalSubsystem", "Name": f"{self.tray} thermal subsystem",
                "ThermalMetrics": _link(f"{self.chassis_uri}/ThermalSubsystem/ThermalMetrics"),
                "Status": {"State": "Enabled", "Health": "OK"}}

    def thermal_metrics(self) -> Body:
        readings = [{"DataSourceUri": self.sensor_uri(d.id), "Reading": round(d.read(), 2), "DeviceName": d.name}
                    for d in self.sensor_defs.values() if d.reading_type == "Temperature"]
        return {"@odata.id": f"{self.chassis_uri}/ThermalSubsystem/ThermalMetrics",
                "@odata.type": _otype("ThermalMetrics"), "Id": "ThermalMetrics",
                "Name": f"{self.tray} thermal metrics", "TemperatureReadingsCelsius": readings}

    def manager(self) -> Body:
        return {"@odata.id": self.manager_uri, "@odata.type": _otype("Manager"), "Id": self.MANAGER_ID,
                "Name": f"{self.tray} BMC", "ManagerType": "BMC", "Manufacturer": "rackval",
                "Model": "SIM-BMC", "FirmwareVersion": self.twin.firmware_of(self.tray), "UUID": self.uuid,
                "PowerState": "On", "Status": {"State": "Enabled", "Health": "OK"},
                "Links": {"ManagerForServers": [_link(self.system_uri)],
                          "ManagerForChassis": [_link(self.chassis_uri)]}}

    def session_service(self) -> Body:
        return {"@odata.id": f"{V1}/SessionService", "@odata.type": _otype("SessionService"),
                "Id": "SessionService", "Name": "Session Service", "ServiceEnabled": True, "SessionTimeout": 1800,
                "Status": {"State": "Enabled", "Health": "OK"},
                "Sessions": _link(f"{V1}/SessionService/Sessions")}

    def _routes(self) -> dict[str, Callable[[], Body]]:
        """Every static GET-able URI -> builder (sessions are dynamic and served by the server)."""
        c = self.chassis_uri
        routes: dict[str, Callable[[], Body]] = {
            V1: self.service_root,
            f"{V1}/odata": odata_doc,
            f"{V1}/Systems": lambda: collection(f"{V1}/Systems", "ComputerSystemCollection",
                                                "Computer System Collection", [self.system_uri]),
            self.system_uri: self.system,
            self.reset_info_uri: self.reset_action_info,
            f"{V1}/Chassis": lambda: collection(f"{V1}/Chassis", "ChassisCollection", "Chassis Collection", [c]),
            c: self.chassis,
            f"{c}/EnvironmentMetrics": self.environment_metrics,
            f"{c}/PowerSubsystem": self.power_subsystem,
            f"{c}/ThermalSubsystem": self.thermal_subsystem,
            f"{c}/ThermalSubsystem/ThermalMetrics": self.thermal_metrics,
            self.sensors_uri: lambda: collection(self.sensors_uri, "SensorCollection", "Sensors",
                                                 [self.sensor_uri(i) for i in self.sensor_defs]),
            f"{V1}/Managers": lambda: collection(f"{V1}/Managers", "ManagerCollection", "Manager Collection",
                                                 [self.manager_uri]),
            self.manager_uri: self.manager,
            f"{V1}/SessionService": self.session_service,
        }
        for d in self.sensor_defs.values():
            routes[self.sensor_uri(d.id)] = _sensor_builder(self, d)
        return routes


def _reader(twin: RackTwin, tray: str, key: str) -> Callable[[], float]:
    return lambda: twin.tray_temperatures_c(tray)[key]


def _sensor_builder(model: BmcModel, d: SensorDef) -> Callable[[], Body]:
    return lambda: model.sensor(d)
