"""Redfish events of the simulated BMCs, over real sockets on 127.0.0.1: threshold crossings derived from
the twin (exact times, whoever reads when), SSE ``$filter``, and push subscriptions POSTed to a real HTTP
receiver in the test, with retries."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from conftest import PASSWORD, USER, wait_for

from harness.clock import VirtualClock
from harness.config.profile import load_profile
from harness.drivers.redfish.client import BmcClient
from harness.drivers.redfish.events import EventStream, RedfishEvent
from harness.drivers.redfish.sel import read_sel, sel_entries_uri
from harness.errors import RedfishError
from harness.sim.physics import RackTwin
from harness.sim.redfish.server import RACK_MANAGER, RedfishFleet

V1 = "/redfish/v1"
SUPPLY = "/redfish/v1/Chassis/CDU1/Sensors/SecondarySupplyTemp"
SEED = 3


def start(profile: str = "mini") -> tuple[VirtualClock, RackTwin, RedfishFleet]:
    """A rack of its own (another profile, or a second run to compare with), rack manager included."""
    clock = VirtualClock()
    twin = RackTwin(load_profile(profile), clock, seed=SEED)
    twin.start_powered()
    fleet = RedfishFleet(twin, username=USER, password=PASSWORD, rack_manager=True)
    fleet.start()
    return clock, twin, fleet


@pytest.fixture
def twin(clock: VirtualClock) -> RackTwin:
    """The conftest mini twin, on a fixed seed."""
    t = RackTwin(load_profile("mini"), clock, seed=SEED)
    t.start_powered()
    return t


@pytest.fixture
def fleet(twin: RackTwin) -> Iterator[RedfishFleet]:
    """The conftest fleet plus a rack manager (it carries the CDU and its coolant sensors)."""
    with RedfishFleet(twin, username=USER, password=PASSWORD, rack_manager=True) as f:
        yield f


def arrived(stream: EventStream, what: str, pred: Callable[[RedfishEvent], bool]) -> list[RedfishEvent]:
    """Wait until an event matching ``pred`` has come through ``stream`` (SSE is delivered on threads);
    the stream's events so far. Events of one stream arrive in the order the service logged them."""
    wait_for(lambda: any(pred(e) for e in stream.events()), what)
    return stream.events()


def client(fleet: RedfishFleet, name: str, clock: VirtualClock) -> BmcClient:
    return BmcClient(name, fleet.endpoints[name], USER, PASSWORD, clock=clock)


def sel(c: BmcClient) -> list[tuple[str, str, str, tuple[str, ...]]]:
    """(Created, message key, severity, args) of every SEL entry, read over Redfish."""
    uri = sel_entries_uri(c, {})
    assert uri is not None
    return [(e.created.isoformat() if e.created else "", e.key, e.severity or "", e.args) for e in read_sel(c, uri)]


# ---------------------------------------------------------------------------------------- thresholds
def test_coolant_crossings_are_logged_at_their_exact_instant(clock: VirtualClock, twin: RackTwin,
                                                             fleet: RedfishFleet) -> None:
    mgr = client(fleet, RACK_MANAGER, clock)
    twin.fail_pump("pump1")
    twin.fail_pump("pump2")  # no flow: the supply climbs 5 C/min from 30 C
    clock.sleep(200)
    twin.fail_pump("pump1", failed=False)  # flow back: the supply is 30 C again at once
    clock.sleep(10)
    crossings = [e for e in sel(mgr) if "Threshold" in e[1] or e[1] == "TemperatureNormal"]
    supply = [e for e in crossings if e[3][0] == "cdu1/SecondarySupplyTemp"]
    # 40 C (UpperCaution) after 120 s, 45 C (UpperCritical) after 180 s, back to normal at the restore (200 s)
    assert [(t[11:19], key, sev) for t, key, sev, _ in supply] == [
        ("00:02:00", "TemperatureAboveUpperCautionThreshold", "Warning"),
        ("00:03:00", "TemperatureAboveUpperCriticalThreshold", "Critical"),
        ("00:03:20", "TemperatureNormal", "OK")]
    assert supply[1][3] == ("cdu1/SecondarySupplyTemp", "45.0", "45.0")
    entries = mgr.get_json("/redfish/v1/Managers/RackManager/LogServices/SEL/Entries")["Members"]
    critical = next(e for e in entries if e["MessageId"].endswith("AboveUpperCriticalThreshold"))
    assert critical["MessageId"] == "Environmental.1.4.0.TemperatureAboveUpperCriticalThreshold"
    assert critical["Links"]["OriginOfCondition"]["@odata.id"] == SUPPLY
    mgr.close()


