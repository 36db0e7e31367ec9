"""Sensors and leak detectors as every simulated service serves them: a Sensor body read from the twin
at request time, with its Thresholds and the Health they imply, and the messages a detector raises."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from harness.sim.redfish.documents import Body, otype, reading

#: Leak detector state -> its Environmental registry message key.
LEAK_EVENTS = {"Critical": "LeakDetectedCritical", "Warning": "LeakDetectedWarning", "OK": "LeakDetectedNormal"}


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
