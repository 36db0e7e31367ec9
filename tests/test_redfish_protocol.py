"""HTTP semantics of the simulated services (DSP0266): ETags, Allow, OData-Version, sessions on the
run's clock, accounts and privileges, power-action response modes and task monitors, PATCH rules."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
import requests
from conftest import PASSWORD, USER

from harness.clock import VirtualClock
from harness.drivers.redfish.client import BmcClient
from harness.sim.physics import RackTwin
from harness.sim.redfish.server import RedfishFleet

V1 = "/redfish/v1"


@pytest.fixture
def fleet(twin: RackTwin) -> Iterator[RedfishFleet]:
    """The conftest fleet, with compute02 serving the legacy (Thermal/Power) resource tree."""
    with RedfishFleet(twin, username=USER, password=PASSWORD, personalities={"compute02": "legacy"}) as f:
        yield f


@pytest.fixture
def url(fleet: RedfishFleet) -> str:
    return fleet.endpoints["compute01"]


def login(url: str, user: str = USER, password: str = PASSWORD) -> dict[str, str]:
    r = requests.post(f"{url}{V1}/SessionService/Sessions", json={"UserName": user, "Password": password}, timeout=5)
    assert r.status_code == 201, r.text
    return {"X-Auth-Token": r.headers["X-Auth-Token"]}


def ids(r: requests.Response) -> list[str]:
    return [m["MessageId"] for m in r.json()["error"]["@Message.ExtendedInfo"]]


def test_headers_on_get(url: str) -> None:
    h = login(url)
    r = requests.get(f"{url}{V1}/Systems/System_0", headers=h, timeout=5)
    assert r.headers["Allow"] == "GET, HEAD"
    assert r.headers["Cache-Control"] == "no-cache" and r.headers["OData-Version"] == "4.0"
    assert r.links["describedby"]["url"] == "http://redfish.dmtf.org/schemas/v1/ComputerSystem.v1_22_0.json"
    etag = r.headers["ETag"]
    again = requests.get(f"{url}{V1}/Systems/System_0", headers={**h, "If-None-Match": etag}, timeout=5)
    assert again.status_code == 304
    head = requests.head(f"{url}{V1}/Systems/System_0", headers=h, timeout=5)
    assert head.status_code == 200 and head.content == b"" and head.headers["Allow"] == "GET, HEAD"


def test_odata_version_and_methods(url: str) -> None:
    h = login(url)
    r = requests.get(f"{url}{V1}/", headers={"OData-Version": "4.1"}, timeout=5)
    assert r.status_code == 412 and ids(r) == ["Base.1.22.1.HeaderInvalid"]
    r = requests.delete(f"{url}{V1}/Systems/System_0", headers=h, timeout=5)
    assert r.status_code == 405 and r.headers["Allow"] == "GET, HEAD" and ids(r) == ["Base.1.22.1.OperationNotAllowed"]
    r = requests.put(f"{url}{V1}/Systems/System_0", json={}, headers=h, timeout=5)
    assert r.status_code == 405
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(b"FAKEMETHOD /redfish/v1/ HTTP/1.1\r\nHost: x\r\n\r\n")
        assert s.recv(100).split(b" ")[1] == b"501"
    r = requests.get(f"{url}{V1}/Chassis/compute01/Sensors?$filter=x", headers=h, timeout=5)
    assert r.status_code == 501 and ids(r) == ["Base.1.22.1.QueryNotSupported"]


def test_session_expires_on_the_run_clock_and_limit(fleet: RedfishFleet, url: str, clock: VirtualClock) -> None:
    h = login(url)
    r = requests.patch(f"{url}{V1}/SessionService", json={"SessionTimeout": 60}, headers=h, timeout=5)
    assert r.status_code == 200 and r.json()["SessionTimeout"] == 60
    clock.sleep(59)
    assert requests.get(f"{url}{V1}/Systems", headers=h, timeout=5).status_code == 200  # refreshes last use
    clock.sleep(61)
    r = requests.get(f"{url}{V1}/Systems", headers=h, timeout=5)
    assert r.status_code == 401 and ids(r) == ["Base.1.22.1.NoValidSession"]
    fleet.service("compute01").core.auth.max_sessions = 2
    login(url)
    login(url)
    r = requests.post(f"{url}{V1}/SessionService/Sessions", json={"UserName": USER, "Password": PASSWORD}, timeout=5)
    assert r.status_code == 503 and ids(r) == ["Base.1.22.1.SessionLimitExceeded"]


def test_accounts_roles_and_privileges(url: str, twin: RackTwin) -> None:
    admin = login(url)
    r = requests.post(f"{url}{V1}/AccountService/Accounts", headers=admin, timeout=5,
                      json={"UserName": "viewer", "Password": "viewer-pass-1", "RoleId": "ReadOnly"})
    assert r.status_code == 201
    acct = r.headers["Location"]
    viewer = login(url, "viewer", "viewer-pass-1")
    assert requests.get(f"{url}{V1}/Systems/System_0", headers=viewer, timeout=5).status_code == 200
    r = requests.post(f"{url}{V1}/Systems/System_0/Actions/ComputerSystem.Reset", json={"ResetType": "ForceOff"},
                      headers=viewer, timeout=5)
    assert r.status_code == 403 and ids(r) == ["Base.1.22.1.InsufficientPrivilege"]
    assert twin.host_state("compute01") == "On"
    r = requests.patch(f"{url}{V1}/AccountService/Accounts/1", json={"Password": "x" * 12}, headers=viewer, timeout=5)
    assert r.status_code == 403
    # ETag on an account: If-Match enforced, stale tag -> 412, PATCH applied once
    get = requests.get(f"{url}{acct}", headers=admin, timeout=5)
    tag = get.headers["ETag"]
    assert get.json()["@odata.etag"] == tag
    r = requests.patch(f"{url}{acct}", json={"RoleId": "Operator"}, headers={**admin, "If-Match": tag}, timeout=5)
    assert r.status_code == 200 and r.json()["RoleId"] == "Operator"
    r = requests.patch(f"{url}{acct}", json={"RoleId": "ReadOnly"}, headers={**admin, "If-Match": tag}, timeout=5)
    assert r.status_code == 412 and ids(r) == ["Base.1.22.1.PreconditionFailed"]
    r = requests.patch(f"{url}{acct}", json={"Bogus": 1}, headers=admin, timeout=5)
    assert r.status_code == 400 and ids(r) == ["Base.1.22.1.PropertyUnknown"]
    r = requests.patch(f"{url}{acct}", json={"@odata.id": acct}, headers=admin, timeout=5)
    assert r.status_code == 400 and ids(r) == ["Base.1.22.1.NoOperation"]
    r = requests.patch(f"{url}{acct}", json={"Enabled": True, "Bogus": 1}, headers=admin, timeout=5)
    assert r.status_code == 200 and r.json()["@Message.ExtendedInfo"][0]["MessageArgs"] == ["Bogus"]
    assert requests.delete(f"{url}{acct}", headers=admin, timeout=5).status_code == 204
    assert requests.get(f"{url}{V1}/Systems", headers=viewer, timeout=5).status_code == 401  # its sessions went too
    roles = requests.get(f"{url}{V1}/AccountService/Roles", headers=admin, timeout=5).json()
    assert [m["@odata.id"].rsplit("/", 1)[1] for m in roles["Members"]] == ["Administrator", "Operator", "ReadOnly"]


@pytest.mark.parametrize("mode", [200, 202, 204])
def test_reset_response_modes(fleet: RedfishFleet, twin: RackTwin, clock: VirtualClock, mode: int) -> None:
    fleet.set_reset_response("compute01", mode)
    url = fleet.endpoints["compute01"]
    h = login(url)
    target = f"{url}{V1}/Systems/System_0/Actions/ComputerSystem.Reset"
    r = requests.post(target, json={"ResetType": "ForceRestart"}, headers=h, timeout=5)
    assert r.status_code == mode
    if mode == 200:
        assert r.json()["@Message.ExtendedInfo"][0]["MessageId"] == "Base.1.22.1.Success"
    if mode == 202:
        monitor = r.headers["Location"]
        assert r.json()["TaskState"] == "Running"
        assert requests.get(f"{url}{monitor}", headers=h, timeout=5).status_code == 202
        clock.sleep(30)
        assert requests.get(f"{url}{monitor}", headers=h, timeout=5).status_code == 204
        task = requests.get(f"{url}{r.json()['@odata.id']}", headers=h, timeout=5).json()
        assert task["TaskState"] == "Completed" and task["PercentComplete"] == 100
    clock.sleep(30)
    assert twin.host_state("compute01") == "On"
    # the client accepts every mode and never re-sends
    with BmcClient("compute01", url, USER, PASSWORD, clock=clock) as c:
        c.reset("GracefulShutdown")
    clock.sleep(10)
    assert twin.host_state("compute01") == "Off"


def test_full_power_cycle_takes_the_bmc_away(fleet: RedfishFleet, twin: RackTwin, clock: VirtualClock) -> None:
    url = fleet.endpoints["compute01"]
    h = login(url)
    r = requests.post(f"{url}{V1}/Systems/System_0/Actions/ComputerSystem.Reset",
                      json={"ResetType": "FullPowerCycle"}, headers=h, timeout=5)
    assert r.status_code == 204
    r = requests.get(f"{url}{V1}/", timeout=5)
    assert r.status_code == 503 and r.headers["Retry-After"] == "20"
    assert ids(r) == ["Base.1.22.1.ServiceTemporarilyUnavailable"]
    with BmcClient("compute01", url, USER, PASSWORD, clock=clock, get_retries=3) as c:
        assert c.power_state() in ("PoweringOn", "On")  # waited out the 503s via Retry-After, logged in again
    assert clock.now() >= 20
    clock.sleep(30)
    system = requests.get(f"{url}{V1}/Systems/System_0", headers=login(url), timeout=5).json()
    assert system["PowerState"] == "On" and system["LastResetTime"] == "2025-01-01T00:00:01Z"  # power-on after 1 s off
    assert system["BootProgress"]["LastState"] == "SystemHardwareInitializationComplete"


def test_power_limit_patch_caps_the_tray(fleet: RedfishFleet, twin: RackTwin, clock: VirtualClock) -> None:
    twin.set_utilization("compute01", 1.0)
    with BmcClient("compute01", fleet.endpoints["compute01"], USER, PASSWORD, clock=clock) as c:
        c.set_power_limit(3000)
        assert twin.trays["compute01"].power_cap_w == 3000
        assert c.power_watts() == pytest.approx(3000, rel=0.02)
        c.set_power_limit(None)
        assert twin.trays["compute01"].power_cap_w is None
    h = login(fleet.endpoints["compute01"])
    em = f"{fleet.endpoints['compute01']}{V1}/Chassis/compute01/EnvironmentMetrics"
    r = requests.patch(em, json={"PowerLimitWatts": {"SetPoint": 99999}}, headers=h, timeout=5)
    assert r.status_code == 400 and ids(r) == ["Base.1.22.1.PropertyValueOutOfRange"]
    r = requests.patch(em, json={"PowerWatts": {"Reading": 1}}, headers=h, timeout=5)
    assert r.status_code == 400 and ids(r) == ["Base.1.22.1.PropertyNotWritable"]


def test_legacy_personality(fleet: RedfishFleet, twin: RackTwin, clock: VirtualClock) -> None:
    with BmcClient("compute02", fleet.endpoints["compute02"], USER, PASSWORD, clock=clock) as c:
        sweep = c.read_sensors()
        assert sweep.source == "legacy" and c.telemetry_source == "legacy"
        gpus = [s for s in sweep.sensors if s.physical_context == "GPU"]
        assert len(gpus) == 4 and gpus[0].thresholds["UpperCritical"] == 87.0 and gpus[0].units == "Cel"
        assert c.power_watts() == pytest.approx(twin.tray_power_w("compute02"), rel=0.01)
    with BmcClient("compute01", fleet.endpoints["compute01"], USER, PASSWORD, clock=clock) as c:
        assert c.read_sensors().source == "new"