def test_crossing_times_do_not_depend_on_who_reads_when() -> None:
    """Same faults, one run read only at the end, the other read every 7 s: identical SELs."""
    logs = []
    for poll in (None, 7.0):
        clock, twin, fleet = start()
        try:
            mgr = client(fleet, RACK_MANAGER, clock)
            twin.fail_pump("pump1")
            twin.fail_pump("pump2")
            for _ in range(60):
                clock.sleep(poll or 6.0)
                if poll:
                    twin.coolant()
                    mgr.get_json(SUPPLY)
            logs.append(sel(mgr))
            mgr.close()
        finally:
            fleet.stop()
    assert logs[0] == logs[1] and any(e[1] == "TemperatureAboveUpperCriticalThreshold" for e in logs[0])


def test_tray_gpu_crossing_streams_from_its_own_bmc() -> None:
    """Air-cooled tray with failed fans under full load: its GPU sensors cross UpperCaution on its BMC."""
    clock, twin, fleet = start("hgx8_air")
    try:
        c = client(fleet, "server01", clock)
        with EventStream(c, event_filter="RegistryPrefix eq 'Environmental'") as stream:
            for fan in (1, 2, 3):
                twin.fail_fan("server01", fan)
            twin.set_utilization("server01", 1.0)
            clock.sleep(600)
            c.power_state()
            events = arrived(stream, "a GPU crossing on server01's stream", lambda e: e.key.startswith("TemperatureAbove"))
        above = [e for e in events if e.key.startswith("TemperatureAbove")]
        assert above and above[0].args[0].startswith("server01/GPU") and above[0].origin
        assert above[0].origin.startswith("/redfish/v1/Chassis/server01/Sensors/GPU")
        assert {e.bmc for e in events} == {"server01"}
        c.close()
    finally:
        fleet.stop()


# ---------------------------------------------------------------------------------------- SSE $filter
def test_sse_filter_selects_by_registry_message_and_origin(clock: VirtualClock, twin: RackTwin,
                                                           fleet: RedfishFleet) -> None:
    """Each filtered stream waits for the last event it should get; every event it must not get was
    logged before that one, so it would have arrived first (a stream keeps the service's order)."""
    c = client(fleet, "compute01", clock)
    es = c.get_json(f"{V1}/EventService")
    assert es["SSEFilterPropertiesSupported"]["MessageId"] is True
    filters = {"env": "RegistryPrefix eq 'Environmental'",
               "msg": "MessageId eq 'ResourceEvent.1.4.3.ResourcePoweredOn'",
               "origin": "OriginResource eq '/redfish/v1/Chassis/compute01'",
               "any": "EventFormatType eq 'Event'"}
    streams = {k: EventStream(c, event_filter=f).start() for k, f in filters.items()}
    try:
        twin.set_leak("compute01.coldplate", "Critical")
        c.reset("ForceRestart")
        clock.sleep(30)
        c.power_state()  # the twin processes the transitions when asked
        twin.set_leak("compute01.coldplate", "OK")
        c.power_state()
        for k in ("env", "origin", "any"):
            arrived(streams[k], f"the leak's all-clear on the {k!r} stream", lambda e: e.key == "LeakDetectedNormal")
        arrived(streams["msg"], "power-on on the 'msg' stream", lambda e: e.key == "ResourcePoweredOn")
    finally:
        for s in streams.values():
            s.stop()
    keys = {k: [e.key for e in s.events()] for k, s in streams.items()}
    assert keys["any"] == ["LeakDetectedCritical", "ResourcePoweringOff", "ResourcePoweredOff", "ResourcePoweringOn",
                           "ResourcePoweredOn", "LeakDetectedNormal"]
    assert keys["env"] == ["LeakDetectedCritical", "LeakDetectedNormal"]
    assert keys["msg"] == ["ResourcePoweredOn"]
    # the leak's origin is the chassis, power's the system
    assert keys["origin"] == ["LeakDetectedCritical", "LeakDetectedNormal"]
    c.close()


