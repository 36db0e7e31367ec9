"""The simulated tray BMCs over real HTTP: protocol, auth, sessions, reset, telemetry, BMC down."""

from __future__ import annotations

import socket

import pytest
import requests
from conftest import PASSWORD, USER, wait_for

from harness.clock import VirtualClock
from harness.sim.physics import RackTwin
from harness.sim.redfish.server import RedfishFleet

V1 = "/redfish/v1"
CEILING_S = 30.0  # a down BMC resets or refuses at once: this timeout only turns a hang into a failure


@pytest.fixture
def url(fleet: RedfishFleet) -> str:
    return fleet.endpoints["compute01"]


def session(url: str) -> dict[str, str]:
    r = requests.post(f"{url}{V1}/SessionService/Sessions", json={"UserName": USER, "Password": PASSWORD},
                      timeout=5)
    assert r.status_code == 201
    return {"X-Auth-Token": r.headers["X-Auth-Token"]}


def get(url: str, path: str, headers: dict[str, str] | None = None) -> requests.Response:
    return requests.get(f"{url}{path}", headers=headers or {}, timeout=5)


def message_ids(r: requests.Response) -> list[str]:
    return [m["MessageId"] for m in r.json()["error"]["@Message.ExtendedInfo"]]


def outlets(twin: RackTwin, on: bool) -> None:
    for n in range(1, 7):
        twin.set_outlet("pdu1", n, on)


def test_one_listener_per_tray_and_start_is_idempotent(fleet: RedfishFleet, twin: RackTwin) -> None:
    eps = fleet.endpoints
    assert set(eps) == set(twin.trays)
    assert len({e for e in eps.values()}) == len(eps)
    assert all(e.startswith("http://127.0.0.1:") for e in eps.values())
    assert fleet.start() == eps
    for name, base in eps.items():
        root = get(base, f"{V1}/").json()
        assert root["Name"].startswith(name)


def test_public_documents_and_headers(url: str) -> None:
    r = get(url, "/redfish")
    assert r.json() == {"v1": "/redfish/v1/"}
    r = get(url, f"{V1}/")
    assert r.status_code == 200
    assert r.headers["OData-Version"] == "4.0"
    assert r.headers["Content-Type"].startswith("application/json")
    root = r.json()
    for key in ("@odata.id", "@odata.type", "Id", "Name", "RedfishVersion", "UUID"):
        assert root[key]
    assert root["Links"]["Sessions"]["@odata.id"] == f"{V1}/SessionService/Sessions"
    assert root["ProtocolFeaturesSupported"]["ExpandQuery"]["NoLinks"] is True
    assert get(url, f"{V1}/odata").json()["value"][0]["url"] == f"{V1}/"
    meta = get(url, f"{V1}/$metadata")
    assert meta.status_code == 200 and "ComputerSystem.v1_22_0" in meta.text and "<edmx:Edmx" in meta.text


def test_auth_is_enforced(url: str) -> None:
    r = get(url, f"{V1}/Systems")
    assert r.status_code == 401
    assert message_ids(r) == ["Base.1.22.1.NoValidSession"]
    assert r.headers["OData-Version"] == "4.0"
    assert get(url, f"{V1}/Systems", {"X-Auth-Token": "forged"}).status_code == 401
    assert requests.get(f"{url}{V1}/Systems", auth=(USER, PASSWORD), timeout=5).status_code == 200
    assert requests.get(f"{url}{V1}/Systems", auth=(USER, "wrong"), timeout=5).status_code == 401
    bad = requests.post(f"{url}{V1}/SessionService/Sessions", json={"UserName": USER, "Password": "wrong"},
                        timeout=5)
    assert bad.status_code == 401 and "X-Auth-Token" not in bad.headers


def test_session_lifecycle(url: str) -> None:
    r = requests.post(f"{url}{V1}/SessionService/Sessions", json={"UserName": USER, "Password": PASSWORD},
                      timeout=5)
    assert r.status_code == 201
    token, location = r.headers["X-Auth-Token"], r.headers["Location"]
    assert r.json()["@odata.id"] == location and r.json()["UserName"] == USER
    h = {"X-Auth-Token": token}
    assert get(url, location, h).json()["Id"] == location.rsplit("/", 1)[1]
    assert get(url, f"{V1}/SessionService/Sessions", h).json()["Members"] == [{"@odata.id": location}]
    assert requests.delete(f"{url}{location}", headers=h, timeout=5).status_code == 204
    assert get(url, f"{V1}/Systems", h).status_code == 401


