"""Injected faults (fleet.inject) against the harness client, plus HTTPS with a per-run CA, SSE events
and the SEL. Everything over real sockets on 127.0.0.1, on a VirtualClock unless said otherwise."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from conftest import PASSWORD, USER, wait_for

from harness.clock import VirtualClock
from harness.drivers.redfish.client import BmcClient
from harness.drivers.redfish.events import EventStream, parse_payload
from harness.errors import PowerActionUncertain, RedfishError, RedfishUnreachable
from harness.sim.physics import RackTwin
from harness.sim.redfish.server import RACK_MANAGER, RedfishFleet
from harness.sim.redfish.tls import make_ca

V1 = "/redfish/v1"
# A client that must give up on a BMC holding its request: the hold lasts until the test clears the
# fault, so this timeout always expires; it only has to be long enough for the ordinary requests
# before it (login, a GET) on a busy machine.
GIVE_UP_S = 2.0
HOLD_S = 3600.0  # the `slow` fault's hold: "forever", ended by fleet.clear()
EVENTS_CEILING_S = 60.0  # EventStream.wait returns as soon as the events are there: a hang-only ceiling


@pytest.fixture
def fleet(twin: RackTwin) -> Iterator[RedfishFleet]:
    """The conftest fleet plus a rack manager (leak and PSU faults are injected there)."""
    with RedfishFleet(twin, username=USER, password=PASSWORD, rack_manager=True) as f:
        yield f


def client(fleet: RedfishFleet, name: str, clock: VirtualClock, **kw: object) -> BmcClient:
    return BmcClient(name, fleet.endpoints[name], USER, PASSWORD, clock=clock, **kw)  # type: ignore[arg-type]


def test_unreachable_then_booting_then_back(fleet: RedfishFleet, clock: VirtualClock) -> None:
    c = client(fleet, "compute01", clock, get_retries=0)
    assert c.power_state() == "On"
    fleet.inject("compute01", "unreachable", down_s=30, booting_s=20)
    with pytest.raises(RedfishUnreachable, match="no HTTP answer"):
        c.power_state()
    clock.sleep(31)
    with pytest.raises(RedfishUnreachable) as exc:
        c.power_state()
    assert exc.value.status == 503
    patient = client(fleet, "compute01", clock, get_retries=3)
    assert patient.power_state() == "On"  # Retry-After honoured on the run clock, then a fresh login
    assert clock.now() >= 50
    patient.close()
    c.close()


def held(twin: RackTwin) -> int:
    """How many requests compute01's ``slow`` fault has held back so far (from the fault log)."""
    return sum(e.count for e in twin.fault_log.find("redfish.slow", "compute01"))


def test_slow_bmc_times_out_and_a_reset_is_never_resent(fleet: RedfishFleet, twin: RackTwin,
                                                        clock: VirtualClock) -> None:
    """The BMC holds requests until the fault is cleared, so the client's timeout expires however
    busy the machine is; the held Reset is carried out once when released, never re-sent."""
    offs: list[dict[str, object]] = []
    twin.listeners.append(lambda kind, data: offs.append({k: data[k] for k in ("tray", "state")})
                          if kind == "power" else None)
    c = client(fleet, "compute01", clock, timeout_s=GIVE_UP_S, get_retries=1)
    c.login()
    c.power_state()
    fleet.inject("compute01", "slow", delay_s=HOLD_S)
    with pytest.raises(RedfishUnreachable, match="no HTTP answer"):
        c.power_state()
    wait_for(lambda: held(twin) == 2, "the GET and its one retry held by the slow BMC")
    fleet.inject("compute01", "slow", delay_s=HOLD_S, methods=("POST",))
    with pytest.raises(PowerActionUncertain, match="do not re-send"):
        c.reset("ForceOff")
    assert c.power_state() == "On" == twin.host_state("compute01")  # GETs answered; the POST is still held
    assert held(twin) == 3  # that one POST (it reached the BMC before the GET above): a re-send would be a 4th
    fleet.clear("compute01")
    # released, the held request is executed, once: the client reads the state back instead of re-sending
    wait_for(lambda: twin.host_state("compute01") == "Off", "the released Reset carried out")
    assert c.power_state() == "Off"
    assert offs == [{"tray": "compute01", "state": "Off"}]
    assert held(twin) == 3
    c.close()


def test_session_eviction_means_one_relogin(fleet: RedfishFleet, clock: VirtualClock) -> None:
    c = client(fleet, "compute01", clock)
    c.login()
    old = c.session_token()
    fleet.inject("compute01", "evict_sessions")
    assert c.power_state() == "On"
    assert c.session_token() != old
    c.close()
    assert fleet.service("compute01").core.auth.sessions == {}  # logged out


