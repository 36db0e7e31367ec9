"""BmcClient: one tray BMC over the DMTF ``redfish`` library, with the library's traps disarmed.

The library re-sends every method (POST included) ``max_retry`` times, never times out by default,
does not raise on HTTP errors and skips TLS verification unless given a CA file. So the client is
built with ``max_retry=0``, an explicit timeout and ``check_connectivity=False``; every status is
checked here; only GETs are retried (backoff through the run's Clock, ``Retry-After`` honoured, one
re-login on 401); a Reset POST is sent once, and a POST without an answer raises
:class:`PowerActionUncertain` so the caller reads the state back instead of re-sending.

Sessions are opened on demand: the first 401 (never logged in, session expired or evicted, BMC
rebooted) triggers one login and one retry, so callers need not call :meth:`login` first; they
should still :meth:`close` (BMCs have few session slots).

Not thread-safe (neither is the DMTF client): use one BmcClient per BMC and per thread.
"""

from __future__ import annotations

import email.utils
import json
import logging
import os
import ssl
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import urlparse

import redfish
import requests
import urllib3
from redfish.rest.v1 import RestResponse, RetriesExhaustedError
from requests.utils import DEFAULT_CA_BUNDLE_PATH

from harness.clock import Clock, RealClock
from harness.drivers.redfish.views import (
    JsonObj,
    SensorReading,
    SensorSweep,
    extended_messages,
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
from harness.errors import PowerActionUncertain, RedfishError, RedfishUnreachable

log = logging.getLogger(__name__)
T = TypeVar("T")

ROOT = "/redfish/v1/"
DEFAULT_SESSIONS = "/redfish/v1/SessionService/Sessions"
RETRY_STATUSES = (502, 503, 504)
MAX_RETRY_AFTER_S = 60.0
RESET_OK = (200, 202, 204)
# ResetType enum (DSP8010): used only when the service declares no allowable values.
STANDARD_RESET_TYPES = ("On", "ForceOff", "GracefulShutdown", "GracefulRestart", "ForceRestart", "Nmi", "ForceOn",
                        "PushPowerButton", "PowerCycle", "Suspend", "Pause", "Resume", "FullPowerCycle")


class _NoAnswer(Exception):
    """No HTTP answer; ``maybe_delivered`` is False only when the request certainly never left."""

    def __init__(self, cause: BaseException | None) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.maybe_delivered = not _never_sent(cause)
        self.tls = _chain_has(cause, (requests.exceptions.SSLError, ssl.SSLError))


def _chain(exc: BaseException | None, depth: int = 0) -> list[object]:
    """The exception, its causes/contexts, args and urllib3 ``reason``s (bounded walk)."""
    if exc is None or depth > 6:
        return []
    out: list[object] = [exc]
    nexts = [exc.__cause__, exc.__context__, getattr(exc, "reason", None), *getattr(exc, "args", ())]
    for nxt in nexts:
        if isinstance(nxt, BaseException) and nxt is not exc:
            out += _chain(nxt, depth + 1)
    return out


def _chain_has(exc: BaseException | None, types: tuple[type, ...]) -> bool:
    return any(isinstance(e, types) for e in _chain(exc))


def _never_sent(exc: BaseException | None) -> bool:
    """Connect refused or connect timeout: the request bytes never reached the BMC."""
    return _chain_has(exc, (requests.exceptions.ConnectTimeout, urllib3.exceptions.NewConnectionError,
                            urllib3.exceptions.ConnectTimeoutError, ConnectionRefusedError,
                            requests.exceptions.InvalidURL, requests.exceptions.URLRequired,
                            requests.exceptions.MissingSchema, requests.exceptions.InvalidSchema,
                            requests.exceptions.InvalidHeader, urllib3.exceptions.LocationParseError))


def _plain_uri(uri: str) -> bool:
    """An absolute path without spaces or control characters (what a POST may be sent to)."""
    return uri.startswith("/") and uri.isprintable() and not any(c.isspace() for c in uri)


def _system_ca_bundle() -> str:
    """The platform trust store (or certifi's), so https is verified even without a station CA."""
    paths = ssl.get_default_verify_paths()
    for candidate in (paths.cafile, paths.openssl_cafile):
        if candidate and os.path.isfile(candidate):
            return candidate
    return DEFAULT_CA_BUNDLE_PATH


class BmcClient:
    """Synchronous Redfish client for one BMC. Use one per BMC (the DMTF client is not thread-safe)."""

    def __init__(self, name: str, base_url: str, username: str, password: str, *,
                 timeout_s: float = 10.0, ca_file: str | None = None, clock: Clock | None = None,
                 get_retries: int = 2) -> None:
        if "://" not in base_url:
            raise ValueError(f"{name}: base_url needs a scheme (http:// or https://): {base_url!r}")
        self.name, self.base_url = name, base_url.rstrip("/")
        self.timeout_s = timeout_s
        self._username, self._password = username, password
        self._clock: Clock = clock or RealClock()
        self._get_retries = max(0, get_retries)
        cafile = ca_file
        if cafile is None and self.base_url.startswith("https://"):
            cafile = _system_ca_bundle()  # the library would otherwise send verify=False
        self.verify: str | bool = cafile or True  # what other connections to this BMC (SSE) verify with
        self._rf = redfish.redfish_client(base_url=self.base_url, username=username, password=password,
                                          timeout=timeout_s, max_retry=0, check_connectivity=False, cafile=cafile)
        # How to reach and trust a BMC comes from the station file only: no proxies, ~/.netrc or
        # REQUESTS_CA_BUNDLE from the environment (an inherited CA bundle would silently replace the
        # CA the BMC is verified with; netrc is also re-read on every request).
        session = getattr(self._rf, "_session", None)
        if session is not None:
            session.trust_env = False
        self._logged_in = False
        self._session_uri: str | None = None
        self._root: JsonObj | None = None
        self._uris: dict[str, str] = {}
        self.telemetry_source: str | None = None  # "new" | "legacy" | "none" after a sensor read

    def __repr__(self) -> str:  # never show credentials
        return f"BmcClient({self.name!r}, {self.base_url!r})"

    # ------------------------------------------------------------------ context manager
    def __enter__(self) -> BmcClient:
        self.login()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ transport
    def _send(self, method: str, uri: str, *, args: dict[str, str] | None = None,
              body: JsonObj | None = None, headers: dict[str, str] | None = None) -> RestResponse:
        """Exactly one HTTP exchange (the library is built with max_retry=0)."""
        try:
            if method == "GET":
                return self._rf.get(uri, args=args)
            if method == "POST":
                return self._rf.post(uri, body=body)
            if method == "DELETE":
                return self._rf.delete(uri)
            if method == "PATCH":
                return self._rf.patch(uri, body=body, headers=headers)
            raise ValueError(f"unsupported method {method}")
        except RetriesExhaustedError as exc:
            raise _NoAnswer(exc.__cause__ or exc) from exc
        except Exception as exc:  # the library's own failures, never a bare traceback to the caller
            raise RedfishError(self.name, f"{method} {uri}", f"request failed: {type(exc).__name__}: {exc}") from exc

    def _unreachable(self, method: str, uri: str, na: _NoAnswer) -> RedfishError:
        cause = f"{type(na.cause).__name__}: {na.cause}" if na.cause else "no answer"
        if na.tls:
            return RedfishError(self.name, f"{method} {uri}",
                                f"TLS failure talking to BMC {self.name} at {self.base_url} (certificate not "
                                f"trusted: wrong or missing ca_file?): {cause}")
        return RedfishUnreachable(self.name, f"{method} {uri}", f"no HTTP answer ({cause})")

    def _body(self, method: str, uri: str, resp: RestResponse) -> JsonObj:
        """The answer as a JSON object; garbage -> RedfishError naming the request."""
        status = resp.status
        try:
            raw = resp.text or ""
        except Exception as exc:
            raise RedfishError(self.name, f"{method} {uri}", f"unreadable body: {exc}", status=status) from exc
        if not raw.strip():
            return {}
        try:
            data = json.loads(raw)
        except ValueError:
            raise RedfishError(self.name, f"{method} {uri}", f"invalid JSON in HTTP {status} answer: {raw[:80]!r}",
                               status=status) from None
        if not isinstance(data, dict):
            raise RedfishError(self.name, f"{method} {uri}", f"expected a JSON object, got {type(data).__name__}",
                               status=status)
        return data

    def _http_error(self, method: str, uri: str, resp: RestResponse) -> RedfishError:
        status = resp.status
        try:
            body: object = json.loads(resp.text or "")
        except Exception:
            body = None
        cls = RedfishUnreachable if status == 503 else RedfishError
        return cls(self.name, f"{method} {uri}", f"HTTP {status}", status=status, extended_info=extended_messages(body))

    def _retry_after(self, resp: RestResponse) -> float | None:
        value = resp.getheader("Retry-After")
        if not isinstance(value, str) or not value.strip():
            return None
        value = value.strip()
        try:
            seconds = float(value) if value.isdigit() else None
            if seconds is None:
                when = email.utils.parsedate_to_datetime(value)
                seconds = (when - self._clock.wall()).total_seconds()
        except (TypeError, ValueError, OverflowError):
            return None
        return min(MAX_RETRY_AFTER_S, max(0.0, seconds))

    @staticmethod
    def _backoff(attempt: int) -> float:
        return min(8.0, 0.5 * 2 ** (attempt - 1))

    def _get(self, uri: str, args: dict[str, str] | None = None, *, relogin: bool = True) -> JsonObj:
        """GET with retries on no-answer/502/503/504 and one re-login on 401."""
        attempt, relogged = 0, False
        while True:
            delay: float | None = None
            try:
                resp = self._send("GET", uri, args=args)
            except _NoAnswer as na:
                err = self._unreachable("GET", uri, na)
                if not isinstance(err, RedfishUnreachable):
                    raise err from na.cause
            else:
                if 200 <= resp.status < 300:
                    return self._body("GET", uri, resp)
                if resp.status == 401 and relogin and not relogged:
                    relogged = True  # expired/evicted session, rebooted BMC, or never logged in
                    log.info("%s: GET %s -> 401, logging in", self.name, uri)
                    self._relogin()
                    continue
                err = self._http_error("GET", uri, resp)
                if resp.status == 404:  # a URI discovered from a garbled answer (or moved): find it again
                    self._uris = {k: v for k, v in self._uris.items() if v != uri}
                if resp.status not in RETRY_STATUSES:
                    raise err
                delay = self._retry_after(resp)
            if attempt >= self._get_retries:
                raise err
            attempt += 1
            self._clock.sleep(delay if delay is not None else self._backoff(attempt))

    # ------------------------------------------------------------------ session
    def is_up(self) -> bool:
        """True if the service root answers 200 within the timeout; never raises."""
        try:
            return self._send("GET", ROOT).status == 200
        except Exception:
            return False

    def login(self) -> None:
        """Open a Redfish session (POST to the root's Links.Sessions)."""
        if self._logged_in:
            self.logout()
        self._forget_session()
        root = self._read_root()
        self._uris.clear()
        login_url = link(root, "Links", "Sessions") or DEFAULT_SESSIONS
        request = f"POST {login_url}"
        try:
            resp = self._send("POST", login_url, body={"UserName": self._username, "Password": self._password})
        except _NoAnswer as na:
            raise self._unreachable("POST", login_url, na) from na.cause
        if resp.status == 401:
            raise RedfishError(self.name, request, "login refused: invalid credentials", status=401,
                               extended_info=extended_messages(self._safe_json(resp)))
        if resp.status not in (200, 201, 202, 204):
            raise self._http_error("POST", login_url, resp)
        token = resp.getheader("X-Auth-Token")
        if not isinstance(token, str) or not token:
            raise RedfishError(self.name, request, f"HTTP {resp.status} but no X-Auth-Token", status=resp.status)
        location = resp.getheader("Location") or link(self._safe_json(resp))
        self._session_uri = urlparse(location).path if isinstance(location, str) and location else None
        if self._session_uri is None:
            log.warning("%s: session created without a Location; logout will not be able to delete it", self.name)
        self._rf.set_session_key(token)
        self._rf.set_session_location(self._session_uri)
        self._logged_in = True

    def session_token(self) -> str:
        """The current session token, logging in first if needed (for side connections such as SSE)."""
        token = self._rf.get_session_key() if self._logged_in else None
        if not token:
            self.login()
            token = self._rf.get_session_key()
        return str(token)

    def _relogin(self) -> None:
        self._forget_session()
        self.login()

    def _forget_session(self) -> None:
        self._logged_in = False
        self._session_uri = None
        self._rf.set_session_key(None)
        self._rf.set_session_location(None)

    @staticmethod
    def _safe_json(resp: RestResponse) -> object:
        try:
            return json.loads(resp.text or "")
        except Exception:
            return None

    def logout(self) -> None:
        """Delete the session; never raises (a BMC has few session slots, so always try)."""
        if not self._logged_in:
            return
        uri = self._session_uri
        try:
            if uri:
                resp = self._send("DELETE", uri)
                if resp.status not in (200, 202, 204):
                    log.warning("%s: logout DELETE %s -> HTTP %s", self.name, uri, resp.status)
        except Exception as exc:
            log.warning("%s: logout failed: %s", self.name, exc)
        finally:
            self._forget_session()

    def close(self) -> None:
        """Log out and release the HTTP connections."""
        self.logout()
        try:
            self._rf._session.close()
        except Exception as exc:
            log.warning("%s: closing HTTP session failed: %s", self.name, exc)

    # ------------------------------------------------------------------ discovery
    def _service_root(self) -> JsonObj:
        if self._root is None:
            return self._read_root()
        return self._root

    def _read_root(self) -> JsonObj:
        """GET the service root; kept only if it looks like one (a garbled answer must not stick)."""
        root = self._get(ROOT, relogin=False)
        self._root = root if (link(root, "Systems") or link(root, "Chassis")) else None
        return root

    def _first_member(self, root_key: str) -> str:
        coll_uri = link(self._service_root(), root_key)
        if coll_uri is None:
            self._root = None  # read it again next time
            raise RedfishError(self.name, f"GET {ROOT}", f"service root has no {root_key} collection")
        members = member_uris(self._get(coll_uri))
        if not members:
            raise RedfishError(self.name, f"GET {coll_uri}", f"{root_key} collection has no members")
        return members[0]

    def _system_uri(self) -> str:
        if "system" not in self._uris:
            self._uris["system"] = self._first_member("Systems")
        return self._uris["system"]

    def _chassis_uri(self, system: JsonObj | None = None) -> str:
        """The chassis linked from the system (the tray), else the first chassis."""
        if "chassis" not in self._uris:
            if system is None:
                system = self._get(self._system_uri())
            self._uris["chassis"] = first_link(system, "Links", "Chassis") or self._first_member("Chassis")
        return self._uris["chassis"]

    # ------------------------------------------------------------------ operations
    def power_state(self) -> str:
        uri = self._system_uri()
        state = text(path(self._get(uri), "PowerState"))
        if state is None:
            raise RedfishError(self.name, f"GET {uri}", "ComputerSystem has no PowerState string")
        return state

    def boot_progress(self) -> str | None:
        """BootProgress.LastState of the host (e.g. OSRunning); None when the BMC does not report it."""
        return text(path(self._get(self._system_uri()), "BootProgress", "LastState"))

    def _allowed_reset_types(self, action: object) -> list[str]:
        values = path(action, "ResetType@Redfish.AllowableValues")
        if isinstance(values, list) and all(isinstance(v, str) for v in values):
            return list(values)
        info_uri = text(path(action, "@Redfish.ActionInfo"))
        if info_uri:
            params = path(self._get(info_uri), "Parameters")
            for param in params if isinstance(params, list) else []:
                allowed = path(param, "AllowableValues")
                if path(param, "Name") == "ResetType" and isinstance(allowed, list):
                    return [v for v in allowed if isinstance(v, str)]
        return list(STANDARD_RESET_TYPES)

    def reset(self, reset_type: str) -> None:
        """POST #ComputerSystem.Reset once. 200/202/204 mean accepted, not done: read the state back."""
        system_uri = self._system_uri()
        action = path(self._get(system_uri), "Actions", "#ComputerSystem.Reset")
        target = text(path(action, "target"))
        if not target or not _plain_uri(target):
            raise RedfishError(self.name, f"GET {system_uri}",
                               f"ComputerSystem has no usable #ComputerSystem.Reset target ({target!r})")
        allowed = self._allowed_reset_types(action)
        request = f"POST {target}"
        if reset_type not in allowed:
            raise RedfishError(self.name, request, f"ResetType {reset_type!r} not allowed by the BMC "
                                                   f"(allowed: {', '.join(allowed)}); not sent")
        for attempt in (1, 2):
            try:
                resp = self._send("POST", target, body={"ResetType": reset_type})
            except _NoAnswer as na:
                if na.maybe_delivered and not na.tls:
                    raise PowerActionUncertain(self.name, f"{request} {reset_type}",
                                               f"no answer ({type(na.cause).__name__}); the BMC may or may not "
                                               "have acted: read the power state back, do not re-send") from na.cause
                raise self._unreachable("POST", target, na) from na.cause
            if resp.status in RESET_OK:
                return
            # A 401 means the action was rejected unrun, so one re-send after a fresh login is safe.
            if resp.status == 401 and attempt == 1:
                self._relogin()
                continue
            raise self._http_error("POST", target, resp)

    def power_watts(self) -> float:
        """Tray input power: EnvironmentMetrics, else a Power sensor, else legacy Power.PowerControl.

        The EnvironmentMetrics URI found once is reused (one GET per reading, it is polled often);
        if it stops answering with a reading, it is discovered again from the chassis."""
        cached = self._uris.get("environment_metrics")
        if cached:
            value = self._optional(lambda: number(path(self._get(cached), "PowerWatts", "Reading")))
            if value is not None:
                return value
            self._uris.pop("environment_metrics", None)
        chassis_uri = self._chassis_uri()
        chassis = self._get(chassis_uri)
        em_uri = link(chassis, "EnvironmentMetrics")
        if em_uri:
            value = self._optional(lambda: number(path(self._get(em_uri), "PowerWatts", "Reading")))
            if value is not None:
                self._uris["environment_metrics"] = em_uri
                return value
        power_sensors = [s for s in self._sensors_of(chassis) if s.reading_type == "Power" and s.reading is not None]
        power_sensors.sort(key=lambda s: s.physical_context not in (None, "Chassis"))
        if power_sensors and power_sensors[0].reading is not None:
            return power_sensors[0].reading
        legacy_uri = link(chassis, "Power")
        if legacy_uri:
            control = self._optional(lambda: path(self._get(legacy_uri), "PowerControl"))
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
        chassis = self._get(chassis_uri)
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
        members: list[object] | None = None
        expand = path(self._service_root(), "ProtocolFeaturesSupported", "ExpandQuery")
        if path(expand, "NoLinks") is True:
            arg = ".($levels=1)" if path(expand, "Levels") is True else "."
            coll = self._optional(lambda: self._get(coll_uri, {"$expand": arg}))
            if isinstance(coll, dict) and isinstance(coll.get("Members"), list):
                members = coll["Members"]
        if members is None:
            coll = self._get(coll_uri)
            raw = coll.get("Members")
            members = raw if isinstance(raw, list) else []
        out: list[SensorReading] = []
        for member in members:
            if looks_expanded(member):
                out.append(sensor_reading(member))
                continue
            uri = odata_id(member)
            if uri is None:
                continue
            body = self._optional(lambda u=uri: self._get(u))
            out.append(sensor_reading(body if body is not None else {}, fallback_uri=uri))
        return out

    def identity(self) -> dict[str, str]:
        """What traceability records: serial, model, maker, part number, BMC firmware, and the URIs used.

        Every key is always present; a value the BMC does not report is "" (the caller decides whether
        that blocks a run, e.g. an empty serial_number must). Works on a service without Systems (a
        rack manager or power shelf controller): its first chassis (a ``Rack`` one if present) is used."""
        root = self._service_root()
        system_uri = self._optional(self._system_uri) if link(root, "Systems") else None
        system = self._get(system_uri) if system_uri else {}
        chassis_uri = self._chassis_uri(system) if system_uri else self._main_chassis_uri()
        chassis = self._get(chassis_uri)
        manager_uri = (first_link(chassis, "Links", "ManagedBy") or first_link(system, "Links", "ManagedBy")
                       or self._optional(lambda: self._first_member("Managers")))
        manager = self._optional(lambda: self._get(manager_uri)) if manager_uri else None
        manager = manager or {}

        def field(key: str) -> str:
            return text(chassis.get(key)) or text(system.get(key)) or ""

        return {"serial_number": field("SerialNumber"), "model": field("Model"),
                "manufacturer": field("Manufacturer"), "part_number": field("PartNumber"),
                "firmware_version": text(manager.get("FirmwareVersion")) or "",
                "chassis_uri": chassis_uri, "system_uri": system_uri or ""}

    def _main_chassis_uri(self) -> str:
        """A service without a system: its Rack chassis if it has one, else its first chassis."""
        if "chassis" not in self._uris:
            coll_uri = link(self._service_root(), "Chassis")
            if coll_uri is None:
                raise RedfishError(self.name, f"GET {ROOT}", "service root has neither Systems nor Chassis")
            members = self._members(coll_uri)
            if not members:
                raise RedfishError(self.name, f"GET {coll_uri}", "Chassis collection has no members")
            rack = next((uri for uri, body in members if text(body.get("ChassisType")) == "Rack"), None)
            self._uris["chassis"] = rack or members[0][0]
        return self._uris["chassis"]

    # ------------------------------------------------------------------ generic reads
    def get_json(self, uri: str) -> JsonObj:
        """GET one resource (retries, re-login, typed errors): for readers built on this client."""
        if not _plain_uri(uri):
            raise RedfishError(self.name, f"GET {uri!r}", "not an absolute URI path")
        return self._get(uri)

    def get_optional(self, uri: str | None) -> JsonObj | None:
        """GET a resource that may legitimately be missing: None if absent or broken (not if unreachable)."""
        if not uri:
            return None
        return self._optional(lambda: self.get_json(uri))

    def service_root(self) -> JsonObj:
        return self._service_root()

    def _members(self, coll_uri: str) -> list[tuple[str, JsonObj]]:
        """(uri, body) of each member, using $expand when the service says it supports it."""
        expand = path(self._service_root(), "ProtocolFeaturesSupported", "ExpandQuery")
        raw: object = None
        if path(expand, "NoLinks") is True:
            arg = ".($levels=1)" if path(expand, "Levels") is True else "."
            coll = self._optional(lambda: self._get(coll_uri, {"$expand": arg}))
            raw = path(coll, "Members")
        if not isinstance(raw, list):
            raw = path(self._get(coll_uri), "Members")
        out: list[tuple[str, JsonObj]] = []
        for member in raw if isinstance(raw, list) else []:
            uri = odata_id(member)
            if uri is None:
                continue
            if looks_expanded(member):
                out.append((uri, member))
            else:
                body = self._optional(lambda u=uri: self._get(u))
                out.append((uri, body if body is not None else {}))
        return out

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
        """Cap the tray (EnvironmentMetrics.PowerLimitWatts); None removes the cap.

        PATCHed once with If-Match (a 412 means someone changed it: re-read and PATCH once more); the
        result is read back, so a BMC that ignored it raises instead of passing silently."""
        chassis = self._get(self._chassis_uri())
        em_uri = link(chassis, "EnvironmentMetrics")
        if em_uri is None:
            raise RedfishError(self.name, f"GET {self._chassis_uri()}", "no EnvironmentMetrics: power limit "
                                                                        "not available on this BMC")
        value: JsonObj = {"ControlMode": "Disabled"} if watts is None else \
            {"SetPoint": watts, "ControlMode": "Automatic"}
        for attempt in (1, 2, 3):
            current = self._get(em_uri)
            etag = text(current.get("@odata.etag"))
            headers = {"If-Match": etag} if etag else {}
            try:
                resp = self._send("PATCH", em_uri, body={"PowerLimitWatts": value}, headers=headers)
            except _NoAnswer as na:
                raise self._unreachable("PATCH", em_uri, na) from na.cause
            if resp.status in (200, 204):
                break
            if resp.status in (401, 412) and attempt < 3:  # not applied: safe to send again
                if resp.status == 401:
                    self._relogin()
                continue
            raise self._http_error("PATCH", em_uri, resp)
        limit = path(self._get(em_uri), "PowerLimitWatts")
        got = number(path(limit, "SetPoint"))
        mode = text(path(limit, "ControlMode"))
        ok = mode == "Disabled" if watts is None else (got is not None and abs(got - watts) < 0.5 and
                                                       mode != "Disabled")
        if not ok:
            raise RedfishError(self.name, f"PATCH {em_uri}", f"power limit not applied (read back {limit!r})")
