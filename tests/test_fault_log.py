"""The station's fault log (harness/sim/faults/log.py): each fault hook says what it did when the fault
*acts* (a request meets it, a sensor is read, a host is powered on), never when it is merely armed, in
simulated time. One test per hook family, over real sockets on 127.0.0.1 and a VirtualClock."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator

import pytest
from conftest import PASSWORD, USER
from fault_evidence import harness_loggers_enabled
from timeouts import ANSWERED_MS, NEVER_S

from harness.clock import VirtualClock
from harness.drivers.redfish.client import BmcClient
from harness.drivers.snmp.engine import close_shared_loop
from harness.drivers.snmp.pdu import Pdu, SnmpCredentials
from harness.drivers.visa.link import InstrumentReplyError, ScpiLink
from harness.drivers.visa.power_analyzer import PowerAnalyzer
from harness.errors import RedfishError, SnmpTimeout
from harness.sim.faults.log import FaultActed, FaultLog
from harness.sim.physics import RackTwin
from harness.sim.redfish.server import RedfishFleet
from harness.sim.snmp.agent import PduAgent
from harness.sim.visa.server import ScpiServer

pytestmark = pytest.mark.usefixtures(harness_loggers_enabled.__name__)  # tests/fault_evidence.py


def acted(twin: RackTwin) -> list[tuple[str, str, str, int]]:
    return [(e.fault, e.device, e.effect, e.count) for e in twin.fault_log.entries()]


def test_repeats_are_counted_on_one_entry_in_simulated_time_and_attributed(clock: VirtualClock) -> None:
    log = FaultLog(clock)
    log.arm("lossy", "snmp.loss", "pdu1")
    log.acted("snmp.loss", "pdu1", "request dropped", "GET x")
    clock.sleep(30)
    log.acted("snmp.loss", "pdu1", "request dropped", "GET y")
    log.acted("twin.fail_fan", "server01.fan2", "fan stopped")
    assert log.entries() == [FaultActed("snmp.loss", "pdu1", "request dropped", "lossy", 0.0, 30.0, 2, "GET x"),
                             FaultActed("twin.fail_fan", "server01.fan2", "fan stopped", "", 30.0, 30.0)]
    assert [e.device for e in log.find("twin.fail_fan", "server01")] == ["server01.fan2"]  # a part of it
    assert log.find("twin.fail_fan", "server0") == []


def test_twin_faults_act_when_their_effect_happens(twin: RackTwin, clock: VirtualClock) -> None:
    twin.fail_psu("shelf1.psu3")
    twin.fail_psu("shelf1.psu3", failed=False)  # a repair is not a fault
    twin.set_fail_to_boot("compute02")
    twin.set_sensor_fault("compute01/gpu0", 41.0)
    assert acted(twin) == [("twin.fail_psu", "shelf1.psu3", "PSU failed", 1)]  # the other two: armed only
    clock.sleep(10)
    twin.tray_temperatures_c("compute01")
    twin.tray_temperatures_c("compute01")
    twin.host_reset("compute02", "ForceOff")
    twin.host_reset("compute02", "On")
    assert acted(twin)[1:] == [("twin.set_sensor_fault", "compute01/gpu0", "stuck value served", 2),
                               ("twin.set_fail_to_boot", "compute02", "host power-on never completes", 1)]
    assert twin.fault_log.entries()[1].first_s == 10.0


def bmc(fleet: RedfishFleet, clock: VirtualClock, name: str = "compute01") -> BmcClient:
    return BmcClient(name, fleet.endpoints[name], USER, PASSWORD, clock=clock, get_retries=0)


def test_redfish_faults_act_on_the_requests_that_meet_them(fleet: RedfishFleet, twin: RackTwin,
                                                           clock: VirtualClock) -> None:
    c = bmc(fleet, clock)
    assert c.power_state() == "On"  # logged in
    fleet.inject("compute01", "evict_sessions")
    fleet.inject("compute02", "unreachable", down_s=30, booting_s=20)
    fleet.inject("switch01", "wire", kind="body_truncate", match="/Systems/")
    assert acted(twin) == []  # armed, nothing met them yet
    assert c.power_state() == "On"  # the old token meets the eviction; the client logs in again
    with pytest.raises(RedfishError):
        bmc(fleet, clock, "compute02").power_state()
    with pytest.raises(RedfishError):
        bmc(fleet, clock, "switch01").power_state()
    faults = {(f, d): effect for f, d, effect, _ in acted(twin)}
    assert faults[("redfish.evict_sessions", "compute01")] == "request with an evicted session"
    assert "BMC down" in faults[("redfish.unreachable", "compute02")]
    assert faults[("redfish.wire", "switch01")] == "reply damaged (body_truncate)"


def test_evict_sessions_every_s_keeps_evicting_in_simulated_time(fleet: RedfishFleet, twin: RackTwin,
                                                                 clock: VirtualClock) -> None:
    c = bmc(fleet, clock)
    c.power_state()
    fleet.inject("compute01", "evict_sessions", every_s=60)
    for _ in range(3):
        clock.sleep(61)
        assert c.power_state() == "On"
    (entry,) = twin.fault_log.find("redfish.evict_sessions", "compute01")
    assert (entry.count, entry.first_s, entry.last_s) == (3, 61.0, 183.0)  # the old token met each eviction


@pytest.fixture(scope="module", autouse=True)
def _shared_snmp_loop_closed_after() -> Iterator[None]:
    yield
    close_shared_loop()


def test_snmp_loss_acts_per_dropped_datagram_and_the_driver_records_its_retry(
        agent: PduAgent, twin: RackTwin, clock: VirtualClock, caplog: pytest.LogCaptureFixture) -> None:
    agent.set_faults(loss=1.0)  # every request is lost: the driver's timeout must expire, each time
    assert acted(twin) == []
    caplog.set_level(logging.INFO, logger="harness.drivers.snmp")
    with Pdu("pdu1", "127.0.0.1", agent.port, vendor=agent.vmap.vendor, clock=clock, timeout_s=NEVER_S, retries=1,
             credentials=SnmpCredentials("2c", community="public")) as pdu, pytest.raises(SnmpTimeout):
        pdu.outlet_is_on(1)
    assert acted(twin) == [("snmp.loss", "pdu1", "request dropped", 2)]  # the GET and the driver's retry
    assert any(f"got no answer within {NEVER_S:g} s; asking again (1/1)" in r.getMessage() for r in caplog.records)


def test_scpi_faults_act_on_connections_and_replies(analyzer_server: ScpiServer, twin: RackTwin,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    server = analyzer_server
    server.inject("drop")  # nobody is connected: nothing to drop
    assert acted(twin) == []
    link = ScpiLink("analyzer", server.resource, timeout_ms=ANSWERED_MS)
    meter = PowerAnalyzer(link)
    meter.measure()
    server.inject("drop")
    caplog.set_level(logging.WARNING, logger="harness.drivers.visa")
    meter.measure()  # the link finds the connection gone, reconnects and asks again
    server.inject("drop", refuse=True)  # drops the link's new connection too
    with socket.create_connection(("127.0.0.1", server.port), timeout=ANSWERED_MS / 1000) as raw:
        assert raw.recv(10) == b""  # accepted, then closed at once
    server.clear()
    server.inject("wire", kind="body_replace", data="garbage", count=1)
    with pytest.raises(InstrumentReplyError):
        meter.measure()
    link.close()
    assert acted(twin) == [("scpi.drop", "analyzer", "connection dropped", 2),
                           ("scpi.drop", "analyzer", "connection refused (closed at accept)", 1),
                           ("scpi.wire", "analyzer", "reply damaged (body_replace)", 1)]
    assert any("analyzer: reconnecting to" in r.getMessage() for r in caplog.records)
