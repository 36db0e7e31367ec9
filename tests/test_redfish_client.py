"""BmcClient against the simulated BMCs and against small misbehaving servers, all over real HTTP."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, Self

import pytest
import requests
from aiohttp import web
from conftest import PASSWORD, USER
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.clock import VirtualClock
from harness.drivers.redfish.client import BmcClient
from harness.errors import PowerActionUncertain, RedfishError, RedfishUnreachable
from harness.sim.physics import RackTwin
from harness.sim.redfish.server import RedfishFleet
from harness.sim.redfish.tls import TlsFiles

V1 = "/redfish/v1"
# A client that must give up on a server holding its request: the hold lasts until the test releases
# it, so this timeout always expires; it only has to be long enough for the ordinary requests before
# it (login, a GET) on a busy machine.
GIVE_UP_S = 2.0
CEILING_S = 30.0  # a timeout that only turns a hang into a failure (the server answers, or refuses at once)


# ---------------------------------------------------------------------------------------- simulated rack
@pytest.fixture
def bmc(fleet: RedfishFleet, clock: VirtualClock) -> Iterator[BmcClient]:
    with BmcClient("compute01", fleet.endpoints["compute01"], USER, PASSWORD, clock=clock, timeout_s=CEILING_S) as c:
        yield c


def outlets(twin: RackTwin, on: bool) -> None:
    for n in range(1, 7):
        twin.set_outlet("pdu1", n, on)


def test_login_logout_invalidates_the_token(fleet: RedfishFleet, clock: VirtualClock) -> None:
    url = fleet.endpoints["compute01"]
    c = BmcClient("compute01", url, USER, PASSWORD, clock=clock)
    c.logout()  # never logged in: a no-op
    c.login()
    token = c._http.rf.get_session_key()
    assert token
    assert requests.get(f"{url}{V1}/Systems", headers={"X-Auth-Token": token}, timeout=5).status_code == 200
    c.logout()
    c.logout()
    assert requests.get(f"{url}{V1}/Systems", headers={"X-Auth-Token": token}, timeout=5).status_code == 401
    assert c.power_state() == "On"  # a later call opens a new session on demand
    new_token = c._http.rf.get_session_key()
    assert new_token and new_token != token
    c.close()
    assert requests.get(f"{url}{V1}/Systems", headers={"X-Auth-Token": new_token}, timeout=5).status_code == 401


def test_session_opened_on_demand(fleet: RedfishFleet, clock: VirtualClock) -> None:
    c = BmcClient("compute02", fleet.endpoints["compute02"], USER, PASSWORD, clock=clock)
    assert c.power_state() == "On"  # first 401 -> one login -> retry
    c.close()
    wrong = BmcClient("compute02", fleet.endpoints["compute02"], USER, "wrong", clock=clock)
    with pytest.raises(RedfishError) as exc:
        wrong.power_state()
    assert exc.value.status == 401


def test_login_errors_are_typed(fleet: RedfishFleet, clock: VirtualClock) -> None:
    bad = BmcClient("compute01", fleet.endpoints["compute01"], USER, "wrong", clock=clock)
    with pytest.raises(RedfishError) as exc:
        bad.login()
    assert exc.value.status == 401 and not isinstance(exc.value, RedfishUnreachable)
    assert "wrong" not in str(exc.value)
    gone = BmcClient("gone", f"http://127.0.0.1:{free_port()}", USER, PASSWORD, clock=clock, timeout_s=CEILING_S)
    assert gone.is_up() is False
    with pytest.raises(RedfishUnreachable):
        gone.login()


def test_power_actions_round_trip(bmc: BmcClient, twin: RackTwin, clock: VirtualClock) -> None:
    assert bmc.power_state() == "On"
    bmc.reset("ForceOff")
    assert bmc.power_state() == "Off" == twin.host_state("compute01")
    bmc.reset("On")
    assert bmc.power_state() == "PoweringOn"
    clock.sleep(30)
    assert bmc.power_state() == "On"


def test_unknown_reset_type_is_not_sent(bmc: BmcClient, twin: RackTwin) -> None:
    with pytest.raises(RedfishError, match="not allowed"):
        bmc.reset("Bogus")
    with pytest.raises(RedfishError):
        bmc.reset("PushPowerButton")  # a real ResetType, but this BMC does not allow it
    assert twin.host_state("compute01") == "On"
    assert twin.trays["compute01"].last_reset_time is None


def test_telemetry_and_identity(fleet: RedfishFleet, bmc: BmcClient, twin: RackTwin, clock: VirtualClock) -> None:
    assert bmc.power_watts() == pytest.approx(twin.tray_power_w("compute01"), rel=0.01)
    twin.set_utilization("compute01", 1.0)
    clock.sleep(5)
    assert bmc.power_watts() == pytest.approx(5400, rel=0.02)
    sensors = bmc.sensors()
    gpus = [s for s in sensors if s.physical_context == "GPU"]
    assert len(gpus) == 4
    assert all(s.units == "Cel" and s.reading_type == "Temperature" for s in gpus)
    assert gpus[0].thresholds == {"UpperCaution": 80.0, "UpperCritical": 87.0, "UpperFatal": 95.0}
    assert gpus[0].reading == pytest.approx(twin.tray_temperatures_c("compute01")["gpu0"], abs=0.5)
    assert [s.reading_type for s in sensors].count("Power") == 1
    ident = bmc.identity()
    assert ident == {"serial_number": twin.serial_of("compute01"), "model": "SIM-MINI-COMPUTE",
                     "manufacturer": "rackval", "part_number": "RV-COM-MINI",
                     "firmware_version": twin.firmware_of("compute01"),
                     "chassis_uri": f"{V1}/Chassis/compute01", "system_uri": f"{V1}/Systems/System_0"}
    with BmcClient("switch01", fleet.endpoints["switch01"], USER, PASSWORD, clock=clock) as sw:
        temps = [s for s in sw.sensors() if s.reading_type == "Temperature"]
        assert [s.physical_context for s in temps] == ["Intake", "ASIC"]
        assert sw.identity()["serial_number"] == twin.serial_of("switch01")


def test_bmc_down_and_back(bmc: BmcClient, twin: RackTwin, clock: VirtualClock) -> None:
    assert bmc.is_up()
    outlets(twin, False)
    clock.sleep(1)
    assert bmc.is_up() is False
    t0 = clock.now()
    with pytest.raises(RedfishUnreachable):
        bmc.power_state()
    assert clock.now() - t0 == pytest.approx(0.5 + 1.0)  # two GET retries with backoff, on the run clock
    outlets(twin, True)
    clock.sleep(200)
    assert bmc.is_up() is True
    assert bmc.power_state() == "On"  # the rebooted BMC lost the session: one re-login on 401


# ---------------------------------------------------------------------------------------- small servers
class TinyServer:
    """An aiohttp app on 127.0.0.1 in its own loop thread (optionally over TLS)."""

    def __init__(self, app: web.Application, ssl_context: ssl.SSLContext | None = None) -> None:
        self.app, self.ssl_context = app, ssl_context
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.runner: web.AppRunner | None = None
        self.url = ""

    def __enter__(self) -> Self:
        self.thread.start()

        async def start() -> int:
            self.runner = web.AppRunner(self.app, access_log=None)
            await self.runner.setup()
            site = web.TCPSite(self.runner, "127.0.0.1", 0, ssl_context=self.ssl_context)
            await site.start()
            return site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

        port = asyncio.run_coroutine_threadsafe(start(), self.loop).result(10)
        self.url = f"{'https' if self.ssl_context else 'http'}://127.0.0.1:{port}"
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.runner is not None
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


def free_port() -> int:
    """A port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def jresp(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, text=json.dumps(body), content_type="application/json", headers=headers)


