"""The requests that change a BMC: ComputerSystem.Reset and the tray power limit.

Each is sent once. A Reset without an answer may have been carried out, so it is never re-sent: the
caller gets :class:`PowerActionUncertain` and reads the power state back. Only an answer that proves
the request was not applied (401: not logged in; 412 on the limit: someone changed it first) allows
sending it again. The power limit is read back, so a BMC that ignored it raises instead of passing.
"""

from __future__ import annotations

from harness.drivers.redfish.session import RedfishSession
from harness.drivers.redfish.transport import NoAnswer, plain_uri
from harness.drivers.redfish.views import JsonObj, link, number, path, text
from harness.errors import PowerActionUncertain, RedfishError

RESET_OK = (200, 202, 204)
# ResetType enum (DSP8010): used only when the service declares no allowable values.
STANDARD_RESET_TYPES = ("On", "ForceOff", "GracefulShutdown", "GracefulRestart", "ForceRestart", "Nmi", "ForceOn",
                        "PushPowerButton", "PowerCycle", "Suspend", "Pause", "Resume", "FullPowerCycle")


def allowed_reset_types(http: RedfishSession, action: object) -> list[str]:
    """The action's AllowableValues, else its ActionInfo's, else the standard enum."""
    values = path(action, "ResetType@Redfish.AllowableValues")
    if isinstance(values, list) and all(isinstance(v, str) for v in values):
        return list(values)
    info_uri = text(path(action, "@Redfish.ActionInfo"))
    if info_uri:
        params = path(http.get(info_uri), "Parameters")
        for param in params if isinstance(params, list) else []:
            allowed = path(param, "AllowableValues")
            if path(param, "Name") == "ResetType" and isinstance(allowed, list):
                return [v for v in allowed if isinstance(v, str)]
    return list(STANDARD_RESET_TYPES)


def reset(http: RedfishSession, system_uri: str, reset_type: str) -> None:
    """POST #ComputerSystem.Reset once. 200/202/204 mean accepted, not done: read the state back."""
    action = path(http.get(system_uri), "Actions", "#ComputerSystem.Reset")
    target = text(path(action, "target"))
    if not target or not plain_uri(target):
        raise RedfishError(http.name, f"GET {system_uri}",
                           f"ComputerSystem has no usable #ComputerSystem.Reset target ({target!r})")
    allowed = allowed_reset_types(http, action)
    request = f"POST {target}"
    if reset_type not in allowed:
        raise RedfishError(http.name, request, f"ResetType {reset_type!r} not allowed by the BMC "
                                               f"(allowed: {', '.join(allowed)}); not sent")
    for attempt in (1, 2):
        try:
            resp = http.send("POST", target, body={"ResetType": reset_type})
        except NoAnswer as na:
            if na.maybe_delivered and not na.tls:
                raise PowerActionUncertain(http.name, f"{request} {reset_type}",
                                           f"no answer ({type(na.cause).__name__}); the BMC may or may not "
                                           "have acted: read the power state back, do not re-send") from na.cause
            raise http.unreachable("POST", target, na) from na.cause
        if resp.status in RESET_OK:
            return
        # A 401 means the action was rejected unrun, so one re-send after a fresh login is safe.
        if resp.status == 401 and attempt == 1:
            http.relogin()
            continue
        raise http.http_error("POST", target, resp)


def set_power_limit(http: RedfishSession, chassis_uri: str, watts: float | None) -> None:
    """Cap the tray (EnvironmentMetrics.PowerLimitWatts); None removes the cap.

    PATCHed once with If-Match (a 412 means someone changed it: re-read and PATCH once more); the
    result is read back."""
    chassis = http.get(chassis_uri)
    em_uri = link(chassis, "EnvironmentMetrics")
    if em_uri is None:
        raise RedfishError(http.name, f"GET {chassis_uri}", "no EnvironmentMetrics: power limit "
                                                            "not available on this BMC")
    value: JsonObj = {"ControlMode": "Disabled"} if watts is None else \
        {"SetPoint": watts, "ControlMode": "Automatic"}
    for attempt in (1, 2, 3):
        current = http.get(em_uri)
        etag = text(current.get("@odata.etag"))
        headers = {"If-Match": etag} if etag else {}
        try:
            resp = http.send("PATCH", em_uri, body={"PowerLimitWatts": value}, headers=headers)
        except NoAnswer as na:
            raise http.unreachable("PATCH", em_uri, na) from na.cause
        if resp.status in (200, 204):
            break
        if resp.status in (401, 412) and attempt < 3:  # not applied: safe to send again
            if resp.status == 401:
                http.relogin()
            continue
        raise http.http_error("PATCH", em_uri, resp)
    limit = path(http.get(em_uri), "PowerLimitWatts")
    got = number(path(limit, "SetPoint"))
    mode = text(path(limit, "ControlMode"))
    ok = mode == "Disabled" if watts is None else (got is not None and abs(got - watts) < 0.5 and
                                                   mode != "Disabled")
    if not ok:
        raise RedfishError(http.name, f"PATCH {em_uri}", f"power limit not applied (read back {limit!r})")