def test_system_resource_follows_the_twin(url: str, twin: RackTwin, clock: VirtualClock) -> None:
    h = session(url)
    members = get(url, f"{V1}/Systems", h).json()["Members"]
    assert len(members) == 1
    sys_uri = members[0]["@odata.id"]
    system = get(url, sys_uri, h).json()
    assert system["PowerState"] == "On" == twin.host_state("compute01")
    assert system["BootProgress"]["LastState"] == "OSRunning"
    action = system["Actions"]["#ComputerSystem.Reset"]
    assert action["ResetType@Redfish.AllowableValues"] == ["On", "ForceOff", "GracefulShutdown", "GracefulRestart",
                                                          "ForceRestart", "PowerCycle", "Nmi", "FullPowerCycle"]
    r = requests.post(f"{url}{action['target']}", json={"ResetType": "ForceOff"}, headers=h, timeout=5)
    assert r.status_code == 204
    assert twin.host_state("compute01") == "Off"
    system = get(url, sys_uri, h).json()
    assert system["PowerState"] == "Off" and system["BootProgress"]["LastState"] == "None"
    clock.sleep(10)
    requests.post(f"{url}{action['target']}", json={"ResetType": "On"}, headers=h, timeout=5)
    system = get(url, sys_uri, h).json()
    assert system["PowerState"] == "PoweringOn"
    assert system["LastResetTime"] == "2025-01-01T00:00:10Z"


def test_reset_parameter_errors_change_nothing(url: str, twin: RackTwin) -> None:
    h = session(url)
    sys_uri = get(url, f"{V1}/Systems", h).json()["Members"][0]["@odata.id"]
    target = get(url, sys_uri, h).json()["Actions"]["#ComputerSystem.Reset"]["target"]
    r = requests.post(f"{url}{target}", json={}, headers=h, timeout=5)
    assert r.status_code == 400 and message_ids(r) == ["Base.1.22.1.ActionParameterMissing"]
    r = requests.post(f"{url}{target}", json={"ResetType": "Bogus"}, headers=h, timeout=5)
    assert r.status_code == 400 and message_ids(r) == ["Base.1.22.1.ActionParameterValueNotInList"]
    info = r.json()["error"]["@Message.ExtendedInfo"][0]
    assert info["MessageArgs"] == ["Bogus", "ResetType", "ComputerSystem.Reset"]
    assert "'Bogus'" in info["Message"] and info["MessageSeverity"] == "Warning"
    r = requests.post(f"{url}{target}", data=b"{not json", headers={**h, "Content-Type": "application/json"},
                      timeout=5)
    assert r.status_code == 400 and message_ids(r) == ["Base.1.22.1.MalformedJSON"]
    assert twin.host_state("compute01") == "On"
    r = get(url, f"{V1}/Systems/Nope", h)
    assert r.status_code == 404 and message_ids(r) == ["Base.1.22.1.ResourceNotFound"]
    r = requests.patch(f"{url}{sys_uri}", json={}, headers=h, timeout=5)
    assert r.status_code == 405 and "GET" in r.headers["Allow"]