SYSTEM = f"{V1}/Systems/1"
TARGET = f"{SYSTEM}/Actions/ComputerSystem.Reset"


def fake_bmc(overrides: dict[tuple[str, str], Handler] | None = None,
             root_extra: dict[str, Any] | None = None) -> tuple[web.Application, dict[str, int]]:
    """A minimal Redfish service; ``overrides[(method, path)]`` replaces any resource."""
    counts: dict[str, int] = {}
    base: dict[tuple[str, str], Any] = {
        ("GET", f"{V1}/"): {"@odata.id": f"{V1}/", "Systems": {"@odata.id": f"{V1}/Systems"},
                            "Chassis": {"@odata.id": f"{V1}/Chassis"},
                            "Links": {"Sessions": {"@odata.id": f"{V1}/SessionService/Sessions"}},
                            **(root_extra or {})},
        ("GET", f"{V1}/Systems"): {"Members": [{"@odata.id": SYSTEM}]},
        ("GET", SYSTEM): {"@odata.id": SYSTEM, "PowerState": "On",
                          "Links": {"Chassis": [{"@odata.id": f"{V1}/Chassis/c"}]},
                          "Actions": {"#ComputerSystem.Reset": {
                              "target": TARGET, "ResetType@Redfish.AllowableValues": ["On", "ForceOff", "Bogus"]}}},
    }

    async def handle(request: web.Request) -> web.StreamResponse:
        key = (request.method, request.path)
        counts[f"{request.method} {request.path}"] = counts.get(f"{request.method} {request.path}", 0) + 1
        if overrides and key in overrides:
            return await overrides[key](request)
        if key == ("POST", f"{V1}/SessionService/Sessions"):
            return jresp({"@odata.id": f"{V1}/SessionService/Sessions/1"}, 201,
                         {"X-Auth-Token": "tok", "Location": f"{V1}/SessionService/Sessions/1"})
        if key == ("DELETE", f"{V1}/SessionService/Sessions/1"):
            return web.Response(status=204)
        if key in base:
            return jresp(base[key])
        return jresp({"error": {"code": "Base.1.22.1.ResourceNotFound", "message": "nope"}}, 404)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    return app, counts


