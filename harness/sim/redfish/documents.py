"""The Redfish document vocabulary of the simulated services: URIs, @odata.type versions, links,
collections, times and readings as JSON, and the service documents ($metadata, odata, /redfish).

Every resource body of every simulated service is built with these, so a schema version is named
once (``TYPES``, also listed in ``$metadata``; the DMTF service validator resolves them against
DSP8010 2025.4) and simulated time maps to wall time one way (``SIM_EPOCH``: deterministic records).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

Body = dict[str, Any]

V1 = "/redfish/v1"
SIM_EPOCH = datetime(2025, 1, 1, tzinfo=UTC)  # simulated t=0 as wall time: deterministic records

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


def link(uri: str) -> Body:
    return {"@odata.id": uri}



def otype(kind: str) -> str:
    return f"#{TYPES[kind]}.{kind}" if kind in TYPES else f"#{kind}.{kind}"



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


def resource_id(name: str) -> str:
    """A twin name as a Redfish Id / URI segment ("shelf1.psu3" -> "shelf1_psu3")."""
    return name.replace(".", "_")


def natural_order(name: str) -> tuple[str, int]:
    """Sort key that puts "psu10" after "psu9"."""
    head = name.rstrip("0123456789")
    tail = name[len(head):]
    return head, int(tail) if tail else -1