def test_chassis_telemetry(fleet: RedfishFleet, twin: RackTwin) -> None:
    url = fleet.endpoints["compute01"]
    h = session(url)
    chassis_uri = get(url, f"{V1}/Chassis", h).json()["Members"][0]["@odata.id"]
    chassis = get(url, chassis_uri, h).json()
    assert chassis["Id"] == "compute01" and chassis["ChassisType"] == "Sled"
    assert chassis["SerialNumber"] == twin.serial_of("compute01")
    em = get(url, chassis["EnvironmentMetrics"]["@odata.id"], h).json()
    assert em["PowerWatts"]["Reading"] == pytest.approx(twin.tray_power_w("compute01"), abs=0.01)
    sensor = get(url, em["PowerWatts"]["DataSourceUri"], h).json()
    assert sensor["ReadingType"] == "Power" and sensor["ReadingUnits"] == "W"
    assert get(url, chassis["PowerSubsystem"]["@odata.id"], h).json()["CapacityWatts"] == 5400
    thermal = get(url, chassis["ThermalSubsystem"]["@odata.id"], h).json()
    metrics = get(url, thermal["ThermalMetrics"]["@odata.id"], h).json()
    assert len(metrics["TemperatureReadingsCelsius"]) == 1 + 4  # inlet + 4 GPUs
    expanded = requests.get(f"{url}{chassis['Sensors']['@odata.id']}?$expand=.($levels=1)", headers=h,
                            timeout=5).json()
    gpus = [m for m in expanded["Members"] if m.get("PhysicalContext") == "GPU"]
    assert len(gpus) == 4
    assert gpus[0]["Thresholds"]["UpperCritical"]["Reading"] == 87.0 and gpus[0]["ReadingUnits"] == "Cel"
    plain = get(url, chassis["Sensors"]["@odata.id"], h).json()
    assert all(set(m) == {"@odata.id"} for m in plain["Members"])
    r = requests.get(f"{url}{chassis['Sensors']['@odata.id']}?$select=Reading", headers=h, timeout=5)
    assert r.status_code == 501
    manager = get(url, chassis["Links"]["ManagedBy"][0]["@odata.id"], h).json()
    assert manager["FirmwareVersion"] == twin.firmware_of("compute01")
    switch = fleet.endpoints["switch01"]
    hs = session(switch)
    sw = get(switch, f"{V1}/Chassis/switch01/Sensors?$expand=.", hs).json()
    assert [m["PhysicalContext"] for m in sw["Members"] if m["ReadingType"] == "Temperature"] == ["Intake", "ASIC"]


def _down(base: str) -> bool:
    try:
        requests.get(f"{base}{V1}/", timeout=CEILING_S)
    except requests.ConnectionError:
        return True
    return False


def test_bmc_down_gives_connection_errors_never_http(fleet: RedfishFleet, twin: RackTwin,
                                                     clock: VirtualClock) -> None:
    url = fleet.endpoints["compute01"]
    h = session(url)
    keep = requests.Session()  # a kept-alive connection must not get an answer either
    assert keep.get(f"{url}{V1}/Systems", headers=h, timeout=5).status_code == 200
    outlets(twin, False)
    clock.sleep(1)
    assert twin.bmc_state("compute01") == "Down"
    with pytest.raises(requests.ConnectionError):
        keep.get(f"{url}{V1}/Systems", headers=h, timeout=5)
    assert all(_down(base) for base in fleet.endpoints.values())
    outlets(twin, True)
    clock.sleep(200)
    assert twin.bmc_state("compute01") == "Ready"
    assert get(url, f"{V1}/").status_code == 200
    assert get(url, f"{V1}/Systems", h).status_code == 401  # a rebooted BMC forgot its sessions


def _refused(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=CEILING_S):
            return False
    except ConnectionRefusedError:
        return True
    except ConnectionResetError:  # accepted and reset: down, but the listener is not closed (yet)
        return False


def test_refuse_mode_closes_and_rebinds_the_port(twin: RackTwin, clock: VirtualClock) -> None:
    with RedfishFleet(twin, username=USER, password=PASSWORD, refuse_when_down=True) as fleet:
        url = fleet.endpoints["switch01"]
        port = int(url.rsplit(":", 1)[1])
        assert not _refused(port)
        outlets(twin, False)
        clock.sleep(1)
        wait_for(lambda: _refused(port), "listener closed while the BMC is down")  # the fleet's real-time monitor
        assert _down(url)
        outlets(twin, True)
        clock.sleep(200)
        wait_for(lambda: not _refused(port), "listener re-bound when the BMC is Ready")
        assert fleet.endpoints["switch01"] == url
        assert get(url, f"{V1}/").status_code == 200


def test_stop_closes_every_port(twin: RackTwin) -> None:
    fleet = RedfishFleet(twin, username=USER, password=PASSWORD)
    eps = fleet.start()
    ports = [int(u.rsplit(":", 1)[1]) for u in eps.values()]
    fleet.stop()
    fleet.stop()
    assert all(_refused(p) for p in ports)
