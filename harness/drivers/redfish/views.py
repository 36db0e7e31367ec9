"""Typed, forgiving views of Redfish payloads.

BMCs omit properties, send nulls and wrong types. Every accessor here returns a typed value or
``None`` and never raises on a malformed payload; the client decides what absence means.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

JsonObj = dict[str, Any]
THRESHOLD_NAMES = ("UpperCaution", "UpperCritical", "UpperFatal", "LowerCaution", "LowerCritical", "LowerFatal")


@dataclass(frozen=True)
class SensorReading:
    """One Redfish Sensor as the harness uses it; ``reading`` is None when the BMC has no value."""

    name: str
    uri: str
    reading: float | None
    units: str
    reading_type: str
    physical_context: str | None
    state: str | None
    thresholds: dict[str, float] = field(default_factory=dict)  # e.g. {"UpperCritical": 87.0}


def obj(value: object) -> JsonObj:
    """``value`` if it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def path(value: object, *keys: str) -> object:
    """Walk nested objects; None as soon as a step is missing or not an object."""
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def number(value: object) -> float | None:
    """A finite float, or None (bools and numeric strings are not numbers in Redfish)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        f = float(value)
    except OverflowError:  # an integer beyond float range (JSON allows it)
        return None
    return f if math.isfinite(f) else None


def odata_id(value: object) -> str | None:
    """The @odata.id of a link object (absolute path), or None."""
    uri = text(path(value, "@odata.id"))
    return uri if uri and uri.startswith("/") else None


def link(resource: object, *keys: str) -> str | None:
    """``resource[keys...]["@odata.id"]``."""
    return odata_id(path(resource, *keys))


def first_link(resource: object, *keys: str) -> str | None:
    """The first member of a list of links at ``resource[keys...]``."""
    links = path(resource, *keys)
    if isinstance(links, list):
        for item in links:
            uri = odata_id(item)
            if uri:
                return uri
    return None


def member_uris(collection: object) -> list[str]:
    members = path(collection, "Members")
    if not isinstance(members, list):
        return []
    return [u for u in (odata_id(m) for m in members) if u]


def extended_messages(body: object) -> list[str]:
    """Human texts of ``error.@Message.ExtendedInfo`` (or ``error.message``), for error reports."""
    err = path(body, "error")
    out: list[str] = []
    info = path(err, "@Message.ExtendedInfo")
    if isinstance(info, list):
        for item in info:
            msg = text(path(item, "Message")) or text(path(item, "MessageId"))
            if msg:
                out.append(msg)
    if not out:
        msg = text(path(err, "message"))
        if msg:
            out.append(msg)
    return out


def sensor_reading(body: object, fallback_uri: str = "") -> SensorReading:
    """A :class:`SensorReading` from a Sensor payload; missing fields become None/empty."""
    thresholds: dict[str, float] = {}
    for key in THRESHOLD_NAMES:
        value = number(path(body, "Thresholds", key, "Reading"))
        if value is not None:
            thresholds[key] = value
    uri = odata_id(body) or fallback_uri
    name = text(path(body, "Name")) or text(path(body, "Id")) or uri.rsplit("/", 1)[-1]
    return SensorReading(name=name, uri=uri, reading=number(path(body, "Reading")),
                         units=text(path(body, "ReadingUnits")) or "",
                         reading_type=text(path(body, "ReadingType")) or "",
                         physical_context=text(path(body, "PhysicalContext")),
                         state=text(path(body, "Status", "State")), thresholds=thresholds)


def looks_expanded(member: object) -> bool:
    """An expanded collection member carries more than its link."""
    return isinstance(member, dict) and any(k != "@odata.id" for k in member)


@dataclass(frozen=True)
class SensorSweep:
    """One read of a BMC's sensors and which resource tree it came from: ``"new"`` (Sensors
    collection), ``"legacy"`` (Chassis Power/Thermal) or ``"none"`` (neither is available)."""

    source: str
    sensors: list[SensorReading]


_LEGACY_THRESHOLDS = (("UpperThresholdNonCritical", "UpperCaution"), ("UpperThresholdCritical", "UpperCritical"),
                      ("UpperThresholdFatal", "UpperFatal"), ("LowerThresholdNonCritical", "LowerCaution"),
                      ("LowerThresholdCritical", "LowerCritical"), ("LowerThresholdFatal", "LowerFatal"))


def legacy_sensors(thermal: object, power: object, base_uri: str = "") -> list[SensorReading]:
    """SensorReadings from the deprecated ``Thermal`` and ``Power`` resources (either may be None)."""
    out: list[SensorReading] = []
    temps = path(thermal, "Temperatures")
    for i, t in enumerate(temps if isinstance(temps, list) else []):
        thresholds = {dst: v for src, dst in _LEGACY_THRESHOLDS if (v := number(path(t, src))) is not None}
        out.append(SensorReading(name=text(path(t, "Name")) or f"Temperature {i}",
                                 uri=odata_id(t) or f"{base_uri}/Thermal#/Temperatures/{i}",
                                 reading=number(path(t, "ReadingCelsius")), units="Cel", reading_type="Temperature",
                                 physical_context=text(path(t, "PhysicalContext")),
                                 state=text(path(t, "Status", "State")), thresholds=thresholds))
    fans = path(thermal, "Fans")
    for i, f in enumerate(fans if isinstance(fans, list) else []):
        units = text(path(f, "ReadingUnits"))
        out.append(SensorReading(name=text(path(f, "Name")) or f"Fan {i}",
                                 uri=odata_id(f) or f"{base_uri}/Thermal#/Fans/{i}", reading=number(path(f, "Reading")),
                                 units={"Percent": "%", "RPM": "RPM"}.get(units or "", units or ""),
                                 reading_type="Percent" if units == "Percent" else "Rotational",
                                 physical_context="Fan", state=text(path(f, "Status", "State"))))
    controls = path(power, "PowerControl")
    for i, c in enumerate(controls if isinstance(controls, list) else []):
        out.append(SensorReading(name=text(path(c, "Name")) or f"Power control {i}",
                                 uri=odata_id(c) or f"{base_uri}/Power#/PowerControl/{i}",
                                 reading=number(path(c, "PowerConsumedWatts")), units="W", reading_type="Power",
                                 physical_context="Chassis", state=text(path(c, "Status", "State"))))
    return out