@pytest.mark.parametrize(("query", "message"), [
    ("ResourceType eq 'Chassis'", "QueryParameterValueError"),
    ("MessageId ne 'x'", "QueryParameterValueFormatError"),
    ("Severity eq 'Critical'", "QueryParameterValueError"),
])
def test_unsupported_sse_filter_is_400_with_a_base_message(clock: VirtualClock, fleet: RedfishFleet,
                                                           query: str, message: str) -> None:
    c = client(fleet, "compute01", clock)
    with pytest.raises(RedfishError) as exc:
        EventStream(c, event_filter=query).start()
    assert exc.value.status == 400
    resp = requests.get(fleet.endpoints["compute01"] + f"{V1}/EventService/SSE", params={"$filter": query},
                        headers={"X-Auth-Token": c.session_token()}, timeout=5)
    info = resp.json()["error"]["@Message.ExtendedInfo"][0]
    assert resp.status_code == 400 and info["MessageId"].startswith("Base.") and info["MessageId"].endswith(message)
    c.close()


# ---------------------------------------------------------------------------------------- push delivery
class Receiver:
    """A real HTTP event listener on 127.0.0.1: records POSTed bodies; fails the first ``fail`` POSTs."""

    def __init__(self, fail: int = 0) -> None:
        self.bodies: list[dict[str, object]] = []
        self.attempts = 0
        self.fail = fail
        self.got = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # http.server calls it by this name
                data = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.attempts += 1
                if outer.attempts <= outer.fail:
                    self.send_response(503)
                    self.end_headers()
                    return
                outer.bodies.append(json.loads(data))
                outer.got.set()
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/events"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def subscribe(c: BmcClient, destination: str, **extra: object) -> str:
    token = c.session_token()
    resp = requests.post(c.base_url + f"{V1}/EventService/Subscriptions", timeout=5,
                         headers={"X-Auth-Token": token},
                         json={"Destination": destination, "Protocol": "Redfish", "Context": "rackval-test", **extra})
    assert resp.status_code == 201, resp.text
    return resp.headers["Location"]


def test_push_subscription_posts_selected_events_after_a_retry(clock: VirtualClock, twin: RackTwin,
                                                                fleet: RedfishFleet) -> None:
    c = client(fleet, "compute01", clock)
    resp = requests.patch(c.base_url + f"{V1}/EventService", timeout=5, headers={"X-Auth-Token": c.session_token()},
                          json={"DeliveryRetryAttempts": 2, "DeliveryRetryIntervalSeconds": 1})
    assert resp.status_code == 200 and resp.json()["DeliveryRetryAttempts"] == 2
    receiver = Receiver(fail=1)
    try:
        sub = subscribe(c, receiver.url, RegistryPrefixes=["Environmental"])
        assert c.get_json(sub)["RegistryPrefixes"] == ["Environmental"]
        c.reset("ForceRestart")  # power events: not selected
        twin.set_leak("compute01.coldplate", "Critical")
        assert receiver.got.wait(60), "no event delivered"  # a hang-only ceiling
    finally:
        receiver.close()
    assert receiver.attempts == 2  # the first POST got 503 and was retried
    body = receiver.bodies[0]
    assert body["Context"] == "rackval-test"
    assert [e["MessageId"] for e in body["Events"]] == ["Environmental.1.4.0.LeakDetectedCritical"]  # type: ignore[index]
    c.close()


def test_push_subscription_terminates_after_its_retries(clock: VirtualClock, twin: RackTwin,
                                                        fleet: RedfishFleet) -> None:
    c = client(fleet, "compute01", clock)
    requests.patch(c.base_url + f"{V1}/EventService", timeout=5, headers={"X-Auth-Token": c.session_token()},
                   json={"DeliveryRetryAttempts": 1, "DeliveryRetryIntervalSeconds": 1}).raise_for_status()
    receiver = Receiver(fail=100)
    try:
        sub = subscribe(c, receiver.url)
        twin.set_leak("compute01.coldplate", "Warning")
        subs = fleet.service("compute01").core.events.subscriptions
        wait_for(lambda: sub.rsplit("/", 1)[1] not in subs, "the subscription terminated after its retries")
    finally:
        receiver.close()
    assert receiver.attempts == 2 and not receiver.bodies  # the first POST and its one retry
    with pytest.raises(RedfishError) as exc:
        c.get_json(sub)
    assert exc.value.status == 404
    c.close()