def test_stuck_and_nan_sensors(fleet: RedfishFleet, clock: VirtualClock) -> None:
    c = client(fleet, "compute01", clock)
    fleet.inject("compute01", "stuck_sensor", sensor="gpu1", value=42.0)
    fleet.inject("compute01", "nan_sensor", sensor="gpu2")
    by_name = {s.name: s for s in c.sensors()}
    assert by_name["GPU 1 temperature"].reading == 42.0
    nan = by_name["GPU 2 temperature"]
    assert nan.reading is None and nan.state == "UnavailableOffline"
    clock.sleep(5)
    assert {s.name: s for s in c.sensors()}["GPU 1 temperature"].reading == 42.0  # stuck
    fleet.clear("compute01")
    fresh = {s.name: s for s in c.sensors()}
    assert fresh["GPU 2 temperature"].reading is not None and fresh["GPU 1 temperature"].reading != 42.0
    c.close()


def test_leak_and_psu_failure_are_events_and_sel_entries(fleet: RedfishFleet, twin: RackTwin,
                                                         clock: VirtualClock) -> None:
    mgr = client(fleet, RACK_MANAGER, clock)
    with EventStream(mgr) as stream:
        fleet.inject(RACK_MANAGER, "leak", detector="compute02.coldplate")
        fleet.inject(RACK_MANAGER, "psu_failure", psu="shelf1.psu4")
        events = stream.wait(2, timeout_s=EVENTS_CEILING_S)
    assert [e.key for e in events[:2]] == ["LeakDetectedCritical", "PowerSupplyFailed"]
    leak = events[0]
    assert leak.message_id == "Environmental.1.4.0.LeakDetectedCritical" and leak.severity == "Critical"
    assert leak.args == ("compute02.coldplate",) and leak.origin and leak.origin.endswith("compute02_coldplate")
    assert twin.leak_states()["compute02.coldplate"] == "Critical"
    fleet.clear(RACK_MANAGER)
    assert twin.leak_states()["compute02.coldplate"] == "OK" and not twin.psu_failed
    mgr_uri = "/redfish/v1/Managers/RackManager/LogServices/SEL/Entries"
    sel = mgr.get_json(mgr_uri)["Members"]
    assert [e["MessageId"].rsplit(".", 1)[1] for e in sel] == ["LeakDetectedCritical", "PowerSupplyFailed",
                                                                "PowerSupplyRestored", "LeakDetectedNormal"]
    assert sel[0]["Created"] == "2025-01-01T00:00:00Z" and sel[0]["EntryType"] == "SEL"
    # the SSE destination went with the stream (the service notices at its next write to it)
    wait_for(lambda: fleet.service(RACK_MANAGER).core.events.subscriptions == {}, "SSE destination deleted")
    mgr.close()


def test_power_transitions_stream_from_the_tray(fleet: RedfishFleet, twin: RackTwin, clock: VirtualClock) -> None:
    c = client(fleet, "compute01", clock)
    with EventStream(c) as stream:
        c.reset("ForceRestart")
        clock.sleep(30)
        c.power_state()  # the twin processes the transitions when asked
        events = stream.wait(4, timeout_s=EVENTS_CEILING_S)
    assert [e.key for e in events] == ["ResourcePoweringOff", "ResourcePoweredOff", "ResourcePoweringOn",
                                       "ResourcePoweredOn"]
    assert all(e.bmc == "compute01" and e.registry == "ResourceEvent" for e in events)
    c.close()


def test_event_payload_junk_is_typed() -> None:
    assert parse_payload("b", "{not json")[0].message_id == "unparsed"
    assert parse_payload("b", '{"Events": [{"MessageId": 5, "MessageArgs": [1, "x"]}]}')[0].args == ("x",)
    assert parse_payload("b", '{"Events": "nope"}')[0].message_id == "unparsed"


def test_https_with_the_fleet_ca(twin: RackTwin, clock: VirtualClock, tmp_path: Path) -> None:
    with RedfishFleet(twin, username=USER, password=PASSWORD, tls=True) as fleet:
        assert fleet.ca_file and Path(fleet.ca_file).is_file()
        url = fleet.endpoints["compute01"]
        assert url.startswith("https://127.0.0.1:")
        with BmcClient("compute01", url, USER, PASSWORD, clock=clock, ca_file=fleet.ca_file) as c:
            assert c.power_state() == "On"
            with EventStream(c) as stream:
                c.reset("ForceOff")
                assert stream.wait(1, timeout_s=EVENTS_CEILING_S)[0].key == "ResourcePoweredOff"
        other = make_ca(tmp_path, "127.0.0.1", label="somebody else")
        wrong = BmcClient("compute01", url, USER, PASSWORD, clock=clock, ca_file=str(other.ca_file))
        with pytest.raises(RedfishError, match="TLS failure talking to BMC compute01") as exc:
            wrong.power_state()
        assert not isinstance(exc.value, RedfishUnreachable)  # not retried as if transient
        system_trust = BmcClient("compute01", url, USER, PASSWORD, clock=clock)  # verification on by default
        with pytest.raises(RedfishError, match="TLS failure"):
            system_trust.power_state()
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(url + V1, timeout=5)


def test_fault_api_rejects_unknown_names(fleet: RedfishFleet) -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        fleet.inject("compute01", "gremlins")
    with pytest.raises(KeyError):
        fleet.inject("nope", "slow", delay_s=1)
    assert math.isfinite(fleet.service("compute01").booting_for())