def test_post_without_answer_is_uncertain_and_sent_once() -> None:
    """The BMC receives the Reset and holds it until the client has given up: the client must say
    "uncertain" and never send it again (the DMTF library would re-send it on its own)."""
    release = asyncio.Event()  # set on the server's loop once the client has given up

    async def held_reset(request: web.Request) -> web.StreamResponse:
        await release.wait()
        return web.Response(status=204)

    app, counts = fake_bmc({("POST", TARGET): held_reset})
    with TinyServer(app) as srv:
        c = BmcClient("slow", srv.url, USER, PASSWORD, timeout_s=GIVE_UP_S, clock=VirtualClock())
        try:
            c.login()
            with pytest.raises(PowerActionUncertain, match="do not re-send"):  # its own timeout: no answer yet
                c.reset("ForceOff")
        finally:
            srv.loop.call_soon_threadsafe(release.set)
        # a re-send would have left before reset() raised, so it reaches the server before this later request
        assert c.power_state() == "On"
        assert counts[f"POST {TARGET}"] == 1
        c.close()


def test_server_side_rejection_carries_extended_info() -> None:
    async def reject(request: web.Request) -> web.StreamResponse:
        info = {"MessageId": "Base.1.22.1.ActionParameterValueNotInList",
                "Message": "The value 'Bogus' for the parameter ResetType in the action ComputerSystem.Reset "
                           "is not in the list of acceptable values."}
        return jresp({"error": {"code": info["MessageId"], "message": "x", "@Message.ExtendedInfo": [info]}}, 400)

    app, counts = fake_bmc({("POST", TARGET): reject})
    with TinyServer(app) as srv, BmcClient("fake", srv.url, USER, PASSWORD, clock=VirtualClock()) as c:
        with pytest.raises(RedfishError) as exc:
            c.reset("Bogus")
        err = exc.value
        assert err.status == 400 and f"POST {TARGET}" in str(err)
        assert any("is not in the list of acceptable values" in t for t in err.extended_info)
        assert "is not in the list of acceptable values" in str(err)
        assert counts[f"POST {TARGET}"] == 1
        with pytest.raises(RedfishError):
            c.reset("GracefulRestart")  # not in this BMC's AllowableValues: never sent
        assert counts[f"POST {TARGET}"] == 1


