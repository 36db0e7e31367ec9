"""Fault injection on the simulated instruments (ScpiServer.inject / clear), seen through the real
drivers over TCP: socket drop, stuck reading, over-range sentinel, protection trip."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from conftest import wait_for
from timeouts import ANSWERED_MS, NEVER_MS

from harness.drivers.visa.eload import ElectronicLoad
from harness.drivers.visa.link import InstrumentIOError, InstrumentReplyError, ScpiError, ScpiLink
from harness.drivers.visa.power_analyzer import PowerAnalyzer
from harness.sim.physics import RackTwin
from harness.sim.visa.server import ScpiServer


@pytest.fixture(params=["chroma63600", "keysight_el30000"])
def load(request: pytest.FixtureRequest, twin: RackTwin) -> Iterator[tuple[ElectronicLoad, ScpiServer]]:
    with ScpiServer(twin, role="eload", model=request.param) as server:
        link = ScpiLink("eload", server.resource, timeout_ms=ANSWERED_MS)
        yield ElectronicLoad(link, request.param, max_current_a=50), server
        link.close()


@pytest.fixture
def analyzer(analyzer_server: ScpiServer) -> Iterator[tuple[PowerAnalyzer, ScpiServer]]:
    link = ScpiLink("analyzer", analyzer_server.resource, timeout_ms=ANSWERED_MS)
    yield PowerAnalyzer(link), analyzer_server
    link.close()


def test_drop_closes_connections_and_the_link_reconnects(load: tuple[ElectronicLoad, ScpiServer]) -> None:
    eload, server = load
    eload.set_current(5)
    with socket.create_connection(("127.0.0.1", server.port), timeout=ANSWERED_MS / 1000) as raw:
        raw.sendall(b"*OPC?\n")
        assert raw.recv(10) == b"1\n"
        server.inject("drop")
        assert raw.recv(10) == b""  # closed by the instrument
    assert eload.current_setpoint == 5.0  # the driver's link reconnects and asks
    assert [(e.effect, e.detail) for e in server.twin.fault_log.find("scpi.drop", "eload")] == [
        ("connection dropped", "2 open")]


def test_drop_with_refuse_keeps_the_instrument_unreachable_until_cleared(load: tuple[ElectronicLoad, ScpiServer]) -> None:
    eload, server = load
    eload.identify()
    server.inject("drop", refuse=True)
    eload.link.timeout_ms = NEVER_MS  # every connection is closed at accept: no reply ever comes
    with pytest.raises(InstrumentIOError, match="eload") as info:
        eload.measure()
    assert "after reconnecting" in str(info.value) or "*IDN?" in str(info.value)
    def refused() -> int:
        return sum(e.count for e in server.twin.fault_log.find("scpi.drop", "eload")
                   if e.effect == "connection refused (closed at accept)")

    wait_for(lambda: refused() == 2, "the reconnection and its one retry refused")  # a slow accept may log late
    server.clear("drop")
    eload.link.timeout_ms = ANSWERED_MS
    assert eload.measure()[0] > 40


def test_stuck_reading_freezes_measurements_not_settings(load: tuple[ElectronicLoad, ScpiServer], twin: RackTwin) -> None:
    eload, server = load
    eload.mode = "CC"
    eload.set_current(10)
    eload.input_on()
    before = eload.measure()
    server.inject("stuck")
    eload.set_current(40)  # the load obeys (the twin follows) but its readings do not move
    assert twin.eload_current_a == 40.0 and eload.current_setpoint == 40.0
    twin.clock.sleep(5)
    assert eload.measure() == before
    server.clear("stuck")
    assert eload.measure()[1] == pytest.approx(40, rel=0.01)


def test_stuck_analyzer_returns_the_same_line(analyzer: tuple[PowerAnalyzer, ScpiServer], twin: RackTwin) -> None:
    pa, server = analyzer
    first = pa.measure()
    server.inject("stuck")
    twin.clock.sleep(10)
    twin.set_eload(current_a=100, input_on=True)
    assert pa.measure() == first
    server.clear()
    assert pa.measure()["W"] > first["W"] + 4000


def test_overrange_sentinel_is_a_typed_driver_error(load: tuple[ElectronicLoad, ScpiServer],
                                                    analyzer: tuple[PowerAnalyzer, ScpiServer]) -> None:
    eload, server = load
    server.inject("overrange")
    assert eload.link.query("MEAS:VOLT?") == "+9.91E+37"
    with pytest.raises(InstrumentReplyError, match="eload: MEAS:VOLT\\?: no valid reading"):
        eload.measure()
    assert eload.protection_status() == 0  # a status register is not a reading
    server.clear("overrange")
    assert eload.measure()[0] > 40
    pa, pa_server = analyzer
    pa_server.inject("overrange")
    with pytest.raises(InstrumentReplyError, match="analyzer: :NUMeric:NORMal:VALue\\?: no valid reading"):
        pa.measure()


def test_protection_trip_forces_the_input_off_and_latches(load: tuple[ElectronicLoad, ScpiServer], twin: RackTwin) -> None:
    eload, server = load
    eload.mode = "CC"
    eload.set_current(20)
    eload.input_on()
    server.inject("protection_trip", kind="OVP")
    assert not twin.eload_on and eload.input_enabled is False and eload.measure()[1] == 0.0
    assert eload.protection_tripped() == {"OVP"}
    assert eload.link.query("*ESR?") == "8"  # device-dependent error bit
    assert eload.link.errors() == ['301,"Protection tripped; OVP, input off"']
    with pytest.raises(ScpiError, match="-221"):
        eload.input_on()  # latched
    server.clear()  # clearing injected faults does not unlatch the instrument
    assert eload.protection_tripped() == {"OVP"}
    assert eload.clear_protection() == frozenset()
    eload.input_on()
    assert twin.eload_on


def test_bad_fault_requests_are_refused(load: tuple[ElectronicLoad, ScpiServer],
                                        analyzer: tuple[PowerAnalyzer, ScpiServer]) -> None:
    _, server = load
    with pytest.raises(ValueError, match="unknown fault"):
        server.inject("melt")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="takes no parameters"):
        server.inject("stuck", seconds=3)
    with pytest.raises(ValueError, match="refuse"):
        server.inject("drop", forever=True)
    with pytest.raises(ValueError, match="no protection"):
        analyzer[1].inject("protection_trip")
