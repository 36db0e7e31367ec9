"""Power and thermal resources of one simulated tray BMC, built from the twin at request time.

What the harness reads for power, temperatures and fans, in the tree the BMC's personality serves:
``new`` (Sensors, EnvironmentMetrics with the writable PowerLimitWatts, PowerSubsystem,
ThermalSubsystem with ThermalMetrics and fans) and/or ``legacy`` (the deprecated Power and Thermal
resources). The same :class:`SensorDef` serves a Sensor and declares its Thresholds to the threshold
watch, so events agree with what a client reads.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from harness.sim.physics import RackTwin
from harness.sim.redfish.actions import ActionError, Setter, json_text
from harness.sim.redfish.documents import Body, collection, link, otype, reading
from harness.sim.redfish.sensors import SensorDef, sensor_body
from harness.sim.redfish.thresholds import WatchedSensor

GPU_LIMITS = {"UpperCaution": 80.0, "UpperCritical": 87.0, "UpperFatal": 95.0}
ASIC_LIMITS = {"UpperCaution": 85.0, "UpperCritical": 95.0, "UpperFatal": 105.0}
INLET_LIMITS = {"UpperCaution": 35.0, "UpperCritical": 40.0, "UpperFatal": 45.0}


class TrayEnvironment:
    """Sensors, power and thermal resources under one tray's chassis."""

    def __init__(self, twin: RackTwin, tray: str, chassis_uri: str, *, new_tree: bool, legacy_tree: bool) -> None:
        self.twin, self.tray, self.chassis_uri = twin, tray, chassis_uri
        self.new_tree, self.legacy_tree = new_tree, legacy_tree
        spec = twin.trays[tray].spec
        self.kind = spec.kind
        self.max_w, self.idle_w = spec.max_w, spec.idle_w
        self.sensors_uri = f"{chassis_uri}/Sensors"
        self.em_uri = f"{chassis_uri}/EnvironmentMetrics"
        self.sensor_defs = self._sensor_defs()

    # ------------------------------------------------------------------ sensors
    def _sensor_defs(self) -> dict[str, SensorDef]:
        twin, tray = self.twin, self.tray
        defs = [SensorDef("TotalPower", f"{tray} total power", "Power", "W", "Chassis",
                          lambda: twin.tray_power_w(tray), {"UpperCritical": self.max_w}),
                SensorDef("InletTemp", f"{tray} inlet temperature", "Temperature", "Cel", "Intake",
                          _reader(twin, tray, "inlet"), dict(INLET_LIMITS))]
        for key in twin.tray_temperatures_c(tray):
            if key.startswith("gpu"):
                n = key[3:]
                defs.append(SensorDef(f"GPU{n}Temp", f"GPU {n} temperature", "Temperature", "Cel", "GPU",
                                      _reader(twin, tray, key), dict(GPU_LIMITS)))
            elif key == "asic":
                defs.append(SensorDef("ASICTemp", "Switch ASIC temperature", "Temperature", "Cel", "ASIC",
                                      _reader(twin, tray, key), dict(ASIC_LIMITS)))
        if self.kind != "compute":
            for i in (1, 2):
                defs.append(SensorDef(f"Fan{i}Speed", f"Fan {i} speed", "Percent", "%", "Fan",
                                      _fan_reader(twin, tray, i)))
        return {d.id: d for d in defs}

    def sensor_uri(self, sensor_id: str) -> str:
        return f"{self.sensors_uri}/{sensor_id}"

    def threshold_sensors(self, service: str) -> list[WatchedSensor]:
        """The sensors this BMC judges against its Thresholds (crossing events, ``thresholds.py``)."""
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
            out.append(WatchedSensor(f"{self.tray}/{key}", service, f"{self.tray}/{d.id}", origin, quantity,
                                     dict(d.thresholds), ready=lambda tr=tray: tr.bmc == "Ready"))
        return out

    def sensor(self, d: SensorDef) -> Body:
        return sensor_body(self.sensor_uri(d.id), d)

    def chassis_links(self) -> Body:
        """What the chassis links to, by personality."""
        body: Body = {}
        if self.new_tree:
            body.update({"PowerSubsystem": link(f"{self.chassis_uri}/PowerSubsystem"),
                         "ThermalSubsystem": link(f"{self.chassis_uri}/ThermalSubsystem"),
                         "EnvironmentMetrics": link(self.em_uri), "Sensors": link(self.sensors_uri)})
        if self.legacy_tree:
            body.update({"Power": link(f"{self.chassis_uri}/Power"), "Thermal": link(f"{self.chassis_uri}/Thermal")})
        return body

    # ------------------------------------------------------------------ new tree
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

    def set_power_limit(self, value: Any) -> None:
        """PATCH of EnvironmentMetrics.PowerLimitWatts: a cap within the allowable range, or Disabled."""
        prop = "PowerLimitWatts"
        if not isinstance(value, dict):
            raise ActionError(400, "PropertyValueTypeError", json_text(value), prop)
        mode = value.get("ControlMode", "Automatic")
        if mode not in ("Automatic", "Disabled", "Override", "Manual"):
            raise ActionError(400, "PropertyValueNotInList", json_text(mode), f"{prop}/ControlMode")
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
            raise ActionError(400, "PropertyValueTypeError", json_text(sp), f"{prop}/SetPoint")
        if not self.idle_w * 0.6 <= float(sp) <= self.max_w:
            raise ActionError(400, "PropertyValueOutOfRange", json_text(sp), f"{prop}/SetPoint")
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

    # ------------------------------------------------------------------ legacy tree
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

    # ------------------------------------------------------------------ routing
    def writable(self) -> dict[str, dict[str, Setter]]:
        return {self.em_uri: {"PowerLimitWatts": self.set_power_limit}} if self.new_tree else {}

    def routes(self) -> dict[str, Callable[[], Body]]:
        """Every GET-able URI of the tray's power and thermal resources -> builder."""
        c = self.chassis_uri
        routes: dict[str, Callable[[], Body]] = {}
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
                    routes[f"{fans}/{i}"] = _fan_builder(self, i)
        if self.legacy_tree:
            routes[f"{c}/Power"] = self.legacy_power
            routes[f"{c}/Thermal"] = self.legacy_thermal
        return routes


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


def _sensor_builder(env: TrayEnvironment, d: SensorDef) -> Callable[[], Body]:
    return lambda: env.sensor(d)


def _fan_builder(env: TrayEnvironment, i: int) -> Callable[[], Body]:
    return lambda: env.fan(i)