def test_get_retries_honour_retry_after_and_relogin_once() -> None:
    state = {"n": 0}

    async def flaky(request: web.Request) -> web.StreamResponse:
        state["n"] += 1
        if state["n"] == 1:
            return jresp({}, 503, {"Retry-After": "7"})
        if state["n"] == 2:
            return jresp({}, 401)
        return jresp({"PowerState": "Off"})

    app, counts = fake_bmc({("GET", SYSTEM): flaky})
    clock = VirtualClock()
    with TinyServer(app) as srv, BmcClient("flaky", srv.url, USER, PASSWORD, clock=clock) as c:
        assert c.power_state() == "Off"
        assert clock.now() == pytest.approx(7.0)
        assert counts[f"POST {V1}/SessionService/Sessions"] == 2


def test_power_and_sensor_fallbacks() -> None:
    """No EnvironmentMetrics, no $expand: a Power sensor is found by GETting members; else legacy Power."""
    chassis = {"@odata.id": f"{V1}/Chassis/c", "Sensors": {"@odata.id": f"{V1}/Chassis/c/Sensors"},
               "Power": {"@odata.id": f"{V1}/Chassis/c/Power"}}
    with_sensor = {("GET", f"{V1}/Chassis/c/Sensors"): _const({"Members": [{"@odata.id": f"{V1}/Chassis/c/Sensors/P"},
                                                                        {"@odata.id": "not-a-path"}]}),
                   ("GET", f"{V1}/Chassis/c/Sensors/P"): _const({"ReadingType": "Power", "Reading": 812.5,
                                                               "ReadingUnits": "W", "Name": "P"}),
                   ("GET", f"{V1}/Chassis/c"): _const(chassis),
                   ("GET", f"{V1}/Chassis/c/Power"): _const({"PowerControl": [{"PowerConsumedWatts": 640}]})}
    app, counts = fake_bmc(with_sensor)
    with TinyServer(app) as srv, BmcClient("fb", srv.url, USER, PASSWORD, clock=VirtualClock()) as c:
        assert c.power_watts() == 812.5
        assert [s.name for s in c.sensors()] == ["P"]
        assert not any("$expand" in k for k in counts)
    legacy = dict(with_sensor)
    legacy[("GET", f"{V1}/Chassis/c/Sensors")] = _const({"Members": []})
    app, counts = fake_bmc(legacy)
    with TinyServer(app) as srv, BmcClient("legacy", srv.url, USER, PASSWORD, clock=VirtualClock()) as c:
        assert c.power_watts() == 640.0
        ident = c.identity()
        assert ident["serial_number"] == "" and ident["firmware_version"] == ""
        assert ident["chassis_uri"] == f"{V1}/Chassis/c"


def _const(body: Any, status: int = 200) -> Handler:
    async def h(request: web.Request) -> web.StreamResponse:
        return jresp(body, status)

    return h


# ---------------------------------------------------------------------------------------- garbage payloads
KEYS = ["@odata.id", "Members", "PowerState", "Actions", "#ComputerSystem.Reset", "target",
        "ResetType@Redfish.AllowableValues", "@Redfish.ActionInfo", "Parameters", "Name", "AllowableValues",
        "Links", "Chassis", "ManagedBy", "EnvironmentMetrics", "PowerWatts", "Reading", "Sensors", "Thresholds",
        "UpperCritical", "FirmwareVersion", "SerialNumber", "Power", "PowerControl", "PowerConsumedWatts",
        "ReadingType", "error", "@Message.ExtendedInfo", "Message"]
