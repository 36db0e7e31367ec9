"""The rack's coolant distribution unit as its rack manager serves it: ThermalEquipment/CDUs (the
CoolingUnit, its coolant connectors, pumps and leak detection), the CDU's chassis with its sensors
and leak detectors, read from the twin (``coolant``, ``pump_states``, ``leak_states``). Modelled on
the DMTF mockup public-cooling-unit.

The CDU's facility (primary) side is not in the twin; it is derived from the secondary side with a
fixed 5 C approach and 1.1x flow (energy balance).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from harness.sim.physics import RackTwin
from harness.sim.redfish.documents import V1, Body, collection, link, natural_order, otype, reading, resource_id
from harness.sim.redfish.registry import message
from harness.sim.redfish.sensors import LEAK_EVENTS, SensorDef, sensor_body
from harness.sim.redfish.thresholds import WatchedSensor

PRIMARY_APPROACH_C = 5.0
PRIMARY_FLOW_FACTOR = 1.1


class CduModel:
    """Resources and events of one CDU (``name`` as in the rack profile)."""

    def __init__(self, twin: RackTwin, name: str, *, rack_uri: str, manager_uri: str) -> None:
        self.twin, self.cdu, self.rack_uri, self.manager_uri = twin, name, rack_uri, manager_uri
        self.cdu_uri = f"{V1}/ThermalEquipment/CDUs/{name}"
        self.cdu_chassis = f"{V1}/Chassis/{name.upper()}"
        self.cdu_sensors = self._cdu_sensor_defs()

    def events_for(self, kind: str, data: dict[str, object]) -> list[tuple[Body, str]]:
        """A leak detector changed state; a pump failed or came back."""
        if kind == "leak":
            key = LEAK_EVENTS.get(str(data.get("state")))
            detector = str(data.get("detector"))
            return [(message(f"Environmental.{key}", detector), self.detector_uri(detector))] if key else []
        if kind == "pump":
            pump = str(data.get("pump"))
            key = "PumpFailed" if data.get("failed") else "PumpRestored"  # named with its CDU: "cdu1.pump1"
            return [(message(f"Environmental.{key}", f"{self.cdu}.{pump}"), f"{self.cdu_uri}/Pumps/{pump}")]
        return []

    # ------------------------------------------------------------------ sensors
    def _cdu_sensor_defs(self) -> dict[str, SensorDef]:
        c = self.twin.coolant

        def key(k: str) -> Callable[[], float]:
            return lambda: c()[k]
        defs = [SensorDef("SecondarySupplyTemp", "Secondary supply temperature", "Temperature", "Cel", "LiquidInlet",
                          key("supply_c"), {"UpperCaution": 40.0, "UpperCritical": 45.0}),
                SensorDef("SecondaryReturnTemp", "Secondary return temperature", "Temperature", "Cel",
                          "LiquidOutlet", key("return_c"), {"UpperCaution": 55.0, "UpperCritical": 60.0}),
                SensorDef("SecondaryFlow", "Secondary flow", "LiquidFlowLPM", "L/min", "LiquidInlet",
                          key("flow_lpm")),
                SensorDef("SecondarySupplyPressure", "Secondary supply pressure", "PressurekPa", "kPa",
                          "LiquidInlet", key("supply_pressure_kpa")),
                SensorDef("SecondaryReturnPressure", "Secondary return pressure", "PressurekPa", "kPa",
                          "LiquidOutlet", key("return_pressure_kpa"))]
        return {d.id: d for d in defs}

    def threshold_sensors(self, service: str) -> list[WatchedSensor]:
        """The CDU sensors judged against their Thresholds (crossing events, ``thresholds.py``)."""
        keys = {"SecondarySupplyTemp": "coolant/supply_c", "SecondaryReturnTemp": "coolant/return_c"}
        return [WatchedSensor(keys[sid], service, f"{self.cdu}/{sid}", self.cdu_sensor_uri(sid), "Temperature",
                              dict(d.thresholds))
                for sid, d in self.cdu_sensors.items() if sid in keys and d.thresholds]

    def cdu_sensor_uri(self, sid: str) -> str:
        return f"{self.cdu_chassis}/Sensors/{sid}"

    def _metric(self, sid: str, value: float | None = None) -> Body:
        v = self.cdu_sensors[sid].read() if value is None else value
        return {"Reading": reading(v), "DataSourceUri": self.cdu_sensor_uri(sid)}

    # ------------------------------------------------------------------ resources
    def cdu_chassis_body(self) -> Body:
        return {"@odata.id": self.cdu_chassis, "@odata.type": otype("Chassis"),
                "Id": self.cdu_chassis.rsplit("/", 1)[1],
                "Name": "Coolant distribution unit", "ChassisType": "Module", "Manufacturer": "rackval",
                "Model": "SIM-CDU", "SerialNumber": self.twin.serial_of(str(self.cdu)), "PartNumber": "RV-CDU",
                "Status": {"State": "Enabled", "Health": "OK"}, "Sensors": link(f"{self.cdu_chassis}/Sensors"),
                "LeakDetectors": link(f"{self.cdu_chassis}/LeakDetectors"),
                "Links": {"ContainedBy": link(self.rack_uri), "ManagedBy": [link(self.manager_uri)]}}

    def cooling_unit(self) -> Body:
        leaks = self.twin.leak_states().values()
        pumps = self.twin.pump_states().values()
        health = "Critical" if "Critical" in leaks or not any(pumps) else \
            "Warning" if "Warning" in leaks or not all(pumps) else "OK"
        u = self.cdu_uri
        return {"@odata.id": u, "@odata.type": otype("CoolingUnit"), "Id": str(self.cdu), "Name": f"CDU {self.cdu}",
                "EquipmentType": "CDU", "Manufacturer": "rackval", "Model": "SIM-CDU",
                "SerialNumber": self.twin.serial_of(str(self.cdu)), "PartNumber": "RV-CDU",
                "FirmwareVersion": self.twin.firmware_of(str(self.cdu)),
                "Status": {"State": "Enabled", "Health": health},
                "Coolant": {"CoolantType": "Water"},
                "PrimaryCoolantConnectors": link(f"{u}/PrimaryCoolantConnectors"),
                "SecondaryCoolantConnectors": link(f"{u}/SecondaryCoolantConnectors"),
                "Pumps": link(f"{u}/Pumps"), "LeakDetection": link(f"{u}/LeakDetection"),
                "Links": {"Chassis": [link(self.cdu_chassis)]}}

    def connector(self, side: str) -> Body:
        c = self.twin.coolant()
        uri = f"{self.cdu_uri}/{side}CoolantConnectors/1"
        body: Body = {"@odata.id": uri, "@odata.type": otype("CoolantConnector"), "Id": "1",
                      "Name": f"{side} loop", "CoolantConnectorType": "Pair",
                      "Status": {"State": "Enabled", "Health": "OK"}}
        if side == "Secondary":
            body.update({"SupplyTemperatureCelsius": self._metric("SecondarySupplyTemp", c["supply_c"]),
                         "ReturnTemperatureCelsius": self._metric("SecondaryReturnTemp", c["return_c"]),
                         "FlowLitersPerMinute": self._metric("SecondaryFlow", c["flow_lpm"]),
                         "SupplyPressurekPa": self._metric("SecondarySupplyPressure", c["supply_pressure_kpa"]),
                         "ReturnPressurekPa": self._metric("SecondaryReturnPressure", c["return_pressure_kpa"])})
        else:  # derived facility side (see module docstring)
            supply = c["supply_c"] - PRIMARY_APPROACH_C
            rise = (c["return_c"] - c["supply_c"]) / PRIMARY_FLOW_FACTOR
            body.update({"SupplyTemperatureCelsius": {"Reading": reading(supply)},
                         "ReturnTemperatureCelsius": {"Reading": reading(supply + rise)},
                         "FlowLitersPerMinute": {"Reading": reading(c["flow_lpm"] * PRIMARY_FLOW_FACTOR)},
                         "SupplyPressurekPa": {"Reading": reading(c["supply_pressure_kpa"] + 100.0)},
                         "ReturnPressurekPa": {"Reading": reading(c["return_pressure_kpa"] + 100.0)}})
        return body

    def pump(self, pump: str) -> Body:
        running = self.twin.pump_states()[pump]
        speed = self.twin.coolant()["pump_speed_pct"] if running else 0.0
        return {"@odata.id": f"{self.cdu_uri}/Pumps/{pump}", "@odata.type": otype("Pump"), "Id": pump,
                "Name": f"CDU {pump}", "PumpType": "Liquid",
                "Status": {"State": "Enabled", "Health": "OK" if running else "Critical"},
                "PumpSpeedPercent": {"Reading": reading(speed)}}

    def detector_uri(self, detector: str) -> str:
        return f"{self.cdu_chassis}/LeakDetectors/{resource_id(detector)}"

    def leak_detection(self) -> Body:
        states = self.twin.leak_states()
        worst = "Critical" if "Critical" in states.values() else "Warning" if "Warning" in states.values() else "OK"
        detectors = [{"DataSourceUri": self.detector_uri(d), "DeviceName": d, "DetectorState": s}
                     for d, s in states.items()]
        return {"@odata.id": f"{self.cdu_uri}/LeakDetection", "@odata.type": otype("LeakDetection"),
                "Id": "LeakDetection", "Name": "Leak detection", "Status": {"State": "Enabled", "Health": worst},
                "LeakDetectorGroups": [{"GroupName": "Rack leak detectors", "Status": {"Health": worst},
                                        "Detectors": detectors}]}

    def detector(self, detector: str) -> Body:
        state = self.twin.leak_states()[detector]
        return {"@odata.id": self.detector_uri(detector), "@odata.type": otype("LeakDetector"),
                "Id": resource_id(detector), "Name": detector, "LeakDetectorType": "Moisture", "DetectorState": state,
                "PhysicalContext": "LiquidInlet" if detector.endswith("coldplate") else "Chassis",
                "Status": {"State": "Enabled", "Health": state}}

    # ------------------------------------------------------------------ routing
    def routes(self) -> dict[str, Callable[[], Body]]:
        u = self.cdu_uri
        sensors = f"{self.cdu_chassis}/Sensors"
        pumps = sorted(self.twin.pump_states(), key=natural_order)
        detectors = list(self.twin.leak_states())
        cdus = f"{V1}/ThermalEquipment/CDUs"
        detectors_uri = f"{self.cdu_chassis}/LeakDetectors"
        r: dict[str, Callable[[], Body]] = {
            f"{V1}/ThermalEquipment": lambda: {
                "@odata.id": f"{V1}/ThermalEquipment", "@odata.type": otype("ThermalEquipment"),
                "Id": "ThermalEquipment", "Name": "Cooling equipment",
                "Status": {"State": "Enabled", "Health": "OK"}, "CDUs": link(cdus)},
            cdus: partial(collection, cdus, "CoolingUnitCollection", "CDUs", [u]),
            u: self.cooling_unit,
            self.cdu_chassis: self.cdu_chassis_body,
            sensors: partial(collection, sensors, "SensorCollection", "CDU sensors",
                             [self.cdu_sensor_uri(s) for s in self.cdu_sensors]),
            f"{u}/Pumps": partial(collection, f"{u}/Pumps", "PumpCollection", "Pumps",
                                  [f"{u}/Pumps/{p}" for p in pumps]),
            f"{u}/LeakDetection": self.leak_detection,
            detectors_uri: partial(collection, detectors_uri, "LeakDetectorCollection", "Leak detectors",
                                   [self.detector_uri(d) for d in detectors]),
        }
        for side in ("Primary", "Secondary"):
            coll = f"{u}/{side}CoolantConnectors"
            r[coll] = partial(collection, coll, "CoolantConnectorCollection", f"{side} coolant connectors",
                              [f"{coll}/1"])
            r[f"{coll}/1"] = partial(self.connector, side)
        for p in pumps:
            r[f"{u}/Pumps/{p}"] = partial(self.pump, p)
        for d in detectors:
            r[self.detector_uri(d)] = partial(self.detector, d)
        for sid, sdef in self.cdu_sensors.items():
            r[self.cdu_sensor_uri(sid)] = partial(sensor_body, self.cdu_sensor_uri(sid), sdef)
        return r
