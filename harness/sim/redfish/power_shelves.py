"""The power shelves of a rack as its rack manager serves them: PowerEquipment/PowerShelves, each
shelf's chassis and PowerSubsystem, and every PSU with its metrics, read from the twin
(``psu_reading``). Modelled on the DMTF mockup public-power-shelf.

A PSU's Health says what a real shelf would: Critical when it failed, Warning when its AC input is
lost (``LineInputStatus`` LossOfInput); the shelf logs the loss and the return of a PSU's feed.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from harness.sim.physics import RackTwin
from harness.sim.redfish.documents import V1, Body, collection, link, natural_order, otype, reading, resource_id
from harness.sim.redfish.registry import message


class PowerShelves:
    """Resources and events of every power shelf of the rack."""

    def __init__(self, twin: RackTwin, *, rack_uri: str, manager_uri: str) -> None:
        self.twin, self.rack_uri, self.manager_uri = twin, rack_uri, manager_uri
        self.shelves = sorted({p.shelf for p in twin.psus.values()}, key=natural_order)

    def chassis_uris(self) -> list[str]:
        return [f"{V1}/Chassis/{s}" for s in self.shelves]

    def events_for(self, kind: str, data: dict[str, object]) -> list[tuple[Body, str]]:
        """A PSU failed or restored; a PSU's AC feed lost (Warning) or back."""
        if kind == "psu":
            psu = str(data.get("psu"))
            shelf = psu.partition(".")[0]
            key = "PowerSupplyFailed" if data.get("failed") else "PowerSupplyRestored"
            return [(message(f"Power.{key}", psu), self.psu_uri(shelf, psu))]
        if kind == "outlet":  # a PSU's AC feed switched: the shelf logs the loss (Warning) and its return
            outlet = int(data.get("outlet", 0))  # type: ignore[call-overload]
            psu_name = self.twin.pdu_specs[str(data.get("pdu"))].feeds.get(outlet)
            if psu_name is None or psu_name not in self.twin.psus:
                return []
            key = "LineInputPowerRestored" if data.get("on") else "LossOfInputPower"
            return [(message(f"Power.{key}", psu_name), self.psu_uri(psu_name.partition(".")[0], psu_name))]
        return []

    # ------------------------------------------------------------------ resources
    def shelf_uri(self, shelf: str) -> str:
        return f"{V1}/PowerEquipment/PowerShelves/{shelf}"

    def psus_of(self, shelf: str) -> list[str]:
        return sorted((p for p in self.twin.psus if p.startswith(shelf + ".")), key=natural_order)

    def psu_uri(self, shelf: str, psu: str) -> str:
        return f"{V1}/Chassis/{shelf}/PowerSubsystem/PowerSupplies/{resource_id(psu)}"

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
        return {"@odata.id": uri, "@odata.type": otype("PowerSupply"), "Id": resource_id(psu), "Name": f"PSU {psu}",
                "Status": {"State": "Enabled", "Health": health}, "LineInputStatus": line,
                "Manufacturer": "rackval", "Model": "SIM-PSU-5500", "SerialNumber": self.twin.serial_of(psu),
                "PartNumber": "RV-PSU-5500", "FirmwareVersion": self.twin.firmware_of(psu),
                "PowerCapacityWatts": spec.rated_w, "HotPluggable": True,
                "OutputRails": [{"NominalVoltage": self.twin.physics.busbar.nominal_v,
                                 "PhysicalContext": "PowerSupply"}],
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

    # ------------------------------------------------------------------ routing
    def routes(self) -> dict[str, Callable[[], Body]]:
        shelves = f"{V1}/PowerEquipment/PowerShelves"
        r: dict[str, Callable[[], Body]] = {
            f"{V1}/PowerEquipment": lambda: {
                "@odata.id": f"{V1}/PowerEquipment", "@odata.type": otype("PowerEquipment"), "Id": "PowerEquipment",
                "Name": "Power equipment", "Status": {"State": "Enabled", "Health": "OK"},
                "PowerShelves": link(shelves)},
            shelves: partial(collection, shelves, "PowerDistributionCollection", "Power shelves",
                             [self.shelf_uri(s) for s in self.shelves]),
        }
        for shelf in self.shelves:
            psus = f"{V1}/Chassis/{shelf}/PowerSubsystem/PowerSupplies"
            r[self.shelf_uri(shelf)] = partial(self.shelf, shelf)
            r[f"{self.shelf_uri(shelf)}/Metrics"] = partial(self.shelf_metrics, shelf)
            r[f"{V1}/Chassis/{shelf}"] = partial(self.shelf_chassis, shelf)
            r[f"{V1}/Chassis/{shelf}/PowerSubsystem"] = partial(self.power_subsystem, shelf)
            r[psus] = partial(collection, psus, "PowerSupplyCollection", f"{shelf} power supplies",
                              [self.psu_uri(shelf, p) for p in self.psus_of(shelf)])
            for psu in self.psus_of(shelf):
                r[self.psu_uri(shelf, psu)] = partial(self.psu, shelf, psu)
                r[f"{self.psu_uri(shelf, psu)}/Metrics"] = partial(self.psu_metrics, shelf, psu)
        return r