URIS = [SYSTEM, f"{V1}/Chassis/c", f"{V1}/Chassis/c/Sensors", f"{V1}/Chassis/c/EM", "/", "", "//x", "/a b", "/\x00"]
leaves = (st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=True)
          | st.text(max_size=8) | st.sampled_from(URIS) | st.sampled_from(["On", "ForceOff", "Power", "Cel"]))
json_values = st.recursive(
    leaves,
    lambda inner: (st.lists(inner, max_size=3)
                   | st.dictionaries(st.sampled_from(KEYS), inner, max_size=4)
                   | st.builds(lambda u: {"@odata.id": u}, st.sampled_from(URIS))),
    max_leaves=12)
VALID_SYSTEM = {"@odata.id": SYSTEM, "PowerState": "On", "Links": {"Chassis": [{"@odata.id": f"{V1}/Chassis/c"}]},
                "Actions": {"#ComputerSystem.Reset": {"target": TARGET,
                                                      "ResetType@Redfish.AllowableValues": ["On"]}}}
bodies = st.one_of(
    json_values.map(lambda v: json.dumps(v).encode()),
    st.builds(lambda k, v: json.dumps({**VALID_SYSTEM, k: v}).encode(), st.sampled_from(sorted(VALID_SYSTEM)),
              json_values),
    st.binary(max_size=40),
    st.text(max_size=40).map(str.encode),
)
statuses = st.sampled_from([200, 200, 200, 201, 202, 204, 400, 401, 404, 405, 500, 502, 503])


@pytest.fixture(scope="module")
def garbage_server() -> Iterator[tuple[str, dict[str, Any]]]:
    reply: dict[str, Any] = {"status": 200, "body": b"{}", "headers": {}}

    async def garbage(request: web.Request) -> web.StreamResponse:
        return web.Response(status=reply["status"], body=reply["body"], headers=reply["headers"],
                            content_type="application/json")

    overrides = {(m, p): garbage for m, p in [("GET", SYSTEM), ("GET", f"{V1}/Chassis/c"),
                                               ("GET", f"{V1}/Chassis/c/Sensors"), ("GET", f"{V1}/Chassis/c/EM"),
                                               ("GET", f"{V1}/Chassis"), ("POST", TARGET)]}
    app, _ = fake_bmc(overrides)
    with TinyServer(app) as srv:
        yield srv.url, reply


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(status=statuses, body=bodies, retry_after=st.none() | st.text(max_size=12))
def test_garbage_payloads_raise_only_redfish_errors(garbage_server: tuple[str, dict[str, Any]], status: int,
                                                    body: bytes, retry_after: str | None) -> None:
    url, reply = garbage_server
    reply.update(status=status, body=body,
                 headers={"Retry-After": retry_after} if retry_after and retry_after.isprintable() else {})
    c = BmcClient("garbage", url, USER, PASSWORD, clock=VirtualClock(), timeout_s=CEILING_S)
    c.login()
    for op in (c.power_state, c.power_watts, c.sensors, c.identity, lambda: c.reset("On")):
        try:
            result = op()
        except RedfishError:
            continue
        if isinstance(result, list):
            assert all(s.reading is None or isinstance(s.reading, float) for s in result)
    c.close()


# ---------------------------------------------------------------------------------------- TLS
def test_https_is_verified(test_ca: TlsFiles) -> None:
    app, _ = fake_bmc()
    with TinyServer(app, ssl_context=test_ca.server_context()) as srv:
        with BmcClient("tls", srv.url, USER, PASSWORD, ca_file=str(test_ca.ca_file), clock=VirtualClock()) as c:
            assert c.power_state() == "On"
        untrusted = BmcClient("tls", srv.url, USER, PASSWORD, clock=VirtualClock())  # system store only
        assert untrusted.is_up() is False
        with pytest.raises(RedfishError, match="TLS") as exc:
            untrusted.login()
        assert not isinstance(exc.value, RedfishUnreachable)
