"""BmcClient: what the harness asks of one tray BMC (power state, Reset, power, sensors, identity, power
limit), found by following links, over a :class:`~harness.drivers.redfish.session.RedfishSession`.

A Reset POST is sent once: refused before sending -> :class:`RedfishUnreachable`; no answer after it
may have been sent -> :class:`PowerActionUncertain`, so the caller reads the state back instead of
re-sending (a 401 on the POST means it was not executed, so it is re-sent once after a fresh login).
Payload fields are read through ``views.py`` helpers that return a typed value or None, never raise.

Not thread-safe (neither is the DMTF client): use one BmcClient per BMC and per thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from harness.clock import Clock, RealClock
from harness.drivers.redfish import actions
from harness.drivers.redfish.session import ROOT, RedfishSession
from harness.drivers.redfish.transport import plain_uri
from harness.drivers.redfish.views import (
    JsonObj,
    SensorReading,
    SensorSweep,
    first_link,
    legacy_sensors,
    link,
    looks_expanded,
    member_uris,
    number,
    odata_id,
    path,
    sensor_reading,
    text,
)
from harness.errors import RedfishError, RedfishUnreachable

__all__ = ["BmcClient", "SensorReading", "SensorSweep"]

log = logging.getLogger(__name__)
T = TypeVar("T")


class BmcClient:
    """Synchronous Redfish client for one BMC. Use one per BMC (the DMTF client is not thread-safe)."""

    def __init__(self, name: str, base_url: str, username: str, password: str, *,
                 timeout_s: float = 10.0, ca_file: str | None = None, clock: Clock | None = None,
                 get_retries: int = 2) -> None:
        if "://" not in base_url:
            raise ValueError(f"{name}: base_url needs a scheme (http:// or https://): {base_url!r}")
        self.name, self.base_url = name, base_url.rstrip("/")
        self.timeout_s = timeout_s
        self._http = RedfishSession(name, self.base_url, username, password, timeout_s=timeout_s,
                                    ca_file=ca_file, clock=clock or RealClock(), get_retries=get_retries)
        self.verify: str | bool = self._http.verify  # what other connections to this BMC (SSE) verify with
        self.telemetry_source: str | None = None  # "new" | "legacy" | "none" after a sensor read

    def __repr__(self) -> str:  # never show credentials
        return f"BmcClient({self.name!r}, {self.base_url!r})"

    def __enter__(self) -> BmcClient:
        self.login()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ session
    def is_up(self) -> bool:
        """True if the service root answers 200 within the timeout; never raises."""
        return self._http.is_up()

    def login(self) -> None:
        """Open a Redfish session now (requests open one on demand anyway)."""
        self._http.login()

    def session_token(self) -> str:
        """The current session token, logging in first if needed (for side connections such as SSE)."""
        return self._http.session_token()

    def logout(self) -> None:
        """Delete the session; never raises (a BMC has few session slots, so always try)."""
        self._http.logout()

    def close(self) -> None:
        """Log out and release the HTTP connections."""
        self._http.close()

    # ------------------------------------------------------------------ discovery
    def _first_member(self, root_key: str) -> str:
        coll_uri = link(self._http.service_root(), root_key)
        if coll_uri is None:
            self._http.forget_root()  # read it again next time
            raise RedfishError(self.name, f"GET {ROOT}", f"service root has no {root_key} collection")
        members = member_uris(self._http.get(coll_uri))
        if not members:
            raise RedfishError(self.name, f"GET {coll_uri}", f"{root_key} collection has no members")
        return members[0]

    def _system_uri(self) -> str:
        if "system" not in self._http.uris:
            self._http.uris["system"] = self._first_member("Systems")
        return self._http.uris["system"]

    def _chassis_uri(self, system: JsonObj | None = None) -> str:
        """The chassis linked from the system (the tray), else the first chassis."""
        if "chassis" not in self._http.uris:
            if system is None:
                system = self._http.get(self._system_uri())
            self._http.uris["chassis"] = first_link(system, "Links", "Chassis") or self._first_member("Chassis")
        return self._http.uris["chassis"]

    # ------------------------------------------------------------------ operations
    def power_state(self) -> str:
        uri = self._system_uri()
        state = text(path(self._http.get(uri), "PowerState"))
        if state is None:
            raise RedfishError(self.name, f"GET {uri}", "ComputerSystem has no PowerState string")
        return state

    def boot_progress(self) -> str | None:
        """BootProgress.LastState of the host (e.g. OSRunning); None when the BMC does not report it."""
        return text(path(self._http.get(self._system_uri()), "BootProgress", "LastState"))

    def reset(self, reset_type: str) -> None:
        """POST #ComputerSystem.Reset once (``actions.reset``): accepted is not done, read the state back."""
        actions.reset(self._http, self._system_uri(), reset_type)

    def power_watts(self) -> float:
        """Tray input power: EnvironmentMetrics, else a Power sensor, else legacy Power.PowerControl.

        The EnvironmentMetrics URI found once is reused (one GET per reading, it is polled often);
        if it stops answering with a reading, it is discovered again from the chassis."""
        cached = self._http.uris.get("environment_metrics")
        if cached:
            value = self._optional(lambda: number(path(self._http.get(cached), "PowerWatts", "Reading")))
            if value is not None:
                return value
            self._http.uris.pop("environment_metrics", None)
        chassis_uri = self._chassis_uri()
        chassis = self._http.get(chassis_uri)
        em_uri = link(chassis, "EnvironmentMetrics")
        if em_uri:
            value = self._optional(lambda: number(path(self._http.get(em_uri), "PowerWatts", "Reading")))
            if value is not None:
                self._http.uris["environment_metrics"] = em_uri
                return value
        power_sensors = [s for s in self._sensors_of(chassis) if s.reading_type == "Power" and s.reading is not None]
        power_sensors.sort(key=lambda s: s.physical_context not in (None, "Chassis"))
        if power_sensors and power_sensors[0].reading is not None:
            return power_sensors[0].reading
        legacy_uri = link(chassis, "Power")
        if legacy_uri:
            control = self._optional(lambda: path(self._http.get(legacy_uri), "PowerControl"))
            if isinstance(control, list) and control:
                value = number(path(control[0], "PowerConsumedWatts"))
                if value is not None:
                    return value
        raise RedfishError(self.name, f"GET {chassis_uri}",
                           "no power reading (EnvironmentMetrics.PowerWatts, Power sensor, Power.PowerControl)")

    def _optional(self, read: Callable[[], T]) -> T | None:
        """A fallback source: a missing/broken resource means 'try the next'; an unreachable BMC does not."""
        try:
            return read()
        except RedfishUnreachable:
            raise
        except RedfishError as exc:
            log.debug("%s: %s", self.name, exc)
            return None

    def sensors(self) -> list[SensorReading]:
        """Every sensor of the tray, from whichever tree the BMC serves (see :meth:`read_sensors`)."""
        return self.read_sensors().sensors

    def read_sensors(self) -> SensorSweep:
        """Sensors from the Sensors collection, else from legacy Thermal/Power; says which was used."""
        chassis_uri = self._chassis_uri()
        chassis = self._http.get(chassis_uri)
        if link(chassis, "Sensors"):
            sweep = SensorSweep("new", self._sensors_of(chassis))
        elif link(chassis, "Thermal") or link(chassis, "Power"):
            thermal = self.get_optional(link(chassis, "Thermal"))
            power = self.get_optional(link(chassis, "Power"))
            sweep = SensorSweep("legacy", legacy_sensors(thermal, power, chassis_uri))
        else:
            sweep = SensorSweep("none", [])
        self.telemetry_source = sweep.source
        return sweep

    def _sensors_of(self, chassis: JsonObj) -> list[SensorReading]:
        coll_uri = link(chassis, "Sensors")
        if coll_uri is None:
            return []
        out: list[SensorReading] = []
        for member in self._member_list(coll_uri):
            if looks_expanded(member):
                out.append(sensor_reading(member))
                continue
            uri = odata_id(member)
            if uri is None:
                continue
            body = self._optional(lambda u=uri: self._http.get(u))
            out.append(sensor_reading(body if body is not None else {}, fallback_uri=uri))
        return out

    def identity(self) -> dict[str, str]:
        """What traceability records: serial, model, maker, part number, BMC firmware, and the URIs used.

        Every key is always present; a value the BMC does not report is "" (the caller decides whether
        that blocks a run, e.g. an empty serial_number must). Works on a service without Systems (a
        rack manager or power shelf controller): its first chassis (a ``Rack`` one if present) is used."""
        root = self._http.service_root()
        system_uri = self._optional(self._system_uri) if link(root, "Systems") else None
        system = self._http.get(system_uri) if system_uri else {}
        chassis_uri = self._chassis_uri(system) if system_uri else self._main_chassis_uri()
        chassis = self._http.get(chassis_uri)
        manager_uri = (first_link(chassis, "Links", "ManagedBy") or first_link(system, "Links", "ManagedBy")
                       or self._optional(lambda: self._first_member("Managers")))
        manager = self._optional(lambda: self._http.get(manager_uri)) if manager_uri else None
        manager = manager or {}

        def field(key: str) -> str:
            return text(chassis.get(key)) or text(system.get(key)) or ""

        return {"serial_number": field("SerialNumber"), "model": field("Model"),
                "manufacturer": field("Manufacturer"), "part_number": field("PartNumber"),
                "firmware_version": text(manager.get("FirmwareVersion")) or "",
                "chassis_uri": chassis_uri, "system_uri": system_uri or ""}

    def _main_chassis_uri(self) -> str:
        """A service without a system: its Rack chassis if it has one, else its first chassis."""
        if "chassis" not in self._http.uris:
            coll_uri = link(self._http.service_root(), "Chassis")
            if coll_uri is None:
                raise RedfishError(self.name, f"GET {ROOT}", "service root has neither Systems nor Chassis")
            members = self._members(coll_uri)
            if not members:
                raise RedfishError(self.name, f"GET {coll_uri}", "Chassis collection has no members")
            rack = next((uri for uri, body in members if text(body.get("ChassisType")) == "Rack"), None)
            self._http.uris["chassis"] = rack or members[0][0]
        return self._http.uris["chassis"]

    # ------------------------------------------------------------------ generic reads
    def get_json(self, uri: str) -> JsonObj:
        """GET one resource (retries, re-login, typed errors): for readers built on this client."""
        if not plain_uri(uri):
            raise RedfishError(self.name, f"GET {uri!r}", "not an absolute URI path")
        return self._http.get(uri)

    def get_optional(self, uri: str | None) -> JsonObj | None:
        """GET a resource that may legitimately be missing: None if absent or broken (not if unreachable)."""
        if not uri:
            return None
        return self._optional(lambda: self.get_json(uri))

    def service_root(self) -> JsonObj:
        return self._http.service_root()

    def _members(self, coll_uri: str) -> list[tuple[str, JsonObj]]:
        """(uri, body) of each member, using $expand when the service says it supports it."""
        out: list[tuple[str, JsonObj]] = []
        for member in self._member_list(coll_uri):
            uri = odata_id(member)
            if uri is None:
                continue
            if looks_expanded(member):
                out.append((uri, member))
            else:
                body = self._optional(lambda u=uri: self._http.get(u))
                out.append((uri, body if body is not None else {}))
        return out

    def _member_list(self, coll_uri: str) -> list[Any]:
        """A collection's Members, expanded in one GET when the service says it supports $expand."""
        raw: object = None
        expand = path(self._http.service_root(), "ProtocolFeaturesSupported", "ExpandQuery")
        if path(expand, "NoLinks") is True:
            arg = ".($levels=1)" if path(expand, "Levels") is True else "."
            raw = path(self._optional(lambda: self._http.get(coll_uri, {"$expand": arg})), "Members")
        if not isinstance(raw, list):
            raw = path(self._http.get(coll_uri), "Members")
        return raw if isinstance(raw, list) else []

    def members(self, coll_uri: str | None) -> list[tuple[str, JsonObj]]:
        """Members of a collection as (uri, body); [] when the collection is not available."""
        if not coll_uri:
            return []
        try:
            return self._members(coll_uri)
        except RedfishUnreachable:
            raise
        except RedfishError as exc:
            log.debug("%s: %s", self.name, exc)
            return []

    # ------------------------------------------------------------------ power limit
    def set_power_limit(self, watts: float | None) -> None:
        """Cap the tray (EnvironmentMetrics.PowerLimitWatts); None removes the cap. Read back
        (``actions.set_power_limit``), so a BMC that ignored it raises instead of passing silently."""
        actions.set_power_limit(self._http, self._chassis_uri(), watts)
