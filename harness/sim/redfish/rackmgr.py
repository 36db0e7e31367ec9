"""The rack manager's Redfish tree: the ``Rack`` chassis, power shelves and the CDU.

Modelled on the DMTF mockups public-power-shelf and public-cooling-unit. The rack manager also
serves a summary chassis per tray (serial, part number, power state, ``ContainedBy`` the rack), so
``Rack.Links.Contains`` resolves on this service; the trays' full trees live on their own BMCs.

It is powered from its own supply (not the busbar), so it is always up unless a fault says
otherwise. Readings come from the twin: ``psu_reading`` per PSU, ``coolant``/``pump_states``/
``leak_states`` for the CDU. The CDU's facility (primary) side is not in the twin; it is derived
from the secondary side with a fixed 5 C approach and 1.1x flow (energy balance), and documented as such.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from harness.sim.physics import RackTwin
from harness.sim.redfish.registry import message
from harness.sim.redfish.resources import (
    LEAK_EVENTS,
    SIM_EPOCH,
    V1,
    ActionSpec,
    Body,
    SensorDef,
    Setter,
    collection,
    iso,
    link,
    otype,
    reading,
    sensor_body,
)
from harness.sim.redfish.thresholds import WatchedSensor

RACK_ID = "Rack1"
MANAGER_ID = "RackManager"
PRIMARY_APPROACH_C = 5.0
PRIMARY_FLOW_FACTOR = 1.1


def _id(name: str) -> str:
    return name.replace(".", "_")


class RackManagerModel:
    """Redfish tree of the rack manager (Rack chassis, PowerEquipment, ThermalEquipment)."""

    role = "rack_manager"

    def __init__(self, twin: RackTwin, name: str) -> None:
        self.twin, self.name = twin, name
        self.epoch = SIM_EPOCH
        self.uuid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"rackval-sim/{twin.serial}/{name}"))
        self.rack_uri = f"{V1}/Chassis/{RACK_ID}"
        self.manager_uri = f"{V1}/Managers/{MANAGER_ID}"
        self.shelves = sorted({p.shelf for p in twin.psus.values()}, key=_natural)
        self.cdu = twin.profile.cdu.name if twin.profile.cdu is not None else None
        self.cdu_uri = f"{V1}/ThermalEquipment/CDUs/{self.cdu}" if self.cdu else ""
        self.cdu_chassis = f"{V1}/Chassis/{self.cdu.upper()}" if self.cdu else ""
        self.cdu_sensors = self._cdu_sensor_defs()
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
        if kind == "psu":
            psu = str(data.get("psu"))
            shelf = psu.partition(".")[0]
            key = "PowerSupplyFailed" if data.get("failed") else "PowerSupplyRestored"
            return [(message(f"Power.{key}", psu), self.psu_uri(shelf, psu))]
        if kind == "outlet":  # a PSU's AC feed switched: the shelf logs the loss (Warning) and its return
            psu_name = self.twin.pdu_specs[str(data.get("pdu"))].feeds.get(int(data.get("outlet", 0)))  # type: ignore[call-overload]
            if psu_name is None or psu_name not in self.twin.psus:
                return []
            key = "LineInputPowerRestored" if data.get("on") else "LossOfInputPower"
            return [(message(f"Power.{key}", psu_name), self.psu_uri(psu_name.partition(".")[0], psu_name))]
        if kind == "leak" and self.cdu:
            key = LEAK_EVENTS.get(str(data.get("state")))
            detector = str(data.get("detector"))
            return [(message(f"Environmental.{key}", detector), self.detector_uri(detector))] if key else []
        if kind == "pump" and self.cdu:
            pump = str(data.get("pump"))
            key = "PumpFailed" if data.get("failed") else "PumpRestored"  # named with its CDU: "cdu1.pump1"
            return [(message(f"Environmental.{key}", f"{self.cdu}.{pump}"), f"{self.cdu_uri}/Pumps/{pump}")]
        return []

    # ------------------------------------------------------------------ rack and tray summaries
    def _chassis_uris(self) -> list[str]:
        uris = [self.rack_uri, *(f"{V1}/Chassis/{t}" for t in self.twin.trays),
                *(f"{V1}/Chassis/{s}" for s in self.shelves)]
        if self.cdu:
            uris.append(self.cdu_chassis)
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

    # ------------------------------------------------------------------ power shelves
    def shelf_uri(self, shelf: str) -> str:
        return f"{V1}/PowerEquipment/PowerShelves/{shelf}"

    def psus_of(self, shelf: str) -> list[str]:
        return sorted((p for p in self.twin.psus if p.startswith(shelf + ".")), key=_natural)

    def psu_uri(self, shelf: str, psu: str) -> str:
        return f"{V1}/Chassis/{shelf}/PowerSubsystem/PowerSupplies/{_id(psu)}"

    def _psu_health(self, psu: str) -> tuple[str, str]:
        """(Health, LineInputStatus)."""
        if psu in self.twin.psu_failed:
            return "Critical", "Normal"
        if not self.twin.psu_reading(psu)["ac_ok"]:
            return "Warning", "LossOfInput"
        return "OK", "Normal"

    def shelf(self, shelf: str) -> Body:
        uri = self.shelf_uri(shelf)
        healths = [self._psu_health(p)[0] for p in self.psus_of(shelf)]
        rollup = "Critical" if "Critical" in healths else "Warning" if "Warning" in healths else "OK"
        return {"@odata.id": uri, "@odata.type": otype("PowerDistribution"), "Id": shelf, "Name": f"Power {shelf}",
                "EquipmentType": "PowerShelf", "Manufacturer": "rackval", "Model": "SIM-SHELF-33K",
                "SerialNumber": self.twin.serial_of(shelf), "PartNumber": "RV-SHELF",
                "FirmwareVersion": self.twin.firmware_of(f"{shelf}.psu"),
                "Status": {"State": "Enabled", "Health": "OK", "HealthRollup": rollup},
                "Metrics": link(f"{uri}/Metrics"),
                "Links": {"Chassis": [link(f"{V1}/Chassis/{shelf}")]}}

    def shelf_metrics(self, shelf: str) -> Body:
        watts = sum(self.twin.psu_reading(p)["input_w"] for p in self.psus_of(shelf))
        return {"@odata.id": f"{self.shelf_uri(shelf)}/Metrics", "@odata.type": otype("PowerDistributionMetrics"),
                "Id": "Metrics", "Name": f"{shelf} metrics", "PowerWatts": {"Reading": reading(watts)}}

    def shelf_chassis(self, shelf: str) -> Body:
        uri = f"{V1}/Chassis/{shelf}"
        return {"@odata.id": uri, "@odata.type": otype("Chassis"), "Id": shelf, "Name": f"Power {shelf}",
                "ChassisType": "Shelf", "Manufacturer": "rackval", "Model": "SIM-SHELF-33K",
                "SerialNumber": self.twin.serial_of(shelf), "PartNumber": "RV-SHELF",
                "Status": {"State": "Enabled", "Health": "OK"}, "PowerSubsystem": link(f"{uri}/PowerSubsystem"),
                "Links": {"ContainedBy": link(self.rack_uri), "ManagedBy": [link(self.manager_uri)]}}

    def power_subsystem(self, shelf: str) -> Body:
        uri = f"{V1}/Chassis/{shelf}/PowerSubsystem"
        cap = sum(self.twin.psus[p].rated_w for p in self.psus_of(shelf))
        return {"@odata.id": uri, "@odata.type": otype("PowerSubsystem"), "Id": "PowerSubsystem",
                "Name": f"{shelf} power subsystem", "CapacityWatts": cap,
                "Status": {"State": "Enabled", "Health": "OK"}, "PowerSupplies": link(f"{uri}/PowerSupplies")}

    def psu(self, shelf: str, psu: str) -> Body:
        uri = self.psu_uri(shelf, psu)
        health, line = self._psu_health(psu)
        spec = self.twin.psus[psu]
        return {"@odata.id": uri, "@odata.type": otype("PowerSupply"), "Id": _id(psu), "Name": f"PSU {psu}",
                "Status": {"State": "Enabled", "Health": health}, "LineInputStatus": line,
                "Manufacturer": "rackval", "Model": "SIM-PSU-5500", "SerialNumber": self.twin.serial_of(psu),
                "PartNumber": "RV-PSU-5500", "FirmwareVersion": self.twin.firmware_of(psu),
                "PowerCapacityWatts": spec.rated_w, "HotPluggable": True,
                "OutputRails": [{"NominalVoltage": self.twin.physics.busbar.nominal_v, "PhysicalContext": "PowerSupply"}],
                "Location": {"PartLocation": {"ServiceLabel": f"{shelf} PSU {spec.index}", "LocationType": "Bay",
                                              "LocationOrdinalValue": spec.index}},
                "Metrics": link(f"{uri}/Metrics")}

    def psu_metrics(self, shelf: str, psu: str) -> Body:
        r = self.twin.psu_reading(psu)
        feed = self.twin.feeds.get(psu)
        volts = self.twin.pdu_specs[feed[0]].voltage_ln if feed and r["ac_ok"] else 0.0
        out_v = r["output_v"]
        return {"@odata.id": f"{self.psu_uri(shelf, psu)}/Metrics", "@odata.type": otype("PowerSupplyMetrics"),
                "Id": "Metrics", "Name": f"{psu} metrics", "Status": {"State": "Enabled", "Health": "OK"},
                "InputVoltage": {"Reading": reading(volts)},
                "InputPowerWatts": {"Reading": reading(r["input_w"])},
                "OutputPowerWatts": {"Reading": reading(r["output_w"])},
                "RailVoltage": [{"Reading": reading(out_v)}],
                "RailCurrentAmps": [{"Reading": reading(r["output_w"] / out_v if out_v else 0.0)}]}

    # ------------------------------------------------------------------ CDU
    def _cdu_sensor_defs(self) -> dict[str, SensorDef]:
        if not self.cdu:
            return {}
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

    def threshold_sensors(self) -> list[WatchedSensor]:
        """The CDU sensors judged against their Thresholds (crossing events, redfish_thresholds.py)."""
        keys = {"SecondarySupplyTemp": "coolant/supply_c", "SecondaryReturnTemp": "coolant/return_c"}
        return [WatchedSensor(keys[sid], self.name, f"{self.cdu}/{sid}", self.cdu_sensor_uri(sid), "Temperature",
                              dict(d.thresholds))
                for sid, d in self.cdu_sensors.items() if sid in keys and d.thresholds]

    def cdu_sensor_uri(self, sid: str) -> str:
        return f"{self.cdu_chassis}/Sensors/{sid}"

    def _metric(self, sid: str, value: float | None = None) -> Body:
        v = self.cdu_sensors[sid].read() if value is None else value
        return {"Reading": reading(v), "DataSourceUri": self.cdu_sensor_uri(sid)}

    def cdu_chassis_body(self) -> Body:
        return {"@odata.id": self.cdu_chassis, "@odata.type": otype("Chassis"), "Id": self.cdu_chassis.rsplit("/", 1)[1],
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
        return f"{self.cdu_chassis}/LeakDetectors/{_id(detector)}"

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
        return {"@odata.id": self.detector_uri(detector), "@odata.type": otype("LeakDetector"), "Id": _id(detector),
                "Name": detector, "LeakDetectorType": "Moisture", "DetectorState": state,
                "PhysicalContext": "LiquidInlet" if detector.endswith("coldplate") else "Chassis",
                "Status": {"State": "Enabled", "Health": state}}

    # ------------------------------------------------------------------ routing
    def _routes(self) -> dict[str, Callable[[], Body]]:
        r: dict[str, Callable[[], Body]] = {
            f"{V1}/Chassis": lambda: collection(f"{V1}/Chassis", "ChassisCollection", "Chassis Collection",
                                                self._chassis_uris()),
            self.rack_uri: self.rack,
            f"{V1}/Managers": lambda: collection(f"{V1}/Managers", "ManagerCollection", "Manager Collection",
                                                 [self.manager_uri]),
            self.manager_uri: self.manager,
            f"{V1}/PowerEquipment": lambda: {
                "@odata.id": f"{V1}/PowerEquipment", "@odata.type": otype("PowerEquipment"), "Id": "PowerEquipment",
                "Name": "Power equipment", "Status": {"State": "Enabled", "Health": "OK"},
                "PowerShelves": link(f"{V1}/PowerEquipment/PowerShelves")},
            f"{V1}/PowerEquipment/PowerShelves": lambda: collection(
                f"{V1}/PowerEquipment/PowerShelves", "PowerDistributionCollection", "Power shelves",
                [self.shelf_uri(s) for s in self.shelves]),
        }
        for tray in self.twin.trays:
            r[f"{V1}/Chassis/{tray}"] = _bind(self.tray_summary, tray)
        for shelf in self.shelves:
            psus = f"{V1}/Chassis/{shelf}/PowerSubsystem/PowerSupplies"
            r[self.shelf_uri(shelf)] = _bind(self.shelf, shelf)
            r[f"{self.shelf_uri(shelf)}/Metrics"] = _bind(self.shelf_metrics, shelf)
            r[f"{V1}/Chassis/{shelf}"] = _bind(self.shelf_chassis, shelf)
            r[f"{V1}/Chassis/{shelf}/PowerSubsystem"] = _bind(self.power_subsystem, shelf)
            r[psus] = _coll(psus, "PowerSupplyCollection", f"{shelf} power supplies",
                            [self.psu_uri(shelf, p) for p in self.psus_of(shelf)])
            for psu in self.psus_of(shelf):
                r[self.psu_uri(shelf, psu)] = _bind2(self.psu, shelf, psu)
                r[f"{self.psu_uri(shelf, psu)}/Metrics"] = _bind2(self.psu_metrics, shelf, psu)
        if self.cdu:
            u = self.cdu_uri
            sensors = f"{self.cdu_chassis}/Sensors"
            pumps = sorted(self.twin.pump_states(), key=_natural)
            detectors = list(self.twin.leak_states())
            r.update({
                f"{V1}/ThermalEquipment": lambda: {
                    "@odata.id": f"{V1}/ThermalEquipment", "@odata.type": otype("ThermalEquipment"),
                    "Id": "ThermalEquipment", "Name": "Cooling equipment",
                    "Status": {"State": "Enabled", "Health": "OK"}, "CDUs": link(f"{V1}/ThermalEquipment/CDUs")},
                f"{V1}/ThermalEquipment/CDUs": _coll(f"{V1}/ThermalEquipment/CDUs", "CoolingUnitCollection", "CDUs",
                                                     [u]),
                u: self.cooling_unit,
                self.cdu_chassis: self.cdu_chassis_body,
                sensors: _coll(sensors, "SensorCollection", "CDU sensors",
                               [self.cdu_sensor_uri(s) for s in self.cdu_sensors]),
                f"{u}/Pumps": _coll(f"{u}/Pumps", "PumpCollection", "Pumps", [f"{u}/Pumps/{p}" for p in pumps]),
                f"{u}/LeakDetection": self.leak_detection,
                f"{self.cdu_chassis}/LeakDetectors": _coll(f"{self.cdu_chassis}/LeakDetectors",
                                                          "LeakDetectorCollection", "Leak detectors",
                                                          [self.detector_uri(d) for d in detectors]),
            })
            for side in ("Primary", "Secondary"):
                coll = f"{u}/{side}CoolantConnectors"
                r[coll] = _coll(coll, "CoolantConnectorCollection", f"{side} coolant connectors", [f"{coll}/1"])
                r[f"{coll}/1"] = _bind(self.connector, side)
            for p in pumps:
                r[f"{u}/Pumps/{p}"] = _bind(self.pump, p)
            for d in detectors:
                r[self.detector_uri(d)] = _bind(self.detector, d)
            for sid, sdef in self.cdu_sensors.items():
                r[self.cdu_sensor_uri(sid)] = _sensor(self.cdu_sensor_uri(sid), sdef)
        return r


def _natural(name: str) -> tuple[str, int]:
    head = name.rstrip("0123456789")
    tail = name[len(head):]
    return head, int(tail) if tail else -1


def _bind(fn: Callable[[str], Body], arg: str) -> Callable[[], Body]:
    return lambda: fn(arg)


def _bind2(fn: Callable[[str, str], Body], a: str, b: str) -> Callable[[], Body]:
    return lambda: fn(a, b)


def _coll(uri: str, kind: str, name: str, members: list[str]) -> Callable[[], Body]:
    return lambda: collection(uri, kind, name, members)


def _sensor(uri: str, d: SensorDef) -> Callable[[], Body]:
    return lambda: sensor_body(uri, d)
